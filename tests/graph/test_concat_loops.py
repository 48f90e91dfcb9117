"""``write_concatenations_in_loops``: a concatenation of fused loops' results along the
last axis becomes one result of one loop, written block by block, with results
bit-identical to the unoptimized graph; concatenations it cannot take stay."""

import numpy as np
import pytest

from nerve import ops
from nerve.backend import get_backend
from nerve.graph.executor import CompiledGraph
from nerve.graph.passes import LOWERING, optimize, write_concatenations_in_loops
from nerve.graph.passes.fuse import fused_elementwise
from tests.graph._lstm_graph import graph_of, lstm_training_graph

CPU = get_backend("cpu")
ROWS, COLS = 8, 16


WITHOUT = tuple(p for p in LOWERING if p is not write_concatenations_in_loops)


def lowered(graph, passes=LOWERING):
    return optimize(graph, CPU, passes)


def run(graph, arrays, passes=LOWERING) -> list:
    compiled = CompiledGraph(lowered(graph, passes), CPU, lower=False)
    return [np.asarray(a) for a in compiled.run(list(arrays))]


def arrays_for(graph) -> list:
    rng = np.random.default_rng(0)
    return [rng.standard_normal(v.aval.shape).astype(v.aval.dtype) for v in graph.inputs]


def counts(graph) -> dict:
    return graph.primitive_counts()


def blocked_results(graph) -> list:
    return [
        r
        for n in graph.nodes
        if n.prim is fused_elementwise
        for r in n.params["results"]
        if isinstance(r, tuple)
    ]


def check_same_as_without_the_pass(graph):
    arrays = arrays_for(graph)
    for got, want in zip(run(graph, arrays), run(graph, arrays, WITHOUT), strict=True):
        np.testing.assert_array_equal(got, want)


def part_feeds_a_part(a, b):
    t = ops.tanh(a + b)
    return ops.concatenate([t, ops.exp(t) * b], axis=-1)


def part_also_returned(a, b):
    t = ops.tanh(a * b)
    return ops.concatenate([t, ops.exp(a) * b], axis=-1), t


def parts_joined_twice(a, b):
    # (A GRU's backward step joins two of its gate gradients with a third, twice.)
    t, u = ops.tanh(a * b), ops.exp(a) - b
    first = ops.concatenate([t, u, a * 2.0], axis=-1)
    return first, ops.concatenate([t, u, ops.sigmoid(b) * 2.0], axis=-1)


def repeated_part(a, b):
    t = ops.tanh(a) * b
    return ops.concatenate([t, t], axis=-1)


# Each function's concatenations are taken: two or three parts, from one loop or from
# loops that merge (parts from separate chains, one a single step), one part also
# computed from another, a part also returned (written twice), parts joined twice.
TAKEN = {
    "one_loop": lambda a, b: ops.concatenate([ops.tanh(a * b), ops.exp(a) + b], axis=-1),
    "three_loops": lambda a, b: ops.concatenate(
        [ops.tanh(a) * 2.0, ops.sigmoid(b) - 1.0, a * b], axis=1
    ),
    "part_feeds_a_part": part_feeds_a_part,
    "part_also_returned": part_also_returned,
    "parts_joined_twice": parts_joined_twice,
}


@pytest.mark.parametrize("name", sorted(TAKEN))
def test_concatenations_of_loop_results_are_written_by_one_loop(name):
    graph = graph_of(TAKEN[name], (ROWS, COLS), (ROWS, COLS))
    joined = counts(graph)["concatenate"]
    result = lowered(graph)
    assert "concatenate" not in counts(result)
    assert counts(result)["fused_elementwise"] == 1
    assert len(blocked_results(result)) == joined
    check_same_as_without_the_pass(graph)


# Concatenations the pass leaves: another axis, a part no loop computes, parts of
# different widths, a single part repeated, a part that is one transcendental step.
LEFT = {
    "first_axis": lambda a, b: ops.concatenate([ops.tanh(a), ops.exp(b)], axis=0),
    "part_from_a_product": lambda a, b: ops.concatenate(
        [ops.tanh(a), ops.matmul(a, ops.transpose(b))[:, :COLS]], axis=-1
    ),
    "different_widths": lambda a, b: ops.concatenate(
        [ops.tanh(a), ops.exp(b)[:, : COLS // 2] * 2.0], axis=-1
    ),
    "repeated_part": repeated_part,
    # A single transcendental would round as the loop's, not as NumPy's kernel.
    "single_transcendental_part": lambda a, b: ops.concatenate(
        [ops.tanh(a) * b, ops.exp(a)], axis=-1
    ),
}


@pytest.mark.parametrize("name", sorted(LEFT))
def test_concatenations_the_loops_cannot_write_stay(name):
    graph = graph_of(LEFT[name], (ROWS, COLS), (ROWS, COLS))
    result = lowered(graph)
    assert counts(result).get("concatenate") == 1
    assert not blocked_results(result)
    check_same_as_without_the_pass(graph)


def test_loops_whose_results_are_read_in_between_do_not_merge():
    # The first loop's other result feeds a product the second loop reads: the first
    # loop cannot move to the second's place, so the concatenation stays.
    def f(a, b):
        first = ops.tanh(a)
        shared = first * b  # the same loop as first
        second = ops.sigmoid(ops.matmul(shared, b)) + b
        return ops.concatenate([first, second], axis=-1)

    graph = graph_of(f, (COLS, COLS), (COLS, COLS))
    result = lowered(graph)
    assert counts(result).get("concatenate") == 1
    check_same_as_without_the_pass(graph)


def test_an_lstm_backward_step_writes_its_gate_gradients_into_one_matrix():
    graph, _, body = lstm_training_graph(ROWS, COLS)
    assert counts(body).get("concatenate") == 1  # the gate gradients, joined
    result = lowered(optimize(body, CPU))
    assert "concatenate" not in counts(result)
    assert [len(r) for r in blocked_results(result)] == [4]
    check_same_as_without_the_pass(graph)


def test_declined_loops_run_their_blocks_as_a_concatenation(monkeypatch):
    graph = graph_of(TAKEN["three_loops"], (ROWS, COLS), (ROWS, COLS))
    arrays = arrays_for(graph)
    monkeypatch.setattr(CPU, "compile_elementwise", lambda programs: [None] * len(programs))
    want = run(graph, arrays, WITHOUT)  # NumPy's kernels, step by step
    compiled = CompiledGraph(lowered(graph), CPU, lower=False)
    assert counts(compiled.graph).get("concatenate") == 1  # the fused node, expanded
    for got, expected in zip(compiled.run(list(arrays)), want, strict=True):
        np.testing.assert_array_equal(np.asarray(got), expected)


def test_the_pass_changes_nothing_without_a_concatenation_to_take():
    graph = lowered(graph_of(LEFT["first_axis"], (ROWS, COLS), (ROWS, COLS)), WITHOUT)
    assert write_concatenations_in_loops(graph, CPU) is graph
