"""Argument conversion and type promotion shared by every op.

This is the hot path of eager arithmetic: when both operands are tensors of
one dtype it returns them untouched after two type checks and one dtype compare.
"""

from __future__ import annotations

import functools
from typing import Any

from nerve.backend import backend_of
from nerve.core import config, dtypes
from nerve.core.errors import DTypeError, with_location
from nerve.core.symbolic import is_symbolic, python_type
from nerve.primitives import elementwise as ew
from nerve.tensor import Tensor, Variable, _new_tensor, convert_to_tensor

_TENSOR_TYPES = (Tensor, Variable)
_SCALARS = (bool, int, float, complex)
_object_new = object.__new__
_FLOATS = frozenset(dtypes.FLOAT_TYPES)


def tensor(x: Any) -> Tensor:
    """``x`` as a tensor (variables are used as they are: tapes watch them by identity)."""
    t = type(x)
    if t is Tensor or t is Variable:
        return x
    if isinstance(x, Tensor):
        return x
    return convert_to_tensor(x)


def scalar_tensor(value: Any, like: Tensor) -> Tensor:
    """A 0-d tensor of ``like``'s dtype, on ``like``'s device."""
    t = _object_new(Tensor)
    t._value = backend_of(like._value).scalar(value, like.dtype)
    return t


def cast(x: Any, dtype: str) -> Tensor:
    """``x`` converted to ``dtype``."""
    x = tensor(x)
    try:
        dtype = dtypes.standardize_dtype(dtype)
    except TypeError as error:
        raise DTypeError(with_location(f"cast: {error}")) from None
    return x if x.dtype == dtype else ew.cast_p.bind(x, dtype=dtype)


def promote2(x1: Any, x2: Any) -> tuple[Tensor, Tensor]:
    """``promote`` for two operands, with fast paths for the common cases of eager
    arithmetic: two tensors of one dtype, and a tensor with a Python scalar."""
    # The ignores below: mypy reads type(x) as type[Any] and wrongly finds it unhashable.
    if isinstance(x1, Tensor):
        if isinstance(x2, Tensor):
            d1, d2 = x1._value.dtype, x2._value.dtype
            if d1 is d2 or d1 == d2:
                return x1, x2
        elif type(x2) in _SCALARS and _keeps_dtype(x1.dtype, type(x2)):  # type: ignore[arg-type]
            return x1, scalar_tensor(x2, x1)
    elif isinstance(x2, Tensor) and type(x1) in _SCALARS and _keeps_dtype(x2.dtype, type(x1)):  # type: ignore[arg-type]
        return scalar_tensor(x1, x2), x2
    a, b = promote(x1, x2)
    return a, b


@functools.lru_cache(maxsize=256)
def _keeps_dtype(dtype: str, scalar_type: type) -> bool:
    return dtypes.result_type(dtype, scalar_type) == dtype


def promote(*xs: Any, extra: tuple = ()) -> list[Tensor]:
    """Convert ``xs`` to tensors of their promoted dtype (Python scalars are weak).
    ``extra`` joins more types into the promotion, e.g. ``(float,)`` to force a float."""
    kinds: list[str | type] = []  # dtype names, and Python scalar types (weak)
    converted: list[Any] = []  # tensors, and Python scalars kept for a weak cast
    for x in xs:
        if isinstance(x, Tensor):
            kinds.append(x.dtype)
            converted.append(x)
        elif isinstance(x, _SCALARS):
            kinds.append(type(x))
            converted.append(x)
        elif is_symbolic(x):  # a symbolic size (or a float of it): weak, like a scalar
            kinds.append(python_type(x))
            converted.append(x)
        else:
            t = convert_to_tensor(x)
            kinds.append(t.dtype)
            converted.append(t)
    dtype = dtypes.result_type(*kinds, *extra)
    like = next((c for c in converted if isinstance(c, Tensor)), None)
    out = []
    for c in converted:
        if isinstance(c, Tensor):
            out.append(cast(c, dtype))
        elif like is not None and not is_symbolic(c):
            out.append(_new_tensor(backend_of(like._value).scalar(c, dtype)))
        else:
            out.append(convert_to_tensor(c, dtype))
    return out


def to_float(x: Any) -> Tensor:
    """``x`` as a float tensor: ints and bools become floatx (as in Keras); complex
    tensors stay as they are."""
    if type(x) is Tensor and x.dtype in _FLOATS:
        return x
    x = tensor(x)
    if dtypes.is_float(x.dtype) or dtypes.is_complex(x.dtype):
        return x
    return cast(x, config.floatx())


def require_float(op: str, x: Tensor) -> Tensor:
    if not dtypes.is_float(x.dtype):
        raise DTypeError(with_location(f"{op} needs a floating-point tensor, got {x.dtype}."))
    return x


def require_bool(x: Any) -> Tensor:
    x = tensor(x)
    return x if x.dtype == "bool" else cast(x, "bool")
