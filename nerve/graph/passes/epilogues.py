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
from nerve.graph.passes.rewrite import rewritten, sole_producer
from nerve.primitives.elementwise import add_p
from nerve.primitives.linalg import matmul_p
from nerve.primitives.nn import product_bias_relu_p, relu_p
from nerve.primitives.registry import Aval
from nerve.primitives.shape import reshape_p

__all__ = ["fold_bias_relu_into_products"]


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
            before: list[Node] = []
            if len(a.shape) != 2:
                rows_of_a = Value(Aval(flat, dtype))
                before.append(Node(reshape_p, [a], {"shape": flat}, [rows_of_a]))
                a = rows_of_a
            out = node.outputs[0]
            if tuple(out.shape) == (flat[0], columns):
                replaced[node] = [*before, Node(product_bias_relu_p, [a, b, bias], {}, [out])]
            else:
                rows = Value(Aval((flat[0], columns), dtype))
                replaced[node] = [
                    *before,
                    Node(product_bias_relu_p, [a, b, bias], {}, [rows]),
                    Node(reshape_p, [rows], {"shape": tuple(out.shape)}, [out]),
                ]
            if shaping is not None:
                dropped.add(shaping)
            dropped.update((product, add))
            break
    return rewritten(graph, replaced, dropped)


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
