"""One call's chunks shared between the calling thread and one C worker thread: the
runtime behind the split row product (``row_product``) and the split short-time
transform (``spectral``), compiled into each library that splits (each then has its
own worker, which polls only after that library's jobs).

Why not nerve's thread pool (``threads.run_split``): a hand-over through Python
threads costs ~25 us (the GIL handoff is a futex wake), more than half of a job of
~40 us; here a split costs ~1 us when the worker is awake, nothing when it is not.

How: a job is a C function ``fn(context, chunk, worker)`` and a count of chunks. The
caller claims chunks from the first one up and the worker (started on first use)
from the last one down, both from one atomic word holding the job's number and the
range of unclaimed chunks; each core so takes about the same chunks at every call.
The caller never waits for the worker to start: if it is asleep or descheduled
(another process on the other core), the caller claims every chunk itself and waits
only for a chunk the worker already claimed. Between jobs the worker polls for
``SPIN_US`` microseconds (the next call of a loop comes within that), yielding its
core after a few pauses, then sleeps on a condition variable: it takes no core while
nerve is idle or runs BLAS.

The worker computes under the caller's floating-point control bits (denormals
flushed or not: ``fpmode``), copied with each job.

When not to split (``split_run`` returns 0 and runs nothing; the caller then runs
the job alone or runs another kernel): fewer than two chunks, another thread's job
running, no worker thread, or a back-off. Under load from other processes the worker
is often descheduled, and a split job then costs more than one thread (a caller
waiting on a preempted worker's chunk); so ``MISSES`` jobs in a row where the worker
computed nothing or kept the caller waiting over ``WAIT_US`` stop splitting for
``BACKOFF_MS``, after which it is tried again.

``runtime_source(prefix)`` is the C text (a library's functions call
``split_run``); ``Controls`` reaches a loaded library's exported switches.
"""

from __future__ import annotations

import ctypes
import functools
import os

from nerve.backend.numpy_backend.native import toolchain

__all__ = [
    "BACKOFF_MS",
    "MISSES",
    "SPIN_US",
    "WAIT_US",
    "Controls",
    "Library",
    "runtime_source",
]

#: How long the idle worker polls for the next job before it sleeps.
SPIN_US = 100
#: Pauses before each wait starts yielding the core.
PAUSES = 64
#: Backing off (see ``note_job`` in the C): this many missed jobs in a row (the worker
#: computed nothing, or the caller waited over ``WAIT_US`` for it) stop the split
#: for ``BACKOFF_MS``.
MISSES = 3
WAIT_US = 8
BACKOFF_MS = 200

_RUNTIME = r"""
#include <stdint.h>
#include <pthread.h>
#include <sched.h>
#include <time.h>

/* One chunk of a job; `worker` is 1 on the worker thread, 0 on the caller's. */
typedef void (*split_fn)(const void *context, int64_t chunk, int worker);

/* The job being run. The caller writes it only once every chunk of the previous job
   is claimed and computed; the worker reads it after seeing a new job number. A torn
   read (the caller already writing the next job) is harmless: the job whose number
   the worker holds then has no chunk left to claim. */
static split_fn job_fn;
static const void *job_context;
/* The caller's floating-point control bits (x86: MXCSR, whose FTZ and DAZ bits flush
   denormals; see fpmode.py): the worker computes its chunks under them too. */
static unsigned int job_fp;

#if defined(__x86_64__) || defined(__i386__)
#define FP_GET() __builtin_ia32_stmxcsr()
#define FP_SET(bits) __builtin_ia32_ldmxcsr(bits)
#else
#define FP_GET() 0u
#define FP_SET(bits) ((void)(bits))
#endif

/* (job number << 32) | (first unclaimed chunk << 16) | (end of the unclaimed chunks) */
static uint64_t state;
static int64_t finished;  /* chunks of the current job computed */
static int busy;          /* a caller holds the job slot */
static int sleeping;      /* the worker waits on `wake` */
static int started;       /* 0: no worker yet, 1: running, -1: could not start one */
static int misses;        /* jobs in a row the worker did not help (see note_job) */
int64_t {P}_resume_at;    /* ns: no split before this time (read by Python) */
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
static int64_t claim(uint32_t number, int from_top, split_fn fn, const void *context) {
    int64_t done = 0;
    uint64_t s = ACQUIRE(&state);
    while ((uint32_t)(s >> 32) == number && has_work(s)) {
        uint64_t c = from_top ? (s & 0xffff) - 1 : (s >> 16) & 0xffff;
        uint64_t next = from_top ? s - 1 : s + ((uint64_t)1 << 16);
        if (!__atomic_compare_exchange_n(&state, &s, next, 0, __ATOMIC_ACQ_REL,
                                         __ATOMIC_ACQUIRE))
            continue;  /* s now holds the current word */
        fn(context, (int64_t)c, from_top);
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
        split_fn fn = RELAXED(&job_fn);
        const void *context = RELAXED(&job_context);
        unsigned int fp = RELAXED(&job_fp);
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        if (fn != 0) {
            if (FP_GET() != fp) FP_SET(fp);
            int64_t done = claim((uint32_t)(s >> 32), 1, fn, context);
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
void {P}_after_fork(void) {
    started = 0;
    worker_chunks = 0;
    busy = 0;
    misses = 0;
    {P}_resume_at = 0;
    sleeping = 0;
    state = 0;
    pthread_mutex_init(&lock, 0);
    pthread_cond_init(&wake, 0);
}

/* For tests: whether jobs may back off (`on`), and the back-off ended. */
void {P}_back_off(int on) {
    may_back_off = on;
    misses = 0;
    {P}_resume_at = 0;
}

/* How many chunks the worker thread computed in this process (for tests). */
int64_t {P}_worker_chunks(void) { return __atomic_load_n(&worker_chunks, __ATOMIC_RELAXED); }

/* Backing off: a job where the worker computed no chunk, or where the caller waited
   more than WAIT_US for the worker's, is a miss (another process holds the other
   core, or both our threads share one); after MISSES misses in a row, jobs run on the
   caller's thread alone for BACKOFF_MS, and the worker, given no job, goes to sleep. */
static void note_job(int64_t worker_chunks, int64_t waited_ns, int64_t now, int64_t patience_ns) {
    if (worker_chunks > 0 && waited_ns <= patience_ns) {
        misses = 0;
        return;
    }
    if (++misses >= MISSES && may_back_off) {
        misses = 0;
        {P}_resume_at = now + (int64_t)BACKOFF_MS * 1000000;
    }
}

/* Runs chunks 0..chunks-1 of fn on this thread and the worker and returns 1; or
   returns 0 without running any when the job should not be split (fewer than two
   chunks, backing off, another caller holds the job slot, no worker thread). A job
   counts as missed when the worker computed none of it or the caller waited more
   than `patience_ns` for the worker's last chunk (long jobs of uneven chunks wait
   longer than WAIT_US on a core that is merely slower). */
static int split_run_patient(split_fn fn, const void *context, int64_t chunks,
                             int64_t patience_ns) {
    if (chunks < 2 || chunks > 0xffff || now_ns() < RELAXED(&{P}_resume_at) ||
        __atomic_exchange_n(&busy, 1, __ATOMIC_ACQUIRE) != 0)
        return 0;
    if (!start_worker()) {
        __atomic_store_n(&busy, 0, __ATOMIC_RELEASE);
        return 0;
    }
    PUT(&job_fn, fn);
    PUT(&job_context, context);
    PUT(&job_fp, FP_GET());
    PUT(&finished, 0);
    uint32_t number = (uint32_t)(RELAXED(&state) >> 32) + 1;
    __atomic_store_n(&state, ((uint64_t)number << 32) | (uint64_t)chunks, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&sleeping, __ATOMIC_SEQ_CST)) {
        pthread_mutex_lock(&lock);
        pthread_cond_signal(&wake);
        pthread_mutex_unlock(&lock);
    }
    int64_t mine = claim(number, 0, fn, context);
    int64_t waiting = now_ns();
    for (int64_t i = 0; ACQUIRE(&finished) < chunks; i++) relax(i);
    int64_t now = now_ns();
    note_job(chunks - mine, now - waiting, now, patience_ns);
    __atomic_store_n(&busy, 0, __ATOMIC_RELEASE);
    return 1;
}

static int split_run(split_fn fn, const void *context, int64_t chunks) {
    return split_run_patient(fn, context, chunks, (int64_t)WAIT_US * 1000);
}
"""


def runtime_source(prefix: str, misses: int = MISSES) -> str:
    """The runtime's C text, its exported names starting with ``prefix``
    (``{prefix}_after_fork``, ``_back_off``, ``_worker_chunks``, ``_resume_at``), to
    be placed before the functions that call ``split_run``. It needs
    ``_POSIX_C_SOURCE`` (for ``clock_gettime``) defined before any include.
    ``misses``: missed jobs in a row before a back-off (jobs shorter than the worker's
    wake-up miss until it is awake, so a library of short jobs allows more).

    >>> "static int split_run" in runtime_source("demo")
    True
    """
    settings = (
        f"#define SPIN_US {SPIN_US}\n#define PAUSES {PAUSES}\n#define MISSES {misses}\n"
        f"#define WAIT_US {WAIT_US}\n#define BACKOFF_MS {BACKOFF_MS}\n"
    )
    return settings + _RUNTIME.replace("{P}", prefix)


class Controls:
    """A loaded library's runtime switches (its names start with ``prefix``). Made
    once per library: it resets the runtime in a forked child (whose worker thread is
    gone).

    >>> Controls  # doctest: +ELLIPSIS
    <class '...Controls'>
    """

    def __init__(self, library: ctypes.CDLL, prefix: str) -> None:
        self._back_off = getattr(library, f"{prefix}_back_off")
        self._back_off.argtypes, self._back_off.restype = [ctypes.c_int], None
        self._chunks = getattr(library, f"{prefix}_worker_chunks")
        self._chunks.argtypes, self._chunks.restype = [], ctypes.c_int64
        #: The end of the current back-off (``CLOCK_MONOTONIC`` nanoseconds, the clock
        #: of ``time.monotonic_ns``): a declined job then costs no C call.
        self.resume_at = ctypes.c_int64.in_dll(library, f"{prefix}_resume_at")
        reset = getattr(library, f"{prefix}_after_fork")
        reset.argtypes, reset.restype = [], None
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=reset)

    def allow_back_off(self, allowed: bool) -> None:
        """Let split jobs back off (the default) or not, and end a back-off."""
        self._back_off(int(allowed))

    def worker_chunks(self) -> int:
        """How many chunks the worker thread computed in this process."""
        return int(self._chunks())


class Library:
    """A C library that splits its jobs with this runtime (its names start with
    ``prefix``), compiled from ``source`` on first use (``toolchain.load``), and its
    ``Controls``, made as it loads (so a forked child resets the runtime before any
    split job). Methods answer ``None``/0 where the library does not build.

    >>> demo = Library("int demo_one(void) { return 1; }", "demo")
    >>> demo.worker_chunks()
    0
    """

    def __init__(self, source: str, prefix: str) -> None:
        self.source, self.prefix = source, prefix

    @functools.cached_property
    def loaded(self) -> tuple[ctypes.CDLL, Controls] | None:
        library = toolchain.load(self.source)
        if library is None or not hasattr(library, f"{self.prefix}_back_off"):
            return None
        return library, Controls(library, self.prefix)

    def library(self) -> ctypes.CDLL | None:
        """The loaded library, or ``None``."""
        return None if self.loaded is None else self.loaded[0]

    def controls(self) -> Controls | None:
        """Its runtime's switches, or ``None``."""
        return None if self.loaded is None else self.loaded[1]

    def allow_back_off(self, allowed: bool) -> None:
        """For tests: let its split jobs back off (the default) or not."""
        if self.loaded is not None:
            self.loaded[1].allow_back_off(allowed)

    def worker_chunks(self) -> int:
        """How many chunks its worker thread computed in this process."""
        return 0 if self.loaded is None else self.loaded[1].worker_chunks()
