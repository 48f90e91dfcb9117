"""Exception types and helpers that make error messages name what went wrong.

Every user-facing error names the op (or layer), what it received, and what it
expected. ``user_location()`` finds the first stack frame outside nerve so a
message can point at the user's own line rather than at engine internals.
"""

from __future__ import annotations

import math
import numbers
import operator
import os
import sys
from types import FrameType

__all__ = [
    "AxisError",
    "BackendError",
    "DTypeError",
    "DataError",
    "LinAlgError",
    "NerveError",
    "ShapeError",
    "TracingError",
    "check_int",
    "check_number",
    "check_shape",
    "normalize_axes",
    "normalize_axis",
    "user_location",
    "with_location",
]

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class NerveError(Exception):
    """Base class of nerve's own errors."""


class ShapeError(NerveError, ValueError):
    """Operands have shapes an op cannot accept."""


class DTypeError(NerveError, TypeError):
    """Operands have dtypes an op cannot accept."""


class DataError(NerveError, ValueError):
    """Data holds values an operation can't use: class labels out of range, NaN or
    infinity in inputs, no samples at all."""


class AxisError(NerveError, ValueError, IndexError):
    """An axis argument is out of range or repeated."""


class LinAlgError(NerveError, ValueError):
    """A matrix has no decomposition or solution of the kind asked for (not positive
    definite, singular)."""


class BackendError(NerveError, RuntimeError):
    """A backend lacks a kernel or a device is unavailable."""


class TracingError(NerveError, RuntimeError):
    """A traced function asked for something only a concrete value has (its numbers,
    a Python bool of it), or a traced tensor escaped its trace."""


def user_location() -> str | None:
    """``"file.py:LINE"`` of the innermost frame outside the nerve package."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        filename = os.path.abspath(frame.f_code.co_filename)
        if not filename.startswith(_PACKAGE_DIR + os.sep):
            return f"{frame.f_code.co_filename}:{frame.f_lineno}"
        frame = frame.f_back
    return None


def with_location(message: str) -> str:
    """Append where in the user's code the failing call was made."""
    where = user_location()
    return f"{message}\n  (called at {where})" if where else message


def normalize_axis(axis: int, ndim: int, op: str) -> int:
    """Map a possibly negative ``axis`` into ``[0, ndim)``, or raise ``AxisError``."""
    if isinstance(axis, bool) or not hasattr(axis, "__index__"):
        raise AxisError(with_location(f"{op}: axis must be an int, got {axis!r}."))
    axis = operator.index(axis)
    if not -ndim <= axis < ndim:
        raise AxisError(
            with_location(
                f"{op}: axis {axis} is out of range for a tensor of rank {ndim} "
                f"(valid axes are {-ndim}..{ndim - 1})."
                if ndim
                else f"{op}: axis {axis} is out of range for a scalar (rank 0) tensor."
            )
        )
    return axis % ndim if ndim else 0


def normalize_axes(axis, ndim: int, op: str) -> tuple[int, ...]:
    """Normalize ``None`` (all axes), an int, or a sequence of ints; reject repeats."""
    if axis is None:
        return tuple(range(ndim))
    if not isinstance(axis, (list, tuple)):
        return (normalize_axis(axis, ndim, op),)
    axes = tuple(normalize_axis(a, ndim, op) for a in axis)
    if len(set(axes)) != len(axes):
        raise AxisError(with_location(f"{op}: repeated axis in {tuple(axis)!r}."))
    return axes


def check_int(
    value: object, name: str, owner: str, *, minimum: int = 1, allow_none: bool = False
) -> int:
    """``value`` as an ``int`` of at least ``minimum``, or a ``ValueError`` (as Keras
    raises, also for a value of the wrong type) naming ``owner`` (a layer, a method),
    the argument and what it received. Integer types (``numpy.int64``) pass;
    ``bool``, ``2.5``, ``"3"`` don't. With ``allow_none``, ``None`` passes (as ``None``).

    >>> check_int(8, "units", "Dense")
    8
    >>> check_int("3", "units", "Dense")
    Traceback (most recent call last):
    ...
    ValueError: Dense: units must be a positive integer; received units='3' (of type str).
    """
    if value is None and allow_none:
        return None  # type: ignore[return-value]
    expected = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
    if allow_none:
        expected += " or None"
    received = f"received {name}={value!r} (of type {type(value).__name__})."
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise ValueError(f"{owner}: {name} must be {expected}; {received}")
    number = operator.index(value)  # type: ignore[arg-type]
    if number < minimum:
        raise ValueError(f"{owner}: {name} must be {expected}; {received}")
    return number


def check_number(
    value: object,
    name: str,
    owner: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
) -> float:
    """``value`` as a finite ``float`` within ``[minimum, maximum]`` (either bound may be
    left open with ``None``), or a ``ValueError`` naming ``owner``, the argument, what
    was expected and what it received: NaN, infinity, a string or a bool never pass.

    >>> check_number(1e-3, "epsilon", "LayerNormalization", minimum=0)
    0.001
    """
    bounds = ""
    if minimum is not None and maximum is not None:
        bounds = f" in [{minimum}, {maximum}]"
    elif minimum is not None:
        bounds = f" >= {minimum}"
    elif maximum is not None:
        bounds = f" <= {maximum}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        number = math.nan
    else:
        number = float(value)
    if (
        not math.isfinite(number)
        or (minimum is not None and number < minimum)
        or (maximum is not None and number > maximum)
    ):
        raise ValueError(
            f"{owner}: {name} must be a finite number{bounds}; received {name}={value!r} "
            f"(of type {type(value).__name__})."
        )
    return number


def check_shape(shape: object, name: str, owner: str) -> tuple:
    """``shape`` as a tuple of non-negative ints and ``None`` (unknown sizes), or a
    ``ValueError`` saying what was wrong.

    >>> check_shape([None, 3], "shape", "Input")
    (None, 3)
    """
    if isinstance(shape, (str, bytes)) or not hasattr(shape, "__iter__"):
        raise ValueError(
            f"{owner}: {name} must be a tuple of integers or None (e.g. (28, 28, 1), or "
            f"(5,) for one axis); received {name}={shape!r} (of type {type(shape).__name__})."
        )
    entries = tuple(shape)  # type: ignore[call-overload]
    for entry in entries:
        if entry is not None and (isinstance(entry, bool) or not hasattr(entry, "__index__")):
            raise ValueError(
                f"{owner}: {name} must be a tuple of integers or None; received "
                f"{name}={shape!r}, whose entry {entry!r} is a {type(entry).__name__}."
            )
        if entry is not None and operator.index(entry) < 0:
            raise ValueError(f"{owner}: {name} has a negative size; received {name}={shape!r}.")
    return tuple(None if e is None else operator.index(e) for e in entries)
