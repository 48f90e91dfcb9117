"""``product_patches_transpose`` in C: ``patches_transpose`` of a matrix product,
``(rows, F) @ (F, taps * C)`` laid out as patches, without writing the patches.

Why: a convolution's input gradient is the product of its output gradient with the
kernel, ``(batch * positions, filters) @ (filters, taps * channels)``, added back into
the image window offset by window offset (col2im). Written out, the product is
``taps`` times the image (the MNIST convnet's second layer: 15488x288 float32, 17.8 MB
written, then read back by col2im); here each image row is accumulated in place,
tap by tap, from the gradient rows that reach it: one image row and one tap's
``(F, C)`` block of the kernel stay in L1 (measured at one thread on the benchmark
VM: 16.6 ms against 20.2 ms for the product alone, plus ~3 ms of col2im).

The loop is single-threaded; where several cores are at hand (OpenBLAS's threads,
or those a compiled run holds: ``threads.cores``), the batch is split across that many
Python threads (``threads.run_ranges``; the C call releases the GIL), so that the
product does not lose the cores BLAS would have used for it.

The loop needs AVX2 and FMA (registers hold a block of 3 image positions x 32
channels), float32, 2-D windows with stride 1 and dilation 1 and channels a
multiple of 32; ``None`` otherwise (and when native kernels are off): the NumPy
kernel then runs the product and ``patches_transpose``. Sums run tap by tap, then
over the filters: another order than BLAS's, so results agree to rounding.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable

import numpy as np

from nerve.backend.numpy_backend.native import binding, threads, toolchain

__all__ = ["BLOCK_CHANNELS", "MIN_SPLIT", "product_patches_transpose"]

#: Channels go 32 at a time through the registers (four 8-float vectors).
BLOCK_CHANNELS = 32
#: Multiply-adds from which a call is split across threads (a hand-over costs ~0.1 ms).
MIN_SPLIT = 1 << 24

SOURCE = r"""
#include <stdint.h>
#include <string.h>
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>

/* o[r, c0:c0+32] += sum_f g[r, f] * w[f, c0:c0+32] for RR consecutive positions r. */
#define BLOCK(RR)                                                                      \
static inline void block##RR(const float *restrict g, const float *restrict w,       \
                             float *restrict o, int64_t C, int64_t F) {               \
    for (int64_t c0 = 0; c0 + 32 <= C; c0 += 32) {                                    \
        __m256 acc[RR][4];                                                            \
        for (int r = 0; r < RR; r++)                                                  \
            for (int q = 0; q < 4; q++) acc[r][q] = _mm256_loadu_ps(o + r * C + c0 + 8 * q); \
        for (int64_t f = 0; f < F; f++) {                                             \
            const float *restrict wr = w + f * C + c0;                                \
            const __m256 w0 = _mm256_loadu_ps(wr), w1 = _mm256_loadu_ps(wr + 8);      \
            const __m256 w2 = _mm256_loadu_ps(wr + 16), w3 = _mm256_loadu_ps(wr + 24);\
            for (int r = 0; r < RR; r++) {                                            \
                const __m256 s = _mm256_broadcast_ss(g + r * F + f);                  \
                acc[r][0] = _mm256_fmadd_ps(s, w0, acc[r][0]);                        \
                acc[r][1] = _mm256_fmadd_ps(s, w1, acc[r][1]);                        \
                acc[r][2] = _mm256_fmadd_ps(s, w2, acc[r][2]);                        \
                acc[r][3] = _mm256_fmadd_ps(s, w3, acc[r][3]);                        \
            }                                                                         \
        }                                                                             \
        for (int r = 0; r < RR; r++)                                                  \
            for (int q = 0; q < 4; q++) _mm256_storeu_ps(o + r * C + c0 + 8 * q, acc[r][q]); \
    }                                                                                 \
}
BLOCK(1)
BLOCK(3)

int product_patches_transpose_ready(void) { return 1; }

/* out (N, H, W, C) = col2im of g (N, OH, OW, F) @ w (KH, KW, F, C): stride 1,
   dilation 1, padding (pt, pl) before each axis. Image position (Y, X) takes tap
   (i, j) from gradient position (Y + pt - i, X + pl - j) where that exists. */
void product_patches_transpose_f32(const float *restrict g, const float *restrict w,
                                   float *restrict out, const int64_t *geometry) {
    const int64_t N = geometry[0], H = geometry[1], W = geometry[2], C = geometry[3];
    const int64_t OH = geometry[4], OW = geometry[5], F = geometry[6];
    const int64_t KH = geometry[7], KW = geometry[8], pt = geometry[9], pl = geometry[10];
    #pragma omp parallel for schedule(static) if (N * H * W * C >= 262144)
    for (int64_t n = 0; n < N; n++)
    for (int64_t Y = 0; Y < H; Y++) {
        float *restrict row = out + ((n * H + Y) * W) * C;
        memset(row, 0, sizeof(float) * (size_t)(W * C));
        for (int64_t i = 0; i < KH; i++) {
            const int64_t y = Y + pt - i;
            if (y < 0 || y >= OH) continue;
            const float *restrict grow = g + ((n * OH + y) * OW) * F;
            for (int64_t j = 0; j < KW; j++) {
                const float *restrict tap = w + (i * KW + j) * F * C;
                const int64_t X0 = j - pl > 0 ? j - pl : 0;
                const int64_t X1 = OW + j - pl < W ? OW + j - pl : W;
                int64_t X = X0;
                for (; X + 3 <= X1; X += 3) block3(grow + (X + pl - j) * F, tap, row + X * C, C, F);
                for (; X < X1; X++) block1(grow + (X + pl - j) * F, tap, row + X * C, C, F);
            }
        }
    }
}
#else
int product_patches_transpose_ready(void) { return 0; }
#endif
"""


@functools.cache
def _function() -> Callable | None:
    library = toolchain.load(SOURCE)
    if library is None or not library.product_patches_transpose_ready():
        return None
    function = library.product_patches_transpose_f32
    function.restype = None
    function.argtypes = [ctypes.c_void_p] * 4
    return function


def product_patches_transpose(
    a: np.ndarray, b: np.ndarray, spatial_shape, window, strides, dilation, padding, out
) -> np.ndarray | None:
    """``patches_transpose(reshape(a @ b, (batch, *out, *window, C)))`` for ``a`` of
    shape ``(batch * prod(out), F)`` and ``b`` of shape ``(F, taps * C)``, or ``None``
    where the C loop does not take these operands (see the module docstring)."""
    if (
        a.dtype != np.float32
        or b.dtype != np.float32
        or len(window) != 2
        or tuple(strides) != (1, 1)
        or tuple(dilation) != (1, 1)
        or 0 in (*out, a.shape[0], a.shape[1])
    ):
        return None
    taps = window[0] * window[1]
    channels = b.shape[1] // taps
    if channels % BLOCK_CHANNELS:
        return None
    function = _function()
    if function is None:
        return None
    filters = a.shape[1]
    batch = a.shape[0] // (out[0] * out[1])
    # The kernel's blocks (taps, F, C): b[f, t * C + c] -> w[t, f, c] (a small copy).
    w = np.ascontiguousarray(b.reshape(filters, taps, channels).transpose(1, 0, 2))
    a = np.ascontiguousarray(a)
    result = np.empty((batch, *spatial_shape, channels), dtype=np.float32)
    geometry = np.array(
        (batch, *spatial_shape, channels, *out, filters, *window,
         padding[0][0], padding[1][0]),
        dtype=np.int64,
    )  # fmt: skip
    parts = min(threads.cores(), batch) if a.size * b.shape[1] >= MIN_SPLIT else 1
    address = binding.address
    if parts == 1:
        function(address(a), address(w), address(result), address(geometry))
        return result
    # Images are independent: each thread takes a contiguous share of them.
    rows, image = a.shape[0] // batch, result[0].size

    def part(lo: int, hi: int) -> None:
        shape = geometry.copy()
        shape[0] = hi - lo
        function(
            address(a) + lo * rows * filters * a.itemsize,
            address(w),
            address(result) + lo * image * result.itemsize,
            address(shape),
        )

    threads.run_ranges(batch, parts, part, parts)
    return result
