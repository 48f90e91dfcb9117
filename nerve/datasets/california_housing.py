"""California housing prices (``keras.datasets.california_housing``): 20,640 block
groups of the 1990 US census, each with 8 features, and the median house value in
dollars.

The features are, in order: median income, median house age, average rooms and
average bedrooms per household, population, average household size, latitude and
longitude. ``version="small"`` takes the first 600 block groups, about the size of
``boston_housing``, which it can replace.

Downloaded once, on first use, from the file Keras uses (checked against its SHA-256)
and cached under ``~/.nerve/datasets`` (see ``nerve.utils.get_file``); the ``.npz``
is read without pickle.

The data come from the StatLib repository, as prepared by Luís Torgo
(https://www.dcc.fc.up.pt/~ltorgo/Regression/cal_housing.html).
"""

from __future__ import annotations

import numpy as np

from nerve.datasets import _housing, _split
from nerve.utils.file_utils import get_file

__all__ = ["load_data"]

#: Keras's origin for ``california_housing.npz`` and its SHA-256.
_ORIGIN_FOLDER = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
_FILE = "california_housing.npz"
_SHA256 = "1a2e3a52e0398de6463aebe6f4a8da34fb21fbb6b934cf88c3425e766f2a1a6f"
_NUM_FEATURES = 8
#: How many rows (the first ones in the file) ``version="small"`` keeps.
_SMALL_ROWS = 600
_VERSIONS = ("small", "large")
_LOADER = "california_housing.load_data"


def load_data(
    version: str = "large",
    path: str = "california_housing.npz",
    test_split: float = 0.2,
    seed: int = 113,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Load the California housing prices, downloading them on first use.

    The rows (the first 600 for ``version="small"``) are shuffled with
    ``np.random.RandomState(seed)`` and the first ``int(n * (1 - test_split))`` are
    the training split, as in Keras.

    Args:
        version: ``"large"`` (all 20,640 rows) or ``"small"`` (the first 600).
        path: the file's name in the cache folder ``~/.nerve/datasets`` (or
            ``$NERVE_HOME/datasets``).
        test_split: the fraction of rows for the test split, in ``[0, 1)``.
        seed: seed for the shuffle.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: ``x`` float arrays of shape
        ``(n, 8)`` (16,512 and 4,128 rows with the defaults; 480 and 120 for
        ``"small"``), ``y`` float arrays of shape ``(n,)``, median house values in
        dollars (about 15,000 to 500,000).

    Raises:
        TypeError: ``test_split`` is not a number.
        ValueError: ``version`` or ``test_split`` is not allowed (checked before
            downloading), or the file fails its checksum, is damaged or lacks the
            arrays.
        OSError: the file is not cached and cannot be downloaded (the message says
            where to place it by hand).

    Example:
        >>> from nerve.datasets import california_housing
        >>> (x_train, y_train), (x_test, y_test) = california_housing.load_data(
        ...     version="small")  # doctest: +SKIP
        >>> x_train.shape, y_train.shape, x_test.shape  # doctest: +SKIP
        ((480, 8), (480,), (120, 8))
    """
    if version not in _VERSIONS:
        raise ValueError(f"{_LOADER}: version must be 'small' or 'large', got {version!r}.")
    _split.check_test_split(test_split, _LOADER)
    file_path = get_file(fname=path, origin=_ORIGIN_FOLDER + _FILE, file_hash=_SHA256)
    x, y = _housing.read_table(file_path, _NUM_FEATURES, _LOADER)
    if version == "small":
        x, y = x[:_SMALL_ROWS], y[:_SMALL_ROWS]
    return _housing.shuffle_and_split(x, y, test_split, seed)
