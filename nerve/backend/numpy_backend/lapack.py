"""NumPy's linear algebra in the operand's own precision.

``numpy.linalg`` computes every float32 operand in float64 (its ``_commonType`` casts
real operands to double and the results back), so float32 linear algebra ran ~2x
slower than it needs to: the SVD of a 512x512 float32 matrix took 195 ms against 92
ms for SciPy's ``sgesdd`` on one core of the 2-core VM this project is benchmarked on
(NumPy 2.4 with its bundled OpenBLAS 0.3.31). NumPy's private gufuncs
(``numpy.linalg._umath_linalg``) have float32 loops for most routines: the functions
here call them with a float32 signature, which is LAPACK's single-precision routine
(``spotrf``, ``sgesv``, ``ssyevd``, ``sgeev``, ``sgesdd``), batched, without SciPy.

Each routine is probed once, on a small matrix, against ``numpy.linalg`` in float64;
where its gufunc is missing (another NumPy) or the probe disagrees, and for every
operand a gufunc does not take as it is (not float32, not a stack of square
matrices, empty, or for ``eig`` not finite), the functions call ``numpy.linalg``,
which then raises its own errors. Failures raise ``numpy.linalg.LinAlgError`` with
``numpy.linalg``'s messages. NumPy has no float32 QR loops: ``qr`` stays float64.

Tried and dropped (2026-12-06): running gesdd's own LAPACK steps through ctypes with
the bidiagonal SVD (``bdsdc``) and the forming of Q and P^T (``orgbr``) side by side
on the two cores. Under load it held up better than gesdd, but on the quiet VM it
took 98-102 ms against 75 ms for SciPy's gesdd on two BLAS threads. Large square
float32 SVDs now run gesdd's steps with the bidiagonalization in C
(``bidiagonal_svd``), which is where that attempt's time went.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["cholesky", "eig", "eigh", "gufunc_svd", "solve"]


@dataclass(frozen=True)
class _Routine:
    """One ``numpy.linalg`` function on NumPy's gufuncs.

    ``call(gufuncs, *operands, char)`` runs the gufuncs with a signature in the
    operand's type ``char``; ``probes`` are (operands, params) to try once;
    ``agrees(operands, params, outputs)`` holds the pairs (result, float64
    reference) a probe must match; ``takes(*operands)`` whether the gufunc takes the
    operands as they are (else ``numpy.linalg`` runs, with its checks and errors);
    ``params`` the keyword arguments it takes (others, such as ``eigh``'s ``UPLO``,
    leave the call to ``numpy.linalg``)."""

    call: Callable[..., Any]
    error: str
    probes: tuple
    agrees: Callable[..., list]
    takes: Callable[..., bool] = lambda a, *rest: True
    chars: str = "f"
    params: frozenset = frozenset()


def _stacked_square(a: np.ndarray, *rest: np.ndarray) -> bool:
    # numpy.linalg's own checks (square, at least 2-d) raise where this is False.
    return a.ndim >= 2 and a.shape[-1] == a.shape[-2] and a.size > 0


def _f64(x: np.ndarray) -> np.ndarray:
    return x.astype(np.complex128 if x.dtype.kind == "c" else np.float64)


_SPD = np.array([[4.0, 1.0, 0.5], [1.0, 3.0, -1.0], [0.5, -1.0, 2.0]], dtype=np.float32)
# Complex eigenvalues +-i and a real one.
_ROTATION = np.array([[0.0, -1.0, 0.5], [1.0, 0.0, 0.25], [0.0, 0.0, 2.0]], dtype=np.float32)
_WIDE = np.array([[3.0, 1.0, 0.5], [1.0, 2.0, -1.0]], dtype=np.float32)


def _call_solve(g: Any, a: np.ndarray, b: np.ndarray, *, char: str) -> np.ndarray:
    # numpy.linalg.solve's rule (NumPy 2): a 1-d b is one vector, else a stack of matrices.
    gufunc = g.solve1 if b.ndim == 1 else g.solve
    return gufunc(a, b, signature=f"{char}{char}->{char}")


def _call_svd(g: Any, a: np.ndarray, *, char: str, full_matrices: bool, compute_uv: bool):
    if not compute_uv:
        return (g.svd(a, signature=f"{char}->{char}"),)
    gufunc = g.svd_f if full_matrices else g.svd_s
    return tuple(gufunc(a, signature=f"{char}->{char * 3}"))


def _svd_agrees(operands: tuple, params: dict, out: tuple) -> list:
    (a,) = operands
    pairs = [(out[1] if params["compute_uv"] else out[0], np.linalg.svd(_f64(a), compute_uv=False))]
    if params["compute_uv"]:
        u, s, vh = out
        k = len(s)
        pairs.append(((u[:, :k] * s) @ vh[:k], a))
    return pairs


_ROUTINES = {
    "cholesky": _Routine(
        call=lambda g, a, *, char: g.cholesky_lo(a, signature=f"{char}->{char}"),
        error="Matrix is not positive definite",
        probes=(((_SPD,), {}),),
        agrees=lambda ops, params, out: [(out, np.linalg.cholesky(_f64(ops[0])))],
        takes=_stacked_square,
    ),
    "solve": _Routine(
        call=_call_solve,
        error="Singular matrix",
        probes=(((_SPD, _WIDE.T.copy()), {}), ((_SPD, _WIDE[0].copy()), {})),
        agrees=lambda ops, params, out: [(out, np.linalg.solve(*map(_f64, ops)))],
        takes=lambda a, b: _stacked_square(a) and b.ndim >= 1 and b.size > 0,
    ),
    "eigh": _Routine(
        call=lambda g, a, *, char: tuple(g.eigh_lo(a, signature=f"{char}->{char * 2}")),
        error="Eigenvalues did not converge",
        probes=(((_SPD,), {}),),
        agrees=lambda ops, params, out: [
            (out[0], np.linalg.eigvalsh(_f64(ops[0]))),
            ((out[1] * out[0]) @ out[1].T, ops[0]),
        ],
        takes=_stacked_square,
    ),
    "eig": _Routine(
        call=lambda g, a, *, char: tuple(g.eig(a, signature=f"{char}->{char.upper() * 2}")),
        error="Eigenvalues did not converge",
        probes=(((_ROTATION,), {}),),
        agrees=lambda ops, params, out: [
            (np.sort_complex(out[0]), np.sort_complex(np.linalg.eigvals(_f64(ops[0])))),
            (ops[0] @ out[1], out[1] * out[0]),
        ],
        # numpy.linalg.eig refuses infinities and NaNs before LAPACK sees them.
        takes=lambda a: _stacked_square(a) and bool(np.isfinite(a).all()),
    ),
    "svd": _Routine(
        call=_call_svd,
        error="SVD did not converge",
        probes=tuple(
            ((_WIDE,), {"full_matrices": full, "compute_uv": uv})
            for full in (True, False)
            for uv in (True, False)
        ),
        agrees=_svd_agrees,
        takes=lambda a: a.ndim >= 2,
        chars="fd",
        params=frozenset({"full_matrices", "compute_uv"}),
    ),
}


@functools.cache
def _gufuncs(name: str) -> Any:
    """NumPy's gufunc module when routine ``name`` runs there in float32 and agrees
    with ``numpy.linalg`` in float64 on its probes, else ``None``."""
    routine = _ROUTINES[name]
    try:
        from numpy.linalg import _umath_linalg  # type: ignore[attr-defined]

        for operands, params in routine.probes:
            out = _run(routine, _umath_linalg, operands, params)
            results = out if isinstance(out, tuple) else (out,)
            if any(x.dtype.char not in "fF" for x in results):
                return None
            for got, expected in routine.agrees(operands, params, out):
                if not np.allclose(got, expected, rtol=1e-4, atol=1e-5):
                    return None
    except Exception:  # another NumPy: numpy.linalg runs
        return None
    return _umath_linalg


def _run(routine: _Routine, gufuncs: Any, operands: tuple, params: dict) -> Any:
    def fail(*_: Any) -> None:
        raise np.linalg.LinAlgError(routine.error)

    # numpy.linalg's own error handling: a LAPACK failure sets the invalid flag.
    with np.errstate(call=fail, invalid="call", over="ignore", divide="ignore", under="ignore"):
        return routine.call(gufuncs, *operands, char=operands[0].dtype.char, **params)


def _gufunc_or_none(name: str, operands: tuple, params: dict) -> Any:
    """The routine's results from NumPy's gufunc in the operands' precision, or
    ``None`` where it does not apply (see the module docstring)."""
    routine = _ROUTINES[name]
    if not all(isinstance(x, np.ndarray) for x in operands):
        return None  # lists, scalars: numpy.linalg converts them
    dtype = operands[0].dtype
    # The gufuncs take native byte order only (numpy.linalg swaps it first).
    if dtype.char not in routine.chars or not dtype.isnative:
        return None
    if any(x.dtype != operands[0].dtype for x in operands) or not params.keys() <= routine.params:
        return None
    if not routine.takes(*operands):
        return None
    gufuncs = _gufuncs(name)
    if gufuncs is None:
        return None
    return _run(routine, gufuncs, operands, params)


def _with_fallback(name: str, example: str) -> Callable[..., Any]:
    def run(*operands: np.ndarray, **params: Any) -> Any:
        out = _gufunc_or_none(name, operands, params)
        return getattr(np.linalg, name)(*operands, **params) if out is None else out

    run.__name__ = run.__qualname__ = name
    run.__doc__ = (
        f"``numpy.linalg.{name}`` in the precision of float32 operands (LAPACK's "
        f"single-precision routine through NumPy's gufunc); otherwise "
        f"``numpy.linalg.{name}`` itself. Results are tuples where it returns several."
        f"\n\n    >>> import numpy as np\n    >>> a = np.array([[4.0, 2.0], [2.0, 3.0]], "
        f"dtype=np.float32)\n    {example}\n"
    )
    return run


#: ``numpy.linalg``'s functions, float32 in float32 (module docstring).
cholesky = _with_fallback("cholesky", ">>> cholesky(a).dtype\n    dtype('float32')")
solve = _with_fallback(
    "solve",
    ">>> solve(a, np.array([6.0, 5.0], dtype=np.float32))\n    array([1., 1.], dtype=float32)",
)
eigh = _with_fallback("eigh", ">>> [x.dtype.name for x in eigh(a)]\n    ['float32', 'float32']")
eig = _with_fallback("eig", ">>> [x.dtype.name for x in eig(a)]\n    ['complex64', 'complex64']")


def gufunc_svd(a: np.ndarray, full_matrices: bool, compute_uv: bool) -> tuple | None:
    """LAPACK's gesdd in the operand's precision (float32 or float64, any batch), or
    ``None`` where the gufunc is unavailable.

    >>> import numpy as np
    >>> a = np.array([[3.0, 0.0], [0.0, -2.0]], dtype=np.float32)
    >>> [float(v) for v in gufunc_svd(a, full_matrices=True, compute_uv=False)[0]]
    [3.0, 2.0]
    """
    params = {"full_matrices": full_matrices, "compute_uv": compute_uv}
    return _gufunc_or_none("svd", (a,), params)
