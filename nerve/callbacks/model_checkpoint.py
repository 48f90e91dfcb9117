"""``ModelCheckpoint``: save the model (or its weights) during training.

The file is written under a temporary name in the same folder and renamed into place
only once complete, so an interrupted save never leaves a partial file under the
checkpoint's name (and never damages an earlier checkpoint there).

>>> import os, tempfile
>>> from nerve.callbacks import ModelCheckpoint
>>> class Model:
...     def save(self, filepath, overwrite=True):
...         with open(filepath, "w") as f:
...             f.write("model")
>>> folder = tempfile.mkdtemp()
>>> checkpoint = ModelCheckpoint(os.path.join(folder, "model-{epoch:02d}-{val_loss:.2f}.keras"))
>>> checkpoint.set_model(Model())
>>> checkpoint.on_epoch_end(0, {"val_loss": 0.4567})
>>> sorted(os.listdir(folder))
['model-01-0.46.keras']
"""

from __future__ import annotations

import os
import warnings
from typing import Any, Literal

from nerve.callbacks import _monitor
from nerve.callbacks.callback import Callback
from nerve.utils.atomic_files import temporary_file_for

__all__ = ["ModelCheckpoint"]


class ModelCheckpoint(Callback):
    """Saves the model (or its weights) during training, as Keras 3's
    ``callbacks.ModelCheckpoint``: at the end of every epoch, or every ``save_freq``
    training steps; with ``save_best_only``, only when ``monitor`` improves. Each file
    is written under a temporary name and renamed into place once complete.

    Args:
        filepath: where to save. It may hold ``str.format`` fields filled from
            ``epoch`` (1-based), ``batch`` (1-based, with an int ``save_freq``) and the
            epoch's or step's logs, e.g. ``"ckpt-{epoch:02d}-{val_loss:.2f}.keras"``
            (a field missing from the logs is a ``KeyError`` naming those
            available); missing folders are created. It must end in ``.keras``
            (``model.save``), or in ``.weights.h5`` with ``save_weights_only=True``
            (``model.save_weights``); anything else is a ``ValueError``.
        monitor: the log entry that decides the best model with ``save_best_only``
            (default ``"val_loss"``).
        verbose: 0 (default) is quiet, 1 prints a line at every save (and, with
            ``save_best_only``, when the value did not improve).
        save_best_only: save only when ``monitor`` improves on the best value so far
            (default ``False``: save every time). With a fixed ``filepath`` this keeps
            just the best model; a missing ``monitor`` entry warns and skips the save.
        save_weights_only: save the weights only (default ``False``: the whole model).
        mode: ``"min"``, ``"max"`` or ``"auto"`` (default: higher is better for names
            containing ``acc`` or starting with ``fmeasure``, lower otherwise). An
            unknown mode warns and falls back to ``"auto"``.
        save_freq: ``"epoch"`` (default) or a positive int: save every that many
            training steps, counted across epochs.
        initial_value_threshold: ``None`` (default) or the value that ``monitor``
            must beat for the first save with ``save_best_only``.
    """

    def __init__(
        self,
        filepath: str | os.PathLike,
        monitor: str = "val_loss",
        verbose: int = 0,
        save_best_only: bool = False,
        save_weights_only: bool = False,
        mode: str = "auto",
        save_freq: Literal["epoch"] | int = "epoch",
        initial_value_threshold: float | None = None,
    ):
        super().__init__()
        self.monitor = monitor
        self.verbose = verbose
        self.filepath = os.fspath(filepath)
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        self.save_freq = save_freq
        self._batches_seen_since_last_saving = 0
        self._last_batch_seen = 0
        self._current_epoch = 0
        mode = _monitor.check_mode(mode, "ModelCheckpoint")
        if mode == "auto":
            # Keras's rule for ModelCheckpoint: accuracy-like names go up, others down.
            self._higher_is_better = "acc" in monitor or monitor.startswith("fmeasure")
        else:
            self._higher_is_better = mode == "max"
        if initial_value_threshold is not None:
            self.best = float(initial_value_threshold)
        else:
            self.best = -float("inf") if self._higher_is_better else float("inf")

        if save_freq != "epoch" and (
            not isinstance(save_freq, int) or isinstance(save_freq, bool) or save_freq < 1
        ):
            raise ValueError(
                f"ModelCheckpoint: unrecognized save_freq={save_freq!r}. Expected 'epoch' or "
                "a positive int (a number of training steps)."
            )
        if save_weights_only:
            if not self.filepath.endswith(".weights.h5"):
                raise ValueError(
                    "When using `save_weights_only=True` in `ModelCheckpoint`, the filepath "
                    "provided must end in `.weights.h5` (Keras weights format). "
                    f"Received: filepath={self.filepath}"
                )
        elif not self.filepath.endswith(".keras"):
            raise ValueError(
                "The filepath provided must end in `.keras` (Keras model format). "
                f"Received: filepath={self.filepath}"
            )

    def _improves(self, value: float) -> bool:
        return value > self.best if self._higher_is_better else value < self.best

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self._should_save_on_batch(batch):
            self._save_model(self._current_epoch, batch, logs)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._current_epoch = epoch

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.save_freq == "epoch":
            self._save_model(epoch, None, logs)

    def _should_save_on_batch(self, batch: int) -> bool:
        if self.save_freq == "epoch":
            return False
        # A step number not above the last one means a new epoch began.
        steps = batch + 1 if batch <= self._last_batch_seen else batch - self._last_batch_seen
        self._batches_seen_since_last_saving += steps
        self._last_batch_seen = batch
        if self._batches_seen_since_last_saving >= self.save_freq:
            self._batches_seen_since_last_saving = 0
            return True
        return False

    def _get_file_path(self, epoch: int, batch: int | None, logs: dict) -> str:
        fields: dict[str, Any] = {k: _format_field(v) for k, v in logs.items()}
        fields["epoch"] = epoch + 1
        if batch is not None and "batch" not in logs:
            fields["batch"] = batch + 1
        try:
            return self.filepath.format(**fields)
        except KeyError as error:
            raise KeyError(
                f'Failed to format this callback filepath: "{self.filepath}". Reason: '
                f"{error} is not in the logs (available: {sorted(fields)})."
            ) from None

    def _save_model(self, epoch: int, batch: int | None, logs: dict | None) -> None:
        logs = logs or {}
        filepath = self._get_file_path(epoch, batch, logs)
        if os.path.isdir(filepath):
            raise OSError(
                "Please specify a non-directory filepath for ModelCheckpoint. Filepath used "
                f"is an existing directory: {filepath}"
            )
        if self.save_best_only:
            current = logs.get(self.monitor)
            if current is None:
                warnings.warn(
                    f"Can save best model only with {self.monitor} available, skipping.",
                    stacklevel=2,
                )
                return
            current = _monitor.scalar(current)
            if not self._improves(current):
                if self.verbose > 0:
                    print(
                        f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {self.best:.5f}"
                    )
                return
            if self.verbose > 0:
                print(
                    f"\nEpoch {epoch + 1}: {self.monitor} improved from {self.best:.5f} to "
                    f"{current:.5f}, saving model to {filepath}"
                )
            self.best = current
        elif self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: saving model to {filepath}")
        self._write(filepath)

    def _write(self, filepath: str) -> None:
        """Save to a temporary file next to ``filepath`` (same suffix, so the model's
        format checks pass), then rename it into place: all or nothing. Temporaries that
        killed processes left in the folder are removed first (``atomic_files``)."""
        folder = os.path.dirname(filepath)
        if folder:
            os.makedirs(folder, exist_ok=True)
        with temporary_file_for(filepath) as temporary:
            if self.save_weights_only:
                self.model.save_weights(temporary, overwrite=True)
            else:
                self.model.save(temporary, overwrite=True)


def _format_field(value: Any) -> Any:
    """Log values as numbers ``str.format`` can format (``{val_loss:.2f}``)."""
    if isinstance(value, (int, str)):
        return value
    try:
        return _monitor.scalar(value)
    except (TypeError, ValueError):
        return value
