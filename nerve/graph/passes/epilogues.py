"""Lowering: a product's bias and ReLU become part of the product,
``product_bias_relu(a, b, bias)``, where the backend's loop for that product writes them
with each result.

A dense or convolution layer with a ReLU computes ``relu(a @ b + bias)``: the product
writes its result, then a fused loop reads it back, adds the bias, applies ReLU and
writes it again. For the first convolution of an image model (the MNIST convnet: an
(86528, 9) patch matrix times a (9, 32) kernel) that result is 11 MB, and the second
pass over it cost as much as the product (~2 ms on one core). Where
``Backend.runs_natively`` says the product's own loop takes the epilogue (the NumPy
backend's long, thin products), the three nodes become one; a row-splitting reshape
between the product and the add (a convolution's rows back into an image) moves
after it. The rewrite fires where the product, the reshape and the add have no other
use; the kernel computes the same add and ReLU, so the values are the same bits. It
runs at lowering, before elementwise fusion.
"""

from __future__ import annotations

import math

from nerve.backend.base import Backend
from nerve.graph.ir import Graph, Node, Value
from nerve.graph.passes.rewrite import relu_mask, rewritten, sole_producer
from nerve.primitives.elementwise import add_p, multiply_p
from nerve.primitives.linalg import matmul_p
from nerve.primitives.nn import masked_product_p, product_bias_relu_p, relu_p
from nerve.primitives.registry import Aval
from nerve.primitives.shape import reshape_p

__all__ = ["fold_bias_relu_into_products", "fold_relu_masks_into_products"]


def fold_bias_relu_into_products(graph: Graph, backend: Backend | None = None) -> Graph:
    """``graph`` with each ``relu(add(reshape?(matmul(a, b)), bias))`` (either add
    operand order; ``bias`` one value per column; the reshape only splitting the rows)
    whose product, reshape and add are used only there replaced by
    ``product_bias_relu(a, b, bias)`` (reshaped as before) where ``backend`` runs it
    natively. Without a backend, ``graph`` itself."""
    if backend is None:
        return graph
    single = sole_producer(graph)
    replaced: dict[Node, Node | list[Node]] = {}
    dropped: set[Node] = set()
    for node in graph.nodes:
        if node.prim is not relu_p:
            continue
        add = single(node.inputs[0], add_p)
        if add is None:
            continue
        for product_side, bias in (add.inputs, add.inputs[::-1]):
            found = _product_of(product_side, single)
            if found is None:
                continue
            product, shaping = found
            a, b = product.inputs
            columns = b.shape[-1]
            if bias.shape != (columns,) or add.outputs[0].shape != product_side.shape:
                continue
            # A stack of matrices times one matrix (a dense layer on sequences) is one
            # product of all their rows.
            flat = (math.prod(a.shape[:-1]), a.shape[-1])
            dtype = a.aval.dtype
            if not backend.runs_natively(product_bias_relu_p.name, dtype, (flat, tuple(b.shape))):
                continue
            before, a = _as_rows(a, flat)
            made = _made_as(node.outputs[0], (flat[0], columns), product_bias_relu_p, [a, b, bias])
            replaced[node] = [*before, *made]
            if shaping is not None:
                dropped.add(shaping)
            dropped.update((product, add))
            break
    return rewritten(graph, replaced, dropped)


def fold_relu_masks_into_products(graph: Graph, backend: Backend | None = None) -> Graph:
    """``graph`` with each ``reshape?(matmul(a, b)) * cast(y > 0)`` (either operand
    order: a product in the backward pass times the mask of the ReLU whose output is
    ``y``) whose product, reshape, comparison and cast are used only there replaced by
    ``masked_product(a, b, y)`` (rows reshaped as for ``fold_bias_relu_into_products``)
    where ``backend`` runs it natively. Without a backend, ``graph`` itself."""
    if backend is None:
        return graph
    single = sole_producer(graph)
    replaced: dict[Node, Node | list[Node]] = {}
    dropped: set[Node] = set()
    for node in graph.nodes:
        if node.prim is not multiply_p:
            continue
        for product_side, masking in (node.inputs, node.inputs[::-1]):
            found = _product_of(product_side, single)
            out = node.outputs[0]
            relu = None if product_side is masking else relu_mask(graph, single, masking, out)
            if found is None or relu is None or out.aval.shape != product_side.aval.shape:
                continue
            y, cast, compare = relu
            product, shaping = found
            a, b = product.inputs
            flat = (math.prod(a.shape[:-1]), a.shape[-1])
            if not backend.runs_natively(masked_product_p.name, out.aval.dtype, (flat, b.shape)):
                continue
            rows = (flat[0], b.shape[-1])
            before, a = _as_rows(a, flat)
            if tuple(y.shape) != rows:
                reshaped = Value(Aval(rows, y.aval.dtype))
                before.append(Node(reshape_p, [y], {"shape": rows}, [reshaped]))
                y = reshaped
            replaced[node] = [*before, *_made_as(out, rows, masked_product_p, [a, b, y])]
            dropped.update(n for n in (product, shaping, cast, compare) if n is not None)
            break
    return rewritten(graph, replaced, dropped)


def _as_rows(a: Value, flat: tuple) -> tuple[list[Node], Value]:
    """``([reshape], rows)``: ``a`` as one matrix of its rows, with the reshape making
    it, or ``([], a)`` for a matrix."""
    if len(a.shape) == 2:
        return [], a
    rows = Value(Aval(flat, a.aval.dtype))
    return [Node(reshape_p, [a], {"shape": flat}, [rows])], rows


def _made_as(out: Value, shape: tuple, primitive, inputs: list) -> list[Node]:
    """``[primitive node]`` making ``out``, where it has the 2-D ``shape``; else the node
    making a new value of ``shape`` and a reshape of it to ``out``."""
    if tuple(out.shape) == shape:
        return [Node(primitive, inputs, {}, [out])]
    made = Value(Aval(shape, out.aval.dtype))
    reshape = Node(reshape_p, [made], {"shape": tuple(out.shape)}, [out])
    return [Node(primitive, inputs, {}, [made]), reshape]


def _product_of(value: Value, single) -> tuple[Node, Node | None] | None:
    """``(matmul node, reshape node or None)`` where ``value`` is a 2-D product, a stack
    of matrices times one matrix, or a 2-D product reshaped only by splitting its rows
    (the columns stay the last axis); else ``None``."""
    shaping = single(value, reshape_p)
    if shaping is not None:
        product = single(shaping.inputs[0], matmul_p)
        if product is None:
            return None
        rows, columns = product.outputs[0].shape if len(product.outputs[0].shape) == 2 else (0, 0)
        shape = value.shape
        if not shape or shape[-1] != columns or math.prod(shape[:-1]) != rows:
            return None
        return product, shaping
    product = single(value, matmul_p)
    if product is None or len(product.inputs[1].shape) != 2 or len(product.inputs[0].shape) < 2:
        return None
    return product, None
