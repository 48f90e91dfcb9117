/* vmath.h: elementwise exp, expm1, log, log1p, tanh and sigmoid for the C kernels that nerve
 * generates for fused elementwise loops, written so that gcc vectorizes those loops.
 *
 * Every function is `static inline` and has no loop, no table lookup and no call (no libm);
 * its only conditionals are bit-blend selects between values already computed.  A loop like
 *     for (int64_t e = lo; e < hi; e++) { float a = in0[e]; out0[e] = nv_tanhf(a); }
 * is vectorized by gcc 12 for AVX-512, AVX2 and SSE4.2 (double needs 64-bit integer compares,
 * so plain SSE2 leaves the double loops scalar).
 *
 * Compile assumptions (nerve passes gcc -O3 -march=native -std=c99 -fno-math-errno
 * -ffp-contract=off): IEEE semantics, NOT -ffast-math (refused below).  NaN must compare
 * false, inf must propagate, and the error-free steps (Cody-Waite, Fast2Sum, TwoSum, fma
 * residuals) must not be reassociated; contraction (-ffp-contract=fast) would be harmless.
 * NV_FMAF / NV_FMA are the hardware fused multiply-add where the target has one (__FMA__,
 * AArch64) and a*b+c otherwise: never a libm call, slightly less accurate (table below).
 * Round-to-nearest is assumed; floating-point exception flags are meaningless.
 *
 * API, T = float with the f suffix, double without:  T nv_exp[f](T), nv_expm1[f], nv_log[f],
 * nv_log1p[f], nv_tanh[f], nv_sigmoid[f]   (sigmoid(x) = 1 / (1 + exp(-x))).
 *
 * Max error in ULPs of the result type, measured on x86-64 with gcc 12: float over all 2^32
 * inputs against float64 NumPy; double over ~20M inputs per function (bit-pattern sweeps
 * plus randoms) against 80-bit long double NumPy.  tests/backend/test_vmath.py checks a
 * sample of the same kind against slightly looser bounds.
 *                    hardware fma        a*b+c fallback
 *                   float   double       float   double
 *        exp         0.99    0.98         0.95    0.94
 *        expm1       1.26    1.43         1.26    1.43
 *        log         0.95    0.83         0.97    0.83
 *        log1p       1.02    0.88         1.01    0.88
 *        tanh        2.34    1.76         1.51    2.38
 *        sigmoid     2.34    1.45         1.48    2.03
 * (float tanh and sigmoid with fma: 2.34 over a 3M-point sweep of [-12, 12] plus randoms,
 * after their final division dropped its correction step; see nvi_div_sumf.)
 * Denormal results (exp, sigmoid far left) are produced, not flushed; they are rounded
 * twice but stay within the table's bounds (in ULPs of the denormal spacing).  Special values as C99 Annex F: exp(-inf) = 0,
 * exp(inf) = inf, log(+-0) = -inf, log(x < 0) = NaN, log(inf) = inf, log1p(-1) = -inf,
 * expm1(-inf) = -1, tanh(+-inf) = +-1, sigmoid(-inf) = 0, sigmoid(inf) = 1; expm1, log1p and
 * tanh keep the sign of zero; NaN in, NaN out.
 */
#ifndef NERVE_VMATH_H
#define NERVE_VMATH_H

#ifdef __FAST_MATH__
#error "vmath.h needs IEEE semantics: compile without -ffast-math"
#endif

#include <math.h> /* INFINITY, NAN only */
#include <stdint.h>
#include <string.h>

#if defined(__FMA__) || defined(__aarch64__)
#define NV_FMAF(a, b, c) __builtin_fmaf((a), (b), (c))
#define NV_FMA(a, b, c) __builtin_fma((a), (b), (c))
#define NVI_FUSED 1
#else
#define NVI_FUSED 0
#define NV_FMAF(a, b, c) ((a) * (b) + (c))
#define NV_FMA(a, b, c) ((a) * (b) + (c))
#endif

/* Bit reinterpretation; memcpy of a register-sized value compiles to nothing. */
static inline uint32_t nvi_f2u(float x) { uint32_t u; memcpy(&u, &x, sizeof u); return u; }
static inline float nvi_u2f(uint32_t u) { float x; memcpy(&x, &u, sizeof x); return x; }
static inline uint64_t nvi_d2u(double x) { uint64_t u; memcpy(&u, &x, sizeof u); return u; }
static inline double nvi_u2d(uint64_t u) { double x; memcpy(&x, &u, sizeof x); return x; }

/* c ? a : b as a bit blend.  gcc turns a ternary into a branch and may then move arithmetic
 * into its arms (sinking, partial redundancy elimination); without -ffast-math it will not
 * speculate floating-point code back out (it could trap), and the loop stays scalar (seen
 * with gcc 12 for AVX2 even on plain clamps).  A blend of bits never becomes a branch. */
static inline float nvi_selectf(int c, float a, float b)
{
    uint32_t m = (uint32_t)0 - (uint32_t)c;
    return nvi_u2f((nvi_f2u(a) & m) | (nvi_f2u(b) & ~m));
}

static inline double nvi_select(int c, double a, double b)
{
    uint64_t m = (uint64_t)0 - (uint64_t)c;
    return nvi_u2d((nvi_d2u(a) & m) | (nvi_d2u(b) & ~m));
}

/* ln 2 split for Cody-Waite reduction: HI has few significant bits (16 for float, 32 for
 * double) so that k * HI is exact for every k that occurs (|k| < 2^8, resp. 2^11), which
 * makes x - k * HI exact too (Sterbenz); LO = ln2 - HI carries the next 24 / 53 bits. */
#define NVI_LN2HI_F 0x1.62e4p-1f
#define NVI_LN2LO_F 0x1.7f7d1cp-20f
#define NVI_LOG2E_F 0x1.715476p+0f
#define NVI_LN2HI 0x1.62e42ffp-1
#define NVI_LN2LO -0x1.718432a1b0e26p-35
#define NVI_LOG2E 0x1.71547652b82fep+0

/* ---- exp family ---------------------------------------------------------------------
 * x = k ln2 + r with k = round(x / ln2), |r| <= ln2/2.  Adding 1.5 * 2^23 (2^52) rounds
 * x / ln2 to an integer and leaves k in the low mantissa bits, so no float->int conversion
 * is needed (AVX2 has none for int64).  r = (x - k HI) - k LO.
 * expm1(r) = r + r^2 Q(r); Q is a relative-error minimax fit on [-ln2/2, ln2/2] (Remez),
 * degree 5 for float, degree 10 for double: error < 2^-28 resp. 2^-58. */
static inline float nvi_reducef(float x, uint32_t *k)
{
    float kf = NV_FMAF(x, NVI_LOG2E_F, 0x1.8p23f);
    *k = nvi_f2u(kf) - 0x4b400000u; /* two's complement k; bits of 1.5 * 2^23 removed */
    kf -= 0x1.8p23f;
    float r = NV_FMAF(kf, -NVI_LN2HI_F, x);
    return NV_FMAF(kf, -NVI_LN2LO_F, r);
}

static inline double nvi_reduce(double x, uint64_t *k)
{
    double kf = NV_FMA(x, NVI_LOG2E, 0x1.8p52);
    *k = nvi_d2u(kf) - 0x4338000000000000u;
    kf -= 0x1.8p52;
    double r = NV_FMA(kf, -NVI_LN2HI, x);
    return NV_FMA(kf, -NVI_LN2LO, r);
}

static inline float nvi_expm1_qf(float r)
{
    float q = NV_FMAF(0x1.a072eep-13f, r, 0x1.6d4364p-10f);
    q = NV_FMAF(q, r, 0x1.11114cp-7f);
    q = NV_FMAF(q, r, 0x1.5554e8p-5f);
    q = NV_FMAF(q, r, 0x1.555556p-3f);
    return NV_FMAF(q, r, 0.5f);
}

static inline double nvi_expm1_q(double r)
{
    double q = NV_FMA(0x1.1f1a0b2d7b15dp-29, r, 0x1.af4e303d8bff1p-26);
    q = NV_FMA(q, r, 0x1.27e510f05c70ap-22);
    q = NV_FMA(q, r, 0x1.71de0211cb667p-19);
    q = NV_FMA(q, r, 0x1.a01a01904a0c8p-16);
    q = NV_FMA(q, r, 0x1.a01a01abf11e7p-13);
    q = NV_FMA(q, r, 0x1.6c16c16c1a0dfp-10);
    q = NV_FMA(q, r, 0x1.11111111100cdp-7);
    q = NV_FMA(q, r, 0x1.555555555554ep-5);
    q = NV_FMA(q, r, 0x1.5555555555557p-3);
    return NV_FMA(q, r, 0.5);
}

/* exp(x) = 2^k (1 + p).  x is clamped first (NaN passes the compares unchanged) to a range
 * whose ends still overflow to inf / round to 0.  2^k is applied as 2^k1 * 2^k2 with
 * k1 = floor(k/2): both factors stay normal over the whole k range, 2^k1 (1 + p) is one
 * rounding, and the second product rounds once more only when the result is denormal. */
static inline float nv_expf(float x)
{
    x = nvi_selectf(x > 89.0f, 89.0f, x);     /* exp(89) > FLT_MAX */
    x = nvi_selectf(x < -104.0f, -104.0f, x); /* exp(-104) < 2^-150 */
    uint32_t k;
    float r = nvi_reducef(x, &k), p = NV_FMAF(r * r, nvi_expm1_qf(r), r);
    uint32_t k1 = ((k + 512u) >> 1) - 256u; /* floor(k / 2) without signed shifts */
    float s1 = nvi_u2f((k1 + 127u) << 23), s2 = nvi_u2f((k - k1 + 127u) << 23);
    return NV_FMAF(s1, p, s1) * s2;
}

static inline double nv_exp(double x)
{
    x = nvi_select(x > 710.0, 710.0, x);   /* exp(710) > DBL_MAX */
    x = nvi_select(x < -746.0, -746.0, x); /* exp(-746) < 2^-1075 */
    uint64_t k;
    double r = nvi_reduce(x, &k), p = NV_FMA(r * r, nvi_expm1_q(r), r);
    uint64_t k1 = ((k + 4096u) >> 1) - 2048u;
    double s1 = nvi_u2d((k1 + 1023u) << 52), s2 = nvi_u2d((k - k1 + 1023u) << 52);
    return NV_FMA(s1, p, s1) * s2;
}

/* expm1(x) = 2^k expm1(r) + (2^k - 1) = 2 (t w + (t r + (t - 1/2))), t = 2^(k-1) and
 * w = r^2 Q(r): expm1(r) = r + w is never rounded on its own, t - 1/2 is exact while it
 * matters (|k| <= 24 resp. 53), and the factor 2 is exact and lets k = 128 (1024) overflow
 * correctly.  Below -18 (-40) expm1 rounds to -1.  For tiny |x| the answer is x itself;
 * selecting it keeps -0 and avoids denormal rounding inside t w. */
static inline float nv_expm1f(float x)
{
    float xc = nvi_selectf(x > 89.0f, 89.0f, x);
    xc = nvi_selectf(xc < -18.0f, -18.0f, xc);
    uint32_t k;
    float r = nvi_reducef(xc, &k), w = r * r * nvi_expm1_qf(r);
    float t = nvi_u2f((k + 126u) << 23);
    float y = 2.0f * NV_FMAF(t, w, NV_FMAF(t, r, t - 0.5f));
    return nvi_selectf(__builtin_fabsf(x) < 0x1p-30f, x, y);
}

static inline double nv_expm1(double x)
{
    double xc = nvi_select(x > 710.0, 710.0, x);
    xc = nvi_select(xc < -40.0, -40.0, xc);
    uint64_t k;
    double r = nvi_reduce(xc, &k), w = r * r * nvi_expm1_q(r);
    double t = nvi_u2d((k + 1022u) << 52);
    double y = 2.0 * NV_FMA(t, w, NV_FMA(t, r, t - 0.5));
    return nvi_select(__builtin_fabs(x) < 0x1p-60, x, y);
}

/* n / (a + b) for |a| >= |b|, rounded about once instead of three times: with d + c = a + b
 * exactly (Fast2Sum) and q ~ n / d, the residual rho = n - q (d + c) is exact up to its last
 * fma, and the result is q + rho / (a + b).  Without a fused multiply-add the residual is not
 * exact; float then divides in double instead (errors near 2^-53, then one rounding). */
static inline float nvi_div_sumf(float n, float a, float b)
{
#if NVI_FUSED
    /* float: one rounding of a + b and one of the quotient, no residual correction.
     * That costs ~0.85 ULP (tanh and sigmoid end at 2.34 ULP, where NumPy's own exp is
     * at 2.36) and buys 20% on a chain of tanh/sigmoid/exp (benchmarks/bench_graph.py):
     * the correction's four dependent fmas sit on the loop's critical path. */
    return n / (a + b);
#else
    return (float)((double)n / ((double)a + (double)b));
#endif
}

static inline double nvi_div_sum(double n, double a, double b)
{
    double d = a + b, c = (a - d) + b;
    double inv = 1.0 / d, q = n * inv;
    double rho = NV_FMA(-q, c, NV_FMA(-q, d, n));
    return NV_FMA(rho, inv, q);
}

/* tanh|x| = u / (u + 2), u = expm1(2|x|) >= 0 (as in nv_expm1, with s = 2^k): no
 * cancellation (tiny x come straight through expm1(r) = r + w), and u's error is damped by
 * 2 / (u + 2) <= 1.
 * |x| is clamped where tanh rounds to 1 (keeps 2^k small); the sign is OR-ed back in, so
 * tanh(-0) = -0. */
static inline float nv_tanhf(float x)
{
    float a = __builtin_fabsf(x);
    a = nvi_selectf(a > 10.0f, 10.0f, a); /* NaN passes */
    uint32_t k;
    float r = nvi_reducef(a + a, &k), w = r * r * nvi_expm1_qf(r);
    float s = nvi_u2f((k + 127u) << 23); /* 2^k, k in [0, 29] */
    float u = NV_FMAF(s, w, NV_FMAF(s, r, s - 1.0f));
    float y = nvi_div_sumf(u, nvi_selectf(u > 2.0f, u, 2.0f), nvi_selectf(u > 2.0f, 2.0f, u));
    return nvi_u2f(nvi_f2u(y) | (nvi_f2u(x) & 0x80000000u));
}

static inline double nv_tanh(double x)
{
    double a = __builtin_fabs(x);
    a = nvi_select(a > 20.0, 20.0, a);
    uint64_t k;
    double r = nvi_reduce(a + a, &k), w = r * r * nvi_expm1_q(r);
    double s = nvi_u2d((k + 1023u) << 52); /* k in [0, 58] */
    double u = NV_FMA(s, w, NV_FMA(s, r, s - 1.0));
    double y = nvi_div_sum(u, nvi_select(u > 2.0, u, 2.0), nvi_select(u > 2.0, 2.0, u));
    return nvi_u2d(nvi_d2u(y) | (nvi_d2u(x) & 0x8000000000000000u));
}

/* sigmoid(x) = n / (1 + e) with e = exp(-|x|) in [0, 1] (never overflows), n = e for x < 0
 * (a tiny result keeps full relative accuracy, denormals included) and n = 1 otherwise. */
static inline float nv_sigmoidf(float x)
{
    float e = nv_expf(-__builtin_fabsf(x));
    return nvi_div_sumf(nvi_selectf(x < 0.0f, e, 1.0f), 1.0f, e);
}

static inline double nv_sigmoid(double x)
{
    double e = nv_exp(-__builtin_fabs(x));
    return nvi_div_sum(nvi_select(x < 0.0, e, 1.0), 1.0, e);
}

/* ---- log family ---------------------------------------------------------------------
 * x = 2^e m with m in [sqrt(1/2), sqrt(2)): subtracting the bits of sqrt(1/2) from x's
 * bits leaves e in the exponent field (two's complement), and removing that field from x
 * gives m.  f = m - 1 is exact, |f| <= 0.415, log(x) = e ln2 + log1p(f).
 * The split returns the exponent field (e << 23 resp. e << 52) for log1p's rescaling. */
static inline uint32_t nvi_logsplitf(float x, float *f, float *e)
{
    uint32_t ix = nvi_f2u(x), t = ix - 0x3f3504f3u, ebits = t & 0xff800000u;
    *e = (float)((int32_t)((t >> 23) ^ 0x100u) - 0x100); /* sign-extend the 9-bit field */
    *f = nvi_u2f(ix - ebits) - 1.0f;
    return ebits;
}

static inline uint64_t nvi_logsplit(double x, double *f, double *e)
{
    uint64_t ix = nvi_d2u(x), t = ix - 0x3fe6a09e667f3bcdu, ebits = t & 0xfff0000000000000u;
    /* 2^52 + (e + 2048) built from bits: int64 -> double without a conversion instruction */
    *e = nvi_u2d(0x4330000000000000u | ((t >> 52) ^ 0x800u)) - (0x1p52 + 2048.0);
    *f = nvi_u2d(ix - ebits) - 1.0;
    return ebits;
}

/* e ln2 + log1p(f) + lo, lo a tiny correction (log1p's).  Summation order: the exact f
 * leads, everything small is summed first, and e HI (exact) enters in the last fma, so
 * only f + small and the result are rounded, also where e ln2 and log1p(f) cancel.
 * float: log1p(f) = f + f^2 Q(f), Q a degree-8 relative minimax fit on
 * [sqrt(1/2) - 1, sqrt(2) - 1] (error 2^-24.3, scaled down by |f Q| < 0.21). */
static inline float nvi_log_kernelf(float f, float e, float lo)
{
    float q = NV_FMAF(-0x1.3e96b2p-4f, f, 0x1.05ae0cp-3f);
    q = NV_FMAF(q, f, -0x1.0c9352p-3f);
    q = NV_FMAF(q, f, 0x1.22bcbp-3f);
    q = NV_FMAF(q, f, -0x1.5485dcp-3f);
    q = NV_FMAF(q, f, 0x1.99a22ep-3f);
    q = NV_FMAF(q, f, -0x1.00020ap-2f);
    q = NV_FMAF(q, f, 0x1.55555p-2f);
    q = NV_FMAF(q, f, -0x1.fffffep-2f);
    float small = NV_FMAF(f * f, q, NV_FMAF(e, NVI_LN2LO_F, lo));
    return NV_FMAF(e, NVI_LN2HI_F, f + small);
}

/* double: a polynomial in f would need degree ~20, so use s = f / (2 + f), |s| < 0.172:
 * log1p(f) = 2 atanh(s) = 2s + s R(s^2), R(z) = z T(z), T a degree-6 relative minimax fit
 * (error 2^-51, scaled by z/2 < 0.015).  Since s (2 + f) = f, 2s = f - hf + s hf with
 * hf = f^2 / 2, so log1p(f) = f - (hf - s (hf + R)): the exact f leads and the rounding of
 * the division only touches the small correction. */
static inline double nvi_log_kernel(double f, double e, double lo)
{
    double s = f / (2.0 + f), z = s * s;
    double q = NV_FMA(0x1.2b61a5a130106p-3, z, 0x1.39fd9a4da55e1p-3);
    q = NV_FMA(q, z, 0x1.7462bac8ba287p-3);
    q = NV_FMA(q, z, 0x1.c71c62cf58634p-3);
    q = NV_FMA(q, z, 0x1.2492492e034f1p-2);
    q = NV_FMA(q, z, 0x1.9999999995238p-2);
    q = NV_FMA(q, z, 0x1.5555555555558p-1);
    double hf = 0.5 * f * f;
    double small = NV_FMA(s, NV_FMA(z, q, hf), NV_FMA(e, NVI_LN2LO, lo));
    return NV_FMA(e, NVI_LN2HI, f - (hf - small));
}

/* Denormal x are rescaled by 2^23 (2^52) first.  Specials are selected at the end: the
 * bit arithmetic gives garbage for them, which is discarded. */
static inline float nv_logf(float x)
{
    int den = x < 0x1p-126f;
    float f, e;
    nvi_logsplitf(nvi_selectf(den, x * 0x1p23f, x), &f, &e);
    float y = nvi_log_kernelf(f, e - nvi_selectf(den, 23.0f, 0.0f), 0.0f);
    y = nvi_selectf(x == INFINITY, x, y);
    return nvi_selectf(x > 0.0f, y, nvi_selectf(x == 0.0f, -INFINITY, NAN));
}

static inline double nv_log(double x)
{
    int den = x < 0x1p-1022;
    double f, e;
    nvi_logsplit(nvi_select(den, x * 0x1p52, x), &f, &e);
    double y = nvi_log_kernel(f, e - nvi_select(den, 52.0, 0.0), 0.0);
    y = nvi_select(x == INFINITY, x, y);
    return nvi_select(x > 0.0, y, nvi_select(x == 0.0, -INFINITY, NAN));
}

/* log1p(x): u = 1 + x is rounded, but TwoSum recovers its exact error c (1 + x = u + c).
 * With u = 2^e (1 + f): log1p(x) = e ln2 + log1p(f) + log(1 + c'/(1 + f)), c' = c 2^-e,
 * and |c'| <= 2^-24 (2^-53), so the last term is c' (1 - f + f^2) to within 0.07 |c'|.
 * 2^-e is built from the exponent bits; for huge x (where c no longer matters) it would not
 * be representable, so c is dropped there.  u >= 2^-24 (2^-53) is never denormal. */
static inline float nv_log1pf(float x)
{
    float u = 1.0f + x, b = u - 1.0f;
    float c = (1.0f - (u - b)) + (x - b);
    float f, e;
    uint32_t ebits = nvi_logsplitf(u, &f, &e);
    float cs = c * nvi_u2f(0x3f800000u - ebits), lo = NV_FMAF(cs, NV_FMAF(f, f, -f), cs);
    float y = nvi_log_kernelf(f, e, nvi_selectf(x < 0x1p100f, lo, 0.0f));
    y = nvi_selectf(x == INFINITY, x, y);
    y = nvi_selectf(__builtin_fabsf(x) < 0x1p-30f, x, y); /* log1p(x) rounds to x; keeps -0 */
    return nvi_selectf(x > -1.0f, y, nvi_selectf(x == -1.0f, -INFINITY, NAN));
}

static inline double nv_log1p(double x)
{
    double u = 1.0 + x, b = u - 1.0;
    double c = (1.0 - (u - b)) + (x - b);
    double f, e;
    uint64_t ebits = nvi_logsplit(u, &f, &e);
    double cs = c * nvi_u2d(0x3ff0000000000000u - ebits), lo = NV_FMA(cs, NV_FMA(f, f, -f), cs);
    double y = nvi_log_kernel(f, e, nvi_select(x < 0x1p1000, lo, 0.0));
    y = nvi_select(x == INFINITY, x, y);
    y = nvi_select(__builtin_fabs(x) < 0x1p-60, x, y);
    return nvi_select(x > -1.0, y, nvi_select(x == -1.0, -INFINITY, NAN));
}

#endif /* NERVE_VMATH_H */
