"""IMDB movie reviews (``keras.datasets.imdb``): 50,000 reviews labelled by sentiment
(0 negative, 1 positive), half for training and half for testing, each review a list
of word indices.

Words are indexed by how often they occur in the training reviews: index 1 is the
most frequent word, so "the 10,000 most frequent words" is every index below 10,000.
``load_data`` shifts those indices up by ``index_from`` to leave room for the padding
(0), start (1) and out-of-vocabulary (2) markers; ``get_word_index`` gives the
word -> index table to decode them.

Downloaded once, on first use, from the files Keras uses (checked against their
hashes) and cached under ``~/.nerve/datasets`` (see ``nerve.utils.get_file``). The
reviews are ragged, so the ``.npz`` archive stores them as pickled object arrays; they
are read by a restricted unpickler that rebuilds only NumPy arrays and plain lists
(``nerve.datasets._npz``), so loading never runs code from the file.

The data set is Andrew Maas et al.'s Large Movie Review Dataset
(https://ai.stanford.edu/~amaas/data/sentiment/).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nerve.datasets import _sequences, _split
from nerve.datasets._npz import load_npz
from nerve.utils.file_utils import get_file

__all__ = ["get_word_index", "load_data"]

#: Where Keras downloads its data sets from; the files are ``_ORIGIN_FOLDER + name``.
_ORIGIN_FOLDER = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
_FILE = "imdb.npz"
#: SHA-256 of ``imdb.npz`` and MD5 of ``imdb_word_index.json`` (the values Keras checks).
_SHA256 = "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f"
_WORD_INDEX_FILE = "imdb_word_index.json"
_WORD_INDEX_MD5 = "bfafd718b763782e994055a2d397834f"
_LOADER = "imdb.load_data"


def load_data(
    path: str = "imdb.npz",
    num_words: int | None = None,
    skip_top: int = 0,
    maxlen: int | None = None,
    seed: int = 113,
    start_char: int | None = 1,
    oov_char: int | None = 2,
    index_from: int = 3,
    **kwargs: Any,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Load the IMDB reviews, downloading them on first use.

    Each split is shuffled with ``np.random.RandomState(seed)`` (training first, then
    test, from one generator), every word index is raised by ``index_from`` and
    ``start_char`` put first; then reviews of ``maxlen`` words or more are dropped,
    and words outside ``[skip_top, num_words)`` become ``oov_char``. The result is
    the same as Keras's for the same file and arguments.

    Args:
        path: the file's name in the cache folder ``~/.nerve/datasets`` (or
            ``$NERVE_HOME/datasets``).
        num_words: keep the words with (shifted) index below ``num_words``. ``None``
            keeps every word but the one with the largest index (Keras's rule).
        skip_top: the words with (shifted) index below ``skip_top`` also become
            ``oov_char`` (this includes ``start_char`` when it is below).
        maxlen: drop the reviews of ``maxlen`` words or more, counting
            ``start_char``; ``None`` keeps all.
        seed: seed for the shuffle.
        start_char: the index put at the start of every review; ``None`` for none.
        oov_char: the index that replaces the words cut by ``num_words`` and
            ``skip_top``; ``None`` drops those words instead.
        index_from: added to every stored word index (so that the stored word 1
            becomes ``1 + index_from``).
        **kwargs: accepted for Keras's signature; Keras 3 ignores them, nerve raises
            ``TypeError`` naming them, so that a misspelt argument is not lost.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: ``x`` 1-D object arrays of lists of
        ints (25,000 reviews each with the defaults), ``y`` integer arrays of 0/1
        labels. ``x`` is 1-D even when every kept review has the same length, where
        Keras's ``np.array`` would make a 2-D array.

    Raises:
        TypeError: an unknown keyword argument, or an index argument not an int.
        OSError: the file is not cached and cannot be downloaded (the message says
            where to place it by hand).
        ValueError: the file fails its checksum, is damaged, lacks IMDB's arrays, or
            ``maxlen`` leaves a split empty.
        nerve.datasets._safe_pickle.RefusedPickleError: the file's pickles name
            anything but NumPy's array rebuilders.

    Example:
        >>> from nerve.datasets import imdb
        >>> (x_train, y_train), (x_test, y_test) = imdb.load_data(
        ...     num_words=10000)  # doctest: +SKIP
        >>> x_train.shape, y_train.shape, x_train[0][:4]  # doctest: +SKIP
        ((25000,), (25000,), [1, 14, 22, 16])
    """
    if kwargs:
        raise TypeError(
            f"{_LOADER} got unexpected keyword arguments {sorted(kwargs)}; it takes path, "
            "num_words, skip_top, maxlen, seed, start_char, oov_char and index_from."
        )
    _sequences.check_int_arguments(
        _LOADER,
        num_words=num_words,
        skip_top=skip_top,
        maxlen=maxlen,
        start_char=start_char,
        oov_char=oov_char,
        index_from=index_from,
    )
    file_path = get_file(fname=path, origin=_ORIGIN_FOLDER + _FILE, file_hash=_SHA256)
    arrays = load_npz(
        file_path, ("x_train", "y_train", "x_test", "y_test"), _LOADER, allow_objects=True
    )
    rng = np.random.RandomState(seed)
    splits = []
    for name in ("train", "test"):
        x, y = arrays[f"x_{name}"], arrays[f"y_{name}"]
        _sequences.check_sequences(x, y, f"{file_path}:x_{name}", _LOADER)
        x, y = _split.shuffle(rng, x, y)
        sequences = _sequences.reindex(x, start_char, index_from)
        sequences, y = _sequences.drop_long(maxlen, sequences, y)
        if not sequences:
            raise ValueError(
                f"{_LOADER}: maxlen={maxlen} drops every {name} review (a review is kept "
                "when it is shorter than maxlen, counting start_char); increase maxlen."
            )
        splits.append((sequences, y))
    (train, y_train), (test, y_test) = splits
    # One vocabulary for both splits: num_words=None takes the largest index in either.
    words = _sequences.limit_vocabulary(train + test, num_words, skip_top, oov_char)
    labels = np.concatenate([y_train, y_test])
    count = len(train)
    return (
        (_sequences.object_array(words[:count]), labels[:count]),
        (_sequences.object_array(words[count:]), labels[count:]),
    )


def get_word_index(path: str = "imdb_word_index.json") -> dict[str, int]:
    """The word -> index table of the IMDB reviews, downloaded on first use.

    Indices are the stored ones (1 is the most frequent word); ``load_data`` adds
    ``index_from`` to them.

    Args:
        path: the file's name in the cache folder ``~/.nerve/datasets``.

    Returns:
        A dict from word to index.

    Example:
        >>> from nerve.datasets import imdb
        >>> index_from = 3
        >>> (x_train, _), _ = imdb.load_data(index_from=index_from)  # doctest: +SKIP
        >>> words = {i + index_from: w for w, i in imdb.get_word_index().items()}  # doctest: +SKIP
        >>> words.update({1: "[START]", 2: "[OOV]"})  # doctest: +SKIP
        >>> " ".join(words[i] for i in x_train[0][:5])  # doctest: +SKIP
        '[START] this film was just'
    """
    return _sequences.load_word_index(
        path, _ORIGIN_FOLDER + _WORD_INDEX_FILE, _WORD_INDEX_MD5, "imdb.get_word_index"
    )
