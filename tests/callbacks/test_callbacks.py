"""Callback, CallbackList, History, EarlyStopping, ReduceLROnPlateau, LearningRateScheduler,
TerminateOnNaN, LambdaCallback: Keras 3's rules, against a fake model."""

import numpy as np
import pytest

from nerve import callbacks as cbks
from nerve.callbacks import Callback, CallbackList
from tests.callbacks.fake_model import FakeModel, fit

HOOKS = [name for name in vars(Callback) if name.startswith("on_")]


class Recorder(Callback):
    def __init__(self, events):
        super().__init__()
        self.events = events
        for hook in HOOKS:
            setattr(self, hook, self._recorder(hook))

    def _recorder(self, hook):
        return lambda *args, **kwargs: self.events.append((id(self), hook, args))


def run_epochs(callback, values, monitor="val_loss", model=None):
    """Feed ``values`` of ``monitor`` as epoch logs until the model stops; the epochs run."""
    model = model or FakeModel()
    callback.set_model(model)
    callback.on_train_begin()
    ran = []
    for epoch, value in enumerate(values):
        callback.on_epoch_begin(epoch)
        callback.on_epoch_end(epoch, {monitor: value})
        ran.append(epoch)
        if model.stop_training:
            break
    callback.on_train_end()
    return ran


# -- Callback and CallbackList -----------------------------------------------------------
def test_train_batch_hooks_call_the_older_names():
    calls = []

    class Old(Callback):
        def on_batch_begin(self, batch, logs=None):
            calls.append(("begin", batch))

        def on_batch_end(self, batch, logs=None):
            calls.append(("end", batch))

    callback = Old()
    callback.on_train_batch_begin(3)
    callback.on_train_batch_end(3, {})
    assert calls == [("begin", 3), ("end", 3)]
    callback.set_params({"epochs": 2})
    callback.set_model("m")
    assert callback.params == {"epochs": 2} and callback.model == "m"


def test_callback_list_dispatches_every_hook_to_every_callback_in_order():
    events = []
    first, second = Recorder(events), Recorder(events)
    callbacks = CallbackList([first, [second]])
    for hook in HOOKS:
        args = (
            (hook,)
            if hook.endswith(
                (
                    "train_begin",
                    "train_end",
                    "test_begin",
                    "test_end",
                    "predict_begin",
                    "predict_end",
                )
            )
            else (1, {"h": hook})
        )
        getattr(callbacks, hook)(*args[-1:] if len(args) == 1 else args)
    expected_hooks = [
        {"on_batch_begin": "on_train_batch_begin", "on_batch_end": "on_train_batch_end"}.get(h, h)
        for h in HOOKS
    ]
    assert [e[1] for e in events[::2]] == expected_hooks
    assert [e[0] for e in events] == [id(first), id(second)] * len(HOOKS)


def test_callback_list_adds_history_and_progbar_once():
    model = FakeModel()
    callbacks = CallbackList(
        None, add_history=True, add_progbar=True, model=model, epochs=2, steps=3, verbose=0
    )
    kinds = [type(c) for c in callbacks.callbacks]
    assert kinds == [cbks.History, cbks.ProgbarLogger]
    assert model.history is callbacks.history
    assert all(c.params == {"epochs": 2, "steps": 3, "verbose": 0} for c in callbacks.callbacks)
    assert all(c.model is model for c in callbacks.callbacks)

    history, progbar = cbks.History(), cbks.ProgbarLogger()
    callbacks = CallbackList([progbar, history], add_history=True, add_progbar=True)
    assert callbacks.callbacks == [progbar, history] and callbacks.history is history
    assert CallbackList().callbacks == []


def test_callback_list_rejects_other_objects():
    with pytest.raises(TypeError, match=r"CallbackList.*must be a nerve.callbacks.Callback.*int"):
        CallbackList([cbks.History(), 3])


def test_history_records_each_epoch():
    model = FakeModel()
    history, losses = fit(model, [], epochs=3, steps=2)
    assert history.epoch == [0, 1, 2] and model.history is history
    assert history.history["loss"] == [losses[i][2] for i in (1, 3, 5)]


# -- EarlyStopping -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("patience", "values", "stopped"),
    [
        (0, [1.0, 0.9, 0.95, 0.5], 2),
        (1, [1.0, 0.9, 0.8, 0.7, 0.75, 0.5], 4),
        (2, [1.0, 0.9, 0.95, 0.96, 0.5], 3),
        (2, [1.0, 1.1, 1.2, 1.3], 2),
        (3, [1.0, 0.9, 0.8], None),
    ],
)
def test_early_stopping_patience(patience, values, stopped):
    stopper = cbks.EarlyStopping(patience=patience)
    ran = run_epochs(stopper, values)
    assert ran[-1] == (stopped if stopped is not None else len(values) - 1)
    assert stopper.stopped_epoch == (stopped or 0)
    assert stopper.best == min(values[: ran[-1] + 1])


def test_early_stopping_never_stops_at_epoch_zero():
    stopper = cbks.EarlyStopping(patience=0, baseline=0.1)
    assert run_epochs(stopper, [1.0, 1.0]) == [0, 1]


def test_early_stopping_min_delta_and_mode_max():
    stopper = cbks.EarlyStopping(monitor="val_accuracy", min_delta=0.05, patience=1)
    # auto -> max for accuracy; +0.01 is not an improvement of at least 0.05.
    assert run_epochs(stopper, [0.5, 0.51, 0.52], monitor="val_accuracy") == [0, 1]
    stopper = cbks.EarlyStopping(monitor="score", mode="max", patience=1)
    assert run_epochs(stopper, [1.0, 2.0, 3.0, 2.5], monitor="score") == [0, 1, 2, 3]
    stopper = cbks.EarlyStopping(monitor="score", mode="min", patience=1)
    assert run_epochs(stopper, [1.0, 2.0, 3.0], monitor="score") == [0, 1]


def test_early_stopping_baseline():
    # Improvements that do not beat the baseline do not reset the patience counter, so the
    # first stale epoch stops training here.
    stopper = cbks.EarlyStopping(patience=2, baseline=0.5)
    assert run_epochs(stopper, [0.9, 0.8, 0.8, 0.8]) == [0, 1, 2]
    stopper = cbks.EarlyStopping(patience=2, baseline=0.5)
    assert run_epochs(stopper, [0.9, 0.4, 0.45, 0.45, 0.45]) == [0, 1, 2, 3]


def test_early_stopping_restores_best_weights():
    model = FakeModel()
    stopper = cbks.EarlyStopping(monitor="loss", patience=1, restore_best_weights=True)
    stopper.set_model(model)
    stopper.on_train_begin()
    snapshots = []
    for epoch, loss in enumerate([1.0, 0.5, 0.7, 0.8]):
        model.train_step(0)
        snapshots.append(model.get_weights())
        stopper.on_epoch_end(epoch, {"loss": loss})
        if model.stop_training:
            break
    assert epoch == 2 and stopper.best_epoch == 1
    stopper.on_train_end()
    for got, want in zip(model.get_weights(), snapshots[1]):
        np.testing.assert_array_equal(got, want)


def test_early_stopping_restore_without_improvement_uses_first_watched_epoch(capsys):
    model = FakeModel()
    stopper = cbks.EarlyStopping(
        patience=1, restore_best_weights=True, start_from_epoch=1, verbose=1
    )
    stopper.set_model(model)
    stopper.on_train_begin()
    stopper.on_epoch_end(0, {"val_loss": 0.1})  # before start_from_epoch: ignored
    first = model.get_weights()
    stopper.on_epoch_end(1, {"val_loss": 1.0})
    model.train_step(0)
    stopper.on_epoch_end(2, {"val_loss": 2.0})
    assert model.stop_training and stopper.best == 1.0
    stopper.on_train_end()
    for got, want in zip(model.get_weights(), first):
        np.testing.assert_array_equal(got, want)
    assert capsys.readouterr().out == (
        "Epoch 3: early stopping\nRestoring model weights from the end of the best epoch: 2.\n"
    )


def test_early_stopping_missing_metric_warns_and_unknown_direction_raises():
    stopper = cbks.EarlyStopping(patience=0)
    stopper.set_model(FakeModel())
    stopper.on_train_begin()
    with pytest.warns(UserWarning, match="`val_loss` which is not available.*loss"):
        stopper.on_epoch_end(0, {"loss": 1.0})
    stopper = cbks.EarlyStopping(monitor="val_wobble")
    stopper.set_model(FakeModel())
    with pytest.raises(ValueError, match=r"monitor='val_wobble'.*mode='max'"):
        stopper.on_epoch_end(0, {"val_wobble": 1.0})
    with pytest.warns(UserWarning, match="mode 'best' is unknown"):
        cbks.EarlyStopping(mode="best")


def test_early_stopping_uses_a_metric_direction():
    model = FakeModel()
    model.loss_tracker._direction = "up"  # a metric that says higher is better
    stopper = cbks.EarlyStopping(monitor="val_loss", patience=0)
    # "loss" names always go down, whatever the metric says.
    assert run_epochs(stopper, [1.0, 2.0], model=model) == [0, 1]
    stopper = cbks.EarlyStopping(monitor="val_mean", patience=0)
    model.stop_training = False
    model.metrics = [type("M", (), {"name": "mean", "_direction": "up"})()]
    assert run_epochs(stopper, [1.0, 2.0, 1.5], "val_mean", model=model) == [0, 1, 2]


# -- ReduceLROnPlateau ---------------------------------------------------------------------
def _learning_rate(model):
    return float(model.optimizer.learning_rate.numpy())


def test_reduce_lr_on_plateau_patience_cooldown_and_min_lr():
    model = FakeModel()
    reduce = cbks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=2, cooldown=1, min_lr=0.03)
    reduce.set_model(model)
    reduce.on_train_begin()
    rates = []
    for epoch, loss in enumerate([1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]):
        logs = {"loss": loss}
        reduce.on_epoch_end(epoch, logs)
        assert logs["learning_rate"] == pytest.approx(rates[-1] if rates else 0.1)
        rates.append(_learning_rate(model))
    # Reduced after 2 stale epochs; then the cooldown epoch counts as stale once it is over
    # (as in Keras), so 2 epochs later again, floored at min_lr; min_lr is never undercut.
    assert rates == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.03, 0.03, 0.03, 0.03, 0.03])


def test_reduce_lr_on_plateau_improvement_resets_wait():
    model = FakeModel()
    reduce = cbks.ReduceLROnPlateau(monitor="val_accuracy", factor=0.1, patience=2, min_delta=0.01)
    reduce.set_model(model)
    reduce.on_train_begin()
    for epoch, accuracy in enumerate([0.5, 0.6, 0.605, 0.7, 0.7, 0.7]):
        reduce.on_epoch_end(epoch, {"val_accuracy": accuracy})
        if epoch < 5:
            assert _learning_rate(model) == pytest.approx(0.1), epoch
    assert _learning_rate(model) == pytest.approx(0.01)


def test_reduce_lr_on_plateau_errors_and_warnings():
    with pytest.raises(ValueError, match=r"factor >= 1\.0"):
        cbks.ReduceLROnPlateau(factor=1.0)
    reduce = cbks.ReduceLROnPlateau()
    reduce.set_model(FakeModel())
    with pytest.warns(UserWarning, match="`val_loss` which is not available"):
        reduce.on_epoch_end(0, {"loss": 1.0})


# -- LearningRateScheduler -----------------------------------------------------------------
def test_learning_rate_scheduler_both_signatures(capsys):
    model = FakeModel()
    scheduler = cbks.LearningRateScheduler(lambda epoch: 0.5 / (epoch + 1), verbose=1)
    scheduler.set_model(model)
    scheduler.on_epoch_begin(1)
    assert _learning_rate(model) == pytest.approx(0.25)
    logs = {}
    scheduler.on_epoch_end(1, logs)
    assert logs == {"learning_rate": pytest.approx(0.25)}
    assert (
        "Epoch 2: LearningRateScheduler setting learning rate to 0.25." in capsys.readouterr().out
    )

    scheduler = cbks.LearningRateScheduler(lambda epoch, lr: lr * 0.5)
    scheduler.set_model(model)
    scheduler.on_epoch_begin(0)
    assert _learning_rate(model) == pytest.approx(0.125)
    scheduler = cbks.LearningRateScheduler(lambda epoch, lr: "fast")
    scheduler.set_model(model)
    with pytest.raises(ValueError, match=r"should be a float\. Got: fast"):
        scheduler.on_epoch_begin(0)


# -- TerminateOnNaN, LambdaCallback --------------------------------------------------------
@pytest.mark.parametrize(
    ("loss", "stops"),
    [(float("nan"), True), (float("inf"), True), (np.float32("-inf"), True), (1.0, False)],
)
def test_terminate_on_nan(loss, stops, capsys):
    model = FakeModel()
    callback = cbks.TerminateOnNaN()
    callback.set_model(model)
    callback.on_train_batch_end(2, {"loss": loss})
    callback.on_train_batch_end(3, {})
    assert model.stop_training is stops
    assert capsys.readouterr().out == (
        "Batch 2: Invalid loss, terminating training\n" if stops else ""
    )


def test_terminate_on_nan_stops_fit():
    model = FakeModel()
    model.x[:] = np.nan
    history, losses = fit(model, [cbks.TerminateOnNaN()], epochs=3, steps=4)
    assert history.epoch == [0] and len(losses) == 1


def test_lambda_callback():
    calls = []
    callback = cbks.LambdaCallback(
        on_train_begin=lambda logs: calls.append("train_begin"),
        on_epoch_end=lambda epoch, logs: calls.append(("epoch_end", epoch, logs["loss"])),
        on_test_end=lambda logs: calls.append("test_end"),
    )
    fit(FakeModel(), [callback], epochs=2, steps=1)
    callback.on_test_end({})
    callback.on_predict_end()  # not given: the base class's no-op
    assert calls[0] == "train_begin" and calls[-1] == "test_end"
    assert [c[1] for c in calls[1:-1]] == [0, 1]
    with pytest.raises(TypeError, match="on_epoch_middle"):
        cbks.LambdaCallback(on_epoch_middle=print)


# What each hook receives from fit (with validation), evaluate and predict in Keras
# 3.15.1 (its JAX trainer; the NumPy backend has no fit): the sorted keys of `logs`,
# always a dict, never None, and no key Keras lacks (such as a compile time).
KERAS_HOOK_LOGS = [
    ("on_train_begin", []),
    ("on_epoch_begin", []),
    ("on_train_batch_begin", []),
    ("on_train_batch_end", ["loss", "mae"]),
    ("on_test_begin", []),
    ("on_test_batch_begin", []),
    ("on_test_batch_end", ["loss", "mae"]),
    ("on_test_end", ["loss", "mae"]),
    ("on_epoch_end", ["loss", "mae", "val_loss", "val_mae"]),
    ("on_train_end", ["loss", "mae", "val_loss", "val_mae"]),
    ("on_predict_begin", []),
    ("on_predict_batch_begin", []),
    ("on_predict_batch_end", ["outputs"]),
    ("on_predict_end", []),
]


class LogsRecorder(Callback):
    """Records (hook, sorted keys of logs, or None) for every hook, first time each."""

    def __init__(self):
        super().__init__()
        self.seen = []
        for hook in HOOKS:
            if hook not in ("on_batch_begin", "on_batch_end"):
                setattr(self, hook, self._recorder(hook))

    def _recorder(self, hook):
        def record(*args, logs="missing"):
            logs = args[-1] if logs == "missing" else logs
            entry = (hook, None if logs is None else sorted(logs))
            if entry not in self.seen:
                self.seen.append(entry)

        return record


def test_hooks_receive_the_logs_keras_passes():
    import nerve

    model = nerve.Sequential([nerve.Input(shape=(3,)), nerve.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    x, y = np.ones((8, 3), "float32"), np.ones((8, 1), "float32")
    recorder = LogsRecorder()
    model.fit(x, y, batch_size=4, epochs=1, validation_data=(x, y), callbacks=[recorder], verbose=0)
    model.evaluate(x, y, batch_size=4, callbacks=[recorder], verbose=0)
    model.predict(x, batch_size=4, callbacks=[recorder], verbose=0)
    assert recorder.seen == KERAS_HOOK_LOGS
    assert model.compile_time["train"] > 0 and model.history.params["compile_time"]["train"] > 0
