"""Attach Python operators and array methods to ``Tensor``.

``nerve.tensor`` sits below ``nerve.ops`` and must not import it, so the ops
layer installs the operators on the class when it loads (JAX does the same).

The operators follow NumPy: ``~ & | ^`` are logical on bools and bitwise on
integers, ``<< >>`` shift integers, and floats are refused with a ``TypeError``:

>>> from nerve import ops
>>> (~ops.convert_to_tensor([1, 2, 6])).numpy()
array([-2, -3, -7], dtype=int32)
>>> (ops.convert_to_tensor([True, False]) | False).numpy()
array([ True, False])
>>> (ops.convert_to_tensor([12, 10], dtype="uint8") & 6).numpy()
array([4, 2], dtype=uint8)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nerve.core import dtypes
from nerve.core.errors import DTypeError, with_location
from nerve.ops import elementwise as e
from nerve.ops import indexing, linalg
from nerve.ops import shape as s
from nerve.ops._convert import cast, promote, tensor
from nerve.tensor import Tensor


def _reflected(fn):
    def op(self, other):
        return fn(other, self)

    return op


def _describe(x: Any) -> str:
    """The dtype of an operand as a user would name it (a Python scalar by its type)."""
    dtype = getattr(x, "dtype", None)
    return str(dtype) if dtype is not None else f"Python {type(x).__name__}"


def _not_integer_or_bool(symbol: str, received: str, bools: bool) -> DTypeError:
    if bools:
        expected = "integer or bool tensors (bitwise on integers, logical on bools)"
        fix = "cast to an integer dtype (x.astype('int32')) or compare to get bools (x > 0)"
    else:
        expected = "integer tensors"
        fix = "cast to an integer dtype first (x.astype('int32'))"
    return DTypeError(
        with_location(
            f"The {symbol} operator needs {expected}, got {received}. As in NumPy, floats "
            f"have no bits to operate on: {fix}."
        )
    )


_Binary = Callable[[Any, Any], Tensor]


def _bitwise_operator(symbol: str, logical: _Binary, bitwise: _Binary) -> _Binary:
    """``x & y`` and friends, as in NumPy: the logical op on bools, the bitwise op on
    integers (after the usual promotion, Python ints being weak), an error on floats."""

    def op(x: Any, y: Any) -> Tensor:
        a, b = promote(x, y)
        if a.dtype == "bool":
            return logical(a, b)
        if dtypes.is_int(a.dtype):
            return bitwise(a, b)
        raise _not_integer_or_bool(symbol, f"{_describe(x)} {symbol} {_describe(y)}", True)

    return op


def _shift_operator(symbol: str, shift: _Binary) -> _Binary:
    """``x << y`` and ``x >> y`` on integers; bools shift as int8, as NumPy casts them."""

    def op(x: Any, y: Any) -> Tensor:
        a, b = promote(x, y)
        if a.dtype == "bool":
            a, b = cast(a, "int8"), cast(b, "int8")
        elif not dtypes.is_int(a.dtype):
            raise _not_integer_or_bool(symbol, f"{_describe(x)} {symbol} {_describe(y)}", False)
        return shift(a, b)

    return op


def _invert(self: Tensor) -> Tensor:
    """``~x``: logical NOT of bools, bitwise NOT (two's complement) of integers."""
    x = tensor(self)
    if x.dtype == "bool":
        return e.logical_not(x)
    if dtypes.is_int(x.dtype):
        return e.bitwise_not(x)
    raise _not_integer_or_bool("~", x.dtype, True)


def _setitem(self, key, value):
    raise TypeError(
        "nerve tensors are immutable; build a new tensor instead (e.g. with "
        "nerve.ops.where or nerve.ops.scatter_update), or use a nerve.Variable."
    )


_and = _bitwise_operator("&", e.logical_and, e.bitwise_and)
_or = _bitwise_operator("|", e.logical_or, e.bitwise_or)
_xor = _bitwise_operator("^", e.logical_xor, e.bitwise_xor)
_lshift = _shift_operator("<<", e.left_shift)
_rshift = _shift_operator(">>", e.right_shift)

_OPERATORS = {
    "__add__": e.add,
    "__radd__": _reflected(e.add),
    "__sub__": e.subtract,
    "__rsub__": _reflected(e.subtract),
    "__mul__": e.multiply,
    "__rmul__": _reflected(e.multiply),
    "__truediv__": e.divide,
    "__rtruediv__": _reflected(e.divide),
    "__floordiv__": e.floor_divide,
    "__rfloordiv__": _reflected(e.floor_divide),
    "__mod__": e.mod,
    "__rmod__": _reflected(e.mod),
    "__pow__": e.power,
    "__rpow__": _reflected(e.power),
    "__matmul__": linalg.matmul,
    "__rmatmul__": _reflected(linalg.matmul),
    "__neg__": e.negative,
    "__pos__": lambda self: self,
    "__abs__": e.abs,
    "__invert__": _invert,
    "__and__": _and,
    "__rand__": _reflected(_and),
    "__or__": _or,
    "__ror__": _reflected(_or),
    "__xor__": _xor,
    "__rxor__": _reflected(_xor),
    "__lshift__": _lshift,
    "__rlshift__": _reflected(_lshift),
    "__rshift__": _rshift,
    "__rrshift__": _reflected(_rshift),
    "__eq__": e.equal,
    "__ne__": e.not_equal,
    "__lt__": e.less,
    "__le__": e.less_equal,
    "__gt__": e.greater,
    "__ge__": e.greater_equal,
    "__getitem__": indexing.getitem,
    "__setitem__": _setitem,
    "astype": cast,
    "reshape": lambda self, *shape: s.reshape(
        self, shape[0] if len(shape) == 1 and not isinstance(shape[0], int) else shape
    ),
    "transpose": lambda self, *axes: s.transpose(self, axes if axes else None),
    "T": property(lambda self: s.transpose(self)),
}


def install() -> None:
    for name, fn in _OPERATORS.items():
        setattr(Tensor, name, fn)
    # NumPy defers to our reflected operators instead of converting the tensor.
    Tensor.__array_ufunc__ = None
