"""PNG's scanline filters undone in C: the ``png_unfilter`` kernel's native loop.

A PNG image's inflated data is one filter-type byte per row followed by the row's
filtered bytes; each type (PNG specification, section 9: None, Sub, Up, Average,
Paeth) predicts a byte from its left, upper and upper-left neighbours, so rows are
undone one after another, left to right: a sequential loop NumPy cannot vectorize.
``None`` when native kernels are off (see ``toolchain``): the NumPy kernel then runs.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable

import numpy as np

from nerve.backend.numpy_backend.native import toolchain

__all__ = ["unfilter_function"]

SOURCE = r"""
#include <stdint.h>
#include <string.h>

/* Rows of `height` per image, images one after another (each image's first row has
   no row above it). Returns 0, or 1 + the index of the first row (counted over all
   images) with an unknown filter type. */
int64_t png_unfilter(const uint8_t *src, uint8_t *dst, int64_t rows, int64_t height,
                     int64_t row_bytes, int64_t bpp) {
    for (int64_t y = 0; y < rows; y++) {
        const uint8_t *in = src + y * (row_bytes + 1) + 1;
        uint8_t *out = dst + y * row_bytes;
        const uint8_t *up = y % height ? out - row_bytes : NULL;
        int64_t i;
        switch (src[y * (row_bytes + 1)]) {
        case 0:
            memcpy(out, in, (size_t)row_bytes);
            break;
        case 1:
            for (i = 0; i < row_bytes; i++)
                out[i] = (uint8_t)(in[i] + (i >= bpp ? out[i - bpp] : 0));
            break;
        case 2:
            for (i = 0; i < row_bytes; i++)
                out[i] = (uint8_t)(in[i] + (up ? up[i] : 0));
            break;
        case 3:
            for (i = 0; i < row_bytes; i++) {
                int left = i >= bpp ? out[i - bpp] : 0, above = up ? up[i] : 0;
                out[i] = (uint8_t)(in[i] + ((left + above) >> 1));
            }
            break;
        case 4:
            for (i = 0; i < row_bytes; i++) {
                int a = i >= bpp ? out[i - bpp] : 0, b = up ? up[i] : 0;
                int c = (i >= bpp && up) ? up[i - bpp] : 0;
                int p = a + b - c;
                int pa = p > a ? p - a : a - p, pb = p > b ? p - b : b - p;
                int pc = p > c ? p - c : c - p;
                int predicted = (pa <= pb && pa <= pc) ? a : (pb <= pc ? b : c);
                out[i] = (uint8_t)(in[i] + predicted);
            }
            break;
        default:
            return y + 1;
        }
    }
    return 0;
}
"""


@functools.cache
def _library() -> ctypes.CDLL | None:
    library = toolchain.load(SOURCE)
    if library is None:
        return None
    library.png_unfilter.restype = ctypes.c_int64
    int64 = ctypes.c_int64
    library.png_unfilter.argtypes = [ctypes.c_char_p, ctypes.c_void_p, *[int64] * 4]
    return library


def unfilter_function() -> Callable[[bytes, int, int, int, int], tuple[np.ndarray, int]] | None:
    """``unfilter(data, images, height, row_bytes, bpp) -> (rows, bad_row)``: ``data``
    holds ``images * height * (row_bytes + 1)`` bytes (the caller checks), images of
    one geometry one after another; ``rows`` is ``(images, height, row_bytes)``
    ``uint8``; ``bad_row`` is 0, or 1 + the first row (over all images) whose filter
    type is unknown. ``None`` without native kernels. ctypes lets go of the GIL during
    the call, so threads unfilter side by side."""
    library = _library()
    if library is None:
        return None

    def unfilter(
        data: bytes, images: int, height: int, row_bytes: int, bpp: int
    ) -> tuple[np.ndarray, int]:
        rows = np.empty((images, height, row_bytes), dtype=np.uint8)
        address = rows.__array_interface__["data"][0]
        bad = library.png_unfilter(data, address, images * height, height, row_bytes, bpp)
        return rows, int(bad)

    return unfilter
