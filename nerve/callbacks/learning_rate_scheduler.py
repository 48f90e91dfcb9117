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
    """Sets the optimizer's learning rate at the start of every epoch from a function,
    as Keras 3's ``callbacks.LearningRateScheduler``.

    At each epoch's start the rate becomes ``schedule(epoch, current_rate)`` (or
    ``schedule(epoch)`` for a function of one argument); at its end the logs gain a
    ``learning_rate`` entry. The optimizer must have been created with a float
    learning rate (a schedule object cannot be overwritten by a number).

    Args:
        schedule: a function of the 0-based epoch index and the current learning
            rate (a float), returning the new rate as a float (or a scalar tensor).
        verbose: 0 (default) is quiet, 1 prints a line at each update.

    >>> import nerve
    >>> class Model:
    ...     optimizer = nerve.optimizers.SGD(learning_rate=0.1)
    >>> scheduler = LearningRateScheduler(lambda epoch, lr: lr if epoch < 1 else lr / 2)
    >>> scheduler.set_model(Model())
    >>> for epoch in range(3):
    ...     scheduler.on_epoch_begin(epoch)
    >>> round(float(Model.optimizer.learning_rate.numpy()), 6)
    0.025
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
