"""Linear-algebra kernels.

Strided operands go to BLAS as they are (NumPy passes transposed views with a
transpose flag, without copying); einsum operands are made contiguous, since
NumPy's einsum falls back to slow loops on some strided layouts.
"""

from __future__ import annotations

__all__ = [
    "kernels",
]


def kernels(xp) -> dict:
    def contiguous(x):
        # Not ascontiguousarray: that turns a 0-d array into a 1-d one.
        return x if x.flags.c_contiguous else xp.array(x, order="C")

    def matmul(a, b):
        return xp.matmul(a, b)

    def einsum(*operands, subscripts):
        operands = [contiguous(x) for x in operands]
        # NumPy's contraction-order search pays off only with three or more operands.
        out = xp.einsum(subscripts, *operands, optimize=len(operands) > 2)
        return xp.asarray(out, dtype=operands[0].dtype)

    return {"matmul": matmul, "einsum": einsum}
