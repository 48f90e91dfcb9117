"""The executor: turns an optimized graph into straight-line Python over kernels.

Per node, eager mode pays for argument conversion, dtype promotion, an
interpreter dispatch, a tensor wrapper and tape bookkeeping. A compiled graph
pays for none of these: the executor generates one Python function whose body
is one line per node, calling the backend kernel (with its params bound ahead
of time) on plain backend arrays held in local variables.

First it *lowers* the graph (``passes.LOWERING``: elementwise fusion, then the
scheduling of collectives: starts early, waits late) and asks the
backend to compile each fused node into one loop (``Backend.compile_elementwise``);
fused nodes the backend declines are expanded back into their steps, so
``CompiledGraph.graph`` is exactly what runs, in its order. Effectful nodes have no
kernel: the executor reads and writes variables itself, and calls the channel of a
collective node (``nerve.primitives.collective``).

It follows a memory plan (``nerve.graph.passes.memory``): out-capable kernels
write into dying inputs or dead buffers with ``out=``, and each local name is
deleted after its last use, so intermediates are freed as soon as possible and
large temporaries are reused within the step instead of allocated anew.

**The in-place variable rule.** A variable's buffer may be handed out (through
``Variable.value``, ``numpy()``, a returned tensor, a snapshot an optimizer or
callback keeps), and tensors are immutable, so the executor writes into a
variable's buffer only when it is *exclusively* its own, checked at run time:
the buffer was created by this compiled graph and assigned to the variable by a
previous run (``owned[slot]``), the variable still holds it, and no other
reference to it exists (``sys.getrefcount``; any Tensor, view or list holding
it adds one, and views hold their base). Otherwise the kernel allocates and the
step is as without the rule. The graph must also assign the variable later in
the same step (the planner checks), so its old value is dead; a kernel that
raises between the write and that assignment would leave it half-updated, and
another thread reading the variable while the step runs may see the update in
progress (run one step at a time per set of variables, as optimizers do).

The generated source is kept on the compiled object (``.source``) for
inspection; it is built from the graph IR in memory, never read from a file.
"""

from __future__ import annotations

import functools
import keyword
import math
import sys
import time
from collections.abc import Callable
from typing import Any

from nerve.backend.base import Backend
from nerve.backend.program import Call, ElementwiseProgram, Schedule, Step
from nerve.core import dtypes
from nerve.graph.ir import Graph, Node, Value, format_aval
from nerve.graph.passes import LOWERING, optimize
from nerve.graph.passes.fuse import fused_elementwise, loop_input_avals, program_avals
from nerve.graph.passes.memory import MemoryPlan, plan_memory
from nerve.primitives.collective import COLLECTIVE_PRIMITIVES, allreduce_start_p
from nerve.primitives.indexing import getitem_p
from nerve.primitives.linalg import matmul_p
from nerve.primitives.shape import concatenate_p
from nerve.primitives.state import assign_variable_p, read_variable_p

__all__ = [
    "HOST_PRIMITIVES",
    "STATE_PRIMITIVES",
    "CompiledGraph",
    "elementwise_program",
    "expand_fused",
    "largest_buffer",
    "largest_product",
]

#: Effectful primitives the executor runs itself (they have no backend kernel).
STATE_PRIMITIVES = (read_variable_p, assign_variable_p)
#: Every effectful primitive the executor runs: state, and collectives (which call the
#: channel object in their params, see ``nerve.primitives.collective``).
HOST_PRIMITIVES = STATE_PRIMITIVES + COLLECTIVE_PRIMITIVES


class CompiledGraph:
    """A graph compiled for one backend: ``run(input_arrays) -> output_arrays``."""

    def __init__(
        self,
        graph: Graph,
        backend: Backend,
        plan: bool = True,
        lower: bool = True,
        hot: bool = False,
    ):
        # Lowering fuses elementwise groups; fused nodes run as the backend's compiled
        # loops, and those it can't compile are expanded back into their steps.
        # ``self.graph`` is what runs.
        # The largest array is judged before lowering too: a pass may fold the largest
        # one away (a convolution's patch matrix into a Winograd product), and the run
        # still works at that scale (``Backend.run_scope``).
        unlowered_bytes = largest_buffer(graph) if lower else 0
        unlowered_work = largest_product(graph) if lower else 0
        if lower:
            graph = optimize(graph, backend, LOWERING)
        # ``hot``: the graph is a loop's body, run at every step: its fused loops are
        # compiled however small (``ElementwiseProgram.hot``).
        self.graph, self.loops = _compile_loops(graph, backend, hot)
        self.backend = backend
        self.plan = plan_memory(self.graph, backend) if plan else MemoryPlan()
        self.source, namespace = _generate(self.graph, backend, self.plan, self.loops)
        code = compile(self.source, f"<nerve graph {graph.name}>", "exec")
        exec(code, namespace)  # safe: source generated from the graph IR, not read from a file
        self._run = namespace["run"]
        self._variables = list(graph.variables)
        self._schedule: Any = _UNSCHEDULED  # a Schedule, or None: no schedule
        self.buffer_bytes = max(unlowered_bytes, largest_buffer(self.graph))
        self.product_work = max(unlowered_work, largest_product(self.graph))

    def run(self, inputs: list) -> tuple:
        # One error-state scope for the whole run instead of one per kernel call (and,
        # with large arrays, the backend's buffer reuse: ``Backend.run_scope``).
        with self.backend.run_scope(self.buffer_bytes, self.product_work):
            return self._run(inputs, self._variables)

    def run_in_scope(self, inputs: list, dests: list | None = None) -> tuple:
        """``run`` for a caller already inside ``backend.quiet()`` (a loop kernel
        running a body at every step): entering the scope costs microseconds.

        ``dests``, one entry per graph output (``None`` or an array of its shape and
        dtype), asks for outputs computed by compiled loops to be written there (a
        scan's step writes into its stacked results); an output comes back as its
        destination when it was, else as its own array (the caller copies it)."""
        if dests is None:
            return self._run(inputs, self._variables)
        return self._run(inputs, self._variables, dests)

    def schedule(self) -> Schedule | None:
        """The graph as its kernel calls (``nerve.backend.program.Schedule``), for a
        backend loop that runs them itself; ``None`` when it reads or writes
        variables or runs collectives (only the executor does those)."""
        if self._schedule is _UNSCHEDULED:  # worked out once: scan kernels ask per call
            hosted = any(n.prim in HOST_PRIMITIVES for n in self.graph.nodes)
            plain = not (self._variables or hosted)
            self._schedule = _schedule(self.graph, self.loops) if plain else None
        return self._schedule

    def profile(self, inputs: list, repeat: int = 5) -> list[dict]:
        """Per-node wall time, best of ``repeat`` runs of the code ``run`` runs, generated
        again with a clock read around each node: the same kernels, buffers, ``out=``
        writes and in-place variable updates. An interpreter that gave each node fresh
        arrays made an optimizer's update loops look ~2x slower than they run (an Adam
        update over 784x512 float32: 0.69 ms into new arrays, 0.29 ms in place).

        Variables are read and assigned through private copies of their values, so
        state is not changed: the first run allocates what a first step allocates; the
        next ones update the copies in place, as the steps after the first do."""
        source, namespace = _generate(self.graph, self.backend, self.plan, self.loops, timed=True)
        exec(compile(source, "<nerve graph profile>", "exec"), namespace)  # safe: generated
        run, times = namespace["run"], namespace["times"]
        private = [_Private(self.backend.asarray(v._value, copy=True)) for v in self._variables]
        best = [math.inf] * len(self.graph.nodes)
        for _ in range(max(1, repeat)):
            with self.backend.run_scope(self.buffer_bytes, self.product_work):
                run(inputs, private)
            best = [min(b, t) for b, t in zip(best, times)]
        total = sum(best) or 1.0
        return [
            {
                "index": k,
                "op": node.prim.name,
                "shapes": " ".join(format_aval(v.aval) for v in node.outputs) or "-",
                "ms": best[k] * 1e3,
                "percent": 100 * best[k] / total,
                "steps": " ".join(p.name for p, _, _ in node.params.get("program", ())),
            }
            for k, node in enumerate(self.graph.nodes)
        ]


class _Private:
    """A variable's stand-in for ``CompiledGraph.profile``: the generated code reads
    and assigns ``._value`` and nothing else."""

    __slots__ = ("_value",)

    def __init__(self, value: Any) -> None:
        self._value = value


def largest_buffer(graph: Graph) -> int:
    """Bytes of the largest array a node of ``graph`` makes (symbolic shapes count as
    large: their size is not known until the graph is specialized). A variable's read
    makes none: it hands out the variable's array (a batch-1 forward pass of an MLP
    reads 1.6 MB of weights and allocates a few KB)."""
    largest = 0
    for node in graph.nodes:
        if node.prim is read_variable_p:
            continue
        for value in node.outputs:
            shape, dtype = value.aval.shape, value.aval.dtype
            if not all(isinstance(d, int) for d in shape):
                return sys.maxsize
            if dtype in dtypes.ALL_TYPES:
                largest = max(largest, math.prod(shape) * dtypes.itemsize(dtype))
    return largest


def largest_product(graph: Graph) -> int:
    """Multiply-adds of the largest matrix product a node of ``graph`` computes (a
    stack's products together; symbolic shapes count as large), for
    ``Backend.run_scope``: a dense layer's product at batch 32 may be worth sharing
    out among cores while its arrays stay small (784-512: 12.8M multiply-adds, 1.6 MB
    of weights)."""
    largest = 0
    for node in graph.nodes:
        if node.prim is not matmul_p:
            continue
        shape, terms = node.outputs[0].aval.shape, node.inputs[0].aval.shape[-1:]
        if not all(isinstance(d, int) for d in (*shape, *terms)):
            return sys.maxsize
        largest = max(largest, math.prod(shape) * math.prod(terms))
    return largest


_UNSCHEDULED = object()


def _schedule(graph: Graph, loops: dict) -> Schedule:
    refs: dict[Value, int] = {v: i for i, v in enumerate(graph.inputs)}
    constants = []
    for value, array in graph.constants.items():
        refs[value] = len(refs)
        constants.append((refs[value], array))
    calls = []
    for node in graph.nodes:
        inputs = tuple(refs[v] for v in node.inputs)
        for value in node.outputs:
            refs[value] = len(refs)
        outputs = tuple(refs[v] for v in node.outputs)
        avals = tuple((tuple(v.aval.shape), v.aval.dtype) for v in node.outputs)
        if node.prim is fused_elementwise:
            calls.append(Call("loop", inputs, outputs, avals, loop=loops[id(node)]))
        else:
            params = tuple(node.params.items())
            calls.append(Call(node.prim.kernel or node.prim.name, inputs, outputs, avals, params))
    outputs = tuple(refs[v] for v in graph.outputs)
    return Schedule(len(graph.inputs), tuple(constants), tuple(calls), outputs)


def _kernel_for(node: Node, backend: Backend, loops: dict) -> Callable:
    if node.prim is fused_elementwise:
        loop = loops[id(node)]
        return lambda *inputs: loop(inputs, (None,) * len(node.outputs))
    if node.prim in COLLECTIVE_PRIMITIVES:
        channel, bucket = node.params["channel"], node.params["bucket"]
        call = channel.start if node.prim is allreduce_start_p else channel.wait
        return functools.partial(call, bucket)
    kernel = node.prim.kernel
    assert kernel is not None, f"{node.prim.name} has no backend kernel"  # only fused nodes
    return _bind_params(backend.graph_kernel(kernel), node.params)


def _plain_keyword(name: str) -> bool:
    return name.isidentifier() and not keyword.iskeyword(name)


def _bind_params(kernel: Callable, params: dict) -> Callable:
    return functools.partial(kernel, **params) if params else kernel


def elementwise_program(node: Node, hot: bool = False) -> ElementwiseProgram:
    """The backend-neutral form of a fused node (kernel names and dtypes)."""
    program, blocks = node.params["program"], node.params.get("blocks")
    inputs = loop_input_avals([v.aval for v in node.inputs], blocks)
    avals = program_avals(inputs, program)[len(node.inputs) :]
    steps = [
        Step(prim.kernel, tuple(refs), tuple(params), aval.dtype, prim.cost)
        for (prim, refs, params), aval in zip(program, avals)
    ]
    first: dict[Value, int] = {}
    for k, v in enumerate(node.inputs):
        first.setdefault(v, k)
    same_as = tuple(None if first[v] == k else first[v] for k, v in enumerate(node.inputs))
    return ElementwiseProgram(
        shape=tuple(avals[-1].shape),  # every step's (a result in blocks is wider)
        inputs=tuple((tuple(a.shape), a.dtype) for a in inputs),
        steps=tuple(steps),
        results=tuple(node.params["results"]),
        offsets=tuple(None if b is None else b[0] for b in blocks) if blocks else (),
        same_as=same_as if any(j is not None for j in same_as) else (),
        hot=hot,
    )


def _compile_loops(graph: Graph, backend: Backend, hot: bool) -> tuple[Graph, dict]:
    """Ask ``backend`` for one loop per fused node (all at once: one compiler run);
    expand the nodes it declines into their steps. Returns the graph that runs and
    ``{id(fused node): loop}``."""
    fused = [n for n in graph.nodes if n.prim is fused_elementwise]
    if not fused:
        return graph, {}
    compiled = backend.compile_elementwise([elementwise_program(n, hot) for n in fused])
    loops = {id(n): loop for n, loop in zip(fused, compiled) if loop is not None}
    if len(loops) == len(fused):
        return graph, loops
    result = graph.copy()
    result.nodes = []
    for node in graph.nodes:
        if node.prim is fused_elementwise and id(node) not in loops:
            result.nodes.extend(expand_fused(node))
        else:
            result.nodes.append(node)
    return result, loops


_FULL_SLICE = ("slice", None, None, None)


def expand_fused(node: Node) -> list[Node]:
    """A fused node's steps as ordinary nodes (its results keep their values; a result
    written in blocks becomes a ``concatenate`` of them)."""
    program, blocks = node.params["program"], node.params.get("blocks") or ()
    inputs = loop_input_avals([v.aval for v in node.inputs], blocks)
    avals = program_avals(inputs, program)
    results = node.params["results"]
    outputs = {r: v for r, v in zip(results, node.outputs) if not isinstance(r, tuple)}
    values = list(node.inputs)
    steps = []
    for k, block in enumerate(blocks):
        if block is not None:  # the columns the loop would have read in place
            rank = len(values[k].aval.shape)
            template = (_FULL_SLICE,) * (rank - 1) + (("slice", block[0], block[1], None),)
            part = Value(inputs[k])
            steps.append(Node(getitem_p, [values[k]], {"template": template}, [part]))
            values[k] = part
    for prim, refs, params in program:
        out = outputs.get(len(values)) or Value(avals[len(values)])
        steps.append(Node(prim, [values[k] for k in refs], dict(params), [out]))
        values.append(out)
    for result, out in zip(results, node.outputs):
        if isinstance(result, tuple):
            axis = len(out.aval.shape) - 1
            steps.append(Node(concatenate_p, [values[k] for k in result], {"axis": axis}, [out]))
    return steps


def _generate(
    graph: Graph, backend: Backend, plan: MemoryPlan, loops: dict, timed: bool = False
) -> tuple[str, dict]:
    # ``timed``: each node's lines between two clock reads, its time left in
    # ``times[node index]`` (``CompiledGraph.profile``).
    # `owned[slot]`: the buffer this graph last assigned to that variable (see the rule in
    # the module docstring); kept only for variables the plan may update in place.
    inplace_slots = {slot for slot, _ in plan.variable_out.values()}
    inplace_slots |= {t[0] for ts in plan.fused_out.values() for t in ts if isinstance(t, tuple)}
    namespace: dict[str, Any] = {"owned": [None] * len(graph.variables), "refs": sys.getrefcount}
    names: dict[Value, str] = {}

    def name(v: Value) -> str:
        if v not in names:
            names[v] = f"v{len(names)}"
        return names[v]

    # A compiled loop may write an output straight into the caller's destination for
    # it (``CompiledGraph.run_in_scope``); not an output listed twice (two results
    # would share one array).
    positions: dict[Value, list[int]] = {}
    for k, v in enumerate(graph.outputs):
        positions.setdefault(v, []).append(k)
    dest_of = {v: ks[0] for v, ks in positions.items() if len(ks) == 1}
    namespace["no_dests"] = (None,) * len(graph.outputs)
    lines = ["def run(inputs, variables, dests=no_dests):"]
    if graph.inputs:
        targets = ", ".join(name(v) for v in graph.inputs)
        lines.append(f"    ({targets},) = inputs")
    for i, (value, array) in enumerate(graph.constants.items()):
        namespace[f"c{i}"] = array
        names[value] = f"c{i}"
    if timed:
        namespace.update(clock=time.perf_counter, times=[0.0] * len(graph.nodes))
    for i, node in enumerate(graph.nodes):
        first = len(lines)
        args = ", ".join(name(v) for v in node.inputs)
        prim = node.prim.name
        if node.prim is read_variable_p:
            lines.append(f"    {name(node.outputs[0])} = variables[{node.params['slot']}]._value")
        elif node.prim is assign_variable_p:
            slot = node.params["slot"]
            lines.append(f"    variables[{slot}]._value = {args}")
            if slot in inplace_slots:
                owned = args if node.inputs[0] in plan.buffers else "None"
                lines.append(f"    owned[{slot}] = {owned}")
        elif node.prim is fused_elementwise:
            namespace[f"k{i}"] = loops[id(node)]
            _generate_loop_call(i, node, plan, name, lines, dest_of)
        else:
            kernel = node.prim.kernel
            if (
                kernel
                and node.prim not in COLLECTIVE_PRIMITIVES
                and all(map(_plain_keyword, node.params))
            ):
                # The kernel itself, its params passed as keywords from constants of the
                # namespace: a call through functools.partial merges the keywords into a
                # new dict each time (~0.4 us a node; a convnet has 20 such nodes).
                namespace[f"k{i}"] = backend.graph_kernel(kernel)
                for key, value in node.params.items():
                    namespace[f"p{i}_{key}"] = value
                args += "".join(f", {key}=p{i}_{key}" for key in node.params)
                args = args.removeprefix(", ")
            else:
                namespace[f"k{i}"] = _kernel_for(node, backend, loops)
            call = _planned_call(f"k{i}", args, i, plan, name)
            if node.prim.multiple_results:
                outs = ", ".join(name(o) for o in node.outputs)
                lines.append(f"    ({outs}{',' if len(node.outputs) == 1 else ''}) = {call}")
            else:
                lines.append(f"    {name(node.outputs[0])} = {call}")
            lines[-1] += f"  # {prim}"
        if timed:
            lines.insert(first, "    _t = clock()")
            lines.append(f"    times[{i}] = clock() - _t")
        dead = [name(v) for v in plan.drop_after.get(i, ())]
        if dead:
            lines.append(f"    del {', '.join(dead)}")
    outs = ", ".join(name(v) for v in graph.outputs)
    lines.append(f"    return ({outs}{',' if len(graph.outputs) == 1 else ''})")
    return "\n".join(lines) + "\n", namespace


def _planned_call(kernel: str, args: str, i: int, plan: MemoryPlan, name: Callable) -> str:
    """The call expression of node ``i``, writing where the memory plan says."""
    call = f"{kernel}({args})"
    if i in plan.out:
        return f"{kernel}({args}, out={name(plan.out[i])})"
    if i in plan.variable_out:
        slot, read = plan.variable_out[i]
        r = name(read)
        # 4 references: variables[slot]._value, owned[slot], the local, refs' argument.
        exclusive = f"{r} is owned[{slot}] and refs({r}) == 4"
        return f"{kernel}({args}, out={r}) if {exclusive} else {call}"
    return call


def _generate_loop_call(
    i: int, node: Node, plan: MemoryPlan, name: Callable, lines: list, dest_of: dict
):
    """A compiled loop's call: results go where the plan says (a variable's buffer only
    when exclusive, checked before the call builds its argument tuples); a graph output
    the plan places nowhere goes to the caller's destination (``None`` if it has none)."""
    outs = []
    for k, target in enumerate(plan.fused_out.get(i, [None] * len(node.outputs))):
        if target is None:
            where = dest_of.get(node.outputs[k])
            outs.append("None" if where is None else f"dests[{where}]")
        elif isinstance(target, Value):
            outs.append(name(target))
        else:
            slot, read = target
            r, local = name(read), f"t{i}_{k}"
            lines.append(f"    {local} = {r} if {r} is owned[{slot}] and refs({r}) == 4 else None")
            outs.append(local)
    args = "".join(f"{name(v)}, " for v in node.inputs)
    results = "".join(f"{name(v)}, " for v in node.outputs)
    out_args = "".join(f"{o}, " for o in outs)
    lines.append(f"    ({results}) = k{i}(({args}), ({out_args}))  # fused_elementwise")
    temporaries = [o for o in outs if o.startswith("t")]
    if temporaries:
        lines.append(f"    del {', '.join(temporaries)}")
