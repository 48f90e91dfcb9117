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
compiler targets AVX-512; ``stft`` runs the same loop on frames it reads from the
padded signal, windowing them as it loads them (the frames are never written: on the
Xeon, a second of speech's 101 frames of 512 took ~9 us to write and read back).
Both share their blocks of 16 frames with a C worker thread (``split``) where nerve's
loops may use two cores (``threads.cores``), taking the same bits as on one thread.
Each is ``None`` when native kernels are off (see ``toolchain``): NumPy kernels
then run.

Measured on the 2-vCPU Xeon (101 rows of 512, the C loop alone, best of 3000 calls,
variants alternating; the host's speed swings): the radix-2 loop before this one
(gathers of 8 (even, odd) pairs in, pairs of radix-2 stages, untangling into (re, im)
pairs, gathers of 16 floats out) 45-60 us; the transposed radix-4 loop 30-38 us; with
aligned stores 28.6 against 31.2. Its phases (each removed in turn, before aligned
stores): loading ~7.5 us, passes ~8.3, untangling ~3.7, storing ~12, ~7 of it the
bandwidth of writing 200 KB (NumPy fills such an array in ~7 us here) and ~5 the
cache lines split by rows of 257 floats. Python's part: ~2 us of the wrapper, ~5 of
``ops.stft``'s dispatch. Tried and dropped:

* transposes whose first two steps are 128-bit loads and inserts (half the port-5
  shuffles): ~10% slower (a row pointer per lane costs register moves);
* aligned output through a buffer of the previous vectors and two-source permutes
  (33 us: the vectors spilled) or through an aligned scratch and ``memcpy`` (37 us);
* sharing blocks with a second thread helps little here: the worker took 2-3 of the
  7 blocks with the host quiet, ~10-15% off the call, not the ~40% of two cores (the
  loop is bound by shuffles and multiply-adds; the two vCPUs behave like siblings of
  one core), and nothing under load, where it backs off (``split``); it is kept, as
  it costs nothing measurable then;
* the last radix-4 pass and the untangling in one sweep (the butterflies of j and
  L - j hold four (k, m - k) pairs; the same bits): 35.0 against 35.1 us, no gain
  (the block is in L1: the pass saved was not the cost);
* not tried: skipping the frames' zero-window samples (a NaN or inf there must still
  poison the frame), radix-8 passes (the radix-4 ones are near the multiply-add
  bound), a last partial block on 8 lanes (1 block in 7 at 101 frames).
"""

from __future__ import annotations

import ctypes
import functools
import time
from collections.abc import Callable

import numpy as np

from nerve.backend.numpy_backend.native import binding, codegen, split, threads, toolchain

__all__ = [
    "allow_back_off",
    "frames_function",
    "part_function",
    "rfft_function",
    "stft_function",
    "worker_chunks",
]

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
#: load 16 samples of each row and transpose the 16x16 square in registers (column s
#: of the square is sample s of the 16 rows), storing the columns in lane-major order
#: (point j of row v at j * 16 + v), bit-reversed, so that the transform runs in
#: place; radix-4 decimation in time (the block, 16 KiB per part at 512 points, stays
#: in L1); untangle X_k and X_m-k from Z_k and Z_m-k in place; transpose 16 by 16
#: back into rows of the real and imaginary parts, stored by aligned masked halves.
#: The loop is compiled once per length (128, 256, 512): with the length a constant,
#: the compiler unrolls the short passes (~15% less time than one loop for every
#: length). The frames may also be read from a signal, frame t at t * stride, times a
#: window: the short-time transform without writing the frames (``stft``). The
#: arithmetic is radix-4 butterflies with fused multiply-adds in twiddles rounded
#: from float64: errors match pocketfft's (~1e-7 of the largest value at 512 points).
#: See the module's docstring for what was measured and what was tried.
_RFFT = r"""
#ifdef __AVX512F__
#include <immintrin.h>
#define RF_V 16
#define RF_INLINE static inline __attribute__((always_inline))

/* 16x16 transpose of r[0..15] in place: lane j of r[i] ends in lane i of
   r[RF_AT(j)] (unpacks inside 128-bit lanes, then 128-bit lane shuffles: 64 shuffles
   where 16-float gathers took ~3x longer). */
#define RF_AT(j) (((j) & ~3) | (((j) & 1) << 1) | (((j) >> 1) & 1))
RF_INLINE void rf_transpose(__m512 r[16]) {
    __m512 t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        for (int k = 0; k < 2; k++) {
            __m512d a = _mm512_castps_pd(t[i + k]), b = _mm512_castps_pd(t[i + k + 2]);
            r[i + k] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, b));
            r[i + k + 2] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, b));
        }
    }
    for (int i = 0; i < 16; i += 8) {
        for (int k = 0; k < 4; k++) {
            t[i + k] = _mm512_shuffle_f32x4(r[i + k], r[i + k + 4], 0x88);
            t[i + k + 4] = _mm512_shuffle_f32x4(r[i + k], r[i + k + 4], 0xdd);
        }
    }
    for (int k = 0; k < 8; k++) {
        r[k] = _mm512_shuffle_f32x4(t[k], t[k + 8], 0x88);
        r[k + 8] = _mm512_shuffle_f32x4(t[k], t[k + 8], 0xdd);
    }
}

/* (ar + i ai)(wr + i wi) */
RF_INLINE void rf_mul(__m512 ar, __m512 ai, __m512 wr, __m512 wi, __m512 *re, __m512 *im) {
    *re = _mm512_fmsub_ps(ar, wr, _mm512_mul_ps(ai, wi));
    *im = _mm512_fmadd_ps(ar, wi, _mm512_mul_ps(ai, wr));
}

/* The samples of 16 rows (row v at src + v * stride; lanes past `lanes` repeat the
   last row), times window[j] where window is not NULL, as the points
   z_j = x_2j + i x_2j+1 of each lane, bit-reversed: point j of lane v at
   zr[rev[j] * 16 + v], zi[...]. */
RF_INLINE void rf_load(const float *src, int64_t stride, int64_t lanes, const float *window,
                       float *restrict zr, float *restrict zi, const int32_t *rev,
                       int64_t n) {
    const float *row[RF_V];
    for (int v = 0; v < RF_V; v++) row[v] = src + (v < lanes ? v : lanes - 1) * stride;
    for (int64_t c = 0; c < n; c += 16) {
        __m512 r[16];
        if (window != NULL) {
            const __m512 w = _mm512_loadu_ps(window + c);
            for (int v = 0; v < RF_V; v++) r[v] = _mm512_mul_ps(_mm512_loadu_ps(row[v] + c), w);
        } else {
            for (int v = 0; v < RF_V; v++) r[v] = _mm512_loadu_ps(row[v] + c);
        }
        rf_transpose(r);
        const int32_t *to = rev + c / 2;
        for (int i = 0; i < 8; i++) {
            _mm512_store_ps(zr + to[i] * RF_V, r[RF_AT(2 * i)]);
            _mm512_store_ps(zi + to[i] * RF_V, r[RF_AT(2 * i + 1)]);
        }
    }
}

/* The radix-4 butterfly of points p, p + L, p + 2L, p + 3L: in decimation in time
   from bit-reversed order they hold the transforms of the points of residue 0, 2, 1
   and 3 (mod 4) of a group of 4L; (w1, w2, w3) = (W^j, W^2j, W^3j), W = W_4L. With
   b = w1 B, c = w2 C, d = w3 D: X_j = A + c + b + d, X_j+2L = A + c - b - d,
   X_j+L = A - c - i (b - d), X_j+3L = A - c + i (b - d). */
RF_INLINE void rf_butterfly(float *p0r, float *p0i, int64_t L, int twiddled,
                            const __m512 w[6]) {
    __m512 ar = _mm512_load_ps(p0r), ai = _mm512_load_ps(p0i);
    __m512 cr = _mm512_load_ps(p0r + L * RF_V), ci = _mm512_load_ps(p0i + L * RF_V);
    __m512 br = _mm512_load_ps(p0r + 2 * L * RF_V), bi = _mm512_load_ps(p0i + 2 * L * RF_V);
    __m512 dr = _mm512_load_ps(p0r + 3 * L * RF_V), di = _mm512_load_ps(p0i + 3 * L * RF_V);
    if (twiddled) {
        rf_mul(cr, ci, w[2], w[3], &cr, &ci);
        rf_mul(br, bi, w[0], w[1], &br, &bi);
        rf_mul(dr, di, w[4], w[5], &dr, &di);
    }
    __m512 s0r = _mm512_add_ps(ar, cr), s0i = _mm512_add_ps(ai, ci);
    __m512 s1r = _mm512_sub_ps(ar, cr), s1i = _mm512_sub_ps(ai, ci);
    __m512 s2r = _mm512_add_ps(br, dr), s2i = _mm512_add_ps(bi, di);
    __m512 s3r = _mm512_sub_ps(br, dr), s3i = _mm512_sub_ps(bi, di);
    _mm512_store_ps(p0r, _mm512_add_ps(s0r, s2r));
    _mm512_store_ps(p0i, _mm512_add_ps(s0i, s2i));
    _mm512_store_ps(p0r + 2 * L * RF_V, _mm512_sub_ps(s0r, s2r));
    _mm512_store_ps(p0i + 2 * L * RF_V, _mm512_sub_ps(s0i, s2i));
    _mm512_store_ps(p0r + L * RF_V, _mm512_add_ps(s1r, s3i));
    _mm512_store_ps(p0i + L * RF_V, _mm512_sub_ps(s1i, s3r));
    _mm512_store_ps(p0r + 3 * L * RF_V, _mm512_sub_ps(s1r, s3i));
    _mm512_store_ps(p0i + 3 * L * RF_V, _mm512_add_ps(s1i, s3r));
}

/* The complex FFT of m points per lane, in place, from bit-reversed order: a radix-2
   pass of adjacent points first when log2(m) is odd, else a radix-4 pass without
   twiddles, then radix-4 passes (L = 2 or 4, 4L, ...; tw + 6 (L + j) holds pass L's
   W^j, W^2j, W^3j as (re, im) pairs), twiddles outer so that they stay in registers. */
RF_INLINE void rf_lanes(float *restrict zr, float *restrict zi, int64_t m, const float *tw) {
    int64_t stages = 0, L;
    for (int64_t k = m; k > 1; k /= 2) stages++;
    if (stages % 2) {
        for (int64_t g = 0; g < m; g += 2) {
            float *ar = zr + g * RF_V, *ai = zi + g * RF_V;
            __m512 xr = _mm512_load_ps(ar), xi = _mm512_load_ps(ai);
            __m512 yr = _mm512_load_ps(ar + RF_V), yi = _mm512_load_ps(ai + RF_V);
            _mm512_store_ps(ar, _mm512_add_ps(xr, yr));
            _mm512_store_ps(ai, _mm512_add_ps(xi, yi));
            _mm512_store_ps(ar + RF_V, _mm512_sub_ps(xr, yr));
            _mm512_store_ps(ai + RF_V, _mm512_sub_ps(xi, yi));
        }
        L = 2;
    } else {
        const __m512 none[6] = {0};
        for (int64_t g = 0; g < m; g += 4)
            rf_butterfly(zr + g * RF_V, zi + g * RF_V, 1, 0, none);
        L = 4;
    }
    for (; L < m; L *= 4) {
        for (int64_t j = 0; j < L; j++) {
            __m512 w[6];
            for (int q = 0; q < 6; q++) w[q] = _mm512_set1_ps(tw[6 * (L + j) + q]);
            for (int64_t g = j; g < m; g += 4 * L)
                rf_butterfly(zr + g * RF_V, zi + g * RF_V, L, 1, w);
        }
    }
}

/* X_k = E_k + W_n^k O_k from Z (m points per lane) in place, k = 0..m (slot m is the
   block's spare), with E_k = (Z_k + conj Z_m-k) / 2 and O_k = (Z_k - conj Z_m-k) / 2i;
   k and m - k together, as X_m-k = conj(E_k - W_n^k O_k). wn holds W_n^k as (re, im). */
RF_INLINE void rf_untangle(float *restrict zr, float *restrict zi, const float *wn,
                           int64_t m) {
    const __m512 half = _mm512_set1_ps(0.5f);
    __m512 r = _mm512_load_ps(zr), i = _mm512_load_ps(zi);
    _mm512_store_ps(zr, _mm512_add_ps(r, i));
    _mm512_store_ps(zi, _mm512_setzero_ps());
    _mm512_store_ps(zr + m * RF_V, _mm512_sub_ps(r, i));
    _mm512_store_ps(zi + m * RF_V, _mm512_setzero_ps());
    for (int64_t k = 1; k <= m / 2; k++) {
        const __m512 wr = _mm512_set1_ps(wn[2 * k]), wi = _mm512_set1_ps(wn[2 * k + 1]);
        float *pr = zr + k * RF_V, *pi = zi + k * RF_V;
        float *qr = zr + (m - k) * RF_V, *qi = zi + (m - k) * RF_V;
        __m512 Pr = _mm512_load_ps(pr), Pi = _mm512_load_ps(pi);
        __m512 Qr = _mm512_load_ps(qr), Qi = _mm512_load_ps(qi);
        __m512 er = _mm512_mul_ps(_mm512_add_ps(Pr, Qr), half);
        __m512 ei = _mm512_mul_ps(_mm512_sub_ps(Pi, Qi), half);
        __m512 odd_r = _mm512_mul_ps(_mm512_add_ps(Pi, Qi), half);
        __m512 odd_i = _mm512_mul_ps(_mm512_sub_ps(Qr, Pr), half);
        __m512 tr, ti;
        rf_mul(odd_r, odd_i, wr, wi, &tr, &ti);
        _mm512_store_ps(qr, _mm512_sub_ps(er, tr));
        _mm512_store_ps(qi, _mm512_sub_ps(ti, ei));
        _mm512_store_ps(pr, _mm512_add_ps(er, tr));
        _mm512_store_ps(pi, _mm512_add_ps(ei, ti));
    }
}

/* Lane v's X_0..X_m (lane-major in xr, xi) into row v of re and im (rows of m + 1),
   16 frequencies a step, by stores aligned to 64 bytes: rows of m + 1 floats start
   anywhere in a cache line, and 16 frequencies stored as one vector mostly split two
   lines (their stores took ~20% of the whole loop's time more than aligned ones).
   Each vector is rotated by the row's offset e to the next line (lane j holds
   frequency k + (j + e) mod 16) and stored as two masked halves: lanes below 16 - e
   into the line at k + e, the others into the line before (for k = 0 the line
   holding the row's first e values, shared with the row above: lanes outside the
   row are masked off). */
RF_INLINE void rf_store(const float *xr, const float *xi, float *re, float *im,
                        int64_t lanes, int64_t m) {
    const __m512i iota = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    for (int part = 0; part < 2; part++) {
        const float *from = part ? xi : xr;
        float *to = part ? im : re;
        __m512i turn[RF_V];
        __mmask16 low[RF_V], high[RF_V];
        float *start[RF_V];
        for (int v = 0; v < RF_V; v++) {
            int offset = (int)(((uintptr_t)(to + v * (m + 1)) / sizeof(float)) % 16);
            int e = (16 - offset) % 16;
            turn[v] = _mm512_and_si512(_mm512_add_epi32(iota, _mm512_set1_epi32(e)),
                                       _mm512_set1_epi32(15));
            low[v] = (__mmask16)((1u << (16 - e)) - 1);
            high[v] = (__mmask16)~low[v];
            start[v] = to + v * (m + 1) + e;
        }
        for (int64_t k = 0; k < m; k += 16) {
            __m512 r[16];
            for (int i = 0; i < 16; i++) r[i] = _mm512_load_ps(from + (k + i) * RF_V);
            rf_transpose(r);
#define RF_PUT(v)                                                                        \
            {                                                                            \
                __m512 turned = _mm512_permutexvar_ps(turn[v], r[RF_AT(v)]);             \
                _mm512_mask_store_ps(start[v] + k, low[v], turned);                      \
                _mm512_mask_store_ps(start[v] + k - 16, high[v], turned);                \
            }
            if (lanes == RF_V) { /* unrolled: r stays in registers */
                RF_PUT(0) RF_PUT(1) RF_PUT(2) RF_PUT(3) RF_PUT(4) RF_PUT(5) RF_PUT(6)
                RF_PUT(7) RF_PUT(8) RF_PUT(9) RF_PUT(10) RF_PUT(11) RF_PUT(12) RF_PUT(13)
                RF_PUT(14) RF_PUT(15)
            } else {
                for (int v = 0; v < lanes; v++) RF_PUT(v)
            }
#undef RF_PUT
        }
        for (int v = 0; v < lanes; v++) to[v * (m + 1) + m] = from[m * RF_V + v];
    }
}

/* Rows [r0, r1) of the transform: row r read at src + r * stride. */
RF_INLINE void rf_rows(const float *src, int64_t stride, const float *window, float *real,
                       float *imag, float *zr, float *zi, const float *tables,
                       const int32_t *rev, int64_t r0, int64_t r1, int64_t n) {
    const int64_t m = n / 2;
    for (; r0 < r1; r0 += RF_V) {
        int64_t lanes = r1 - r0 < RF_V ? r1 - r0 : RF_V;
        rf_load(src + r0 * stride, stride, lanes, window, zr, zi, rev, n);
        rf_lanes(zr, zi, m, tables + 2 * m);
        rf_untangle(zr, zi, tables, m);
        rf_store(zr, zi, real + r0 * (m + 1), imag + r0 * (m + 1), lanes, m);
    }
}

typedef void (*rf_rows_fn)(const float *, int64_t, const float *, float *, float *,
                           float *, float *, const float *, const int32_t *, int64_t,
                           int64_t);
#define RF_FIXED(N)                                                                      \
    static void rf_rows_##N(const float *src, int64_t stride, const float *window,       \
                            float *real, float *imag, float *zr, float *zi,              \
                            const float *tables, const int32_t *rev, int64_t r0,         \
                            int64_t r1) {                                                \
        rf_rows(src, stride, window, real, imag, zr, zi, tables, rev, r0, r1, N);        \
    }
RF_FIXED(128)
RF_FIXED(256)
RF_FIXED(512)

static rf_rows_fn rf_rows_for(int64_t n) {
    return n == 512 ? rf_rows_512 : n == 256 ? rf_rows_256 : n == 128 ? rf_rows_128 : 0;
}

/* One short-time transform: frames t < count of each signal (src + b * span), frame
   t at t * stride, times the window where not NULL; chunk c is block c % blocks of
   signal c / blocks; the caller's thread and the worker each have a scratch block. */
struct rf_job {
    rf_rows_fn fn;
    const float *src, *window, *tables;
    const int32_t *rev;
    float *real, *imag, *scratch[2];
    int64_t span, stride, count, blocks, n;
};

static void rf_chunk(const void *context, int64_t chunk, int worker) {
    const struct rf_job *job = context;
    int64_t b = chunk / job->blocks, r0 = chunk % job->blocks * RF_V;
    int64_t r1 = r0 + RF_V < job->count ? r0 + RF_V : job->count;
    int64_t spectrum = job->count * (job->n / 2 + 1);
    float *zr = job->scratch[worker];
    job->fn(job->src + b * job->span, job->stride, job->window, job->real + b * spectrum,
            job->imag + b * spectrum, zr, zr + (job->n / 2 + 1) * RF_V, job->tables,
            job->rev, r0, r1);
}

/* The real and imaginary parts (float32 rows of n / 2 + 1) of the transforms of the
   frames of `batch` signals of `samples` samples: each padded by `pad` mirrored
   samples at both ends (NumPy's "reflect", pad < samples) into a scratch row, then
   frames t < count at t * stride, times the window of n samples where `windowed`;
   tables as _rfft_tables makes them. Rows of a matrix are the frames of one signal
   with stride n. With `split`, blocks of 16 frames are shared with the worker thread
   (see split.py) unless it declines. Returns nonzero for a length without a loop or
   when the scratch could not be allocated. */
int rfft_frames_float32(const void *x_array, const void *window_array, void *real_array,
                        void *imag_array, const void *tables_array, const void *rev_array,
                        int64_t batch, int64_t samples, int64_t count, int64_t n,
                        int64_t stride, int64_t pad, int64_t windowed, int64_t split) {
    rf_rows_fn fn = rf_rows_for(n);
    if (fn == 0) return 1;
    int64_t block = 2 * (n / 2 + 1) * RF_V, span = samples + 2 * pad;
    size_t floats = (size_t)(2 * block + (pad ? batch * span : 0));
    char *memory = (char *)malloc(floats * sizeof(float) + 64);
    if (memory == NULL) return 1;
    float *scratch = (float *)(memory + (64 - (uintptr_t)memory % 64));
    const float *x = (const float *)NV_DATA(x_array);
    if (pad) {
        float *rows = scratch + 2 * block;
        for (int64_t b = 0; b < batch; b++) {
            const float *signal = x + b * samples;
            float *row = rows + b * span;
            for (int64_t i = 0; i < pad; i++) {
                row[i] = signal[pad - i];
                row[pad + samples + i] = signal[samples - 2 - i];
            }
            memcpy(row + pad, signal, (size_t)samples * sizeof(float));
        }
        x = rows;
    }
    struct rf_job job = {
        fn, x, windowed ? (const float *)NV_DATA(window_array) : NULL,
        (const float *)NV_DATA(tables_array), (const int32_t *)NV_DATA(rev_array),
        (float *)NV_DATA(real_array), (float *)NV_DATA(imag_array),
        {scratch, scratch + block}, span, stride, count, (count + RF_V - 1) / RF_V, n};
    int64_t chunks = batch * job.blocks;
    if (!split || !split_run(rf_chunk, &job, chunks))
        for (int64_t c = 0; c < chunks; c++) rf_chunk(&job, c, 0);
    free(memory);
    return 0;
}
int rfft_available(void) { return 1; }
#else
int rfft_frames_float32(const void *x_array, const void *window_array, void *real_array,
                        void *imag_array, const void *tables_array, const void *rev_array,
                        int64_t batch, int64_t samples, int64_t count, int64_t n,
                        int64_t stride, int64_t pad, int64_t windowed, int64_t split) {
    return 1;
}
int rfft_available(void) { return 0; }
#endif
"""

_TYPES = {"float32": "float", "float64": "double"}
_COMPLEX = {"complex64": "float32", "complex128": "float64"}
SOURCE = "#define _POSIX_C_SOURCE 200809L\n" + codegen.library_source(  # clock_gettime
    [
        template.replace("{T}", name).replace("{C}", c_type)
        for template in (_TEMPLATE, _PARTS)
        for name, c_type in _TYPES.items()
    ]
    + ["#ifdef __AVX512F__\n" + split.runtime_source("spectral") + "#endif\n", _RFFT],
    toolchain.DATA_OFFSET,
)


@functools.cache
def _functions() -> dict | None:
    """The C functions by (loop, NumPy dtype), or ``None`` without a compiler."""
    library = binding.load_reading_objects(SOURCE)
    if library is None:
        return None
    table: dict = {}  # (loop, dtype) -> function, and "split" -> the runtime's controls
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
        function = library.rfft_frames_float32
        function.restype = ctypes.c_int
        function.argtypes = [ctypes.py_object] * 6 + [ctypes.c_int64] * 8
        table["rfft", np.dtype("float32")] = function
        table["split"] = split.Controls(library, "spectral")  # reset in a forked child
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
#: (with its parts copied out: 87 against 37 us at 101 rows of 512, 88 against 31 at
#: 200 of 256, 25 against 10 at 101 of 128, 9.4 against 5.7 at 32 of 128). With the
#: radix-2 loop before it, shorter rows ran as fast on pocketfft, and from 1024 on a
#: block of 16 rows outgrew the L1 cache and the two took the same time (not measured
#: again with this loop, which compiles only these three lengths).
RFFT_LENGTHS = frozenset(2**k for k in range(7, 10))
#: Fewer rows than this leave most of a block's 16 lanes idle: pocketfft runs.
RFFT_MIN_ROWS = 16


@functools.lru_cache(maxsize=16)
def _rfft_tables(n: int) -> tuple[np.ndarray, np.ndarray]:
    """The C loop's twiddles (float32, rounded from float64) and the bit reversal of
    the n / 2 complex points. Twiddles: W_n^k = exp(-2 pi i k / n) for k < n / 2 as
    (re, im) pairs (the untangling), then from offset n, at 6 (L + j) for each radix-4
    pass over groups of 4L, j < L: W^j, W^2j, W^3j with W = W_4L (unused slots 0)."""
    m = n // 2
    untangle = np.exp(-2j * np.pi * np.arange(m) / n)
    passes = np.zeros((m, 3), dtype=np.complex128)
    size = 1
    while size < m:
        j = np.arange(size)
        passes[size : 2 * size] = np.exp(-2j * np.pi * np.outer(j, (1, 2, 3)) / (4 * size))
        size *= 2
    tables = np.concatenate([untangle.view(np.float64), passes.reshape(-1).view(np.float64)])
    bits = m.bit_length() - 1
    rev = np.zeros(m, dtype=np.int32)
    for bit in range(bits):
        rev |= ((np.arange(m) >> bit) & 1).astype(np.int32) << (bits - 1 - bit)
    return tables.astype(np.float32), rev


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
        tables, rev = _rfft_tables(n)
        shape = (*x.shape[:-1], n // 2 + 1)
        real, imag = np.empty(shape, dtype=np.float32), np.empty(shape, dtype=np.float32)
        if function(x, x, real, imag, tables, rev, 1, rows * n, rows, n, n, 0, 0, _split()):
            raise MemoryError(f"rfft: no memory for the scratch blocks of {n}-point rows.")
        return real, imag

    return rfft


def stft_function() -> Callable | None:
    """``stft(x, window, stride, pad)``: the real and imaginary parts of the rfft of the
    windowed frames of ``x``'s last axis (what ``frames`` then ``rfft`` give, the frames
    never written), running the C loop, or ``None`` without it (as ``rfft_function``).
    It answers ``None`` for what it has no loop for: not contiguous float32 arrays, a
    window's length outside ``RFFT_LENGTHS``, fewer than ``RFFT_MIN_ROWS`` frames per
    signal, or a reflection as long as the signal.

    >>> stft = stft_function()
    >>> x, window = np.linspace(-1, 1, 3000, dtype=np.float32), np.hanning(128).astype("f")
    >>> if stft is not None:  # the same bits as the frames' transform
    ...     re, im = stft(x, window, 100, 64)
    ...     frames = frames_function()(x, window, 31, 100, 64)
    ...     assert all(map(np.array_equal, (re, im), rfft_function()(frames)))
    """
    table = _functions()
    function = None if table is None else table.get(("rfft", np.dtype("float32")))
    if function is None:
        return None

    def stft(
        x: np.ndarray, window: np.ndarray, stride: int, pad: int
    ) -> tuple[np.ndarray, np.ndarray] | None:
        n = window.shape[0]
        samples = x.shape[-1] if x.ndim else 0
        if (
            x.dtype != np.float32
            or window.dtype != np.float32
            or n not in RFFT_LENGTHS
            or not (x.flags.c_contiguous and window.flags.c_contiguous)
            or stride <= 0
            or not 0 <= pad < samples
            or samples + 2 * pad < n
        ):
            return None
        count = 1 + (samples + 2 * pad - n) // stride
        if count < RFFT_MIN_ROWS:
            return None
        tables, rev = _rfft_tables(n)
        shape = (*x.shape[:-1], count, n // 2 + 1)
        real, imag = np.empty(shape, dtype=np.float32), np.empty(shape, dtype=np.float32)
        batch = x.size // samples
        shape_args = (batch, samples, count, n, stride, pad)
        if function(x, window, real, imag, tables, rev, *shape_args, 1, _split()):
            raise MemoryError(f"stft: no memory for the scratch of {n}-point frames.")
        return real, imag

    return stft


def allow_back_off(allowed: bool) -> None:
    """For tests: let split transforms back off (the default) or not, and end a
    back-off (see ``split``).

    >>> allow_back_off(True)
    """
    table = _functions()
    if table is not None and "split" in table:
        table["split"].allow_back_off(allowed)


def worker_chunks() -> int:
    """How many blocks of 16 frames the worker thread transformed in this process.

    >>> worker_chunks() >= 0
    True
    """
    table = _functions()
    return table["split"].worker_chunks() if table is not None and "split" in table else 0


def _split() -> int:
    """Whether a transform may share its blocks with the worker thread: where nerve's
    loops may use two cores or more (``threads.cores``: OpenBLAS's thread count, or
    the cores a compiled run holds) and the split is not backing off (read first: it
    costs ~0.2 us where ``threads.cores`` costs 1-3)."""
    table = _functions()
    if table is None or time.monotonic_ns() < table["split"].resume_at.value:
        return 0
    return 1 if threads.cores() >= 2 else 0
