"""A fuzzer of the public API's argument checks: ``fit`` / ``evaluate`` / ``predict`` /
``compile`` arguments and the core layers' constructor arguments, each given wrong types
and values (one argument at a time, the others valid). Every outcome must be a success
with finite numbers, or one of nerve's documented errors (``ValueError`` / ``TypeError``,
nerve's own ``NerveError`` subclasses among them) with a message: never another
exception, a hang, or a silent NaN.

The normal run tries the same 25 cases per target every time (about 30 s in all); set
``NERVE_FUZZ_EXAMPLES=2000`` for a long run with fresh random cases (and
``-W ignore::DeprecationWarning``: Hypothesis's report of a failure trips a deprecation
warning of an installed package, which the suite turns into an error). A failure prints
the argument and the value.
"""

from __future__ import annotations

import math
import os
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nerve
from nerve import layers

LONG_RUN = os.environ.get("NERVE_FUZZ_EXAMPLES")
EXAMPLES = int(LONG_RUN or "25")
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=LONG_RUN is None,  # the normal run tries the same cases every time
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

RNG = np.random.default_rng(0)
X = RNG.random((6, 4)).astype("float32")
Y = np.array([0, 1, 2, 0, 1, 2])

#: Wrong (and some right) values of every kind: small, so a value that passes finishes fast.
ODD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.sampled_from([math.nan, math.inf, -math.inf, -1.0, 0.0, 0.5, 2.5]),
    st.text(max_size=4),
    st.sampled_from(["auto", "relu", "mse", "sgd", "same", "valid", "channels_last"]),
    st.lists(st.integers(-1, 3), max_size=3),
    st.tuples(st.integers(-1, 3), st.integers(-1, 3)),
    st.dictionaries(st.integers(-1, 4), st.floats(-1, 2), max_size=2),
    st.builds(lambda n: np.zeros((n,), "float32"), st.integers(0, 7)),
    st.builds(lambda: np.array(["a", "b"])),
    st.builds(object),
)


def check_outcome(call) -> object:
    """Run ``call``: its result, or ``None`` when it raised a documented error."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. "the input ran out of data"
            return call()
    except (ValueError, TypeError) as error:
        assert str(error).strip(), f"{type(error).__name__} without a message"
        return None


def finite_logs(logs) -> None:
    values = logs.values() if isinstance(logs, dict) else np.atleast_1d(logs)
    for value in values:
        value = value[-1] if isinstance(value, list) else value
        assert math.isfinite(float(value)), f"a silent NaN/inf in {logs!r}"


def model(**compile_args):
    net = nerve.Sequential([nerve.Input(shape=(4,)), layers.Dense(3, activation="softmax")])
    net.compile(
        **{
            "optimizer": "sgd",
            "loss": "sparse_categorical_crossentropy",
            "metrics": ["accuracy"],
            **compile_args,
        }
    )
    return net


@pytest.fixture(scope="module")
def trained():
    return model()


FIT_ARGUMENTS = [
    "batch_size", "epochs", "verbose", "callbacks", "validation_split", "validation_data",
    "shuffle", "class_weight", "sample_weight", "initial_epoch", "steps_per_epoch",
    "validation_steps", "validation_batch_size", "validation_freq",
]  # fmt: skip


@FUZZ
@given(argument=st.sampled_from(FIT_ARGUMENTS), value=ODD_VALUES)
def test_fit_arguments(trained, argument, value):
    history = check_outcome(lambda: trained.fit(X, Y, **{"verbose": 0, argument: value}))
    if history is not None:
        finite_logs(history.history)


@FUZZ
@given(argument=st.sampled_from(["x", "y"]), value=ODD_VALUES)
def test_fit_data(trained, argument, value):
    data = {"x": X, "y": Y, argument: value}
    history = check_outcome(lambda: trained.fit(data["x"], data["y"], verbose=0))
    if history is not None:
        finite_logs(history.history)


COMPILE_ARGUMENTS = [
    "optimizer", "loss", "loss_weights", "metrics", "weighted_metrics", "run_eagerly",
    "steps_per_execution", "jit_compile", "auto_scale_loss",
]  # fmt: skip


@FUZZ
@given(argument=st.sampled_from(COMPILE_ARGUMENTS), value=ODD_VALUES)
def test_compile_arguments(argument, value):
    def compile_and_fit():
        net = model(**{argument: value})
        return net.fit(X, Y, verbose=0, batch_size=3)

    history = check_outcome(compile_and_fit)
    if history is not None:
        finite_logs(history.history)


@FUZZ
@given(
    argument=st.sampled_from(
        ["x", "y", "batch_size", "verbose", "sample_weight", "steps", "callbacks"]
    ),
    value=ODD_VALUES,
)
def test_evaluate_arguments(trained, argument, value):
    arguments = {"x": X, "y": Y, "verbose": 0, argument: value}
    logs = check_outcome(lambda: trained.evaluate(**arguments))
    if logs is not None:
        finite_logs(logs)


@FUZZ
@given(argument=st.sampled_from(["x", "batch_size", "verbose", "steps"]), value=ODD_VALUES)
def test_predict_arguments(trained, argument, value):
    arguments = {"x": X, "verbose": 0, argument: value}
    outputs = check_outcome(lambda: trained.predict(**arguments))
    if outputs is not None:
        assert np.isfinite(np.asarray(outputs, dtype="float64")).all()


#: (layer, valid arguments, an input, the arguments to fuzz)
LAYERS = [
    (layers.Dense, {"units": 3}, (2, 4), ["units", "activation", "use_bias", "kernel_initializer"]),
    (layers.Conv1D, {"filters": 2, "kernel_size": 3}, (2, 8, 3),
     ["filters", "kernel_size", "strides", "padding", "dilation_rate", "groups", "data_format"]),
    (layers.Conv2D, {"filters": 2, "kernel_size": 2}, (1, 5, 5, 2),
     ["filters", "kernel_size", "strides", "padding", "activation"]),
    (layers.Embedding, {"input_dim": 5, "output_dim": 2}, "ids",
     ["input_dim", "output_dim", "mask_zero"]),
    (layers.LSTM, {"units": 2}, (2, 3, 4),
     ["units", "activation", "return_sequences", "dropout", "recurrent_dropout"]),
    (layers.GRU, {"units": 2}, (2, 3, 4), ["units", "reset_after", "go_backwards"]),
    (layers.SimpleRNN, {"units": 2}, (2, 3, 4), ["units", "return_state", "unroll"]),
    (layers.Dropout, {"rate": 0.5}, (2, 4), ["rate", "noise_shape", "seed"]),
    (layers.BatchNormalization, {}, (4, 3), ["axis", "momentum", "epsilon", "center"]),
    (layers.LayerNormalization, {}, (4, 3), ["axis", "epsilon", "scale"]),
    (layers.MaxPooling2D, {}, (1, 4, 4, 2), ["pool_size", "strides", "padding"]),
    (layers.AveragePooling1D, {}, (1, 6, 2), ["pool_size", "strides", "padding"]),
    (layers.Reshape, {"target_shape": (4,)}, (2, 2, 2), ["target_shape"]),
    (layers.Flatten, {}, (2, 2, 2), ["data_format"]),
    (layers.Activation, {"activation": "relu"}, (2, 3), ["activation"]),
    (layers.RepeatVector, {"n": 2}, (2, 3), ["n"]),
    (layers.UpSampling2D, {}, (1, 2, 2, 1), ["size", "interpolation"]),
    (layers.ZeroPadding2D, {}, (1, 2, 2, 1), ["padding"]),
    (layers.MultiHeadAttention, {"num_heads": 2, "key_dim": 2}, "attention",
     ["num_heads", "key_dim", "value_dim", "dropout", "use_bias"]),
]  # fmt: skip


def layer_input(spec):
    if spec == "ids":
        return np.array([[0, 1, 4], [2, 3, 0]])
    if spec == "attention":
        return np.ones((2, 3, 4), "float32")
    return np.random.default_rng(1).random(spec).astype("float32")


def run_layer(layer_class, arguments, spec):
    layer = layer_class(**arguments)
    x = layer_input(spec)
    return layer(x, x) if spec == "attention" else layer(x)


@FUZZ
@given(
    case=st.sampled_from(
        [(i, name) for i, (_, _, _, names) in enumerate(LAYERS) for name in names]
    ),
    value=ODD_VALUES,
)
def test_layer_constructor_arguments(case, value):
    index, name = case
    layer_class, valid, spec, _ = LAYERS[index]
    outputs = check_outcome(lambda: run_layer(layer_class, {**valid, name: value}, spec))
    if outputs is not None:
        for output in outputs if isinstance(outputs, (list, tuple)) else [outputs]:
            assert np.isfinite(np.asarray(output, dtype="float64")).all(), (
                f"{layer_class.__name__}({name}={value!r}) gave NaN/inf"
            )
