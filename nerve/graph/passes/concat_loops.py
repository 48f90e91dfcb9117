"""Concatenations written by the loops that compute their parts.

An LSTM's backward step computes its four gate gradients in fused loops, then joins
them into one (batch, 4 x units) matrix for the product with the recurrent kernel:
``concatenate`` reads and writes that matrix once more, and in a scan the joined
matrix, a stacked output, is copied once again into its row of the stack. This
lowering pass (after ``fuse``) hands the concatenation to the loops instead: a
``concatenate`` along the last axis whose parts are all results of fused nodes (or
of single arithmetic nodes the backend has loops for), of one shape, becomes one
result of one fused node (parts that something else reads stay results of their
own too; a GRU's backward step joins the same gate gradients twice), which
the loop writes block by block in place (a ``results`` entry that is a tuple of
refs, see ``passes/fuse.py``); a scan's body then writes it straight into the
stacked row. Parts computed by several fused nodes merge those nodes into one
loop, their steps in program order, at the position of the last of them, when no
other node reads their results before that point.

The loop computes the same steps on the same values, so results are bit-identical.
"""

from __future__ import annotations

from nerve.backend.base import Backend
from nerve.graph.ir import Graph, Node, Value
from nerve.graph.passes.fuse import fused_elementwise, fusible, one_step_loop
from nerve.primitives.shape import concatenate_p

__all__ = [
    "write_concatenations_in_loops",
]


def write_concatenations_in_loops(graph: Graph, backend: Backend) -> Graph:
    """Each ``concatenate`` along the last axis of fused loops' results becomes a
    result of one loop written in blocks (see the module doc). A part
    computed by a single arithmetic node (``fuse`` leaves those alone) counts as a
    loop of one step."""
    while True:
        found = _next_rewrite(graph, backend)
        if found is None:
            return graph
        graph = _rewrite(graph, *found)


def _next_rewrite(graph: Graph, backend: Backend) -> tuple[int, list[int]] | None:
    """The index of the first concatenation the pass can give to loops, and the indices
    of the nodes (fused, or single fusible ones) that compute its parts, in program
    order; or ``None``."""
    producer: dict[Value, int] = {}  # value -> index of the loop computing it
    readers: dict[Value, list[int]] = {}
    for i, node in enumerate(graph.nodes):
        for v in node.inputs:
            readers.setdefault(v, []).append(i)
        if node.prim is fused_elementwise:
            if node.params.get("blocks"):  # loops reading column blocks do not merge
                continue
            for out, result in zip(node.outputs, node.params["results"]):
                if not isinstance(result, tuple):  # a single ref: the loop's shape
                    producer[out] = i
        elif fusible(node, backend) and node.prim.cost != "transcendental":
            # (A loop's transcendentals round differently from NumPy's kernels: only
            # exactly rounded steps join, so results stay bit-identical.)
            producer[node.outputs[0]] = i
    for i, node in enumerate(graph.nodes):
        if node.prim is not concatenate_p or not _joins_parts(node):
            continue
        parts = node.inputs
        # (A part read elsewhere too is also written on its own: the loop stores it
        # twice, which still saves the concatenation's pass over it.)
        if any(p not in producer for p in parts):
            continue
        fused = sorted({producer[p] for p in parts})
        last = fused[-1]
        # Results of the earlier loops move to the position of the last one: nothing
        # but the merged loops may read them before it.
        early_readers = (
            r
            for k in fused[:-1]
            for out in graph.nodes[k].outputs
            for r in readers.get(out, ())
            if r not in fused
        )
        if all(r > last for r in early_readers):
            return i, fused
    return None


def _joins_parts(node: Node) -> bool:
    """A concatenation of two or more distinct parts of one shape along the last axis."""
    parts = node.inputs
    shape = parts[0].aval.shape
    return (
        len(parts) > 1
        and len(set(parts)) == len(parts)
        and len(shape) > 0
        and node.params["axis"] == len(shape) - 1
        and all(p.aval.shape == shape for p in parts)
    )


def _rewrite(graph: Graph, at: int, fused: list[int]) -> Graph:
    concat = graph.nodes[at]
    loops = [graph.nodes[k] for k in fused]
    loops = [n if n.prim is fused_elementwise else one_step_loop(n) for n in loops]
    merged = _merged_loop(loops, concat, graph, at, {id(graph.nodes[k]) for k in fused})
    result = graph.copy()
    result.nodes = [
        merged if k == fused[-1] else node
        for k, node in enumerate(graph.nodes)
        if k != at and (k not in fused or k == fused[-1])
    ]
    return result


def _merged_loop(loops: list[Node], concat: Node, graph: Graph, at: int, merged: set) -> Node:
    """One fused node running the steps of ``loops`` in order, with their results that
    are still read elsewhere, and the concatenation as one result written in blocks
    (``merged``: the ids of the graph's nodes the loops stand for)."""
    # Values a loop computes, as (loop, its own ref): another loop's input they feed
    # becomes a step ref of the merged program.
    computed = {
        out: (n, r)
        for n, loop in enumerate(loops)
        for out, r in zip(loop.outputs, loop.params["results"])
        if not isinstance(r, tuple)
    }
    inputs: list[Value] = []
    for loop in loops:
        inputs.extend(v for v in loop.inputs if v not in computed and v not in inputs)
    program: list[tuple] = []
    refs: list[dict[int, int]] = []  # per loop: its ref -> the merged program's ref
    for loop in loops:
        own: dict[int, int] = {}
        for k, v in enumerate(loop.inputs):
            source = computed.get(v)
            own[k] = inputs.index(v) if source is None else refs[source[0]][source[1]]
        for j, (prim, step_refs, params) in enumerate(loop.params["program"]):
            own[len(loop.inputs) + j] = len(inputs) + len(program)
            program.append((prim, tuple(own[r] for r in step_refs), params))
        refs.append(own)

    read_elsewhere = set(graph.outputs)
    for k, node in enumerate(graph.nodes):
        if k != at and id(node) not in merged:
            read_elsewhere.update(node.inputs)
    results: list = []
    outputs: list[Value] = []
    for n, loop in enumerate(loops):
        for out, r in zip(loop.outputs, loop.params["results"]):
            if out in read_elsewhere:
                results.append(tuple(refs[n][b] for b in r) if isinstance(r, tuple) else refs[n][r])
                outputs.append(out)
    results.append(tuple(refs[computed[p][0]][computed[p][1]] for p in concat.inputs))
    outputs.append(concat.outputs[0])
    params = {"program": tuple(program), "results": tuple(results)}
    return Node(fused_elementwise, inputs, params, outputs)
