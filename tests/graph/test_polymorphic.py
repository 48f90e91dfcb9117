"""None dims of an input_signature stay symbolic: one trace serves every size."""

import numpy as np
import pytest

import nerve
from nerve import ops
from nerve.graph import polymorphic


def _step_for(w):
    def step(x, y):
        with nerve.GradientTape() as tape:
            logits = x @ w
            loss = ops.mean(ops.sparse_categorical_crossentropy(y, logits, from_logits=True))
        w.assign_sub(0.1 * tape.gradient(loss, w))
        return loss, ops.reshape(logits, (-1,)), ops.sum(x, axis=0)

    return step


SIGNATURE = [nerve.TensorSpec((None, 3)), nerve.TensorSpec((None,), "int32")]


def test_one_trace_serves_every_batch_size_and_matches_eager():
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal((3, 4)).astype("float32")
    eager_w, graph_w = nerve.Variable(w0), nerve.Variable(w0)
    eager = _step_for(eager_w)
    compiled = nerve.function(_step_for(graph_w), input_signature=SIGNATURE)
    for n in (8, 8, 3, 1, 12):
        x = rng.standard_normal((n, 3)).astype("float32")
        y = rng.integers(0, 4, n).astype("int32")
        for a, b in zip(eager(x, y), compiled(x, y)):
            assert a.shape == b.shape
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(eager_w.numpy(), graph_w.numpy(), rtol=1e-6)
    assert compiled.trace_count == 1


def test_sizes_that_are_not_affine_fall_back_to_one_trace_per_size():
    # x[: n // 2] has a size that no affine function of n gives: no template.
    compiled = nerve.function(
        lambda x: ops.sum(x[: x.shape[0] // 2]), input_signature=[nerve.TensorSpec((None,))]
    )
    for n in (8, 9, 10):
        x = np.arange(n, dtype="float32")
        assert float(compiled(x)) == float(x[: n // 2].sum())
    assert compiled.trace_count == 3


def test_generalize_rejects_a_structure_change_and_fits_affine_params():
    assert polymorphic._fit((10, 12, 14), (5, 6, 7)) == polymorphic.Affine(2, 0)
    assert polymorphic._fit((0.2, 1 / 6, 1 / 7), (5, 6, 7)).at(10) == pytest.approx(0.1)
    with pytest.raises(polymorphic._Mismatch):
        polymorphic._fit((2, 3, 3), (5, 6, 7))
    graphs = [
        nerve.function(lambda x: x * 2.0).get_concrete_function(ops.ones((n,))).unoptimized
        for n in (5, 6)
    ]
    graphs.append(
        nerve.function(lambda x: x + 2.0).get_concrete_function(ops.ones((7,))).unoptimized
    )
    assert polymorphic.generalize(graphs) is None
