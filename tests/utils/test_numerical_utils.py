"""to_categorical and normalize against Keras's own functions, and the checks nerve
adds (labels out of range, fractional labels, normalize along axis 0)."""

import numpy as np
import pytest

import nerve
from nerve.core.errors import AxisError
from nerve.utils import normalize, to_categorical
from nerve.utils.numerical_utils import LabelError
from tests.utils._keras import assert_same_signature, keras_utils


@pytest.mark.parametrize("name", ["to_categorical", "normalize"])
def test_signature_matches_keras(name):
    assert_same_signature(getattr(nerve.utils, name), getattr(keras_utils(), name))


CATEGORICAL_CASES = {
    "vector, inferred": ([0, 1, 2, 3], None),
    "vector, more classes": ([0, 1, 2, 3], 6),
    "column (n, 1) loses its last axis": ([[1], [0], [2]], 3),
    "matrix": ([[0, 1, 2], [2, 1, 0]], None),
    "(2, 3, 1)": (np.arange(6).reshape(2, 3, 1) % 4, 4),
    "scalar": (np.array(2), 4),
    "one label keeps its axis": ([1], 3),
    "whole-number floats": (np.array([2.0, 0.0]), None),
    "bools": ([True, False], None),
    "uint8": (np.array([3, 1], dtype=np.uint8), 5),
    "int32": (np.array([[3], [1]], dtype=np.int32), None),
    "empty with num_classes": ([], 3),
    "num_classes=0 infers": ([1, 2], 0),
    "numpy integer num_classes": ([1, 2], np.int64(4)),
}


@pytest.mark.parametrize("x, num_classes", CATEGORICAL_CASES.values(), ids=CATEGORICAL_CASES)
def test_to_categorical_matches_keras(x, num_classes):
    ours = to_categorical(x, num_classes)
    # Keras's NumPy path (float64) is taken for every input on its other backends; on
    # its NumPy backend an ndarray counts as a backend tensor and goes through one_hot
    # (float32) instead, so the reference gets lists.
    theirs = keras_utils().to_categorical(np.asarray(x).tolist(), num_classes)
    assert isinstance(ours, np.ndarray)
    assert ours.dtype == theirs.dtype
    np.testing.assert_array_equal(ours, theirs, strict=True)


def test_to_categorical_takes_a_tensor_and_returns_numpy():
    ours = to_categorical(nerve.ops.convert_to_tensor([2, 0]), 3)
    assert isinstance(ours, np.ndarray)
    np.testing.assert_array_equal(ours, [[0, 0, 1], [1, 0, 0]])


# (x, num_classes, pattern the message must match, what Keras 3.15.1 does)
BAD_LABELS = {
    "label == num_classes": ([0, 3], 3, r"label 3 \(at index \(1,\)\).*\[0, 3\)", IndexError),
    "label > num_classes": ([[0], [9]], 2, r"label 9 \(at index \(1, 0\)\).*\[0, 2\)", IndexError),
    # Keras maps -1 silently to the last class.
    "negative label": ([0, -1], 3, r"label -1 \(at index \(1,\)\).*\[0, 3\)", None),
    "negative label, inferred": ([-2, 1], None, r"label -2 .*\[0, 2\)", None),
    # Keras truncates 0.5 to class 0.
    "fractional": ([0.5, 1.0], 2, r"whole numbers; got 0\.5 at index \(0,\)", None),
    "nan": ([1.0, np.nan], 2, r"whole numbers; got nan", ValueError),
    "empty, inferred": ([], None, r"cannot infer num_classes from an empty x", ValueError),
    "not numbers": (["a"], 2, r"integer class labels", ValueError),
}


@pytest.mark.parametrize(
    "x, num_classes, message, keras_error", BAD_LABELS.values(), ids=BAD_LABELS
)
def test_to_categorical_rejects_bad_labels(x, num_classes, message, keras_error):
    with pytest.raises(LabelError, match=message):
        to_categorical(x, num_classes)
    if keras_error is None:  # Keras returns a (wrong) result: nerve's error adds a check.
        keras_utils().to_categorical(x, num_classes)
    else:  # where Keras raises, nerve's LabelError is an instance of Keras's type too.
        assert issubclass(LabelError, keras_error)
        with pytest.raises(keras_error):
            keras_utils().to_categorical(x, num_classes)


@pytest.mark.parametrize("num_classes", [-1, 2.5, True, "3"])
def test_to_categorical_rejects_a_bad_num_classes(num_classes):
    with pytest.raises(ValueError, match="to_categorical: num_classes must be"):
        to_categorical([0, 1], num_classes)


RNG = np.random.default_rng(0)
MATRIX = RNG.normal(size=(4, 3))
CUBE = RNG.normal(size=(2, 3, 4))
NORMALIZE_CASES = {
    "default": (MATRIX, -1, 2),
    "axis 1, order 1": (MATRIX, 1, 1),
    "order inf": (MATRIX, -1, np.inf),
    "3-d, axis 1": (CUBE, 1, 2),
    "3-d, axis -2, order 3": (CUBE, -2, 3),
    "3-d, axis 2": (CUBE, 2, 2),
    "a zero row stays zero": (np.array([[0.0, 0.0], [3.0, 4.0]]), -1, 2),
    "ints give float64": (np.array([[1, 2], [3, 4]]), -1, 2),
    "float32 stays float32": (MATRIX.astype(np.float32), -1, 2),
}


@pytest.mark.parametrize("x, axis, order", NORMALIZE_CASES.values(), ids=NORMALIZE_CASES)
def test_normalize_matches_keras(x, axis, order):
    ours = normalize(x, axis=axis, order=order)
    theirs = keras_utils().normalize(x, axis=axis, order=order)
    assert ours.dtype == theirs.dtype
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, strict=True)


@pytest.mark.parametrize(
    "x, axis",
    [(MATRIX, 0), (CUBE, 0), (np.array([3.0, -4.0]), 0), (np.array([3.0, -4.0]), -1)],
    ids=["2-d, axis 0", "3-d, axis 0", "1-d, axis 0", "1-d, axis -1"],
)
def test_normalize_where_keras_breaks(x, axis):
    # Keras 3.15.1 puts the norm back on the last axis of a 1-d result made 2-d
    # (atleast_1d, then `axis or -1`): axis=0 divides by the wrong norms or fails, and a
    # vector comes back as a (1, n) matrix. nerve is compared with the definition.
    expected = x / np.linalg.norm(x, axis=axis, keepdims=True)
    ours = normalize(x, axis=axis)
    np.testing.assert_allclose(ours, expected, strict=True)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=axis), 1.0)


def test_normalize_takes_lists_and_tensors():
    expected = np.array([[0.6, 0.8]])
    np.testing.assert_allclose(normalize([[3, 4]]), expected)
    np.testing.assert_allclose(normalize(nerve.ops.convert_to_tensor([[3.0, 4.0]])), expected)


@pytest.mark.parametrize(
    "x, axis, message",
    [(np.float64(2.0), -1, "scalar"), (MATRIX, 2, "axis 2 is out of range"), (MATRIX, 1.0, "int")],
    ids=["scalar", "axis out of range", "float axis"],
)
def test_normalize_rejects_a_bad_axis(x, axis, message):
    with pytest.raises(AxisError, match=message):
        normalize(x, axis=axis)
