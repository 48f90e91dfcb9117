"""``add_biases_in_scans``: a scanned ``P + b`` is scanned as ``P`` and the bias added
by the step's gate loop; results are bit-identical to lowering without the pass."""

import numpy as np
import pytest

from nerve import ops
from nerve.backend import get_backend
from nerve.graph.passes import LOWERING, add_biases_in_scans, optimize
from tests.graph._lstm_graph import graph_of
from tests.graph.test_scan_operands import lstm_model_step, run_step, scans

CPU = get_backend("cpu")
WITHOUT = tuple(p for p in LOWERING if p is not add_biases_in_scans)


def adds_over(graph, shape) -> int:
    return sum(1 for n in graph.nodes if n.prim.name == "add" and n.outputs[0].aval.shape == shape)


@pytest.mark.parametrize("size", [(4, 6, 8), (16, 12, 16), (64, 5, 64)])
def test_an_lstm_training_step_is_bit_identical_without_the_pass(size):
    batch, steps, units = size
    graph, arrays = lstm_model_step(batch, steps, units)
    got, want = run_step(graph, arrays, LOWERING), run_step(graph, arrays, WITHOUT)
    for a, b in zip(got, want, strict=True):
        np.testing.assert_array_equal(a, b)


def test_the_bias_is_added_in_the_loop_not_over_the_sequence():
    graph, _ = lstm_model_step(batch=4, steps=6, units=8)
    before, after = optimize(graph, CPU, WITHOUT), optimize(graph, CPU, LOWERING)
    assert adds_over(before, (24, 32)) == 1  # (batch * steps, 4 * units)
    assert adds_over(after, (24, 32)) == 0
    forward = scans(after)[False]
    assert forward.params["num_consts"] == scans(before)[False].params["num_consts"] + 4


def check_same_as_without_the_pass(graph):
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(v.aval.shape).astype(v.aval.dtype) for v in graph.inputs]
    got, want = run_step(graph, arrays, LOWERING), run_step(graph, arrays, WITHOUT)
    for a, b in zip(got, want, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("bias_first", [False, True])
@pytest.mark.parametrize("x_first", [False, True])
def test_the_order_of_both_additions_is_kept(bias_first, x_first):
    def f(p, b, h0, u):
        sequence = (b + p) if bias_first else (p + b)

        def step(h, x):
            m = h @ u
            i, g = ops.split((x + m) if x_first else (m + x), 2, axis=-1)
            return ops.sigmoid(i) * ops.tanh(g), None

        h, _ = ops.scan(step, h0, ops.reshape(sequence, (5, 3, 8)))
        return h

    graph = graph_of(f, (15, 8), (8,), (3, 4), (4, 8))
    assert adds_over(optimize(graph, CPU, LOWERING), (15, 8)) == 0
    check_same_as_without_the_pass(graph)


def test_a_sequence_read_elsewhere_keeps_its_add():
    def f(p, b, h0, u):
        sequence = p + b

        def step(h, x):
            i, g = ops.split(x + h @ u, 2, axis=-1)
            return ops.sigmoid(i) * ops.tanh(g), None

        h, _ = ops.scan(step, h0, sequence)
        return h, ops.sum(sequence)

    graph = graph_of(f, (5, 3, 8), (8,), (3, 4), (4, 8))
    assert adds_over(optimize(graph, CPU, LOWERING), (5, 3, 8)) == 1
    check_same_as_without_the_pass(graph)
