"""Lowering: a ReLU's gradient of what max pooling scattered back becomes one
``masked_window_scatter`` node.

Convolution, ReLU, max pooling: the backward pass scatters the pooled gradient into
the image (``window_scatter``), then multiplies it by the ReLU's mask, ``cast(y > 0)``
of the ReLU's output ``y`` (the gradient ``relu`` records). Two passes over a
full-resolution image (the MNIST convnet's first layer: 11 MB written, then read with
``y`` and written again); as one node the kernel masks each image while it is still in
the caches. The rewrite fires where the scatter, the comparison and the cast have no
other use; the node computes the same multiply, so the values are the same bits. It
runs at lowering, before elementwise fusion (which would take the multiply into a loop
of its own).
"""

from __future__ import annotations

from nerve.backend.base import Backend
from nerve.graph.ir import Graph, Node
from nerve.graph.passes.rewrite import relu_mask, rewritten, sole_producer
from nerve.primitives.elementwise import multiply_p
from nerve.primitives.nn import masked_window_scatter_p, window_scatter_p

__all__ = ["mask_window_scatters"]


def mask_window_scatters(graph: Graph, backend: Backend | None = None) -> Graph:
    """``graph`` with each ``window_scatter(g, argmax) * cast(y > 0)`` (either operand
    order) whose scatter, comparison and cast are used only there replaced by
    ``masked_window_scatter(g, argmax, y)``."""
    single = sole_producer(graph)
    replaced: dict[Node, Node] = {}
    dropped: set[Node] = set()
    for node in graph.nodes:
        if node.prim is not multiply_p:
            continue
        for scattered, masking in (node.inputs, node.inputs[::-1]):
            scatter = single(scattered, window_scatter_p)
            out = node.outputs[0]
            found = None if scattered is masking else relu_mask(graph, single, masking, out)
            if scatter is None or found is None:
                continue
            y, cast, compare = found
            replaced[node] = Node(
                masked_window_scatter_p, [*scatter.inputs, y], scatter.params, [out]
            )
            dropped.update((scatter, cast, compare))
            break
    return rewritten(graph, replaced, dropped)
