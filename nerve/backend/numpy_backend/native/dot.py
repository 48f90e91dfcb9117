"""The dot product of two long vectors (``sum(a * b)`` over every element: ``norm``,
an einsum such as ``"ij,ij->"``) in C, as two fixed halves, side by side on two cores.

Why: the Frobenius norm of a 512x512 float32 matrix is one pass over 1 MB. On the
2-vCPU Xeon (2026-12-06) NumPy's ``dot`` took 13-30 us for it depending on where
the allocation landed in the caches (a few placements fit one core's L2, most did
not), and PyTorch ~25 us. Each core summing its own half, again and again as a
benchmark (or a training loop) does, keeps that half in its own L2: 8.1 us a half on
two cores side by side, against 16.3 us for the whole on one core, in a C test of the
same loop.

How: each half is summed in lanes (eight AVX-512 registers of FMAs, or 64 lanes of a
plain loop the compiler vectorizes without reassociating anything: each lane is its
own sum), the lanes and the halves then added in double precision, in a fixed order.
The halves are the chunks of a ``split`` job: the caller takes the first, the worker
thread the second (or the caller both, when the worker is asleep or the split backs
off); either way the result is the same bits. Against NumPy's ``dot`` (OpenBLAS) it
agrees to rounding. On one core NumPy's dot runs instead: there it was as fast or
faster. ``bench_ops.py`` norm, two threads: 1.31-1.39x PyTorch (0.87-1.75x before).
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable

import numpy as np

from nerve.backend.numpy_backend.native import binding, split, threads

__all__ = ["MIN_LENGTH", "allow_back_off", "dot", "worker_halves"]

#: Elements from which a dot product runs here (shorter ones stay with BLAS: the
#: halves' hand-over would cost more than it saves).
MIN_LENGTH = 1 << 16
#: Lanes of each half's running sums in the plain C loop (with AVX-512: eight
#: registers, 128 float32 or 64 float64 lanes).
LANES = 64
#: Missed jobs in a row before the split backs off (``split``): a job here (~8 us a
#: half) is shorter than the sleeping worker's wake-up (tens of microseconds), so the
#: first jobs after a pause miss until it is awake and polling.
MISSES = 32

_TEMPLATE = r"""
static double half_{T}(const {C} *a, const {C} *b, int64_t n) {
    {C} acc[128];
    int64_t i = 0;
#ifdef __AVX512F__
    /* The running sums in eight registers, each term one FMA (a few percent faster than
       the compiler's multiply-then-add loop below). */
    const int width = 64 / (int)sizeof({C}), lanes = 8 * width;
    {V} s[8];
    for (int j = 0; j < 8; j++) s[j] = {ZERO}();
    for (; i + lanes <= n; i += lanes)
        for (int j = 0; j < 8; j++)
            s[j] = {FMA}({LOAD}(a + i + j * width), {LOAD}(b + i + j * width), s[j]);
    for (int j = 0; j < 8; j++) {STORE}(acc + j * width, s[j]);
#else
    const int lanes = LANES;
    for (int j = 0; j < LANES; j++) acc[j] = 0;
    for (; i + LANES <= n; i += LANES)
        for (int j = 0; j < LANES; j++) acc[j] += a[i + j] * b[i + j];
#endif
    double sum = 0;
    for (int j = 0; j < lanes; j++) sum += (double)acc[j];
    for (; i < n; i++) sum += (double)(a[i] * b[i]);
    return sum;
}

static void chunk_{T}(const void *context, int64_t chunk, int worker) {
    const struct dot_job *job = context;
    (void)worker;
    const int64_t half = job->n / 2, start = chunk ? half : 0, end = chunk ? job->n : half;
    job->parts[chunk] = half_{T}((const {C} *)job->a + start, (const {C} *)job->b + start,
                                 end - start);
}

/* sum(a[i] * b[i]) for i < n, its two halves side by side on two cores with `share`. */
double dot_{T}(const void *a, const void *b, int64_t n, int share) {
    double parts[2];
    struct dot_job job = {a, b, n, parts};
    if (!(share && split_run(chunk_{T}, &job, 2))) {
        chunk_{T}(&job, 0, 0);
        chunk_{T}(&job, 1, 0);
    }
    return parts[0] + parts[1];
}
"""

_JOB = r"""
struct dot_job {
    const void *a, *b;
    int64_t n;
    double *parts;
};
"""

_TYPES = {"float32": "float", "float64": "double"}
#: Per dtype: C type, AVX-512 vector type, and its zero, FMA, load and store.
_SPELLINGS = {
    "float32": ("float", "__m512", "_mm512_setzero_ps", "_mm512_fmadd_ps", "_mm512_loadu_ps",
                "_mm512_storeu_ps"),
    "float64": ("double", "__m512d", "_mm512_setzero_pd", "_mm512_fmadd_pd", "_mm512_loadu_pd",
                "_mm512_storeu_pd"),
}  # fmt: skip


def _instance(name: str) -> str:
    text = _TEMPLATE.replace("{T}", name)
    for key, word in zip(("{C}", "{V}", "{ZERO}", "{FMA}", "{LOAD}", "{STORE}"), _SPELLINGS[name]):
        text = text.replace(key, word)
    return text


SOURCE = (
    "#define _POSIX_C_SOURCE 200809L\n"  # clock_gettime under -std=c99
    f"#define LANES {LANES}\n"
    "#ifdef __AVX512F__\n#include <immintrin.h>\n#endif\n"
    + split.runtime_source("dot", misses=MISSES)
    + _JOB
    + "".join(_instance(name) for name in _TYPES)
)


_LIBRARY = split.Library(SOURCE, "dot")
#: For tests: let shared dot products back off under load (the default) or not.
allow_back_off = _LIBRARY.allow_back_off


@functools.cache
def _functions() -> dict | None:
    library = _LIBRARY.library()
    if library is None:
        return None
    arguments = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int]
    return binding.typed_functions(library, "dot", _TYPES, arguments, ctypes.c_double)


def worker_halves() -> int:
    """How many halves the worker thread computed in this process (for tests).

    >>> worker_halves() >= 0
    True
    """
    return _LIBRARY.worker_chunks()


def dot(a: np.ndarray, b: np.ndarray) -> np.ndarray | None:
    """``sum(a * b)`` of two C-contiguous float32 or float64 arrays of one dtype and
    size (at least ``MIN_LENGTH`` elements), as a 0-d array of their dtype, where two
    cores may share it (``threads.cores``); ``None`` where this does not apply (the
    caller runs NumPy's ``dot``).

    >>> a = np.full(1 << 17, 0.5, np.float32)
    >>> out = dot(a, a)
    >>> out is None or float(out) == 32768.0
    True
    """
    functions = _functions()
    if functions is None or a.size < MIN_LENGTH or a.dtype != b.dtype or a.size != b.size:
        return None
    function: Callable | None = functions.get(a.dtype)
    if function is None or not (a.flags.c_contiguous and b.flags.c_contiguous):
        return None
    if threads.cores() < 2:  # one core: OpenBLAS's dot is as fast or faster
        return None
    return np.asarray(function(binding.address(a), binding.address(b), a.size, 1), a.dtype)
