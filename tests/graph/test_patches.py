"""``fold_products_into_patches``: a convolution's input gradient (and a transposed
convolution's forward pass), a product added back as patches, runs as one
``product_patches_transpose`` node; results agree with eager mode (the three steps)
to rounding, and products anything else reads stay as they are."""

import numpy as np
import pytest

import nerve
from nerve import ops
from nerve.graph.passes import fold_products_into_patches
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
