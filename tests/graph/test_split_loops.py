"""``split_before_elementwise`` and ``read_splits_in_loops``: an elementwise op before a
column split moves past it into the loops that read the parts, and those loops read
the parts in place; results are bit-identical to lowering without the two passes."""

import numpy as np
import pytest

from nerve import ops
from nerve.backend import get_backend
from nerve.graph.executor import CompiledGraph
from nerve.graph.passes import (
    LOWERING,
    optimize,
    read_splits_in_loops,
    split_before_elementwise,
)
from nerve.graph.passes.fuse import fused_elementwise
from tests.graph._lstm_graph import graph_of, lstm_training_graph

CPU = get_backend("cpu")
ROWS, COLS = 8, 16
WITHOUT = tuple(p for p in LOWERING if p not in (split_before_elementwise, read_splits_in_loops))


def run(graph, arrays, passes=LOWERING) -> list:
    compiled = CompiledGraph(optimize(graph, CPU, passes), CPU, lower=False)
    return [np.asarray(a) for a in compiled.run(list(arrays))]


def check_same_as_without_the_passes(graph):
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(v.aval.shape).astype(v.aval.dtype) for v in graph.inputs]
    for got, want in zip(run(graph, arrays), run(graph, arrays, WITHOUT), strict=True):
        np.testing.assert_array_equal(got, want)


def blocks(graph) -> list:
    return [n.params["blocks"] for n in graph.nodes if n.params.get("blocks")]


def gates(a, b):
    i, f, g = ops.split(a + b, 3, axis=-1)
    return ops.sigmoid(i) * ops.tanh(g) + f


def gates_of_a_product(a, b):
    i, f = ops.split(ops.matmul(a, b), 2, axis=-1)
    return ops.sigmoid(i) * f


def split_read_by_a_product(a, b):
    i, f = ops.split(a * b, 2, axis=-1)
    return ops.matmul(ops.tanh(i), ops.transpose(f))


def sum_read_twice(a, b):
    s = a + b
    i, f = ops.split(s, 2, axis=-1)
    return ops.tanh(i) * f, ops.sum(s)


def biased(a, bias):
    i, f = ops.split(a + bias, 2, axis=-1)
    return ops.tanh(i) * f


def part_also_returned(a, b):
    i, f = ops.split(a * b, 2, axis=-1)
    return ops.tanh(i) * f, i


# name -> (function, shapes, sum moved into the loop, blocks read in place)
CASES = {
    "gates": (gates, [(ROWS, 3 * COLS)] * 2, True, True),
    "gates_of_a_product": (gates_of_a_product, [(ROWS, COLS), (COLS, 2 * COLS)], False, True),
    "split_read_by_a_product": (split_read_by_a_product, [(ROWS, 2 * COLS)] * 2, False, False),
    "sum_read_twice": (sum_read_twice, [(ROWS, 2 * COLS)] * 2, False, True),
    "biased": (biased, [(ROWS, 2 * COLS), (2 * COLS,)], False, True),
    "part_also_returned": (part_also_returned, [(ROWS, 2 * COLS)] * 2, False, True),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_loops_read_split_parts_in_place(name):
    f, shapes, moved, read = CASES[name]
    graph = graph_of(f, *shapes)
    before = graph.primitive_counts()
    after = optimize(graph, CPU, LOWERING)
    counts = after.primitive_counts()
    assert bool(blocks(after)) == read
    if moved:  # the sum joined the loop, which reads both operands' columns
        assert "split" not in counts and "add" not in counts
        assert counts["fused_elementwise"] == 1
    elif read and name != "part_also_returned":
        assert counts.get("split", 0) < before["split"]  # nothing else read its parts
    check_same_as_without_the_passes(graph)


def test_an_lstm_step_is_a_product_and_one_loop():
    graph, forward, _ = lstm_training_graph(ROWS, COLS, sequence=True)
    body = optimize(optimize(forward, CPU), CPU, LOWERING)
    assert body.primitive_counts() == {"matmul": 1, "fused_elementwise": 1}
    (loop,) = [n for n in body.nodes if n.prim is fused_elementwise]
    assert sorted(b for b in loop.params["blocks"] if b is not None) == sorted(
        [(k * COLS, (k + 1) * COLS) for k in range(4)] * 2
    )  # four gates of the projection and four of the product
    check_same_as_without_the_passes(graph)


def test_declined_loops_slice_their_blocks(monkeypatch):
    graph = graph_of(gates, (ROWS, 3 * COLS), (ROWS, 3 * COLS))
    monkeypatch.setattr(CPU, "compile_elementwise", lambda programs: [None] * len(programs))
    check_same_as_without_the_passes(graph)
    compiled = CompiledGraph(optimize(graph, CPU, LOWERING), CPU, lower=False)
    assert compiled.graph.primitive_counts()["getitem"] == 6  # three blocks of each


def test_the_passes_change_nothing_without_splits():
    graph = optimize(graph_of(lambda a: ops.tanh(a) * 2.0, (ROWS, COLS)), CPU, WITHOUT)
    assert split_before_elementwise(graph, CPU) is graph
    assert read_splits_in_loops(graph, CPU) is graph
