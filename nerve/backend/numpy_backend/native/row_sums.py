"""Float sums over the last axis in C, in NumPy's pairwise order (the same bits as
``np.add.reduce(x, axis=-1)``), and that order's C source for other loops to sum in.

Why: NumPy reduces each row through its iterator, ~45 ns a row on top of the sum; a
layer normalization's mean and variance and its gradient's row sums are rows of 128
(a Transformer step has 21 sums over (32, 128, 128) float32: 0.19 ms each in NumPy,
0.06 ms here on the 2-vCPU Xeon, 2026-12-06), short enough that the calls, not the
memory, set the time. Sharing rows out among threads no longer pays there: a
handoff costs ~20-80 us; only sums of ``MIN_SPLIT`` elements and more are split, by
rows, each row summed alike (the same bits).

NumPy's order (``pairwise_sum`` in its loops): fewer than 8 values are added one by
one from 0; up to 128 go into 8 partial sums (values ``j, j + 8, ...``), combined as
``((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))``, then the tail one by one; longer
runs are halved (the first half a multiple of 8) and the halves' sums added. The
reduction starts from 0 and adds that sum, which turns a -0 sum into +0.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable

import numpy as np

from nerve.backend.numpy_backend.native import binding, codegen, threads, toolchain

__all__ = ["MIN_SPLIT", "PAIRWISE_TEMPLATE", "pairwise_source", "row_sums_function"]

#: Elements from which a call's rows are shared out among the held cores.
MIN_SPLIT = 1 << 22


def pairwise_source(name: str = "pairwise", term: str = "a[i]") -> str:
    """C source of ``static {C} <name>_{T}(const {C} *a, int64_t n)``: NumPy's pairwise
    sum of the ``n`` values ``term`` (a C expression of ``a`` and the index ``i``;
    ``"a[i] * a[i]"`` sums squares, each rounded before it is added, as a squared
    array's sum would), for C templates with ``{T}`` (the dtype's name) and ``{C}``
    (its C type) to fill in.

    >>> "pairwise_{T}(const {C} *a" in pairwise_source()
    True
    """
    value = lambda index: term.replace("a[i]", f"a[{index}]")  # noqa: E731
    return (
        r"""
static {C} NAME_{T}(const {C} *a, int64_t n) {
    if (n < 8) {
        {C} r = 0;
        for (int64_t k = 0; k < n; k++) r += TERM_K;
        return r;
    }
    if (n <= 128) {
        {C} r[8];
        for (int j = 0; j < 8; j++) r[j] = TERM_J;
        const int64_t whole = n - n % 8;
        for (int64_t i = 8; i < whole; i += 8)
            for (int j = 0; j < 8; j++) r[j] += TERM_IJ;
        {C} total = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (int64_t i = whole; i < n; i++) total += TERM_I;
        return total;
    }
    int64_t half = n / 2;
    half -= half % 8;
    return NAME_{T}(a, half) + NAME_{T}(a + half, n - half);
}
""".replace("NAME", name)
        .replace("TERM_K", value("k"))
        .replace("TERM_J", value("j"))
        .replace("TERM_IJ", value("i + j"))
        .replace("TERM_I", value("i"))
    )


#: ``pairwise_{T}(a, n)``: NumPy's pairwise sum of ``n`` contiguous values.
PAIRWISE_TEMPLATE = pairwise_source()

_TEMPLATE = r"""
/* Rows [lo, hi) of x (rows of n): out[r] = 0 + the pairwise sum of row r. */
void sums_{T}(const void *x, void *out, int64_t n, int64_t lo, int64_t hi) {
    const {C} *a = NV_DATA(x);
    {C} *o = NV_DATA(out);
    for (int64_t r = lo; r < hi; r++) o[r] = ({C})0 + pairwise_{T}(a + r * n, n);
}
"""

_TYPES = {"float32": "float", "float64": "double"}
SOURCE = codegen.library_source(
    [
        (PAIRWISE_TEMPLATE + _TEMPLATE).replace("{T}", name).replace("{C}", c_type)
        for name, c_type in _TYPES.items()
    ],
    toolchain.DATA_OFFSET,
)


@functools.cache
def row_sums_function() -> Callable | None:
    """``row_sums(x, keepdims)``: ``np.add.reduce(x, axis=-1, keepdims=keepdims)`` of
    a C-contiguous float32 or float64 array with rows (the same bits), running the C
    loop; ``None`` without a compiler, and for arrays it does not take.

    >>> import numpy as np
    >>> x = np.arange(12, dtype="float32").reshape(3, 4)
    >>> sums = row_sums_function()
    >>> sums is None or sums(x, False).tolist() == [6.0, 22.0, 38.0]
    True
    """
    library = binding.load_reading_objects(SOURCE)
    if library is None:
        return None
    argtypes = [ctypes.py_object] * 2 + [ctypes.c_int64] * 3
    table = binding.typed_functions(library, "sums", _TYPES, argtypes)

    def row_sums(x: np.ndarray, keepdims: bool) -> np.ndarray | None:
        function = table.get(x.dtype)
        if function is None or not x.ndim or not x.shape[-1] or not x.flags.c_contiguous:
            return None
        n = x.shape[-1]
        rows = x.size // n
        out = np.empty((*x.shape[:-1], 1) if keepdims else x.shape[:-1], x.dtype)
        cores = threads.held() if x.size >= MIN_SPLIT else 1
        if cores < 2 or rows < 2:
            function(x, out, n, 0, rows)
        else:
            threads.run_ranges(rows, cores, lambda lo, hi: function(x, out, n, lo, hi))
        return out

    return row_sums
