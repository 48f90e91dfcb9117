"""Shape and data-movement primitives."""

from __future__ import annotations

import math

from nerve.core.dtypes import itemsize
from nerve.core.errors import DTypeError, ShapeError, with_location
from nerve.core.symbolic import is_one, same_shape
from nerve.primitives.registry import Aval, Primitive

__all__ = [
    "bitcast_p",
    "broadcast_to",
    "broadcast_to_p",
    "concatenate",
    "concatenate_p",
    "pad_p",
    "reshape",
    "reshape_p",
    "split",
    "split_p",
    "transpose",
    "transpose_p",
]

# -- reshape ------------------------------------------------------------------------


def _reshape_rule(x: Aval, *, shape: tuple) -> Aval:
    if math.prod(shape) != math.prod(x.shape):
        raise ShapeError(
            with_location(
                f"reshape: cannot reshape a tensor of shape {tuple(x.shape)} "
                f"({math.prod(x.shape)} elements) into shape {tuple(shape)} "
                f"({math.prod(shape)} elements)."
            )
        )
    return Aval(tuple(shape), x.dtype)


reshape_p = Primitive(
    "reshape",
    shape_rule=_reshape_rule,
    vjp=lambda g, inputs, out, needs, shape: (reshape(g, tuple(inputs[0].shape)),),
)


def reshape(x, shape: tuple):
    """Reshape to a fully specified ``shape`` (no -1); a no-op when it already fits."""
    shape = tuple(shape)
    return x if same_shape(tuple(x.shape), shape) else reshape_p.bind(x, shape=shape)


# -- transpose ------------------------------------------------------------------------


def _transpose_rule(x: Aval, *, axes: tuple) -> Aval:
    if sorted(axes) != list(range(len(x.shape))):
        raise ShapeError(
            with_location(
                f"transpose: axes {tuple(axes)} are not a permutation of the "
                f"{len(x.shape)} axes of a tensor of shape {tuple(x.shape)}."
            )
        )
    return Aval(tuple(x.shape[a] for a in axes), x.dtype)


def _inverse_permutation(axes: tuple) -> tuple:
    inverse = [0] * len(axes)
    for i, a in enumerate(axes):
        inverse[a] = i
    return tuple(inverse)


transpose_p = Primitive(
    "transpose",
    shape_rule=_transpose_rule,
    vjp=lambda g, inputs, out, needs, axes: (transpose(g, _inverse_permutation(axes)),),
)


def transpose(x, axes: tuple):
    axes = tuple(axes)
    return x if axes == tuple(range(len(axes))) else transpose_p.bind(x, axes=axes)


# -- broadcast_to ---------------------------------------------------------------------


def _broadcast_to_rule(x: Aval, *, shape: tuple) -> Aval:
    shape = tuple(shape)
    # A concrete 1 broadcasts to anything; a symbolic size is never asked "== 1" (see
    # nerve.primitives.rules.broadcast_shapes), only compared with its target.
    ok = len(shape) >= len(x.shape) and all(
        is_one(d) or d == s for d, s in zip(reversed(x.shape), reversed(shape))
    )
    if not ok:
        raise ShapeError(
            with_location(
                f"broadcast_to: cannot broadcast shape {tuple(x.shape)} to {shape}. Each axis, "
                "counted from the right, must match or be 1."
            )
        )
    return Aval(shape, x.dtype)


broadcast_to_p = Primitive(
    "broadcast_to",
    shape_rule=_broadcast_to_rule,
    # The engine sums the cotangent back to the input's shape.
    vjp=lambda g, inputs, out, needs, shape: (g,),
)


def broadcast_to(x, shape: tuple):
    shape = tuple(shape)
    return x if same_shape(tuple(x.shape), shape) else broadcast_to_p.bind(x, shape=shape)


# -- concatenate ----------------------------------------------------------------------


def _concatenate_rule(*xs: Aval, axis: int) -> Aval:
    shapes = [tuple(x.shape) for x in xs]
    first = shapes[0]
    for shape in shapes[1:]:
        if len(shape) != len(first) or any(
            a != b for i, (a, b) in enumerate(zip(shape, first)) if i != axis
        ):
            raise ShapeError(
                with_location(
                    f"concatenate: input shapes {' and '.join(map(str, shapes))} do not fit "
                    f"together along axis {axis}. All inputs need the same rank, and the same "
                    "size on every axis except the concatenation axis."
                )
            )
    dtypes = {x.dtype for x in xs}
    if len(dtypes) > 1:
        raise DTypeError(
            with_location(f"concatenate: inputs must share one dtype, got {sorted(dtypes)}.")
        )
    size = sum(s[axis] for s in shapes)
    return Aval((*first[:axis], size, *first[axis + 1 :]), xs[0].dtype)


def _concatenate_vjp(g, inputs, out, needs, axis):
    from nerve.primitives.indexing import along, getitem

    cts = []
    start = 0
    for x, need in zip(inputs, needs):
        stop = start + x.shape[axis]
        cts.append(getitem(g, along(axis, ("slice", start, stop, None))) if need else None)
        start = stop
    return cts


concatenate_p = Primitive("concatenate", shape_rule=_concatenate_rule, vjp=_concatenate_vjp)


def concatenate(xs, axis: int):
    """Join tensors of one dtype along an existing non-negative ``axis``."""
    return xs[0] if len(xs) == 1 else concatenate_p.bind(*xs, axis=axis)


# -- split ------------------------------------------------------------------------------


def _split_rule(x: Aval, *, axis: int, bounds: tuple) -> tuple[Aval, ...]:
    shape = tuple(x.shape)
    if bounds[0] != 0 or bounds[-1] != shape[axis] or list(bounds) != sorted(bounds):
        raise ShapeError(
            with_location(
                f"split: bounds {bounds} must rise from 0 to the size {shape[axis]} of axis "
                f"{axis} (tensor shape {shape})."
            )
        )
    return tuple(
        Aval((*shape[:axis], stop - start, *shape[axis + 1 :]), x.dtype)
        for start, stop in zip(bounds[:-1], bounds[1:])
    )


def _split_vjp(cts, inputs, out, needs, axis, bounds):
    # One concatenation of the pieces' cotangents (the engine gives zeros for unused
    # pieces), instead of one zero-filled scatter per piece summed together.
    return (concatenate(list(cts), axis),)


split_p = Primitive("split", shape_rule=_split_rule, vjp=_split_vjp, multiple_results=True)


def split(x, axis: int, bounds: tuple) -> list:
    """``x`` cut along ``axis`` at ``bounds`` (``(0, ..., size)``): one piece per gap."""
    return list(split_p.bind(x, axis=axis, bounds=tuple(int(b) for b in bounds)))


# -- pad (constant mode; the other modes are gathers) ------------------------------------


def _pad_rule(x: Aval, *, pad_width: tuple, value) -> Aval:
    if len(pad_width) != len(x.shape) or any(lo < 0 or hi < 0 for lo, hi in pad_width):
        raise ShapeError(
            with_location(
                f"pad: pad_width {pad_width} does not fit a tensor of shape {tuple(x.shape)}; "
                "it needs one non-negative (before, after) pair per axis."
            )
        )
    return Aval(tuple(d + lo + hi for d, (lo, hi) in zip(x.shape, pad_width)), x.dtype)


def _pad_vjp(g, inputs, out, needs, pad_width, value):
    from nerve.primitives.indexing import getitem

    template = tuple(("slice", lo, lo + d, None) for d, (lo, _) in zip(inputs[0].shape, pad_width))
    return (getitem(g, template),)


pad_p = Primitive("pad", shape_rule=_pad_rule, vjp=_pad_vjp)


# -- bitcast ----------------------------------------------------------------------------


def _bitcast_rule(x: Aval, *, dtype: str) -> Aval:
    """The bytes of ``x`` read as ``dtype``: the last axis grows or shrinks by the ratio
    of the item sizes (NumPy's ``ndarray.view``)."""
    old, new = itemsize(x.dtype), itemsize(dtype)
    if old == new:
        return Aval(tuple(x.shape), dtype)
    if not x.shape:
        raise ShapeError(
            with_location(
                f"view: cannot view a scalar of dtype {x.dtype} ({old} bytes) as {dtype} "
                f"({new} bytes); a different item size needs a last axis to resize."
            )
        )
    last = x.shape[-1]
    if (last * old) % new:
        raise ShapeError(
            with_location(
                f"view: cannot view a tensor of shape {tuple(x.shape)} and dtype {x.dtype} as "
                f"{dtype}: the last axis holds {last * old} bytes, not a multiple of {new}."
            )
        )
    return Aval((*x.shape[:-1], last * old // new), dtype)


# Reinterpreting bits has no derivative (as in Keras's backends).
bitcast_p = Primitive("bitcast", shape_rule=_bitcast_rule, differentiable=False)
