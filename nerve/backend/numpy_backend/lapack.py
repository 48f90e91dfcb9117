"""The SVD on NumPy: in the operand's own precision, and on two cores when BLAS has two.

Two findings, measured on the 2-core VM this project is benchmarked on (NumPy 2.4
with its bundled OpenBLAS 0.3.31, 512x512 float32, 2026-12-05):

- ``numpy.linalg.svd`` of float32 computes in float64 (its linalg casts every real
  operand to double and the results back), so it ran ~2x slower than SciPy's
  ``sgesdd`` (195 vs 92 ms on one core). NumPy's own gufunc has float32 loops;
  ``gufunc_svd`` calls it with a float32 signature: LAPACK's ``sgesdd``, batched,
  without SciPy.
- ``gesdd`` gains almost nothing from a second OpenBLAS thread (92 -> 86 ms): its
  bidiagonal reduction ``gebrd`` (31 ms, half of it matrix-vector products), the
  divide-and-conquer SVD of the bidiagonal ``bdsdc`` (25 ms) and forming the
  reflectors ``orgbr`` (10 ms each for Q and P) ran no faster with two threads
  (and ``gebrd`` up to 3x slower while other processes held a core). Only
  ``bdsdc`` and the two ``orgbr`` are independent of each other, so ``_two_core_svd``
  runs the same LAPACK steps as ``gesdd``, with ``bdsdc`` and the ``orgbr`` pair
  side by side on two single-threaded cores and the two final products
  (``U = Q U_B``, ``V^T = V_B^T P^T``) on both. Its critical path is ~70 ms of
  one-core phase times (31 + 30 + ~9 ms; gesdd on two threads: 86 ms on the quiet
  VM). As every LAPACK step runs on one thread, it also holds up under load: with
  the VM at load 5, 174 ms best and 298 ms median against 304 / 736 ms for SciPy's
  gesdd and 361 / 899 ms for PyTorch's.

The LAPACK routines are those of the OpenBLAS NumPy ships, called through ctypes,
found by their symbol names and checked against ``numpy.linalg`` on a probe; where
they are not there (another NumPy build) the kernel (``linalg.py``) runs SciPy's
gesdd, the gufunc or ``numpy.linalg.svd``. Every step is LAPACK's backward-stable algorithm:
Householder bidiagonalization, divide and conquer, explicit orthogonal factors.
"""

from __future__ import annotations

import ctypes
import functools
import glob
import os
import threading
from typing import Any

import numpy as np

__all__ = ["TWO_CORE_FROM", "gufunc_svd", "two_core_svd"]

#: The smaller side from which a matrix's SVD runs on two cores (below it the
#: hand-over to the second thread costs more than it saves).
TWO_CORE_FROM = 160


# -- NumPy's float32 gufunc ---------------------------------------------------------------


@functools.cache
def _gufuncs() -> dict | None:
    """NumPy's private SVD gufuncs (``svd_f``: full U and V^T, ``svd_s``: reduced,
    ``svd``: values), or ``None`` when they are missing or a float32 signature does
    not give float32 results agreeing with ``numpy.linalg.svd`` on a probe."""
    try:
        from numpy.linalg import _umath_linalg  # type: ignore[attr-defined]

        found = {
            (True, True): _umath_linalg.svd_f,
            (False, True): _umath_linalg.svd_s,
            (True, False): _umath_linalg.svd,
            (False, False): _umath_linalg.svd,
        }
        probe = np.array([[3.0, 1.0, 0.5], [1.0, 2.0, -1.0]], dtype=np.float32)
        u, s, vh = found[False, True](probe, signature="f->fff")
        expected = np.linalg.svd(probe.astype(np.float64), compute_uv=False)
        if s.dtype != np.float32 or not np.allclose(s, expected, rtol=1e-5):
            return None
        if not np.allclose((u * s) @ vh, probe, atol=1e-5):
            return None
    except Exception:  # another NumPy: numpy.linalg.svd runs
        return None
    return found


def gufunc_svd(a: np.ndarray, full_matrices: bool, compute_uv: bool) -> tuple | None:
    """LAPACK's gesdd in the operand's precision (float32 or float64, any batch), or
    ``None`` where the gufunc is unavailable.

    >>> import numpy as np
    >>> a = np.array([[3.0, 0.0], [0.0, -2.0]], dtype=np.float32)
    >>> [float(v) for v in gufunc_svd(a, full_matrices=True, compute_uv=False)[0]]
    [3.0, 2.0]
    """
    found = _gufuncs()
    if found is None or a.dtype.char not in "fd":
        return None
    char = a.dtype.char
    signature = f"{char}->{char * 3}" if compute_uv else f"{char}->{char}"
    # numpy.linalg's own error handling: a LAPACK failure sets the invalid flag.
    with np.errstate(call=_not_converged, invalid="call", over="ignore", divide="ignore",
                     under="ignore"):  # fmt: skip
        out = found[full_matrices, compute_uv](a, signature=signature)
    return tuple(out) if compute_uv else (out,)


def _not_converged(*_: Any) -> None:
    raise np.linalg.LinAlgError("SVD did not converge")


# -- the LAPACK steps of gesdd, called directly ---------------------------------------------


class _Lapack:
    """The routines of NumPy's bundled OpenBLAS (64-bit integers, ``scipy_`` prefix
    and ``64_`` suffix on its symbols) that ``_two_core_svd`` calls."""

    def __init__(self, library: ctypes.CDLL) -> None:
        self.library = library
        for name in ("gebrd", "bdsdc", "orgbr"):
            for char in "sd":
                getattr(library, f"scipy_{char}{name}_64_")  # AttributeError: missing
        self.get_threads = library.scipy_openblas_get_num_threads64_
        self.get_threads.restype = ctypes.c_int
        self.set_threads = library.scipy_openblas_set_num_threads64_
        self.set_threads.argtypes = [ctypes.c_int]
        self.set_threads.restype = None

    def call(self, char: str, name: str, *args: Any, chars: int = 0) -> int:
        """Call ``{char}{name}`` with ``args`` (ints become 64-bit integers passed by
        reference, arrays pointers, bytes character arguments) and return its INFO."""
        info = ctypes.c_int64(0)
        converted: list = []
        for arg in args:
            if isinstance(arg, np.ndarray):
                converted.append(arg.ctypes.data_as(ctypes.c_void_p))
            elif isinstance(arg, bytes):
                converted.append(ctypes.c_char_p(arg))
            elif arg is None:
                converted.append(None)
            else:
                converted.append(ctypes.byref(ctypes.c_int64(arg)))
        # Fortran's hidden lengths of the character arguments come last.
        lengths = [ctypes.c_size_t(1)] * chars
        getattr(self.library, f"scipy_{char}{name}_64_")(*converted, ctypes.byref(info), *lengths)
        return info.value


def _library_paths() -> list:
    root = os.path.dirname(np.__file__)
    found = []
    for folder in (os.path.join(root, os.pardir, "numpy.libs"), os.path.join(root, ".dylibs")):
        found += sorted(glob.glob(os.path.join(folder, "*openblas64_*")))
    return found


@functools.cache
def _lapack() -> _Lapack | None:
    """NumPy's bundled LAPACK, when it is there and ``_two_core_svd`` agrees with
    ``numpy.linalg.svd`` on a probe; else ``None``."""
    for path in _library_paths():
        try:
            lapack = _Lapack(ctypes.CDLL(path))
            rng = np.random.default_rng(0)
            for dtype in ("float32", "float64"):
                probe = rng.standard_normal((7, 5)).astype(dtype)
                for shape in (probe, probe.T):
                    u, s, vh = _two_core_svd(lapack, shape, full_matrices=True)
                    expected = np.linalg.svd(shape.astype(np.float64), compute_uv=False)
                    tolerance = 1e-4 if dtype == "float32" else 1e-10
                    if not (
                        u.shape == (shape.shape[0],) * 2
                        and vh.shape == (shape.shape[1],) * 2
                        and s.dtype == np.dtype(dtype)
                        and np.allclose(s, expected, rtol=tolerance)
                        and np.allclose((u[:, : s.size] * s) @ vh[: s.size], shape, atol=tolerance)
                        and np.allclose(u.T @ u, np.eye(u.shape[0]), atol=tolerance)
                    ):
                        return None
        except Exception:  # missing symbols, another ABI: the gufunc runs
            continue
        return lapack
    return None


#: One SVD at a time changes the BLAS thread count. It is process-wide in OpenBLAS
#: (its "local" setter sets it too), so BLAS calls of other threads run on one
#: thread while an SVD's LAPACK steps do (~60 ms at 512x512).
_LOCK = threading.Lock()


def _two_core_svd(lapack: _Lapack, a: np.ndarray, full_matrices: bool) -> tuple:
    """``u, s, vh`` of one float32/float64 matrix by gesdd's steps: ``gebrd``
    (A = Q B P^T), then ``bdsdc`` (B = U_B S V_B^T) on this thread while a second
    thread forms Q and P^T (``orgbr``), each with one BLAS thread; then the two
    products with all of them."""
    m, n = a.shape
    if m < n:  # the transpose's SVD, with the factors swapped and transposed
        u, s, vh = _two_core_svd(lapack, a.T, full_matrices)
        return vh.T, s, u.T
    char = "s" if a.dtype == np.float32 else "d"
    dtype = a.dtype
    columns = m if full_matrices else n
    # Q needs ``columns`` columns of room; its first n hold the reflectors.
    q = np.empty((m, columns), dtype=dtype, order="F")
    q[:, :n] = a
    d, e = np.empty(n, dtype), np.empty(max(n - 1, 1), dtype)
    tau_q, tau_p = np.empty(n, dtype), np.empty(n, dtype)
    work = np.empty(max(64 * (m + n), 1), dtype)
    u_b = np.empty((n, n), dtype=dtype, order="F")
    vt_b = np.empty((n, n), dtype=dtype, order="F")
    with _LOCK:
        threads = lapack.get_threads()
        lapack.set_threads(1)
        try:
            info = lapack.call(char, "gebrd", m, n, q, m, d, e, tau_q, tau_p, work, work.size)
            if info != 0:
                raise np.linalg.LinAlgError(f"gebrd failed (info {info})")
            p_t = np.array(q[:n, :n], order="F")

            statuses: list = []

            def factors() -> None:
                # Its own buffer: ``work`` is bdsdc's meanwhile.
                scratch = np.empty(max(64 * (m + n), 1), dtype)
                for vect, rows, cols, matrix, tau in (
                    (b"Q", m, columns, q, tau_q),
                    (b"P", n, n, p_t, tau_p),
                ):
                    statuses.append(lapack.call(
                        char, "orgbr", vect, rows, cols, n, matrix, rows, tau, scratch,
                        scratch.size, chars=1,
                    ))  # fmt: skip

            # A thread per call (~0.1 ms) rather than a pool: a pool's idle thread does
            # not survive a fork, and a forked child would wait for it forever.
            helper = threading.Thread(target=factors, name="nerve-svd", daemon=True)
            helper.start()
            bd_work = np.empty(3 * n * n + 4 * n, dtype)
            bd_iwork = np.empty(8 * n, np.int64)
            info = lapack.call(
                char, "bdsdc", b"U", b"I", n, d, e, u_b, n, vt_b, n, None, None, bd_work,
                bd_iwork, chars=2,
            )  # fmt: skip
            helper.join()
        finally:
            lapack.set_threads(threads)
    if statuses != [0, 0]:
        raise np.linalg.LinAlgError(f"orgbr failed (info {statuses})")
    if info != 0:
        raise np.linalg.LinAlgError("SVD did not converge")
    u = np.matmul(q[:, :n], u_b)
    if full_matrices and m > n:
        u = np.concatenate([u, q[:, n:]], axis=1)
    return u, d, np.matmul(vt_b, p_t)


def _safe_for_two_cores(a: np.ndarray) -> bool:
    """Whether ``a``'s entries are finite and of a size gesdd would not rescale
    first (it scales matrices whose largest entry is below sqrt(tiny)/eps or above
    its inverse, to keep the reduction from under- or overflowing); the rest take
    gesdd itself."""
    largest = float(np.max(np.abs(a)))
    info = np.finfo(a.dtype)
    small = np.sqrt(info.tiny) / info.eps
    return bool(np.isfinite(largest) and small <= largest <= 1 / small)


def two_core_svd(a: np.ndarray, full_matrices: bool) -> tuple | None:
    """``u, s, vh`` of a float32/float64 stack ``(..., m, n)`` on two cores, or ``None``
    where that does not pay or is not available: BLAS set to one thread, a smaller
    side under ``TWO_CORE_FROM``, a matrix much taller than wide (gesdd factors it by
    QR first), entries gesdd would rescale first, or no bundled OpenBLAS.

    >>> import numpy as np
    >>> a = np.random.default_rng(0).standard_normal((200, 200)).astype(np.float32)
    >>> out = two_core_svd(a, full_matrices=False)
    >>> out is None or bool(np.allclose((out[0] * out[1]) @ out[2], a, atol=1e-4))
    True
    """
    if a.dtype.char not in "fd":
        return None
    m, n = a.shape[-2:]
    if min(m, n) < TWO_CORE_FROM or max(m, n) * 6 >= min(m, n) * 11:
        return None
    lapack = _lapack()
    if lapack is None or lapack.get_threads() < 2:
        return None
    if a.ndim == 2:
        return _two_core_svd(lapack, a, full_matrices) if _safe_for_two_cores(a) else None
    flat = a.reshape(-1, m, n)
    if not all(_safe_for_two_cores(x) for x in flat):
        return None
    parts = [_two_core_svd(lapack, x, full_matrices) for x in flat]
    return tuple(
        np.stack([p[i] for p in parts]).reshape(*a.shape[:-2], *parts[0][i].shape) for i in range(3)
    )
