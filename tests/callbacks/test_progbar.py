"""Progbar and ProgbarLogger output, byte for byte, with a fake clock."""

import io
import sys

import pytest

from nerve.callbacks import CallbackList, ProgbarLogger
from nerve.utils import Progbar
from nerve.utils import progbar as progbar_module
from tests.callbacks.fake_model import FakeModel


class Clock:
    def __init__(self, *times):
        self.times = list(times)

    def __call__(self):
        return self.times.pop(0) if len(self.times) > 1 else self.times[0]


class Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.fixture
def clock(monkeypatch):
    def set_times(*times):
        monkeypatch.setattr(progbar_module, "_clock", Clock(*times))

    return set_times


B, G, W, R = "\x1b[1m", "\x1b[32m", "\x1b[37m", "\x1b[0m"


def test_verbose_1_on_a_terminal(clock, monkeypatch):
    # Installed in the test body: pytest's capture resets sys.stdout after fixtures run.
    terminal = Terminal()
    monkeypatch.setattr(sys, "stdout", terminal)
    clock(0.0, 0.5, 0.52, 1.5, 2.5)
    bar = Progbar(target=4, width=8)
    bar.update(1, [("loss", 2.0), ("accuracy", 0.5)])
    bar.update(2, [("loss", 1.0), ("accuracy", 0.75)])  # within `interval`: not drawn
    bar.update(3, [("loss", 0.0), ("accuracy", 1.0)])
    bar.update(4, [("loss", 0.0004), ("accuracy", 1.0)])
    first = f"{B}1/4{R} {G}━━{R}{W}━━━━━━{R} {B}2s{R} 500ms/step - loss: 2.0000 - accuracy: 0.5000"
    width = 3 + 1 + 8 + len(" 2s 500ms/step - loss: 2.0000 - accuracy: 0.5000")
    third = f"{B}3/4{R} {G}━━━━━━{R}{W}━━{R} {B}0s{R} 500ms/step - loss: 1.0000 - accuracy: 0.7500"
    last = (
        f"{B}4/4{R} {G}━━━━━━━━{R}{W}{R} {B}2s{R} 667ms/step - loss: 4.0000e-04 - accuracy: 1.0000"
    )
    third_width = 3 + 1 + 8 + len(" 0s 500ms/step - loss: 1.0000 - accuracy: 0.7500")
    assert terminal.getvalue() == (
        "\r" + first + "\b" * width + "\r" + third + "\b" * third_width + "\r" + last + "\n"
    )


def test_verbose_1_elsewhere_prints_a_line_per_redraw(clock, capsys):
    clock(0.0, 1.0, 3.0)
    bar = Progbar(target=2, width=4, stateful_metrics=["lr"])
    bar.update(1, [("loss", 1.0), ("lr", 0.5)])
    bar.update(2, [("loss", 3.0), ("lr", 0.25)])
    assert capsys.readouterr().out == (
        "\n1/2 ━━░░ 1s 1s/step - loss: 1.0000 - lr: 0.5000"
        "\n2/2 ━━━━ 3s 2s/step - loss: 3.0000 - lr: 0.2500\n"
    )


def test_running_mean_weighted_by_steps(clock, capsys):
    clock(0.0, 1.0, 2.0, 3.0)
    bar = Progbar(target=10, width=2, interval=0)
    bar.update(1, [("loss", 4.0)])
    bar.update(4, [("loss", 0.0)])  # covers 3 steps
    bar.update(5, [("loss", 9.0), ("note", "text")])
    lines = capsys.readouterr().out.split("\n")
    assert lines[2].endswith("- loss: 1.0000")
    assert lines[3].endswith("- loss: 2.6000 - note: text")


def test_verbose_2_prints_one_line_at_the_end(clock, capsys):
    clock(0.0, 1.0, 2.0, 3.0, 64.0)
    bar = Progbar(target=12, verbose=2)
    for step in range(1, 12):
        bar.update(step, [("loss", 1.0)])
    assert capsys.readouterr().out == ""
    bar.update(12, [("loss", 0.5), ("val_loss", 0.00012)])
    assert (
        capsys.readouterr().out == "12/12 - 64s - 6s/step - loss: 0.5000 - val_loss: 1.2000e-04\n"
    )


def test_verbose_0_is_silent(clock, capsys):
    clock(0.0, 1.0)
    bar = Progbar(target=2, verbose=0)
    bar.update(1, [("loss", 1.0)])
    bar.update(2, [("loss", 1.0)])
    assert capsys.readouterr().out == ""


def test_compile_time_is_shown_not_averaged(clock, capsys):
    clock(0.0, 2.5, 3.0)
    bar = Progbar(target=2, verbose=2)
    bar.update(1, [("loss", 1.0), ("compile_time", 2.34)])
    bar.update(2, [("loss", 1.0)])
    assert capsys.readouterr().out == "2/2 - 3s - 500ms/step - compile: 2.3s - loss: 1.0000\n"


def test_unknown_target_and_eta_formats(clock, capsys):
    clock(0.0, 10.0)
    bar = Progbar(target=None)
    bar.update(1, [("loss", 1.0)])
    assert capsys.readouterr().out == "\n      1/Unknown 10s 10s/step - loss: 1.0000"
    clock(0.0, 100.0, 199.0)
    bar = Progbar(target=1000, width=0, interval=0)
    bar.update(1)
    assert "   1/1000  27:45:00 100s/step" in capsys.readouterr().out
    bar.update(100)
    assert " 100/1000  15:00 1s/step" in capsys.readouterr().out
    clock(0.0, 0.0001)
    Progbar(target=1, verbose=2).update(1)
    assert capsys.readouterr().out == "1/1 - 0s - 100us/step\n"


def test_add_and_argument_errors(clock, capsys):
    clock(0.0, 1.0, 2.0)
    bar = Progbar(target=3, verbose=2)
    bar.add(1)
    bar.add(2, [("loss", 1.0)])
    assert capsys.readouterr().out == "3/3 - 2s - 500ms/step - loss: 1.0000\n"
    with pytest.raises(ValueError, match="not both"):
        Progbar(1, stateful_metrics=["a"], stateless_metrics=["b"])


def run_fit_hooks(callbacks, epochs=2, steps=3):
    callbacks.on_train_begin()
    for epoch in range(epochs):
        callbacks.on_epoch_begin(epoch)
        for step in range(steps):
            # The trainer records a compiling step's time on the model, not in the logs.
            callbacks.model._last_compile_time = 1.5 if epoch == 0 and step == 0 else None
            callbacks.on_train_batch_end(step, {"loss": 1.0 / (step + 1)})
        callbacks.on_test_begin()  # validation inside fit: silent
        callbacks.on_test_batch_end(0, {"loss": 9.0})
        callbacks.on_test_end({"loss": 9.0})
        callbacks.on_epoch_end(epoch, {"loss": 0.6111, "val_loss": 9.0})
    callbacks.on_train_end()


def test_progbar_logger_verbose_2_in_fit(clock, capsys):
    clock(*[float(t) for t in range(100)])
    callbacks = CallbackList(add_progbar=True, model=FakeModel(), verbose=2, epochs=2, steps=3)
    run_fit_hooks(callbacks)
    assert capsys.readouterr().out == (
        "Epoch 1/2\n3/3 - 4s - 2s/step - compile: 1.5s - loss: 0.6111 - val_loss: 9.0000\n"
        "Epoch 2/2\n3/3 - 4s - 2s/step - loss: 0.6111 - val_loss: 9.0000\n"
    )


def test_progbar_logger_verbose_1_in_fit(clock, capsys):
    clock(*[float(t) for t in range(100)])
    callbacks = CallbackList(add_progbar=True, model=FakeModel(), verbose=1, epochs=1, steps=3)
    run_fit_hooks(callbacks, epochs=1)
    # Logs are running means already: shown as given, not averaged again.
    assert capsys.readouterr().out == (
        "\n1/3 ━━━━━━░░░░░░░░░░░░░░ 2s 1s/step - compile: 1.5s - loss: 1.0000"
        "\n2/3 ━━━━━━━━━━━━━░░░░░░░ 1s 1s/step - compile: 1.5s - loss: 0.5000"
        "\n3/3 ━━━━━━━━━━━━━━━━━━━━ 0s 1s/step - compile: 1.5s - loss: 0.3333"
        "\n3/3 ━━━━━━━━━━━━━━━━━━━━ 4s 2s/step - compile: 1.5s - loss: 0.6111 - val_loss: 9.0000\n"
    )


def test_progbar_logger_evaluate_and_predict(clock, capsys):
    clock(*[float(t) for t in range(100)])
    logger = ProgbarLogger()
    logger.set_params({"verbose": 2, "epochs": 1, "steps": None})
    logger.on_test_begin()
    logger.on_test_batch_end(0, {"loss": 1.0})
    logger.on_test_batch_end(1, {"loss": 2.0})
    logger.on_test_end({"loss": 1.5})
    logger.on_predict_begin()
    logger.on_predict_batch_end(0, {"outputs": [1, 2]})
    logger.on_predict_end()
    assert capsys.readouterr().out == "2/2 - 3s - 2s/step - loss: 1.5000\n2/2 - 2s - 1s/step\n"


def test_progbar_logger_auto_verbosity(monkeypatch):
    logger = ProgbarLogger()
    logger.set_params({"verbose": "auto", "epochs": 1, "steps": 1})
    assert logger.verbose == 2  # captured output is not a terminal
    monkeypatch.setattr(sys, "stdout", Terminal())
    logger.set_params({"verbose": "auto", "epochs": 1, "steps": 1})
    assert logger.verbose == 1
