"""Dead-code elimination: drop nodes whose results nobody uses, and unused constants.

Effectful nodes (variable reads and writes) always stay.
"""

from __future__ import annotations

from nerve.backend.base import Backend
from nerve.graph.ir import Graph, Value

__all__ = [
    "dce",
]


def dce(graph: Graph, backend: Backend | None = None) -> Graph:
    """``graph`` without dead nodes and constants (the same on every backend)."""
    live: set[Value] = set(graph.outputs)
    kept = []
    for node in reversed(graph.nodes):
        if node.has_effect or any(o in live for o in node.outputs):
            kept.append(node)
            live.update(node.inputs)
    out = graph.copy()
    out.nodes = kept[::-1]
    out.constants = {v: a for v, a in graph.constants.items() if v in live}
    return out
