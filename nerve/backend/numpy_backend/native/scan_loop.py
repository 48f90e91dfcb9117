"""A scan's steps run in C: the body's matrix products, fused loops (their packed
entries, ``codegen._packed_source``), column splits, additions and copies, in one
call for all the steps that releases the GIL, the batch's rows shared out between two
cores.

Why: a recurrent layer's step is small (LSTM(64) at batch 64: a 64x64x256 product
and one gate loop over 64x256 values, ~25 us of arithmetic), and running it from
Python cost ~60 us forward and ~45 us backward on the 2-vCPU Xeon (2026-12-06): the
scan kernel's slicing and bookkeeping, NumPy's matmul call, the fused loop's argument
checks and ctypes call. Two Python threads sharing a step's rows ran slower than one
(each C call hands the GIL over).

**What runs here** (``run`` returns ``None`` for anything else, and the Python loop
runs the scan): a body (``nerve.backend.program.Schedule``) whose calls are all
``matmul`` of two 2-D float32 or float64 matrices (either operand may be a transposed
view), compiled fused loops taking their arrays without copies, ``split``
(views), and ``add`` of two matrices or of a matrix and a bias row. Products run
through NumPy's OpenBLAS ``gemm`` called from C, except float32 products of a few
rows by a constant: OpenBLAS packs the constant again at every call (16x64 @ 64x256:
~11 us, ~17 us with the constant transposed), where the C tiles here (AVX-512, 4 rows
x 64 columns in registers, each result one FMA chain over the sum's terms in order)
read it in place in ~5 us.

**Rows on two cores.** When every value of a step is computed row by row along the
batch axis (the carry's first axis: a product ``h @ W`` of a batch-row operand by a
constant; loops whose iteration space starts with the batch axis), the batch runs as
blocks of ``BLOCK_ROWS`` rows, each through every step on its own, with no
synchronization between steps. Inside a compiled run holding two cores
(``threads.held``) the blocks are shared between the calling thread and one C worker
(``split``). Blocks are fixed by the batch, so results are the same bits however many
cores ran them; against the Python loop they agree to rounding (a product of 16 rows
may round otherwise than one of the whole batch).

Per step, the body's arrays are *slots*: fixed (constants, scratch), indexed by the
step (this step's slices of the scanned inputs, rows of the stacked results), the
carry (read where the previous step wrote it: its history row, or one of two
buffers), or views of other slots. The C side sees each slot as a stand-in for an
array object (``NV_DATA`` reads its data pointer), so fused loops built to take
NumPy arrays take them unchanged.
"""

from __future__ import annotations

import ctypes
import functools
import math
from typing import Any

import numpy as np

from nerve.backend.numpy_backend.native import binding, cblas, split, threads, toolchain
from nerve.backend.program import Schedule

__all__ = ["BLOCK_ROWS", "TILE_ROWS", "allow_back_off", "run", "worker_blocks"]

#: Batch rows per block when a scan is shared between two cores (at least two blocks
#: per core, so the faster of two unequal vCPUs takes more of them).
BLOCK_ROWS = 16

#: Products of at most this many rows by a constant run in the C tiles (where they
#: compile); OpenBLAS runs larger ones.
TILE_ROWS = 64

_FIXED, _INDEXED, _CARRY_IN, _CARRY_OUT, _VIEW = 0, 1, 2, 3, 4
_GEMM32, _GEMM64, _LOOP, _COPY, _TILES, _ADD32, _ADD64 = 0, 1, 2, 3, 4, 5, 6

_SOURCE = (
    r"""
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <string.h>
"""
    + split.runtime_source("scan_loop")
    + r"""
typedef void (*sgemm_f)(int, int, int, int64_t, int64_t, int64_t, float, const void *,
                        int64_t, const void *, int64_t, float, void *, int64_t);
typedef void (*dgemm_f)(int, int, int, int64_t, int64_t, int64_t, double, const void *,
                        int64_t, const void *, int64_t, double, void *, int64_t);
typedef void (*loop_f)(const int64_t *, void *const *);

/* A step's float32 product c = a @ b for a of few rows (a row block of the batch) and b a
   constant matrix, contiguous (rows n apart): each result one FMA chain over k, in
   order. OpenBLAS packs b again at every call, which for 16 rows costs more than the
   arithmetic (16x64 @ 64x256: ~11 us, ~17 us with b transposed, where this runs ~3 us);
   here b is read in place, a tile of 4 rows x 64 columns in 16 registers. */
#ifdef __AVX512F__
#include <immintrin.h>
#define HAS_TILES 1
static inline __mmask16 lanes(int64_t left) {
    return left >= 16 ? (__mmask16)0xFFFF : left <= 0 ? 0 : (__mmask16)((1u << left) - 1u);
}
/* rows (1..4) x up to 64 columns (masked by `left`) of c, over k terms: the sums start
   from zero (`first`) or go on from the partial sums in c. */
static inline void tile(int64_t rows, int64_t left, int64_t k, const float *a, int64_t lda,
                        const float *b, int64_t ldb, float *c, int64_t ldc, int first) {
    const __mmask16 m0 = lanes(left), m1 = lanes(left - 16), m2 = lanes(left - 32),
                    m3 = lanes(left - 48);
    __m512 c00 = _mm512_setzero_ps(), c01 = c00, c02 = c00, c03 = c00;
    __m512 c10 = c00, c11 = c00, c12 = c00, c13 = c00, c20 = c00, c21 = c00, c22 = c00;
    __m512 c23 = c00, c30 = c00, c31 = c00, c32 = c00, c33 = c00;
    if (!first) {
        c00 = _mm512_maskz_loadu_ps(m0, c); c01 = _mm512_maskz_loadu_ps(m1, c + 16);
        c02 = _mm512_maskz_loadu_ps(m2, c + 32); c03 = _mm512_maskz_loadu_ps(m3, c + 48);
        if (rows > 1) {
            const float *r = c + ldc;
            c10 = _mm512_maskz_loadu_ps(m0, r); c11 = _mm512_maskz_loadu_ps(m1, r + 16);
            c12 = _mm512_maskz_loadu_ps(m2, r + 32); c13 = _mm512_maskz_loadu_ps(m3, r + 48);
        }
        if (rows > 2) {
            const float *r = c + 2 * ldc;
            c20 = _mm512_maskz_loadu_ps(m0, r); c21 = _mm512_maskz_loadu_ps(m1, r + 16);
            c22 = _mm512_maskz_loadu_ps(m2, r + 32); c23 = _mm512_maskz_loadu_ps(m3, r + 48);
        }
        if (rows > 3) {
            const float *r = c + 3 * ldc;
            c30 = _mm512_maskz_loadu_ps(m0, r); c31 = _mm512_maskz_loadu_ps(m1, r + 16);
            c32 = _mm512_maskz_loadu_ps(m2, r + 32); c33 = _mm512_maskz_loadu_ps(m3, r + 48);
        }
    }
    const float *a0 = a, *a1 = a + (rows > 1) * lda, *a2 = a + (rows > 2) * 2 * lda,
                *a3 = a + (rows > 3) * 3 * lda;
    for (int64_t p = 0; p < k; p++) {
        const float *bp = b + p * ldb;
        const __m512 b0 = _mm512_maskz_loadu_ps(m0, bp), b1 = _mm512_maskz_loadu_ps(m1, bp + 16);
        const __m512 b2 = _mm512_maskz_loadu_ps(m2, bp + 32);
        const __m512 b3 = _mm512_maskz_loadu_ps(m3, bp + 48);
        __m512 x = _mm512_set1_ps(a0[p]);
        c00 = _mm512_fmadd_ps(x, b0, c00); c01 = _mm512_fmadd_ps(x, b1, c01);
        c02 = _mm512_fmadd_ps(x, b2, c02); c03 = _mm512_fmadd_ps(x, b3, c03);
        x = _mm512_set1_ps(a1[p]);
        c10 = _mm512_fmadd_ps(x, b0, c10); c11 = _mm512_fmadd_ps(x, b1, c11);
        c12 = _mm512_fmadd_ps(x, b2, c12); c13 = _mm512_fmadd_ps(x, b3, c13);
        x = _mm512_set1_ps(a2[p]);
        c20 = _mm512_fmadd_ps(x, b0, c20); c21 = _mm512_fmadd_ps(x, b1, c21);
        c22 = _mm512_fmadd_ps(x, b2, c22); c23 = _mm512_fmadd_ps(x, b3, c23);
        x = _mm512_set1_ps(a3[p]);
        c30 = _mm512_fmadd_ps(x, b0, c30); c31 = _mm512_fmadd_ps(x, b1, c31);
        c32 = _mm512_fmadd_ps(x, b2, c32); c33 = _mm512_fmadd_ps(x, b3, c33);
    }
    /* Rows past `rows` read row 0 again (their pointers above) and are not stored. */
    _mm512_mask_storeu_ps(c, m0, c00); _mm512_mask_storeu_ps(c + 16, m1, c01);
    _mm512_mask_storeu_ps(c + 32, m2, c02); _mm512_mask_storeu_ps(c + 48, m3, c03);
    if (rows < 2) return;
    c += ldc;
    _mm512_mask_storeu_ps(c, m0, c10); _mm512_mask_storeu_ps(c + 16, m1, c11);
    _mm512_mask_storeu_ps(c + 32, m2, c12); _mm512_mask_storeu_ps(c + 48, m3, c13);
    if (rows < 3) return;
    c += ldc;
    _mm512_mask_storeu_ps(c, m0, c20); _mm512_mask_storeu_ps(c + 16, m1, c21);
    _mm512_mask_storeu_ps(c + 32, m2, c22); _mm512_mask_storeu_ps(c + 48, m3, c23);
    if (rows < 4) return;
    c += ldc;
    _mm512_mask_storeu_ps(c, m0, c30); _mm512_mask_storeu_ps(c + 16, m1, c31);
    _mm512_mask_storeu_ps(c + 32, m2, c32); _mm512_mask_storeu_ps(c + 48, m3, c33);
}
/* Terms of the sums per pass over the rows: b's block of DEPTH x 64 (16 KB) stays in L1
   while every row uses it. A sum's partial result waits in c between passes, exactly
   (the chain of FMAs goes on in the same order). */
#define DEPTH 64
static void tiles(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                  const float *b, int64_t ldb, float *c, int64_t ldc) {
    for (int64_t j = 0; j < n; j += 64)
        for (int64_t q = 0; q < k || q == 0; q += DEPTH)
            for (int64_t i = 0; i < m; i += 4)
                tile(m - i < 4 ? m - i : 4, n - j, k - q < DEPTH ? k - q : DEPTH,
                     a + i * lda + q, lda, b + q * ldb + j, ldb, c + i * ldc + j, ldc, q == 0);
}
#else
#define HAS_TILES 0
static void tiles(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                  const float *b, int64_t ldb, float *c, int64_t ldc) {
    (void)m; (void)n; (void)k; (void)a; (void)lda; (void)b; (void)ldb; (void)c; (void)ldc;
}
#endif
int scan_loop_has_tiles(void) { return HAS_TILES; }

/* c = a + b for m rows of n values (NumPy's add); b's rows ldb apart, or with ldb 0 one
   row added to each (a bias). */
static void add_rows32(int64_t m, int64_t n, const float *a, int64_t lda, const float *b,
                       int64_t ldb, float *c, int64_t ldc) {
    for (int64_t r = 0; r < m; r++)
        for (int64_t j = 0; j < n; j++) c[r * ldc + j] = a[r * lda + j] + b[r * ldb + j];
}
static void add_rows64(int64_t m, int64_t n, const double *a, int64_t lda, const double *b,
                       int64_t ldb, double *c, int64_t ldc) {
    for (int64_t r = 0; r < m; r++)
        for (int64_t j = 0; j < n; j++) c[r * ldc + j] = a[r * lda + j] + b[r * ldb + j];
}

/* What NV_DATA reads: an array object's data pointer, DATA_OFFSET bytes in. */
typedef struct { char head[DATA_OFFSET]; void *data; } nv_obj;

typedef struct {
    char *base;      /* fixed: the address; indexed: row 0 of a stacked array */
    int64_t step;    /* indexed: bytes from one step's row to the next */
    int64_t row;     /* bytes per batch row (a block starts r0 * row in); 0: shared */
    int32_t mode;    /* 0 fixed, 1 indexed, 2 carry in, 3 carry out, 4 view */
    int32_t carry;   /* modes 2 and 3: which carry; 4: the slot viewed (`step` bytes in) */
} nv_slot;

typedef struct {
    int32_t kind;    /* 0 sgemm, 1 dgemm, 2 fused loop, 3 copy, 4 tiles (float32), 5 and 6
                        a row added to each row (float32, float64) */
    int32_t a, b, c; /* gemm: c = op(a) @ op(b); copy: a -> c */
    int32_t ta, tb;  /* CBLAS transposition codes */
    int64_t m, n, k, lda, ldb, ldc;
    int64_t rows;    /* 1 when m counts batch rows (then the block's rows are used) */
    void *fn;        /* gemm function, or the loop's packed entry */
    int64_t ints, n_ints, objs;  /* loop: its first int and first object in the tables */
    int64_t scaled;  /* loop: the extent int that counts batch rows (-1: none) */
    int64_t per_row; /* loop: that int's units per batch row; copy: bytes per row */
} nv_op;

typedef struct {
    int64_t length, batch, blocks;
    int64_t n_ints;
    int32_t reverse, history, n_slots, n_ops, n_carry, n_objs;
    const nv_slot *slots;
    const nv_op *ops;
    const int64_t *ints;     /* every loop's ints, in order */
    const int32_t *objs;     /* every loop's arrays, as slot numbers */
    char *const *first;      /* per carry: where the first step reads it */
    char *const *spare;      /* per carry: the second buffer (no history) */
    char *const *kept;       /* per carry: the history stack (history) */
    char *const *last;       /* per carry: the array the last step writes */
    const int64_t *stride;   /* per carry: bytes of one history row */
} nv_scan;

#define MAX_CARRY MAX_CARRY_

static void run_rows(const nv_scan *s, int64_t r0, int64_t r1) {
    const int64_t rows = r1 - r0;
    nv_obj obj[s->n_slots > 0 ? s->n_slots : 1];
    void *objs[s->n_objs > 0 ? s->n_objs : 1];
    int64_t ints[s->n_ints > 0 ? s->n_ints : 1];
    char *in[MAX_CARRY], *out[MAX_CARRY];
    for (int32_t t = 0; t < s->n_objs; t++) objs[t] = &obj[s->objs[t]];
    for (int32_t o = 0; o < s->n_ops; o++) {
        const nv_op *op = &s->ops[o];
        if (op->kind != 2) continue;
        for (int64_t q = 0; q < op->n_ints; q++) ints[op->ints + q] = s->ints[op->ints + q];
        if (op->scaled >= 0) ints[op->ints + op->scaled] = op->per_row * rows;
    }
    for (int32_t j = 0; j < s->n_carry; j++) in[j] = s->first[j];
    for (int64_t n = 0; n < s->length; n++) {
        const int64_t i = s->reverse ? s->length - 1 - n : n;
        const int64_t next = s->reverse ? i - 1 : i + 1;
        for (int32_t j = 0; j < s->n_carry; j++) {
            if (n == s->length - 1) out[j] = s->last[j];
            else if (s->history) out[j] = s->kept[j] + next * s->stride[j];
            else out[j] = (n & 1) ? s->first[j] : s->spare[j];
        }
        for (int32_t t = 0; t < s->n_slots; t++) {
            const nv_slot *slot = &s->slots[t];
            char *p = slot->base;
            if (slot->mode == 1) p += i * slot->step;
            else if (slot->mode == 2) p = in[slot->carry];
            else if (slot->mode == 3) p = out[slot->carry];
            else if (slot->mode == 4) {  /* a view of an earlier slot, already offset */
                obj[t].data = (char *)obj[slot->carry].data + slot->step;
                continue;
            }
            obj[t].data = p + r0 * slot->row;
        }
        for (int32_t o = 0; o < s->n_ops; o++) {
            const nv_op *op = &s->ops[o];
            const int64_t m = op->rows ? rows : op->m;
            switch (op->kind) {
            case 0:
                ((sgemm_f)op->fn)(101, op->ta, op->tb, m, op->n, op->k, 1.0f, obj[op->a].data,
                                  op->lda, obj[op->b].data, op->ldb, 0.0f, obj[op->c].data,
                                  op->ldc);
                break;
            case 1:
                ((dgemm_f)op->fn)(101, op->ta, op->tb, m, op->n, op->k, 1.0, obj[op->a].data,
                                  op->lda, obj[op->b].data, op->ldb, 0.0, obj[op->c].data,
                                  op->ldc);
                break;
            case 2:
                ((loop_f)op->fn)(ints + op->ints, objs + op->objs);
                break;
            default:
                tiles(m, op->n, op->k, (const float *)obj[op->a].data, op->lda,
                      (const float *)obj[op->b].data, op->ldb, (float *)obj[op->c].data,
                      op->ldc);
                break;
            case 3: {  /* m rows (per batch row, with `rows`) of per_row bytes */
                const int64_t count = op->rows ? op->m * rows : op->m;
                const char *from = (const char *)obj[op->a].data;
                char *to = (char *)obj[op->c].data;
                for (int64_t r = 0; r < count; r++)
                    memcpy(to + r * op->ldc, from + r * op->lda, (size_t)op->per_row);
                break;
            }
            case 5:
                add_rows32(m, op->n, (const float *)obj[op->a].data, op->lda,
                           (const float *)obj[op->b].data, op->ldb, (float *)obj[op->c].data,
                           op->ldc);
                break;
            case 6:
                add_rows64(m, op->n, (const double *)obj[op->a].data, op->lda,
                           (const double *)obj[op->b].data, op->ldb, (double *)obj[op->c].data,
                           op->ldc);
                break;
            }
        }
        for (int32_t j = 0; j < s->n_carry; j++) in[j] = out[j];
    }
}

static void block(const void *context, int64_t b, int worker) {
    (void)worker;
    const nv_scan *s = (const nv_scan *)context;
    run_rows(s, b * s->batch / s->blocks, (b + 1) * s->batch / s->blocks);
}

/* Runs the scan; with `share`, its row blocks on this thread and the worker (returns
   1), else all rows here (returns 0). */
int scan_loop_run(const nv_scan *s, int share) {
    if (share && s->blocks > 1 && split_run_patient(block, s, s->blocks, INT64_MAX)) return 1;
    for (int64_t b = 0; b < s->blocks; b++) block(s, b, 0);
    return 0;
}
"""
)


class _Slot(ctypes.Structure):
    _fields_ = [
        ("base", ctypes.c_void_p), ("step", ctypes.c_int64), ("row", ctypes.c_int64),
        ("mode", ctypes.c_int32), ("carry", ctypes.c_int32),
    ]  # fmt: skip


class _Op(ctypes.Structure):
    _fields_ = [
        ("kind", ctypes.c_int32), ("a", ctypes.c_int32), ("b", ctypes.c_int32),
        ("c", ctypes.c_int32), ("ta", ctypes.c_int32), ("tb", ctypes.c_int32),
        ("m", ctypes.c_int64), ("n", ctypes.c_int64), ("k", ctypes.c_int64),
        ("lda", ctypes.c_int64), ("ldb", ctypes.c_int64), ("ldc", ctypes.c_int64),
        ("rows", ctypes.c_int64), ("fn", ctypes.c_void_p), ("ints", ctypes.c_int64),
        ("n_ints", ctypes.c_int64), ("objs", ctypes.c_int64), ("scaled", ctypes.c_int64),
        ("per_row", ctypes.c_int64),
    ]  # fmt: skip


class _Scan(ctypes.Structure):
    _fields_ = [
        ("length", ctypes.c_int64), ("batch", ctypes.c_int64), ("blocks", ctypes.c_int64),
        ("n_ints", ctypes.c_int64), ("reverse", ctypes.c_int32), ("history", ctypes.c_int32),
        ("n_slots", ctypes.c_int32), ("n_ops", ctypes.c_int32), ("n_carry", ctypes.c_int32),
        ("n_objs", ctypes.c_int32), ("slots", ctypes.c_void_p), ("ops", ctypes.c_void_p),
        ("ints", ctypes.c_void_p), ("objs", ctypes.c_void_p), ("first", ctypes.c_void_p),
        ("spare", ctypes.c_void_p), ("kept", ctypes.c_void_p), ("last", ctypes.c_void_p),
        ("stride", ctypes.c_void_p),
    ]  # fmt: skip


#: Most carries a body may have (the C loop keeps their pointers on its stack).
MAX_CARRY = 64
_Pointers = ctypes.c_void_p * MAX_CARRY
_Strides = ctypes.c_int64 * MAX_CARRY


_LIBRARY = split.Library(_SOURCE.replace("DATA_OFFSET", str(toolchain.DATA_OFFSET))
                         .replace("MAX_CARRY_", str(MAX_CARRY)), "scan_loop")  # fmt: skip
#: For tests: let shared scans back off under load (the default) or not.
allow_back_off = _LIBRARY.allow_back_off


@functools.cache
def _library() -> Any:
    library = _LIBRARY.library() if cblas.sgemm_address() is not None else None
    if library is not None:
        library.scan_loop_run.argtypes = [ctypes.c_void_p, ctypes.c_int]
        library.scan_loop_run.restype = ctypes.c_int
    return library


def worker_blocks() -> int:
    """How many row blocks the worker thread ran in this process (for tests).

    >>> worker_blocks() >= 0
    True
    """
    return _LIBRARY.worker_chunks()


def run(
    schedule: Schedule,
    args: tuple,
    num_carry: int,
    num_consts: int,
    length: int,
    reverse: bool,
    history: bool,
) -> tuple | None:
    """The scan kernel's results (``(carry..., ys..., history...)``, see
    ``control_flow.kernels``) for a body given as ``schedule``, computed in C; or
    ``None`` where this loop does not take the body (nothing has run then). The plan
    made for a layout of ``args`` is kept in ``schedule.cache``."""
    if length < 1 or _library() is None or not all(type(a) is np.ndarray for a in args):
        return None
    layout = tuple((a.shape, a.strides, a.dtype) for a in args)
    key = (length, reverse, history, num_carry, num_consts, layout)
    plan = schedule.cache.get(key, _MISSING)
    if plan is _MISSING:
        if len(schedule.cache) > 64:  # keys hold shapes, which come from user programs
            schedule.cache.clear()
        try:
            plan = _Planner(schedule, args, num_carry, num_consts, history).plan
        except _Declined:
            plan = None
        schedule.cache[key] = plan
    return None if plan is None else plan.run(args, length, reverse)


_MISSING = object()


def _sharing() -> bool:
    """Whether row blocks go to two cores: inside a compiled run that holds them."""
    return threads.held() > 1


class _Declined(Exception):
    """The body has a call or a layout this loop does not run."""


class _Plan:
    """The C tables for one layout of a scan's arguments, and what each run allocates.
    A slot's address is filled per run from its source: ``("arg", i)`` (an argument:
    constant, or scanned input indexed by the step), ``("contiguous", i)`` (a scanned
    input copied plainly first), ``("ys", i)`` (a stacked result), ``("scratch", i)``,
    ``("constant", i)``, ``("packed", i)`` (a constant copied plainly first), or
    ``("carry", j)`` and ``("view", 0)`` (the C loop points those)."""

    def __init__(self, nc: int, history: bool, carries: list, batch: int) -> None:
        self.num_carry, self.history, self.carries, self.batch = nc, history, carries, batch
        self.slots: list[tuple] = []  # (source, step, row, mode, carry)
        self.ops: list[_Op] = []
        self.ints: list[int] = []
        self.objs: list[int] = []
        self.scratch: list[tuple] = []  # (shape, dtype)
        self.constants: list[np.ndarray] = []
        self.packed: list[tuple] = []  # sources of constants laid out plainly per run
        self.contiguous: list[int] = []  # scanned inputs laid out plainly per run
        self.ys: list[tuple] = []  # (shape, dtype) of one step's row
        self.blocks = 1

    def freeze(self, rowwise: bool) -> None:
        self.op_table = (_Op * max(len(self.ops), 1))(*self.ops)
        self.int_table = (ctypes.c_int64 * max(len(self.ints), 1))(*self.ints)
        self.obj_table = (ctypes.c_int32 * max(len(self.objs), 1))(*self.objs)
        # Row blocks are fixed by the batch, shared or not, so results do not depend on
        # how many cores ran them (a product of fewer rows may round otherwise).
        self.rowwise = rowwise
        self.blocks = self.batch // BLOCK_ROWS if rowwise else 1

    def run(self, args: tuple, length: int, reverse: bool) -> tuple:
        nc = self.num_carry
        ys = [np.empty((length, *shape), dtype) for shape, dtype in self.ys]
        last = [np.empty(shape, dtype) for shape, dtype in self.carries]
        kept: list[np.ndarray] = []
        spare: list[np.ndarray | None] = [None] * nc
        if self.history:
            # The carry history: step i's carry is row i, and each step writes the next
            # step's carry straight into its row.
            kept = [np.empty((length, *shape), dtype) for shape, dtype in self.carries]
            first = [h[length - 1 if reverse else 0] for h in kept]
        else:  # the carry goes back and forth between two buffers
            first = [np.empty(shape, dtype) for shape, dtype in self.carries]
            spare = [np.empty(shape, dtype) for shape, dtype in self.carries]
        for buffer, init in zip(first, args[:nc]):
            buffer[...] = init
        scratch = [np.empty(shape, dtype) for shape, dtype in self.scratch]
        arrays: dict[str, Any] = {"arg": args, "ys": ys, "scratch": scratch}
        arrays["constant"] = self.constants
        arrays["packed"] = [np.ascontiguousarray(arrays[k][i]) for k, i in self.packed]
        arrays["contiguous"] = {i: np.ascontiguousarray(args[i]) for i in self.contiguous}
        slots = (_Slot * max(len(self.slots), 1))(*(
            _Slot(0 if kind in ("carry", "view") else binding.address(arrays[kind][i]), *rest)
            for (kind, i), *rest in self.slots
        ))  # fmt: skip
        pointers = [
            _Pointers(*(0 if a is None else binding.address(a) for a in group))
            for group in (first, spare, kept or spare, last)
        ]
        strides = _Strides(*(h.strides[0] for h in kept))
        scan = _Scan(
            length=length, batch=self.batch, blocks=self.blocks, n_ints=len(self.ints),
            reverse=int(reverse), history=int(self.history), n_slots=len(self.slots),
            n_ops=len(self.ops), n_carry=nc, n_objs=len(self.objs),
            slots=ctypes.addressof(slots), ops=ctypes.addressof(self.op_table),
            ints=ctypes.addressof(self.int_table), objs=ctypes.addressof(self.obj_table),
            first=ctypes.addressof(pointers[0]), spare=ctypes.addressof(pointers[1]),
            kept=ctypes.addressof(pointers[2]), last=ctypes.addressof(pointers[3]),
            stride=ctypes.addressof(strides),
        )  # fmt: skip
        _library().scan_loop_run(ctypes.addressof(scan), int(self.rowwise and _sharing()))
        return (*last, *ys, *kept)


def _gemm_operand(array: np.ndarray) -> tuple[int, int] | None:
    """``(transposition code, leading dimension)`` of a 2-D matrix for row-major
    ``gemm``, or ``None`` where BLAS can't take it in place."""
    size = array.itemsize
    rows, cols = array.shape
    s0, s1 = array.strides
    if s1 == size and s0 % size == 0 and s0 // size >= max(cols, 1):
        return cblas.NO_TRANS, s0 // size
    if s0 == size and s1 % size == 0 and s1 // size >= max(rows, 1):
        return cblas.TRANS, s1 // size
    return None


class _Planner:
    """Walks a body's calls once over example arrays laid out as at run time, giving
    each value a slot and each call an entry of the C tables (``plan``); raises
    ``_Declined`` at the first thing the C loop does not run.

    A value is *rowed* when it is computed row by row along the batch axis (the
    carries' first): the carries, scanned inputs of that batch, products of a rowed
    left operand by an unrowed matrix, and loops over a batch-first space whose inputs
    are rowed or broadcast along the batch. When every computed value is rowed, row
    blocks of the batch run each step on their own (``rowwise``)."""

    def __init__(self, schedule: Schedule, args: tuple, nc: int, nk: int, history: bool):
        carries = args[:nc]
        if not 0 < nc <= MAX_CARRY or any(c.ndim < 1 for c in carries):
            raise _Declined
        if schedule.inputs != len(args) or len(schedule.outputs) < nc:
            raise _Declined
        batch = carries[0].shape[0]
        self.plan = plan = _Plan(nc, history, [(c.shape, c.dtype) for c in carries], batch)
        self.rowwise = batch >= 2 * BLOCK_ROWS and all(c.shape[0] == batch for c in carries)
        self.examples: dict[int, Any] = {}  # ref -> an array laid out as at run time
        self.slot_of: dict[int, int] = {}
        self.rowed: set[int] = set()
        self.fixed: dict[int, tuple] = {}  # refs of the constants -> their sources
        for ref, array in enumerate(args):
            if ref < nc:  # read where the previous step wrote it: contiguous
                self._slot(ref, np.empty(array.shape, array.dtype), ("carry", ref), 0,
                           _CARRY_IN, ref, rowed=True)  # fmt: skip
            elif ref < nc + nk:
                self._slot(ref, array, ("arg", ref), 0, _FIXED, 0, rowed=False)
                self.fixed[ref] = ("arg", ref)
            else:
                rowed = array.ndim >= 2 and array.shape[1] == batch
                source, example = ("arg", ref), array[0]
                if not example.flags.c_contiguous:
                    # A step's slice of a transposed stack (an RNN's mask, time-major
                    # from batch-major): the whole stack is laid out plainly once per
                    # run, where the Python loop's fused loops copy each step's slice.
                    source, example = ("contiguous", ref), np.empty(example.shape, example.dtype)
                    plan.contiguous.append(ref)
                self._slot(ref, example, source, example.nbytes if source[0] == "contiguous"
                           else array.strides[0], _INDEXED, 0, rowed)  # fmt: skip
        for ref, constant in schedule.constants:
            plan.constants.append(np.asarray(constant))
            source = ("constant", len(plan.constants) - 1)
            self._slot(ref, plan.constants[-1], source, 0, _FIXED, 0, rowed=False)
            self.fixed[ref] = source
        # Where each output goes: a value a call computes is written straight into the
        # first output position that returns it; other positions, and inputs returned
        # as they are, are copied there after the step's calls.
        self.destination: dict[int, tuple] = {}
        copies = []
        avals = {r: aval for call in schedule.calls for r, aval in zip(call.outputs, call.avals)}
        # (a split's parts are views: returned as copies)
        computed = {r for call in schedule.calls if call.kernel != "split" for r in call.outputs}
        for position, ref in enumerate(schedule.outputs):
            target = ("carry", position) if position < nc else ("ys", position - nc)
            if ref in computed and ref not in self.destination:
                self.destination[ref] = target
            else:
                copies.append((ref, target))
            shape, dtype = avals.get(ref) or (self.examples[ref].shape, self.examples[ref].dtype)
            if position < nc and (tuple(shape), np.dtype(dtype)) != plan.carries[position]:
                raise _Declined
            if position >= nc:
                plan.ys.append((tuple(shape), np.dtype(dtype)))
        for call in schedule.calls:
            if call.kernel == "matmul" and not call.params:
                self._gemm(call)
            elif call.kernel == "loop" and getattr(call.loop, "packed", None):
                self._loop(call)
            elif call.kernel == "split":
                self._split(call)
            elif call.kernel == "add" and not call.params:
                self._add(call)
            else:
                raise _Declined
        for ref, target in copies:
            self._copy(ref, target)
        plan.freeze(self.rowwise)

    def _slot(self, ref: int, example: Any, source: tuple, step: int, mode: int, carry: int,
              rowed: bool) -> int:  # fmt: skip
        rowed = rowed and example.ndim >= 1 and example.shape[0] == self.plan.batch
        self.plan.slots.append((source, step, example.strides[0] if rowed else 0, mode, carry))
        self.examples[ref] = example
        self.slot_of[ref] = len(self.plan.slots) - 1
        if rowed:
            self.rowed.add(ref)
        return len(self.plan.slots) - 1

    def _result_slot(self, ref: int, shape: tuple, dtype: Any, rowed: bool) -> int:
        """The slot a call writes ``ref`` into: its output destination, or scratch."""
        example = np.empty(shape, dtype)
        kind, index = self.destination.get(ref, ("scratch", len(self.plan.scratch)))
        if kind == "scratch":
            self.plan.scratch.append((tuple(shape), np.dtype(dtype)))
            return self._slot(ref, example, (kind, index), 0, _FIXED, 0, rowed)
        if kind == "carry":
            return self._slot(ref, example, (kind, index), 0, _CARRY_OUT, index, rowed)
        return self._slot(ref, example, (kind, index), example.nbytes, _INDEXED, 0, rowed)

    def _gemm(self, call) -> None:
        a, b = (self.examples[r] for r in call.inputs)
        if a.ndim != 2 or b.ndim != 2 or a.dtype != b.dtype or a.dtype.name not in _GEMMS:
            raise _Declined
        (m, k), n = a.shape, b.shape[1]
        if min(m, n, k) < 1:
            raise _Declined
        ta, tb = _gemm_operand(a), _gemm_operand(b)
        kind, function = _GEMMS[a.dtype.name]()
        if ta is None or tb is None or function is None:
            raise _Declined
        left, right = call.inputs
        rowed = left in self.rowed and right not in self.rowed and ta[0] == cblas.NO_TRANS
        self.rowwise = self.rowwise and rowed
        ((shape, dtype),) = call.avals
        c = self._result_slot(call.outputs[0], tuple(shape), dtype, rowed)
        b_slot = self.slot_of[right]
        few_rows = (BLOCK_ROWS if rowed else m) <= TILE_ROWS
        if (
            kind == _GEMM32
            and few_rows
            and ta[0] == cblas.NO_TRANS
            and right in self.fixed
            and _has_tiles()
        ):
            # A constant right operand: the C tiles read it in place, laid out plainly
            # (a transposed one is copied so once per run).
            kind, function, tb = _TILES, None, (cblas.NO_TRANS, n)
            if not b.flags.c_contiguous:
                self.plan.packed.append(self.fixed[right])
                source = ("packed", len(self.plan.packed) - 1)
                b_slot = self._slot(-1 - len(self.plan.slots), np.empty(b.shape, b.dtype),
                                    source, 0, _FIXED, 0, rowed=False)  # fmt: skip
        self.plan.ops.append(_Op(
            kind=kind, a=self.slot_of[left], b=b_slot, c=c, ta=ta[0], tb=tb[0],
            m=m, n=n, k=k, lda=ta[1], ldb=tb[1], ldc=n, rows=int(rowed), fn=function,
        ))  # fmt: skip

    def _loop(self, call) -> None:
        plan = self.plan
        shape = tuple(call.avals[0][0])
        rowed = len(shape) >= 1 and shape[0] == plan.batch
        for ref in call.inputs:  # rowed alike, or broadcast along the batch
            rank = np.ndim(self.examples[ref])
            rowed = rowed and (rank == len(shape) if ref in self.rowed else rank < len(shape))
        for ref, (result_shape, dtype) in zip(call.outputs, call.avals):
            self._result_slot(ref, tuple(result_shape), dtype, rowed)
        ints, objects = call.loop.arguments(
            tuple(self.examples[r] for r in call.inputs),
            tuple(self.examples[r] for r in call.outputs),
        )
        slot_by_id = {id(self.examples[r]): self.slot_of[r] for r in (*call.inputs, *call.outputs)}
        if any(id(o) not in slot_by_id for o in objects):
            raise _Declined  # the loop would copy an input first
        scaled, per_row = -1, 0  # which extent counts batch rows, and by how much
        if rowed and ints[0] % plan.batch == 0:
            scaled, per_row = 0, ints[0] // plan.batch
        elif rowed and ints[0] == 1 and ints[1] % plan.batch == 0:
            scaled, per_row = 1, ints[1] // plan.batch
        self.rowwise = self.rowwise and scaled >= 0
        plan.ops.append(_Op(
            kind=_LOOP, fn=call.loop.packed, ints=len(plan.ints), n_ints=len(ints),
            objs=len(plan.objs), scaled=scaled, per_row=per_row,
        ))  # fmt: skip
        plan.ints.extend(int(v) for v in ints)
        plan.objs.extend(slot_by_id[id(o)] for o in objects)

    def _copy(self, ref: int, target: tuple) -> None:
        """After the step's calls, ``ref`` copied to an output position, row by row."""
        example = self.examples[ref]
        shape = np.shape(example)
        rows = shape[0] if shape else 1
        width = example.itemsize * math.prod(shape[1:])
        trailing = np.empty(shape[1:], example.dtype).strides
        if not isinstance(example, np.ndarray) or example.strides[1:] != trailing:
            raise _Declined  # each row must be one run of bytes
        rowed = ref in self.rowed
        self.rowwise = self.rowwise and rowed
        kind, index = target
        dest_example = np.empty(shape, example.dtype)
        mode, step = (_CARRY_OUT, 0) if kind == "carry" else (_INDEXED, dest_example.nbytes)
        dest = self._slot(-1 - len(self.plan.slots), dest_example, target, step, mode, index,
                          rowed)  # fmt: skip
        self.plan.ops.append(_Op(
            kind=_COPY, a=self.slot_of[ref], c=dest, rows=int(rowed),
            m=rows // self.plan.batch if rowed else rows, per_row=width,
            lda=example.strides[0] if shape else width, ldc=width,
        ))  # fmt: skip

    def _split(self, call) -> None:
        """Views of the input, as NumPy's split gives (no copy): slots pointing into it."""
        (source,) = call.inputs
        example = self.examples[source]
        params = dict(call.params)
        axis, bounds = params["axis"], params["bounds"]
        if not isinstance(example, np.ndarray) or axis < 0 or (axis == 0 and source in self.rowed):
            raise _Declined  # (a split of the batch axis would cross row blocks)
        lead = (slice(None),) * axis
        for ref, lo, hi in zip(call.outputs, bounds[:-1], bounds[1:]):
            key = (*lead, slice(lo, hi))  # (built first: mypy misreads x[(*a, b)])
            view = example[key]
            offset = lo * example.strides[axis]
            self._slot(ref, view, ("view", 0), offset, _VIEW, self.slot_of[source],
                       rowed=source in self.rowed)  # fmt: skip

    def _add(self, call) -> None:
        """``a + b`` for matrices of one shape, or a matrix ``a`` and a row ``b`` added to
        each of its rows (a bias)."""
        left, right = call.inputs
        a, b = self.examples[left], self.examples[right]
        ((shape, dtype),) = call.avals
        if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)):
            raise _Declined
        if a.ndim != 2 or a.dtype != b.dtype or a.dtype.name not in _ADDS:
            raise _Declined
        if b.shape not in (a.shape, a.shape[1:]) or tuple(shape) != a.shape:
            raise _Declined
        if a.strides[-1] != a.itemsize or b.strides[-1] != b.itemsize:
            raise _Declined
        if b.ndim == 2:  # rowed alike, or neither
            rowed = left in self.rowed and right in self.rowed
            self.rowwise = self.rowwise and rowed
            ldb = b.strides[0] // b.itemsize
        else:
            rowed = left in self.rowed and right not in self.rowed
            self.rowwise = self.rowwise and rowed
            ldb = 0
        c = self._result_slot(call.outputs[0], tuple(shape), dtype, rowed)
        self.plan.ops.append(_Op(
            kind=_ADDS[a.dtype.name], a=self.slot_of[left], b=self.slot_of[right], c=c,
            m=a.shape[0], n=a.shape[1], lda=a.strides[0] // a.itemsize, ldb=ldb,
            ldc=a.shape[1], rows=int(rowed),
        ))  # fmt: skip


@functools.cache
def _has_tiles() -> bool:
    """Whether the library has the C tiles for float32 products (AVX-512)."""
    library = _library()
    return library is not None and bool(library.scan_loop_has_tiles())


_ADDS = {"float32": _ADD32, "float64": _ADD64}
#: dtype name -> (op kind, its gemm's address or None).
_GEMMS = {
    "float32": lambda: (_GEMM32, cblas.sgemm_address()),
    "float64": lambda: (_GEMM64, cblas.dgemm_address()),
}
