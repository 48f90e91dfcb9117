"""No silent wrong results from bad arguments or data: each case below used to train or
report a number (often a loss of 0.0); now it is an error that names what was wrong and
what was expected. One table of cases, then the behaviours that need more than a call.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import nerve
from nerve import layers, losses, metrics
from nerve.core import config
from nerve.core.errors import DataError, DTypeError
from tests.training.helpers import TinyModel, TwoInputModel

RNG = np.random.default_rng(0)
X = RNG.random((8, 4)).astype("float32")
LABELS = np.array([0, 1, 2, 0, 1, 2, 0, 1])
ONE_HOT = np.eye(3, dtype="float32")[LABELS]
PROBS = np.full((8, 3), 1 / 3, "float32")


def classifier(**compile_args) -> nerve.Model:
    model = nerve.Sequential([nerve.Input(shape=(4,)), layers.Dense(3, activation="softmax")])
    compile_args.setdefault("loss", "sparse_categorical_crossentropy")
    compile_args.setdefault("metrics", ["accuracy"])
    model.compile(optimizer="sgd", **compile_args)
    return model


def bad_labels(value) -> np.ndarray:
    labels = LABELS.astype("float32" if isinstance(value, float) else "int64")
    labels[3] = value
    return labels


BAD_LABELS = [5, -1, 1.7]


def _nan_at(row: int) -> np.ndarray:
    x = X.copy()
    x[row, 1] = np.nan
    return x


def _generator(batches):
    yield from batches


CASES = {
    # -- sparse labels out of range: eager calls, fit (first batch), evaluate, validation
    **{
        f"scce-eager-{v}": (
            lambda v=v: losses.sparse_categorical_crossentropy(bad_labels(v), PROBS),
            DataError,
            rf"sparse_categorical_crossentropy: y_true holds 1 label .*\[0, 3\).*first: {v}",
        )
        for v in BAD_LABELS
    },
    **{
        f"scce-class-eager-{v}": (
            lambda v=v: losses.SparseCategoricalCrossentropy()(bad_labels(v), PROBS),
            DataError,
            r"not an integer class index in \[0, 3\)",
        )
        for v in BAD_LABELS
    },
    **{
        f"accuracy-eager-{v}": (
            lambda v=v: metrics.sparse_categorical_accuracy(bad_labels(v), PROBS),
            DataError,
            rf"sparse_categorical_accuracy: y_true holds .*first: {v}",
        )
        for v in BAD_LABELS
    },
    "top-k-accuracy-eager": (
        lambda: metrics.SparseTopKCategoricalAccuracy(k=2).update_state(bad_labels(5), PROBS),
        DataError,
        r"sparse_top_k_categorical_accuracy",
    ),
    **{
        f"fit-{v}": (
            lambda v=v: classifier().fit(X, bad_labels(v), verbose=0),
            DataError,
            rf"fit \(sparse_categorical_crossentropy\): y holds 1 label .*first: {v}",
        )
        for v in BAD_LABELS
    },
    "fit-eager": (
        lambda: classifier(run_eagerly=True).fit(X, bad_labels(5), verbose=0),
        DataError,
        r"\[0, 3\)",
    ),
    "fit-metric-only": (
        lambda: classifier(loss=_mean_score, metrics=["sparse_categorical_accuracy"]).fit(
            X, bad_labels(3), verbose=0
        ),
        DataError,
        r"fit \(sparse_categorical_accuracy\)",
    ),
    "fit-subclassed-model": (
        lambda: _compiled(TinyModel(units=3, activation="softmax")).fit(
            X, bad_labels(5), verbose=0
        ),
        DataError,
        r"fit \(sparse_categorical_crossentropy\)",
    ),
    "fit-validation-data": (
        lambda: classifier().fit(X, LABELS, validation_data=(X, bad_labels(-1)), verbose=0),
        DataError,
        r"fit \(validation data\) \(sparse_categorical_crossentropy\)",
    ),
    **{
        f"evaluate-{v}": (
            lambda v=v: classifier().evaluate(X, bad_labels(v), verbose=0),
            DataError,
            r"evaluate \(sparse_categorical_crossentropy\): y holds",
        )
        for v in BAD_LABELS
    },
    "evaluate-a-later-batch": (
        lambda: classifier().evaluate(X, bad_labels(7)[::-1].copy(), batch_size=2, verbose=0),
        DataError,
        r"evaluate",
    ),
    # -- no targets, no data
    "fit-without-targets": (
        lambda: classifier(loss="mse").fit(X, None, verbose=0),
        ValueError,
        r"fit: the model was compiled with loss='mse'.*no targets \(y is None\)",
    ),
    "evaluate-without-targets": (
        lambda: classifier(loss="mse").evaluate(X, verbose=0),
        ValueError,
        r"evaluate: .*no targets",
    ),
    "fit-empty-arrays": (
        lambda: classifier().fit(np.zeros((0, 4)), np.zeros((0,)), verbose=0),
        DataError,
        r"data is empty \(0 samples",
    ),
    "evaluate-empty-arrays": (
        lambda: classifier().evaluate(np.zeros((0, 4)), np.zeros((0,)), verbose=0),
        DataError,
        r"data is empty",
    ),
    "evaluate-empty-generator": (
        lambda: classifier().evaluate(_generator([]), verbose=0),
        DataError,
        r"evaluate: the data is empty",
    ),
    # -- integer arguments
    **{
        f"batch_size={v!r}": (
            lambda v=v: classifier().fit(X, LABELS, batch_size=v, verbose=0),
            ValueError,
            rf"fit: batch_size must be a positive integer or None; received batch_size={v!r}",
        )
        for v in (0, -1, 2.5, "32")
    },
    "epochs=-1": (
        lambda: classifier().fit(X, LABELS, epochs=-1, verbose=0),
        ValueError,
        r"fit: epochs must be an integer >= 0; received epochs=-1",
    ),
    "steps_per_epoch=0": (
        lambda: classifier().fit(X, LABELS, steps_per_epoch=0, verbose=0),
        ValueError,
        r"steps_per_epoch must be a positive integer",
    ),
    "validation_freq=0": (
        lambda: classifier().fit(X, LABELS, validation_freq=0, verbose=0),
        ValueError,
        r"validation_freq",
    ),
    "validation_split='0.2'": (
        lambda: classifier().fit(X, LABELS, validation_split="0.2", verbose=0),
        ValueError,
        r"validation_split must be a number",
    ),
    "evaluate-steps=0": (
        lambda: classifier().evaluate(X, LABELS, steps=0, verbose=0),
        ValueError,
        r"evaluate: steps must be a positive integer",
    ),
    "predict-batch_size=0": (
        lambda: classifier().predict(X, batch_size=0, verbose=0),
        ValueError,
        r"predict: batch_size",
    ),
    # -- layers' integer arguments (one helper, core.errors.check_int, for all)
    **{
        f"{name}-{value!r}": (
            make,
            ValueError,
            rf"{name}(Cell)?: {argument} must be a positive integer.*received {argument}={value!r}",
        )
        for name, argument, make, value in [
            ("Dense", "units", lambda: layers.Dense(units="3"), "3"),
            ("Dense", "units", lambda: layers.Dense(units=2.5), 2.5),
            ("Dense", "units", lambda: layers.Dense(units=True), True),
            ("Conv2D", "filters", lambda: layers.Conv2D("4", 3), "4"),
            ("LSTM", "units", lambda: layers.LSTM("4"), "4"),
            ("Embedding", "input_dim", lambda: layers.Embedding(10.0, 2), 10.0),
            ("RepeatVector", "n", lambda: layers.RepeatVector("2"), "2"),
            ("MultiHeadAttention", "num_heads", lambda: layers.MultiHeadAttention("2", 4), "2"),
        ]
    },
    # -- optimizers
    "negative-learning-rate": (
        lambda: nerve.optimizers.Adam(learning_rate=-0.1),
        ValueError,
        r"Adam: `learning_rate` must be a finite number >= 0; received learning_rate=-0.1",
    ),
    "nan-learning-rate": (
        lambda: nerve.optimizers.SGD(learning_rate=math.nan),
        ValueError,
        r"SGD: `learning_rate` must be a finite number",
    ),
    "negative-learning-rate-set-later": (
        lambda: setattr(nerve.optimizers.SGD(), "learning_rate", -1.0),
        ValueError,
        r"learning_rate=-1.0",
    ),
    "string-clipnorm": (
        lambda: nerve.optimizers.SGD(clipnorm="1"),
        ValueError,
        r"`clipnorm` must be > 0",
    ),
    "negative-weight-decay": (
        lambda: nerve.optimizers.AdamW(weight_decay=-0.01),
        ValueError,
        r"`weight_decay` must be a number >= 0",
    ),
    # -- found by the fuzzer (tests/training/test_api_fuzz.py)
    "steps_per_execution=inf": (
        lambda: classifier(steps_per_execution=math.inf),
        ValueError,
        r"compile: steps_per_execution must be a positive integer",
    ),
    "LayerNormalization-negative-epsilon": (
        lambda: layers.LayerNormalization(epsilon=-1),
        ValueError,
        r"LayerNormalization: epsilon must be a finite number >= 0; received epsilon=-1",
    ),
    "BatchNormalization-momentum-nan": (
        lambda: layers.BatchNormalization(momentum=math.nan),
        ValueError,
        r"momentum must be a finite number in \[0, 1\]",
    ),
    "LayerNormalization-axis=inf": (
        lambda: layers.LayerNormalization(axis=math.inf),
        ValueError,
        r"axis must be an integer or a list of integers; received axis=inf",
    ),
    "nan-loss-weight": (
        lambda: classifier(loss_weights=math.nan).fit(X, LABELS, verbose=0),
        ValueError,
        r"compile: loss weights must be finite; received nan",
    ),
    # -- class weights
    "class_weight-unknown-class": (
        lambda: classifier().fit(X, LABELS, class_weight={0: 1.0, 7: 2.0}, verbose=0),
        ValueError,
        r"class_weight has a weight for class 7, a class that does not exist: the labels "
        r"in y run up to 2",
    ),
    "class_weight-one-hot-unknown-class": (
        lambda: classifier(loss="categorical_crossentropy").fit(
            X, ONE_HOT, class_weight={3: 2.0}, verbose=0
        ),
        ValueError,
        r"class 3, a class that does not exist: y is one-hot with 3 classes",
    ),
    "class_weight-negative-key": (
        lambda: classifier().fit(X, LABELS, class_weight={-1: 2.0}, verbose=0),
        ValueError,
        r"each key of class_weight must be an integer >= 0",
    ),
    "class_weight-string-weight": (
        lambda: classifier().fit(X, LABELS, class_weight={0: "2"}, verbose=0),
        ValueError,
        r"class_weight\[0\] must be a number",
    ),
    "class_weight-nan-weight": (
        lambda: classifier().fit(X, LABELS, class_weight={0: math.nan}, verbose=0),
        ValueError,
        r"class_weight\[0\] must be a finite number >= 0",
    ),
    # -- NaN / infinity in the data: fit names the input holding them
    "nan-in-x": (
        lambda: classifier().fit(_nan_at(2), LABELS, shuffle=False, verbose=0),
        DataError,
        r"fit: x holds 1 NaN and 0 infinite values \(the first at row 2",
    ),
    "inf-in-named-input": (
        lambda: _compiled(TwoInputModel(), loss="mse").fit(
            {"a": np.ones((4, 3), "float32"), "b": np.array([[1, np.inf]] * 4, "float32")},
            np.ones((4, 1), "float32"),
            verbose=0,
        ),
        DataError,
        r"fit: x\['b'\] holds 0 NaN and 4 infinite values",
    ),
    "nan-in-y": (
        lambda: classifier(loss="mse", metrics=None).fit(
            X, np.where(ONE_HOT > 0, np.nan, 0).astype("float32"), verbose=0
        ),
        DataError,
        r"fit: y holds 8 NaN",
    ),
    "nan-in-sample_weight": (
        lambda: classifier().fit(X, LABELS, sample_weight=np.full(8, np.nan), verbose=0),
        DataError,
        r"fit: sample_weight holds 8 NaN",
    ),
    # -- data that isn't numbers, or that the model can't take
    "predict-list-of-strings": (
        lambda: classifier().predict(["a", "b"], verbose=0),
        DTypeError,
        r"Data must be arrays of numbers .*received the str 'a'",
    ),
    "predict-array-of-strings": (
        lambda: classifier().predict(np.array(["a", "b"]), verbose=0),
        DTypeError,
        r"received an array of shape \(2,\) holding strings",
    ),
    "fit-ragged-lists": (
        lambda: classifier().fit(np.array([[1.0, 2.0], [3.0]], dtype=object), LABELS[:2]),
        DTypeError,
        r"holding Python objects",
    ),
    "predict-list-of-numbers": (
        lambda: classifier().predict([1.0, 2.0], verbose=0),
        ValueError,
        r"x\[0\] is a scalar .* needs a batch axis",
    ),
    "Input-shape-string": (
        lambda: nerve.Input(shape="abc"),
        ValueError,
        r"Input: shape must be a tuple of integers or None .*received shape='abc'",
    ),
    "Input-shape-float-entry": (
        lambda: nerve.Input(shape=(2.5, 3)),
        ValueError,
        r"Input: shape .*entry 2.5 is a float",
    ),
    "Input-negative-size": (
        lambda: nerve.Input(shape=(3, -1)),
        ValueError,
        r"Input: shape has a negative size",
    ),
    "dict-to-sequential-fit": (
        lambda: classifier().fit({"a": X}, LABELS, verbose=0),
        ValueError,
        r"Sequential model .* takes one input .*received a dict with keys \['a'\]",
    ),
    "dict-to-sequential-predict": (
        lambda: classifier().predict({"a": X}, verbose=0),
        ValueError,
        r"takes one input",
    ),
}


def _mean_score(y_true, y_pred):
    return nerve.ops.mean(y_pred, axis=-1)


def _compiled(model, loss="sparse_categorical_crossentropy"):
    model.compile(optimizer="sgd", loss=loss)
    return model


@pytest.mark.parametrize("case", list(CASES))
def test_bad_arguments_and_data_are_clear_errors(case):
    call, error, message = CASES[case]
    with pytest.raises(error, match=message):
        call()


def test_fit_refuses_bad_labels_before_any_weight_changes():
    model = classifier()
    before = [w.numpy().copy() for w in model.weights]
    with pytest.raises(DataError):
        model.fit(X, bad_labels(5), verbose=0)
    for old, new in zip(before, model.weights):
        np.testing.assert_array_equal(old, new.numpy())


def test_good_labels_and_ignored_ones_still_train():
    labels = bad_labels(-1)
    loss = losses.SparseCategoricalCrossentropy(ignore_class=-1)
    assert float(loss(labels, PROBS)) == pytest.approx(math.log(3), rel=1e-5)
    model = classifier(loss=loss, metrics=None)
    history = model.fit(X, labels, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert math.isfinite(classifier().evaluate(X, LABELS.reshape(-1, 1), verbose=0)[0])


def test_data_checks_look_at_the_first_batch_unless_asked_for_every_batch():
    x = _nan_at(6)  # in the second batch of 4
    classifier().fit(x, LABELS, batch_size=4, shuffle=False, verbose=0)  # documented: unseen
    config.set_data_checks("every_batch")
    try:
        with pytest.raises(DataError, match="fit: x holds 1 NaN"):
            classifier().fit(x, LABELS, batch_size=4, shuffle=False, verbose=0)
        config.set_data_checks("off")
        history = classifier().fit(_nan_at(0), LABELS, verbose=0)
        assert math.isnan(history.history["loss"][0])  # what the checks guard against
    finally:
        config.set_data_checks("first_batch")
    with pytest.raises(ValueError, match="data checks must be one of"):
        config.set_data_checks("sometimes")
