"""The C window kernels (``patches_transpose``, ``max_pool``, ``window_scatter``) agree
with the NumPy kernels they replace: bitwise where both add in the same order, to
rounding where they don't; and both make the same choices on ties, NaN and padding."""

import itertools

import numpy as np
import pytest

from nerve.backend.numpy_backend import nn as numpy_nn
from nerve.backend.numpy_backend.native import windows as native_windows

KERNELS = numpy_nn.kernels(np)

# (shape, window, strides, dilation, padding): 1-3-D, overlapping or not, padded or not.
GEOMETRIES = [
    ((2, 9, 3), (3,), (2,), (1,), ((1, 1),)),
    ((3, 8, 7, 5), (2, 2), (2, 2), (1, 1), ((0, 0), (0, 0))),
    ((2, 7, 6, 4), (3, 2), (1, 2), (1, 1), ((1, 1), (0, 1))),
    ((1, 9, 8, 2), (3, 3), (2, 1), (2, 1), ((2, 1), (1, 1))),
    ((2, 4, 5, 3, 2), (2, 3, 2), (1, 2, 1), (1, 1, 2), ((1, 0), (1, 1), (0, 1))),
    ((2, 8, 6, 9), (2, 2), (2, 2), (1, 1), ((0, 0), (0, 0))),  # windows tile the image
    ((1, 7, 7, 19), (3, 3), (2, 1), (1, 1), ((0, 0), (0, 0))),  # vector lanes and a tail
]


@pytest.fixture
def numpy_kernels(monkeypatch):
    """Native kernels off for the duration of a test."""
    monkeypatch.setenv("NERVE_NATIVE", "0")
    native_windows._functions.cache_clear()
    yield
    monkeypatch.undo()
    native_windows._functions.cache_clear()


def _both(request, run):
    """``run()`` with the C kernels, then with the NumPy ones."""
    if native_windows.window_functions() is None:
        pytest.skip("no C compiler: only the NumPy kernels run here")
    native = run()
    request.getfixturevalue("numpy_kernels")
    assert native_windows.window_functions() is None
    return native, run()


def _pool_geometry(geometry):
    shape, window, strides, _, padding = geometry
    return shape, window, strides, padding


@pytest.mark.parametrize("pad_value", [0.0, -np.inf])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_extract_patches_c_copy_and_numpy_view_hold_the_same_values(
    request, geometry, dtype, pad_value
):
    shape, window, strides, dilation, padding = geometry
    x = np.random.default_rng(0).standard_normal(shape).astype(dtype)

    def run():
        return KERNELS["extract_patches"](x, window, strides, dilation, padding, pad_value)

    native, numpy = _both(request, run)
    np.testing.assert_array_equal(native, numpy)
    assert native.dtype == numpy.dtype
    # Few channels: a new C-contiguous array; otherwise a view (of x, when unpadded).
    copied = shape[-1] <= numpy_nn.COPY_CHANNELS
    padded = any(lo or hi for lo, hi in padding)
    assert native.flags.c_contiguous or not copied
    assert np.shares_memory(native, x) == (not copied and not padded)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_patches_transpose_c_and_numpy_give_the_same_bits(request, geometry, dtype):
    shape, window, strides, dilation, padding = geometry
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(dtype)
    patches = KERNELS["extract_patches"](x, window, strides, dilation, padding, 0.0)
    p = rng.standard_normal(patches.shape).astype(dtype)
    spatial = shape[1:-1]
    geometry = (window, strides, dilation, padding)
    native, numpy = _both(request, lambda: KERNELS["patches_transpose"](p, spatial, *geometry))
    assert native.dtype == numpy.dtype == dtype and native.shape == shape
    np.testing.assert_array_equal(native, numpy)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_max_pool_and_window_scatter_c_and_numpy_agree(request, geometry, dtype):
    shape, window, strides, padding = _pool_geometry(geometry)
    rng = np.random.default_rng(1)
    # Few distinct values: many ties inside windows, which both must break alike.
    x = rng.integers(-3, 3, shape).astype(dtype)

    def run():
        values, where = KERNELS["max_pool"](x, window, strides, padding)
        g = np.linspace(-1, 1, values.size).reshape(values.shape).astype(dtype)
        back = KERNELS["window_scatter"](g, where, shape[1:-1], window, strides, padding)
        return values, where, back

    (values, where, back), (values_np, where_np, back_np) = _both(request, run)
    assert where.dtype == where_np.dtype == np.int32
    np.testing.assert_array_equal(values, values_np)
    np.testing.assert_array_equal(where, where_np)
    # Overlapping windows may add one element's shares in another order.
    np.testing.assert_allclose(back, back_np, rtol=1e-6, atol=1e-6)
    if strides == window:
        np.testing.assert_array_equal(back, back_np)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(2, 8, 6, 9), (1, 7, 6, 9)])  # tiled; a row left over
def test_window_scatter_gives_the_same_bits_for_negative_zeros(request, dtype, shape):
    rng = np.random.default_rng(2)
    x = rng.standard_normal(shape).astype(dtype)
    values, where = KERNELS["max_pool"](x, (2, 2), (2, 2), ((0, 0), (0, 0)))
    g = np.where(rng.random(values.shape) < 0.5, -0.0, values).astype(dtype)

    def run():
        return KERNELS["window_scatter"](g, where, shape[1:-1], (2, 2), (2, 2), ((0, 0),) * 2)

    native, numpy = _both(request, run)
    np.testing.assert_array_equal(native, numpy)
    np.testing.assert_array_equal(np.signbit(native), np.signbit(numpy))


def _reference_max_pool(x, window, strides, padding):
    """Loops: the first maximal real position of each window (row-major)."""
    rank = len(window)
    spatial = x.shape[1:-1]
    out = [
        (s + lo + hi - k) // st + 1 for s, k, st, (lo, hi) in zip(spatial, window, strides, padding)
    ]
    values = np.empty((x.shape[0], *out, x.shape[-1]), x.dtype)
    where = np.empty(values.shape, np.int32)
    for n, c, *o in itertools.product(range(x.shape[0]), range(x.shape[-1]), *map(range, out)):
        best, best_k = None, -1
        for k, offset in enumerate(itertools.product(*map(range, window))):
            at = [i * st + d - lo for i, st, d, (lo, _) in zip(o, strides, offset, padding)]
            if not all(0 <= a < s for a, s in zip(at, spatial)):
                continue  # padding never wins
            v = x[(n, *at, c)]
            if best is None or v > best or (np.isnan(v) and not np.isnan(best)):
                best, best_k = v, k
        values[(n, *o, c)], where[(n, *o, c)] = best, best_k
    assert rank == len(out)
    return values, where


@pytest.mark.parametrize("native", [True, False])
def test_ties_nan_and_padding_are_decided_as_documented(request, native):
    if not native:
        request.getfixturevalue("numpy_kernels")
    elif native_windows.window_functions() is None:
        pytest.skip("no C compiler")
    x = np.array(
        [[2.0, 2.0, -np.inf, 1.0], [np.nan, 5.0, np.nan, -np.inf], [-np.inf, -np.inf, 3.0, 3.0]]
    ).reshape(1, 3, 4, 1)
    window, strides, padding = (2, 3), (1, 2), ((1, 0), (1, 1))
    values, where = KERNELS["max_pool"](x, window, strides, padding)
    expected_values, expected_where = _reference_max_pool(x, window, strides, padding)
    np.testing.assert_array_equal(values, expected_values)
    np.testing.assert_array_equal(where, expected_where)
    # The all -inf window at the top left picks its first real position, not padding.
    assert where[0, 0, 0, 0] == 4 and values[0, 0, 0, 0] == 2.0


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_unpadded_windows_decide_ties_and_nan_as_documented(request, dtype):
    # Without padding the C loop takes a path of its own (fixed offsets per window).
    if native_windows.window_functions() is None:
        pytest.skip("no C compiler")
    rng = np.random.default_rng(3)
    x = rng.integers(-2, 2, (2, 5, 6, 19)).astype(dtype)
    x[rng.random(x.shape) < 0.15] = np.nan
    window, strides, padding = (2, 3), (1, 2), ((0, 0), (0, 0))
    values, where = KERNELS["max_pool"](x, window, strides, padding)
    expected_values, expected_where = _reference_max_pool(x, window, strides, padding)
    np.testing.assert_array_equal(values, expected_values)
    np.testing.assert_array_equal(where, expected_where)


@pytest.mark.parametrize("native", [True, False])
def test_window_scatter_drops_positions_outside_the_image(request, native):
    if not native:
        request.getfixturevalue("numpy_kernels")
    elif native_windows.window_functions() is None:
        pytest.skip("no C compiler")
    g = np.ones((1, 2, 1), np.float32)
    # Window 0 covers the padding and position 0; window 1 covers 1 and 2. Position 0 of
    # window 0 is padding, and 7 is no position of a 2-wide window: both add nothing.
    for where, expected in (([0, 1], [0, 0, 1]), ([1, 0], [1, 1, 0]), ([7, -1], [0, 0, 0])):
        index = np.array(where, np.int32).reshape(1, 2, 1)
        back = KERNELS["window_scatter"](g, index, (3,), (2,), (2,), ((1, 0),))
        np.testing.assert_array_equal(back.ravel(), expected)


def test_other_dtypes_and_strided_arrays_take_the_fallback_or_a_copy():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 6, 5, 8)).astype("float64")
    strided = x[..., ::2]
    geometry = ((2, 2), (2, 1), ((0, 0), (0, 1)))
    values, where = KERNELS["max_pool"](strided, *geometry)
    expected = KERNELS["max_pool"](np.ascontiguousarray(strided), *geometry)
    np.testing.assert_array_equal(values, expected[0])
    np.testing.assert_array_equal(where, expected[1])
    half_values, half_where = KERNELS["max_pool"](strided.astype("float16"), *geometry)
    assert half_values.dtype == np.float16
    np.testing.assert_array_equal(half_where, where)


def test_mismatched_geometry_is_refused_before_the_c_loop_runs():
    if native_windows.window_functions() is None:
        pytest.skip("no C compiler")
    p = np.zeros((1, 3, 2, 1), np.float32)  # patches of a 2-wide window over 4 positions
    with pytest.raises(ValueError, match="patches_transpose"):
        KERNELS["patches_transpose"](p, (9,), (2,), (1,), (1,), ((0, 0),))
    g = np.zeros((1, 3, 1), np.float32)
    with pytest.raises(ValueError, match="window_scatter"):
        KERNELS["window_scatter"](g, np.zeros((1, 4, 1), np.int32), (4,), (2,), (1,), ((0, 0),))


@pytest.mark.parametrize("parts", [2, 3])
@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_calls_shared_out_by_images_give_the_same_bits(geometry, parts, monkeypatch):
    # Inside a compiled run holding several cores (``threads.hold``) each kernel runs
    # in parts of a few images; the batch here is made odd-sized and larger.
    from nerve.backend.numpy_backend.native import threads

    functions = native_windows.window_functions()
    if functions is None:
        pytest.skip("no C compiler: only the NumPy kernels run here")
    shape, window, strides, dilation, padding = geometry
    rng = np.random.default_rng(4)
    x = rng.integers(-3, 3, (7, *shape[1:])).astype("float32")
    spatial = shape[1:-1]

    def run():
        patches = functions.extract_patches(x, window, strides, dilation, padding, 0.5)
        back = functions.patches_transpose(patches, spatial, window, strides, dilation, padding)
        values, where = functions.max_pool(x, window, strides, padding)
        scattered = functions.window_scatter(values, where, spatial, window, strides, padding)
        return patches, back, values, where, scattered

    whole = run()
    monkeypatch.setattr(native_windows, "SPLIT_ELEMENTS", 0)
    monkeypatch.setattr(threads, "_held", [parts])
    calls = []
    run_split = threads.run_split
    monkeypatch.setattr(threads, "run_split", lambda p, w: (calls.append(w), run_split(p, w)))
    split = run()
    assert calls == [parts] * 4
    for a, b in zip(split, whole):
        np.testing.assert_array_equal(a, b)
