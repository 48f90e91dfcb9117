"""The training loop: compile / fit / evaluate / predict on small models."""

import functools
import io
import sys
import time

import numpy as np
import pytest

import nerve
from nerve import losses, metrics, ops, optimizers
from nerve.datasets import digits
from nerve.utils import PyDataset, set_random_seed

from .helpers import (
    DigitsMLP,
    TinyModel,
    TwoInputModel,
    TwoOutputModel,
    regression_data,
    weights_of,
)

try:  # the callbacks package lands in parallel; any object with hooks works until then
    from nerve.callbacks.callback import Callback
except ImportError:  # pragma: no cover
    Callback = object


def _compiled(model, **kwargs):
    kwargs.setdefault("optimizer", optimizers.SGD(learning_rate=0.05))
    kwargs.setdefault("loss", "mse")
    model.compile(**kwargs)
    return model


def test_fit_reduces_loss():
    set_random_seed(0)
    x, y = regression_data(64)
    model = _compiled(TinyModel())
    history = model.fit(x, y, batch_size=16, epochs=15, verbose=0)
    losses_ = history.history["loss"]
    assert len(losses_) == 15
    assert losses_[-1] < 0.3 * losses_[0]
    assert history.params["compile_time"]["train"] > 0


def test_digits_reaches_accuracy_quickly():
    set_random_seed(0)
    (x_train, y_train), (x_test, y_test) = digits.load_data()
    model = DigitsMLP()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    start = time.perf_counter()
    history = model.fit(x_train, y_train, batch_size=64, epochs=20, validation_split=0.1, verbose=0)
    elapsed = time.perf_counter() - start
    result = model.evaluate(x_test, y_test, return_dict=True, verbose=0)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert result["accuracy"] > 0.93, result
    assert elapsed < 10.0, elapsed
    # One trace for the whole run, although 1295 % 64 != 0 (the last batch is padded).
    assert model.train_function.trace_count == 1


def _train_run(run_eagerly=False, dropout=0.0, epochs=2):
    set_random_seed(7)
    x, y = regression_data(50)
    model = _compiled(TinyModel(dropout=dropout), optimizer="adam", run_eagerly=run_eagerly)
    model.fit(x, y, batch_size=16, epochs=epochs, verbose=0)
    return model


def test_same_seed_gives_bit_identical_weights():
    first = weights_of(_train_run(dropout=0.3))
    second = weights_of(_train_run(dropout=0.3))
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)


def test_compiled_and_eager_fit_agree():
    compiled = _train_run(run_eagerly=False, epochs=1)
    eager = _train_run(run_eagerly=True, epochs=1)
    assert not hasattr(eager.train_function, "trace_count")
    for a, b in zip(weights_of(compiled), weights_of(eager)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_last_partial_batch_is_padded_not_retraced_and_exact():
    x, y = regression_data(40)  # batches of 16, 16 and 8
    set_random_seed(3)
    padded = _compiled(TinyModel(), metrics=["mae"])
    padded.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    assert padded.train_function.trace_count == 1

    # Reference: the same steps on unpadded batches, eagerly, one batch at a time.
    set_random_seed(3)
    reference = _compiled(TinyModel(), run_eagerly=True)
    for _ in range(2):
        for start in range(0, 40, 16):
            reference.train_on_batch(x[start : start + 16], y[start : start + 16])
    for a, b in zip(weights_of(padded), weights_of(reference)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)

    # evaluate pads too, and its loss is the mean over the real samples.
    result = padded.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    pred = padded.predict(x, verbose=0)
    np.testing.assert_allclose(result["loss"], np.mean((pred - y) ** 2), rtol=1e-5)
    np.testing.assert_allclose(result["mae"], np.mean(np.abs(pred - y)), rtol=1e-5)
    assert padded.test_function.trace_count == 1


def test_validation_split_and_validation_data():
    set_random_seed(0)
    x, y = regression_data(50)
    model = _compiled(TinyModel(), metrics=["mae"])
    history = model.fit(x, y, batch_size=8, epochs=2, validation_split=0.2, verbose=0)
    assert set(history.history) == {"loss", "mae", "val_loss", "val_mae"}
    # The validation part is the last 20% (before shuffling), as in Keras.
    val = model.evaluate(x[40:], y[40:], verbose=0, return_dict=True)
    np.testing.assert_allclose(history.history["val_loss"][-1], val["loss"], rtol=1e-5)

    history = model.fit(
        x, y, epochs=4, validation_data=(x[:10], y[:10]), validation_freq=2, verbose=0
    )
    assert len(history.history["val_loss"]) == 2
    assert len(history.history["loss"]) == 4


def _binary_ce(y, p):
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return -(y * np.log(p) + (1 - y) * np.log(1 - p))


def test_sample_weight_and_class_weight_match_hand_computation():
    set_random_seed(1)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, 3)).astype("float32")
    y = (rng.random((12, 1)) > 0.5).astype("float32")
    weights = rng.random(12).astype("float32")
    model = TinyModel(activation="sigmoid")
    model.compile(optimizer=optimizers.SGD(learning_rate=0.0), loss="binary_crossentropy")
    pred = model.predict(x, verbose=0)
    per_sample = _binary_ce(y, pred)[:, 0]

    loss = model.evaluate(x, y, sample_weight=weights, batch_size=5, verbose=0)
    np.testing.assert_allclose(loss, np.mean(weights * per_sample), rtol=1e-5)

    class_weight = {0: 0.25, 1: 3.0}
    history = model.fit(x, y, batch_size=12, class_weight=class_weight, shuffle=False, verbose=0)
    expected = np.mean(np.where(y[:, 0] == 1, 3.0, 0.25) * per_sample)
    np.testing.assert_allclose(history.history["loss"][0], expected, rtol=1e-5)
    logs = model.train_on_batch(x, y, class_weight=class_weight, return_dict=True)
    np.testing.assert_allclose(logs["loss"], expected, rtol=1e-5)


def test_weighted_metrics_use_sample_weight_and_metrics_do_not():
    x = np.zeros((4, 3), "float32")
    y = np.array([[0.0], [0.0], [1.0], [1.0]], "float32")
    model = TinyModel(activation="sigmoid")
    model.compile(loss="mse", metrics=["mae"], weighted_metrics=["mae"])
    pred = model.predict(x, verbose=0)
    weights = np.array([1.0, 0.0, 0.0, 3.0], "float32")
    logs = model.evaluate(x, y, sample_weight=weights, verbose=0, return_dict=True)
    errors = np.abs(pred - y)[:, 0]
    np.testing.assert_allclose(logs["mae"], errors.mean(), rtol=1e-5)
    np.testing.assert_allclose(logs["weighted_mae"], (weights * errors).sum() / 4, rtol=1e-5)


def test_regularization_losses_are_added():
    x, y = regression_data(8)
    model = TinyModel()
    model.hidden.kernel_regularizer = None
    model.compile(loss="mse")
    base = model.evaluate(x, y, verbose=0)
    model.add_loss = None  # (unused; keeps attribute tracking honest)
    penalty = ops.convert_to_tensor(2.5)

    class WithPenalty(TinyModel):
        @property
        def losses(self):
            return [penalty]

    other = WithPenalty()
    other.compile(loss="mse")
    other(x)
    other.set_weights(model.get_weights())
    np.testing.assert_allclose(other.evaluate(x, y, verbose=0), base + 2.5, rtol=1e-5)


class CustomTrainStepModel(TinyModel):
    """Port of Keras's "Customizing what happens in fit()" first example."""

    def train_step(self, data):
        x, y = data
        with nerve.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(y=y, y_pred=y_pred)
        trainable_vars = self.trainable_variables
        gradients = tape.gradient(loss, trainable_vars)
        self.optimizer.apply(gradients, trainable_vars)
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
            else:
                metric.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}


class LowLevelTrainStepModel(TinyModel):
    """The same example's lower-level variant: own loss function and metric trackers."""

    def __init__(self):
        super().__init__()
        self.loss_tracker = metrics.Mean(name="loss")
        self.mae_metric = metrics.MeanAbsoluteError(name="mae")
        self.loss_fn = losses.MeanSquaredError()

    def train_step(self, data):
        x, y = data
        with nerve.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.loss_fn(y, y_pred)
        gradients = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply(gradients, self.trainable_variables)
        self.loss_tracker.update_state(loss)
        self.mae_metric.update_state(y, y_pred)
        return {"loss": self.loss_tracker.result(), "mae": self.mae_metric.result()}

    @property
    def metrics(self):
        return [self.loss_tracker, self.mae_metric]


@pytest.mark.parametrize("cls", [CustomTrainStepModel, LowLevelTrainStepModel])
def test_custom_train_step(cls):
    set_random_seed(0)
    x, y = regression_data(64)
    model = cls()
    if cls is CustomTrainStepModel:
        model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    else:
        model.compile(optimizer="adam")
    history = model.fit(x, y, batch_size=16, epochs=5, verbose=0)
    assert set(history.history) == {"loss", "mae"}
    assert history.history["loss"][-1] < history.history["loss"][0]
    # The last epoch's logged loss is the mean over its batches (metrics reset per epoch).
    assert model.metrics[0].name == "loss"


def test_multi_input_dict():
    set_random_seed(0)
    rng = np.random.default_rng(1)
    inputs = {"a": rng.normal(size=(30, 3)).astype("float32"),
              "b": rng.normal(size=(30, 2)).astype("float32")}  # fmt: skip
    y = inputs["a"][:, :1] - inputs["b"][:, 1:]
    model = _compiled(TwoInputModel())
    history = model.fit(inputs, y, batch_size=8, epochs=10, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert model.predict(inputs, batch_size=7, verbose=0).shape == (30, 1)


def test_multi_output_losses_and_weights():
    set_random_seed(0)
    rng = np.random.default_rng(2)
    x = rng.normal(size=(36, 4)).astype("float32")
    y_reg = x[:, :1].copy()
    y_cls = (x[:, 1] > 0).astype("int64") + (x[:, 2] > 1).astype("int64")
    model = TwoOutputModel()
    model.compile(
        optimizer="adam",
        loss=["mse", "sparse_categorical_crossentropy"],
        loss_weights=[1.0, 0.5],
        metrics=[None, ["accuracy"]],
    )
    history = model.fit(x, [y_reg, y_cls], batch_size=10, epochs=3, verbose=0)
    assert set(history.history) == {"loss", "reg_loss", "cls_loss", "cls_accuracy"}
    logs = model.evaluate(x, [y_reg, y_cls], batch_size=36, verbose=0, return_dict=True)
    np.testing.assert_allclose(logs["loss"], logs["reg_loss"] + 0.5 * logs["cls_loss"], rtol=1e-5)
    reg, cls = model.predict(x, batch_size=16, verbose=0)
    assert reg.shape == (36, 1) and cls.shape == (36, 3)
    np.testing.assert_allclose(logs["reg_loss"], np.mean((reg - y_reg) ** 2), rtol=1e-5)


def test_on_batch_methods():
    set_random_seed(0)
    x, y = regression_data(16)
    model = _compiled(TinyModel(), metrics=["mae"])
    first = model.train_on_batch(x, y)
    assert isinstance(first, list) and len(first) == 2
    logs = model.test_on_batch(x, y, return_dict=True)
    assert set(logs) == {"loss", "mae"}
    pred = model.predict_on_batch(x)
    assert isinstance(pred, np.ndarray) and pred.shape == (16, 1)
    np.testing.assert_allclose(pred, model(x).numpy(), rtol=1e-6, atol=1e-6)
    model.reset_metrics()
    loss = model.test_on_batch(x, y)
    np.testing.assert_allclose(loss[0], np.mean((pred - y) ** 2), rtol=1e-5)


def test_generator_input():
    set_random_seed(0)
    x, y = regression_data(48)

    def batches():
        while True:
            for start in range(0, 48, 20):  # 20, 20, 8: the short one is padded
                yield x[start : start + 20], y[start : start + 20]

    model = _compiled(TinyModel())
    history = model.fit(batches(), steps_per_epoch=3, epochs=6, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert model.train_function.trace_count == 1
    finite = model.evaluate((b for b in [(x[:20], y[:20]), (x[20:30], y[20:30])]), verbose=0)
    expected = np.mean((model.predict(x[:30], verbose=0) - y[:30]) ** 2)
    np.testing.assert_allclose(finite, expected, rtol=1e-5)


class Batches(PyDataset):
    def __init__(self, x, y, batch_size):
        super().__init__()
        self.x, self.y, self.batch_size = x, y, batch_size
        self.epochs_ended = 0

    def __len__(self):
        return -(-len(self.x) // self.batch_size)

    def __getitem__(self, index):
        part = slice(index * self.batch_size, (index + 1) * self.batch_size)
        return self.x[part], self.y[part]

    def on_epoch_end(self):
        self.epochs_ended += 1


def test_pydataset_input():
    set_random_seed(0)
    x, y = regression_data(45)
    data = Batches(x, y, 10)
    model = _compiled(TinyModel())
    history = model.fit(data, epochs=4, validation_data=Batches(x[:12], y[:12], 5), verbose=0)
    assert data.epochs_ended == 4
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert "val_loss" in history.history
    assert model.train_function.trace_count == 1
    assert model.predict(data, verbose=0).shape == (45, 1)


def test_evaluate_return_forms():
    x, y = regression_data(20)
    model = _compiled(TinyModel(), metrics=["mae", "mse"])
    as_list = model.evaluate(x, y, verbose=0)
    as_dict = model.evaluate(x, y, verbose=0, return_dict=True)
    assert list(as_dict) == ["loss", "mae", "mse"] == model.metrics_names
    np.testing.assert_allclose(as_list, list(as_dict.values()), rtol=1e-6)
    single = _compiled(TinyModel()).evaluate(x, y, verbose=0)
    assert isinstance(single, float)


def test_predict_concatenates_uneven_batches():
    x, _ = regression_data(23)
    model = TinyModel()
    out = model.predict(x, batch_size=5, verbose=0)
    assert out.shape == (23, 1)
    # Batches of 5 rows and one of 23 may take BLAS kernels that sum in other orders:
    # an output near 0.01 made of terms near 1 differs by an ulp of those terms.
    np.testing.assert_allclose(out, model(x).numpy(), rtol=1e-6, atol=1e-6)
    assert model.predict_function.trace_count == 1  # one batch-polymorphic trace


@pytest.mark.parametrize("rows", [1, 7])
def test_a_one_batch_predict_equals_the_batched_loop_and_still_reports(rows):
    x, _ = regression_data(rows)
    model = TinyModel()
    quiet = model.predict(x, verbose=0)  # one batch, no callbacks: the short path
    looped = model.predict(x, batch_size=2, verbose=0)
    np.testing.assert_array_equal(quiet, model.predict_on_batch(x))
    np.testing.assert_allclose(quiet, looped, rtol=1e-6)
    seen = []

    class Recorder(Callback):
        def on_predict_batch_end(self, batch, logs=None):
            seen.append(logs["outputs"].shape)

    np.testing.assert_array_equal(model.predict(x, verbose=0, callbacks=[Recorder()]), quiet)
    assert seen == [(rows, 1)]
    # Every path above fed one array and no mask: one batch-polymorphic trace serves all.
    assert model.predict_function.trace_count == 1
    assert len(model.predict_function.functions) == 1


def test_callbacks_see_the_protocol_and_can_stop_training():
    events = []

    class Recorder(Callback):
        def on_train_begin(self, logs=None):
            events.append("train_begin")

        def on_epoch_end(self, epoch, logs=None):
            events.append(("epoch_end", epoch, sorted(logs)))
            if epoch == 1:
                self.model.stop_training = True

        def on_train_batch_end(self, batch, logs=None):
            events.append(("batch", batch))

        def on_test_end(self, logs=None):
            events.append("test_end")

    x, y = regression_data(20)
    model = _compiled(TinyModel())
    history = model.fit(
        x, y, batch_size=10, epochs=5, validation_data=(x, y), callbacks=[Recorder()], verbose=0
    )
    assert len(history.history["loss"]) == 2
    assert events[0] == "train_begin"
    assert events[1:4] == [("batch", 0), ("batch", 1), "test_end"]
    assert events[4] == ("epoch_end", 0, ["loss", "val_loss"])


def test_fit_before_compile_raises():
    with pytest.raises(ValueError, match="compile"):
        TinyModel().fit(np.zeros((2, 3)), np.zeros((2, 1)), verbose=0)


def test_gradient_accumulation_comes_from_the_optimizer():
    model = _compiled(TinyModel(), optimizer=optimizers.SGD(gradient_accumulation_steps=2))
    assert model.gradient_accumulation_steps == 2


def _rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def test_repeated_predict_and_call_keep_memory_flat():
    x, _ = regression_data(32)
    model = TinyModel()
    for _ in range(20):  # warm up caches and allocator pools
        model.predict(x, verbose=0)
        model(x)
    before = _rss_bytes()
    for _ in range(1000):
        model.predict(x, verbose=0)
        model(x)
    growth = _rss_bytes() - before
    assert growth < 20 * 2**20, f"RSS grew by {growth / 2**20:.1f} MB"
    assert model.predict_function.trace_count == 1


def test_fit_resumes_from_epoch_and_data_adapter_state():
    x, y = regression_data(40)
    seen = []

    class Resume(Callback):
        # The BackupAndRestore protocol: a resume position plus the data order's state.
        def on_train_begin(self, logs=None):
            self._resume_epoch, self._resume_step = 1, 2
            self.model._restore_data_position({"epoch": 1, "step": 2, "seed": 99})

        def on_epoch_begin(self, epoch, logs=None):
            seen.append(("epoch", epoch))

        def on_train_batch_begin(self, batch, logs=None):
            seen.append(("batch", batch))

    model = _compiled(TinyModel())
    model.fit(x, y, batch_size=10, epochs=3, callbacks=[Resume()], verbose=0)
    assert seen[:3] == [("epoch", 1), ("batch", 2), ("batch", 3)]
    assert seen[3:5] == [("epoch", 2), ("batch", 0)]
    assert model.data_adapter.seed == 99

    history = _compiled(TinyModel()).fit(x, y, epochs=3, initial_epoch=2, verbose=0)
    assert len(history.history["loss"]) == 1


def test_single_batch_calls_mix_with_the_loops():
    # predict passes a padding mask that predict_on_batch does not (and fit sample
    # weights that train_on_batch does not): each mix must trace its own step, not
    # fail on the first call's input_signature.
    keras = pytest.importorskip("keras")
    x = np.random.default_rng(0).normal(size=(10, 3)).astype("float32")
    y = np.ones((10, 2), "float32")
    for order in ["loop_first", "batch_first"]:
        model = nerve.Sequential([nerve.Input(shape=(3,)), nerve.layers.Dense(2)])
        model.compile(optimizer="sgd", loss="mse")
        reference = keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(2)])
        reference.set_weights(model.get_weights())
        expected = reference.predict_on_batch(x)
        if order == "loop_first":
            loop = model.predict(x, batch_size=4, verbose=0)
            single = model.predict_on_batch(x)
        else:
            single = model.predict_on_batch(x)
            loop = model.predict(x, batch_size=4, verbose=0)
        np.testing.assert_allclose(loop, expected, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(single, expected, rtol=1e-6, atol=1e-6)
        if order == "loop_first":
            model.fit(x, y, sample_weight=np.ones(10), batch_size=5, verbose=0)
            model.train_on_batch(x, y)
            model.evaluate(x, y, verbose=0)
            model.test_on_batch(x, y)
        else:
            model.train_on_batch(x, y)
            model.fit(x, y, sample_weight=np.ones(10), batch_size=5, verbose=0)
            model.test_on_batch(x, y, sample_weight=np.ones(10))
            model.evaluate(x, y, verbose=0)


def test_auto_verbosity_prints_a_line_per_epoch_when_not_a_terminal(capsys, monkeypatch):
    # verbose="auto" (the default) redraws a bar on a terminal; in a pipe or a CI log it
    # prints one line per epoch (verbose=2), not a frame per batch.
    x, y = regression_data(40)
    model = _compiled(TinyModel())
    model.fit(x, y, batch_size=4, epochs=2, validation_data=(x, y))
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(" - ")[0] for line in lines] == ["Epoch 1/2", "10/10", "Epoch 2/2", "10/10"]
    assert all("val_loss" in line for line in lines[1::2]) and "━" not in "".join(lines)
    model.evaluate(x, y, batch_size=4)
    model.predict(x, batch_size=4)
    assert [line.split(" - ")[0] for line in capsys.readouterr().out.splitlines()] == [
        "10/10",
        "10/10",
    ]

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stdout", terminal)
    model.fit(x, y, batch_size=4, epochs=1)
    assert "━" in terminal.getvalue() and "\r" in terminal.getvalue()


def test_repeated_single_array_predictions_follow_weights_inputs_and_batch_sizes():
    # predict_on_batch and model(x) keep the compiled step found for one array of a
    # given type, shape and dtype (_BatchPolymorphicFunction): later calls must still
    # read the current weights and this call's values, at any batch size or array type.
    set_random_seed(0)
    model = nerve.Sequential([nerve.Input((3,)), nerve.layers.Dense(2, activation="softmax")])
    rng = np.random.default_rng(0)
    xs = [rng.normal(size=(n, 3)).astype("float32") for n in (1, 1, 4, 1)]
    # The compiled softmax is one native loop (vmath's exp): equal to the eager layer's
    # NumPy exp to float32 rounding, not bitwise; a stale weight or input would be far off.
    close = functools.partial(np.testing.assert_allclose, rtol=1e-6, atol=0)
    for x in xs:
        reference = model.layers[0](x, training=False).numpy()  # eager layer call
        close(model.predict_on_batch(x), reference)
        close(model.predict_on_batch(ops.convert_to_tensor(x)), reference)
        assert model.predict_on_batch(x.astype("float64")).dtype == np.float32
    assert model.predict_function.trace_count == 1  # one symbolic-batch trace
    kernel, bias = model.get_weights()
    model.set_weights([kernel * 2.0, bias + 1.0])
    expected = model.layers[0](xs[0], training=False).numpy()
    close(model.predict_on_batch(xs[0]), expected)
    for _ in range(5):
        result = model(xs[0])  # eager warm-up calls, then compiled ones
    close(result.numpy(), expected)
    assert model._compiled_forward.compiled
