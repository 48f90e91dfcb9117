"""The graph verifier: structural invariants every pass must keep."""

from __future__ import annotations

from nerve.graph.ir import Graph, Value
from nerve.primitives.registry import aval_list

__all__ = [
    "GraphError",
    "verify",
]


class GraphError(AssertionError):
    """A graph broke an invariant (a bug in a pass or in tracing, not a user error)."""


def verify(graph: Graph, after: str | None = None) -> None:
    """Check that every value is defined once, before its use; that node outputs
    match their primitive's shape rule; and that outputs are defined."""
    where = f" after pass {after!r}" if after else ""
    defined: set[Value] = set(graph.inputs) | set(graph.constants)
    if len(defined) != len(graph.inputs) + len(graph.constants):
        raise GraphError(f"a value is both an input and a constant{where}")
    for index, node in enumerate(graph.nodes):
        for v in node.inputs:
            if v not in defined:
                raise GraphError(
                    f"node {index} ({node.prim.name}) uses a value defined later or nowhere{where}"
                )
        try:
            rule_result = node.prim.shape_rule(*(v.aval for v in node.inputs), **node.params)
        except Exception as error:  # a user-facing ShapeError here is a broken graph
            raise GraphError(
                f"node {index} ({node.prim.name}) is rejected by its shape rule{where}: {error}"
            ) from error
        expected = aval_list(rule_result, node.prim.multiple_results)
        actual = [v.aval for v in node.outputs]
        if [(tuple(a.shape), a.dtype) for a in expected] != [
            (tuple(a.shape), a.dtype) for a in actual
        ]:
            raise GraphError(
                f"node {index} ({node.prim.name}) outputs {actual} but its shape rule "
                f"says {expected}{where}"
            )
        for v in node.outputs:
            if v in defined:
                raise GraphError(f"node {index} ({node.prim.name}) redefines a value{where}")
            defined.add(v)
    for v in graph.outputs:
        if v not in defined:
            raise GraphError(f"a graph output is never defined{where}")
