"""``sum_before_negating``: a sum of negated values becomes the negated sum, with the
same bits (signed zeros included; NaN stays NaN), where nothing else reads the
negation; a layer normalization's gradient keeps its values exactly."""

import numpy as np
import pytest

import nerve
from nerve import layers, ops
from nerve.backend.numpy_backend import NumpyBackend
from nerve.graph import executor
from nerve.graph.passes import sum_before_negating


def _counts(fn, *args) -> dict:
    graph = nerve.function(fn).get_concrete_function(*args).graph
    return sum_before_negating(graph, NumpyBackend()).primitive_counts()


@pytest.fixture
def without_the_pass(monkeypatch):
    """Runs ``fn(*args)`` compiled with every lowering pass but this one."""

    def run(fn, *args):
        with monkeypatch.context() as patch:
            lowering = tuple(p for p in executor.LOWERING if p is not sum_before_negating)
            patch.setattr(executor, "LOWERING", lowering)
            return nerve.function(fn)(*args)

    return run


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("axis", [-1, 0, None])
def test_a_negated_sum_gives_the_sum_of_negations_bits(dtype, axis):
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((6, 300)) * 10 ** rng.uniform(-3, 3, (6, 300))).astype(dtype)
    x[1] = 0.0  # a +0 sum: -(0 + 0) would be -0, NumPy's 0 + -0 is +0
    x[2] = -0.0
    x[3, 4] = np.nan

    def f(x):
        return ops.sum(-x, axis=axis)

    counts = _counts(f, x)
    assert "neg" not in counts and counts.get("subtract") == 1
    got = np.asarray(nerve.function(f)(x))
    expected = np.add.reduce(-x, axis=axis)
    np.testing.assert_array_equal(got, expected)
    numbers = ~np.isnan(expected)  # (a NaN's sign bit is not kept, nor meaningful)
    np.testing.assert_array_equal(np.signbit(got)[numbers], np.signbit(expected)[numbers])


def test_a_negation_read_elsewhere_stays():
    x = np.random.default_rng(2).standard_normal((4, 8)).astype("float32")

    def f(x):
        y = -x
        return ops.sum(y, axis=-1), y * 2.0

    assert _counts(f, x).get("neg") == 1
    assert "neg" in _counts(lambda x: ops.sum(-x.astype("int32"), axis=-1), x)


def test_layer_norm_gradients_keep_their_bits(without_the_pass, monkeypatch):
    # (Without the one-node layer-norm gradient, whose pass takes these sums in first.)
    runs_natively = NumpyBackend.runs_natively
    monkeypatch.setattr(
        NumpyBackend,
        "runs_natively",
        lambda self, kernel, *a, **k: (
            kernel != "layer_norm_grad_rows" and runs_natively(self, kernel, *a, **k)
        ),
    )
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 16, 32)).astype("float32")
    layer = layers.LayerNormalization(epsilon=1e-5)
    layer.build(x.shape)
    w = rng.standard_normal(x.shape).astype("float32")

    def gradients(x):
        with nerve.GradientTape() as tape:
            tape.watch(x)
            loss = ops.sum(layer(x) * w)
        return tape.gradient(loss, [x, *layer.trainable_weights])

    x = ops.convert_to_tensor(x)
    graph = nerve.function(gradients).graph_for(x)
    assert "neg" not in graph.primitive_counts() and graph.primitive_counts().get("subtract")
    fused = nerve.function(gradients)(x)
    for got, want in zip(fused, without_the_pass(gradients, x)):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
