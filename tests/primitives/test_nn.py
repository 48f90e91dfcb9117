"""Neural-network primitives with a NumPy reference: ``resample2`` equals two one-axis
``resample`` binds (values and gradients of the input and both weight tables);
``frames`` (reflection padding included) and ``overlap_add`` against NumPy, and the
frames' gradients against finite differences."""

import numpy as np
import pytest

import nerve
from nerve import ops
from nerve.ops.image.resampling import resize_taps
from nerve.primitives.nn import resample2_p, resample_p


def _tables(in_size, out_size, interpolation, dtype):
    indices, weights = resize_taps(in_size, out_size, interpolation)
    return ops.convert_to_tensor(indices), ops.convert_to_tensor(weights, dtype=dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape, axis", [((5, 4, 2), 0), ((3, 5, 4, 2), 1), ((2, 5, 4), 1)])
def test_resample2_equals_two_resamples_with_gradients(dtype, shape, axis):
    x = ops.convert_to_tensor(np.random.default_rng(0).standard_normal(shape), dtype=dtype)
    first = _tables(shape[axis], 7, "bicubic", dtype)
    second = _tables(shape[axis + 1], 3, "bilinear", dtype)

    def both(fused):
        with nerve.GradientTape() as tape:
            watched = [x, first[1], second[1]]
            for t in watched:
                tape.watch(t)
            if fused:
                y = resample2_p.bind(x, *first, *second, axis=axis)
            else:
                y = resample_p.bind(resample_p.bind(x, *first, axis=axis), *second, axis=axis + 1)
            loss = ops.sum(ops.sin(y))
        return [y.numpy()] + [g.numpy() for g in tape.gradient(loss, watched)]

    tolerance = 1e-5 if dtype == "float32" else 1e-12
    for fused, composed in zip(both(True), both(False)):
        np.testing.assert_allclose(fused, composed, rtol=tolerance, atol=tolerance)


def _np_frames(x, window, stride, pad):
    padded = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(pad, pad)], mode="reflect")
    length = window.shape[0]
    count = max(0, 1 + (padded.shape[-1] - length) // stride)
    rows = [padded[..., t * stride : t * stride + length] * window for t in range(count)]
    return np.stack(rows, axis=-2) if rows else np.zeros((*x.shape[:-1], 0, length))


@pytest.mark.parametrize(
    "shape, length, stride, pad",
    [((17,), 5, 3, 0), ((2, 12), 4, 4, 2), ((2, 11), 3, 5, 10), ((9,), 12, 2, 4), ((6,), 8, 2, 0)],
)
def test_frames_and_their_gradients_match_numpy_and_finite_differences(shape, length, stride, pad):
    from nerve.primitives.nn import frames_p

    rng = np.random.default_rng(4)
    x, window = rng.standard_normal(shape), rng.standard_normal(length)
    expected = _np_frames(x, window, stride, pad)
    weights = rng.standard_normal(expected.shape)
    xt, wt = ops.convert_to_tensor(x), ops.convert_to_tensor(window)
    with nerve.GradientTape() as tape:
        tape.watch(xt)
        tape.watch(wt)
        frames = frames_p.bind(xt, wt, stride=stride, pad=pad)
        loss = ops.sum(frames * weights)
    np.testing.assert_allclose(frames.numpy(), expected, rtol=1e-12)
    gx, gw = tape.gradient(loss, [xt, wt])

    def loss_at(xv, wv):
        return float((_np_frames(xv, wv, stride, pad) * weights).sum())

    eps = 1e-6
    steps = [np.eye(x.size)[i].reshape(shape) * eps for i in range(x.size)]
    numeric_x = [(loss_at(x + d, window) - loss_at(x - d, window)) / (2 * eps) for d in steps]
    numeric_w = [
        (loss_at(x, window + d) - loss_at(x, window - d)) / (2 * eps) for d in np.eye(length) * eps
    ]
    np.testing.assert_allclose(gx.numpy().ravel(), numeric_x, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(gw.numpy(), numeric_w, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize(
    "count, length, stride, size", [(4, 5, 3, 14), (3, 4, 4, 15), (0, 3, 2, 4)]
)
def test_overlap_add_sums_frames_where_they_came_from(count, length, stride, size):
    from nerve.primitives.nn import overlap_add_p

    frames = np.random.default_rng(5).standard_normal((2, count, length))
    expected = np.zeros((2, size))
    for t in range(count):
        expected[:, t * stride : t * stride + length] += frames[:, t]
    result = overlap_add_p.bind(ops.convert_to_tensor(frames), stride=stride, size=size)
    np.testing.assert_allclose(result.numpy(), expected, rtol=1e-12)


# (spatial, window, strides, dilation, padding, channels): the first rows are what the
# C loop takes (float32, 2-D, stride 1, channels a multiple of 32; widths that leave
# blocks of 1 and 2 positions), the others the product-then-patches_transpose path.
PRODUCT_GEOMETRIES = [
    ((7, 9), (3, 3), (1, 1), (1, 1), ((0, 0), (0, 0)), 32),
    ((5, 4), (2, 3), (1, 1), (1, 1), ((1, 0), (1, 1)), 64),
    ((4, 5), (3, 3), (2, 1), (1, 1), ((1, 1), (1, 1)), 32),
    ((6, 6), (2, 2), (1, 1), (2, 1), ((0, 0), (0, 0)), 32),
    ((5, 6), (3, 3), (1, 1), (1, 1), ((1, 1), (1, 1)), 5),
    ((8,), (3,), (1,), (1,), ((1, 1),), 32),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    "spatial, window, strides, dilation, padding, channels", PRODUCT_GEOMETRIES
)
def test_product_patches_transpose_equals_its_three_steps_with_gradients(
    dtype, spatial, window, strides, dilation, padding, channels
):
    from nerve.primitives import nn as nnp
    from nerve.primitives.linalg import matmul_p
    from nerve.primitives.shape import reshape

    geometry = zip(spatial, window, strides, dilation, padding)
    out = tuple(nnp.window_output_size(*g) for g in geometry)
    batch, filters, taps = 2, 5, int(np.prod(window))
    rng = np.random.default_rng(channels + len(spatial))
    a = ops.convert_to_tensor(rng.standard_normal((batch * int(np.prod(out)), filters)), dtype)
    b = ops.convert_to_tensor(rng.standard_normal((filters, taps * channels)), dtype)
    weights = rng.standard_normal((batch, *spatial, channels))
    geometry = dict(
        spatial_shape=spatial, window=window, strides=strides, dilation=dilation, padding=padding
    )

    def both(fused):
        with nerve.GradientTape() as tape:
            tape.watch(a)
            tape.watch(b)
            if fused:
                y = nnp.product_patches_transpose_p.bind(a, b, **geometry)
            else:
                p = reshape(matmul_p.bind(a, b), (batch, *out, *window, channels))
                y = nnp.patches_transpose_p.bind(p, **geometry)
            loss = ops.sum(y * ops.convert_to_tensor(weights, dtype))
        return [y.numpy()] + [g.numpy() for g in tape.gradient(loss, [a, b])]

    tolerance = 2e-5 if dtype == "float32" else 1e-12
    for fused, composed in zip(both(True), both(False)):
        assert fused.dtype == composed.dtype and fused.shape == composed.shape
        np.testing.assert_allclose(fused, composed, rtol=tolerance, atol=tolerance)


def test_product_patches_transpose_rejects_operands_that_are_not_patches():
    from nerve.core.errors import ShapeError
    from nerve.primitives.nn import product_patches_transpose_p

    a = ops.zeros((2 * 4 * 4, 3))
    with pytest.raises(ShapeError, match=r"product_patches_transpose: operands of shapes"):
        product_patches_transpose_p.bind(
            a, ops.zeros((3, 10)), spatial_shape=(6, 6), window=(3, 3), strides=(1, 1),
            dilation=(1, 1), padding=((0, 0), (0, 0)),
        )  # fmt: skip


# patches_product and transposed_patches_product against the steps they stand for:
# 3x3 at stride 1 (the NumPy kernel's Winograd products in float32, small sizes let
# through), another window, strides and dilation (the direct products).
PATCHES_PRODUCT_GEOMETRIES = [
    ((7, 9), (3, 3), (1, 1), (1, 1), ((0, 0), (0, 0)), 16),
    ((6, 5), (3, 3), (1, 1), (1, 1), ((1, 1), (1, 0)), 24),
    ((5, 6), (2, 3), (2, 1), (1, 2), ((1, 0), (1, 1)), 3),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    "spatial, window, strides, dilation, padding, channels", PATCHES_PRODUCT_GEOMETRIES
)
def test_patches_products_equal_their_steps_with_gradients(
    monkeypatch, dtype, spatial, window, strides, dilation, padding, channels
):
    from nerve.backend.numpy_backend.native import winograd
    from nerve.primitives import nn as nnp
    from nerve.primitives.linalg import matmul_p
    from nerve.primitives.shape import reshape, transpose

    monkeypatch.setattr(winograd, "MIN_WORK", 0)
    geometry = dict(window=window, strides=strides, dilation=dilation, padding=padding)
    sizes = zip(spatial, window, strides, dilation, padding)
    out = tuple(nnp.window_output_size(*g) for g in sizes)
    batch, filters, columns = 2, 16, int(np.prod(window)) * channels
    rows = batch * int(np.prod(out))
    rng = np.random.default_rng(channels)
    x = ops.convert_to_tensor(rng.standard_normal((batch, *spatial, channels)), dtype)
    b = ops.convert_to_tensor(rng.standard_normal((columns, filters)), dtype)
    g = ops.convert_to_tensor(rng.standard_normal((rows, filters)), dtype)
    weights = [rng.standard_normal((rows, filters)), rng.standard_normal((columns, filters))]

    def both(fused):
        with nerve.GradientTape() as tape:
            for t in (x, b, g):
                tape.watch(t)
            if fused:
                y = nnp.patches_product_p.bind(x, b, **geometry)
                z = nnp.transposed_patches_product_p.bind(x, g, **geometry)
            else:
                p = reshape(nnp.extract_patches(x, pad_value=0.0, **geometry), (rows, columns))
                y = matmul_p.bind(p, b)
                z = matmul_p.bind(transpose(p, (1, 0)), g)
            loss = ops.sum(y * ops.convert_to_tensor(weights[0], dtype))
            loss = loss + ops.sum(ops.sin(z) * ops.convert_to_tensor(weights[1], dtype))
        return [y.numpy(), z.numpy()] + [d.numpy() for d in tape.gradient(loss, [x, b, g])]

    tolerance = 3e-5 if dtype == "float32" else 1e-12
    for fused, composed in zip(both(True), both(False)):
        assert fused.dtype == composed.dtype and fused.shape == composed.shape
        scale = max(1.0, float(np.abs(composed).max()))
        np.testing.assert_allclose(fused, composed, rtol=tolerance, atol=tolerance * scale)


@pytest.mark.parametrize(
    "name, second, message",
    [
        (
            "patches_product",
            (10, 4),
            r"patches_product: a kernel of shape \(10, 4\) is not \(18, F\)",
        ),
        (
            "transposed_patches_product",
            (7, 4),
            r"transposed_patches_product: a cotangent of shape \(7, 4\) is not \(32, F\)",
        ),
    ],
)
def test_patches_products_reject_operands_that_do_not_fit_the_window(name, second, message):
    from nerve.core.errors import ShapeError
    from nerve.primitives import nn as nnp

    primitive = getattr(nnp, f"{name}_p")
    geometry = dict(window=(3, 3), strides=(1, 1), dilation=(1, 1), padding=((0, 0), (0, 0)))
    with pytest.raises(ShapeError, match=message):
        primitive.bind(ops.zeros((2, 6, 6, 2)), ops.zeros(second), **geometry)


@pytest.mark.parametrize(
    "name, args, error, message",
    [
        (
            "sparse_softmax_cross_entropy_grad",
            ((4, 3), (4,), (3,)),
            "ShapeError",
            r"sparse_softmax_cross_entropy_grad: a cotangent of shape \(3,\) for logits of "
            r"shape \(4, 3\); expected \(4,\)",
        ),
        (
            "softmax_cross_entropy_grad",
            ((4, 3), (4, 3), (4, 1)),
            "ShapeError",
            r"softmax_cross_entropy_grad: a cotangent of shape \(4, 1\) for logits of shape "
            r"\(4, 3\); expected \(4,\)",
        ),
        (
            "sparse_softmax_cross_entropy",
            ((4, 3), (3,)),
            "ShapeError",
            r"labels of shape \(3,\) for logits of shape \(4, 3\); expected the logits' "
            r"shape without its last axis, \(4,\)",
        ),
        (
            "softmax_cross_entropy",
            ((4, 3), (4, 2)),
            "ShapeError",
            r"targets of shape \(4, 2\) for logits of shape \(4, 3\)",
        ),
    ],
)
def test_cross_entropy_primitives_reject_operands_of_other_shapes(name, args, error, message):
    """Shape rules run where graphs are traced (eager binds run the kernels directly)."""
    from nerve.core import errors
    from nerve.primitives import nn as nnp

    labels_at = 1 if name.startswith("sparse") else None
    operands = [
        ops.zeros(shape, dtype="int32" if i == labels_at else "float32")
        for i, shape in enumerate(args)
    ]
    traced = nerve.function(getattr(nnp, f"{name}_p").bind)  # tracing applies shape rules
    with pytest.raises(getattr(errors, error), match=message):
        traced(*operands)


def test_sparse_cross_entropy_primitive_takes_integer_labels_only():
    from nerve.primitives import nn as nnp

    traced = nerve.function(nnp.sparse_softmax_cross_entropy_p.bind)
    with pytest.raises(TypeError, match="labels must be integer class indices; got float32"):
        traced(ops.zeros((4, 3)), ops.zeros((4,)))
