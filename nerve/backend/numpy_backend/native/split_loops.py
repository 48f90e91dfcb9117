"""C functions run part by part on two held cores, the parts shared between the calling
thread and one C worker thread (``split``): a large fused loop's tiles (its packed
entry, ``codegen._packed_source``, called with each part's tile range: ``run``), and
any C function of the form ``entry(ints, pointers)`` that reads its part's range from
``ints[2:4]`` (``run_parts``: the blocked products' blocks, ``products.py``; attention's
pairs, ``attention.py``; the layer norm's rows, ``layer_norm.py``).

Why: those calls handed their parts to nerve's Python thread pool
(``threads.run_split``), one ctypes call per part, each hand-over between Python
threads costing tens of microseconds on the 2-vCPU Xeon; a Transformer step's loops
over (32, 128, 128) float32 activations take ~0.4-0.6 ms on one core and ran in
~0.3-0.5 ms on two (2026-12-06). Here the parts are claimed from one atomic word, a
split costs about a microsecond.

Both are called through ``fastcall``'s builtin where it builds (``packed_runner``,
``split_parts_packed``): their ctypes calls built three ctypes arrays each, ~6 us a
call (2026-12-06).

Each part runs the same C function over the same range as before (``threads.cuts``,
or the caller's bounds), so results are the same bits. A job the runtime declines (no
worker thread) runs all its parts on the caller; it never backs off (``NEVER``).
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable

from nerve.backend.numpy_backend.native import binding, fastcall, split, threads

__all__ = ["allow_back_off", "packed_runner", "run", "run_parts", "worker_chunks"]

#: Integers a packed entry may take (the extent, the tile range, one row stride per
#: full input): wider loops run through the Python split.
MAX_INTS = 64

#: Never back off (``split``'s ``MISSES``): a declined job runs on the caller alone, where
#: the Python split kept the pool thread; under load from other processes the worker
#: misses often, and backing off ran every product on one core for 200 ms at a time.
NEVER = 1 << 30

_SOURCE = r"""
#include <string.h>
typedef void (*packed_fn)(const int64_t *ints, void *const *objects);

struct loop_job {
    packed_fn fn;
    const int64_t *ints;   /* the entry's integers; [2] and [3] are the tile range */
    int64_t count;         /* how many */
    void *const *objects;  /* its arrays */
    const int64_t *bounds; /* part j: tiles bounds[j] .. bounds[j + 1] - 1 */
};

static void loop_part(const void *context, int64_t part, int worker) {
    const struct loop_job *job = context;
    int64_t ints[MAX_INTS];
    (void)worker;
    memcpy(ints, job->ints, (size_t)job->count * sizeof(int64_t));
    ints[2] = job->bounds[part];
    ints[3] = job->bounds[part + 1];
    job->fn(ints, job->objects);
}

/* The parts on this thread and the worker, or all on this thread when the split is
   declined; a job counts as missed only when the worker computed none of it. */
void split_loop(const void *fn, const int64_t *ints, int64_t count, void *const *objects,
                const int64_t *bounds, int64_t parts) {
    struct loop_job job = {(packed_fn)fn, ints, count, objects, bounds};
    if (split_run_patient(loop_part, &job, parts, INT64_MAX / 2)) return;
    for (int64_t part = 0; part < parts; part++) loop_part(&job, part, 0);
}

/* split_loop in the form fastcall calls: ints = (entry, tiles, count, the entry's
   count ints), objects = the entry's arrays; the tiles cut as threads.cuts(tiles, 2). */
void split_loop_packed(const int64_t *ints, void *const *objects) {
    const int64_t tiles = ints[1], parts = tiles < 2 * PARTS ? tiles : 2 * PARTS;
    if (parts < 1) return; /* no tiles: nothing to run (and no cut to divide by) */
    int64_t bounds[2 * PARTS + 1];
    for (int64_t k = 0; k <= parts; k++) bounds[k] = tiles * k / parts;
    split_loop((const void *)(intptr_t)ints[0], ints + 3, ints[2], objects, bounds, parts);
}

/* split_loop in the form fastcall calls for run_parts: ints = (entry, count, parts,
   pointers, the entry's count ints, parts + 1 bounds, the pointers as integers). */
void split_parts_packed(const int64_t *ints, void *const *objects) {
    const int64_t count = ints[1], parts = ints[2], n_pointers = ints[3];
    const int64_t *given = ints + 4 + count + parts + 1;
    void *pointers[MAX_INTS];
    (void)objects;
    for (int64_t k = 0; k < n_pointers; k++) pointers[k] = (void *)(intptr_t)given[k];
    split_loop((const void *)(intptr_t)ints[0], ints + 4, count, pointers, ints + 4 + count,
               parts);
}
"""

SOURCE = (
    "#define _POSIX_C_SOURCE 200809L\n"  # clock_gettime under -std=c99
    f"#define MAX_INTS {MAX_INTS}\n#define PARTS {threads.PARTS_PER_THREAD}\n"
    + split.runtime_source("split_loops", misses=NEVER)
    + _SOURCE
)

_LIBRARY = split.Library(SOURCE, "split_loops")


@functools.cache
def _function():
    """The C entry point, or ``None`` (no compiler)."""
    library = _LIBRARY.library()
    if library is None:
        return None
    function = library.split_loop
    function.argtypes = [ctypes.c_void_p] * 2 + [ctypes.c_int64] + [ctypes.c_void_p] * 2
    function.argtypes += [ctypes.c_int64]
    function.restype = None
    return function


def packed_runner(ints: int, objects: int) -> Callable[[tuple, tuple], None] | None:
    """``split_run((entry, tiles, ints, *entry_ints), objects)``: ``run`` through
    ``fastcall``'s builtin, for an entry of ``ints`` ints and ``objects`` arrays (the
    parts cut in C as ``threads.cuts(tiles, 2)``); ``None`` without the library or the
    builtin, or past ``MAX_INTS``. Why: ``run`` builds three ctypes arrays per call,
    ~6 us, and cuts the tiles in Python, ~2 us (2026-12-06, 2-vCPU Xeon), around loops
    of ~30-400 us (an optimizer's update of a large weight)."""
    library = _LIBRARY.library()
    if library is None or _function() is None or ints > MAX_INTS:
        return None
    entry = binding.entry_address(library, "split_loop_packed")
    return fastcall.bind(entry, 3 + ints, objects, fastcall.RELEASE_WORK)


@functools.cache
def _parts_runner(total: int) -> Callable[[tuple, tuple], None] | None:
    """``split_parts_packed`` bound for calls of ``total`` ints, or ``None``."""
    library = _LIBRARY.library()
    if library is None:
        return None
    entry = binding.entry_address(library, "split_parts_packed")
    return fastcall.bind(entry, total, 0, fastcall.RELEASE_WORK)


def run(packed: int, ints: tuple, objects: tuple, tiles: int) -> bool:
    """Run a loop's packed entry (its address) over ``tiles`` tiles in
    ``threads.cuts(tiles, 2)`` parts, shared with the worker thread: ``ints`` and
    ``objects`` as the entry takes them (the loop's ``arguments()``; the tile range is
    set per part). ``False`` (nothing run) without the library or past ``MAX_INTS``.
    The caller keeps ``objects`` alive (this passes their addresses)."""
    return run_parts(packed, ints, tuple(map(id, objects)), threads.cuts(tiles, 2))


def run_parts(entry: int, ints: tuple, pointers: tuple, bounds: list[int]) -> bool:
    """Run ``entry(ints, pointers)`` (a C function's address, ``void (const int64_t *,
    void *const *)``) once per part ``j``, with ``ints[2:4]`` set to ``bounds[j],
    bounds[j + 1]``, shared with the worker thread. ``False`` (nothing run) without the
    library or past ``MAX_INTS``."""
    function = _function()
    if function is None or len(ints) > MAX_INTS:
        return False
    # Through the builtin where it builds and everything fits its ints (~1 us; the
    # three ctypes arrays below cost ~6 us, 2026-12-06, 2-vCPU Xeon).
    total = 4 + len(ints) + len(bounds) + len(pointers)
    runner = _parts_runner(total) if total <= fastcall.MAX_INTS else None
    if runner is not None:
        addresses = [p or 0 for p in pointers]  # (None: NULL)
        runner((entry, len(ints), len(bounds) - 1, len(pointers), *ints, *bounds, *addresses), ())
        return True
    function(
        entry,
        (ctypes.c_int64 * len(ints))(*ints),
        len(ints),
        (ctypes.c_void_p * len(pointers))(*pointers),
        (ctypes.c_int64 * len(bounds))(*bounds),
        len(bounds) - 1,
    )
    return True


#: For tests: let split jobs back off (the default) or not (``split.Library``).
allow_back_off = _LIBRARY.allow_back_off


#: How many parts the C worker thread computed in this process (``split.Library``).
worker_chunks = _LIBRARY.worker_chunks
