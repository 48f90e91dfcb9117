"""Exception types and helpers that make error messages name what went wrong.

Every user-facing error names the op (or layer), what it received, and what it
expected. ``user_location()`` finds the first stack frame outside nerve so a
message can point at the user's own line rather than at engine internals.
"""

from __future__ import annotations

import operator
import os
import sys
from types import FrameType

__all__ = [
    "AxisError",
    "BackendError",
    "DTypeError",
    "LinAlgError",
    "NerveError",
    "ShapeError",
    "TracingError",
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
