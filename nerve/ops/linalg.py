"""Linear algebra (Keras names): matmul.

>>> from nerve import ops
>>> ops.matmul(ops.ones((2, 3)), ops.ones((3,))).numpy()
array([3., 3.], dtype=float32)
"""

from __future__ import annotations

from typing import Any

from nerve.core.errors import ShapeError, with_location
from nerve.ops._convert import promote
from nerve.primitives import linalg as lp
from nerve.primitives import shape as sp
from nerve.tensor import Tensor

__all__ = ["matmul"]


def matmul(x1: Any, x2: Any) -> Tensor:
    """Matrix product with NumPy's rules: batched, broadcasting, 1-D operands promoted
    to matrices and the added axis removed again."""
    a, b = promote(x1, x2)
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError(
            with_location(
                f"matmul: operands must be at least 1-D, got shapes {a.shape} and {b.shape}."
            )
        )
    if a.dtype == "bool":
        a, b = (sp_cast(v, "int32") for v in (a, b))
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


def sp_cast(x, dtype):
    from nerve.ops._convert import cast

    return cast(x, dtype)
