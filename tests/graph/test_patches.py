"""``fold_products_into_patches``: a convolution's input gradient (and a transposed
convolution's forward pass), a product added back as patches, runs as one
``product_patches_transpose`` node; results agree with eager mode (the three steps)
to rounding, and products anything else reads stay as they are.

``fold_patches_into_products``: a convolution's forward product and kernel gradient
run as ``patches_product`` and ``transposed_patches_product`` where the backend
prefers them (NumPy: 3x3 windows at stride 1 in float32), the patches go when
nothing else reads them, and results agree with eager mode to rounding."""

import numpy as np
import pytest

import nerve
from nerve import ops
from nerve.backend.numpy_backend.native import threads as threads_module
from nerve.backend.numpy_backend.native import winograd
from nerve.graph.passes import fold_patches_into_products, fold_products_into_patches
from nerve.primitives import nn as nnp
from nerve.primitives.linalg import matmul_p
from nerve.primitives.shape import reshape

# (input shape, kernel shape, conv kwargs): 32 channels at stride 1 run the C loop in
# float32, the others the product and patches_transpose.
CONVS = [
    ((2, 7, 8, 32), (3, 3, 32, 16), {}),
    ((1, 6, 5, 64), (2, 3, 64, 8), {"padding": "same"}),
    ((2, 7, 7, 3), (3, 3, 3, 4), {"strides": 2, "padding": "same"}),
]


def _rng_inputs(x_shape, k_shape, dtype):
    rng = np.random.default_rng(len(x_shape) + k_shape[-1])
    return rng.standard_normal(x_shape).astype(dtype), rng.standard_normal(k_shape).astype(dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("x_shape, k_shape, kwargs", CONVS)
def test_conv_input_gradient_is_one_node_and_agrees_with_eager(dtype, x_shape, k_shape, kwargs):
    x, k = _rng_inputs(x_shape, k_shape, dtype)

    def gradient(x, k):
        return nerve.grad(lambda x: ops.sum(ops.sin(ops.conv(x, k, **kwargs))))(x)

    compiled = nerve.function(gradient)
    graph = compiled.graph_for(x, k).primitive_counts()
    assert graph.get("product_patches_transpose") == 1 and "patches_transpose" not in graph
    tolerance = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(
        np.asarray(compiled(x, k)), np.asarray(gradient(x, k)), rtol=tolerance, atol=tolerance
    )


def test_conv_transpose_forward_is_one_node():
    x, k = _rng_inputs((2, 4, 5, 8), (3, 3, 32, 8), "float32")
    compiled = nerve.function(lambda x, k: ops.conv_transpose(x, k, padding="same"))
    assert compiled.graph_for(x, k).primitive_counts().get("product_patches_transpose") == 1
    eager = ops.conv_transpose(x, k, padding="same").numpy()
    np.testing.assert_allclose(np.asarray(compiled(x, k)), eager, rtol=1e-5, atol=1e-5)


GEOMETRY = dict(
    spatial_shape=(6, 6), window=(3, 3), strides=(1, 1), dilation=(1, 1), padding=((0, 0),) * 2
)


@pytest.mark.parametrize("reuse", ["product", "patches"])
def test_products_read_elsewhere_are_left_alone(reuse):
    def f(a, b):
        product = matmul_p.bind(a, b)
        patches = reshape(product, (2, 4, 4, 3, 3, 32))
        image = nnp.patches_transpose_p.bind(patches, **GEOMETRY)
        return image, ops.sum(product if reuse == "product" else patches)

    rng = np.random.default_rng(0)
    a = rng.standard_normal((32, 5)).astype("float32")
    b = rng.standard_normal((5, 9 * 32)).astype("float32")
    counts = nerve.function(f).graph_for(a, b).primitive_counts()
    assert counts.get("patches_transpose") == 1 and "product_patches_transpose" not in counts


def test_product_rows_must_be_the_patch_positions():
    """A product reshaped across the (positions | window, channels) split is not patches
    of rows: (16, 576) -> (2, 4, 4, 3, 3, 32) splits 576 columns over two rows."""

    def f(a, b):
        patches = reshape(matmul_p.bind(a, b), (2, 4, 4, 3, 3, 32))
        return nnp.patches_transpose_p.bind(patches, **GEOMETRY)

    rng = np.random.default_rng(1)
    a = rng.standard_normal((16, 5)).astype("float32")
    b = rng.standard_normal((5, 576)).astype("float32")
    compiled = nerve.function(f)
    counts = compiled.graph_for(a, b).primitive_counts()
    assert counts.get("patches_transpose") == 1 and "product_patches_transpose" not in counts
    eager = f(ops.convert_to_tensor(a), ops.convert_to_tensor(b)).numpy()
    np.testing.assert_allclose(np.asarray(compiled(a, b)), eager, rtol=1e-5, atol=1e-5)


def test_a_graph_without_the_pattern_is_returned_as_is():
    graph = nerve.function(lambda x: ops.sin(x) * 2).graph_for(np.ones(3, "float32"))
    assert fold_products_into_patches(graph) is graph


# (input shape, kernel shape, conv kwargs, whether the NumPy backend prefers one node).
FORWARD_CONVS = [
    ((2, 7, 8, 16), (3, 3, 16, 24), {}, True),
    ((2, 6, 5, 16), (3, 3, 16, 16), {"padding": "same"}, True),
    ((2, 7, 7, 16), (3, 3, 16, 16), {"strides": 2}, False),
    ((2, 7, 7, 3), (3, 3, 3, 16), {"padding": "same"}, False),
]


@pytest.mark.parametrize("x_shape, k_shape, kwargs, folded", FORWARD_CONVS)
def test_conv_forward_and_kernel_gradient_are_one_node_each(
    monkeypatch, x_shape, k_shape, kwargs, folded
):
    monkeypatch.setattr(winograd, "MIN_WORK", 0)
    # The backend prefers the Winograd products with one BLAS thread only.
    monkeypatch.setattr(threads_module, "blas_threads", lambda: 1)
    if folded and winograd._functions() is None:
        pytest.skip("no C compiler or no AVX2: the backend keeps the products")
    x, k = _rng_inputs(x_shape, k_shape, "float32")

    def step(x, k):
        def loss(k):
            y = ops.conv(x, k, **kwargs)
            return ops.sum(ops.sin(y)), y

        kernel_gradient, y = nerve.grad(loss, has_aux=True)(k)
        return y, kernel_gradient

    compiled = nerve.function(step)
    counts = compiled.graph_for(x, k).primitive_counts()
    assert counts.get("patches_product", 0) == counts.get("transposed_patches_product", 0)
    assert counts.get("patches_product", 0) == int(folded)
    assert ("extract_patches" not in counts) == folded  # nothing else reads the patches
    for got, want in zip(compiled(x, k), step(x, k)):
        want = np.asarray(want)
        np.testing.assert_allclose(np.asarray(got), want, rtol=0, atol=1e-5 * np.abs(want).max())


def test_patches_read_elsewhere_stay():
    x, k = _rng_inputs((2, 6, 6, 16), (3, 3, 16, 16), "float32")
    geometry = dict(window=(3, 3), strides=(1, 1), dilation=(1, 1), padding=((0, 0), (0, 0)))

    def f(x, k):
        rows = reshape(nnp.extract_patches(x, **geometry), (32, 144))
        return matmul_p.bind(rows, reshape(k, (144, 16))), ops.sum(rows)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(winograd, "MIN_WORK", 0)
        patch.setattr(threads_module, "blas_threads", lambda: 1)
        counts = nerve.function(f).graph_for(x, k).primitive_counts()
    if winograd._functions() is not None:
        assert counts.get("patches_product") == 1
    assert counts.get("extract_patches") == 1


def test_without_a_backend_the_graph_is_returned_as_is():
    x, k = _rng_inputs((2, 6, 6, 16), (3, 3, 16, 16), "float32")
    graph = nerve.function(lambda x, k: ops.conv(x, k)).graph_for(x, k)
    assert fold_patches_into_products(graph) is graph


def test_with_several_blas_threads_the_products_stay(monkeypatch):
    monkeypatch.setattr(winograd, "MIN_WORK", 0)
    monkeypatch.setattr(threads_module, "blas_threads", lambda: 2)
    x, k = _rng_inputs((2, 6, 6, 16), (3, 3, 16, 16), "float32")
    counts = nerve.function(lambda x, k: ops.conv(x, k)).graph_for(x, k).primitive_counts()
    assert "patches_product" not in counts and counts.get("matmul") == 1
