"""Helpers of the lowering passes that replace a chain of nodes by one: finding a
value's producer when the value has no other reader, and building the rewritten graph."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from nerve.graph.ir import Graph, Node, Value
from nerve.primitives.elementwise import cast_p, greater_p

__all__ = ["each_rewritten", "is_zero_constant", "relu_mask", "rewritten", "sole_producer"]


def relu_mask(graph: Graph, single: Callable, masking: Value, out: Value) -> tuple | None:
    """``(y, cast, compare)`` where ``masking`` is ``cast(greater(y, 0))``, a ReLU's mask
    (the cast and comparison each used only there, ``single`` being ``sole_producer``'s
    lookup), of ``out``'s shape and dtype; else ``None``. The masks the lowering passes
    fold into the kernel before them (``pool_masks``, ``epilogues``).

    >>> import nerve
    >>> from nerve import ops
    >>> masked = nerve.function(lambda g, y: g * ops.cast(y > 0, "float32"))
    >>> graph = masked.get_concrete_function(ops.ones(3), ops.ones(3)).graph  # (not lowered)
    >>> node = graph.nodes[-1]
    >>> relu_mask(graph, sole_producer(graph), node.inputs[1], node.outputs[0]) is not None
    True
    """
    cast = single(masking, cast_p)
    compare = None if cast is None else single(cast.inputs[0], greater_p)
    if compare is None or not is_zero_constant(graph, compare.inputs[1]):
        return None
    y = compare.inputs[0]
    if (y.aval.shape, y.aval.dtype) != (out.aval.shape, out.aval.dtype):
        return None
    if cast.params.get("dtype") != out.aval.dtype:
        return None
    return y, cast, compare


def is_zero_constant(graph: Graph, value: Value) -> bool:
    """Whether ``value`` is a constant scalar of ``graph`` equal to zero (the ``0`` of a
    ReLU's mask, ``greater(y, 0)``).

    >>> import nerve
    >>> from nerve import ops
    >>> graph = nerve.function(lambda x: ops.greater(x, 0.0)).graph_for(ops.ones(3))
    >>> [is_zero_constant(graph, v) for v in graph.nodes[-1].inputs]
    [False, True]
    """
    array = graph.constants.get(value)
    if array is None or value.aval.shape != ():
        return False
    return bool(np.asarray(array) == 0)


def sole_producer(graph: Graph) -> Callable[[Value, object], Node | None]:
    """``find(value, primitive)``: the node of ``primitive`` that makes ``value`` when
    nothing else reads ``value`` (so a rewrite may drop the node), else ``None``.

    >>> import nerve
    >>> from nerve import ops
    >>> from nerve.primitives.elementwise import sin_p
    >>> graph = nerve.function(lambda x: ops.sin(x) * 2).graph_for(ops.ones(3))
    >>> find = sole_producer(graph)
    >>> [find(v, sin_p) is not None for node in graph.nodes for v in node.inputs][-2:]
    [True, False]
    """
    producers = graph.producers()
    uses = graph.uses()

    def find(value: Value, primitive: object) -> Node | None:
        node = producers.get(value)
        if node is None or node.prim is not primitive or uses[value] != 1:
            return None
        return node

    return find


def rewritten(graph: Graph, replaced: Mapping[Node, Node | list[Node]], dropped: set) -> Graph:
    """A copy of ``graph`` with each node of ``replaced`` put in its place (one node or
    several, in order) and the nodes of ``dropped`` left out; ``graph`` itself when
    there is nothing to change."""
    if not replaced and not dropped:
        return graph
    nodes: list[Node] = []
    for node in graph.nodes:
        if node in dropped:
            continue
        new = replaced.get(node, node)
        nodes.extend(new if isinstance(new, list) else [new])
    result = graph.copy()
    result.nodes = nodes
    return result


def each_rewritten(
    graph: Graph, rewrite: Callable[[Node], tuple[Sequence[Node], Node] | None]
) -> Graph:
    """A copy of ``graph`` in which each node that ``rewrite(node)`` answers
    ``(before, replacement)`` for becomes the nodes ``before``, then ``replacement``
    (a loop whose invariant work moves out in front of it); ``graph`` itself when it
    answers ``None`` for every node."""
    nodes: list[Node] = []
    changed = False
    for node in graph.nodes:
        found = rewrite(node)
        if found is not None:
            before, node = found
            nodes.extend(before)
            changed = True
        nodes.append(node)
    if not changed:
        return graph
    result = graph.copy()
    result.nodes = nodes
    return result
