"""``ReduceLROnPlateau``: lower the learning rate when a metric stops improving.

>>> import nerve
>>> from nerve.callbacks import ReduceLROnPlateau
>>> class Model:
...     optimizer = nerve.optimizers.SGD(learning_rate=1.0)
>>> reduce = ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1)
>>> reduce.set_model(Model())
>>> reduce.on_train_begin()
>>> for epoch, loss in enumerate([1.0, 1.0, 1.0]):
...     reduce.on_epoch_end(epoch, {"loss": loss})
>>> float(Model.optimizer.learning_rate.numpy())
0.25
"""

from __future__ import annotations

import warnings

from nerve.callbacks import _monitor
from nerve.callbacks.callback import Callback

__all__ = ["ReduceLROnPlateau"]


class ReduceLROnPlateau(Callback):
    """Lowers the learning rate when a monitored log entry has stopped improving, as
    Keras 3's ``callbacks.ReduceLROnPlateau``.

    At each epoch end, after ``patience`` epochs in a row without an improvement of
    ``monitor``, the optimizer's learning rate is multiplied by ``factor`` (never below
    ``min_lr``), then ``cooldown`` epochs pass before epochs without improvement count
    again. A missing ``monitor`` entry warns and the epoch is skipped. Each epoch's
    logs gain a ``learning_rate`` entry (the rate used in that epoch). The optimizer
    must have a float learning rate, not a schedule.

    Args:
        monitor: the log entry to watch (default ``"val_loss"``).
        factor: the factor applied to the learning rate at each reduction, a float
            below 1 (default 0.1); 1 or more is a ``ValueError``.
        patience: how many epochs without improvement trigger a reduction
            (default 10).
        verbose: 0 (default) is quiet, 1 prints each reduction.
        mode: ``"min"``, ``"max"`` or ``"auto"`` (default: higher is better when the
            name contains ``acc``, lower otherwise). An unknown mode warns and falls
            back to ``"auto"``.
        min_delta: how much the value must beat the best to count as an improvement
            (default 1e-4).
        cooldown: how many epochs after a reduction before counting starts again
            (default 0).
        min_lr: the lower bound of the learning rate (default 0.0).
        **kwargs: accepted for Keras's signature only; any argument there is a
            ``TypeError``.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        factor: float = 0.1,
        patience: int = 10,
        verbose: int = 0,
        mode: str = "auto",
        min_delta: float = 1e-4,
        cooldown: int = 0,
        min_lr: float = 0.0,
        **kwargs,
    ):
        super().__init__()
        if kwargs:
            raise TypeError(f"ReduceLROnPlateau got unexpected arguments {sorted(kwargs)}.")
        if factor >= 1.0:
            raise ValueError(
                f"ReduceLROnPlateau does not support a factor >= 1.0. Received factor={factor}"
            )
        self.monitor = monitor
        self.factor = factor
        self.min_lr = min_lr
        self.min_delta = min_delta
        self.patience = patience
        self.verbose = verbose
        self.cooldown = cooldown
        self.mode = _monitor.check_mode(mode, "ReduceLROnPlateau")
        self._reset()

    def _reset(self) -> None:
        self._higher_is_better = self.mode == "max" or (
            self.mode == "auto" and "acc" in self.monitor
        )
        self.best = -float("inf") if self._higher_is_better else float("inf")
        self.cooldown_counter = 0
        self.wait = 0

    def _improves(self, value: float) -> bool:
        if self._higher_is_better:
            return value > self.best + self.min_delta
        return value < self.best - self.min_delta

    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._reset()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs if logs is not None else {}
        optimizer = self.model.optimizer
        logs["learning_rate"] = _monitor.scalar(optimizer.learning_rate)
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(
                f"Learning rate reduction is conditioned on metric `{self.monitor}` which is "
                f"not available. Available metrics are: {','.join(logs)}.",
                stacklevel=2,
            )
            return
        current = _monitor.scalar(current)
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self._improves(current):
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience:
                old_lr = _monitor.scalar(optimizer.learning_rate)
                # Compare in float32, the variable's precision, so min_lr is reachable.
                if _float32(old_lr) > _float32(self.min_lr):
                    new_lr = max(old_lr * self.factor, self.min_lr)
                    optimizer.learning_rate = new_lr
                    if self.verbose > 0:
                        print(
                            f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate "
                            f"to {new_lr}."
                        )
                    self.cooldown_counter = self.cooldown
                    self.wait = 0


def _float32(value: float) -> float:
    import struct

    return struct.unpack("f", struct.pack("f", value))[0]
