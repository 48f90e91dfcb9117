"""Data adapters: turn what ``fit``/``evaluate``/``predict`` accept into batches.

Accepted inputs (as in Keras 3): NumPy arrays and nerve tensors, or lists / tuples /
dicts of them (multi-input and multi-output); Python generators (or any iterator)
yielding ``x``, ``(x, y)`` or ``(x, y, sample_weight)`` batches; ``PyDataset``; and
``nerve.data.Dataset`` pipelines of such batches.

Every adapter yields ``(data, mask)`` per step: ``data`` is ``(x,)``, ``(x, y)`` or
``(x, y, sample_weight)`` (what ``train_step`` receives) and ``mask`` is ``None`` or a
float32 ``(batch_size,)`` array with 1 on real rows and 0 on padding rows.

Why padding: ``nerve.function`` specializes on shapes, so a smaller last batch would
trace (compile) the whole step again. With ``pad=True`` a short batch is filled up to
the full batch size by repeating its own rows (real values, so no NaN/inf can appear
in the ignored rows) and ``mask`` marks the real ones; the trainer gives padded rows a
weight of 0 and rescales the loss so it equals the reduction over the real rows.
Caveat: layers that mix information *across* the batch (batch normalization in
training mode, batch-level statistics in a custom layer) do see the padded rows.

Shuffling is deterministic: epoch ``e`` uses the permutation drawn from
``(seed, e)``, so the same seed gives the same order, and ``state()`` /
``restore(state)`` (epoch, step, seed) let an interrupted run resume at the same
position (``BackupAndRestore``).

>>> import numpy as np
>>> adapter = ArrayDataAdapter(np.arange(10.0).reshape(5, 2), np.arange(5), batch_size=2,
...                            shuffle=False, pad=True)
>>> [(data[0].shape, mask) for data, mask in adapter.epoch_batches(0)][-1]
((2, 2), array([1., 0.], dtype=float32))
"""

from __future__ import annotations

import concurrent.futures
import itertools
import math
import multiprocessing
from collections.abc import Generator, Iterator
from typing import Any

# Data adapters sit at the host boundary (like ``nerve.datasets``): user data arrives as
# NumPy arrays and is sliced into batches on the host, before the backend sees it.
import numpy as np

from nerve import random as nrandom
from nerve.core import config, tree
from nerve.core.errors import DataError, DTypeError, check_int
from nerve.data import parallel
from nerve.data.dataset import Dataset, closing_iterator
from nerve.tensor import Tensor
from nerve.training.distributed import shard_count, split_rows

__all__ = [
    "ArrayDataAdapter",
    "DataAdapter",
    "DatasetAdapter",
    "GeneratorDataAdapter",
    "PyDataset",
    "PyDatasetAdapter",
    "get_data_adapter",
    "is_stream",
    "pack_x_y_sample_weight",
    "train_validation_split",
    "unpack_x_y_sample_weight",
]


# -- helpers shared with the trainer -----------------------------------------------------------


def unpack_x_y_sample_weight(data: Any) -> tuple[Any, Any, Any]:
    """``(x, y, sample_weight)`` from a batch given as ``x``, ``(x,)``, ``(x, y)`` or
    ``(x, y, sample_weight)`` (missing parts are ``None``), as Keras's helper.

    >>> unpack_x_y_sample_weight((1, 2))
    (1, 2, None)
    """
    if isinstance(data, list):
        data = tuple(data)
    if not isinstance(data, tuple):
        return data, None, None
    if len(data) == 1:
        return data[0], None, None
    if len(data) == 2:
        return data[0], data[1], None
    if len(data) == 3:
        return data[0], data[1], data[2]
    raise ValueError(
        "Data is expected to be x, (x,), (x, y) or (x, y, sample_weight); "
        f"received a tuple of {len(data)} elements."
    )


def pack_x_y_sample_weight(x: Any, y: Any = None, sample_weight: Any = None) -> tuple:
    """The inverse of ``unpack_x_y_sample_weight``: ``(x,)``, ``(x, y)`` or all three.

    >>> pack_x_y_sample_weight(1, 2)
    (1, 2)
    """
    if y is None:
        return (x,)
    if sample_weight is None:
        return (x, y)
    return (x, y, sample_weight)


def _to_numpy(x: Any) -> Any:
    """Host arrays; float arrays become floatx (Keras's adapters do the same). Data
    that isn't numbers (strings, dicts inside lists, ragged lists) is a ``TypeError``
    naming what arrived."""
    if x is None:
        return None
    if isinstance(x, Tensor):
        x = x.numpy()
    try:
        x = np.asarray(x)
    except ValueError as error:  # ragged nested lists
        raise DTypeError(
            f"Data must be arrays of numbers (or lists, tuples or dicts of them); received "
            f"a {type(x).__name__} that is not one rectangular array ({error})."
        ) from None
    if x.dtype.kind not in "biuf":
        raise DTypeError(
            f"Data must be arrays of numbers (bool, integer or float), one per model input "
            f"(lists, tuples or dicts of them for several); received {_describe(x)}. Encode "
            f"text or other objects as numbers first."
        )
    if x.dtype.kind == "f" and x.dtype != np.dtype(config.floatx()):
        x = x.astype(config.floatx())
    return x


def _describe(array: Any) -> str:
    kinds = {"U": "strings", "S": "bytes", "O": "Python objects", "c": "complex numbers"}
    what = kinds.get(array.dtype.kind, f"values of dtype {array.dtype}")
    if array.ndim == 0:
        return f"the {type(array.item()).__name__} {array.item()!r}"
    sample = array.reshape(-1)[:3].tolist()
    return f"an array of shape {array.shape} holding {what} (starting {sample})"


def empty_data_error(method: str | None = None) -> DataError:
    """The error for data with no samples (``fit``/``evaluate`` would report 0.0)."""
    return DataError(
        f"{method + ': the' if method else 'The'} data is empty (0 samples, or a generator "
        "or Dataset that yielded no batch); there is nothing to compute a loss or metric "
        "over. Check how the data was loaded or filtered."
    )


def check_finite(method: str, named: dict) -> None:
    """Raise ``DataError`` naming the first part of ``named`` (``{"x": ..., "y": ...}``,
    nested as the model's inputs are) that holds NaN or infinity.

    >>> check_finite("fit", {"x": {"image": np.array([1.0, np.nan])}})
    Traceback (most recent call last):
    ...
    nerve.core.errors.DataError: fit: x['image'] holds 1 NaN and 0 infinite values ...
    """
    for name, leaf in _named_leaves(named):
        if not isinstance(leaf, np.ndarray) or leaf.dtype.kind not in "fc":
            continue
        finite = np.isfinite(leaf)
        if finite.all():
            continue
        nans = int(np.isnan(leaf).sum())
        row = int(np.argwhere(~finite)[0][0])
        raise DataError(
            f"{method}: {name} holds {nans} NaN and {int((~finite).sum()) - nans} infinite "
            f"values (the first at row {row} of the batch, shape {leaf.shape}). Training on "
            "them makes the loss NaN. Clean the data (numpy.nan_to_num, or drop those rows); "
            "nerve.config.set_data_checks('every_batch') checks every batch, 'off' none."
        )


def _named_leaves(structure: Any, name: str = "") -> Iterator[tuple[str, Any]]:
    """``(name, leaf)`` with names like ``x``, ``x[0]``, ``x['image']``."""
    if isinstance(structure, dict):
        for key, value in structure.items():
            yield from _named_leaves(value, f"{name}[{key!r}]" if name else str(key))
    elif isinstance(structure, (list, tuple)):
        for index, value in enumerate(structure):
            yield from _named_leaves(value, f"{name}[{index}]")
    elif structure is not None:
        yield name, structure


def _num_rows(structure: Any) -> int:
    leaves = [leaf for leaf in tree.flatten(structure)[0] if leaf is not None]
    if not leaves:
        raise ValueError("The data contains no arrays.")
    for name, leaf in _named_leaves(structure):
        if not getattr(leaf, "ndim", 1):
            raise ValueError(
                f"The data part {name} is a scalar ({leaf!r}), but each input, target and "
                "sample weight needs a batch axis (one row per sample). Pass a NumPy array "
                "(a Python list of numbers is read as one input per entry)."
            )
    sizes = {int(leaf.shape[0]) for leaf in leaves}
    if len(sizes) != 1:
        raise ValueError(
            "All arrays in x, y and sample_weight must have the same number of samples "
            f"(first dimension); received sizes {sorted(sizes)}."
        )
    return sizes.pop()


def _take(structure: Any, indices: Any) -> Any:
    return tree.map_structure(lambda a: None if a is None else a[indices], structure)


def _pad_batch(data: Any, batch_size: int) -> tuple[Any, Any]:
    """Fill a short batch up to ``batch_size`` rows by repeating its rows; the mask."""
    n = _num_rows(data)
    mask = np.zeros((batch_size,), dtype="float32")
    mask[:n] = 1.0
    if n == batch_size:
        return data, mask
    if n > batch_size:
        raise ValueError(f"A batch of {n} rows is larger than the padded size {batch_size}.")
    return _take(data, np.arange(batch_size) % n), mask


def class_weight_to_sample_weight(y: Any, class_weight: dict) -> Any:
    """Per-sample weights from a ``{class_index: weight}`` dict (labels as integers or
    one-hot rows; classes missing from the dict weigh 1, as in Keras).

    >>> class_weight_to_sample_weight(np.array([0, 1, 1]), {0: 2.0, 1: 0.5}).tolist()
    [2.0, 0.5, 0.5]
    """
    if isinstance(y, (list, tuple, dict)):
        raise ValueError(
            "class_weight is only supported for models with a single output; "
            "for several outputs pass sample_weight instead."
        )
    if not isinstance(class_weight, dict):
        raise TypeError(
            "class_weight must be a dict {class index: weight}; received a "
            f"{type(class_weight).__name__}."
        )
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:
        classes = np.argmax(y, axis=1)
        known, where = y.shape[1], f"y is one-hot with {y.shape[1]} classes"
    else:
        classes = np.round(y.reshape(y.shape[0], -1)[:, 0]).astype("int64")
        known = int(classes.max()) + 1 if classes.size else 0
        where = f"the labels in y run up to {known - 1}"
    weights = np.ones((y.shape[0],), dtype=config.floatx())
    for cls, weight in class_weight.items():
        index = check_int(cls, "each key of class_weight", "class_weight", minimum=0)
        if index >= known:
            raise ValueError(
                f"class_weight has a weight for class {cls!r}, a class that does not "
                f"exist: {where}. Keys must be class indices 0..{known - 1}."
            )
        if isinstance(weight, bool) or not isinstance(weight, (int, float, np.number)):
            raise ValueError(
                f"class_weight[{cls!r}] must be a number; received {weight!r} (of type "
                f"{type(weight).__name__})."
            )
        if not (math.isfinite(weight) and weight >= 0):
            raise ValueError(
                f"class_weight[{cls!r}] must be a finite number >= 0; received {weight!r}."
            )
        weights[classes == index] = weight
    return weights


def train_validation_split(arrays: Any, validation_split: float) -> tuple[Any, Any]:
    """Split every array at the same row: the last ``validation_split`` fraction (before
    any shuffling, as in Keras) is the validation part.

    >>> train, val = train_validation_split((np.arange(10),), 0.2)
    >>> train[0].tolist(), val[0].tolist()
    ([0, 1, 2, 3, 4, 5, 6, 7], [8, 9])
    """
    if not 0.0 < validation_split < 1.0:
        raise ValueError(f"validation_split must be in (0, 1); received {validation_split}.")
    arrays = tree.map_structure(_to_numpy, arrays)
    n = _num_rows(dict(zip(("x", "y", "sample_weight"), arrays)))
    split_at = math.ceil(n * (1.0 - validation_split))
    if split_at == 0 or split_at == n:
        raise ValueError(
            f"validation_split={validation_split} leaves an empty training or validation "
            f"set for {n} samples; use more data or another split."
        )
    train = tree.map_structure(lambda a: None if a is None else a[:split_at], arrays)
    val = tree.map_structure(lambda a: None if a is None else a[split_at:], arrays)
    return train, val


# -- adapters ---------------------------------------------------------------------------------


class DataAdapter:
    """Base class: ``epoch_batches(epoch)`` yields ``(data, mask)`` steps of one epoch.

    ``state()``/``restore(state)`` capture the position (``epoch``, ``step``) and the
    shuffling ``seed``, so a resumed run continues with exactly the same batches.
    """

    num_batches: int | None = None
    batch_size: int | None = None

    def __init__(self, seed: int | None = None, shuffle: bool | str = False):
        # An explicit seed, drawn from nerve's global seed generator when not given and
        # the adapter shuffles (so a run is reproducible, and set_random_seed changes it);
        # the whole run's order is a function of this one recorded number. Adapters that
        # keep their order draw nothing: a predict or evaluate call must neither pay for
        # a draw nor move the global generator, which would change later random numbers.
        if seed is not None:
            self.seed = int(seed)
        else:
            self.seed = nrandom.host_seed() if shuffle else 0
        self.epoch = 0
        self.step = 0
        self._resume_step = 0

    def state(self) -> dict:
        """Where the adapter is: ``{"epoch", "step", "seed"}`` (plain ints, JSON-able)."""
        return {"epoch": int(self.epoch), "step": int(self.step), "seed": int(self.seed)}

    def restore(self, state: dict) -> None:
        """Continue from ``state``: the next ``epoch_batches(state["epoch"])`` skips the
        first ``state["step"]`` steps, with the same order as the interrupted run."""
        self.seed = int(state["seed"])
        self.epoch = int(state["epoch"])
        self.step = self._resume_step = int(state["step"])

    def epoch_batches(self, epoch: int) -> Generator[tuple[tuple, Any], None, None]:
        """The steps of ``epoch``. Close the iterator when leaving early (``fit`` does,
        in ``finally``): that stops any background workers of the input pipeline."""
        self.epoch, self.step = epoch, 0
        skip, self._resume_step = self._resume_step, 0
        with closing_iterator(self._batches(epoch)) as batches:
            for step, batch in enumerate(batches):
                if step < skip:
                    continue
                self.step = step + 1  # handed out (and, when the caller asks again, done)
                yield batch
        self.on_epoch_end()

    def close(self) -> None:
        """Release what the adapter holds across epochs (an open pipeline iterator)."""

    def _batches(self, epoch: int) -> Iterator[tuple[tuple, Any]]:
        raise NotImplementedError

    def on_epoch_end(self) -> None:
        """Called after every epoch (``PyDataset`` forwards it)."""

    def shard(self, rank: int, num_replicas: int) -> DataAdapter:
        """The adapter of replica ``rank`` of ``num_replicas`` in a data-parallel run
        (``nerve.training.distributed``). Arrays split each global batch, streams of
        batches give every ``num_replicas``-th batch; a generator is taken to be this
        replica's own data already, so the base class returns ``self``."""
        return self


class ArrayDataAdapter(DataAdapter):
    """Arrays or tensors (and nested lists/tuples/dicts of them) sliced into batches."""

    # Known from the arrays' length up front.
    num_batches: int
    batch_size: int

    def __init__(
        self,
        x: Any,
        y: Any = None,
        sample_weight: Any = None,
        batch_size: int | None = None,
        steps: int | None = None,
        shuffle: bool | str = False,
        class_weight: dict | None = None,
        pad: bool = False,
        seed: int | None = None,
    ):
        super().__init__(seed, shuffle)
        self.x = tree.map_structure(_to_numpy, x)
        self.y = tree.map_structure(_to_numpy, y)
        self.sample_weight = tree.map_structure(_to_numpy, sample_weight)
        if class_weight is not None:
            if self.y is None:
                raise ValueError("class_weight needs targets y.")
            weights = class_weight_to_sample_weight(self.y, class_weight)
            if self.sample_weight is not None:
                weights = weights * self.sample_weight.reshape(len(weights), -1)[:, 0]
            self.sample_weight = weights
        self.num_samples = _num_rows(
            {"x": self.x, "y": self.y, "sample_weight": self.sample_weight}
        )
        if self.num_samples == 0:
            raise empty_data_error()
        check_int(batch_size, "batch_size", "ArrayDataAdapter", allow_none=True)
        check_int(steps, "steps", "ArrayDataAdapter", allow_none=True)
        if batch_size is None:
            batch_size = 32 if steps is None else math.ceil(self.num_samples / steps)
        # Never pad beyond the data: 10 samples with batch_size=32 make one batch of 10.
        self.batch_size = max(1, min(int(batch_size), self.num_samples))
        self.num_batches = math.ceil(self.num_samples / self.batch_size)
        if steps is not None:
            self.num_batches = min(self.num_batches, int(steps))
        self.shuffle = shuffle
        self.pad = pad
        self._shard: tuple[int, int] | None = None

    def shard(self, rank: int, num_replicas: int) -> ArrayDataAdapter:
        """Each global batch of ``batch_size`` rows is cut into ``num_replicas``
        contiguous parts; this adapter yields part ``rank`` (possibly empty)."""
        self._shard = (int(rank), int(num_replicas))
        return self

    def _order(self, epoch: int) -> Any:
        if not self.shuffle:
            return np.arange(self.num_samples)
        rng = np.random.default_rng([self.seed, epoch])
        if self.shuffle == "batch":
            # Shuffle the order of whole batches (rows stay together); a partial last
            # batch stays last, so every batch boundary is kept.
            full = self.num_samples // self.batch_size
            starts = rng.permutation(full) * self.batch_size
            chunks = [np.arange(s, s + self.batch_size) for s in starts]
            chunks.append(np.arange(full * self.batch_size, self.num_samples))
            return np.concatenate(chunks)
        return rng.permutation(self.num_samples)

    def _batches(self, epoch: int) -> Iterator[tuple[tuple, Any]]:
        order = self._order(epoch)
        data = pack_x_y_sample_weight(self.x, self.y, self.sample_weight)
        for step in range(self.num_batches):
            rows = order[step * self.batch_size : (step + 1) * self.batch_size]
            if self._shard is not None:
                rows = split_rows(rows, *self._shard)
            batch = _take(data, rows)
            if self.pad:
                batch, mask = _pad_batch(batch, self.batch_size)
                yield batch, mask
            else:
                yield batch, None


def _standardize_batch(batch: Any) -> tuple:
    """A generator's or PyDataset's item as a ``(x,)``/``(x, y)``/``(x, y, sw)`` tuple of
    host arrays."""
    x, y, sample_weight = unpack_x_y_sample_weight(batch)
    return pack_x_y_sample_weight(
        tree.map_structure(_to_numpy, x),
        tree.map_structure(_to_numpy, y),
        tree.map_structure(_to_numpy, sample_weight),
    )


class _BatchStreamAdapter(DataAdapter):
    """Shared by generators and PyDatasets: batches arrive ready-made; a batch smaller
    than the first one is padded up to it (so the last one doesn't recompile)."""

    #: Batches arrive ready-made (data-parallel runs shard them by batch).
    is_stream = True

    def __init__(self, steps: int | None, pad: bool, seed: int | None = None):
        super().__init__(seed)
        self.steps = steps
        self.pad = pad
        self.batch_size = None

    def _pad(self, batch: tuple) -> tuple[tuple, Any]:
        n = _num_rows(batch)
        if self.batch_size is None:
            self.batch_size = n
        if self.pad and n < self.batch_size:
            return _pad_batch(batch, self.batch_size)
        if self.pad and n == self.batch_size:
            return batch, np.ones((n,), dtype="float32")
        return batch, None


class GeneratorDataAdapter(_BatchStreamAdapter):
    """A Python generator / iterator of batches. Without ``steps`` an epoch lasts until
    the generator is exhausted; with ``steps`` each epoch takes that many batches from the
    same stream (as Keras: a generator is not restarted between epochs)."""

    def __init__(self, generator: Any, steps: int | None = None, pad: bool = False):
        super().__init__(steps, pad)
        self.generator = iter(generator)
        self.num_batches = steps
        self.exhausted = False

    def _batches(self, epoch: int) -> Iterator[tuple[tuple, Any]]:
        stream = (
            self.generator if self.steps is None else itertools.islice(self.generator, self.steps)
        )
        count = 0
        for batch in stream:
            count += 1
            yield self._pad(_standardize_batch(batch))
        if (self.steps is not None and count < self.steps) or count == 0:
            self.exhausted = True


class PyDataset:
    """Base class for datasets indexed by batch (Keras's ``keras.utils.PyDataset``):
    implement ``__len__`` (the number of batches) and ``__getitem__(index)`` (the batch
    ``x``, ``(x, y)`` or ``(x, y, sample_weight)``); ``on_epoch_end`` runs after each epoch
    (e.g. to reshuffle).

    With ``workers > 1`` batches are loaded ahead, in order, by that many threads, or
    processes with ``use_multiprocessing=True`` (for ``__getitem__`` code that holds the
    GIL; the processes are started per epoch from a fresh interpreter and receive the
    dataset pickled, so they see what ``on_epoch_end`` changed, and the class must be
    importable); at most ``max_queue_size`` batches wait ahead.

    >>> class Squares(PyDataset):
    ...     def __len__(self):
    ...         return 3
    ...     def __getitem__(self, index):
    ...         x = np.full((4, 1), float(index))
    ...         return x, x**2
    >>> len(Squares()), float(Squares()[2][1][0, 0])
    (3, 4.0)
    """

    def __init__(
        self, workers: int = 1, use_multiprocessing: bool = False, max_queue_size: int = 10
    ):
        self.workers = workers
        self.use_multiprocessing = use_multiprocessing
        self.max_queue_size = max_queue_size

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must implement __len__.")

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__.")

    @property
    def num_batches(self) -> int | None:
        """The number of batches per epoch (``len(self)``)."""
        return len(self)

    def on_epoch_end(self) -> None:
        """Called at the end of every epoch."""


class PyDatasetAdapter(_BatchStreamAdapter):
    """Iterates a ``PyDataset`` by index (in order: Keras doesn't shuffle a PyDataset)."""

    num_batches: int  # the dataset's length, known up front

    def __init__(self, dataset: PyDataset, steps: int | None = None, pad: bool = False):
        super().__init__(steps, pad)
        self.dataset = dataset
        self.num_batches = len(dataset) if steps is None else min(int(steps), len(dataset))
        self._indices = range(self.num_batches)

    def shard(self, rank: int, num_replicas: int) -> PyDatasetAdapter:
        """Batches ``rank``, ``rank + num_replicas``, ... (only those are loaded)."""
        total = len(self.dataset)
        indices = range(rank, total, num_replicas)
        count = shard_count(total, rank, num_replicas) or 0
        if self.steps is not None:  # steps counts global steps: one batch per replica
            count = min(count, int(self.steps))
        self._indices = indices[:count]
        self.num_batches = len(self._indices)
        return self

    def _batches(self, epoch: int) -> Iterator[tuple[tuple, Any]]:
        workers = int(getattr(self.dataset, "workers", 1) or 1)
        processes = bool(getattr(self.dataset, "use_multiprocessing", False))
        if workers <= 1 and not processes:
            for index in self._indices:
                yield self._pad(_standardize_batch(self.dataset[index]))
            return
        pool: concurrent.futures.Executor | None = None
        fetch: Any = self.dataset.__getitem__
        if processes:
            pool = concurrent.futures.ProcessPoolExecutor(
                max_workers=workers,
                mp_context=_worker_context(),
                initializer=_set_worker_dataset,
                initargs=(self.dataset,),
            )
            fetch = _worker_batch
        window = max(workers, int(getattr(self.dataset, "max_queue_size", 10) or 1))
        batches = parallel.parallel_map(
            iter(self._indices), fetch, workers, window=window, pool=pool
        )
        with closing_iterator(batches):
            for batch in batches:
                yield self._pad(_standardize_batch(batch))

    def on_epoch_end(self) -> None:
        self.dataset.on_epoch_end()


def _worker_context() -> Any:
    """Worker processes start from a fresh interpreter ("forkserver", or "spawn" where
    there is none), not by forking this one: a fork copies a process whose thread pools
    (BLAS, a prefetch thread, JAX's) may hold locks, and can deadlock. The PyDataset
    is pickled to the workers, so it must be importable (defined in a module, or
    under ``if __name__ == "__main__":`` in a script), as on macOS and Windows."""
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


#: The PyDataset a worker process loads batches from (set once per process).
_worker_dataset: PyDataset | None = None


def _set_worker_dataset(dataset: PyDataset) -> None:
    global _worker_dataset
    _worker_dataset = dataset


def _worker_batch(index: int) -> Any:
    assert _worker_dataset is not None
    return _worker_dataset[index]


class DatasetAdapter(_BatchStreamAdapter):
    """A ``nerve.data.Dataset`` of batches. Epoch ``e`` is the dataset's pass ``e``
    (``Dataset.iterate_pass``), so a reshuffling pipeline gives the same order when a
    run resumes at that epoch.

    With ``steps``, as Keras does, one iterator serves several epochs (``steps``
    batches each); it starts a new pass once a dataset of known length has given all
    its batches, and an epoch ends early when a dataset of unknown length runs out.
    """

    def __init__(self, dataset: Dataset, steps: int | None = None, pad: bool = False):
        super().__init__(steps, pad)
        self.dataset = dataset
        known = dataset.cardinality()
        self._length = known if known >= 0 else None
        if steps is not None:
            self.num_batches = int(steps)
        else:
            self.num_batches = self._length
        self._shared: Iterator[Any] | None = None
        self._shared_seen = 0
        self._passes = 0
        self._ran_out = False

    def shard(self, rank: int, num_replicas: int) -> DatasetAdapter:
        """The dataset's batches ``rank``, ``rank + num_replicas``, ...
        (``Dataset.shard``); ``steps`` still counts global steps."""
        return DatasetAdapter(self.dataset.shard(num_replicas, rank), self.steps, self.pad)

    def _batches(self, epoch: int) -> Iterator[tuple[tuple, Any]]:
        if self.steps is None:
            with closing_iterator(self.dataset.iterate_pass(epoch)) as elements:
                for element in elements:
                    yield self._pad(_standardize_batch(element))
            return
        if self._ran_out:
            return
        for _ in range(int(self.steps)):
            if self._shared is None or (
                self._length is not None and self._shared_seen >= self._length
            ):
                self.close()
                self._shared = self.dataset.iterate_pass(self._passes)
                self._passes += 1
            try:
                element = next(self._shared)
            except StopIteration:
                # Keras stops training here: the data cannot fill steps * epochs.
                self.close()
                self._ran_out = True
                return
            self._shared_seen += 1
            yield self._pad(_standardize_batch(element))

    def close(self) -> None:
        if self._shared is not None:
            close = getattr(self._shared, "close", None)
            if close is not None:
                close()
        self._shared, self._shared_seen = None, 0


def _is_generator(x: Any) -> bool:
    return hasattr(x, "__next__") and hasattr(x, "__iter__")


def is_stream(x: Any) -> bool:
    """Whether ``x`` brings its own batches (with targets): a generator, a
    ``PyDataset`` or a ``Dataset``, as opposed to arrays that the adapter slices."""
    return isinstance(x, (PyDataset, Dataset)) or _is_generator(x)


def get_data_adapter(
    x: Any,
    y: Any = None,
    sample_weight: Any = None,
    batch_size: int | None = None,
    steps: int | None = None,
    shuffle: bool | str = False,
    class_weight: dict | None = None,
    pad: bool = False,
) -> DataAdapter:
    """The adapter for ``x`` (arrays/tensors and nests of them, a generator, a
    ``PyDataset``, a ``Dataset``); ``y``, ``sample_weight`` and ``batch_size`` are for
    arrays only."""
    if isinstance(x, DataAdapter):
        return x
    if is_stream(x):
        if y is not None or sample_weight is not None:
            raise ValueError(
                f"When x is a {type(x).__name__}, it yields the targets and sample weights "
                "itself: do not pass y or sample_weight."
            )
        if class_weight is not None:
            raise ValueError("class_weight is only supported with array inputs.")
        if isinstance(x, Dataset):
            return DatasetAdapter(x, steps=steps, pad=pad)
        if isinstance(x, PyDataset):
            return PyDatasetAdapter(x, steps=steps, pad=pad)
        return GeneratorDataAdapter(x, steps=steps, pad=pad)
    if x is None:
        raise ValueError("No input data: pass x (arrays, a generator or a PyDataset).")
    return ArrayDataAdapter(x, y, sample_weight, batch_size, steps, shuffle, class_weight, pad=pad)
