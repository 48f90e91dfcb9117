"""The C loop of ``softmax_rows`` (``native/softmax.py``) agrees with the NumPy kernel
it replaces in every form and dtype it takes, gives the same bits when its rows are
split across threads, and declines what it does not take. Its rewrite of graphs is
checked in tests/graph/test_softmax.py, its gradient in tests/ops/test_nn.py."""

import numpy as np
import pytest

from nerve.backend import numpy_backend
from nerve.backend.numpy_backend.native import softmax
from nerve.backend.numpy_backend.native import threads as threads_module


@pytest.fixture
def loop():
    function = softmax.softmax_rows_function()
    if function is None:
        pytest.skip("no C compiler: only the NumPy kernel runs here")
    return function


@pytest.fixture
def numpy_kernel(monkeypatch):
    """The backend's softmax_rows kernel with native loops off."""
    monkeypatch.setenv("NERVE_NATIVE", "0")
    softmax._functions.cache_clear()
    softmax.softmax_rows_function.cache_clear()
    yield numpy_backend.nn.kernels(np)["softmax_rows"]
    monkeypatch.undo()
    softmax._functions.cache_clear()
    softmax.softmax_rows_function.cache_clear()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("log", [False, True])
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("shape", [(1, 3), (5, 9), (3, 128), (2, 2, 1000)])
def test_c_and_numpy_kernels_agree(loop, request, dtype, log, bias, shape):
    rng = np.random.default_rng(shape[-1])
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    b = rng.standard_normal(shape[-1]).astype(dtype) if bias else None
    native = loop(x, b, log)
    assert native is not None and native.dtype == x.dtype and native.shape == x.shape
    kernel = request.getfixturevalue("numpy_kernel")
    assert softmax.softmax_rows_function() is None
    expected = kernel(x, *((b,) if bias else ()), log=log)
    tolerance = {"float32": 2e-6, "float64": 1e-14}[dtype]
    np.testing.assert_allclose(native, expected, rtol=tolerance, atol=tolerance)


def test_a_strided_input_is_read_as_its_values(loop):
    x = np.random.default_rng(1).standard_normal((6, 40)).astype("float32")
    np.testing.assert_array_equal(loop(x[:, ::2], None, False), loop(x[:, ::2].copy(), None, False))


@pytest.mark.parametrize("threads", [2, 3])
@pytest.mark.parametrize("log", [False, True])
def test_rows_split_across_threads_give_the_same_bits(loop, monkeypatch, threads, log):
    rng = np.random.default_rng(threads)
    x = rng.standard_normal((7, 300)).astype("float32")
    b = rng.standard_normal(300).astype("float32")
    whole = loop(x, b, log)
    monkeypatch.setattr(softmax, "MIN_SPLIT", 0)
    monkeypatch.setattr(threads_module, "blas_threads", lambda: threads)
    np.testing.assert_array_equal(loop(x, b, log), whole)


def test_other_dtypes_and_bias_sizes_are_declined(loop):
    assert loop(np.ones((2, 4), "float16"), None, False) is None
    assert loop(np.ones((2, 4), "float32"), np.ones(4, "float64"), False) is None
    assert loop(np.ones((2, 4), "float32"), np.ones(1, "float32"), False) is None
    assert softmax.available("float32") and not softmax.available("float16")


@pytest.fixture
def gradient_loop():
    function = softmax.softmax_rows_grad_function()
    if function is None:
        pytest.skip("no C compiler: only the NumPy kernel runs here")
    return function


@pytest.fixture
def numpy_kernels(monkeypatch):
    """The backend's softmax kernels with native loops off."""
    monkeypatch.setenv("NERVE_NATIVE", "0")
    softmax._functions.cache_clear()
    softmax.softmax_rows_function.cache_clear()
    softmax.softmax_rows_grad_function.cache_clear()
    yield numpy_backend.nn.kernels(np)
    monkeypatch.undo()
    softmax._functions.cache_clear()
    softmax.softmax_rows_function.cache_clear()
    softmax.softmax_rows_grad_function.cache_clear()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(4, 3), (5, 9), (3, 128), (2, 2, 1000)])
def test_scale_and_gradient_give_the_numpy_kernels_bits(loop, gradient_loop, request, dtype, shape):
    """The scale is applied first, as the multiply it replaces; the gradient's sum runs
    in NumPy's pairwise order (rows below 8, of 8 to 128, and halved above 128)."""
    rng = np.random.default_rng(shape[-1] + 1)
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    scale = float(np.asarray(0.17677669, dtype))
    y = loop(x, None, False, scale)
    np.testing.assert_array_equal(y, loop(x * np.asarray(scale, dtype), None, False))
    native = {s: gradient_loop(g, y, s) for s in (None, scale)}
    kernels = request.getfixturevalue("numpy_kernels")
    assert softmax.softmax_rows_grad_function() is None
    for s, got in native.items():
        assert got.dtype == g.dtype and got.shape == g.shape
        np.testing.assert_array_equal(got, kernels["softmax_rows_grad"](g, y, scale=s))


def test_a_zero_gradient_sum_is_positive_zero_as_numpys(gradient_loop):
    # NumPy's sum starts at +0, so a sum of -0 products is +0 and g - sum keeps g's sign.
    g = np.full((2, 16), -0.0, "float32")
    y = np.ones((2, 16), "float32")
    np.testing.assert_array_equal(np.signbit(gradient_loop(g, y, None)), np.signbit(y * (g - 0.0)))


@pytest.mark.parametrize("threads", [2, 3])
def test_gradient_rows_split_across_threads_give_the_same_bits(gradient_loop, monkeypatch, threads):
    rng = np.random.default_rng(threads)
    g, y = (rng.standard_normal((7, 300)).astype("float32") for _ in "gy")
    whole = gradient_loop(g, y, 0.5)
    monkeypatch.setattr(softmax, "MIN_SPLIT", 0)
    monkeypatch.setattr(threads_module, "blas_threads", lambda: threads)
    np.testing.assert_array_equal(gradient_loop(g, y, 0.5), whole)


def test_the_gradient_declines_what_it_does_not_take(gradient_loop):
    assert gradient_loop(np.ones((2, 4), "float16"), np.ones((2, 4), "float16"), None) is None
    assert gradient_loop(np.ones((2, 4), "float32"), np.ones((2, 4), "float64"), None) is None
    assert gradient_loop(np.ones((2, 4), "float32"), np.ones((4, 2), "float32"), None) is None


# -- sparse softmax cross-entropy ------------------------------------------------------


@pytest.fixture
def xent_loops():
    loss, grad = softmax.sparse_xent_function(), softmax.sparse_xent_grad_function()
    if loss is None or grad is None:
        pytest.skip("no C compiler: only the NumPy kernels run here")
    return loss, grad


@pytest.fixture
def numpy_xent_kernels(monkeypatch):
    """The backend's cross-entropy kernels and their gradient with native loops off."""
    cached = (
        softmax._functions,
        softmax.sparse_xent_function,
        softmax.sparse_xent_grad_function,
        softmax.xent_function,
        softmax.xent_grad_function,
    )
    monkeypatch.setenv("NERVE_NATIVE", "0")
    for function in cached:
        function.cache_clear()
    kernels = numpy_backend.nn.kernels(np)
    names = ("sparse_softmax_cross_entropy", "softmax_cross_entropy")
    yield {name: (kernels[name], kernels[f"{name}_grad"]) for name in names}
    monkeypatch.undo()
    for function in cached:
        function.cache_clear()


def _xent_case(shape, dtype, label_dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * 4).astype(dtype)
    labels = rng.integers(0, shape[-1], shape[:-1]).astype(label_dtype)
    g = rng.standard_normal(shape[:-1]).astype(dtype)
    return x, labels, g


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("label_dtype", ["int32", "int64", "uint8"])
@pytest.mark.parametrize("shape", [(1, 3), (5, 10), (3, 128), (2, 2, 1000)])
def test_cross_entropy_c_and_numpy_kernels_agree(xent_loops, request, dtype, label_dtype, shape):
    x, labels, g = _xent_case(shape, dtype, label_dtype)
    loss, grad = (loop(*args) for loop, args in zip(xent_loops, [(x, labels), (x, labels, g)]))
    assert loss.shape == shape[:-1] and grad.shape == shape
    assert loss.dtype == grad.dtype == x.dtype
    numpy_loss, numpy_grad = request.getfixturevalue("numpy_xent_kernels")[
        "sparse_softmax_cross_entropy"
    ]
    assert softmax.sparse_xent_function() is None
    tolerance = {"float32": 2e-6, "float64": 1e-14}[dtype]
    np.testing.assert_allclose(loss, numpy_loss(x, labels), rtol=tolerance, atol=tolerance)
    np.testing.assert_allclose(grad, numpy_grad(x, labels, g), rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize("native", [True, False])
def test_a_label_outside_the_classes_makes_its_row_nan(request, native):
    if native:
        request.getfixturevalue("xent_loops")
        kernels = numpy_backend.nn.kernels(np)
        loss_kernel = kernels["sparse_softmax_cross_entropy"]
        grad_kernel = kernels["sparse_softmax_cross_entropy_grad"]
    else:
        kernels = request.getfixturevalue("numpy_xent_kernels")
        loss_kernel, grad_kernel = kernels["sparse_softmax_cross_entropy"]
    x, labels, g = _xent_case((4, 5), "float32", "int32")
    labels[1], labels[3] = -1, 5
    loss, grad = loss_kernel(x, labels), grad_kernel(x, labels, g)
    assert np.isnan(loss[[1, 3]]).all() and np.isfinite(loss[[0, 2]]).all()
    assert np.isnan(grad[[1, 3]]).all() and np.isfinite(grad[[0, 2]]).all()


def test_cross_entropy_loops_decline_other_dtypes(xent_loops):
    loss, grad = xent_loops
    x, labels, g = _xent_case((2, 4), "float16", "int32")
    assert loss(x, labels) is None and grad(x, labels, g) is None
    assert grad(x.astype("float32"), labels, g) is None  # g of another dtype
    kernel = numpy_backend.nn.kernels(np)["sparse_softmax_cross_entropy"]
    assert kernel(x, labels).dtype == np.float16  # the NumPy steps run instead


@pytest.fixture
def dense_xent_loops():
    loss, grad = softmax.xent_function(), softmax.xent_grad_function()
    if loss is None or grad is None:
        pytest.skip("no C compiler: only the NumPy kernels run here")
    return loss, grad


def _dense_xent_case(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * 4).astype(dtype)
    targets = rng.uniform(0, 1, shape).astype(dtype)
    targets[..., 0] = 0.0  # zero targets too, as one-hot labels have
    return x, targets, rng.standard_normal(shape[:-1]).astype(dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(1, 3), (5, 10), (3, 128), (2, 2, 1000)])
def test_dense_cross_entropy_c_and_numpy_kernels_agree(dense_xent_loops, request, dtype, shape):
    x, targets, g = _dense_xent_case(shape, dtype)
    loss, grad = dense_xent_loops[0](x, targets), dense_xent_loops[1](x, targets, g)
    assert loss.shape == shape[:-1] and grad.shape == shape
    numpy_loss, numpy_grad = request.getfixturevalue("numpy_xent_kernels")["softmax_cross_entropy"]
    assert softmax.xent_function() is None
    tolerance = {"float32": 2e-6, "float64": 1e-14}[dtype]
    np.testing.assert_allclose(loss, numpy_loss(x, targets), rtol=tolerance, atol=tolerance)
    np.testing.assert_allclose(grad, numpy_grad(x, targets, g), rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize("threads", [2, 3])
@pytest.mark.parametrize("form", ["sparse", "dense"])
def test_cross_entropy_rows_split_across_threads_give_the_same_bits(
    request, monkeypatch, form, threads
):
    if form == "sparse":
        loops = request.getfixturevalue("xent_loops")
        x, labels, g = _xent_case((9, 300), "float32", "int32", seed=threads)
    else:
        loops = request.getfixturevalue("dense_xent_loops")
        x, labels, g = _dense_xent_case((9, 300), "float32", seed=threads)
    loss, grad = loops
    whole = loss(x, labels), grad(x, labels, g)
    monkeypatch.setattr(softmax, "MIN_SPLIT", 0)
    monkeypatch.setattr(threads_module, "blas_threads", lambda: threads)
    np.testing.assert_array_equal(loss(x, labels), whole[0])
    np.testing.assert_array_equal(grad(x, labels, g), whole[1])


def test_dense_cross_entropy_loops_decline_what_they_do_not_take(dense_xent_loops):
    loss, grad = dense_xent_loops
    x, targets, g = _dense_xent_case((2, 4), "float16")
    assert loss(x, targets) is None and grad(x, targets, g) is None
    assert loss(x.astype("float32"), targets) is None  # targets of another dtype
    assert grad(x.astype("float32"), targets.astype("float32"), g) is None
