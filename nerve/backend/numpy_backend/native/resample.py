"""Separable resampling in C: the ``resample``, ``resample2`` and ``resample_transpose``
kernels.

The array is viewed as ``(outer, n, inner)`` around the resampled axis. ``resample``
writes ``out[o, i, :] = sum_t weights[i, t] * x[o, indices[i, t], :]``, taps in
order (the first tap initializes, so results equal NumPy's left-to-right sum);
``resample_transpose`` adds each ``weights[i, t] * g[o, i, :]`` back into row
``indices[i, t]``. One pass over the data each, where NumPy needs a gather, a
multiply and an add per tap. ``resample2`` resamples two adjacent axes in one pass
(a resize: the intermediate image never goes through memory). ``None`` when native
kernels are off (see ``toolchain``): the NumPy kernels then run. Rows ``o`` are independent, so with
OpenMP (``NERVE_NATIVE_THREADS=1``) large calls split them across threads.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from nerve.backend.numpy_backend.native import binding, toolchain

__all__ = ["ResampleFunctions", "resample_functions"]

_TEMPLATE = r"""
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* One pass along one axis of one (n, inner) block:
   dst[i, :] = sum_t weight[i, t] * src[index[i, t], :] for i < m, taps in order.
   Channels-last images resampled along their width have a tiny inner size (the
   channels): a loop over an unknown count of 3 costs more than the arithmetic, so
   inner sizes 1-4 get loops with the count fixed, whose taps add up in registers. */
#define ROWS_SMALL(K)                                                                 \
static void rows_{T}_##K(const {C} *src, {C} *dst, const int32_t *index,              \
                         const {C} *weight, int64_t m, int64_t taps) {                \
    for (int64_t i = 0; i < m; i++, dst += K) {                                       \
        const int32_t *row_index = index + i * taps;                                  \
        const {C} *row_weight = weight + i * taps;                                    \
        const {C} *from = src + (int64_t)row_index[0] * K;                            \
        {C} w = row_weight[0], acc[K];                                                \
        for (int k = 0; k < K; k++) acc[k] = w * from[k];                             \
        for (int64_t t = 1; t < taps; t++) {                                          \
            from = src + (int64_t)row_index[t] * K;                                   \
            w = row_weight[t];                                                        \
            for (int k = 0; k < K; k++) acc[k] = acc[k] + w * from[k];                \
        }                                                                             \
        for (int k = 0; k < K; k++) dst[k] = acc[k];                                  \
    }                                                                                 \
}
ROWS_SMALL(1)
ROWS_SMALL(2)
ROWS_SMALL(3)
ROWS_SMALL(4)
#undef ROWS_SMALL

static void rows_{T}(const {C} *src, {C} *dst, const int32_t *index, const {C} *weight,
                     int64_t m, int64_t taps, int64_t inner) {
    switch (inner) {
        case 1: rows_{T}_1(src, dst, index, weight, m, taps); return;
        case 2: rows_{T}_2(src, dst, index, weight, m, taps); return;
        case 3: rows_{T}_3(src, dst, index, weight, m, taps); return;
        case 4: rows_{T}_4(src, dst, index, weight, m, taps); return;
        default: break;
    }
    for (int64_t i = 0; i < m; i++, dst += inner) {
        const int32_t *row_index = index + i * taps;
        const {C} *row_weight = weight + i * taps;
        const {C} *from = src + (int64_t)row_index[0] * inner;
        {C} w = row_weight[0];
        for (int64_t k = 0; k < inner; k++) dst[k] = w * from[k];
        for (int64_t t = 1; t < taps; t++) {
            from = src + (int64_t)row_index[t] * inner;
            w = row_weight[t];
            for (int64_t k = 0; k < inner; k++) dst[k] = dst[k] + w * from[k];
        }
    }
}

void resample_{T}(const {C} *x, {C} *out, const int32_t *index, const {C} *weight,
                  int64_t outer, int64_t n, int64_t m, int64_t taps, int64_t inner) {
    #pragma omp parallel for schedule(static) if (outer * m * inner >= 65536)
    for (int64_t o = 0; o < outer; o++)
        rows_{T}(x + o * n * inner, out + o * m * inner, index, weight, m, taps, inner);
}

/* Two adjacent axes, (outer, n0, n1, inner) -> (outer, m0, m1, inner), the first
   axis first: each output row of the first pass (n1 * inner values) is made in a
   scratch row and resampled along the second axis at once, so the intermediate image
   never goes through memory. The same arithmetic, in the same order, as two calls of
   resample_{T}. Returns nonzero when a scratch row could not be allocated. */
int resample2_{T}(const {C} *x, {C} *out, const int32_t *index0, const {C} *weight0,
                  const int32_t *index1, const {C} *weight1, int64_t outer, int64_t n0,
                  int64_t n1, int64_t m0, int64_t m1, int64_t taps0, int64_t taps1,
                  int64_t inner) {
    int failed = 0;
    const int64_t width = n1 * inner;
    #pragma omp parallel if (outer * m0 * width >= 65536)
    {
        {C} *row = ({C} *)malloc((size_t)(width > 0 ? width : 1) * sizeof({C}));
        if (row == NULL) failed = 1;
        #pragma omp for schedule(static)
        for (int64_t r = 0; r < outer * m0; r++) {
            if (row == NULL) continue;
            const int64_t o = r / m0, i = r % m0;
            rows_{T}(x + o * n0 * width, row, index0 + i * taps0, weight0 + i * taps0,
                     1, taps0, width);
            rows_{T}(row, out + r * m1 * inner, index1, weight1, m1, taps1, inner);
        }
        free(row);
    }
    return failed;
}

void resample_transpose_{T}(const {C} *g, {C} *out, const int32_t *index,
                            const {C} *weight, int64_t outer, int64_t n, int64_t m,
                            int64_t taps, int64_t inner) {
    memset(out, 0, (size_t)(outer * n * inner) * sizeof({C}));
    #pragma omp parallel for schedule(static) if (outer * m * inner >= 65536)
    for (int64_t o = 0; o < outer; o++) {
        for (int64_t i = 0; i < m; i++) {
            const {C} *src = g + (o * m + i) * inner;
            for (int64_t t = 0; t < taps; t++) {
                {C} *dst = out + (o * n + index[i * taps + t]) * inner;
                {C} w = weight[i * taps + t];
                for (int64_t k = 0; k < inner; k++) dst[k] = dst[k] + w * src[k];
            }
        }
    }
}
"""

_TYPES = {"float32": "float", "float64": "double"}
SOURCE = "".join(
    _TEMPLATE.replace("{T}", name).replace("{C}", c_type) for name, c_type in _TYPES.items()
)


@functools.cache
def _functions() -> dict[str, dict] | None:
    """The C loops by kind and dtype, or ``None`` without a compiler."""
    library = toolchain.load(SOURCE)
    if library is None:
        return None
    pointers = [ctypes.c_void_p]
    return {
        "resample": binding.typed_functions(
            library, "resample", _TYPES, pointers * 4 + [ctypes.c_int64] * 5
        ),
        "resample_transpose": binding.typed_functions(
            library, "resample_transpose", _TYPES, pointers * 4 + [ctypes.c_int64] * 5
        ),
        "resample2": binding.typed_functions(
            library, "resample2", _TYPES, pointers * 6 + [ctypes.c_int64] * 8, ctypes.c_int
        ),
    }


class ResampleFunctions(NamedTuple):
    """The C loops: ``resample(x, index, weight, axis)``,
    ``resample_transpose(g, index, weight, axis, size)`` and
    ``resample2(x, index0, weight0, index1, weight1, axis)`` (axes ``axis`` then
    ``axis + 1``)."""

    resample: Callable
    resample_transpose: Callable
    resample2: Callable


def resample_functions() -> ResampleFunctions | None:
    """The functions running the C loops, or ``None`` without them. They take
    contiguous arrays of one float dtype (others go to the NumPy kernels) and trust the
    indices to lie inside the axis: the caller checks them."""
    functions = _functions()
    if functions is None:
        return None
    address = binding.address

    def call(kind: str, x: np.ndarray, index: np.ndarray, weight: np.ndarray,
             axis: int, size: int) -> np.ndarray:  # fmt: skip
        outer = int(np.prod(x.shape[:axis]))
        inner = int(np.prod(x.shape[axis + 1 :]))
        m = index.shape[0]
        shape = list(x.shape)
        shape[axis] = m if kind == "resample" else size
        out = np.empty(shape, dtype=x.dtype)
        n, rows = (x.shape[axis], m) if kind == "resample" else (size, x.shape[axis])
        function = functions[kind][x.dtype]
        function(address(x), address(out), address(index), address(weight),
                 outer, n, rows, index.shape[1], inner)  # fmt: skip
        return out

    def resample(x, index, weight, axis):
        return call("resample", x, index, weight, axis, 0)

    def resample_transpose(g, index, weight, axis, size):
        return call("resample_transpose", g, index, weight, axis, size)

    def resample2(x, index0, weight0, index1, weight1, axis):
        outer = int(np.prod(x.shape[:axis]))
        inner = int(np.prod(x.shape[axis + 2 :]))
        n0, n1 = x.shape[axis], x.shape[axis + 1]
        m0, m1 = index0.shape[0], index1.shape[0]
        out = np.empty((*x.shape[:axis], m0, m1, *x.shape[axis + 2 :]), dtype=x.dtype)
        failed = functions["resample2"][x.dtype](
            address(x), address(out), address(index0), address(weight0),
            address(index1), address(weight1), outer, n0, n1, m0, m1,
            index0.shape[1], index1.shape[1], inner,
        )  # fmt: skip
        if failed:
            raise MemoryError(f"resample: no memory for a scratch row of {n1 * inner} values.")
        return out

    return ResampleFunctions(resample, resample_transpose, resample2)
