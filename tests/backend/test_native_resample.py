"""The C ``resample`` kernels agree with the NumPy ones they replace, forward and
backward, for every float dtype and layout they take (and the NumPy ones run where
the C ones can't: other dtypes, strided arrays, native kernels off)."""

import numpy as np
import pytest

import nerve
from nerve import ops
from nerve.backend.numpy_backend.native import resample as native_resample
from nerve.core.errors import NerveError


def _resize_and_gradient(x, size, interpolation):
    x = ops.convert_to_tensor(x)
    with nerve.GradientTape() as tape:
        tape.watch(x)
        y = ops.image.resize(x, size, interpolation=interpolation)
        loss = ops.sum(y * ops.cos(y))
    return y.numpy(), tape.gradient(loss, x).numpy()


@pytest.fixture
def numpy_kernels(monkeypatch):
    """Native kernels off for the duration of a test."""
    monkeypatch.setenv("NERVE_NATIVE", "0")
    native_resample._functions.cache_clear()
    yield
    monkeypatch.undo()
    native_resample._functions.cache_clear()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    "shape, size, interpolation",
    [((2, 9, 7, 3), (4, 12), "bilinear"), ((1, 5, 6, 2), (11, 3), "lanczos3"),
     ((3, 8, 2), (3, 5), "area"), ((2, 6, 5, 1), (3, 5), "bicubic"),
     ((1, 7, 4, 4), (3, 9), "bilinear"), ((1, 4, 5, 6), (9, 2), "bilinear")],
)  # fmt: skip
def test_c_and_numpy_resample_agree(request, dtype, shape, size, interpolation):
    if native_resample.resample_functions() is None:
        pytest.skip("no C compiler: only the NumPy kernels run here")
    x = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    native = _resize_and_gradient(x, size, interpolation)
    request.getfixturevalue("numpy_kernels")
    assert native_resample.resample_functions() is None
    numpy = _resize_and_gradient(x, size, interpolation)
    tolerance = 1e-6 if dtype == "float32" else 1e-13
    for a, b in zip(native, numpy):
        np.testing.assert_allclose(a, b, rtol=tolerance, atol=tolerance)


def test_strided_and_half_precision_inputs_take_the_numpy_kernels():
    x = np.random.default_rng(1).standard_normal((1, 6, 10, 2))
    strided = ops.convert_to_tensor(x)[:, :, ::2]
    expected = ops.image.resize(np.ascontiguousarray(x[:, :, ::2]), (4, 7))
    np.testing.assert_allclose(ops.image.resize(strided, (4, 7)).numpy(), expected.numpy())
    half = ops.image.resize(x.astype("float16"), (4, 7))
    assert half.dtype == "float16"
    np.testing.assert_allclose(
        half.numpy(), ops.image.resize(x, (4, 7)).numpy(), rtol=1e-2, atol=1e-2
    )


@pytest.mark.parametrize("native", [True, False])
@pytest.mark.parametrize("bad", [-1, 4])
def test_indices_outside_the_axis_are_refused(request, bad, native):
    if not native:
        request.getfixturevalue("numpy_kernels")
    from nerve.primitives.nn import resample2_p, resample_p, resample_transpose_p

    x = ops.ones((2, 4, 3))
    indices = ops.convert_to_tensor(np.array([[0, bad]], dtype="int32"))
    weights = ops.ones((1, 2))
    with pytest.raises(NerveError, match=r"resample: indices must lie in \[0, 4\)"):
        resample_p.bind(x, indices, weights, axis=1)
    with pytest.raises(NerveError, match=r"resample_transpose: indices must lie in \[0, 4\)"):
        resample_transpose_p.bind(ops.ones((2, 1, 3)), indices, weights, axis=1, size=4)
    good = ops.convert_to_tensor(np.array([[0, 1]], dtype="int32"))
    with pytest.raises(NerveError, match=r"resample2: indices must lie in \[0, 4\)"):
        resample2_p.bind(ops.ones((2, 4, 4)), good, weights, indices, weights, axis=1)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("channels", [1, 3, 7])
def test_two_axes_in_one_pass_equal_two_one_axis_passes(dtype, channels):
    # The fused loop does the same arithmetic in the same order: equal to the bit.
    from nerve.ops.image.resampling import resize_taps

    functions = native_resample.resample_functions()
    if functions is None:
        pytest.skip("no C compiler: only the NumPy kernels run here")
    x = np.random.default_rng(2).standard_normal((2, 9, 6, channels)).astype(dtype)
    rows, columns = resize_taps(9, 4, "bicubic"), resize_taps(6, 11, "lanczos3")
    tables = [(i, w.astype(dtype)) for i, w in (rows, columns)]
    one_by_one = functions.resample(functions.resample(x, *tables[0], 1), *tables[1], 2)
    np.testing.assert_array_equal(functions.resample2(x, *tables[0], *tables[1], 1), one_by_one)
