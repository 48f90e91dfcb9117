"""Boston housing prices (``keras.datasets.boston_housing``): 506 suburbs of Boston in
the 1970s, each with 13 attributes, and the median home value in thousands of dollars.

**A warning Keras gives too:** one of the 13 attributes, "B", was built from the
proportion of Black residents on the assumption that racial self-segregation affects
house prices. Prefer ``california_housing`` (``version="small"`` is a replacement of
similar size) unless the point is to illustrate such problems in data.

Downloaded once, on first use, from the file Keras uses (checked against its SHA-256)
and cached under ``~/.nerve/datasets`` (see ``nerve.utils.get_file``); the ``.npz``
is read without pickle.

The data come from the StatLib library at Carnegie Mellon University
(http://lib.stat.cmu.edu/datasets/boston).
"""

from __future__ import annotations

import numpy as np

from nerve.datasets import _housing, _split
from nerve.utils.file_utils import get_file

__all__ = ["load_data"]

#: Keras's origin for ``boston_housing.npz`` and its SHA-256.
_ORIGIN_FOLDER = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
_FILE = "boston_housing.npz"
_SHA256 = "f553886a1f8d56431e820c5b82552d9d95cfcb96d1e678153f8839538947dff5"
_NUM_FEATURES = 13
_LOADER = "boston_housing.load_data"


def load_data(
    path: str = "boston_housing.npz", test_split: float = 0.2, seed: int = 113
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Load the Boston housing prices, downloading them on first use.

    The rows are shuffled with ``np.random.RandomState(seed)`` and the first
    ``int(506 * (1 - test_split))`` are the training split, as in Keras.

    Args:
        path: the file's name in the cache folder ``~/.nerve/datasets`` (or
            ``$NERVE_HOME/datasets``).
        test_split: the fraction of rows for the test split, in ``[0, 1)``.
        seed: seed for the shuffle.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: ``x`` float arrays of shape
        ``(n, 13)`` (404 and 102 rows with the defaults), ``y`` float arrays of shape
        ``(n,)``, median values in thousands of dollars (about 5 to 50).

    Raises:
        TypeError: ``test_split`` is not a number.
        ValueError: ``test_split`` is outside ``[0, 1)`` (checked before downloading),
            or the file fails its checksum, is damaged or lacks the arrays.
        OSError: the file is not cached and cannot be downloaded (the message says
            where to place it by hand).

    Example:
        >>> from nerve.datasets import boston_housing
        >>> (x_train, y_train), (x_test, y_test) = boston_housing.load_data()  # doctest: +SKIP
        >>> x_train.shape, y_train.shape, x_test.shape  # doctest: +SKIP
        ((404, 13), (404,), (102, 13))
    """
    _split.check_test_split(test_split, _LOADER)
    file_path = get_file(fname=path, origin=_ORIGIN_FOLDER + _FILE, file_hash=_SHA256)
    x, y = _housing.read_table(file_path, _NUM_FEATURES, _LOADER)
    return _housing.shuffle_and_split(x, y, test_split, seed)
