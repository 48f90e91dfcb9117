"""Constant folding: evaluate nodes whose inputs are all constants, once, at compile time.

Nodes with no inputs (creation ops) are folded only when their result is small,
so folding never trades a cheap kernel call for a large resident constant;
random primitives (``Primitive.random``) are never folded (a fresh draw per call
is their point). Kernels run on the graph's backend, given explicitly.
"""

from __future__ import annotations

import math

from nerve.backend.base import Backend
from nerve.graph.ir import Graph, Node

__all__ = [
    "MAX_FOLDED_CREATION",
    "fold_constants",
]

#: Largest result (in elements) a no-input node may be folded into.
MAX_FOLDED_CREATION = 4096


def _foldable(node: Node, constants: dict) -> bool:
    if node.has_effect or node.prim.random:
        return False
    if not all(v in constants for v in node.inputs):
        return False
    if not node.inputs:
        return all(math.prod(o.aval.shape) <= MAX_FOLDED_CREATION for o in node.outputs)
    return True


def fold_constants(graph: Graph, backend: Backend) -> Graph:
    """Evaluate, on ``backend``, every node whose inputs are all constants."""
    constants = dict(graph.constants)
    nodes = []
    for node in graph.nodes:
        name = node.prim.kernel  # None: a graph-only node (fused), with no kernel to run
        if name is None or not _foldable(node, constants):
            nodes.append(node)
            continue
        kernel = backend.kernel(name)
        out = kernel(*(constants[v] for v in node.inputs), **node.params)
        outs = out if node.prim.multiple_results else (out,)
        constants.update(zip(node.outputs, outs))
    result = graph.copy()
    result.nodes = nodes
    result.constants = constants
    return result
