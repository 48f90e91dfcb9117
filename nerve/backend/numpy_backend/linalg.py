"""Linear-algebra kernels.

Operands are made contiguous first: NumPy picks a different summation order
(BLAS or not) for strided views, and results should not depend on memory layout.
"""

from __future__ import annotations


def kernels(xp) -> dict:
    def contiguous(x):
        # Not ascontiguousarray: that turns a 0-d array into a 1-d one.
        return x if x.flags.c_contiguous else xp.array(x, order="C")

    def matmul(a, b):
        return xp.matmul(contiguous(a), contiguous(b))

    def einsum(*operands, subscripts):
        operands = [contiguous(x) for x in operands]
        # NumPy's contraction-order search pays off only with three or more operands.
        out = xp.einsum(subscripts, *operands, optimize=len(operands) > 2)
        return xp.asarray(out, dtype=operands[0].dtype)

    return {"matmul": matmul, "einsum": einsum}
