"""Lowering: attention's products and softmax become one ``attention_rows`` node, and
their gradients one ``attention_rows_grad`` node, where the backend runs them natively.

``ops.dot_product_attention`` without a mask or bias traces, for a query ``q`` grouped
as ``(B, T, K, G, D)`` (``G`` query heads per key head), after the softmax lowering
(``passes/softmax.py``)::

    s = einsum("btkgh,bskh->bkgts", q, k);  p = softmax_rows(s, scale)
    o = einsum("bkgts,bskh->btkgh", p, v)

and autodiff gives its backward pass from ``o``'s cotangent ``g``::

    dp = einsum("btkgh,bskh->bkts", g, v)   (reshaped to p's shape)
    dv = einsum("btkgh,bkgts->bskh", g, p);  ds = softmax_rows_grad(dp, p, scale)
    dq = einsum("bkgts,bskh->btkh", ds, k);  dk = einsum("bkgts,btkgh->bskh", ds, q)

Each einsum is a stack of small products (one per batch and head: 128 x 32 x 128 for
the benchmark Transformer), and the scores between them (B x heads x T x S: 8 MB a
layer there) go through memory at every step, ~90 MB of traffic a layer in eleven
kernel calls. The two nodes let the backend run one (batch, head) pair at a time with
its scores in the cache (the NumPy backend: ``native/attention.py``). The rewrite
fires for one query head per key head (``G == 1``) where the scores, their gradient
and ``ds`` have no other use, and only the pattern's own nodes read ``p``; the
backward node needs the forward one (it reads its probabilities). The nodes compute
the same steps with the same kernels' arithmetic, so the values are the unfused
graph's bits (tests/graph/test_attention.py). It runs at lowering, after autodiff:
gradients and export see the per-primitive graph.
"""

from __future__ import annotations

from dataclasses import dataclass

from nerve.backend.base import Backend
from nerve.graph.ir import Graph, Node, Value
from nerve.graph.passes.rewrite import rewritten, sole_producer
from nerve.primitives.attention import attention_rows_grad_p, attention_rows_p
from nerve.primitives.linalg import einsum_p
from nerve.primitives.nn import softmax_rows_grad_p, softmax_rows_p
from nerve.primitives.registry import Aval
from nerve.primitives.shape import reshape_p

__all__ = ["fuse_attention"]

#: The einsums ``ops.dot_product_attention`` and its gradient trace (see the module doc).
SCORES = "btkgh,bskh->bkgts"
WEIGHTED = "bkgts,bskh->btkgh"
SCORE_GRADIENTS = ("btkgh,bskh->bkts", "btkgh,bskh->bkgts")
VALUE_GRADIENT = "btkgh,bkgts->bskh"
QUERY_GRADIENTS = ("bkgts,bskh->btkh", "bkgts,bskh->btkgh")
KEY_GRADIENT = "bkgts,btkgh->bskh"


@dataclass
class _Forward:
    """A matched forward pass: ``q`` grouped ``(B, T, K, 1, D)``, ``k``, ``v``, the
    softmax's ``scale``, and the nodes making the scores, ``p`` and ``o``."""

    q: Value
    k: Value
    v: Value
    scale: float | None
    scores: Node
    softmax: Node
    weighted: Node


@dataclass
class _Backward:
    """A matched backward pass: ``o``'s cotangent ``g`` (grouped as ``q``), the
    gradient's scale, the nodes it replaces and the gradients ``dq``, ``dk``, ``dv``."""

    g: Value
    scale: float | None
    nodes: list[Node]
    gradients: tuple[Value, Value, Value]


def fuse_attention(graph: Graph, backend: Backend) -> Graph:
    """``graph`` with each attention forward pass (and its backward pass, where the
    graph holds it) of the module doc replaced by ``attention_rows`` (and
    ``attention_rows_grad``) where ``backend`` runs them natively.

    >>> import numpy as np, nerve
    >>> from nerve import ops
    >>> from nerve.backend import get_backend
    >>> q = np.ones((1, 4, 2, 8), "float32")
    >>> graph = nerve.function(ops.dot_product_attention).graph_for(q, q, q)
    >>> counts = fuse_attention(graph, get_backend()).primitive_counts()
    >>> counts.get("attention_rows", 0) == get_backend().runs_natively("attention_rows", "float32")
    True
    """
    single = sole_producer(graph)
    readers: dict[Value, list[Node]] = {}
    for node in graph.nodes:
        for value in node.inputs:
            readers.setdefault(value, []).append(node)
    uses = graph.uses()
    position = {node: i for i, node in enumerate(graph.nodes)}
    replaced: dict[Node, Node | list[Node]] = {}
    dropped: set[Node] = set()
    for node in graph.nodes:
        forward = _match_forward(node, single, readers, position)
        if forward is None:
            continue
        dtype = forward.q.aval.dtype
        if not backend.runs_natively("attention_rows", dtype):
            continue
        backward = None
        if backend.runs_natively("attention_rows_grad", dtype):
            backward = _match_backward(forward, single, readers, uses, position)
        kept = backward is None and uses[forward.softmax.outputs[0]] > 1  # read elsewhere
        q, p, forward_nodes = _forward_nodes(forward, keep_probabilities=kept)
        replaced[forward.weighted] = forward_nodes
        dropped.update((forward.scores, forward.softmax))
        if backward is not None:
            first = min(backward.nodes, key=position.__getitem__)
            replaced[first] = _backward_nodes(backward, forward, q, p)
            dropped.update(n for n in backward.nodes if n is not first)
    return rewritten(graph, replaced, dropped)


def _einsum(node: Node | None, subscripts: str | tuple[str, ...]) -> bool:
    forms = (subscripts,) if isinstance(subscripts, str) else subscripts
    return node is not None and node.prim is einsum_p and node.params["subscripts"] in forms


def _match_forward(node: Node, single, readers: dict, position: dict) -> _Forward | None:
    """The forward pass whose softmax ``node`` is, else ``None``."""
    if node.prim is not softmax_rows_p or node.params["log"] or len(node.inputs) != 1:
        return None
    scores = single(node.inputs[0], einsum_p)
    if not _einsum(scores, SCORES):
        return None
    q, k = scores.inputs
    p = node.outputs[0]
    weighted = [n for n in readers.get(p, []) if _einsum(n, WEIGHTED) and n.inputs[0] is p]
    if len(weighted) != 1:
        return None
    v = weighted[0].inputs[1]
    shape = q.aval.shape
    if len(shape) != 5 or shape[3] != 1 or not all(isinstance(n, int) for n in shape):
        return None
    if len({x.aval.dtype for x in (q, k, v, p)}) != 1:
        return None
    # p moves to the weighted product's place: nothing may read it in between.
    if any(position[n] < position[weighted[0]] for n in readers[p]):
        return None
    return _Forward(q, k, v, node.params["scale"], scores, node, weighted[0])


def _match_backward(
    forward: _Forward, single, readers: dict, uses: dict, position: dict
) -> _Backward | None:
    """The backward pass of ``forward`` in the graph, else ``None``."""
    p = forward.softmax.outputs[0]
    others = [n for n in readers[p] if n is not forward.weighted]
    if uses.get(p) != len(readers[p]):  # a graph output
        return None
    gradient = next((n for n in others if n.prim is softmax_rows_grad_p), None)
    values = next((n for n in others if _einsum(n, VALUE_GRADIENT)), None)
    if len(others) != 2 or gradient is None or values is None or gradient.inputs[1] is not p:
        return None
    g = values.inputs[0]
    shaping = single(gradient.inputs[0], reshape_p)
    scores = single(gradient.inputs[0] if shaping is None else shaping.inputs[0], einsum_p)
    if values.inputs[1] is not p or not _einsum(scores, SCORE_GRADIENTS):
        return None
    if scores.inputs != [g, forward.v]:
        return None
    ds = gradient.outputs[0]
    users = readers.get(ds, [])
    queries = next((n for n in users if _einsum(n, QUERY_GRADIENTS)), None)
    keys = next((n for n in users if _einsum(n, KEY_GRADIENT)), None)
    if uses.get(ds) != 2 or len(users) != 2 or queries is None or keys is None:
        return None
    if queries.inputs != [ds, forward.k] or keys.inputs != [ds, forward.q]:
        return None
    nodes = [scores, gradient, values, queries, keys, *([shaping] if shaping else [])]
    if min(position[n] for n in nodes) < position[forward.weighted]:
        return None
    gradients = (queries.outputs[0], keys.outputs[0], values.outputs[0])
    return _Backward(g, gradient.params["scale"], nodes, gradients)


def _reshaped(value: Value, shape: tuple) -> tuple[Value, Node]:
    """A new value of ``value`` reshaped to ``shape``, and the node making it."""
    out = Value(Aval(tuple(shape), value.aval.dtype))
    return out, Node(reshape_p, [value], {"shape": tuple(shape)}, [out])


def _forward_nodes(forward: _Forward, keep_probabilities: bool) -> tuple[Value, Value, list]:
    """``(q, p, nodes)``: the ungrouped query and the probabilities ``(B, H, T, S)`` the
    nodes replacing ``forward`` make, and those nodes (``p`` grouped again as the graph
    had it where ``keep_probabilities``: a reader other than the backward pass)."""
    batch, steps, heads, _, depth = forward.q.aval.shape
    q, shape_q = _reshaped(forward.q, (batch, steps, heads, depth))
    o_grouped, p_grouped = forward.weighted.outputs[0], forward.softmax.outputs[0]
    dtype = q.aval.dtype
    o = Value(Aval((batch, steps, heads, forward.v.aval.shape[3]), dtype))
    p = Value(Aval((batch, heads, steps, forward.k.aval.shape[1]), dtype))
    nodes = [
        shape_q,
        Node(attention_rows_p, [q, forward.k, forward.v], {"scale": forward.scale}, [o, p]),
    ]
    nodes.append(Node(reshape_p, [o], {"shape": tuple(o_grouped.aval.shape)}, [o_grouped]))
    if keep_probabilities:
        nodes.append(Node(reshape_p, [p], {"shape": tuple(p_grouped.aval.shape)}, [p_grouped]))
    return q, p, nodes


def _backward_nodes(backward: _Backward, forward: _Forward, q: Value, p: Value) -> list:
    """The nodes replacing ``backward``: ``g`` ungrouped, ``attention_rows_grad``, and
    reshapes of its results where the graph's gradients have other shapes."""
    batch, steps, heads, _ = q.aval.shape
    g, shape_g = _reshaped(backward.g, (batch, steps, heads, forward.v.aval.shape[3]))
    outputs, after = [], []
    for value, aval in zip(backward.gradients, (q.aval, forward.k.aval, forward.v.aval)):
        if tuple(value.aval.shape) == tuple(aval.shape):
            outputs.append(value)
            continue
        made = Value(Aval(tuple(aval.shape), aval.dtype))
        outputs.append(made)
        after.append(Node(reshape_p, [made], {"shape": tuple(value.aval.shape)}, [value]))
    inputs = [g, q, forward.k, forward.v, p]
    gradient = Node(attention_rows_grad_p, inputs, {"scale": backward.scale}, outputs)
    return [shape_g, gradient, *after]
