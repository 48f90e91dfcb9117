"""pad_sequences against Keras's own function on a grid of cases, the cases where
nerve deliberately differs, and its errors."""

import itertools

import numpy as np
import pytest

from nerve.utils import pad_sequences
from tests.utils._keras import assert_same_signature, keras_utils

SHORT_AND_LONG = [[1], [2, 3], [4, 5, 6, 7]]

# Every padding x truncating x maxlen on one list, then one case per other feature.
CASES = {
    f"{padding}-pad, {truncating}-truncate, maxlen={maxlen}": (
        SHORT_AND_LONG,
        dict(maxlen=maxlen, padding=padding, truncating=truncating),
    )
    for padding, truncating, maxlen in itertools.product(
        ["pre", "post"], ["pre", "post"], [None, 2, 6]
    )
}
CASES |= {
    "value -1": (SHORT_AND_LONG, dict(value=-1)),
    "float32 keeps fractions": ([[1.5, 2.25], [3.0]], dict(dtype="float32", value=0.5)),
    "int32 truncates fractions": ([[1.5, 2.7], [3.0]], dict(maxlen=3)),
    "int64": (SHORT_AND_LONG, dict(dtype="int64")),
    "numpy maxlen": (SHORT_AND_LONG, dict(maxlen=np.int64(3))),
    "items are vectors": ([[[1, 2], [3, 4]], [[5, 6]]], dict(padding="post")),
    "items are matrices, truncated": ([np.ones((3, 2, 2)), np.zeros((1, 2, 2))], dict(maxlen=2)),
    "a 2-d array": (np.arange(6).reshape(2, 3), dict(maxlen=4)),
    "tuples and arrays": (((1, 2), np.array([3])), dict()),
    "an empty sequence": ([[], [1, 2]], dict()),
    "only empty sequences": ([[], []], dict()),
    "only empty sequences, maxlen": ([[], []], dict(maxlen=2, value=7)),
    "no sequences, maxlen": ([], dict(maxlen=3)),
    "maxlen 0, post-truncate": (SHORT_AND_LONG, dict(maxlen=0, truncating="post")),
    "object strings": ([["the", "cat"], ["hi"]], dict(dtype=object, value="<pad>")),
    "object strings, post": ([["a"], ["b", "c", "d"]], dict(dtype=object, padding="post")),
    "sized str dtype cuts": ([["hello", "a"], ["bc"]], dict(dtype="<U3", value="pad")),
    "sized bytes dtype": ([[b"ab", b"c"], [b"d"]], dict(dtype="S2", value=b"")),
    "strings to float": ([["1.5", "2"], ["3"]], dict(dtype="float64")),
}


def test_signature_matches_keras():
    assert_same_signature(pad_sequences, keras_utils().pad_sequences)


@pytest.mark.parametrize("sequences, kwargs", CASES.values(), ids=CASES)
def test_matches_keras(sequences, kwargs):
    ours = pad_sequences(sequences, **kwargs)
    theirs = keras_utils().pad_sequences(sequences, **kwargs)
    np.testing.assert_array_equal(ours, theirs, strict=True)


# Where Keras 3.15.1 gives something else, on purpose (see nerve/utils/sequence_utils.py).
DIFFERENCES = {
    # Keras allocates <U1 and keeps only "h", "a", "b".
    "unsized str dtype": (
        [["hello", "a"], ["bc"]],
        dict(dtype=str, value=""),
        np.array([["hello", "a"], ["", "bc"]]),
    ),
    "unsized bytes dtype": (
        [[b"hello"], [b"bc", b"d"]],
        dict(dtype=bytes, value=b"-"),
        np.array([[b"-", b"hello"], [b"bc", b"d"]]),
    ),
    # Keras slices s[-0:], keeps the whole sequence and fails to fit it.
    "maxlen 0, pre-truncate": (SHORT_AND_LONG, dict(maxlen=0), np.zeros((3, 0), np.int32)),
    # Keras accepts a string value only with dtype=object itself, not its name.
    "dtype 'object' by name": (
        [["a"], []],
        dict(dtype="object", value="-"),
        np.array([["a"], ["-"]], dtype=object),
    ),
}


@pytest.mark.parametrize("sequences, kwargs, expected", DIFFERENCES.values(), ids=DIFFERENCES)
def test_differences_from_keras(sequences, kwargs, expected):
    np.testing.assert_array_equal(pad_sequences(sequences, **kwargs), expected, strict=True)
    try:  # Keras's answer differs (or it fails): the difference is real.
        theirs = keras_utils().pad_sequences(sequences, **kwargs)
    except ValueError:
        return
    assert (
        theirs.shape != expected.shape
        or theirs.dtype != expected.dtype
        or (theirs != expected).any()
    )


# (sequences, kwargs, pattern of nerve's message, whether Keras raises ValueError too)
ERRORS = {
    "bad padding": (SHORT_AND_LONG, dict(padding="middle"), r'padding must be "pre" or "post", '
                    r"got 'middle'", True),
    "bad truncating": (SHORT_AND_LONG, dict(truncating="both"), r'truncating must be "pre" or '
                       r"\"post\", got 'both'", True),
    "bad padding, all empty": ([[]], dict(padding="x"), "padding must be", False),
    "not a list": (5, dict(), "must be a list .* got int", True),
    "an item without a length": ([[1], 2], dict(), r"sequences\[1\] is 2 \(int\), which has no "
                                 "length", True),
    "string value, int dtype": (SHORT_AND_LONG, dict(value="x"), "dtype 'int32' cannot hold the "
                                "string padding value 'x'.*dtype=object", True),
    "strings, int dtype": ([["a"]], dict(), r"sequences\[0\] does not convert to dtype 'int32'",
                           True),
    "items of two shapes": ([[[1, 2]], [[1, 2, 3]]], dict(), r"the items of sequences\[1\] have "
                            r"shape \(3,\).*shape \(2,\)", True),
    "no sequences, no maxlen": ([], dict(), "cannot infer maxlen", True),
    "negative maxlen": (SHORT_AND_LONG, dict(maxlen=-1), "maxlen must be >= 0, got -1", True),
    "float maxlen": (SHORT_AND_LONG, dict(maxlen=2.0), "maxlen must be an int, got 2.0", False),
}  # fmt: skip


@pytest.mark.parametrize("sequences, kwargs, message, keras_raises", ERRORS.values(), ids=ERRORS)
def test_errors(sequences, kwargs, message, keras_raises):
    with pytest.raises(ValueError, match=message):
        pad_sequences(sequences, **kwargs)
    if keras_raises:
        with pytest.raises(ValueError):
            keras_utils().pad_sequences(sequences, **kwargs)
