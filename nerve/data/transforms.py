"""Transformations: each wraps the dataset before it and returns a new ``Dataset``.

Element-wise (``map``, ``filter``, ``enumerate``, ``ignore_errors``), batching
(``batch``, ``padded_batch``, ``unbatch``), order and length (``shuffle``, ``repeat``,
``take``, ``skip``, ``shard``, ``interleave``) and ``prefetch``. Every iterator closes
the upstream iterator it opened when it ends or is closed, so background threads
anywhere in a pipeline stop as soon as its consumer does.
"""

from __future__ import annotations

import contextlib
import itertools
import warnings
from collections.abc import Callable, Iterator
from typing import Any

# Input pipelines run on the host: NumPy is their array library on every backend.
import numpy as np

from nerve import random as nrandom
from nerve.data import parallel, structure
from nerve.data.dataset import (
    AUTOTUNE,
    INFINITE_CARDINALITY,
    UNKNOWN_CARDINALITY,
    Dataset,
    autotune_workers,
    call_with_element,
    check_count,
    closing_iterator,
)
from nerve.data.sources import TensorSlices

__all__ = [
    "Batch",
    "ElementError",
    "Enumerate",
    "Filter",
    "IgnoreErrors",
    "Interleave",
    "Map",
    "PaddedBatch",
    "Prefetch",
    "Repeat",
    "Shard",
    "Shuffle",
    "Skip",
    "Take",
    "Unbatch",
]


class ElementError:
    """Stands for an element whose computation raised, in a pipeline read by
    ``ignore_errors`` (which drops it); elsewhere the exception is raised."""

    def __init__(self, error: Exception):
        self.error = error


def _source(dataset: Dataset, pass_path: tuple[int, ...], tolerant: bool) -> Iterator[Any]:
    """``dataset``'s elements; when ``tolerant``, failed ones come as ``ElementError``
    where the dataset can isolate them: ``map`` and ``filter`` catch them, and
    ``batch``, ``shuffle`` and ``prefetch`` pass them on instead of ending the pass.
    Other stages raise (a generator that raised cannot go on)."""
    if tolerant and isinstance(dataset, (Map, Filter, Batch, Shuffle, Prefetch)):
        return dataset._iterate(pass_path, tolerant=True)
    return dataset._iterate(pass_path)


class Map(Dataset):
    def __init__(
        self,
        upstream: Dataset,
        map_func: Callable[..., Any],
        num_parallel_calls: int | None,
        deterministic: bool | None,
    ):
        if not callable(map_func):
            raise TypeError(f"Dataset.map: map_func must be callable, received {map_func!r}.")
        self._upstream = upstream
        self._func = map_func
        self._workers = autotune_workers(num_parallel_calls)
        self._parallel = num_parallel_calls is not None
        self._deterministic = True if deterministic is None else bool(deterministic)

    def _apply(self, element: Any) -> Any:
        return structure.to_numpy_element(call_with_element(self._func, element))

    def _apply_tolerant(self, element: Any) -> Any:
        if isinstance(element, ElementError):
            return element
        try:
            return self._apply(element)
        except Exception as error:
            return ElementError(error)

    def _iterate(self, pass_path: tuple[int, ...], tolerant: bool = False) -> Iterator[Any]:
        source = _source(self._upstream, pass_path, tolerant)
        apply = self._apply_tolerant if tolerant else self._apply
        if not self._parallel:
            with closing_iterator(source):
                for element in source:
                    yield apply(element)
            return
        yield from parallel.parallel_map(source, apply, self._workers, self._deterministic)

    def cardinality(self) -> int:
        return self._upstream.cardinality()


class BatchMap(Map):
    """``map`` over batches: ``batch_func`` makes a whole output batch from an input
    batch (on parallel threads, in order), ``element_func`` the output for one element.
    Where errors are being ignored, a batch whose ``batch_func`` raises is redone
    element by element: the failing elements pass on as errors (which
    ``ignore_errors`` drops, naming them) and the others as one smaller batch, so only
    the failing elements are lost, as with a ``map`` before ``batch``."""

    def __init__(
        self,
        upstream: Dataset,
        batch_func: Callable[..., Any],
        element_func: Callable[..., Any],
    ):
        super().__init__(upstream, batch_func, AUTOTUNE, None)
        self._element_func = element_func

    def _element_by_element(self, batch: Any) -> list[Any]:
        outputs: list[Any] = []
        errors: list[Any] = []
        for element in structure.split_batch(batch, "map"):
            try:
                output = call_with_element(self._element_func, element)
                outputs.append(structure.to_numpy_element(output))
            except Exception as error:
                errors.append(ElementError(error))
        if outputs:
            errors.append(structure.stack_elements(outputs, "map"))
        return errors

    def _apply_recovering(self, element: Any) -> list[Any]:
        if isinstance(element, ElementError):
            return [element]
        try:
            return [self._apply(element)]
        except Exception:
            return self._element_by_element(element)

    def _iterate(self, pass_path: tuple[int, ...], tolerant: bool = False) -> Iterator[Any]:
        if not tolerant:
            yield from super()._iterate(pass_path)
            return
        source = _source(self._upstream, pass_path, tolerant)
        outputs = parallel.parallel_map(
            source, self._apply_recovering, self._workers, self._deterministic
        )
        for several in outputs:
            yield from several


class Filter(Dataset):
    def __init__(self, upstream: Dataset, predicate: Callable[..., Any]):
        if not callable(predicate):
            raise TypeError(f"Dataset.filter: predicate must be callable, got {predicate!r}.")
        self._upstream = upstream
        self._predicate = predicate

    def _keep(self, element: Any) -> bool:
        verdict = np.asarray(
            structure.to_numpy_element(call_with_element(self._predicate, element))
        )
        if verdict.shape != () or verdict.dtype.kind not in "biu":
            raise ValueError(
                "Dataset.filter: the predicate must return one boolean, received an array "
                f"of shape {verdict.shape} and dtype {verdict.dtype}."
            )
        return bool(verdict)

    def _iterate(self, pass_path: tuple[int, ...], tolerant: bool = False) -> Iterator[Any]:
        source = _source(self._upstream, pass_path, tolerant)
        with closing_iterator(source):
            for element in source:
                if isinstance(element, ElementError):
                    yield element
                    continue
                if not tolerant:
                    if self._keep(element):
                        yield element
                    continue
                try:
                    keep = self._keep(element)
                except Exception as error:
                    yield ElementError(error)
                    continue
                if keep:
                    yield element


class Enumerate(Dataset):
    def __init__(self, upstream: Dataset, start: int):
        self._upstream = upstream
        self._start = check_count(start, "start", "enumerate")

    def _iterate(self, pass_path: tuple[int, ...]) -> Iterator[Any]:
        with closing_iterator(self._upstream._iterate(pass_path)) as source:
            for index, element in enumerate(source, self._start or 0):
                yield np.asarray(index, dtype="int64"), element

    def cardinality(self) -> int:
        return self._upstream.cardinality()


class IgnoreErrors(Dataset):
    def __init__(self, upstream: Dataset, log_warning: bool):
        self._upstream = upstream
        self._log_warning = log_warning

    def _warn(self, error: BaseException) -> None:
        if self._log_warning:
            warnings.warn(
                f"Dataset.ignore_errors: dropped an element: {type(error).__name__}: {error}",
                stacklevel=3,
            )

    def _iterate(self, pass_path: tuple[int, ...]) -> Iterator[Any]:
        source = _source(self._upstream, pass_path, tolerant=True)
        with closing_iterator(source):
            while True:
                try:
                    element = next(source)
                except StopIteration:
                    return
                except Exception as error:
                    # A failure the upstream could not isolate ends its iterator.
                    self._warn(error)
                    return
                if isinstance(element, ElementError):
                    self._warn(element.error)
                    continue
                yield element


def _positive(value: Any, name: str, op: str) -> int:
    count = check_count(value, name, op)
    assert count is not None
    if count < 1:
        raise ValueError(f"Dataset.{op}: {name} must be at least 1, received {count}.")
    return count


class Batch(Dataset):
    def __init__(self, upstream: Dataset, batch_size: int, drop_remainder: bool):
        self._upstream = upstream
        self._size = _positive(batch_size, "batch_size", "batch")
        self._drop = bool(drop_remainder)

    def _combine(self, elements: list[Any]) -> Any:
        return structure.stack_elements(elements, "Dataset.batch")

    def _iterate(self, pass_path: tuple[int, ...], tolerant: bool = False) -> Iterator[Any]:
        if type(self) is Batch and not tolerant:
            batches = self._upstream._iterate_batches(pass_path, self._size, self._drop)
            if batches is not None:
                yield from batches
                return
        with closing_iterator(_source(self._upstream, pass_path, tolerant)) as source:
            elements: list[Any] = []
            for element in source:
                if isinstance(element, ElementError):
                    yield element  # dropped by ignore_errors; the batch fills on
                    continue
                elements.append(element)
                if len(elements) == self._size:
                    yield self._combine(elements)
                    elements = []
            if elements and not self._drop:
                yield self._combine(elements)

    def cardinality(self) -> int:
        count = self._upstream.cardinality()
        if count < 0:
            return count
        return count // self._size if self._drop else -(-count // self._size)


class PaddedBatch(Batch):
    def __init__(
        self,
        upstream: Dataset,
        batch_size: int,
        padded_shapes: Any,
        padding_values: Any,
        drop_remainder: bool,
    ):
        super().__init__(upstream, batch_size, drop_remainder)
        self._shapes = padded_shapes
        self._values = padding_values

    def _combine(self, elements: list[Any]) -> Any:
        return structure.pad_elements(elements, self._shapes, self._values, "Dataset.padded_batch")


class Unbatch(Dataset):
    def __init__(self, upstream: Dataset):
        self._upstream = upstream

    def _iterate(self, pass_path: tuple[int, ...]) -> Iterator[Any]:
        with closing_iterator(self._upstream._iterate(pass_path)) as source:
            for batch in source:
                yield from structure.split_batch(batch, "Dataset.unbatch")


class Shuffle(Dataset):
    def __init__(self, upstream: Dataset, buffer_size: int, seed: int | None, reshuffle: bool):
        self._upstream = upstream
        self._buffer_size = _positive(buffer_size, "buffer_size", "shuffle")
        # Drawn now, so the whole pipeline's order follows from seeds known up front.
        self._seed = nrandom.host_seed(seed)
        self._reshuffle = reshuffle

    def _rng(self, pass_path: tuple[int, ...]) -> np.random.Generator:
        return np.random.default_rng([self._seed, *(pass_path if self._reshuffle else ())])

    def _index_order(self, pass_path: tuple[int, ...], buffered: bool = True) -> np.ndarray | None:
        """For an array-backed upstream, the order ``_buffered`` would yield its
        elements in, as row indices: the buffer's draws depend only on positions, so
        they are made on integers and the rows gathered after, one fancy index per
        batch on the batch path. A buffer holding the whole upstream is a uniform
        permutation, drawn at once (used by both paths, so they give the same order).
        ``None`` for other upstreams, and when ``buffered`` is False and the buffer
        is smaller (the element path then runs the buffer on the elements)."""
        upstream = self._upstream
        if not isinstance(upstream, TensorSlices):
            return None
        count = upstream.cardinality()
        if self._buffer_size >= count:
            return self._rng(pass_path).permutation(count)
        if not buffered:
            return None
        return np.fromiter(self._buffered_order(pass_path, count), dtype=np.int64, count=count)

    def _buffered_order(self, pass_path: tuple[int, ...], count: int) -> Iterator[int]:
        """``_buffered``'s algorithm on the positions ``0 .. count - 1``."""
        rng = self._rng(pass_path)
        size = self._buffer_size
        buffer = list(range(min(size, count)))
        for position in range(len(buffer), count):
            index = int(rng.integers(size))
            yield buffer[index]
            buffer[index] = position
        while buffer:
            index = int(rng.integers(len(buffer)))
            buffer[index], buffer[-1] = buffer[-1], buffer[index]
            yield buffer.pop()

    def _iterate_batches(
        self, pass_path: tuple[int, ...], batch_size: int, drop_remainder: bool
    ) -> Iterator[Any] | None:
        order = self._index_order(pass_path)
        if order is None:
            return None
        stop = len(order) - len(order) % batch_size if drop_remainder else len(order)
        upstream = self._upstream
        assert isinstance(upstream, TensorSlices)
        return (upstream.rows(order[i : i + batch_size]) for i in range(0, stop, batch_size))

    def _iterate(self, pass_path: tuple[int, ...], tolerant: bool = False) -> Iterator[Any]:
        order = self._index_order(pass_path, buffered=False)
        if order is not None:
            upstream = self._upstream
            assert isinstance(upstream, TensorSlices)
            for index in order:
                yield upstream.rows(int(index))
            return
        yield from self._buffered(pass_path, tolerant)

    def _buffered(self, pass_path: tuple[int, ...], tolerant: bool) -> Iterator[Any]:
        rng = self._rng(pass_path)
        buffer: list[Any] = []
        with closing_iterator(_source(self._upstream, pass_path, tolerant)) as source:
            for element in source:
                if isinstance(element, ElementError):
                    yield element
                    continue
                if len(buffer) < self._buffer_size:
                    buffer.append(element)
                    continue
                index = int(rng.integers(len(buffer)))
                yield buffer[index]
                buffer[index] = element
        while buffer:
            index = int(rng.integers(len(buffer)))
            buffer[index], buffer[-1] = buffer[-1], buffer[index]
            yield buffer.pop()

    def cardinality(self) -> int:
        return self._upstream.cardinality()


def _count_or_all(count: Any, op: str) -> int:
    """A ``take``/``skip``/``repeat`` count: ``-1`` means all (or forever)."""
    value = check_count(count, "count", op)
    assert value is not None
    if value < -1:
        raise ValueError(f"Dataset.{op}: count must be -1 or at least 0, received {value}.")
    return value


class Repeat(Dataset):
    def __init__(self, upstream: Dataset, count: int | None):
        self._upstream = upstream
        self._count = -1 if count is None else _count_or_all(count, "repeat")

    def _iterate(self, pass_path: tuple[int, ...]) -> Iterator[Any]:
        passes = itertools.count() if self._count == -1 else range(self._count)
        for repetition in passes:
            produced = False
            # Each repetition is a pass of its own: a shuffle upstream reshuffles.
            with closing_iterator(self._upstream._iterate((*pass_path, repetition))) as source:
                for element in source:
                    produced = True
                    yield element
            if not produced:  # an empty dataset repeated forever is still empty
                return

    def cardinality(self) -> int:
        count = self._upstream.cardinality()
        if self._count == 0 or count == 0:
            return 0
        if self._count == -1:
            return INFINITE_CARDINALITY if count != UNKNOWN_CARDINALITY else count
        return count * self._count if count >= 0 else count


class Take(Dataset):
    def __init__(self, upstream: Dataset, count: int):
        self._upstream = upstream
        self._count = _count_or_all(count, "take")

    def _iterate(self, pass_path: tuple[int, ...]) -> Iterator[Any]:
        with closing_iterator(self._upstream._iterate(pass_path)) as source:
            stop = None if self._count == -1 else self._count
            yield from itertools.islice(source, stop)

    def cardinality(self) -> int:
        count = self._upstream.cardinality()
        if self._count == -1:
            return count
        if count == INFINITE_CARDINALITY:
            return self._count
        return min(count, self._count) if count >= 0 else UNKNOWN_CARDINALITY


class Skip(Dataset):
    def __init__(self, upstream: Dataset, count: int):
        self._upstream = upstream
        self._count = _count_or_all(count, "skip")

    def _iterate(self, pass_path: tuple[int, ...]) -> Iterator[Any]:
        if self._count == -1:
            return
        with closing_iterator(self._upstream._iterate(pass_path)) as source:
            yield from itertools.islice(source, self._count, None)

    def cardinality(self) -> int:
        count = self._upstream.cardinality()
        if self._count == -1:
            return 0
        return max(0, count - self._count) if count >= 0 else count


class Shard(Dataset):
    def __init__(self, upstream: Dataset, num_shards: int, index: int):
        self._upstream = upstream
        self._num_shards = _positive(num_shards, "num_shards", "shard")
        self._index = check_count(index, "index", "shard")
        if not 0 <= (self._index or 0) < self._num_shards:
            raise ValueError(
                f"Dataset.shard: index must be in [0, num_shards={self._num_shards}), "
                f"received {index}."
            )

    def _iterate(self, pass_path: tuple[int, ...]) -> Iterator[Any]:
        with closing_iterator(self._upstream._iterate(pass_path)) as source:
            yield from itertools.islice(source, self._index, None, self._num_shards)

    def cardinality(self) -> int:
        count = self._upstream.cardinality()
        if count < 0:
            return count
        return max(0, -(-(count - (self._index or 0)) // self._num_shards))


class Interleave(Dataset):
    def __init__(
        self,
        upstream: Dataset,
        map_func: Callable[..., Dataset],
        cycle_length: int | None,
        block_length: int | None,
        num_parallel_calls: int | None,
        deterministic: bool | None,
    ):
        self._upstream = upstream
        self._func = map_func
        if cycle_length is None or cycle_length == AUTOTUNE:
            self._cycle = autotune_workers(AUTOTUNE)
        else:
            self._cycle = _positive(cycle_length, "cycle_length", "interleave")
        self._block = (
            1 if block_length is None else _positive(block_length, "block_length", "interleave")
        )
        self._read_ahead = num_parallel_calls is not None

    def _open(self, element: Any, pass_path: tuple[int, ...]) -> Iterator[Any]:
        dataset = call_with_element(self._func, element)
        if not isinstance(dataset, Dataset):
            raise TypeError(
                "Dataset.interleave: map_func must return a Dataset, returned a "
                f"{type(dataset).__name__}."
            )
        if self._read_ahead:
            return parallel.prefetch(lambda: dataset._iterate(pass_path), self._block)
        return dataset._iterate(pass_path)

    def _iterate(self, pass_path: tuple[int, ...]) -> Iterator[Any]:
        with contextlib.ExitStack() as stack:
            inputs = stack.enter_context(closing_iterator(self._upstream._iterate(pass_path)))
            slots: list[Iterator[Any] | None] = []

            def open_next() -> Iterator[Any] | None:
                element = next(inputs, None)
                if element is None:
                    return None
                iterator = self._open(element, pass_path)
                stack.callback(getattr(iterator, "close", lambda: None))
                return iterator

            for _ in range(self._cycle):
                slots.append(open_next())
            position = 0
            while any(slot is not None for slot in slots):
                iterator = slots[position]
                if iterator is not None:
                    for _ in range(self._block):
                        try:
                            item = next(iterator)
                        except StopIteration:
                            slots[position] = open_next()
                            break
                        yield item
                position = (position + 1) % self._cycle


class Prefetch(Dataset):
    def __init__(self, upstream: Dataset, buffer_size: int):
        self._upstream = upstream
        size = check_count(buffer_size, "buffer_size", "prefetch")
        assert size is not None
        if size == AUTOTUNE:
            size = 2
        if size < 0:
            raise ValueError(
                f"Dataset.prefetch: buffer_size must be AUTOTUNE or at least 0, got {size}."
            )
        self._size = size

    def _iterate(self, pass_path: tuple[int, ...], tolerant: bool = False) -> Iterator[Any]:
        if self._size == 0:
            return _source(self._upstream, pass_path, tolerant)
        return parallel.prefetch(lambda: _source(self._upstream, pass_path, tolerant), self._size)

    def cardinality(self) -> int:
        return self._upstream.cardinality()
