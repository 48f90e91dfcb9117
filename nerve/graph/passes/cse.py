"""Common-subexpression elimination: one node per distinct (primitive, inputs, params).

Effectful nodes are never merged. Nodes with unhashable params are left alone.
Primitives are pure functions of their inputs and params (random ones take their
seed as an input), so equal keys mean equal results.
"""

from __future__ import annotations

from nerve.backend.base import Backend
from nerve.graph.ir import Graph, Node, Value

__all__ = [
    "cse",
]


def _key(node: Node, inputs: list):
    try:
        params = tuple(sorted(node.params.items()))
        hash(params)
    except TypeError:
        return None
    return (node.prim, tuple(id(v) for v in inputs), params)


def cse(graph: Graph, backend: Backend | None = None) -> Graph:
    """``graph`` with repeated computations merged (the same on every backend)."""
    replace: dict[Value, Value] = {}
    seen: dict[tuple, Node] = {}
    nodes = []
    for node in graph.nodes:
        inputs = [replace.get(v, v) for v in node.inputs]
        key = None if node.has_effect else _key(node, inputs)
        twin = seen.get(key) if key is not None else None
        if twin is not None:
            replace.update(zip(node.outputs, twin.outputs))
            continue
        new = Node(node.prim, inputs, node.params, node.outputs)
        if key is not None:
            seen[key] = new
        nodes.append(new)
    out = graph.copy()
    out.nodes = nodes
    out.outputs = [replace.get(v, v) for v in graph.outputs]
    return out
