"""A row times a large matrix, ``(1, K) @ (K, N)``, split by columns across two
cores: a dense layer at batch 1.

Why: OpenBLAS runs this product (a gemv) on one thread however many it has, and it
is bound by reading the matrix, not by arithmetic. The 784-512-256-10 MLP's kernels
(2.1 MB of float32) do not fit one core's L2 (2 MB on the benchmark's Xeon), so its
batch-1 forward pass read them from L3 at each call, ~45 us of products on one core,
where PyTorch's eager forward (MKL splits them) took ~53 us in all on two. Split by
columns, each core reads its half of every matrix, and that half stays in its L2 from
one call to the next.

How: the columns are cut into chunks of ``CHUNK`` (the last one shorter). The caller
claims chunks from the first one up and one worker thread (started on first use) from
the last one down, both from one atomic word holding the job's number and the range
of unclaimed chunks; each core so takes about the same columns at every call. The
caller never waits for the worker to start: if it is asleep or descheduled (another
process on the other core), the caller claims every chunk itself and waits only for a
chunk the worker already claimed. Between jobs the worker polls for ``SPIN_US``
microseconds (the next product of a forward pass comes within that), yielding its
core after a few pauses, then sleeps on a condition variable: it takes no core while
nerve is idle or runs BLAS.

When not to split: the C loop on one core is slower than OpenBLAS's gemv (~55 against
~45 us for the MLP's two large products), so a job the split would not speed up is
declined (``None``: NumPy's matmul runs): one chunk only, another Python thread's job
running, or a back-off. Under load from other processes the worker is often
descheduled, and a split job then costs more than BLAS (a caller waiting on a
preempted worker's chunk); so ``_MISSES`` jobs in a row where the worker computed
nothing or kept the caller waiting over ``_WAIT_US`` stop the split for
``_BACKOFF_MS``, after which it is tried again.

Each element is ``sum_k a[k] * b[k, n]`` accumulated in ``k`` order with fused
multiply-adds in the operands' dtype (float32 or float64), IEEE semantics: results
agree with BLAS's to rounding, not bitwise, and do not depend on how the chunks were
shared (each column is computed by the same loop whichever thread runs it).
"""

from __future__ import annotations

import ctypes
import functools
import os
import time
from collections.abc import Callable

import numpy as np

from nerve.backend.numpy_backend.native import binding, threads, toolchain

__all__ = ["CHUNK", "MIN_SPLIT", "SPIN_US", "product", "product_function"]

#: Multiply-adds (``K * N``) from which a product is split: a smaller one costs less
#: than the hand-over (``(1, 256) @ (256, 10)`` stays with BLAS).
MIN_SPLIT = 1 << 16
#: Columns per chunk, the unit the two cores claim (measured: 128 read the matrix
#: faster than 32 or 64).
CHUNK = 128
#: How long the idle worker polls for the next job before it sleeps.
SPIN_US = 100
#: Pauses before each wait starts yielding the core.
_PAUSES = 64
#: Backing off (see ``note_job`` in the C): this many missed jobs in a row (the worker
#: computed nothing, or the caller waited over ``_WAIT_US`` for it) stop the split
#: for ``_BACKOFF_MS``.
_MISSES = 3
_WAIT_US = 8
_BACKOFF_MS = 200

_TEMPLATE = r"""
/* Columns n0..n1-1 of out (N) = a (K) @ b (K, N), b C-contiguous, K >= 1: W columns
   at a time kept in registers while k runs. */
#define COLUMNS_{T}(W)                                                              \
    for (; n + W <= n1; n += W) {                                                   \
        {C} acc[W];                                                                 \
        for (int j = 0; j < W; j++) acc[j] = a[0] * b[n + j];                       \
        for (int64_t k = 1; k < K; k++) {                                           \
            const {C} s = a[k];                                                     \
            const {C} *restrict br = b + k * N + n;                                 \
            for (int j = 0; j < W; j++) acc[j] = FMA{T}(s, br[j], acc[j]);          \
        }                                                                           \
        for (int j = 0; j < W; j++) out[n + j] = acc[j];                            \
    }

static void columns_{T}(const void *a_, const void *b_, void *out_, int64_t K, int64_t N,
                        int64_t n0, int64_t n1) {
    const {C} *restrict a = a_;
    const {C} *restrict b = b_;
    {C} *restrict out = out_;
    int64_t n = n0;
    COLUMNS_{T}(128)
    COLUMNS_{T}(16)
    COLUMNS_{T}(1)
}

int row_product_{T}(const void *a, const void *b, void *out, int64_t K, int64_t N,
                    int64_t split) {
    return run(columns_{T}, a, b, out, K, N, split);
}
"""

_RUNTIME = r"""
#include <stdint.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <time.h>

#define FMAfloat32 fmaf
#define FMAfloat64 fma

typedef void (*columns_fn)(const void *, const void *, void *, int64_t, int64_t,
                           int64_t, int64_t);

/* The job being run. The caller writes it only once every chunk of the previous job
   is claimed and computed; the worker reads it after seeing a new job number. A torn
   read (the caller already writing the next job) is harmless: the job whose number
   the worker holds then has no chunk left to claim. */
static columns_fn job_fn;
static const void *job_a, *job_b;
static void *job_out;
static int64_t job_K, job_N;

/* (job number << 32) | (first unclaimed chunk << 16) | (end of the unclaimed chunks) */
static uint64_t state;
static int64_t finished;  /* chunks of the current job computed */
static int busy;          /* a caller holds the job slot */
static int sleeping;      /* the worker waits on `wake` */
static int started;       /* 0: no worker yet, 1: running, -1: could not start one */
static int misses;        /* jobs in a row the worker did not help (see note_job) */
int64_t resume_at;        /* ns: no split before this time (read by Python) */
static int may_back_off = 1;
static int64_t worker_chunks; /* chunks the worker computed (for tests) */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;

#define ACQUIRE(p) __atomic_load_n(p, __ATOMIC_ACQUIRE)
#define RELAXED(p) __atomic_load_n(p, __ATOMIC_RELAXED)
#define PUT(p, v) __atomic_store_n(p, v, __ATOMIC_RELAXED)

/* Waiting: a few pauses (the other side is usually a microsecond away), then yielding
   the core, which matters when another process holds the other core and our two
   threads share one. */
static void relax(int64_t i) {
#if defined(__x86_64__) || defined(__i386__)
    if (i < PAUSES) {
        __builtin_ia32_pause();
        return;
    }
#endif
    sched_yield();
}

static int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static int has_work(uint64_t s) { return ((s >> 16) & 0xffff) < (s & 0xffff); }

/* Claim and compute chunks of job `number`, from the bottom or the top of the
   unclaimed range, until none is left; returns how many it computed. */
static int64_t claim(uint32_t number, int from_top, columns_fn fn, const void *a,
                  const void *b, void *out, int64_t K, int64_t N) {
    int64_t done = 0;
    uint64_t s = ACQUIRE(&state);
    while ((uint32_t)(s >> 32) == number && has_work(s)) {
        uint64_t c = from_top ? (s & 0xffff) - 1 : (s >> 16) & 0xffff;
        uint64_t next = from_top ? s - 1 : s + ((uint64_t)1 << 16);
        if (!__atomic_compare_exchange_n(&state, &s, next, 0, __ATOMIC_ACQ_REL,
                                         __ATOMIC_ACQUIRE))
            continue;  /* s now holds the current word */
        int64_t n0 = (int64_t)c * CHUNK, n1 = n0 + CHUNK < N ? n0 + CHUNK : N;
        fn(a, b, out, K, N, n0, n1);
        __atomic_fetch_add(&finished, 1, __ATOMIC_RELEASE);
        done++;
        s = ACQUIRE(&state);
    }
    return done;
}

static uint64_t wait_for_work(void) {
    int64_t deadline = now_ns() + (int64_t)SPIN_US * 1000;
    for (int64_t i = 0;; i++) {
        uint64_t s = ACQUIRE(&state);
        if (has_work(s)) return s;
        relax(i);
        if ((i & 255) == 255 && now_ns() > deadline) break;
    }
    /* The caller stores the state, then reads `sleeping`; here the reverse, both
       sequentially consistent: one of the two sees the other's store. */
    pthread_mutex_lock(&lock);
    __atomic_store_n(&sleeping, 1, __ATOMIC_SEQ_CST);
    uint64_t s;
    while (!has_work(s = __atomic_load_n(&state, __ATOMIC_SEQ_CST)))
        pthread_cond_wait(&wake, &lock);
    __atomic_store_n(&sleeping, 0, __ATOMIC_SEQ_CST);
    pthread_mutex_unlock(&lock);
    return s;
}

static void *worker(void *unused) {
    (void)unused;
    for (;;) {
        uint64_t s = wait_for_work();
        columns_fn fn = RELAXED(&job_fn);
        const void *a = RELAXED(&job_a), *b = RELAXED(&job_b);
        void *out = RELAXED(&job_out);
        int64_t K = RELAXED(&job_K), N = RELAXED(&job_N);
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        if (fn != 0) {
            int64_t done = claim((uint32_t)(s >> 32), 1, fn, a, b, out, K, N);
            __atomic_fetch_add(&worker_chunks, done, __ATOMIC_RELAXED);
        }
    }
    return 0;
}

static int start_worker(void) {
    if (started == 0) {
        pthread_t thread;
        pthread_attr_t attributes;
        pthread_attr_init(&attributes);
        pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
        started = pthread_create(&thread, &attributes, worker, 0) == 0 ? 1 : -1;
        pthread_attr_destroy(&attributes);
    }
    return started == 1;
}

/* In a forked child: the worker thread is gone; the next split call starts another. */
void row_product_after_fork(void) {
    started = 0;
    worker_chunks = 0;
    busy = 0;
    misses = 0;
    resume_at = 0;
    sleeping = 0;
    state = 0;
    pthread_mutex_init(&lock, 0);
    pthread_cond_init(&wake, 0);
}

/* For tests: whether jobs may back off (`on`), and the back-off ended. */
void row_product_back_off(int on) {
    may_back_off = on;
    misses = 0;
    resume_at = 0;
}

/* How many chunks the worker thread computed in this process (for tests). */
int64_t row_product_worker_chunks(void) {
    return __atomic_load_n(&worker_chunks, __ATOMIC_RELAXED);
}

/* Backing off: a job where the worker computed no chunk, or where the caller waited
   more than WAIT_US for the worker's, is a miss (another process holds the other
   core, or both our threads share one); after MISSES misses in a row, jobs run on the
   caller's thread alone for BACKOFF_MS, and the worker, given no job, goes to sleep. */
static void note_job(int64_t worker_chunks, int64_t waited_ns, int64_t now) {
    if (worker_chunks > 0 && waited_ns <= (int64_t)WAIT_US * 1000) {
        misses = 0;
        return;
    }
    if (++misses >= MISSES && may_back_off) {
        misses = 0;
        resume_at = now + (int64_t)BACKOFF_MS * 1000000;
    }
}

/* Runs the product on two cores and returns 1; or returns 0 without computing it
   when it should not be split (too few chunks, backing off, another caller holds the
   job slot, no worker thread): the caller then runs BLAS, faster on one core. With
   `split` 0, computes it on this thread alone and returns 1. */
static int run(columns_fn fn, const void *a, const void *b, void *out, int64_t K,
               int64_t N, int64_t split) {
    int64_t chunks = (N + CHUNK - 1) / CHUNK;
    if (!split) {
        fn(a, b, out, K, N, 0, N);
        return 1;
    }
    if (chunks < 2 || chunks > 0xffff || now_ns() < RELAXED(&resume_at) ||
        __atomic_exchange_n(&busy, 1, __ATOMIC_ACQUIRE) != 0)
        return 0;
    if (!start_worker()) {
        __atomic_store_n(&busy, 0, __ATOMIC_RELEASE);
        return 0;
    }
    PUT(&job_fn, fn);
    PUT(&job_a, a);
    PUT(&job_b, b);
    PUT(&job_out, out);
    PUT(&job_K, K);
    PUT(&job_N, N);
    PUT(&finished, 0);
    uint32_t number = (uint32_t)(RELAXED(&state) >> 32) + 1;
    __atomic_store_n(&state, ((uint64_t)number << 32) | (uint64_t)chunks, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&sleeping, __ATOMIC_SEQ_CST)) {
        pthread_mutex_lock(&lock);
        pthread_cond_signal(&wake);
        pthread_mutex_unlock(&lock);
    }
    int64_t mine = claim(number, 0, fn, a, b, out, K, N);
    int64_t waiting = now_ns();
    for (int64_t i = 0; ACQUIRE(&finished) < chunks; i++) relax(i);
    int64_t now = now_ns();
    note_job(chunks - mine, now - waiting, now);
    __atomic_store_n(&busy, 0, __ATOMIC_RELEASE);
    return 1;
}
"""

_TYPES = {"float32": "float", "float64": "double"}
#: The dtypes the C loop takes, as NumPy dtypes (native byte order only: a set lookup).
_LOOP_DTYPES = frozenset(map(np.dtype, _TYPES))
SOURCE = (
    "#define _POSIX_C_SOURCE 200809L\n"  # clock_gettime under -std=c99
    f"#define CHUNK {CHUNK}\n#define SPIN_US {SPIN_US}\n#define PAUSES {_PAUSES}\n"
    f"#define MISSES {_MISSES}\n#define WAIT_US {_WAIT_US}\n#define BACKOFF_MS {_BACKOFF_MS}\n"
    + _RUNTIME
    + "".join(_TEMPLATE.replace("{T}", name).replace("{C}", c) for name, c in _TYPES.items())
)


@functools.cache
def _library() -> ctypes.CDLL | None:
    library = toolchain.load(SOURCE)
    if library is None:
        return None
    reset = library.row_product_after_fork
    reset.argtypes, reset.restype = [], None
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=reset)
    return library


def allow_back_off(allowed: bool) -> None:
    """For tests: let split jobs back off (the default) or not, and end a back-off.

    >>> allow_back_off(True)
    """
    library = _library()
    if library is not None:
        library.row_product_back_off(int(allowed))


def worker_chunks() -> int:
    """How many chunks the worker thread of split products computed in this process (0
    in a forked child until its own worker helps).

    >>> worker_chunks() >= 0
    True
    """
    library = _library()
    if library is None:
        return 0
    count = library.row_product_worker_chunks
    count.argtypes, count.restype = [], ctypes.c_int64
    return int(count())


@functools.cache
def product_function() -> Callable | None:
    """``run(a, b, split)``: ``a @ b`` for ``a`` of shape ``(1, K)`` or ``(K,)`` (its
    elements contiguous) and ``b`` ``(K, N)`` C-contiguous, both float32 or both
    float64, ``K >= 1``, into a new ``(1, N)`` array. With ``split``, on two cores, or
    ``None`` where the split declines (fewer than two chunks, backing off, another
    thread's job running: BLAS is then faster); else on this thread. The caller checks
    the operands (see ``product``). ``None`` without native kernels.

    >>> run = product_function()
    >>> a, b = np.ones((1, 3), np.float32), np.ones((3, 2), np.float32)
    >>> run is None or run(a, b, False).tolist() == [[3.0, 3.0]]
    True
    """
    library = _library()
    if library is None:
        return None
    arguments = [ctypes.c_void_p] * 3 + [ctypes.c_int64] * 3
    loops = binding.typed_functions(library, "row_product", _TYPES, arguments, ctypes.c_int)
    address = binding.address

    def run(a, b, split):
        inner, columns = b.shape
        out = np.empty((1, columns), dtype=b.dtype)
        done = loops[b.dtype](address(a), address(b), address(out), inner, columns, split)
        return out if done else None

    return run


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
    # Cheapest first: with one BLAS thread (or backing off) nothing else is read.
    run = product_function()
    if run is None or threads.blas_threads() < 2 or time.monotonic_ns() < _resume_at().value:
        return None
    if a.ndim != 2 or b.ndim != 2 or a.shape[0] != 1 or a.dtype != b.dtype:
        return None
    inner, columns = b.shape
    if a.dtype not in _LOOP_DTYPES or a.shape[1] != inner or inner * columns < MIN_SPLIT:
        return None
    if a.strides[1] != a.itemsize or not b.flags.c_contiguous:
        return None
    if not (a.flags.aligned and b.flags.aligned):
        return None
    return run(a, b, True)


@functools.cache
def _resume_at() -> ctypes.c_int64:
    """The C side's end of the current back-off (``CLOCK_MONOTONIC`` nanoseconds, the
    clock of ``time.monotonic_ns``): a declined job then costs no C call."""
    library = _library()
    assert library is not None  # product_function() found the loops
    return ctypes.c_int64.in_dll(library, "resume_at")
