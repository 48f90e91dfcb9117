"""Global settings, held in context variables so threads and tasks can differ.

>>> floatx()
'float32'
>>> with floatx_scope("float64"):
...     floatx()
'float64'
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

__all__ = ["epsilon", "floatx", "floatx_scope", "set_epsilon", "set_floatx"]

_FLOAT_TYPES = ("bfloat16", "float16", "float32", "float64")
_floatx: contextvars.ContextVar[str] = contextvars.ContextVar("nerve_floatx", default="float32")
_epsilon: contextvars.ContextVar[float] = contextvars.ContextVar("nerve_epsilon", default=1e-7)


def floatx() -> str:
    """The default floating-point type (Keras's ``floatx``)."""
    return _floatx.get()


def set_floatx(value: str) -> None:
    """Set the default floating-point type for this context."""
    if value not in _FLOAT_TYPES:
        raise ValueError(f"floatx must be one of {_FLOAT_TYPES}, got {value!r}.")
    _floatx.set(value)


@contextlib.contextmanager
def floatx_scope(value: str) -> Iterator[None]:
    """Temporarily set the default float type."""
    if value not in _FLOAT_TYPES:
        raise ValueError(f"floatx must be one of {_FLOAT_TYPES}, got {value!r}.")
    token = _floatx.set(value)
    try:
        yield
    finally:
        _floatx.reset(token)


def epsilon() -> float:
    """The fuzz factor used to avoid division by zero (Keras's ``epsilon``)."""
    return _epsilon.get()


def set_epsilon(value: float) -> None:
    """Set the fuzz factor."""
    _epsilon.set(float(value))
