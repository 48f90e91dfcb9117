"""``merge_sibling_products``: products of one operand with their biases (attention's
query, key and value projections) run as one ``product_bias`` node whose result is
split, with the bits of the graph without the pass where each product is large enough
for OpenBLAS's general kernels, and to rounding below that; groups the pass cannot take
keep their nodes."""

import numpy as np
import pytest

import nerve
from nerve import layers, ops
from nerve.backend.numpy_backend import NumpyBackend
from nerve.backend.numpy_backend.native import products
from nerve.graph import executor
from nerve.graph.passes import LOWERING, merge_sibling_products

pytestmark = pytest.mark.skipif(
    not products.takes_blocked((4096, 128), (128, 512), "float32"),
    reason="no C compiler or no sgemm: the pass never fires",
)


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch):
    """Small products take the blocked loop too, in several blocks."""
    monkeypatch.setattr(products, "BLOCKED_FROM", 1)
    monkeypatch.setattr(products, "BLOCKED_ROWS", 256)


def _without_the_pass(fn, *args):
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            executor, "LOWERING", tuple(p for p in LOWERING if p is not merge_sibling_products)
        )
        plain = nerve.function(fn)
        assert "product_bias" not in plain.graph_for(*args).primitive_counts()
        return [np.asarray(v) for v in nerve.tree.flatten(plain(*args))]


def _operands(seed=0, rows=(4, 256), depth=64):
    """x and three weights and biases; by default each product (1024 x 64 x 24) is past
    OpenBLAS's small-matrix kernels (~10^6 multiply-adds), which sum in another order."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((*rows, depth)).astype("float32")
    weights = [rng.standard_normal((depth, 3, 8)).astype("float32") for _ in range(3)]
    biases = [rng.standard_normal((3, 8)).astype("float32") for _ in range(3)]
    return x, weights, biases


def _projections(x, w1, w2, w3, b1, b2, b3):
    q, k, v = (ops.einsum("abc,cde->abde", x, w) + b for w, b in ((w1, b1), (w2, b2), (w3, b3)))
    return ops.sum(ops.sin(q) * k + v, axis=-1)


def test_three_projections_are_one_product_with_the_unmerged_bits():
    x, weights, biases = _operands()
    args = (x, *weights, *biases)
    merged = nerve.function(_projections)
    counts = merged.graph_for(*args).primitive_counts()
    assert counts.get("product_bias") == 1 and "einsum" not in counts
    np.testing.assert_array_equal(
        np.asarray(merged(*args)), _without_the_pass(_projections, *args)[0]
    )


def test_small_projections_agree_to_rounding():
    """Each product under ~10^6 multiply-adds: BLAS sums the unmerged ones in its
    small-matrix kernels' order, the merged one in its general kernels' order."""
    x, weights, biases = _operands(4, rows=(4, 130), depth=48)
    args = (x, *weights, *biases)
    merged = nerve.function(_projections)
    assert merged.graph_for(*args).primitive_counts().get("product_bias") == 1
    want = _without_the_pass(_projections, *args)[0]
    np.testing.assert_allclose(np.asarray(merged(*args)), want, rtol=2e-5, atol=2e-4)


def test_gradients_through_merged_projections_keep_their_bits():
    x, weights, biases = _operands(1)
    gradient = nerve.grad(lambda *a: ops.sum(_projections(*a) ** 2), argnums=tuple(range(7)))
    args = (x, *weights, *biases)
    assert nerve.function(gradient).graph_for(*args).primitive_counts().get("product_bias") == 1
    got = [np.asarray(v) for v in nerve.function(gradient)(*args)]
    for g, w in zip(got, _without_the_pass(gradient, *args)):
        np.testing.assert_array_equal(g, w)


def _read_in_between(x, w1, w2, w3, b1, b2, b3):
    q = ops.einsum("abc,cde->abde", x, w1) + b1
    w2 = w2 * ops.sum(q)  # the second weight depends on the first sum
    k = ops.einsum("abc,cde->abde", x, w2) + b2
    return q * k


def _a_lone_projection(x, w1, w2, w3, b1, b2, b3):
    return ops.einsum("abc,cde->abde", x, w1) + b1


def _other_contractions(x, w1, w2, w3, b1, b2, b3):
    q = ops.einsum("abc,cde->abde", x, w1) + b1
    k = ops.einsum("abc,ced->abde", x, ops.transpose(w2, (0, 2, 1))) + b2
    return q * k


@pytest.mark.parametrize("fn", [_read_in_between, _a_lone_projection, _other_contractions])
def test_groups_the_pass_cannot_take_keep_their_products(fn):
    x, weights, biases = _operands(2)
    args = (x, *weights, *biases)
    assert "product_bias" not in nerve.function(fn).graph_for(*args).primitive_counts()
    got = np.asarray(nerve.function(fn)(*args))
    np.testing.assert_allclose(
        got, np.asarray(fn(*map(ops.convert_to_tensor, args))), rtol=1e-5, atol=1e-4
    )


def test_a_self_attention_models_training_keeps_its_bits():
    """Two ``fit`` steps of a self-attention model end with the weights the graph without
    the pass gives, bit for bit (its query, key and value projections merged)."""

    def trained():
        nerve.utils.set_random_seed(3)
        inputs = nerve.Input((12, 16))
        x = layers.MultiHeadAttention(2, 8)(inputs, inputs)
        model = nerve.Model(inputs, layers.Dense(1)(layers.GlobalAveragePooling1D()(x)))
        model.compile(optimizer="adam", loss="mse")
        rng = np.random.default_rng(6)
        data = rng.standard_normal((8, 12, 16)).astype("float32")
        target = rng.standard_normal((8, 1)).astype("float32")
        model.fit(data, target, batch_size=4, epochs=1, verbose=0, shuffle=False)
        step = model.make_train_function().functions[0]
        counts = [c.compiled.graph.primitive_counts() for c in step._cache.values()]
        return [np.asarray(w) for w in model.get_weights()], counts

    weights, counts = trained()
    assert any(c.get("product_bias") == 1 for c in counts)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            executor, "LOWERING", tuple(p for p in LOWERING if p is not merge_sibling_products)
        )
        reference, counts = trained()
    assert not any("product_bias" in c for c in counts)
    for got, want in zip(weights, reference):
        np.testing.assert_array_equal(got, want)


def test_backends_without_the_product_keep_the_graph(monkeypatch):
    x, weights, biases = _operands(3)
    monkeypatch.setattr(NumpyBackend, "runs_natively", lambda self, *a, **k: False)
    graph = nerve.function(_projections).get_concrete_function(x, *weights, *biases).graph
    assert merge_sibling_products(graph, NumpyBackend()) is graph
