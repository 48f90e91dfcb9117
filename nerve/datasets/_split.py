"""Shuffling and splitting as Keras's loaders do it (reuters, boston_housing,
california_housing; imdb shuffles its two stored splits the same way)."""

from __future__ import annotations

import numbers

import numpy as np


def check_test_split(test_split: float, loader: str, *, allow_one: bool = False) -> None:
    """Raise unless ``test_split`` is a real number in ``[0, 1)`` (``[0, 1]`` with
    ``allow_one``: everything in the test split)."""
    if isinstance(test_split, bool) or not isinstance(test_split, numbers.Real):
        raise TypeError(f"{loader}: test_split must be a float, got {test_split!r}.")
    if not (0 <= test_split < 1 or (allow_one and test_split == 1)):  # also NaN
        interval = "[0, 1]" if allow_one else "[0, 1)"
        raise ValueError(
            f"{loader}: test_split must be in {interval} (the fraction of samples kept "
            f"for testing), got {test_split!r}."
        )


def shuffle(rng: np.random.RandomState, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
    """``x`` and ``y`` in one random order: ``rng`` shuffles ``arange(len(x))``, the
    draw Keras makes."""
    order = np.arange(len(x))
    rng.shuffle(order)
    return x[order], y[order]


def train_count(count: int, test_split: float) -> int:
    """How many of ``count`` samples go to training (Keras's rounding, down)."""
    return int(count * (1 - test_split))
