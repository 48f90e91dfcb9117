"""The machine's arithmetic peak: float32 multiply-adds per second, as many as the
cores' vector units retire when they do nothing else (no loads, no stores), on
``threads`` threads at once.

Why: ``bench_dense``'s roofline is the step's products at the BLAS's speed; this
says how close that speed is to the hardware's. On the 2-vCPU Xeon (AVX-512, two FMA
units a core) the loop below retires ~140-150 GFLOP/s per core while OpenBLAS's
sgemm ran a 512x784x512 product at ~85 (2026-12-06): the products, not the step
around them, sit at ~60 % of the peak, and so do XLA's.

The loop: twelve independent accumulators (more than an FMA unit's latency times
their count keeps busy), each ``a = a * m + q`` twice per iteration, with AVX-512
or AVX2+FMA intrinsics, whichever the compiler targets (``-march=native``, through
nerve's kernel toolchain). ``None`` without a compiler or without either.

>>> peak = peak_gflops(threads=1, seconds=0.01)
>>> peak is None or peak > 0
True
"""

from __future__ import annotations

import ctypes
import functools
import threading
import time

SOURCE = r"""
#include <stdint.h>
#if defined(__AVX512F__)
#include <immintrin.h>
typedef __m512 vec;
#define LANES 16
#define SPLAT _mm512_set1_ps
#define MADD _mm512_fmadd_ps
#define ADD _mm512_add_ps
#elif defined(__FMA__) && defined(__AVX__)
#include <immintrin.h>
typedef __m256 vec;
#define LANES 8
#define SPLAT _mm256_set1_ps
#define MADD _mm256_fmadd_ps
#define ADD _mm256_add_ps
#else
#define LANES 0
#endif

/* Lanes of one fused multiply-add (0: this build has none to measure). */
int64_t fma_lanes(void) { return LANES; }

/* 24 vector multiply-adds per iteration on 12 chains; the chains' sum is returned so
   that none is dropped. */
float fma_loop(int64_t iterations) {
#if LANES
    const vec m = SPLAT(0.999f), q = SPLAT(1e-3f);
    vec a0 = SPLAT(0.10f), a1 = SPLAT(0.11f), a2 = SPLAT(0.12f), a3 = SPLAT(0.13f);
    vec a4 = SPLAT(0.14f), a5 = SPLAT(0.15f), a6 = SPLAT(0.16f), a7 = SPLAT(0.17f);
    vec a8 = SPLAT(0.18f), a9 = SPLAT(0.19f), a10 = SPLAT(0.20f), a11 = SPLAT(0.21f);
    for (int64_t i = 0; i < iterations; i++) {
        for (int twice = 0; twice < 2; twice++) {
            a0 = MADD(a0, m, q); a1 = MADD(a1, m, q); a2 = MADD(a2, m, q);
            a3 = MADD(a3, m, q); a4 = MADD(a4, m, q); a5 = MADD(a5, m, q);
            a6 = MADD(a6, m, q); a7 = MADD(a7, m, q); a8 = MADD(a8, m, q);
            a9 = MADD(a9, m, q); a10 = MADD(a10, m, q); a11 = MADD(a11, m, q);
        }
    }
    vec s = ADD(ADD(ADD(a0, a1), ADD(a2, a3)), ADD(ADD(a4, a5), ADD(a6, a7)));
    s = ADD(s, ADD(ADD(a8, a9), ADD(a10, a11)));
    float lanes[LANES], total = 0;
    __builtin_memcpy(lanes, &s, sizeof lanes);
    for (int i = 0; i < LANES; i++) total += lanes[i];
    return total;
#else
    (void)iterations;
    return 0;
#endif
}
"""

#: Vector multiply-adds per iteration of ``fma_loop``.
PER_ITERATION = 24


@functools.cache
def _library():
    from nerve.backend.numpy_backend.native import toolchain

    library = toolchain.load(SOURCE) if toolchain.enabled() else None
    if library is None:
        return None
    library.fma_lanes.restype = ctypes.c_int64
    library.fma_loop.argtypes = [ctypes.c_int64]
    library.fma_loop.restype = ctypes.c_float
    return library if library.fma_lanes() else None


def peak_gflops(threads: int = 1, seconds: float = 0.2) -> float | None:
    """Float32 GFLOP/s (a multiply-add counts two) of ``threads`` threads running the
    loop at once (ctypes lets go of the GIL), best of three runs of about ``seconds``
    each; ``None`` where the loop cannot be built."""
    library = _library()
    if library is None:
        return None
    flops_per_iteration = 2 * PER_ITERATION * library.fma_lanes()
    iterations = 1 << 12
    while True:  # size the runs to take about `seconds` each
        start = time.perf_counter()
        library.fma_loop(iterations)
        elapsed = time.perf_counter() - start
        if elapsed >= seconds / 8:
            break
        iterations *= 2
    iterations = max(1, int(iterations * seconds / elapsed))
    best = 0.0
    for _ in range(3):
        workers = [
            threading.Thread(target=library.fma_loop, args=(iterations,)) for _ in range(threads)
        ]
        start = time.perf_counter()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        elapsed = time.perf_counter() - start
        best = max(best, threads * iterations * flops_per_iteration / elapsed / 1e9)
    return best
