"""Tracing: run a Python function on abstract tensors and record a ``Graph``.

While a ``Trace`` is active it is the interpreter on top of the primitive
registry's stack, so every ``bind`` becomes a graph node instead of a kernel
call. Tensors it returns hold an ``AbstractArray`` (shape, dtype, graph value).
Concrete tensors met along the way become graph constants; variables become
state (``read_variable`` once, then the latest assigned value; ``assign_variable``
nodes in program order).

Gradient tapes keep working: each traced node is also recorded on the active
tapes, so ``tape.gradient`` inside a traced function traces the backward pass
into the same graph.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from nerve import tensor as tensor_module
from nerve.autodiff import tape as tape_module
from nerve.backend.abstract import AbstractArray
from nerve.core import dtypes
from nerve.core.errors import ShapeError, TracingError, with_location
from nerve.graph.ir import Graph, Value
from nerve.primitives import registry
from nerve.primitives.elementwise import add_p, cast_p, subtract_p
from nerve.primitives.registry import Aval, Primitive
from nerve.primitives.state import assign_variable_p, read_variable_p
from nerve.tensor import Tensor, Variable, convert_to_tensor

__all__ = [
    "Trace",
    "active_trace",
    "describe",
    "init_scope",
    "tracing",
]

_object_new = object.__new__


class Trace:
    """One tracing session: the interpreter that turns binds into graph nodes."""

    def __init__(self, name: str = "graph"):
        self.graph = Graph(name)
        self.finished = False  # set when tracing ends: its tensors then have escaped
        self._variable_values: dict[int, Tensor] = {}
        self._constant_values: dict[int, Value] = {}

    # -- tensors <-> values ------------------------------------------------------------
    def tensor_for(self, value: Value) -> Tensor:
        t = _object_new(Tensor)
        t._value = AbstractArray(value.aval.shape, value.aval.dtype, value, self)
        return t

    def new_input(self, shape: tuple, dtype: str) -> Tensor:
        return self.tensor_for(self.graph.add_input(Aval(tuple(shape), dtype)))

    def value_of(self, x: Any) -> Value:
        """The graph value of a tensor argument (constants and variables included)."""
        if isinstance(x, Variable):
            return self.value_of(self.read(x))
        array = x._value
        if type(array) is AbstractArray:
            if array.trace is not self:
                when = (
                    "after that function returned"
                    if getattr(array.trace, "finished", False)
                    else "inside another traced function"
                )
                raise TracingError(
                    with_location(
                        f"A tensor traced by another nerve.function was used here, {when}. "
                        "Traced tensors cannot leave the function that made them (kept in a "
                        "list, an attribute or a global): return them instead."
                    )
                )
            return array.value
        key = id(array)
        value = self._constant_values.get(key)
        if value is None:
            value = self.graph.add_constant(array, Aval(tuple(x.shape), x.dtype))
            self._constant_values[key] = value
        return value

    # -- the interpreter -------------------------------------------------------------------
    def bind(self, prim: Primitive, args: tuple, params: dict) -> Any:
        inputs = [self.value_of(a) for a in args]
        out = prim.shape_rule(*(v.aval for v in inputs), **params)
        avals = list(out) if prim.multiple_results else [out]
        node = self.graph.add_node(prim, inputs, params, avals)
        outputs = tuple(self.tensor_for(v) for v in node.outputs)
        if prim.differentiable and tape_module._recording_threads and tape_module._state.tapes:
            tape_module.record(prim, args, params, outputs)
        return outputs if prim.multiple_results else outputs[0]

    # -- variables ----------------------------------------------------------------------------
    def read(self, variable: Variable) -> Tensor:
        current = self._variable_values.get(id(variable))
        if current is None:
            slot = self.graph.variable_slot(variable)
            aval = Aval(tuple(variable._value.shape), variable.dtype)
            node = self.graph.add_node(read_variable_p, [], {"slot": slot, "aval": aval}, [aval])
            current = self._variable_values[id(variable)] = self.tensor_for(node.outputs[0])
            tensor_module.snapshot_owner[current] = variable
        return current

    def _as_variable_dtype(self, variable: Variable, value: Any) -> Tensor:
        new = value if isinstance(value, Tensor) else convert_to_tensor(value, variable.dtype)
        return new if new.dtype == variable.dtype else cast_p.bind(new, dtype=variable.dtype)

    def assign(self, variable: Variable, value: Any) -> Variable:
        new = self._as_variable_dtype(variable, value)
        if new.shape != variable.shape:
            raise ShapeError(
                with_location(
                    f"Variable {variable.name!r}: cannot assign a value of shape {new.shape} "
                    f"to a variable of shape {variable.shape}."
                )
            )
        slot = self.graph.variable_slot(variable)
        value_node = self.value_of(new)
        self.graph.add_node(assign_variable_p, [value_node], {"slot": slot}, [])
        current = self._variable_values[id(variable)] = self.tensor_for(value_node)
        tensor_module.snapshot_owner[current] = variable
        return variable

    def assign_add(self, variable: Variable, delta: Any) -> Variable:
        delta = self._as_variable_dtype(variable, delta)
        return self.assign(variable, add_p.bind(self.read(variable), delta))

    def assign_sub(self, variable: Variable, delta: Any) -> Variable:
        delta = self._as_variable_dtype(variable, delta)
        return self.assign(variable, subtract_p.bind(self.read(variable), delta))


def active_trace() -> Trace | None:
    """The innermost active trace, if any."""
    hooks = tensor_module._trace_hooks
    return hooks[-1] if hooks else None


@contextlib.contextmanager
def tracing(trace: Trace) -> Iterator[Trace]:
    """Make ``trace`` the interpreter of every bind and the owner of variable access."""
    registry.push_interpreter(trace.bind)
    tensor_module._trace_hooks.append(trace)
    try:
        yield trace
    finally:
        trace.finished = True
        tensor_module._trace_hooks.pop()
        registry.pop_interpreter()


@contextlib.contextmanager
def init_scope() -> Iterator[None]:
    """Run eagerly even while a function is being traced, and record on no tape.

    State is created here: a layer built (or an optimizer's slots made) during the
    first traced call gets concrete variables, which the graph then reads and
    writes like any other captured variable (TensorFlow's ``init_scope``).

    >>> import nerve
    >>> @nerve.function
    ... def make_and_read():
    ...     with nerve.init_scope():
    ...         v = nerve.Variable(nerve.ops.ones((2,)))
    ...     return v * 2.0
    >>> make_and_read().numpy()
    array([2., 2.], dtype=float32)
    """
    from nerve.autodiff.tape import stop_recording

    hooks = tensor_module._trace_hooks[:]
    tensor_module._trace_hooks.clear()
    registry.push_interpreter(registry.interpreter_stack[0])
    try:
        with stop_recording():
            yield
    finally:
        registry.pop_interpreter()
        tensor_module._trace_hooks[:] = hooks


def describe(x: Any) -> str:
    """A short description of an argument for retracing messages."""
    if isinstance(x, Tensor):
        return f"a {x.dtype} tensor of shape {x.shape}"
    shape, dtype = getattr(x, "shape", None), getattr(x, "dtype", None)
    if shape is not None and dtype is not None:
        return f"a {dtypes.standardize_dtype(dtype)} array of shape {tuple(shape)}"
    return f"the Python value {x!r}"
