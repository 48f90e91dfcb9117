"""Neural-network primitives: sliding-window patches and their adjoint.

Convolution and pooling are composites over two linear primitives that are each
other's vector-Jacobian product, so every order of gradient comes for free:

* ``extract_patches``: a channels-last input ``(N, *spatial, C)`` becomes
  ``(N, *out, *window, C)``, every window of the (padded) input laid out whole.
  The NumPy kernel returns a strided view, so no data is copied until a
  consumer (a matmul, a reduction) reads it.
* ``patches_transpose``: adds each window back where it came from and crops the
  padding: ``(N, *out, *window, C)`` becomes ``(N, *spatial, C)``.

Params (all tuples with one entry per spatial axis): ``window``, ``strides``,
``dilation`` and ``padding`` (``(before, after)`` pairs of explicit padding).

``product_patches_transpose(a, b)`` is ``patches_transpose(reshape(a @ b))`` as one
step (a convolution's input gradient), for backends that add the product into the
image without writing the patches; ``patches_product(x, b)`` is
``reshape(extract_patches(x)) @ b`` with zero padding as one step (a convolution's
forward product), and ``transposed_patches_product(x, g)`` is
``reshape(extract_patches(x)).T @ g`` (its kernel gradient), for backends that compute
them another way (the NumPy backend: Winograd's F(2x2, 3x3) for 3x3 windows). Only the
lowering pass ``graph.passes.patches`` puts these three in graphs.

Max pooling is one primitive too, ``max_pool``: it returns each window's maximum and
the window position it came from (``int32``, row-major in the window); its gradient
is ``window_scatter``, which adds a cotangent at those positions, one pass each way
(as a reduction over patches, the maximum and its gradient's tie count took four
passes over the windows). Ties send the gradient to the first maximal position, as
PyTorch and TensorFlow; padding never wins.

``resample`` and ``resample_transpose`` apply a sparse weight matrix (a table of
indices and weights) along one axis, and its transpose: separable image resampling.
``resample2`` is ``resample`` along two adjacent axes in one pass (a resize).

``softmax_rows(x[, bias], log, scale)`` is the softmax (log-softmax when ``log``) of
``x`` (times a constant ``scale``, plus a bias vector added to every row) over the last
axis, one pass per row, for backends with a native loop for it; only the lowering pass
``graph.passes.softmax`` puts it in graphs, in place of the max/subtract/exp/sum/divide
steps. ``softmax_rows_grad(g, y, scale)`` is its gradient from its output in one pass
per row, put by the same pass in place of the multiply/sum/subtract/multiply steps.

``frames`` cuts the last axis (optionally padded by reflection first) into windowed
frames (a short-time transform's framing) and ``overlap_add`` puts frames back where
they came from, summing overlaps: the core of each other's vector-Jacobian product.
"""

from __future__ import annotations

import math

from nerve.core.errors import ShapeError, with_location
from nerve.primitives import elementwise as ew
from nerve.primitives import rules
from nerve.primitives.registry import Aval, Primitive

__all__ = [
    "extract_patches",
    "extract_patches_p",
    "frames_p",
    "layer_norm_grad_rows_p",
    "layer_norm_rows_p",
    "masked_product_p",
    "masked_window_scatter_p",
    "max_pool",
    "max_pool_p",
    "overlap_add_p",
    "patches_product_p",
    "patches_transpose",
    "patches_transpose_p",
    "product_bias_p",
    "product_bias_relu_p",
    "product_patches_transpose_p",
    "relu_p",
    "resample2_p",
    "resample_p",
    "resample_transpose_p",
    "softmax_cross_entropy_grad_p",
    "softmax_cross_entropy_p",
    "softmax_rows_grad_p",
    "softmax_rows_p",
    "sparse_softmax_cross_entropy_grad_p",
    "sparse_softmax_cross_entropy_p",
    "transposed_patches_product_p",
    "window_output_size",
    "window_scatter_p",
]


def window_output_size(size: int, window: int, stride: int, dilation: int, pad: tuple) -> int:
    """How many windows fit along one padded axis (0 when not even one does)."""
    span = (window - 1) * dilation + 1
    padded = size + pad[0] + pad[1]
    return max((padded - span) // stride + 1, 0)


def _check_geometry(op: str, shape: tuple, window, strides, dilation, padding) -> tuple:
    rank = len(window)
    if len(shape) != rank + 2 or not (len(strides) == len(dilation) == len(padding) == rank):
        raise ShapeError(
            with_location(
                f"{op}: a {rank}-D window needs an input of rank {rank + 2} "
                f"(batch, *spatial, channels) and {rank} strides, dilations and padding "
                f"pairs; got input shape {tuple(shape)}, strides {strides}, "
                f"dilation {dilation}, padding {padding}."
            )
        )
    return tuple(
        window_output_size(s, k, st, d, p)
        for s, k, st, d, p in zip(shape[1:-1], window, strides, dilation, padding)
    )


# -- extract_patches ------------------------------------------------------------------


def _extract_patches_rule(x: Aval, *, window, strides, dilation, padding, pad_value) -> Aval:
    out = _check_geometry("extract_patches", tuple(x.shape), window, strides, dilation, padding)
    return Aval((x.shape[0], *out, *window, x.shape[-1]), x.dtype)


def _extract_patches_vjp(g, inputs, out, needs, window, strides, dilation, padding, pad_value):
    spatial = tuple(inputs[0].shape[1:-1])
    return (
        patches_transpose_p.bind(
            g,
            spatial_shape=spatial,
            window=window,
            strides=strides,
            dilation=dilation,
            padding=padding,
        ),
    )


extract_patches_p = Primitive(
    "extract_patches", shape_rule=_extract_patches_rule, vjp=_extract_patches_vjp
)


# -- patches_transpose ------------------------------------------------------------------


def _patches_transpose_rule(p: Aval, *, spatial_shape, window, strides, dilation, padding) -> Aval:
    rank = len(window)
    shape = (p.shape[0], *spatial_shape, p.shape[-1]) if len(p.shape) >= 2 else ()
    expected = _check_geometry("patches_transpose", shape, window, strides, dilation, padding)
    if len(p.shape) != 2 * rank + 2 or tuple(p.shape[1 : 2 * rank + 1]) != (*expected, *window):
        raise ShapeError(
            with_location(
                f"patches_transpose: patches of shape {tuple(p.shape)} do not match a "
                f"{rank}-D window {window} over spatial shape {tuple(spatial_shape)} "
                f"(expected {(p.shape[0] if p.shape else 'N', *expected, *window, 'C')})."
            )
        )
    return Aval(shape, p.dtype)


def _patches_transpose_vjp(
    g, inputs, out, needs, spatial_shape, window, strides, dilation, padding
):
    return (
        extract_patches_p.bind(
            g, window=window, strides=strides, dilation=dilation, padding=padding, pad_value=0.0
        ),
    )


patches_transpose_p = Primitive(
    "patches_transpose",
    shape_rule=_patches_transpose_rule,
    vjp=_patches_transpose_vjp,
    fresh=True,
)


def extract_patches(
    x, window: tuple, strides: tuple, dilation: tuple, padding: tuple, pad_value=0.0
):
    return extract_patches_p.bind(
        x,
        window=tuple(window),
        strides=tuple(strides),
        dilation=tuple(dilation),
        padding=tuple(tuple(p) for p in padding),
        pad_value=float(pad_value),
    )


def patches_transpose(
    p, spatial_shape: tuple, window: tuple, strides: tuple, dilation: tuple, padding: tuple
):
    return patches_transpose_p.bind(
        p,
        spatial_shape=tuple(spatial_shape),
        window=tuple(window),
        strides=tuple(strides),
        dilation=tuple(dilation),
        padding=tuple(tuple(p) for p in padding),
    )


# -- product_patches_transpose -----------------------------------------------------------
# patches_transpose(reshape(a @ b)): a convolution's input gradient (and a transposed
# convolution) as one step, so that a backend can add the product into the image
# without writing the patches (taps times the image). Graphs never trace it: the
# lowering pass ``graph.passes.patches`` puts it in place of the three nodes.
# Params as patches_transpose's; a is (batch * positions, F), b is (F, taps * C).


def _product_patches_transpose_rule(
    a: Aval, b: Aval, *, spatial_shape, window, strides, dilation, padding
) -> Aval:
    rank, taps = len(window), math.prod(window)
    out = _check_geometry(
        "product_patches_transpose", (1, *spatial_shape, 1), window, strides, dilation, padding
    )
    positions = math.prod(out)
    if (
        len(a.shape) != 2
        or len(b.shape) != 2
        or a.shape[1] != b.shape[0]
        or (positions and a.shape[0] % positions)
        or b.shape[1] % taps
        or len(spatial_shape) != rank
    ):
        raise ShapeError(
            with_location(
                f"product_patches_transpose: operands of shapes {tuple(a.shape)} and "
                f"{tuple(b.shape)} are not (batch * {positions}, F) and (F, {taps} * C) for "
                f"a {rank}-D window {window} over spatial shape {tuple(spatial_shape)}."
            )
        )
    rules.same_dtype("product_patches_transpose", a, b)
    batch = a.shape[0] // positions if positions else 0
    return Aval((batch, *spatial_shape, b.shape[1] // taps), a.dtype)


def _product_patches_transpose_vjp(
    g, inputs, out, needs, spatial_shape, window, strides, dilation, padding
):
    from nerve.primitives import linalg
    from nerve.primitives.shape import reshape, transpose

    a, b = inputs
    patches = extract_patches(g, window, strides, dilation, padding)
    rows = reshape(patches, (a.shape[0], b.shape[1]))
    return (
        linalg.matmul_p.bind(rows, transpose(b, (1, 0))) if needs[0] else None,
        linalg.matmul_p.bind(transpose(a, (1, 0)), rows) if needs[1] else None,
    )


product_patches_transpose_p = Primitive(
    "product_patches_transpose",
    shape_rule=_product_patches_transpose_rule,
    vjp=_product_patches_transpose_vjp,
    fresh=True,
)


# -- patches_product -----------------------------------------------------------------
# reshape(extract_patches(x), (rows, taps * C)) @ b with zero padding: a convolution's
# forward product as one step, so that a backend can compute it without the patch
# matrix, or with fewer multiplications (the NumPy backend: Winograd's F(2x2, 3x3)
# for 3x3 windows at stride 1). Graphs never trace it: the lowering pass
# ``graph.passes.patches`` puts it in place of the product. Params as extract_patches'
# (no pad_value: the padding is zero); x is (N, *spatial, C), b is (taps * C, F).


def _patches_product_rule(x: Aval, b: Aval, *, window, strides, dilation, padding) -> Aval:
    out = _check_geometry("patches_product", tuple(x.shape), window, strides, dilation, padding)
    columns = math.prod(window) * x.shape[-1]
    if len(b.shape) != 2 or b.shape[0] != columns:
        raise ShapeError(
            with_location(
                f"patches_product: a kernel of shape {tuple(b.shape)} is not ({columns}, F) "
                f"for a {len(window)}-D window {window} over input of shape {tuple(x.shape)}."
            )
        )
    rules.same_dtype("patches_product", x, b)
    return Aval((x.shape[0] * math.prod(out), b.shape[1]), x.dtype)


def _patches_product_vjp(g, inputs, out, needs, window, strides, dilation, padding):
    from nerve.primitives import linalg
    from nerve.primitives.shape import reshape, transpose

    x, b = inputs
    geometry = dict(window=window, strides=strides, dilation=dilation, padding=padding)
    dx = None
    if needs[0]:
        dx = product_patches_transpose_p.bind(
            g, transpose(b, (1, 0)), spatial_shape=tuple(x.shape[1:-1]), **geometry
        )
    db = None
    if needs[1]:
        patches = extract_patches_p.bind(x, pad_value=0.0, **geometry)
        rows = reshape(patches, (g.shape[0], b.shape[0]))
        db = linalg.matmul_p.bind(transpose(rows, (1, 0)), g)
    return dx, db


patches_product_p = Primitive(
    "patches_product", shape_rule=_patches_product_rule, vjp=_patches_product_vjp, fresh=True
)


# -- transposed_patches_product ------------------------------------------------------
# transpose(reshape(extract_patches(x), (rows, taps * C))) @ g with zero padding: a
# convolution's kernel gradient as one step (patches_product's adjoint in its kernel),
# put in graphs by the same lowering pass. x is (N, *spatial, C), g is (rows, F).


def _transposed_patches_product_rule(
    x: Aval, g: Aval, *, window, strides, dilation, padding
) -> Aval:
    op = "transposed_patches_product"
    out = _check_geometry(op, tuple(x.shape), window, strides, dilation, padding)
    rows = x.shape[0] * math.prod(out)
    if len(g.shape) != 2 or g.shape[0] != rows:
        raise ShapeError(
            with_location(
                f"{op}: a cotangent of shape {tuple(g.shape)} is not ({rows}, F) for a "
                f"{len(window)}-D window {window} over input of shape {tuple(x.shape)}."
            )
        )
    rules.same_dtype(op, x, g)
    return Aval((math.prod(window) * x.shape[-1], g.shape[1]), x.dtype)


def _transposed_patches_product_vjp(g, inputs, out, needs, window, strides, dilation, padding):
    from nerve.primitives.shape import transpose

    x, cotangent = inputs
    geometry = dict(window=window, strides=strides, dilation=dilation, padding=padding)
    dx = None
    if needs[0]:  # P = cotangent @ g.T laid out as patches, added back into the image
        dx = product_patches_transpose_p.bind(
            cotangent, transpose(g, (1, 0)), spatial_shape=tuple(x.shape[1:-1]), **geometry
        )
    dg = patches_product_p.bind(x, g, **geometry) if needs[1] else None
    return dx, dg


transposed_patches_product_p = Primitive(
    "transposed_patches_product",
    shape_rule=_transposed_patches_product_rule,
    vjp=_transposed_patches_product_vjp,
    fresh=True,
)


# -- softmax_rows ----------------------------------------------------------------------
# softmax(x * scale + bias) over the last axis (log_softmax when ``log``), the scale an
# optional number (``None``: none) and the bias an optional vector of the last axis's
# length (shape (n,) or (1, ..., 1, n)). Graphs never trace it: the lowering pass
# ``graph.passes.softmax`` puts it in place of the steps ops.softmax and ops.log_softmax
# trace (and of a multiply by a constant before them), where the backend has a native
# loop for it.


def _softmax_rows_rule(x: Aval, *bias: Aval, log: bool, scale: float | None = None) -> Aval:
    _require_float("softmax_rows", x)
    if not x.shape or len(bias) > 1:
        raise ShapeError(
            with_location(
                f"softmax_rows: takes a tensor of rank >= 1 and at most one bias; got shape "
                f"{tuple(x.shape)} and {len(bias)} biases."
            )
        )
    for b in bias:
        if (
            b.shape[-1:] != x.shape[-1:]
            or any(s != 1 for s in b.shape[:-1])
            or len(b.shape) > len(x.shape)
        ):
            raise ShapeError(
                with_location(
                    f"softmax_rows: the bias must be a vector of the last axis's length "
                    f"{x.shape[-1]} (shape (n,) or (1, ..., 1, n)); got {tuple(b.shape)}."
                )
            )
        rules.same_dtype("softmax_rows", x, b)
    return Aval(tuple(x.shape), x.dtype)


def _softmax_rows_vjp(g, inputs, out, needs, log, scale=None):
    from nerve.primitives import reduction

    last = (len(out.shape) - 1,)
    if log:  # d/dx (x - logsumexp x) = g - softmax(x) * sum(g)
        total = reduction.reduce_sum(g, last, keepdims=True)
        dx = ew.sub(g, ew.mul(ew.exp_p.bind(out), total))
    else:  # y * (g - sum(g * y))
        total = reduction.reduce_sum(ew.mul(g, out), last, keepdims=True)
        dx = ew.mul(out, ew.sub(g, total))
    # The bias's cotangent is dx, summed back to its shape by the autodiff engine.
    dbias = dx
    if scale is not None:
        dx = ew.mul(dx, ew.scalar(scale, dx))
    return (dx if needs[0] else None, *(dbias if need else None for need in needs[1:]))


softmax_rows_p = Primitive(
    "softmax_rows", shape_rule=_softmax_rows_rule, vjp=_softmax_rows_vjp, fresh=True
)


# -- softmax_rows_grad -----------------------------------------------------------------
# The gradient of a softmax over the last axis from its output ``y`` and the output's
# cotangent ``g``: ``y * (g - sum(g * y))``, times ``scale`` unless it is ``None`` (the
# gradient of a multiply by a constant before the softmax: attention's scaled logits).
# Graphs never trace it: ``graph.passes.softmax`` puts it in place of those steps of a
# differentiated graph where the backend runs it natively. Not differentiated: the
# lowering passes run after autodiff.


def _softmax_rows_grad_rule(g: Aval, y: Aval, *, scale: float | None) -> Aval:
    _require_float("softmax_rows_grad", g)
    if tuple(g.shape) != tuple(y.shape) or not g.shape:
        raise ShapeError(
            with_location(
                f"softmax_rows_grad: the cotangent and the softmax's output must have one "
                f"shape of rank >= 1; got {tuple(g.shape)} and {tuple(y.shape)}."
            )
        )
    rules.same_dtype("softmax_rows_grad", g, y)
    return Aval(tuple(g.shape), g.dtype)


softmax_rows_grad_p = Primitive(
    "softmax_rows_grad", shape_rule=_softmax_rows_grad_rule, differentiable=False, fresh=True
)


# -- sparse_softmax_cross_entropy ----------------------------------------------------------
# The cross-entropy of a softmax over the last axis of ``logits`` against integer class
# ``labels`` (the shape of ``logits`` without that axis): ``-log_softmax(logits)[label]``
# per row, computed as ``ops.log_softmax`` steps it (``s = x - max(x)``, then
# ``-(s[label] - log(sum(exp(s))))``); NaN for a label outside ``[0, classes)``.
# ``ops.sparse_categorical_crossentropy`` binds it for logits over the last axis: as the
# one-hot product of ``log_softmax`` steps it was ~16 small kernels forward and back
# (~60 us of a ~1.1 ms MLP training step at batch 32 on the 2-vCPU Xeon), one row loop
# each way here. The gradient is ``sparse_softmax_cross_entropy_grad``.


def _check_labels(op: str, logits: Aval, labels: Aval) -> None:
    _require_float(op, logits)
    if not logits.shape:
        raise ShapeError(with_location(f"{op}: logits must have rank >= 1; got a scalar."))
    if not (labels.dtype.startswith("int") or labels.dtype.startswith("uint")):
        raise TypeError(
            with_location(f"{op}: labels must be integer class indices; got {labels.dtype}.")
        )
    if tuple(labels.shape) != tuple(logits.shape[:-1]):
        raise ShapeError(
            with_location(
                f"{op}: labels of shape {tuple(labels.shape)} for logits of shape "
                f"{tuple(logits.shape)}; expected the logits' shape without its last "
                f"axis, {tuple(logits.shape[:-1])}."
            )
        )


def _sparse_xent_rule(logits: Aval, labels: Aval) -> Aval:
    _check_labels("sparse_softmax_cross_entropy", logits, labels)
    return Aval(tuple(logits.shape[:-1]), logits.dtype)


def _sparse_xent_vjp(g, inputs, out, needs):
    logits, labels = inputs
    if not needs[0]:
        return None, None
    return sparse_softmax_cross_entropy_grad_p.bind(logits, labels, g), None


sparse_softmax_cross_entropy_p = Primitive(
    "sparse_softmax_cross_entropy",
    shape_rule=_sparse_xent_rule,
    vjp=_sparse_xent_vjp,
    fresh=True,
)


# -- sparse_softmax_cross_entropy_grad -------------------------------------------------
# The gradient of ``sparse_softmax_cross_entropy`` from the rows' cotangent ``g``:
# ``softmax(logits) * g - one_hot(labels) * g``, computed as the unfused graph's steps
# do (``exp(s) * (g / sum(exp(s)))``, then ``g`` taken off at the label); a row whose
# label is out of range is NaN.


def _sparse_xent_grad_rule(logits: Aval, labels: Aval, g: Aval) -> Aval:
    _check_labels("sparse_softmax_cross_entropy_grad", logits, labels)
    return _row_gradient("sparse_softmax_cross_entropy_grad", logits, g)


def _row_gradient(op: str, logits: Aval, g: Aval) -> Aval:
    """The logits' gradient from the rows' cotangent ``g`` (checked: one value per row
    of the logits, their dtype)."""
    if tuple(g.shape) != tuple(logits.shape[:-1]):
        raise ShapeError(
            with_location(
                f"{op}: a cotangent of shape {tuple(g.shape)} for logits of shape "
                f"{tuple(logits.shape)}; expected {tuple(logits.shape[:-1])}."
            )
        )
    rules.same_dtype(op, logits, g)
    return Aval(tuple(logits.shape), logits.dtype)


def _one_hot(labels, logits):
    """``one_hot(labels)`` over the logits' classes, in their dtype, as primitives (for
    the gradient's own gradient)."""
    from nerve.primitives import creation

    classes = creation.arange_p.bind(start=0, stop=logits.shape[-1], step=1, dtype=labels.dtype)
    return ew.cast(ew.equal_p.bind(_column(labels), classes), logits.dtype)


def _sparse_xent_grad_vjp(c, inputs, out, needs):
    from nerve.primitives import reduction

    logits, labels, g = inputs
    last = (len(logits.shape) - 1,)
    p = ew.exp_p.bind(_log_softmax(logits))
    column = _column(g)
    d_logits = d_g = None
    if needs[0]:  # d(p * g)/dx contracted with c: g * p * (c - sum(c * p))
        inner = reduction.reduce_sum(ew.mul(c, p), last, keepdims=True)
        d_logits = ew.mul(column, ew.mul(p, ew.sub(c, inner)))
    if needs[2]:
        d_g = reduction.reduce_sum(ew.mul(c, ew.sub(p, _one_hot(labels, logits))), last)
    return d_logits, None, d_g


sparse_softmax_cross_entropy_grad_p = Primitive(
    "sparse_softmax_cross_entropy_grad",
    shape_rule=_sparse_xent_grad_rule,
    vjp=_sparse_xent_grad_vjp,
    fresh=True,
)


# -- softmax_cross_entropy --------------------------------------------------------------
# The cross-entropy of a softmax over the last axis of ``logits`` against ``targets`` of
# the same shape (one-hot or soft): ``-sum(targets * log_softmax(logits))`` per row, as
# ``ops.log_softmax``'s steps and the sum of products compute it.
# ``ops.categorical_crossentropy`` binds it for logits over the last axis (the loss of a
# softmax classifier trained on one-hot labels), for the same reason as the sparse form.
# Its gradient for the logits is ``softmax_cross_entropy_grad``; for the targets
# (soft labels that are themselves computed) ``-log_softmax(logits) * g``.


def _check_targets(op: str, logits: Aval, targets: Aval) -> None:
    _require_float(op, logits)
    if not logits.shape or tuple(targets.shape) != tuple(logits.shape):
        raise ShapeError(
            with_location(
                f"{op}: targets of shape {tuple(targets.shape)} for logits of shape "
                f"{tuple(logits.shape)}; expected one shape of rank >= 1."
            )
        )
    rules.same_dtype(op, logits, targets)


def _xent_rule(logits: Aval, targets: Aval) -> Aval:
    _check_targets("softmax_cross_entropy", logits, targets)
    return Aval(tuple(logits.shape[:-1]), logits.dtype)


def _log_softmax(logits):
    """``log_softmax(logits)`` over the last axis, as primitives."""
    from nerve.primitives import reduction

    last = (len(logits.shape) - 1,)
    peak = reduction.reduce_max_p.bind(logits, axes=last, keepdims=True)
    shifted = ew.sub(logits, peak)
    total = reduction.reduce_sum(ew.exp_p.bind(shifted), last, keepdims=True)
    return ew.sub(shifted, ew.log_p.bind(total))


def _column(g):
    from nerve.primitives.shape import reshape

    return reshape(g, (*g.shape, 1))


def _xent_vjp(g, inputs, out, needs):
    logits, targets = inputs
    d_logits = softmax_cross_entropy_grad_p.bind(logits, targets, g) if needs[0] else None
    d_targets = ew.neg(ew.mul(_log_softmax(logits), _column(g))) if needs[1] else None
    return d_logits, d_targets


softmax_cross_entropy_p = Primitive(
    "softmax_cross_entropy", shape_rule=_xent_rule, vjp=_xent_vjp, fresh=True
)


# -- softmax_cross_entropy_grad ----------------------------------------------------------
# The gradient of ``softmax_cross_entropy`` for its logits from the rows' cotangent
# ``g``: ``g * (softmax(logits) * sum(targets) - targets)``, computed as the unfused
# graph's steps do (``t * -g + exp(s) * ((0 - sum(t * -g)) / sum(exp(s)))``).


def _xent_grad_rule(logits: Aval, targets: Aval, g: Aval) -> Aval:
    _check_targets("softmax_cross_entropy_grad", logits, targets)
    return _row_gradient("softmax_cross_entropy_grad", logits, g)


def _xent_grad_vjp(c, inputs, out, needs):
    from nerve.primitives import reduction

    logits, targets, g = inputs
    last = (len(logits.shape) - 1,)
    p = ew.exp_p.bind(_log_softmax(logits))
    column = _column(g)
    weight = reduction.reduce_sum(targets, last, keepdims=True)  # sum(t) per row
    c_dot_p = reduction.reduce_sum(ew.mul(c, p), last, keepdims=True)
    d_logits = d_targets = d_g = None
    if needs[0]:  # g * sum(t) * p * (c - sum(c * p))
        d_logits = ew.mul(ew.mul(column, weight), ew.mul(p, ew.sub(c, c_dot_p)))
    if needs[1]:  # g * (sum(c * p) - c)
        d_targets = ew.mul(column, ew.sub(c_dot_p, c))
    if needs[2]:
        d_g = reduction.reduce_sum(ew.mul(c, ew.sub(ew.mul(p, weight), targets)), last)
    return d_logits, d_targets, d_g


softmax_cross_entropy_grad_p = Primitive(
    "softmax_cross_entropy_grad", shape_rule=_xent_grad_rule, vjp=_xent_grad_vjp, fresh=True
)


# -- layer_norm_rows -------------------------------------------------------------------
# The statistics ``ops.layer_normalization`` computes over the last axis, in its steps:
# ``c = x - sum(x) / count``, ``v = sum(c * c) / count + epsilon`` and ``inv =
# rsqrt(v)`` (sums kept), returned as ``(c, v, inv)``. Graphs never trace it:
# ``graph.passes.layer_norm`` puts it in place of those steps where the backend runs it
# natively. Not differentiated: the lowering passes run after autodiff.


def _layer_norm_rows_rule(x: Aval, *, count: float, epsilon: float) -> tuple:
    _require_float("layer_norm_rows", x)
    if not x.shape:
        raise ShapeError(
            with_location(f"layer_norm_rows: needs a tensor of rank >= 1; got shape {x.shape}.")
        )
    rows = Aval((*x.shape[:-1], 1), x.dtype)
    return Aval(tuple(x.shape), x.dtype), rows, rows


layer_norm_rows_p = Primitive(
    "layer_norm_rows",
    shape_rule=_layer_norm_rows_rule,
    multiple_results=True,
    differentiable=False,
    fresh=True,
)

# -- layer_norm_grad_rows ------------------------------------------------------------
# The steps autodiff gives for the gradient of a layer normalization over the last axis
# (``ops.layer_normalization``: ``c = x - mean``, ``v = var + epsilon``, ``inv =
# rsqrt(v)``) with respect to its input, from ``a`` (the output's cotangent times
# gamma), ``c``, and the per-row ``inv`` and ``v`` (shape ``(..., 1)``), ``count`` the
# row length as the graph divides by it::
#
#     t = a * inv;  d = sum(a * c) * ((-0.5 * inv) / v) / count;  e = d * c + d * c
#     dx = (t + e) + (sum(-t) + sum(-e)) / count
#
# (sums over the last axis, kept). Graphs never trace it: ``graph.passes.layer_norm``
# puts it in place of those steps where the backend runs it natively. Not
# differentiated: the lowering passes run after autodiff.


def _layer_norm_grad_rows_rule(a: Aval, c: Aval, inv: Aval, v: Aval, *, count: float) -> Aval:
    _require_float("layer_norm_grad_rows", a)
    rows = (*a.shape[:-1], 1)
    if (
        not a.shape
        or tuple(c.shape) != tuple(a.shape)
        or any(tuple(x.shape) != rows for x in (inv, v))
    ):
        raise ShapeError(
            with_location(
                f"layer_norm_grad_rows: needs a and c of one shape of rank >= 1 and inv and v "
                f"of that shape with a last axis of 1; got {tuple(a.shape)}, {tuple(c.shape)}, "
                f"{tuple(inv.shape)} and {tuple(v.shape)}."
            )
        )
    for x in (c, inv, v):
        rules.same_dtype("layer_norm_grad_rows", a, x)
    return Aval(tuple(a.shape), a.dtype)


layer_norm_grad_rows_p = Primitive(
    "layer_norm_grad_rows",
    shape_rule=_layer_norm_grad_rows_rule,
    differentiable=False,
    fresh=True,
)

# -- max_pool and window_scatter ----------------------------------------------------------
# Params: ``window``, ``strides`` and ``padding`` as for the patches (no dilation).


def _require_float(op: str, x: Aval) -> None:
    if x.dtype not in ("float16", "bfloat16", "float32", "float64"):
        raise ShapeError(with_location(f"{op}: needs a floating-point tensor, got {x.dtype}."))


def _max_pool_rule(x: Aval, *, window, strides, padding) -> tuple:
    dilation = (1,) * len(window)
    out = _check_geometry("max_pool", tuple(x.shape), window, strides, dilation, padding)
    _require_float("max_pool", x)
    shape = (x.shape[0], *out, x.shape[-1])
    return Aval(shape, x.dtype), Aval(shape, "int32")


def _max_pool_vjp(cts, inputs, out, needs, window, strides, padding):
    (x,) = inputs
    spatial = tuple(x.shape[1:-1])
    return (
        window_scatter_p.bind(
            cts[0], out[1], spatial_shape=spatial, window=window, strides=strides,
            padding=padding,
        ),
    )  # fmt: skip


max_pool_p = Primitive(
    "max_pool",
    shape_rule=_max_pool_rule,
    vjp=_max_pool_vjp,
    multiple_results=True,
    fresh=True,
)


def _window_scatter_rule(g: Aval, argmax: Aval, *, spatial_shape, window, strides, padding):
    dilation = (1,) * len(window)
    shape = (g.shape[0], *spatial_shape, g.shape[-1]) if len(g.shape) >= 2 else ()
    expected = _check_geometry("window_scatter", shape, window, strides, dilation, padding)
    _require_float("window_scatter", g)
    if tuple(g.shape) != (g.shape[0], *expected, g.shape[-1]) or tuple(argmax.shape) != tuple(
        g.shape
    ):
        raise ShapeError(
            with_location(
                f"window_scatter: a cotangent of shape {tuple(g.shape)} and window positions "
                f"of shape {tuple(argmax.shape)} do not match {len(window)}-D windows "
                f"{window} over spatial shape {tuple(spatial_shape)} (both should be "
                f"{(g.shape[0], *expected, g.shape[-1])})."
            )
        )
    if argmax.dtype != "int32":
        raise ShapeError(
            with_location(f"window_scatter: window positions must be int32, got {argmax.dtype}.")
        )
    return Aval(shape, g.dtype)


def _window_gather(h, argmax, window, strides, padding):
    """``h`` at each window's chosen position (0 where the position is padding): the
    adjoint of ``window_scatter``, as a one-hot selection from ``h``'s patches."""
    from nerve.primitives import creation, reduction, shape

    rank = len(window)
    taps = math.prod(window)
    patches = extract_patches(h, window, strides, (1,) * rank, padding)
    positions = tuple(argmax.shape[:-1])
    flat = shape.reshape(patches, (*positions, taps, argmax.shape[-1]))
    every = shape.reshape(
        creation.arange_p.bind(start=0, stop=taps, step=1, dtype="int32"), (taps, 1)
    )
    chosen = ew.equal_p.bind(shape.reshape(argmax, (*positions, 1, argmax.shape[-1])), every)
    picked = ew.where(chosen, flat, ew.scalar(0, flat))
    return reduction.reduce_sum_p.bind(picked, axes=(rank + 1,), keepdims=False)


def _window_scatter_vjp(g, inputs, out, needs, spatial_shape, window, strides, padding):
    argmax = inputs[1]
    return (_window_gather(g, argmax, window, strides, padding) if needs[0] else None, None)


window_scatter_p = Primitive(
    "window_scatter", shape_rule=_window_scatter_rule, vjp=_window_scatter_vjp, fresh=True
)


def _masked_window_scatter_rule(
    g: Aval, argmax: Aval, y: Aval, *, spatial_shape, window, strides, padding
) -> Aval:
    out = _window_scatter_rule(
        g, argmax, spatial_shape=spatial_shape, window=window, strides=strides, padding=padding
    )
    if tuple(y.shape) != tuple(out.shape) or y.dtype != out.dtype:
        raise ShapeError(
            with_location(
                f"masked_window_scatter: the mask's operand has shape {tuple(y.shape)} and "
                f"dtype {y.dtype}; expected {tuple(out.shape)} and {out.dtype}, the "
                "scattered image's."
            )
        )
    return out


def _masked_window_scatter_vjp(ct, inputs, out, needs, spatial_shape, window, strides,
                               padding):  # fmt: skip
    g, argmax, y = inputs
    if not needs[0]:
        return (None, None, None)
    masked = ew.mul(ct, ew.cast(ew.greater_p.bind(y, ew.scalar(0, y)), ct.dtype))
    return (_window_gather(masked, argmax, window, strides, padding), None, None)


#: ``window_scatter(g, argmax) * cast(y > 0)`` as one node: a ReLU's gradient of what
#: max pooling scattered back (a convolution, its ReLU, then pooling). The lowering pass
#: ``passes.pool_masks`` makes it from the two, and the kernel applies the mask as it
#: writes the image instead of reading and writing the image again (the same values).
masked_window_scatter_p = Primitive(
    "masked_window_scatter",
    shape_rule=_masked_window_scatter_rule,
    vjp=_masked_window_scatter_vjp,
    fresh=True,
)


def max_pool(x, window: tuple, strides: tuple, padding: tuple) -> tuple:
    """``(maxima, positions)`` of a channels-last ``x`` over sliding windows; see the
    module docstring."""
    return tuple(
        max_pool_p.bind(
            x,
            window=tuple(window),
            strides=tuple(strides),
            padding=tuple(tuple(p) for p in padding),
        )
    )


# -- product_bias_relu --------------------------------------------------------------------
# relu(a @ b + bias) for a (M, K), b (K, N), bias (N,): a dense or convolution layer's
# product with its bias and ReLU, put in graphs by lowering (passes/epilogues.py) where
# the backend's product loop writes them with each result (the first convolution of an
# image model: a long, thin patch matrix whose product OpenBLAS runs poorly).


def _product_bias_relu_rule(a: Aval, b: Aval, bias: Aval) -> Aval:
    rules.same_dtype("product_bias_relu", a, b, bias)
    if len(a.shape) != 2 or len(b.shape) != 2 or a.shape[1] != b.shape[0]:
        raise ShapeError(
            with_location(
                f"product_bias_relu: operands of shapes {tuple(a.shape)} and "
                f"{tuple(b.shape)} are not matrices (M, K) and (K, N)."
            )
        )
    if tuple(bias.shape) != (b.shape[1],):
        raise ShapeError(
            with_location(
                f"product_bias_relu: a bias of shape {tuple(bias.shape)} for "
                f"{b.shape[1]} columns; expected ({b.shape[1]},)."
            )
        )
    return Aval((a.shape[0], b.shape[1]), a.dtype)


def _product_bias_relu_vjp(g, inputs, out, needs):
    from nerve.primitives import linalg, reduction
    from nerve.primitives.shape import transpose

    a, b, _ = inputs
    gz = ew.mul(g, ew.cast(ew.greater_p.bind(out, ew.scalar(0, out)), out.dtype))
    return (
        linalg.matmul_p.bind(gz, transpose(b, (1, 0))) if needs[0] else None,
        linalg.matmul_p.bind(transpose(a, (1, 0)), gz) if needs[1] else None,
        reduction.reduce_sum_p.bind(gz, axes=(0,), keepdims=False) if needs[2] else None,
    )


product_bias_relu_p = Primitive(
    "product_bias_relu",
    shape_rule=_product_bias_relu_rule,
    vjp=_product_bias_relu_vjp,
    fresh=True,
)


# -- product_bias -------------------------------------------------------------------------
# a @ b + bias for a (M, K), b (K, N), bias (N,): sibling products of one operand with
# their biases as one product (self-attention's query, key and value projections, their
# weights side by side), put in graphs by lowering (passes/siblings.py) where the
# backend's product loop adds the bias to each block of results while it is in the
# cache. Not differentiated: the lowering passes run after autodiff.


def _product_bias_rule(a: Aval, b: Aval, bias: Aval) -> Aval:
    rules.same_dtype("product_bias", a, b, bias)
    if len(a.shape) != 2 or len(b.shape) != 2 or a.shape[1] != b.shape[0]:
        raise ShapeError(
            with_location(
                f"product_bias: operands of shapes {tuple(a.shape)} and {tuple(b.shape)} are "
                "not matrices (M, K) and (K, N)."
            )
        )
    if tuple(bias.shape) != (b.shape[1],):
        raise ShapeError(
            with_location(
                f"product_bias: a bias of shape {tuple(bias.shape)} for {b.shape[1]} "
                f"columns; expected ({b.shape[1]},)."
            )
        )
    return Aval((a.shape[0], b.shape[1]), a.dtype)


product_bias_p = Primitive(
    "product_bias", shape_rule=_product_bias_rule, differentiable=False, fresh=True
)


# -- masked_product -------------------------------------------------------------------
# (a @ b) * cast(y > 0) for a (M, K), b (K, N), y (M, N): a dense layer's product in the
# backward pass times the ReLU's mask of the layer before it (y that ReLU's output), put
# in graphs by lowering (passes/epilogues.py) where the backend's product loop applies
# the mask to each block of results while it is in the cache. Not differentiated: the
# lowering passes run after autodiff.


def _masked_product_rule(a: Aval, b: Aval, y: Aval) -> Aval:
    rules.same_dtype("masked_product", a, b, y)
    if len(a.shape) != 2 or len(b.shape) != 2 or a.shape[1] != b.shape[0]:
        raise ShapeError(
            with_location(
                f"masked_product: operands of shapes {tuple(a.shape)} and {tuple(b.shape)} "
                "are not matrices (M, K) and (K, N)."
            )
        )
    if tuple(y.shape) != (a.shape[0], b.shape[1]):
        raise ShapeError(
            with_location(
                f"masked_product: a mask of shape {tuple(y.shape)} for a product of shape "
                f"{(a.shape[0], b.shape[1])}; expected that shape."
            )
        )
    return Aval((a.shape[0], b.shape[1]), a.dtype)


masked_product_p = Primitive(
    "masked_product", shape_rule=_masked_product_rule, differentiable=False, fresh=True
)


# -- relu -------------------------------------------------------------------------------
# A primitive, not where(x > 0, x, 0): measured on the MLP benchmark, NumPy's where
# with a broadcast scalar is 5x slower than maximum, and relu runs in every layer.


def _relu_vjp(g, inputs, out, needs):
    positive = ew.cast(ew.greater_p.bind(out, ew.scalar(0, out)), out.dtype)
    return (ew.mul(g, positive),)


relu_p = Primitive("relu", shape_rule=rules.unary("relu"), vjp=_relu_vjp, elementwise=True)


# -- resample and resample_transpose ----------------------------------------------------
# Separable image resampling (resize, scale_and_translate) applies a sparse weight
# matrix along one axis: output row i = sum_t weights[i, t] * input row indices[i, t].
# As a composite that is a gather, a multiply and a sum per tap, several passes over the
# data; as one kernel it is one pass (measured: resizing a 32x224x224x3 batch to 112x112
# took 40 ms as a composite). The two primitives are each other's vector-Jacobian product.


def _resample_tables(op: str, x: Aval, indices: Aval, weights: Aval, axis: int) -> None:
    if not 0 <= axis < len(x.shape):
        raise ShapeError(with_location(f"{op}: axis {axis} is out of range for shape {x.shape}."))
    if len(indices.shape) != 2 or tuple(indices.shape) != tuple(weights.shape):
        raise ShapeError(
            with_location(
                f"{op}: indices and weights must be 2-D tables (positions, taps) of one shape, "
                f"got {tuple(indices.shape)} and {tuple(weights.shape)}."
            )
        )
    if indices.dtype != "int32":
        raise ShapeError(with_location(f"{op}: indices must be int32, got {indices.dtype}."))
    rules.same_dtype(op, x, weights)
    if x.dtype not in ("float16", "bfloat16", "float32", "float64"):
        raise ShapeError(with_location(f"{op}: needs a floating-point tensor, got {x.dtype}."))


def _resample_rule(x: Aval, indices: Aval, weights: Aval, *, axis: int) -> Aval:
    _resample_tables("resample", x, indices, weights, axis)
    shape = list(x.shape)
    shape[axis] = indices.shape[0]
    return Aval(tuple(shape), x.dtype)


def _resample_transpose_rule(g: Aval, indices: Aval, weights: Aval, *, axis: int, size: int):
    _resample_tables("resample_transpose", g, indices, weights, axis)
    if g.shape[axis] != indices.shape[0]:
        raise ShapeError(
            with_location(
                f"resample_transpose: axis {axis} of {tuple(g.shape)} must have the "
                f"{indices.shape[0]} positions of the tables."
            )
        )
    shape = list(g.shape)
    shape[axis] = size
    return Aval(tuple(shape), g.dtype)


def _weights_cotangent(rows, gathered_from, indices, axis: int):
    """d<rows, resample(gathered_from)>/d weights: for each table entry (i, t), the sum
    over every other axis of ``rows[..., i, ...] * gathered_from[..., indices[i, t], ...]``."""
    from nerve.primitives import indexing, reduction, shape

    positions, taps = indices.shape
    flat = shape.reshape(indices, (positions * taps,))
    picked = indexing.getitem(gathered_from, indexing.along(axis, ("array", 0)), (flat,))
    before, after = tuple(picked.shape[:axis]), tuple(picked.shape[axis + 1 :])
    picked = shape.reshape(picked, (*before, positions, taps, *after))
    spread = shape.reshape(rows, (*before, positions, 1, *after))
    others = tuple(range(axis)) + tuple(range(axis + 2, len(before) + 2 + len(after)))
    return reduction.reduce_sum(ew.mul(picked, spread), others)


def _resample_vjp(g, inputs, out, needs, axis):
    x, indices, weights = inputs
    return (
        resample_transpose_p.bind(g, indices, weights, axis=axis, size=x.shape[axis])
        if needs[0]
        else None,
        None,
        _weights_cotangent(g, x, indices, axis) if needs[2] else None,
    )


def _resample_transpose_vjp(g, inputs, out, needs, axis, size):
    rows, indices, weights = inputs
    return (
        resample_p.bind(g, indices, weights, axis=axis) if needs[0] else None,
        None,
        _weights_cotangent(rows, g, indices, axis) if needs[2] else None,
    )


resample_p = Primitive("resample", shape_rule=_resample_rule, vjp=_resample_vjp, fresh=True)
resample_transpose_p = Primitive(
    "resample_transpose", shape_rule=_resample_transpose_rule, vjp=_resample_transpose_vjp,
    fresh=True,
)  # fmt: skip


# -- resample2 --------------------------------------------------------------------------
# A resize resamples two adjacent axes. One after the other, the first pass writes a
# whole intermediate image that the second reads back; as one kernel each output row
# of the first pass is resampled along the second axis while it is hot (measured, a
# 32x224x224x3 batch to 112x112 at one thread: 5.6 ms as two passes, see README).
# Its gradients are the two one-axis adjoints.


def _resample2_rule(
    x: Aval, indices0: Aval, weights0: Aval, indices1: Aval, weights1: Aval, *, axis: int
) -> Aval:
    if not 0 <= axis < len(x.shape) - 1:
        raise ShapeError(
            with_location(
                f"resample2: axes {axis} and {axis + 1} are out of range for shape {x.shape}."
            )
        )
    _resample_tables("resample2", x, indices0, weights0, axis)
    _resample_tables("resample2", x, indices1, weights1, axis + 1)
    shape = list(x.shape)
    shape[axis], shape[axis + 1] = indices0.shape[0], indices1.shape[0]
    return Aval(tuple(shape), x.dtype)


def _resample2_vjp(g, inputs, out, needs, axis):
    # y = R1 R0 x: R1's cotangent sees R0 x, R0's sees R1^T g.
    x, indices0, weights0, indices1, weights1 = inputs
    size0, size1 = x.shape[axis], x.shape[axis + 1]
    back = resample_transpose_p.bind(g, indices1, weights1, axis=axis + 1, size=size1)
    cotangents = [None] * 5
    if needs[0]:
        cotangents[0] = resample_transpose_p.bind(back, indices0, weights0, axis=axis, size=size0)
    if needs[2]:
        cotangents[2] = _weights_cotangent(back, x, indices0, axis)
    if needs[4]:
        first = resample_p.bind(x, indices0, weights0, axis=axis)
        cotangents[4] = _weights_cotangent(g, first, indices1, axis + 1)
    return tuple(cotangents)


resample2_p = Primitive("resample2", shape_rule=_resample2_rule, vjp=_resample2_vjp, fresh=True)


# -- frames and overlap_add -------------------------------------------------------------
# An STFT pads a signal by reflection, frames it, windows the frames and transforms
# them. Composed, padding is a concatenation of reversed slices, framing another of
# slices (copies) and windowing a pass that allocates; as one kernel the windowed frames
# are written once, read from a signal that stays in cache (measured, ops.stft of 1 s
# of 16 kHz audio at one thread: 0.41 ms composed, see README's ops benchmark).
# overlap_add is its adjoint (and istft's overlap-add).


def frame_count(size: int, length: int, stride: int) -> int:
    """How many frames of ``length`` samples, ``stride`` apart, fit in ``size``."""
    return max(0, 1 + (size - length) // stride) if size >= length else 0


def _check_stride(op: str, stride: int) -> None:
    if stride <= 0:
        raise ShapeError(with_location(f"{op}: stride must be positive, got {stride}."))


def _frames_rule(x: Aval, window: Aval, *, stride: int, pad: int) -> Aval:
    _check_stride("frames", stride)
    if not x.shape or len(window.shape) != 1:
        raise ShapeError(
            with_location(
                f"frames: needs a signal of rank >= 1 and a 1-D window, got shapes "
                f"{tuple(x.shape)} and {tuple(window.shape)}."
            )
        )
    if pad < 0 or (pad and pad >= x.shape[-1]):
        raise ShapeError(
            with_location(
                f"frames: a reflection of pad={pad} samples needs a signal longer than "
                f"that, got {x.shape[-1]} samples."
            )
        )
    rules.same_dtype("frames", x, window)
    length = window.shape[0]
    count = frame_count(x.shape[-1] + 2 * pad, length, stride)
    return Aval((*x.shape[:-1], count, length), x.dtype)


def _reflection_adjoint(g, size: int, pad: int):
    """The cotangent of a signal of ``size`` samples from that of its reflection-padded
    form ``g`` (``size + 2 pad`` samples; NumPy's "reflect": edges not repeated): the
    middle, plus each mirrored margin added back where it was read."""
    from nerve.primitives import indexing
    from nerve.primitives.shape import pad_p

    axis = len(g.shape) - 1

    def piece(start, stop, step):
        return indexing.getitem(g, indexing.along(axis, ("slice", start, stop, step)))

    def placed(part, before):
        width = ((0, 0),) * axis + ((before, size - before - pad),)
        return pad_p.bind(part, pad_width=width, value=0)

    middle = piece(pad, pad + size, None)
    if pad == 0:
        return middle
    # padded[i] = x[pad - i] for i < pad; padded[pad + size + i] = x[size - 2 - i].
    left = placed(piece(pad - 1, None, -1), 1)
    right = placed(piece(2 * pad + size - 1, pad + size - 1, -1), size - 1 - pad)
    return ew.add(middle, ew.add(left, right))


def _frames_vjp(g, inputs, out, needs, stride, pad):
    from nerve.primitives import reduction

    x, window = inputs
    size = x.shape[-1]
    cotangents: list = [None, None]
    if needs[0]:
        padded = overlap_add_p.bind(ew.mul(g, window), stride=stride, size=size + 2 * pad)
        cotangents[0] = _reflection_adjoint(padded, size, pad)
    if needs[1]:
        plain = frames_p.bind(x, _ones(window, window.shape[0]), stride=stride, pad=pad)
        every_frame = tuple(range(len(g.shape) - 1))
        cotangents[1] = reduction.reduce_sum(ew.mul(g, plain), every_frame)
    return tuple(cotangents)


def _ones(like, length: int):
    from nerve.primitives.shape import broadcast_to

    return broadcast_to(ew.scalar(1, like), (length,))


def _overlap_add_rule(frames: Aval, *, stride: int, size: int) -> Aval:
    _check_stride("overlap_add", stride)
    if len(frames.shape) < 2:
        raise ShapeError(
            with_location(
                f"overlap_add: needs frames of rank >= 2 (..., count, length), got shape "
                f"{tuple(frames.shape)}."
            )
        )
    count, length = frames.shape[-2:]
    if count and (count - 1) * stride + length > size:
        raise ShapeError(
            with_location(
                f"overlap_add: {count} frames of {length} samples every {stride} need "
                f"{(count - 1) * stride + length} samples, more than size={size}."
            )
        )
    return Aval((*frames.shape[:-2], size), frames.dtype)


def _overlap_add_vjp(g, inputs, out, needs, stride, size):
    from nerve.primitives import indexing

    (frames,) = inputs
    count, length = frames.shape[-2:]
    plain = frames_p.bind(g, _ones(g, length), stride=stride, pad=0)
    if plain.shape[-2] != count:  # size left room for more frames than were added
        axis = len(g.shape) - 1
        plain = indexing.getitem(plain, indexing.along(axis, ("slice", 0, count, None)))
    return (plain,)


frames_p = Primitive("frames", shape_rule=_frames_rule, vjp=_frames_vjp, fresh=True)
overlap_add_p = Primitive(
    "overlap_add", shape_rule=_overlap_add_rule, vjp=_overlap_add_vjp, fresh=True
)
