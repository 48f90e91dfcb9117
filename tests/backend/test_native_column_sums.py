"""The C sums over the first axis (``native/column_sums.py``) give NumPy's bits (each
column summed row after row from +0), -0 and NaN included, for widths around its
register blocks; the reduction kernel takes them for sums over the leading axes of
fewer than ``LEADING_SUM_MIN_ROWS`` rows and NumPy's reduction or the product with
ones elsewhere."""

import numpy as np
import pytest

from nerve.backend.numpy_backend import reduction
from nerve.backend.numpy_backend.native import column_sums


@pytest.fixture
def sums():
    function = column_sums.column_sums_function()
    if function is None:
        pytest.skip("no C compiler: only NumPy's reduction runs here")
    return function


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("rows", [1, 2, 7, 32, 128, 1000])
@pytest.mark.parametrize("n", [2, 10, 63, 64, 65, 256, 517])
@pytest.mark.parametrize("keepdims", [False, True])
def test_columns_give_numpys_bits(sums, dtype, rows, n, keepdims):
    rng = np.random.default_rng(rows * 1000 + n)
    x = (rng.standard_normal((rows, n)) * 10 ** rng.uniform(-3, 3, (rows, n))).astype(dtype)
    expected = np.add.reduce(x, axis=0, keepdims=keepdims)
    got = sums(x, keepdims)
    assert got.dtype == x.dtype and got.shape == expected.shape
    bits = f"int{8 * x.itemsize}"
    np.testing.assert_array_equal(got.view(bits), expected.view(bits))


def test_signed_zeros_nan_and_inf_follow_numpy(sums):
    x = np.zeros((6, 70), "float32")
    x[:, 0] = -0.0  # a sum of -0s is +0: the sum starts from +0
    x[0, 65] = -0.0
    x[3, 1] = np.nan
    x[2, 66], x[4, 66] = np.inf, -np.inf
    x[1, 2] = np.inf
    with np.errstate(invalid="ignore"):  # inf - inf
        expected = np.add.reduce(x, axis=0)
    got = sums(x, False)
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(np.signbit(got), np.signbit(expected))


def test_what_it_does_not_take_is_declined(sums):
    assert sums(np.ones((2, 4), "float16"), False) is None
    assert sums(np.ones((2, 4), "int32"), False) is None
    assert sums(np.ones((4, 6), "float32")[:, ::2], False) is None
    assert sums(np.ones((5, 1), "float32"), False) is None  # NumPy sums it pairwise
    assert sums(np.ones((0, 4), "float32"), False) is None
    assert sums(np.ones((2, 3, 4), "float32"), False) is None


def test_the_reduction_kernel_takes_the_loop_for_short_leading_sums(sums, monkeypatch):
    calls = []
    monkeypatch.setattr(
        column_sums,
        "column_sums_function",
        lambda: lambda x, k: calls.append(x.shape) or sums(x, k),
    )
    reduce_sum = reduction.kernels(np)["reduce_sum"]
    x = np.random.default_rng(1).standard_normal((32, 8, 40)).astype("float32")
    expected = np.add.reduce(x, (0, 1), keepdims=True)
    np.testing.assert_array_equal(reduce_sum(x, (0, 1), True), expected)
    np.testing.assert_array_equal(reduce_sum(x, (0,), False), np.add.reduce(x, 0))
    reduce_sum(x, (1,), False)  # not the leading axes
    reduce_sum(x, (0, 1, 2), False)  # every axis
    reduce_sum(np.ones((reduction.LEADING_SUM_MIN_ROWS, 2), "float32"), (0,), False)  # BLAS
    assert calls == [(256, 40), (32, 320)]
