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

Stealing (``runtime_source(steal_bytes=...)``, ``split_run_stealing``; the split row
product uses it). A worker descheduled *after* claiming a chunk keeps the caller
waiting for a scheduler tick (milliseconds, against a job of ~10 us). So for a job
whose chunk ``c`` writes one range of one output array and nothing else, the worker
computes each chunk into its own scratch area, and the caller, done with its chunks
and past ``STEAL_PATIENCE`` times its own time per chunk, computes the worker's chunk
in flight itself, straight into the output, with the same function over the same
range (so the same bits whichever thread computes it). One compare-and-swap on a
``fate`` word (job, chunk, DONE or STOLEN) decides which side's result counts:
the worker copies its scratch out only after it set DONE, and the caller waits for
that copy (a few hundred bytes) once it sees DONE; after STOLEN the worker drops its
scratch. Memory safety, as the worker may still run after the caller returned:

* the output: the worker writes it only after winning the fate, and the caller
  returns only once a won chunk's copy is done (its count in ``finished``): no write
  after return;
* the job's description: the worker reads a copy it took of the context (at most 16
  words, stored by the runtime, not the caller's stack) before claiming; a claim of
  job ``n`` succeeds only while its caller is still in job ``n``, so a successful
  claim proves the copy was that job's (the seqlock pattern);
* the operands the context points to (for the row product ``a``, ``b``, the bias):
  the worker may read them after the call returned, so the library keeps them alive.
  The worker sets ``{prefix}_reading`` before each claim and clears it once its chunk
  has read them; ``split_run_stealing`` returns 2 after a steal, the library then
  holds its operands' references, and drops them once it reads ``_reading`` as 0
  (a caller that saw the claim sees the set, so 0 means the worker left that chunk).

A steal counts as a miss for the back-off (the worker did not help); the rarer
preemption *during* the worker's copy out still keeps the caller waiting. Until it
tries the steal the caller only pauses, never yields its core: a yield hands the core
to any other runnable process for a scheduler tick (measured: with a busy loop on the
worker's CPU, 1% of 784x512 splits took 4 ms), and a worker sharing the caller's core
is stolen from anyway.

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
    "STEAL_PATIENCE",
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
#: Stealing (``runtime_source(steal_bytes=...)``): how many times its own time per
#: chunk the caller waits for the worker's last chunk before computing it itself.
STEAL_PATIENCE = 2

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

#ifdef STEAL_BYTES
/* Stealable jobs (split_run_stealing, after the runtime): the current job is one. */
static int job_steals;
static void steal_worker(uint32_t number);
/* Cleared in a forked child. */
static uint64_t fate;
int64_t {P}_reading;
static int64_t stolen_chunks, lost_chunks;
#endif

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

/* One pause of a wait that must keep its core. */
static void spin(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
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
#ifdef STEAL_BYTES
        if (RELAXED(&job_steals)) {
            if (FP_GET() != fp) FP_SET(fp);
            steal_worker((uint32_t)(s >> 32));
            continue;
        }
#endif
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
#ifdef STEAL_BYTES
    fate = 0;
    {P}_reading = 0;
    stolen_chunks = 0;
    lost_chunks = 0;
#endif
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

/* Takes the job slot for a job of `chunks` chunks, the worker started: 1; or 0 when
   the job should not be split (see split_run_patient). */
static int open_job(int64_t chunks) {
    if (chunks < 2 || chunks > 0xffff || now_ns() < RELAXED(&{P}_resume_at) ||
        __atomic_exchange_n(&busy, 1, __ATOMIC_ACQUIRE) != 0)
        return 0;
    if (!start_worker()) {
        __atomic_store_n(&busy, 0, __ATOMIC_RELEASE);
        return 0;
    }
    return 1;
}

/* Makes the job whose fields the caller wrote the current one (its chunks all
   unclaimed), wakes a sleeping worker; returns the job's number. */
static uint32_t publish(int64_t chunks) {
    PUT(&job_fp, FP_GET());
    PUT(&finished, 0);
    uint32_t number = (uint32_t)(RELAXED(&state) >> 32) + 1;
    __atomic_store_n(&state, ((uint64_t)number << 32) | (uint64_t)chunks, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&sleeping, __ATOMIC_SEQ_CST)) {
        pthread_mutex_lock(&lock);
        pthread_cond_signal(&wake);
        pthread_mutex_unlock(&lock);
    }
    return number;
}

/* Runs chunks 0..chunks-1 of fn on this thread and the worker and returns 1; or
   returns 0 without running any when the job should not be split (fewer than two
   chunks, backing off, another caller holds the job slot, no worker thread). A job
   counts as missed when the worker computed none of it or the caller waited more
   than `patience_ns` for the worker's last chunk (long jobs of uneven chunks wait
   longer than WAIT_US on a core that is merely slower). */
static int split_run_patient(split_fn fn, const void *context, int64_t chunks,
                             int64_t patience_ns) {
    if (!open_job(chunks)) return 0;
#ifdef STEAL_BYTES
    PUT(&job_steals, 0);
#endif
    PUT(&job_fn, fn);
    PUT(&job_context, context);
    uint32_t number = publish(chunks);
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


_STEALING = r"""
#include <string.h>

/* Stealable jobs (see "Stealing" in split.py's docstring). A chunk's function writes
   its results to `into`: the chunk's place in the output, or the worker's scratch. */
typedef void (*split_into_fn)(const void *context, int64_t chunk, void *into);

#define CONTEXT_WORDS 16
#define FATE_DONE 1u
#define FATE_STOLEN 2u
/* (serial << 18) | (chunk << 2) | how: the serial numbers stealable jobs (64 bits, so
   the fate word's 46 of them do not come round again in years of jobs). */
#define FATE(serial, chunk, how) (((uint64_t)(serial) << 18) | ((uint64_t)(chunk) << 2) | (how))

static split_into_fn steal_fn;
static char *steal_out;
static int64_t steal_chunk_bytes, steal_total_bytes, steal_words;
static uint64_t steal_serial;
static uint64_t steal_context[CONTEXT_WORDS];
static char scratch[STEAL_BYTES] __attribute__((aligned(64)));
static int stall; /* tests: 1 stalls the worker after each claim until its chunk is
                     stolen (1 s at most), 2 for 2 ms after it wins a chunk's fate */

void {P}_stall(int how) { stall = how; }
int64_t {P}_stolen_chunks(void) { return RELAXED(&stolen_chunks); }
int64_t {P}_lost_chunks(void) { return RELAXED(&lost_chunks); }

/* Decides the fate of `chunk` of the job `serial`, a chunk the worker claimed: FATE_DONE
   (the worker's scratch is copied out) or FATE_STOLEN (the caller computes it); 1 if
   this call decided it, 0 if the other side did first. Only these two sides write
   `fate`, and only for the worker's one chunk in flight, so a word naming this job
   and chunk is the other side's decision (the worker cannot be in a later job's chunk
   while this one is undecided). */
static int decide(uint64_t serial, int64_t chunk, uint64_t how) {
    uint64_t f = ACQUIRE(&fate);
    for (;;) {
        if ((f >> 2) == (FATE(serial, chunk, 0) >> 2)) return 0;
        if (__atomic_compare_exchange_n(&fate, &f, FATE(serial, chunk, how), 0,
                                        __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            return 1;
    }
}

static void stall_worker(uint64_t serial, int64_t chunk, int how) {
    if (how == 1) {
        int64_t deadline = now_ns() + 1000000000;
        while (ACQUIRE(&fate) != FATE(serial, chunk, FATE_STOLEN) && now_ns() < deadline)
            sched_yield();
    } else if (how == 2) {
        struct timespec pause = {0, 2000000};
        nanosleep(&pause, 0);
    }
}

/* The worker's part of a stealable job: claims chunks from the top as `claim` does,
   but computes each from its own copy of the context into `scratch`, and copies the
   results out only once the chunk's fate is FATE_DONE. The copy is read before the
   claim, which validates it (a claim of job `number` succeeds only while its caller
   is still in it, so the copy is that job's). {P}_reading is set before the claim
   (a caller that sees the claim sees it) and cleared once the operands are read. */
static void steal_worker(uint32_t number) {
    uint64_t context[CONTEXT_WORDS];
    split_into_fn fn = RELAXED(&steal_fn);
    char *out = RELAXED(&steal_out);
    int64_t chunk_bytes = RELAXED(&steal_chunk_bytes), total = RELAXED(&steal_total_bytes);
    int64_t words = RELAXED(&steal_words);
    uint64_t serial = RELAXED(&steal_serial);
    for (int64_t i = 0; i < words && i < CONTEXT_WORDS; i++)
        context[i] = RELAXED(&steal_context[i]);
    int64_t done = 0;
    for (;;) {
        __atomic_store_n(&{P}_reading, (int64_t)number + 1, __ATOMIC_SEQ_CST);
        uint64_t s = __atomic_load_n(&state, __ATOMIC_SEQ_CST);
        if ((uint32_t)(s >> 32) != number || !has_work(s)) break;
        if (!__atomic_compare_exchange_n(&state, &s, s - 1, 0, __ATOMIC_SEQ_CST,
                                         __ATOMIC_SEQ_CST))
            continue;
        int64_t chunk = (int64_t)(s & 0xffff) - 1;
        int how = RELAXED(&stall);
        if (how == 1) stall_worker(serial, chunk, how);
        fn(context, chunk, scratch);
        __atomic_store_n(&{P}_reading, 0, __ATOMIC_RELEASE);
        if (!decide(serial, chunk, FATE_DONE)) {
            /* Stolen: the caller had claimed every other chunk, so the job is over. */
            __atomic_fetch_add(&lost_chunks, 1, __ATOMIC_RELAXED);
            break;
        }
        if (how == 2) stall_worker(serial, chunk, how);
        int64_t start = chunk * chunk_bytes;
        int64_t end = start + chunk_bytes < total ? start + chunk_bytes : total;
        memcpy(out + start, scratch, (size_t)(end - start));
        __atomic_fetch_add(&finished, 1, __ATOMIC_RELEASE);
        done++;
    }
    __atomic_store_n(&{P}_reading, 0, __ATOMIC_RELEASE);
    __atomic_fetch_add(&worker_chunks, done, __ATOMIC_RELAXED);
}

/* The caller's chunks go straight to their place in the output. */
static void steal_direct(const void *context, int64_t chunk, int worker) {
    (void)worker;
    RELAXED(&steal_fn)(context, chunk, RELAXED(&steal_out) + chunk * RELAXED(&steal_chunk_bytes));
}

/* With every other chunk claimed and computed here: the worker's chunk in flight, the
   lowest it claimed (it claims downwards, one chunk at a time, each decided before
   the next), computed on this thread if its fate is not decided yet. 1 if it was. */
static int steal(uint64_t serial, const void *context, int64_t chunks) {
    int64_t chunk = (int64_t)(ACQUIRE(&state) & 0xffff);
    if (chunk >= chunks || !decide(serial, chunk, FATE_STOLEN)) return 0;
    steal_direct(context, chunk, 0);
    __atomic_fetch_add(&finished, 1, __ATOMIC_RELEASE);
    __atomic_fetch_add(&stolen_chunks, 1, __ATOMIC_RELAXED);
    return 1;
}

/* split_run for a job whose chunk c writes bytes [c * chunk_bytes, min((c + 1) *
   chunk_bytes, total_bytes)) of `out` (chunk_bytes at most STEAL_BYTES) and nothing
   else, through fn(context, c, into). The context (context_bytes, a multiple of 8, at
   most 8 * CONTEXT_WORDS) is copied for the worker. Once this thread's chunks are
   done and the worker's last one is STEAL_PATIENCE times later than this thread's
   time per chunk, this thread computes it (a steal: the job counts as missed).
   Returns 0 (declined, nothing run), 1 (done) or 2 (done with a steal: the worker may
   still read what the context points to while {P}_reading is not 0; it writes
   nothing more to `out`). */
static int split_run_stealing(split_into_fn fn, const void *context, int64_t context_bytes,
                              void *out, int64_t chunk_bytes, int64_t total_bytes) {
    int64_t chunks = (total_bytes + chunk_bytes - 1) / chunk_bytes;
    if (chunk_bytes > STEAL_BYTES || context_bytes % 8 != 0 ||
        context_bytes > 8 * CONTEXT_WORDS || !open_job(chunks))
        return 0;
    PUT(&job_steals, 1);
    PUT(&steal_fn, fn);
    PUT(&steal_out, (char *)out);
    PUT(&steal_chunk_bytes, chunk_bytes);
    PUT(&steal_total_bytes, total_bytes);
    PUT(&steal_words, context_bytes / 8);
    uint64_t serial = RELAXED(&steal_serial) + 1;
    PUT(&steal_serial, serial);
    for (int64_t i = 0; i < context_bytes / 8; i++) {
        uint64_t word;
        memcpy(&word, (const char *)context + 8 * i, 8);
        PUT(&steal_context[i], word);
    }
    uint32_t number = publish(chunks);
    int64_t started = now_ns();
    int64_t mine = claim(number, 0, steal_direct, context);
    int64_t waiting = now_ns();
    int64_t patience = STEAL_PATIENCE * (mine > 0 ? (waiting - started) / mine : WAIT_US * 1000);
    /* Until the steal is tried, pauses only: yielding the core (relax) to another
       process would keep it for a scheduler tick, and a worker sharing this core is
       stolen from anyway. After a failed try (the worker is copying its chunk out),
       relax: a few pauses, then yields (that worker may share this core). */
    int stolen = 0;
    int64_t tried = -1;
    for (int64_t i = 0; ACQUIRE(&finished) < chunks; i++) {
        if (tried >= 0) {
            relax(i - tried);
        } else if (now_ns() - waiting > patience) {
            stolen = steal(serial, context, chunks);
            tried = i;
        } else {
            spin();
        }
    }
    int64_t now = now_ns();
    note_job(stolen ? 0 : chunks - mine, now - waiting, now, (int64_t)WAIT_US * 1000);
    __atomic_store_n(&busy, 0, __ATOMIC_RELEASE);
    return stolen ? 2 : 1;
}
"""


def runtime_source(prefix: str, misses: int = MISSES, steal_bytes: int = 0) -> str:
    """The runtime's C text, its exported names starting with ``prefix``
    (``{prefix}_after_fork``, ``_back_off``, ``_worker_chunks``, ``_resume_at``), to
    be placed before the functions that call ``split_run``. It needs
    ``_POSIX_C_SOURCE`` (for ``clock_gettime``) defined before any include.
    ``misses``: missed jobs in a row before a back-off (jobs shorter than the worker's
    wake-up miss until it is awake, so a library of short jobs allows more).
    ``steal_bytes``: with a size, also ``split_run_stealing`` for jobs whose chunks
    write at most that many bytes each (see "Stealing"; and ``_reading``,
    ``_stolen_chunks``, ``_lost_chunks``, ``_stall``).

    >>> "static int split_run" in runtime_source("demo")
    True
    >>> "split_run_stealing" in runtime_source("demo", steal_bytes=512)
    True
    """
    settings = (
        f"#define SPIN_US {SPIN_US}\n#define PAUSES {PAUSES}\n#define MISSES {misses}\n"
        f"#define WAIT_US {WAIT_US}\n#define BACKOFF_MS {BACKOFF_MS}\n"
    )
    if not steal_bytes:
        return settings + _RUNTIME.replace("{P}", prefix)
    settings += f"#define STEAL_BYTES {steal_bytes}\n#define STEAL_PATIENCE {STEAL_PATIENCE}\n"
    return settings + (_RUNTIME + _STEALING).replace("{P}", prefix)


class Controls:
    """A loaded library's runtime switches (its names start with ``prefix``). Made
    once per library: it resets the runtime in a forked child (whose worker thread is
    gone).

    >>> Controls  # doctest: +ELLIPSIS
    <class '...Controls'>
    """

    def __init__(self, library: ctypes.CDLL, prefix: str) -> None:
        self._library, self._prefix = library, prefix
        self._back_off = getattr(library, f"{prefix}_back_off")
        self._back_off.argtypes, self._back_off.restype = [ctypes.c_int], None
        self._chunks = getattr(library, f"{prefix}_worker_chunks")
        self._chunks.argtypes, self._chunks.restype = [], ctypes.c_int64
        #: The end of the current back-off (``CLOCK_MONOTONIC`` nanoseconds, the clock
        #: of ``time.monotonic_ns``): a declined job then costs no C call.
        self.resume_at = ctypes.c_int64.in_dll(library, f"{prefix}_resume_at")
        #: Stealable jobs only (``steal_bytes``): nonzero while the worker may read
        #: the operands of a job whose chunk was stolen; else ``None``.
        self.reading = (
            ctypes.c_int64.in_dll(library, f"{prefix}_reading")
            if hasattr(library, f"{prefix}_reading")
            else None
        )
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

    def stolen_chunks(self) -> tuple[int, int]:
        """Stealable jobs only: how many chunks the callers stole from the worker, and
        how many of those the worker had computed and then dropped (``(0, 0)`` for a
        library without stealable jobs)."""
        if self.reading is None:
            return 0, 0
        stolen, lost = (self._counter(name) for name in ("stolen_chunks", "lost_chunks"))
        return int(stolen()), int(lost())

    def _counter(self, name: str):
        function = getattr(self._library, f"{self._prefix}_{name}")
        function.argtypes, function.restype = [], ctypes.c_int64
        return function

    def stall_worker(self, how: int) -> None:
        """For tests of stealable jobs: 1 stalls the worker after each claim until its
        chunk is stolen (1 s at most); 2 for 2 ms after it wins a chunk, before it
        copies the results out; 0 not at all."""
        function = getattr(self._library, f"{self._prefix}_stall")
        function.argtypes, function.restype = [ctypes.c_int], None
        function(how)


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

    def stolen_chunks(self) -> tuple[int, int]:
        """``Controls.stolen_chunks``: ``(0, 0)`` where the library does not build."""
        return (0, 0) if self.loaded is None else self.loaded[1].stolen_chunks()

    def stall_worker(self, how: int) -> None:
        """For tests: ``Controls.stall_worker``."""
        if self.loaded is not None:
            self.loaded[1].stall_worker(how)
