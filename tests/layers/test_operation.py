"""Ops, operators and indexing on symbolic tensors become ``Operation`` nodes
(``nerve/layers/operation.py``): their shapes against Keras 3's, models that run,
train, round-trip through configs, ``.keras`` files and ``clone_model``, Keras's
table of op classes, the allowlist, and errors that name the op and the shapes.

Every op's row in the op harness is also checked on symbolic tensors
(``check_symbolic``); this file covers what a single row cannot.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import nerve
from nerve import layers, ops
from nerve.core.errors import ShapeError
from nerve.layers.operation import Operation

# Expressions written once for both libraries: (inputs' shapes, f(ops, *inputs)).
EXPRESSIONS: dict[str, tuple[tuple, Callable[..., Any]]] = {
    "slice_columns": (((6,),), lambda o, x: x[:, :4]),
    "int_and_negative_step": (((4, 6),), lambda o, x: x[:, 1, ::-2]),
    "ellipsis_and_newaxis": (((4, 6),), lambda o, x: x[..., None, 1:3]),
    "newaxis_first": (((3,),), lambda o, x: x[None, :, 0]),
    "batch_index": (((4, 6),), lambda o, x: x[0]),
    "unknown_axis_sliced": (((None, 6),), lambda o, x: x[:, 1:, 2]),
    "concatenate": (((4,), (6,)), lambda o, a, b: o.concatenate([a, b[:, 1:3]], axis=-1)),
    "mean_keepdims": (((3, 5),), lambda o, x: o.mean(x, axis=-1, keepdims=True)),
    "sum_over_batch": (((3,),), lambda o, x: o.sum(x, axis=0)),
    "reshape_infers": (((None, 4),), lambda o, x: o.reshape(x, (-1, 2, 2))),
    "transpose": (((3, 5),), lambda o, x: o.transpose(x, (0, 2, 1))),
    "broadcast": (((1, 6), (5, 1)), lambda o, a, b: a * 2.0 + b),
    "matmul_constant": (((6,),), lambda o, x: x @ o.ones((6, 3))),
    "where_compare": (((6,),), lambda o, x: o.where(x > 0, x, -x / 3)),
    "power_neg_abs": (((6,),), lambda o, x: abs(-(x**2)) // 2 % 3),
    "stack_split": (((4,),), lambda o, x: o.stack(o.split(x, 2, axis=-1), axis=1)),
    "resize": (((4, 4, 3),), lambda o, x: o.image.resize(x, (8, 2))),
    "softmax_nn": (((5,),), lambda o, x: o.nn.softmax(x)),
    "take_with_tensor": (((5,),), lambda o, x: o.take(x, o.convert_to_tensor([0, 2]), axis=1)),
    "conv_constant_kernel": (((8, 3),), lambda o, x: o.conv(x, o.ones((3, 3, 4)), padding="same")),
    "einsum_pad": (
        ((3, 4),),
        lambda o, x: o.pad(o.einsum("bij,bkj->bik", x, x), [[0, 0], [1, 0], [0, 2]]),
    ),
}


@pytest.fixture(scope="module")
def keras() -> Any:
    return pytest.importorskip("keras")


def _build(lib: Any, shapes: tuple, fn: Callable[..., Any]) -> tuple[list, Any]:
    inputs = [lib.Input(shape) for shape in shapes]
    return inputs, fn(lib.ops, *inputs)


def _data(shapes: tuple, batch: int = 2) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [
        rng.standard_normal((batch, *(3 if d is None else d for d in s))).astype("float32")
        for s in shapes
    ]


@pytest.mark.parametrize("name", sorted(EXPRESSIONS))
def test_symbolic_shapes_and_dtypes_match_keras(keras, name):
    shapes, fn = EXPRESSIONS[name]
    _, theirs = _build(keras, shapes, fn)
    _, ours = _build(nerve, shapes, fn)
    assert isinstance(ours, nerve.KerasTensor)
    assert (ours.shape, ours.dtype) == (tuple(theirs.shape), theirs.dtype)


@pytest.mark.parametrize("name", sorted(EXPRESSIONS))
def test_models_of_ops_compute_what_the_ops_compute_and_round_trip(name, tmp_path):
    shapes, fn = EXPRESSIONS[name]
    inputs, output = _build(nerve, shapes, fn)
    model = nerve.Model(inputs, output)
    data = _data(shapes)
    expected = fn(ops, *[ops.convert_to_tensor(x) for x in data]).numpy()
    copies = {
        "model": model,
        "from_config": nerve.Model.from_config(json.loads(json.dumps(model.get_config()))),
        "clone_model": nerve.models.clone_model(model),
    }
    model.save(tmp_path / "ops.keras")
    copies["load_model"] = nerve.saving.load_model(tmp_path / "ops.keras")
    for what, copy in copies.items():
        # Called, not predict(): some of these mix the batch axis (x[0], a sum over it).
        np.testing.assert_allclose(copy(data).numpy(), expected, 1e-6, 1e-6, what)


def _op_entries(config: dict) -> list:
    """A Functional config's op entries with the names left out (counters differ)."""

    def unnamed(x: Any) -> Any:
        if isinstance(x, dict) and x.get("class_name") == "__keras_tensor__":
            return {k: v for k, v in x["config"].items() if k != "keras_history"}
        if isinstance(x, list):
            return [unnamed(v) for v in x]
        if isinstance(x, dict):
            return {k: unnamed(v) for k, v in x.items() if k != "name"}
        return x

    def node(data: dict) -> list:
        # Keras passes some call arguments by keyword (Pad's constant_values); nerve
        # passes them all by position: Keras reads both.
        return unnamed([*data["args"], *(data["kwargs"][k] for k in sorted(data["kwargs"]))])

    entries = [
        {
            **unnamed({k: entry[k] for k in ("module", "class_name", "config")}),
            # One function in nerve, two classes in Keras (`/` makes TrueDivide there).
            "class_name": {"TrueDivide": "Divide"}.get(entry["class_name"], entry["class_name"]),
            "nodes": [node(data) for data in entry["inbound_nodes"]],
        }
        for entry in config["layers"]
        if entry["module"].startswith("keras.src.ops.")
    ]
    return sorted(entries, key=lambda entry: json.dumps(entry, sort_keys=True))


@pytest.mark.parametrize("name", sorted(EXPRESSIONS))
def test_configs_are_the_ones_keras_writes_and_load_in_keras(keras, name):
    shapes, fn = EXPRESSIONS[name]
    theirs = keras.Model(*_build(keras, shapes, fn))
    ours = nerve.Model(*_build(nerve, shapes, fn))
    config = json.loads(json.dumps(ours.get_config()))
    assert _op_entries(config) == _op_entries(json.loads(json.dumps(theirs.get_config())))
    data = _data(shapes)
    np.testing.assert_allclose(
        np.asarray(keras.Model.from_config(config)(data)), ours(data).numpy(), 1e-6, 1e-6
    )


def test_operators_record_keras_op_classes():
    x, n = nerve.Input((4,)), nerve.Input((4,), dtype="int32")
    outputs = {
        "Add": x + 1, "Subtract": 1 - x, "Multiply": x * x, "Divide": x / 2,
        "FloorDivide": x // 2, "Mod": x % 2, "Power": 2**x, "Matmul": x @ ops.ones((4,)),
        "Negative": -x, "Absolute": abs(x), "Less": x < 1, "LessEqual": x <= 1,
        "Greater": x > 1, "GreaterEqual": x >= 1, "NotEqual": x != 1,
        "LogicalAnd": (x > 0) & (x < 1), "LogicalOr": (x > 0) | True,
        "LogicalXor": (x > 0) ^ (x > 1), "LogicalNot": ~(x > 0), "BitwiseAnd": n & 3,
        "BitwiseOr": 3 | n, "BitwiseInvert": ~n, "BitwiseLeftShift": n << 1,
        "BitwiseRightShift": n >> 1,
        "GetItem": x[1:], "Round": round(x),
    }  # fmt: skip
    model = nerve.Model([x, n], list(outputs.values()))
    classes = {c["class_name"] for c in model.get_config()["layers"]}
    assert set(outputs) <= classes
    assert [layer.name for layer in model.layers] == [x.node.layer.name, n.node.layer.name]
    assert x == x and x is not None  # `==` stays identity, as in Keras


def test_gradients_flow_through_op_nodes():
    inputs = nerve.Input((6,))
    hidden = layers.Dense(8, name="first")(inputs)
    x = ops.concatenate([hidden[:, :4] * 2.0, ops.tanh(hidden[:, 4:])], axis=-1)
    x = x - ops.mean(x, axis=-1, keepdims=True)
    model = nerve.Model(inputs, layers.Dense(1)(x))
    data = _data(((6,),), batch=8)[0]
    with nerve.GradientTape() as tape:
        loss = ops.mean(model(data) ** 2)
    gradients = tape.gradient(loss, model.trainable_weights)
    assert all(g is not None and float(ops.max(ops.abs(g))) > 0 for g in gradients)
    model.compile(optimizer="sgd", loss="mse")
    first = model.get_layer("first").kernel.numpy().copy()
    model.fit(data, np.ones((8, 1), "float32"), epochs=2, verbose=0)
    assert not np.allclose(model.get_layer("first").kernel.numpy(), first)


def test_concrete_calls_are_untouched():
    assert ops.numpy.sum is ops.sum
    assert ops.sum.__wrapped__.__module__ == "nerve.ops.reduction"
    with pytest.raises(ShapeError, match="broadcast"):
        ops.add(ops.ones((3,)), ops.ones((4,)))


@pytest.mark.parametrize(
    ("expression", "pieces"),
    [
        (
            lambda: ops.matmul(nerve.Input((3,)), nerve.Input((4,))),
            ["ops.matmul", "(None, 3) float32", "(None, 4) float32"],
        ),
        (
            lambda: ops.concatenate([nerve.Input((3, 4)), nerve.Input((5,))]),
            ["ops.concatenate", "(None, 3, 4) float32", "(None, 5) float32"],
        ),
        (lambda: nerve.Input((3,))[:, 0, 1], ["ops.get_item", "(None, 3)", "too many indices"]),
    ],
)
def test_ops_that_do_not_fit_name_the_op_and_the_shapes(expression, pieces):
    with pytest.raises(ShapeError) as info:
        expression()
    message = str(info.value)
    assert all(piece in message for piece in pieces), message
    assert "What the op expected" in message
    assert "test_operation.py" in message  # points at the user's line


@pytest.mark.parametrize(
    "entry",
    [
        {"module": "keras.src.ops.numpy", "class_name": "Eval", "config": {}},
        {"module": "os", "class_name": "system", "config": {}},
        {"module": "nerve.ops", "class_name": "_convert.cast", "config": {}},
        {"module": "nerve.ops", "class_name": "image.__builtins__", "config": {}},
    ],
)
def test_only_known_ops_are_built_from_a_config(entry):
    inputs = nerve.Input((3,))
    config = nerve.Model(inputs, inputs * 2.0).get_config()
    config["layers"][1].update(entry)
    with pytest.raises((ValueError, TypeError)):
        nerve.Model.from_config(config)


def test_a_keras_config_with_ops_rebuilds_in_nerve(keras):
    shapes = ((6,), (7,))
    inputs = [keras.Input(shape) for shape in shapes]
    joined = keras.ops.concatenate([inputs[0][:, :4], inputs[1] * 2.0], axis=-1)
    theirs = keras.Model(inputs, keras.ops.mean(joined, axis=-1))
    ours = nerve.Model.from_config(json.loads(json.dumps(theirs.get_config())))
    data = _data(shapes)
    np.testing.assert_allclose(ours.predict(data, verbose=0), theirs.predict(data, verbose=0))


def test_the_table_is_keras_own(keras):
    from nerve.layers._keras_ops import KERAS_OP_ROWS
    from tests.layers._keras_op_rows import keras_op_rows

    assert [tuple(row) for row in KERAS_OP_ROWS] == keras_op_rows()


def test_an_operation_runs_and_describes_itself():
    mean = Operation("mean", {"axis": -1, "keepdims": False}, ("x",))
    assert mean(ops.ones((2, 3))).shape == (2,)
    assert mean.serialize()["module"] == "keras.src.ops.numpy"
    with pytest.raises(ValueError, match=r"not a public nerve\.ops function"):
        Operation("no_such_op")


def test_ops_with_python_answers_give_them_without_a_node():
    x = nerve.Input((4, 6))
    assert (ops.shape(x), ops.ndim(x)) == ((None, 4, 6), 3)
    with pytest.raises(TypeError, match="depends on its unknown sizes"):
        ops.size(x)


def test_keras_activation_ops_cross_both_ways(keras):
    # keras.activations.relu on a symbolic tensor is a node of its own class (ReLU,
    # filed under keras.src.activations.activations), which nerve reads and writes.
    x = keras.Input((5,))
    theirs = keras.Model(x, keras.activations.relu(x, negative_slope=0.1, max_value=0.5) * 2.0)
    ours = nerve.Model.from_config(json.loads(json.dumps(theirs.get_config())))
    back = keras.Model.from_config(json.loads(json.dumps(ours.get_config())))
    data = _data(((5,),))[0]
    expected = np.asarray(theirs(data))
    np.testing.assert_allclose(ours(data).numpy(), expected, 1e-6, 1e-6)
    np.testing.assert_allclose(np.asarray(back(data)), expected, 1e-6, 1e-6)
