"""Reductions over any axes, with ``keepdims`` (Keras names and arguments).

>>> from nerve import ops
>>> x = ops.convert_to_tensor([[1.0, 2.0], [3.0, 4.0]])
>>> ops.sum(x, axis=0).numpy()
array([4., 6.], dtype=float32)
>>> ops.mean(x, axis=-1, keepdims=True).shape
(2, 1)
"""

from __future__ import annotations

import math
from typing import Any

from nerve.core.errors import normalize_axes
from nerve.ops._convert import cast, tensor, to_float
from nerve.primitives import reduction as rp
from nerve.tensor import Tensor

__all__ = ["max", "mean", "min", "sum"]

# Small integers are summed in int32, as Keras 3 (following JAX) does.
_SUM_DTYPE = {"bool": "int32", "uint8": "int32", "int8": "int32", "int16": "int32"}


def _axes(x: Tensor, axis: Any, op: str) -> tuple:
    return tuple(sorted(normalize_axes(axis, x.ndim, op)))


def sum(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Sum over ``axis`` (all axes when ``None``)."""
    x = tensor(x)
    x = cast(x, _SUM_DTYPE.get(x.dtype, x.dtype))
    return rp.reduce_sum_p.bind(x, axes=_axes(x, axis, "sum"), keepdims=bool(keepdims))


def mean(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Arithmetic mean over ``axis``; integer inputs give floatx."""
    x = to_float(x)
    axes = _axes(x, axis, "mean")
    count = math.prod(x.shape[a] for a in axes)
    total = rp.reduce_sum_p.bind(x, axes=axes, keepdims=bool(keepdims))
    from nerve.ops.elementwise import divide

    return divide(total, float(count))


def max(x: Any, axis: Any = None, keepdims: bool = False, initial: Any = None) -> Tensor:
    """Maximum over ``axis``."""
    x = tensor(x)
    out = rp.reduce_max_p.bind(x, axes=_axes(x, axis, "max"), keepdims=bool(keepdims))
    if initial is not None:
        from nerve.ops.elementwise import maximum

        out = maximum(out, initial)
    return out


def min(x: Any, axis: Any = None, keepdims: bool = False, initial: Any = None) -> Tensor:
    """Minimum over ``axis``."""
    x = tensor(x)
    out = rp.reduce_min_p.bind(x, axes=_axes(x, axis, "min"), keepdims=bool(keepdims))
    if initial is not None:
        from nerve.ops.elementwise import minimum

        out = minimum(out, initial)
    return out
