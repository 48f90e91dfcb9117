"""The C loops of ``layer_norm_rows`` and ``layer_norm_grad_rows``
(``native/layer_norm.py``) give the bits of the NumPy kernels' steps in both dtypes and
every row-length regime of the pairwise sum, split across threads or not, and decline
what they do not take. Their rewrites of graphs are checked in
tests/graph/test_layer_norm.py."""

import numpy as np
import pytest

from nerve.backend import numpy_backend
from nerve.backend.numpy_backend.native import layer_norm, split_loops
from nerve.backend.numpy_backend.native import threads as threads_module


@pytest.fixture
def loop():
    function = layer_norm.layer_norm_grad_rows_function()
    if function is None:
        pytest.skip("no C compiler: only the NumPy kernel runs here")
    return function


@pytest.fixture
def numpy_kernel(monkeypatch):
    """The backend's layer_norm_grad_rows kernel with native loops off."""
    monkeypatch.setenv("NERVE_NATIVE", "0")
    _clear()
    yield numpy_backend.nn.kernels(np)["layer_norm_grad_rows"]
    monkeypatch.undo()
    _clear()


@pytest.fixture
def numpy_statistics(monkeypatch):
    """The backend's layer_norm_rows kernel with native loops off."""
    monkeypatch.setenv("NERVE_NATIVE", "0")
    _clear()
    yield numpy_backend.nn.kernels(np)["layer_norm_rows"]
    monkeypatch.undo()
    _clear()


def _clear():
    layer_norm._functions.cache_clear()
    layer_norm.layer_norm_grad_rows_function.cache_clear()
    layer_norm.layer_norm_rows_function.cache_clear()


def _operands(shape, dtype, seed):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(shape).astype(dtype)
    x = (rng.standard_normal(shape) * 2 + 1).astype(dtype)
    c = x - x.mean(-1, keepdims=True)
    v = (c * c).mean(-1, keepdims=True) + np.asarray(1e-5, dtype)
    return a, c, (1 / np.sqrt(v)).astype(dtype), v


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(5, 3), (4, 9), (2, 3, 128), (3, 1000)])
def test_c_and_numpy_kernels_give_the_same_bits(loop, request, dtype, shape):
    operands = _operands(shape, dtype, shape[-1])
    native = loop(*operands, float(shape[-1]))
    assert native.dtype == np.dtype(dtype) and native.shape == shape
    kernel = request.getfixturevalue("numpy_kernel")
    assert layer_norm.layer_norm_grad_rows_function() is None
    np.testing.assert_array_equal(native, kernel(*operands, count=float(shape[-1])))


def _count_from_c(monkeypatch) -> list:
    """Calls split from C (two held cores: ``split_loops.run_parts``), appended to."""
    calls: list = []
    run_parts = split_loops.run_parts
    monkeypatch.setattr(split_loops, "run_parts", lambda *args: calls.append(1) or run_parts(*args))
    return calls


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("threads", [2, 3])
def test_rows_split_across_threads_give_the_same_bits(loop, monkeypatch, threads, dtype):
    operands = _operands((7, 130), dtype, threads)
    whole = loop(*operands, 130.0)
    monkeypatch.setattr(layer_norm, "MIN_SPLIT", 0)
    monkeypatch.setattr(threads_module, "_held", [threads])
    from_c = _count_from_c(monkeypatch)
    np.testing.assert_array_equal(loop(*operands, 130.0), whole)
    assert from_c == ([1] if threads == 2 else [])


def test_other_dtypes_are_declined(loop):
    half = [x.astype("float16") for x in _operands((2, 4), "float32", 0)]
    assert loop(*half, 4.0) is None
    mixed = _operands((2, 4), "float32", 0)
    assert loop(mixed[0].astype("float64"), *mixed[1:], 4.0) is None
    assert layer_norm.available("float32") and not layer_norm.available("float16")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(5, 3), (4, 9), (2, 3, 128), (3, 1000)])
def test_statistics_give_the_numpy_kernels_bits(request, dtype, shape):
    rows = layer_norm.layer_norm_rows_function()
    if rows is None:
        pytest.skip("no C compiler: only the NumPy kernel runs here")
    x = (np.random.default_rng(shape[-1]).standard_normal(shape) * 3 + 2).astype(dtype)
    epsilon = float(np.asarray(1e-5, dtype))
    native = rows(x, float(shape[-1]), epsilon)
    kernel = request.getfixturevalue("numpy_statistics")
    assert layer_norm.layer_norm_rows_function() is None
    expected = kernel(x, count=float(shape[-1]), epsilon=epsilon)
    for got, want in zip(native, expected):
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_statistics_split_across_threads_give_the_same_bits(monkeypatch, dtype):
    rows = layer_norm.layer_norm_rows_function()
    if rows is None:
        pytest.skip("no C compiler: only the NumPy kernel runs here")
    x = np.random.default_rng(9).standard_normal((7, 130)).astype(dtype)
    whole = rows(x, 130.0, 1e-5)
    monkeypatch.setattr(layer_norm, "MIN_SPLIT", 0)
    monkeypatch.setattr(threads_module, "_held", [2])
    from_c = _count_from_c(monkeypatch)
    for got, want in zip(rows(x, 130.0, 1e-5), whole):
        np.testing.assert_array_equal(got, want)
    assert from_c == [1]
