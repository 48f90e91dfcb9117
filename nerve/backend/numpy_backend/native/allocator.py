"""A NumPy memory handler that keeps large freed buffers for reuse, for compiled runs.

Why: a compiled training step allocates and frees the same large arrays every step (a
convnet's patches, activations and gradients: tens of megabytes). glibc returns such
blocks to the kernel when they are freed (``mmap`` above its threshold, heap trimming
below), so the next step takes a page fault for every 4 KiB it touches again. On the
2-core benchmark VM the MNIST convnet's step (batch 128) took ~4,200 faults and ~22 ms
of system time per 100 ms of user time; with the buffers kept it takes none.

How: NumPy (1.22+, NEP 49) lets a program choose the allocator of new arrays per
context (``PyDataMem_SetHandler``); each array remembers its handler and is freed by
it. ``scope()`` installs this handler for one compiled run (``NumpyBackend.quiet``),
so only arrays made by compiled graphs use it, in the thread that runs them. The
handler passes blocks under ``MIN_BYTES`` to NumPy's own allocator (which has its
own small-block cache); larger freed blocks wait in a table of at most ``SLOTS``
entries and ``CAPACITY`` bytes for an allocation of exactly their size (a step asks
for the same sizes every time), the oldest given back to the system first when the
table is full. ``release()`` gives them all back.

Its twin (``scope(huge=True)``, used when host data becomes a tensor) also places new
blocks of ``HUGE_FROM`` (1 MiB) or more on 2 MiB boundaries and asks the kernel for
transparent huge pages (``madvise``) before they are first touched. Why: with 4 KiB
pages the physical pages of a 1 MiB array land anywhere, and how much of it a core's
2 MiB L2 then keeps across calls is a lottery: on the benchmark VM, NumPy's ``dot`` of
one 512x512 float32 tensor with itself took 16-30 us depending on the allocation
(most often 26-30), and 12-17 us on one huge page (twelve allocations of each). The
price: a block's last huge page is whole (a 1 MiB tensor holds 2 MiB). Compiled runs
keep plain pages (an A/B of four training benchmarks showed no difference beyond the
host's noise).

The handler is installed only when it works: the C library compiled (see
``toolchain``; ``NERVE_NATIVE=0`` turns it off), NumPy has the handler API, and
``get_handler_name()`` reports it once set. Otherwise ``scope()`` is ``None`` and
arrays are allocated as usual.
"""

from __future__ import annotations

import ctypes
import functools
import importlib
import os
from typing import Any

from nerve.backend.numpy_backend.native import toolchain

__all__ = [
    "CAPACITY",
    "HUGE_FROM",
    "HUGE_NAME",
    "HUGE_PAGE",
    "MIN_BYTES",
    "NAME",
    "SLOTS",
    "cached_bytes",
    "huge_pages",
    "release",
    "scope",
]

#: Blocks at least this large are kept when freed (glibc's initial mmap threshold:
#: smaller ones come from the heap without faults).
MIN_BYTES = 128 * 1024
#: At most this many bytes wait for reuse ...
CAPACITY = 1 << 30
#: ... in at most this many blocks.
SLOTS = 64
#: The handler's name, as ``numpy.core.multiarray.get_handler_name`` reports it.
NAME = "nerve_reuse"
HUGE_NAME = "nerve_reuse_huge"
#: The name of its twin for tensors made from host data (``scope(huge=True)``), whose
#: new blocks of ``HUGE_FROM`` bytes or more start on a huge-page boundary, on huge
#: pages ...
HUGE_FROM = 1 << 20
#: ... of this size (x86-64's and AArch64's usual transparent huge page).
HUGE_PAGE = 2 << 20

# The handler struct is NumPy's PyDataMem_Handler (numpy/ndarraytypes.h): a 127-byte
# name, a version byte (1), then the allocator: a context and four functions. The
# context is NumPy's default handler's allocator, which this one wraps.
_SOURCE = r"""
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

typedef struct {
    void *ctx;
    void *(*malloc)(void *ctx, size_t size);
    void *(*calloc)(void *ctx, size_t nelem, size_t elsize);
    void *(*realloc)(void *ctx, void *ptr, size_t new_size);
    void (*free)(void *ctx, void *ptr, size_t size);
} allocator_t;

typedef struct {
    char name[127];
    uint8_t version;
    allocator_t allocator;
} handler_t;

#define SLOTS @SLOTS@
#define MIN_BYTES ((size_t)@MIN_BYTES@)
#define CAPACITY ((size_t)@CAPACITY@)
#define HUGE_FROM ((size_t)@HUGE_FROM@)
#define HUGE_PAGE ((size_t)@HUGE_PAGE@)

static allocator_t base;               /* NumPy's default allocator */
static void *slot_ptr[SLOTS];
static size_t slot_size[SLOTS];
static uint64_t slot_age[SLOTS];       /* when the block was freed; 0 = empty */
static uint64_t clock_ = 0;
static size_t cached = 0;
static volatile int lock_ = 0;          /* frees may come from any thread */
static int huge_pages = 0;             /* the kernel grants huge pages on madvise */

static void acquire(void) { while (__sync_lock_test_and_set(&lock_, 1)) { } }
static void release_lock(void) { __sync_lock_release(&lock_); }

/* A kept block of exactly `size` bytes, or NULL. */
static void *take(size_t size) {
    void *ptr = NULL;
    acquire();
    for (int i = 0; i < SLOTS; i++) {
        if (slot_age[i] && slot_size[i] == size) {
            ptr = slot_ptr[i];
            slot_age[i] = 0;
            cached -= size;
            break;
        }
    }
    release_lock();
    return ptr;
}

/* A kept block of `size` bytes, else a new one. With `huge`, a new block of HUGE_FROM
   bytes or more starts on a huge-page boundary and asks for huge pages before it is
   first touched; it comes from glibc (posix_memalign), as NumPy's default allocator's
   blocks do, so its realloc and free take it. */
static void *allocate(size_t size, int huge) {
    if (size >= MIN_BYTES) {
        void *ptr = take(size);
        if (ptr) return ptr;
    }
    if (huge && huge_pages && size >= HUGE_FROM) {
        size_t whole = (size + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
        void *ptr = NULL;
        if (posix_memalign(&ptr, HUGE_PAGE, whole) == 0) {
#ifdef MADV_HUGEPAGE
            madvise(ptr, whole, MADV_HUGEPAGE);  /* advice only: a refusal is harmless */
#endif
            return ptr;
        }
    }
    return base.malloc(base.ctx, size);
}

static void *reuse_malloc(void *ctx, size_t size) {
    (void)ctx;
    return allocate(size, 0);
}

static void *huge_malloc(void *ctx, size_t size) {
    (void)ctx;
    return allocate(size, 1);
}

static void *reuse_calloc(void *ctx, size_t nelem, size_t elsize) {
    (void)ctx;
    size_t size = nelem * elsize;
    if (elsize && size / elsize == nelem && size >= MIN_BYTES) {
        void *ptr = take(size);
        if (ptr) return memset(ptr, 0, size);
    }
    return base.calloc(base.ctx, nelem, elsize);
}

static void *reuse_realloc(void *ctx, void *ptr, size_t new_size) {
    (void)ctx;
    return base.realloc(base.ctx, ptr, new_size);
}

static void reuse_free(void *ctx, void *ptr, size_t size) {
    (void)ctx;
    if (ptr == NULL || size < MIN_BYTES || size > CAPACITY) {
        base.free(base.ctx, ptr, size);
        return;
    }
    void *evicted[SLOTS];
    size_t evicted_size[SLOTS];
    int count = 0;
    acquire();
    /* Make room: give back the oldest blocks until this one fits in a free slot. */
    for (;;) {
        int empty = -1, oldest = -1;
        for (int i = 0; i < SLOTS; i++) {
            if (!slot_age[i]) { if (empty < 0) empty = i; }
            else if (oldest < 0 || slot_age[i] < slot_age[oldest]) oldest = i;
        }
        if (empty >= 0 && cached + size <= CAPACITY) {
            slot_ptr[empty] = ptr;
            slot_size[empty] = size;
            slot_age[empty] = ++clock_;
            cached += size;
            ptr = NULL;
            break;
        }
        evicted[count] = slot_ptr[oldest];
        evicted_size[count++] = slot_size[oldest];
        cached -= slot_size[oldest];
        slot_age[oldest] = 0;
    }
    release_lock();
    for (int i = 0; i < count; i++) base.free(base.ctx, evicted[i], evicted_size[i]);
}

handler_t nerve_reuse_handler = {
    "@NAME@", 1, {NULL, reuse_malloc, reuse_calloc, reuse_realloc, reuse_free}
};

/* The same, except that new large blocks go on huge pages. Both free into one table. */
handler_t nerve_huge_handler = {
    "@HUGE_NAME@", 1, {NULL, huge_malloc, reuse_calloc, reuse_realloc, reuse_free}
};

/* Wrap NumPy's default allocator (its handler's address); called once. */
void nerve_reuse_init(const handler_t *numpy_default, int use_huge_pages) {
    base = numpy_default->allocator;
    huge_pages = use_huge_pages;
}

size_t nerve_reuse_cached(void) { return cached; }

/* Give every kept block back to the system. */
void nerve_reuse_release(void) {
    void *blocks[SLOTS];
    size_t sizes[SLOTS];
    int count = 0;
    acquire();
    for (int i = 0; i < SLOTS; i++) {
        if (slot_age[i]) {
            blocks[count] = slot_ptr[i];
            sizes[count++] = slot_size[i];
            slot_age[i] = 0;
        }
    }
    cached = 0;
    release_lock();
    for (int i = 0; i < count; i++) base.free(base.ctx, blocks[i], sizes[i]);
}
"""

SOURCE = (
    _SOURCE.replace("@SLOTS@", str(SLOTS))
    .replace("@MIN_BYTES@", str(MIN_BYTES))
    .replace("@CAPACITY@", str(CAPACITY))
    .replace("@HUGE_NAME@", HUGE_NAME)
    .replace("@NAME@", NAME)
    .replace("@HUGE_FROM@", str(HUGE_FROM))
    .replace("@HUGE_PAGE@", str(HUGE_PAGE))
)

# Indices of PyDataMem_SetHandler / PyDataMem_GetHandler in NumPy's C-API table
# (numpy/__multiarray_api.h; fixed since NumPy 1.22 by its ABI).
_SET_HANDLER, _GET_HANDLER = 304, 305


class _Scope:
    """Installs the handler for a ``with`` block (NumPy's handler is a context
    variable, so this thread's context only)."""

    __slots__ = ("_handler", "_previous", "_set")

    def __init__(self, set_handler: Any, handler: Any) -> None:
        self._set = set_handler
        self._handler = handler

    def __enter__(self) -> None:
        self._previous = self._set(self._handler)

    def __exit__(self, *exc_info: Any) -> None:
        self._set(self._previous)


@functools.cache
def _install() -> tuple[ctypes.CDLL, Any, Any] | None:
    """The library, NumPy's set-handler function and the handler capsule; ``None``
    where any part is missing."""
    try:
        umath = importlib.import_module("numpy._core._multiarray_umath")
    except ImportError:  # NumPy 1.x
        umath = importlib.import_module("numpy.core._multiarray_umath")
    get_name = getattr(umath, "get_handler_name", None)
    table = getattr(umath, "_ARRAY_API", None)
    if get_name is None or table is None:
        return None
    library = toolchain.load(SOURCE)
    if library is None:
        return None
    api = ctypes.pythonapi
    api.PyCapsule_GetPointer.restype = ctypes.c_void_p
    api.PyCapsule_GetPointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
    api.PyCapsule_New.restype = ctypes.py_object
    api.PyCapsule_New.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
    functions = ctypes.cast(api.PyCapsule_GetPointer(table, None), ctypes.POINTER(ctypes.c_void_p))
    set_handler = ctypes.PYFUNCTYPE(ctypes.py_object, ctypes.py_object)(functions[_SET_HANDLER])
    get_handler = ctypes.PYFUNCTYPE(ctypes.py_object)(functions[_GET_HANDLER])
    default = get_handler()
    if get_name() != "default_allocator":
        return None  # someone else's handler is active: leave it alone
    library.nerve_reuse_init.argtypes = [ctypes.c_void_p, ctypes.c_int]
    library.nerve_reuse_init.restype = None
    library.nerve_reuse_init(api.PyCapsule_GetPointer(default, b"mem_handler"), huge_pages())
    library.nerve_reuse_cached.restype = ctypes.c_size_t
    library.nerve_reuse_release.restype = None
    handlers = []
    for symbol, name in (("nerve_reuse_handler", NAME), ("nerve_huge_handler", HUGE_NAME)):
        address = ctypes.addressof(ctypes.c_char.in_dll(library, symbol))
        handler = api.PyCapsule_New(address, b"mem_handler", None)
        previous = set_handler(handler)
        try:
            if get_name() != name:
                return None
        finally:
            set_handler(previous)
        handlers.append(handler)
    return library, set_handler, handlers


@functools.cache
def huge_pages() -> bool:
    """Whether the kernel grants transparent huge pages to memory that asks for them
    (Linux, with ``/sys/kernel/mm/transparent_hugepage/enabled`` at ``always`` or
    ``madvise``); ``NERVE_HUGE_PAGES=0`` says no.

    >>> isinstance(huge_pages(), bool)
    True
    """
    if os.environ.get("NERVE_HUGE_PAGES", "1") == "0":
        return False
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as setting:
            mode = setting.read()
    except OSError:
        return False
    return "[always]" in mode or "[madvise]" in mode


def scope(huge: bool = False) -> _Scope | None:
    """A context manager that makes new NumPy arrays use the handler (with ``huge``,
    its twin that puts new blocks of ``HUGE_FROM`` bytes or more on aligned huge pages),
    or ``None`` where it cannot be installed.

    >>> import contextlib
    >>> import numpy as np
    >>> with scope() or contextlib.nullcontext():
    ...     np.empty(1 << 20).nbytes
    8388608
    """
    installed = _install()
    return None if installed is None else _Scope(installed[1], installed[2][huge])


def cached_bytes() -> int:
    """Bytes of freed blocks now kept for reuse (0 without the handler).

    >>> cached_bytes() >= 0
    True
    """
    installed = _install()
    return 0 if installed is None else int(installed[0].nerve_reuse_cached())


def release() -> None:
    """Give every kept block back to the system (no-op without the handler).

    >>> release(); cached_bytes()
    0
    """
    installed = _install()
    if installed is not None:
        installed[0].nerve_reuse_release()
