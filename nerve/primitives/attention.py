"""Attention as two lowering-only primitives: the forward pass of one head's scores,
softmax and weighted values, and its backward pass.

``attention_rows(q, k, v, scale)`` returns ``(o, p)``: ``p = softmax(einsum("bthd,bshd->
bhts", q, k) * scale)`` over the keys ``s`` (no multiply when ``scale`` is ``None``) and
``o = einsum("bhts,bshd->bthd", p, v)``; ``q`` is ``(B, T, H, D)``, ``k`` ``(B, S, H, D)``,
``v`` ``(B, S, H, Dv)``, ``o`` ``(B, T, H, Dv)`` and ``p`` ``(B, H, T, S)``.
``attention_rows_grad(g, q, k, v, p, scale)`` returns ``(dq, dk, dv)`` from ``o``'s
cotangent ``g`` in the steps autodiff gives: ``dp = g v^T``, ``dv = p^T g``, ``ds`` the
softmax's gradient from its output (``p * (dp - sum(dp * p))``, times ``scale``),
``dq = ds k``, ``dk = ds^T q``, per batch and head.

Graphs never trace them: the lowering pass ``graph.passes.attention`` puts them in
place of those steps (``ops.dot_product_attention`` without mask or bias, one query
head per key head) where the backend runs them natively, so a backend can keep a
pair's scores in its cache from one product to the next. Not differentiated: the
lowering passes run after autodiff.
"""

from __future__ import annotations

from nerve.core.errors import ShapeError, with_location
from nerve.primitives import rules
from nerve.primitives.registry import Aval, Primitive

__all__ = ["attention_rows_grad_p", "attention_rows_p"]


def _check(op: str, q: Aval, k: Aval, v: Aval) -> None:
    """``q`` ``(B, T, H, D)``, ``k`` ``(B, S, H, D)``, ``v`` ``(B, S, H, Dv)``, one float dtype."""
    if q.dtype not in ("float16", "bfloat16", "float32", "float64"):
        raise ShapeError(with_location(f"{op}: needs floating-point tensors, got {q.dtype}."))
    shapes = (tuple(q.shape), tuple(k.shape), tuple(v.shape))
    if (
        any(len(shape) != 4 for shape in shapes)
        or shapes[1][:3] != shapes[2][:3]
        or shapes[0][0] != shapes[1][0]
        or shapes[0][2:] != shapes[1][2:]
    ):
        raise ShapeError(
            with_location(
                f"{op}: needs q (B, T, H, D), k (B, S, H, D) and v (B, S, H, Dv); got "
                f"{shapes[0]}, {shapes[1]} and {shapes[2]}."
            )
        )
    for x in (k, v):
        rules.same_dtype(op, q, x)


def _probabilities(q: Aval, k: Aval) -> Aval:
    batch, steps, heads, _ = q.shape
    return Aval((batch, heads, steps, k.shape[1]), q.dtype)


# -- attention_rows --------------------------------------------------------------------


def _attention_rows_rule(q: Aval, k: Aval, v: Aval, *, scale: float | None) -> tuple:
    _check("attention_rows", q, k, v)
    out = Aval((*q.shape[:3], v.shape[3]), q.dtype)
    return out, _probabilities(q, k)


attention_rows_p = Primitive(
    "attention_rows",
    shape_rule=_attention_rows_rule,
    multiple_results=True,
    differentiable=False,
    fresh=True,
)


# -- attention_rows_grad ---------------------------------------------------------------


def _attention_rows_grad_rule(
    g: Aval, q: Aval, k: Aval, v: Aval, p: Aval, *, scale: float | None
) -> tuple:
    _check("attention_rows_grad", q, k, v)
    expected = _probabilities(q, k)
    if tuple(g.shape) != (*q.shape[:3], v.shape[3]) or tuple(p.shape) != expected.shape:
        raise ShapeError(
            with_location(
                f"attention_rows_grad: needs g of attention's output shape "
                f"{(*q.shape[:3], v.shape[3])} and p of its probabilities' shape "
                f"{expected.shape}; got {tuple(g.shape)} and {tuple(p.shape)}."
            )
        )
    for x in (g, p):
        rules.same_dtype("attention_rows_grad", q, x)
    return (
        Aval(tuple(q.shape), q.dtype),
        Aval(tuple(k.shape), k.dtype),
        Aval(tuple(v.shape), v.dtype),
    )


attention_rows_grad_p = Primitive(
    "attention_rows_grad",
    shape_rule=_attention_rows_grad_rule,
    multiple_results=True,
    differentiable=False,
    fresh=True,
)
