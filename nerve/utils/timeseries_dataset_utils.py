"""``timeseries_dataset_from_array``: sliding windows over a series, as a ``Dataset``
(Keras's ``keras.utils.timeseries_dataset_from_array``).

Window ``i`` starts at ``start_index + i * sequence_stride`` and takes
``sequence_length`` steps ``sampling_rate`` apart; its target is ``targets`` at the
window's first step, as in Keras. Windows are cut a batch at a time with one NumPy
gather, not one Python slice per window.

>>> import numpy as np
>>> ds = timeseries_dataset_from_array(np.arange(10), None, sequence_length=3,
...                                    sequence_stride=2, batch_size=2)
>>> [batch.tolist() for batch in ds]
[[[0, 1, 2], [2, 3, 4]], [[4, 5, 6], [6, 7, 8]]]
"""

from __future__ import annotations

from typing import Any

# Windows are cut on the host, before any backend sees the data.
import numpy as np

from nerve import random as nrandom
from nerve.data import AUTOTUNE, Dataset

__all__ = ["timeseries_dataset_from_array"]


def _check(value: Any, name: str, limit: int, op: str = "timeseries_dataset_from_array") -> None:
    if value <= 0:
        raise ValueError(f"{op}: {name} must be higher than 0; received {name}={value}.")
    if value >= limit:
        raise ValueError(
            f"{op}: {name} must be lower than the length of the data ({limit}); "
            f"received {name}={value}."
        )


def timeseries_dataset_from_array(
    data: Any,
    targets: Any,
    sequence_length: int,
    sequence_stride: int = 1,
    sampling_rate: int = 1,
    batch_size: int | None = 128,
    shuffle: bool = False,
    seed: int | None = None,
    start_index: int | None = None,
    end_index: int | None = None,
) -> Dataset:
    """A ``Dataset`` of windows over ``data`` (and their ``targets``).

    Args:
        data: an array (or array-like) whose first axis is time.
        targets: the target of each step (window ``i``'s target is the one of its first
            step), or ``None`` for windows only.
        sequence_length: steps per window.
        sequence_stride: steps between the starts of consecutive windows.
        sampling_rate: steps between the samples of one window.
        batch_size: windows per batch; ``None`` for single windows.
        shuffle: shuffle the windows (seeded by ``seed``, else by nerve's global seed
            generator).
        start_index, end_index: use only ``data[start_index:end_index]``.

    Returns:
        Batches ``x`` or ``(x, y)``: ``x`` of shape ``(batch, sequence_length, ...)``.
    """
    data = np.asarray(data)
    length = len(data)
    if start_index:
        if start_index < 0:
            raise ValueError(
                "timeseries_dataset_from_array: start_index must be 0 or greater; received "
                f"start_index={start_index}."
            )
        if start_index >= length:
            raise ValueError(
                "timeseries_dataset_from_array: start_index must be lower than the length "
                f"of the data ({length}); received start_index={start_index}."
            )
    if end_index:
        if start_index and end_index <= start_index:
            raise ValueError(
                "timeseries_dataset_from_array: end_index must be higher than start_index; "
                f"received start_index={start_index}, end_index={end_index}."
            )
        _check(end_index, "end_index", length)
    _check(sampling_rate, "sampling_rate", length)
    _check(sequence_stride, "sequence_stride", length)
    start = start_index or 0
    stop = end_index if end_index is not None else length
    count = stop - start - (sequence_length - 1) * sampling_rate
    if targets is not None:
        targets = np.asarray(targets)
        count = min(count, len(targets))
    positions = np.arange(0, max(count, 0), sequence_stride, dtype="int64")
    if shuffle:
        np.random.RandomState(nrandom.host_seed(seed) % 2**32).shuffle(positions)
    offsets = np.arange(sequence_length, dtype="int64") * sampling_rate

    def windows(first_steps: np.ndarray) -> Any:
        """The windows starting at ``first_steps`` (a batch at once)."""
        x = data[start + first_steps[..., None] + offsets]
        if targets is None:
            return x
        return x, targets[start + first_steps]

    dataset = Dataset.from_tensor_slices(positions)
    if batch_size is not None:
        dataset = dataset.batch(int(batch_size))
    return dataset.map(windows).prefetch(AUTOTUNE)
