"""``fuse_layer_norm_statistics`` and ``fuse_layer_norm_gradients``: a layer
normalization's statistics and input gradient over the last axis run as one
``layer_norm_rows`` and one ``layer_norm_grad_rows`` node where the backend has the
loops, with the unfused graph's bits; graphs whose steps differ are left alone."""

import contextlib

import numpy as np
import pytest

import nerve
from nerve import layers, ops
from nerve.backend.numpy_backend import NumpyBackend
from nerve.backend.numpy_backend.native import layer_norm as native_layer_norm
from nerve.graph.passes import fuse_layer_norm_gradients, fuse_layer_norm_statistics

pytestmark = pytest.mark.skipif(
    native_layer_norm.layer_norm_grad_rows_function() is None,
    reason="no C compiler: the pass never fires",
)


def _counts(fn, *args) -> dict:
    graph = nerve.function(fn).get_concrete_function(*args).graph
    graph = fuse_layer_norm_gradients(graph, NumpyBackend())
    return fuse_layer_norm_statistics(graph, NumpyBackend()).primitive_counts()


@pytest.fixture
def unfused(monkeypatch):
    """Runs ``fn(*args)`` compiled without the rewrites (the backend says it has no
    loops for them)."""
    runs_natively = NumpyBackend.runs_natively
    kernels = ("layer_norm_rows", "layer_norm_grad_rows")

    def without(self, kernel, *args, **kwargs):
        return kernel not in kernels and runs_natively(self, kernel, *args, **kwargs)

    def run(fn, *args):
        with monkeypatch.context() as patch:
            patch.setattr(NumpyBackend, "runs_natively", without)
            return nerve.function(fn)(*args)

    return run


def _assert_same(got, want):
    for g, w in zip(nerve.tree.flatten(got), nerve.tree.flatten(want)):
        np.testing.assert_array_equal(np.asarray(g), np.asarray(w))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(40, 7), (4, 16, 128), (3, 300)])
def test_the_input_gradient_is_one_node_with_the_unfused_bits(dtype, shape, unfused):
    rng = np.random.default_rng(shape[-1])
    x = (rng.standard_normal(shape) * 3 + 1).astype(dtype)
    w = rng.standard_normal(shape).astype(dtype)
    gamma = rng.standard_normal(shape[-1]).astype(dtype)

    def loss(x, gamma):
        return ops.sum(ops.layer_normalization(x, gamma, epsilon=1e-5) * w)

    gradient = nerve.grad(loss, argnums=(0, 1))
    counts = _counts(gradient, x, gamma)
    assert counts.get("layer_norm_grad_rows") == 1 and "neg" not in counts
    assert counts.get("layer_norm_rows") == 1 and "rsqrt" not in counts
    _assert_same(nerve.function(gradient)(x, gamma), unfused(gradient, x, gamma))


def test_a_layers_gradients_in_a_residual_block_keep_their_bits(unfused):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 16, 32)).astype("float32")
    norms = [layers.LayerNormalization(epsilon=1e-5) for _ in range(2)]
    dense = layers.Dense(32)
    for layer in (*norms, dense):
        layer.build(x.shape)
    w = rng.standard_normal(x.shape).astype("float32")

    def gradients(x):
        with nerve.GradientTape() as tape:
            tape.watch(x)
            h = norms[0](x + dense(x))
            loss = ops.sum(norms[1](h + dense(h)) * w)
        weights = [v for layer in (*norms, dense) for v in layer.trainable_weights]
        return tape.gradient(loss, [x, *weights])

    x = ops.convert_to_tensor(x)
    counts = nerve.function(gradients).graph_for(x).primitive_counts()
    assert counts.get("layer_norm_grad_rows") == 2 and counts.get("layer_norm_rows") == 2
    _assert_same(nerve.function(gradients)(x), unfused(gradients, x))


@pytest.mark.parametrize(
    "axis, rms", [(0, False), ((1, 2), False), (-1, True)], ids=["first", "two", "rms"]
)
def test_other_normalizations_are_left_alone(axis, rms):
    x = np.random.default_rng(2).standard_normal((6, 5, 9)).astype("float32")

    def loss(x):
        out = ops.layer_normalization(x, axis=axis, rms_scaling=rms)
        return ops.sum(out * x)

    with pytest.warns(UserWarning) if rms else contextlib.nullcontext():
        gradient = nerve.grad(loss)
        assert "layer_norm_grad_rows" not in _counts(gradient, x)
        got = np.asarray(nerve.function(gradient)(x))
        np.testing.assert_allclose(got, np.asarray(gradient(x)), rtol=1e-4, atol=1e-5)


def test_a_step_read_elsewhere_keeps_the_graph():
    x = np.random.default_rng(3).standard_normal((4, 9)).astype("float32")

    def gradient_and_sum(a, c, inv, v):
        t = a * inv
        d = ops.sum(a * c, axis=-1, keepdims=True) * ((-0.5 * inv) / v) / 9.0
        e = d * c
        e2 = e + e
        total = ops.sum(-t, axis=-1, keepdims=True) + ops.sum(-e2, axis=-1, keepdims=True)
        return (t + e2) + total / 9.0, d

    rows = np.abs(x[:, :1]) + 0.5
    assert "layer_norm_grad_rows" not in _counts(gradient_and_sum, x, x, rows, rows)
    assert _counts(lambda *a: gradient_and_sum(*a)[0], x, x, rows, rows) == {
        "layer_norm_grad_rows": 1
    }


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(40, 7), (4, 16, 128), (3, 300)])
def test_the_statistics_are_one_node_with_the_unfused_bits(dtype, shape, unfused):
    rng = np.random.default_rng(shape[-1] + 1)
    x = (rng.standard_normal(shape) * 3 + 1).astype(dtype)
    gamma, beta = (rng.standard_normal(shape[-1]).astype(dtype) for _ in "gb")

    def f(x, gamma, beta):
        return ops.layer_normalization(x, gamma, beta, epsilon=1e-5)

    counts = _counts(f, x, gamma, beta)
    assert counts.get("layer_norm_rows") == 1
    assert not {"reduce_sum", "rsqrt", "subtract"} & set(counts)
    _assert_same(nerve.function(f)(x, gamma, beta), unfused(f, x, gamma, beta))


def test_statistics_read_elsewhere_keep_the_graph():
    x = np.random.default_rng(4).standard_normal((4, 9)).astype("float32")

    def statistics_and_mean(x):
        mean = ops.sum(x, axis=-1, keepdims=True) / 9.0
        c = x - mean
        v = ops.sum(c * c, axis=-1, keepdims=True) / 9.0 + 1e-3
        return c * ops.rsqrt(v), mean

    assert "layer_norm_rows" not in _counts(statistics_and_mean, x)
    assert _counts(lambda x: statistics_and_mean(x)[0], x) == {
        "layer_norm_rows": 1,
        "multiply": 1,
    }
