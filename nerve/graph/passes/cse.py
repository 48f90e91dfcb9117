"""Common-subexpression elimination: one node per distinct (primitive, inputs, params).

Effectful nodes are never merged. Nodes with unhashable params are left alone.
Primitives are pure functions of their inputs and params (random ones take their
seed as an input), so equal keys mean equal results.

Small constants equal bit for bit (same dtype, shape and bytes) count as one input
first: the same Python number captured twice becomes two constants, and without
this the computations on them would not merge. An optimizer that captures its
``beta_1`` once per variable computed Adam's bias correction ``1 - beta_1 ** t``
(and the rest of its step size: 7 scalar nodes) once per variable, 6 times in an
MLP's step, where one is enough.
"""

from __future__ import annotations

from nerve.backend.base import Backend
from nerve.graph.ir import Graph, Node, Value

__all__ = [
    "MAX_MERGED_CONSTANT",
    "cse",
]

#: Constants of up to this many elements are compared by value.
MAX_MERGED_CONSTANT = 64


def _key(node: Node, inputs: list):
    try:
        params = tuple(sorted(node.params.items()))
        hash(params)
    except TypeError:
        return None
    return (node.prim, tuple(id(v) for v in inputs), params)


def cse(graph: Graph, backend: Backend | None = None) -> Graph:
    """``graph`` with repeated computations merged (the same on every backend)."""
    replace: dict[Value, Value] = _equal_constants(graph, backend)
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


def _equal_constants(graph: Graph, backend: Backend | None) -> dict[Value, Value]:
    """Each small constant -> the first constant with the same dtype, shape and bytes
    (bytes, so 0.0 and -0.0 stay apart and a NaN merges only with the same NaN)."""
    if backend is None:
        return {}
    first: dict[tuple, Value] = {}
    twins: dict[Value, Value] = {}
    for value, array in graph.constants.items():
        if array.size > MAX_MERGED_CONSTANT:
            continue
        key = (value.aval.dtype, tuple(value.aval.shape), backend.to_numpy(array).tobytes())
        canonical = first.setdefault(key, value)
        if canonical is not value:
            twins[value] = canonical
    return twins
