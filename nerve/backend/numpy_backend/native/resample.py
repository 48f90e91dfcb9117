"""Separable resampling in C: the ``resample`` and ``resample_transpose`` kernels.

The array is viewed as ``(outer, n, inner)`` around the resampled axis. ``resample``
writes ``out[o, i, :] = sum_t weights[i, t] * x[o, indices[i, t], :]``, taps in
order (the first tap initializes, so results equal NumPy's left-to-right sum);
``resample_transpose`` adds each ``weights[i, t] * g[o, i, :]`` back into row
``indices[i, t]``. One pass over the data each, where NumPy needs a gather, a
multiply and an add per tap. ``None`` when native kernels are off (see
``toolchain``): the NumPy kernels then run. Rows ``o`` are independent, so with
OpenMP (``NERVE_NATIVE_THREADS=1``) large calls split them across threads.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable

import numpy as np

from nerve.backend.numpy_backend.native import toolchain

__all__ = ["resample_functions"]

_TEMPLATE = r"""
#include <stdint.h>
#include <string.h>

void resample_{T}(const {C} *x, {C} *out, const int32_t *index, const {C} *weight,
                  int64_t outer, int64_t n, int64_t m, int64_t taps, int64_t inner) {
    #pragma omp parallel for schedule(static) if (outer * m * inner >= 65536)
    for (int64_t o = 0; o < outer; o++) {
        for (int64_t i = 0; i < m; i++) {
            {C} *dst = out + (o * m + i) * inner;
            const int32_t *row_index = index + i * taps;
            const {C} *row_weight = weight + i * taps;
            const {C} *src = x + (o * n + row_index[0]) * inner;
            {C} w = row_weight[0];
            for (int64_t k = 0; k < inner; k++) dst[k] = w * src[k];
            for (int64_t t = 1; t < taps; t++) {
                src = x + (o * n + row_index[t]) * inner;
                w = row_weight[t];
                for (int64_t k = 0; k < inner; k++) dst[k] = dst[k] + w * src[k];
            }
        }
    }
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
def _library() -> ctypes.CDLL | None:
    library = toolchain.load(SOURCE)
    if library is None:
        return None
    for name in _TYPES:
        for kind in ("resample", "resample_transpose"):
            function = getattr(library, f"{kind}_{name}")
            function.restype = None
            function.argtypes = [ctypes.c_void_p] * 4 + [ctypes.c_int64] * 5
    return library


def resample_functions() -> tuple[Callable, Callable] | None:
    """``(resample, resample_transpose)`` running the C loops, or ``None`` without them.
    Both take contiguous arrays of one float dtype (others go to the NumPy kernels) and
    trust the indices to lie inside the axis: the caller checks them."""
    library = _library()
    if library is None:
        return None

    def call(kind: str, x: np.ndarray, index: np.ndarray, weight: np.ndarray,
             axis: int, size: int) -> np.ndarray:  # fmt: skip
        outer = int(np.prod(x.shape[:axis]))
        inner = int(np.prod(x.shape[axis + 1 :]))
        m = index.shape[0]
        shape = list(x.shape)
        shape[axis] = m if kind == "resample" else size
        out = np.empty(shape, dtype=x.dtype)
        n, rows = (x.shape[axis], m) if kind == "resample" else (size, x.shape[axis])
        function = getattr(library, f"{kind}_{x.dtype.name}")
        function(x.ctypes.data, out.ctypes.data, index.ctypes.data, weight.ctypes.data,
                 outer, n, rows, index.shape[1], inner)  # fmt: skip
        return out

    def resample(x, index, weight, axis):
        return call("resample", x, index, weight, axis, 0)

    def resample_transpose(g, index, weight, axis, size):
        return call("resample_transpose", g, index, weight, axis, size)

    return resample, resample_transpose
