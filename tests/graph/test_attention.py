"""``fuse_attention``: attention's products and softmax (and their gradients) run as one
``attention_rows`` (and one ``attention_rows_grad``) node where the backend has the
loops, with the bits of the graph it replaces; graphs whose steps are not exactly that
pattern keep their nodes."""

import numpy as np
import pytest

import nerve
from nerve import layers, ops
from nerve.backend.numpy_backend import NumpyBackend
from nerve.backend.numpy_backend.native import attention as native_attention
from nerve.graph.passes import LOWERING, fuse_attention, optimize

pytestmark = pytest.mark.skipif(
    not native_attention.available("float32"),
    reason="no C compiler or no sgemm: the pass never fires",
)

ATTENTION = ("attention_rows", "attention_rows_grad")


def _lowered_counts(fn, *args) -> dict:
    """Primitive counts of ``fn``'s graph after the lowering passes up to this one."""
    graph = nerve.function(fn).get_concrete_function(*args).graph
    passes = LOWERING[: LOWERING.index(fuse_attention) + 1]
    return optimize(graph, NumpyBackend(), passes).primitive_counts()


@pytest.fixture
def unfused(monkeypatch):
    """Runs ``fn(*args)`` compiled without the rewrite (the backend says it has no
    attention loops; the softmax's loops still run, as in the graph it replaces)."""
    native = NumpyBackend.runs_natively

    def without_attention(self, kernel, *args, **kwargs):
        return kernel not in ATTENTION and native(self, kernel, *args, **kwargs)

    def run(fn, *args):
        with monkeypatch.context() as patch:
            patch.setattr(NumpyBackend, "runs_natively", without_attention)
            return nerve.tree.map_structure(np.asarray, nerve.function(fn)(*args))

    return run


def _operands(shape, seed, dtype="float32"):
    batch, steps, keys, heads, depth, value_depth = shape
    rng = np.random.default_rng(seed)
    q = rng.standard_normal((batch, steps, heads, depth)).astype(dtype)
    k = rng.standard_normal((batch, keys, heads, depth)).astype(dtype)
    v = rng.standard_normal((batch, keys, heads, value_depth)).astype(dtype)
    return q, k, v


def _loss(q, k, v):
    return ops.sum(ops.dot_product_attention(q, k, v) ** 2)


@pytest.mark.parametrize("shape", [(2, 5, 7, 3, 4, 6), (2, 130, 130, 4, 8, 8)])
def test_attention_and_its_gradients_are_two_nodes_with_the_unfused_bits(shape, unfused):
    q, k, v = _operands(shape, sum(shape))
    gradient = nerve.grad(_loss, argnums=(0, 1, 2))
    counts = _lowered_counts(gradient, q, k, v)
    assert counts.get("attention_rows") == 1 and counts.get("attention_rows_grad") == 1
    assert not {"einsum", "softmax_rows", "softmax_rows_grad"} & set(counts)
    fused = nerve.function(gradient)(q, k, v)
    for got, want in zip(fused, unfused(gradient, q, k, v)):
        np.testing.assert_array_equal(np.asarray(got), want)


def test_a_forward_pass_alone_is_one_node_with_the_unfused_bits(unfused):
    q, k, v = _operands((2, 9, 11, 2, 4, 4), 1)
    counts = _lowered_counts(ops.dot_product_attention, q, k, v)
    # The query and result reshapes, each there and back (views); no dead copy of p.
    assert counts == {"attention_rows": 1, "reshape": 4}
    fused = np.asarray(nerve.function(ops.dot_product_attention)(q, k, v))
    np.testing.assert_array_equal(fused, unfused(ops.dot_product_attention, q, k, v))


def test_probabilities_read_elsewhere_are_kept(unfused):
    q, k, v = _operands((1, 6, 6, 2, 4, 4), 2)

    def fn(q, k, v):
        return ops.dot_product_attention(q, k, v), ops.softmax(ops.einsum("bthd,bshd->bhts", q, k))

    fused = nerve.function(fn)(q, k, v)
    for got, want in zip(fused, unfused(fn, q, k, v)):
        np.testing.assert_array_equal(np.asarray(got), want)


def _masked(q, k, v):
    return ops.dot_product_attention(q, k, v, is_causal=True)


def _grouped(q, k, v):  # two query heads per key head
    return ops.dot_product_attention(ops.concatenate([q, q], axis=2), k, v)


@pytest.mark.parametrize("fn", [_masked, _grouped])
def test_other_attention_graphs_keep_their_nodes(fn):
    q, k, v = _operands((2, 6, 6, 2, 4, 4), 4)
    counts = _lowered_counts(
        nerve.grad(lambda *a: ops.sum(fn(*a) ** 2), argnums=(0, 1, 2)), q, k, v
    )
    assert not set(ATTENTION) & set(counts)
    assert counts.get("einsum", 0) >= 6


def test_float64_keeps_the_graph():
    q, k, v = _operands((1, 4, 4, 2, 4, 4), 5, "float64")
    assert not set(ATTENTION) & set(_lowered_counts(nerve.grad(_loss), q, k, v))


def test_a_multi_head_attention_models_training_keeps_its_bits(unfused):
    """Two ``fit`` steps of a MultiHeadAttention model end with the unfused graph's
    weights, bit for bit."""

    def trained(fused: bool):
        nerve.utils.set_random_seed(3)
        inputs = nerve.Input((12, 16))
        x = layers.MultiHeadAttention(2, 8)(inputs, inputs)
        outputs = layers.Dense(1)(layers.GlobalAveragePooling1D()(x))
        model = nerve.Model(inputs, outputs)
        model.compile(optimizer="adam", loss="mse")
        rng = np.random.default_rng(6)
        x_data = rng.standard_normal((8, 12, 16)).astype("float32")
        y_data = rng.standard_normal((8, 1)).astype("float32")
        model.fit(x_data, y_data, batch_size=4, epochs=1, verbose=0, shuffle=False)
        return [np.asarray(w) for w in model.get_weights()], model

    weights, model = trained(fused=True)
    step = model.make_train_function().functions[0]
    lowered = [c.compiled.graph.primitive_counts() for c in step._cache.values()]
    assert any(c.get("attention_rows_grad") == 1 for c in lowered)
    native = NumpyBackend.runs_natively
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            NumpyBackend, "runs_natively",
            lambda self, kernel, *a, **k: kernel not in ATTENTION and native(self, kernel, *a, **k),
        )  # fmt: skip
        reference, _ = trained(fused=False)
    for got, want in zip(weights, reference):
        np.testing.assert_array_equal(got, want)
