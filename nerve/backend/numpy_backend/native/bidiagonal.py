"""A C loop for the Householder bidiagonalization of float32 matrices (LAPACK's
``slabrd``, the panel step of ``sgebrd``), reading the trailing matrix once per column
where LAPACK reads it twice.

``sgebrd`` spends half its flops in two matrix-vector products per column, ``A^T u``
and then ``A v``, where the row reflector ``v`` is built from the first product's
result. The second needs ``v`` only through a scale and one fixed entry: ``v = s r +
(1 - s r_0) e_0``, where ``r`` (the updated row) is an affine function of ``A^T u``.
So one pass over the trailing columns computes, per column ``t``, ``y_t = A_t . u``,
then ``r_t`` from it, and adds ``r_t A_t`` to ``w = A r`` while the column is still in
L1; ``A v = s w + (1 - s r_0) A_0`` after the pass. Four columns go at a time (their
dot products share the loads of ``u``; their updates one load and store of ``w``),
with AVX-512 where the compiler targets it (plain C otherwise). Householder norms
are sums of squares in double, which hold any float32's square: no rescaling loops.

On the 2-vCPU Xeon (2026-12-06, one thread, 512x512): one pass over the whole matrix
takes 13 us where two of OpenBLAS's ``sgemv`` take 34 us (the matrix, 1 MB, sits in
L2: the products are bound by loads and arithmetic, not by memory); a whole
bidiagonalization, with the caller's trailing ``sgemm`` updates, 7-7.6 ms against 13
ms for ``sgebrd`` (12.7 against 17.2 ms when the VM was loaded). Tried: the same loops
in plain C with ``fmaf`` for GCC to vectorize ran 10% slower than without (11.5
against 10.3 ms), the intrinsics 25% faster; blocks of 24, 48 or 64 columns instead
of 32: 8.5, 9.3 and 9.9 against 8.6 ms.

``panel_function()`` is ``None`` when native kernels are off (see ``toolchain``).
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable

from nerve.backend.numpy_backend.native import binding, codegen, toolchain

__all__ = ["panel_function"]

#: Dot products and updates of four columns at a time (``ld`` apart).
_VECTORS = r"""
#include <stdlib.h>
#include <string.h>
#ifdef __AVX512F__
#include <immintrin.h>
static inline __mmask16 bd_mask(int64_t left) {
    return left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1u);
}
/* The four sums of c0..c3's lanes, into out[0..3]. */
static inline void bd_sum4(__m512 c0, __m512 c1, __m512 c2, __m512 c3, float *out) {
    const __m512 s01 = _mm512_add_ps(_mm512_unpacklo_ps(c0, c1), _mm512_unpackhi_ps(c0, c1));
    const __m512 s23 = _mm512_add_ps(_mm512_unpacklo_ps(c2, c3), _mm512_unpackhi_ps(c2, c3));
    const __m512d p01 = _mm512_castps_pd(s01), p23 = _mm512_castps_pd(s23);
    const __m512 s = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(p01, p23)),
                                   _mm512_castpd_ps(_mm512_unpackhi_pd(p01, p23)));
    const __m512d sd = _mm512_castps_pd(s);
    const __m256 h = _mm256_add_ps(_mm256_castpd_ps(_mm512_castpd512_pd256(sd)),
                                   _mm256_castpd_ps(_mm512_extractf64x4_pd(sd, 1)));
    _mm_storeu_ps(out, _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1)));
}
/* out[c] = sum_k a[c * ld + k] z[k] (k < len) and outx[c] = sum_k a[c * ld + k] zx[k]
   (k < lenx <= len) for c < 4. */
static void bd_dot4x(const float *a, int64_t ld, const float *z, int64_t len, const float *zx,
                     int64_t lenx, float *out, float *outx) {
    __m512 c0 = _mm512_setzero_ps(), c1 = c0, c2 = c0, c3 = c0;
    __m512 x0 = c0, x1 = c0, x2 = c0, x3 = c0;
    const float *a0 = a, *a1 = a + ld, *a2 = a + 2 * ld, *a3 = a + 3 * ld;
    int64_t k = 0;
    for (; k < lenx; k += 16) {
        const __mmask16 mk = bd_mask(len - k), mx = bd_mask(lenx - k);
        const __m512 zz = _mm512_maskz_loadu_ps(mk, z + k), xx = _mm512_maskz_loadu_ps(mx, zx + k);
        const __m512 v0 = _mm512_maskz_loadu_ps(mk, a0 + k), v1 = _mm512_maskz_loadu_ps(mk, a1 + k);
        const __m512 v2 = _mm512_maskz_loadu_ps(mk, a2 + k), v3 = _mm512_maskz_loadu_ps(mk, a3 + k);
        c0 = _mm512_fmadd_ps(v0, zz, c0); x0 = _mm512_fmadd_ps(v0, xx, x0);
        c1 = _mm512_fmadd_ps(v1, zz, c1); x1 = _mm512_fmadd_ps(v1, xx, x1);
        c2 = _mm512_fmadd_ps(v2, zz, c2); x2 = _mm512_fmadd_ps(v2, xx, x2);
        c3 = _mm512_fmadd_ps(v3, zz, c3); x3 = _mm512_fmadd_ps(v3, xx, x3);
    }
    for (; k < len; k += 16) {
        const __mmask16 mk = bd_mask(len - k);
        const __m512 zz = _mm512_maskz_loadu_ps(mk, z + k);
        c0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mk, a0 + k), zz, c0);
        c1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mk, a1 + k), zz, c1);
        c2 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mk, a2 + k), zz, c2);
        c3 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mk, a3 + k), zz, c3);
    }
    bd_sum4(c0, c1, c2, c3, out);
    bd_sum4(x0, x1, x2, x3, outx);
}
static void bd_dot4(const float *a, int64_t ld, const float *z, int64_t len, float *out) {
    __m512 c0 = _mm512_setzero_ps(), c1 = c0, c2 = c0, c3 = c0;
    const float *a0 = a, *a1 = a + ld, *a2 = a + 2 * ld, *a3 = a + 3 * ld;
    for (int64_t k = 0; k < len; k += 16) {
        const __mmask16 mk = bd_mask(len - k);
        const __m512 zz = _mm512_maskz_loadu_ps(mk, z + k);
        c0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mk, a0 + k), zz, c0);
        c1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mk, a1 + k), zz, c1);
        c2 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mk, a2 + k), zz, c2);
        c3 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mk, a3 + k), zz, c3);
    }
    bd_sum4(c0, c1, c2, c3, out);
}
static float bd_dot(const float *a, const float *z, int64_t len) {
    __m512 c0 = _mm512_setzero_ps(), c1 = c0;
    int64_t k = 0;
    for (; k + 32 <= len; k += 32) {
        c0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + k), _mm512_loadu_ps(z + k), c0);
        c1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + k + 16), _mm512_loadu_ps(z + k + 16), c1);
    }
    for (; k < len; k += 16) {
        const __mmask16 mk = bd_mask(len - k);
        const __m512 zz = _mm512_maskz_loadu_ps(mk, z + k);
        c0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mk, a + k), zz, c0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(c0, c1));
}
/* y[k] += sum_c s[c] a[c * ld + k] for c < 4. */
static void bd_axpy4(float *y, const float *a, int64_t ld, const float *s, int64_t len) {
    const __m512 s0 = _mm512_set1_ps(s[0]), s1 = _mm512_set1_ps(s[1]);
    const __m512 s2 = _mm512_set1_ps(s[2]), s3 = _mm512_set1_ps(s[3]);
    const float *a0 = a, *a1 = a + ld, *a2 = a + 2 * ld, *a3 = a + 3 * ld;
    for (int64_t k = 0; k < len; k += 16) {
        const __mmask16 mk = bd_mask(len - k);
        __m512 acc = _mm512_maskz_loadu_ps(mk, y + k);
        acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mk, a0 + k), s0, acc);
        acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mk, a1 + k), s1, acc);
        acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mk, a2 + k), s2, acc);
        acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mk, a3 + k), s3, acc);
        _mm512_mask_storeu_ps(y + k, mk, acc);
    }
}
static void bd_axpy(float *y, const float *a, float s, int64_t len) {
    const __m512 s0 = _mm512_set1_ps(s);
    for (int64_t k = 0; k < len; k += 16) {
        const __mmask16 mk = bd_mask(len - k);
        __m512 acc = _mm512_maskz_loadu_ps(mk, y + k);
        acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mk, a + k), s0, acc);
        _mm512_mask_storeu_ps(y + k, mk, acc);
    }
}
#else
static float bd_dot(const float *a, const float *z, int64_t len) {
    float acc[16] = {0};
    int64_t k = 0;
    for (; k + 16 <= len; k += 16)
        for (int l = 0; l < 16; l++) acc[l] += a[k + l] * z[k + l];
    for (int l = 0; k + l < len; l++) acc[l] += a[k + l] * z[k + l];
    for (int h = 8; h > 0; h /= 2)
        for (int l = 0; l < h; l++) acc[l] += acc[l + h];
    return acc[0];
}
static void bd_dot4(const float *a, int64_t ld, const float *z, int64_t len, float *out) {
    for (int c = 0; c < 4; c++) out[c] = bd_dot(a + c * ld, z, len);
}
static void bd_dot4x(const float *a, int64_t ld, const float *z, int64_t len, const float *zx,
                     int64_t lenx, float *out, float *outx) {
    for (int c = 0; c < 4; c++) {
        out[c] = bd_dot(a + c * ld, z, len);
        outx[c] = bd_dot(a + c * ld, zx, lenx);
    }
}
static void bd_axpy(float *restrict y, const float *restrict a, float s, int64_t len) {
    for (int64_t k = 0; k < len; k++) y[k] += s * a[k];
}
static void bd_axpy4(float *restrict y, const float *restrict a, int64_t ld, const float *s,
                     int64_t len) {
    const float *a0 = a, *a1 = a + ld, *a2 = a + 2 * ld, *a3 = a + 3 * ld;
    const float s0 = s[0], s1 = s[1], s2 = s[2], s3 = s[3];
    for (int64_t k = 0; k < len; k++) y[k] += (s0 * a0[k] + s1 * a1[k]) + (s2 * a2[k] + s3 * a3[k]);
}
#endif

/* out[j] = dot(a + j * ld, z, len) for j < count. */
static void bd_dots(const float *a, int64_t ld, const float *z, int64_t len, int64_t count,
                    float *out) {
    int64_t j = 0;
    for (; j + 4 <= count; j += 4) bd_dot4(a + j * ld, ld, z, len, out + j);
    for (; j < count; j++) out[j] = bd_dot(a + j * ld, z, len);
}
/* y += sum_j s[j] a[j * ld : j * ld + len] for j < count. */
static void bd_axpys(float *y, const float *a, int64_t ld, const float *s, int64_t len,
                     int64_t count) {
    int64_t j = 0;
    for (; j + 4 <= count; j += 4) bd_axpy4(y, a + j * ld, ld, s + j, len);
    for (; j < count; j++) bd_axpy(y, a + j * ld, s[j], len);
}
"""

#: One panel of LAPACK's ``slabrd`` for m >= n, column-major (see the module docstring).
_PANEL = r"""
/* Householder reflector H = I - tau [1 x][1 x]^T with H [alpha x] = [beta 0] (LAPACK's
   slarfg): x becomes the reflector's tail. Returns the scale x was multiplied by (1
   when x is zero: then tau = 0, H = I). */
static double house(float alpha, float *x, int64_t len, float *beta, float *tau) {
    double part[8] = {0};
    int64_t k = 0;
    for (; k + 8 <= len; k += 8)
        for (int l = 0; l < 8; l++) part[l] += (double)x[k + l] * (double)x[k + l];
    for (int l = 0; k + l < len; l++) part[l] += (double)x[k + l] * (double)x[k + l];
    const double ss = ((part[0] + part[4]) + (part[2] + part[6]))
                      + ((part[1] + part[5]) + (part[3] + part[7]));
    if (ss == 0.0) { *beta = alpha; *tau = 0.0f; return 1.0; }
    double a = alpha, b = -copysign(sqrt(a * a + ss), a);
    double scale = 1.0 / (a - b);
    for (k = 0; k < len; k++) x[k] = (float)(x[k] * scale);
    *beta = (float)b; *tau = (float)((b - a) / b);
    return scale;
}

/* The fused pass of step i over the trailing columns t = i+1..n-1 (all m rows of
   each, column-major with leading dimension lda): with z = [-ys2; u] (rows 0..i-1 and
   i..m-1) and xi = X(i, 0:i),
     Y(t, i) = tau_q (A_t . z - ya_t)            (slabrd's Y column: A^T u, corrected)
     r_t = A(i, t) - yb_t - Y(t, i) - A_t[0:i] . xi   (row i, updated)
     w += r_t A_t                                  (A r, for slabrd's X column)
   four columns at a time while they are in L1. */
static void fused_pass(const float *a, int64_t lda, int64_t m, int64_t n, int64_t i,
                       float tq, const float *z, const float *xi, const float *ya,
                       const float *yb, float *ycol, float *r, float *w) {
    memset(w, 0, (size_t)m * sizeof(float));
    for (int64_t t = i + 1; t < n; t += 4) {
        const int64_t count = n - t < 4 ? n - t : 4;
        const float *at = a + t * lda;
        float sy[4], sq[4] = {0, 0, 0, 0}, rr[4];
        if (count == 4) {
            bd_dot4x(at, lda, z, m, xi, i, sy, sq);
        } else {
            for (int c = 0; c < count; c++) {
                sy[c] = bd_dot(at + c * lda, z, m);
                sq[c] = i > 0 ? bd_dot(at + c * lda, xi, i) : 0.0f;
            }
        }
        for (int c = 0; c < count; c++) {
            const float y_new = tq * (sy[c] - ya[t + c]);
            ycol[t + c] = y_new;
            rr[c] = at[c * lda + i] - yb[t + c] - y_new - sq[c];
            r[t + c] = rr[c];
        }
        if (count == 4) bd_axpy4(w, at, lda, rr, m);
        else for (int c = 0; c < count; c++) bd_axpy(w, at + c * lda, rr[c], m);
    }
}

/* Returns nonzero when the scratch could not be allocated. */
int bidiagonal_panel_float32(void *a_obj, int64_t lda, int64_t m, int64_t n, int64_t nb,
                             void *d_obj, void *e_obj, void *tq_obj, void *tp_obj,
                             void *x_obj, void *y_obj) {
    float *a = (float *)NV_DATA(a_obj);
    float *d = (float *)NV_DATA(d_obj), *e = (float *)NV_DATA(e_obj);
    float *tauq = (float *)NV_DATA(tq_obj), *taup = (float *)NV_DATA(tp_obj);
    float *x = (float *)NV_DATA(x_obj), *y = (float *)NV_DATA(y_obj);
#define A(r, c) a[(r) + (c) * lda]
#define X(r, j) x[(r) + (j) * m]
#define Y(t, j) y[(t) + (j) * n]
    float *work = (float *)malloc((size_t)(2 * m + 4 * n + 8 * nb + 16) * sizeof(float));
    if (work == NULL) return 1;
    float *w = work, *z = w + m, *r = z + m, *ya = r + n, *yb = ya + n, *v = yb + n;
    float *s1 = v + n, *s2 = s1 + nb, *ys1 = s2 + nb, *ys2 = ys1 + nb, *xi = ys2 + nb;
    float *xt = xi + nb, *ai = xt + nb + 1;
    for (int64_t i = 0; i < nb; i++) {
        float *col = &A(0, i);
        const int64_t mi = m - i;
        /* Column i: A(i:m, i) -= A(i:m, 0:i) Y(i, 0:i)^T + X(i:m, 0:i) A(0:i, i). */
        for (int64_t j = 0; j < i; j++) { s1[j] = -Y(i, j); s2[j] = -col[j]; }
        bd_axpys(col + i, &A(i, 0), lda, s1, mi, i);
        bd_axpys(col + i, &X(i, 0), m, s2, mi, i);
        /* Its reflector u = A(i:m, i) (the one on the diagonal). */
        float beta, tq;
        house(col[i], col + i + 1, mi - 1, &beta, &tq);
        d[i] = beta; tauq[i] = tq; col[i] = 1.0f;
        float *ycol = &Y(0, i), *xcol = &X(0, i);
        memset(ycol, 0, (size_t)n * sizeof(float));
        memset(xcol, 0, (size_t)m * sizeof(float));
        if (i + 1 >= n) { taup[i] = 0.0f; continue; }
        const float *u = col + i;
        const int64_t nt = n - i - 1;
        /* The corrections of Y(:, i) and of row i that do not need the pass:
           ys1 = A(i:m, 0:i)^T u, ys2 = X(i:m, 0:i)^T u, ya = Y(:, 0:i) ys1,
           yb = Y(:, 0:i) A(i, 0:i)^T. */
        bd_dots(&A(i, 0), lda, u, mi, i, ys1);
        bd_dots(&X(i, 0), m, u, mi, i, ys2);
        for (int64_t j = 0; j < i; j++) { xi[j] = X(i, j); ai[j] = A(i, j); }
        memset(ya + i + 1, 0, (size_t)nt * sizeof(float));
        memset(yb + i + 1, 0, (size_t)nt * sizeof(float));
        bd_axpys(ya + i + 1, &Y(i + 1, 0), n, ys1, nt, i);
        bd_axpys(yb + i + 1, &Y(i + 1, 0), n, ai, nt, i);
        for (int64_t q = 0; q < i; q++) z[q] = -ys2[q];
        memcpy(z + i, u, (size_t)mi * sizeof(float));
        fused_pass(a, lda, m, n, i, tq, z, xi, ya, yb, ycol, r, w);
        /* Row i's reflector v = s r + (1 - s r_0) e_0, stored in row i. */
        const float r0 = r[i + 1];
        float ev, tp;
        const double s = house(r0, r + i + 2, nt - 1, &ev, &tp);
        e[i] = ev; taup[i] = tp;
        v[i + 1] = 1.0f;
        memcpy(v + i + 2, r + i + 2, (size_t)(nt - 1) * sizeof(float));
        for (int64_t t = i + 1; t < n; t++) A(i, t) = v[t];
        /* X(i+1:m, i) = tau_p (A v - A(:, 0:i+1) Y(:, 0:i+1)^T v - X(:, 0:i) A(0:i, :) v),
           where A v = s w + (1 - s r_0) A(:, i+1) from the pass. */
        const float sf = (float)s, delta = (float)(1.0 - s * r0);
        const float *anext = &A(0, i + 1);
        bd_dots(&Y(i + 1, 0), n, v + i + 1, nt, i + 1, xt);
        for (int64_t q = 0; q < i; q++) s2[q] = -(sf * w[q] + delta * anext[q]);
        for (int64_t q = i + 1; q < m; q++) xcol[q] = sf * w[q] + delta * anext[q];
        for (int64_t j = 0; j <= i; j++) xt[j] = -xt[j];
        bd_axpys(xcol + i + 1, &A(i + 1, 0), lda, xt, mi - 1, i + 1);
        bd_axpys(xcol + i + 1, &X(i + 1, 0), m, s2, mi - 1, i);
        for (int64_t q = i + 1; q < m; q++) xcol[q] *= tp;
    }
    free(work);
    return 0;
#undef A
#undef X
#undef Y
}
"""

SOURCE = codegen.library_source([_VECTORS, _PANEL], toolchain.DATA_OFFSET)


@functools.cache
def _panel() -> Callable | None:
    library = binding.load_reading_objects(SOURCE)
    if library is None:
        return None
    function = library.bidiagonal_panel_float32
    function.restype = ctypes.c_int
    function.argtypes = [ctypes.py_object] + [ctypes.c_int64] * 4 + [ctypes.py_object] * 6
    return function


def panel_function() -> Callable | None:
    """``panel(a, m, n, nb, d, e, tau_q, tau_p, x, y)``: reduce the first ``nb`` columns
    and rows of the column-major ``m x n`` matrix (m >= n) whose first element is
    ``a``'s, columns ``a.strides[0]`` bytes apart (a C-contiguous array seen
    transposed: ``a[j, i]`` is entry ``(i, j)``), as LAPACK's ``slabrd`` does:
    reflectors in place, the diagonal and superdiagonal into ``d`` and ``e``, the
    reflectors' scalars into ``tau_q`` and ``tau_p``, LAPACK's ``X`` and ``Y`` into
    ``x`` (``nb x m``) and ``y`` (``nb x n``), row ``j`` holding column ``j``; the
    ones of the reflectors stay on the diagonal and superdiagonal, as ``slabrd``
    leaves them for the trailing update ``A -= V Y^T + X U^T``. ``None`` without a
    compiler.

    >>> import numpy as np
    >>> panel = panel_function()
    >>> a = np.array([[3.0, 4.0], [0.0, 0.0]], dtype=np.float32)  # F = a^T: column (3, 4)
    >>> d, e, tq, tp = (np.zeros(2, np.float32) for _ in range(4))
    >>> x, y = np.zeros((1, 2), np.float32), np.zeros((1, 2), np.float32)
    >>> panel is None or (panel(a, 2, 2, 1, d, e, tq, tp, x, y), float(abs(d[0])))[1]
    5.0
    """
    function = _panel()
    if function is None:
        return None

    def panel(a, m, n, nb, d, e, tau_q, tau_p, x, y) -> None:
        if function(a, a.strides[0] // 4, m, n, nb, d, e, tau_q, tau_p, x, y):
            raise MemoryError(f"bidiagonal panel: no memory for scratch of {m}x{n}.")

    return panel
