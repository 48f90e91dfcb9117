"""Reduction and scan primitives. ``axes`` is a sorted tuple of non-negative axes;
scans and arg-reductions take one non-negative ``axis``."""

from __future__ import annotations

import math

from nerve.core import dtypes
from nerve.core.errors import DTypeError, ShapeError, with_location
from nerve.primitives import elementwise as ew
from nerve.primitives.registry import Aval, Primitive
from nerve.primitives.shape import broadcast_to, reshape, transpose

__all__ = [
    "argmax_p",
    "argmin_p",
    "cumprod_p",
    "cumsum_p",
    "expand_reduced",
    "reduce_all_p",
    "reduce_any_p",
    "reduce_l2_p",
    "reduce_max_p",
    "reduce_min_p",
    "reduce_prod_p",
    "reduce_sum",
    "reduce_sum_p",
    "reduced_shape",
]


def reduced_shape(shape: tuple, axes: tuple, keepdims: bool) -> tuple:
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def _reduce_rule(x: Aval, *, axes: tuple, keepdims: bool) -> Aval:
    return Aval(reduced_shape(tuple(x.shape), axes, keepdims), x.dtype)


def _bool_reduce_rule(x: Aval, *, axes: tuple, keepdims: bool) -> Aval:
    return Aval(reduced_shape(tuple(x.shape), axes, keepdims), "bool")


def _require_nonempty(op: str, x: Aval, axes: tuple) -> None:
    """max/min/argmax/argmin: an empty axis has no extremum."""
    empty = [a for a in axes if x.shape[a] == 0]
    if empty:
        raise ShapeError(
            with_location(
                f"{op}: cannot reduce over axis {empty[0]} of size 0 (input shape "
                f"{tuple(x.shape)}); an empty axis has no {op.removeprefix('arg')}imum."
            )
        )


def _extremum_rule(op: str):
    def rule(x: Aval, *, axes: tuple, keepdims: bool) -> Aval:
        _require_nonempty(op, x, axes)
        return _reduce_rule(x, axes=axes, keepdims=keepdims)

    rule.__name__ = f"_{op}_shape_rule"
    return rule


def _arg_rule(op: str):
    def rule(x: Aval, *, axis: int, keepdims: bool) -> Aval:
        _require_nonempty(op, x, (axis,))
        return Aval(reduced_shape(tuple(x.shape), (axis,), keepdims), "int32")

    rule.__name__ = f"_{op}_shape_rule"
    return rule


def expand_reduced(g, shape: tuple, axes: tuple, keepdims: bool):
    """Broadcast a reduced cotangent back to the input ``shape``."""
    if not keepdims:
        g = reshape(g, reduced_shape(shape, axes, True))
    return broadcast_to(g, shape)


def _sum_vjp(g, inputs, out, needs, axes, keepdims):
    return (expand_reduced(g, tuple(inputs[0].shape), axes, keepdims),)


def _extremum_vjp(g, inputs, out, needs, axes, keepdims):
    """Gradient of max/min: shared evenly among the positions that attain it."""
    (x,) = inputs
    shape = tuple(x.shape)
    hit = ew.cast(ew.equal_p.bind(x, expand_reduced(out, shape, axes, keepdims)), x.dtype)
    count = reduce_sum_p.bind(hit, axes=axes, keepdims=keepdims)
    return (ew.mul(hit, expand_reduced(ew.div(g, count), shape, axes, keepdims)),)


def _prod_vjp(g, inputs, out, needs, axes, keepdims):
    """d prod / d x_i is the product of the other entries: the exclusive cumulative
    products from the left and from the right, multiplied. No division, so entries
    equal to zero get their exact gradient."""
    (x,) = inputs
    shape = tuple(x.shape)
    kept = tuple(a for a in range(len(shape)) if a not in axes)
    # Move the reduced axes last and flatten them into one axis to scan along.
    perm = kept + tuple(axes)
    moved = transpose(x, perm)
    flat = reshape(moved, (*(shape[a] for a in kept), math.prod(shape[a] for a in axes)))
    last = len(kept)
    left = cumprod_p.bind(flat, axis=last, reverse=False, exclusive=True)
    right = cumprod_p.bind(flat, axis=last, reverse=True, exclusive=True)
    others = reshape(ew.mul(left, right), tuple(moved.shape))
    inverse = tuple(sorted(range(len(perm)), key=perm.__getitem__))
    others = transpose(others, inverse)
    return (ew.mul(expand_reduced(g, shape, axes, keepdims), others),)


reduce_sum_p = Primitive("reduce_sum", shape_rule=_reduce_rule, vjp=_sum_vjp, fresh=True)
reduce_max_p = Primitive(
    "reduce_max", shape_rule=_extremum_rule("max"), vjp=_extremum_vjp, fresh=True
)
reduce_min_p = Primitive(
    "reduce_min", shape_rule=_extremum_rule("min"), vjp=_extremum_vjp, fresh=True
)
reduce_prod_p = Primitive("reduce_prod", shape_rule=_reduce_rule, vjp=_prod_vjp, fresh=True)
reduce_any_p = Primitive("reduce_any", shape_rule=_bool_reduce_rule, differentiable=False)
reduce_all_p = Primitive("reduce_all", shape_rule=_bool_reduce_rule, differentiable=False)

# -- reduce_l2: the Euclidean norm over axes ---------------------------------------------
# sqrt(sum(x * x)) as one primitive (ONNX's ReduceL2): composed it is three (a squared
# temporary, a sum, a root); as one kernel the full norm is a single dot product of
# the flat array, and an eager call pays one bind instead of three (measured, ops.norm
# of a 512x512 matrix: 61 us composed, see README's ops benchmark).


def _l2_rule(x: Aval, *, axes: tuple, keepdims: bool) -> Aval:
    if not dtypes.is_float(x.dtype):
        raise DTypeError(
            with_location(f"reduce_l2: needs a real floating-point tensor, got {x.dtype}.")
        )
    return _reduce_rule(x, axes=axes, keepdims=keepdims)


def _l2_vjp(g, inputs, out, needs, axes, keepdims):
    # d sqrt(s) = ds / (2 sqrt(s)), ds = 2 x dx: x g / norm (nan where the norm is 0,
    # as the composite's 0 * inf).
    (x,) = inputs
    return (ew.mul(x, expand_reduced(ew.div(g, out), tuple(x.shape), axes, keepdims)),)


reduce_l2_p = Primitive("reduce_l2", shape_rule=_l2_rule, vjp=_l2_vjp, fresh=True)

# -- arg-reductions: int32 positions along one axis -------------------------------------

argmax_p = Primitive("argmax", shape_rule=_arg_rule("argmax"), differentiable=False)
argmin_p = Primitive("argmin", shape_rule=_arg_rule("argmin"), differentiable=False)

# -- scans ----------------------------------------------------------------------------
# ``reverse`` scans from the end of the axis; ``exclusive`` leaves out the entry itself
# (the first result is the identity: 0 for sums, 1 for products). Both are params so
# that the gradient of one scan is another scan.


def _scan_rule(x: Aval, *, axis: int, reverse: bool, exclusive: bool) -> Aval:
    return Aval(tuple(x.shape), x.dtype)


def _cumsum_vjp(g, inputs, out, needs, axis, reverse, exclusive):
    # Entry i feeds every later result (earlier, when reversed): a scan the other way.
    return (cumsum_p.bind(g, axis=axis, reverse=not reverse, exclusive=exclusive),)


def _zero_masks(x, scan: dict, exclusive: bool):
    """Where ``x`` is before its first zero in scan order, at it, and which results
    contain that zero."""
    zero, one = ew.scalar(0, x), ew.scalar(1, x)
    is_zero = ew.cast(ew.equal_p.bind(x, zero), x.dtype)
    zeros_through = cumsum_p.bind(is_zero, **scan, exclusive=False)
    zeros_before = cumsum_p.bind(is_zero, **scan, exclusive=True)
    before = ew.equal_p.bind(zeros_through, zero)
    at = ew.logical_and_p.bind(ew.equal_p.bind(is_zero, one), ew.equal_p.bind(zeros_before, zero))
    contains = ew.logical_not_p.bind(
        ew.equal_p.bind(zeros_before if exclusive else zeros_through, zero)
    )
    return before, at, contains


def _cumprod_grad(g, x, out, scan: dict, exclusive: bool):
    """First-order gradient of a cumulative product, exact where entries are zero.

    Before the first zero (in scan order), dy_k/dx_i = y_k / x_i, so the gradient is
    a reverse scan of g * y divided by x (nonzero there). At the first zero, z, it is
    prod_{j<z} x_j times sum_k g_k prod_{z<j<=k} x_j, computed with the zero and
    everything before it replaced by one. Past the first zero every product that
    depends on x_i also contains x_z, so the gradient is zero.
    """
    zero, one = ew.scalar(0, x), ew.scalar(1, x)
    before, at, contains = _zero_masks(x, scan, exclusive)
    backward = {"axis": scan["axis"], "reverse": not scan["reverse"], "exclusive": exclusive}
    grad_before = ew.div(cumsum_p.bind(ew.mul(g, out), **backward), ew.where(before, x, one))

    up_to_first = ew.logical_or_p.bind(before, at)
    past_first = cumprod_p.bind(ew.where(up_to_first, one, x), **scan, exclusive=exclusive)
    total = reduce_sum_p.bind(
        ew.where(contains, ew.mul(g, past_first), zero), axes=(scan["axis"],), keepdims=True
    )
    prefix = cumprod_p.bind(x, **scan, exclusive=True)
    grad_at = ew.mul(prefix, broadcast_to(total, tuple(x.shape)))
    return ew.where(before, grad_before, ew.where(at, grad_at, zero))


def _cumprod_vjp(g, inputs, out, needs, axis, reverse, exclusive):
    """``_cumprod_grad``, corrected past the first zero z so that second derivatives
    are exact too: there the gradient is 0 in value but not in slope along x_z. It is
    x_z times the gradient with x_z replaced by one (so no second recursion)."""
    (x,) = inputs
    scan = {"axis": axis, "reverse": reverse}
    before, at, _ = _zero_masks(x, scan, exclusive)
    direct = _cumprod_grad(g, x, out, scan, exclusive)
    zero, one = ew.scalar(0, x), ew.scalar(1, x)
    first_zero = reduce_sum_p.bind(ew.where(at, x, zero), axes=(axis,), keepdims=True)
    x_unzeroed = ew.where(at, one, x)
    out_unzeroed = cumprod_p.bind(x_unzeroed, **scan, exclusive=exclusive)
    via_zero = ew.mul(first_zero, _cumprod_grad(g, x_unzeroed, out_unzeroed, scan, exclusive))
    past = ew.logical_not_p.bind(ew.logical_or_p.bind(before, at))
    return (ew.where(past, via_zero, direct),)


cumsum_p = Primitive("cumsum", shape_rule=_scan_rule, vjp=_cumsum_vjp)
cumprod_p = Primitive("cumprod", shape_rule=_scan_rule, vjp=_cumprod_vjp)


def reduce_sum(x, axes: tuple, keepdims: bool = False):
    return reduce_sum_p.bind(x, axes=tuple(axes), keepdims=keepdims)
