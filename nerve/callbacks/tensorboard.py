"""``TensorBoard``: log a run for TensorBoard (Keras 3's ``keras.callbacks.TensorBoard``),
writing real event files with nerve's own writer (``nerve.utils.summary_writer``), so
neither TensorFlow nor ``protobuf`` is needed.

What goes where, as Keras writes it:

- ``<log_dir>/train``: ``epoch_<name>`` for each training log (``epoch_loss``,
  ``epoch_<metric>``) and ``epoch_learning_rate`` at step ``epoch``; with
  ``update_freq`` ``"batch"`` or ``N``, ``batch_<name>`` every ``N`` steps at the global
  step count; weight histograms ``<layer>/<weight>/histogram`` every
  ``histogram_freq`` epochs (with ``write_images``, the weights as grey images
  ``<layer>/<weight>/image``, scaled to their min..max); the model's layer graph;
  ``keras_embedding.ckpt-<epoch>.weights.h5`` every ``embeddings_freq`` epochs.
- ``<log_dir>/validation``: ``epoch_<name>`` for each ``val_<name>`` log, and
  ``evaluation_<name>_vs_iterations`` at the optimizer's step count after each
  validation or ``evaluate`` run.

The graph (with ``write_graph``) is a ``GraphDef`` with one node per layer: ``op`` is
the layer class, ``input`` the layers feeding it, attributes ``output_shape`` (and
``dtype``). Profiling (``profile_batch``) is not available: a non-zero value warns
and is ignored. Event files are flushed at each epoch end and closed at train end;
nothing is written outside ``log_dir``.

>>> import tempfile, numpy as np, nerve
>>> from nerve import layers
>>> model = nerve.Sequential([layers.Input((3,)), layers.Dense(1)])
>>> model.compile(optimizer="sgd", loss="mse")
>>> log_dir = tempfile.mkdtemp()
>>> history = model.fit(np.ones((8, 3)), np.ones((8, 1)), epochs=2, verbose=0,
...                     callbacks=[nerve.callbacks.TensorBoard(log_dir)])
>>> import os; sorted(os.listdir(log_dir))
['train']
"""

from __future__ import annotations

import os
import time
import warnings
from typing import Any

import numpy as np

from nerve.callbacks.callback import Callback
from nerve.utils.model_graph import model_graph
from nerve.utils.summary_writer import SummaryWriter, encode_graph_def

__all__ = ["TensorBoard"]


def _number(value: Any) -> float | None:
    """A log value as a float, or ``None`` for values that are not one number."""
    if hasattr(value, "numpy"):
        value = value.numpy()
    array = np.asarray(value)
    if array.size != 1 or not np.issubdtype(array.dtype, np.number):
        return None
    return float(array.reshape(()))


def _as_image(weight: np.ndarray) -> np.ndarray | None:
    """A weight as a grey ``uint8`` image (Keras's layout: a bias is one row, a kernel
    has its longer side across, a 3-D kernel is its squeezed slices side by side), or
    ``None`` where Keras writes none."""
    array = np.squeeze(weight)
    if array.ndim == 1:
        array = array[None, :]
    elif array.ndim == 2:
        if array.shape[0] > array.shape[1]:
            array = array.T
    elif array.ndim == 3:
        array = np.concatenate(list(np.moveaxis(array, -1, 0)), axis=1)
    else:
        return None
    low, high = float(array.min()), float(array.max())
    scale = 255.0 / (high - low) if high > low else 0.0
    return np.round((array - low) * scale).astype(np.uint8)


class TensorBoard(Callback):
    """Logs a training run for TensorBoard, as Keras 3's ``callbacks.TensorBoard``:
    scalars per epoch (and per step, on request), weight histograms and images, the
    layer graph and embeddings, in real event files (see the module docstring for
    the tags and folders).

    Args:
        log_dir: the folder of the run (default ``"logs"``); the ``train`` and
            ``validation`` sub-folders hold the event files, created when first
            written to.
        histogram_freq: every how many epochs to write a histogram of every weight
            (default 0: never).
        write_graph: write the model's layer graph when training begins (default
            ``True``).
        write_images: with ``histogram_freq``, also write each weight of rank 1 to 3
            as a grey image (default ``False``).
        write_steps_per_second: also log the training speed in steps per second
            (``epoch_steps_per_second``, and ``batch_steps_per_second`` with step
            updates; default ``False``).
        update_freq: when to write the training logs: ``"epoch"`` (default: at epoch
            ends), ``"batch"`` (also after every step) or an int ``N`` (also after every
            ``N`` steps, counted over the whole run).
        profile_batch: accepted for compatibility (default 0); profiling is not
            available, so a non-zero value warns and is ignored.
        embeddings_freq: every how many epochs to save the weights of the model's
            ``Embedding`` layers for TensorBoard's projector (default 0: never).
        embeddings_metadata: ``None`` (default), a metadata file for every
            ``Embedding`` layer, or a dict from layer name to file; naming a layer
            that is not an ``Embedding`` of the model is a ``ValueError``.

    >>> import tempfile, numpy as np, nerve
    >>> model = nerve.Sequential([nerve.layers.Input((3,)), nerve.layers.Dense(1)])
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> log_dir = tempfile.mkdtemp()
    >>> board = TensorBoard(log_dir, histogram_freq=1, write_graph=False)
    >>> _ = model.fit(np.ones((8, 3)), np.ones((8, 1)), epochs=1, verbose=0,
    ...               validation_split=0.25, callbacks=[board])
    >>> import os; sorted(os.listdir(log_dir))
    ['train', 'validation']
    """

    def __init__(
        self,
        log_dir: str | os.PathLike = "logs",
        histogram_freq: int = 0,
        write_graph: bool = True,
        write_images: bool = False,
        write_steps_per_second: bool = False,
        update_freq: str | int = "epoch",
        profile_batch: int | str | tuple = 0,
        embeddings_freq: int = 0,
        embeddings_metadata: str | dict | None = None,
    ) -> None:
        super().__init__()
        self.log_dir = os.fspath(log_dir)
        for name, value in (
            ("histogram_freq", histogram_freq),
            ("embeddings_freq", embeddings_freq),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"TensorBoard: {name} must be an int >= 0, got {value!r}.")
        if update_freq == "batch":
            update_freq = 1
        if update_freq != "epoch" and not (
            isinstance(update_freq, int) and not isinstance(update_freq, bool) and update_freq > 0
        ):
            raise ValueError(
                "TensorBoard: update_freq must be 'epoch', 'batch' or a positive int, got "
                f"{update_freq!r}."
            )
        if profile_batch not in (0, "0", (0, 0), [0, 0]):
            warnings.warn(
                f"TensorBoard: profiling is not available in nerve; profile_batch="
                f"{profile_batch!r} is ignored (pass 0 to silence this warning).",
                stacklevel=2,
            )
        self.histogram_freq = histogram_freq
        self.write_graph = write_graph
        self.write_images = write_images
        self.write_steps_per_second = write_steps_per_second
        self.update_freq = update_freq
        self.profile_batch = profile_batch
        self.embeddings_freq = embeddings_freq
        self.embeddings_metadata = embeddings_metadata
        self._writers: dict[str, SummaryWriter] = {}
        self._global_train_batch = 0
        self._batch_start_time = 0.0
        self._epoch_start_time = 0.0
        self._epoch_start_iterations = 0
        self._training = False

    # -- writers -----------------------------------------------------------------------
    def _writer(self, run: str) -> SummaryWriter:
        writer = self._writers.get(run)
        if writer is None or writer.closed:
            writer = SummaryWriter(os.path.join(self.log_dir, run))
            self._writers[run] = writer
        return writer

    def _close_writers(self) -> None:
        for writer in self._writers.values():
            writer.close()
        self._writers = {}

    def _iterations(self) -> int:
        optimizer = getattr(self.model, "optimizer", None)
        iterations = getattr(optimizer, "iterations", None)
        return 0 if iterations is None else int(_number(iterations) or 0)

    # -- hooks -------------------------------------------------------------------------
    def set_model(self, model: Any) -> None:
        super().set_model(model)
        if self.embeddings_freq:
            self._write_projector_config()

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._global_train_batch = 0
        self._training = True
        if self.write_graph:
            self._write_graph()

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch_start_time = time.time()
        self._epoch_start_iterations = self._iterations()

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        self._global_train_batch += 1
        self._batch_start_time = time.time()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        step = self._global_train_batch
        if not isinstance(self.update_freq, int) or step % self.update_freq:
            return
        writer = self._writer("train")
        if self.write_steps_per_second:
            elapsed = max(time.time() - self._batch_start_time, 1e-9)
            writer.scalar("batch_steps_per_second", 1.0 / elapsed, step)
        for name, value in (logs or {}).items():
            number = _number(value)
            if number is not None:
                writer.scalar(f"batch_{name}", number, step)

    def on_test_end(self, logs: dict | None = None) -> None:
        if getattr(self.model, "optimizer", None) is None:
            return
        writer = self._writer("validation")
        step = self._iterations()
        for name, value in (logs or {}).items():
            number = _number(value)
            if number is not None:
                writer.scalar(f"evaluation_{name}_vs_iterations", number, step)
        if self._training:
            writer.flush()
        else:  # a stand-alone evaluate(): no on_train_end will close the file
            writer.close()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self._log_epoch_metrics(epoch, logs or {})
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            self._log_weights(epoch)
        if self.embeddings_freq and epoch % self.embeddings_freq == 0:
            path = os.path.join(self.log_dir, "train", f"keras_embedding.ckpt-{epoch}.weights.h5")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            self.model.save_weights(path)
        for writer in self._writers.values():
            writer.flush()

    def on_train_end(self, logs: dict | None = None) -> None:
        self._training = False
        self._close_writers()

    # -- what is logged ----------------------------------------------------------------
    def _log_epoch_metrics(self, epoch: int, logs: dict) -> None:
        train = {k: v for k, v in logs.items() if not k.startswith("val_")}
        validation = {k[4:]: v for k, v in logs.items() if k.startswith("val_")}
        learning_rate = getattr(getattr(self.model, "optimizer", None), "learning_rate", None)
        if learning_rate is not None and _number(learning_rate) is not None:
            train["learning_rate"] = learning_rate
        if self.write_steps_per_second:
            elapsed = max(time.time() - self._epoch_start_time, 1e-9)
            train["steps_per_second"] = (
                self._iterations() - self._epoch_start_iterations
            ) / elapsed
        for run, values in (("train", train), ("validation", validation)):
            converted = {k: _number(v) for k, v in values.items()}
            numbers = {k: v for k, v in converted.items() if v is not None}
            if numbers:
                writer = self._writer(run)
                for name, number in numbers.items():
                    writer.scalar(f"epoch_{name}", number, epoch)

    def _log_weights(self, epoch: int) -> None:
        writer = self._writer("train")
        for layer in self.model.layers:
            for weight in layer.weights:
                name = weight.path.replace(":", "_")
                values = np.asarray(weight.numpy())
                writer.histogram(f"{name}/histogram", values, epoch)
                if self.write_images:
                    image = _as_image(values)
                    if image is not None:
                        writer.image(f"{name}/image", image, epoch)

    def _write_graph(self) -> None:
        nodes = []
        for node in model_graph(self.model, expand_nested=False).nodes:
            attrs: dict[str, Any] = {"dtype": str(getattr(node.layer, "dtype", ""))}
            if node.output_shapes:
                attrs["output_shape"] = list(node.output_shapes[0])
            nodes.append(
                {"name": node.name, "op": node.class_name, "inputs": node.inbound, "attrs": attrs}
            )
        self._writer("train").graph(encode_graph_def(nodes))

    def _write_projector_config(self) -> None:
        """``projector_config.pbtxt`` naming each ``Embedding`` layer's weights (and
        metadata file), as Keras writes it for TensorBoard's projector."""
        metadata = self.embeddings_metadata
        remaining = dict(metadata) if isinstance(metadata, dict) else {}
        entries = []
        for layer in self.model.layers:
            if type(layer).__name__ != "Embedding":
                continue
            lines = ['  tensor_name: "layer_with_weights-0/embeddings/.ATTRIBUTES/VARIABLE_VALUE"']
            path = metadata if isinstance(metadata, str) else remaining.pop(layer.name, None)
            if path is not None:
                lines.append(f"  metadata_path: {_quote(path)}")
            entries.append("embeddings {\n" + "\n".join(lines) + "\n}\n")
        if remaining:
            raise ValueError(
                "TensorBoard: embeddings_metadata names layers that are not Embedding layers "
                f"of the model: {sorted(remaining)}."
            )
        os.makedirs(self.log_dir, exist_ok=True)
        with open(os.path.join(self.log_dir, "projector_config.pbtxt"), "w") as file:
            file.write("".join(entries))


def _quote(text: str) -> str:
    """``text`` as a protobuf text-format string literal."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'
