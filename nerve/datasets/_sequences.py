"""The steps ``imdb`` and ``reuters`` share: checking the word sequences read from the
archive, re-indexing words, dropping long sequences, limiting the vocabulary, and
reading a word index.

Each step does what Keras's loaders do, in the same order (shuffling is in
``_split``), so that a file gives the same arrays in nerve as in Keras. The word lists
hold Python ``int``\\ s, as Keras's do.
"""

from __future__ import annotations

import json
import numbers
from collections.abc import Iterable

import numpy as np

from nerve.utils.file_utils import get_file


def check_int_arguments(
    loader: str,
    *,
    num_words: object,
    skip_top: object,
    maxlen: object,
    start_char: object,
    oov_char: object,
    index_from: object,
) -> None:
    """Raise ``TypeError`` for an index argument that is not an int (``None`` is
    allowed where it means "none": ``num_words``, ``maxlen``, ``start_char``,
    ``oov_char``)."""
    optional = {
        "num_words": num_words,
        "maxlen": maxlen,
        "start_char": start_char,
        "oov_char": oov_char,
    }
    for name, value in [*optional.items(), ("skip_top", skip_top), ("index_from", index_from)]:
        if value is None and name in optional:
            continue
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            allowed = "an int or None" if name in optional else "an int"
            raise TypeError(f"{loader}: {name} must be {allowed}, got {value!r}.")


def check_sequences(x: np.ndarray, y: np.ndarray, where: str, loader: str) -> None:
    """Check that ``x`` is a 1-D object array of word sequences (lists of ints or 1-D
    integer arrays) and ``y`` a 1-D integer array of as many labels."""
    if x.dtype != object or x.ndim != 1:
        raise ValueError(
            f"{loader}: {where} holds a {x.dtype} array of shape {x.shape}; expected a "
            "1-D object array of word sequences (lists of ints)."
        )
    for position, sequence in enumerate(x):
        if not _is_word_sequence(sequence):
            raise ValueError(
                f"{loader}: element {position} of {where} is {_describe(sequence)}; "
                "expected a list of ints (word indices)."
            )
    if y.dtype.kind not in "iu" or y.shape != x.shape:
        raise ValueError(
            f"{loader}: the labels for {where} are a {y.dtype} array of shape {y.shape}; "
            f"expected integers of shape {x.shape}."
        )


def _is_word_sequence(sequence: object) -> bool:
    if type(sequence) is list:
        return set(map(type, sequence)) <= {int}
    return isinstance(sequence, np.ndarray) and sequence.ndim == 1 and sequence.dtype.kind in "iu"


def _describe(value: object) -> str:
    if isinstance(value, np.ndarray):
        return f"a {value.dtype} array of shape {value.shape}"
    if isinstance(value, list):
        kinds = sorted({type(item).__name__ for item in value})
        return f"a list holding {kinds}"
    return f"a {type(value).__name__}"


def reindex(
    sequences: Iterable[Iterable[int]], start_char: int | None, index_from: int
) -> list[list[int]]:
    """New lists: ``start_char`` first (unless ``None``), then each word plus
    ``index_from``."""
    start = [] if start_char is None else [start_char]
    return [start + [word + index_from for word in sequence] for sequence in sequences]


def drop_long(maxlen: int | None, sequences: list, labels: np.ndarray) -> tuple[list, np.ndarray]:
    """Keep the sequences shorter than ``maxlen`` (strictly, as Keras does) and their
    labels; ``maxlen`` ``None`` or 0 keeps all."""
    if not maxlen:
        return sequences, labels
    keep = [len(sequence) < maxlen for sequence in sequences]
    kept = [sequence for sequence, short in zip(sequences, keep) if short]
    return kept, labels[np.array(keep, dtype=bool)]


def limit_vocabulary(
    sequences: list, num_words: int | None, skip_top: int, oov_char: int | None
) -> list:
    """Keep the words ``w`` with ``skip_top <= w < num_words``; put ``oov_char`` in
    place of the others, or drop them when it is ``None``.

    ``num_words`` ``None`` (or 0) means the largest index present, so, as in Keras,
    that one word itself becomes ``oov_char``.
    """
    if not num_words:
        num_words = max((max(sequence) for sequence in sequences if sequence), default=0)
    low, high = skip_top, num_words
    if oov_char is None:
        return [[word for word in sequence if low <= word < high] for sequence in sequences]
    return [
        [word if low <= word < high else oov_char for word in sequence] for sequence in sequences
    ]


def object_array(sequences: list) -> np.ndarray:
    """A 1-D object array holding the lists themselves (also when all have one length,
    where ``np.array(..., dtype=object)`` would make a 2-D array of ints)."""
    array = np.empty(len(sequences), dtype=object)
    for position, sequence in enumerate(sequences):
        array[position] = sequence
    return array


def load_word_index(path: str, origin: str, file_hash: str, loader: str) -> dict[str, int]:
    """The word -> index dict in the JSON file downloaded from ``origin`` (plain JSON:
    nothing in it is executed)."""
    file_path = get_file(fname=path, origin=origin, file_hash=file_hash)
    try:
        with open(file_path, encoding="utf-8") as stream:
            index = json.load(stream)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(
            f"{loader}: {file_path} is not a JSON word index ({error}); delete it so that "
            "it is downloaded again."
        ) from error
    if not isinstance(index, dict) or not all(type(value) is int for value in index.values()):
        raise ValueError(
            f"{loader}: {file_path} holds {type(index).__name__} JSON; expected an object "
            "mapping words to integer indices."
        )
    return index
