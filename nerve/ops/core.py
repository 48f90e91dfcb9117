"""Core ops: conversion, gradient stopping, shape queries.

>>> from nerve import ops
>>> ops.shape(ops.zeros((2, 3)))
(2, 3)
"""

from __future__ import annotations

from typing import Any

from nerve.ops._convert import cast, tensor
from nerve.tensor import Tensor, Variable, _new_tensor, convert_to_tensor

__all__ = [
    "cast",
    "convert_to_numpy",
    "convert_to_tensor",
    "copy",
    "dtype",
    "is_tensor",
    "ndim",
    "shape",
    "size",
    "stop_gradient",
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
    """``x`` as a NumPy array."""
    if isinstance(x, Variable):
        return x.numpy()
    return tensor(x).numpy()
