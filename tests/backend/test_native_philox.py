"""Uniform draws in C (``native/philox.py``) are NumPy's ``Philox`` stream bit for bit:
every key word, lengths around the 8-number (float32) and 4-number (float64) blocks,
and draws shared out among held cores."""

import numpy as np
import pytest

from nerve.backend.numpy_backend import random as random_kernels
from nerve.backend.numpy_backend.native import philox
from nerve.backend.numpy_backend.native import threads as threads_module

KEYS = [0, 7, (5 << 64) | 7, (1 << 128) - 1, 0x0123456789ABCDEF << 40]
SHAPES = [(0,), (1,), (3,), (7,), (8,), (9,), (17,), (5, 3, 3), (128, 160)]


@pytest.fixture
def uniform():
    found = philox.uniform_function()
    if found is None:
        pytest.skip("native kernels are off: NumPy's generator draws")
    return found


def _numpy(key, shape, dtype):
    return np.random.Generator(np.random.Philox(key=key)).random(shape, dtype=dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("key", KEYS)
def test_draws_are_numpys_philox_stream(uniform, key, shape, dtype):
    got = uniform(key, shape, dtype)
    assert got.dtype == np.dtype(dtype) and got.shape == shape
    np.testing.assert_array_equal(got, _numpy(key, shape, dtype))


@pytest.mark.parametrize("held", [2, 3])
@pytest.mark.parametrize("count", [philox.SPLIT_FROM, philox.SPLIT_FROM + 5, 100_003])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_draws_shared_among_held_cores_are_the_same_stream(uniform, monkeypatch, held, count,
                                                           dtype):  # fmt: skip
    monkeypatch.setattr(threads_module, "_held", [held])
    np.testing.assert_array_equal(uniform(11, (count,), dtype), _numpy(11, (count,), dtype))


def test_the_uniform_kernel_draws_what_the_generator_draws():
    kernel = random_kernels.kernels(np)["random_uniform"]
    seed = np.array([3, -4], dtype=np.int64)
    for dtype in ("float32", "float64"):
        got = kernel(seed, (40, 7), dtype, 0.0, 1.0)
        want = random_kernels.philox_generator(seed).random((40, 7), dtype=dtype)
        np.testing.assert_array_equal(got, want)


def test_the_portable_multiply_gives_the_same_stream(uniform):
    # Compilers without a 128-bit integer type take the 32-bit-halves product.
    import ctypes

    from nerve.backend.numpy_backend.native import toolchain

    library = toolchain.load(philox.SOURCE.replace("#if defined(__SIZEOF_INT128__)", "#if 0"))
    assert library is not None
    loop = library.philox_uniform_float64
    loop.argtypes = [ctypes.c_uint64] * 2 + [ctypes.c_void_p] + [ctypes.c_int64] * 2
    for key in KEYS:
        got = np.empty(203)
        loop(key & (2**64 - 1), key >> 64, got.ctypes.data, 0, got.size)
        np.testing.assert_array_equal(got, _numpy(key, got.shape, "float64"))
