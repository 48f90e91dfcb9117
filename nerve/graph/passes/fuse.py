"""Elementwise fusion: a chain of elementwise nodes becomes one ``fused_elementwise`` node.

A chain starts at an elementwise node or a ``matmul`` (so a dense layer's
bias-add/activation epilogue joins its matmul) and grows while the next node is
elementwise and consumes the previous result as its *only* use (the result is
not a graph output and nothing else reads it). The optimizer-update arithmetic
(``m * v - lr * g``) fuses the same way. The fused node's ``program`` param
lists the steps: ``(primitive, argument refs, params)``, where ref ``k`` is the
node's input ``k`` when ``k < len(inputs)`` and otherwise the result of step
``k - len(inputs)``; the node's result is the last step's.

The design, and why: with the NumPy backend each step still is one kernel call
(NumPy has no expression compiler), so the executor runs a fused node as a
sequence of in-place ``out=`` ufunc calls on one buffer: the first step writes
into the buffer the memory plan gives the node (a dead buffer, a dying input,
or the variable being updated), every later step writes into that same buffer.
Measured (``benchmarks/bench_graph.py``), that is exactly as fast as the memory
planner on the unfused chain (0.99-1.02x on the MLP step and the 100-node
chain): the intermediates are single-use, so the planner already picks the same
in-place calls. So ``fuse`` is *not* in the default pipeline: on NumPy it buys
no time, and it would hide per-primitive detail from the profile and from
per-primitive consumers (export). It is the unit a backend that compiles
expressions (CuPy's ``ElementwiseKernel``) would turn into one kernel; enable it
with ``optimize(graph, (*DEFAULT_PIPELINE, fuse))``. By construction no
intermediate of a fused chain is materialized or aliased.

Effectful nodes are never fused; a chain runs where its last node was, which
moves only pure nodes later, past nothing they depend on.
"""

from __future__ import annotations

from nerve.core.errors import ShapeError
from nerve.graph.ir import Graph, Node, Value
from nerve.graph.passes.memory import OUT_PRIMITIVES
from nerve.primitives.registry import Aval

#: Primitives a chain may contain (the memory plan's out-capable maps plus activations).
FUSIBLE = OUT_PRIMITIVES | {"relu", "sigmoid"}
#: Primitives that may only start a chain.
CHAIN_HEADS = frozenset({"matmul"})


class FusedElementwise:
    """The graph-only primitive of fused chains: it has no backend kernel; the executor
    expands it into its steps. Not registered (no eager bind, no gradient)."""

    name = "fused_elementwise"
    kernel = None
    vjp = None
    multiple_results = False
    differentiable = False
    effect = False

    @staticmethod
    def shape_rule(*avals: Aval, program: tuple) -> Aval:
        results = list(avals)
        for prim, refs, params in program:
            results.append(prim.shape_rule(*(results[k] for k in refs), **dict(params)))
        if len(results) == len(avals):
            raise ShapeError("fused_elementwise: a fused node needs at least one step.")
        return results[-1]

    def __repr__(self) -> str:
        return "<primitive fused_elementwise>"


fused_elementwise = FusedElementwise()


def _fusible(node: Node, heads: bool) -> bool:
    names = FUSIBLE | CHAIN_HEADS if heads else FUSIBLE
    if node.has_effect or len(node.outputs) != 1 or node.prim.name not in names:
        return False
    try:
        hash(tuple(sorted(node.params.items())))
    except TypeError:
        return False
    return True


def fuse(graph: Graph) -> Graph:
    """Group single-use elementwise chains into ``fused_elementwise`` nodes."""
    uses = graph.uses()
    outputs = set(graph.outputs)
    chains: list[list[Node]] = []
    chain_of_tail: dict[Value, list[Node]] = {}  # a chain's current result -> the chain
    for node in graph.nodes:
        chain = None
        if _fusible(node, heads=False):
            for v in node.inputs:
                candidate = chain_of_tail.get(v)
                if candidate is not None and uses.get(v) == 1 and v not in outputs:
                    chain = candidate
                    del chain_of_tail[v]
                    break
        if chain is None:
            if not _fusible(node, heads=True):
                chains.append([node])
                continue
            chain = []
            chains.append(chain)
        chain.append(node)
        chain_of_tail[node.outputs[0]] = chain

    # Each chain is emitted where its last node was.
    position = {id(chain[-1]): chain for chain in chains}
    nodes = []
    for node in graph.nodes:
        chain = position.get(id(node))
        if chain is None:
            continue
        nodes.append(chain[0] if len(chain) == 1 else _fused_node(chain))
    result = graph.copy()
    result.nodes = nodes
    return result


def _fused_node(chain: list[Node]) -> Node:
    produced = {node.outputs[0] for node in chain}
    inputs: list[Value] = []
    for node in chain:
        for v in node.inputs:
            if v not in produced and v not in inputs:
                inputs.append(v)
    # Refs: the node's inputs first, then the step results in order.
    ref = {v: k for k, v in enumerate(inputs)}
    ref.update((node.outputs[0], len(inputs) + j) for j, node in enumerate(chain))
    program = tuple(
        (node.prim, tuple(ref[v] for v in node.inputs), tuple(sorted(node.params.items())))
        for node in chain
    )
    return Node(fused_elementwise, inputs, {"program": program}, [chain[-1].outputs[0]])
