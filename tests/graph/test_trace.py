"""Retracing rules, tracing errors, autodiff inside traces, inspection, and the op
harness's eager-vs-compiled check."""

import re
import shutil
import warnings

import numpy as np
import pytest

import nerve
from nerve import ops
from nerve.core.errors import TracingError
from nerve.graph import RetracingWarning
from nerve.testing.op_harness import Input, OpCase, check_compiled

# -- retracing rules ---------------------------------------------------------------------


def _counting(fn):
    """``fn`` compiled, plus a list that grows by one per trace (the Python body runs)."""
    traces = []

    def body(*args, **kwargs):
        traces.append(1)
        return fn(*args, **kwargs)

    return nerve.function(body), traces


def test_same_shapes_do_not_retrace():
    f, traces = _counting(lambda x, y: x + y)
    for _ in range(3):
        f(ops.ones((2, 3)), ops.zeros((2, 3)))
    assert len(traces) == 1 and f.trace_count == 1


def test_new_dtype_retraces():
    f, traces = _counting(lambda x: x * 2)
    assert f(ops.ones((2,))).dtype == "float32"
    assert f(ops.ones((2,), dtype="float64")).dtype == "float64"
    assert f(ops.ones((2,), dtype="int32")).dtype == "int32"
    f(ops.ones((2,), dtype="float64"))
    assert len(traces) == 3


def test_python_scalars_are_static_one_trace_per_value():
    f, traces = _counting(lambda x, n: x * n)
    assert float(f(ops.ones(()), 2.0)) == 2.0
    assert float(f(ops.ones(()), 3.0)) == 3.0
    assert float(f(ops.ones(()), 2.0)) == 2.0  # cached
    assert len(traces) == 2
    f(ops.ones(()), 2)  # an int is another static value than the float 2.0
    f(ops.ones(()), True)
    assert len(traces) == 4


def test_python_values_steer_control_flow_at_trace_time():
    f = nerve.function(lambda x, training: x * 0.5 if training else x)
    assert float(f(ops.ones(()), True)) == 0.5
    assert float(f(ops.ones(()), False)) == 1.0
    assert "multiply" not in str(f.graph_for(ops.ones(()), False))


def test_nested_structures_of_tensors():
    f, traces = _counting(lambda batch: {"sum": batch["a"] + batch["b"][0], "n": batch["b"][1]})
    batch = {"a": ops.ones((2,)), "b": [ops.full((2,), 2.0), ops.full((3,), 5.0)]}
    out = f(batch)
    assert sorted(out) == ["n", "sum"]
    np.testing.assert_array_equal(out["sum"].numpy(), [3.0, 3.0])
    np.testing.assert_array_equal(out["n"].numpy(), [5.0, 5.0, 5.0])
    f({"a": ops.zeros((2,)), "b": [ops.ones((2,)), ops.ones((3,))]})
    assert len(traces) == 1
    f({"a": ops.zeros((2,)), "b": (ops.ones((2,)), ops.ones((3,)))})  # tuple, not list
    assert len(traces) == 2


def test_keyword_arguments_and_defaults_share_a_trace():
    traces = []

    def scale(x, factor=2.0, *, bias=0.0):
        traces.append(1)
        return x * factor + bias

    f = nerve.function(scale)
    x = ops.ones((2,))
    results = [f(x), f(x, 2.0), f(x, factor=2.0), f(factor=2.0, x=x), f(x, bias=0.0)]
    assert len(traces) == 1
    for r in results:
        np.testing.assert_array_equal(r.numpy(), [2.0, 2.0])
    np.testing.assert_array_equal(f(x, bias=1.0).numpy(), [3.0, 3.0])
    assert len(traces) == 2
    with pytest.raises(TypeError):
        f(x, nonsense=1)


def test_numpy_arrays_are_tensor_arguments():
    f, traces = _counting(lambda x: x * 2)
    out = f(np.arange(3, dtype="float32"))
    assert out.dtype == "float32"
    np.testing.assert_array_equal(out.numpy(), [0.0, 2.0, 4.0])
    f(np.ones(3, dtype="float32"))  # new values, same signature
    f(ops.ones((3,)))  # a tensor with the same shape and dtype shares the trace
    assert len(traces) == 1
    f(np.ones(3))  # float64
    assert len(traces) == 2


def test_variables_as_arguments_are_state_not_retraced_per_value():
    f, traces = _counting(lambda v, x: v * x)
    v = nerve.Variable(ops.ones((2,)))
    np.testing.assert_array_equal(f(v, ops.ones((2,))).numpy(), [1.0, 1.0])
    v.assign(ops.full((2,), 3.0))
    np.testing.assert_array_equal(f(v, ops.ones((2,))).numpy(), [3.0, 3.0])
    assert len(traces) == 1
    w = nerve.Variable(ops.full((2,), 5.0))  # another variable: its own graph
    np.testing.assert_array_equal(f(w, ops.ones((2,))).numpy(), [5.0, 5.0])
    assert len(traces) == 2


def test_assigning_a_variable_argument():
    @nerve.function
    def bump(v, by):
        v.assign_add(by)
        return v.value

    v = nerve.Variable(ops.zeros(()))
    bump(v, ops.ones(()))
    assert float(bump(v, ops.ones(()))) == 2.0 and float(v) == 2.0


class Dense:
    def __init__(self, scale):
        self.w = nerve.Variable(ops.full((2,), scale))

    @nerve.function
    def __call__(self, x):
        return self.w * x

    @nerve.function
    def train(self, x, lr=0.5):
        self.w.assign_sub(lr * x)
        return self.w.value


def test_methods_bind_per_instance_with_their_own_variables():
    a, b = Dense(1.0), Dense(10.0)
    x = ops.ones((2,))
    np.testing.assert_array_equal(a(x).numpy(), [1.0, 1.0])
    np.testing.assert_array_equal(b(x).numpy(), [10.0, 10.0])
    a.train(x)
    np.testing.assert_array_equal(a.w.numpy(), [0.5, 0.5])
    np.testing.assert_array_equal(b.w.numpy(), [10.0, 10.0])  # untouched
    np.testing.assert_array_equal(a(x).numpy(), [0.5, 0.5])
    assert a.train is a.train  # one Function per instance
    assert a.train.trace_count == 1 and b.train.trace_count == 0
    assert Dense.__dict__["train"].trace_count == 0  # traces live on the bound functions


def test_methods_do_not_keep_instances_alive():
    import gc
    import weakref

    layer = Dense(1.0)
    layer(ops.ones((2,)))
    ref = weakref.ref(layer)
    del layer
    gc.collect()
    assert ref() is None


class Frozen:
    """Equal instances (value-hashable) that still hold different variables."""

    def __init__(self, v):
        self.v = v

    def __eq__(self, other):
        return isinstance(other, Frozen)

    def __hash__(self):
        return 0


def test_equal_python_objects_never_share_a_graph():
    f = nerve.function(lambda obj, x: obj.v * x)
    one, two = Frozen(nerve.Variable(ops.ones(()))), Frozen(nerve.Variable(ops.full((), 2.0)))
    assert float(f(one, ops.ones(()))) == 1.0
    assert float(f(two, ops.ones(()))) == 2.0


def test_retrace_warning_names_the_changed_shape_and_fires_once():
    f = nerve.function(lambda images, scale: images * scale)
    expected = (
        "nerve.function '<lambda>' has been traced 6 times; the last retrace happened "
        "because argument 'images' changed from a float32 tensor of shape (5,) to a float32 "
        "tensor of shape (6,). Each new shape, dtype or Python value traces again: pass "
        "tensors instead of Python numbers, keep shapes fixed, or give an input_signature."
    )
    with pytest.warns(RetracingWarning) as record:
        for n in range(1, 10):
            f(ops.ones((n,)), 2.0)
    assert [str(w.message) for w in record] == [expected]
    assert record[0].filename == __file__  # points at the caller's line


def test_retrace_warning_names_nested_and_keyword_arguments():
    def fn(batch, *, step):
        return batch["x"] * step

    f = nerve.function(fn)
    with pytest.warns(RetracingWarning, match=r"argument 'step' changed from the Python value 4 "):
        for step in range(7):
            f({"x": ops.ones(())}, step=step)
    g = nerve.function(fn)
    with pytest.warns(
        RetracingWarning, match=re.escape("argument \"batch['x']\" changed from a float32 tensor")
    ):
        for n in range(7):
            g({"x": ops.ones((n,))}, step=1)


def test_no_retrace_warning_for_few_traces():
    f = nerve.function(lambda x: x + 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for n in range(5):
            f(ops.ones((n,)))


def test_input_signature_none_dims_accept_any_size():
    f = nerve.function(lambda x: ops.sum(x, axis=1), input_signature=[nerve.TensorSpec((None, 3))])
    np.testing.assert_array_equal(f(ops.ones((2, 3))).numpy(), [3.0, 3.0])
    np.testing.assert_array_equal(f(ops.ones((4, 3))).numpy(), [3.0] * 4)
    with pytest.raises(nerve.core.errors.DTypeError, match="does not match its input_signature"):
        f(ops.ones((2, 3), dtype="float64"))
    g = nerve.function(lambda *xs: xs[0], input_signature=[nerve.TensorSpec((None, 3))])
    with pytest.raises(ValueError, match="input_signature of 1 tensors but got 2"):
        g(ops.ones((2, 3)), ops.ones((2, 3)))


def test_input_signature_none_dims_stay_symbolic_without_warning():
    f = nerve.function(lambda x: x * 2, input_signature=[nerve.TensorSpec((None,))])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for n in range(1, 9):
            assert f(ops.ones((n,))).shape == (n,)
    assert f.trace_count == 1  # one size template, specialized per size


# -- errors inside and around traces -----------------------------------------------------


@pytest.mark.parametrize(
    "use, what",
    [
        (lambda x: x.numpy(), "the NumPy value"),
        (lambda x: float(x), r"float\(\)"),
        (lambda x: bool(x), "the truth value"),
        (lambda x: int(x), r"int\(\)"),
        (lambda x: [0, 1][x], r"int\(\)"),  # Tensor.__index__ goes through int()
    ],
)
def test_concrete_values_inside_trace_name_the_users_line(use, what):
    f = nerve.function(lambda x: use(ops.sum(x)))
    with pytest.raises(TracingError, match=f"Cannot take {what} of a traced tensor") as info:
        f(ops.ones((2,), dtype="int32"))
    assert f"called at {__file__}:" in str(info.value)
    assert "nerve.ops.cond" in str(info.value)  # says what to do instead


def test_tensor_repr_inside_trace():
    seen = []

    @nerve.function
    def f(x):
        seen.append(repr(x * 2))
        return x

    f(ops.ones((2, 3)))
    assert seen == ["Tensor(<traced>, shape=(2, 3), dtype=float32)"]


def test_traced_tensor_leaking_out_of_its_trace():
    leaked = []

    @nerve.function
    def f(x):
        y = ops.exp(x)
        leaked.append(y)
        return y

    f(ops.ones((2,)))
    (escaped,) = leaked
    with pytest.raises(TracingError, match="Cannot run 'add' on a traced tensor: it escaped"):
        escaped + 1.0
    with pytest.raises(TracingError, match="NumPy value of a traced tensor: it escaped"):
        escaped.numpy()
    other = nerve.function(lambda x: x + escaped)
    with pytest.raises(TracingError, match="used here, after that function returned") as info:
        other(ops.ones((2,)))
    assert f"called at {__file__}:" in str(info.value)


# -- composition and autodiff inside traces ------------------------------------------------


def test_nested_function_is_inlined():
    inner = nerve.function(lambda x: ops.exp(x) * 2.0)
    outer = nerve.function(lambda x: inner(x) + 1.0)
    x = ops.ones((3,))
    np.testing.assert_allclose(outer(x).numpy(), np.exp(1.0) * 2 + 1, rtol=1e-6)
    assert inner.trace_count == 0  # never traced on its own
    counts = outer.graph_for(x).primitive_counts()
    assert counts["exp"] == 1 and counts["add"] == 1
    assert inner(x).shape == (3,) and inner.trace_count == 1


def test_custom_gradient_inside_trace():
    @nerve.custom_gradient
    def half_grad(x):
        return x * 1.0, lambda dy: dy * 0.5

    def g(x):
        with nerve.GradientTape() as tape:
            tape.watch(x)
            y = ops.sum(half_grad(x) * x)
        return tape.gradient(y, x)

    x = ops.convert_to_tensor([1.0, 2.0])
    np.testing.assert_allclose(nerve.function(g)(x).numpy(), g(x).numpy())
    np.testing.assert_allclose(g(x).numpy(), [1.5, 3.0])


def test_grad_and_second_order_inside_trace():
    def d1(x):
        return nerve.grad(lambda z: ops.sum(ops.sin(z) * z))(x)

    def d2(x):
        return nerve.grad(lambda z: ops.sum(d1(z)))(x)

    x = ops.convert_to_tensor([0.3, -1.2, 2.0], "float64")
    c1, c2 = nerve.function(d1), nerve.function(d2)
    np.testing.assert_allclose(c1(x).numpy(), np.sin(x.numpy()) + x.numpy() * np.cos(x.numpy()))
    expected2 = 2 * np.cos(x.numpy()) - x.numpy() * np.sin(x.numpy())
    np.testing.assert_allclose(c2(x).numpy(), expected2, rtol=1e-12)
    np.testing.assert_allclose(c2(x).numpy(), d2(x).numpy(), rtol=1e-12)


def test_persistent_tape_second_order_inside_trace():
    @nerve.function
    def hessian_diag(x):
        with nerve.GradientTape() as outer:
            outer.watch(x)
            with nerve.GradientTape() as inner:
                inner.watch(x)
                y = ops.sum(x**3)
            total = ops.sum(inner.gradient(y, x))  # recorded by the outer tape
        return outer.gradient(total, x)

    np.testing.assert_allclose(hessian_diag(ops.convert_to_tensor([1.0, 2.0])).numpy(), [6, 12])


def test_side_effects_keep_program_order():
    a, b = nerve.Variable(ops.ones(())), nerve.Variable(ops.zeros(()))
    log = []

    def step():
        b.assign(a * 10.0)  # reads a before its update
        a.assign_add(1.0)
        b.assign_add(a)  # reads the updated a and the updated b
        a.assign(b * 0.0 + a * 3.0)
        return a.value, b.value

    eager_a, eager_b = nerve.Variable(ops.ones(())), nerve.Variable(ops.zeros(()))
    a0, b0 = a, b
    for _ in range(2):
        log.append(tuple(float(t) for t in nerve.function(step)()))
    a, b = eager_a, eager_b
    expected = [tuple(float(t) for t in step()) for _ in range(2)]
    assert log == expected == [(6.0, 12.0), (21.0, 67.0)]
    assert (float(a0), float(b0)) == (21.0, 67.0)
    graph = nerve.function(step).graph_for()
    effects = [n.prim.name for n in graph if n.has_effect and n.prim.name == "assign_variable"]
    assert len(effects) == 4


def test_returns_python_values_and_nested_structures():
    @nerve.function
    def f(x):
        return {"y": [x * 2, (x + 1, "label")], "n": 3, "none": None, "x": x}

    out = f(ops.ones((2,)))
    assert out["n"] == 3 and out["none"] is None and out["y"][1][1] == "label"
    assert isinstance(out["y"], list) and isinstance(out["y"][1], tuple)
    np.testing.assert_array_equal(out["y"][0].numpy(), [2.0, 2.0])
    np.testing.assert_array_equal(out["y"][1][0].numpy(), [2.0, 2.0])
    np.testing.assert_array_equal(out["x"].numpy(), [1.0, 1.0])
    assert nerve.function(lambda: 7)() == 7


# -- inspection ----------------------------------------------------------------------------


def _step_graph():
    w = nerve.Variable(ops.ones((3,)), name="w")

    def step(x):
        with nerve.GradientTape() as tape:
            loss = ops.sum(w * ops.tanh(x))
        w.assign_sub(0.1 * tape.gradient(loss, w))
        return loss

    return nerve.function(step).graph_for(ops.ones((3,)))


def test_graph_text_is_deterministic_across_traces():
    first, second = str(_step_graph()), str(_step_graph())
    assert first == second
    assert first.splitlines()[0] == "step(a:f32[3]) {"
    assert re.search(r"= read_variable\[.*slot=0 name=w\]\n", first)
    assert "assign_variable[slot=0 name=w]" in first
    assert first.splitlines()[-1] == "}"


def test_to_dot_structure():
    graph = nerve.function(lambda x: ops.exp(x) + 1.0).graph_for(ops.ones((2,)))
    dot = graph.to_dot()
    assert dot.startswith('digraph "<lambda>" {') and dot.endswith("}")
    assert 'in0 [shape=oval, label="input 0\\nf32[2]"];' in dot
    assert '[shape=box, label="exp"]' in dot and '[shape=box, label="add"]' in dot
    assert 'out0 [shape=oval, label="output 0"];' in dot
    assert dot == graph.to_dot()
    effectful = _step_graph().to_dot()
    assert "fillcolor=lightyellow" in effectful


def test_save_svg_without_graphviz(monkeypatch, tmp_path):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    graph = nerve.function(lambda x: x + 1).graph_for(ops.ones(()))
    with pytest.raises(RuntimeError, match="save_svg needs Graphviz's `dot` program"):
        graph.save_svg(str(tmp_path / "g.svg"))


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_save_svg_with_graphviz(tmp_path):
    path = tmp_path / "g.svg"
    nerve.function(lambda x: x + 1).graph_for(ops.ones(())).save_svg(str(path))
    assert "<svg" in path.read_text()


def test_profile_table_and_no_state_change():
    w = nerve.Variable(ops.ones((4,)))

    @nerve.function
    def step(x):
        w.assign_add(x)
        return ops.sum(w * x)

    x = ops.ones((4,))
    report = step.profile(x, repeat=2)
    np.testing.assert_array_equal(w.numpy(), np.ones(4))  # profiling changes no state
    graph = step.graph_for(x)
    assert [r["index"] for r in report] == list(range(len(graph)))
    assert all(r["ms"] >= 0 and 0 <= r["percent"] <= 100 for r in report)
    assert abs(sum(r["percent"] for r in report) - 100) < 1e-6
    lines = str(report).splitlines()
    assert lines[0].split() == ["#", "op", "output", "ms", "%"]
    assert lines[-1].split()[0] == "total" and lines[-1].split()[-1] == "100.0"
    assert len(lines) == len(graph) + 3


# -- the op harness's eager-vs-compiled check ------------------------------------------------


def test_check_compiled_passes_for_a_correct_op():
    case = OpCase("exp", ops.exp, [(Input((2, 3)),)], numpy=np.exp)
    check_compiled(case, 0)


def _traced_differently(x):
    """An op that computes something else when traced: what the check must catch."""
    traced = nerve.graph.trace.active_trace() is not None
    return x * (3.0 if traced else 2.0)


def test_check_compiled_catches_a_wrong_forward():
    case = OpCase("bad", _traced_differently, [(Input((3,)),)])
    with pytest.raises(AssertionError, match="bad compiled \\(float32\\) output 0"):
        check_compiled(case, 0)


def test_check_compiled_catches_a_wrong_dtype():
    def wrong_dtype(x):
        traced = nerve.graph.trace.active_trace() is not None
        return ops.cast(x, "float64") if traced else x

    case = OpCase("dtype", wrong_dtype, [(Input((3,)),)], dtypes=("float32",))
    with pytest.raises(AssertionError, match=re.escape("is float64[3], eager gave float32[3]")):
        check_compiled(case, 0)


def test_check_compiled_catches_a_wrong_gradient():
    @nerve.custom_gradient
    def bad_grad(x):
        traced = nerve.graph.trace.active_trace() is not None
        return x * 1.0, lambda dy: dy * (2.0 if traced else 1.0)

    case = OpCase("badgrad", bad_grad, [(Input((3,)),)], dtypes=("float64",))
    with pytest.raises(AssertionError, match="badgrad compiled grad output 0"):
        check_compiled(case, 0)
