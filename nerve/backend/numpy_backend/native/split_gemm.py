"""The parts of a float32 product split across the held cores, run by ``sgemm`` from C
and shared between the calling thread and one C worker thread (``split``), for
``linalg.products``'s ``split_product`` and ``split_depth``.

Why: those functions cut a large product into parts (rows of ``a``, columns of ``b``,
or runs of the summed terms) and handed them to nerve's Python thread pool
(``threads.run_split``), one ``matmul`` call per part. Each hand-over between Python
threads costs tens of microseconds on the 2-vCPU Xeon (a futex wake, then the GIL),
and a part of a Transformer's products takes only ~0.1-0.5 ms: at two threads its
``(4096, 128) @ (128, 128)`` projections ran in ~1.0 ms against ~1.27 ms on one
(2026-12-06). Here the parts are claimed from one atomic word by the caller and the
worker, which polls between jobs, so a split costs about a microsecond.

Each part is the ``sgemm`` call NumPy's ``matmul`` makes for that block (row-major,
an operand passed transposed where it is the transpose of a C-ordered matrix), on
the same bounds as before, so results are the bits of the Python split (those of
the whole single-threaded product, except the deep products' partial sums, which
are added in the same order). A job the runtime declines (backing off while another
process holds the other core, no worker thread) runs all its parts on the caller's
thread, with the same bits.

``None``/``False`` (the caller keeps its Python split) for other dtypes than float32,
layouts BLAS does not take, products NumPy's ``matmul`` runs by another BLAS call (a
part of one row or one column: gemv, which sums in another order; ``a @ a.T``: syrk),
without a compiler or without NumPy's ``sgemm``.
"""

from __future__ import annotations

import ctypes
import functools

import numpy as np

from nerve.backend.numpy_backend.native import binding, cblas, split

__all__ = ["allow_back_off", "gemm_parts", "prepare", "worker_chunks"]

#: Never back off (``split``'s ``MISSES``): a declined job runs on the caller alone, where
#: the Python split kept the pool thread; under load from other processes the worker
#: misses often, and backing off ran every product on one core for 200 ms at a time.
NEVER = 1 << 30

_SOURCE = r"""
typedef void (*nv_sgemm)(int, int, int, int64_t, int64_t, int64_t, float, const float *,
                         int64_t, const float *, int64_t, float, float *, int64_t);
enum { NV_ROW_MAJOR = 101, NV_NO_TRANS = 111, NV_TRANS = 112 };

/* c (m x n, rows ldc apart) = a (m x k) @ b (k x n), each operand row-major with rows
   lda / ldb apart or, when trans_*, the transpose of such a matrix; cut along `axis`
   (0: rows of a and c, 1: columns of b and c, 2: the summed terms, part j writing its
   partial product to c + j * m * n, rows n apart) at bounds[0..parts]. */
struct gemm_job {
    const float *a, *b;
    float *c;
    int64_t m, n, k, lda, ldb, ldc, trans_a, trans_b, axis;
    const int64_t *bounds;
    nv_sgemm gemm;
};

static void gemm_part(const void *context, int64_t part, int worker) {
    const struct gemm_job *job = context;
    (void)worker;
    const int64_t lo = job->bounds[part], hi = job->bounds[part + 1];
    const float *a = job->a, *b = job->b;
    float *c = job->c;
    int64_t m = job->m, n = job->n, k = job->k, ldc = job->ldc;
    if (job->axis == 0) {
        a += lo * (job->trans_a ? 1 : job->lda);
        c += lo * ldc;
        m = hi - lo;
    } else if (job->axis == 1) {
        b += lo * (job->trans_b ? job->ldb : 1);
        c += lo;
        n = hi - lo;
    } else {
        a += lo * (job->trans_a ? job->lda : 1);
        b += lo * (job->trans_b ? 1 : job->ldb);
        c += part * m * n;
        ldc = n;
        k = hi - lo;
    }
    job->gemm(NV_ROW_MAJOR, job->trans_a ? NV_TRANS : NV_NO_TRANS,
              job->trans_b ? NV_TRANS : NV_NO_TRANS, m, n, k, 1.0f, a, job->lda, b, job->ldb,
              0.0f, c, ldc);
}

/* Runs the parts on this thread and the worker, or all on this thread when the split
   is declined. Parts are long and uneven (a slower core takes fewer): a job counts as
   missed only when the worker computed none of it. */
void split_gemm_float32(const float *a, const float *b, float *c, const int64_t *sizes,
                        const int64_t *bounds, int64_t parts, const void *gemm) {
    struct gemm_job job = {a, b, c, sizes[0], sizes[1], sizes[2], sizes[3], sizes[4],
                           sizes[5], sizes[6], sizes[7], sizes[8], bounds, (nv_sgemm)gemm};
    if (split_run_patient(gemm_part, &job, parts, INT64_MAX / 2)) return;
    for (int64_t part = 0; part < parts; part++) gemm_part(&job, part, 0);
}
"""

SOURCE = (
    "#define _POSIX_C_SOURCE 200809L\n"  # clock_gettime under -std=c99
    + split.runtime_source("split_gemm", misses=NEVER)
    + _SOURCE
)

_LIBRARY = split.Library(SOURCE, "split_gemm")


@functools.cache
def _function():
    """The C entry point, or ``None`` (no compiler or no ``sgemm``)."""
    library = _LIBRARY.library()
    if library is None or cblas.sgemm_address() is None:
        return None
    function = library.split_gemm_float32
    function.argtypes = [ctypes.c_void_p] * 5 + [ctypes.c_int64, ctypes.c_void_p]
    function.restype = None
    return function


def _layout(x: np.ndarray) -> tuple[int, int] | None:
    """``(transposed, leading dimension)`` of a 2-D float32 matrix as ``sgemm`` takes
    it (rows apart with contiguous elements, or the transpose of such a matrix), or
    ``None``."""
    item = x.itemsize
    (rows, columns), (row_step, column_step) = x.shape, x.strides
    if column_step == item and row_step % item == 0 and row_step // item >= max(columns, 1):
        return 0, row_step // item
    if row_step == item and column_step % item == 0 and column_step // item >= max(rows, 1):
        return 1, column_step // item
    return None


def prepare(a: np.ndarray, b: np.ndarray, out: np.ndarray, axis: int, bounds: list[int]):
    """``gemm_parts`` made ready for every call with operands and results of the shapes,
    strides and dtypes of these (their data is not read): ``run(a, b, out) -> bool``,
    which checks and converts nothing but that ``a`` and ``b`` are not one matrix; or
    ``None`` where they do not fit (see ``gemm_parts``).

    Why: the checks, the two small integer arrays and the conversions cost ~8 us of
    Python per call, against ~2 us for the C call (a split's round trip included) on
    the 2-vCPU Xeon, and an MLP step at batch 32 makes five products of ~0.05-0.15 ms
    per core part (2026-12-06).

    >>> a, b = np.ones((4, 3), np.float32), np.ones((3, 2), np.float32)
    >>> out = np.empty((4, 2), np.float32)
    >>> run = prepare(a, b, out, 0, [0, 2, 4])
    >>> run is None or (run(a, b, out) and out.tolist() == [[3.0] * 2] * 4)
    True
    """
    function = _function()
    if function is None or a.ndim != 2 or b.ndim != 2 or out.dtype != np.float32:
        return None
    if a.dtype != np.float32 or b.dtype != np.float32:
        return None
    (m, k), n = a.shape, b.shape[1]
    parts = [hi - lo for lo, hi in zip(bounds, bounds[1:])]
    if m < 2 or n < 2 or (axis < 2 and min(parts) < 2):
        return None  # NumPy's matmul runs a one-row or one-column product by gemv
    layout_a, layout_b = _layout(a), _layout(b)
    if layout_a is None or layout_b is None:
        return None
    if axis == 2:
        if out.shape != (len(bounds) - 1, m, n) or not out.flags.c_contiguous:
            return None
        ldc = n
    else:
        if out.ndim != 2 or out.shape != (m, n) or out.strides[1] != 4 or out.strides[0] % 4:
            return None
        ldc = out.strides[0] // 4
        if ldc < n:
            return None
    sizes = np.array(
        [m, n, k, layout_a[1], layout_b[1], ldc, layout_a[0], layout_b[0], axis], np.int64
    )
    cuts = np.array(bounds, np.int64)
    address, gemm, count = binding.address, cblas.sgemm_address(), len(bounds) - 1
    fixed = address(sizes), address(cuts)

    def run(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> bool:
        pointer_a = address(a)
        if pointer_a == address(b):
            return False  # ... and a @ a.T by syrk
        function(pointer_a, address(b), address(out), *fixed, count, gemm)
        return True

    run.keep = (sizes, cuts)  # type: ignore[attr-defined]  # the arrays C reads
    return run


_prepare = prepare  # what gemm_parts calls (tests count calls of ``prepare``)


def gemm_parts(a: np.ndarray, b: np.ndarray, out: np.ndarray, axis: int, bounds: list[int]) -> bool:
    """Compute the parts of ``a @ b`` (2-D float32) cut at ``bounds`` along ``axis`` (0:
    rows, 1: columns, into ``out`` of the product's shape, rows apart, its elements
    contiguous; 2: the summed terms, part ``j``'s product into ``out[j]``, ``out`` a
    C-contiguous ``(parts, m, n)`` array), shared with the C worker thread. ``False``
    (nothing computed) where the operands do not fit. A caller that multiplies operands
    of the same layout again and again keeps ``prepare``'s function instead.

    >>> a, b = np.ones((4, 3), np.float32), np.ones((3, 2), np.float32)
    >>> out = np.empty((4, 2), np.float32)
    >>> gemm_parts(a, b, out, 0, [0, 2, 4]) is False or out.tolist() == [[3.0] * 2] * 4
    True
    """
    run = _prepare(a, b, out, axis, bounds)
    return run is not None and run(a, b, out)


#: For tests: let split jobs back off (the default) or not (``split.Library``).
allow_back_off = _LIBRARY.allow_back_off


#: How many parts the C worker thread computed in this process (``split.Library``).
worker_chunks = _LIBRARY.worker_chunks
