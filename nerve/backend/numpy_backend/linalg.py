"""Linear-algebra kernels.

Strided operands go to BLAS as they are (NumPy passes transposed views with a
transpose flag, without copying); einsum operands are made contiguous, since
NumPy's einsum falls back to slow loops on some strided layouts, and larger einsums
follow a contraction path (found once per subscripts and shapes) that reaches BLAS.
"""

from __future__ import annotations

__all__ = [
    "kernels",
]


def kernels(xp) -> dict:
    def contiguous(x):
        # Not ascontiguousarray: that turns a 0-d array into a 1-d one.
        return x if x.flags.c_contiguous else xp.array(x, order="C")

    def widened(x):
        # NumPy has no bfloat16 loops for products (ml_dtypes' matmul answers in float32,
        # its einsum refuses the type): compute in float32 and round once at the end,
        # which is also how accelerators accumulate bfloat16 products.
        return x.astype(xp.float32) if x.dtype.name == "bfloat16" else x

    def matmul(a, b):
        if a.dtype.name == "bfloat16":
            return xp.matmul(widened(a), widened(b)).astype(a.dtype)
        return xp.matmul(a, b)

    paths: dict = {}

    def einsum(*operands, subscripts):
        dtype = operands[0].dtype
        operands = [contiguous(widened(x)) for x in operands]
        out = xp.einsum(subscripts, *operands, optimize=_path(subscripts, operands))
        return xp.asarray(out, dtype=dtype)

    def _path(subscripts, operands):
        """NumPy's plain einsum loops run contractions without BLAS (an attention
        product of (32, 128, 4, 32) operands: 82 ms against 7 ms through BLAS), while
        its optimizer costs ~40 us per call: small products keep the loops; larger
        ones and three or more operands take an optimized path, found once per
        subscripts and shapes."""
        if len(operands) < 3 and max(x.size for x in operands) < 4096:
            return False
        find = getattr(xp, "einsum_path", None)
        if find is None:  # an array library without the path search: let it choose
            return True
        key = (subscripts, *(x.shape for x in operands))
        path = paths.get(key)
        if path is None:
            if len(paths) > 1024:  # bounded: shapes come from user programs
                paths.clear()
            path = paths[key] = find(subscripts, *operands, optimize="greedy")[0]
        return path

    return {"matmul": matmul, "einsum": einsum}
