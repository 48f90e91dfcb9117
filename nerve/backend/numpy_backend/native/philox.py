"""Uniform draws in ``[0, 1)`` in C, bit for bit the numbers NumPy's ``Philox``
generator gives: the dropout masks of a training step.

Why: ``Generator(Philox(key)).random(shape, dtype)`` walks its buffer one number at a
time through function pointers, ~7 ns a float32 on the benchmark Xeon: 1.4 ms of the
MNIST convnet's training step (128 x 1600 mask values at batch 128). The loop here
computes each Philox block inline (~1 ns a number) and, inside a compiled run that
holds several cores (``threads.hold``), shares the draw out among them: Philox is
counter-based, so any stretch of the stream can be computed on its own.

The stream, as NumPy 1.17+ defines it for a fresh generator: the key is the 128-bit
key as two 64-bit words (low first); block ``b = 1, 2, ...`` (the counter is
incremented before each block) is Philox4x64 with 10 rounds of counter ``(b, 0, 0,
0)``, giving four 64-bit words in order. A float64 is ``(word >> 11) * 2**-53``, one
word each; a float32 is ``(half >> 8) * 2**-24`` of a 32-bit half, the low half of a
word first, then its high half. Tests compare every path against NumPy's generator.
``None`` when native kernels are off (see ``toolchain``): NumPy's generator runs.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable

import numpy as np

from nerve.backend.numpy_backend.native import binding, threads, toolchain

__all__ = ["SPLIT_FROM", "uniform_function"]

#: Numbers from which a draw inside a run holding several cores is shared out.
SPLIT_FROM = 1 << 16

SOURCE = r"""
#include <stdint.h>

/* The 128-bit product of two 64-bit words: low word returned, high word in *hi. */
static inline uint64_t mul_hilo(uint64_t a, uint64_t b, uint64_t *hi) {
#if defined(__SIZEOF_INT128__)
    const unsigned __int128 p = (unsigned __int128)a * b;
    *hi = (uint64_t)(p >> 64);
    return (uint64_t)p;
#else  /* from 32-bit halves (compilers without a 128-bit integer type) */
    const uint64_t a0 = a & 0xFFFFFFFFu, a1 = a >> 32, b0 = b & 0xFFFFFFFFu, b1 = b >> 32;
    const uint64_t p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
    const uint64_t middle = (p00 >> 32) + (p01 & 0xFFFFFFFFu) + (p10 & 0xFFFFFFFFu);
    *hi = p11 + (p01 >> 32) + (p10 >> 32) + (middle >> 32);
    return a * b;
#endif
}

/* Philox4x64-10 of counter (b, 0, 0, 0) under key (k0, k1), as Random123 defines it. */
static inline void philox_block(uint64_t b, uint64_t k0, uint64_t k1, uint64_t out[4]) {
    uint64_t c0 = b, c1 = 0, c2 = 0, c3 = 0;
    for (int round = 0; round < 10; round++) {
        if (round) {
            k0 += 0x9E3779B97F4A7C15ull;
            k1 += 0xBB67AE8584CAA73Bull;
        }
        uint64_t hi0, hi1;
        const uint64_t lo0 = mul_hilo(0xD2E7470EE14C6C93ull, c0, &hi0);
        const uint64_t lo1 = mul_hilo(0xCA5A826395121157ull, c2, &hi1);
        const uint64_t n0 = hi1 ^ c1 ^ k0, n1 = lo1, n2 = hi0 ^ c3 ^ k1, n3 = lo0;
        c0 = n0; c1 = n1; c2 = n2; c3 = n3;
    }
    out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

/* Numbers [lo, hi) of the stream: float32, eight a block. */
void philox_uniform_float32(uint64_t k0, uint64_t k1, float *out, int64_t lo, int64_t hi) {
    uint64_t words[4];
    int64_t i = lo;
    for (; i % 8 == 0 && i + 8 <= hi; i += 8) {  /* whole blocks */
        philox_block((uint64_t)(i / 8) + 1, k0, k1, words);
        float *o = out + (i - lo);
        for (int w = 0; w < 4; w++) {
            o[2 * w] = (float)((uint32_t)words[w] >> 8) * (1.0f / 16777216.0f);
            o[2 * w + 1] = (float)((uint32_t)(words[w] >> 32) >> 8) * (1.0f / 16777216.0f);
        }
    }
    while (i < hi) {
        const int64_t block = i / 8;
        philox_block((uint64_t)block + 1, k0, k1, words);
        const int64_t end = (block + 1) * 8 < hi ? (block + 1) * 8 : hi;
        for (; i < end; i++) {
            const uint64_t word = words[(i % 8) / 2];
            const uint32_t half = (i % 2) ? (uint32_t)(word >> 32) : (uint32_t)word;
            out[i - lo] = (float)(half >> 8) * (1.0f / 16777216.0f);
        }
    }
}

/* Numbers [lo, hi) of the stream: float64, four a block. */
void philox_uniform_float64(uint64_t k0, uint64_t k1, double *out, int64_t lo, int64_t hi) {
    uint64_t words[4];
    int64_t i = lo;
    for (; i % 4 == 0 && i + 4 <= hi; i += 4) {  /* whole blocks */
        philox_block((uint64_t)(i / 4) + 1, k0, k1, words);
        for (int w = 0; w < 4; w++)
            out[i - lo + w] = (double)(words[w] >> 11) * (1.0 / 9007199254740992.0);
    }
    while (i < hi) {
        const int64_t block = i / 4;
        philox_block((uint64_t)block + 1, k0, k1, words);
        const int64_t end = (block + 1) * 4 < hi ? (block + 1) * 4 : hi;
        for (; i < end; i++)
            out[i - lo] = (double)(words[i % 4] >> 11) * (1.0 / 9007199254740992.0);
    }
}
"""

_TYPES = ("float32", "float64")


@functools.cache
def _loops() -> dict | None:
    library = toolchain.load(SOURCE)
    if library is None:
        return None
    arguments = [ctypes.c_uint64] * 2 + [ctypes.c_void_p] + [ctypes.c_int64] * 2
    return binding.typed_functions(library, "philox_uniform", _TYPES, arguments)


@functools.cache
def uniform_function() -> Callable | None:
    """``uniform(key, shape, dtype)``: a new array of numbers in ``[0, 1)``, the ones
    ``Generator(Philox(key=key)).random(shape, dtype)`` draws (``key`` a 128-bit int,
    ``dtype`` float32 or float64), or ``None`` without native kernels.

    >>> uniform = uniform_function()
    >>> want = np.random.Generator(np.random.Philox(key=7)).random(5, dtype=np.float32)
    >>> uniform is None or np.array_equal(uniform(7, (5,), np.float32), want)
    True
    """
    loops = _loops()
    if loops is None:
        return None
    address = binding.address

    def uniform(key: int, shape: tuple, dtype) -> np.ndarray:
        loop = loops[np.dtype(dtype)]
        k0, k1 = key & 0xFFFFFFFFFFFFFFFF, (key >> 64) & 0xFFFFFFFFFFFFFFFF
        out = np.empty(shape, dtype=dtype)
        count, start = out.size, address(out)
        cores = threads.held()
        if cores < 2 or count < SPLIT_FROM:
            loop(k0, k1, start, 0, count)
            return out
        step = out.itemsize
        threads.run_ranges(count, cores, lambda lo, hi: loop(k0, k1, start + lo * step, lo, hi))
        return out

    return uniform
