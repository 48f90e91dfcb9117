"""``fuse_softmax_rows``: a softmax or log-softmax over the last axis (and a bias add
or a multiply by a constant right before it) runs as one ``softmax_rows`` node where
the backend has the loop; results agree with the unfused graph to rounding, NaN and inf
included, and graphs whose steps aren't exactly that pattern are left alone.
``fuse_softmax_gradients``: the gradient from the softmax's output (and a multiply by
a constant after it) runs as one ``softmax_rows_grad`` node, with the unfused graph's
bits."""

import numpy as np
import pytest

import nerve
from nerve import ops
from nerve.backend.numpy_backend import NumpyBackend
from nerve.backend.numpy_backend.native import softmax as native_softmax
from nerve.graph.passes import fuse_softmax_gradients, fuse_softmax_rows
from nerve.primitives import reduction

pytestmark = pytest.mark.skipif(
    native_softmax.softmax_rows_function() is None,
    reason="no C compiler: the pass never fires",
)

FORMS = {"softmax": ops.softmax, "log_softmax": ops.log_softmax}


def _optimized(fn, *args):
    """The optimized graph of a compiled ``fn`` (before lowering)."""
    return nerve.function(fn).get_concrete_function(*args).graph


def _lowered_counts(fn, *args) -> dict:
    """Primitive counts of ``fn``'s optimized graph after the passes."""
    graph = fuse_softmax_rows(_optimized(fn, *args), NumpyBackend())
    return fuse_softmax_gradients(graph, NumpyBackend()).primitive_counts()


@pytest.fixture
def unfused(monkeypatch):
    """Runs ``fn(*args)`` compiled without the rewrite (the backend says it has no loop)."""

    def run(fn, *args):
        with monkeypatch.context() as patch:
            patch.setattr(NumpyBackend, "runs_natively", lambda self, *args, **kwargs: False)
            return np.asarray(nerve.function(fn)(*args))

    return run


def _tolerance(dtype: str) -> dict:
    return {"rtol": 2e-6, "atol": 1e-7} if dtype == "float32" else {"rtol": 1e-14, "atol": 1e-15}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("form", sorted(FORMS))
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("shape", [(1, 10), (6, 130), (2, 3, 300)])
def test_softmax_is_one_node_and_agrees_with_the_unfused_graph(dtype, form, bias, shape, unfused):
    rng = np.random.default_rng(len(shape) + shape[-1])
    x = (rng.standard_normal(shape) * 4).astype(dtype)
    b = rng.standard_normal(shape[-1]).astype(dtype)

    def f(x, b):
        return FORMS[form](x + b if bias else x)

    counts = _lowered_counts(f, x, b)
    assert counts.get("softmax_rows") == 1
    assert not {"reduce_max", "reduce_sum", "exp", "add"} & set(counts)
    compiled = np.asarray(nerve.function(f)(x, b))
    np.testing.assert_allclose(compiled, unfused(f, x, b), **_tolerance(dtype))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_softmax_takes_the_unfused_graphs_values_exactly(dtype, unfused):
    """Above 128 elements the unfused graph's exp is the same vmath loop, and its sum
    NumPy's pairwise order: the fused loop gives the same bits."""
    x = np.random.default_rng(5).standard_normal((40, 300)).astype(dtype)
    fused = np.asarray(nerve.function(ops.softmax)(x))
    np.testing.assert_array_equal(fused, unfused(ops.softmax, x))


@pytest.mark.parametrize("form", sorted(FORMS))
def test_masked_rows_nan_and_inf_behave_as_unfused(form, unfused):
    """-inf entries (a mask) give zero weights; rows that are all -inf, or hold NaN or
    +inf, come out NaN in both graphs."""
    x = np.random.default_rng(2).standard_normal((6, 140)).astype("float32")
    x[0, ::3] = -np.inf
    x[1] = -np.inf
    x[2, 7] = np.nan
    x[3, 9] = np.inf
    x[4, :139] = -np.inf
    fn = FORMS[form]
    compiled = np.asarray(nerve.function(fn)(x))
    reference = unfused(fn, x)
    np.testing.assert_allclose(compiled, reference, rtol=2e-6, atol=1e-7)
    assert np.isnan(compiled[1:4]).all() and not np.isnan(compiled[[0, 4, 5]]).any()


def test_dense_softmax_model_runs_one_node_with_its_bias():
    from nerve import layers, models

    model = models.Sequential([layers.Input((20,)), layers.Dense(10, activation="softmax")])
    x = np.random.default_rng(3).standard_normal((1, 20)).astype("float32")
    eager = model(x).numpy()
    for _ in range(3):  # compiled from a repeated call on
        compiled = np.asarray(model(x))
    np.testing.assert_allclose(compiled, eager, rtol=2e-6, atol=1e-7)
    kernel, bias = (w.numpy() for w in model.weights)
    counts = _lowered_counts(lambda x, k, b: ops.softmax(ops.matmul(x, k) + b), x, kernel, bias)
    assert counts.get("softmax_rows") == 1 and "add" not in counts


def _shifted_sum_without_keepdims(x):
    e = ops.exp(x - ops.max(x, axis=-1, keepdims=True))
    return e / ops.expand_dims(reduction.reduce_sum(e, (1,), keepdims=False), -1)


def _softmax_and_its_exp(x):
    e = ops.exp(x - ops.max(x, axis=-1, keepdims=True))
    return e / ops.sum(e, axis=-1, keepdims=True), e


def _softmax_and_its_shift(x):
    shifted = x - ops.max(x, axis=-1, keepdims=True)
    e = ops.exp(shifted)
    return e / ops.sum(e, axis=-1, keepdims=True), shifted


def _biased_input_read_elsewhere(x):
    y = x + 1.0
    return ops.softmax(y), ops.sum(y)


@pytest.mark.parametrize(
    "fn",
    [
        lambda x: ops.softmax(x, axis=0),
        lambda x: ops.softmax(x, axis=(0, 1)),
        lambda x: ops.log_softmax(x, axis=0),
        _shifted_sum_without_keepdims,
        _softmax_and_its_exp,
        _softmax_and_its_shift,
    ],
)
def test_other_graphs_are_left_alone(fn, unfused):
    x = np.random.default_rng(4).standard_normal((5, 7)).astype("float32")
    assert "softmax_rows" not in _lowered_counts(fn, x)
    results = nerve.function(fn)(x)
    expected = nerve.tree.map_structure(np.asarray, fn(ops.convert_to_tensor(x)))
    for got, want in zip(nerve.tree.flatten(results), nerve.tree.flatten(expected)):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-6, atol=1e-7)


def test_a_bias_add_read_elsewhere_stays_outside():
    x = np.random.default_rng(6).standard_normal((3, 8)).astype("float32")
    counts = _lowered_counts(_biased_input_read_elsewhere, x)
    assert counts.get("softmax_rows") == 1 and counts.get("add") == 1


def test_float16_and_backends_without_the_loop_keep_the_graph(monkeypatch):
    half = _optimized(ops.softmax, np.ones((2, 8), "float16"))
    assert fuse_softmax_rows(half, NumpyBackend()) is half
    graph = _optimized(ops.softmax, np.ones((2, 8), "float32"))
    monkeypatch.setattr(NumpyBackend, "runs_natively", lambda self, *args, **kwargs: False)
    assert fuse_softmax_rows(graph, NumpyBackend()) is graph


def test_gradient_through_a_compiled_softmax_agrees_with_eager():
    x = np.random.default_rng(7).standard_normal((4, 130)).astype("float64")
    w = np.random.default_rng(8).standard_normal((4, 130))

    def loss(x):
        return ops.sum(ops.softmax(x) * w) + ops.sum(ops.log_softmax(x) * w)

    gradient = nerve.grad(loss)
    np.testing.assert_allclose(
        np.asarray(nerve.function(gradient)(x)), np.asarray(gradient(x)), rtol=1e-12, atol=1e-14
    )


def test_a_training_steps_softmax_is_one_node_with_a_gradient_from_its_output():
    # ops.softmax records one node whose gradient reads only its output, so the
    # forward steps' values have no other reader and the pass still fires.
    x = np.random.default_rng(9).standard_normal((4, 3, 130)).astype("float32")
    w = np.random.default_rng(10).standard_normal((4, 3, 130)).astype("float32")

    def loss(x):
        return ops.sum(ops.softmax(x) * w)

    counts = _lowered_counts(nerve.grad(loss), x)
    assert counts.get("softmax_rows") == 1
    assert not {"reduce_max", "exp", "divide"} & set(counts)
    expected = np.asarray(nerve.grad(loss)(x))
    np.testing.assert_allclose(
        np.asarray(nerve.function(nerve.grad(loss))(x)), expected, rtol=1e-5, atol=1e-7
    )


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("form", sorted(FORMS))
def test_a_scaled_softmax_is_one_node_agreeing_with_the_unfused_graph(dtype, form, unfused):
    x = np.random.default_rng(11).standard_normal((6, 4, 130)).astype(dtype)

    def f(x):
        return FORMS[form](x * 0.17677669)

    counts = _lowered_counts(f, x)
    assert counts.get("softmax_rows") == 1 and "multiply" not in counts
    compiled, reference = np.asarray(nerve.function(f)(x)), unfused(f, x)
    if form == "softmax":
        np.testing.assert_array_equal(compiled, reference)
    else:  # the loop's log is C's, the unfused graph's NumPy's (see above)
        np.testing.assert_allclose(compiled, reference, **_tolerance(dtype))


def test_a_scaled_input_read_elsewhere_stays_outside(unfused):
    x = np.random.default_rng(12).standard_normal((3, 140)).astype("float32")

    def f(x):
        y = x * 0.5
        return ops.softmax(y), ops.sum(y)

    counts = _lowered_counts(f, x)
    assert counts.get("softmax_rows") == 1 and counts.get("multiply") == 1
    for got, want in zip(nerve.function(f)(x), unfused(lambda x: f(x)[0], x)[None]):
        np.testing.assert_array_equal(np.asarray(got), want)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("scaled", [False, True])
@pytest.mark.parametrize("shape", [(40, 7), (4, 3, 130), (2, 2, 300)])
def test_a_softmax_gradient_is_one_node_with_the_unfused_bits(dtype, scaled, shape, unfused):
    # (At least 128 elements: smaller loops run as NumPy's ufuncs, whose exp differs.)
    rng = np.random.default_rng(shape[-1])
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    w = rng.standard_normal(shape).astype(dtype)

    def loss(x):
        return ops.sum(ops.softmax(x * 0.125 if scaled else x) * w)

    gradient = nerve.grad(loss)
    counts = _lowered_counts(gradient, x)
    # The forward scale, the gradient's two multiplies, its sum and its subtraction
    # (and the backward scale) are gone (the loss's own value is not computed).
    assert counts == {"softmax_rows": 1, "softmax_rows_grad": 1}
    np.testing.assert_array_equal(np.asarray(nerve.function(gradient)(x)), unfused(gradient, x))


def test_attention_gradients_take_the_unfused_bits(unfused):
    rng = np.random.default_rng(13)
    q, k, v = (rng.standard_normal((2, 130, 4, 8)).astype("float32") for _ in range(3))

    def loss(q, k, v):
        return ops.sum(ops.dot_product_attention(q, k, v) ** 2)

    gradient = nerve.grad(loss, argnums=(0, 1, 2))
    counts = _lowered_counts(gradient, q, k, v)
    assert counts.get("softmax_rows_grad") == 1 and counts.get("softmax_rows") == 1
    fused = nerve.function(gradient)(q, k, v)
    for got, want in zip(fused, unfused(lambda *a: ops.stack(gradient(*a)), q, k, v)):
        np.testing.assert_array_equal(np.asarray(got), want)


def _gradient_pattern_read_elsewhere(g, y):
    d = g - ops.sum(g * y, axis=-1, keepdims=True)
    return y * d, d


def _gradient_pattern_over_the_first_axis(g, y):
    return y * (g - ops.sum(g * y, axis=0, keepdims=True))


def _gradient_pattern_with_other_factors(g, y):
    return y * (g - ops.sum(g * g, axis=-1, keepdims=True))


@pytest.mark.parametrize(
    "fn",
    [
        _gradient_pattern_read_elsewhere,
        _gradient_pattern_over_the_first_axis,
        _gradient_pattern_with_other_factors,
    ],
)
def test_other_gradient_like_graphs_are_left_alone(fn):
    g, y = (np.random.default_rng(14).standard_normal((2, 5, 7)).astype("float32") for _ in "gy")
    assert "softmax_rows_grad" not in _lowered_counts(fn, g, y)
    results = nerve.function(fn)(g, y)
    expected = fn(ops.convert_to_tensor(g), ops.convert_to_tensor(y))
    for got, want in zip(nerve.tree.flatten(results), nerve.tree.flatten(expected)):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-6, atol=1e-6)


def test_the_bare_gradient_pattern_is_one_node():
    g, y = (np.random.default_rng(15).standard_normal((3, 9)).astype("float32") for _ in "gy")

    def fn(g, y):
        return (y * (g - ops.sum(g * y, axis=-1, keepdims=True))) * 2.0

    assert _lowered_counts(fn, g, y) == {"softmax_rows_grad": 1}
    expected = fn(ops.convert_to_tensor(g), ops.convert_to_tensor(y))
    np.testing.assert_array_equal(np.asarray(nerve.function(fn)(g, y)), np.asarray(expected))
