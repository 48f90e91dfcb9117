"""``hoist_invariants``: a scan body's nodes that read only the loop's constants run
once before the loop, with results bit-identical to running them at every step; random
and effectful nodes stay in the body."""

import numpy as np
import pytest

import nerve
from nerve import ops
from nerve.backend import get_backend
from nerve.graph.executor import CompiledGraph
from nerve.graph.passes import DEFAULT_PIPELINE, fuse, hoist_invariants, optimize
from nerve.graph.passes.schedule import schedule_collectives
from nerve.graph.trace import Trace, tracing

CPU = get_backend("cpu")
STEPS, BATCH, UNITS = 5, 3, 4


def training_graph(dtype: str, draw: bool = False):
    """Loss and gradients through an RNN-style ``ops.scan`` whose body (and whose
    gradient's body) uses its kernel transposed; with ``draw``, each step also adds a
    seeded random draw (which reads nothing that changes between steps)."""
    rng = np.random.default_rng(0)
    kernel = nerve.Variable(rng.standard_normal((UNITS, UNITS)) * 0.5, dtype=dtype)
    scale = nerve.Variable(rng.standard_normal((UNITS, UNITS)), dtype=dtype)

    def step(h, x):
        # kernel.T @ scale reads only constants: a whole matmul to hoist.
        h = ops.tanh(x + h @ ops.transpose(kernel) + h @ (ops.transpose(kernel) @ scale))
        if draw:
            h = h + nerve.random.uniform((BATCH, UNITS), seed=3, dtype=dtype)
        return h, h

    t = Trace("train")
    with tracing(t):
        xs = t.new_input((STEPS, BATCH, UNITS), dtype)
        h0 = t.new_input((BATCH, UNITS), dtype)
        with nerve.GradientTape() as tape:
            tape.watch([xs, h0])
            h, ys = ops.scan(step, h0, xs)
            loss = ops.sum(h * h) + ops.sum(ys**3)
        outputs = (loss, *tape.gradient(loss, [xs, h0, kernel, scale]))
        t.graph.outputs = [t.value_of(o) for o in outputs]
    arrays = [
        rng.standard_normal((STEPS, BATCH, UNITS)).astype(dtype),
        rng.standard_normal((BATCH, UNITS)).astype(dtype),
    ]
    return optimize(t.graph, CPU, DEFAULT_PIPELINE), arrays


def run(graph, arrays, hoist: bool) -> list:
    lowering = (hoist_invariants, fuse, schedule_collectives) if hoist else (fuse,)
    lowered = optimize(graph, CPU, lowering)
    return [np.asarray(a) for a in CompiledGraph(lowered, CPU, lower=False).run(list(arrays))]


def bodies(graph) -> list:
    return [n.params["body_program"].graph for n in graph.nodes if n.prim.name == "scan"]


def body_counts(graph, name: str) -> list[int]:
    return [body.primitive_counts().get(name, 0) for body in bodies(graph)]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_invariant_nodes_leave_every_loop_with_bit_identical_results(dtype):
    graph, arrays = training_graph(dtype)
    hoisted = hoist_invariants(graph, CPU)
    # Every loop (forward and backward) transposes the kernel and multiplies constants.
    for name in ("transpose", "matmul"):
        for before, after in zip(body_counts(graph, name), body_counts(hoisted, name)):
            assert after < before, name
    assert len(hoisted.nodes) > len(graph.nodes)
    for got, want in zip(run(graph, arrays, hoist=True), run(graph, arrays, hoist=False)):
        np.testing.assert_array_equal(got, want)


def test_random_draws_stay_in_the_body():
    graph, arrays = training_graph("float64", draw=True)
    hoisted = hoist_invariants(graph, CPU)
    random = [n for body in bodies(graph) for n in body.nodes if n.prim.random]
    assert random, "the test needs a random node in a loop body"
    assert [sum(n.prim.random for n in body.nodes) for body in bodies(hoisted)] == [
        sum(n.prim.random for n in body.nodes) for body in bodies(graph)
    ]
    for got, want in zip(run(graph, arrays, hoist=True), run(graph, arrays, hoist=False)):
        np.testing.assert_array_equal(got, want)


class _Marked:
    """A primitive seen as random or effectful, otherwise the one it wraps."""

    def __init__(self, prim, **facts):
        self._prim, self._facts = prim, facts

    def __getattr__(self, name):
        return self._facts.get(name, getattr(self._prim, name))


@pytest.mark.parametrize("fact", ["random", "effect"])
def test_random_or_effectful_nodes_are_never_hoisted(fact):
    graph, _ = training_graph("float64")
    for body in bodies(graph):
        for node in body.nodes:
            if node.prim.name == "transpose":
                node.prim = _Marked(node.prim, **{fact: True})
    hoisted = hoist_invariants(graph, CPU)
    assert body_counts(hoisted, "transpose") == body_counts(graph, "transpose")
    outside = [n.prim.name for n in hoisted.nodes if n not in graph.nodes]
    assert "transpose" not in outside


def test_a_graph_without_scans_is_returned_unchanged():
    t = Trace("plain")
    with tracing(t):
        x = t.new_input((3,), "float32")
        t.graph.outputs = [t.value_of(ops.exp(x))]
    assert hoist_invariants(t.graph, CPU) is t.graph
