"""``sum_products_after_scans``: a carry that only sums per-step matrix products
(a recurrent kernel's gradient) is computed after the loop as one product of the
stacked operands; results agree with the loop's to rounding, and carries that anything
else reads are left alone."""

import numpy as np
import pytest

import nerve
from nerve import ops
from nerve.backend import get_backend
from nerve.graph.executor import CompiledGraph
from nerve.graph.passes import DEFAULT_PIPELINE, fuse, optimize, scan_sums, sum_products_after_scans
from nerve.graph.trace import Trace, tracing

CPU = get_backend("cpu")
STEPS, BATCH, UNITS, FEATURES = 6, 3, 4, 5

# Each term is one step's product from the carried h (BATCH, UNITS) and this step's
# slices x (BATCH, FEATURES) and z (FEATURES, UNITS); the accumulator has the shape
# of the product.
TERMS = {
    "transposed_slice_left": lambda h, x, z: ops.matmul(ops.transpose(x), ops.tanh(h)),
    "computed_left_slice_right": lambda h, x, z: ops.matmul(ops.sin(h), ops.transpose(z)),
    "slice_left_transposed_right": lambda h, x, z: ops.matmul(z, ops.transpose(ops.cos(h))),
}
SHAPES = {
    "transposed_slice_left": (FEATURES, UNITS),
    "computed_left_slice_right": (BATCH, FEATURES),
    "slice_left_transposed_right": (FEATURES, BATCH),
}


def scan_graph(term: str, dtype: str, acc_read_in_body: bool = False, gradient: bool = False):
    """A loop carrying ``h`` and a running sum of ``TERMS[term]``; with
    ``acc_read_in_body`` the sum also feeds each step's output."""
    rng = np.random.default_rng(0)

    def step(carry, xz):
        h, acc = carry
        x, z = xz
        h = ops.tanh(ops.matmul(h, kernel) + ops.sum(x) + bias[1])
        acc = acc + TERMS[term](h, x, z)
        y = h * ops.sum(acc) if acc_read_in_body else h * 2.0
        return (h, acc), y

    t = Trace("loop")
    with tracing(t):
        xs = t.new_input((STEPS, BATCH, FEATURES), dtype)
        zs = t.new_input((STEPS, FEATURES, UNITS), dtype)
        acc0 = t.new_input(SHAPES[term], dtype)
        kernel = t.new_input((UNITS, UNITS), dtype)
        bias = t.new_input((2, UNITS), dtype)  # row 1 is read, as a GRU's recurrent bias
        h0 = ops.ones((BATCH, UNITS), dtype=dtype)
        with nerve.GradientTape() as tape:
            tape.watch([xs, zs, kernel, bias])
            (h, acc), ys = ops.scan(step, (h0, acc0), (xs, zs))
            loss = ops.sum(h) + ops.sum(ys**2) + ops.sum(acc**2)
        outputs = [h, acc, ys]
        if gradient:
            outputs += tape.gradient(loss, [xs, zs, kernel, bias])
        t.graph.outputs = [t.value_of(o) for o in outputs]
    arrays = [
        rng.standard_normal((STEPS, BATCH, FEATURES)).astype(dtype),
        rng.standard_normal((STEPS, FEATURES, UNITS)).astype(dtype),
        rng.standard_normal(SHAPES[term]).astype(dtype),
        (rng.standard_normal((UNITS, UNITS)) * 0.5).astype(dtype),
        rng.standard_normal((2, UNITS)).astype(dtype),
    ]
    return optimize(t.graph, CPU, DEFAULT_PIPELINE), arrays


def run(graph, arrays, summed: bool) -> list:
    lowering = (sum_products_after_scans, fuse) if summed else (fuse,)
    lowered = optimize(graph, CPU, lowering)
    return [np.asarray(a) for a in CompiledGraph(lowered, CPU, lower=False).run(list(arrays))]


def body_counts(graph, name: str) -> list[int]:
    return [
        n.params["body_program"].graph.primitive_counts().get(name, 0)
        for n in graph.nodes
        if n.prim.name == "scan"
    ]


def body_matmuls(graph) -> list[int]:
    return body_counts(graph, "matmul")


@pytest.mark.parametrize("term", sorted(TERMS))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_carried_sum_of_products_becomes_one_product_after_the_loop(term, dtype):
    graph, arrays = scan_graph(term, dtype)
    summed = sum_products_after_scans(graph, CPU)
    assert body_matmuls(summed) == [1]  # h @ kernel stays; the summed product left
    assert body_matmuls(graph) == [2]
    tolerance = 1e-5 if dtype == "float32" else 1e-12
    for got, want in zip(run(graph, arrays, True), run(graph, arrays, False), strict=True):
        np.testing.assert_allclose(got, want, rtol=tolerance, atol=tolerance)


def test_a_sum_the_body_reads_stays_in_the_loop():
    graph, arrays = scan_graph("transposed_slice_left", "float64", acc_read_in_body=True)
    assert sum_products_after_scans(graph, CPU) is graph


def test_gradient_loops_lose_their_weight_sums_with_the_same_results():
    # The backward loop accumulates the gradient of the step's kernel, a loop constant.
    # The forward loop keeps its carries' history for the backward one (the partial
    # sums are part of it), so its sum stays.
    # The bias's gradient is summed over the batch and added into row 1 of zeros at each
    # step: a linear chain of the step's value, summed over the steps outside too.
    graph, arrays = scan_graph("transposed_slice_left", "float64", gradient=True)
    summed = sum_products_after_scans(graph, CPU)
    forward, backward = body_matmuls(graph)
    assert body_matmuls(summed) == [forward, backward - 1]
    assert body_counts(graph, "index_add")[1] == 1 and body_counts(summed, "index_add") == [0, 0]
    for got, want in zip(run(graph, arrays, True), run(graph, arrays, False), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_adding_into_a_nonzero_constant_is_not_linear():
    graph, _ = scan_graph("transposed_slice_left", "float64", gradient=True)
    body = [n for n in graph.nodes if n.prim.name == "scan"][1].params["body_program"].graph
    body = optimize(body, CPU)  # as the pass sees it: the zeros folded into a constant
    (index_add,) = [n for n in body.nodes if n.prim.name == "index_add"]
    assert scan_sums._linear_operand(index_add, body, set(body.constants)) == 1
    body.constants[index_add.inputs[0]] = body.constants[index_add.inputs[0]] + 1.0
    assert scan_sums._linear_operand(index_add, body, set(body.constants)) is None


def test_a_graph_without_scans_is_returned_unchanged():
    t = Trace("plain")
    with tracing(t):
        x = t.new_input((3,), "float32")
        t.graph.outputs = [t.value_of(ops.exp(x))]
    assert sum_products_after_scans(t.graph, CPU) is t.graph
