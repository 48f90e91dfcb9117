"""``split_dataset``: cut a dataset (arrays, a tuple of arrays, or a ``Dataset``) into
a left and a right part, as Keras's ``keras.utils.split_dataset``.

As in Keras: sizes are counts (int) or fractions (float); a missing one is the
complement of the other; the right part is the *last* ``right_size`` elements (so
both sizes given may leave elements out); ``shuffle`` shuffles the elements first with
Python's ``random`` seeded by ``seed`` (drawn from nerve's global seed generator when
``None``); a batched ``Dataset`` gives batched parts with the same batch size.

>>> import numpy as np
>>> left, right = split_dataset(np.arange(10), left_size=0.8)
>>> [int(x) for x in left], [int(x) for x in right]
([0, 1, 2, 3, 4, 5, 6, 7], [8, 9])
"""

from __future__ import annotations

import random
from typing import Any

# Elements are gathered on the host, before any backend sees the data.
import numpy as np

from nerve import random as nrandom
from nerve.core import tree
from nerve.data import AUTOTUNE, Dataset
from nerve.data import transforms as _transforms
from nerve.data.structure import stack_elements, to_numpy_element

__all__ = ["split_dataset"]


def split_dataset(
    dataset: Any,
    left_size: int | float | None = None,
    right_size: int | float | None = None,
    shuffle: bool = False,
    seed: int | None = None,
    preferred_backend: str | None = None,
) -> tuple[Dataset, Dataset]:
    """The two parts of ``dataset`` as ``Dataset`` objects (see the module docstring).
    ``preferred_backend`` is accepted for Keras compatibility: the parts are always
    ``nerve.data.Dataset`` objects."""
    if left_size is None and right_size is None:
        raise ValueError("split_dataset: give left_size or right_size (or both); received neither.")
    elements, batch_size = _elements(dataset)
    if shuffle:
        random.Random(nrandom.host_seed(seed)).shuffle(elements)
    left, right = _split_sizes(left_size, right_size, len(elements))
    parts = []
    for chunk in (elements[:left], elements[len(elements) - right :]):
        part = Dataset.from_tensor_slices(stack_elements(chunk, "split_dataset"))
        if batch_size is not None:
            part = part.batch(batch_size)
        parts.append(part.prefetch(AUTOTUNE))
    return parts[0], parts[1]


def _elements(dataset: Any) -> tuple[list[Any], int | None]:
    """The elements one by one, and the batch size when ``dataset`` is batched."""
    if isinstance(dataset, Dataset):
        batch_size = _batch_size_of(dataset)
        elements = list(dataset.unbatch() if batch_size is not None else dataset)
        return elements, batch_size
    if not isinstance(dataset, (np.ndarray, list, tuple, dict)):
        raise TypeError(
            "split_dataset: dataset must be a NumPy array, a list or tuple of arrays with "
            f"the same length, or a nerve.data.Dataset; received {type(dataset).__name__}."
        )
    arrays = to_numpy_element(tuple(dataset) if isinstance(dataset, list) else dataset)
    leaves, rebuild = tree.flatten(arrays)
    if not leaves:
        raise ValueError("split_dataset: received an empty dataset.")
    lengths = {len(leaf) if leaf.ndim else -1 for leaf in leaves}
    if len(lengths) != 1 or -1 in lengths:
        raise ValueError(
            "split_dataset: all arrays must have the same first dimension; received shapes "
            f"{[leaf.shape for leaf in leaves]}."
        )
    count = lengths.pop()
    return [rebuild([leaf[i] for leaf in leaves]) for i in range(count)], None


def _batch_size_of(dataset: Dataset) -> int | None:
    """The batch size when the last structural step (past prefetches) is ``batch``."""
    while isinstance(dataset, _transforms.Prefetch):
        dataset = dataset._upstream
    if isinstance(dataset, _transforms.Batch):
        return dataset._size
    return None


def _split_sizes(left: Any, right: Any, total: int) -> tuple[int, int]:
    """Keras's rules: ints are counts in ``(0, total)``, floats fractions in ``(0, 1)``."""
    for name, size in (("left_size", left), ("right_size", right)):
        if size is None:
            continue
        if isinstance(size, bool) or not isinstance(size, (int, float)):
            raise TypeError(
                f"split_dataset: {name} must be an int, a float or None; received "
                f"{type(size).__name__}."
            )
        if isinstance(size, int) and not 0 < size < total:
            raise ValueError(
                f"split_dataset: {name} must be a positive int smaller than the dataset's "
                f"length {total}, or a float in (0, 1); received {name}={size}."
            )
        if isinstance(size, float) and not 0 < size < 1:
            raise ValueError(f"split_dataset: a float {name} must be in (0, 1); received {size}.")
    if isinstance(left, float) and isinstance(right, float) and left + right > 1:
        raise ValueError(
            f"split_dataset: left_size + right_size is {left + right}; fractions must sum "
            "to at most 1."
        )
    left_count = round(left * total) if isinstance(left, float) else left
    right_count = round(right * total) if isinstance(right, float) else right
    if left_count is None:
        left_count = total - right_count
    if right_count is None:
        right_count = total - left_count
    if left_count + right_count > total:
        raise ValueError(
            f"split_dataset: left_size + right_size = {left_count + right_count} is larger "
            f"than the dataset's length {total}."
        )
    for side, count in (("left", left_count), ("right", right_count)):
        if count == 0:
            raise ValueError(
                f"split_dataset: with {total} elements, left_size={left} and "
                f"right_size={right} leave the {side} part empty."
            )
    return int(left_count), int(right_count)
