"""Lowering: a sum of negated values is the negated sum, taken after the reduction.

A layer normalization's gradient sums ``-a`` over each row (``reduce_sum(neg(a))``,
from the mean's subtraction): the negation is a pass over the whole array (a fused
loop of its own: 2 MB, ~0.25 ms and a handoff to the second core, four times a
Transformer step), the reduction a second. Where nothing else reads ``neg(a)``, the
pass sums ``a`` and negates the much smaller sum instead.

The same bits: rounding to nearest is symmetric, so NumPy's pairwise sum of ``-a`` is
minus that of ``a``; the reduction starts from +0 and adds that sum, which a signed
zero would tell apart (``0 + -0`` is +0, ``-(0 + 0)`` is -0), so the result is
``0 - reduce_sum(a)``, +0 for either zero sum and ``-s`` otherwise (a NaN stays NaN;
its sign bit, which means nothing, may differ). Float32 and float64 only.
"""

from __future__ import annotations

from nerve.backend.base import Backend
from nerve.graph.ir import Graph, Node, Value
from nerve.primitives.elementwise import neg_p, subtract_p
from nerve.primitives.reduction import reduce_sum_p
from nerve.primitives.registry import Aval

__all__ = ["sum_before_negating"]


def sum_before_negating(graph: Graph, backend: Backend) -> Graph:
    """``graph`` with each ``reduce_sum(neg(a))``, ``neg(a)`` read by nothing else, as
    ``subtract(0, reduce_sum(a))`` (see the module doc).

    >>> import numpy as np, nerve
    >>> from nerve import ops
    >>> from nerve.backend import get_backend
    >>> f = lambda x: ops.sum(-x, axis=-1)
    >>> graph = nerve.function(f).get_concrete_function(np.ones((2, 8), "float32")).graph
    >>> sorted(sum_before_negating(graph, get_backend()).primitive_counts())
    ['reduce_sum', 'subtract']
    """
    producers = graph.producers()
    uses = graph.uses()
    replaced: dict[Node, list[Node]] = {}
    dropped: set[Node] = set()
    zeros: dict[str, Value] = {}
    result = graph.copy()
    for node in graph.nodes:
        if node.prim is not reduce_sum_p:
            continue
        negation = producers.get(node.inputs[0])
        out = node.outputs[0]
        if (
            negation is None
            or negation.prim is not neg_p
            or uses.get(node.inputs[0]) != 1
            or out.aval.dtype not in ("float32", "float64")
        ):
            continue
        dtype = out.aval.dtype
        if dtype not in zeros:
            zeros[dtype] = result.add_constant(backend.scalar(0, dtype), Aval((), dtype))
        total = Value(out.aval)
        replaced[node] = [
            Node(reduce_sum_p, negation.inputs, node.params, [total]),
            Node(subtract_p, [zeros[dtype], total], {}, [out]),
        ]
        dropped.add(negation)
    if not replaced:
        return graph
    result.nodes = [new for n in graph.nodes if n not in dropped for new in replaced.get(n, [n])]
    return result
