"""``fold_bias_relu_into_products``: a long, thin product with its bias and ReLU runs
as one ``product_bias_relu`` node whose C loop writes them with each result, and so
does a large float32 product (a stack of matrices times one: a dense layer on
sequences), by ``sgemm`` on blocks of rows with the epilogue after each; both with the
same bits as the product and the fused loop after it (the compiled graph without the
pass); so does a one-row product split across two cores (a dense layer at batch 1),
whether the split runs or declines; a product or sum read elsewhere, or a product the
loop does not take, stays."""

import numpy as np
import pytest

import nerve
from nerve import ops
from nerve.backend.numpy_backend.native import products, row_product, threads
from nerve.graph import executor
from nerve.graph.passes import LOWERING, fold_bias_relu_into_products


def _without_the_pass(patch):
    kept = tuple(p for p in LOWERING if p is not fold_bias_relu_into_products)
    patch.setattr(executor, "LOWERING", kept)


def _conv_step(x, k, bias):
    def loss(x, k, bias):
        y = ops.relu(ops.conv(x, k) + bias)  # rows reshaped back into an image
        return ops.sum(ops.sin(y)), y

    (grads, y) = nerve.grad(loss, argnums=(0, 1, 2), has_aux=True)(x, k, bias)
    return (y, *grads)


def _dense_step(x, w, bias):
    def loss(x, w, bias):
        y = ops.relu(bias + ops.matmul(x, w))  # the bias first: either order folds
        return ops.sum(ops.sin(y)), y

    (grads, y) = nerve.grad(loss, argnums=(0, 1, 2), has_aux=True)(x, w, bias)
    return (y, *grads)


def _operands(case, dtype):
    rng = np.random.default_rng(5)
    if case == "conv":  # 3x3 taps of one channel: a (8 * 26 * 26, 9) patch matrix
        shapes = [(8, 28, 28, 1), (3, 3, 1, 32), (32,)]
    elif case == "dense":  # 5000 rows of 12 features
        shapes = [(5000, 12), (12, 40), (40,)]
    elif case == "sequence":  # a feed-forward layer: 1100 rows, a last block of 76
        shapes = [(4, 275, 96), (96, 136), (136,)]
    else:  # a 2-D product the blocked loop takes
        shapes = [(1030, 80), (80, 72), (72,)]
    return [rng.standard_normal(s).astype(dtype) for s in shapes]


STEPS = [("conv", _conv_step), ("dense", _dense_step), ("sequence", _dense_step)]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case, step", [*STEPS, ("large", _dense_step)])
def test_the_folded_product_gives_the_unfolded_bits(case, step, dtype, monkeypatch):
    if products.product_functions() is None:
        pytest.skip("no C compiler: the product stays a matmul")
    blocked = case in ("sequence", "large")
    if blocked and (dtype != "float32" or not products.takes_blocked((1, 1), (1, 1), dtype)):
        monkeypatch.setattr(products, "BLOCKED_FROM", 1)
        if not products.takes_blocked((1, 1), (1, 1), dtype):
            pytest.skip("the blocked loop takes float32 with sgemm only")
    if blocked:  # several blocks, the last one short
        monkeypatch.setattr(products, "BLOCKED_FROM", 1)
        monkeypatch.setattr(products, "BLOCKED_ROWS", 256)
    operands = _operands(case, dtype)
    folded = nerve.function(step)
    assert folded.graph_for(*operands).primitive_counts().get("product_bias_relu") == 1
    got = [np.asarray(v) for v in folded(*operands)]
    with pytest.MonkeyPatch.context() as patch:
        _without_the_pass(patch)
        plain = nerve.function(step)
        assert "product_bias_relu" not in plain.graph_for(*operands).primitive_counts()
        want = [np.asarray(v) for v in plain(*operands)]
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
    # Both are the layer and its gradients (eager mode, to rounding).
    for g, w in zip(got, step(*operands)):
        w = np.asarray(w)
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-4 * np.abs(w).max())


def test_a_sum_read_elsewhere_or_a_short_product_stays():
    x, w, bias = _operands("dense", "float32")

    def reread(x, w, bias):
        z = ops.matmul(x, w) + bias
        return ops.relu(z), ops.sum(z)

    counts = nerve.function(reread).graph_for(x, w, bias).primitive_counts()
    assert "product_bias_relu" not in counts
    short = x[:100]  # too few rows for the thin loop: BLAS runs it
    counts = (
        nerve.function(lambda x, w, b: ops.relu(ops.matmul(x, w) + b))
        .graph_for(short, w, bias)
        .primitive_counts()
    )
    assert "product_bias_relu" not in counts and counts.get("matmul") == 1


def test_without_a_backend_the_graph_is_returned_as_is():
    x, w, bias = _operands("dense", "float32")
    graph = nerve.function(lambda x, w, b: ops.relu(ops.matmul(x, w) + b)).graph_for(x, w, bias)
    assert fold_bias_relu_into_products(graph) is graph


def _two_layer_step(x, w, bias, w2):
    def loss(x, w, bias, w2):
        hidden = ops.relu(ops.matmul(x, w) + bias)
        return ops.sum(ops.sin(ops.matmul(hidden, w2)))

    return nerve.grad(loss, argnums=(0, 1, 2, 3))(x, w, bias, w2)


@pytest.mark.parametrize("held", [1, 2])
def test_a_relu_mask_on_a_product_gives_the_unmasked_bits(held, monkeypatch):
    """The backward pass of ``relu(x w + b) w2``: ``(g w2^T) * cast(hidden > 0)`` is one
    ``masked_product`` (w2^T a transposed view) with the bits of the graph without the
    pass."""
    if not products.takes_blocked((4096, 128), (128, 512), "float32"):
        pytest.skip("no C compiler or no sgemm: the blocked loop never runs")
    from nerve.backend.numpy_backend.native import threads
    from nerve.graph.passes import fold_relu_masks_into_products

    monkeypatch.setattr(products, "BLOCKED_FROM", 1)
    monkeypatch.setattr(products, "BLOCKED_ROWS", 256)
    monkeypatch.setattr(threads, "_held", [held])
    x, w, bias = _operands("sequence", "float32")
    w2 = np.random.default_rng(8).standard_normal((136, 24)).astype("float32")
    masked = nerve.function(_two_layer_step)
    counts = masked.graph_for(x, w, bias, w2).primitive_counts()
    assert counts.get("masked_product") == 1 and counts.get("product_bias_relu") == 1
    got = [np.asarray(v) for v in masked(x, w, bias, w2)]
    with pytest.MonkeyPatch.context() as patch:
        kept = tuple(p for p in LOWERING if p is not fold_relu_masks_into_products)
        patch.setattr(executor, "LOWERING", kept)
        plain = nerve.function(_two_layer_step)
        assert "masked_product" not in plain.graph_for(x, w, bias, w2).primitive_counts()
        want = [np.asarray(v) for v in plain(x, w, bias, w2)]
    for g, w_ in zip(got, want):
        np.testing.assert_array_equal(g, w_)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("declines", [False, True])
def test_a_batch_one_dense_layer_folds_into_the_split_row_product(dtype, declines, monkeypatch):
    if row_product.product_function() is None:
        pytest.skip("no C compiler: the product stays a matmul")
    monkeypatch.setattr(threads, "blas_threads", lambda: 2)  # as on two cores
    rng = np.random.default_rng(6)
    x, w = (
        rng.standard_normal((1, 784)).astype(dtype),
        rng.standard_normal((784, 512)).astype(dtype),
    )
    bias = rng.standard_normal(512).astype(dtype)
    bias[:2] = [np.nan, -np.inf]

    def layer(x, w, bias):
        return ops.relu(ops.matmul(x, w) + bias)

    folded = nerve.function(layer)
    assert folded.graph_for(x, w, bias).primitive_counts().get("product_bias_relu") == 1
    row_product.allow_back_off(False)  # every split runs (unless declined below)
    try:
        if declines:  # under load: BLAS's product, then the epilogue in C
            monkeypatch.setattr(row_product, "_takes", lambda a, b: False)
        got = [np.asarray(folded(x, w, bias)) for _ in range(20)]
        with pytest.MonkeyPatch.context() as patch:
            _without_the_pass(patch)
            plain = nerve.function(layer)
            assert "product_bias_relu" not in plain.graph_for(x, w, bias).primitive_counts()
            want = np.asarray(plain(x, w, bias))
    finally:
        row_product.allow_back_off(True)
    for g in got:
        np.testing.assert_array_equal(g, want)
    with np.errstate(invalid="ignore"):
        np.testing.assert_allclose(got[0], np.maximum(x @ w + bias, 0), rtol=1e-4, atol=1e-3)
