"""Sliding-window kernels in C: ``extract_patches`` written out (im2col, for images
with few channels), ``patches_transpose`` (col2im), and max pooling that
remembers where each maximum was (``max_pool``) with its adjoint (``window_scatter``).

Every kernel sees a channels-last array ``(batch, *spatial, channels)`` with 1-3
spatial axes, padded here to three (leading axes of size 1), and walks each image once:

* ``extract_patches`` copies each window position's channels, or the pad value where
  it lies in the padding, into a new C-contiguous patches array.
* ``patches_transpose`` adds the patches ``(batch, *out, *window, channels)`` back into
  the image, window offset by window offset in row-major order, each over every
  output position: the order of the NumPy kernel's slice-adds, so the sums are
  bitwise the same. Positions in the padding are skipped (the NumPy kernel adds them
  to a padded buffer and crops it).
* ``max_pool`` writes each window's maximum and its position in the window
  (row-major, ``int32``). Padding is never looked at, so it never wins; ties go to the
  first position (as PyTorch and TensorFlow); a NaN wins over numbers (the first
  NaN), as NumPy's ``max`` and ``argmax``. A window with no real position (not
  possible with "valid" or "same" padding) gets ``-inf`` and position ``-1``.
* ``window_scatter`` adds ``g[n, o, c]`` into the image at the position
  ``argmax[n, o, c]`` names in window ``o``: the adjoint of reading each window's
  chosen element. Positions outside the window or in the padding add nothing. Where
  the windows tile the image (a 2x2 pooling of an even-sized image), each element is
  written once, without zeroing the image first. Given a ``mask`` (the C function
  ``masked_window_scatter``), it then multiplies each image by ``mask > 0`` (1 or 0)
  while it is in the caches: the ReLU
  gradient of what pooling scattered back, one pass over the image instead of three.

Batches are independent: inside a compiled run that holds several cores
(``threads.hold``) large calls are shared out among them by images (with OpenMP,
``NERVE_NATIVE_THREADS=1``, the loops split them across threads themselves).
``None`` when native kernels are off (see ``toolchain``): the NumPy kernels run.
"""

from __future__ import annotations

import ctypes
import functools
from types import SimpleNamespace

import numpy as np

from nerve.backend.numpy_backend.native import binding, threads, toolchain
from nerve.backend.numpy_backend.nn import window_counts

__all__ = ["window_functions"]

# The geometry travels as 20 int64s: batch, channels, then three each of spatial size,
# output size, window, stride, dilation and padding before.
_TEMPLATE = r"""
#define GEOMETRY \
    const int64_t N = g[0], CH = g[1]; \
    const int64_t S0 = g[2], S1 = g[3], S2 = g[4], O0 = g[5], O1 = g[6], O2 = g[7]; \
    const int64_t K0 = g[8], K1 = g[9], K2 = g[10], st0 = g[11], st1 = g[12], st2 = g[13]; \
    const int64_t d0 = g[14], d1 = g[15], d2 = g[16], lo0 = g[17], lo1 = g[18], lo2 = g[19]; \
    const int64_t image = S0 * S1 * S2 * CH, pooled = O0 * O1 * O2 * CH; \
    (void)K0; (void)pooled;

void patches_transpose_{T}(const {C} *p, {C} *out, const int64_t *g) {
    GEOMETRY
    const int64_t patches = pooled * K0 * K1 * K2;
    #pragma omp parallel for schedule(static) if (N * patches >= 262144)
    for (int64_t n = 0; n < N; n++) {
        {C} *dst = out + n * image;
        const {C} *src = p + n * patches;
        memset(dst, 0, (size_t)image * sizeof({C}));
        for (int64_t k0 = 0; k0 < K0; k0++)
        for (int64_t k1 = 0; k1 < K1; k1++)
        for (int64_t k2 = 0; k2 < K2; k2++)
        for (int64_t o0 = 0; o0 < O0; o0++) {
            const int64_t i0 = o0 * st0 + k0 * d0 - lo0;
            if (i0 < 0 || i0 >= S0) continue;
            for (int64_t o1 = 0; o1 < O1; o1++) {
                const int64_t i1 = o1 * st1 + k1 * d1 - lo1;
                if (i1 < 0 || i1 >= S1) continue;
                for (int64_t o2 = 0; o2 < O2; o2++) {
                    const int64_t i2 = o2 * st2 + k2 * d2 - lo2;
                    if (i2 < 0 || i2 >= S2) continue;
                    const {C} *restrict a =
                        src + (((((o0 * O1 + o1) * O2 + o2) * K0 + k0) * K1 + k1) * K2 + k2) * CH;
                    {C} *restrict b = dst + ((i0 * S1 + i1) * S2 + i2) * CH;
                    for (int64_t c = 0; c < CH; c++) b[c] = b[c] + a[c];
                }
            }
        }
    }
}

/* The patches (N, *out, *window, CH) written out, window by window: each position's CH
   values copied from the image, or `fill` where it lies in the padding. */
/* For few channels (the caller's choice), each (window position, channel) pair is one
   loop over the output positions along the last axis: a run long enough to pay its
   setup, writing into one block of the result that stays in L1. */
void extract_patches_{T}(const {C} *x, {C} *out, const int64_t *g, const {C} *fill) {
    GEOMETRY
    const {C} pad = *fill;
    const int64_t W = K0 * K1 * K2 * CH;  /* one window's values */
    /* The outputs o2 in [first[k2], last[k2]) whose window position k2 is in the image. */
    int64_t first[K2 > 0 ? K2 : 1], last[K2 > 0 ? K2 : 1];
    for (int64_t k2 = 0; k2 < K2; k2++) {
        int64_t b = 0;
        while (b < O2 && b * st2 + k2 * d2 - lo2 < 0) b++;
        int64_t e = b;
        while (e < O2 && e * st2 + k2 * d2 - lo2 < S2) e++;
        first[k2] = b;
        last[k2] = e;
    }
    #pragma omp parallel for schedule(static) if (N * pooled * K0 * K1 * K2 >= 262144)
    for (int64_t n = 0; n < N; n++) {
        const {C} *src = x + n * image;
        for (int64_t o0 = 0; o0 < O0; o0++)
        for (int64_t o1 = 0; o1 < O1; o1++) {
            {C} *block = out + ((n * O0 + o0) * O1 + o1) * O2 * W;
            for (int64_t k0 = 0; k0 < K0; k0++)
            for (int64_t k1 = 0; k1 < K1; k1++) {
                const int64_t i0 = o0 * st0 + k0 * d0 - lo0;
                const int64_t i1 = o1 * st1 + k1 * d1 - lo1;
                const int inside = i0 >= 0 && i0 < S0 && i1 >= 0 && i1 < S1;
                const {C} *line = src + (inside ? (i0 * S1 + i1) * S2 * CH : 0);
                for (int64_t k2 = 0; k2 < K2; k2++)
                for (int64_t c = 0; c < CH; c++) {
                    {C} *d = block + ((k0 * K1 + k1) * K2 + k2) * CH + c;
                    const int64_t b = inside ? first[k2] : O2, e = inside ? last[k2] : O2;
                    const {C} *a = line + (k2 * d2 - lo2) * CH + c;
                    for (int64_t o2 = 0; o2 < b; o2++) d[o2 * W] = pad;
                    for (int64_t o2 = b; o2 < e; o2++) d[o2 * W] = a[o2 * st2 * CH];
                    for (int64_t o2 = e; o2 < O2; o2++) d[o2 * W] = pad;
                }
            }
        }
    }
}

/* GCC's and Clang's vector extensions: a 32-byte vector of {C} and the integer mask a
   comparison of two of them gives. The compilers do not vectorize a select that keeps
   the running maximum in registers; written with vectors, the pooling loops run ~2x
   faster (measured: 2x2 pooling of 128x26x26x32 floats, 2.4 ms against 4.7 ms). */
typedef {C} vec_{T} __attribute__((vector_size(32)));
typedef {I} mask_{T} __attribute__((vector_size(32)));
#define LANES_{T} (32 / (int)sizeof({C}))

/* One window position (numbered k in every lane) over the running maximum *m and its
   positions *w (TAKES_OVER decides, lane by lane). */
static inline void max_step_{T}(vec_{T} a, mask_{T} k, vec_{T} *m, mask_{T} *w) {
    const mask_{T} take = (mask_{T})TAKES_OVER(a, *m);
    *m = (vec_{T})(((mask_{T})a & take) | ((mask_{T})*m & ~take));
    *w = (k & take) | (*w & ~take);
}

void max_pool_{T}(const {C} *x, {C} *out, int32_t *arg, const int64_t *g) {
    GEOMETRY
    const int lanes = LANES_{T};
    const int inside = !lo0 && !lo1 && !lo2 && (O0 - 1) * st0 + K0 <= S0
                       && (O1 - 1) * st1 + K1 <= S1 && (O2 - 1) * st2 + K2 <= S2;
    if (inside && d0 == 1 && d1 == 1 && d2 == 1) {
        /* No padding used and no dilation: every window lies inside the image, K0*K1*K2 fixed
           offsets from its corner, and its first position starts the maximum, without
           the per-position range checks of the general loop below (2x2 pooling of
           128x26x26x32 floats: 1.85 against 3.07 ms). The same choices (TAKES_OVER). */
        #pragma omp parallel for schedule(static) if (N * image >= 262144)
        for (int64_t n = 0; n < N; n++)
        for (int64_t o0 = 0; o0 < O0; o0++)
        for (int64_t o1 = 0; o1 < O1; o1++)
        for (int64_t o2 = 0; o2 < O2; o2++) {
            const {C} *corner =
                x + n * image + ((o0 * st0 * S1 + o1 * st1) * S2 + o2 * st2) * CH;
            const int64_t at = n * pooled + ((o0 * O1 + o1) * O2 + o2) * CH;
            {C} *best = out + at;
            int32_t *where = arg + at;
            int64_t c = 0;
            for (; c + lanes <= CH; c += lanes) {
                vec_{T} m;
                mask_{T} w = {0};
                memcpy(&m, corner + c, sizeof m);
                for (int64_t k0 = 0; k0 < K0; k0++)
                for (int64_t k1 = 0; k1 < K1; k1++)
                for (int64_t k2 = 0; k2 < K2; k2++) {
                    const {I} k = ({I})((k0 * K1 + k1) * K2 + k2);
                    if (!k) continue;
                    vec_{T} a;
                    memcpy(&a, corner + ((k0 * S1 + k1) * S2 + k2) * CH + c, sizeof a);
                    max_step_{T}(a, (mask_{T}){0} + k, &m, &w);
                }
                memcpy(best + c, &m, sizeof m);
                for (int j = 0; j < lanes; j++) where[c + j] = (int32_t)w[j];
            }
            for (; c < CH; c++) {
                {C} m = corner[c];
                int32_t w = 0;
                for (int64_t k0 = 0; k0 < K0; k0++)
                for (int64_t k1 = 0; k1 < K1; k1++)
                for (int64_t k2 = 0; k2 < K2; k2++) {
                    const int32_t k = (int32_t)((k0 * K1 + k1) * K2 + k2);
                    const {C} a = corner[((k0 * S1 + k1) * S2 + k2) * CH + c];
                    if (k && TAKES_OVER(a, m)) { m = a; w = k; }
                }
                best[c] = m;
                where[c] = w;
            }
        }
        return;
    }
    #pragma omp parallel for schedule(static) if (N * image >= 262144)
    for (int64_t n = 0; n < N; n++) {
        const {C} *src = x + n * image;
        for (int64_t o0 = 0; o0 < O0; o0++)
        for (int64_t o1 = 0; o1 < O1; o1++)
        for (int64_t o2 = 0; o2 < O2; o2++) {
            WINDOW_RANGES
            const int64_t at = n * pooled + ((o0 * O1 + o1) * O2 + o2) * CH;
            {C} *best = out + at;
            int32_t *where = arg + at;
            if (empty) {
                for (int64_t c = 0; c < CH; c++) { best[c] = -INFINITY; where[c] = -1; }
                continue;
            }
            /* The first real position initializes; a later one takes over as
               TAKES_OVER says. */
            int64_t c = 0;
            for (; c + lanes <= CH; c += lanes) {
                vec_{T} m;
                mask_{T} w = {0}, position = {0};
                int first = 1;
                FOR_WINDOW_POSITIONS {
                    POSITION
                    vec_{T} a;
                    memcpy(&a, src + offset + c, sizeof a);
                    for (int j = 0; j < lanes; j++) position[j] = k;
                    if (first) { m = a; w = position; first = 0; continue; }
                    max_step_{T}(a, position, &m, &w);
                }
                memcpy(best + c, &m, sizeof m);
                for (int j = 0; j < lanes; j++) where[c + j] = (int32_t)w[j];
            }
            if (c == CH) continue;
            int first = 1;
            FOR_WINDOW_POSITIONS {
                POSITION
                for (int64_t j = c; j < CH; j++) {
                    const {C} a = src[offset + j], m = best[j];
                    const int take = first | TAKES_OVER(a, m);
                    best[j] = take ? a : m;
                    where[j] = take ? k : where[j];
                }
                first = 0;
            }
        }
    }
}

/* Each window position k in turn adds g where the window chose k (zero elsewhere): dense
   vector adds, where a scatter would compute an address per element. With `mask`, each
   image is then multiplied by (mask > 0), 1 or 0, as a ReLU's gradient would be, while
   it is still in the caches. */
static void scatter_windows_{T}(const {C} *gr, const int32_t *arg, const {C} *mask,
                                {C} *out, const int64_t *g) {
    GEOMETRY
    const int lanes = LANES_{T};
    /* Windows that tile the image (window = stride, no padding or dilation, no rows
       left over) cover each element exactly once: it is written as 0 + its value,
       the same bits as the sum into a zeroed image, without zeroing or reading it. */
    const int tiled = K0 == st0 && K1 == st1 && K2 == st2 && d0 == 1 && d1 == 1 && d2 == 1
        && lo0 == 0 && lo1 == 0 && lo2 == 0 && O0 * st0 == S0 && O1 * st1 == S1
        && O2 * st2 == S2;
    #pragma omp parallel for schedule(static) if (N * image >= 262144)
    for (int64_t n = 0; n < N; n++) {
        {C} *dst = out + n * image;
        if (!tiled) memset(dst, 0, (size_t)image * sizeof({C}));
        for (int64_t o0 = 0; o0 < O0; o0++)
        for (int64_t o1 = 0; o1 < O1; o1++)
        for (int64_t o2 = 0; o2 < O2; o2++) {
            WINDOW_RANGES
            (void)empty;
            const int64_t at = n * pooled + ((o0 * O1 + o1) * O2 + o2) * CH;
            const {C} *gv = gr + at;
            const int32_t *where = arg + at;
            FOR_WINDOW_POSITIONS {
                POSITION
                {C} *d = dst + offset;
                int64_t c = 0;
                for (; c + lanes <= CH; c += lanes) {
                    vec_{T} add, sum = {0};
                    mask_{T} hit;
                    memcpy(&add, gv + c, sizeof add);
                    if (!tiled) memcpy(&sum, d + c, sizeof sum);
                    for (int j = 0; j < lanes; j++) hit[j] = where[c + j] == k ? -1 : 0;
                    sum = sum + (vec_{T})((mask_{T})add & hit);
                    memcpy(d + c, &sum, sizeof sum);
                }
                for (; c < CH; c++) d[c] = (tiled ? 0 : d[c]) + (where[c] == k ? gv[c] : 0);
            }
        }
        if (mask != NULL) {
            const {C} *m = mask + n * image;
            for (int64_t e = 0; e < image; e++) dst[e] = dst[e] * ({C})(m[e] > 0);
        }
    }
}

void window_scatter_{T}(const {C} *gr, const int32_t *arg, {C} *out, const int64_t *g) {
    scatter_windows_{T}(gr, arg, NULL, out, g);
}

void masked_window_scatter_{T}(const {C} *gr, const int32_t *arg, const {C} *mask, {C} *out,
                              const int64_t *g) {
    scatter_windows_{T}(gr, arg, mask, out, g);
}
"""

_PRELUDE = r"""
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Whether a window's value a takes over its running maximum m: where it is strictly
   greater (the first of equal values keeps its place), or NaN over a number (the first
   NaN wins). Scalars or vectors (then a mask per lane). */
#define TAKES_OVER(a, m) (((a) > (m)) | (((a) != (a)) & ((m) == (m))))

/* The window positions k in [*begin, *end) whose input index o*stride + k*dilation - lo
   lies in [0, size). */
static inline void window_range(int64_t o, int64_t stride, int64_t dilation, int64_t lo,
                                int64_t size, int64_t window, int64_t *begin,
                                int64_t *end) {
    const int64_t start = o * stride - lo;
    int64_t b, e;
    if (dilation == 1) {  /* no division: this runs for every output position */
        b = start < 0 ? -start : 0;
        e = size - start;
    } else {
        b = start < 0 ? (-start + dilation - 1) / dilation : 0;
        e = start > size - 1 ? 0 : (size - 1 - start) / dilation + 1;
    }
    *begin = b;
    *end = e < window ? e : window;
}

/* The window positions of output (o0, o1, o2) that lie in the image, per axis. */
#define WINDOW_RANGES \
    int64_t r[6]; \
    window_range(o0, st0, d0, lo0, S0, K0, r, r + 1); \
    window_range(o1, st1, d1, lo1, S1, K1, r + 2, r + 3); \
    window_range(o2, st2, d2, lo2, S2, K2, r + 4, r + 5); \
    const int empty = r[0] >= r[1] || r[2] >= r[3] || r[4] >= r[5];

#define FOR_WINDOW_POSITIONS \
    for (int64_t k0 = r[0]; k0 < r[1]; k0++) \
    for (int64_t k1 = r[2]; k1 < r[3]; k1++) \
    for (int64_t k2 = r[4]; k2 < r[5]; k2++)

/* Where its first element lies in the image, and the position's number in the window. */
#define POSITION \
    const int64_t offset = (((o0 * st0 + k0 * d0 - lo0) * S1 + o1 * st1 + k1 * d1 - lo1) * S2 \
                            + o2 * st2 + k2 * d2 - lo2) * CH; \
    const int32_t k = (int32_t)((k0 * K1 + k1) * K2 + k2);
"""

# name: (C type, the integer type of its width)
_TYPES = {"float32": ("float", "int32_t"), "float64": ("double", "int64_t")}
SOURCE = _PRELUDE + "".join(
    _TEMPLATE.replace("{T}", name).replace("{C}", c_type).replace("{I}", int_type)
    for name, (c_type, int_type) in _TYPES.items()
)

#: The dtypes the C kernels take (the NumPy kernels run for others).
DTYPES = frozenset(_TYPES)


#: Each kind of loop and the number of arrays it takes.
_KINDS = {
    "extract_patches": 4,
    "patches_transpose": 3,
    "max_pool": 4,
    "window_scatter": 4,
    "masked_window_scatter": 5,
}


@functools.lru_cache(maxsize=256)
def _geometry(batch: int, *, channels: int, spatial, out, window, strides, dilation, padding):
    """The 20 int64s the kernels read, with leading spatial axes of size 1 up to three
    (kept per geometry: a batch-1 call would spend a tenth of its time building it)."""
    missing = 3 - len(window)
    ones, zeros = (1,) * missing, (0,) * missing
    values = (
        batch, channels, *ones, *spatial, *ones, *out, *ones, *window, *ones, *strides,
        *ones, *dilation, *zeros, *(lo for lo, _ in padding),
    )  # fmt: skip
    geometry = np.array(values, dtype=np.int64)
    geometry.flags.writeable = False
    return geometry


_counts = functools.lru_cache(maxsize=256)(window_counts)

#: Elements (of the largest array a call touches) from which a call is shared out
#: among the cores a compiled run holds, by images (``threads.held``).
SPLIT_ELEMENTS = 1 << 18


def _by_batch(function, arrays: tuple, geometry, extra: tuple = ()) -> None:
    """``function(*arrays, geometry(batch), *extra)`` for C-contiguous ``arrays`` whose
    first axis is the batch: in one call, or, when it is large and a compiled run holds
    several cores, in parts of a few images each (a part's arrays start at its first
    image; images are independent in every kernel here)."""
    batch = arrays[0].shape[0]
    cores = threads.held()
    if cores < 2 or batch < 2 or max(a.size for a in arrays) < SPLIT_ELEMENTS:
        function(*map(binding.address, arrays), binding.address(geometry(batch)), *extra)
        return
    starts = [(binding.address(a), a.strides[0]) for a in arrays]

    def part(lo: int, hi: int) -> None:
        at = [start + lo * step for start, step in starts]
        function(*at, binding.address(geometry(hi - lo)), *extra)

    threads.run_ranges(batch, cores, part)


def window_functions() -> SimpleNamespace | None:
    """``extract_patches``, ``patches_transpose``, ``max_pool`` and ``window_scatter``
    running the C loops
    (attributes of the namespace), or ``None`` without them. They take C-contiguous
    float32 or float64 arrays (the caller converts or falls back) and the primitives'
    params; results are new arrays."""
    return _functions()


@functools.cache
def _functions() -> SimpleNamespace | None:
    library = toolchain.load(SOURCE)
    if library is None:
        return None
    functions = {
        kind: binding.typed_functions(library, kind, _TYPES, [ctypes.c_void_p] * count)
        for kind, count in _KINDS.items()
    }
    address = binding.address
    extract, transpose = functions["extract_patches"], functions["patches_transpose"]
    pool, scatter = functions["max_pool"], functions["window_scatter"]
    masked_scatter = functions["masked_window_scatter"]

    def extract_patches(x, window, strides, dilation, padding, pad_value):
        spatial = x.shape[1:-1]
        out = _counts(spatial, window, strides, dilation, padding)
        result = np.empty((x.shape[0], *out, *window, x.shape[-1]), dtype=x.dtype)
        fill = np.array(pad_value, dtype=x.dtype)
        geometry = functools.partial(
            _geometry, channels=x.shape[-1], spatial=spatial, out=out, window=window,
            strides=strides, dilation=dilation, padding=padding,
        )  # fmt: skip
        _by_batch(extract[x.dtype], (x, result), geometry, (address(fill),))
        return result

    def patches_transpose(p, spatial_shape, window, strides, dilation, padding):
        rank = len(window)
        out = p.shape[1 : 1 + rank]
        result = np.empty((p.shape[0], *spatial_shape, p.shape[-1]), dtype=p.dtype)
        geometry = functools.partial(
            _geometry, channels=p.shape[-1], spatial=spatial_shape, out=out, window=window,
            strides=strides, dilation=dilation, padding=padding,
        )  # fmt: skip
        _by_batch(transpose[p.dtype], (p, result), geometry)
        return result

    def max_pool(x, window, strides, padding):
        rank = len(window)
        dilation = (1,) * rank
        spatial = x.shape[1:-1]
        out = _counts(spatial, window, strides, dilation, padding)
        values = np.empty((x.shape[0], *out, x.shape[-1]), dtype=x.dtype)
        where = np.empty(values.shape, dtype=np.int32)
        geometry = functools.partial(
            _geometry, channels=x.shape[-1], spatial=spatial, out=out, window=window,
            strides=strides, dilation=dilation, padding=padding,
        )  # fmt: skip
        _by_batch(pool[x.dtype], (x, values, where), geometry)
        return values, where

    def window_scatter(g, argmax, spatial_shape, window, strides, padding, mask=None):
        rank = len(window)
        result = np.empty((g.shape[0], *spatial_shape, g.shape[-1]), dtype=g.dtype)
        geometry = functools.partial(
            _geometry, channels=g.shape[-1], spatial=spatial_shape, out=g.shape[1 : 1 + rank],
            window=window, strides=strides, dilation=(1,) * rank, padding=padding,
        )  # fmt: skip
        if mask is None:
            _by_batch(scatter[g.dtype], (g, argmax, result), geometry)
        else:
            _by_batch(masked_scatter[g.dtype], (g, argmax, mask, result), geometry)
        return result

    return SimpleNamespace(
        extract_patches=extract_patches,
        patches_transpose=patches_transpose,
        max_pool=max_pool,
        window_scatter=window_scatter,
    )
