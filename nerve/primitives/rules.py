"""Shared shape/dtype rules and the error messages they raise."""

from __future__ import annotations

from nerve.core.errors import DTypeError, ShapeError, with_location
from nerve.core.symbolic import is_one
from nerve.primitives.registry import Aval

__all__ = [
    "binary",
    "broadcast_shapes",
    "same_dtype",
    "unary",
    "unary_to",
]


def broadcast_shapes(op: str, *shapes: tuple) -> tuple:
    """NumPy broadcasting of ``shapes``; ``ShapeError`` naming ``op`` if incompatible.

    A symbolic size (``nerve.core.symbolic.Dim``) is taken as not 1 without asking
    it: broadcast against 1 or against itself it stays, which at ``n = 1`` is also
    what broadcasting concrete size-1 axes gives, so the rule makes no decision that
    keeps a symbolic trace from serving size 1. Against any other size it compares
    (and a comparison that depends on ``n`` sends the function to per-size tracing).
    """
    ndim = max((len(s) for s in shapes), default=0)
    out = []
    for axis in range(-ndim, 0):
        size = 1
        for s in shapes:
            d = s[axis] if -axis <= len(s) else 1
            if is_one(d):
                continue
            if not is_one(size) and size != d:
                raise ShapeError(
                    with_location(
                        f"{op}: shapes {' and '.join(str(tuple(s)) for s in shapes)} cannot be "
                        f"broadcast together (axis {axis}: size {size} vs {d}). Each axis, "
                        "counted from the right, must match or be 1."
                    )
                )
            size = d
        out.append(size)
    return tuple(out)


def same_dtype(op: str, *avals: Aval) -> str:
    dtype = avals[0].dtype
    for a in avals[1:]:
        if a.dtype != dtype:
            raise DTypeError(
                with_location(
                    f"{op}: operands must share one dtype, got {', '.join(x.dtype for x in avals)}."
                )
            )
    return dtype


def unary(op: str):
    """Rule of a dtype- and shape-preserving elementwise map."""

    def rule(x: Aval) -> Aval:
        return Aval(tuple(x.shape), x.dtype)

    rule.__name__ = f"_{op}_shape_rule"
    return rule


def unary_to(op: str, dtype: str):
    """Rule of an elementwise map whose result has a fixed dtype (e.g. ``isnan``)."""

    def rule(x: Aval) -> Aval:
        return Aval(tuple(x.shape), dtype)

    rule.__name__ = f"_{op}_shape_rule"
    return rule


def binary(op: str, out_dtype: str | None = None):
    """Rule of a broadcasting elementwise binary op on operands of one dtype."""

    def rule(x: Aval, y: Aval) -> Aval:
        dtype = same_dtype(op, x, y)
        return Aval(broadcast_shapes(op, x.shape, y.shape), out_dtype or dtype)

    rule.__name__ = f"_{op}_shape_rule"
    return rule
