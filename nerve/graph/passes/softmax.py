"""Lowering: a softmax or log-softmax over the last axis becomes one ``softmax_rows``
node, where the backend runs it as a native loop (``Backend.runs_natively``).

``ops.softmax`` and ``ops.log_softmax`` trace five steps over the input ``x``::

    m = reduce_max(x, axes=(last,), keepdims=True)
    s = subtract(x, m)
    e = exp(s)
    t = reduce_sum(e, axes=(last,), keepdims=True)
    softmax: divide(e, t)        log_softmax: subtract(s, log(t))

and a Dense layer's bias add often comes right before (``x = add(product, bias)``,
the bias a vector over the last axis). Each is a kernel call and a pass over memory;
at batch 1 the calls dominate, and on large inputs the passes do. The rewrite fires
where the intermediate values have no other use (nor are graph results), all shapes
are known, and the backend has the loop for the dtype; the bias add joins where ``x``
has no other use either. Elsewhere the graph stays as it is, so a backend without the
loop (or an odd dtype) loses nothing. It runs at lowering, after autodiff: gradients,
export and control-flow inlining see the per-primitive graph.

Attention scales its logits by a constant first (``multiply(x, scale)``); that
multiply joins the node too (``softmax_rows(x, scale=...)``) where nothing else reads
the scaled logits. And a differentiated graph holds the softmax's gradient from its
output ``y`` (``softmax_rows``'s own vjp, and ``ops.softmax``'s custom gradient)::

    t = multiply(g, y); s = reduce_sum(t, axes=(last,), keepdims=True)
    d = subtract(g, s); dx = multiply(y, d)     [then multiply(dx, scale)]

four passes over memory (the first two and the last fused into loops), which
``fuse_softmax_gradients`` makes one ``softmax_rows_grad(g, y, scale=...)`` node (the
trailing multiply by a constant scale, the gradient of attention's scaling, joins
it). Both nodes give the bits of the steps they replace: the scale is applied first,
as the multiply did, and the sum runs in NumPy's pairwise order (the backend's
kernels; tests/graph/test_softmax.py compares them with the unfused graph).
Attention's logits (batch 32, 4 heads, 128 x 128, float32) are 8 MB per layer: the
scale's multiply cost ~0.9 ms and the gradient's four steps ~2.7 ms a layer on the
2-vCPU Xeon (2026-12-06, profile_sequence.py transformer), one pass each now.
"""

from __future__ import annotations

from nerve.backend.base import Backend
from nerve.graph.ir import Graph, Node, Value
from nerve.graph.passes.rewrite import rewritten
from nerve.primitives.elementwise import add_p, divide_p, exp_p, log_p, multiply_p, subtract_p
from nerve.primitives.nn import softmax_rows_grad_p, softmax_rows_p
from nerve.primitives.reduction import reduce_max_p, reduce_sum_p

__all__ = ["fuse_softmax_gradients", "fuse_softmax_rows"]


def fuse_softmax_rows(graph: Graph, backend: Backend) -> Graph:
    """``graph`` with each softmax / log-softmax over the last axis (see the module doc)
    replaced by one ``softmax_rows`` node, where ``backend`` has its native loop.

    >>> import numpy as np, nerve
    >>> from nerve import ops
    >>> from nerve.backend import get_backend
    >>> x = np.ones((2, 8), "float32")
    >>> graph = nerve.function(ops.softmax).get_concrete_function(x).graph
    >>> counts = fuse_softmax_rows(graph, get_backend()).primitive_counts()
    >>> counts.get("softmax_rows", 0) == get_backend().runs_natively("softmax_rows", "float32")
    True
    """
    producers = graph.producers()
    uses = graph.uses()
    replaced: dict[Node, Node] = {}
    dropped: set[Node] = set()
    for node in graph.nodes:
        match = _match(node, producers, uses)
        if match is None:
            continue
        x, log, steps = match
        if not backend.runs_natively("softmax_rows", x.aval.dtype):
            continue
        inputs, prologue = _bias_prologue(x, producers, uses)
        scale = None
        if not prologue:
            inputs, scale, prologue = _scale_prologue(x, graph, producers, uses)
        params = {"log": log, "scale": scale}
        replaced[node] = Node(softmax_rows_p, inputs, params, [node.outputs[0]])
        dropped.update(steps)
        dropped.update(prologue)
    return rewritten(graph, replaced, dropped)


def _step(value: Value, prim, producers: dict, uses: dict, count: int = 1) -> Node | None:
    """The node of primitive ``prim`` that makes ``value``, when ``value`` has exactly
    ``count`` uses (all of them inside the pattern)."""
    node = producers.get(value)
    if node is None or node.prim is not prim or uses.get(value) != count:
        return None
    return node


def _is_last_axis_reduction(node: Node, rank: int) -> bool:
    return node.params.get("axes") == (rank - 1,) and node.params.get("keepdims") is True


def _match(node: Node, producers: dict, uses: dict) -> tuple[Value, bool, list[Node]] | None:
    """``(x, log, replaced steps)`` when ``node`` ends a softmax (``divide``) or a
    log-softmax (``subtract``) of ``x`` over its last axis, else ``None``."""
    logarithms: list[Node] = []  # log(t), in the log-softmax form
    if node.prim is divide_p:
        log = False
        e, t = node.inputs
        total = _step(t, reduce_sum_p, producers, uses)
        exponential = _step(e, exp_p, producers, uses, count=2)
        if exponential is None:
            return None
        shifted = _step(exponential.inputs[0], subtract_p, producers, uses)
    elif node.prim is subtract_p:
        log = True
        s, logarithm = node.inputs
        taken = _step(logarithm, log_p, producers, uses)
        if taken is None:
            return None
        logarithms.append(taken)
        total = _step(taken.inputs[0], reduce_sum_p, producers, uses)
        if total is None:
            return None
        exponential = _step(total.inputs[0], exp_p, producers, uses)
        shifted = _step(s, subtract_p, producers, uses, count=2)
        if exponential is None or exponential.inputs[0] is not s:
            return None
    else:
        return None
    if total is None or shifted is None or total.inputs[0] is not exponential.outputs[0]:
        return None
    x, m = shifted.inputs
    peak = _step(m, reduce_max_p, producers, uses)
    if peak is None or peak.inputs[0] is not x:
        return None
    shape, dtype = x.aval.shape, x.aval.dtype
    rank = len(shape)
    if (
        rank == 0
        or not all(isinstance(size, int) and size > 0 for size in shape)
        or not _is_last_axis_reduction(peak, rank)
        or not _is_last_axis_reduction(total, rank)
        or any(n.outputs[0].aval.dtype != dtype for n in (node, shifted, exponential, total))
        or tuple(node.outputs[0].aval.shape) != tuple(shape)
    ):
        return None
    return x, log, [peak, shifted, exponential, total, *logarithms]


def _bias_prologue(x: Value, producers: dict, uses: dict) -> tuple[list[Value], list[Node]]:
    """``([a, bias], [the add])`` when ``x = add(a, bias)`` is read only by the softmax
    (its max and its subtraction) and ``bias`` is a vector over the last axis of ``x``'s
    dtype (a Dense layer's bias); ``([x], [])`` otherwise."""
    node = _step(x, add_p, producers, uses, count=2)
    if node is None:
        return [x], []
    shape = tuple(x.aval.shape)
    for a, bias in (node.inputs, node.inputs[::-1]):
        b = tuple(bias.aval.shape)
        if (
            tuple(a.aval.shape) == shape
            and a.aval.dtype == bias.aval.dtype == x.aval.dtype
            and 0 < len(b) <= len(shape)
            and b[-1] == shape[-1]
            and all(size == 1 for size in b[:-1])
        ):
            return [a, bias], [node]
    return [x], []


def _constant_scale(value: Value, dtype: str, graph: Graph) -> float | None:
    """The number ``value`` holds when it is a constant scalar of ``dtype``, else
    ``None`` (a float holds a float32 or float64 value exactly)."""
    if value not in graph.constants or value.aval.shape != () or value.aval.dtype != dtype:
        return None
    return float(graph.constants[value])


def _scaled(node: Node, graph: Graph) -> tuple[Value, float] | None:
    """``(a, scale)`` when ``node`` is ``multiply(a, scale)`` (either order), ``scale`` a
    constant scalar of the product's dtype and ``a`` of the product's shape."""
    if node.prim is not multiply_p:
        return None
    product = node.outputs[0]
    for a, c in (node.inputs, node.inputs[::-1]):
        scale = _constant_scale(c, product.aval.dtype, graph)
        if scale is not None and a.aval.shape == product.aval.shape:
            return a, scale
    return None


def _scale_prologue(x: Value, graph: Graph, producers: dict, uses: dict):
    """``([a], scale, [the multiply])`` when ``x = multiply(a, scale)`` is read only by
    the softmax (its max and its subtraction); ``([x], None, [])`` otherwise."""
    node = _step(x, multiply_p, producers, uses, count=2)
    found = None if node is None else _scaled(node, graph)
    if node is None or found is None:
        return [x], None, []
    return [found[0]], found[1], [node]


def fuse_softmax_gradients(graph: Graph, backend: Backend) -> Graph:
    """``graph`` with each softmax gradient from the softmax's output (see the module
    doc), and the multiply by a constant after it, replaced by one ``softmax_rows_grad``
    node where ``backend`` runs it natively.

    >>> import numpy as np, nerve
    >>> from nerve import ops
    >>> from nerve.backend import get_backend
    >>> x = np.ones((2, 8), "float32")
    >>> grad = nerve.grad(lambda x: ops.sum(ops.softmax(x * 0.5) * x))
    >>> graph = nerve.function(grad).get_concrete_function(x).graph
    >>> counts = fuse_softmax_gradients(graph, get_backend()).primitive_counts()
    >>> native = get_backend().runs_natively("softmax_rows_grad", "float32")
    >>> counts.get("softmax_rows_grad", 0) == native
    True
    """
    producers = graph.producers()
    uses = graph.uses()
    readers = {v: node for node in graph.nodes for v in node.inputs}  # (one reader kept)
    replaced: dict[Node, Node] = {}
    dropped: set[Node] = set()
    for node in graph.nodes:
        match = _match_gradient(node, producers, uses)
        if match is None:
            continue
        g, y, steps = match
        if not backend.runs_natively("softmax_rows_grad", y.aval.dtype):
            continue
        # The gradient of a multiply by a constant before the softmax (attention's scale)
        # joins when it is the only reader of this gradient.
        last, scale = node, None
        if uses.get(node.outputs[0]) == 1 and node.outputs[0] in readers:
            reader = readers[node.outputs[0]]
            found = _scaled(reader, graph)
            if found is not None and found[0] is node.outputs[0]:
                last, scale = reader, found[1]
                dropped.add(node)
        params = {"scale": scale}
        replaced[last] = Node(softmax_rows_grad_p, [g, y], params, [last.outputs[0]])
        dropped.update(steps)
    return rewritten(graph, replaced, dropped)


def _match_gradient(
    node: Node, producers: dict, uses: dict
) -> tuple[Value, Value, list[Node]] | None:
    """``(g, y, [the other steps])`` when ``node`` is ``multiply(y, d)`` (either order)
    with ``d = subtract(g, s)``, ``s = reduce_sum(t)`` over the last axis, kept, and
    ``t = multiply(g, y)`` (either order), each read once, all of one shape and dtype."""
    if node.prim is not multiply_p:
        return None
    out = node.outputs[0]
    shape, dtype = tuple(out.aval.shape), out.aval.dtype
    if not shape or not all(isinstance(size, int) and size > 0 for size in shape):
        return None
    for y, d in (node.inputs, node.inputs[::-1]):
        difference = _step(d, subtract_p, producers, uses)
        if difference is None:
            continue
        g, s = difference.inputs
        total = _step(s, reduce_sum_p, producers, uses)
        if total is None or not _is_last_axis_reduction(total, len(shape)):
            continue
        product = _step(total.inputs[0], multiply_p, producers, uses)
        if product is None or set(product.inputs) != {g, y} or g is y:
            continue
        values = (g, y, d, s, total.inputs[0], out)
        if any(v.aval.dtype != dtype for v in values):
            continue
        if any(tuple(v.aval.shape) != shape for v in (g, y, d, total.inputs[0])):
            continue
        return g, y, [difference, total, product]
    return None
