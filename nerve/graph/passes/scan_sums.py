"""Sum a scan's per-step matrix products after the loop, as one product.

The backward loop of a recurrent layer accumulates the recurrent kernel's gradient
in a carry, one small product per step (``acc += h_t.T @ g_t``: a 64x64 by 64x256
product at every one of 100 steps). The same sum is one product of the stacked
operands, ``H.T @ G`` with ``H`` and ``G`` the steps' matrices stacked along the
contracted axis: the arithmetic of one large matrix product, which BLAS runs at full
speed (and threads), rather than a hundred small ones, each paying its call and an
add in the loop. This pass rewrites

    acc, ys = scan[body: acc' = acc + matmul(a_t, b_t), ...] acc0 ... xs

into

    ys, as, bs = scan[body without the carry, returning a_t and b_t] ... xs
    acc = acc0 + matmul(a_0 | a_1 | ..., b_0 ; b_1 ; ...)

A step operand that is already stacked outside the loop (a sliced input such as the
history of the hidden state, or a per-step output such as the gate gradients) is read
from there; only the others become new per-step outputs. ``a_t = transpose(v_t)`` is
read as the stacked ``v``, whose rows are then already the concatenated axis.

A carry updated by a chain of linear steps of one per-step value, ``acc' = acc +
L(r_t)`` (sums over axes, reshapes, transposes, and adding into a constant of zeros
at fixed indices, as a GRU's recurrent-bias gradient does), is handled the same
way: ``acc = acc0 + L(sum of the stacked r over the steps)``.

The products are summed in another order (float results agree to rounding, not
bitwise). Only a carry that nothing else in the body reads, and a product that
nothing else reads, is moved; loops that keep their carries' history are left alone
(the history holds the partial sums). Like ``hoist_invariants``, this is a lowering
pass (``passes.LOWERING``), run on the graph that executes.
"""

from __future__ import annotations

import math
from collections import Counter

from nerve.backend.base import Backend
from nerve.graph.ir import Graph, Node, Value
from nerve.primitives.elementwise import add_p
from nerve.primitives.indexing import index_add_p
from nerve.primitives.linalg import matmul_p
from nerve.primitives.reduction import reduce_sum_p
from nerve.primitives.registry import Aval
from nerve.primitives.shape import reshape_p, transpose_p

__all__ = [
    "live_nodes",
    "sum_products_after_scans",
]


def sum_products_after_scans(graph: Graph, backend: Backend | None = None) -> Graph:
    """``graph`` with each scan's carried sums of per-step matrix products computed
    after the loop as one product each (the same on every backend)."""
    nodes: list[Node] = []
    constants = dict(graph.constants)
    changed = False
    for node in graph.nodes:
        if node.prim.name == "scan" and not node.params["history"]:
            body = _optimized_body(node, backend)
            after: list[Node] = []
            while body is not None:
                nc, nk = node.params["num_carry"], node.params["num_consts"]
                found = _find_sum(body, nc, nk)
                if found is not None:
                    node, body, outside = _rewrite(node, body, *found)
                else:
                    chain = _find_linear_sum(body, nc, nk)
                    if chain is None:
                        break
                    node, body, outside = _rewrite_linear(node, body, constants, *chain)
                after = outside + after  # values feed only their own carry's output
                changed = True
            nodes.append(node)
            nodes.extend(after)
            continue
        nodes.append(node)
    if not changed:
        return graph
    out = graph.copy()
    out.nodes = nodes
    out.constants = constants
    return out


def _optimized_body(scan: Node, backend: Backend | None) -> Graph | None:
    graph: Graph = scan.params["body_program"].graph
    if backend is not None:
        # The body as it will run (folded, deduplicated), as hoist_invariants sees it.
        from nerve.graph.passes import optimize  # the package imports this module

        graph = optimize(graph, backend)
    return None if graph.variables else graph


class _Body:
    """Facts about a scan body that both finders read: each value's producer, its use
    count (outputs included) and the loop-invariant values (constants)."""

    def __init__(self, graph: Graph, nc: int, nk: int):
        self.producer = {o: n for n in graph.nodes for o in n.outputs}
        self.uses = Counter(v for n in graph.nodes for v in n.inputs)
        self.uses.update(graph.outputs)
        self.invariant = set(graph.inputs[nc : nc + nk]) | set(graph.constants)

    def running_sums(self, graph: Graph, nc: int):
        """``(carry index, carry value, add node, added value)`` for each carry whose
        only use is one ``add`` that makes the carry's next value (read nowhere else)."""
        for j in range(nc):
            carry_in, carry_out = graph.inputs[j], graph.outputs[j]
            add = self.producer.get(carry_out)
            if add is None or add.prim is not add_p:
                continue
            if self.uses[carry_in] != 1 or self.uses[carry_out] != 1:
                continue
            if carry_in not in add.inputs:
                continue
            term = add.inputs[1] if add.inputs[0] is carry_in else add.inputs[0]
            yield j, carry_in, add, term


def _find_sum(graph: Graph, nc: int, nk: int) -> tuple[int, Node, Node] | None:
    """``(carry index, add node, matmul node)`` of a carry updated only as
    ``carry + matmul(a, b)`` with 2-D, per-step ``a`` and ``b``, or ``None``."""
    body = _Body(graph, nc, nk)
    producer, uses, invariant = body.producer, body.uses, body.invariant
    for j, carry_in, add, term in body.running_sums(graph, nc):
        product = producer.get(term)
        if product is None or product.prim is not matmul_p or uses[term] != 1:
            continue
        if term.aval.shape != carry_in.aval.shape or term.aval.dtype != carry_in.aval.dtype:
            continue  # the add broadcasts or casts: not a plain running sum
        a, b = product.inputs
        if len(a.aval.shape) != 2 or len(b.aval.shape) != 2:
            continue
        if a in invariant or b in invariant:
            continue  # the same matrix at every step: stacking it would only cost
        return j, add, product
    return None


def _rewrite(scan: Node, body: Graph, j: int, add: Node, product: Node):
    """The scan without carry ``j``, its body, and the nodes that compute the carry's
    final value after the loop."""
    nc, nk = scan.params["num_carry"], scan.params["num_consts"]
    length = scan.params["length"]
    producer = {o: n for n in body.nodes for o in n.outputs}
    new_ys: list[Value] = []  # body values to return per step
    new_stacks: list[Value] = []  # their stacked results outside
    outside: list[Node] = []

    def stacked(v: Value) -> Value:
        """The outer value holding ``v`` of every step, stacked on a new first axis."""
        xs = body.inputs[nc + nk :]
        if v in xs:
            return scan.inputs[nc + nk + xs.index(v)]
        ys = body.outputs[nc:]
        if v in ys:
            return scan.outputs[nc + ys.index(v)]
        if v in new_ys:
            return new_stacks[new_ys.index(v)]
        new_ys.append(v)
        new_stacks.append(Value(Aval((length, *v.aval.shape), v.aval.dtype)))
        return new_stacks[-1]

    def bind(prim, inputs: list, aval: Aval, out: Value | None = None, **params) -> Value:
        value = out if out is not None else Value(aval)
        outside.append(Node(prim, inputs, params, [value]))
        return value

    def transposed_source(v: Value) -> Value | None:
        node = producer.get(v)
        if node is not None and node.prim is transpose_p and tuple(node.params["axes"]) == (1, 0):
            return node.inputs[0]
        return None

    a, b = product.inputs
    (m, k), n = a.aval.shape, b.aval.shape[1]
    dtype = a.aval.dtype
    rows = length * k
    # left: (m, steps*k), the steps' a side by side.
    source = transposed_source(a)
    if source is not None:  # a_t = v_t.T: the stacked v, (steps*k, m), transposed
        flat = bind(reshape_p, [stacked(source)], Aval((rows, m), dtype), shape=(rows, m))
    else:
        moved = bind(transpose_p, [stacked(a)], Aval((length, k, m), dtype), axes=(0, 2, 1))
        flat = bind(reshape_p, [moved], Aval((rows, m), dtype), shape=(rows, m))
    left = bind(transpose_p, [flat], Aval((m, rows), dtype), axes=(1, 0))
    # right: (steps*k, n), the steps' b stacked.
    source = transposed_source(b)
    if source is not None:  # b_t = q_t.T with q stacked as (steps, n, k)
        stack = bind(transpose_p, [stacked(source)], Aval((length, k, n), dtype), axes=(0, 2, 1))
    else:
        stack = stacked(b)
    right = bind(reshape_p, [stack], Aval((rows, n), dtype), shape=(rows, n))
    total = bind(matmul_p, [left, right], Aval((m, n), dtype))
    bind(add_p, [scan.inputs[j], total], scan.outputs[j].aval, out=scan.outputs[j])

    # The body without the carry and its update; dead nodes (a transpose that fed only
    # the product) go with them.
    scan, new_body = _without_carry(scan, body, j, {id(add), id(product)}, new_ys, new_stacks)
    return scan, new_body, outside


#: Largest constant inspected for "all zeros" (the base of an ``index_add``).
_MAX_INSPECTED = 1 << 16


def _linear_operand(node: Node, graph: Graph, invariant: set) -> int | None:
    """Which input of ``node`` it is linear in (the others fixed), or ``None``."""
    if node.prim is reduce_sum_p or node.prim.name in ("reshape", "transpose"):
        return 0
    if node.prim is index_add_p:
        base, _, *indices = node.inputs
        zeros = graph.constants.get(base)
        if zeros is None or math.prod(base.aval.shape) > _MAX_INSPECTED:
            return None
        if not bool((zeros == 0).all()):
            return None  # adding into anything but zeros is affine, not linear
        return 1 if all(i in invariant for i in indices) else None
    return None


def _find_linear_sum(graph: Graph, nc: int, nk: int):
    """``(carry index, add node, chain nodes innermost first, operand positions, r)`` of
    a carry updated only as ``carry + L(r)`` with ``L`` a chain of linear steps of one
    per-step value ``r``, or ``None``."""
    body = _Body(graph, nc, nk)
    producer, uses, invariant = body.producer, body.uses, body.invariant
    for j, carry_in, add, value in body.running_sums(graph, nc):
        if value.aval.shape != carry_in.aval.shape or value.aval.dtype != carry_in.aval.dtype:
            continue
        chain: list[Node] = []
        positions: list[int] = []
        while uses[value] == 1 and value in producer:
            node = producer[value]
            position = _linear_operand(node, graph, invariant)
            if position is None or len(node.outputs) != 1:
                break
            chain.append(node)
            positions.append(position)
            value = node.inputs[position]
        # At least one sum: a chain of reshapes alone would only stack r for nothing.
        if any(n.prim is reduce_sum_p for n in chain) and value not in invariant:
            return j, add, chain[::-1], positions[::-1], value
    return None


def _rewrite_linear(scan: Node, body: Graph, constants: dict, j, add, chain, positions, r):
    """Like ``_rewrite``, for ``carry + L(r)``: the stacked ``r`` is summed over the
    steps after the loop and ``L`` applied once."""
    nc, nk = scan.params["num_carry"], scan.params["num_consts"]
    outside: list[Node] = []
    new_ys: list[Value] = []
    new_stacks: list[Value] = []
    xs, ys = body.inputs[nc + nk :], body.outputs[nc:]
    if r in xs:
        stack = scan.inputs[nc + nk + xs.index(r)]
    elif r in ys:
        stack = scan.outputs[nc + ys.index(r)]
    else:
        new_ys.append(r)
        stack = Value(Aval((scan.params["length"], *r.aval.shape), r.aval.dtype))
        new_stacks.append(stack)
    current = Value(r.aval)
    outside.append(Node(reduce_sum_p, [stack], {"axes": (0,), "keepdims": False}, [current]))
    outer = dict(zip(body.inputs[nc : nc + nk], scan.inputs[nc : nc + nk]))
    for node, position in zip(chain, positions):
        inputs = []
        for k, v in enumerate(node.inputs):
            if k == position:
                inputs.append(current)
            elif v in outer:
                inputs.append(outer[v])
            else:  # a body constant: now one of the outer graph too
                outer[v] = Value(v.aval)
                constants[outer[v]] = body.constants[v]
                inputs.append(outer[v])
        current = Value(node.outputs[0].aval)
        outside.append(Node(node.prim, inputs, node.params, [current]))
    outside.append(Node(add_p, [scan.inputs[j], current], {}, [scan.outputs[j]]))
    removed = {id(add), *(id(n) for n in chain)}
    scan, new_body = _without_carry(scan, body, j, removed, new_ys, new_stacks)
    return scan, new_body, outside


def _without_carry(
    scan: Node, body: Graph, j: int, removed: set, new_ys: list, new_stacks: list
) -> tuple[Node, Graph]:
    """The scan without carry ``j`` and the body nodes whose ids are in ``removed``
    (nodes left dead go too), returning ``new_ys`` per step as ``new_stacks``."""
    nc = scan.params["num_carry"]
    new_body = Graph(body.name)
    new_body.inputs = [v for i, v in enumerate(body.inputs) if i != j]
    new_body.outputs = [v for i, v in enumerate(body.outputs) if i != j] + new_ys
    new_body.nodes = live_nodes([n for n in body.nodes if id(n) not in removed], new_body.outputs)
    used = {v for nd in new_body.nodes for v in nd.inputs} | set(new_body.outputs)
    new_body.constants = {v: c for v, c in body.constants.items() if v in used}
    program = type(scan.params["body_program"])(new_body, f"{body.name}_summed")
    params = dict(scan.params, body_program=program, num_carry=nc - 1)
    inputs = [v for i, v in enumerate(scan.inputs) if i != j]
    outputs = [v for i, v in enumerate(scan.outputs) if i != j] + new_stacks
    return Node(scan.prim, inputs, params, outputs), new_body


def live_nodes(nodes: list[Node], outputs: list[Value]) -> list[Node]:
    """``nodes`` without those whose results nothing reads (all are pure here: the
    body has no state, and effectful nodes are always kept)."""
    needed = set(outputs)
    kept: list[Node] = []
    for node in reversed(nodes):
        if node.has_effect or any(o in needed for o in node.outputs):
            kept.append(node)
            needed.update(node.inputs)
    return kept[::-1]
