"""A 3x3 convolution at stride 1 by Winograd's F(2x2, 3x3): ``patches_product`` of a
float32 image with a 3x3 kernel, its kernel gradient and its input gradient, with
2.25 times fewer multiplications.

Why: the MNIST convnet's second layer spends ~18 ms (one core) in its forward
product ``(128 * 11 * 11, 288) @ (288, 64)``. F(2x2, 3x3) computes each 2x2 block of
outputs from the 4x4 input block under it: both are transformed (only additions and
halvings), multiplied element by element, summed over the channels, and transformed
back. Summing over the channels at each of the 16 transformed positions is 16 matrix
products ``(tiles, C) @ (C, F)``, which BLAS runs: ``16 * tiles * C * F``
multiply-adds instead of ``rows * 9 * C * F`` (1.9 times fewer for an 11x11 output,
whose 6x6 tiles cover 12x12 positions). The two transforms are C loops (AVX2, over
8 channels at a time), ~1.5 ms each there. Tiles go through the three steps
``CHUNK_TILES`` at a time (with one BLAS thread: alone, or inside a run holding the cores,
whose threads share the chunks out), so that the transformed stacks stay in the
caches instead of going through memory (the 16 transformed products of the whole
batch are 19 MB there). Where NumPy's OpenBLAS ``sgemm`` can be called from C
(``cblas``), a run of chunks goes through all three steps in one C call: each thread
takes the GIL once per run instead of four times per chunk, and two threads no longer
wait on each other's hand-overs (MNIST convnet ``fit``, 2026-12-06 Xeon, alternating
epochs: 6,865 against 6,436 samples/s at two threads, 4,746 against 4,339 at one).

The kernel gradient, ``transposed_patches_product`` (``patches^T @ g``), is the same
product's adjoint: the output gradient's tiles transformed by ``A g A^T``, 16 products
``V^T @ (A g A^T)`` summed over the chunks, and ``G^T (.) G`` back to a 3x3 kernel. With
both, a training step never writes the patch matrix (9 times the image: 17.8 MB for
that layer). The input gradient, ``product_patches_transpose`` (``patches_transpose``
of ``g @ b``), is the adjoint in the image: ``A g A^T`` times the transformed kernel,
then ``B (.) B^T`` added back at each tile's input block; where it declines, the
NumPy kernel runs the direct C loop of ``native/convolution.py``.

Rounding: the transforms add up to nine input values (and sixteen products) before
and after the channel sums, so results agree with the direct product to float32
rounding, not bitwise (checked against a float64 reference in
tests/backend/test_native_winograd.py).

The product runs here only where it pays: float32, a 2-D 3x3 window, stride and
dilation 1, zero padding, at least ``MIN_CHANNELS`` input and output channels and
``MIN_WORK`` multiply-adds (a small call loses more to the transforms and the 16
calls than it gains), channel counts that are multiples of 8 and AVX2; ``None``
otherwise, and the NumPy kernel runs the direct product.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from nerve.backend.numpy_backend.native import binding, cblas, threads, toolchain

__all__ = [
    "CHUNK_TILES",
    "KERNEL_TRANSFORM",
    "MIN_CHANNELS",
    "MIN_WORK",
    "STACK_GAP",
    "patches_product",
    "product_patches_transpose",
    "takes",
    "transposed_patches_product",
]

#: Fewer input or output channels make the 16 products too thin for BLAS.
MIN_CHANNELS = 16
#: Multiply-adds of the direct product from which the transforms pay for themselves.
MIN_WORK = 1 << 23
#: Tiles transformed, multiplied and transformed back at a time: their stacks (16 x
#: tiles x channels) stay in the caches between the three steps (one thread, MNIST
#: convnet: 256 took ~1.5 ms off each product of ~16 ms; 64 and 128 were slower).
CHUNK_TILES = 256
#: Floats between two of the 16 matrices of a stack (one cache line; see ``_stack``).
STACK_GAP = 16
#: ``G`` of F(2x2, 3x3): a 3-tap kernel row becomes 4 values (``U = G w G^T``).
KERNEL_TRANSFORM = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]])

SOURCE = r"""
#include <stdint.h>
#include <stdlib.h>
#if defined(__AVX2__)
#include <immintrin.h>

int winograd_ready(void) { return 1; }

/* geometry: N, H, W, C, TH, TW, pt, pl, step (tiles of 2x2 outputs; the 4x4 input
   block of tile (ty, tx) starts at row 2 ty - pt, column 2 tx - pl; outside the
   image: 0). v[k * step + t * C + c] (k = 4 i + j of the 16 positions) = B^T d B of
   tile t's block d, B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]. C is a multiple
   of 8. Tiles [t0, t1) only (callers split the work). */
int winograd_input_f32(const float *restrict x, float *restrict v, const int64_t *g,
                       int64_t t0, int64_t t1, int64_t base) {
    const int64_t N = g[0], H = g[1], W = g[2], C = g[3], TH = g[4], TW = g[5];
    const int64_t pt = g[6], pl = g[7], step = g[8];
    (void)N;
    float *zero = calloc((size_t)C, sizeof(float));
    if (zero == NULL) return 1;
    for (int64_t t = t0; t < t1; t++) {
        const int64_t n = t / (TH * TW), ty = (t / TW) % TH, tx = t % TW;
        const float *d[4][4];
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++) {
                const int64_t y = 2 * ty - pt + i, xx = 2 * tx - pl + j;
                d[i][j] = (y >= 0 && y < H && xx >= 0 && xx < W)
                              ? x + ((n * H + y) * W + xx) * C : zero;
            }
        float *o = v + (t - base) * C;
        for (int64_t c = 0; c < C; c += 8) {
            __m256 r[4][4];
            for (int j = 0; j < 4; j++) {
                const __m256 a0 = _mm256_loadu_ps(d[0][j] + c), a1 = _mm256_loadu_ps(d[1][j] + c);
                const __m256 a2 = _mm256_loadu_ps(d[2][j] + c), a3 = _mm256_loadu_ps(d[3][j] + c);
                r[0][j] = _mm256_sub_ps(a0, a2);
                r[1][j] = _mm256_add_ps(a1, a2);
                r[2][j] = _mm256_sub_ps(a2, a1);
                r[3][j] = _mm256_sub_ps(a1, a3);
            }
            for (int i = 0; i < 4; i++) {
                _mm256_storeu_ps(o + (4 * i + 0) * step + c, _mm256_sub_ps(r[i][0], r[i][2]));
                _mm256_storeu_ps(o + (4 * i + 1) * step + c, _mm256_add_ps(r[i][1], r[i][2]));
                _mm256_storeu_ps(o + (4 * i + 2) * step + c, _mm256_sub_ps(r[i][2], r[i][1]));
                _mm256_storeu_ps(o + (4 * i + 3) * step + c, _mm256_sub_ps(r[i][1], r[i][3]));
            }
        }
    }
    free(zero);
    return 0;
}

/* geometry: N, OH, OW, F, TH, TW, step. y (N, OH, OW, F) = A^T m A for each tile t's
   m (m[k * step + t * F + f], k = 4 i + j), A^T = [1 1 1 0; 0 1 -1 -1]; outputs past
   OH or OW (the last tiles of odd sizes) are dropped. F is a multiple of 8. Tiles
   [t0, t1) only. */
int winograd_output_f32(const float *restrict m, float *restrict y, const int64_t *g,
                        int64_t t0, int64_t t1, int64_t base) {
    const int64_t OH = g[1], OW = g[2], F = g[3], TH = g[4], TW = g[5], step = g[6];
    for (int64_t t = t0; t < t1; t++) {
        const int64_t n = t / (TH * TW), ty = (t / TW) % TH, tx = t % TW;
        const float *s = m + (t - base) * F;
        const int rows = 2 * ty + 1 < OH ? 2 : 1, cols = 2 * tx + 1 < OW ? 2 : 1;
        float *o = y + ((n * OH + 2 * ty) * OW + 2 * tx) * F;
        for (int64_t f = 0; f < F; f += 8) {
            __m256 q[2][4];
            for (int j = 0; j < 4; j++) {
                const __m256 a0 = _mm256_loadu_ps(s + j * step + f);
                const __m256 a1 = _mm256_loadu_ps(s + (4 + j) * step + f);
                const __m256 a2 = _mm256_loadu_ps(s + (8 + j) * step + f);
                const __m256 a3 = _mm256_loadu_ps(s + (12 + j) * step + f);
                q[0][j] = _mm256_add_ps(_mm256_add_ps(a0, a1), a2);
                q[1][j] = _mm256_sub_ps(_mm256_sub_ps(a1, a2), a3);
            }
            for (int i = 0; i < rows; i++) {
                float *row = o + i * OW * F + f;
                _mm256_storeu_ps(row, _mm256_add_ps(_mm256_add_ps(q[i][0], q[i][1]), q[i][2]));
                if (cols == 2)
                    _mm256_storeu_ps(row + F,
                                     _mm256_sub_ps(_mm256_sub_ps(q[i][1], q[i][2]), q[i][3]));
            }
        }
    }
    return 0;
}
/* geometry: N, OH, OW, F, TH, TW, step. m[k * step + t * F + f] (k = 4 i + j) =
   A dy A^T of tile t's 2x2 block dy of the output gradient (outside it: 0): the
   adjoint of winograd_output_f32. F is a multiple of 8. Tiles [t0, t1) only. */
int winograd_gradient_f32(const float *restrict dy, float *restrict m, const int64_t *g,
                          int64_t t0, int64_t t1, int64_t base) {
    const int64_t OH = g[1], OW = g[2], F = g[3], TH = g[4], TW = g[5], step = g[6];
    const __m256 zero = _mm256_setzero_ps();
    for (int64_t t = t0; t < t1; t++) {
        const int64_t n = t / (TH * TW), ty = (t / TW) % TH, tx = t % TW;
        const int rows = 2 * ty + 1 < OH ? 2 : 1, cols = 2 * tx + 1 < OW ? 2 : 1;
        const float *s = dy + ((n * OH + 2 * ty) * OW + 2 * tx) * F;
        float *o = m + (t - base) * F;
        for (int64_t f = 0; f < F; f += 8) {
            __m256 d[2][2], r[4][2];
            for (int i = 0; i < 2; i++)
                for (int j = 0; j < 2; j++)
                    d[i][j] = (i < rows && j < cols) ? _mm256_loadu_ps(s + (i * OW + j) * F + f)
                                                     : zero;
            for (int j = 0; j < 2; j++) {  /* A (4x2) = [1 0; 1 1; 1 -1; 0 -1] */
                r[0][j] = d[0][j];
                r[1][j] = _mm256_add_ps(d[0][j], d[1][j]);
                r[2][j] = _mm256_sub_ps(d[0][j], d[1][j]);
                r[3][j] = _mm256_sub_ps(zero, d[1][j]);
            }
            for (int i = 0; i < 4; i++) {
                _mm256_storeu_ps(o + (4 * i + 0) * step + f, r[i][0]);
                _mm256_storeu_ps(o + (4 * i + 1) * step + f, _mm256_add_ps(r[i][0], r[i][1]));
                _mm256_storeu_ps(o + (4 * i + 2) * step + f, _mm256_sub_ps(r[i][0], r[i][1]));
                _mm256_storeu_ps(o + (4 * i + 3) * step + f, _mm256_sub_ps(zero, r[i][1]));
            }
        }
    }
    return 0;
}
/* geometry as winograd_input_f32's. dx (N, H, W, C) += B dv B^T of each tile t's
   dv (dv[k * step + (t - base) * C + c], k = 4 i + j) at the tile's 4x4 input block
   (the adjoint of winograd_input_f32; entries outside the image are dropped). Tiles
   overlap: callers give one thread whole images. Tiles [t0, t1) only. */
int winograd_input_adjoint_f32(const float *restrict dv, float *restrict dx, const int64_t *g,
                               int64_t t0, int64_t t1, int64_t base) {
    const int64_t H = g[1], W = g[2], C = g[3], TH = g[4], TW = g[5];
    const int64_t pt = g[6], pl = g[7], step = g[8];
    for (int64_t t = t0; t < t1; t++) {
        const int64_t n = t / (TH * TW), ty = (t / TW) % TH, tx = t % TW;
        const float *s = dv + (t - base) * C;
        for (int64_t c = 0; c < C; c += 8) {
            __m256 q[4][4], r[4][4];
            for (int k = 0; k < 16; k++) q[k / 4][k % 4] = _mm256_loadu_ps(s + k * step + c);
            for (int j = 0; j < 4; j++) {  /* B = (B^T)^T on the rows */
                r[0][j] = q[0][j];
                r[1][j] = _mm256_add_ps(_mm256_sub_ps(q[1][j], q[2][j]), q[3][j]);
                r[2][j] = _mm256_sub_ps(_mm256_add_ps(q[1][j], q[2][j]), q[0][j]);
                r[3][j] = _mm256_sub_ps(_mm256_setzero_ps(), q[3][j]);
            }
            for (int i = 0; i < 4; i++) {  /* and on the columns */
                const int64_t y = 2 * ty - pt + i;
                if (y < 0 || y >= H) continue;
                const __m256 d[4] = {
                    r[i][0],
                    _mm256_add_ps(_mm256_sub_ps(r[i][1], r[i][2]), r[i][3]),
                    _mm256_sub_ps(_mm256_add_ps(r[i][1], r[i][2]), r[i][0]),
                    _mm256_sub_ps(_mm256_setzero_ps(), r[i][3]),
                };
                for (int j = 0; j < 4; j++) {
                    const int64_t x = 2 * tx - pl + j;
                    if (x < 0 || x >= W) continue;
                    float *o = dx + ((n * H + y) * W + x) * C + c;
                    _mm256_storeu_ps(o, _mm256_add_ps(_mm256_loadu_ps(o), d[j]));
                }
            }
        }
    }
    return 0;
}

/* The three products whole, chunk after chunk, in one call (no return to Python between
   a chunk's transforms and its 16 products): `gemm` is CBLAS's sgemm (row-major, 64-bit
   integers; see cblas.py). Tiles [t0, t1) in chunks of `chunk`; v and m hold one
   chunk's transformed stacks (16 matrices `step` floats apart, per the geometries). */
typedef void (*nv_sgemm)(int, int, int, int64_t, int64_t, int64_t, float, const float *,
                         int64_t, const float *, int64_t, float, float *, int64_t);
enum { NV_ROW_MAJOR = 101, NV_NO_TRANS = 111, NV_TRANS = 112 };

/* y = the product: per chunk, v = B^T d B, m_k = v_k @ u_k (u: 16 x C x F), y = A^T m A. */
int winograd_product_run_f32(const float *x, float *v, const float *u, float *m, float *y,
                             const int64_t *gi, const int64_t *go, int64_t t0, int64_t t1,
                             int64_t chunk, const void *gemm_address) {
    const nv_sgemm gemm = (nv_sgemm)gemm_address;
    const int64_t C = gi[3], F = go[3], vstep = gi[8], mstep = go[6];
    for (int64_t start = t0; start < t1; start += chunk) {
        const int64_t stop = start + chunk < t1 ? start + chunk : t1, rows = stop - start;
        if (winograd_input_f32(x, v, gi, start, stop, start)) return 1;
        for (int k = 0; k < 16; k++)
            gemm(NV_ROW_MAJOR, NV_NO_TRANS, NV_NO_TRANS, rows, F, C, 1.0f, v + k * vstep, C,
                 u + k * C * F, F, 0.0f, m + k * mstep, F);
        winograd_output_f32(m, y, go, start, stop, start);
    }
    return 0;
}

/* du (16 x C x F) = the sum over the chunks, in order, of v_k^T @ (A g A^T)_k. */
int winograd_kernel_gradient_run_f32(const float *x, float *v, const float *g, float *m,
                                     float *du, const int64_t *gi, const int64_t *go,
                                     int64_t t0, int64_t t1, int64_t chunk,
                                     const void *gemm_address) {
    const nv_sgemm gemm = (nv_sgemm)gemm_address;
    const int64_t C = gi[3], F = go[3], vstep = gi[8], mstep = go[6];
    for (int64_t start = t0; start < t1; start += chunk) {
        const int64_t stop = start + chunk < t1 ? start + chunk : t1, rows = stop - start;
        if (winograd_input_f32(x, v, gi, start, stop, start)) return 1;
        winograd_gradient_f32(g, m, go, start, stop, start);
        const float beta = start == t0 ? 0.0f : 1.0f;
        for (int k = 0; k < 16; k++)
            gemm(NV_ROW_MAJOR, NV_TRANS, NV_NO_TRANS, C, F, rows, 1.0f, v + k * vstep, C,
                 m + k * mstep, F, beta, du + k * C * F, F);
    }
    return 0;
}

/* dx += the input gradient: per chunk, m = A a A^T, v_k = m_k @ u_t_k (u_t: 16 x F x C),
   dx += B v B^T at each tile's block (whole images per call: blocks overlap). */
int winograd_input_gradient_run_f32(const float *a, float *m, const float *u_t, float *v,
                                    float *dx, const int64_t *gi, const int64_t *go,
                                    int64_t t0, int64_t t1, int64_t chunk,
                                    const void *gemm_address) {
    const nv_sgemm gemm = (nv_sgemm)gemm_address;
    const int64_t C = gi[3], F = go[3], vstep = gi[8], mstep = go[6];
    for (int64_t start = t0; start < t1; start += chunk) {
        const int64_t stop = start + chunk < t1 ? start + chunk : t1, rows = stop - start;
        winograd_gradient_f32(a, m, go, start, stop, start);
        for (int k = 0; k < 16; k++)
            gemm(NV_ROW_MAJOR, NV_NO_TRANS, NV_NO_TRANS, rows, C, F, 1.0f, m + k * mstep, F,
                 u_t + k * F * C, C, 0.0f, v + k * vstep, C);
        winograd_input_adjoint_f32(v, dx, gi, start, stop, start);
    }
    return 0;
}
#else
int winograd_ready(void) { return 0; }
#endif
"""


@functools.cache
def _functions() -> tuple[Callable, Callable, Callable, Callable] | None:
    """The input, output, output-gradient and input-adjoint transforms, or ``None``."""
    library = toolchain.load(SOURCE)
    if library is None or not library.winograd_ready():
        return None
    names = (
        "winograd_input_f32",
        "winograd_output_f32",
        "winograd_gradient_f32",
        "winograd_input_adjoint_f32",
    )
    functions = tuple(getattr(library, name) for name in names)
    for function in functions:
        function.restype = ctypes.c_int
        function.argtypes = [ctypes.c_void_p] * 3 + [ctypes.c_int64] * 3
    return functions


@functools.cache
def _runs() -> tuple[Callable, Callable, Callable] | None:
    """The product, kernel gradient and input gradient run whole in C, chunk after
    chunk, with NumPy's OpenBLAS ``sgemm`` called from there (``cblas``), or ``None``
    (no such ``sgemm``: each chunk's products then run through NumPy)."""
    if _functions() is None or cblas.sgemm_address() is None:
        return None
    library = toolchain.load(SOURCE)
    names = (
        "winograd_product_run_f32",
        "winograd_kernel_gradient_run_f32",
        "winograd_input_gradient_run_f32",
    )
    functions = tuple(getattr(library, name) for name in names)
    for function in functions:
        function.restype = ctypes.c_int
        function.argtypes = [ctypes.c_void_p] * 7 + [ctypes.c_int64] * 3 + [ctypes.c_void_p]
    return functions


def _stack(tiles: int, columns: int) -> np.ndarray:
    """An empty ``(16, tiles, columns)`` float32 stack whose matrices lie
    ``tiles * columns + STACK_GAP`` floats apart. Why: the transforms stream through
    all 16 at once, and at a distance that is a multiple of 4 KiB (6x6 tiles of 128
    images: 4608 x 32 floats) the 16 streams fall on the same L1 sets and evict each
    other (the output transform took 9.6 ms instead of ~1.5)."""
    step = tiles * columns + STACK_GAP
    flat = np.empty(16 * step, dtype=np.float32)
    return np.lib.stride_tricks.as_strided(
        flat, (16, tiles, columns), (4 * step, 4 * columns, 4), writeable=True
    )


def takes(
    x_shape: tuple, dtype: str | np.dtype, b_shape: tuple, window, strides, dilation, padding
) -> bool:
    """Whether ``patches_product`` runs these operands (``x`` of ``x_shape``, both of
    ``dtype``, a name or a NumPy dtype: the arrays' own, compared without ``dtype.name``,
    which NumPy computes in Python; ``b`` of ``b_shape``) as a Winograd product: see the
    module docstring."""
    if (
        dtype != "float32"
        or len(x_shape) != 4
        or len(b_shape) != 2
        or tuple(window) != (3, 3)
        or tuple(strides) != (1, 1)
        or tuple(dilation) != (1, 1)
    ):
        return False
    batch, height, width, channels = x_shape
    filters = b_shape[1]
    out_h = height + padding[0][0] + padding[0][1] - 2
    out_w = width + padding[1][0] + padding[1][1] - 2
    return (
        b_shape[0] == 9 * channels
        and min(channels, filters) >= MIN_CHANNELS
        and channels % 8 == 0
        and filters % 8 == 0
        and min(out_h, out_w) >= 1
        and batch * out_h * out_w * 9 * channels * filters >= MIN_WORK
        and _functions() is not None
    )


class _Tiling:
    """The tiles of one call: 2x2 output blocks of a ``(N, H, W, C)`` image under a 3x3
    window at stride 1 with ``padding``, the geometry the C transforms take, and the
    chunks the tiles go through."""

    def __init__(self, x_shape: tuple, padding, filters: int) -> None:
        self.batch, self.height, self.width, self.channels = x_shape
        self.filters = filters
        self.out_h = self.height + padding[0][0] + padding[0][1] - 2
        self.out_w = self.width + padding[1][0] + padding[1][1] - 2
        self.tiles_h, self.tiles_w = -(-self.out_h // 2), -(-self.out_w // 2)
        self.tiles = self.batch * self.tiles_h * self.tiles_w
        # Inside a compiled run holding several cores (``threads.hold``: OpenBLAS on
        # one thread) the chunks are shared out among them, each thread with stacks of
        # its own. A chunk is then whole images: the input gradient adds each tile's
        # 4x4 block into the image, and neighbouring tiles' blocks overlap. With
        # several BLAS threads and no hold the tiles go through in one chunk and BLAS
        # threads the 16 products (chunks on Python threads lost there: OpenBLAS's
        # idle threads spin after each threaded call, on the cores they need).
        self.workers = threads.held()
        if self.workers > 1:
            per_image = self.tiles_h * self.tiles_w
            self.chunk = min(max(1, CHUNK_TILES // per_image) * per_image, self.tiles)
        elif threads.blas_threads() == 1:
            self.chunk = min(CHUNK_TILES, self.tiles)
        else:
            self.chunk = self.tiles
        self.pads = (padding[0][0], padding[1][0])

    def geometries(self, v: np.ndarray, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The C transforms' geometry of the image side (into ``v``) and of the output
        side (from or into ``m``)."""
        image = (self.batch, self.height, self.width, self.channels, self.tiles_h,
                 self.tiles_w, *self.pads, v.strides[0] // 4)  # fmt: skip
        output = (self.batch, self.out_h, self.out_w, self.filters, self.tiles_h,
                  self.tiles_w, m.strides[0] // 4)  # fmt: skip
        return np.array(image, dtype=np.int64), np.array(output, dtype=np.int64)

    def run(self, work: Callable[[int, int, np.ndarray, np.ndarray], Any], whole: bool) -> list:
        """``work(start, stop, v, m)`` over the tiles, with a transformed image stack
        ``v`` and a product stack ``m`` of ``self.chunk`` tiles per thread; the results
        of every call, in order. Each call gets one chunk, or with ``whole`` (``work``
        runs chunk after chunk itself) a run of whole chunks: all of them on one
        thread, else ``threads.PARTS_PER_THREAD`` runs per thread."""
        chunks = -(-self.tiles // self.chunk)
        workers = min(self.workers, chunks)
        bounds = (
            threads.cuts(chunks, workers) if whole and workers > 1
            else [0, chunks] if whole else range(chunks + 1)
        )  # fmt: skip
        spans = [(lo * self.chunk, min(hi * self.chunk, self.tiles))
                 for lo, hi in zip(bounds, bounds[1:])]  # fmt: skip
        free = [(_stack(self.chunk, self.channels), _stack(self.chunk, self.filters))
                for _ in range(workers)]  # fmt: skip
        if workers == 1:
            v, m = free[0]
            return [work(start, stop, v, m) for start, stop in spans]
        results: list = [None] * len(spans)

        def part(j: int, start: int, stop: int) -> Callable[[], None]:
            def run() -> None:
                v, m = free.pop()  # at most ``workers`` parts run at once
                try:
                    results[j] = work(start, stop, v, m)
                finally:
                    free.append((v, m))

            return run

        threads.run_split([part(j, *span) for j, span in enumerate(spans)], workers)
        return results


#: ``G (x) G`` (16 x 9): ``U = G w G^T`` of every 3x3 tap grid at once, as one product
#: with the taps flattened (``U[4 i + j] = sum G[i, k] G[j, l] w[3 k + l]``).
_KERNEL_TRANSFORM_2D = np.kron(KERNEL_TRANSFORM, KERNEL_TRANSFORM)


def _transformed_kernel(w: np.ndarray) -> np.ndarray:
    """``G w G^T`` of a ``(3, 3, C, F)`` kernel: ``(16, C, F)``, summed in float64 (one
    product with ``G (x) G``: two tensordots and their transposes took ~70 us a call
    for the MNIST convnet's kernel, three calls a training step)."""
    taps = w.reshape(9, -1).astype(np.float64)
    u = (_KERNEL_TRANSFORM_2D @ taps).astype(np.float32)
    return u.reshape(16, *w.shape[2:])


def _kernel_from_transformed(du: np.ndarray) -> np.ndarray:
    """``G^T du G`` of a ``(16, C, F)`` stack: the ``(9 * C, F)`` kernel it came from's
    adjoint (the kernel gradient), summed in float64."""
    taps = _KERNEL_TRANSFORM_2D.T @ du.reshape(16, -1).astype(np.float64)
    return taps.astype(np.float32).reshape(-1, du.shape[-1])


def _check(status: int) -> None:
    if status:
        raise MemoryError("winograd: no memory for a row of zeros")


def patches_product(
    x: np.ndarray, b: np.ndarray, window, strides, dilation, padding
) -> np.ndarray | None:
    """``reshape(extract_patches(x), (rows, 9 * C)) @ b`` for a channels-last image
    ``x`` ``(N, H, W, C)`` and ``b`` ``(9 * C, F)`` (rows ``(N, OH, OW)``, columns
    ``(3, 3, C)``, zero padding), or ``None`` where this product does not take the
    operands (see the module docstring)."""
    if b.dtype != x.dtype or not takes(
        x.shape, x.dtype, b.shape, window, strides, dilation, padding
    ):
        return None
    tiling = _Tiling(x.shape, padding, b.shape[1])
    u = _transformed_kernel(b.reshape(3, 3, tiling.channels, tiling.filters))
    x = np.ascontiguousarray(x)
    y = np.empty((tiling.batch, tiling.out_h, tiling.out_w, tiling.filters), dtype=np.float32)
    forward, backward, _, _ = _functions()  # type: ignore[misc]
    runs, address = _runs(), binding.address

    def work(start: int, stop: int, v: np.ndarray, m: np.ndarray) -> None:
        image, output = tiling.geometries(v, m)
        if runs is not None:
            _check(runs[0](address(x), address(v), address(u), address(m), address(y),
                           address(image), address(output), start, stop, tiling.chunk,
                           cblas.sgemm_address()))  # fmt: skip
            return
        _check(forward(address(x), address(v), address(image), start, stop, start))
        np.matmul(v[:, : stop - start], u, out=m[:, : stop - start])
        backward(address(m), address(y), address(output), start, stop, start)

    tiling.run(work, whole=runs is not None)
    return y.reshape(-1, tiling.filters)


def transposed_patches_product(
    x: np.ndarray, g: np.ndarray, window, strides, dilation, padding
) -> np.ndarray | None:
    """``reshape(extract_patches(x), (rows, 9 * C)).T @ g`` (a convolution's kernel
    gradient) for ``x`` ``(N, H, W, C)`` and ``g`` ``(rows, F)``: ``(9 * C, F)``, or
    ``None`` where the Winograd product does not take the operands. The adjoint of
    ``patches_product`` in its kernel: ``G^T (sum over tiles of V^T (A g A^T)) G``."""
    columns = 9 * x.shape[-1] if x.ndim == 4 else -1
    if (
        g.dtype != x.dtype
        or g.ndim != 2
        or not takes(x.shape, x.dtype, (columns, g.shape[1]), window, strides, dilation, padding)
    ):
        return None
    tiling = _Tiling(x.shape, padding, g.shape[1])
    if g.shape[0] != tiling.batch * tiling.out_h * tiling.out_w:
        return None
    x, g = np.ascontiguousarray(x), np.ascontiguousarray(g)
    forward, _, gradient, _ = _functions()  # type: ignore[misc]
    runs, address = _runs(), binding.address

    def work(start: int, stop: int, v: np.ndarray, m: np.ndarray) -> np.ndarray:
        image, output = tiling.geometries(v, m)
        if runs is not None:
            du = np.empty((16, tiling.channels, tiling.filters), dtype=np.float32)
            _check(runs[1](address(x), address(v), address(g), address(m), address(du),
                           address(image), address(output), start, stop, tiling.chunk,
                           cblas.sgemm_address()))  # fmt: skip
            return du
        _check(forward(address(x), address(v), address(image), start, stop, start))
        gradient(address(g), address(m), address(output), start, stop, start)
        return np.matmul(v[:, : stop - start].transpose(0, 2, 1), m[:, : stop - start])

    # The runs' sums added in order: the same bits at every call.
    return _kernel_from_transformed(sum(tiling.run(work, whole=runs is not None)))


def product_patches_transpose(
    a: np.ndarray, b: np.ndarray, spatial_shape, window, strides, dilation, padding
) -> np.ndarray | None:
    """``patches_transpose(reshape(a @ b))`` (a convolution's input gradient) for ``a``
    ``(N * OH * OW, F)`` and ``b`` ``(F, 9 * C)`` over an image of ``spatial_shape``:
    ``(N, H, W, C)``, or ``None`` where the Winograd product does not take the
    operands. The adjoint of ``patches_product`` in its image: each tile's ``A a A^T``
    times the transformed kernel, then ``B (.) B^T`` added back at the tile's input
    block."""
    if a.ndim != 2 or b.ndim != 2 or len(spatial_shape) != 2 or b.shape[1] % 9:
        return None
    channels, filters = b.shape[1] // 9, b.shape[0]
    rows = 1
    for size, (lo, hi) in zip(spatial_shape, padding):
        rows *= max(size + lo + hi - 2, 0)
    if not rows or a.shape[0] % rows or a.dtype != b.dtype or a.shape[1] != filters:
        return None
    x_shape = (a.shape[0] // rows, *spatial_shape, channels)
    if not takes(x_shape, a.dtype, (9 * channels, filters), window, strides, dilation,
                 padding):  # fmt: skip
        return None
    tiling = _Tiling(x_shape, padding, filters)
    # The kernel as (3, 3, C, F) taps; transformed, each position's (F, C) transpose.
    w = b.reshape(filters, 3, 3, channels).transpose(1, 2, 3, 0)
    u_t = np.ascontiguousarray(_transformed_kernel(w).transpose(0, 2, 1))
    a = np.ascontiguousarray(a)
    dx = np.zeros(x_shape, dtype=np.float32)
    _, _, gradient, adjoint = _functions()  # type: ignore[misc]
    runs, address = _runs(), binding.address

    def work(start: int, stop: int, v: np.ndarray, m: np.ndarray) -> None:
        image, output = tiling.geometries(v, m)
        if runs is not None:
            _check(runs[2](address(a), address(m), address(u_t), address(v), address(dx),
                           address(image), address(output), start, stop, tiling.chunk,
                           cblas.sgemm_address()))  # fmt: skip
            return
        gradient(address(a), address(m), address(output), start, stop, start)
        np.matmul(m[:, : stop - start], u_t, out=v[:, : stop - start])
        adjoint(address(v), address(dx), address(image), start, stop, start)

    tiling.run(work, whole=runs is not None)
    return dx
