"""Linear-algebra primitives."""

from __future__ import annotations

from nerve.core.errors import ShapeError, with_location
from nerve.primitives import rules
from nerve.primitives.registry import Aval, Primitive
from nerve.primitives.shape import transpose


def _matmul_rule(a: Aval, b: Aval) -> Aval:
    dtype = rules.same_dtype("matmul", a, b)
    if len(a.shape) < 2 or len(b.shape) < 2:
        raise ShapeError(with_location("matmul primitive: operands must have rank >= 2."))
    if a.shape[-1] != b.shape[-2]:
        raise ShapeError(
            with_location(
                f"matmul: the last axis of the first operand (shape {tuple(a.shape)}) must match "
                f"the second-to-last axis of the second (shape {tuple(b.shape)}): "
                f"{a.shape[-1]} != {b.shape[-2]}."
            )
        )
    batch = rules.broadcast_shapes("matmul", tuple(a.shape[:-2]), tuple(b.shape[:-2]))
    return Aval((*batch, a.shape[-2], b.shape[-1]), dtype)


def _swap_last(x):
    n = len(x.shape)
    return transpose(x, (*range(n - 2), n - 1, n - 2))


def _matmul_vjp(g, inputs, out, needs):
    a, b = inputs
    return (
        matmul_p.bind(g, _swap_last(b)) if needs[0] else None,
        matmul_p.bind(_swap_last(a), g) if needs[1] else None,
    )


matmul_p = Primitive("matmul", shape_rule=_matmul_rule, vjp=_matmul_vjp)
