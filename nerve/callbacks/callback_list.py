"""``CallbackList``: the container ``fit``/``evaluate``/``predict`` call hooks on.

>>> from nerve.callbacks import CallbackList, History, LambdaCallback
>>> seen = []
>>> callbacks = CallbackList(
...     [LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(epoch))],
...     add_history=True, epochs=1, steps=2, verbose=0)
>>> [type(c).__name__ for c in callbacks.callbacks]
['LambdaCallback', 'History']
>>> callbacks.on_epoch_end(0, {"loss": 1.0})
>>> seen, callbacks.history.history
([0], {'loss': [1.0]})
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from nerve.callbacks.callback import Callback
from nerve.callbacks.history import History
from nerve.callbacks.progbar_logger import ProgbarLogger

__all__ = ["CallbackList"]


def _flatten(callbacks: Any) -> list[Callback]:
    if callbacks is None:
        return []
    if isinstance(callbacks, Callback) or not isinstance(callbacks, (list, tuple)):
        return [callbacks]  # anything but a Callback is refused by the caller
    out: list[Callback] = []
    for item in callbacks:
        out.extend(_flatten(item))
    return out


class CallbackList(Callback):
    """Calls each hook on every callback, in order.

    Args:
        callbacks: callbacks (possibly nested in lists).
        add_history: append a ``History`` unless one is given.
        add_progbar: append a ``ProgbarLogger`` unless one is given.
        model: the model to attach every callback to.
        **params: the loop's parameters (``verbose``, ``epochs``, ``steps``), passed to
            every callback's ``set_params``.
    """

    def __init__(
        self,
        callbacks: Iterable[Callback] | Callback | None = None,
        add_history: bool = False,
        add_progbar: bool = False,
        model: Any = None,
        **params: Any,
    ):
        super().__init__()
        self.callbacks = _flatten(callbacks)
        for callback in self.callbacks:
            if not isinstance(callback, Callback):
                raise TypeError(
                    f"CallbackList: every callback must be a nerve.callbacks.Callback, got "
                    f"{type(callback).__name__}. Subclass Callback or use LambdaCallback."
                )
        self._history = next((c for c in self.callbacks if isinstance(c, History)), None)
        self._progbar = next((c for c in self.callbacks if isinstance(c, ProgbarLogger)), None)
        if self._history is None and add_history:
            self._history = History()
            self.callbacks.append(self._history)
        if self._progbar is None and add_progbar:
            self._progbar = ProgbarLogger()
            self.callbacks.append(self._progbar)
        self.set_model(model)
        self.set_params(params)

    @property
    def history(self) -> History | None:
        """The ``History`` callback in this list, if any."""
        return self._history

    def append(self, callback: Callback) -> None:
        self.callbacks.append(callback)

    def set_model(self, model: Any) -> None:
        if model is None:
            return
        super().set_model(model)
        if self._history is not None:
            model.history = self._history
        for callback in self.callbacks:
            callback.set_model(model)

    def set_params(self, params: dict[str, Any]) -> None:
        self.params = params
        if params:
            for callback in self.callbacks:
                callback.set_params(params)

    def _call(self, hook: str, *args: Any) -> None:
        """Call ``hook`` on every callback; the last of ``args`` is the logs, which every
        callback receives as a dict (``{}`` for none), as Keras's ``CallbackList`` does,
        so that a hook may read ``logs.get(...)`` without a None check. The one dict is
        shared, so a key a callback adds (e.g. the learning rate) reaches the next."""
        *leading, logs = args
        logs = {} if logs is None else logs
        for callback in self.callbacks:
            getattr(callback, hook)(*leading, logs)

    def on_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        self._call("on_train_batch_begin", batch, logs)

    def on_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._call("on_train_batch_end", batch, logs)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._call("on_epoch_begin", epoch, logs)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self._call("on_epoch_end", epoch, logs)

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        self._call("on_train_batch_begin", batch, logs)

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._call("on_train_batch_end", batch, logs)

    def on_test_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        self._call("on_test_batch_begin", batch, logs)

    def on_test_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._call("on_test_batch_end", batch, logs)

    def on_predict_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        self._call("on_predict_batch_begin", batch, logs)

    def on_predict_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._call("on_predict_batch_end", batch, logs)

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._call("on_train_begin", logs)

    def on_train_end(self, logs: dict | None = None) -> None:
        self._call("on_train_end", logs)

    def on_test_begin(self, logs: dict | None = None) -> None:
        self._call("on_test_begin", logs)

    def on_test_end(self, logs: dict | None = None) -> None:
        self._call("on_test_end", logs)

    def on_predict_begin(self, logs: dict | None = None) -> None:
        self._call("on_predict_begin", logs)

    def on_predict_end(self, logs: dict | None = None) -> None:
        self._call("on_predict_end", logs)
