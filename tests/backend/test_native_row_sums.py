"""The C sums over the last axis (``native/row_sums.py``) give NumPy's bits for every
row length (NumPy's pairwise order: below 8, up to 128, halved above), -0 and NaN
included, split across threads or not; the reduction kernel takes them where it
should and NumPy's reduction elsewhere."""

import numpy as np
import pytest

from nerve.backend.numpy_backend import reduction
from nerve.backend.numpy_backend.native import row_sums
from nerve.backend.numpy_backend.native import threads as threads_module


@pytest.fixture
def sums():
    function = row_sums.row_sums_function()
    if function is None:
        pytest.skip("no C compiler: only NumPy's reduction runs here")
    return function


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n", [1, 7, 8, 9, 127, 128, 129, 300, 1000, 5000])
@pytest.mark.parametrize("keepdims", [False, True])
def test_rows_give_numpys_bits(sums, dtype, n, keepdims):
    rng = np.random.default_rng(n)
    x = (rng.standard_normal((3, 5, n)) * 10 ** rng.uniform(-3, 3, (3, 5, n))).astype(dtype)
    expected = np.add.reduce(x, axis=-1, keepdims=keepdims)
    got = sums(x, keepdims)
    assert got.dtype == x.dtype and got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)


def test_signed_zeros_nan_and_inf_follow_numpy(sums):
    x = np.zeros((5, 20), "float32")
    x[0] = -0.0
    x[1, 3] = np.nan
    x[2, 4], x[2, 9] = np.inf, -np.inf
    x[3, 2] = np.inf
    with np.errstate(invalid="ignore"):  # inf - inf
        expected = np.add.reduce(x, axis=-1)
    got = sums(x, False)
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(np.signbit(got), np.signbit(expected))


@pytest.mark.parametrize("threads", [2, 3])
def test_rows_split_across_threads_give_the_same_bits(sums, monkeypatch, threads):
    x = np.random.default_rng(threads).standard_normal((9, 130)).astype("float32")
    whole = sums(x, True)
    monkeypatch.setattr(row_sums, "MIN_SPLIT", 0)
    monkeypatch.setattr(threads_module, "_held", [threads])
    np.testing.assert_array_equal(sums(x, True), whole)


def test_what_it_does_not_take_is_declined(sums):
    assert sums(np.ones((2, 4), "float16"), False) is None
    assert sums(np.ones((2, 4), "int32"), False) is None
    assert sums(np.ones((4, 6), "float32")[:, ::2], False) is None
    assert sums(np.ones((3, 0), "float32"), False) is None


def test_the_reduction_kernel_takes_the_loop_for_large_last_axis_sums(sums, monkeypatch):
    calls = []
    monkeypatch.setattr(
        row_sums, "row_sums_function", lambda: lambda x, k: calls.append(x.shape) or sums(x, k)
    )
    reduce_sum = reduction.kernels(np)["reduce_sum"]
    x = np.random.default_rng(1).standard_normal((32, 64)).astype("float32")
    np.testing.assert_array_equal(reduce_sum(x, (1,), True), np.add.reduce(x, 1, keepdims=True))
    reduce_sum(x[:2], (1,), False)  # small: NumPy's reduction
    reduce_sum(x, (0,), False)  # not the last axis
    assert calls == [(32, 64)]
