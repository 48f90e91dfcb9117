"""Reduction primitives. ``axes`` is a sorted tuple of non-negative axes."""

from __future__ import annotations

from nerve.primitives import elementwise as ew
from nerve.primitives.registry import Aval, Primitive
from nerve.primitives.shape import broadcast_to, reshape


def reduced_shape(shape: tuple, axes: tuple, keepdims: bool) -> tuple:
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def _reduce_rule(x: Aval, *, axes: tuple, keepdims: bool) -> Aval:
    return Aval(reduced_shape(tuple(x.shape), axes, keepdims), x.dtype)


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


reduce_sum_p = Primitive("reduce_sum", shape_rule=_reduce_rule, vjp=_sum_vjp)
reduce_max_p = Primitive("reduce_max", shape_rule=_reduce_rule, vjp=_extremum_vjp)
reduce_min_p = Primitive("reduce_min", shape_rule=_reduce_rule, vjp=_extremum_vjp)


def reduce_sum(x, axes: tuple, keepdims: bool = False):
    return reduce_sum_p.bind(x, axes=tuple(axes), keepdims=keepdims)
