"""Core ops: rank queries and copies."""

import warnings

import numpy as np
import pytest

import nerve
from nerve import ops


def test_ndim():
    assert ops.ndim(ops.zeros((2, 3, 0))) == 3
    assert ops.ndim(1.5) == 0
    assert ops.ndim([[1, 2]]) == 2


def test_copy_keeps_value_dtype_and_gradient():
    x = ops.convert_to_tensor([[1.0, 2.0]], dtype="float64")
    y = ops.copy(x)
    assert y is not x
    assert (y.shape, y.dtype) == ((1, 2), "float64")
    np.testing.assert_array_equal(y.numpy(), x.numpy())
    grad = nerve.grad(lambda t: ops.sum(ops.copy(t) * t))(x)
    np.testing.assert_array_equal(grad.numpy(), 2 * x.numpy())


@pytest.mark.parametrize(
    "make",
    [
        lambda: ops.convert_to_tensor([1.0, 2.0, 3.0]),
        lambda: nerve.Variable([1.0, 2.0, 3.0]),
        lambda: [1.0, 2.0, 3.0],
        lambda: np.array([1.0, 2.0, 3.0], "float32"),
    ],
)
def test_convert_to_numpy_gives_a_writable_array_of_its_own(make):
    source = make()
    y = ops.convert_to_numpy(source)
    assert isinstance(y, np.ndarray)
    y[0] = 10.0  # Keras's backends allow this
    assert ops.convert_to_numpy(source)[0] == 1.0  # without touching the source


def test_copy_of_python_values():
    np.testing.assert_array_equal(ops.copy([1, 2]).numpy(), [1, 2])


def test_core_namespace_custom_gradient_takes_kerass_gradient_functions():
    # Keras's form: grad(*args, upstream=None), called with the upstream gradient.
    @ops.custom_gradient
    def log1pexp(x):
        e = ops.exp(x)

        def grad(*args, upstream=None):
            if upstream is None:
                (upstream,) = args
            return ops.multiply(upstream, 1.0 - 1.0 / ops.add(1, e))

        return ops.log(1 + e), grad

    assert float(nerve.grad(lambda x: log1pexp(x))(ops.convert_to_tensor(100.0))) == 1.0


@pytest.mark.parametrize(
    "values,source,target",
    [
        ([-1.0, 256.0, 7.7, np.inf, -np.inf], "float32", "uint8"),
        ([300, -300, 5], "int32", "int8"),
        ([1e39, -1e39], "float64", "float32"),
        ([70000.0, -1.5], "float32", "float16"),
        ([1, 0], "bool", "int32"),
    ],
)
def test_saturate_cast_matches_keras(values, source, target):
    keras = pytest.importorskip("keras")
    x = np.array(values, dtype=source)
    with warnings.catch_warnings():  # Keras's NumPy backend casts its limits loudly
        warnings.simplefilter("ignore", RuntimeWarning)
        expected = np.asarray(keras.ops.saturate_cast(x, target))
    result = ops.saturate_cast(x, target)
    assert result.dtype == target
    np.testing.assert_array_equal(result.numpy(), expected)


def test_saturate_cast_float32_to_int32_stays_in_range():
    # int32's maximum rounds up to 2**31 in float32; the limit steps back one float32 ulp
    # (Keras 3.15's NumPy backend wraps 3e9 to int32's minimum here).
    result = ops.saturate_cast(np.array([3e9, -3e9, 5.5], "float32"), "int32")
    assert result.numpy().tolist() == [2147483520, -2147483648, 5]
