"""Lowering: sibling products of one operand, each with its bias, become one product
of the weights side by side, ``product_bias``, whose results are split as views.

Self-attention projects one input ``x`` three times, the query, key and value layers
(``EinsumDense``: ``einsum("abc,cde->abde", x, w)`` then ``add(., bias)``): three
products of ``x`` and three passes over their results to add the biases. As one
product ``x @ [w_q | w_k | w_v] + [b_q | b_k | b_v]`` the weights are concatenated
(three 64 KB copies a step for the benchmark Transformer), BLAS runs one wider product
instead of three, and the backend adds the biases to each block of results while it
is in the cache (the NumPy backend: ``native/products.py``, ``blocked_product``); the
three results are column blocks of one matrix, which the attention loops read in
place. The rewrite fires for products ``einsum(lead + c, c + rest -> lead + rest)`` of
one operand (its last axis summed with the weight's first) each read only by the add
of a bias of the weight's other axes, where every reader of the sums comes after the
last of them, and the backend runs the product natively. Each result is the same
product and add: the unmerged graph's bits where BLAS runs each product with its
general kernels (OpenBLAS takes products under ~10^6 multiply-adds through small-matrix
kernels that sum in another order; there the values agree to rounding;
tests/graph/test_siblings.py). It runs at lowering, after autodiff: the gradients,
which read ``x`` and the weights, keep their own products.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from nerve.backend.base import Backend
from nerve.graph.ir import Graph, Node, Value
from nerve.graph.passes.rewrite import rewritten, sole_producer
from nerve.primitives.elementwise import add_p
from nerve.primitives.linalg import einsum_p
from nerve.primitives.nn import product_bias_p
from nerve.primitives.registry import Aval
from nerve.primitives.shape import concatenate_p, reshape_p, split_p

__all__ = ["merge_sibling_products"]


@dataclass
class _Sibling:
    """One product ``einsum(x, weight)`` and the add of its bias."""

    product: Node
    add: Node
    weight: Value
    bias: Value


def merge_sibling_products(graph: Graph, backend: Backend) -> Graph:
    """``graph`` with each group of two or more sibling products of one operand with
    their biases (see the module doc) replaced by one ``product_bias`` node and a split
    of its result, where ``backend`` runs it natively.

    >>> import numpy as np, nerve
    >>> from nerve import ops
    >>> from nerve.backend import get_backend
    >>> x, w = np.ones((4096, 64), "float32"), np.ones((64, 128), "float32")
    >>> b = np.ones(128, "float32")
    >>> def fn(x, w, b):
    ...     return (ops.einsum("ac,cd->ad", x, w) + b) * (ops.einsum("ac,cd->ad", x, w * 2) + b)
    >>> graph = nerve.function(fn).get_concrete_function(x, w, b).graph  # before lowering
    >>> merged = "product_bias" in merge_sibling_products(graph, get_backend()).primitive_counts()
    >>> merged == get_backend().runs_natively("product_bias", "float32", ((4096, 64), (64, 256)))
    True
    """
    single = sole_producer(graph)
    groups: dict[Value, list[_Sibling]] = {}
    for node in graph.nodes:
        sibling = _match(node, single)
        if sibling is not None:  # grouped by x
            groups.setdefault(sibling.product.inputs[0], []).append(sibling)
    position = {node: i for i, node in enumerate(graph.nodes)}
    readers: dict[Value, list[Node]] = {}
    for node in graph.nodes:
        for value in node.inputs:
            readers.setdefault(value, []).append(node)
    replaced: dict[Node, list[Node]] = {}
    dropped: set[Node] = set()
    for x, siblings in groups.items():
        if len(siblings) < 2 or len({s.weight.aval.dtype for s in siblings}) != 1:
            continue
        last = max((s.add for s in siblings), key=position.__getitem__)
        sums = [s.add.outputs[0] for s in siblings]
        if any(position[r] <= position[last] for v in sums for r in readers.get(v, [])):
            continue  # a sum read before the last of them is made
        if any(v in graph.outputs for v in sums):
            continue
        rows = math.prod(x.aval.shape[:-1])
        columns = sum(math.prod(s.weight.aval.shape[1:]) for s in siblings)
        shapes = ((rows, x.aval.shape[-1]), (x.aval.shape[-1], columns))
        if not backend.runs_natively(product_bias_p.name, x.aval.dtype, shapes):
            continue
        replaced[last] = _merged(x, siblings, rows, columns)
        dropped.update(n for s in siblings for n in (s.product, s.add) if n is not last)
    return rewritten(graph, replaced, dropped)


def _match(node: Node, single) -> _Sibling | None:
    """The sibling whose bias add ``node`` is: ``add(product, bias)`` (either order),
    ``product = einsum(lead + c, c + rest -> lead + rest)`` of ``(x, weight)`` read only
    there, ``bias`` of the weight's ``rest`` axes, all of one dtype and known shape;
    else ``None``."""
    if node.prim is not add_p:
        return None
    for value, bias in (node.inputs, node.inputs[::-1]):
        product = single(value, einsum_p)
        if product is None or not _is_projection(product.params["subscripts"]):
            continue
        x, weight = product.inputs
        shapes = (*x.aval.shape, *weight.aval.shape, *bias.aval.shape)
        if not all(isinstance(n, int) for n in shapes):
            continue
        if tuple(bias.aval.shape) != tuple(weight.aval.shape[1:]):
            continue
        if tuple(node.outputs[0].aval.shape) != tuple(value.aval.shape):
            continue
        if len({x.aval.dtype, weight.aval.dtype, bias.aval.dtype, value.aval.dtype}) != 1:
            continue
        return _Sibling(product, node, weight, bias)
    return None


def _is_projection(subscripts: str) -> bool:
    """Whether ``subscripts`` is ``lead + c, c + rest -> lead + rest``, each letter once.

    >>> _is_projection("abc,cde->abde"), _is_projection("abc,cde->abed")
    (True, False)
    """
    inputs, _, out = subscripts.partition("->")
    first, _, second = inputs.partition(",")
    if not first or not second or "," in second or "." in subscripts:
        return False
    if len(set(first + second)) != len(first) + len(second) - 1:
        return False
    return first[-1] == second[0] and out == first[:-1] + second[1:]


def _reshaped(value: Value, shape: tuple) -> tuple[Value, Node]:
    """A new value of ``value`` reshaped to ``shape``, and the node making it."""
    out = Value(Aval(tuple(shape), value.aval.dtype))
    return out, Node(reshape_p, [value], {"shape": tuple(shape)}, [out])


def _merged(x: Value, siblings: list[_Sibling], rows: int, columns: int) -> list[Node]:
    """The nodes computing every sibling's sum as one ``product_bias`` of ``x`` (as rows)
    with the weights and biases side by side, split into the sums' values."""
    dtype, depth = x.aval.dtype, x.aval.shape[-1]
    nodes: list[Node] = []
    weights, biases, widths = [], [], []
    for sibling in siblings:
        width = math.prod(sibling.weight.aval.shape[1:])
        weight, node = _reshaped(sibling.weight, (depth, width))
        bias, bias_node = _reshaped(sibling.bias, (width,))
        nodes += [node, bias_node]
        weights.append(weight)
        biases.append(bias)
        widths.append(width)
    weight = Value(Aval((depth, columns), dtype))
    bias = Value(Aval((columns,), dtype))
    flat, shape_x = _reshaped(x, (rows, depth))
    product = Value(Aval((rows, columns), dtype))
    nodes += [
        Node(concatenate_p, weights, {"axis": 1}, [weight]),
        Node(concatenate_p, biases, {"axis": 0}, [bias]),
        shape_x,
        Node(product_bias_p, [flat, weight, bias], {}, [product]),
    ]
    bounds = tuple(sum(widths[:k]) for k in range(len(widths) + 1))
    parts = [Value(Aval((rows, width), dtype)) for width in widths]
    nodes.append(Node(split_p, [product], {"axis": 1, "bounds": bounds}, parts))
    for part, sibling in zip(parts, siblings):
        total = sibling.add.outputs[0]
        nodes.append(Node(reshape_p, [part], {"shape": tuple(total.aval.shape)}, [total]))
    return nodes
