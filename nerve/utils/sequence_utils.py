"""``pad_sequences``: pad and truncate sequences into one array
(``keras.utils.pad_sequences``).

Where nerve differs from Keras 3.15.1, and why:

- ``padding`` and ``truncating`` are checked before any work (Keras checks them only
  when it meets a non-empty sequence, so a bad value passes with all-empty input).
- ``maxlen=0`` gives an array with an empty time axis whatever ``truncating`` is
  (Keras's ``truncating="pre"`` slices ``s[-0:]``, keeps everything and then fails).
- An unsized string dtype (``str``, ``bytes``, ``"U"``, ``"S"``) is sized to the longest
  string. Keras allocates ``<U1`` and so cuts every string to its first character;
  sized dtypes (``"<U3"``) still cut at their size, as in NumPy.
- ``dtype="object"`` (the name) accepts a string ``value`` like ``dtype=object``.
- Failures name the sequence and what was expected.

>>> from nerve.utils import pad_sequences
>>> pad_sequences([[1], [2, 3], [4, 5, 6]])
array([[0, 0, 1],
       [0, 2, 3],
       [4, 5, 6]], dtype=int32)
>>> pad_sequences([["the", "cat"], ["hi"]], dtype=object, padding="post", value="<pad>")
array([['the', 'cat'],
       ['hi', '<pad>']], dtype=object)
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

import numpy as np

from nerve.core.errors import with_location

__all__ = ["pad_sequences"]

_SIDES = ("pre", "post")


def pad_sequences(
    sequences: Sequence[Any],
    maxlen: int | None = None,
    dtype: Any = "int32",
    padding: str = "pre",
    truncating: str = "pre",
    value: Any = 0.0,
) -> np.ndarray:
    """Pad (or truncate) every sequence to one length and stack them
    (``keras.utils.pad_sequences``).

    Args:
        sequences: a list (anything with a length) of sequences. Each is a list or
            array whose items are scalars or arrays of one common shape (the shape of
            the first non-empty sequence's items).
        maxlen: the length of every output row; ``None`` means the longest sequence.
        dtype: the output dtype. For strings of varying length use ``object``.
        padding: ``"pre"`` or ``"post"``: put the padding before or after a sequence.
        truncating: ``"pre"`` or ``"post"``: drop the extra items of a sequence longer
            than ``maxlen`` from its start or from its end.
        value: the padding value (a string needs an object or string ``dtype``).

    Returns:
        A NumPy array of shape ``(len(sequences), maxlen) + item_shape``.

    Raises:
        ValueError: a bad ``padding``, ``truncating`` or ``maxlen``; an item without a
            length; items of different shapes; a string ``value`` with a non-string
            ``dtype``; items that do not convert to ``dtype``; no sequences and no
            ``maxlen``.

    >>> from nerve.utils import pad_sequences
    >>> pad_sequences([[1, 2, 3, 4], [5]], maxlen=2, truncating="post", value=-1)
    array([[ 1,  2],
           [-1,  5]], dtype=int32)
    >>> pad_sequences([[[1, 2], [3, 4]], [[5, 6]]], padding="post").shape
    (2, 2, 2)
    """
    for name, side in (("padding", padding), ("truncating", truncating)):
        if side not in _SIDES:
            raise ValueError(
                with_location(f'pad_sequences: {name} must be "pre" or "post", got {side!r}.')
            )
    if not hasattr(sequences, "__len__"):
        raise ValueError(
            with_location(
                "pad_sequences: sequences must be a list (or other sized iterable) of "
                f"sequences, got {type(sequences).__name__}."
            )
        )
    lengths = [_length(sequence, index) for index, sequence in enumerate(sequences)]
    if maxlen is None:
        if not lengths:
            raise ValueError(
                with_location(
                    "pad_sequences: cannot infer maxlen from an empty list of sequences; "
                    "pass maxlen."
                )
            )
        maxlen = max(lengths)
    maxlen = _maxlen(maxlen)
    _check_value_fits_dtype(value, dtype)

    # Every kept part is converted (and its item shape checked) before the output is
    # made, so that an unsized string dtype can be sized to the longest string.
    item_shape: tuple[int, ...] | None = None
    kept_parts: list[tuple[int, np.ndarray]] = []
    for index, sequence in enumerate(sequences):
        if not lengths[index] or not maxlen:
            continue
        kept = sequence[-maxlen:] if truncating == "pre" else sequence[:maxlen]
        part = _as_dtype(kept, dtype, index)
        if item_shape is None:
            # Keras takes the item shape from the whole first non-empty sequence; the
            # kept part has the same items.
            item_shape = part.shape[1:]
        elif part.shape[1:] != item_shape:
            raise ValueError(
                with_location(
                    f"pad_sequences: the items of sequences[{index}] have shape "
                    f"{part.shape[1:]}, but those of the first non-empty sequence have "
                    f"shape {item_shape}; every item must have the same shape."
                )
            )
        kept_parts.append((index, part))

    out_dtype = _output_dtype(dtype, value, [part for _, part in kept_parts])
    shape = (len(sequences), maxlen) + (item_shape or _first_item_shape(sequences, lengths))
    out = np.full(shape, value, dtype=out_dtype)
    for index, part in kept_parts:
        if padding == "post":
            out[index, : len(part)] = part
        else:
            out[index, -len(part) :] = part
    return out


def _length(sequence: Any, index: int) -> int:
    try:
        return len(sequence)
    except TypeError as error:
        raise ValueError(
            with_location(
                f"pad_sequences: sequences[{index}] is {sequence!r} "
                f"({type(sequence).__name__}), which has no length; every item of "
                "sequences must be a sequence (a list or an array)."
            )
        ) from error


def _maxlen(maxlen: Any) -> int:
    if isinstance(maxlen, bool) or not hasattr(maxlen, "__index__"):
        raise ValueError(with_location(f"pad_sequences: maxlen must be an int, got {maxlen!r}."))
    count = operator.index(maxlen)
    if count < 0:
        raise ValueError(with_location(f"pad_sequences: maxlen must be >= 0, got {count}."))
    return count


def _is_string_dtype(dtype: Any) -> bool:
    return np.dtype(dtype).kind in "USO"


def _check_value_fits_dtype(value: Any, dtype: Any) -> None:
    if isinstance(value, str) and not _is_string_dtype(dtype):
        raise ValueError(
            with_location(
                f"pad_sequences: dtype {dtype!r} cannot hold the string padding value "
                f"{value!r}. Use dtype=object for strings of varying length."
            )
        )


def _as_dtype(kept: Any, dtype: Any, index: int) -> np.ndarray:
    try:
        return np.asarray(kept, dtype=dtype)
    except (TypeError, ValueError) as error:
        raise ValueError(
            with_location(
                f"pad_sequences: sequences[{index}] does not convert to dtype {dtype!r} "
                f"({error}). Pass a dtype that fits its items (dtype=object for strings), "
                "and give all its items one shape."
            )
        ) from error


def _output_dtype(dtype: Any, value: Any, parts: list[np.ndarray]) -> np.dtype:
    requested = np.dtype(dtype)
    if requested.kind in "US" and requested.itemsize == 0:
        # An unsized string dtype: wide enough for the longest string kept and the value.
        return np.result_type(np.asarray(value, dtype=requested), *parts)
    return requested


def _first_item_shape(sequences: Sequence[Any], lengths: list[int]) -> tuple[int, ...]:
    """The item shape when nothing is kept (``maxlen=0``): the first non-empty
    sequence's, as Keras, so the output's shape does not depend on ``maxlen``."""
    for sequence, length in zip(sequences, lengths):
        if length:
            return tuple(np.asarray(sequence).shape[1:])
    return ()
