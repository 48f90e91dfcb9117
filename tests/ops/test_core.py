"""Core ops: rank queries and copies."""

import numpy as np

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


def test_copy_of_python_values():
    np.testing.assert_array_equal(ops.copy([1, 2]).numpy(), [1, 2])
