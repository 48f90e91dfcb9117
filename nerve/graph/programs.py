"""Programs: traced sub-graphs run as closed functions of arrays.

``cond``, ``while_loop`` and ``scan`` (``nerve.ops.control_flow``) trace their
branches and bodies into sub-graphs with a ``ProgramBuilder``. Each becomes a
``Program``, the static param of a control-flow primitive
(``nerve.primitives.control_flow``): its backend kernel calls the program on
arrays, the tracer inlines it, and its gradient is another program traced from it.
Tensors a branch or body uses from outside (closures, variables, and tensors an
outer tape tracks) become *captures*: trailing inputs of every program of one
builder, passed as extra operands of the control-flow node, so gradients reach them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nerve.autodiff.engine import zeros_like
from nerve.autodiff.tape import GradientTape, active_tapes, stop_recording
from nerve.backend import backend_of, get_backend
from nerve.backend.abstract import AbstractArray
from nerve.core import tree
from nerve.core.errors import TracingError, with_location
from nerve.graph.executor import CompiledGraph
from nerve.graph.ir import Value
from nerve.graph.passes import optimize
from nerve.graph.trace import Trace, tracing
from nerve.primitives.registry import Aval
from nerve.tensor import Tensor, Variable, _new_tensor, convert_to_tensor

__all__ = ["Program", "ProgramBuilder", "SubTrace"]


class Program:
    """A traced sub-graph, run as a function of arrays (see
    ``nerve.primitives.control_flow`` for the protocol). Hashed by identity."""

    def __init__(self, graph: Any, name: str):
        self.graph = graph
        self.name = name
        self.in_avals = tuple(v.aval for v in graph.inputs)
        self.out_avals = tuple(v.aval for v in graph.outputs)
        self.cache: dict = {}
        self._compiled: dict = {}

    def __call__(self, *arrays: Any) -> tuple:
        backend = backend_of(arrays[0]) if arrays else get_backend()
        compiled = self._compiled.get(backend.name)
        if compiled is None:  # optimized and compiled for each backend it runs on
            graph = optimize(self.graph, backend)
            compiled = self._compiled[backend.name] = CompiledGraph(graph, backend)
        return compiled.run(list(arrays))

    def inline(self, *tensors: Any) -> tuple:
        """Bind the sub-graph's primitives on ``tensors`` under the current interpreter."""
        env = dict(zip(self.graph.inputs, tensors))
        for value, array in self.graph.constants.items():
            env[value] = _new_tensor(array)
        for node in self.graph.nodes:
            out = node.prim.bind(*(env[v] for v in node.inputs), **node.params)
            env.update(zip(node.outputs, out if node.prim.multiple_results else (out,)))
        return tuple(env[v] for v in self.graph.outputs)

    def vjp(self) -> Program:
        """``(inputs..., output cotangents...) -> input cotangents`` as a program."""
        program = self.cache.get("vjp")
        if program is None:
            program = self.cache["vjp"] = self.trace(
                self._vjp_fn, (*self.in_avals, *self.out_avals), f"{self.name}_vjp"
            )
        return program

    def _vjp_fn(self, *args: Tensor) -> tuple:
        inputs, cts = list(args[: len(self.in_avals)]), list(args[len(self.in_avals) :])
        with GradientTape() as tape:
            tape.watch(inputs)
            outputs = list(self.inline(*inputs))
        grads = tape.gradient(outputs, inputs, output_gradients=cts)
        return tuple(zeros_like(x) if g is None else g for x, g in zip(inputs, grads))

    def trace(self, fn: Callable, avals: tuple, name: str) -> Program:
        """A new program tracing ``fn`` (which must not capture outer tensors)."""
        builder = ProgramBuilder(name)
        builder.trace(fn, avals)
        # Derived programs only use their own inputs; a capture would be a bug here.
        assert not builder.captures, f"derived program {name!r} captured outer tensors"
        return builder.programs()[0]

    def __repr__(self) -> str:
        def fmt(avals):
            return ",".join(f"{a.dtype}{list(a.shape)}" for a in avals)

        return f"{{{self.name}: ({fmt(self.in_avals)})->({fmt(self.out_avals)})}}"


class ProgramBuilder:
    """Traces one or more Python functions (a cond's two branches, a loop's cond and
    body) into sub-graphs sharing one list of *captures*: outer tensors and variables
    they use, which become trailing inputs of every program built here."""

    def __init__(self, name: str):
        self.name = name
        self.captures: dict[Any, Any] = {}  # key -> outer Tensor or Variable, in order
        self._traces: list = []

    def trace(self, fn: Callable, avals: tuple) -> tuple[list, Callable]:
        """Trace ``fn`` on fresh tensors of ``avals``: its output leaves (``None``
        leaves dropped) and a function rebuilding its output structure from them."""
        trace = SubTrace(self.name, self, active_tapes())
        # Outer tapes must not record the sub-graph's binds: the whole construct is
        # recorded once, as its own node, when it is bound in the outer program.
        with stop_recording(), tracing(trace):
            args = [trace.new_input(tuple(a.shape), a.dtype) for a in avals]
            params = list(trace.graph.inputs)
            leaves, rebuild = tree.flatten(fn(*args))
            kept = [i for i, leaf in enumerate(leaves) if leaf is not None]
            trace.graph.outputs = [trace.value_of(_as_tensor(leaves[i])) for i in kept]

        def rebuild_leaves(values: list) -> Any:
            full = [None] * len(leaves)
            for i, v in zip(kept, values):
                full[i] = v
            return rebuild(full)

        self._traces.append((trace, params))
        return list(trace.graph.outputs), rebuild_leaves

    def programs(self, captures_at: int | None = None) -> list[Program]:
        """One program per traced function. Inputs: its own arguments with every
        capture inserted before argument ``captures_at`` (default: after them all)."""
        result = []
        for trace, params in self._traces:
            graph = trace.graph
            at = len(params) if captures_at is None else captures_at
            captured = [
                trace.capture_inputs.get(key) or Value(_aval_of(outer))
                for key, outer in self.captures.items()
            ]
            graph.inputs = params[:at] + captured + params[at:]
            result.append(Program(graph, graph.name))
        return result

    def operands(self) -> list:
        return list(self.captures.values())


class SubTrace(Trace):
    """Tensors of outer traces, variables, and concrete tensors that an outer tape
    tracks (their gradients are wanted) become captured inputs; other concrete
    tensors become constants of the sub-graph."""

    def __init__(self, name: str, builder: ProgramBuilder, outer_tapes: list):
        super().__init__(name)
        self.builder = builder
        self.outer_tapes = outer_tapes
        self.capture_inputs: dict = {}  # capture key -> this graph's input Value

    def _capture(self, key: Any, outer: Any) -> Any:
        value = self.capture_inputs.get(key)
        if value is None:
            self.builder.captures.setdefault(key, outer)
            # Not appended to graph.inputs: ``programs`` orders the inputs.
            value = self.capture_inputs[key] = Value(_aval_of(outer))
        return value

    def value_of(self, x: Any) -> Any:
        if not isinstance(x, Variable):
            array = x._value
            if type(array) is AbstractArray:
                if array.trace is not self:
                    return self._capture(("value", array.value), x)
            elif any(tape.tracks(x) for tape in self.outer_tapes):
                return self._capture(("tensor", id(x)), x)
        return super().value_of(x)

    def read(self, variable: Variable) -> Tensor:
        value = self._capture(("variable", id(variable)), variable)
        return self.tensor_for(value)

    def assign(self, variable: Variable, value: Any) -> Variable:
        raise TracingError(
            with_location(
                f"Variable {variable.name!r} is assigned inside a traced cond, while_loop, "
                "fori_loop or scan body; that is not supported. Return the new value "
                "from the branch or body and assign it afterwards."
            )
        )


def _aval_of(x: Any) -> Aval:
    return Aval(tuple(x.shape), x.dtype)


def _as_tensor(x: Any) -> Tensor:
    """A branch's output leaf as a tensor (variables stay variables: tapes know them)."""
    return x if isinstance(x, Tensor) else convert_to_tensor(x)
