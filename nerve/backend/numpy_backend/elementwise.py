"""Elementwise kernels: unary and binary maps, comparisons, select, cast.

Every kernel keeps its input dtype (the primitives' dtype rules say so; the
``nerve.ops`` layer promotes and casts before calling them).
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from typing import Any

__all__ = [
    "IEEE_SPECIAL",
    "kernels",
    "native_dtype",
    "quiet",
]


def _special(xp, name: str, scalar: Callable[[float], float]):
    """``scipy.special.<name>`` when SciPy is installed (fast, accurate), else ``scalar``
    elementwise. Resolved on first call: importing SciPy costs more than all of nerve's
    import."""
    resolved: list[Callable] = []

    def resolve() -> Callable:
        try:
            fast = getattr(importlib.import_module("scipy.special"), name)
        except (ImportError, AttributeError):
            fast = None
        if fast is not None and xp.__name__ == "numpy":
            return lambda x: fast(x).astype(x.dtype, copy=False)
        vector = xp.vectorize(scalar)
        return lambda x: xp.asarray(vector(x), dtype=x.dtype) if x.size else x.copy()

    def kernel(x):
        if not resolved:
            resolved.append(resolve())
        return resolved[0](x)

    return kernel


def _scalar_erfinv(y: float) -> float:
    """erfinv by Newton's method on ``math.erf`` (SciPy's is used when installed)."""
    if not -1.0 < y < 1.0:
        return math.copysign(math.inf, y) if abs(y) == 1.0 else math.nan
    # Winitzki's approximation (relative error < 2e-3), then Newton steps on erf.
    a = 0.147
    log_term = math.log1p(-y * y)
    first = 2 / (math.pi * a) + log_term / 2
    x = math.copysign(math.sqrt(math.sqrt(first * first - log_term / a) - first), y)
    for _ in range(4):
        x -= (math.erf(x) - y) / (2 / math.sqrt(math.pi) * math.exp(-x * x))
    return x


def _scalar_i0(x: float) -> float:
    """I0 by its power series, sum ((x/2)^k / k!)^2 (SciPy's is used when installed)."""
    total = term = 1.0
    k = 0
    while term > 1e-17 * total:
        k += 1
        term *= (x / (2 * k)) ** 2
        total += term
    return total


def _scalar_i1(x: float) -> float:
    """I1 by its power series, sum (x/2)^(2k+1) / (k! (k+1)!)."""
    term = total = x / 2
    k = 0
    while abs(term) > 1e-17 * abs(total):
        k += 1
        term *= (x / 2) ** 2 / (k * (k + 1))
        total += term
    return total


def native_dtype(xp, name: str):
    """The array module's dtype for a nerve dtype name (bfloat16 comes from ml_dtypes)."""
    if name == "bfloat16":
        import ml_dtypes

        return ml_dtypes.bfloat16
    return xp.dtype(name)


# Kernels whose results can be inf or nan by IEEE rules (log 0, 1/0, overflow). NumPy
# warns there; JAX, PyTorch and TensorFlow return the value silently, and so does nerve.
IEEE_SPECIAL = (
    "log", "log1p", "sqrt", "rsqrt", "reciprocal", "divide", "floor_divide", "mod", "power",
    "arcsin", "arccos", "arccosh", "arctanh", "exp", "expm1", "sinh", "cosh", "tan",
)  # fmt: skip


def quiet(xp, table: dict) -> dict:
    """``table`` with the ``IEEE_SPECIAL`` kernels run under ``errstate(all="ignore")``:
    the eager kernels. A compiled graph calls the plain ones inside one error-state
    scope for the whole run (``NumpyBackend.quiet``)."""
    errstate = getattr(xp, "errstate", None)
    if errstate is None:
        return dict(table)
    guarded = dict(table)
    for name in IEEE_SPECIAL:
        guarded[name] = _guarded(errstate, table[name])
    return guarded


def _guarded(errstate, fn):
    def kernel(*args, **kwargs):
        with errstate(all="ignore"):
            return fn(*args, **kwargs)

    kernel.__name__ = getattr(fn, "__name__", "kernel")
    return kernel


def kernels(xp) -> dict:
    return _kernels(xp)


def _kernels(xp) -> dict:
    def sigmoid(x):
        # One tanh, no overflow for large |x|.
        half = x.dtype.type(0.5)
        return half + half * xp.tanh(half * x)

    def rsqrt(x):
        return xp.reciprocal(xp.sqrt(x))

    def cast(x, dtype):
        if x.dtype.kind == "c" and not dtype.startswith("complex"):
            # A complex value cast to a real type keeps its real part (as in JAX),
            # without NumPy's warning about the discarded imaginary part; to bool it
            # is whether it is nonzero.
            x = x != 0 if dtype == "bool" else x.real
        return x.astype(native_dtype(xp, dtype))

    def scalar_like(like, value):
        return xp.asarray(value, dtype=like.dtype)

    native_spectral: Any = None
    if xp.__name__ == "numpy":
        from nerve.backend.numpy_backend.native import spectral as native_spectral

    def _native_part(x, imaginary: bool):
        """A part of a large contiguous complex array by the C loop, or ``None``
        (NumPy's strided copy is ~3x slower on a spectrogram; small arrays never pay
        for compiling the loop)."""
        if native_spectral is None or x.dtype.kind != "c" or x.size < 4096:
            return None
        part = native_spectral.part_function() if x.flags.c_contiguous else None
        return None if part is None else part(x, imaginary)

    def real(x):
        out = _native_part(x, False)
        return x.real.copy() if out is None else out  # .real is a view of the buffer

    def imag(x):
        out = _native_part(x, True)
        return x.imag.copy() if out is None else out

    def make_complex(re, im):
        shape = xp.broadcast_shapes(re.shape, im.shape)
        out = xp.empty(shape, dtype=xp.result_type(re.dtype, xp.complex64))
        out.real = re
        out.imag = im
        return out

    return {
        # unary
        "neg": xp.negative,
        "abs": xp.abs,
        "sign": xp.sign,
        "exp": xp.exp,
        "expm1": xp.expm1,
        "log": xp.log,
        "log1p": xp.log1p,
        "sqrt": xp.sqrt,
        "rsqrt": rsqrt,
        "reciprocal": xp.reciprocal,
        "sin": xp.sin,
        "cos": xp.cos,
        "tan": xp.tan,
        "arcsin": xp.arcsin,
        "arccos": xp.arccos,
        "arctan": xp.arctan,
        "sinh": xp.sinh,
        "cosh": xp.cosh,
        "tanh": xp.tanh,
        "arcsinh": xp.arcsinh,
        "arccosh": xp.arccosh,
        "arctanh": xp.arctanh,
        "erf": _special(xp, "erf", math.erf),
        "erfc": _special(xp, "erfc", math.erfc),
        "erfinv": _special(xp, "erfinv", _scalar_erfinv),
        "sigmoid": sigmoid,
        "i0": _special(xp, "i0", _scalar_i0),
        "i1": _special(xp, "i1", _scalar_i1),
        "real": real,
        "imag": imag,
        "conj": xp.conjugate,
        "complex": make_complex,
        "floor": xp.floor,
        "ceil": xp.ceil,
        "round": xp.round,
        "isnan": xp.isnan,
        "isinf": xp.isinf,
        "isfinite": xp.isfinite,
        "logical_not": xp.logical_not,
        "signbit": xp.signbit,
        "bitwise_not": xp.invert,
        # binary
        "add": xp.add,
        "subtract": xp.subtract,
        "multiply": xp.multiply,
        "divide": xp.true_divide,
        "floor_divide": xp.floor_divide,
        "mod": xp.mod,
        "power": xp.power,
        "maximum": xp.maximum,
        "minimum": xp.minimum,
        "arctan2": xp.arctan2,
        "equal": xp.equal,
        "not_equal": xp.not_equal,
        "less": xp.less,
        "less_equal": xp.less_equal,
        "greater": xp.greater,
        "greater_equal": xp.greater_equal,
        "logical_and": xp.logical_and,
        "logical_or": xp.logical_or,
        "logical_xor": xp.logical_xor,
        "bitwise_and": xp.bitwise_and,
        "bitwise_or": xp.bitwise_or,
        "bitwise_xor": xp.bitwise_xor,
        "left_shift": xp.left_shift,
        "right_shift": xp.right_shift,
        "nextafter": xp.nextafter,
        # ternary and conversion
        "where": xp.where,
        "cast": cast,
        "scalar_like": scalar_like,
    }
