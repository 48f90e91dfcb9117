"""``TerminateOnNaN``: stop training when a step's loss is NaN or infinite.

>>> from nerve.callbacks import TerminateOnNaN
>>> class Model:
...     stop_training = False
>>> callback = TerminateOnNaN()
>>> callback.set_model(Model())
>>> callback.on_train_batch_end(3, {"loss": float("nan")})
Batch 3: Invalid loss, terminating training
>>> callback.model.stop_training
True
"""

from __future__ import annotations

from nerve.callbacks import _monitor
from nerve.callbacks.callback import Callback

__all__ = ["TerminateOnNaN"]


class TerminateOnNaN(Callback):
    """Sets ``model.stop_training`` when a training step logs a NaN or infinite ``loss``."""

    def on_batch_end(self, batch: int, logs: dict | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and _monitor.is_nan_or_inf(loss):
            print(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True
