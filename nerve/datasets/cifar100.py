"""CIFAR-100 (``keras.datasets.cifar100``): 60,000 32x32 colour images in 100 fine
classes grouped into 20 coarse ones.

Downloaded once, on first use, from the archive Keras uses (checked against its
SHA-256), extracted under ``~/.nerve/datasets/cifar-100-python-target`` (see
``nerve.utils.get_file``). The ``train`` and ``test`` files inside are Python pickles;
they are read with a restricted unpickler that rebuilds only NumPy arrays, so loading
never runs code from them.

CIFAR-100 was collected by Alex Krizhevsky, Vinod Nair and Geoffrey Hinton
(https://www.cs.toronto.edu/~kriz/cifar.html).
"""

from __future__ import annotations

import os

import numpy as np

from nerve.datasets._cifar import load_batch
from nerve.utils.file_utils import get_file

__all__ = ["load_data"]

#: Keras's origin, SHA-256 and cache folder name for the archive.
_ORIGIN = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
_SHA256 = "85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7"
_DIRNAME = "cifar-100-python-target"
#: The folder inside the archive.
_INNER = "cifar-100-python"
_LABEL_MODES = ("fine", "coarse")
_LOADER = "cifar100.load_data"


def load_data(
    label_mode: str = "fine",
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Load CIFAR-100, downloading it on first use.

    Args:
        label_mode: ``"fine"`` (labels 0..99, the classes) or ``"coarse"`` (labels
            0..19, the superclasses).

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: ``x`` uint8 arrays of shape
        ``(50000, 32, 32, 3)`` and ``(10000, 32, 32, 3)`` (channels last) with values
        0..255, ``y`` int64 arrays of shape ``(50000, 1)`` and ``(10000, 1)`` (the
        dtype Keras returns for CIFAR-100).

    Raises:
        ValueError: ``label_mode`` is neither ``"fine"`` nor ``"coarse"``; the archive
            fails its checksum; a file lacks CIFAR's keys or has the wrong shapes.
        OSError: the archive is not cached and cannot be downloaded (the message says
            where to place it by hand).
        pickle.UnpicklingError: a file names anything but NumPy's array rebuilders.

    Example:
        >>> from nerve.datasets import cifar100
        >>> cifar100.load_data(label_mode="medium")
        Traceback (most recent call last):
        ...
        ValueError: cifar100.load_data: label_mode must be "fine" or "coarse", got 'medium'.
        >>> (x_train, y_train), _ = cifar100.load_data("coarse")  # doctest: +SKIP
        >>> x_train.shape, y_train.shape, int(y_train.max())  # doctest: +SKIP
        ((50000, 32, 32, 3), (50000, 1), 19)
    """
    if label_mode not in _LABEL_MODES:
        raise ValueError(f'{_LOADER}: label_mode must be "fine" or "coarse", got {label_mode!r}.')
    path = get_file(fname=_DIRNAME, origin=_ORIGIN, extract=True, file_hash=_SHA256)
    folder = os.path.join(path, _INNER)
    splits = []
    for name in ("train", "test"):
        images, labels = load_batch(os.path.join(folder, name), f"{label_mode}_labels", _LOADER)
        # Keras: channels-last images (its default image_data_format), (N, 1) labels.
        splits.append((images.transpose(0, 2, 3, 1), labels.reshape(-1, 1)))
    return splits[0], splits[1]
