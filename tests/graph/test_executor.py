"""The executor: generated code, memory plan on and off, profiling, state."""

import sys

import numpy as np
import pytest

import nerve
from nerve import ops
from nerve.backend import get_backend
from nerve.graph.executor import CompiledGraph, largest_buffer, largest_product
from nerve.graph.passes import fuse_softmax_rows, optimize


def graph_of(f, *args):
    return nerve.function(f).graph_for(*args)


def run(graph, *args, plan=True):
    compiled = CompiledGraph(graph, get_backend(), plan=plan)
    return compiled, compiled.run([a._value for a in args])


@pytest.fixture
def small_programs_on_numpy(monkeypatch):
    """Small fused programs expanded into NumPy kernels, whose in-place writes these
    tests check (exact ones compile from one element where loops are called through
    ``fastcall``: ``native.MIN_EXACT_ELEMENTS``)."""
    from nerve.backend.numpy_backend import native

    monkeypatch.setattr(native, "MIN_EXACT_ELEMENTS", native.MIN_ELEMENTS)


def test_planned_source_writes_in_place_and_drops_dead_names():
    graph = graph_of(lambda a: ops.tanh(ops.exp(a) * a + a), ops.ones((4,)))
    compiled, _ = run(graph, ops.ones((4,)))
    assert "out=" in compiled.source
    assert "    del " in compiled.source
    unplanned, _ = run(graph, ops.ones((4,)), plan=False)
    assert "out=" not in unplanned.source and "del " not in unplanned.source


@pytest.mark.parametrize("plan", [True, False])
def test_results_match_numpy(plan):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((3, 4)).astype("float32")
    b = rng.standard_normal((4,)).astype("float32")

    def f(x, y):
        h = ops.maximum(x * y - 1.0, ops.negative(x))
        return ops.sum(h * h, axis=0), ops.transpose(h)

    graph = graph_of(f, ops.convert_to_tensor(a), ops.convert_to_tensor(b))
    _, (total, transposed) = run(
        graph, ops.convert_to_tensor(a), ops.convert_to_tensor(b), plan=plan
    )
    h = np.maximum(a * b - 1.0, -a)
    np.testing.assert_allclose(total, (h * h).sum(axis=0), rtol=1e-6)
    np.testing.assert_array_equal(transposed, h.T)


def test_zero_dimensional_results_are_never_buffers():
    # 0-d ufunc results are NumPy scalars, which cannot be written with out=.
    graph = graph_of(lambda a: ops.tanh(ops.sum(a) * 2.0 + 1.0), ops.ones((5,)))
    compiled, (result,) = run(graph, ops.ones((5,)))
    assert float(result) == pytest.approx(np.tanh(11.0))
    assert "out=" not in compiled.source


def test_broadcasting_op_does_not_write_into_its_smaller_input():
    def f(a, b):
        row = ops.exp(a)  # shape (3,): a fresh buffer that dies at the add
        return row + b  # result (2, 3): must not go into row's buffer

    a, b = ops.ones((3,)), ops.ones((2, 3))
    compiled, (result,) = run(graph_of(f, a, b), a, b)
    np.testing.assert_allclose(result, np.full((2, 3), np.e + 1), rtol=1e-6)
    assert "out=" not in compiled.source


def test_dead_buffer_of_the_same_shape_is_reused(small_programs_on_numpy):
    def f(a, b):
        x = ops.exp(a)  # a fresh buffer...
        total = ops.sum(x, axis=0, keepdims=True)  # ...that dies here
        product = a * b  # no dying input of its own: takes x's dead buffer
        return product + total

    rng = np.random.default_rng(1)
    a, b = (ops.convert_to_tensor(rng.standard_normal((2, 3)).astype("float32")) for _ in "ab")
    compiled, (result,) = run(graph_of(f, a, b), a, b)
    assert "(v0, v1, out=v2)  # multiply" in compiled.source
    x = np.exp(a.numpy())
    np.testing.assert_allclose(result, a.numpy() * b.numpy() + x.sum(0, keepdims=True), rtol=1e-6)


def test_profile_does_not_change_state(small_programs_on_numpy):
    v = nerve.Variable(ops.ones((3,)))

    @nerve.function
    def step():
        v.assign(v * 2.0 + 1.0)
        return ops.sum(v.value)

    step()
    step()
    before = v.numpy().copy()
    rows = step.profile(repeat=2)
    assert {row["op"] for row in rows} >= {"read_variable", "assign_variable", "multiply"}
    np.testing.assert_array_equal(v.numpy(), before)


def test_profile_runs_the_planned_code_and_updates_private_copies_in_place():
    # The profile times the code `run` runs: a fused loop's result goes into the
    # variable's buffer once the (private) buffer is the graph's own, as from the second
    # step on; an interpreter giving each node fresh arrays timed another program.
    v = nerve.Variable(np.arange(65536, dtype="float32"))

    def step(x):
        v.assign(v * 0.5 + x)
        return ops.sum(v.value)

    graph = graph_of(step, ops.ones((65536,)))
    compiled = CompiledGraph(graph, get_backend())
    fused = [n for n in compiled.graph.nodes if n.prim.name == "fused_elementwise"]
    if not fused:
        pytest.skip("no compiled loops here (no C compiler)")
    targets = []
    for node in fused:
        loop = compiled.loops[id(node)]

        def recorder(args, outs, loop=loop):
            targets.append([o is not None for o in outs])
            return loop(args, outs)

        compiled.loops[id(node)] = recorder
    before = v.numpy().copy()
    rows = compiled.profile([np.ones(65536, np.float32)], repeat=3)
    np.testing.assert_array_equal(v.numpy(), before)  # state unchanged
    assert len(targets) == 3 * len(fused)
    assert not any(targets[0]) and all(any(t) for t in targets[len(fused) :])
    assert [r["index"] for r in rows] == list(range(len(compiled.graph.nodes)))


def test_exclusive_buffer_has_four_references_in_generated_code():
    # The in-place rule counts references; this pins the count the generated code expects.
    v = nerve.Variable(ops.ones((3,)))

    @nerve.function
    def step():
        v.assign(v * 2.0)
        return ops.sum(v.value)

    step()
    step()
    compiled = step.get_concrete_function().compiled
    assert "refs(" in compiled.source and "== 4" in compiled.source
    address = id(v._value)  # an id holds no reference
    step()
    assert id(v._value) == address  # written in place: the count matched
    count = sys.getrefcount(v._value)  # outside the assert: pytest's rewrite holds values
    assert count == 3  # v._value, owned[slot], the argument
    np.testing.assert_array_equal(v.numpy(), [8.0, 8.0, 8.0])
    held = v._value  # one more holder: the next step must allocate instead
    step()
    assert v._value is not held
    np.testing.assert_array_equal(held, [8.0, 8.0, 8.0])


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float64", "int32"])
def test_in_place_kernels_keep_every_dtype(dtype, small_programs_on_numpy):
    def f(a, b):
        return ops.maximum(a * b + a, b - a) * a

    a = ops.cast(ops.convert_to_tensor(np.arange(6).reshape(2, 3)), dtype)
    b = ops.cast(ops.full((2, 3), 3), dtype)
    graph = graph_of(f, a, b)
    compiled, (result,) = run(graph, a, b)
    _, (expected,) = run(graph, a, b, plan=False)
    assert "out=" in compiled.source
    assert result.dtype == expected.dtype
    np.testing.assert_array_equal(np.asarray(result, "float64"), np.asarray(expected, "float64"))


def _interpret(graph, inputs):
    """Run ``graph`` node by node, each kernel called with its params as keywords: the
    reference for the generated code (which binds them differently)."""
    backend = get_backend()
    env = dict(zip(graph.inputs, inputs))
    env.update(graph.constants)
    for node in graph.nodes:
        if node.prim.name == "read_variable":
            env[node.outputs[0]] = graph.variables[node.params["slot"]]._value
            continue
        out = backend.graph_kernel(node.prim.kernel)(*(env[v] for v in node.inputs), **node.params)
        env.update(zip(node.outputs, out if node.prim.multiple_results else (out,)))
    return [env[v] for v in graph.outputs]


@pytest.mark.parametrize("plan", [True, False])
def test_kernel_params_bound_in_generated_code_match_node_by_node_run(plan):
    # A small convnet: patches, reshapes, pooling reductions, getitem, softmax (kernels
    # with params, which the generated code passes as keywords from its namespace). The
    # softmax is lowered first in both runs: its one-node loop computes exp as fused
    # loops do, the NumPy kernels of its steps to rounding only.
    nerve.utils.set_random_seed(1)
    layers = nerve.layers
    model = nerve.Sequential(
        [
            nerve.Input((11, 11, 2)),
            layers.Conv2D(4, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(3, 2, strides=2, padding="same"),
            layers.Flatten(),
            layers.Dense(5, activation="softmax"),
        ]
    )
    x = ops.convert_to_tensor(np.random.default_rng(0).random((2, 11, 11, 2), "float32"))
    concrete = nerve.function(lambda t: model(t, training=False)).get_concrete_function(x)
    graph = fuse_softmax_rows(
        optimize(concrete.unoptimized, get_backend(), passes=()), get_backend()
    )
    compiled, results = run(graph, x, plan=plan)
    assert "window=p" in compiled.source  # params as keywords, not a functools.partial
    for actual, expected in zip(results, _interpret(graph, [x._value]), strict=True):
        np.testing.assert_array_equal(actual, expected)


def test_compiled_loops_write_outputs_into_the_callers_destinations():
    x = ops.reshape(ops.arange(256.0) / 256.0, (16, 16))
    both = lambda a: ops.exp(a) + a  # noqa: E731
    graph = graph_of(lambda a: (ops.tanh(a * a + 1.0), both(a), both(a)), x)
    compiled, plain = run(graph, x)
    if not any(compiled.loops.values()):
        pytest.skip("no compiled elementwise loops on this machine")
    dests = [np.empty((16, 16), np.float32) for _ in range(3)]
    with compiled.backend.quiet():
        out = compiled.run_in_scope([x._value], dests)
    assert out[0] is dests[0]
    # An output listed twice is never written into a destination (two results would
    # share one array).
    assert out[1] is not dests[1] and out[2] is not dests[2]
    for got, want in zip(out, plain):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("reverse", [False, True])
def test_scan_stacks_rows_its_compiled_body_wrote_in_place(reverse):
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((5, 16, 16)).astype("float32")
    h0 = rng.standard_normal((16, 16)).astype("float32")

    def step(h, x):
        h = ops.tanh(h * x + 1.0)
        return h, (h * 2.0, ops.exp(x) - h)

    looped = nerve.function(lambda h, xs: ops.scan(step, h, xs, reverse=reverse))
    h, (twice, rest) = looped(ops.convert_to_tensor(h0), ops.convert_to_tensor(xs))
    want_h, want_twice, want_rest = h0, np.empty_like(xs), np.empty_like(xs)
    for i in range(4, -1, -1) if reverse else range(5):
        want_h = np.tanh(want_h * xs[i] + 1.0)
        want_twice[i], want_rest[i] = want_h * 2.0, np.exp(xs[i]) - want_h
    for got, want in [(h, want_h), (twice, want_twice), (rest, want_rest)]:
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-6)


class _RecordingBody:
    """A scan body that records the destinations the scan kernel gives each step."""

    def __init__(self, program):
        self.program, self.dests = program, []
        self.in_avals, self.out_avals = program.in_avals, program.out_avals

    def __call__(self, *arrays):
        return self.program(*arrays)

    def stepper(self, *arrays):
        run = self.program.stepper(*arrays)

        def step(inputs, dests):
            self.dests.append(list(dests))
            return run(inputs, dests)

        return step


@pytest.mark.parametrize("reverse", [False, True])
def test_scan_history_rows_are_written_by_the_step_before(reverse):
    # A loop that keeps its carries' history (a gradient's forward loop) hands each
    # step the next step's history row as the carry's destination: the carry is never
    # copied into the history, and the stacks hold the carry entering each step.
    rng = np.random.default_rng(1)
    xs = rng.standard_normal((5, 16, 16)).astype("float32")
    h0 = rng.standard_normal((16, 16)).astype("float32")
    step = lambda h, x: (ops.tanh(h * x + 1.0), ops.exp(x) - h)  # noqa: E731
    graph = graph_of(lambda h, xs: ops.scan(step, h, xs, reverse=reverse), ops.ones((16, 16)), xs)
    (node,) = [n for n in graph.nodes if n.prim.name == "scan"]
    body = _RecordingBody(node.params["body_program"])
    params = {**node.params, "body_program": body, "history": True}
    backend = get_backend()
    with backend.quiet():
        h, ys, kept = backend.graph_kernel(node.prim.kernel)(h0, xs, **params)
    order = range(4, -1, -1) if reverse else range(5)
    want_h, want_kept, want_ys = h0, np.empty_like(xs), np.empty_like(xs)
    for i in order:
        want_kept[i] = want_h
        want_ys[i] = np.exp(xs[i]) - want_h
        want_h = np.tanh(want_h * xs[i] + 1.0)
    for got, want in [(h, want_h), (ys, want_ys), (kept, want_kept)]:
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    if not any(CompiledGraph(body.program.graph, backend).loops.values()):
        pytest.skip("no compiled elementwise loops on this machine")
    for n, (i, dests) in enumerate(zip(order, body.dests)):
        last = n == 4
        assert (dests[0] is None) == last  # the final carry is an array of its own
        if not last:
            assert np.shares_memory(dests[0], kept[i - 1 if reverse else i + 1])


def test_largest_buffer_is_the_largest_node_result_in_bytes():
    graph = graph_of(lambda a: ops.sum(ops.matmul(a, ops.transpose(a))), ops.ones((6, 2)))
    assert largest_buffer(graph) == 6 * 6 * 4  # the (6, 6) float32 product


def test_largest_buffer_leaves_out_variable_reads():
    # A batch-1 forward pass reads large weights but allocates only small results: its
    # runs should not pay for the large-buffer scope.
    weights = nerve.Variable(np.ones((64, 32), "float32"))
    graph = graph_of(lambda a: ops.matmul(a, weights), ops.ones((1, 64)))
    assert largest_buffer(graph) == 32 * 4


def test_largest_product_is_the_most_multiply_adds_of_one_matmul_node():
    weights = nerve.Variable(np.ones((64, 32), "float32"))
    graph = graph_of(
        lambda a: ops.matmul(ops.matmul(a, weights), ops.ones((32, 3))), ops.ones((5, 64))
    )
    assert largest_product(graph) == 5 * 64 * 32
    stack = graph_of(lambda a: ops.matmul(a, a), ops.ones((4, 6, 6)))
    assert largest_product(stack) == 4 * 6 * 6 * 6  # a stack's products together
    assert largest_product(graph_of(lambda a: a + 1.0, ops.ones((5,)))) == 0


def test_a_compiled_run_tells_its_scope_its_largest_product(monkeypatch):
    # The backend holds the cores for large products whatever the arrays' sizes (an
    # MLP step at batch 32: ``threads.HOLD_WORK_FROM``), so the run must say how large.
    backend = get_backend()
    scopes = []
    run_scope = backend.run_scope

    def recorded(buffer_bytes, product_work=0):
        scopes.append((buffer_bytes, product_work))
        return run_scope(buffer_bytes, product_work)

    monkeypatch.setattr(backend, "run_scope", recorded)
    weights = nerve.Variable(np.ones((64, 32), "float32"))
    graph = graph_of(lambda a: ops.matmul(a, weights), ops.ones((8, 64)))
    compiled = CompiledGraph(graph, backend)
    compiled.run([np.ones((8, 64), "float32")])
    assert scopes == [(8 * 32 * 4, 8 * 64 * 32)]
