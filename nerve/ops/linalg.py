"""Products of tensors (Keras names): matmul, dot, tensordot, einsum, vdot, inner,
outer, trace.

>>> from nerve import ops
>>> ops.matmul(ops.ones((2, 3)), ops.ones((3,))).numpy()
array([3., 3.], dtype=float32)
>>> ops.einsum("ij,j->i", ops.ones((2, 3)), ops.ones((3,))).numpy()
array([3., 3.], dtype=float32)
"""

from __future__ import annotations

import math
from typing import Any

from nerve.core.errors import ShapeError, normalize_axis, with_location
from nerve.ops._convert import cast, promote, tensor
from nerve.primitives import creation as cp
from nerve.primitives import elementwise as ew
from nerve.primitives import linalg as lp
from nerve.primitives import reduction as rp
from nerve.primitives import shape as sp
from nerve.tensor import Tensor

__all__ = ["dot", "einsum", "inner", "matmul", "outer", "tensordot", "trace", "vdot"]

# Products of bools and small integers accumulate in int32, as Keras does.
_ACCUMULATE = {"bool": "int32", "uint8": "int32", "int8": "int32", "int16": "int32"}


def _operands(x1: Any, x2: Any) -> tuple[Tensor, Tensor]:
    a, b = promote(x1, x2)
    if a.dtype == "bool":
        a, b = cast(a, "int32"), cast(b, "int32")
    return a, b


def matmul(x1: Any, x2: Any) -> Tensor:
    """Matrix product with NumPy's rules: batched, broadcasting batch axes, 1-D
    operands promoted to matrices and the added axis removed again.

    >>> from nerve import ops
    >>> ops.matmul(ops.ones((5, 2, 3)), ops.ones((3, 4))).shape
    (5, 2, 4)
    """
    int8_pair = tensor(x1).dtype == "int8" and tensor(x2).dtype == "int8"
    a, b = _operands(x1, x2)
    if int8_pair:  # Keras (after JAX): int8 @ int8 accumulates in and returns int32
        a, b = cast(a, "int32"), cast(b, "int32")
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError(
            with_location(
                f"matmul: operands must be at least 1-D, got shapes {a.shape} and {b.shape}."
            )
        )
    inner_a = a.shape[-1]
    inner_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if inner_a != inner_b:
        raise ShapeError(
            with_location(
                f"matmul: the last axis of x1 (shape {a.shape}) must match the "
                f"{'only' if b.ndim == 1 else 'second-to-last'} axis of x2 (shape {b.shape}): "
                f"{inner_a} != {inner_b}."
            )
        )
    a_vec, b_vec = a.ndim == 1, b.ndim == 1
    if a_vec:
        a = sp.reshape(a, (1, a.shape[0]))
    if b_vec:
        b = sp.reshape(b, (b.shape[0], 1))
    out = lp.matmul_p.bind(a, b)
    if a_vec or b_vec:
        shape = out.shape
        if a_vec:
            shape = (*shape[:-2], shape[-1])
        if b_vec:
            shape = shape[:-1]
        out = sp.reshape(out, shape)
    return out


def _contract(a: Tensor, b: Tensor, a_axes: tuple, b_axes: tuple, op: str) -> Tensor:
    """Sum over ``a_axes`` of ``a`` paired with ``b_axes`` of ``b``: one matmul of the
    two operands flattened to (free, contracted) and (contracted, free)."""
    a_axes = tuple(normalize_axis(i, a.ndim, op) for i in a_axes)
    b_axes = tuple(normalize_axis(i, b.ndim, op) for i in b_axes)
    a_sizes = tuple(a.shape[i] for i in a_axes)
    b_sizes = tuple(b.shape[i] for i in b_axes)
    if len(set(a_axes)) != len(a_axes) or len(set(b_axes)) != len(b_axes) or a_sizes != b_sizes:
        raise ShapeError(
            with_location(
                f"{op}: cannot contract axes {a_axes} of x1 (shape {a.shape}) with axes "
                f"{b_axes} of x2 (shape {b.shape}): the axes must be distinct and their sizes "
                f"({a_sizes} vs {b_sizes}) must match."
            )
        )
    a_free = tuple(i for i in range(a.ndim) if i not in a_axes)
    b_free = tuple(i for i in range(b.ndim) if i not in b_axes)
    k = math.prod(a_sizes)
    m = math.prod(a.shape[i] for i in a_free)
    n = math.prod(b.shape[i] for i in b_free)
    a2 = sp.reshape(sp.transpose(a, a_free + a_axes), (m, k))
    b2 = sp.reshape(sp.transpose(b, b_axes + b_free), (k, n))
    out = lp.matmul_p.bind(a2, b2)
    return sp.reshape(out, tuple(a.shape[i] for i in a_free) + tuple(b.shape[i] for i in b_free))


def tensordot(x1: Any, x2: Any, axes: Any = 2) -> Tensor:
    """Sum of products over paired axes. ``axes`` is an int ``n`` (the last ``n`` axes
    of ``x1`` with the first ``n`` of ``x2``) or a pair of axis lists.

    >>> from nerve import ops
    >>> ops.tensordot(ops.ones((2, 3, 4)), ops.ones((4, 3, 5)), axes=([1, 2], [1, 0])).shape
    (2, 5)
    """
    a, b = _operands(x1, x2)
    if isinstance(axes, int):
        if not 0 <= axes <= min(a.ndim, b.ndim):
            raise ShapeError(
                with_location(
                    f"tensordot: axes={axes} is out of range for shapes {a.shape} and {b.shape}."
                )
            )
        a_axes, b_axes = tuple(range(a.ndim - axes, a.ndim)), tuple(range(axes))
    else:
        a_axes, b_axes = axes
        a_axes = (a_axes,) if isinstance(a_axes, int) else tuple(a_axes)
        b_axes = (b_axes,) if isinstance(b_axes, int) else tuple(b_axes)
        if len(a_axes) != len(b_axes):
            raise ShapeError(
                with_location(f"tensordot: axes {a_axes} and {b_axes} must pair up one to one.")
            )
    return _contract(a, b, a_axes, b_axes, "tensordot")


def dot(x1: Any, x2: Any) -> Tensor:
    """NumPy's dot: a product with scalars, the inner product of vectors, otherwise
    a sum over the last axis of ``x1`` and the second-to-last of ``x2`` (the only
    one when ``x2`` is 1-D)."""
    a, b = _operands(x1, x2)
    if a.ndim == 0 or b.ndim == 0:
        return ew.mul(a, b)
    return _contract(a, b, (-1,), (-1 if b.ndim == 1 else -2,), "dot")


def vdot(x1: Any, x2: Any) -> Tensor:
    """Inner product of the two tensors flattened (real tensors: no conjugation)."""
    a, b = _operands(x1, x2)
    if a.size != b.size:
        raise ShapeError(
            with_location(
                f"vdot: operands must have as many entries, got shapes {a.shape} and {b.shape}."
            )
        )
    return _contract(sp.reshape(a, (a.size,)), sp.reshape(b, (b.size,)), (0,), (0,), "vdot")


def inner(x1: Any, x2: Any) -> Tensor:
    """Sum over the last axes of both operands (a product when one is a scalar)."""
    a, b = _operands(x1, x2)
    if a.ndim == 0 or b.ndim == 0:
        return ew.mul(a, b)
    return _contract(a, b, (-1,), (-1,), "inner")


def outer(x1: Any, x2: Any) -> Tensor:
    """All products ``x1[i] * x2[j]`` of the flattened operands, shape ``(M, N)``."""
    a, b = _operands(x1, x2)
    return ew.mul(sp.reshape(a, (a.size, 1)), sp.reshape(b, (1, b.size)))


def trace(x: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Tensor:
    """Sum of the diagonal ``offset`` of the planes spanned by ``axis1`` and ``axis2``.

    >>> from nerve import ops
    >>> float(ops.trace(ops.convert_to_tensor([[1.0, 2.0], [3.0, 4.0]])))
    5.0
    """
    x = tensor(x)
    x = cast(x, _ACCUMULATE.get(x.dtype, x.dtype))
    if x.ndim < 2:
        raise ShapeError(with_location(f"trace: needs at least 2 axes, got shape {x.shape}."))
    ax1, ax2 = normalize_axis(axis1, x.ndim, "trace"), normalize_axis(axis2, x.ndim, "trace")
    if ax1 == ax2:
        raise ShapeError(with_location(f"trace: axis1 and axis2 are both axis {ax1}."))
    # Select the diagonal with a mask (a where, so inf off the diagonal gives no nan).
    mask = cp.eye_p.bind(rows=x.shape[ax1], columns=x.shape[ax2], k=int(offset), dtype="bool")
    if ax1 > ax2:
        mask = sp.transpose(mask, (1, 0))
    mask = sp.reshape(mask, tuple(d if i in (ax1, ax2) else 1 for i, d in enumerate(x.shape)))
    picked = ew.where(mask, x, ew.scalar(0, x))
    return rp.reduce_sum_p.bind(picked, axes=tuple(sorted((ax1, ax2))), keepdims=False)


# -- einsum ---------------------------------------------------------------------------


def _expand_subscripts(subscripts: str, operands: list[Tensor]) -> str:
    """Explicit letters-only subscripts: ellipses replaced by letters (aligned from
    the right, as broadcasting does) and the implicit output spelled out."""
    spec = subscripts.replace(" ", "")
    inputs, arrow, output = spec.partition("->")
    terms = inputs.split(",")
    if len(terms) != len(operands):
        raise ShapeError(
            with_location(
                f"einsum: subscripts {subscripts!r} name {len(terms)} operand(s), "
                f"got {len(operands)} (shapes {[o.shape for o in operands]})."
            )
        )
    bad = set(spec) - set(lp.EINSUM_LABELS) - set(",->.")
    if bad:
        raise ShapeError(
            with_location(
                f"einsum: subscripts {subscripts!r} may hold only letters, ',', '->' and "
                f"'...'; found {sorted(bad)}."
            )
        )
    unused = [c for c in lp.EINSUM_LABELS if c not in spec]
    ellipsis_rank = 0
    for term, x in zip(terms, operands):
        if "..." in term:
            ellipsis_rank = max(ellipsis_rank, x.ndim - (len(term) - 3))
    broadcast = "".join(unused[:ellipsis_rank])
    expanded = []
    for term, x in zip(terms, operands):
        if "..." in term:
            rank = x.ndim - (len(term) - 3)
            if rank < 0:
                raise ShapeError(
                    with_location(
                        f"einsum: subscripts {term!r} name more axes than the operand of "
                        f"shape {x.shape} has."
                    )
                )
            term = term.replace("...", broadcast[ellipsis_rank - rank :])
        expanded.append(term)
    if arrow:
        output = output.replace("...", broadcast)
    else:
        # NumPy's implicit output: broadcast axes, then labels used once, in order.
        counts = "".join(expanded)
        output = broadcast + "".join(
            sorted(c for c in set(counts) if counts.count(c) == 1 and c not in broadcast)
        )
    return ",".join(expanded) + "->" + output


def einsum(subscripts: str, *operands: Any) -> Tensor:
    """Einstein summation, as ``numpy.einsum``: ellipses, implicit outputs, repeated
    labels (diagonals) and size-1 broadcasting are supported.

    >>> from nerve import ops
    >>> x = ops.convert_to_tensor([[1.0, 2.0], [3.0, 4.0]])
    >>> ops.einsum("ii", x).numpy()
    array(5., dtype=float32)
    >>> ops.einsum("bij,bjk->bik", ops.ones((2, 3, 4)), ops.ones((2, 4, 5))).shape
    (2, 3, 5)
    """
    # Keras's rule (JAX's): the promoted type, except that int8 operands alone give
    # int32; bools multiply as int32 here, since NumPy's einsum has no bool loops.
    int8_only = bool(operands) and all(tensor(x).dtype == "int8" for x in operands)
    xs = promote(*operands) if operands else []
    if xs and (int8_only or xs[0].dtype == "bool"):
        result = "int32" if int8_only else "bool"
        wide = [cast(x, "int32") for x in xs]
        out = lp.einsum_p.bind(*wide, subscripts=_expand_subscripts(subscripts, xs))
        return cast(out, result)
    return lp.einsum_p.bind(*xs, subscripts=_expand_subscripts(subscripts, xs))
