"""The SVD of a square float32 matrix: gesdd's steps, with the bidiagonalization in C.

LAPACK's ``sgesdd`` of an n x n matrix runs three steps: ``sgebrd`` reduces it to a
bidiagonal ``B = Q^T A P``, ``sbdsdc`` (divide and conquer) takes ``B = U_B S V_B^T``,
and ``sormbr`` applies ``Q`` and ``P`` to ``U_B`` and ``V_B^T``. Measured on the
2-vCPU Xeon (2026-12-06, 512x512, one thread, SciPy's and NumPy's OpenBLAS): 13,
12.5 and 2 x 4.3 ms. Half of ``sgebrd``'s time is two ``sgemv`` per column over the
trailing matrix; ``native.bidiagonal`` does both in one pass, and the panels' trailing
updates are ``sgemm`` calls that accumulate into the matrix in place (a NumPy
product and subtraction took 4 ms instead of 2): the reduction takes ~7 ms. The other
two steps are LAPACK's, from the OpenBLAS NumPy ships (``sbdsdc`` and ``sormbr``
through ctypes, 64-bit integers), so nothing here needs SciPy.

Two cores: none of the three steps gains from OpenBLAS's second thread (``sgebrd``
lost up to 40%: its threaded ``sgemv`` calls are too small), but the two ``sormbr``
calls are independent: where OpenBLAS has two threads, they run side by side on one
thread each (``threads.run_split``), everything else on one thread.

Where it runs: 2-D float32 square matrices from ``MIN_SIZE`` rows, finite, with
entries of a size ``sgesdd`` would not rescale (it scales matrices whose largest
entry is below sqrt(tiny)/eps or above the inverse before reducing them); and only
where the C loop compiles, NumPy's OpenBLAS has the routines, and a probe against
NumPy's float64 SVD agrees. ``svd`` answers ``None`` for anything else, and the
caller runs its other path. The results are LAPACK's up to rounding: Householder
reflectors (norms summed in double, so without LAPACK's rescaling loops), the same
divide and conquer, the same back-transformation; backward stable like gesdd.

Tried (2026-12-06, one thread, 512x512): applying ``Q`` and ``P`` as blocks of 128
reflectors instead of ``sormbr``'s 32: with ``slarft`` and three NumPy products per
block, 9 ms for the pair against 8.5; with the products as in-place ``sgemm`` and
``strmm`` calls, 7 ms plus the blocks' triangular factors (4.4 ms formed in NumPy,
~0.4 ms were they formed in C): ~1 ms (4% of the SVD) for another C kernel, not
taken. Where the SVD's time goes now: ``sbdsdc`` 12.5 ms (its secular equations
``slasd4`` and the merges' vector updates ``slasd3``, LAPACK's own code), the two
``sormbr`` 8.5 ms, the reduction 7 ms (the fused passes ~2.5, the panels' other
products ~2.5, the trailing ``sgemm`` ~2). On two cores, forming ``Q`` and ``P``
(``sorgbr``, 3.6 + 4.7 ms) beside ``sbdsdc`` (13.5 ms) and then two products (1.8 ms
each, side by side) instead of the ``sormbr`` pair: 35 ms against 31 for the pair
while other processes held the second core part of the time (load ~4): it does
12 ms of work where the pair does 8.5, and gains only when the second core is free.
One trailing product of inner size 64 per panel instead of two of 32 (``[Y U]`` and
``[V X]`` copied side by side): 8.84 against 8.66 ms for the reduction, not taken.
"""

from __future__ import annotations

import ctypes
import functools
import threading
from typing import Any

import numpy as np

from nerve.backend.numpy_backend.native import bidiagonal, cblas, threads

__all__ = ["MIN_SIZE", "PANEL", "svd"]

#: Rows from which a square float32 SVD takes this path (smaller ones: gesdd).
MIN_SIZE = 128
#: Columns per panel of the bidiagonalization (LAPACK's block size for ``sgebrd``).
PANEL = 32

_LOCK = threading.Lock()


class _OpenBLAS:
    """``cblas_sgemm``, ``sbdsdc`` and ``sormbr`` of NumPy's bundled OpenBLAS (the
    ``scipy_`` prefix and ``64_`` suffix of its symbols: 64-bit integers)."""

    def __init__(self, library: ctypes.CDLL) -> None:
        sgemm = cblas.sgemm()
        if sgemm is None:
            raise AttributeError(f"no checked {cblas.SGEMM} in NumPy's OpenBLAS")
        self.sgemm = sgemm
        self.sbdsdc = library.scipy_sbdsdc_64_
        self.sormbr = library.scipy_sormbr_64_
        for function in (self.sbdsdc, self.sormbr):
            function.restype = None

    def fortran(self, function: Any, *args: Any, chars: int) -> int:
        """Call a LAPACK routine: ints by reference as 64-bit integers, arrays as
        pointers, bytes as character arguments (then their hidden lengths); returns
        INFO."""
        info = ctypes.c_int64(0)
        converted: list = []
        for arg in args:
            if isinstance(arg, np.ndarray):
                converted.append(ctypes.c_void_p(arg.ctypes.data))
            elif isinstance(arg, bytes):
                converted.append(ctypes.c_char_p(arg))
            elif arg is None:
                converted.append(None)
            else:
                converted.append(ctypes.byref(ctypes.c_int64(arg)))
        function(*converted, ctypes.byref(info), *[ctypes.c_size_t(1)] * chars)
        return info.value


@functools.cache
def _openblas() -> _OpenBLAS | None:
    library = cblas.library()
    try:
        return None if library is None else _OpenBLAS(library)
    except AttributeError:  # another build (32-bit integers): gesdd runs
        return None


#: Sides up to which a thread keeps its SVD's scratch memory (the reduced matrix and
#: ``sbdsdc``'s workspace, 16 n^2 bytes) from one call to the next: fresh memory costs
#: a page fault per 4 KiB, and at 512x512 the kernel spent ~1.4 of the SVD's ~30 ms
#: zeroing those 4 MB of new pages (1,434 faults per call, 2 ms of system time).
KEEP_SCRATCH_UP_TO = 1024
_kept = threading.local()


def _scratch(name: str, n: int, shape: tuple, dtype: Any) -> np.ndarray:
    """An uninitialized array for this thread's SVD of side ``n``: the one its last
    call used where that had the same shape (and ``n`` is small enough to keep),
    else a new one."""
    if n > KEEP_SCRATCH_UP_TO:
        return np.empty(shape, dtype)
    kept = getattr(_kept, name, None)
    if kept is None or kept.shape != shape or kept.dtype != dtype:
        kept = np.empty(shape, dtype)
        setattr(_kept, name, kept)
    return kept


def _bidiagonalize(blas: _OpenBLAS, panel: Any, a: np.ndarray) -> tuple:
    """``sgebrd`` of the n x n column-major matrix ``F = a^T``: returns ``F``'s buffer
    (C order, ``buffer[j, i]`` is ``F[i, j]``) with the reflectors where ``sgebrd``
    leaves them, the diagonal, the superdiagonal and the two arrays of scalars."""
    n = a.shape[0]
    buffer = _scratch("buffer", n, (n, n), np.float32)
    np.copyto(buffer, a)
    d, e = np.empty(n, np.float32), np.zeros(n, np.float32)
    tau_q, tau_p = np.empty(n, np.float32), np.zeros(n, np.float32)
    base, item = buffer.ctypes.data, buffer.itemsize
    for k in range(0, n, PANEL):
        nb, rest = min(PANEL, n - k), n - k
        x, y = np.empty((nb, rest), np.float32), np.empty((nb, rest), np.float32)
        panel(buffer[k:, k:], rest, rest, nb, d[k:], e[k:], tau_q[k:], tau_p[k:], x, y)
        trailing = rest - nb
        if trailing == 0:
            continue
        # F[k+nb:, k+nb:] -= V Y^T + X U^T, in buffer terms (transposed): the corner
        # buffer[k+nb:, k+nb:] -= y[:, nb:]^T buffer[k:k+nb, k+nb:]
        #                         + buffer[k+nb:, k:k+nb] x[:, nb:]
        corner = base + ((k + nb) * n + k + nb) * item
        rows_u = base + ((k + nb) * n + k) * item  # buffer[k+nb:, k:k+nb]
        rows_v = base + (k * n + k + nb) * item  # buffer[k:k+nb, k+nb:]
        y_rest, x_rest = y.ctypes.data + nb * item, x.ctypes.data + nb * item
        size = (trailing, trailing, nb)
        row, trans, keep = cblas.ROW_MAJOR, cblas.TRANS, cblas.NO_TRANS
        blas.sgemm(row, trans, keep, *size, -1.0, y_rest, rest, rows_v, n, 1.0, corner, n)
        blas.sgemm(row, keep, keep, *size, -1.0, rows_u, n, x_rest, rest, 1.0, corner, n)
    return buffer, d, e, tau_q, tau_p


def _bdsdc(blas: _OpenBLAS, d: np.ndarray, e: np.ndarray, vectors: tuple | None) -> None:
    """``sbdsdc`` of the upper bidiagonal ``(d, e)``: the singular values into ``d``,
    and with ``vectors = (u, vt)`` LAPACK's column-major ``U_B`` and ``V_B^T`` into
    those C-order arrays (so as their transposes)."""
    n = d.size
    u, vt = vectors if vectors is not None else (None, None)
    work = _scratch("work", n, (3 * n * n + 4 * n if vectors is not None else 4 * n,), np.float32)
    iwork = _scratch("iwork", n, (8 * n,), np.int64)
    job = b"I" if vectors is not None else b"N"
    info = blas.fortran(blas.sbdsdc, b"U", job, n, d, e, u, n, vt, n, None, None, work, iwork,
                        chars=2)  # fmt: skip
    if info != 0:
        raise np.linalg.LinAlgError("SVD did not converge")


def _factor(blas: _OpenBLAS, panel: Any, a: np.ndarray, compute_uv: bool, cores: int = 1) -> tuple:
    """``(u, s, vh)`` of the square float32 matrix ``a`` (or ``(s,)``), the two
    ``sormbr`` calls on ``min(cores, 2)`` threads (the same arithmetic either way)."""
    n = a.shape[0]
    buffer, d, e, tau_q, tau_p = _bidiagonalize(blas, panel, a)
    if not compute_uv:
        _bdsdc(blas, d, e, None)
        return (d,)
    # F = a^T = Q B P^T and B = U_B S V_B^T, so a = (P V_B) S (Q U_B)^T.
    ub_t, vb = np.empty((n, n), np.float32), np.empty((n, n), np.float32)
    _bdsdc(blas, d, e, (ub_t, vb))
    # Q U_B (column-major, so ub_t in C order) and V_B^T P^T (C order: P V_B): one
    # thread each where there are two cores.
    statuses: list = []

    def apply(vect: bytes, side: bytes, trans: bytes, tau: np.ndarray, matrix: np.ndarray) -> None:
        scratch = np.empty(64 * n, np.float32)
        statuses.append(blas.fortran(blas.sormbr, vect, side, trans, n, n, n, buffer, n, tau,
                                     matrix, n, scratch, scratch.size, chars=3))  # fmt: skip

    parts = [
        functools.partial(apply, b"Q", b"L", b"N", tau_q, ub_t),
        functools.partial(apply, b"P", b"R", b"T", tau_p, vb),
    ]
    threads.run_split(parts, min(2, cores))
    if statuses != [0, 0]:
        raise np.linalg.LinAlgError(f"sormbr failed (info {statuses})")
    return vb, d, ub_t


def _safe(a: np.ndarray) -> bool:
    """Finite entries of a size gesdd would not rescale first (module docstring)."""
    largest = float(np.max(np.abs(a)))
    info = np.finfo(np.float32)
    small = float(np.sqrt(info.tiny) / info.eps)
    return bool(np.isfinite(largest) and small <= largest <= 1 / small)


@functools.cache
def _ready() -> tuple[_OpenBLAS, Any] | None:
    """(OpenBLAS routines, the C panel) when both are there and a probe agrees with
    NumPy's float64 SVD; else ``None``."""
    blas, panel = _openblas(), bidiagonal.panel_function()
    if blas is None or panel is None:
        return None
    probe = np.random.default_rng(0).standard_normal((70, 70)).astype(np.float32)
    try:
        u, s, vh = _factor(blas, panel, probe, compute_uv=True)
    except Exception:  # another ABI: gesdd runs
        return None
    expected = np.linalg.svd(probe.astype(np.float64), compute_uv=False)
    eye = np.eye(70)
    if not (
        np.allclose(s, expected, rtol=1e-4, atol=1e-5)
        and np.allclose((u * s) @ vh, probe, atol=1e-4)
        and np.allclose(u.T @ u, eye, atol=1e-4)
        and np.allclose(vh @ vh.T, eye, atol=1e-4)
    ):
        return None
    return blas, panel


def svd(a: Any, *, full_matrices: bool, compute_uv: bool) -> tuple | None:
    """``(u, s, vh)`` (or ``(s,)`` without ``compute_uv``) of a square float32 matrix
    by the steps in the module docstring, or ``None`` where they do not run (the
    caller then runs gesdd). A square matrix's full and reduced factors are the same.

    >>> import numpy as np
    >>> a = np.diag(np.arange(1.0, 201.0)).astype(np.float32)
    >>> out = svd(a, full_matrices=True, compute_uv=False)
    >>> out is None or [round(float(v)) for v in out[0][:2]] == [200, 199]
    True
    """
    if not isinstance(a, np.ndarray) or a.dtype != np.float32 or not a.dtype.isnative:
        return None
    if a.ndim != 2 or a.shape[0] != a.shape[1] or a.shape[0] < MIN_SIZE or not _safe(a):
        return None
    ready = _ready()
    if ready is None:
        return None
    blas, panel = ready
    cores = threads.cores() if compute_uv else 1
    if cores < 2:
        return _factor(blas, panel, a, compute_uv)
    # Each sormbr on a core of its own, with OpenBLAS on one thread meanwhile; its
    # thread count is process-wide, so one such SVD at a time changes it.
    with _LOCK, threads.hold():
        return _factor(blas, panel, a, compute_uv, cores)
