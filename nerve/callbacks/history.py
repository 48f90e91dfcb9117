"""``History``: records each epoch's logs (``model.fit`` returns it).

>>> from nerve.callbacks import History
>>> history = History()
>>> history.on_train_begin()
>>> history.on_epoch_end(0, {"loss": 0.9})
>>> history.on_epoch_end(1, {"loss": 0.4})
>>> history.epoch, history.history
([0, 1], {'loss': [0.9, 0.4]})
"""

from __future__ import annotations

from nerve.callbacks.callback import Callback

__all__ = ["History"]


class History(Callback):
    """``history.history[name]`` lists the value of each log entry per epoch, and
    ``history.epoch`` the epoch numbers; added to every ``fit`` by ``CallbackList``."""

    def __init__(self) -> None:
        super().__init__()
        self.history: dict[str, list] = {}
        self.epoch: list[int] = []

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.epoch = []

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch.append(epoch)
        for name, value in (logs or {}).items():
            self.history.setdefault(name, []).append(value)
        # As Keras: the model's `history` is always the latest one.
        if self.model is not None:
            self.model.history = self
