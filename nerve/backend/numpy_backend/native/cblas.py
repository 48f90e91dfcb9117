"""NumPy's bundled OpenBLAS, reached from C: the library and the addresses of its
``sgemm`` and ``dgemm``, for C loops that run matrix products between their own steps
without coming back to Python (the Winograd convolution's chunks, a scan's steps).

Why: a C loop that returns to Python between its steps so that NumPy can run a
product releases and takes the GIL again at each step; with two threads running such
loops side by side, every hand-over of the GIL waits for the other thread to be woken
(tens of microseconds on a VM), and the Winograd chunks of the MNIST convnet ran no
faster on two threads than on one (2026-12-06, 2-vCPU Xeon). A loop given ``sgemm``'s
address runs all its steps in one call.

Only NumPy's own OpenBLAS wheels (``scipy-openblas``, 64-bit integers: the symbols
``scipy_cblas_sgemm64_`` and ``scipy_cblas_dgemm64_``) are used, after a probe product
checks the calling convention; elsewhere the addresses are ``None`` and callers keep
their NumPy path.
"""

from __future__ import annotations

import ctypes
import functools
import glob
import os
from typing import Any

import numpy as np

__all__ = [
    "DGEMM",
    "NO_TRANS",
    "ROW_MAJOR",
    "SGEMM",
    "TRANS",
    "dgemm_address",
    "library",
    "sgemm",
    "sgemm_address",
]

#: The CBLAS ``sgemm`` taken: NumPy's bundled OpenBLAS with 64-bit integers.
SGEMM = "scipy_cblas_sgemm64_"
#: ... and its ``dgemm``.
DGEMM = "scipy_cblas_dgemm64_"
#: CBLAS's layout and transposition codes.
ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112


@functools.cache
def library() -> ctypes.CDLL | None:
    """NumPy's bundled OpenBLAS (``numpy.libs/libscipy_openblas*``), or ``None``.

    >>> library() is None or hasattr(library(), "scipy_cblas_sgemm64_")
    True
    """
    folder = os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs")
    for path in sorted(glob.glob(os.path.join(folder, "libscipy_openblas*"))):
        try:
            return ctypes.CDLL(path)
        except OSError:
            continue
    return None


@functools.cache
def sgemm() -> Any:
    """``cblas_sgemm`` of NumPy's OpenBLAS as a ctypes function (row-major codes,
    64-bit integers, arrays as addresses), once a probe product through it matched
    NumPy's; else ``None``.

    >>> function = sgemm()
    >>> function is None or callable(function)
    True
    """
    return _checked_gemm(SGEMM, np.float32, ctypes.c_float)


@functools.cache
def dgemm() -> Any:
    """``cblas_dgemm`` of NumPy's OpenBLAS, as ``sgemm()`` for float64.

    >>> function = dgemm()
    >>> function is None or callable(function)
    True
    """
    return _checked_gemm(DGEMM, np.float64, ctypes.c_double)


def _checked_gemm(symbol: str, dtype: Any, scalar: Any) -> Any:
    found = library()
    function = getattr(found, symbol, None) if found is not None else None
    if function is None:
        return None
    function.restype = None
    i64, ptr = ctypes.c_int64, ctypes.c_void_p
    function.argtypes = (
        [ctypes.c_int] * 3 + [i64] * 3 + [scalar, ptr, i64, ptr, i64, scalar, ptr, i64]
    )
    a = np.arange(6, dtype=dtype).reshape(3, 2)  # used transposed: (2, 3)
    b = np.arange(12, dtype=dtype).reshape(3, 4) - 5
    out = np.ones((2, 4), dtype=dtype)
    function(ROW_MAJOR, TRANS, NO_TRANS, 2, 4, 3, 1.0, a.ctypes.data, 2, b.ctypes.data, 4,
             0.5, out.ctypes.data, 4)  # fmt: skip
    if not np.array_equal(out, a.T @ b + 0.5):
        return None
    return function


def _address(function: Any) -> int | None:
    return None if function is None else ctypes.cast(function, ctypes.c_void_p).value


@functools.cache
def sgemm_address() -> int | None:
    """The address of ``sgemm()`` for C code to call, or ``None``.

    >>> address = sgemm_address()
    >>> address is None or address > 0
    True
    """
    return _address(sgemm())


@functools.cache
def dgemm_address() -> int | None:
    """The address of ``dgemm()`` for C code to call, or ``None``.

    >>> dgemm_address() is None or dgemm_address() > 0
    True
    """
    return _address(dgemm())
