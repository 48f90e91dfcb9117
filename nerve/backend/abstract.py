"""Abstract arrays: the values tensors hold while ``nerve.function`` traces a program.

An ``AbstractArray`` has a shape and a dtype and nothing else; it also names the
graph value it stands for, so the tracer can find it again. Asking for its
numbers raises ``TracingError`` with a hint about what to do instead.
"""

from __future__ import annotations

import math
from typing import Any

from nerve.backend.base import Backend
from nerve.core.errors import TracingError, with_location

__all__ = [
    "AbstractArray",
    "AbstractBackend",
]

_CONCRETE_HINT = (
    "Inside nerve.function the program is traced once into a graph, so tensors have "
    "shapes and dtypes but no values yet. Use nerve.ops.cond / while_loop for "
    "data-dependent control flow, or return the tensor and inspect it outside."
)

_ESCAPED = (
    "it escaped the nerve.function trace that made it (kept in a list, an attribute or a "
    "global) and is used after that function returned. Traced tensors only have values "
    "inside the compiled graph: return the tensor from the function instead."
)


class AbstractArray:
    """Shape and dtype of a traced tensor, plus the graph value it stands for."""

    __slots__ = ("dtype", "shape", "trace", "value")

    def __init__(self, shape: tuple, dtype: str, value: Any, trace: Any):
        self.shape = tuple(shape)
        self.dtype = dtype
        self.value = value
        self.trace = trace

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def _concrete(self, what: str):
        if getattr(self.trace, "finished", False):
            raise TracingError(with_location(f"Cannot take {what} of a traced tensor: {_ESCAPED}"))
        raise TracingError(
            with_location(f"Cannot take {what} of a traced tensor. {_CONCRETE_HINT}")
        )

    def __bool__(self):
        self._concrete("the truth value")

    def __float__(self):
        self._concrete("float()")

    def __int__(self):
        self._concrete("int()")

    def __index__(self):
        self._concrete("an index")

    def __array__(self, *args, **kwargs):
        self._concrete("the NumPy value")

    def __repr__(self) -> str:
        return f"AbstractArray(shape={self.shape}, dtype={self.dtype})"


class AbstractBackend(Backend):
    """Owns abstract arrays: answers shape and dtype questions, computes nothing."""

    name = "abstract"
    array_types = (AbstractArray,)

    def __init__(self) -> None:
        super().__init__({})

    def kernel(self, name: str) -> Any:
        # Only reached when an op runs eagerly on a traced tensor outside its trace.
        raise TracingError(with_location(f"Cannot run {name!r} on a traced tensor: {_ESCAPED}"))

    def asarray(self, value: Any, dtype: str | None = None, copy: bool = False) -> Any:
        # Host data met during tracing becomes a concrete constant of the graph.
        from nerve.backend.registry import get_backend

        return get_backend().asarray(value, dtype, copy)

    def scalar(self, value: Any, dtype: str) -> Any:
        from nerve.backend.registry import get_backend

        return get_backend().scalar(value, dtype)

    def to_numpy(self, array: Any) -> Any:
        array._concrete("the NumPy value")

    def dtype_name(self, array: Any) -> str:
        return array.dtype

    def native_dtype(self, name: str) -> Any:
        return name

    def device_of(self, array: Any) -> str:
        return "traced"

    def shares_memory(self, a: Any, b: Any) -> bool:
        return False  # abstract arrays have no memory

    def is_array(self, value: Any) -> bool:
        return isinstance(value, AbstractArray)
