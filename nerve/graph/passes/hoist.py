"""Hoist loop-invariant work out of scan bodies.

A scan's body runs once per step, but some of its nodes read only values that are
the same at every step: the loop's constants (its non-carried, non-sliced
operands, such as a recurrent kernel) and the body's own constants. A backward
step, for instance, transposes the recurrent kernel for each of its matmuls. This
pass computes such nodes once, before the loop, and passes their results in as
new constants of the loop:

    carry, ys = scan[body=B num_consts=k] carry0 consts xs

becomes

    hoisted = <B's invariant nodes> consts
    carry, ys = scan[body=B' num_consts=k+h] carry0 consts hoisted xs

where ``B'`` is ``B`` without those nodes, reading their results as inputs. The
moved nodes run the same kernels on the same arrays, so results are bit-identical.

Never moved: effectful nodes (state, collectives: they keep their place and count)
and random ones (a draw per step is the point of drawing inside a loop). A
``broadcast_to`` stays in the body, reading its hoisted input: it costs nothing
there (a view), while a broadcast operand would hide from fused loops that their
input is smaller.

It is a lowering pass (``passes.LOWERING``): the optimized graph keeps its scans'
bodies as traced, for inlining, differentiation (``share_scans`` matches loops by
their body) and export, while the graph that runs computes invariants once. A
body's own nested scans are hoisted when that body is compiled.
"""

from __future__ import annotations

from nerve.backend.base import Backend
from nerve.graph.ir import Graph, Node, Value
from nerve.graph.passes.rewrite import each_rewritten

__all__ = [
    "hoist_invariants",
]

# Views that cost nothing per step; moving them out would only turn a small
# operand into a large (broadcast) one.
_KEPT_IN_BODY = frozenset({"broadcast_to"})


def hoist_invariants(graph: Graph, backend: Backend | None = None) -> Graph:
    """``graph`` with each scan's loop-invariant body nodes computed before the loop
    (the same on every backend)."""
    constants = dict(graph.constants)
    out = each_rewritten(
        graph, lambda node: _hoist(node, constants, backend) if node.prim.name == "scan" else None
    )
    if out is not graph:
        out.constants = constants  # with the constants the hoisted nodes read
    return out


def _hoist(scan: Node, constants: dict, backend: Backend | None) -> tuple[list[Node], Node] | None:
    """The nodes to run before ``scan`` and the scan that reads their results, or
    ``None`` when its body has nothing to hoist."""
    body = scan.params["body_program"]
    graph: Graph = body.graph
    if backend is not None:
        # The body as it would run: folded and deduplicated first, so what moves out
        # is real work (a ``1`` made from a constant's dtype would fold, not move).
        from nerve.graph.passes import optimize  # the package imports this module

        graph = optimize(graph, backend)
    if graph.variables:  # bodies read state through operands; stay safe otherwise
        return None
    nc, nk = scan.params["num_carry"], scan.params["num_consts"]
    invariant: set[Value] = set(graph.inputs[nc : nc + nk]) | set(graph.constants)
    moved: list[Node] = []
    kept: list[Node] = []
    for node in graph.nodes:
        pure = not node.has_effect and not getattr(node.prim, "random", False)
        if (
            pure
            and node.prim.name not in _KEPT_IN_BODY
            and all(v in invariant for v in node.inputs)
        ):
            moved.append(node)
            invariant.update(node.outputs)
        else:
            kept.append(node)
    if not moved:
        return None
    # Results of moved nodes that the remaining body (or its outputs) still reads.
    made = {o for node in moved for o in node.outputs}
    wanted = dict.fromkeys(
        v for v in [*(v for node in kept for v in node.inputs), *graph.outputs] if v in made
    )
    if not wanted:
        return None  # only dead code moved; dce handles that
    # The moved nodes, rewritten over the outer graph's values.
    outer: dict[Value, Value] = dict(zip(graph.inputs[nc : nc + nk], scan.inputs[nc : nc + nk]))
    before: list[Node] = []
    for node in moved:
        inputs = []
        for v in node.inputs:
            if v not in outer:  # a body constant: now one of the outer graph too
                outer[v] = Value(v.aval)
                constants[outer[v]] = graph.constants[v]
            inputs.append(outer[v])
        outputs = [Value(o.aval) for o in node.outputs]
        outer.update(zip(node.outputs, outputs))
        before.append(Node(node.prim, inputs, node.params, outputs))
    # The new body: the moved results (its values, now inputs) follow the constants.
    new_graph = Graph(graph.name)
    new_graph.inputs = [*graph.inputs[: nc + nk], *wanted, *graph.inputs[nc + nk :]]
    new_graph.nodes = [Node(n.prim, n.inputs, n.params, n.outputs) for n in kept]
    used = {v for node in kept for v in node.inputs} | set(graph.outputs)
    new_graph.constants = {v: a for v, a in graph.constants.items() if v in used}
    new_graph.outputs = list(graph.outputs)
    new_body = type(body)(new_graph, f"{body.name}_hoisted")
    params = dict(scan.params, body_program=new_body, num_consts=nk + len(wanted))
    inputs = [
        *scan.inputs[: nc + nk],
        *(outer[v] for v in wanted),
        *scan.inputs[nc + nk :],
    ]
    return before, Node(scan.prim, inputs, params, scan.outputs)
