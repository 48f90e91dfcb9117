"""Attach Python operators and array methods to ``Tensor``.

``nerve.tensor`` sits below ``nerve.ops`` and must not import it, so the ops
layer installs the operators on the class when it loads (JAX does the same).
"""

from __future__ import annotations

from nerve.ops import elementwise as e
from nerve.ops import indexing, linalg
from nerve.ops import shape as s
from nerve.ops._convert import cast
from nerve.tensor import Tensor


def _reflected(fn):
    def op(self, other):
        return fn(other, self)

    return op


def _setitem(self, key, value):
    raise TypeError(
        "nerve tensors are immutable; build a new tensor instead (e.g. with "
        "nerve.ops.where or nerve.ops.scatter_update), or use a nerve.Variable."
    )


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
    "__invert__": e.logical_not,
    "__and__": e.logical_and,
    "__rand__": _reflected(e.logical_and),
    "__or__": e.logical_or,
    "__ror__": _reflected(e.logical_or),
    "__xor__": e.logical_xor,
    "__rxor__": _reflected(e.logical_xor),
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
