"""Threads for the C loops that split one call across cores: how many a large call
gets (as many as NumPy's OpenBLAS uses, so nerve's loops and BLAS do not fight over
cores) and one pool of Python threads that run the parts (the C calls release the
GIL). The convolution's input-gradient loop and the softmax rows split this way.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

from nerve.backend.numpy_backend.native import cblas, fpmode

__all__ = [
    "HOLD_FROM",
    "HOLD_WORK_FROM",
    "PARTS_PER_THREAD",
    "blas_threads",
    "cores",
    "cuts",
    "held",
    "hold",
    "pool",
    "run_ranges",
    "run_split",
]


@functools.cache
def _openblas() -> tuple[Callable[[], int], Callable[[int], None] | None] | None:
    """OpenBLAS's thread-count query and setter in NumPy's bundled library, or
    ``None``."""
    library = cblas.library()
    if library is None:
        return None
    for suffix in ("64_", ""):
        query = getattr(library, f"scipy_openblas_get_num_threads{suffix}", None)
        if query is None:
            continue
        query.restype = ctypes.c_int
        query.argtypes = []
        setter = getattr(library, f"scipy_openblas_set_num_threads{suffix}", None)
        if setter is not None:
            setter.restype = None
            setter.argtypes = [ctypes.c_int]
        return query, setter
    return None


def blas_threads() -> int:
    """How many threads a large product gets here: OpenBLAS's thread count (read at
    each call: ``threadpoolctl`` and ``openblas_set_num_threads`` change it), at most
    the cores this process may run on; 1 where it can't be read.

    >>> blas_threads() >= 1
    True
    """
    found = _openblas()
    threads = found[0]() if found is not None else 1
    if threads < 2:  # the affinity's system call is then not needed (~1 us per call)
        return 1
    return max(1, min(threads, _allowed_cores()))


#: How long a read of the process's CPU affinity is trusted. The system call and its
#: set cost ~0.7-1.1 us on the 2-vCPU Xeon, asked at every batch-1 dense layer's split
#: product (``row_product``), ~2% of a 784-512-256-10 MLP's batch-1 call; an affinity
#: changed by ``taskset`` or ``os.sched_setaffinity`` is seen within this time.
AFFINITY_TTL_NS = 50_000_000
#: [cores the process may run on, ``time.monotonic_ns()`` when read] (0: not read).
_affinity = [0, 0]


def _allowed_cores() -> int:
    """How many CPUs this process may run on (1 where it can't be read), re-read at
    most every ``AFFINITY_TTL_NS``."""
    now = time.monotonic_ns()
    if _affinity[0] == 0 or now - _affinity[1] > AFFINITY_TTL_NS:
        count = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
        _affinity[0], _affinity[1] = count, now
    return _affinity[0]


#: Bytes of a compiled graph's largest array from which its runs hold the cores
#: (``hold``). Smaller graphs (an MLP step: ~1 MB arrays, ~0.1 ms products) keep
#: OpenBLAS's own threads, whose spinning makes back-to-back small products cheap,
#: while their few other loops are too small to split; convolutional and sequence
#: models (8-11 MB activations, embedding tables) have loops worth sharing out.
HOLD_FROM = 4 << 20
#: Multiply-adds of a compiled graph's largest matrix product from which its runs hold
#: the cores whatever its arrays' sizes: a dense MLP's training step (784-512-256-10:
#: 12.8M at batch 32, arrays of at most 1.6 MB). Held, its products split from C
#: (``split_gemm``) and its update loops too (``split_loops``); left to OpenBLAS's
#: threads, the step's best time was 6-27% longer at batch 32 and 0-10% at 128 and 512
#: on a quiet host (alternating processes, two threads; SGD at 512 even), and under
#: load from other processes OpenBLAS's threads, waiting on each other, at times took
#: ~20 ms a product (2026-12-06).
HOLD_WORK_FROM = 1 << 23

#: The cores each running compiled graph holds (a stack: a graph may run inside
#: another's kernel). Empty: none runs, OpenBLAS threads its own products.
_held: list[int] = []
#: Holds running in this process (threads may each run a compiled graph) and
#: OpenBLAS's thread count before the first of them, restored when the last ends.
_hold_lock = threading.Lock()
_holders = 0
_blas_before = 1
_hold_cores = 1


def held() -> int:
    """How many cores nerve's own kernels may share a large call among: inside
    ``hold()``, the thread count OpenBLAS had when the run began; outside, 1 (a
    product then threads inside OpenBLAS).

    >>> held()
    1
    """
    return _held[-1] if _held else 1


def cores() -> int:
    """How many threads a large call of nerve's own loops may use: ``held()`` inside a
    compiled run that holds the cores, else OpenBLAS's count (``blas_threads``).

    >>> cores() >= 1
    True
    """
    return _held[-1] if _held else blas_threads()


@contextlib.contextmanager
def hold() -> Iterator[None]:
    """For one compiled run: nerve's threads own the cores. OpenBLAS runs each product
    on the calling thread only, and nerve's kernels split large products, fused loops
    and window loops across ``held()`` threads themselves (``run_split``).

    Why: OpenBLAS's idle threads spin for ~0.1 s after each threaded product, taking
    the second core from whatever runs next; a loop split across two threads right
    after a two-thread product ran no faster than on one (4M-element exp: 2.68 ms
    split vs 2.48 ms on one thread; 1.59 ms split when OpenBLAS's threads sleep at
    once; 2026-12-06, 2-core Xeon). With one pool for everything nothing spins. A
    no-op with one core, or where OpenBLAS's setter can't be found."""
    global _holders, _blas_before, _hold_cores
    found = _openblas()
    setter = None if found is None else found[1]
    with _hold_lock:
        # Holds in several threads at once (each running a compiled graph) share one
        # setting: the first saves OpenBLAS's count and sets one thread, the others
        # join it (OpenBLAS already reads 1 then), and the last one out restores the
        # count, whatever order they leave in.
        if _holders:
            cores = _hold_cores
            _holders += 1
        else:
            cores = blas_threads()
            if cores < 2 or found is None or setter is None:
                cores = 0
            else:
                _blas_before, _hold_cores = found[0](), cores
                setter(1)
                _holders = 1
    if not cores:
        yield
        return
    _held.append(cores)
    try:
        yield
    finally:
        _held.pop()
        with _hold_lock:
            _holders -= 1
            if _holders == 0 and setter is not None:
                setter(_blas_before)


#: Parts a split call is cut into per thread. More parts than threads let a faster
#: core take more of them: the two vCPUs of the VM this was measured on ran
#: single-threaded products at ~520 and ~350 per second side by side, so halves
#: left the faster one idle a third of the time (2026-12-06).
PARTS_PER_THREAD = 4


def run_split(parts: Sequence[Callable[[], object]], workers: int) -> None:
    """Run ``parts`` on ``workers`` threads (the calling one and ``pool``'s), each
    taking the next part not yet taken until none is left; returns when all are done
    (an error in a part is raised here, after the others finished).

    >>> done = []
    >>> run_split([lambda: done.append(1), lambda: done.append(2)], 2)
    >>> sorted(done)
    [1, 2]
    """
    remaining = iter(parts)  # next() on it is atomic: the GIL is held there

    def drain() -> None:
        for part in remaining:
            part()

    def drain_flushing() -> None:
        # The caller flushes denormals (``fpmode``): its parts here must too, so that a
        # split call gives the bits of the whole one.
        with fpmode.flushing():
            drain()

    workers = min(workers, len(parts))
    task = drain_flushing if fpmode.active() else drain
    others = [pool(workers - 1).submit(task) for _ in range(workers - 1)]
    try:
        drain()
    finally:
        for other in others:
            other.result()


def cuts(length: int, cores: int, count: int | None = None) -> list[int]:
    """The bounds cutting ``range(length)`` into ``count`` runs of about equal size
    (by default ``PARTS_PER_THREAD`` per core, at most one per element).

    >>> cuts(10, 2, 3)
    [0, 3, 6, 10]
    """
    if count is None:
        count = min(length, cores * PARTS_PER_THREAD)
    return [length * k // count for k in range(count + 1)]


def run_ranges(
    length: int, cores: int, run: Callable[[int, int], object], count: int | None = None
) -> None:
    """``run(lo, hi)`` over the runs ``cuts(length, cores, count)`` gives, on ``cores``
    threads (``run_split``).

    >>> seen = []
    >>> run_ranges(5, 2, lambda lo, hi: seen.append((lo, hi)), 2)
    >>> sorted(seen)
    [(0, 2), (2, 5)]
    """
    bounds = cuts(length, cores, count)
    run_split([functools.partial(run, lo, hi) for lo, hi in zip(bounds, bounds[1:])], cores)


@functools.cache
def pool(workers: int) -> ThreadPoolExecutor:
    """The pool of ``workers`` threads that run the other parts of a split call (the
    calling thread runs the first). Idle workers wait on a lock (passively): they take
    no core between calls.

    >>> pool(1).submit(sum, [1, 2]).result()
    3
    """
    return ThreadPoolExecutor(workers, thread_name_prefix="nerve-native")


# A forked child (a data-loading worker, an MPI launcher) inherits the pool object but
# not its threads: the pool would count them as alive and never start new ones, and
# the child's first split call would wait forever. The child makes its own pool.
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=pool.cache_clear)
