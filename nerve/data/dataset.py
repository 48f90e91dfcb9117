"""``Dataset``: a streaming input pipeline with tf.data's names.

A ``Dataset`` is a recipe, not data: ``from_tensor_slices``, ``from_generator``,
``range`` ... name a source, and each transformation (``map``, ``shuffle``, ``batch``,
``prefetch`` ...) returns a new ``Dataset`` wrapping the one before. Iterating a dataset
runs the recipe from the start: every ``for`` loop (every epoch of ``fit``) is a fresh
pass, and elements are computed as they are asked for, so data larger than memory
streams through.

Elements are nested structures (tuples, dicts, lists) of NumPy arrays; a ``Dataset``
yielding ``(x, y)`` or ``(x, y, sample_weight)`` batches goes straight into
``Model.fit``/``evaluate``/``predict``.

Randomness is seeded: ``shuffle(seed=None)`` draws its seed from nerve's global seed
generator when the transformation is created (``nerve.utils.set_random_seed``
reproduces it), and pass ``k`` of a reshuffling dataset uses the order drawn from
``(seed, k)``.

>>> import numpy as np
>>> from nerve.data import Dataset
>>> ds = Dataset.from_tensor_slices((np.arange(6), np.arange(6) * 10))
>>> ds = ds.map(lambda x, y: (x + 1, y)).filter(lambda x, y: x % 2 == 0).batch(2)
>>> [(x.tolist(), y.tolist()) for x, y in ds]
[([2, 4], [10, 30]), ([6], [50])]
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any

# Input pipelines run on the host: NumPy is their array library on every backend.
import numpy as np

from nerve.data import structure

__all__ = ["AUTOTUNE", "INFINITE_CARDINALITY", "UNKNOWN_CARDINALITY", "Dataset"]

#: ``num_parallel_calls`` / ``buffer_size`` value that lets nerve choose.
AUTOTUNE = -1
#: ``cardinality()`` of a dataset that never ends (``repeat()``).
INFINITE_CARDINALITY = -1
#: ``cardinality()`` when the number of elements is not known without iterating.
UNKNOWN_CARDINALITY = -2


def autotune_workers(num_parallel_calls: int | None) -> int:
    """Worker threads for ``num_parallel_calls`` (``AUTOTUNE``: one per CPU core)."""
    if num_parallel_calls is None:
        return 1
    if num_parallel_calls == AUTOTUNE:
        return max(1, os.cpu_count() or 1)
    if not isinstance(num_parallel_calls, int) or num_parallel_calls < 1:
        raise ValueError(
            "num_parallel_calls must be a positive int, nerve.data.AUTOTUNE or None; "
            f"received {num_parallel_calls!r}."
        )
    return num_parallel_calls


def check_count(value: Any, name: str, op: str, allow_none: bool = False) -> int | None:
    """An integer count argument, or a clear error."""
    if value is None and allow_none:
        return None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"Dataset.{op}: {name} must be an int, received {value!r}.")
    return value


@contextlib.contextmanager
def closing_iterator(iterator: Iterator[Any]) -> Iterator[Iterator[Any]]:
    """``with closing_iterator(it) as it:`` closes ``it`` on the way out, when it can
    be closed (a generator, a pipeline stage with threads)."""
    try:
        yield iterator
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            close()


def call_with_element(fn: Callable[..., Any], element: Any) -> Any:
    """Call a user function as tf.data does: a tuple element is unpacked into
    positional arguments, anything else is passed whole."""
    if isinstance(element, tuple) and not hasattr(element, "_fields"):
        return fn(*element)
    return fn(element)


class Dataset:
    """A pipeline of elements. Subclasses implement ``_iterate`` and, where known,
    ``cardinality``; everything else is here.

    ``_iterate(pass_path)`` returns a fresh iterator over the elements. ``pass_path``
    says which pass this is: ``(k,)`` for the ``k``-th ``for`` loop over the dataset
    (``fit`` passes its epoch, so a resumed run replays the same order), extended by
    ``repeat`` with the repetition. It is what a reshuffling ``shuffle`` seeds its
    order with, next to its own seed; every other stage hands it on unchanged.
    """

    _passes_started = 0

    # -- running it ----------------------------------------------------------------------
    def _iterate(self, pass_path: tuple[int, ...]) -> Iterator[Any]:
        raise NotImplementedError(f"{type(self).__name__} must implement _iterate.")

    def _iterate_batches(
        self, pass_path: tuple[int, ...], batch_size: int, drop_remainder: bool
    ) -> Iterator[Any] | None:
        """Batches of ``batch_size`` elements cut in one step each, or ``None`` when
        this dataset can only give its elements one at a time. A dataset that can
        (arrays sliced by ``from_tensor_slices``, a full shuffle of them) gives exactly
        what ``batch`` would stack, without a Python step per element."""
        return None

    def iterate_pass(self, index: int) -> Iterator[Any]:
        """An iterator over pass ``index`` (what ``fit`` calls for each epoch): a
        reshuffling dataset gives the same order for the same index.

        >>> ds = Dataset.range(6).shuffle(6, seed=2)
        >>> [int(x) for x in ds.iterate_pass(3)] == [int(x) for x in ds.iterate_pass(3)]
        True
        """
        return self._iterate((int(index),))

    def __iter__(self) -> Iterator[Any]:
        index = self._passes_started
        self._passes_started = index + 1
        return self.iterate_pass(index)

    def as_numpy_iterator(self) -> Iterator[Any]:
        """An iterator over the elements as NumPy arrays (they already are).

        >>> [int(x) for x in Dataset.range(3).as_numpy_iterator()]
        [0, 1, 2]
        """
        return iter(self)

    def cardinality(self) -> int:
        """The number of elements, ``INFINITE_CARDINALITY`` (-1) or
        ``UNKNOWN_CARDINALITY`` (-2).

        >>> Dataset.range(10).batch(3).cardinality(), Dataset.range(2).repeat().cardinality()
        (4, -1)
        """
        return UNKNOWN_CARDINALITY

    def __len__(self) -> int:
        count = self.cardinality()
        if count == INFINITE_CARDINALITY:
            raise TypeError("The dataset is infinite; it has no length.")
        if count == UNKNOWN_CARDINALITY:
            raise TypeError("The dataset's length is unknown; use cardinality().")
        return count

    @property
    def element_spec(self) -> Any:
        """The structure of an element as ``TensorSpec`` leaves (read off the first
        element, so it costs one step of the pipeline)."""
        iterator = self.iterate_pass(0)
        try:
            first = next(iterator)
        except StopIteration:
            raise ValueError("element_spec: the dataset is empty.") from None
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()
        return structure.spec_of(first)

    def reduce(self, initial_state: Any, reduce_func: Callable[[Any, Any], Any]) -> Any:
        """Fold the elements into one value: ``reduce_func(state, element)``.

        >>> int(Dataset.range(5).reduce(0, lambda total, x: total + x))
        10
        """
        state = initial_state
        for element in self:
            state = reduce_func(state, element)
        return state

    def apply(self, transformation_func: Callable[[Dataset], Dataset]) -> Dataset:
        """``transformation_func(self)``, for chaining reusable transformations."""
        result = transformation_func(self)
        if not isinstance(result, Dataset):
            raise TypeError(
                f"Dataset.apply: the function must return a Dataset, got {type(result).__name__}."
            )
        return result

    # -- sources -------------------------------------------------------------------------
    @staticmethod
    def from_tensor_slices(tensors: Any, name: str | None = None) -> Dataset:
        """One element per row of ``tensors`` (arrays, or a tuple/dict of arrays with the
        same first dimension).

        >>> [int(x) for x in Dataset.from_tensor_slices([4, 5, 6])]
        [4, 5, 6]
        """
        return _sources.TensorSlices(tensors)

    @staticmethod
    def from_tensors(tensors: Any, name: str | None = None) -> Dataset:
        """A dataset of one element, ``tensors`` itself.

        >>> [x.shape for x in Dataset.from_tensors([[1, 2], [3, 4]])]
        [(2, 2)]
        """
        return _sources.Tensors(tensors)

    @staticmethod
    def from_generator(
        generator: Callable[..., Iterable[Any]],
        output_types: Any = None,
        output_shapes: Any = None,
        args: tuple | None = None,
        output_signature: Any = None,
        name: str | None = None,
    ) -> Dataset:
        """Elements produced by calling ``generator(*args)`` (afresh for every pass).
        With ``output_signature`` (``TensorSpec`` leaves) each element is checked and an
        element of the wrong shape or dtype is a clear error.

        >>> def squares():
        ...     yield from (i * i for i in range(4))
        >>> [int(x) for x in Dataset.from_generator(squares)]
        [0, 1, 4, 9]
        """
        return _sources.FromGenerator(
            generator, args or (), output_signature, output_types, output_shapes
        )

    @staticmethod
    def range(*args: int, dtype: str = "int64", name: str | None = None) -> Dataset:
        """``range(stop)``, ``range(start, stop)`` or ``range(start, stop, step)`` as
        0-d arrays.

        >>> [int(x) for x in Dataset.range(2, 8, 3)]
        [2, 5]
        """
        return _sources.Range(*args, dtype=dtype)

    @staticmethod
    def zip(*datasets: Any, name: str | None = None) -> Dataset:
        """Elements of several datasets side by side (a tuple, or the structure given);
        it ends with the shortest.

        >>> a, b = Dataset.range(3), Dataset.range(10, 12)
        >>> [(int(x), int(y)) for x, y in Dataset.zip(a, b)]
        [(0, 10), (1, 11)]
        """
        if len(datasets) == 1 and not isinstance(datasets[0], Dataset):
            return _sources.Zip(datasets[0])
        return _sources.Zip(tuple(datasets))

    def concatenate(self, dataset: Dataset, name: str | None = None) -> Dataset:
        """This dataset's elements, then ``dataset``'s.

        >>> [int(x) for x in Dataset.range(2).concatenate(Dataset.range(5, 6))]
        [0, 1, 5]
        """
        return _sources.Concatenate(self, dataset)

    # -- element-wise transformations -----------------------------------------------------
    def map(
        self,
        map_func: Callable[..., Any],
        num_parallel_calls: int | None = None,
        deterministic: bool | None = None,
        name: str | None = None,
    ) -> Dataset:
        """``map_func`` applied to every element (a tuple element is unpacked into its
        arguments). ``num_parallel_calls`` runs it on that many threads
        (``AUTOTUNE``: one per core); results keep their order unless
        ``deterministic=False``.

        >>> [int(x) for x in Dataset.range(4).map(lambda x: x * 2, num_parallel_calls=2)]
        [0, 2, 4, 6]
        """
        return _transforms.Map(self, map_func, num_parallel_calls, deterministic)

    def filter(self, predicate: Callable[..., Any], name: str | None = None) -> Dataset:
        """Only the elements for which ``predicate`` is true.

        >>> [int(x) for x in Dataset.range(6).filter(lambda x: x % 3 == 0)]
        [0, 3]
        """
        return _transforms.Filter(self, predicate)

    def enumerate(self, start: int = 0, name: str | None = None) -> Dataset:
        """``(index, element)`` pairs.

        >>> [(int(i), int(x)) for i, x in Dataset.range(5, 7).enumerate()]
        [(0, 5), (1, 6)]
        """
        return _transforms.Enumerate(self, start)

    def ignore_errors(self, log_warning: bool = False, name: str | None = None) -> Dataset:
        """Drop elements whose computation raised (a corrupt file, say), with a warning
        naming the error when ``log_warning``."""
        return _transforms.IgnoreErrors(self, log_warning)

    # -- batching ------------------------------------------------------------------------
    def batch(
        self,
        batch_size: int,
        drop_remainder: bool = False,
        num_parallel_calls: int | None = None,
        deterministic: bool | None = None,
        name: str | None = None,
    ) -> Dataset:
        """Consecutive elements stacked into batches of ``batch_size`` (the last one
        smaller unless ``drop_remainder``).

        >>> [b.tolist() for b in Dataset.range(5).batch(2)]
        [[0, 1], [2, 3], [4]]
        """
        return _transforms.Batch(self, batch_size, drop_remainder)

    def padded_batch(
        self,
        batch_size: int,
        padded_shapes: Any = None,
        padding_values: Any = None,
        drop_remainder: bool = False,
        name: str | None = None,
    ) -> Dataset:
        """Like ``batch``, padding each component at the end of every axis to
        ``padded_shapes`` (default, and ``None`` entries: the longest in the batch)
        with ``padding_values`` (default 0).

        >>> ds = Dataset.from_generator(lambda: ([1] * n for n in (1, 3, 2)))
        >>> [b.tolist() for b in ds.padded_batch(3)]
        [[[1, 0, 0], [1, 1, 1], [1, 1, 0]]]
        """
        return _transforms.PaddedBatch(
            self, batch_size, padded_shapes, padding_values, drop_remainder
        )

    def unbatch(self, name: str | None = None) -> Dataset:
        """Split every element along its first axis (the inverse of ``batch``).

        >>> [int(x) for x in Dataset.range(5).batch(2).unbatch()]
        [0, 1, 2, 3, 4]
        """
        return _transforms.Unbatch(self)

    # -- order and length ----------------------------------------------------------------
    def shuffle(
        self,
        buffer_size: int,
        seed: int | None = None,
        reshuffle_each_iteration: bool | None = None,
        name: str | None = None,
    ) -> Dataset:
        """Elements in a random order, drawn from a buffer of ``buffer_size`` (a buffer
        as large as the dataset gives a uniform shuffle). Each pass reshuffles unless
        ``reshuffle_each_iteration=False``.

        >>> sorted(int(x) for x in Dataset.range(5).shuffle(5, seed=1))
        [0, 1, 2, 3, 4]
        """
        return _transforms.Shuffle(
            self,
            buffer_size,
            seed,
            True if reshuffle_each_iteration is None else bool(reshuffle_each_iteration),
        )

    def repeat(self, count: int | None = None, name: str | None = None) -> Dataset:
        """The dataset ``count`` times (forever for ``None`` or -1).

        >>> [int(x) for x in Dataset.range(2).repeat(2)]
        [0, 1, 0, 1]
        """
        return _transforms.Repeat(self, count)

    def take(self, count: int, name: str | None = None) -> Dataset:
        """The first ``count`` elements (all of them for -1).

        >>> [int(x) for x in Dataset.range(10).take(2)]
        [0, 1]
        """
        return _transforms.Take(self, count)

    def skip(self, count: int, name: str | None = None) -> Dataset:
        """All but the first ``count`` elements (none for -1).

        >>> [int(x) for x in Dataset.range(4).skip(2)]
        [2, 3]
        """
        return _transforms.Skip(self, count)

    def shard(self, num_shards: int, index: int, name: str | None = None) -> Dataset:
        """Every ``num_shards``-th element, starting at ``index`` (one worker's part).

        >>> [int(x) for x in Dataset.range(7).shard(3, 1)]
        [1, 4]
        """
        return _transforms.Shard(self, num_shards, index)

    def interleave(
        self,
        map_func: Callable[..., Dataset],
        cycle_length: int | None = None,
        block_length: int | None = None,
        num_parallel_calls: int | None = None,
        deterministic: bool | None = None,
        name: str | None = None,
    ) -> Dataset:
        """``map_func`` turns each element into a dataset; ``cycle_length`` of them are
        read at once, ``block_length`` elements from each in turn. With
        ``num_parallel_calls`` every open dataset is read ahead on its own thread.

        >>> ds = Dataset.range(1, 3).interleave(lambda x: Dataset.from_tensors(x).repeat(3),
        ...                                     cycle_length=2)
        >>> [int(x) for x in ds]
        [1, 2, 1, 2, 1, 2]
        """
        return _transforms.Interleave(
            self, map_func, cycle_length, block_length, num_parallel_calls, deterministic
        )

    # -- performance ---------------------------------------------------------------------
    def prefetch(self, buffer_size: int, name: str | None = None) -> Dataset:
        """Prepare up to ``buffer_size`` elements ahead on a background thread, so the
        pipeline works while the consumer (a training step) does
        (``AUTOTUNE``: two elements).

        >>> [int(x) for x in Dataset.range(3).prefetch(2)]
        [0, 1, 2]
        """
        return _transforms.Prefetch(self, buffer_size)

    def cache(self, filename: str = "", name: str | None = None) -> Dataset:
        """Keep the elements of the first complete pass (in memory, or in the file
        ``filename``) and replay them on later passes instead of recomputing.

        >>> calls = []
        >>> ds = Dataset.range(3).map(lambda x: calls.append(1) or x).cache()
        >>> _ = list(ds), list(ds)
        >>> len(calls)
        3
        """
        return _cache.Cache(self, filename)


# The dataset classes subclass Dataset, so they are imported once it exists.
from nerve.data import cache as _cache  # noqa: E402
from nerve.data import sources as _sources  # noqa: E402
from nerve.data import transforms as _transforms  # noqa: E402
