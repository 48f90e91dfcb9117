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

*Out-capable* nodes: primitives on the explicit allow-list ``OUT_PRIMITIVES``
(elementwise maps without params) whose backend kernel is a ufunc (has
``nout``), so it accepts ``out=`` and computes exactly what it computes without
it. NumPy's ufuncs handle an output that is also an input elementwise. Kernels
wrapped for error-state handling (exp, log, divide, ...) are plain functions
and so are excluded automatically.

*Owned* buffers: results of a node on ``FRESH_PRIMITIVES`` (kernels that return
a new array that aliases nothing and is cached nowhere) with at least one
dimension (a 0-d ufunc result is an immutable scalar). Never owned: graph
inputs, constants, variable reads, and every value that may alias one of them.
Any other primitive (reshape, transpose, broadcast_to, getitem, extract_patches,
...) is assumed to return a view of any of its inputs, so its outputs join the
alias group of its inputs; a buffer is free only when its whole group is dead.
Graph outputs and values assigned to variables escape the step: their groups
are never reused.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from nerve.backend.base import Backend
from nerve.graph.ir import Graph, Node, Value

#: Elementwise primitives (no params) whose kernel may be called with ``out=`` when it
#: is a ufunc in the backend.
OUT_PRIMITIVES = frozenset(
    {
        "neg", "abs", "sign", "exp", "expm1", "log", "log1p", "sqrt", "reciprocal",
        "sin", "cos", "tan", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh",
        "arcsinh", "arccosh", "arctanh", "floor", "ceil", "isnan", "isinf", "isfinite",
        "logical_not", "signbit", "bitwise_not",
        "add", "subtract", "multiply", "divide", "floor_divide", "mod", "power",
        "maximum", "minimum", "arctan2", "equal", "not_equal", "less", "less_equal",
        "greater", "greater_equal", "logical_and", "logical_or", "logical_xor",
        "bitwise_and", "bitwise_or", "bitwise_xor", "left_shift", "right_shift",
    }
)  # fmt: skip

#: Primitives whose kernel always returns a new, unshared array (never a view of an
#: input, never a cached array): the elementwise maps above plus these.
FRESH_PRIMITIVES = OUT_PRIMITIVES | {
    "matmul", "relu", "sigmoid", "cast", "where", "fused_elementwise",
    "reduce_sum", "reduce_prod", "reduce_max", "reduce_min",
}  # fmt: skip

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


def out_capable_step(prim, params, backend: Backend) -> bool:
    """Whether the executor may call ``prim``'s kernel with ``out=``."""
    if prim.name not in OUT_PRIMITIVES or params:
        return False
    return backend.supports_out(prim.kernel)


def out_capable(node: Node, backend: Backend) -> bool:
    """Whether ``node`` can write its single result into a given buffer."""
    if len(node.outputs) != 1 or node.prim.name == "fused_elementwise":
        return False
    return out_capable_step(node.prim, node.params, backend)


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


def plan_memory(graph: Graph, backend: Backend) -> MemoryPlan:
    """The memory plan of ``graph`` for ``backend``; see the module docstring."""
    nodes = graph.nodes
    plan = MemoryPlan()
    groups = _Groups()
    foreign: set[Value] = set(graph.inputs) | set(graph.constants)  # never written
    last_use: dict[Value, float] = {}
    assigned_later: dict[int, int] = {}  # slot -> index of its last assign_variable
    read_slot: dict[Value, int] = {}  # read_variable output -> its slot
    assigned_to: dict[Value, int] = {}  # value -> the slot it is assigned to
    escaping: set[Value] = set(graph.outputs)  # graph outputs and assigned values
    for v in foreign:
        last_use[v] = -1
    for i, node in enumerate(nodes):
        name = node.prim.name
        for v in node.inputs:
            last_use[v] = i
        for v in node.outputs:
            last_use.setdefault(v, i)
        if name == "read_variable":
            foreign.update(node.outputs)
            read_slot[node.outputs[0]] = node.params["slot"]
        elif name == "assign_variable":
            escaping.add(node.inputs[0])  # lives on in the variable
            assigned_later[node.params["slot"]] = i
            assigned_to[node.inputs[0]] = node.params["slot"]
        elif name in FRESH_PRIMITIVES and (len(node.outputs) == 1 or name == "fused_elementwise"):
            for out in node.outputs:
                if out.aval.shape:
                    plan.buffers.add(out)
                else:
                    foreign.add(out)  # 0-d results may be immutable scalars
        else:
            # May return (a view of) any input, or an array it keeps: alias everything.
            for out in node.outputs:
                if not node.inputs:
                    foreign.add(out)
                for v in node.inputs:
                    groups.union(out, v)
    for v in escaping:
        last_use[v] = FOREVER

    # Per group: its last use, and whether it is foreign (holds a buffer we do not own).
    group_end: dict[Value, float] = {}
    group_foreign: set[Value] = set()
    for v, end in last_use.items():
        root = groups.find(v)
        group_end[root] = max(group_end.get(root, -1), end)
        if v in foreign:
            group_foreign.add(root)

    def owned_and_dies_at(v: Value, i: int) -> bool:
        root = groups.find(v)
        return v in plan.buffers and root not in group_foreign and group_end[root] == i

    free: dict[tuple, list[Value]] = {}  # (shape, dtype) -> values whose buffer is dead
    released_at: dict[int, list[Value]] = {}
    for node in nodes:  # in program order, so the generated code is deterministic
        for v in node.outputs:
            root = groups.find(v)
            if v in plan.buffers and root not in group_foreign and group_end[root] != FOREVER:
                released_at.setdefault(int(group_end[root]), []).append(v)

    def target_for(node: Node, i: int, out: Value, inputs: list, slot=None):
        """Where ``out`` goes, in order of preference: the buffer of variable ``slot``
        (the one ``out`` is assigned to) when its read dies here, a dying owned input,
        any dying variable read, a dead buffer; ``None`` to allocate. A value, or
        ``(slot, read)`` for a variable's buffer (used when exclusive at run time)."""
        key = (tuple(out.aval.shape), out.aval.dtype)
        if slot is not None:
            own = [v for v in inputs if read_slot.get(v) == slot]
            read = _dying_variable_read(own, node, i, key, read_slot, groups, group_end,
                                        assigned_later)  # fmt: skip
            if read is not None:
                return read
        target = _dying_input(inputs, node, i, key, groups, owned_and_dies_at)
        if target is None:
            target = _dying_variable_read(inputs, node, i, key, read_slot, groups, group_end,
                                          assigned_later)  # fmt: skip
        if target is None and free.get(key):
            target = free[key].pop()
        return target

    for i, node in enumerate(nodes):
        consumed: set[Value] = set()
        if node.prim.name == "fused_elementwise":
            # Each input buffer serves at most one of the loop's results.
            targets: list = []
            taken: set = set()
            for out in node.outputs:
                inputs = [v for v in node.inputs if v not in taken]
                target = target_for(node, i, out, inputs, assigned_to.get(out))
                taken.add(target[1] if isinstance(target, tuple) else target)
                targets.append(target)
            plan.fused_out[i] = targets
            consumed = {t for t in targets if isinstance(t, Value)}
        elif node.outputs and node.outputs[0] in plan.buffers and out_capable(node, backend):
            target = target_for(node, i, node.outputs[0], node.inputs)
            if isinstance(target, tuple):
                plan.variable_out[i] = target
            elif target is not None:
                plan.out[i] = target
        for v in released_at.get(i, ()):
            if v is not plan.out.get(i) and v not in consumed:  # written by this very node
                free.setdefault((tuple(v.aval.shape), v.aval.dtype), []).append(v)

    # Names are dropped after their own last use, except buffers still waiting in the
    # free pool (the plan refers to them by name); those go after they are reused.
    reused_at = {target: i for i, target in plan.out.items()}
    for i, targets in plan.fused_out.items():
        reused_at.update((t, i) for t in targets if isinstance(t, Value))
    for v, end in last_use.items():
        if end == FOREVER or v in graph.inputs or v in graph.constants:
            continue
        if v in reused_at and reused_at[v] > end:
            end = reused_at[v]
        plan.drop_after.setdefault(int(end), []).append(v)
    return plan


def _same_buffer_only(node: Node, v: Value, groups: _Groups) -> bool:
    """No other input of ``node`` may alias ``v`` (a view would be read while written)."""
    root = groups.find(v)
    return all(u is v or groups.find(u) is not root for u in node.inputs)


def _dying_input(inputs, node: Node, i: int, key: tuple, groups: _Groups, owned_and_dies_at):
    for v in inputs:
        if (
            (tuple(v.aval.shape), v.aval.dtype) == key
            and owned_and_dies_at(v, i)
            and _same_buffer_only(node, v, groups)
        ):
            return v
    return None


def _dying_variable_read(inputs, node, i, key, read_slot, groups, group_end, assigned_later):
    for v in inputs:
        slot = read_slot.get(v)
        if (
            slot is not None
            and (tuple(v.aval.shape), v.aval.dtype) == key
            and group_end[groups.find(v)] == i
            and assigned_later.get(slot, -1) > i
            and _same_buffer_only(node, v, groups)
        ):
            return slot, v
    return None
