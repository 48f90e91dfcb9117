"""Share a forward loop with the copy of it that saves residuals for the gradient.

A scan's gradient (``nerve.primitives.control_flow``) binds the forward loop again
with the *primal* half of its body's linearized gradient as the body: the same
operands and params, the same first outputs, plus per-step residuals for the
backward loop. Both loops would run. This pass runs only the second one, at the
first one's place, and reads the first one's results from it:

    carry, ys = scan[body=P history=False] operands
    carry', ys', residuals, history = scan[body=primal(P) history=True] operands

becomes the second node alone, with ``carry, ys`` replaced by ``carry', ys'``
(bit-identical: the primal half computes the body's outputs with the same
primitives in the same order; a first loop that kept its history reads it from
the second). Nodes are matched by the
identity of their operands, so it runs after ``cse``.
"""

from __future__ import annotations

from nerve.backend.base import Backend
from nerve.graph.ir import Graph, Node, Value

__all__ = [
    "share_scans",
]


def _key(node: Node, body: object) -> tuple:
    params = node.params
    return (
        id(body),
        tuple(id(v) for v in node.inputs),
        params["num_carry"],
        params["num_consts"],
        params["length"],
        params["reverse"],
    )


def share_scans(graph: Graph, backend: Backend | None = None) -> Graph:
    """``graph`` with each scan that has a residual-saving twin replaced by the twin
    (the same on every backend)."""
    twins: dict[tuple, Node] = {}
    for node in graph.nodes:
        if node.prim.name == "scan":
            original = getattr(node.params["body_program"], "primal_of", None)
            if original is not None:
                twins.setdefault(_key(node, original), node)
    if not twins:
        return graph
    replace: dict[Value, Value] = {}
    moved: set[int] = set()
    nodes = []
    for node in graph.nodes:
        if id(node) in moved:
            continue
        # Keys compare the operands as both nodes were built (before any replacement).
        twin = None
        if node.prim.name == "scan":
            twin = twins.get(_key(node, node.params["body_program"]))
        inputs = [replace.get(v, v) for v in node.inputs]
        if twin is not None and twin is not node and id(twin) not in moved:
            # The twin's operands are this node's, so it may run here instead.
            nc = node.params["num_carry"]
            ny = len(node.params["body_program"].out_avals) - nc
            nr = twin.params["body_program"].num_residuals
            kept = twin.outputs[nc + ny + nr :] if node.params["history"] else []
            shared = twin.outputs[: nc + ny] + kept
            replace.update(zip(node.outputs, shared))
            moved.add(id(twin))
            nodes.append(Node(twin.prim, inputs, twin.params, twin.outputs))
        else:
            nodes.append(Node(node.prim, inputs, node.params, node.outputs))
    out = graph.copy()
    out.nodes = nodes
    out.outputs = [replace.get(v, v) for v in graph.outputs]
    return out
