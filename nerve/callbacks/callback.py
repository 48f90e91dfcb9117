"""``Callback``: the base class of training callbacks (Keras 3's ``keras.callbacks.Callback``).

A callback sees the model it is attached to (``self.model``), the loop's parameters
(``self.params``: ``verbose``, ``epochs``, ``steps``) and a hook for every event of
``fit``/``evaluate``/``predict``. ``logs`` are dicts of Python floats (metric results);
a callback may add entries (``ReduceLROnPlateau`` adds ``learning_rate``).

>>> from nerve.callbacks import Callback
>>> class Recorder(Callback):
...     def on_epoch_end(self, epoch, logs=None):
...         print(epoch, logs)
>>> Recorder().on_epoch_end(0, {"loss": 0.5})
0 {'loss': 0.5}
"""

from __future__ import annotations

from typing import Any

__all__ = ["Callback"]


class Callback:
    """Base class for callbacks: every hook is a no-op; subclasses override the ones they need.

    Hooks, in the order a ``fit`` call runs them: ``on_train_begin``; per epoch
    ``on_epoch_begin``, per step ``on_train_batch_begin``/``on_train_batch_end`` (which
    call the older ``on_batch_begin``/``on_batch_end``), the validation run
    (``on_test_*``), ``on_epoch_end``; then ``on_train_end``. ``evaluate`` runs the
    ``on_test_*`` hooks and ``predict`` the ``on_predict_*`` hooks.
    """

    def __init__(self) -> None:
        self.params: dict[str, Any] = {}
        self._model: Any = None

    def set_params(self, params: dict[str, Any]) -> None:
        self.params = params

    def set_model(self, model: Any) -> None:
        self._model = model

    @property
    def model(self) -> Any:
        """The model this callback is attached to (set by ``fit``)."""
        return self._model

    # -- batch hooks (older names, kept by Keras for training batches) ---------------
    def on_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        """A training step begins (same as ``on_train_batch_begin``)."""

    def on_batch_end(self, batch: int, logs: dict | None = None) -> None:
        """A training step ended (same as ``on_train_batch_end``)."""

    # -- epochs ----------------------------------------------------------------------
    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        """Epoch ``epoch`` (0-based) begins (training only)."""

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        """Epoch ``epoch`` ended; ``logs`` holds the epoch's metrics (``val_*`` included)."""

    # -- steps -------------------------------------------------------------------------
    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        """Training step ``batch`` (0-based within the epoch) begins."""
        self.on_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        """Training step ``batch`` ended; ``logs`` holds the running metrics."""
        self.on_batch_end(batch, logs=logs)

    def on_test_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        """An evaluation step begins."""

    def on_test_batch_end(self, batch: int, logs: dict | None = None) -> None:
        """An evaluation step ended."""

    def on_predict_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        """A prediction step begins."""

    def on_predict_batch_end(self, batch: int, logs: dict | None = None) -> None:
        """A prediction step ended; ``logs["outputs"]`` holds its outputs."""

    # -- whole runs ---------------------------------------------------------------------
    def on_train_begin(self, logs: dict | None = None) -> None:
        """``fit`` begins."""

    def on_train_end(self, logs: dict | None = None) -> None:
        """``fit`` ended."""

    def on_test_begin(self, logs: dict | None = None) -> None:
        """``evaluate`` (or ``fit``'s validation) begins."""

    def on_test_end(self, logs: dict | None = None) -> None:
        """``evaluate`` (or ``fit``'s validation) ended."""

    def on_predict_begin(self, logs: dict | None = None) -> None:
        """``predict`` begins."""

    def on_predict_end(self, logs: dict | None = None) -> None:
        """``predict`` ended."""
