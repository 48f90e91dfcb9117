"""A row times a large matrix, ``(1, K) @ (K, N)``, split by columns across two
cores: a dense layer at batch 1.

Why: OpenBLAS runs this product (a gemv) on one thread however many it has, and it
is bound by reading the matrix, not by arithmetic. The 784-512-256-10 MLP's kernels
(2.1 MB of float32) do not fit one core's L2 (2 MB on the benchmark's Xeon), so its
batch-1 forward pass read them from L3 at each call, ~45 us of products on one core,
where PyTorch's eager forward (MKL splits them) took ~53 us in all on two. Split by
columns, each core reads its half of every matrix, and that half stays in its L2 from
one call to the next.

How: the columns are cut into chunks of ``CHUNK`` (the last one shorter), shared
between the caller and one C worker thread by ``split`` (which see: the worker polls
between jobs, so a forward pass's next product finds it awake; a caller never waits
for it to start; a split backs off under load from other processes). A chunk the
worker claimed and then did not finish in time (descheduled: another process on its
core) is computed by the caller (``split``'s "Stealing"); the operands of such a call
stay referenced here (``_held``) until the worker has stopped reading them.

When not to split: the C loop on one core is slower than OpenBLAS's gemv (~55 against
~45 us for the MLP's two large products), so a job the split would not speed up is
declined (``None``: NumPy's matmul runs): one chunk only, another Python thread's job
running, or a back-off.

Each element is ``sum_k a[k] * b[k, n]`` accumulated in ``k`` order with fused
multiply-adds in the operands' dtype (float32 or float64), IEEE semantics: results
agree with BLAS's to rounding, not bitwise, and do not depend on how the chunks were
shared (each column is computed by the same loop whichever thread runs it).
"""

from __future__ import annotations

import ctypes
import functools
import threading
import time
from collections.abc import Callable

import numpy as np

from nerve.backend.numpy_backend.native import binding, codegen, split, threads, toolchain

__all__ = [
    "CHUNK",
    "LOOP_DTYPES",
    "MIN_SPLIT",
    "SPIN_US",
    "add_bias_relu",
    "product",
    "product_bias_relu",
    "product_function",
    "takes_bias_relu",
]

#: Multiply-adds (``K * N``) from which a product is split: a smaller one costs less
#: than the hand-over (``(1, 256) @ (256, 10)`` stays with BLAS).
MIN_SPLIT = 1 << 16
#: Columns per chunk, the unit the two cores claim (measured: 128 read the matrix
#: faster than 32 or 64).
CHUNK = 128
#: How long the idle worker polls for the next job before it sleeps (``split``).
SPIN_US = split.SPIN_US
_MISSES = split.MISSES

_TEMPLATE = r"""
/* An epilogue: a result plus bias[n] (when bias is not NULL), then ReLU (when relu),
   as the fused elementwise loop after a product computes them ((v > 0 || v != v) ?
   v : 0): the same bits. */
#define EPILOGUE_{T}(v, n) do {                                                       \
        if (bias != NULL) (v) = (v) + bias[n];                                       \
        if (relu) (v) = ((v) > 0 || (v) != (v)) ? (v) : ({C})0;                      \
    } while (0)

/* Columns n0..n1-1 of a (K) @ b (K, N), b C-contiguous, K >= 1, into out[0..n1-n0-1]
   (the output's column n0, or a scratch area): W columns at a time kept in registers
   while k runs; then the epilogue. */
#define COLUMNS_{T}(W)                                                              \
    for (; n + W <= n1; n += W) {                                                   \
        {C} acc[W];                                                                 \
        for (int j = 0; j < W; j++) acc[j] = a[0] * b[n + j];                       \
        for (int64_t k = 1; k < K; k++) {                                           \
            const {C} s = a[k];                                                     \
            const {C} *restrict br = b + k * N + n;                                 \
            for (int j = 0; j < W; j++) acc[j] = FMA{T}(s, br[j], acc[j]);          \
        }                                                                           \
        for (int j = 0; j < W; j++) {                                               \
            {C} v = acc[j];                                                         \
            EPILOGUE_{T}(v, n + j);                                                 \
            out[n - n0 + j] = v;                                                    \
        }                                                                           \
    }

static void columns_{T}(const void *a_, const void *b_, void *out_, int64_t K, int64_t N,
                        int64_t n0, int64_t n1, const void *bias_, int64_t relu) {
    const {C} *restrict a = a_;
    const {C} *restrict b = b_;
    const {C} *restrict bias = bias_;
    {C} *restrict out = out_;
    int64_t n = n0;
    COLUMNS_{T}(128)
    COLUMNS_{T}(16)
    COLUMNS_{T}(1)
}

static void chunk_{T}(const void *context, int64_t chunk, void *into) {
    const struct columns_job *job = context;
    int64_t n0 = chunk * CHUNK, n1 = n0 + CHUNK < job->N ? n0 + CHUNK : job->N;
    columns_{T}(job->a, job->b, into, job->K, job->N, n0, n1, job->bias, job->relu);
}

/* With `split`, runs the product on two cores and returns 1 (2 when this thread stole
   the worker's chunk: the worker may still read a, b and bias), or returns 0 without
   computing it when the split declines (the caller then runs BLAS, faster on one
   core); without, computes it on this thread alone and returns 1. The arrays come as
   NumPy array objects (NV_DATA reads their data); with `relu`, bias_obj's N values
   are added to each result, then ReLU (bias_obj is not read without). */
int row_product_{T}(const void *a_obj, const void *b_obj, void *out_obj, int64_t K,
                    int64_t N, int64_t split, const void *bias_obj, int64_t relu) {
    const void *a = NV_DATA(a_obj), *b = NV_DATA(b_obj);
    void *out = NV_DATA(out_obj);
    const void *bias = relu ? NV_DATA(bias_obj) : NULL;
    if (!split) {
        columns_{T}(a, b, out, K, N, 0, N, bias, relu);
        return 1;
    }
    struct columns_job job = {a, b, K, N, bias, relu};
    return split_run_stealing(chunk_{T}, &job, sizeof job, out, CHUNK * sizeof({C}),
                              N * sizeof({C}));
}

/* The epilogue alone (bias and ReLU), in place over out (M, N) C-contiguous: after
   a product BLAS computed (the split declined). Array objects, as above. */
void epilogue_{T}(void *out_obj, int64_t M, int64_t N, const void *bias_obj) {
    {C} *restrict out = NV_DATA(out_obj);
    const {C} *restrict bias = NV_DATA(bias_obj);
    const int relu = 1;
    for (int64_t m = 0; m < M; m++, out += N) {
        for (int64_t n = 0; n < N; n++) {
            {C} v = out[n];
            EPILOGUE_{T}(v, n);
            out[n] = v;
        }
    }
}
"""

_JOB = r"""
#include <math.h>
#define FMAfloat32 fmaf
#define FMAfloat64 fma

/* Copied for the worker by split_run_stealing (a multiple of 8 bytes). */
struct columns_job {
    const void *a, *b;
    int64_t K, N;
    const void *bias;
    int64_t relu;
};
"""

_TYPES = {"float32": "float", "float64": "double"}
#: ``row_product_<T>(a, b, out, K, N, split, bias, relu)``: arrays and int64 values.
_SIGNATURE = "oooiiioi"
#: ``epilogue_<T>(out, M, N, bias)``.
_EPILOGUE_SIGNATURE = "oiio"
#: The dtypes the C loop takes, as NumPy dtypes (native byte order only: a set lookup).
LOOP_DTYPES = frozenset(map(np.dtype, _TYPES))
SOURCE = (
    "#define _POSIX_C_SOURCE 200809L\n"  # clock_gettime under -std=c99
    f"#define CHUNK {CHUNK}\n"
    + split.runtime_source("row_product", steal_bytes=CHUNK * 8)
    + codegen.data_pointer_source(toolchain.DATA_OFFSET)
    + _JOB
    + "".join(
        _TEMPLATE.replace("{T}", name).replace("{C}", c)
        + binding.packed_entry_source(f"row_product_{name}", _SIGNATURE, "int")
        + binding.packed_entry_source(f"epilogue_{name}", _EPILOGUE_SIGNATURE)
        for name, c in _TYPES.items()
    )
)


_LIBRARY = split.Library(SOURCE, "row_product")


#: For tests: let split jobs back off (the default) or not (``split.Library``).
allow_back_off = _LIBRARY.allow_back_off
#: How many chunks the worker thread of split products computed in this process (0 in a
#: forked child until its own worker helps; ``split.Library``).
worker_chunks = _LIBRARY.worker_chunks
#: ``(stolen, lost)``: how many chunks callers stole from the worker, and how many of
#: those it computed and then dropped (``split.Library``).
stolen_chunks = _LIBRARY.stolen_chunks
#: For tests: stall the worker (``split.Controls.stall_worker``).
stall_worker = _LIBRARY.stall_worker


@functools.cache
def product_function() -> Callable | None:
    """``run(a, b, split, bias=None)``: ``a @ b`` for ``a`` of shape ``(1, K)`` or
    ``(K,)`` (its elements contiguous) and ``b`` ``(K, N)`` C-contiguous, both float32
    or both float64, ``K >= 1``, into a new ``(1, N)`` array; with ``bias`` (``N``
    contiguous values of that dtype), ``relu(a @ b + bias)``, added and rectified as
    each result is written (``product_bias_relu``). With ``split``, on two cores, or
    ``None`` where the split declines (fewer than two chunks, backing off, another
    thread's job running: BLAS is then faster); else on this thread. The caller checks
    the operands (see ``product``). ``None`` without native kernels.

    >>> run = product_function()
    >>> a, b = np.ones((1, 3), np.float32), np.ones((3, 2), np.float32)
    >>> run is None or run(a, b, False).tolist() == [[3.0, 3.0]]
    True
    >>> bias = np.array([-4.0, 1.0], np.float32)
    >>> run is None or run(a, b, False, bias).tolist() == [[0.0, 4.0]]
    True
    """
    library = _LIBRARY.library()
    if library is None or not binding.reads_data_pointers(library):
        return None
    # Arrays pass as objects, their data read in C: ~0.2 us less per array than
    # ``binding.address`` (four per call of a batch-1 dense layer); the call through
    # fastcall: ~0.3 us, where ctypes took ~1.5-2 us (2026-12-06).
    loops = binding.packed_functions(library, "row_product", _TYPES, _SIGNATURE, ctypes.c_int)

    controls = _LIBRARY.controls()
    assert controls is not None and controls.reading is not None  # the loops loaded
    reading = controls.reading

    def run(a, b, split, bias=None):
        if _held:
            _release(reading)
        inner, columns = b.shape
        out = np.empty((1, columns), dtype=b.dtype)
        relu = 0 if bias is None else 1
        done = loops[b.dtype]((inner, columns, split, relu), (a, b, out, bias))
        if done == 2:  # a chunk stolen: the worker may still read the operands
            with _holding:
                _held.append((a, b, bias))
        return out if done else None

    return run


#: The operands of split calls whose worker chunk the caller stole, kept alive while
#: the worker may still read them (see "Stealing" in ``split``), and its lock (Python
#: threads call the product; taken only after a steal).
_held: list[tuple] = []
_holding = threading.Lock()


def _release(reading: ctypes.c_int64) -> None:
    """Drops the held operands once the worker reads none (a steal's worker sets
    ``reading`` before its call returns, so a zero read after the operands were held
    means it left that chunk; the lock keeps a steal from holding more in between)."""
    with _holding:
        if not reading.value:
            _held.clear()


@functools.cache
def _epilogue_functions() -> dict | None:
    library = _LIBRARY.library()
    if library is None or product_function() is None:  # the same library, checked there
        return None
    return binding.packed_functions(library, "epilogue", _TYPES, _EPILOGUE_SIGNATURE)


def _takes(a, b) -> bool:
    """Whether ``product`` would split ``a @ b`` now (the split itself may still
    decline: a back-off that starts during the call, another thread's job). Asked at
    every batch-1 dense layer, cheapest answer first: with one BLAS thread or backing
    off (a C call and a clock read), the operands are not read."""
    resume = _resume_at()
    if resume is None or time.monotonic_ns() < resume.value or threads.blas_threads() < 2:
        return False
    if a.ndim != 2 or b.ndim != 2 or a.shape[0] != 1:
        return False
    dtype = a.dtype
    inner, columns = b.shape
    if dtype != b.dtype or a.shape[1] != inner or inner * columns < MIN_SPLIT:
        return False
    if dtype not in LOOP_DTYPES or a.strides[1] != dtype.itemsize:
        return False
    flags = b.flags
    return bool(flags.c_contiguous and flags.aligned and a.flags.aligned)


def product(a, b):
    """``a @ b`` split across two cores for ``a`` of shape ``(1, K)`` (its elements
    contiguous) and ``b`` ``(K, N)`` C-contiguous, both float32 or both float64, with at
    least ``MIN_SPLIT`` multiply-adds, when OpenBLAS may use two threads or more
    (``threads.blas_threads``); ``None`` otherwise, or without native kernels (the
    caller runs NumPy's matmul).

    >>> a, b = np.ones((1, 512), np.float32), np.ones((512, 256), np.float32)
    >>> out = product(a, b)
    >>> out is None or (out.shape == (1, 256) and float(out[0, 0]) == 512.0)
    True
    """
    if not _takes(a, b):
        return None
    return product_function()(a, b, True)


def takes_bias_relu(a_shape: tuple, b_shape: tuple, dtype: str) -> bool:
    """Whether ``product_bias_relu`` may split ``(1, K) @ (K, N)`` products of these
    shapes and dtype here: asked when a graph is compiled (``Backend.runs_natively``),
    so with the thread count of that time; a call that then declines runs BLAS and the
    epilogue after it (``add_bias_relu``), the same bits as the unfolded graph's.

    >>> takes_bias_relu((2, 784), (784, 512), "float32")
    False
    """
    if len(a_shape) != 2 or len(b_shape) != 2 or a_shape[0] != 1 or dtype not in _TYPES:
        return False
    inner, columns = b_shape
    if a_shape[1] != inner or inner * columns < MIN_SPLIT or columns <= CHUNK:
        return False
    return product_function() is not None and threads.blas_threads() >= 2


def product_bias_relu(a, b, bias):
    """``relu(a @ b + bias)`` split across two cores for the operands ``product``
    splits and a ``bias`` of ``N`` contiguous values of their dtype, the bias added and
    ReLU applied as each result is written (the bits of the product and the fused loop
    after it); ``None`` otherwise or where the split declines (the caller runs the
    product and ``add_bias_relu``).

    >>> a, b = np.ones((1, 512), np.float32), np.ones((512, 256), np.float32)
    >>> bias = np.full(256, -500.0, np.float32); bias[0] = -600.0
    >>> out = product_bias_relu(a, b, bias)
    >>> out is None or out[0, :2].tolist() == [0.0, 12.0]
    True
    """
    if bias.dtype != b.dtype or bias.shape != b.shape[1:] or not bias.flags.c_contiguous:
        return None
    if not bias.flags.aligned or not _takes(a, b):
        return None
    return product_function()(a, b, True, bias)


def add_bias_relu(out, bias) -> bool:
    """In place, ``out = relu(out + bias)`` as the fused loop computes it, for ``out``
    ``(M, N)`` C-contiguous and writable, ``bias`` ``(N,)`` contiguous, both float32 or
    both float64: ``True``; ``False`` (nothing done) otherwise or without native
    kernels.

    >>> out = np.array([[1.0, -2.0]], np.float32)
    >>> add_bias_relu(out, np.array([0.5, 1.0], np.float32)), out.tolist()
    (True, [[1.5, 0.0]])
    """
    functions = _epilogue_functions()
    if functions is None or out.ndim != 2 or out.dtype != bias.dtype:
        return False
    loop = functions.get(out.dtype)
    if loop is None or bias.shape != out.shape[1:] or not bias.flags.c_contiguous:
        return False
    if not (out.flags.c_contiguous and out.flags.writeable and out.flags.aligned):
        return False
    if not bias.flags.aligned:
        return False
    loop(out.shape, (out, bias))
    return True


@functools.cache
def _resume_at() -> ctypes.c_int64 | None:
    """The end of the current back-off (a declined job then costs no C call); ``None``
    without native kernels."""
    if product_function() is None:
        return None
    controls = _LIBRARY.controls()
    assert controls is not None  # product_function() found the loops
    return controls.resume_at
