"""Loading a housing regression table (shared by ``boston_housing`` and
``california_housing``): an ``.npz`` with a float feature matrix ``x`` and targets
``y``, shuffled with ``np.random.RandomState(seed)`` and split as Keras does."""

from __future__ import annotations

import numpy as np

from nerve.datasets import _split
from nerve.datasets._npz import load_npz


def read_table(file_path: str, num_features: int, loader: str) -> tuple[np.ndarray, np.ndarray]:
    """``x`` of shape ``(n, num_features)`` and ``y`` of shape ``(n,)`` from the file,
    both real-valued."""
    arrays = load_npz(file_path, ("x", "y"), loader)
    x, y = arrays["x"], arrays["y"]
    if x.dtype.kind not in "iuf" or x.ndim != 2 or x.shape[1] != num_features:
        raise ValueError(
            f"{loader}: {file_path} holds a {x.dtype} array of shape {x.shape} under 'x'; "
            f"expected numbers of shape (n, {num_features})."
        )
    if y.dtype.kind not in "iuf" or y.shape != x.shape[:1]:
        raise ValueError(
            f"{loader}: {file_path} holds a {y.dtype} array of shape {y.shape} under 'y'; "
            f"expected numbers of shape ({len(x)},), one target per row of 'x'."
        )
    return x, y


def shuffle_and_split(
    x: np.ndarray, y: np.ndarray, test_split: float, seed: int
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Shuffle the rows, then the first ``int(n * (1 - test_split))`` train."""
    x, y = _split.shuffle(np.random.RandomState(seed), x, y)
    count = _split.train_count(len(x), test_split)
    return (x[:count], y[:count]), (x[count:], y[count:])
