"""Lowering: a layer normalization over the last axis computes its statistics in one
``layer_norm_rows`` node (``fuse_layer_norm_statistics``), and its input gradient in
one ``layer_norm_grad_rows`` node (``fuse_layer_norm_gradients``), where the backend
runs them natively. The gradient:

``ops.layer_normalization`` computes ``c = x - mean``, ``v = var + epsilon``, ``inv =
rsqrt(v)`` and ``c * inv`` (times gamma, plus beta); autodiff turns the cotangent
``a`` of ``c * inv`` (the output's cotangent times gamma) into the input's in these
steps (``count`` the row length, a constant; sums over the last axis, their results
reshaped to keep it)::

    t = multiply(a, inv);  s6 = reduce_sum(multiply(a, c))
    d = multiply(s6, divide(multiply(-0.5, inv), v));  d2 = divide(d, count)
    e = multiply(d2, c);  e2 = add(e, e);  u = add(t, e2)
    s5 = reduce_sum(neg(t));  s7 = reduce_sum(neg(e2))
    dx = add(u, divide(add(s5, s7), count))

five fused loops and three reductions after fusion, each a pass over the array; the
node makes them one pass per row (``native/layer_norm.py``) with the same arithmetic in
the same order, so the same bits (tests/graph/test_layer_norm.py compares it with
the unfused graph, and a layer's gradients). The rewrite needs nothing but those
steps (any operand order of the commutative ones), each intermediate value read only
inside them, float32 or float64, and runs before ``sum_before_negating``, which
would rewrite the negated sums. It runs at lowering, after autodiff.
"""

from __future__ import annotations

from nerve.backend.base import Backend
from nerve.graph.ir import Graph, Node, Value
from nerve.graph.passes.rewrite import rewritten
from nerve.primitives.elementwise import add_p, divide_p, multiply_p, neg_p, rsqrt_p, subtract_p
from nerve.primitives.nn import layer_norm_grad_rows_p, layer_norm_rows_p
from nerve.primitives.reduction import reduce_sum_p
from nerve.primitives.shape import reshape_p

__all__ = ["fuse_layer_norm_gradients", "fuse_layer_norm_statistics"]


def fuse_layer_norm_statistics(graph: Graph, backend: Backend) -> Graph:
    """``graph`` with each layer normalization's statistics over the last axis,
    ``c = subtract(x, divide(reduce_sum(x), count))``, ``v = add(divide(reduce_sum(
    multiply(c, c)), count), epsilon)`` and ``inv = rsqrt(v)`` (sums kept, ``count``
    and ``epsilon`` constants, the sums and quotients read only there), replaced by one
    ``layer_norm_rows`` node making ``(c, v, inv)`` where ``backend`` runs it natively:
    one pass over ``x`` and one write of ``c`` instead of two sums, a loop writing ``c``
    and its square, and the square read back. The same bits (``native/layer_norm.py``).

    >>> import numpy as np, nerve
    >>> from nerve import ops
    >>> from nerve.backend import get_backend
    >>> x = np.ones((4, 8), "float32")
    >>> graph = nerve.function(ops.layer_normalization).get_concrete_function(x).graph
    >>> counts = fuse_layer_norm_statistics(graph, get_backend()).primitive_counts()
    >>> counts.get("layer_norm_rows", 0) == get_backend().runs_natively(
    ...     "layer_norm_rows", "float32")
    True
    """
    matcher = _Matcher(graph)
    replaced: dict[Node, Node] = {}
    dropped: set[Node] = set()
    for node in graph.nodes:
        found = matcher.match_statistics(node)
        if found is None:
            continue
        (x, c, v, inv), params, steps = found
        if not backend.runs_natively("layer_norm_rows", x.aval.dtype):
            continue
        centring = matcher.producers[c]
        replaced[centring] = Node(layer_norm_rows_p, [x], params, [c, v, inv])
        dropped.update(steps)
    return rewritten(graph, replaced, dropped)


def fuse_layer_norm_gradients(graph: Graph, backend: Backend) -> Graph:
    """``graph`` with each layer normalization's input gradient (see the module doc)
    replaced by one ``layer_norm_grad_rows`` node, where ``backend`` runs it natively.

    >>> import numpy as np, nerve
    >>> from nerve import ops
    >>> from nerve.backend import get_backend
    >>> x, w = np.random.default_rng(0).standard_normal((2, 4, 8)).astype("float32")
    >>> grad = nerve.grad(lambda x: ops.sum(ops.layer_normalization(x) * w))
    >>> graph = nerve.function(grad).get_concrete_function(x).graph
    >>> counts = fuse_layer_norm_gradients(graph, get_backend()).primitive_counts()
    >>> counts.get("layer_norm_grad_rows", 0) == get_backend().runs_natively(
    ...     "layer_norm_grad_rows", "float32")
    True
    """
    matcher = _Matcher(graph)
    replaced: dict[Node, Node] = {}
    dropped: set[Node] = set()
    for node in graph.nodes:
        found = matcher.match(node)
        if found is None:
            continue
        (a, c, inv, v), count, steps = found
        if not backend.runs_natively("layer_norm_grad_rows", a.aval.dtype):
            continue
        params = {"count": count}
        replaced[node] = Node(layer_norm_grad_rows_p, [a, c, inv, v], params, node.outputs)
        dropped.update(steps)
    return rewritten(graph, replaced, dropped)


class _Matcher:
    """Walks back from a candidate final ``add`` through the steps of the module doc.
    Each ``_…`` method returns the node making a value (or its operands), ``None``
    where the value is not made that way or is read outside the steps."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self.producers = graph.producers()
        self.uses = graph.uses()

    def _node(self, value: Value, prim, uses: int = 1) -> Node | None:
        node = self.producers.get(value)
        if node is None or node.prim is not prim or self.uses.get(value) != uses:
            return None
        return node

    def _constant(self, value: Value) -> float | None:
        if value not in self.graph.constants or value.aval.shape != ():
            return None
        return float(self.graph.constants[value])

    def _quotient(self, value: Value) -> tuple[Value, float] | None:
        """``(x, count)`` for ``value = divide(x, count)``, ``count`` a constant."""
        node = self._node(value, divide_p)
        count = None if node is None else self._constant(node.inputs[1])
        return None if node is None or count is None else (node.inputs[0], count)

    def _row_sum(self, value: Value) -> tuple[Value, list[Node]] | None:
        """``(x, steps)`` for a sum of ``x`` over its last axis, kept: a reduction with
        ``keepdims``, or without and reshaped back."""
        steps = []
        kept = tuple(value.aval.shape)
        node = self.producers.get(value)
        if node is not None and node.prim is reshape_p and self.uses.get(value) == 1:
            steps.append(node)
            value = node.inputs[0]
        total = self._node(value, reduce_sum_p)
        if total is None:
            return None
        x = total.inputs[0]
        rank = len(x.aval.shape)
        if total.params.get("axes") != (rank - 1,) or total.params.get("keepdims") != (not steps):
            return None
        if kept != (*x.aval.shape[:-1], 1):
            return None
        return x, [*steps, total]

    def _negated_sum(self, value: Value) -> tuple[Value, list[Node]] | None:
        found = self._row_sum(value)
        negation = None if found is None else self._node(found[0], neg_p)
        if found is None or negation is None:
            return None
        return negation.inputs[0], [*found[1], negation]

    def match_statistics(self, node: Node) -> tuple[tuple, dict, list[Node]] | None:
        """``((x, c, v, inv), params, the steps but c's)`` when ``node`` is ``inv =
        rsqrt(v)`` ending the statistics of ``fuse_layer_norm_statistics``."""
        if node.prim is not rsqrt_p or node.outputs[0].aval.dtype not in ("float32", "float64"):
            return None
        v = node.inputs[0]
        offset = self.producers.get(v)
        if offset is None or offset.prim is not add_p:
            return None
        for var, eps in (offset.inputs, offset.inputs[::-1]):
            epsilon = self._constant(eps)
            quotient = None if epsilon is None else self._quotient(var)
            squares = None if quotient is None else self._kept_sum(quotient[0])
            square = None if squares is None else self._node(squares[0], multiply_p)
            if quotient is None or squares is None or square is None or epsilon is None:
                continue
            if square.inputs[0] is not square.inputs[1]:
                continue
            c = square.inputs[0]
            centring = self.producers.get(c)
            if centring is None or centring.prim is not subtract_p:
                continue
            x, mean = centring.inputs
            average = self._quotient(mean)
            total = None if average is None else self._kept_sum(average[0])
            if average is None or total is None or total[0] is not x or average[1] != quotient[1]:
                continue
            shape = tuple(x.aval.shape)
            if not shape or not all(isinstance(n, int) and n > 0 for n in shape):
                continue
            if tuple(c.aval.shape) != shape or tuple(v.aval.shape) != (*shape[:-1], 1):
                continue
            if any(value.aval.dtype != x.aval.dtype for value in (c, v, node.outputs[0])):
                continue
            steps = [node, offset, self.producers[var], squares[1], square]
            steps += [self.producers[mean], total[1]]
            params = {"count": quotient[1], "epsilon": epsilon}
            return (x, c, v, node.outputs[0]), params, steps
        return None

    def _kept_sum(self, value: Value) -> tuple[Value, Node] | None:
        """``(x, the reduction)`` for ``value = reduce_sum(x)`` over the last axis with
        ``keepdims``, read only where it is."""
        node = self._node(value, reduce_sum_p)
        if node is None or node.params.get("keepdims") is not True:
            return None
        x = node.inputs[0]
        return (x, node) if node.params.get("axes") == (len(x.aval.shape) - 1,) else None

    def match(self, node: Node) -> tuple[tuple, float, list[Node]] | None:
        """``((a, c, inv, v), count, the other steps)`` when ``node`` ends the steps."""
        out = node.outputs[0] if node.prim is add_p else None
        if out is None or out.aval.dtype not in ("float32", "float64"):
            return None
        shape = tuple(out.aval.shape)
        if not shape or not all(isinstance(n, int) and n > 0 for n in shape):
            return None
        for u, mean in (node.inputs, node.inputs[::-1]):
            found = self._match_parts(u, mean, shape)
            if found is not None:
                return found
        return None

    def _match_parts(self, u: Value, mean: Value, shape: tuple):
        quotient = self._quotient(mean)
        u_node = self._node(u, add_p)
        if quotient is None or u_node is None or tuple(u.aval.shape) != shape:
            return None
        total, count = quotient
        sums = self._node(total, add_p)
        if sums is None:
            return None
        for t, e2 in (u_node.inputs, u_node.inputs[::-1]):
            doubling = self._node(e2, add_p, uses=2)
            t_node = self._node(t, multiply_p, uses=2)
            if doubling is None or t_node is None or doubling.inputs[0] is not doubling.inputs[1]:
                continue
            for s5, s7 in (sums.inputs, sums.inputs[::-1]):
                negated_t, negated_e2 = self._negated_sum(s5), self._negated_sum(s7)
                if negated_t is None or negated_e2 is None:
                    continue
                if negated_t[0] is not t or negated_e2[0] is not e2:
                    continue
                rest = self._match_scaled(doubling.inputs[0], t_node, count)
                if rest is None:
                    continue
                operands, steps = rest
                steps += [u_node, sums, self.producers[mean], doubling, t_node]
                steps += negated_t[1] + negated_e2[1]
                rows = (*shape[:-1], 1)
                if any(tuple(x.aval.shape) != shape for x in operands[:2]) or any(
                    tuple(x.aval.shape) != rows for x in operands[2:]
                ):
                    return None
                if any(x.aval.dtype != u.aval.dtype for x in operands):
                    return None
                return operands, count, steps
        return None

    def _match_scaled(self, e: Value, t_node: Node, count: float):
        """``((a, c, inv, v), steps)`` for ``e = multiply(d2, c)`` with ``d2 = d /
        count``, ``d = s6 * ((-0.5 * inv) / v)``, ``s6`` the row sum of ``a * c``, and
        ``t = a * inv`` (``t_node``)."""
        e_node = self._node(e, multiply_p, uses=2)
        if e_node is None:
            return None
        for d2, c in (e_node.inputs, e_node.inputs[::-1]):
            quotient = self._quotient(d2)
            d_node = None if quotient is None else self._node(quotient[0], multiply_p)
            if quotient is None or quotient[1] != count or d_node is None:
                continue
            for s6, slope in (d_node.inputs, d_node.inputs[::-1]):
                row = self._row_sum(s6)
                ratio = self._node(slope, divide_p)
                if row is None or ratio is None:
                    continue
                product = self._node(row[0], multiply_p)
                half = self._node(ratio.inputs[0], multiply_p)
                if product is None or half is None:
                    continue
                for k, inv in (half.inputs, half.inputs[::-1]):
                    if self._constant(k) != -0.5:
                        continue
                    for a, other in (product.inputs, product.inputs[::-1]):
                        if other is not c or set(t_node.inputs) != {a, inv} or a is inv:
                            continue
                        v = ratio.inputs[1]
                        steps = [e_node, self.producers[d2], d_node, ratio, half, product]
                        return (a, c, inv, v), steps + row[1]
        return None
