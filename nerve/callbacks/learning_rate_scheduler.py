"""``LearningRateScheduler``: set the learning rate at the start of each epoch.

>>> import nerve
>>> from nerve.callbacks import LearningRateScheduler
>>> class Model:
...     optimizer = nerve.optimizers.SGD(learning_rate=0.1)
>>> scheduler = LearningRateScheduler(lambda epoch, lr: lr if epoch < 1 else lr / 2)
>>> scheduler.set_model(Model())
>>> for epoch in range(3):
...     scheduler.on_epoch_begin(epoch)
>>> round(float(Model.optimizer.learning_rate.numpy()), 6)
0.025
"""

from __future__ import annotations

from collections.abc import Callable

from nerve.callbacks import _monitor
from nerve.callbacks.callback import Callback

__all__ = ["LearningRateScheduler"]


class LearningRateScheduler(Callback):
    """Args:
    schedule: ``schedule(epoch, learning_rate) -> float`` (0-based epoch, the current
        rate), or ``schedule(epoch) -> float``.
    verbose: 1 prints each update.

    Each epoch's logs gain a ``learning_rate`` entry.
    """

    def __init__(self, schedule: Callable, verbose: int = 0):
        super().__init__()
        self.schedule = schedule
        self.verbose = verbose

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        optimizer = self.model.optimizer
        if not hasattr(optimizer, "learning_rate"):
            raise ValueError('Optimizer must have a "learning_rate" attribute.')
        current = _monitor.scalar(optimizer.learning_rate)
        try:
            learning_rate = self.schedule(epoch, current)
        except TypeError:  # the older one-argument form
            learning_rate = self.schedule(epoch)
        if hasattr(learning_rate, "numpy"):
            learning_rate = learning_rate.numpy()
        try:
            learning_rate = float(learning_rate)
        except (TypeError, ValueError):
            raise ValueError(
                f"The output of the `schedule` function should be a float. Got: {learning_rate}"
            ) from None
        optimizer.learning_rate = learning_rate
        if self.verbose > 0:
            print(
                f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to "
                f"{learning_rate}."
            )

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is not None:
            logs["learning_rate"] = _monitor.scalar(self.model.optimizer.learning_rate)
