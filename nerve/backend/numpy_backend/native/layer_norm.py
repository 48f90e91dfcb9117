"""``layer_norm_grad_rows`` in C: a layer normalization's input gradient over the last
axis, one row at a time, in the steps autodiff gives (``primitives/nn.py``).

Why: as a graph those steps are three products over the whole array, three row sums,
two negations, a doubling and three adds (five fused loops and three reductions after
fusion, ~26 MB of memory traffic per (32, 128, 128) float32 layer norm); one loop per
row reads ``a`` and ``c`` once, keeps the row in L1 across its passes and writes the
result once (6 MB).

The same bits as those steps: every product, sum and division is the graph's, in its
order, each rounded to the dtype as NumPy rounds it; the row sums run in NumPy's
pairwise order (``row_sums.PAIRWISE_TEMPLATE``) and start from +0, as NumPy's do.
Rows are split across the held cores (``threads.held``) from ``MIN_SPLIT`` elements.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable

import numpy as np

from nerve.backend.numpy_backend.native import binding, codegen, row_sums, threads, toolchain

__all__ = ["MIN_SPLIT", "available", "layer_norm_grad_rows_function"]

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

_TYPES = {"float32": "float", "float64": "double"}
SOURCE = codegen.library_source(
    [
        (row_sums.PAIRWISE_TEMPLATE + _TEMPLATE).replace("{T}", name).replace("{C}", c_type)
        for name, c_type in _TYPES.items()
    ],
    toolchain.DATA_OFFSET,
)


@functools.cache
def _functions() -> dict | None:
    """The C function by NumPy dtype, or ``None`` without a compiler."""
    library = toolchain.load(SOURCE)
    if library is None or not binding.reads_data_pointers(library):
        return None
    argtypes = [ctypes.py_object] * 5 + [ctypes.c_int64] * 3 + [ctypes.c_double]
    return binding.typed_functions(library, "grad_range", _TYPES, argtypes)


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
    table = _functions()
    if table is None:
        return None

    def layer_norm_grad_rows(a, c, inv, v, count: float) -> np.ndarray | None:
        function = table.get(a.dtype)
        if function is None or any(x.dtype != a.dtype for x in (c, inv, v)) or not a.shape:
            return None
        a, c, inv, v = (np.ascontiguousarray(x) for x in (a, c, inv, v))
        out = np.empty(a.shape, a.dtype)
        n = a.shape[-1]
        rows = a.size // n if n else 0
        cores = threads.held() if a.size >= MIN_SPLIT else 1
        if cores < 2 or rows < 2:
            function(a, c, inv, v, out, n, 0, rows, count)
        else:
            threads.run_ranges(
                rows, cores, lambda lo, hi: function(a, c, inv, v, out, n, lo, hi, count)
            )
        return out

    return layer_norm_grad_rows
