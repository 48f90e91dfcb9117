"""The backend contract.

A backend owns one array library and one kind of device. Everything above
``nerve.backend`` holds backend arrays opaquely and reaches them only through
a backend object, so nothing else knows whether NumPy or CuPy runs.

The contract has three parts:

* **Core methods** (below, abstract): array creation from host data, conversion
  back to NumPy, dtype and device queries. Backend arrays must also expose the
  Array-API attributes ``shape``, ``ndim``, ``dtype`` and ``size``.
* **Kernels**: one named function per primitive (``primitive.kernel`` names it).
  ``Backend.kernel(name)`` returns it and fails loudly, naming the backend and the
  kernel, when a backend lacks one. A test checks that every backend implements
  every registered primitive's kernel.
* **Capabilities** the graph compiler asks about, each an explicit method that
  is off by default: ``supports_out`` (a kernel writes into a given buffer),
  ``result_buffer_writable``, ``graph_kernel`` (a kernel without per-call
  guards), and fused loops: ``can_fuse`` says which elementwise steps have a
  loop form and ``compile_elementwise`` turns a chain of them
  (``nerve.backend.program``) into one loop; backends that can't return ``None``
  and the executor calls the kernels one by one; ``runs_natively`` says which kernels
  of lowering-only primitives run as native loops.
"""

from __future__ import annotations

import abc
import contextlib
import math
from collections.abc import Callable, Sequence
from typing import Any

from nerve.backend.program import ElementwiseProgram
from nerve.core.errors import BackendError

__all__ = [
    "Backend",
]


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
        key: tuple[Any, ...] = (type(value), value, dtype)
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
        """The kernel a compiled graph calls. It may leave out per-call work whose effect
        ``quiet`` provides once for the whole run (such as an error-state guard); by
        default it is ``kernel(name)``."""
        return self.kernel(name)

    def quiet(self) -> Any:
        """A context in which IEEE special results (inf, nan) raise no warnings; a
        compiled graph runs inside one. Backends whose library never warns keep this."""
        return contextlib.nullcontext()

    def run_scope(self, buffer_bytes: int, product_work: int = 0) -> Any:
        """The context one run of a compiled graph runs in, given the size in bytes of
        the graph's largest array and the multiply-adds of its largest matrix product:
        ``quiet()`` here. A backend may add what pays only for graphs with large arrays
        or products (the NumPy backend keeps large freed buffers for the next run, see
        ``numpy_backend/native/allocator.py``, and holds the cores for its own threads,
        ``native/threads.py``)."""
        return self.quiet()

    # -- capabilities the graph compiler asks about (all off by default) ------------
    def supports_out(self, name: str) -> bool:
        """Whether the graph kernel ``name`` of an elementwise primitive accepts ``out=``:
        an array of the result's shape and dtype, possibly one of its own inputs, that it
        writes the result into and returns, computing exactly what it computes without."""
        return False

    def result_buffer_writable(self, ndim: int) -> bool:
        """Whether a fresh kernel result of rank ``ndim`` is an array the memory planner
        may write into later (NumPy returns immutable scalars for 0-d results)."""
        return True

    def can_fuse(self, kernel: str, input_dtypes: Sequence[str], dtype: str, params: dict) -> bool:
        """Whether ``compile_elementwise`` has a loop form for one step: elementwise
        ``kernel`` on inputs of ``input_dtypes`` with ``params``, giving ``dtype``. The
        fusion pass groups only such steps. ``False`` unless a backend compiles loops."""
        return False

    def compile_elementwise(self, programs: Sequence[ElementwiseProgram]) -> list:
        """One callable per program that runs it as a single loop, or ``None`` where this
        backend runs the steps one kernel at a time (the default). A callable is called
        ``fn(inputs, outs)``: ``inputs`` are the program's input arrays, ``outs`` one
        array (to write the result into, possibly one of ``inputs``: a loop reads every
        element of its inputs before it writes that element) or ``None`` (to allocate)
        per result; it returns the result arrays. Backends compile all of a graph's
        programs at once, so a compiler runs once per graph. A program may write a
        result in blocks or read inputs that are column blocks of wider matrices
        (``ElementwiseProgram.has_blocks``); a backend that can't returns ``None``
        for it, and the executor runs its steps with a ``getitem`` per block and a
        ``concatenate`` per result in blocks."""
        return [None] * len(programs)

    def runs_natively(
        self, kernel: str, dtype: str, shapes: tuple = (), params: dict | None = None
    ) -> bool:
        """Whether the kernel ``kernel`` of a primitive that only lowering puts in graphs
        (``softmax_rows``, ``patches_product``) runs as a native loop here, faster than
        the steps it stands for, on operands of ``dtype`` with these ``shapes`` and the
        primitive's ``params``. Lowering puts it in place of those steps only then:
        elsewhere the kernel runs the same steps, with nothing gained. ``False`` unless a
        backend has such loops."""
        return False

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
    def shares_memory(self, a: Any, b: Any) -> bool:
        """Whether arrays ``a`` and ``b`` of this backend overlap in memory (for tests of
        the kernels' declared aliasing)."""

    @abc.abstractmethod
    def is_array(self, value: Any) -> bool:
        """Whether ``value`` is an array (or array scalar) of this backend."""

    def __repr__(self) -> str:
        return f"<nerve backend {self.name!r}>"
