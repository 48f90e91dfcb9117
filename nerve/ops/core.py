"""Core ops: conversion, gradient stopping, shape queries.

>>> from nerve import ops
>>> ops.shape(ops.zeros((2, 3)))
(2, 3)
"""

from __future__ import annotations

from typing import Any

from nerve.autodiff import custom_gradient
from nerve.core import dtypes
from nerve.ops._convert import cast, tensor
from nerve.ops.control_flow import (
    associative_scan,
    cond,
    fori_loop,
    map,
    scan,
    switch,
    vectorized_map,
    while_loop,
)
from nerve.ops.elementwise import clip
from nerve.ops.indexing import scatter, scatter_update, slice, slice_update
from nerve.ops.shape import unstack
from nerve.primitives.elementwise import nextafter_p
from nerve.tensor import Tensor, Variable, _new_tensor, convert_to_tensor

# Keras's core namespace (keras/src/ops/core.py): this module's own functions and the
# control flow, scatter and slice functions that live with their families.
__all__ = [
    "associative_scan",
    "cast",
    "cond",
    "convert_to_numpy",
    "convert_to_tensor",
    "copy",
    "custom_gradient",
    "dtype",
    "fori_loop",
    "is_tensor",
    "map",
    "ndim",
    "saturate_cast",
    "scan",
    "scatter",
    "scatter_update",
    "shape",
    "size",
    "slice",
    "slice_update",
    "stop_gradient",
    "switch",
    "unstack",
    "vectorized_map",
    "while_loop",
]


def stop_gradient(variable: Any) -> Tensor:
    """The same value, seen by autodiff as a constant.

    >>> import nerve
    >>> from nerve import ops
    >>> float(nerve.grad(lambda x: x * ops.stop_gradient(x))(3.0))
    3.0
    """
    # A fresh tensor object is tracked by no tape, so nothing flows back through it.
    return _new_tensor(tensor(variable)._value)


def is_tensor(x: Any) -> bool:
    """Whether ``x`` is a nerve tensor (variables included)."""
    return isinstance(x, Tensor)


def shape(x: Any) -> tuple:
    """The shape of ``x`` as a tuple of ints."""
    return tensor(x).shape


def ndim(x: Any) -> int:
    """The number of axes (rank) of ``x``.

    >>> from nerve import ops
    >>> ops.ndim(ops.zeros((2, 3)))
    2
    """
    return tensor(x).ndim


def copy(x: Any) -> Tensor:
    """A tensor with the value of ``x``. Tensors are immutable, so the buffer is
    shared; the result is a new tensor that gradients flow through.

    >>> import nerve
    >>> from nerve import ops
    >>> float(nerve.grad(lambda x: ops.copy(x) * 3.0)(1.0))
    3.0
    """
    from nerve.primitives import shape as sp

    x = tensor(x)
    # A reshape to the same shape is an identity primitive that the tape records.
    return sp.reshape_p.bind(x, shape=x.shape)


def size(x: Any) -> int:
    """The number of elements of ``x``."""
    return tensor(x).size


def dtype(x: Any) -> str:
    """The dtype name of ``x``."""
    return tensor(x).dtype


def convert_to_numpy(x: Any):
    """``x`` as a NumPy array of its own, which may be written to (as Keras's backends
    return it); ``Tensor.numpy()`` is the read-only view that copies nothing.

    >>> from nerve import ops
    >>> y = ops.convert_to_numpy(ops.zeros((2,)))
    >>> y[0] = 5.0; y
    array([5., 0.], dtype=float32)
    """
    value = x.numpy() if isinstance(x, Variable) else tensor(x).numpy()
    # A view of a tensor's buffer is read-only (tensors are immutable): copy it.
    return value if value.flags.writeable else value.copy()


# The largest finite value of each float dtype.
_FLOAT_MAX = {"float16": 65504.0, "bfloat16": 3.3895313892515355e38,
              "float32": 3.4028234663852886e38, "float64": 1.7976931348623157e308}  # fmt: skip


def _range_of(dtype: str) -> tuple[float, float]:
    if dtype == "bool":
        return 0, 1
    if dtype in _FLOAT_MAX:
        return -_FLOAT_MAX[dtype], _FLOAT_MAX[dtype]
    bits = int("".join(c for c in dtype if c.isdigit()))
    if dtype.startswith("u"):
        return 0, 2**bits - 1
    return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1


def saturate_cast(x: Any, dtype: str) -> Tensor:
    """``x`` cast to ``dtype``, first clipped to the values ``dtype`` can hold, so
    out-of-range values saturate instead of wrapping around (``cast`` of 256.0 to
    uint8 gives 0; ``saturate_cast`` gives 255).

    >>> from nerve import ops
    >>> ops.saturate_cast(ops.convert_to_tensor([-1.0, 256.0, 7.5]), "uint8").numpy()
    array([  0, 255,   7], dtype=uint8)
    """
    x = tensor(x)
    dtype = dtypes.standardize_dtype(dtype)
    if x.dtype == "bool":
        return cast(x, dtype)
    in_low, in_high = _range_of(x.dtype)
    out_low, out_high = _range_of(dtype)
    # Each limit as the input dtype holds it; where rounding carries it past the
    # target's range (int32's maximum as a float32 is 2**31), one step towards 0.
    low = convert_to_tensor(max(in_low, out_low), x.dtype)
    if float(low) < out_low:
        low = nextafter_p.bind(low, convert_to_tensor(0, x.dtype))
    high = convert_to_tensor(min(in_high, out_high), x.dtype)
    if float(high) > out_high:
        high = nextafter_p.bind(high, convert_to_tensor(0, x.dtype))
    return cast(clip(x, low, high), dtype)
