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
from nerve.graph.ir import Graph, Node, Value
from nerve.graph.passes import dce, optimize
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
        #: Set on the ``primal`` half of ``linearize``: how many residuals follow the
        #: outputs, and the program whose outputs come first (``passes.share_scans``).
        self.num_residuals = 0
        self.primal_of: Program | None = None

    def __call__(self, *arrays: Any) -> tuple:
        return self._compiled_for(arrays).run(list(arrays))

    def stepper(self, *arrays: Any) -> Callable[..., tuple]:
        """``run(list_of_arrays, dests=None) -> outputs`` for arrays on the backend of
        ``arrays``, without ``__call__``'s per-call backend lookup and error-state scope:
        for a loop kernel that calls the program at every step inside one such scope of
        its own (``dests``: see ``CompiledGraph.run_in_scope``)."""
        return self._compiled_for(arrays).run_in_scope

    def schedule(self, *arrays: Any) -> Any:
        """The compiled program as its kernel calls (``nerve.backend.program.Schedule``)
        for arrays on the backend of ``arrays``, or ``None`` (see
        ``CompiledGraph.schedule``): for a loop kernel that runs them itself."""
        return self._compiled_for(arrays).schedule()

    def _compiled_for(self, arrays: tuple) -> CompiledGraph:
        backend = backend_of(arrays[0]) if arrays else get_backend()
        compiled = self._compiled.get(backend.name)
        if compiled is None:  # optimized and compiled for each backend it runs on
            graph = optimize(self.graph, backend)
            compiled = CompiledGraph(graph, backend, hot=True)  # (a body runs per step)
            self._compiled[backend.name] = compiled
        return compiled

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

    def linearize(self, invariant: tuple[int, ...] = ()) -> tuple[Program, Program]:
        """The gradient split in two, so a loop can save what its backward steps need
        instead of computing the forward step again:

        * ``primal``: ``inputs... -> (outputs..., residuals...)``; its first outputs are
          this program's, computed by the same primitives in the same order (so
          bit-identical); ``primal.num_residuals`` says how many follow, and
          ``primal.primal_of`` is this program;
        * ``tangent``: ``(inputs..., residuals..., output cotangents...) ->`` input
          cotangents (zeros, never ``None``), as ``vjp()`` gives them.

        Built by tracing the forward step and its gradient together, then sorting the
        nodes: those that depend on a cotangent go to ``tangent``, the others to
        ``primal``; values of ``primal`` that ``tangent`` reads become residuals. Nodes
        that depend on no input but those listed in ``invariant`` (a loop's constants:
        a transposed weight) or on none at all (zeros) are copied into both, so they
        are never saved.
        """
        key = ("linearize", tuple(invariant))
        pair = self.cache.get(key)
        if pair is None:
            joint = self.trace(
                self._joint_fn, (*self.in_avals, *self.out_avals), f"{self.name}_joint"
            )
            pair = self.cache[key] = _split_joint(
                joint.graph, len(self.in_avals), len(self.out_avals), set(invariant), self
            )
        return pair

    def _joint_fn(self, *args: Tensor) -> tuple:
        inputs, cts = list(args[: len(self.in_avals)]), list(args[len(self.in_avals) :])
        with GradientTape() as tape:
            tape.watch(inputs)
            outputs = list(self.inline(*inputs))
        grads = tape.gradient(outputs, inputs, output_gradients=cts)
        grads = [zeros_like(x) if g is None else g for x, g in zip(inputs, grads)]
        return (*outputs, *grads)

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


class _Split:
    """Where each node of a joint graph goes (``_sort_joint``'s answer): ``static``
    (in both halves), ``primal``, ``recomputed`` (primal nodes the tangent half runs
    again from the residuals: cheap arithmetic and same-size copies), ``tangent``;
    and the ``residuals`` the primal half saves."""

    def __init__(self) -> None:
        self.static: list[Node] = []
        self.primal: list[Node] = []
        self.recomputed: list[Node] = []
        self.tangent: list[Node] = []
        self.residuals: list[Value] = []


def _cheap(node: Node) -> bool:
    """Recomputing ``node`` costs less than saving its result at every step:
    elementwise arithmetic (fused into the backward step's loop), a 0-d result (the
    ``1`` of ``1 - y``, made like ``y``), or one input copied to one result of the
    same size (a transpose or reshape of a state)."""
    if all(_size(o.aval) == 1 for o in node.outputs):
        return True
    if node.prim.elementwise:
        return node.prim.cost == "arithmetic"
    if len(node.inputs) != 1 or len(node.outputs) != 1:
        return False
    size_in, size_out = _size(node.inputs[0].aval), _size(node.outputs[0].aval)
    return size_in is not None and size_in == size_out


def _size(aval: Aval) -> int | None:
    size = 1
    for d in aval.shape:
        if not isinstance(d, int):
            return None
        size *= d
    return size


def _sort_joint(graph: Graph, num_inputs: int, num_outputs: int, invariant: set) -> _Split:
    split = _Split()
    primal_inputs, ct_inputs = graph.inputs[:num_inputs], graph.inputs[num_inputs:]
    tangent_values: set = set(ct_inputs)
    # Values that change from step to step (depend on an input not in ``invariant``).
    varying: set = {v for i, v in enumerate(primal_inputs) if i not in invariant}
    for node in graph.nodes:
        if any(v in tangent_values for v in node.inputs):
            split.tangent.append(node)
            tangent_values.update(node.outputs)
        elif any(v in varying for v in node.inputs):
            split.primal.append(node)
            varying.update(node.outputs)
        else:
            split.static.append(node)
    # A forward output cannot read a cotangent: the forward pass was traced first.
    assert not any(v in tangent_values for v in graph.outputs[:num_outputs])
    producer = {o: node for node in split.primal for o in node.outputs}
    grads = graph.outputs[num_outputs:]

    def wanted(nodes: list) -> list:
        found: dict = {}
        for v in [x for node in nodes for x in node.inputs] + list(grads):
            if v in producer and producer[v] not in moved:
                found.setdefault(v, None)
        return list(found)

    # Move cheap producers of residuals into the tangent half while that does not add
    # more than one residual for the one it removes (each node moves at most once).
    moved: set = set()
    needed = wanted(split.tangent)
    changed = True
    while changed:
        changed = False
        for v in needed:
            node = producer[v]
            if node in moved or not _cheap(node):
                continue
            new = [
                u
                for u in node.inputs
                if u in producer and u not in needed and _size(u.aval) != 1  # 0-d: remade
            ]
            if len(new) <= 1:
                moved.add(node)
                changed = True
        needed = wanted(split.tangent + [n for n in split.primal if n in moved])
    split.recomputed = [n for n in split.primal if n in moved]
    split.residuals = needed
    return split


def _split_joint(
    graph: Graph, num_inputs: int, num_outputs: int, invariant: set, of: Program
) -> tuple:
    """``Program.linearize``'s halves of a joint (forward + gradient) graph whose inputs
    are the forward inputs then the output cotangents, and whose outputs are the
    forward outputs then the input cotangents."""
    graph = dce(graph)
    split = _sort_joint(graph, num_inputs, num_outputs, invariant)
    primal_inputs, ct_inputs = graph.inputs[:num_inputs], graph.inputs[num_inputs:]
    primal_graph = Graph(f"{graph.name}_primal")
    primal_graph.inputs = list(primal_inputs)
    # Static nodes read only constants and invariant inputs, so they may go first.
    primal_graph.nodes = split.static + split.primal
    primal_graph.outputs = [*graph.outputs[:num_outputs], *split.residuals]
    primal_graph.constants = dict(graph.constants)
    tangent_graph = Graph(f"{graph.name}_tangent")
    tangent_graph.inputs = [*primal_inputs, *split.residuals, *ct_inputs]
    order = {id(node): i for i, node in enumerate(graph.nodes)}
    rest = sorted(split.recomputed + split.tangent, key=lambda node: order[id(node)])
    tangent_graph.nodes = [Node(n.prim, n.inputs, n.params, n.outputs) for n in split.static + rest]
    tangent_graph.outputs = list(graph.outputs[num_outputs:])
    tangent_graph.constants = dict(graph.constants)
    primal = Program(dce(primal_graph), primal_graph.name)
    primal.num_residuals = len(split.residuals)
    primal.primal_of = of
    return primal, Program(dce(tangent_graph), tangent_graph.name)


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
