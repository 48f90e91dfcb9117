"""Stop stacking what a scan already stacks, and stop passing what its body never reads.

Two lowering passes (``passes.LOWERING``) over the graph that runs.

``read_transposed_stacks``. A training loop's forward body may return a transposed
input, ``y_t = transpose(z_t)`` (a recurrent layer saves ``h.T`` for the backward
loop's kernel gradient), and after ``sum_products_after_scans`` the only reader of the
stacked ``Y`` turns it back: ``transpose(Y, (0, 2, 1))``, the stack of ``z``. When
``z`` is a sliced input (that stack is the operand itself) or a carry of a loop that
keeps its history (the history is that stack: row ``i`` holds the carry step ``i``
reads), that transpose is replaced by the stack that already exists. The values are
the same numbers, and the stack is contiguous where the transpose was not, so the
reshape after it is a view instead of a copy (6,400 x 64 floats in an LSTM step);
the products that read them see the same layout as before, so results are
bit-identical.

``drop_unused_scan_operands``. A scan's per-step results that nothing outside reads
leave its body (with the nodes that made only them: a transpose copied into the
stack at every step), and constants and sliced inputs its body never reads leave
its operands (each sliced input costs a view per step). Carries and the history stay.
Nothing is computed differently, so results are bit-identical.

Both read a body as it will run (``optimize`` for the backend), as
``hoist_invariants`` does, and leave bodies that read variables alone.
"""

from __future__ import annotations

from nerve.backend.base import Backend
from nerve.graph.ir import Graph, Node, Value
from nerve.graph.passes.scan_sums import live_nodes
from nerve.primitives.shape import transpose_p

__all__ = [
    "drop_unused_scan_operands",
    "read_transposed_stacks",
]


def read_transposed_stacks(graph: Graph, backend: Backend | None = None) -> Graph:
    """``graph`` with ``transpose(Y, (0, 2, 1))`` of a scan's stacked ``transpose(z)``
    read as the stack of ``z`` that exists already (see the module docstring)."""
    stacks: dict[Value, Value] = {}  # a scan's stacked transpose(z_t) -> the stack of z
    renamed: dict[Value, Value] = {}  # an outer transpose's result -> that stack
    for node in graph.nodes:
        if node.prim.name == "scan":
            stacks.update(_transposed_stacks(node, backend))
        elif (
            node.prim is transpose_p
            and tuple(node.params["axes"]) == (0, 2, 1)
            and node.inputs[0] in stacks
        ):
            renamed[node.outputs[0]] = stacks[node.inputs[0]]
    if not renamed:
        return graph
    out = graph.copy()
    out.nodes = [
        Node(n.prim, [renamed.get(v, v) for v in n.inputs], n.params, n.outputs)
        for n in graph.nodes
        if not any(o in renamed for o in n.outputs)
    ]
    out.outputs = [renamed.get(v, v) for v in graph.outputs]
    return out


def _transposed_stacks(scan: Node, backend: Backend | None) -> dict[Value, Value]:
    """``{stacked y: stack of z}`` for each per-step result ``y_t = transpose(z_t)`` of
    ``scan`` whose ``z`` is a sliced input or a carry whose history the loop keeps."""
    body = _body(scan, backend)
    if body is None:
        return {}
    nc, nk = scan.params["num_carry"], scan.params["num_consts"]
    carries, xs = body.inputs[:nc], body.inputs[nc + nk :]
    num_ys = len(body.outputs) - nc
    history = scan.outputs[nc + num_ys :] if scan.params["history"] else []
    producer = {o: n for n in body.nodes for o in n.outputs}
    found: dict[Value, Value] = {}
    for k, y in enumerate(body.outputs[nc:]):
        node = producer.get(y)
        if node is None or node.prim is not transpose_p or tuple(node.params["axes"]) != (1, 0):
            continue
        z = node.inputs[0]
        if z in xs:
            stack = scan.inputs[nc + nk + xs.index(z)]
        elif z in carries and history:
            stack = history[carries.index(z)]
        else:
            continue
        stacked_y = scan.outputs[nc + k]
        length, rows, cols = stacked_y.aval.shape
        if tuple(stack.aval.shape) == (length, cols, rows) and stack.aval.dtype == y.aval.dtype:
            found[stacked_y] = stack
    return found


def drop_unused_scan_operands(graph: Graph, backend: Backend | None = None) -> Graph:
    """``graph`` without the per-step results of scans that nothing reads and the
    operands their bodies never read, and without nodes left dead (see the module
    docstring)."""
    live: set[Value] = set(graph.outputs)
    kept: list[Node] = []
    changed = False
    for node in reversed(graph.nodes):  # a later loop's operands first: they are reads
        if not (node.has_effect or any(o in live for o in node.outputs)):
            changed = True
            continue
        if node.prim.name == "scan":
            pruned = _pruned(node, live, backend)
            if pruned is not None:
                node, changed = pruned, True
        kept.append(node)
        live.update(node.inputs)
    if not changed:
        return graph
    out = graph.copy()
    out.nodes = kept[::-1]
    out.constants = {v: a for v, a in graph.constants.items() if v in live}
    return out


def _pruned(scan: Node, live: set, backend: Backend | None) -> Node | None:
    """``scan`` without the per-step results outside ``live`` and the constants and
    sliced inputs its body does not read; ``None`` when it has none to drop."""
    body = _body(scan, backend)
    if body is None:
        return None
    nc, nk = scan.params["num_carry"], scan.params["num_consts"]
    num_ys = len(body.outputs) - nc
    ys = [k for k in range(num_ys) if scan.outputs[nc + k] in live]
    outputs = [*body.outputs[:nc], *(body.outputs[nc + k] for k in ys)]
    nodes = live_nodes(body.nodes, outputs)
    read = {v for n in nodes for v in n.inputs} | set(outputs)
    operands = list(range(nc)) + [i for i in range(nc, len(body.inputs)) if body.inputs[i] in read]
    if len(ys) == num_ys and len(operands) == len(body.inputs):
        return None
    new_body = Graph(body.name)
    new_body.inputs = [body.inputs[i] for i in operands]
    new_body.outputs = outputs
    new_body.nodes = nodes
    new_body.constants = {v: a for v, a in body.constants.items() if v in read}
    program = type(scan.params["body_program"])(new_body, f"{body.name}_pruned")
    num_consts = sum(1 for i in operands if nc <= i < nc + nk)
    params = dict(scan.params, body_program=program, num_consts=num_consts)
    history = scan.outputs[nc + num_ys :]
    outputs_outside = [*scan.outputs[:nc], *(scan.outputs[nc + k] for k in ys), *history]
    return Node(scan.prim, [scan.inputs[i] for i in operands], params, outputs_outside)


def _body(scan: Node, backend: Backend | None) -> Graph | None:
    graph: Graph = scan.params["body_program"].graph
    if backend is not None:
        from nerve.graph.passes import optimize  # the package imports this module

        graph = optimize(graph, backend)
    return None if graph.variables else graph
