"""CIFAR-10 (``keras.datasets.cifar10``): 60,000 32x32 colour images in 10 classes
(0 airplane, 1 automobile, 2 bird, 3 cat, 4 deer, 5 dog, 6 frog, 7 horse, 8 ship,
9 truck).

Downloaded once, on first use, from the archive Keras uses (checked against its
SHA-256), extracted under ``~/.nerve/datasets/cifar-10-batches-py-target`` (see
``nerve.utils.get_file``). The batches inside are Python pickles; they are read with a
restricted unpickler that rebuilds only NumPy arrays, so loading never runs code from
them.

CIFAR-10 was collected by Alex Krizhevsky, Vinod Nair and Geoffrey Hinton
(https://www.cs.toronto.edu/~kriz/cifar.html).
"""

from __future__ import annotations

import os

import numpy as np

from nerve.datasets._cifar import load_batch
from nerve.utils.file_utils import get_file

__all__ = ["load_data"]

#: Keras's origin, SHA-256 and cache folder name for the archive.
_ORIGIN = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
_SHA256 = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
_DIRNAME = "cifar-10-batches-py-target"
#: The folder inside the archive and the batch files in it.
_INNER = "cifar-10-batches-py"
_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
_TEST_BATCH = "test_batch"
_LOADER = "cifar10.load_data"


def _load_split(folder: str, names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    parts = [load_batch(os.path.join(folder, name), "labels", _LOADER) for name in names]
    images = np.concatenate([images for images, _ in parts])
    labels = np.concatenate([labels for _, labels in parts])
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise ValueError(
            f"{_LOADER}: labels in {folder} range over {labels.min()}..{labels.max()}; "
            "CIFAR-10 labels are 0..9."
        )
    # Keras: channels-last images (its default image_data_format) and (N, 1) uint8 labels.
    return images.transpose(0, 2, 3, 1), labels.astype(np.uint8).reshape(-1, 1)


def load_data() -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Load CIFAR-10, downloading it on first use.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: ``x`` uint8 arrays of shape
        ``(50000, 32, 32, 3)`` and ``(10000, 32, 32, 3)`` (channels last) with values
        0..255, ``y`` uint8 arrays of shape ``(50000, 1)`` and ``(10000, 1)`` with
        labels 0..9.

    Raises:
        OSError: the archive is not cached and cannot be downloaded (the message says
            where to place it by hand).
        ValueError: the archive fails its checksum, or a batch lacks CIFAR's keys or
            has the wrong shapes.
        pickle.UnpicklingError: a batch names anything but NumPy's array rebuilders.

    Example:
        >>> from nerve.datasets import cifar10
        >>> (x_train, y_train), (x_test, y_test) = cifar10.load_data()  # doctest: +SKIP
        >>> x_train.shape, x_train.dtype, y_train.shape  # doctest: +SKIP
        ((50000, 32, 32, 3), dtype('uint8'), (50000, 1))
    """
    path = get_file(fname=_DIRNAME, origin=_ORIGIN, extract=True, file_hash=_SHA256)
    folder = os.path.join(path, _INNER)
    train = _load_split(folder, _TRAIN_BATCHES)
    test = _load_split(folder, (_TEST_BATCH,))
    return train, test
