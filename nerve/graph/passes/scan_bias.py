"""Add a recurrent layer's input bias inside its loop instead of over the whole sequence.

An RNN projects its whole input sequence at once, ``P = x @ W``, adds the bias, and
scans over the rows of ``P + b``; each step adds the recurrent product to its row and
splits the sum into gates:

    S = add(P, b); xs = reshape(S)
    scan[body: split(add(x_t, h @ U)) -> gates ...] ... xs

The bias add is a pass of its own over the sequence (6,400 x 256 floats read and
written in an LSTM step, ~0.5 ms), while each step's gate loop reads the row anyway.
This lowering pass (``passes.LOWERING``) scans over ``P`` and gives the loop the
bias, cut into the gates' column blocks outside the loop (once per run), so each gate
part is ``add(add(p_k, b_k), m_k)``: the same two additions of the same numbers in the
same order, now in the fused gate loop, so results are bit-identical.

It applies when ``S`` and its reshape are read by nothing but the loop, the bias is
1-d over the last axis, and the step's slice is read only by one ``add`` whose sum
only a column split reads (the gates; ``split_before_elementwise`` would otherwise
move that add past the split, and ``read_splits_in_loops`` reads the parts in place).
"""

from __future__ import annotations

from collections import Counter

from nerve.backend.base import Backend
from nerve.graph.ir import Graph, Node, Value
from nerve.graph.passes.dce import dce
from nerve.graph.passes.rewrite import each_rewritten
from nerve.primitives.elementwise import add_p
from nerve.primitives.registry import Aval
from nerve.primitives.shape import reshape_p, split_p

__all__ = [
    "add_biases_in_scans",
]


def add_biases_in_scans(graph: Graph, backend: Backend | None = None) -> Graph:
    """``graph`` with each scanned ``P + b`` scanned as ``P``, the bias added in the
    loop (see the module docstring)."""
    producer, uses = graph.producers(), Counter(graph.uses())
    out = each_rewritten(
        graph,
        lambda node: _fold(node, producer, uses, backend) if node.prim.name == "scan" else None,
    )
    return graph if out is graph else dce(out)


def _biased_operand(scan: Node, q: int, producer: dict, uses: Counter):
    """``(P, b, bias first, reshape node or None)`` when sliced input ``q`` of ``scan``
    is ``P + b`` (perhaps reshaped) read by nothing else, else ``None``."""
    nc, nk = scan.params["num_carry"], scan.params["num_consts"]
    xs = scan.inputs[nc + nk + q]
    if uses[xs] != 1:
        return None
    shaped = producer.get(xs)
    if shaped is not None and shaped.prim is reshape_p:
        summed = shaped.inputs[0]
        if uses[summed] != 1:
            return None
    else:
        summed, shaped = xs, None
    add = producer.get(summed)
    if add is None or add.prim is not add_p:
        return None
    width = xs.aval.shape[-1]
    for k in (0, 1):
        full, bias = add.inputs[k], add.inputs[1 - k]
        if (
            tuple(bias.aval.shape) == (width,)
            and tuple(full.aval.shape) == tuple(summed.aval.shape)
            and full.aval.shape[-1] == width
            and bias.aval.dtype == full.aval.dtype == summed.aval.dtype
        ):
            return full, bias, k == 1, shaped
    return None


def _gate_split(body: Graph, x: Value):
    """``(add node, the other addend, x first, split node)`` when ``x`` is read only by
    an ``add`` whose sum only a column split of a matrix reads, else ``None``."""
    readers = [n for n in body.nodes if x in n.inputs]
    if len(readers) != 1 or x in body.outputs:
        return None
    add = readers[0]
    if add.prim is not add_p or add.inputs.count(x) != 1:
        return None
    other = add.inputs[1] if add.inputs[0] is x else add.inputs[0]
    total = add.outputs[0]
    if tuple(other.aval.shape) != tuple(x.aval.shape) or total in body.outputs:
        return None
    splits = [n for n in body.nodes if total in n.inputs]
    if len(splits) != 1 or splits[0].prim is not split_p or len(x.aval.shape) != 2:
        return None
    split = splits[0]
    if split.params["axis"] != 1:
        return None
    return add, other, add.inputs[0] is x, split


def _fold(scan: Node, producer: dict, uses: Counter, backend: Backend | None):
    body: Graph = scan.params["body_program"].graph
    if backend is not None:
        from nerve.graph.passes import optimize  # the package imports this module

        body = optimize(body, backend)
    if body.variables:
        return None
    nc, nk = scan.params["num_carry"], scan.params["num_consts"]
    for q, x in enumerate(body.inputs[nc + nk :]):
        biased = _biased_operand(scan, q, producer, uses)
        gates = _gate_split(body, x) if biased is not None else None
        if biased is None or gates is None:
            continue
        full, bias, bias_first, shaped = biased
        add, other, x_first, split = gates
        bounds = split.params["bounds"]
        # Outside: the bias cut into the gates' blocks, and the sequence without it.
        parts = [Value(Aval((b - a,), bias.aval.dtype)) for a, b in zip(bounds, bounds[1:])]
        before = [Node(split_p, [bias], {"axis": 0, "bounds": bounds}, parts)]
        xs = full
        if shaped is not None:
            xs = Value(shaped.outputs[0].aval)
            before.append(Node(reshape_p, [full], shaped.params, [xs]))
        # Inside: each gate part is (p_k + b_k) + m_k, in the order of the original adds.
        raw = Value(x.aval)
        bias_in = [Value(p.aval) for p in parts]
        x_parts = [Value(o.aval) for o in split.outputs]
        m_parts = [Value(o.aval) for o in split.outputs]
        folded = [
            Node(split_p, [raw], split.params, x_parts),
            Node(split_p, [other], split.params, m_parts),
        ]
        for p, b, m, out in zip(x_parts, bias_in, m_parts, split.outputs):
            row = Value(p.aval)
            folded.append(Node(add_p, [b, p] if bias_first else [p, b], {}, [row]))
            folded.append(Node(add_p, [row, m] if x_first else [m, row], {}, [out]))
        new_body = Graph(body.name)
        new_body.inputs = [
            *body.inputs[: nc + nk],
            *bias_in,
            *(raw if v is x else v for v in body.inputs[nc + nk :]),
        ]
        new_body.nodes = []
        for node in body.nodes:
            if node is split:
                new_body.nodes.extend(folded)
            elif node is not add:
                new_body.nodes.append(node)
        new_body.outputs = list(body.outputs)
        new_body.constants = dict(body.constants)
        program = type(scan.params["body_program"])(new_body, f"{body.name}_biased")
        params = dict(scan.params, body_program=program, num_consts=nk + len(parts))
        operands = list(scan.inputs)
        operands[nc + nk + q] = xs
        operands[nc + nk : nc + nk] = parts
        return before, Node(scan.prim, operands, params, scan.outputs)
    return None
