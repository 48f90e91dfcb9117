"""Attention in C, one (batch, head) pair at a time: the scores' product, the softmax
and the product with the values (``attention``), and the four products and softmax
gradient of its backward pass (``attention_grad``), with NumPy's OpenBLAS ``sgemm``
called from C (``cblas``) and the softmax's own row loops (``softmax.rows_source``).

Why: as separate kernels, attention's scores (batch x heads x steps x steps: 8 MB per
layer for the benchmark Transformer's batch 32, 4 heads, 128 steps) are written by one
product, read and written by the softmax, read by the next product, and in the
backward pass written, read and written again and read twice more: ~90 MB of memory
traffic a layer, and eleven kernel calls, each a handoff between the held cores. One
pair's scores are 64 KB (128 x 128 float32), so run pair by pair they stay in the
core's L2 from the product to the next product; only the probabilities are written
once (the backward pass reads them).

Each step is the unfused graph's: the same products (``sgemm`` with the operand layouts
NumPy's ``matmul`` passes it for the einsums: rows ``heads x depth`` apart) and the same
row loops, so the results are those steps' bits (tests/backend/test_native_attention.py
checks them against the einsums and the softmax kernels). Pairs are shared out among
the cores a compiled run holds (``threads.held``), in ``threads.PARTS_PER_THREAD``
parts per core. ``None`` (the caller runs the unfused kernels) for other dtypes than
float32, without a compiler or without NumPy's ``sgemm``.
"""

from __future__ import annotations

import ctypes
import functools

import numpy as np

from nerve.backend.numpy_backend.native import (
    binding,
    cblas,
    codegen,
    softmax,
    split_loops,
    threads,
    toolchain,
)

__all__ = ["attention", "attention_grad", "available"]

_TEMPLATE = r"""
typedef void (*nv_sgemm)(int, int, int, int64_t, int64_t, int64_t, float, const float *,
                         int64_t, const float *, int64_t, float, float *, int64_t);
enum { NV_ROW_MAJOR = 101, NV_NO_TRANS = 111, NV_TRANS = 112 };

/* Pairs [lo, hi) of (batch, head): q (B, T, H, D), k (B, S, H, D), v (B, S, H, E),
   each with its own strides (in elements; the last axis contiguous: the column block of
   a wider product is read where it lies), stride = (q's batch, step and head strides,
   then k's, then v's); o (B, T, H, E) and p (B, H, T, S) C-contiguous; size =
   (T, S, H, D, E). p = softmax(q k^T * scale) over s, o = p v. */
void attention_float32(const float *q, const float *k, const float *v, float *o, float *p,
                       const int64_t *size, const int64_t *stride, int64_t lo, int64_t hi,
                       int64_t has_scale, double scale, const void *gemm_address) {
    const nv_sgemm gemm = (nv_sgemm)gemm_address;
    const int64_t T = size[0], S = size[1], H = size[2], D = size[3], E = size[4];
    for (int64_t pair = lo; pair < hi; pair++) {
        const int64_t b = pair / H, h = pair % H;
        const float *qp = q + b * stride[0] + h * stride[2];
        const float *kp = k + b * stride[3] + h * stride[5];
        const float *vp = v + b * stride[6] + h * stride[8];
        float *pp = p + pair * T * S;
        gemm(NV_ROW_MAJOR, NV_NO_TRANS, NV_TRANS, T, S, D, 1.0f, qp, stride[1], kp, stride[4],
             0.0f, pp, S);
        rows_float32(pp, 0, pp, S, 0, T, 0, (int)has_scale, (float)scale);
        gemm(NV_ROW_MAJOR, NV_NO_TRANS, NV_NO_TRANS, T, E, S, 1.0f, pp, S, vp, stride[7], 0.0f,
             o + (b * T * H + h) * E, H * E);
    }
}

/* The gradients of attention_float32 for pairs [lo, hi), from g (o's cotangent, as o)
   and the probabilities p: dp = g v^T, dv = p^T g, ds = the softmax's gradient (times
   scale), dq = ds k, dk = ds^T q; q, k and v read as attention_float32 reads them, dq,
   dk and dv C-contiguous. dp and ds live in two scratch blocks of T x S. Returns 1 when
   the scratch could not be allocated. */
int attention_grad_float32(const float *g, const float *q, const float *k, const float *v,
                           const float *p, float *dq, float *dk, float *dv,
                           const int64_t *size, const int64_t *stride, int64_t lo,
                           int64_t hi, int64_t has_scale, double scale,
                           const void *gemm_address) {
    const nv_sgemm gemm = (nv_sgemm)gemm_address;
    const int64_t T = size[0], S = size[1], H = size[2], D = size[3], E = size[4];
    float *dp = (float *)malloc(2 * (size_t)(T * S) * sizeof(float) + 1);
    if (!dp) return 1;
    float *ds = dp + T * S;
    for (int64_t pair = lo; pair < hi; pair++) {
        const int64_t b = pair / H, h = pair % H;
        const float *qp = q + b * stride[0] + h * stride[2];
        const float *kp = k + b * stride[3] + h * stride[5];
        const float *vp = v + b * stride[6] + h * stride[8];
        const int64_t tq = (b * T * H + h) * D, sk = (b * S * H + h) * D;
        const int64_t to = (b * T * H + h) * E, sv = (b * S * H + h) * E;
        const float *pp = p + pair * T * S;
        gemm(NV_ROW_MAJOR, NV_NO_TRANS, NV_TRANS, T, S, E, 1.0f, g + to, H * E, vp, stride[7],
             0.0f, dp, S);
        gemm(NV_ROW_MAJOR, NV_TRANS, NV_NO_TRANS, S, E, T, 1.0f, pp, S, g + to, H * E, 0.0f,
             dv + sv, H * E);
        grad_rows_float32(dp, pp, ds, S, 0, T, (int)has_scale, (float)scale);
        gemm(NV_ROW_MAJOR, NV_NO_TRANS, NV_NO_TRANS, T, D, S, 1.0f, ds, S, kp, stride[4], 0.0f,
             dq + tq, H * D);
        gemm(NV_ROW_MAJOR, NV_TRANS, NV_NO_TRANS, S, D, T, 1.0f, ds, S, qp, stride[1], 0.0f,
             dk + sk, H * D);
    }
    free(dp);
    return 0;
}

/* Pairs ints[2] .. ints[3] - 1 of either loop, in the form split_loops.run_parts calls:
   ints = (backward, has_scale, lo, hi); pointers = (the loop's arrays: 5 forward, 8
   backward; then size, stride, sgemm, the scale (a double) and a flag set to 1 when
   the backward loop could not allocate its scratch). */
void attention_part(const int64_t *ints, void *const *pointers) {
    const double scale = *(const double *)pointers[ints[0] ? 11 : 8];
    if (!ints[0]) {
        attention_float32(pointers[0], pointers[1], pointers[2], pointers[3], pointers[4],
                          pointers[5], pointers[6], ints[2], ints[3], ints[1], scale,
                          pointers[7]);
        return;
    }
    if (attention_grad_float32(pointers[0], pointers[1], pointers[2], pointers[3],
                               pointers[4], pointers[5], pointers[6], pointers[7],
                               pointers[8], pointers[9], ints[2], ints[3], ints[1], scale,
                               pointers[10]))
        *(int64_t *)pointers[12] = 1;
}
"""

SOURCE = codegen.library_source(
    ["#include <stdlib.h>\n" + softmax.rows_source("float32") + _TEMPLATE],
    toolchain.DATA_OFFSET,
)


@functools.cache
def _functions() -> tuple | None:
    """The forward and backward C functions and their entry by parts, or ``None`` (no
    compiler or no ``sgemm``)."""
    if cblas.sgemm_address() is None:
        return None
    library = toolchain.load(SOURCE)
    if library is None:
        return None
    forward, backward = library.attention_float32, library.attention_grad_float32
    # (arrays..., size, stride, lo, hi, has_scale, scale, sgemm's address)
    tail: list = [ctypes.c_void_p] * 2 + [ctypes.c_int64] * 3 + [ctypes.c_double, ctypes.c_void_p]
    forward.argtypes = [ctypes.c_void_p] * 5 + tail
    forward.restype = None
    backward.argtypes = [ctypes.c_void_p] * 8 + tail
    backward.restype = ctypes.c_int
    # ... and both loops' entry by parts (``split_loops.run_parts``), by its address.
    return forward, backward, binding.entry_address(library, "attention_part")


def available(dtype: str) -> bool:
    """Whether the C loops run here for arrays of ``dtype`` (a dtype name).

    >>> available("float64")
    False
    """
    return dtype == "float32" and _functions() is not None


def _sizes(q: np.ndarray, k: np.ndarray, v: np.ndarray) -> np.ndarray | None:
    """``(T, S, H, D, E)`` when ``q`` is ``(B, T, H, D)``, ``k`` ``(B, S, H, D)`` and ``v``
    ``(B, S, H, E)``, all float32 and of positive sizes, else ``None``."""
    if q.ndim != 4 or k.ndim != 4 or v.ndim != 4 or k.shape[:3] != v.shape[:3]:
        return None
    if q.shape[0] != k.shape[0] or q.shape[2:] != k.shape[2:] or not all(q.shape + v.shape):
        return None
    if any(x.dtype != np.float32 for x in (q, k, v)):
        return None
    _, steps, heads, depth = q.shape
    return np.array([steps, k.shape[1], heads, depth, v.shape[3]], dtype=np.int64)


def _rows(x: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """``x`` (4-D float32) and its first three strides in elements, as the C loops read
    it: in place where its last axis is contiguous and its strides whole elements (a
    column block of a wider product), else a C-contiguous copy."""
    size = x.itemsize
    if x.strides[-1] != size or any(s % size or s < 0 for s in x.strides):
        x = np.ascontiguousarray(x)
    return x, [s // size for s in x.strides[:3]]


def _run_pairs(pairs: int, run) -> None:
    """``run(lo, hi)`` over the pairs, shared out among the held cores when there are
    several (``threads.held``), else in one call."""
    cores = threads.held()
    if cores < 2 or pairs < 2:
        run(0, pairs)
        return
    threads.run_ranges(pairs, cores, run)


def _run_from_c(
    entry: int, arrays: list, pairs: int, flags: tuple, backward: bool, failed: list | None = None
) -> bool:
    """Run the forward or backward loop's pairs (``entry``: ``attention_part``'s address)
    on exactly two held cores from C, shared with one C
    worker thread (``split_loops``: no hand-over between Python threads per part), in
    the parts ``_run_pairs`` cuts; ``False`` (nothing run) elsewhere. A scratch that
    could not be allocated is noted in ``failed``."""
    if threads.held() != 2 or pairs < 2:
        return False
    has_scale, scale, gemm = flags
    numbers = np.array([scale], np.float64)
    flag = np.zeros(1, np.int64)
    pointers = (*arrays, gemm, binding.address(numbers), binding.address(flag))
    ints = (int(backward), int(has_scale), 0, 0)
    if not split_loops.run_parts(entry, ints, pointers, threads.cuts(pairs, 2)):
        return False
    if flag[0] and failed is not None:
        failed.append(flag[0])
    return True


def attention(
    q: np.ndarray, k: np.ndarray, v: np.ndarray, scale: float | None
) -> tuple[np.ndarray, np.ndarray] | None:
    """``(o, p)``: ``p = softmax(einsum("bthd,bshd->bhts", q, k) * scale)`` over ``s``
    (no multiply when ``scale`` is ``None``) and ``o = einsum("bhts,bshe->bthe", p, v)``,
    for float32 ``q`` ``(B, T, H, D)``, ``k`` ``(B, S, H, D)`` and ``v`` ``(B, S, H, E)``;
    ``None`` where the C loop does not run (see the module doc).

    >>> import numpy as np
    >>> q = np.ones((1, 2, 1, 3), np.float32)
    >>> done = attention(q, q, q, 0.5)
    >>> done is None or (done[0].shape, done[1].shape) == ((1, 2, 1, 3), (1, 1, 2, 2))
    True
    """
    functions = _functions()
    size = _sizes(q, k, v)
    if functions is None or size is None:
        return None
    (q, q_strides), (k, k_strides), (v, v_strides) = _rows(q), _rows(k), _rows(v)
    stride = np.array(q_strides + k_strides + v_strides, dtype=np.int64)
    batch, steps, heads, _ = q.shape
    o = np.empty((batch, steps, heads, v.shape[3]), np.float32)
    p = np.empty((batch, heads, steps, k.shape[1]), np.float32)
    arrays = [binding.address(x) for x in (q, k, v, o, p, size, stride)]
    flags = (scale is not None, 1.0 if scale is None else scale, cblas.sgemm_address())
    if not _run_from_c(functions[2], arrays, batch * heads, flags, backward=False):
        _run_pairs(batch * heads, lambda lo, hi: functions[0](*arrays, lo, hi, *flags))
    return o, p


def attention_grad(
    g: np.ndarray, q: np.ndarray, k: np.ndarray, v: np.ndarray, p: np.ndarray, scale
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """``(dq, dk, dv)``: the gradients of ``attention``'s ``o`` with respect to ``q``,
    ``k`` and ``v``, from ``o``'s cotangent ``g`` and the probabilities ``p`` it
    returned, in the backward graph's steps (``ds`` is the softmax's gradient times
    ``scale``); ``None`` where the C loop does not run.

    >>> import numpy as np
    >>> q = np.ones((1, 2, 1, 3), np.float32)
    >>> p = np.full((1, 1, 2, 2), 0.5, np.float32)
    >>> done = attention_grad(q, q, q, q, p, 0.5)
    >>> done is None or [x.shape for x in done] == [(1, 2, 1, 3)] * 3
    True
    """
    functions = _functions()
    size = _sizes(q, k, v)
    if functions is None or size is None:
        return None
    batch, steps, heads, _ = q.shape
    if g.shape != (batch, steps, heads, v.shape[3]) or p.shape != (batch, heads, steps, k.shape[1]):
        return None
    if g.dtype != np.float32 or p.dtype != np.float32:
        return None
    g, p = np.ascontiguousarray(g), np.ascontiguousarray(p)
    (q, q_strides), (k, k_strides), (v, v_strides) = _rows(q), _rows(k), _rows(v)
    stride = np.array(q_strides + k_strides + v_strides, dtype=np.int64)
    dq, dk, dv = (np.empty(x.shape, np.float32) for x in (q, k, v))
    arrays = [binding.address(x) for x in (g, q, k, v, p, dq, dk, dv, size, stride)]
    flags = (scale is not None, 1.0 if scale is None else scale, cblas.sgemm_address())
    failed: list = []

    def run(lo: int, hi: int) -> None:
        if functions[1](*arrays, lo, hi, *flags):
            failed.append((lo, hi))

    if not _run_from_c(functions[2], arrays, batch * heads, flags, backward=True, failed=failed):
        _run_pairs(batch * heads, run)
    if failed:
        raise MemoryError("attention_grad: could not allocate a pair's scratch rows")
    return dq, dk, dv
