"""``EarlyStopping``: stop training when a monitored metric stops improving.

>>> from nerve.callbacks import EarlyStopping
>>> class Model:
...     stop_training = False
>>> stopper = EarlyStopping(monitor="loss", patience=1)
>>> stopper.set_model(Model())
>>> stopper.on_train_begin()
>>> for epoch, loss in enumerate([1.0, 0.5, 0.6, 0.7]):
...     stopper.on_epoch_end(epoch, {"loss": loss})
...     if stopper.model.stop_training:
...         break
>>> epoch, stopper.best, stopper.stopped_epoch
(2, 0.5, 2)
"""

from __future__ import annotations

from typing import Any

from nerve.callbacks import _monitor
from nerve.callbacks.callback import Callback

__all__ = ["EarlyStopping"]


class EarlyStopping(Callback):
    """Stops training when a monitored log entry has stopped improving, as Keras 3's
    ``callbacks.EarlyStopping``.

    At each epoch end (from ``start_from_epoch`` on) the value of ``monitor`` is
    compared with the best so far; after ``patience`` epochs in a row without an
    improvement it sets ``model.stop_training``, so ``fit`` ends after that epoch
    (never after the first epoch). A missing ``monitor`` entry warns and the epoch is
    skipped. ``best``, ``best_epoch`` and ``stopped_epoch`` (0 if it never stopped)
    tell what happened.

    Args:
        monitor: the log entry to watch (default ``"val_loss"``, which needs
            validation data).
        min_delta: how much (in absolute value) the monitored value must improve
            on the best to count as an improvement (default 0).
        patience: how many epochs without improvement end training (default 0: the
            first epoch without one).
        verbose: 0 (default) is quiet, 1 prints the epoch where training stopped and
            when the best weights are restored.
        mode: ``"min"`` (lower is better), ``"max"`` (higher is better) or ``"auto"``
            (default): losses go down; a model metric of that name says its own
            direction; names containing ``acc``, ``auc``, ``precision`` or ``recall``
            go up; any other name is a ``ValueError`` asking for an explicit mode. An
            unknown mode warns and falls back to ``"auto"``.
        baseline: ``None`` (default) or a value to reach: until the monitored value
            beats it, improvements do not reset the patience count, so training
            stops after ``patience`` epochs unless the baseline is beaten.
        restore_best_weights: when training ends, set the model's weights to those of
            the best epoch (the first watched epoch if none improved); default
            ``False`` keeps the last epoch's weights.
        start_from_epoch: how many epochs to let pass before watching, a warm-up
            during which nothing can stop training (default 0).
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        min_delta: float = 0,
        patience: int = 0,
        verbose: int = 0,
        mode: str = "auto",
        baseline: float | None = None,
        restore_best_weights: bool = False,
        start_from_epoch: int = 0,
    ):
        super().__init__()
        self.monitor = monitor
        self.patience = patience
        self.verbose = verbose
        self.baseline = baseline
        self.min_delta = abs(min_delta)
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = start_from_epoch
        self.mode = _monitor.check_mode(mode, "EarlyStopping")
        self._higher_is_better: bool | None = None
        self.wait = 0
        self.stopped_epoch = 0
        self.best: float | None = None
        self.best_weights: Any = None
        self.best_epoch = 0

    def _is_improvement(self, value: float, reference: float | None) -> bool:
        if reference is None:
            return True
        if self._higher_is_better:
            return value - self.min_delta > reference
        return value + self.min_delta < reference

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_weights = None
        self.best_epoch = 0

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self._higher_is_better is None:
            self._higher_is_better = _monitor.higher_is_better(
                self.mode, self.monitor, self.model, "EarlyStopping"
            )
        current = _monitor.monitor_value(logs, self.monitor, "Early stopping")
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            # Until something improves, the first watched epoch's weights are the best.
            self.best_weights = self.model.get_weights()
            self.best_epoch = epoch

        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            # Restart the count only when the baseline is beaten too.
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs: dict | None = None) -> None:
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(
                    "Restoring model weights from the end of the best epoch: "
                    f"{self.best_epoch + 1}."
                )
            self.model.set_weights(self.best_weights)

    def get_monitor_value(self, logs: dict | None) -> float | None:
        """``logs[monitor]`` as a float (None, with a warning, when missing)."""
        return _monitor.monitor_value(logs, self.monitor, "Early stopping")
