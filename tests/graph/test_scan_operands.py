"""``read_transposed_stacks`` and ``drop_unused_scan_operands``: a stacked transpose
that the loop's own history (or a sliced input) already holds is read from there, and
per-step results and operands nothing reads leave the loop; results are bit-identical
to lowering without the two passes."""

import numpy as np
import pytest

import nerve
from nerve import layers, ops
from nerve.backend import get_backend
from nerve.graph.executor import CompiledGraph
from nerve.graph.passes import (
    LOWERING,
    drop_unused_scan_operands,
    optimize,
    read_transposed_stacks,
)
from nerve.primitives.shape import transpose_p
from tests.graph._lstm_graph import graph_of, lstm_training_graph

CPU = get_backend("cpu")
ROWS, COLS = 8, 16
WITHOUT = tuple(p for p in LOWERING if p not in (read_transposed_stacks, drop_unused_scan_operands))


def run(graph, arrays, passes=LOWERING) -> list:
    compiled = CompiledGraph(optimize(graph, CPU, passes), CPU, lower=False)
    return [np.asarray(a) for a in compiled.run(list(arrays))]


def check_same_as_without_the_passes(graph, seed=0):
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(v.aval.shape).astype(v.aval.dtype) for v in graph.inputs]
    for got, want in zip(run(graph, arrays), run(graph, arrays, WITHOUT), strict=True):
        np.testing.assert_array_equal(got, want)


def scans(graph) -> dict:
    return {n.params["reverse"]: n for n in graph.nodes if n.prim.name == "scan"}


@pytest.mark.parametrize("sequence", [False, True])
@pytest.mark.parametrize("size", [(ROWS, COLS), (64, 64)])
def test_lstm_training_is_bit_identical_without_the_passes(sequence, size):
    graph, _, _ = lstm_training_graph(*size, steps=7, sequence=sequence)
    check_same_as_without_the_passes(graph)


def lstm_model_step(batch=4, steps=6, units=8, vocabulary=50, layer="LSTM", sequences=False):
    """``(graph, arrays)``: the training step of Embedding -> LSTM (or ``layer``) -> Dense
    under Adam, as ``fit`` compiles it, and a batch for it. Its forward loop returns
    ``h.T`` per step for the recurrent kernel's gradient."""
    nerve.utils.set_random_seed(0)
    inputs = nerve.Input((steps,), dtype="int32")
    recurrent = getattr(layers, layer)(units, return_sequences=sequences)
    hidden = recurrent(layers.Embedding(vocabulary, 5)(inputs))
    if sequences:
        hidden = layers.GlobalAveragePooling1D()(hidden)
    model = nerve.Model(inputs, layers.Dense(1, activation="sigmoid")(hidden))
    model.compile(optimizer="adam", loss="binary_crossentropy")
    rng = np.random.default_rng(0)
    x = rng.integers(0, vocabulary, (batch, steps)).astype("int32")
    y = rng.integers(0, 2, (batch, 1)).astype("float32")
    train = model.make_train_function()
    model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
    (concrete,) = train.functions[0]._cache.values()
    return concrete.graph, [x, y]


def run_step(graph, arrays, passes) -> list:
    """The step's outputs and its variables' new values; the variables are restored."""
    saved = [v._value for v in graph.variables]
    compiled = CompiledGraph(optimize(graph, CPU, passes), CPU, lower=False)
    outputs = [np.array(a) for a in compiled.run(list(arrays))]
    state = [np.array(v._value) for v in graph.variables]
    for v, value in zip(graph.variables, saved):
        v._value = value
    return outputs + state


@pytest.mark.parametrize("size", [(4, 6, 8), (16, 12, 16)])
def test_an_lstm_training_step_is_bit_identical_without_the_passes(size):
    batch, steps, units = size
    graph, arrays = lstm_model_step(batch, steps, units)
    got, want = run_step(graph, arrays, LOWERING), run_step(graph, arrays, WITHOUT)
    for a, b in zip(got, want, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("layer", ["LSTM", "GRU", "SimpleRNN"])
@pytest.mark.parametrize("sequences", [False, True])
def test_recurrent_training_steps_are_bit_identical_without_the_scan_passes(layer, sequences):
    scan_passes = ("read_transposed_stacks", "drop_unused_scan_operands", "add_biases_in_scans")
    without = tuple(p for p in LOWERING if p.__name__ not in scan_passes)
    graph, arrays = lstm_model_step(layer=layer, sequences=sequences)
    got, want = run_step(graph, arrays, LOWERING), run_step(graph, arrays, without)
    for a, b in zip(got, want, strict=True):
        np.testing.assert_array_equal(a, b)


def test_the_kernel_gradient_reads_the_history_of_h_and_the_transposes_leave_the_loop():
    graph, _ = lstm_model_step()
    before = scans(optimize(graph, CPU, WITHOUT))
    lowered = optimize(graph, CPU, LOWERING)
    after = scans(lowered)
    forward, backward = after[False], after[True]
    # The forward loop no longer stacks h.T at every step ...
    assert len(forward.outputs) == len(before[False].outputs) - 1
    body = forward.params["body_program"].graph
    made = {o: n.prim for n in body.nodes for o in n.outputs}
    assert transpose_p not in [made.get(v) for v in body.outputs]
    # ... the kernel's gradient reshapes the history of h (a view) instead ...
    history_of_h = forward.outputs[-2]
    assert any(history_of_h in n.inputs for n in lowered.nodes if n.prim.name == "reshape")
    # ... and the backward loop reads fewer operands (that stack among them).
    assert len(backward.inputs) < len(before[True].inputs)


def test_a_transposed_slice_is_read_as_the_sliced_input():
    def f(xs, h0):
        def step(h, x):
            h = ops.tanh(h + x)
            return h, ops.transpose(x)

        h, ys = ops.scan(step, h0, xs)
        return h, ops.transpose(ys, (0, 2, 1)) * 2.0

    graph = graph_of(f, (5, 3, 4), (3, 4))
    lowered = optimize(graph, CPU, LOWERING)
    (scan,) = scans(lowered).values()
    assert len(scan.outputs) == 1  # the stacked transpose is gone: only the carry is left
    check_same_as_without_the_passes(graph)


def test_a_transpose_of_a_carry_without_history_stays():
    def f(xs, h0):
        def step(h, x):
            return ops.tanh(h + x), ops.transpose(h)

        h, ys = ops.scan(step, h0, xs)
        return h, ops.transpose(ys, (0, 2, 1))

    graph = graph_of(f, (5, 3, 3), (3, 3))
    (scan,) = scans(optimize(graph, CPU, LOWERING)).values()
    assert not scan.params["history"] and len(scan.outputs) == 2
    check_same_as_without_the_passes(graph)


def test_unread_results_and_operands_leave_the_loop():
    def f(xs, zs, w, h0):
        def step(h, xz):
            x, z = xz
            return ops.tanh(h + x), (h * 2.0, ops.sin(z))

        h, (ys, _) = ops.scan(step, h0, (xs, zs))
        return h, ys * w

    graph = graph_of(f, (5, 3, 4), (5, 3, 4), (3, 4), (3, 4))
    (scan,) = scans(optimize(graph, CPU, LOWERING)).values()
    assert len(scan.outputs) == 2  # the carry and the stack of h * 2
    assert len(scan.inputs) == 2  # h0 and xs: zs is read only by the dropped sin
    check_same_as_without_the_passes(graph)
