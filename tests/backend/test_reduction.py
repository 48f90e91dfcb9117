"""The NumPy backend's reduction kernels give what NumPy's own functions give, on both
of their paths: the ufunc's reduction, and the fold of a short window's slices that
max/min pooling takes (``nerve.backend.numpy_backend.reduction``)."""

from __future__ import annotations

import numpy as np
import pytest

from nerve.backend import get_backend
from nerve.backend.numpy_backend import reduction

#: (shape, axes, folded): pooling windows, short middle axes, and arrays the fold leaves
#: to NumPy (too small, the last axis reduced, a window too long, an axis of one).
CASES = [
    ((2, 13, 2, 13, 2, 32), (2, 4), True),
    ((4, 10, 3, 10, 3, 8), (2, 4), False),  # a 3x3 window: 9 slices
    ((1000, 3, 10), (1,), True),
    ((4000, 2, 3), (1,), True),
    ((2, 64, 100), (0,), True),
    ((32, 8, 2, 8, 2, 1), (4, 2), True),
    ((3, 5, 2, 5, 2, 4), (2, 4), False),  # too few elements
    ((64, 400), (1,), False),  # the last axis
    ((20, 1, 30, 20), (1,), False),  # an axis of one
    ((2, 10, 10), (), False),
]

NUMPY = {"reduce_max": np.max, "reduce_min": np.min, "reduce_sum": np.sum, "reduce_prod": np.prod}


@pytest.mark.parametrize("shape, axes, folded", CASES)
@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "bool"])
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("kernel", sorted(NUMPY))
def test_reduction_matches_numpy(shape, axes, folded, dtype, keepdims, kernel):
    assert reduction._foldable(np.empty(shape), axes) is folded
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    if dtype.startswith("float"):
        x.flat[::97] = np.nan  # extrema propagate NaN on both paths
    if kernel == "reduce_prod" and dtype != "bool":
        x = np.sign(x).astype(dtype)  # keep products finite
    result = get_backend().graph_kernel(kernel)(x, axes=axes, keepdims=keepdims)
    dtype_arg = {"dtype": x.dtype} if kernel in ("reduce_sum", "reduce_prod") else {}
    expected = NUMPY[kernel](x, axis=axes, keepdims=keepdims, **dtype_arg)
    assert result.dtype == expected.dtype and np.shape(result) == expected.shape
    np.testing.assert_array_equal(result, expected)
    if np.ndim(result):
        # A fresh C-contiguous buffer, not a view of the input (the memory plan may
        # write into it).
        assert result.flags.c_contiguous and not np.shares_memory(result, x)


@pytest.mark.parametrize(
    "shape, axes, rows",
    [
        ((128, 26, 26, 32), (0, 1, 2), 86528),  # a convolution's bias gradient
        ((reduction.LEADING_SUM_MIN_ROWS, 3), (0,), reduction.LEADING_SUM_MIN_ROWS),
        # Fewer rows: the C column sums (``native/column_sums.py``), NumPy's bits.
        ((reduction.LEADING_SUM_MIN_ROWS - 1, 3), (0,), reduction.LEADING_SUM_MIN_ROWS - 1),
        ((64, 100, 7), (1, 2), 0),  # not the leading axes
        ((64, 100, 7), (0, 1, 2), 0),  # every axis
    ],
)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("keepdims", [False, True])
def test_sums_over_leading_axes_match_numpy(shape, axes, rows, dtype, keepdims):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape).astype(dtype)
    assert reduction._leading_rows(x, axes) == rows
    assert reduction._leading_rows(np.asfortranarray(x), axes) == 0
    result = get_backend().graph_kernel("reduce_sum")(x, axes=axes, keepdims=keepdims)
    expected = np.sum(x.astype(np.float64), axis=axes, keepdims=keepdims)
    bound = np.sum(np.abs(x.astype(np.float64)), axis=axes, keepdims=keepdims)
    assert result.dtype == x.dtype and result.shape == expected.shape
    tolerance = 1e-5 if dtype == "float32" else 1e-13
    assert np.all(np.abs(result - expected) <= tolerance * bound)
    assert result.flags.c_contiguous and not np.shares_memory(result, x)


@pytest.mark.parametrize("parts", [2, 3])
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize(
    "shape, axes",
    [((7, 9, 33), (2,)), ((5, 4, 3, 40), (1, 3)), ((9, 2, 5, 6), (3,)), ((6, 130), (1,))],
)
@pytest.mark.parametrize("kernel", ["reduce_sum", "reduce_max", "reduce_min", "reduce_prod"])
def test_reductions_shared_out_among_held_cores_give_the_same_bits(
    kernel, shape, axes, keepdims, parts, monkeypatch
):
    # Inside a compiled run holding several cores, a large float reduction that keeps
    # the first axis runs by slices of it (``native.threads``); a sum over the last
    # axis of 1024 elements or more (the first shape) by rows, in C (``row_sums``).
    from nerve.backend.numpy_backend.native import row_sums, threads

    rng = np.random.default_rng(11)
    x = rng.standard_normal(shape).astype("float32")
    whole = reduction.kernels(np)[kernel](x, axes, keepdims)
    monkeypatch.setattr(reduction, "SPLIT_REDUCE", 0)
    monkeypatch.setattr(row_sums, "MIN_SPLIT", 0)
    monkeypatch.setattr(threads, "_held", [parts])
    calls = []
    run_split = threads.run_split
    monkeypatch.setattr(threads, "run_split", lambda p, w: (calls.append(w), run_split(p, w)))
    split = reduction.kernels(np)[kernel](x, axes, keepdims)
    assert calls == [parts]
    assert split.shape == whole.shape and split.dtype == whole.dtype
    np.testing.assert_array_equal(split, whole)


def test_reductions_over_the_first_axis_or_of_integers_are_not_split(monkeypatch):
    from nerve.backend.numpy_backend.native import threads

    monkeypatch.setattr(reduction, "SPLIT_REDUCE", 0)
    monkeypatch.setattr(threads, "_held", [2])
    monkeypatch.setattr(threads, "run_split", lambda parts, workers: pytest.fail("split"))
    kernels = reduction.kernels(np)
    x = np.arange(6 * 40, dtype="float32").reshape(6, 40)
    np.testing.assert_array_equal(kernels["reduce_max"](x, (0,), False), x.max(axis=0))
    np.testing.assert_array_equal(kernels["reduce_max"](x.astype("int64"), (1,), False), x.max(1))
