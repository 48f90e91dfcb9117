"""Reuters newswires (``keras.datasets.reuters``): 11,228 newswires labelled with one
of 46 topics (``get_label_names``), each newswire a list of word indices.

Words are indexed by how often they occur: index 1 is the most frequent word.
``load_data`` shifts the indices up by ``index_from`` to leave room for the padding
(0), start (1) and out-of-vocabulary (2) markers; ``get_word_index`` gives the
word -> index table to decode them.

Downloaded once, on first use, from the files Keras uses (checked against their
hashes) and cached under ``~/.nerve/datasets`` (see ``nerve.utils.get_file``). The
newswires are ragged, so the ``.npz`` archive stores them as a pickled object array;
it is read by a restricted unpickler that rebuilds only NumPy arrays and plain lists
(``nerve.datasets._npz``), so loading never runs code from the file.

The newswires come from the Reuters-21578 collection
(https://archive.ics.uci.edu/dataset/137/reuters+21578+text+categorization+collection).
"""

from __future__ import annotations

import numpy as np

from nerve.datasets import _sequences, _split
from nerve.datasets._npz import load_npz
from nerve.utils.file_utils import get_file

__all__ = ["get_label_names", "get_word_index", "load_data"]

#: Where Keras downloads its data sets from; the files are ``_ORIGIN_FOLDER + name``.
_ORIGIN_FOLDER = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
_FILE = "reuters.npz"
#: SHA-256 of ``reuters.npz`` and MD5 of ``reuters_word_index.json`` (as Keras checks).
_SHA256 = "d6586e694ee56d7a4e65172e12b3e987c03096cb01eab99753921ef915959916"
_WORD_INDEX_FILE = "reuters_word_index.json"
_WORD_INDEX_MD5 = "4d44cc38712099c9e383dc6e5f11a921"
_LOADER = "reuters.load_data"

#: The topics, in the order of the labels 0..45.
_LABEL_NAMES = (
    "cocoa",
    "grain",
    "veg-oil",
    "earn",
    "acq",
    "wheat",
    "copper",
    "housing",
    "money-supply",
    "coffee",
    "sugar",
    "trade",
    "reserves",
    "ship",
    "cotton",
    "carcass",
    "crude",
    "nat-gas",
    "cpi",
    "money-fx",
    "interest",
    "gnp",
    "meal-feed",
    "alum",
    "oilseed",
    "gold",
    "tin",
    "strategic-metal",
    "livestock",
    "retail",
    "ipi",
    "iron-steel",
    "rubber",
    "heat",
    "jobs",
    "lei",
    "bop",
    "zinc",
    "orange",
    "pet-chem",
    "dlr",
    "gas",
    "silver",
    "wpi",
    "hog",
    "lead",
)


def load_data(
    path: str = "reuters.npz",
    num_words: int | None = None,
    skip_top: int = 0,
    maxlen: int | None = None,
    test_split: float = 0.2,
    seed: int = 113,
    start_char: int | None = 1,
    oov_char: int | None = 2,
    index_from: int = 3,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Load the Reuters newswires, downloading them on first use.

    The newswires are shuffled with ``np.random.RandomState(seed)``, every word index
    is raised by ``index_from`` and ``start_char`` put first; then newswires of
    ``maxlen`` words or more are dropped, words outside ``[skip_top, num_words)``
    become ``oov_char``, and the first ``int(n * (1 - test_split))`` newswires are
    the training split. The result is the same as Keras's for the same file and
    arguments.

    Args:
        path: the file's name in the cache folder ``~/.nerve/datasets`` (or
            ``$NERVE_HOME/datasets``).
        num_words: keep the words with (shifted) index below ``num_words``. ``None``
            keeps every word but the one with the largest index (Keras's rule).
        skip_top: the words with (shifted) index below ``skip_top`` also become
            ``oov_char`` (this includes ``start_char`` when it is below).
        maxlen: drop the newswires of ``maxlen`` words or more, counting
            ``start_char``; ``None`` keeps all.
        test_split: the fraction of newswires for the test split, in ``[0, 1]``.
        seed: seed for the shuffle.
        start_char: the index put at the start of every newswire; ``None`` for none.
        oov_char: the index that replaces the words cut by ``num_words`` and
            ``skip_top``; ``None`` drops those words instead.
        index_from: added to every stored word index.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: ``x`` 1-D object arrays of lists of
        ints (8,982 and 2,246 newswires with the defaults), ``y`` integer arrays of
        topic labels 0..45 (see ``get_label_names``). ``x`` is 1-D even when every
        newswire has the same length, where Keras's ``np.array`` would make a 2-D
        array.

    Raises:
        TypeError: an index argument is not an int, or ``test_split`` not a number.
        ValueError: ``test_split`` is outside ``[0, 1]`` (checked before downloading;
            Keras does not check it), or the file fails its checksum, is damaged or
            lacks Reuters's arrays.
        OSError: the file is not cached and cannot be downloaded (the message says
            where to place it by hand).
        nerve.datasets._safe_pickle.RefusedPickleError: the file's pickles name
            anything but NumPy's array rebuilders.

    Example:
        >>> from nerve.datasets import reuters
        >>> (x_train, y_train), (x_test, y_test) = reuters.load_data(
        ...     num_words=10000)  # doctest: +SKIP
        >>> x_train.shape, x_test.shape, int(y_train.max())  # doctest: +SKIP
        ((8982,), (2246,), 45)
    """
    _sequences.check_int_arguments(
        _LOADER,
        num_words=num_words,
        skip_top=skip_top,
        maxlen=maxlen,
        start_char=start_char,
        oov_char=oov_char,
        index_from=index_from,
    )
    _split.check_test_split(test_split, _LOADER, allow_one=True)
    file_path = get_file(fname=path, origin=_ORIGIN_FOLDER + _FILE, file_hash=_SHA256)
    arrays = load_npz(file_path, ("x", "y"), _LOADER, allow_objects=True)
    x, y = arrays["x"], arrays["y"]
    _sequences.check_sequences(x, y, f"{file_path}:x", _LOADER)
    x, y = _split.shuffle(np.random.RandomState(seed), x, y)
    sequences = _sequences.reindex(x, start_char, index_from)
    sequences, y = _sequences.drop_long(maxlen, sequences, y)
    words = _sequences.limit_vocabulary(sequences, num_words, skip_top, oov_char)
    count = _split.train_count(len(words), test_split)
    return (
        (_sequences.object_array(words[:count]), np.array(y[:count])),
        (_sequences.object_array(words[count:]), np.array(y[count:])),
    )


def get_word_index(path: str = "reuters_word_index.json") -> dict[str, int]:
    """The word -> index table of the Reuters newswires, downloaded on first use.

    Indices are the stored ones (1 is the most frequent word, "the"); ``load_data``
    adds ``index_from`` to them.

    Args:
        path: the file's name in the cache folder ``~/.nerve/datasets``.

    Returns:
        A dict from word to index.

    Example:
        >>> from nerve.datasets import reuters
        >>> reuters.get_word_index()["the"]  # doctest: +SKIP
        1
    """
    return _sequences.load_word_index(
        path, _ORIGIN_FOLDER + _WORD_INDEX_FILE, _WORD_INDEX_MD5, "reuters.get_word_index"
    )


def get_label_names() -> tuple[str, ...]:
    """The 46 topic names, in the order of the labels ``load_data`` returns.

    Example:
        >>> from nerve.datasets import reuters
        >>> names = reuters.get_label_names()
        >>> len(names), names[3], names[4]
        (46, 'earn', 'acq')
    """
    return _LABEL_NAMES
