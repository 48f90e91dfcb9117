"""None dims of an input_signature are traced once, symbolically, and specialized per size."""

import json

import numpy as np
import pytest

import nerve
from nerve import ops
from nerve.core.errors import AxisError, ShapeError
from nerve.core.symbolic import Dim, SymbolicDimError
from nerve.graph.polymorphic import specialize
from nerve.saving.serialization import get_build_config, serialize_keras_object

from ..training.helpers import TinyModel, regression_data, weights_of


def _step_for(w, b, calls):
    """A training step: forward, a mean loss, gradients through a cond, an
    optimizer-style update of two variables; ``calls`` counts Python runs."""

    def step(x, y):
        calls.append(x.shape)
        with nerve.GradientTape() as tape:
            logits = x @ w + b
            logits = ops.cond(ops.sum(logits) > 0.0, lambda: logits * 0.5, lambda: logits)
            loss = ops.mean(ops.sparse_categorical_crossentropy(y, logits, from_logits=True))
        grad_w, grad_b = tape.gradient(loss, [w, b])
        w.assign_sub(0.1 * grad_w)
        b.assign_sub(0.1 * grad_b)
        rows = ops.reshape(logits, (-1,))
        return loss, rows, ops.sum(x[1:], axis=0) / x.shape[0], x.shape

    return step


SIGNATURE = [nerve.TensorSpec((None, 3)), nerve.TensorSpec((None,), "int32")]


def test_the_python_function_runs_once_for_every_size_and_matches_eager():
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal((3, 4)).astype("float32")
    eager_vars = nerve.Variable(w0), nerve.Variable(np.zeros(4, "float32"))
    graph_vars = nerve.Variable(w0), nerve.Variable(np.zeros(4, "float32"))
    eager_calls, graph_calls = [], []
    eager = _step_for(*eager_vars, eager_calls)
    compiled = nerve.function(_step_for(*graph_vars, graph_calls), input_signature=SIGNATURE)
    for n in (2, 3, 8, 100, 3):
        x = rng.standard_normal((n, 3)).astype("float32")
        y = rng.integers(0, 4, n).astype("int32")
        expected, got = eager(x, y), compiled(x, y)
        for a, b in zip(expected[:3], got[:3]):
            assert a.shape == b.shape
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-7)
        assert got[3] == (n, 3)  # a static output holding the symbolic size is evaluated
        for v_eager, v_graph in zip(eager_vars, graph_vars):
            np.testing.assert_allclose(v_eager.numpy(), v_graph.numpy(), rtol=1e-6)
    assert compiled.trace_count == 1 and len(graph_calls) == 1
    assert graph_calls[0] == (Dim.symbol(), 3)  # the one run saw the symbol, not a size
    assert compiled.symbolic_fallback_reason is None


def test_specialize_evaluates_shapes_params_and_scalars():
    f = nerve.function(
        lambda x: ops.reshape(x, (-1,)) * ops.mean(x) + x.shape[0],
        input_signature=[nerve.TensorSpec((None, 2))],
    )
    symbolic = f.get_concrete_function(np.ones((5, 2), "float32")).symbolic
    text = str(symbolic)
    assert "f32[n,2]" in text and "shape=(2n,)" in text and "(1.0 / 2n)" in text
    assert "value=n]" in text  # the batch size as a tensor: a full node
    concrete = specialize(symbolic, 7)
    assert [v.aval.shape for v in concrete.inputs] == [(7, 2)]
    assert "n]" not in str(concrete) and "n," not in str(concrete)
    assert "value=0.07142857142857142" in str(concrete) and "shape=(14,)" in str(concrete)
    np.testing.assert_allclose(f(np.ones((7, 2), "float32")).numpy(), np.full(14, 8.0))
    # The optimized graph of a size folds the symbolic scalars into constants.
    optimized = f.get_concrete_function(np.ones((7, 2), "float32")).graph
    assert "full" not in optimized.primitive_counts()
    assert "scalar_like" not in optimized.primitive_counts()


def test_a_size_where_the_graph_has_a_negative_dimension_is_refused():
    f = nerve.function(lambda x: x[2:], input_signature=[nerve.TensorSpec((None,))])
    symbolic = f.get_concrete_function(np.ones(5, "float32")).symbolic
    assert symbolic.outputs[0].aval.shape == (Dim(1, -2),)
    assert specialize(symbolic, 2).outputs[0].aval.shape == (0,)
    with pytest.raises(SymbolicDimError, match="negative dimension"):
        specialize(symbolic, 1)


@pytest.mark.parametrize(
    "fn, operation",
    [
        (lambda x: ops.sum(x[: x.shape[0] // 2]), "n // 2"),
        (lambda x: ops.reshape(x, (-1, 2)), "3n % 2"),
        (lambda x: x * int(x.shape[0]), "int(n)"),
        (lambda x: x * 2.0 if x.shape[0] > 4 else x, "n > 4"),
        (lambda x: ops.stack([x[i] for i in range(x.shape[0])]), "range()"),
    ],
    ids=["half", "reshape", "int", "if", "range"],
)
def test_sizes_used_non_affinely_fall_back_to_one_trace_per_size(fn, operation):
    f = nerve.function(fn, input_signature=[nerve.TensorSpec((None, 3))])
    sizes = (2, 4, 6, 7, 4)
    for n in sizes:
        x = np.arange(3 * n, dtype="float32").reshape(n, 3)
        try:
            expected = fn(ops.convert_to_tensor(x)).numpy()
        except ShapeError:  # reshape to (-1, 2) of an odd size: compiled raises it too
            with pytest.raises(ShapeError):
                f(x)
            continue
        np.testing.assert_allclose(f(x).numpy(), expected)
    assert operation in f.symbolic_fallback_reason
    assert "traces this function once per size" in f.symbolic_fallback_reason
    assert "test_polymorphic.py" in f.symbolic_fallback_reason  # where the size was used
    # Honest count: the failed symbolic run, then one run per size (a size whose trace
    # raised, 7 for the reshape, is not cached: both its calls were one run each).
    assert f.trace_count == 1 + len(set(sizes))


def test_an_error_other_than_a_symbolic_one_falls_back_and_names_it():
    def fn(x):
        np.asarray(x.shape)  # NumPy cannot hold the symbol
        return x + 1.0

    f = nerve.function(fn, input_signature=[nerve.TensorSpec((None,))])
    for n in (2, 3):
        np.testing.assert_array_equal(f(np.zeros(n, "float32")).numpy(), np.ones(n))
    assert "NumPy array of n" in f.symbolic_fallback_reason
    assert f.trace_count == 3


def test_sizes_0_and_1_are_correct_and_served_when_no_decision_differs_there():
    # No comparison of the size: the one symbolic trace serves 0 and 1 too.
    plain = nerve.function(
        lambda x: x * 2.0 + ops.sum(x), input_signature=[nerve.TensorSpec((None,))]
    )
    # A mean asks whether its count is 0: decided (no) for every n >= 2 and at 1, not at 0.
    mean = nerve.function(ops.mean, input_signature=[nerve.TensorSpec((None,))])
    for n in (3, 0, 1, 2, 0, 1):
        x = np.arange(n, dtype="float32")
        np.testing.assert_array_equal(plain(x).numpy(), x * 2 + x.sum())
        expected = np.float32(np.nan) if n == 0 else x.mean()
        np.testing.assert_array_equal(mean(x).numpy(), expected)
    assert plain.trace_count == 1
    assert mean.trace_count == 2  # symbolic, then size 0 (a mean of nothing is nan)

    # x[1] needs n > 1: size 1 (and 0) trace concretely, and raise as eager does.
    second = nerve.function(lambda x: x[1] * 2.0, input_signature=[nerve.TensorSpec((None,))])
    assert float(second(np.arange(5, dtype="float32"))) == 2.0
    for n in (0, 1):
        with pytest.raises(AxisError, match="out of range"):
            second(np.zeros(n, "float32"))
    assert second.trace_count == 3
    assert float(second(np.arange(2, dtype="float32"))) == 2.0 and second.trace_count == 3


class CountingModel(TinyModel):
    """Counts the runs of its (default) train_step's Python."""

    def __init__(self):
        super().__init__()
        self.step_runs = 0

    def train_step(self, data):
        self.step_runs += 1
        return super().train_step(data)


def test_the_trainers_short_last_batch_reuses_the_one_trace():
    x, y = regression_data(50)  # batches of 16, 16, 16 and 2
    nerve.utils.set_random_seed(5)
    model = CountingModel()
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    history = model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    assert model.step_runs == 1 and model.train_function.trace_count == 1
    assert [f.symbolic_fallback_reason for f in model.train_function.functions] == [None]

    nerve.utils.set_random_seed(5)
    reference = CountingModel()
    reference.compile(optimizer="adam", loss="mse", metrics=["mae"], run_eagerly=True)
    expected = reference.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    assert reference.step_runs == 8
    for a, b in zip(weights_of(model), weights_of(reference)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(history.history["loss"], expected.history["loss"], rtol=1e-5)
    np.testing.assert_allclose(history.history["mae"], expected.history["mae"], rtol=1e-5)


def test_a_model_built_inside_the_symbolic_trace_records_an_unknown_batch_size():
    x, y = regression_data(20)
    model = nerve.Sequential([nerve.layers.Dense(4), nerve.layers.Dense(1)])  # no Input
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)  # built by the first traced step
    assert model.train_function.trace_count == 1
    assert get_build_config(model) == {"input_shape": (None, 3)}
    json.dumps(serialize_keras_object(model))  # no symbolic size left to serialize
