"""Shape manipulation (Keras names and arguments).

>>> from nerve import ops
>>> ops.reshape(ops.arange(6), (2, -1)).shape
(2, 3)
>>> ops.transpose(ops.zeros((2, 3, 4))).shape
(4, 3, 2)
"""

from __future__ import annotations

import math
from typing import Any

from nerve.core.errors import ShapeError, normalize_axes, normalize_axis, with_location
from nerve.ops._convert import tensor
from nerve.primitives import shape as sp
from nerve.tensor import Tensor

__all__ = ["broadcast_to", "expand_dims", "reshape", "squeeze", "transpose"]


def _resolve_shape(x: Tensor, new_shape: Any) -> tuple:
    if isinstance(new_shape, int):
        new_shape = (new_shape,)
    new_shape = tuple(int(d) for d in new_shape)
    unknown = [i for i, d in enumerate(new_shape) if d == -1]
    if len(unknown) > 1:
        raise ShapeError(with_location(f"reshape: only one -1 allowed in {new_shape}."))
    if unknown:
        known = math.prod(d for d in new_shape if d != -1)
        if known == 0 or x.size % known:
            raise ShapeError(
                with_location(
                    f"reshape: cannot reshape a tensor of shape {x.shape} ({x.size} elements) "
                    f"into shape {new_shape}."
                )
            )
        new_shape = tuple(x.size // known if d == -1 else d for d in new_shape)
    return new_shape


def reshape(x: Any, new_shape: Any) -> Tensor:
    """The same values in ``new_shape`` (one entry may be -1)."""
    x = tensor(x)
    return sp.reshape(x, _resolve_shape(x, new_shape))


def transpose(x: Any, axes: Any = None) -> Tensor:
    """Permute axes (reverse them when ``axes`` is ``None``)."""
    x = tensor(x)
    if axes is None:
        axes = tuple(reversed(range(x.ndim)))
    else:
        axes = tuple(normalize_axis(a, x.ndim, "transpose") for a in axes)
    return sp.transpose(x, axes)


def broadcast_to(x: Any, shape: Any) -> Tensor:
    """Broadcast ``x`` to ``shape`` (NumPy rules)."""
    return sp.broadcast_to(tensor(x), tuple(int(d) for d in shape))


def expand_dims(x: Any, axis: Any) -> Tensor:
    """Insert size-1 axes at ``axis`` (an int or a tuple of ints)."""
    x = tensor(x)
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    ndim = x.ndim + len(axes)
    axes = sorted(normalize_axis(a, ndim, "expand_dims") for a in axes)
    shape = list(x.shape)
    for a in axes:
        shape.insert(a, 1)
    return sp.reshape(x, tuple(shape))


def squeeze(x: Any, axis: Any = None) -> Tensor:
    """Remove size-1 axes (all of them, or those in ``axis``)."""
    x = tensor(x)
    if axis is None:
        axes = {i for i, d in enumerate(x.shape) if d == 1}
    else:
        axes = set(normalize_axes(axis, x.ndim, "squeeze"))
        for a in axes:
            if x.shape[a] != 1:
                raise ShapeError(
                    with_location(
                        f"squeeze: axis {a} of a tensor of shape {x.shape} has size "
                        f"{x.shape[a]}, not 1."
                    )
                )
    return sp.reshape(x, tuple(d for i, d in enumerate(x.shape) if i not in axes))
