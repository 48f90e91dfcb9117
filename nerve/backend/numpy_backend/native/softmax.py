"""``softmax_rows`` in C: a softmax (or log-softmax) over the last axis, one row at a
time, optionally after adding a bias vector to every row; and the sparse softmax
cross-entropy (``sparse_softmax_cross_entropy`` and its gradient) with the same row
steps.

Why: as a graph of primitives a softmax is six kernels (bias add, max, subtract, exp,
sum, divide), each a pass over memory and a call (~50 us of a 500 us batch-1 convnet
inference, mostly calls); one loop per row keeps the row in L1 across the passes.

Results follow the unfused graph's arithmetic step by step, so they agree with it to
rounding and its IEEE behaviour carries over (a row holding NaN or +inf, or only -inf,
comes out NaN, as ``x - max(x)`` makes it): the maximum, ``exp(x - max)`` with the
vmath ``exp`` that fused elementwise loops use, the sum in NumPy's pairwise order
(blocks of up to 128 summed in 8 partial sums, halved recursively above; bit-equal
to ``np.sum`` of the same values), then a true division, or ``(x - max) - log(sum)``.
The exponentials of one block of 128 are summed while still in L1.

Rows are split across threads where a call is large (``MIN_SPLIT`` elements), as many
as OpenBLAS uses (``threads.blas_threads``), on the pool of Python threads whose
idle workers wait passively, so that they never spin against the BLAS (the C call
releases the GIL). ``None`` (no loop: the NumPy kernel runs) for dtypes other than
float32 and float64, and when native kernels are off.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable

import numpy as np

from nerve.backend.numpy_backend.native import binding, codegen, row_sums, threads, toolchain

__all__ = [
    "MIN_SPLIT",
    "available",
    "softmax_rows_function",
    "softmax_rows_grad_function",
    "sparse_xent_function",
    "sparse_xent_grad_function",
    "xent_function",
    "xent_grad_function",
]

#: Elements from which a call's rows are split across threads (measured on the 2-vCPU
#: benchmark VM: a float32 row of 128 takes ~0.5 us; a hand-over to the pool ~70 us when
#: other processes share the two cores, where a split then lost; see the README).
MIN_SPLIT = 1 << 18

_TEMPLATE = r"""
/* The sum of exp(src[k] - m) over one block of n <= 128 values, each also written to
   dst[k]: NumPy's pairwise leaf (8 partial sums, combined as a tree, then the tail). */
static {C} block_{T}(const {C} *src, {C} *dst, int64_t n, {C} m) {
    NV_IVDEP
    for (int64_t k = 0; k < n; k++) dst[k] = {EXP}(src[k] - m);
    if (n < 8) {
        {C} r = 0;
        for (int64_t k = 0; k < n; k++) r += dst[k];
        return r;
    }
    {C} r[8];
    for (int j = 0; j < 8; j++) r[j] = dst[j];
    const int64_t whole = n - n % 8;
    for (int64_t i = 8; i < whole; i += 8)
        for (int j = 0; j < 8; j++) r[j] += dst[i + j];
    {C} total = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (int64_t i = whole; i < n; i++) total += dst[i];
    return total;
}

/* The pairwise sum of exp(src - m) over n values, written to dst when keep (else
   each block goes to the scratch block and is dropped). */
static {C} exp_sum_{T}(const {C} *src, {C} *dst, {C} *scratch, int64_t n, {C} m, int keep) {
    if (n <= 128) return block_{T}(src, keep ? dst : scratch, n, m);
    int64_t half = n / 2;
    half -= half % 8;
    {C} left = exp_sum_{T}(src, dst, scratch, half, m, keep);
    return left + exp_sum_{T}(src + half, dst + half, scratch, n - half, m, keep);
}

/* The maximum of a row; NaN is skipped here, but then reaches every result through
   the sum, as with NumPy's maximum. */
static {C} row_max_{T}(const {C} *src, int64_t n) {
    {C} lane[8];
    for (int j = 0; j < 8; j++) lane[j] = -INFINITY;
    const int64_t whole = n - n % 8;
    for (int64_t i = 0; i < whole; i += 8)
        for (int j = 0; j < 8; j++) lane[j] = src[i + j] > lane[j] ? src[i + j] : lane[j];
    for (int64_t i = whole; i < n; i++) lane[0] = src[i] > lane[0] ? src[i] : lane[0];
    {C} m = lane[0];
    for (int j = 1; j < 8; j++) m = lane[j] > m ? lane[j] : m;
    return m;
}

/* Rows [lo, hi) of x (rows of n), times scale when has_scale, plus bias (n) when it
   is not NULL, into out. */
static void rows_{T}(const {C} *x, const {C} *bias, {C} *out, int64_t n, int64_t lo,
                     int64_t hi, int log_form, int has_scale, {C} scale) {
    {C} scratch[128];
    for (int64_t r = lo; r < hi; r++) {
        const {C} *src = x + r * n;
        {C} *y = out + r * n;
        if (has_scale) {
            NV_IVDEP
            for (int64_t k = 0; k < n; k++) y[k] = src[k] * scale;
            src = y;
        }
        if (bias) {
            NV_IVDEP
            for (int64_t k = 0; k < n; k++) y[k] = src[k] + bias[k];
            src = y;
        }
        const {C} m = row_max_{T}(src, n);
        const {C} total = exp_sum_{T}(src, y, scratch, n, m, !log_form);
        if (log_form) {
            const {C} shift = {LOG}(total);
            NV_IVDEP
            for (int64_t k = 0; k < n; k++) y[k] = (src[k] - m) - shift;
        } else {
            NV_IVDEP
            for (int64_t k = 0; k < n; k++) y[k] = y[k] / total;
        }
    }
}

/* One entry point per form, with as few arguments as it needs (x, [bias,] out, the row
   length and the size): ctypes converts each argument at ~0.3 us, several times the
   loop itself for a batch-1 row of 10. */
void softmax_{T}(const void *x, void *out, int64_t n, int64_t size) {
    rows_{T}(NV_DATA(x), 0, NV_DATA(out), n, 0, n ? size / n : 0, 0, 0, 1);
}
void log_softmax_{T}(const void *x, void *out, int64_t n, int64_t size) {
    rows_{T}(NV_DATA(x), 0, NV_DATA(out), n, 0, n ? size / n : 0, 1, 0, 1);
}
void softmax_bias_{T}(const void *x, const void *bias, void *out, int64_t n, int64_t size) {
    rows_{T}(NV_DATA(x), NV_DATA(bias), NV_DATA(out), n, 0, n ? size / n : 0, 0, 0, 1);
}
void log_softmax_bias_{T}(const void *x, const void *bias, void *out, int64_t n,
                          int64_t size) {
    rows_{T}(NV_DATA(x), NV_DATA(bias), NV_DATA(out), n, 0, n ? size / n : 0, 1, 0, 1);
}
/* Rows [lo, hi) only (a thread's share), of any form, the rows first multiplied by
   scale when has_scale (a float32 scale passed as a double is exact). */
void range_{T}(const void *x, const void *bias, void *out, int64_t n, int64_t lo,
               int64_t hi, int64_t has_bias, int64_t log_form, int64_t has_scale,
               double scale) {
    rows_{T}(NV_DATA(x), has_bias ? NV_DATA(bias) : 0, NV_DATA(out), n, lo, hi, (int)log_form,
             (int)has_scale, ({C})scale);
}

/* The softmax's gradient from its output y and the output's cotangent g, rows [lo, hi)
   of n: y * (g - sum(g * y)), times scale when has_scale. out (not g) holds g * y while
   the row is summed (pairwise_{T}: row_sums.py; NumPy starts a sum at 0, which turns a
   -0 sum into +0). */
static void grad_rows_{T}(const {C} *g, const {C} *y, {C} *out, int64_t n, int64_t lo,
                          int64_t hi, int has_scale, {C} scale) {
    for (int64_t r = lo; r < hi; r++) {
        const {C} *gr = g + r * n, *yr = y + r * n;
        {C} *o = out + r * n;
        NV_IVDEP
        for (int64_t k = 0; k < n; k++) o[k] = gr[k] * yr[k];
        const {C} total = ({C})0 + pairwise_{T}(o, n);
        if (has_scale) {
            NV_IVDEP
            for (int64_t k = 0; k < n; k++) o[k] = (yr[k] * (gr[k] - total)) * scale;
        } else {
            NV_IVDEP
            for (int64_t k = 0; k < n; k++) o[k] = yr[k] * (gr[k] - total);
        }
    }
}
void grad_range_{T}(const void *g_array, const void *y_array, void *out_array, int64_t n,
                    int64_t lo, int64_t hi, int64_t has_scale, double scale_value) {
    grad_rows_{T}(NV_DATA(g_array), NV_DATA(y_array), NV_DATA(out_array), n, lo, hi,
                  (int)has_scale, ({C})scale_value);
}

/* Sparse softmax cross-entropy (primitives/nn.py), rows [lo, hi) of n with one class
   label each (int32, or int64 when wide): the loss -((x[l] - m) - log(sum(exp(x - m))))
   as log_softmax's steps make it, and its gradient from the rows' cotangent g,
   exp(x - m) * (g / sum) with g taken off at the label. A label outside [0, n) makes
   the row NaN. */
static int64_t label_{T}(const void *labels, int64_t r, int64_t wide) {
    return wide ? ((const int64_t *)labels)[r] : (int64_t)((const int32_t *)labels)[r];
}
void xent_range_{T}(const void *x_array, const void *labels_array, void *out_array,
                    int64_t n, int64_t lo, int64_t hi, int64_t wide) {
    const {C} *x = NV_DATA(x_array);
    const void *labels = NV_DATA(labels_array);
    {C} *out = NV_DATA(out_array);
    {C} scratch[128];
    for (int64_t r = lo; r < hi; r++) {
        const {C} *src = x + r * n;
        const int64_t l = label_{T}(labels, r, wide);
        if (l < 0 || l >= n) {
            out[r] = NAN;
            continue;
        }
        const {C} m = row_max_{T}(src, n);
        const {C} total = exp_sum_{T}(src, scratch, scratch, n, m, 0);
        out[r] = -((src[l] - m) - {LOG}(total));
    }
}
void xent_grad_range_{T}(const void *x_array, const void *labels_array, const void *g_array,
                         void *out_array, int64_t n, int64_t lo, int64_t hi, int64_t wide) {
    const {C} *x = NV_DATA(x_array), *g = NV_DATA(g_array);
    const void *labels = NV_DATA(labels_array);
    {C} *out = NV_DATA(out_array);
    {C} scratch[128];
    for (int64_t r = lo; r < hi; r++) {
        const {C} *src = x + r * n;
        {C} *o = out + r * n;
        const int64_t l = label_{T}(labels, r, wide);
        if (l < 0 || l >= n) {
            for (int64_t k = 0; k < n; k++) o[k] = NAN;
            continue;
        }
        const {C} m = row_max_{T}(src, n);
        const {C} share = g[r] / exp_sum_{T}(src, o, scratch, n, m, 1);
        NV_IVDEP
        for (int64_t k = 0; k < n; k++) o[k] = o[k] * share;
        o[l] = o[l] - g[r];
    }
}

/* The same with targets t of the row's shape (one-hot or soft): the loss
   -(0 + pairwise sum of t[k] * ((x[k] - m) - log(sum))), and the gradient
   t[k] * -g + exp(x[k] - m) * ((0 - S) / sum), S = 0 + the pairwise sum of t[k] * -g,
   as the steps of log_softmax, the product and the sum make them. `terms` holds a row's
   products for the pairwise sums (n values). */
void xent_dense_range_{T}(const void *x_array, const void *t_array, void *out_array,
                          int64_t n, int64_t lo, int64_t hi, void *terms_array) {
    const {C} *x = NV_DATA(x_array), *t = NV_DATA(t_array);
    {C} *out = NV_DATA(out_array), *terms = NV_DATA(terms_array);
    {C} scratch[128];
    for (int64_t r = lo; r < hi; r++) {
        const {C} *src = x + r * n, *tr = t + r * n;
        const {C} m = row_max_{T}(src, n);
        const {C} shift = {LOG}(exp_sum_{T}(src, scratch, scratch, n, m, 0));
        NV_IVDEP
        for (int64_t k = 0; k < n; k++) terms[k] = tr[k] * ((src[k] - m) - shift);
        out[r] = -(({C})0 + pairwise_{T}(terms, n));
    }
}
void xent_dense_grad_range_{T}(const void *x_array, const void *t_array, const void *g_array,
                               void *out_array, int64_t n, int64_t lo, int64_t hi,
                               void *terms_array) {
    const {C} *x = NV_DATA(x_array), *t = NV_DATA(t_array), *g = NV_DATA(g_array);
    {C} *out = NV_DATA(out_array), *terms = NV_DATA(terms_array);
    {C} scratch[128];
    for (int64_t r = lo; r < hi; r++) {
        const {C} *src = x + r * n, *tr = t + r * n;
        {C} *o = out + r * n;
        const {C} m = row_max_{T}(src, n);
        const {C} total = exp_sum_{T}(src, o, scratch, n, m, 1);
        const {C} minus_g = -g[r];
        NV_IVDEP
        for (int64_t k = 0; k < n; k++) terms[k] = tr[k] * minus_g;
        const {C} share = (({C})0 - (({C})0 + pairwise_{T}(terms, n))) / total;
        NV_IVDEP
        for (int64_t k = 0; k < n; k++) o[k] = terms[k] + o[k] * share;
    }
}
"""

_TYPES = {"float32": ("float", "nv_expf", "logf"), "float64": ("double", "nv_exp", "log")}


def rows_source(name: str) -> str:
    """The C source of the row loops for the dtype ``name`` (``"float32"`` or
    ``"float64"``), for other libraries to build on: ``static void rows_<name>(x, bias,
    out, n, lo, hi, log_form, has_scale, scale)`` (the softmax of rows ``[lo, hi)``;
    ``out`` may be ``x``) and ``static void grad_rows_<name>(g, y, out, n, lo, hi,
    has_scale, scale)`` (its gradient; ``out`` may be neither ``g`` nor ``y``), plain
    pointers (``native/attention.py`` runs them on products it has just made).

    >>> "static void grad_rows_float32(" in rows_source("float32")
    True
    """
    c_type, exp, log = _TYPES[name]
    template = row_sums.PAIRWISE_TEMPLATE + _TEMPLATE
    for key, value in (("{T}", name), ("{C}", c_type), ("{EXP}", exp), ("{LOG}", log)):
        template = template.replace(key, value)
    return template


_FORMS = ("softmax", "log_softmax", "softmax_bias", "log_softmax_bias")
#: Each form's parameters: its arrays (x, out; or x, bias, out), then n and size.
_SIGNATURES = {"softmax": "ooii", "log_softmax": "ooii", "softmax_bias": "oooii"}
_SIGNATURES["log_softmax_bias"] = _SIGNATURES["softmax_bias"]

SOURCE = codegen.library_source(
    [
        rows_source(name)
        + "".join(
            binding.packed_entry_source(f"{form}_{name}", _SIGNATURES[form]) for form in _FORMS
        )
        for name in _TYPES
    ],
    toolchain.DATA_OFFSET,
)


@functools.cache
def _functions() -> dict | None:
    """The C functions by form (``"range"`` for a thread's rows, ``"grad_range"`` for
    the gradient's) and NumPy dtype, or ``None`` without a compiler."""
    library = binding.load_reading_objects(SOURCE)
    if library is None:
        return None
    table = {}
    for form in _FORMS:
        # A batch-1 model's softmax: through fastcall (~0.15 us a call, where ctypes
        # took ~1.2 us of ~4 us, 2026-12-06).
        table[form] = binding.packed_functions(library, form, _TYPES, _SIGNATURES[form])
    # (x, bias, out, n, lo, hi, has_bias, log, has_scale, scale), (g, y, out, n, lo,
    # hi, has_scale, scale)
    ranges = [ctypes.py_object] * 3 + [ctypes.c_int64] * 6 + [ctypes.c_double]
    table["range"] = binding.typed_functions(library, "range", _TYPES, ranges)
    gradients = [ctypes.py_object] * 3 + [ctypes.c_int64] * 4 + [ctypes.c_double]
    table["grad_range"] = binding.typed_functions(library, "grad_range", _TYPES, gradients)
    # (x, labels, out, n, lo, hi, wide), (x, labels, g, out, n, lo, hi, wide)
    losses = [ctypes.py_object] * 3 + [ctypes.c_int64] * 4
    table["xent_range"] = binding.typed_functions(library, "xent_range", _TYPES, losses)
    xent_gradients = [ctypes.py_object] * 4 + [ctypes.c_int64] * 4
    table["xent_grad_range"] = binding.typed_functions(
        library, "xent_grad_range", _TYPES, xent_gradients
    )
    # (x, t, out, n, lo, hi, terms), (x, t, g, out, n, lo, hi, terms)
    dense = [ctypes.py_object] * 3 + [ctypes.c_int64] * 3 + [ctypes.py_object]
    table["xent_dense_range"] = binding.typed_functions(library, "xent_dense_range", _TYPES, dense)
    dense_gradients = [ctypes.py_object] * 4 + [ctypes.c_int64] * 3 + [ctypes.py_object]
    table["xent_dense_grad_range"] = binding.typed_functions(
        library, "xent_dense_grad_range", _TYPES, dense_gradients
    )
    return table


def available(dtype: str) -> bool:
    """Whether the C loop runs here for arrays of ``dtype`` (a dtype name)."""
    return dtype in _TYPES and _functions() is not None


def _rows(
    part: Callable, n: int, size: int, arrays: tuple, flags: tuple, scratch: bool = False
) -> None:
    """``part(*arrays, n, lo, hi, *flags)`` over all rows of n, split across as many
    threads as OpenBLAS uses (one where it runs one) when the call is large
    (``MIN_SPLIT`` elements): the pool's threads and this one each take a contiguous
    share of the rows. With ``scratch``, each share also gets a row of n elements of
    ``arrays[0]``'s dtype of its own, after the flags (room for the row's terms of a
    pairwise sum)."""
    rows = size // n if n else 0
    count = min(threads.cores(), rows) if size >= MIN_SPLIT else 1
    terms = np.empty((max(count, 1), n), arrays[0].dtype) if scratch else None

    def share(j: int, lo: int, hi: int) -> None:
        part(*arrays, n, lo, hi, *flags, *(() if terms is None else (terms[j],)))

    if count < 2:
        share(0, 0, rows)
        return
    cuts = threads.cuts(rows, count, count)
    bounds = zip(cuts, cuts[1:])
    threads.run_split(
        [functools.partial(share, j, lo, hi) for j, (lo, hi) in enumerate(bounds)], count
    )


@functools.cache
def softmax_rows_function() -> Callable | None:
    """``softmax_rows(x, bias, log, scale=None)``: the softmax (log-softmax when
    ``log``) of ``x * scale + bias`` over the last axis (``bias`` a vector of the last
    axis's length, or ``None``; ``scale`` a number, or ``None``), running the C loop;
    ``None`` without it. It answers ``None`` for arrays it has no loop for (a dtype
    other than float32 and float64, or a bias of another dtype or size). Arrays are
    passed as objects whose data pointer the C code reads."""
    table = _functions()
    if table is None:
        return None

    plain = (table["softmax"], table["log_softmax"])  # indexed by ``log``
    biased = (table["softmax_bias"], table["log_softmax_bias"])
    parts = table["range"]

    # The hot path of a batch-1 model: a few attribute reads and one C call.
    def softmax_rows(
        x: np.ndarray, bias: np.ndarray | None, log: bool, scale: float | None = None
    ) -> np.ndarray | None:
        dtype = x.dtype
        if bias is None:
            function = plain[log].get(dtype)
        elif bias.dtype == dtype and bias.size == x.shape[-1]:  # C reads n values
            function = biased[log].get(dtype)
            if not bias.flags.c_contiguous:
                bias = np.ascontiguousarray(bias)
        else:
            return None
        if function is None:
            return None
        if not x.flags.c_contiguous:
            x = np.ascontiguousarray(x)
        out = np.empty(x.shape, dtype)
        size = x.size
        if size >= MIN_SPLIT or scale is not None:
            flags = (bias is not None, log, scale is not None, 1.0 if scale is None else scale)
            _rows(parts[dtype], x.shape[-1], size, (x, bias, out), flags)
        elif bias is None:
            function((x.shape[-1], size), (x, out))
        else:
            function((x.shape[-1], size), (x, bias, out))
        return out

    return softmax_rows


@functools.cache
def softmax_rows_grad_function() -> Callable | None:
    """``softmax_rows_grad(g, y, scale)``: the gradient of a softmax over the last axis
    from its output ``y`` and the output's cotangent ``g`` (of one shape and dtype),
    ``y * (g - sum(g * y))``, times ``scale`` unless it is ``None``, running the C loop
    (the same bits as those steps in NumPy: the sum in NumPy's pairwise order);
    ``None`` without it, and for arrays it has no loop for."""
    table = _functions()
    if table is None:
        return None
    parts = table["grad_range"]

    def softmax_rows_grad(g: np.ndarray, y: np.ndarray, scale: float | None) -> np.ndarray | None:
        part = parts.get(g.dtype)
        if part is None or y.dtype != g.dtype or y.shape != g.shape or not g.shape:
            return None
        g, y = np.ascontiguousarray(g), np.ascontiguousarray(y)
        out = np.empty(g.shape, g.dtype)
        flags = (scale is not None, 1.0 if scale is None else scale)
        _rows(part, g.shape[-1], g.size, (g, y, out), flags)
        return out

    return softmax_rows_grad


#: Label dtypes the C loops read as they are (others are converted to int64 first), and
#: whether as int64.
_LABELS = {np.dtype(np.int32): 0, np.dtype(np.int64): 1}


def _labels(labels: np.ndarray) -> tuple[np.ndarray, int]:
    """``labels`` as a C-contiguous int32 or int64 array, and whether it is int64."""
    wide = _LABELS.get(labels.dtype)
    if wide is None:
        labels, wide = labels.astype(np.int64), 1
    return np.ascontiguousarray(labels), wide


@functools.cache
def sparse_xent_function() -> Callable | None:
    """``sparse_xent(logits, labels)``: the softmax cross-entropy of each row of
    ``logits`` (over the last axis) against its integer class label, running the C
    loop (NaN for a label outside the row); ``None`` without it, and for logits of a
    dtype it has no loop for (other than float32 and float64)."""
    table = _functions()
    if table is None:
        return None
    parts = table["xent_range"]

    def sparse_xent(logits: np.ndarray, labels: np.ndarray) -> np.ndarray | None:
        part = parts.get(logits.dtype)
        if part is None or not logits.shape or labels.shape != logits.shape[:-1]:
            return None
        labels, wide = _labels(labels)
        logits = np.ascontiguousarray(logits)
        out = np.empty(labels.shape, logits.dtype)
        _rows(part, logits.shape[-1], logits.size, (logits, labels, out), (wide,))
        return out

    return sparse_xent


@functools.cache
def sparse_xent_grad_function() -> Callable | None:
    """``sparse_xent_grad(logits, labels, g)``: the gradient of ``sparse_xent`` from the
    rows' cotangent ``g`` (the shape of ``labels``, the dtype of ``logits``), running
    the C loop; ``None`` without it, and for arrays it has no loop for."""
    table = _functions()
    if table is None:
        return None
    parts = table["xent_grad_range"]

    def sparse_xent_grad(
        logits: np.ndarray, labels: np.ndarray, g: np.ndarray
    ) -> np.ndarray | None:
        part = parts.get(logits.dtype)
        if part is None or not logits.shape or g.dtype != logits.dtype:
            return None
        if labels.shape != logits.shape[:-1] or g.shape != labels.shape:
            return None
        labels, wide = _labels(labels)
        logits, g = np.ascontiguousarray(logits), np.ascontiguousarray(g)
        out = np.empty(logits.shape, logits.dtype)
        _rows(part, logits.shape[-1], logits.size, (logits, labels, g, out), (wide,))
        return out

    return sparse_xent_grad


@functools.cache
def xent_function() -> Callable | None:
    """``xent(logits, targets)``: the softmax cross-entropy of each row of ``logits``
    (over the last axis) against the row of ``targets`` (same shape and dtype), running
    the C loop; ``None`` without it, and for arrays it has no loop for."""
    table = _functions()
    if table is None:
        return None
    parts = table["xent_dense_range"]

    def xent(logits: np.ndarray, targets: np.ndarray) -> np.ndarray | None:
        part = parts.get(logits.dtype)
        if part is None or not logits.shape or targets.dtype != logits.dtype:
            return None
        if targets.shape != logits.shape:
            return None
        logits, targets = np.ascontiguousarray(logits), np.ascontiguousarray(targets)
        out = np.empty(logits.shape[:-1], logits.dtype)
        _rows(part, logits.shape[-1], logits.size, (logits, targets, out), (), scratch=True)
        return out

    return xent


@functools.cache
def xent_grad_function() -> Callable | None:
    """``xent_grad(logits, targets, g)``: the gradient of ``xent`` for the logits from the
    rows' cotangent ``g``, running the C loop; ``None`` without it, and for arrays it
    has no loop for."""
    table = _functions()
    if table is None:
        return None
    parts = table["xent_dense_grad_range"]

    def xent_grad(logits: np.ndarray, targets: np.ndarray, g: np.ndarray) -> np.ndarray | None:
        part = parts.get(logits.dtype)
        if part is None or not logits.shape or targets.dtype != logits.dtype:
            return None
        if targets.shape != logits.shape or g.dtype != logits.dtype:
            return None
        if g.shape != logits.shape[:-1]:
            return None
        logits, targets = np.ascontiguousarray(logits), np.ascontiguousarray(targets)
        g = np.ascontiguousarray(g)
        out = np.empty(logits.shape, logits.dtype)
        arrays = (logits, targets, g, out)
        _rows(part, logits.shape[-1], logits.size, arrays, (), scratch=True)
        return out

    return xent_grad
