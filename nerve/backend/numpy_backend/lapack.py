"""The SVD on NumPy in the operand's own precision.

``numpy.linalg.svd`` of float32 computes in float64 (its linalg casts every real
operand to double and the results back), so it ran ~2x slower than SciPy's
``sgesdd`` on the 2-core VM this project is benchmarked on (NumPy 2.4 with its
bundled OpenBLAS 0.3.31, 512x512 float32: 195 vs 92 ms on one core). NumPy's own
gufunc has float32 loops: ``gufunc_svd`` calls it with a float32 signature, which is
LAPACK's ``sgesdd``, batched, without SciPy.

Tried and dropped (2026-12-06): running gesdd's own LAPACK steps through ctypes with
the bidiagonal SVD (``bdsdc``) and the forming of Q and P^T (``orgbr``) side by side
on the two cores. Under load it held up better than gesdd, but on the quiet VM it
took 98-102 ms against 75 ms for SciPy's gesdd on two BLAS threads.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

__all__ = ["gufunc_svd"]

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
