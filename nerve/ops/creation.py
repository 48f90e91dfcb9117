"""Tensor creation (Keras names): zeros, ones, full, their ``*_like`` forms, arange,
linspace, eye, identity.

>>> from nerve import ops
>>> ops.zeros((2, 3)).shape
(2, 3)
>>> ops.arange(4).numpy()
array([0, 1, 2, 3], dtype=int32)
>>> ops.arange(0.0, 1.0, 0.25).numpy()
array([0.  , 0.25, 0.5 , 0.75], dtype=float32)
"""

from __future__ import annotations

from typing import Any

from nerve.core import config, dtypes
from nerve.core.errors import with_location
from nerve.ops._convert import tensor
from nerve.primitives import creation as cp
from nerve.tensor import Tensor

__all__ = [
    "arange", "eye", "full", "full_like", "identity", "linspace", "ones", "ones_like", "zeros",
    "zeros_like",
]  # fmt: skip


def _shape(shape: Any, op: str) -> tuple:
    if isinstance(shape, int):
        shape = (shape,)
    try:
        shape = tuple(int(d) for d in shape)
    except TypeError:
        raise TypeError(
            with_location(f"{op}: shape must be a tuple of ints, got {shape!r}.")
        ) from None
    if any(d < 0 for d in shape):
        raise ValueError(with_location(f"{op}: shape {shape} has a negative dimension."))
    return shape


def full(shape: Any, fill_value: Any, dtype: str | None = None) -> Tensor:
    """A tensor of ``shape`` filled with ``fill_value``."""
    if dtype is None:
        dtype = (
            dtypes.default_dtype_of_scalar(fill_value)
            if not isinstance(fill_value, Tensor)
            else fill_value.dtype
        )
    if isinstance(fill_value, Tensor):
        fill_value = fill_value.item()
    return cp.full_p.bind(
        shape=_shape(shape, "full"), value=fill_value, dtype=dtypes.standardize_dtype(dtype)
    )


def zeros(shape: Any, dtype: str | None = None) -> Tensor:
    """A tensor of zeros (floatx unless ``dtype`` is given)."""
    return full(shape, 0, dtypes.standardize_dtype(dtype))


def ones(shape: Any, dtype: str | None = None) -> Tensor:
    """A tensor of ones (floatx unless ``dtype`` is given)."""
    return full(shape, 1, dtypes.standardize_dtype(dtype))


def full_like(x: Any, fill_value: Any, dtype: str | None = None) -> Tensor:
    """A tensor like ``x`` (shape, and dtype unless given) filled with ``fill_value``."""
    x = tensor(x)
    return full(x.shape, fill_value, dtype or x.dtype)


def zeros_like(x: Any, dtype: str | None = None) -> Tensor:
    """Zeros with the shape (and dtype, unless given) of ``x``."""
    return full_like(x, 0, dtype)


def ones_like(x: Any, dtype: str | None = None) -> Tensor:
    """Ones with the shape (and dtype, unless given) of ``x``."""
    return full_like(x, 1, dtype)


def arange(start: Any, stop: Any = None, step: Any = 1, dtype: str | None = None) -> Tensor:
    """Evenly spaced values in ``[start, stop)``; ints give int32, floats floatx."""
    if stop is None:
        start, stop = 0, start
    if step == 0:
        raise ValueError(with_location("arange: step must not be zero."))
    if dtype is None:
        dtype = dtypes.result_type(*(type(v) for v in (start, stop, step)))
    return cp.arange_p.bind(
        start=start, stop=stop, step=step, dtype=dtypes.standardize_dtype(dtype)
    )


def linspace(
    start: Any, stop: Any, num: int = 50, endpoint: bool = True, dtype: str | None = None
) -> Tensor:
    """``num`` evenly spaced values from ``start`` to ``stop``."""
    if num < 0:
        raise ValueError(with_location(f"linspace: num must be >= 0, got {num}."))
    return cp.linspace_p.bind(
        start=float(start),
        stop=float(stop),
        num=int(num),
        endpoint=bool(endpoint),
        dtype=dtypes.standardize_dtype(dtype or config.floatx()),
    )


def eye(N: int, M: int | None = None, k: int = 0, dtype: str | None = None) -> Tensor:
    """A 2-D tensor with ones on the ``k``-th diagonal."""
    return cp.eye_p.bind(
        rows=int(N),
        columns=int(N if M is None else M),
        k=int(k),
        dtype=dtypes.standardize_dtype(dtype),
    )


def identity(n: int, dtype: str | None = None) -> Tensor:
    """The ``n`` x ``n`` identity matrix."""
    return eye(n, dtype=dtype)
