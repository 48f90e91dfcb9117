"""Loops in C for short-time transforms: windowed framing, and the real and imaginary
parts of complex results.

The signal is viewed as ``(batch, n)``; ``frames`` writes ``out[b, t, k] =
x[b, t * stride + k] * window[k]`` (``x`` padded by reflection first): one pass
that writes each windowed frame once, reading a signal that stays in cache, where
NumPy pads with a concatenation and multiplies a strided view of overlapping frames.
``part`` copies the real or the imaginary part of a contiguous complex array out
(NumPy's strided copy of every other value is ~1.5x slower on a spectrogram).
``rfft`` transforms the rows of a float32 array of a power-of-two length, 16 rows
at once in the 16 lanes of AVX-512 registers (see ``_RFFT``); only where the
compiler targets AVX-512.
Each is ``None`` when native kernels are off (see ``toolchain``): NumPy kernels
then run.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable

import numpy as np

from nerve.backend.numpy_backend.native import binding, codegen, toolchain

__all__ = ["frames_function", "part_function", "rfft_function"]

_TEMPLATE = r"""
#include <stdlib.h>
#include <string.h>

/* Frames of one signal row read from src (already padded): the hot loop. */
static void frames_rows_{T}(const {C} *src, const {C} *window, {C} *out, int64_t count,
                            int64_t length, int64_t stride) {
    for (int64_t t = 0; t < count; t++) {
        const {C} *from = src + t * stride;
        {C} *dst = out + t * length;
        NV_IVDEP
        for (int64_t k = 0; k < length; k++) dst[k] = from[k] * window[k];
    }
}

/* Returns nonzero when the padded row could not be allocated. */
int frames_{T}(const void *x_array, const void *window_array, void *out_array,
               int64_t batch, int64_t n, int64_t count, int64_t length, int64_t stride,
               int64_t pad) {
    const {C} *x = (const {C} *)NV_DATA(x_array);
    const {C} *window = (const {C} *)NV_DATA(window_array);
    {C} *out = ({C} *)NV_DATA(out_array);
    if (pad == 0) {
        for (int64_t b = 0; b < batch; b++)
            frames_rows_{T}(x + b * n, window, out + b * count * length, count, length,
                            stride);
        return 0;
    }
    /* Reflection (NumPy's "reflect", pad < n): each row mirrored into a scratch row. */
    {C} *row = ({C} *)malloc((size_t)(n + 2 * pad) * sizeof({C}));
    if (row == NULL) return 1;
    for (int64_t b = 0; b < batch; b++) {
        const {C} *signal = x + b * n;
        for (int64_t i = 0; i < pad; i++) {
            row[i] = signal[pad - i];
            row[pad + n + i] = signal[n - 2 - i];
        }
        memcpy(row + pad, signal, (size_t)n * sizeof({C}));
        frames_rows_{T}(row, window, out + b * count * length, count, length, stride);
    }
    free(row);
    return 0;
}
"""

_PARTS = r"""
void part_{T}(const void *z_array, void *out_array, int64_t n, int64_t which) {
    const {C} *z = (const {C} *)NV_DATA(z_array) + which;
    {C} *out = ({C} *)NV_DATA(out_array);
    for (int64_t i = 0; i < n; i++) out[i] = z[2 * i];
}
"""

#: The real FFT of float32 rows of n = 2m samples (m a power of two), 16 rows at a
#: time, one per lane of a 512-bit register. A row's transform is the complex FFT of
#: z_j = x_2j + i x_2j+1 (m points), untangled into X_0..X_m. Per block of rows:
#: gather the samples into lane-major order (element j of row v at j * 16 + v),
#: bit-reversed so that the transform runs in place; radix-2 decimation in time, two
#: stages per pass over the block (a block of a 512-point transform is 32 KiB, so it
#: stays in L1 where a two-buffer Stockham transform spilled to L2 and ran 4x slower);
#: untangle into a second block as (re, im) pairs; gather each row's real and
#: imaginary parts into two float32 arrays. pocketfft (SciPy), vectorized over 4 rows
#: with SSE, takes 66 us for the 101 frames of 512 samples of a second of speech, and
#: copying the parts out of its complex result 10 more; this 50 us. The arithmetic is
#: the textbook radix-2 butterfly in twiddles rounded from float64: errors match
#: pocketfft's (~1.5e-7 of the largest value at 512 points).
_RFFT = r"""
#ifdef __AVX512F__
#include <immintrin.h>
#define RF_V 16

/* In-place DIT of m points (a power of two) on 16 lanes; input bit-reversed. The
   twiddle of a stage of size L at j is W_L^j = cs[j n / L] - i sn[j n / L]. */
static void rfft_lanes(float *restrict re, float *restrict im, const float *cs,
                       const float *sn, int64_t m, int64_t n) {
    int64_t stages = 0, len = 1;
    for (int64_t k = m; k > 1; k /= 2) stages++;
    if (stages % 2) { /* one radix-2 stage of size 2 (twiddle 1) first */
        for (int64_t g = 0; g < m; g += 2) {
            float *ar = re + g * RF_V, *ai = im + g * RF_V, *br = ar + RF_V, *bi = ai + RF_V;
            NV_IVDEP
            for (int v = 0; v < RF_V; v++) {
                float xr = ar[v], xi = ai[v], yr = br[v], yi = bi[v];
                ar[v] = xr + yr; ai[v] = xi + yi; br[v] = xr - yr; bi[v] = xi - yi;
            }
        }
        len = 2;
    }
    /* Stages of size 2 len (twiddle a) then 4 len (twiddle b; b W_4len^len = -i b). */
    for (; len < m; len *= 4) {
        int64_t half = 2 * len, step_a = n / (2 * len), step_b = n / (4 * len);
        for (int64_t g = 0; g < m; g += 4 * len) {
            for (int64_t j = 0; j < len; j++) {
                const float ar = cs[j * step_a], ai = -sn[j * step_a];
                const float br = cs[j * step_b], bi = -sn[j * step_b];
                float *p0r = re + (g + j) * RF_V, *p0i = im + (g + j) * RF_V;
                float *p1r = p0r + len * RF_V, *p1i = p0i + len * RF_V;
                float *p2r = p0r + half * RF_V, *p2i = p0i + half * RF_V;
                float *p3r = p2r + len * RF_V, *p3i = p2i + len * RF_V;
                NV_IVDEP
                for (int v = 0; v < RF_V; v++) {
                    float t1r = p1r[v] * ar - p1i[v] * ai, t1i = p1r[v] * ai + p1i[v] * ar;
                    float t3r = p3r[v] * ar - p3i[v] * ai, t3i = p3r[v] * ai + p3i[v] * ar;
                    float a0r = p0r[v] + t1r, a0i = p0i[v] + t1i;
                    float a1r = p0r[v] - t1r, a1i = p0i[v] - t1i;
                    float a2r = p2r[v] + t3r, a2i = p2i[v] + t3i;
                    float a3r = p2r[v] - t3r, a3i = p2i[v] - t3i;
                    float u2r = a2r * br - a2i * bi, u2i = a2r * bi + a2i * br;
                    float u3r = a3r * bi + a3i * br, u3i = a3i * bi - a3r * br;
                    p0r[v] = a0r + u2r; p0i[v] = a0i + u2i;
                    p2r[v] = a0r - u2r; p2i[v] = a0i - u2i;
                    p1r[v] = a1r + u3r; p1i[v] = a1i + u3i;
                    p3r[v] = a1r - u3r; p3i[v] = a1i - u3i;
                }
            }
        }
    }
}

/* X_k = E_k + W_n^k O_k from Z (lane-major, m points) into x, where
   E_k = (Z_k + conj Z_m-k) / 2 and O_k = (Z_k - conj Z_m-k) / 2i; x holds X_k of lane v
   as the pair x[(k * 16 + v) * 2], x[... + 1], as complex64 does. */
static void rfft_untangle(const float *restrict zr, const float *restrict zi,
                          float *restrict x, const float *cs, const float *sn, int64_t m) {
    for (int v = 0; v < RF_V; v++) {
        x[2 * v] = zr[v] + zi[v]; x[2 * v + 1] = 0.0f;
        x[2 * (m * RF_V + v)] = zr[v] - zi[v]; x[2 * (m * RF_V + v) + 1] = 0.0f;
    }
    for (int64_t k = 1; k < m; k++) {
        const float wr = cs[k], wi = -sn[k];
        const float *pr = zr + k * RF_V, *pi = zi + k * RF_V;
        const float *qr = zr + (m - k) * RF_V, *qi = zi + (m - k) * RF_V;
        float *o = x + 2 * k * RF_V;
        NV_IVDEP
        for (int v = 0; v < RF_V; v++) {
            float er = (pr[v] + qr[v]) * 0.5f, ei = (pi[v] - qi[v]) * 0.5f;
            float odd_r = (pi[v] + qi[v]) * 0.5f, odd_i = (qr[v] - pr[v]) * 0.5f;
            o[2 * v] = er + (wr * odd_r - wi * odd_i);
            o[2 * v + 1] = ei + (wr * odd_i + wi * odd_r);
        }
    }
}

/* The real and imaginary parts of each lane's X_0..X_m (pairs as rfft_untangle wrote
   them) into rows of re and im, 16 values a gather. */
static void rfft_parts_out(const float *pairs, float *re, float *im, int64_t lanes,
                           int64_t m) {
    const __m512i by_k = _mm512_set_epi32(15 * 2 * RF_V, 14 * 2 * RF_V, 13 * 2 * RF_V,
        12 * 2 * RF_V, 11 * 2 * RF_V, 10 * 2 * RF_V, 9 * 2 * RF_V, 8 * 2 * RF_V,
        7 * 2 * RF_V, 6 * 2 * RF_V, 5 * 2 * RF_V, 4 * 2 * RF_V, 3 * 2 * RF_V, 2 * 2 * RF_V,
        2 * RF_V, 0);
    for (int64_t v = 0; v < lanes; v++) {
        float *re_row = re + v * (m + 1), *im_row = im + v * (m + 1);
        const float *lane = pairs + 2 * v;
        int64_t k = 0;
        for (; k + 16 <= m + 1; k += 16) {
            const float *at = lane + 2 * k * RF_V;
            _mm512_storeu_ps(re_row + k, _mm512_i32gather_ps(by_k, at, 4));
            _mm512_storeu_ps(im_row + k, _mm512_i32gather_ps(by_k, at + 1, 4));
        }
        for (; k <= m; k++) {
            re_row[k] = lane[2 * k * RF_V];
            im_row[k] = lane[2 * k * RF_V + 1];
        }
    }
}

/* The real and imaginary parts (float32 rows of m + 1) of the transforms of x's rows;
   returns nonzero when the scratch blocks could not be allocated. Samples move as
   (even, odd) pairs, one 64-bit element each: 8 pairs a gather took 10-15% less
   time than 16 floats a gather for each half. */
int rfft_float32(const void *x_array, void *real_array, void *imag_array,
                 const void *cs_array, const void *sn_array, const void *rev_array,
                 int64_t rows, int64_t n) {
    const float *x = (const float *)NV_DATA(x_array);
    float *real = (float *)NV_DATA(real_array);
    float *imag = (float *)NV_DATA(imag_array);
    const float *cs = (const float *)NV_DATA(cs_array);
    const float *sn = (const float *)NV_DATA(sn_array);
    const int32_t *rev = (const int32_t *)NV_DATA(rev_array);
    int64_t m = n / 2, block = (m + 1) * RF_V;
    char *memory = (char *)malloc((size_t)(4 * block) * sizeof(float) + 64);
    if (memory == NULL) return 1;
    float *zr = (float *)(memory + (64 - (uintptr_t)memory % 64));
    float *zi = zr + block, *pairs = zi + block;
    const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6,
                                          4, 2, 0);
    const __m512i odd = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7,
                                         5, 3, 1);
    for (int64_t r0 = 0; r0 < rows; r0 += RF_V) {
        int64_t lanes = rows - r0 < RF_V ? rows - r0 : RF_V;
        int32_t offsets[RF_V];  /* lanes past the last row repeat it; never stored */
        for (int v = 0; v < RF_V; v++) offsets[v] = (int32_t)((v < lanes ? v : lanes - 1) * n);
        const __m256i low_rows = _mm256_loadu_si256((const void *)offsets);
        const __m256i high_rows = _mm256_loadu_si256((const void *)(offsets + 8));
        const float *rows_x = x + r0 * n;
        for (int64_t j = 0; j < m; j++) {
            const double *at = (const double *)(rows_x + 2 * j);
            __m512 a = _mm512_castpd_ps(_mm512_i32gather_pd(low_rows, at, 4));
            __m512 b = _mm512_castpd_ps(_mm512_i32gather_pd(high_rows, at, 4));
            _mm512_store_ps(zr + rev[j] * RF_V, _mm512_permutex2var_ps(a, even, b));
            _mm512_store_ps(zi + rev[j] * RF_V, _mm512_permutex2var_ps(a, odd, b));
        }
        rfft_lanes(zr, zi, cs, sn, m, n);
        rfft_untangle(zr, zi, pairs, cs, sn, m);
        rfft_parts_out(pairs, real + r0 * (m + 1), imag + r0 * (m + 1), lanes, m);
    }
    free(memory);
    return 0;
}
int rfft_available(void) { return 1; }
#else
int rfft_float32(const void *x_array, void *real_array, void *imag_array,
                 const void *cs_array, const void *sn_array, const void *rev_array,
                 int64_t rows, int64_t n) {
    return 1;
}
int rfft_available(void) { return 0; }
#endif
"""

_TYPES = {"float32": "float", "float64": "double"}
_COMPLEX = {"complex64": "float32", "complex128": "float64"}
SOURCE = codegen.library_source(
    [
        template.replace("{T}", name).replace("{C}", c_type)
        for template in (_TEMPLATE, _PARTS)
        for name, c_type in _TYPES.items()
    ]
    + [_RFFT],
    toolchain.DATA_OFFSET,
)


@functools.cache
def _functions() -> dict | None:
    """The C functions by (loop, NumPy dtype), or ``None`` without a compiler."""
    library = toolchain.load(SOURCE)
    if library is None:
        return None
    if not binding.reads_data_pointers(library):
        return None
    table = {}
    for name in _TYPES:
        function = getattr(library, f"frames_{name}")
        function.restype = ctypes.c_int
        function.argtypes = [ctypes.py_object] * 3 + [ctypes.c_int64] * 6
        table["frames", np.dtype(name)] = function
    for name, real in _COMPLEX.items():
        function = getattr(library, f"part_{real}")
        function.restype = None
        function.argtypes = [ctypes.py_object] * 2 + [ctypes.c_int64] * 2
        table["part", np.dtype(name)] = (function, np.dtype(real))
    library.rfft_available.restype = ctypes.c_int
    if library.rfft_available():
        function = library.rfft_float32
        function.restype = ctypes.c_int
        function.argtypes = [ctypes.py_object] * 6 + [ctypes.c_int64] * 2
        table["rfft", np.dtype("float32")] = function
    return table


def frames_function() -> Callable | None:
    """``frames(x, window, count, stride, pad)`` running the C loop (the signal padded by
    ``pad`` mirrored samples at both ends first), or ``None`` without it.
    It takes contiguous arrays of one dtype and answers ``None`` for a dtype it has no
    loop for (float32 and float64 have one).
    Arrays are passed as objects whose data pointer the C code reads: a call costs
    ~1 us, where ``ndarray.ctypes.data`` costs several per array."""
    table = _functions()
    if table is None:
        return None

    def frames(
        x: np.ndarray, window: np.ndarray, count: int, stride: int, pad: int
    ) -> np.ndarray | None:
        function = table.get(("frames", x.dtype))
        if function is None:
            return None
        length = window.shape[0]
        n = x.shape[-1]
        out = np.empty((*x.shape[:-1], count, length), dtype=x.dtype)
        if function(x, window, out, x.size // n if n else 0, n, count, length, stride, pad):
            raise MemoryError(f"frames: no memory for a padded row of {n + 2 * pad} samples.")
        return out

    return frames


def part_function() -> Callable | None:
    """``part(z, imaginary)``: the real (or imaginary) part of a contiguous complex
    array, copied, running the C loop; ``None`` without it. It answers ``None`` for a
    dtype it has no loop for (complex64 and complex128 have one)."""
    table = _functions()
    if table is None:
        return None

    def part(z: np.ndarray, imaginary: bool) -> np.ndarray | None:
        entry = table.get(("part", z.dtype))
        if entry is None:
            return None
        function, real = entry
        out = np.empty(z.shape, dtype=real)
        function(z, out, z.size, 1 if imaginary else 0)
        return out

    return part


#: The lengths ``rfft`` takes: powers of two from 128 to 512, where it beat pocketfft
#: (1.3-1.6x at 101-200 rows). Shorter rows run as fast on pocketfft; from 1024 on, a
#: block of 16 rows (64 KiB) outgrows the L1 cache and the two took the same time.
RFFT_LENGTHS = frozenset(2**k for k in range(7, 10))
#: Fewer rows than this leave most of a block's 16 lanes idle: pocketfft runs.
RFFT_MIN_ROWS = 16


@functools.lru_cache(maxsize=16)
def _rfft_tables(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """cos and sin of 2 pi k / n for k < n / 2 (rounded from float64), and the
    bit reversal of the n / 2 complex points."""
    m = n // 2
    angles = 2 * np.pi * np.arange(m) / n
    bits = m.bit_length() - 1
    rev = np.zeros(m, dtype=np.int32)
    for bit in range(bits):
        rev |= ((np.arange(m) >> bit) & 1).astype(np.int32) << (bits - 1 - bit)
    return np.cos(angles).astype(np.float32), np.sin(angles).astype(np.float32), rev


def rfft_function() -> Callable | None:
    """``rfft(x)``: the real FFT along the last axis of ``x`` running the C loop, as
    two float32 arrays (the real and imaginary parts), or ``None`` without the loop (no
    compiler, or one that does not target AVX-512). It answers ``None`` for what it has
    no loop for: not a contiguous float32 array, a length outside ``RFFT_LENGTHS``,
    fewer than ``RFFT_MIN_ROWS`` rows."""
    table = _functions()
    function = None if table is None else table.get(("rfft", np.dtype("float32")))
    if function is None:
        return None

    def rfft(x: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        n = x.shape[-1] if x.ndim else 0
        rows = x.size // n if n else 0
        if (
            x.dtype != np.float32
            or n not in RFFT_LENGTHS
            or rows < RFFT_MIN_ROWS
            or not x.flags.c_contiguous
        ):
            return None
        cos, sin, rev = _rfft_tables(n)
        shape = (*x.shape[:-1], n // 2 + 1)
        real, imag = np.empty(shape, dtype=np.float32), np.empty(shape, dtype=np.float32)
        if function(x, real, imag, cos, sin, rev, rows, n):
            raise MemoryError(f"rfft: no memory for the scratch blocks of {n}-point rows.")
        return real, imag

    return rfft
