"""Float sums over the first axis of a C-contiguous matrix in C, in NumPy's order (the
same bits as ``np.add.reduce(x, axis=0)``): a dense layer's bias gradient.

Why: NumPy's reduction over the first axis of a (batch, units) array costs about four
times the adds themselves, and calls with few rows are mostly its per-call work:
(128, 512) float32 took 15 us and (128, 10) 8.8 us on the 2-vCPU Xeon (2026-12-06),
where this loop takes ~3 us and ~1 us.

NumPy's order (checked here by ``tests/backend/test_column_sums.py``): each column is
summed row after row from 0, ``((0 + x[0]) + x[1]) + ...`` (the start from +0 turns a
sum of -0s into +0). Only matrices of two columns or more: with one column the first
axis is the contiguous one and NumPy sums it pairwise (see ``row_sums``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

from nerve.backend.numpy_backend.native import binding, codegen, toolchain

__all__ = ["column_sums_function"]

_TEMPLATE = r"""
/* out[j] = ((0 + x[0][j]) + x[1][j]) + ... over the rows of x (rows of n), by blocks
   of BLOCK columns whose running sums stay in registers while the rows stream by. */
#define BLOCK 64
void colsums_{T}(const void *x, void *out, int64_t rows, int64_t n) {
    const {C} *restrict a = NV_DATA(x);
    {C} *restrict o = NV_DATA(out);
    int64_t j0 = 0;
    for (; j0 + BLOCK <= n; j0 += BLOCK) {
        {C} acc[BLOCK];
        for (int j = 0; j < BLOCK; j++) acc[j] = ({C})0 + a[j0 + j];
        for (int64_t r = 1; r < rows; r++) {
            const {C} *restrict row = a + r * n + j0;
            for (int j = 0; j < BLOCK; j++) acc[j] = acc[j] + row[j];
        }
        for (int j = 0; j < BLOCK; j++) o[j0 + j] = acc[j];
    }
    if (j0 < n) {
        for (int64_t j = j0; j < n; j++) o[j] = ({C})0 + a[j];
        for (int64_t r = 1; r < rows; r++) {
            const {C} *restrict row = a + r * n;
            for (int64_t j = j0; j < n; j++) o[j] = o[j] + row[j];
        }
    }
}
#undef BLOCK
"""

_TYPES = {"float32": "float", "float64": "double"}
SOURCE = codegen.library_source(
    [
        _TEMPLATE.replace("{T}", name).replace("{C}", c_type)
        + binding.packed_entry_source(f"colsums_{name}", "ooii")
        for name, c_type in _TYPES.items()
    ],
    toolchain.DATA_OFFSET,
)


@functools.cache
def column_sums_function() -> Callable | None:
    """``column_sums(x, keepdims)``: ``np.add.reduce(x, axis=0, keepdims=keepdims)`` of
    a C-contiguous float32 or float64 matrix of at least one row and two columns (the
    same bits), running the C loop; ``None`` without a compiler, and for arrays it does
    not take.

    >>> import numpy as np
    >>> x = np.arange(6, dtype="float32").reshape(3, 2)
    >>> sums = column_sums_function()
    >>> sums is None or sums(x, False).tolist() == [6.0, 9.0]
    True
    """
    library = binding.load_reading_objects(SOURCE)
    if library is None:
        return None
    # (Through fastcall: ~0.15 us a call, where ctypes took ~2 us of the 3-8 us of a
    # dense step's bias gradients, 2026-12-06.)
    table = binding.packed_functions(library, "colsums", _TYPES, "ooii")

    def column_sums(x: np.ndarray, keepdims: bool) -> np.ndarray | None:
        function = table.get(x.dtype)
        if function is None or x.ndim != 2 or not x.flags.c_contiguous:
            return None
        rows, n = x.shape
        if rows < 1 or n < 2:
            return None
        out = np.empty((1, n) if keepdims else (n,), x.dtype)
        function((rows, n), (x, out))
        return out

    return column_sums
