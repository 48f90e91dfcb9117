"""``share_scans``: a scan's gradient binds a copy of the forward loop that also saves
residuals; the pass runs that copy in place of the original, so a training step runs
one forward loop, with results bit-identical to the unoptimized graph."""

import numpy as np
import pytest

import nerve
from nerve import ops
from nerve.backend import get_backend
from nerve.graph.executor import CompiledGraph
from nerve.graph.passes import DEFAULT_PIPELINE, optimize, share_scans
from nerve.graph.trace import Trace, tracing

CPU = get_backend("cpu")
STEPS, BATCH, UNITS = 6, 3, 4


def lstm_training_graph(dtype: str, return_sequences: bool):
    """The graph of a loss and its gradients through an LSTM-style ``ops.scan``."""
    rng = np.random.default_rng(0)
    kernel = nerve.Variable(rng.standard_normal((UNITS, 4 * UNITS)) * 0.5, dtype=dtype)

    def step(carry, x):
        h, c = carry
        i, f, g, o = ops.split(x + h @ kernel, 4, axis=-1)
        c = ops.sigmoid(f) * c + ops.sigmoid(i) * ops.tanh(g)
        h = ops.sigmoid(o) * ops.tanh(c)
        return (h, c), (h if return_sequences else None)

    def loss_and_grads(xs, h0):
        with nerve.GradientTape() as tape:
            tape.watch([xs, h0])
            (h, c), ys = ops.scan(step, (h0, h0 * 0.5), xs)
            loss = ops.sum(h * h) + ops.sum(c) + (ops.sum(ys**3) if return_sequences else 0.0)
        return (loss, *tape.gradient(loss, [xs, h0, kernel]))

    t = Trace("train")
    with tracing(t):
        xs = t.new_input((STEPS, BATCH, 4 * UNITS), dtype)
        h0 = t.new_input((BATCH, UNITS), dtype)
        t.graph.outputs = [t.value_of(o) for o in loss_and_grads(xs, h0)]
    arrays = [
        rng.standard_normal((STEPS, BATCH, 4 * UNITS)).astype(dtype),
        rng.standard_normal((BATCH, UNITS)).astype(dtype),
    ]
    return t.graph, arrays


def run(graph, arrays) -> list:
    return [np.asarray(a) for a in CompiledGraph(graph, CPU).run(list(arrays))]


def scans(graph) -> int:
    return graph.primitive_counts().get("scan", 0)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_one_forward_loop_with_bit_identical_results(dtype, return_sequences):
    graph, arrays = lstm_training_graph(dtype, return_sequences)
    # Traced: the forward loop, its residual-saving copy, the backward loop.
    assert scans(graph) == 3
    without = optimize(graph, CPU, [p for p in DEFAULT_PIPELINE if p is not share_scans])
    with_pass = optimize(graph, CPU)
    assert scans(without) == 3
    assert scans(with_pass) == 2
    expected = run(graph, arrays)
    for got in (run(without, arrays), run(with_pass, arrays)):
        for a, b in zip(expected, got, strict=True):
            np.testing.assert_array_equal(a, b)


def test_pass_does_not_mutate_its_input():
    graph, _ = lstm_training_graph("float64", False)
    before = (graph.to_text(), [id(n) for n in graph.nodes], list(graph.outputs))
    share_scans(optimize(graph, CPU, DEFAULT_PIPELINE[:5]), CPU)
    share_scans(graph, CPU)
    assert (graph.to_text(), [id(n) for n in graph.nodes], list(graph.outputs)) == before


def test_graph_without_gradients_is_left_alone():
    t = Trace("forward")
    with tracing(t):
        xs = t.new_input((STEPS, 2), "float64")
        carry, ys = ops.scan(lambda c, x: (c + x, c * x), xs[0], xs)
        t.graph.outputs = [t.value_of(carry), t.value_of(ys)]
    assert share_scans(t.graph, CPU) is t.graph
