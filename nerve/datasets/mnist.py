"""MNIST handwritten digits (``keras.datasets.mnist``): 70,000 28x28 grey-scale images.

Downloaded once, on first use, from the same file Keras uses (checked against its
SHA-256) and cached under ``~/.nerve/datasets`` (see ``nerve.utils.get_file``). The
file is a NumPy ``.npz`` archive read with ``allow_pickle=False``, so loading it never
runs code from it.

MNIST (Yann LeCun and Corinna Cortes, derived from NIST's data) is available under the
Creative Commons Attribution-Share Alike 3.0 licence.
"""

from __future__ import annotations

import numpy as np

from nerve.utils.file_utils import get_file

__all__ = ["load_data"]

#: Where Keras downloads its data sets from; the file is ``ORIGIN_FOLDER + "mnist.npz"``.
_ORIGIN_FOLDER = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
#: SHA-256 of that ``mnist.npz`` (the value Keras checks).
_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
_KEYS = ("x_train", "y_train", "x_test", "y_test")


def load_data(
    path: str = "mnist.npz",
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Load MNIST, downloading it on first use.

    Args:
        path: the file's name in the cache folder ``~/.nerve/datasets`` (or
            ``$NERVE_HOME/datasets``).

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: ``x`` uint8 arrays of shape
        ``(60000, 28, 28)`` and ``(10000, 28, 28)`` with values 0..255, ``y`` uint8
        arrays of shape ``(60000,)`` and ``(10000,)`` with labels 0..9.

    Raises:
        OSError: the file is not cached and cannot be downloaded (the message says
            where to place it by hand).
        ValueError: the downloaded file fails its checksum or lacks MNIST's arrays.

    Example:
        >>> from nerve.datasets import mnist
        >>> (x_train, y_train), (x_test, y_test) = mnist.load_data()  # doctest: +SKIP
        >>> x_train.shape, x_train.dtype, y_test.shape  # doctest: +SKIP
        ((60000, 28, 28), dtype('uint8'), (10000,))
    """
    file_path = get_file(fname=path, origin=_ORIGIN_FOLDER + "mnist.npz", file_hash=_SHA256)
    with np.load(file_path, allow_pickle=False) as npz:
        missing = [key for key in _KEYS if key not in npz.files]
        if missing:
            raise ValueError(
                f"mnist.load_data: {file_path} lacks the arrays {missing} (it has "
                f"{npz.files}); delete it so that it is downloaded again."
            )
        x_train, y_train, x_test, y_test = (npz[key] for key in _KEYS)
    return (x_train, y_train), (x_test, y_test)
