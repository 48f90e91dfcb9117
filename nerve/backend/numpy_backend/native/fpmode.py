"""Flushing denormal floats to zero for a compiled run: the x86 SSE/AVX control bits
FTZ (a denormal result becomes 0) and DAZ (a denormal operand counts as 0), set on the
running thread for the run and restored after it (``flushing``); nerve's worker
threads take the caller's bits for the parts they run (``threads.run_split`` and the C
workers of ``split``), so a loop split across threads gives the bits it gives whole.

Why: a CPU computes with a denormal operand or result through a microcode assist,
~100 cycles per instruction. A ReLU unit that no longer fires (a dead unit) leaves its
weights' optimizer state decaying into the denormal range, where ``0.9 * m`` rounds
back to ``m`` (from 4 ulp down): SGD's momentum and Adam's moments stay there for good,
and each step pays. On the 2-vCPU Xeon (2026-12-06) the 784-512-256-10 MLP's step at
batch 32 ran 1.08x (SGD) and 1.37x (Adam) slower once they appeared; its 512x256
update loop with nine such columns took 260 us instead of 40. XLA's CPU runtime (JAX)
and TensorFlow flush always; PyTorch does on request (``torch.set_flush_denormal``);
nerve does when ``nerve.config.set_flush_denormals(True)``, as it changes results.

Not covered: OpenBLAS's own threads (their share of a product keeps denormals), and
machines other than x86 or without a C compiler (``supported()`` is False there and
``flushing`` does nothing).
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import threading
from collections.abc import Iterator

from nerve.backend.numpy_backend.native import toolchain

__all__ = ["FLUSH_BITS", "active", "flushing", "supported"]

#: MXCSR's FTZ (bit 15) and DAZ (bit 6).
FLUSH_BITS = 0x8040

SOURCE = r"""
#include <stdint.h>
#if defined(__x86_64__) || defined(__i386__)
unsigned int nerve_fp_get(void) { return __builtin_ia32_stmxcsr(); }
void nerve_fp_set(unsigned int bits) { __builtin_ia32_ldmxcsr(bits); }
int nerve_fp_supported(void) { return 1; }
#else
unsigned int nerve_fp_get(void) { return 0; }
void nerve_fp_set(unsigned int bits) { (void)bits; }
int nerve_fp_supported(void) { return 0; }
#endif
"""

_depth = threading.local()  # .count: flushing() scopes open on this thread


@functools.cache
def _functions() -> tuple | None:
    library = toolchain.load(SOURCE)
    if library is None:
        return None
    get, put, ok = library.nerve_fp_get, library.nerve_fp_set, library.nerve_fp_supported
    get.argtypes, get.restype = [], ctypes.c_uint
    put.argtypes, put.restype = [ctypes.c_uint], None
    ok.argtypes, ok.restype = [], ctypes.c_int
    return (get, put) if ok() else None


def supported() -> bool:
    """Whether ``flushing`` can set the bits here (x86 and a working C compiler).

    >>> supported() in (True, False)
    True
    """
    return _functions() is not None


def active() -> bool:
    """Whether this thread runs inside ``flushing()`` (a split call then hands the mode
    to its worker threads).

    >>> active()
    False
    """
    return getattr(_depth, "count", 0) > 0


@contextlib.contextmanager
def flushing() -> Iterator[None]:
    """Denormal results and operands count as zero on this thread inside the block;
    the previous control bits come back after it (also on an error).

    >>> import numpy as np
    >>> with flushing():
    ...     tiny = np.float32(2e-38) * np.float32(0.5)
    >>> bool(tiny == 0) == supported()
    True
    """
    functions = _functions()
    if functions is None:
        yield
        return
    get, put = functions
    before = get()
    put(before | FLUSH_BITS)
    _depth.count = getattr(_depth, "count", 0) + 1
    try:
        yield
    finally:
        _depth.count -= 1
        put(before)
