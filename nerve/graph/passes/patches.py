"""Lowering: ``patches_transpose`` of a matrix product becomes one
``product_patches_transpose`` node, and a product of patches one ``patches_product``
node where the backend runs it natively.

A convolution's input gradient, as autodiff writes it, multiplies the output
gradient by the kernel, reshapes the product into patches ``(batch, *out, *window,
C)`` and adds them back into the image (``patches_transpose``); a transposed
convolution does the same in its forward pass. The product is ``taps`` times the
image; one node lets the backend add it into the image without writing it (see
``nerve.primitives.nn``). The rewrite fires where the product and its reshape have
no other use and only change the layout ``(rows, taps * C)`` into patches; the graph
keeps its values otherwise. It runs at lowering, so the optimized graph that autodiff,
export and control-flow inlining see keeps the three primitives.

A convolution's forward pass multiplies its patches, reshaped into rows ``(batch *
positions, taps * C)``, by the kernel. ``fold_patches_into_products`` hands such a
product to ``patches_product(x, b)`` where the backend says its kernel is faster
(``Backend.runs_natively``: the NumPy backend runs 3x3 windows at stride 1
with Winograd's F(2x2, 3x3)); the patches stay where something else reads them (the
kernel gradient).
"""

from __future__ import annotations

import math

from nerve.backend.base import Backend
from nerve.graph.ir import Graph, Node
from nerve.graph.passes.rewrite import rewritten, sole_producer
from nerve.primitives.linalg import matmul_p
from nerve.primitives.nn import (
    extract_patches_p,
    patches_product_p,
    patches_transpose_p,
    product_patches_transpose_p,
    transposed_patches_product_p,
)
from nerve.primitives.shape import reshape_p, transpose_p

__all__ = ["fold_patches_into_products", "fold_products_into_patches"]


def fold_products_into_patches(graph: Graph, backend: Backend | None = None) -> Graph:
    """``graph`` with each ``patches_transpose(reshape(matmul(a, b)))`` whose product
    and reshape are used only there replaced by ``product_patches_transpose(a, b)``
    (the same on every backend: each has the kernel, at worst as the three steps)."""
    single = sole_producer(graph)
    replaced: dict[Node, Node] = {}
    dropped: set[Node] = set()
    for node in graph.nodes:
        if node.prim is not patches_transpose_p:
            continue
        shaped = single(node.inputs[0], reshape_p)
        product = None if shaped is None else single(shaped.inputs[0], matmul_p)
        if shaped is None or product is None:
            continue
        a, b = product.inputs
        patches = node.inputs[0].shape
        rank = len(node.params["window"])
        if not _is_patch_layout(a.shape, b.shape, patches, rank):
            continue
        out = node.outputs[0]
        replaced[node] = Node(product_patches_transpose_p, [a, b], node.params, [out])
        dropped.update((shaped, product))
    return rewritten(graph, replaced, dropped)


def _is_patch_layout(a: tuple, b: tuple, patches: tuple, rank: int) -> bool:
    """Whether ``(a[0], b[1])`` is ``patches`` with its first ``1 + rank`` axes (batch,
    positions) as rows and the rest (window, channels) as columns, all sizes known."""
    sizes = (*a, *b, *patches)
    if not all(isinstance(s, int) for s in sizes) or len(a) != 2 or len(b) != 2:
        return False
    return math.prod(patches[: 1 + rank]) == a[0] and math.prod(patches[1 + rank :]) == b[1]


def fold_patches_into_products(graph: Graph, backend: Backend | None = None) -> Graph:
    """``graph`` with each ``matmul(reshape(extract_patches(x)), b)`` (zero padding,
    rows of whole windows) replaced by ``patches_product(x, b)``, and each
    ``matmul(transpose(reshape(extract_patches(x))), g)`` by
    ``transposed_patches_product(x, g)``, where ``backend`` runs them natively; the
    transposes, reshapes and patches go where nothing else reads them. Without a
    backend, ``graph`` itself."""
    if backend is None:
        return graph
    producers = graph.producers()
    replaced: dict[Node, Node] = {}
    chains: list[Node] = []  # the nodes the replaced products read through
    for node in graph.nodes:
        if node.prim is not matmul_p:
            continue
        found = _patch_rows(node.inputs[0], producers)
        if found is None:
            continue
        chain, patches, transposed = found
        x, other = patches.inputs[0], node.inputs[1]
        params = {k: v for k, v in patches.params.items() if k != "pad_value"}
        columns = math.prod(patches.outputs[0].shape[1 + len(params["window"]) :])
        b_shape = (columns, other.shape[1])
        prim = transposed_patches_product_p if transposed else patches_product_p
        shapes = (tuple(x.shape), b_shape)
        if not backend.runs_natively(prim.name, x.dtype, shapes, params):
            continue
        replaced[node] = Node(prim, [x, other], params, list(node.outputs))
        chains.extend(chain)
    if not replaced:
        return graph
    return rewritten(graph, replaced, _unread(graph, chains, set(replaced)))


def _patch_rows(value, producers: dict) -> tuple[list[Node], Node, bool] | None:
    """Whether ``value`` is ``reshape(extract_patches(x))`` (zero padding) with rows
    (batch, positions) and columns (window, channels), or its transpose: the nodes on
    the way, the ``extract_patches`` node and whether it is transposed; else ``None``."""
    chain: list[Node] = []
    node = producers.get(value)
    transposed = False
    if node is not None and node.prim is transpose_p and node.params["axes"] == (1, 0):
        transposed = True
        chain.append(node)
        node = producers.get(node.inputs[0])
    if node is None or node.prim is not reshape_p:
        return None
    chain.append(node)
    patches = producers.get(node.inputs[0])
    if patches is None or patches.prim is not extract_patches_p:
        return None
    if patches.params["pad_value"] != 0.0:
        return None
    rows, rank = node.outputs[0].shape, len(patches.params["window"])
    if not _is_patch_layout(rows, rows, patches.outputs[0].shape, rank):
        return None
    return [*chain, patches], patches, transposed


def _unread(graph: Graph, candidates: list[Node], gone: set[Node]) -> set[Node]:
    """The ``candidates`` whose every reader is in ``gone`` or is itself unread."""
    uses = graph.uses()
    readers: dict = {}
    for node in graph.nodes:
        for value in node.inputs:
            readers.setdefault(value, []).append(node)
    dropped: set[Node] = set()
    changed = True
    while changed:
        changed = False
        for node in candidates:
            if node in dropped:
                continue
            out = node.outputs[0]
            if uses[out] == sum(1 for r in readers.get(out, ()) if r in gone or r in dropped):
                dropped.add(node)
                changed = True
    return dropped
