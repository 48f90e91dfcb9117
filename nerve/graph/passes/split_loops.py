"""Splits read in place by the loops that consume their parts.

An LSTM step adds its input projection to the recurrent product, splits the sum
into four gates and runs the gate arithmetic as one fused loop over the gates: the
add reads and writes the whole (batch, 4 x units) sum once more, and each node costs
a kernel call per time step. Two lowering passes give that work to the loop:

* ``split_before_elementwise`` (before ``fuse``): ``split(op(a, b))`` along the last
  axis of a matrix, where ``op`` is elementwise, its result is read by nothing but the
  split, and every part is read only by elementwise nodes (which will fuse), becomes
  ``op(a_k, b_k)`` on the parts of ``split(a)`` and ``split(b)``: the add joins the
  gate loop;
* ``read_splits_in_loops`` (after ``fuse``): a fused node's input that is a part of a
  ``split`` of a matrix along its last axis becomes the split's input with the
  part's columns as a ``blocks`` entry (see ``passes/fuse.py``), which the loop reads
  in place; a split none of whose parts is read any more goes.

Each part is computed by the same kernel on the same elements, so results are
bit-identical.
"""

from __future__ import annotations

from nerve.backend.base import Backend
from nerve.graph.ir import Graph, Node, Value
from nerve.graph.passes.fuse import fused_elementwise, fusible
from nerve.primitives.registry import Aval
from nerve.primitives.shape import split_p

__all__ = [
    "read_splits_in_loops",
    "split_before_elementwise",
]


def _splits_columns(node: Node) -> bool:
    """A split of a matrix along its last axis."""
    return node.prim is split_p and len(node.inputs[0].aval.shape) == 2 and node.params["axis"] == 1


def _readers(graph: Graph) -> dict[Value, list[Node]]:
    readers: dict[Value, list[Node]] = {}
    for node in graph.nodes:
        for v in node.inputs:
            readers.setdefault(v, []).append(node)
    return readers


def split_before_elementwise(graph: Graph, backend: Backend) -> Graph:
    """``split(op(a, b))`` -> ``op`` of the parts (see the module doc)."""
    readers = _readers(graph)
    escaping = set(graph.outputs)
    producer = {out: node for node in graph.nodes for out in node.outputs}
    moved: dict[int, list[Node]] = {}  # id(split) -> the nodes that replace it
    dropped: set[int] = set()
    for node in graph.nodes:
        if not _splits_columns(node):
            continue
        whole = node.inputs[0]
        op = producer.get(whole)
        if (
            op is None
            or not fusible(op, backend)
            or len(readers.get(whole, ())) != 1
            or whole in escaping
            or any(v in escaping for v in node.outputs)
            or not all(fusible(r, backend) for part in node.outputs for r in readers.get(part, ()))
            or any(v.aval.shape not in ((), whole.aval.shape) for v in op.inputs)
        ):
            continue
        replacement: list[Node] = []
        operands = []  # per input of op: its parts, or the 0-d value itself
        for v in op.inputs:
            if not v.aval.shape:
                operands.append([v] * len(node.outputs))
                continue
            parts = [Value(Aval(out.aval.shape, v.aval.dtype)) for out in node.outputs]
            replacement.append(Node(split_p, [v], dict(node.params), parts))
            operands.append(parts)
        for k, out in enumerate(node.outputs):
            replacement.append(Node(op.prim, [parts[k] for parts in operands], op.params, [out]))
        moved[id(node)] = replacement
        dropped.add(id(op))
    if not moved:
        return graph
    result = graph.copy()
    result.nodes = []
    for node in graph.nodes:
        if id(node) in dropped:
            continue
        result.nodes.extend(moved.get(id(node), [node]))
    return result


def read_splits_in_loops(graph: Graph, backend: Backend) -> Graph:
    """Fused nodes read parts of column splits in place (see the module doc)."""
    part_of: dict[Value, tuple[Value, tuple[int, int]]] = {}
    for node in graph.nodes:
        if _splits_columns(node):
            bounds = node.params["bounds"]
            for k, out in enumerate(node.outputs):
                part_of[out] = (node.inputs[0], (bounds[k], bounds[k + 1]))
    if not part_of:
        return graph
    nodes: list[Node] = []
    changed = False
    for node in graph.nodes:
        if (
            node.prim is fused_elementwise
            and len(node.outputs[0].aval.shape) == 2
            and not any(isinstance(r, tuple) for r in node.params["results"])
            and any(
                v in part_of and v.aval.shape == node.outputs[0].aval.shape for v in node.inputs
            )
        ):
            inputs, blocks = [], []
            shape = node.outputs[0].aval.shape
            given = node.params.get("blocks") or (None,) * len(node.inputs)
            for v, block in zip(node.inputs, given):
                if block is None and v in part_of and v.aval.shape == shape:
                    v, block = part_of[v]
                inputs.append(v)
                blocks.append(block)
            node = Node(node.prim, inputs, {**node.params, "blocks": tuple(blocks)}, node.outputs)
            changed = True
        nodes.append(node)
    if not changed:
        return graph
    # Splits whose parts nothing reads any more go.
    read = set(graph.outputs) | {v for n in nodes for v in n.inputs}
    result = graph.copy()
    result.nodes = [
        n for n in nodes if not (_splits_columns(n) and not any(v in read for v in n.outputs))
    ]
    return result
