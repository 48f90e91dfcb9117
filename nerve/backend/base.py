"""The backend contract.

A backend owns one array library and one kind of device. Everything above
``nerve.backend`` holds backend arrays opaquely and reaches them only through
a backend object, so nothing else knows whether NumPy or CuPy runs.

The contract has two parts:

* **Core methods** (below, abstract): array creation from host data, conversion
  back to NumPy, dtype and device queries. Backend arrays must also expose the
  Array-API attributes ``shape``, ``ndim``, ``dtype`` and ``size``.
* **Kernels**: one named function per primitive (``primitive.kernel`` names it).
  ``Backend.kernel(name)`` returns it and fails loudly, naming the backend and the
  kernel, when a backend lacks one. A test checks that every backend implements
  every registered primitive's kernel.
* **Fused loops** (optional): ``compile_elementwise`` turns a chain of elementwise
  kernels (``nerve.backend.program``) into one loop; backends that can't return
  ``None`` and the executor calls the kernels one by one.
"""

from __future__ import annotations

import abc
import contextlib
import math
from collections.abc import Callable, Sequence
from typing import Any

from nerve.backend.program import ElementwiseProgram
from nerve.core.errors import BackendError


class Backend(abc.ABC):
    """Base class of backends: core methods plus a table of named kernels."""

    name: str = "abstract"
    #: Array types this backend owns; used to find the backend of an array.
    array_types: tuple[type, ...] = ()

    def __init__(self, kernels: dict[str, Callable[..., Any]]):
        self._kernels = dict(kernels)
        self._scalars: dict = {}

    def scalar(self, value: Any, dtype: str) -> Any:
        """A 0-d array of ``value``; cached, since Python constants recur in every step.
        Arrays are never written in place, so sharing them is safe."""
        key = (type(value), value, dtype)
        if value == 0 and type(value) is float:
            key += (math.copysign(1.0, value),)  # -0.0 == 0.0, but the sign matters
        array = self._scalars.get(key)
        if array is None:
            array = self.asarray(value, dtype)
            if len(self._scalars) < 4096:
                self._scalars[key] = array
        return array

    # -- kernels --------------------------------------------------------------
    def kernel(self, name: str) -> Callable[..., Any]:
        """The kernel called ``name``; ``BackendError`` if this backend has none."""
        try:
            return self._kernels[name]
        except KeyError:
            raise BackendError(
                f"The {self.name!r} backend has no kernel {name!r}. Every backend must "
                f"implement the kernels named by the registered primitives."
            ) from None

    def has_kernel(self, name: str) -> bool:
        return name in self._kernels

    def graph_kernel(self, name: str) -> Callable[..., Any]:
        """The kernel a compiled graph calls: without per-call wrappers (such as an
        error-state guard) whose effect ``quiet`` provides once for the whole run."""
        kernel = self.kernel(name)
        return getattr(kernel, "unwrapped", kernel)

    def quiet(self) -> Any:
        """A context in which IEEE special results (inf, nan) raise no warnings; a
        compiled graph runs inside one. Backends whose library never warns keep this."""
        return contextlib.nullcontext()

    def supports_out(self, name: str) -> bool:
        """Whether kernel ``name`` accepts ``out=`` (writes its result into a given
        array). Array-module ufuncs do (they have ``nout``); wrappers may not."""
        return hasattr(self.kernel(name), "nout")

    def compile_elementwise(self, programs: Sequence[ElementwiseProgram]) -> list:
        """One callable per program that runs it as a single loop, or ``None`` where this
        backend runs the steps one kernel at a time (the default). A callable is called
        ``fn(inputs, outs)``: ``inputs`` are the program's input arrays, ``outs`` one
        array (to write the result into, possibly one of ``inputs``) or ``None`` (to
        allocate) per result; it returns the result arrays. Backends compile all of a
        graph's programs at once, so a compiler runs once per graph."""
        return [None] * len(programs)

    @property
    def kernel_names(self) -> frozenset:
        return frozenset(self._kernels)

    # -- core contract ----------------------------------------------------------
    @abc.abstractmethod
    def asarray(self, value: Any, dtype: str | None = None, copy: bool = False) -> Any:
        """A backend array from host data (scalars, lists, NumPy arrays, DLPack)."""

    @abc.abstractmethod
    def to_numpy(self, array: Any) -> Any:
        """A NumPy array holding ``array``'s data (a copy when on another device)."""

    @abc.abstractmethod
    def dtype_name(self, array: Any) -> str:
        """nerve's dtype name of ``array``."""

    @abc.abstractmethod
    def native_dtype(self, name: str) -> Any:
        """The array library's dtype object for nerve dtype ``name``."""

    @abc.abstractmethod
    def device_of(self, array: Any) -> str:
        """Device name of ``array``: ``"cpu"``, ``"gpu:0"``, ..."""

    @abc.abstractmethod
    def is_array(self, value: Any) -> bool:
        """Whether ``value`` is an array (or array scalar) of this backend."""

    def __repr__(self) -> str:
        return f"<nerve backend {self.name!r}>"
