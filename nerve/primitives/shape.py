"""Shape and data-movement primitives."""

from __future__ import annotations

import math

from nerve.core.errors import ShapeError, with_location
from nerve.primitives.registry import Aval, Primitive

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
    return x if tuple(x.shape) == shape else reshape_p.bind(x, shape=shape)


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
    ok = len(shape) >= len(x.shape) and all(
        d in (1, s) for d, s in zip(reversed(x.shape), reversed(shape))
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
    return x if tuple(x.shape) == shape else broadcast_to_p.bind(x, shape=shape)
