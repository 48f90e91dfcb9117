"""Algebraic simplification: small local rewrites that make a graph cheaper.

Tracing records what the program did, and autodiff in particular leaves a lot of
cheap but useless work behind: ``scalar_like`` seeds, multiplications by one,
reshapes of reshapes, broadcasts that the next elementwise op would do anyway.
Each rule below looks at one node (and at most the node producing one of its
inputs) and either

* returns an existing ``Value`` that equals the node's result (the node goes;
  every use of its result, graph outputs included, is redirected), or
* returns a cheaper replacement ``Node`` with the same outputs, or
* returns ``None`` (no change).

Rules only fire when the replacement has exactly the node's shape and dtype, so
no rule ever introduces an implicit broadcast or cast. The pass walks the
graph in order and repeats until nothing changes (a bounded number of rounds).
Nodes that become unused are left for ``dce``; effectful nodes are never
rewritten (only their inputs are redirected), so state order is kept.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from nerve.backend.base import Backend
from nerve.graph.ir import Graph, Node, Value
from nerve.primitives.registry import Aval, aval_list

__all__ = [
    "MAX_INSPECTED_CONSTANT",
    "MAX_ROUNDS",
    "simplify",
]

#: Upper bound on rewrite rounds; each round is one walk over the graph.
MAX_ROUNDS = 10

#: Largest constant whose elements are compared against 0 or 1 (a compile-time cost).
MAX_INSPECTED_CONSTANT = 4096


def simplify(graph: Graph, backend: Backend, max_rounds: int = MAX_ROUNDS) -> Graph:
    """Apply the algebraic rules until a fixed point (or ``max_rounds`` walks); new
    constants are ``backend``'s arrays."""
    for _ in range(max_rounds):
        rewriter = _Rewriter(graph, backend)
        graph = rewriter.run()
        if not rewriter.changed:
            break
    return graph


Rule = Callable[["_Rewriter", Node], Any]


class _Rewriter:
    """One walk over a graph, building the rewritten copy (the input is never changed)."""

    def __init__(self, graph: Graph, backend: Backend):
        self.graph = graph
        # How many times each value is read (graph outputs included), for rules that
        # only pay off when their node is the sole reader of a value.
        self.reads: dict[Value, int] = {}
        for v in (*(v for n in graph.nodes for v in n.inputs), *graph.outputs):
            self.reads[v] = self.reads.get(v, 0) + 1
        self.constants = dict(graph.constants)
        self.replace: dict[Value, Value] = {}
        self.producer: dict[Value, Node] = {}
        self.nodes: list[Node] = []
        self.changed = False
        self._scalars: dict[tuple, Value] = {}
        self._backend = backend

    def run(self) -> Graph:
        for old in self.graph.nodes:
            node = Node(old.prim, [self.resolve(v) for v in old.inputs], old.params, old.outputs)
            if not (node.has_effect or node.prim.multiple_results):
                rewritten = self.rewrite(node)
                if rewritten is None:
                    continue
                node = rewritten
            self.nodes.append(node)
            for out in node.outputs:
                self.producer[out] = node
        result = self.graph.copy()
        result.nodes = self.nodes
        result.constants = self.constants
        result.outputs = [self.resolve(v) for v in self.graph.outputs]
        return result

    def rewrite(self, node: Node) -> Node | None:
        """Apply the rules to ``node``; ``None`` when its result was replaced."""
        rules = _RULES.get(node.prim.name, ())
        if node.prim.elementwise:
            rules = (_drop_explicit_broadcast, *rules)
        for rule in rules:
            result = rule(self, node)
            if result is None:
                continue
            self.changed = True
            if isinstance(result, Value):
                (out,) = node.outputs
                assert _same_aval(result.aval, out.aval), (node, result)
                self.replace[out] = result
                return None
            node = result
        return node

    # -- helpers used by the rules ------------------------------------------------------
    def resolve(self, value: Value) -> Value:
        # Replacements always point at already-resolved values, so one lookup suffices.
        return self.replace.get(value, value)

    def produced_by(self, value: Value, name: str) -> Node | None:
        """The node of primitive ``name`` that produced ``value``, if it is one."""
        node = self.producer.get(value)
        return node if node is not None and node.prim.name == name else None

    def emit(self, node: Node) -> None:
        """Add a new node before the one being rewritten (a rule's helper step)."""
        self.nodes.append(node)
        for out in node.outputs:
            self.producer[out] = node

    def is_constant(self, value: Value, number: float) -> bool:
        """Whether ``value`` is a constant with every element equal to ``number``."""
        array = self.constants.get(value)
        if array is None or math.prod(value.shape) > MAX_INSPECTED_CONSTANT:
            return False
        return bool((array == number).all())

    def scalar_constant(self, number: Any, aval: Aval) -> Value:
        """A 0-d constant; one graph value per distinct (number, dtype)."""
        key = (type(number), number, aval.dtype)
        value = self._scalars.get(key)
        if value is None:
            value = Value(Aval((), aval.dtype))
            self.constants[value] = self._backend.scalar(number, aval.dtype)
            self._scalars[key] = value
        return value


def _same_aval(a: Aval, b: Aval) -> bool:
    return tuple(a.shape) == tuple(b.shape) and a.dtype == b.dtype


def _with(node: Node, inputs: list, **params: Any) -> Node:
    """A copy of ``node`` with new inputs (and params), keeping its output values."""
    return Node(node.prim, inputs, {**node.params, **params}, node.outputs)


# -- the rules -------------------------------------------------------------------------


def _scalar_like_to_constant(rw: _Rewriter, node: Node) -> Value:
    # scalar_like's result depends only on its input's dtype, never on its data.
    return rw.scalar_constant(node.params["value"], node.outputs[0].aval)


def _identity_operand(rw: _Rewriter, node: Node, identity: float, positions: tuple) -> Any:
    """``x op e -> x`` where operand ``positions`` may hold the identity ``e``: only when
    ``x`` already has the result's shape and dtype (else ``e`` broadcasts ``x``)."""
    out = node.outputs[0]
    for i in positions:
        other = node.inputs[1 - i]
        if rw.is_constant(node.inputs[i], identity) and _same_aval(other.aval, out.aval):
            return other
    return None


def _add_zero(rw: _Rewriter, node: Node) -> Any:
    # x + 0 and 0 + x (-0.0 + 0.0 gives +0.0: equal as numbers, as XLA also assumes).
    return _identity_operand(rw, node, 0, (0, 1))


def _subtract_zero(rw: _Rewriter, node: Node) -> Any:
    return _identity_operand(rw, node, 0, (1,))  # x - 0 (0 - x is a negation, not x)


def _multiply_one(rw: _Rewriter, node: Node) -> Any:
    return _identity_operand(rw, node, 1, (0, 1))  # x * 1 and 1 * x


def _divide_one(rw: _Rewriter, node: Node) -> Any:
    return _identity_operand(rw, node, 1, (1,))  # x / 1


def _double_negation(rw: _Rewriter, node: Node) -> Any:
    # neg(neg(x)) -> x, exact in every dtype (integers wrap both ways).
    inner = rw.produced_by(node.inputs[0], "neg")
    return inner.inputs[0] if inner is not None else None


def _reshape(rw: _Rewriter, node: Node) -> Any:
    # reshape(x, x.shape) -> x; reshape(reshape(x, a), b) -> reshape(x, b): row-major
    # reshapes never move elements, so only the final shape matters.
    (x,) = node.inputs
    shape = tuple(node.params["shape"])
    inner = rw.produced_by(x, "reshape")
    if inner is not None:
        x = inner.inputs[0]
    if tuple(x.shape) == shape:
        return x
    return _with(node, [x]) if inner is not None else None


def _transpose(rw: _Rewriter, node: Node) -> Any:
    # transpose(transpose(x, p), q) -> transpose(x, p∘q); an identity permutation -> x.
    (x,) = node.inputs
    axes = tuple(node.params["axes"])
    inner = rw.produced_by(x, "transpose")
    if inner is not None:
        # Output axis i is the inner result's axis axes[i], which is x's axis p[axes[i]].
        x, axes = inner.inputs[0], tuple(inner.params["axes"][a] for a in axes)
    if axes == tuple(range(len(axes))):
        return x
    return _with(node, [x], axes=axes) if inner is not None else None


def _transpose_of_gather(rw: _Rewriter, node: Node) -> Any:
    """``transpose(table[ids], p) -> table[transpose(ids, p')]`` when ``p`` only reorders
    the axes ``ids`` adds (an embedding's (batch, time) rows made time-major for a
    recurrent layer): the gather writes its rows in the new order, and the reshape that
    usually follows becomes a view instead of a copy of the whole result."""
    gather = rw.produced_by(node.inputs[0], "getitem")
    if gather is None or rw.reads.get(node.inputs[0]) != 1:
        return None
    if gather.params["template"] != (("array", 0),) or len(gather.inputs) != 2:
        return None
    table, ids = gather.inputs
    lead, axes = len(ids.shape), tuple(node.params["axes"])
    if sorted(axes[:lead]) != list(range(lead)) or axes[lead:] != tuple(range(lead, len(axes))):
        return None
    turned = Value(Aval(tuple(ids.shape[a] for a in axes[:lead]), ids.dtype))
    rw.emit(Node(node.prim, [ids], {"axes": axes[:lead]}, [turned]))
    return Node(gather.prim, [table, turned], gather.params, node.outputs)


def _broadcast_to(rw: _Rewriter, node: Node) -> Any:
    # broadcast_to(x, x.shape) -> x; broadcast_to(broadcast_to(x, a), b) -> broadcast_to(x, b)
    # (x broadcasts to a and a to b, so x broadcasts to b with the same result).
    (x,) = node.inputs
    if tuple(x.shape) == tuple(node.params["shape"]):
        return x
    inner = rw.produced_by(x, "broadcast_to")
    return _with(node, [inner.inputs[0]]) if inner is not None else None


def _cast_same_dtype(rw: _Rewriter, node: Node) -> Any:
    (x,) = node.inputs
    return x if x.dtype == node.params["dtype"] else None  # cast to its own dtype -> x


def _drop_explicit_broadcast(rw: _Rewriter, node: Node) -> Any:
    """``op(broadcast_to(a, s), b) -> op(a, b)`` for elementwise ops (they broadcast),
    when NumPy broadcasting of ``a`` and ``b`` already gives the same result shape.
    Autodiff emits these (a scalar seed broadcast to a full tensor, then multiplied);
    the rule is valid for any ``a``, constant or not, since elementwise ops do not care
    whether an operand was broadcast before or during the op."""
    inputs = list(node.inputs)
    for i, v in enumerate(inputs):
        inner = rw.produced_by(v, "broadcast_to")
        if inner is None:
            continue
        trial = [*inputs[:i], inner.inputs[0], *inputs[i + 1 :]]
        rule_result = node.prim.shape_rule(*(t.aval for t in trial), **node.params)
        [result] = aval_list(rule_result, node.prim.multiple_results)  # elementwise: one
        if _same_aval(result, node.outputs[0].aval):
            inputs = trial
    return _with(node, inputs) if inputs != node.inputs else None


_RULES: dict[str, tuple[Rule, ...]] = {
    "scalar_like": (_scalar_like_to_constant,),
    "add": (_add_zero,),
    "subtract": (_subtract_zero,),
    "multiply": (_multiply_one,),
    "divide": (_divide_one,),
    "neg": (_double_negation,),
    "reshape": (_reshape,),
    "transpose": (_transpose, _transpose_of_gather),
    "broadcast_to": (_broadcast_to,),
    "cast": (_cast_same_dtype,),
}
