"""Fashion-MNIST (``keras.datasets.fashion_mnist``): 70,000 28x28 grey-scale images of
clothing in 10 classes (0 T-shirt/top, 1 trouser, 2 pullover, 3 dress, 4 coat,
5 sandal, 6 shirt, 7 sneaker, 8 bag, 9 ankle boot).

Downloaded once, on first use, from the same four gzipped IDX files Keras uses, and
cached under ``~/.nerve/datasets/fashion-mnist`` (see ``nerve.utils.get_file``). The
IDX files are parsed here with NumPy: the magic number, the sizes in the header and the
length of the data are all checked, so a truncated or foreign file fails loudly.

Fashion-MNIST is copyright Zalando SE and available under the MIT licence.
"""

from __future__ import annotations

import gzip
import os
import zlib

import numpy as np

from nerve.utils.file_utils import get_file

__all__ = ["load_data"]

#: Where Keras downloads its data sets from.
_ORIGIN_FOLDER = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
_CACHE_SUBDIR = os.path.join("datasets", "fashion-mnist")
#: The four files, in Keras's order, with their SHA-256. Keras publishes no checksum
#: for them, so none is checked (None) until one is recorded from a verified download.
_FILES: dict[str, str | None] = {
    "train-labels-idx1-ubyte.gz": None,
    "train-images-idx3-ubyte.gz": None,
    "t10k-labels-idx1-ubyte.gz": None,
    "t10k-images-idx3-ubyte.gz": None,
}

# IDX magic numbers: two zero bytes, the element type (0x08: unsigned byte), the ndim.
_LABELS_MAGIC = 0x00000801
_IMAGES_MAGIC = 0x00000803
_IMAGE_SIDE = 28


def _read_idx(file_path: str, magic: int) -> np.ndarray:
    """The uint8 array stored in the gzipped IDX file at ``file_path``, after checking
    that its magic number is ``magic`` and that the data length matches the header."""
    ndim = magic & 0xFF
    header_size = 4 + 4 * ndim
    try:
        with gzip.open(file_path, "rb") as stream:
            raw = stream.read()
    except (OSError, EOFError, zlib.error) as error:
        raise ValueError(
            f"fashion_mnist: {file_path} is not a readable gzip file ({error}); "
            "delete it so that it is downloaded again."
        ) from error
    if len(raw) < header_size:
        raise ValueError(
            f"fashion_mnist: {file_path} is too short for an IDX header "
            f"({len(raw)} bytes, need {header_size})."
        )
    found = int.from_bytes(raw[:4], "big")
    if found != magic:
        raise ValueError(
            f"fashion_mnist: {file_path} has IDX magic number {found:#010x}, expected "
            f"{magic:#010x} (unsigned bytes, {ndim} dimensions)."
        )
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(shape, dtype=np.int64))
    if len(raw) - header_size != expected:
        raise ValueError(
            f"fashion_mnist: {file_path} declares shape {shape} ({expected} bytes of "
            f"data) but holds {len(raw) - header_size} bytes after its header; the file "
            "is truncated or corrupted. Delete it so that it is downloaded again."
        )
    # frombuffer gives a read-only view of ``raw``; copy so callers may modify it.
    return np.frombuffer(raw, np.uint8, offset=header_size).reshape(shape).copy()


def _read_pair(labels_path: str, images_path: str) -> tuple[np.ndarray, np.ndarray]:
    labels = _read_idx(labels_path, _LABELS_MAGIC)
    images = _read_idx(images_path, _IMAGES_MAGIC)
    if images.shape[1:] != (_IMAGE_SIDE, _IMAGE_SIDE) or len(images) != len(labels):
        raise ValueError(
            f"fashion_mnist: {images_path} holds images of shape {images.shape} and "
            f"{labels_path} {len(labels)} labels; expected (N, 28, 28) images with N "
            "labels."
        )
    return images, labels


def load_data() -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Load Fashion-MNIST, downloading it on first use.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: ``x`` uint8 arrays of shape
        ``(60000, 28, 28)`` and ``(10000, 28, 28)`` with values 0..255, ``y`` uint8
        arrays of shape ``(60000,)`` and ``(10000,)`` with labels 0..9.

    Raises:
        OSError: a file is not cached and cannot be downloaded (the message says where
            to place it by hand).
        ValueError: a file is not a well-formed gzipped IDX file of the right kind.

    Example:
        >>> from nerve.datasets import fashion_mnist
        >>> (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()  # doctest: +SKIP
        >>> x_train.shape, x_train.dtype, y_test.shape  # doctest: +SKIP
        ((60000, 28, 28), dtype('uint8'), (10000,))
    """
    paths = [
        get_file(name, origin=_ORIGIN_FOLDER + name, file_hash=digest, cache_subdir=_CACHE_SUBDIR)
        for name, digest in _FILES.items()
    ]
    x_train, y_train = _read_pair(paths[0], paths[1])
    x_test, y_test = _read_pair(paths[2], paths[3])
    return (x_train, y_train), (x_test, y_test)
