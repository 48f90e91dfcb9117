"""Elementwise fusion: groups of elementwise nodes of one shape become one node.

A ``fused_elementwise`` node stands for a loop over one iteration shape that
computes several elementwise steps per element and writes out only the values
used outside the group. Backends that compile such loops (the CPU backend
generates C; see ``nerve.backend.numpy_backend.native``) run it as one kernel
that reads every input once, keeps intermediates in registers and writes each
result once: the bias-add/activation epilogue after a matmul, the activation
gradient (``greater``, ``cast``, ``multiply``) and an optimizer's whole update
(``v = m v - lr g; p += v`` for one variable) each become one pass over memory.
Where a backend doesn't compile a program, the executor expands the node back
into its steps, so fusion never costs anything. A lone node stays as it is unless it
is large (``LONE_LOOP_ELEMENTS``): then it is a loop of one step, which a backend may
share out among cores.

**Grouping** walks the nodes in program order. A fusible node (of a primitive
declared ``elementwise`` in its registration block, whose step the backend has a
loop form for (``Backend.can_fuse``), with a result of rank >= 1) joins
the group of a producer of one of its inputs when that group is still *open*;
producers' open groups of the same shape merge. A group closes as soon as a
node outside it consumes one of its values: the fused node is emitted where
its last member was, so every outside consumer must come after that point.
``assign_variable`` of a group's value is the exception: it is deferred to right
after the fused node, which is safe while nothing else reads or writes that
variable in between: a read or assign of the same variable closes the group
(any other effectful node, such as control flow, closes every group holding
deferred assigns). So every variable sees its reads and writes in program order
(assigns to *different* variables may swap, which no program can observe: an
optimizer's updates of ``m``, ``v`` and a parameter become one loop), and a pure
node only moves later past nodes that don't depend on it.

The node's params: ``program``, a tuple of steps ``(primitive, refs, params)``
where ref ``k`` names the node's input ``k`` when ``k < len(inputs)`` and step
``k - len(inputs)`` otherwise; and ``results``, the refs of the node's outputs. A
result may be a tuple of refs: one output holding their values side by side along
the last axis, as ``concatenate`` would (``passes/concat_loops.py`` makes these).
An optional ``blocks``, one entry per input, is ``None`` or ``(start, stop)``: the
loop reads only those columns (last axis) of that matrix input, in place, as a
``split`` would give them (``passes/split_loops.py`` makes these).
"""

from __future__ import annotations

import math

from nerve.backend.base import Backend
from nerve.core.errors import ShapeError
from nerve.graph.ir import Graph, Node, Value
from nerve.primitives.registry import Aval
from nerve.primitives.state import assign_variable_p, read_variable_p

__all__ = [
    "FusedElementwise",
    "fuse",
    "fused_elementwise",
    "fusible",
    "loop_input_avals",
    "one_step_loop",
    "program_avals",
    "result_aval",
]


class FusedElementwise:
    """The graph-only primitive of fused groups: no eager bind, no gradient; the
    executor runs it as a backend loop or expands it into its steps."""

    name = "fused_elementwise"
    kernel = None
    vjp = None
    multiple_results = True
    differentiable = False
    effect = False
    elementwise = False  # several results; its steps are elementwise
    fresh = True  # a loop writes new arrays (or the buffers the memory plan gives it)
    random = False
    cost = "arithmetic"

    @staticmethod
    def shape_rule(*avals: Aval, program: tuple, results: tuple, blocks: tuple = ()) -> list[Aval]:
        if not program:
            raise ShapeError("fused_elementwise: a fused node needs at least one step.")
        values = program_avals(loop_input_avals(avals, blocks), program)
        return [result_aval(values, r) for r in results]

    def __repr__(self) -> str:
        return "<primitive fused_elementwise>"


fused_elementwise = FusedElementwise()


def program_avals(input_avals, program: tuple) -> list[Aval]:
    """The avals a program's refs name: its inputs', then each step's (by shape rule)."""
    values = list(input_avals)
    for prim, refs, params in program:
        values.append(prim.shape_rule(*(values[k] for k in refs), **dict(params)))
    return values


def loop_input_avals(avals, blocks: tuple | None) -> list[Aval]:
    """What a loop's steps read of its inputs: a column block's aval where ``blocks``
    names one."""
    if not blocks:
        return list(avals)
    return [
        a if b is None else Aval((*a.shape[:-1], b[1] - b[0]), a.dtype)
        for a, b in zip(avals, blocks)
    ]


def result_aval(values: list[Aval], result: int | tuple[int, ...]) -> Aval:
    """The aval of one result of a fused node, given the avals its refs name: a ref's,
    or for a tuple of refs, theirs concatenated along the last axis."""
    if not isinstance(result, tuple):
        return values[result]
    first = values[result[0]]
    width = sum(values[k].shape[-1] for k in result)
    return Aval((*first.shape[:-1], width), first.dtype)


#: Effects on one variable (by slot); any other effectful node may touch any variable.
_VARIABLE_EFFECTS = (read_variable_p, assign_variable_p)


class _Group:
    __slots__ = ("closed", "deferred", "members", "shape")

    def __init__(self, shape: tuple):
        self.shape = shape
        self.members: list[Node] = []
        self.deferred: list[Node] = []  # assign_variable nodes emitted after the group
        self.closed = False


def fusible(node: Node, backend: Backend) -> bool:
    """Whether ``node`` may be a step of a loop on ``backend``: an elementwise primitive
    with a result of rank >= 1 and hashable params, whose step the backend has a loop
    form for."""
    if not node.prim.elementwise or not node.outputs[0].aval.shape:
        return False
    try:
        hash(tuple(sorted(node.params.items())))
    except TypeError:
        return False
    kernel = node.prim.kernel
    dtypes = tuple(v.aval.dtype for v in node.inputs)
    return kernel is not None and backend.can_fuse(
        kernel, dtypes, node.outputs[0].aval.dtype, node.params
    )


def fuse(graph: Graph, backend: Backend) -> Graph:
    """Group elementwise nodes that ``backend`` has loops for into ``fused_elementwise``
    nodes (see the module doc)."""
    position = {id(node): i for i, node in enumerate(graph.nodes)}
    group_of: dict[Value, _Group] = {}  # value -> the group that computes it
    groups: list[_Group] = []
    group: _Group | None
    for node in graph.nodes:
        if fusible(node, backend):
            _join(node, group_of, groups, position)
            continue
        target = None
        if node.prim is assign_variable_p:
            target = group_of.get(node.inputs[0])
            if target is not None and target.closed:
                target = None
        if node.has_effect:  # no deferred assign may pass an effect on its variable
            slot = node.params.get("slot") if node.prim in _VARIABLE_EFFECTS else None
            for group in groups:
                if group is not target and any(
                    slot is None or a.params["slot"] == slot for a in group.deferred
                ):
                    group.closed = True
        if target is not None:
            target.deferred.append(node)
            continue
        for v in node.inputs:
            group = group_of.get(v)
            if group is not None:
                group.closed = True

    # Each group is emitted where its last member was, its deferred assigns right after.
    ends = {id(g.members[-1]): g for g in groups}
    moved = {id(n) for g in groups for n in (*g.members, *g.deferred)}
    outside_uses = _outside_uses(graph, group_of)
    nodes: list[Node] = []
    for node in graph.nodes:
        group = ends.get(id(node))
        if group is not None:
            if (len(group.members) == 1 and not _lone_loop(group.members[0])) or not any(
                n.outputs[0] in outside_uses for n in group.members
            ):  # a single node, or dead code (left to dce)
                nodes.extend(group.members)
            else:
                nodes.append(_fused_node(group, outside_uses))
            nodes.extend(group.deferred)
        elif id(node) not in moved:
            nodes.append(node)
    result = graph.copy()
    result.nodes = nodes
    return result


#: Elements from which a lone elementwise node still becomes a loop (of one step): a
#: backend may run a large loop on several cores (the CPU backend does, inside runs
#: that hold them), where the array library's kernel runs on one.
LONE_LOOP_ELEMENTS = 1 << 18


def _lone_loop(node: Node) -> bool:
    """Whether a node that groups with nothing becomes a loop of one step: a large one
    of exact arithmetic (its loop gives the array library's bits; a transcendental
    function's C form rounds differently, so it stays the library's kernel)."""
    shape = node.outputs[0].aval.shape
    if node.prim.cost == "transcendental" or not all(isinstance(n, int) for n in shape):
        return False
    return math.prod(shape) >= LONE_LOOP_ELEMENTS


def _join(node: Node, group_of: dict, groups: list, position: dict) -> None:
    shape = tuple(node.outputs[0].aval.shape)
    candidates: list[_Group] = []
    for v in node.inputs:
        group = group_of.get(v)
        if group is None or group in candidates:
            continue
        if group.closed or group.shape != shape:
            group.closed = True  # consumed from outside
        else:
            candidates.append(group)
    if candidates:
        target = candidates[0]
        for other in candidates[1:]:  # both open: nothing outside has read them yet
            target.members.extend(other.members)
            target.deferred.extend(other.deferred)
            for member in other.members:
                group_of[member.outputs[0]] = target
            groups.remove(other)
        # Merged groups interleave: keep members (and deferred assigns) in program order.
        target.members.sort(key=lambda n: position[id(n)])
        target.deferred.sort(key=lambda n: position[id(n)])
    else:
        target = _Group(shape)
        groups.append(target)
    target.members.append(node)
    group_of[node.outputs[0]] = target


def _outside_uses(graph: Graph, group_of: dict) -> set[Value]:
    """Values of groups that something outside their group reads (or the graph returns)."""
    used: set[Value] = set(graph.outputs)
    for node in graph.nodes:
        own = group_of.get(node.outputs[0]) if len(node.outputs) == 1 else None
        for v in node.inputs:
            if v in group_of and group_of[v] is not own:
                used.add(v)
    return used


def one_step_loop(node: Node) -> Node:
    """A ``fusible`` node as a fused node of one step (for passes that merge loops)."""
    group = _Group(tuple(node.outputs[0].aval.shape))
    group.members.append(node)
    return _fused_node(group, set(node.outputs))


def _fused_node(group: _Group, outside_uses: set[Value]) -> Node:
    produced = {node.outputs[0] for node in group.members}
    inputs: list[Value] = []
    for node in group.members:
        for v in node.inputs:
            if v not in produced and v not in inputs:
                inputs.append(v)
    ref = {v: k for k, v in enumerate(inputs)}
    ref.update((node.outputs[0], len(inputs) + j) for j, node in enumerate(group.members))
    program = tuple(
        (node.prim, tuple(ref[v] for v in node.inputs), tuple(sorted(node.params.items())))
        for node in group.members
    )
    outputs = [n.outputs[0] for n in group.members if n.outputs[0] in outside_uses]
    results = tuple(ref[v] for v in outputs)
    return Node(fused_elementwise, inputs, {"program": program, "results": results}, outputs)
