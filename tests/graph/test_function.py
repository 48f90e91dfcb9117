"""nerve.function: tracing, caching, state, gradients inside graphs, inspection."""

import numpy as np
import pytest

import nerve
from nerve import ops
from nerve.core.errors import TracingError


def test_same_signature_traces_once_and_matches_eager():
    def f(x, y):
        return ops.tanh(x @ y) * 2.0 + 1.0

    compiled = nerve.function(f)
    x = ops.convert_to_tensor(np.random.default_rng(0).standard_normal((4, 3)), "float32")
    y = ops.convert_to_tensor(np.random.default_rng(1).standard_normal((3, 2)), "float32")
    for _ in range(3):
        np.testing.assert_allclose(compiled(x, y).numpy(), f(x, y).numpy(), rtol=1e-6)
    assert compiled.trace_count == 1


def test_new_shape_or_dtype_retraces():
    compiled = nerve.function(lambda x: x * 2)
    compiled(ops.ones((2,)))
    compiled(ops.ones((2,)))
    compiled(ops.ones((3,)))
    compiled(ops.ones((3,), dtype="float64"))
    assert compiled.trace_count == 3


def test_python_values_are_static():
    compiled = nerve.function(lambda x, scale: x * scale)
    assert float(compiled(ops.ones(()), 2.0)) == 2.0
    assert float(compiled(ops.ones(()), 3.0)) == 3.0
    assert compiled.trace_count == 2


def test_variable_updates_keep_program_order():
    v = nerve.Variable(ops.zeros(()), name="counter")

    @nerve.function
    def bump():
        v.assign_add(1.0)
        doubled = v * 2.0  # reads the value after the first update
        v.assign(doubled)
        return doubled

    assert float(bump()) == 2.0
    assert float(v) == 2.0
    assert float(bump()) == 6.0
    assert float(v) == 6.0


def test_training_step_matches_eager():
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal((3, 1)).astype("float32")
    x = ops.convert_to_tensor(rng.standard_normal((8, 3)).astype("float32"))
    y = ops.convert_to_tensor(rng.standard_normal((8, 1)).astype("float32"))

    def make_step(w):
        def step(x, y):
            with nerve.GradientTape() as tape:
                loss = ops.mean((x @ w - y) ** 2)
            w.assign_sub(0.1 * tape.gradient(loss, w))
            return loss

        return step

    eager_w, graph_w = nerve.Variable(w0), nerve.Variable(w0)
    eager_step, graph_step = make_step(eager_w), nerve.function(make_step(graph_w))
    for _ in range(5):
        a, b = eager_step(x, y), graph_step(x, y)
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6)
    np.testing.assert_allclose(eager_w.numpy(), graph_w.numpy(), rtol=1e-6)


def test_graph_text_and_dot():
    compiled = nerve.function(lambda x: ops.exp(x) + 1.0)
    graph = compiled.graph_for(ops.ones((2,)))
    text = str(graph)
    assert text.splitlines()[0].endswith("(a:f32[2]) {")
    assert "exp a" in text
    assert text == str(compiled.graph_for(ops.ones((2,))))  # deterministic
    dot = graph.to_dot()
    assert dot.startswith('digraph "<lambda>"') and "exp" in dot


def test_profile_reports_every_node():
    compiled = nerve.function(lambda x: ops.sum(ops.exp(x) * x))
    report = compiled.profile(ops.ones((16,)))
    assert [row["op"] for row in sorted(report, key=lambda r: r["index"])] == [
        node.prim.name for node in compiled.graph_for(ops.ones((16,)))
    ]
    assert "total" in str(report)


def test_concrete_value_inside_trace_raises_clear_error():
    @nerve.function
    def f(x):
        if x > 0:  # Python control flow on a tensor value
            return x
        return -x

    with pytest.raises(TracingError, match="truth value of a traced tensor"):
        f(ops.ones(()))


def test_retracing_warns_once_naming_the_argument():
    compiled = nerve.function(lambda x, n: x * n)
    with pytest.warns(
        nerve.graph.RetracingWarning,
        match="argument 'n' changed from the Python value 4.0 to the Python value 5.0",
    ):
        for n in range(8):
            compiled(ops.ones(()), float(n))


def test_input_signature_rejects_mismatch():
    compiled = nerve.function(
        lambda x: x + 1, input_signature=[nerve.TensorSpec((None, 3), "float32")]
    )
    compiled(ops.ones((2, 3)))
    with pytest.raises(ValueError, match="does not match its input_signature"):
        compiled(ops.ones((2, 4)))


def test_repeated_calls_with_nested_arrays_take_the_fast_path_and_keep_retrace_rules():
    calls = []

    @nerve.function
    def step(data, scale, mask=None):
        calls.append(1)
        x, y = data
        return ops.sum(x * y) * scale

    x, y = np.ones((4, 3), "float32"), np.full((4, 3), 2.0, "float32")
    assert float(step((x, y), 1.0)) == 24.0
    assert step._by_signature  # remembered: nested numpy arrays and a Python float
    for _ in range(3):
        assert float(step((x, y), 1.0)) == 24.0
    assert step.trace_count == 1 and len(calls) == 1
    assert float(step((x, y), 2.0)) == 48.0  # a new Python value traces again
    assert float(step((x[:2], y[:2]), 1.0)) == 12.0  # so does a new shape
    assert float(step((ops.convert_to_tensor(x), y), 1.0)) == 24.0  # a tensor: same graph
    assert step.trace_count == 3
    np.testing.assert_array_equal(x, np.ones((4, 3)))  # arguments are never written


@pytest.mark.parametrize(
    "wrap",
    [
        lambda y: y,  # one tensor: the call's short way
        lambda y: (y,),
        lambda y: [y],
        lambda y: {"y": y},
        lambda y: (y, 3),
    ],
)
def test_outputs_keep_their_structure(wrap):
    f = nerve.function(lambda x: wrap(x * 2.0))
    x = nerve.ops.ones((3,))
    for _ in range(2):  # the first call traces, the second finds the compiled graph
        got = f(x)
        want = wrap(x * 2.0)
        assert type(got) is type(want)
        got_leaves, want_leaves = nerve.core.tree.flatten(got)[0], nerve.core.tree.flatten(want)[0]
        assert len(got_leaves) == len(want_leaves)
        for g, w in zip(got_leaves, want_leaves):
            if isinstance(w, nerve.Tensor):
                assert isinstance(g, nerve.Tensor)
                np.testing.assert_array_equal(g.numpy(), w.numpy())
            else:
                assert g == w
    concrete = f.get_concrete_function(x)
    assert (concrete.single_output is not None) == (wrap(0) == 0)
