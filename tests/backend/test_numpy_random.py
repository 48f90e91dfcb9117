"""The NumPy backend's uniform draws: the [0, 1) fast path returns exactly what the
general path (scale, shift, cast, keep below maxval) computes from the same draw."""

import numpy as np
import pytest

from nerve.backend.numpy_backend.random import kernels, philox_generator

UNIFORM = kernels(np)["random_uniform"]


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
@pytest.mark.parametrize(("minval", "maxval"), [(0.0, 1.0), (0, 1), (-2.0, 3.0)])
def test_uniform_draws_are_the_scaled_philox_draw(dtype, minval, maxval):
    seed = np.array([7, 3], np.int64)
    work = np.float64 if dtype == "float64" else np.float32
    u = philox_generator(seed).random((64, 33), dtype=work)
    expected = (u * work(maxval - minval) + work(minval)).astype(dtype)
    top = np.asarray(maxval, dtype=dtype)
    expected = np.where(expected >= top, np.nextafter(top, np.asarray(minval, dtype)), expected)
    out = UNIFORM(seed, shape=(64, 33), dtype=dtype, minval=minval, maxval=maxval)
    assert out.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(out, expected)
    assert out.min() >= minval and out.max() < maxval
