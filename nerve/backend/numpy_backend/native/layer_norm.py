"""Layer normalization over the last axis in C, one row at a time: its statistics
(``layer_norm_rows``: ``x - mean``, ``var + epsilon`` and its rsqrt) and its input
gradient (``layer_norm_grad_rows``), each in the steps the graph had
(``primitives/nn.py``).

Why: as a graph the statistics are two sums and two fused loops (one writing the
squares only for a sum to read them), and the gradient three products over the whole
array, three row sums, two negations, a doubling and three adds (five fused loops
and three reductions after fusion, ~26 MB of memory traffic per (32, 128, 128)
float32 layer norm); one loop per row reads its operands once, keeps the row in L1
across its passes and writes each result once.

The same bits as those steps: every product, sum, division and square root is the
graph's, in its order, each rounded to the dtype as NumPy rounds it (rsqrt is
``1 / sqrt``, as in NumPy and the fused loops); the row sums run in NumPy's pairwise
order (``row_sums.pairwise_source``; squares rounded before they are added) and
start from +0, as NumPy's do. Rows are split across the held cores
(``threads.held``) from ``MIN_SPLIT`` elements.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable

import numpy as np

from nerve.backend.numpy_backend.native import (
    binding,
    codegen,
    row_sums,
    split_loops,
    threads,
    toolchain,
)

__all__ = ["MIN_SPLIT", "available", "layer_norm_grad_rows_function", "layer_norm_rows_function"]

#: Elements from which a call's rows are shared out among the held cores (a (32, 128,
#: 128) float32 gradient, 512K elements, takes ~0.5 ms on one core).
MIN_SPLIT = 1 << 18

_TEMPLATE = r"""
/* Rows [lo, hi) of n: out = (t + e) + (sum(-t) + sum(-e)) / count, where t = a * inv,
   d = sum(a * c) * ((-0.5 * inv) / v) / count and e = d * c + d * c (inv and v: one
   value per row). out holds each row's terms while they are summed. */
void grad_range_{T}(const void *a_array, const void *c_array, const void *inv_array,
                    const void *v_array, void *out_array, int64_t n, int64_t lo, int64_t hi,
                    double count_value) {
    const {C} *a = NV_DATA(a_array), *c = NV_DATA(c_array);
    const {C} *inv = NV_DATA(inv_array), *v = NV_DATA(v_array);
    {C} *out = NV_DATA(out_array);
    const {C} count = ({C})count_value, half = ({C})-0.5;
    for (int64_t r = lo; r < hi; r++) {
        const {C} *ar = a + r * n, *cr = c + r * n;
        {C} *o = out + r * n;
        const {C} iv = inv[r];
        NV_IVDEP
        for (int64_t k = 0; k < n; k++) o[k] = ar[k] * cr[k];
        const {C} s6 = ({C})0 + pairwise_{T}(o, n);
        const {C} d = s6 * ((half * iv) / v[r]);
        NV_IVDEP
        for (int64_t k = 0; k < n; k++) o[k] = -(ar[k] * iv);
        const {C} s5 = ({C})0 + pairwise_{T}(o, n);
        const {C} d2 = d / count;
        NV_IVDEP
        for (int64_t k = 0; k < n; k++) {
            const {C} e = d2 * cr[k];
            o[k] = -(e + e);
        }
        const {C} s7 = ({C})0 + pairwise_{T}(o, n);
        const {C} m = (s5 + s7) / count;
        NV_IVDEP
        for (int64_t k = 0; k < n; k++) {
            const {C} e = d2 * cr[k];
            o[k] = (ar[k] * iv + (e + e)) + m;
        }
    }
}
"""

_FORWARD = r"""
/* Rows [lo, hi) of x (rows of n): c = x - (0 + sum(x)) / count, v = (0 + sum(c * c)) /
   count + epsilon and inv = 1 / sqrt(v) (one value per row). */
void rows_range_{T}(const void *x_array, void *c_array, void *v_array, void *inv_array,
                    int64_t n, int64_t lo, int64_t hi, double count_value,
                    double epsilon_value) {
    const {C} *x = NV_DATA(x_array);
    {C} *c = NV_DATA(c_array), *v = NV_DATA(v_array), *inv = NV_DATA(inv_array);
    const {C} count = ({C})count_value, epsilon = ({C})epsilon_value;
    for (int64_t r = lo; r < hi; r++) {
        const {C} *xr = x + r * n;
        {C} *cr = c + r * n;
        const {C} mean = (({C})0 + pairwise_{T}(xr, n)) / count;
        NV_IVDEP
        for (int64_t k = 0; k < n; k++) cr[k] = xr[k] - mean;
        v[r] = (({C})0 + squares_{T}(cr, n)) / count + epsilon;
        inv[r] = ({C})1 / {SQRT}(v[r]);
    }
}

/* Both loops over rows ints[2] .. ints[3] - 1, in the form split_loops.run_parts calls:
   ints = (n, 0, lo, hi); pointers = the loop's array objects, then its doubles (count,
   and epsilon for the statistics) each by address. */
void grad_part_{T}(const int64_t *ints, void *const *p) {
    grad_range_{T}(p[0], p[1], p[2], p[3], p[4], ints[0], ints[2], ints[3],
                   *(const double *)p[5]);
}
void rows_part_{T}(const int64_t *ints, void *const *p) {
    rows_range_{T}(p[0], p[1], p[2], p[3], ints[0], ints[2], ints[3], *(const double *)p[4],
                   *(const double *)p[5]);
}
"""

_TYPES = {"float32": ("float", "sqrtf"), "float64": ("double", "sqrt")}
SOURCE = codegen.library_source(
    [
        (
            row_sums.PAIRWISE_TEMPLATE
            + row_sums.pairwise_source("squares", "a[i] * a[i]")
            + _TEMPLATE
            + _FORWARD
        )
        .replace("{T}", name)
        .replace("{C}", c_type)
        .replace("{SQRT}", sqrt)
        for name, (c_type, sqrt) in _TYPES.items()
    ],
    toolchain.DATA_OFFSET,
)


@functools.cache
def _functions() -> dict | None:
    """The C functions by kind (``"grad"``, ``"rows"``) and NumPy dtype, or ``None``
    without a compiler."""
    library = binding.load_reading_objects(SOURCE)
    if library is None:
        return None
    gradients = [ctypes.py_object] * 5 + [ctypes.c_int64] * 3 + [ctypes.c_double]
    statistics = [ctypes.py_object] * 4 + [ctypes.c_int64] * 3 + [ctypes.c_double] * 2

    def entries(kind: str) -> dict:
        # Each loop's entry by parts (``split_loops.run_parts``), by its address.
        return {
            np.dtype(name): ctypes.cast(
                getattr(library, f"{kind}_part_{name}"), ctypes.c_void_p
            ).value
            for name in _TYPES
        }

    return {
        "grad": binding.typed_functions(library, "grad_range", _TYPES, gradients),
        "rows": binding.typed_functions(library, "rows_range", _TYPES, statistics),
        "grad_part": entries("grad"),
        "rows_part": entries("rows"),
    }


def available(dtype: str) -> bool:
    """Whether the C loop runs here for arrays of ``dtype`` (a dtype name)."""
    return dtype in _TYPES and _functions() is not None


@functools.cache
def layer_norm_grad_rows_function() -> Callable | None:
    """``layer_norm_grad_rows(a, c, inv, v, count)``: the primitive's value (see the
    module doc) by the C loop, or ``None`` without it and for arrays it does not take
    (dtypes other than float32 and float64, or mixed).

    >>> import numpy as np
    >>> grad = layer_norm_grad_rows_function()
    >>> ones, rows = np.ones((2, 4), "float32"), np.ones((2, 1), "float32")
    >>> grad is None or grad(ones, ones, rows, rows, 4.0).tolist() == [[0.0] * 4] * 2
    True
    """
    functions = _functions()
    if functions is None:
        return None
    table, parts = functions["grad"], functions["grad_part"]

    def layer_norm_grad_rows(a, c, inv, v, count: float) -> np.ndarray | None:
        function = table.get(a.dtype)
        if function is None or any(x.dtype != a.dtype for x in (c, inv, v)) or not a.shape:
            return None
        a, c, inv, v = (np.ascontiguousarray(x) for x in (a, c, inv, v))
        out = np.empty(a.shape, a.dtype)
        if not _rows_from_c(parts[a.dtype], (a, c, inv, v, out), (count,), a):
            _rows(lambda lo, hi: function(a, c, inv, v, out, a.shape[-1], lo, hi, count), a)
        return out

    return layer_norm_grad_rows


@functools.cache
def layer_norm_rows_function() -> Callable | None:
    """``layer_norm_rows(x, count, epsilon)``: ``layer_norm_rows``'s ``(c, v, inv)``
    (see ``primitives/nn.py``) by the C loop, in the steps of ``ops.layer_normalization``
    (the same bits), or ``None`` without it and for dtypes other than float32 and
    float64.

    >>> import numpy as np
    >>> rows = layer_norm_rows_function()
    >>> x = np.array([[1.0, 3.0]], "float32")
    >>> rows is None or [a.tolist() for a in rows(x, 2.0, 0.0)] == [[[-1.0, 1.0]], [[1.0]], [[1.0]]]
    True
    """
    functions = _functions()
    if functions is None:
        return None
    table, parts = functions["rows"], functions["rows_part"]

    def layer_norm_rows(x, count: float, epsilon: float) -> tuple | None:
        function = table.get(x.dtype)
        if function is None or not x.shape or not x.shape[-1]:
            return None
        x = np.ascontiguousarray(x)
        c = np.empty(x.shape, x.dtype)
        v, inv = (np.empty((*x.shape[:-1], 1), x.dtype) for _ in "vi")
        arrays = (x, c, v, inv)
        if not _rows_from_c(parts[x.dtype], arrays, (count, epsilon), x):
            _rows(lambda lo, hi: function(*arrays, x.shape[-1], lo, hi, count, epsilon), x)
        return c, v, inv

    return layer_norm_rows


def _rows_from_c(entry: int, arrays: tuple, numbers: tuple, x: np.ndarray) -> bool:
    """The loop's rows (``entry``: its part entry's address) on exactly two held cores
    from C, shared with one C worker thread (``split_loops``: no hand-over between
    Python threads per part), in the parts ``_rows`` cuts; ``False`` (nothing run)
    where ``_rows`` would not split on two cores."""
    n = x.shape[-1]
    rows = x.size // n if n else 0
    if x.size < MIN_SPLIT or rows < 2 or threads.held() != 2:
        return False
    doubles = np.array(numbers, np.float64)
    address = binding.address(doubles)
    pointers = (*map(id, arrays), *(address + 8 * k for k in range(len(numbers))))
    return split_loops.run_parts(entry, (n, 0, 0, 0), pointers, threads.cuts(rows, 2))


def _rows(part: Callable[[int, int], object], x: np.ndarray) -> None:
    """``part(lo, hi)`` over the rows of ``x``, split across the held cores
    (``threads.held``) from ``MIN_SPLIT`` elements."""
    n = x.shape[-1]
    rows = x.size // n if n else 0
    cores = threads.held() if x.size >= MIN_SPLIT else 1
    if cores < 2 or rows < 2:
        part(0, rows)
    else:
        threads.run_ranges(rows, cores, part)
