"""``ProgbarLogger``: prints a ``Progbar`` per epoch (added to ``fit`` when ``verbose`` > 0).

>>> import nerve.utils.progbar as progbar_module
>>> from nerve.callbacks import ProgbarLogger
>>> times = iter(range(100))
>>> progbar_module._clock = lambda: float(next(times))
>>> logger = ProgbarLogger()
>>> logger.set_params({"verbose": 2, "epochs": 2, "steps": 2})
>>> logger.on_train_begin()
>>> logger.on_epoch_begin(0)
Epoch 1/2
>>> logger.on_train_batch_end(0, {"loss": 2.0})
>>> logger.on_train_batch_end(1, {"loss": 1.0})
>>> logger.on_epoch_end(0, {"loss": 1.0, "val_loss": 1.5})
2/2 - 3s - 2s/step - loss: 1.0000 - val_loss: 1.5000
>>> import time; progbar_module._clock = time.monotonic
"""

from __future__ import annotations

from typing import Any

from nerve.callbacks.callback import Callback
from nerve.utils import progbar as progbar_module

__all__ = ["ProgbarLogger"]


class ProgbarLogger(Callback):
    """Prints metrics to stdout: a bar per epoch (``verbose=1``) or a line per epoch
    (``verbose=2``). ``verbose="auto"`` means 1 on a terminal and 2 otherwise (Keras
    uses 1 everywhere, which floods captured logs with one line per redraw).

    Within ``fit``, validation is silent; a standalone ``evaluate``/``predict`` gets a bar.
    """

    def __init__(self) -> None:
        super().__init__()
        self.seen = 0
        self.progbar: progbar_module.Progbar | None = None
        self.target: int | None = None
        self.verbose: int = 1
        self.epochs = 1
        self._called_in_fit = False

    def set_params(self, params: dict[str, Any]) -> None:
        super().set_params(params)
        verbose = params.get("verbose", 1)
        if verbose == "auto":
            verbose = 1 if progbar_module._is_terminal() else 2
        self.verbose = verbose
        self.epochs = params.get("epochs", 1)
        self.target = params.get("steps")

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._called_in_fit = True

    def on_test_begin(self, logs: dict | None = None) -> None:
        if not self._called_in_fit:
            self._reset_progbar()

    def on_predict_begin(self, logs: dict | None = None) -> None:
        self._reset_progbar()

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._reset_progbar()
        if self.verbose and self.epochs > 1:
            print(f"Epoch {epoch + 1}/{self.epochs}")

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._update_progbar(batch, logs)

    def on_test_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if not self._called_in_fit:
            self._update_progbar(batch, logs)

    def on_predict_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._update_progbar(batch, None)  # predictions are not metrics

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self._finalize_progbar(logs)

    def on_test_end(self, logs: dict | None = None) -> None:
        if not self._called_in_fit:
            self._finalize_progbar(logs)

    def on_predict_end(self, logs: dict | None = None) -> None:
        self._finalize_progbar(None)

    def _reset_progbar(self) -> progbar_module.Progbar:
        self.seen = 0
        # The trainer's logs are already running means (stateful metrics' results), so
        # the bar shows them as given; Keras averages them again until the epoch ends.
        self.progbar = progbar_module.Progbar(
            target=self.target, verbose=self.verbose, unit_name="step", stateless_metrics=()
        )
        return self.progbar

    def _current_progbar(self) -> progbar_module.Progbar:
        return self._reset_progbar() if self.progbar is None else self.progbar

    def _update_progbar(self, batch: int, logs: dict | None) -> None:
        progbar = self._current_progbar()
        self.seen = batch + 1  # steps are 0-based, the bar counts from 1
        values = _with_compile_time(logs, self.model)
        if self.verbose == 1:
            progbar.update(self.seen, values, finalize=False)
        elif self.verbose == 2:
            # Record values (for the compile time) without printing.
            progbar.update(self.seen, _compile_time_only(values), finalize=False)

    def _finalize_progbar(self, logs: dict | None) -> None:
        progbar = self._current_progbar()
        if self.target is None:
            self.target = self.seen
            progbar.target = self.seen
        progbar.update(self.target, list((logs or {}).items()), finalize=True)


def _with_compile_time(logs: dict | None, model: Any) -> list[tuple[str, Any]]:
    """The batch's logs, plus the seconds the step spent compiling when it did.

    The trainer keeps that time out of the logs (Keras's logs have no such key) and
    records it on the model as ``_last_compile_time`` after each step."""
    values = list((logs or {}).items())
    key = progbar_module.COMPILE_TIME_KEY
    seconds = getattr(model, "_last_compile_time", None)
    if seconds is not None and not (logs and key in logs):
        values.insert(0, (key, seconds))
    return values


def _compile_time_only(values: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    return [(k, v) for k, v in values if k == progbar_module.COMPILE_TIME_KEY]
