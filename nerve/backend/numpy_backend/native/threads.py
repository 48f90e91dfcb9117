"""Threads for the C loops that split one call across cores: how many a large call
gets (as many as NumPy's OpenBLAS uses, so nerve's loops and BLAS do not fight over
cores) and one pool of Python threads that run the parts (the C calls release the
GIL). The convolution's input-gradient loop and the softmax rows split this way.
"""

from __future__ import annotations

import ctypes
import functools
import glob
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

__all__ = ["blas_threads", "pool"]


@functools.cache
def _blas_thread_count() -> Callable[[], int] | None:
    """OpenBLAS's thread-count query in NumPy's bundled library, or ``None``."""
    folder = os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs")
    for path in sorted(glob.glob(os.path.join(folder, "libscipy_openblas*"))):
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        for name in ("scipy_openblas_get_num_threads64_", "scipy_openblas_get_num_threads"):
            query = getattr(library, name, None)
            if query is not None:
                query.restype = ctypes.c_int
                query.argtypes = []
                return query
    return None


def blas_threads() -> int:
    """How many threads a large product gets here: OpenBLAS's thread count (read at
    each call: ``threadpoolctl`` and ``openblas_set_num_threads`` change it), at most
    the cores this process may run on; 1 where it can't be read.

    >>> blas_threads() >= 1
    True
    """
    query = _blas_thread_count()
    threads = query() if query is not None else 1
    if threads < 2:  # the affinity's system call is then not needed (~1 us per call)
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    return max(1, min(threads, cores))


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
