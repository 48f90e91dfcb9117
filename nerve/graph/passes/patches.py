"""Lowering: ``patches_transpose`` of a matrix product becomes one
``product_patches_transpose`` node.

A convolution's input gradient, as autodiff writes it, multiplies the output
gradient by the kernel, reshapes the product into patches ``(batch, *out, *window,
C)`` and adds them back into the image (``patches_transpose``); a transposed
convolution does the same in its forward pass. The product is ``taps`` times the
image; one node lets the backend add it into the image without writing it (see
``nerve.primitives.nn``). The rewrite fires where the product and its reshape have
no other use and only change the layout ``(rows, taps * C)`` into patches; the graph
keeps its values otherwise. It runs at lowering, so the optimized graph that autodiff,
export and control-flow inlining see keeps the three primitives.
"""

from __future__ import annotations

import math

from nerve.backend.base import Backend
from nerve.graph.ir import Graph, Node
from nerve.primitives.linalg import matmul_p
from nerve.primitives.nn import patches_transpose_p, product_patches_transpose_p
from nerve.primitives.shape import reshape_p

__all__ = ["fold_products_into_patches"]


def fold_products_into_patches(graph: Graph, backend: Backend | None = None) -> Graph:
    """``graph`` with each ``patches_transpose(reshape(matmul(a, b)))`` whose product
    and reshape are used only there replaced by ``product_patches_transpose(a, b)``
    (the same on every backend: each has the kernel, at worst as the three steps)."""
    producers = graph.producers()
    uses = graph.uses()
    replaced: dict[Node, Node] = {}
    dropped: set[Node] = set()
    for node in graph.nodes:
        if node.prim is not patches_transpose_p:
            continue
        shaped = producers.get(node.inputs[0])
        if shaped is None or shaped.prim is not reshape_p or uses[shaped.outputs[0]] != 1:
            continue
        product = producers.get(shaped.inputs[0])
        if product is None or product.prim is not matmul_p or uses[product.outputs[0]] != 1:
            continue
        a, b = product.inputs
        patches = node.inputs[0].shape
        rank = len(node.params["window"])
        if not _is_patch_layout(a.shape, b.shape, patches, rank):
            continue
        out = node.outputs[0]
        replaced[node] = Node(product_patches_transpose_p, [a, b], node.params, [out])
        dropped.update((shaped, product))
    if not replaced:
        return graph
    result = graph.copy()
    result.nodes = [replaced.get(n, n) for n in graph.nodes if n not in dropped]
    return result


def _is_patch_layout(a: tuple, b: tuple, patches: tuple, rank: int) -> bool:
    """Whether ``(a[0], b[1])`` is ``patches`` with its first ``1 + rank`` axes (batch,
    positions) as rows and the rest (window, channels) as columns, all sizes known."""
    sizes = (*a, *b, *patches)
    if not all(isinstance(s, int) for s in sizes) or len(a) != 2 or len(b) != 2:
        return False
    return math.prod(patches[: 1 + rank]) == a[0] and math.prod(patches[1 + rank :]) == b[1]
