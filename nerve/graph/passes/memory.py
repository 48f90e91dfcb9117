"""Memory planning: which buffer each node writes into, and when each value dies.

This is an analysis, not a rewrite: ``plan_memory(graph, backend)`` returns a
``MemoryPlan`` that the executor follows when it generates code. The graph is
not changed.

What it decides, per node, in order of preference:

1. **In place into a dying input.** An out-capable node (see below) writes its
   result into the buffer of one of its own inputs when that buffer is ours
   (*owned*, defined below), has the output's exact shape and dtype, and
   neither it nor any value that may alias it is used after this node.
2. **In place into a variable's buffer** (decided at run time). The first read
   of a variable that dies at this node, when the same variable is assigned
   later in the graph, is a candidate: the executor writes into the variable's
   buffer only if that buffer is *exclusively* the executor's — see the rule
   in ``nerve.graph.executor``.
3. **Into a dead buffer** of the same shape and dtype, freed earlier in the step.
4. Otherwise the kernel allocates.

A compiled fused loop (``fused_elementwise``, see ``passes/fuse.py``) has several
results and writes each where ``plan.fused_out`` says: first the buffer of the
variable the result is assigned to (so an optimizer updates its variables in
place, step after step), then a dying owned input of the result's shape, another
dying variable read, a dead buffer, or else a new array. A loop loads every
element of its inputs before it stores that element, so writing over an input it
reads is safe; one buffer serves at most one result.

*Out-capable* nodes: nodes of primitives declared ``elementwise`` (no params)
whose graph kernel the backend says accepts ``out=`` (``Backend.supports_out``),
computing exactly what it computes without it, even when ``out`` is one of its
inputs.

*Owned* buffers: results of a node whose primitive is declared ``fresh`` (its
kernel returns new arrays that alias nothing and are cached nowhere), when the
backend says a result of that rank is a writable array
(``Backend.result_buffer_writable``: a 0-d NumPy ufunc result is an immutable
scalar). Never owned: graph inputs, constants, variable reads, and every value
that may alias one of them. Any other primitive (reshape, transpose,
broadcast_to, getitem, extract_patches, ...) is assumed to return a view of any
of its inputs, so its outputs join the alias group of its inputs; a buffer is
free only when its whole group is dead. Collectives are the exception: a start
copies its inputs into its channel's buffer, so they may die there, and the token
and a wait's results belong to the channel (never owned). Graph outputs and values assigned to
variables escape the step: their groups are never reused.

The planner is two steps: ``analyze`` finds the facts as plain data (``Lifetimes``:
last uses, alias groups, owned buffers, variable reads and assignments), and
``assign_buffers`` decides, walking the nodes in order with a pool of dead buffers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from nerve.backend.base import Backend
from nerve.graph.ir import Graph, Node, Value
from nerve.graph.passes.fuse import fused_elementwise
from nerve.primitives.collective import COLLECTIVE_PRIMITIVES
from nerve.primitives.state import assign_variable_p, read_variable_p

__all__ = [
    "FOREVER",
    "Lifetimes",
    "MemoryPlan",
    "analyze",
    "assign_buffers",
    "out_capable",
    "plan_memory",
]

#: The last-use position of values that outlive the step.
FOREVER = math.inf


@dataclass
class MemoryPlan:
    """What the executor needs: see the module docstring."""

    #: node index -> the value whose (dead) buffer the node writes into with ``out=``.
    out: dict[int, Value] = field(default_factory=dict)
    #: node index -> (slot, read value): write into the variable's buffer when exclusive.
    variable_out: dict[int, tuple[int, Value]] = field(default_factory=dict)
    #: node index -> values whose Python names can be dropped after the node runs.
    drop_after: dict[int, list[Value]] = field(default_factory=dict)
    #: Values holding an owned, unaliased buffer (results of fresh nodes).
    buffers: set[Value] = field(default_factory=set)
    #: fused node index -> per output: ``None`` (allocate), the value whose dead buffer
    #: it writes into, or ``(slot, read value)`` (the variable's buffer, when exclusive).
    fused_out: dict[int, list] = field(default_factory=dict)


def out_capable(node: Node, backend: Backend) -> bool:
    """Whether ``node`` can write its single result into a given buffer."""
    prim = node.prim
    kernel = prim.kernel
    return (
        prim.elementwise and kernel is not None and not node.params and backend.supports_out(kernel)
    )


def plan_memory(graph: Graph, backend: Backend) -> MemoryPlan:
    """The memory plan of ``graph`` for ``backend``; see the module docstring."""
    return assign_buffers(graph, analyze(graph, backend))


# -- analysis -------------------------------------------------------------------------------


@dataclass
class Lifetimes:
    """The facts the buffer assignment needs, as plain data."""

    #: value -> index of the last node reading it (``FOREVER``: it escapes the step;
    #: -1: graph inputs and constants nobody reads).
    last_use: dict[Value, float]
    #: value -> the root of its alias group (values that may share one buffer).
    root: dict[Value, Value]
    #: group root -> the last use of any value of the group.
    group_end: dict[Value, float]
    #: Roots of groups that hold a buffer the step does not own (inputs, constants,
    #: variable reads, immutable results, views of those).
    foreign_groups: set[Value]
    #: Values holding an owned, unaliased buffer (results of fresh nodes).
    owned: set[Value]
    #: read_variable result -> its variable slot.
    read_slot: dict[Value, int]
    #: value -> the slot it is assigned to.
    assigned_to: dict[Value, int]
    #: slot -> index of its last assign_variable node.
    last_assign: dict[int, int]
    #: Indices of nodes that can write their one result into a given buffer.
    out_capable: set[int]

    def end_of_group(self, v: Value) -> float:
        return self.group_end[self.root[v]]

    def reusable(self, v: Value) -> bool:
        """``v``'s buffer is ours to write once its group is dead (within the step)."""
        root = self.root[v]
        return (
            v in self.owned and root not in self.foreign_groups and self.group_end[root] != FOREVER
        )

    def owned_and_dies_at(self, v: Value, i: int) -> bool:
        root = self.root[v]
        return v in self.owned and root not in self.foreign_groups and self.group_end[root] == i

    def only_buffer_of_its_group(self, node: Node, v: Value) -> bool:
        """No other input of ``node`` may alias ``v`` (a view would be read while written)."""
        root = self.root[v]
        return all(u is v or self.root[u] is not root for u in node.inputs)


class _Groups:
    """Union-find over values: a group is every value that may share one buffer."""

    def __init__(self):
        self.parent: dict[Value, Value] = {}

    def find(self, v: Value) -> Value:
        parent = self.parent.setdefault(v, v)
        while parent is not v:
            grand = self.parent[parent]
            self.parent[v] = grand
            v, parent = parent, grand
        return v

    def union(self, a: Value, b: Value) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra is not rb:
            self.parent[rb] = ra


def analyze(graph: Graph, backend: Backend) -> Lifetimes:
    """Last uses, alias groups and owned buffers of ``graph`` on ``backend``."""
    groups = _Groups()
    foreign: set[Value] = set(graph.inputs) | set(graph.constants)  # never written
    facts = Lifetimes({v: -1 for v in foreign}, {}, {}, set(), set(), {}, {}, {}, set())
    escaping: set[Value] = set(graph.outputs)  # graph outputs and assigned values
    for i, node in enumerate(graph.nodes):
        for v in node.inputs:
            facts.last_use[v] = i
        for v in node.outputs:
            facts.last_use.setdefault(v, i)
        if out_capable(node, backend):
            facts.out_capable.add(i)
        if node.prim is read_variable_p:
            foreign.update(node.outputs)
            facts.read_slot[node.outputs[0]] = node.params["slot"]
        elif node.prim is assign_variable_p:
            escaping.add(node.inputs[0])  # lives on in the variable
            facts.last_assign[node.params["slot"]] = i
            facts.assigned_to[node.inputs[0]] = node.params["slot"]
        elif node.prim in COLLECTIVE_PRIMITIVES:
            # A start copies its inputs into the channel's buffer (they may die here);
            # its token and a wait's results (views of that buffer) are the channel's.
            foreign.update(node.outputs)
        elif node.prim.fresh:
            for out in node.outputs:
                if backend.result_buffer_writable(len(out.aval.shape)):
                    facts.owned.add(out)
                else:
                    foreign.add(out)
        else:
            # May return (a view of) any input, or an array it keeps: alias everything.
            for out in node.outputs:
                if not node.inputs:
                    foreign.add(out)
                for v in node.inputs:
                    groups.union(out, v)
    for v in escaping:
        facts.last_use[v] = FOREVER
    for v, end in facts.last_use.items():
        root = facts.root[v] = groups.find(v)
        facts.group_end[root] = max(facts.group_end.get(root, -1), end)
        if v in foreign:
            facts.foreign_groups.add(root)
    return facts


# -- buffer assignment ------------------------------------------------------------------------


def assign_buffers(graph: Graph, facts: Lifetimes) -> MemoryPlan:
    """Where each node writes, and when each name is dropped, given the analysis."""
    assigner = _Assigner(graph, facts)
    for i, node in enumerate(graph.nodes):
        assigner.place(i, node)
    plan = assigner.plan
    plan.buffers = set(facts.owned)
    plan.drop_after = _drop_schedule(graph, facts, plan)
    return plan


class _Assigner:
    """Walks the nodes in program order (so the generated code is deterministic), with a
    pool of dead buffers by (shape, dtype)."""

    def __init__(self, graph: Graph, facts: Lifetimes):
        self.facts = facts
        self.plan = MemoryPlan()
        self.free: dict[tuple, list[Value]] = {}
        self.released_at: dict[int, list[Value]] = {}
        for node in graph.nodes:
            for v in node.outputs:
                if facts.reusable(v):
                    self.released_at.setdefault(int(facts.end_of_group(v)), []).append(v)

    def place(self, i: int, node: Node) -> None:
        consumed: set[Value] = set()
        if node.prim is fused_elementwise:
            consumed = self._place_loop(i, node)
        elif i in self.facts.out_capable and node.outputs[0] in self.facts.owned:
            target = self.target_for(node, i, node.outputs[0], node.inputs)
            if isinstance(target, tuple):
                self.plan.variable_out[i] = target
            elif target is not None:
                self.plan.out[i] = target
                consumed = {target}
        for v in self.released_at.get(i, ()):
            if v not in consumed:  # a buffer this very node writes is not free
                self.free.setdefault(_key(v), []).append(v)

    def _place_loop(self, i: int, node: Node) -> set[Value]:
        """Each loop result's target; an input buffer serves at most one result."""
        targets: list = []
        taken: set = set()
        for out, result in zip(node.outputs, node.params["results"]):
            # A result written in blocks never goes over an input: its elements are not
            # where the loop's iteration reads that input's.
            blocks = isinstance(result, tuple)
            inputs = [] if blocks else [v for v in node.inputs if v not in taken]
            target = self.target_for(node, i, out, inputs, self.facts.assigned_to.get(out))
            taken.add(target[1] if isinstance(target, tuple) else target)
            targets.append(target)
        self.plan.fused_out[i] = targets
        return {t for t in targets if isinstance(t, Value)}

    def target_for(self, node: Node, i: int, out: Value, inputs: list, slot=None):
        """Where ``out`` goes, in order of preference: the buffer of variable ``slot``
        (the one ``out`` is assigned to) when its read dies here, a dying owned input,
        any dying variable read, a dead buffer; ``None`` to allocate. A value, or
        ``(slot, read)`` for a variable's buffer (used when exclusive at run time)."""
        key = _key(out)
        if slot is not None:
            own = [v for v in inputs if self.facts.read_slot.get(v) == slot]
            read = self._dying_variable_read(own, node, i, key)
            if read is not None:
                return read
        target = self._dying_input(inputs, node, i, key)
        if target is None:
            target = self._dying_variable_read(inputs, node, i, key)
        if target is None and self.free.get(key):
            target = self.free[key].pop()
        return target

    def _dying_input(self, inputs, node: Node, i: int, key: tuple):
        for v in inputs:
            if (
                _key(v) == key
                and self.facts.owned_and_dies_at(v, i)
                and self.facts.only_buffer_of_its_group(node, v)
            ):
                return v
        return None

    def _dying_variable_read(self, inputs, node: Node, i: int, key: tuple):
        facts = self.facts
        for v in inputs:
            slot = facts.read_slot.get(v)
            if (
                slot is not None
                and _key(v) == key
                and facts.end_of_group(v) == i
                and facts.last_assign.get(slot, -1) > i
                and facts.only_buffer_of_its_group(node, v)
            ):
                return slot, v
        return None


def _key(v: Value) -> tuple:
    return (tuple(v.aval.shape), v.aval.dtype)


def _drop_schedule(graph: Graph, facts: Lifetimes, plan: MemoryPlan) -> dict[int, list[Value]]:
    """Names are dropped after their own last use, except buffers still waiting in the
    free pool (the plan refers to them by name); those go after they are reused."""
    reused_at = {target: i for i, target in plan.out.items()}
    for i, targets in plan.fused_out.items():
        reused_at.update((t, i) for t in targets if isinstance(t, Value))
    drop_after: dict[int, list[Value]] = {}
    for v, end in facts.last_use.items():
        if end == FOREVER or v in graph.inputs or v in graph.constants:
            continue
        if v in reused_at and reused_at[v] > end:
            end = reused_at[v]
        drop_after.setdefault(int(end), []).append(v)
    return drop_after
