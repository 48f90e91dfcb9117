"""Loops in C for short-time transforms: windowed framing, and the real and imaginary
parts of complex results.

The signal is viewed as ``(batch, n)``; ``frames`` writes ``out[b, t, k] =
x[b, t * stride + k] * window[k]`` (``x`` padded by reflection first): one pass
that writes each windowed frame once, reading a signal that stays in cache, where
NumPy pads with a concatenation and multiplies a strided view of overlapping frames.
``part`` copies the real or the imaginary part of a contiguous complex array out
(NumPy's strided copy of every other value is ~1.5x slower on a spectrogram).
Each is ``None`` when native kernels are off (see ``toolchain``): NumPy kernels
then run.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable

import numpy as np

from nerve.backend.numpy_backend.native import binding, codegen, toolchain

__all__ = ["frames_function", "part_function"]

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

_TYPES = {"float32": "float", "float64": "double"}
_COMPLEX = {"complex64": "float32", "complex128": "float64"}
SOURCE = codegen.library_source(
    [
        template.replace("{T}", name).replace("{C}", c_type)
        for template in (_TEMPLATE, _PARTS)
        for name, c_type in _TYPES.items()
    ],
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
