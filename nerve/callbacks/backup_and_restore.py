"""``BackupAndRestore``: survive an interrupted ``fit`` and resume it exactly.

As Keras's callback, it backs up training state in ``backup_dir`` at the end of every
epoch (or every ``save_freq`` steps), restores it when ``fit`` starts again with a backup
present, and deletes it when ``fit`` ends. Beyond Keras, the resumed run continues the
*same* run: the backup holds every model variable, every optimizer variable (slots,
iteration counter, learning rate), the state of every ``nerve.random.SeedGenerator``
reachable from the model (Dropout's, and the global one that ``seed=None`` draws from),
the model's metric variables, the data position, and the epoch *and step* reached.

Format (no pickle anywhere): ``backup_dir/checkpoint.json`` (the position, the variables'
names, shapes and dtypes, and the name of the arrays file) and
``backup_dir/arrays-<token>.npz`` (``numpy.savez``, read with ``allow_pickle=False``).
A save writes a new arrays file, then replaces ``checkpoint.json`` atomically (temporary
file, fsync, rename): the JSON is the commit point, so a crash at any moment leaves the
previous backup whole; unreferenced arrays files are removed after the commit, and
temporaries that a killed process left by the next save (``nerve.utils.atomic_files``).
A damaged folder (``checkpoint.json`` unreadable or malformed, its arrays file missing,
truncated or not matching it) raises a ``ValueError`` that says so before anything is
restored.

**The trainer's side of the protocol** (what ``fit`` must do for exact resumption):

1. Call ``callbacks.on_train_begin()`` *before* choosing the first epoch and before
   creating the epoch's data iterator; the model must be built by then (its variables
   exist). If ``model.optimizer`` is not built, the callback builds it with
   ``model.trainable_variables`` before loading its variables.
2. After ``on_train_begin``, read ``callback._resume_epoch`` and ``callback._resume_step``
   (``None`` when nothing was restored; ``model._initial_epoch`` is also set, as in
   Keras). Start at epoch ``_resume_epoch``, skipping its first ``_resume_step`` training
   steps (``_resume_step`` may equal the epoch's step count: a backup taken after the last
   step, before validation; then run no step, only the epoch's end: validation and
   ``on_epoch_end``). Step numbers passed to ``on_train_batch_*`` continue from
   ``_resume_step``.
3. Optionally define ``model._data_position()``, returning JSON-compatible data (dicts
   with str keys, lists, str, int, float, bool, None; arrays and tensors are allowed
   anywhere and are stored in the ``.npz``), and ``model._restore_data_position(state)``.
   The callback calls the first at each backup and the second in ``on_train_begin``. The
   state must let the trainer reproduce the batches of epoch ``_resume_epoch`` from step
   ``_resume_step`` on — e.g. the epoch's shuffling permutation or the seed it was drawn
   from, since the global seed generator is restored to its state at the backup, which is
   after the epoch's shuffle was drawn.
4. Reset the metrics at the start of each epoch *before* ``on_epoch_begin`` (as Keras):
   when resuming mid-epoch, the callback puts the metric variables (``model.metrics``'s
   ``variables``) back in ``on_epoch_begin`` of the resumed epoch, so the epoch's logs
   match an uninterrupted run. Metrics whose variables are only created by the first
   train step cannot be restored this way (they restart at the resumed step).
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
import zipfile
import zlib
from typing import Any, Literal

# Host-side file I/O: arrays travel as NumPy arrays into numpy.savez / numpy.load.
import numpy

from nerve.callbacks.callback import Callback
from nerve.utils.atomic_files import atomic_write, remove_stale_temporaries

__all__ = ["BackupAndRestore"]

_FORMAT = "nerve.BackupAndRestore/1"
_CHECKPOINT = "checkpoint.json"
_GROUPS = ("model", "optimizer", "seed", "metric")


class BackupAndRestore(Callback):
    """Back up the training state, restore it after an interruption, resume exactly.

    Args:
        backup_dir: the folder holding the backup; one per training job (two ``fit``
            runs must not share it).
        save_freq: ``"epoch"`` (back up at the end of every epoch) or an int (every that
            many training steps; the resumed run continues from that step).
        delete_checkpoint: delete the backup when ``fit`` ends (completed or stopped
            early); only the files this callback writes are removed, and the folder if it
            is then empty.

    >>> import os, tempfile, nerve
    >>> from nerve.callbacks import BackupAndRestore
    >>> class Model:
    ...     def __init__(self):
    ...         self.optimizer = None
    ...         self.w = nerve.Variable([1.0, 2.0], name="w")
    ...     def get_weights(self):
    ...         return [self.w.numpy()]
    ...     @property
    ...     def weights(self):
    ...         return [self.w]
    >>> folder = os.path.join(tempfile.mkdtemp(), "backup")
    >>> model = Model()
    >>> backup = BackupAndRestore(folder, delete_checkpoint=False)
    >>> backup.set_model(model)
    >>> backup.on_train_begin(); backup.on_epoch_begin(0)
    >>> backup.on_epoch_end(0)            # an epoch ends: back up (position: epoch 1)
    >>> _ = model.w.assign([0.0, 0.0])    # ... the process dies, a new fit starts:
    >>> backup.on_train_begin()
    >>> model.w.numpy().tolist(), backup._resume_epoch, backup._resume_step
    ([1.0, 2.0], 1, 0)
    """

    def __init__(
        self,
        backup_dir: str | os.PathLike,
        save_freq: Literal["epoch"] | int = "epoch",
        delete_checkpoint: bool = True,
    ):
        super().__init__()
        if not backup_dir:
            raise ValueError("BackupAndRestore: empty `backup_dir` argument passed.")
        if save_freq != "epoch" and (
            not isinstance(save_freq, int) or isinstance(save_freq, bool) or save_freq < 1
        ):
            raise ValueError(
                f"BackupAndRestore: invalid save_freq={save_freq!r}. Expected 'epoch' or a "
                "positive int (a number of training steps)."
            )
        self.backup_dir = os.fspath(backup_dir)
        self.save_freq = save_freq
        self.delete_checkpoint = delete_checkpoint
        self._current_epoch = 0
        self._last_batch_seen = -1
        self._batches_seen_since_last_saving = 0
        self._resume_epoch: int | None = None
        self._resume_step: int | None = None
        self._pending_metrics: list | None = None

    # -- hooks ---------------------------------------------------------------------------
    def on_train_begin(self, logs: dict | None = None) -> None:
        self._resume_epoch = self._resume_step = None
        self._pending_metrics = None
        self._current_epoch, self._last_batch_seen = 0, -1
        self._batches_seen_since_last_saving = 0
        if not getattr(self.model, "built", True):
            raise ValueError(
                "To use the BackupAndRestore callback, your model must be built before you "
                f"call `fit()`. Model {self.model} is unbuilt. You can build it beforehand "
                "by calling it on a batch of data."
            )
        checkpoint = self._read_checkpoint()
        if checkpoint is None:
            return
        metadata, arrays = checkpoint
        self._restore(metadata, arrays)
        epoch, step = int(metadata["epoch"]), int(metadata["step"])
        self._resume_epoch, self._resume_step = epoch, step
        self._current_epoch, self._last_batch_seen = epoch, step - 1
        with contextlib.suppress(AttributeError):  # a model may refuse new attributes
            self.model._initial_epoch = epoch  # what Keras's trainer reads

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._current_epoch = epoch
        if self._pending_metrics is not None and epoch == self._resume_epoch:
            # The trainer reset the metrics before this hook; put the backed-up mid-epoch
            # values back. Metrics not created yet (built by the first step) cannot be:
            # then the epoch's running metrics restart at the resumed step.
            variables = self._metric_variables()
            if [tuple(v.shape) for v in variables] == [v.shape for v in self._pending_metrics]:
                _assign_all(variables, self._pending_metrics, "metric", self)
        self._pending_metrics = None

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self.save_freq == "epoch":
            return
        # A step number not above the last one means a new epoch began.
        steps = batch + 1 if batch <= self._last_batch_seen else batch - self._last_batch_seen
        self._batches_seen_since_last_saving += steps
        self._last_batch_seen = batch
        if self._batches_seen_since_last_saving >= self.save_freq:
            self._batches_seen_since_last_saving = 0
            self._save(self._current_epoch, batch + 1)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self._last_batch_seen = -1
        if self.save_freq == "epoch":
            self._save(epoch + 1, 0)

    def on_train_end(self, logs: dict | None = None) -> None:
        if self.delete_checkpoint:
            self._delete_backup()

    # -- what is backed up -----------------------------------------------------------------
    def _seed_generators(self) -> list:
        from nerve import random as nerve_random

        found = [nerve_random.global_seed_generator()]
        seen = {id(found[0])}
        model = self.model
        if hasattr(model, "_flatten_layers"):
            owners = list(model._flatten_layers())
        else:
            owners = [model]
            for layer in getattr(model, "layers", None) or ():
                owners.extend(
                    layer._flatten_layers() if hasattr(layer, "_flatten_layers") else [layer]
                )
        for owner in owners:
            for value in vars(owner).values():
                if isinstance(value, dict):
                    candidates = list(value.values())
                elif isinstance(value, (list, tuple)):
                    candidates = list(value)
                else:
                    candidates = [value]
                for candidate in candidates:
                    if (
                        isinstance(candidate, nerve_random.SeedGenerator)
                        and id(candidate) not in seen
                    ):
                        seen.add(id(candidate))
                        found.append(candidate)
        return found

    def _seed_variables(self) -> list:
        return [generator.state for generator in self._seed_generators()]

    def _model_variables(self) -> list:
        model = self.model
        for name in ("variables", "weights"):
            variables = getattr(model, name, None)
            if variables is not None:
                break
        else:
            variables = list(getattr(model, "trainable_variables", ())) + list(
                getattr(model, "non_trainable_variables", ())
            )
        # Seed states are backed up as seed states, whether or not the model lists them.
        seeds = {id(v) for v in self._seed_variables()}
        return _unique(v for v in variables if id(v) not in seeds)

    def _optimizer_variables(self) -> list:
        optimizer = getattr(self.model, "optimizer", None)
        return [] if optimizer is None else list(optimizer.variables)

    def _metric_variables(self) -> list:
        return _unique(
            v
            for metric in getattr(self.model, "metrics", None) or ()
            for v in getattr(metric, "variables", ())
        )

    def _groups(self) -> dict[str, list]:
        return {
            "model": self._model_variables(),
            "optimizer": self._optimizer_variables(),
            "seed": self._seed_variables(),
            "metric": self._metric_variables(),
        }

    # -- saving ------------------------------------------------------------------------------
    def _save(self, epoch: int, step: int) -> None:
        arrays: dict[str, Any] = {}
        metadata: dict[str, Any] = {"format": _FORMAT, "epoch": epoch, "step": step}
        for group, variables in self._groups().items():
            metadata[group] = []
            for index, variable in enumerate(variables):
                value = numpy.asarray(variable.numpy())
                arrays[f"{group}/{index}"] = value
                metadata[group].append(
                    {
                        "name": str(getattr(variable, "path", None) or variable.name),
                        "shape": list(value.shape),
                        "dtype": value.dtype.name,
                    }
                )
        position = getattr(self.model, "_data_position", None)
        metadata["data_position"] = _encode(position(), arrays) if position else None

        os.makedirs(self.backup_dir, exist_ok=True)
        arrays_name = f"arrays-{uuid.uuid4().hex}.npz"
        metadata["arrays"] = arrays_name
        _write_atomically(
            os.path.join(self.backup_dir, arrays_name), lambda f: numpy.savez(f, **arrays)
        )
        text = json.dumps(metadata, indent=1).encode()
        _write_atomically(os.path.join(self.backup_dir, _CHECKPOINT), lambda f: f.write(text))
        for name in os.listdir(self.backup_dir):  # arrays of earlier backups
            if _is_ours(name) and name not in (arrays_name, _CHECKPOINT):
                os.remove(os.path.join(self.backup_dir, name))

    # -- restoring ---------------------------------------------------------------------------
    def _read_checkpoint(self) -> tuple[dict, dict] | None:
        path = os.path.join(self.backup_dir, _CHECKPOINT)
        if not os.path.exists(path):
            return None
        try:
            with open(path, "rb") as f:
                metadata = json.loads(f.read())
        except (OSError, ValueError, RecursionError) as error:
            raise self._damaged(f"{_CHECKPOINT} cannot be read ({error})") from error
        if not isinstance(metadata, dict):
            raise self._damaged(f"{_CHECKPOINT} does not hold a JSON object")
        if metadata.get("format") != _FORMAT:
            raise ValueError(
                f"BackupAndRestore: {path} is not a backup this version can read (format "
                f"{metadata.get('format')!r}, expected {_FORMAT!r}). Delete {self.backup_dir} "
                "to start training afresh."
            )
        problem = _metadata_problem(metadata)
        if problem:
            raise self._damaged(f"{_CHECKPOINT} {problem}")
        arrays_path = os.path.join(self.backup_dir, metadata["arrays"])
        try:
            # The file is opened here so that it is closed even when NumPy fails.
            with open(arrays_path, "rb") as raw, numpy.load(raw, allow_pickle=False) as f:
                arrays = {name: f[name] for name in f.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as error:
            raise self._damaged(f"{metadata['arrays']} cannot be read ({error})") from error
        for group in _GROUPS:
            for index, entry in enumerate(metadata[group]):
                value = arrays.get(f"{group}/{index}")
                if value is None or list(value.shape) != list(entry["shape"]):
                    raise self._damaged(
                        f"{metadata['arrays']} lacks {group} variable {index} of shape "
                        f"{entry['shape']} that {_CHECKPOINT} lists"
                    )
        return metadata, arrays

    def _damaged(self, detail: str) -> ValueError:
        return ValueError(
            f"BackupAndRestore: the backup in {self.backup_dir} is damaged: {detail}. It "
            "cannot be resumed from; restore the folder from a copy, or delete it to start "
            "training afresh."
        )

    def _restore(self, metadata: dict, arrays: dict) -> None:
        optimizer = getattr(self.model, "optimizer", None)
        if (
            optimizer is not None
            and not getattr(optimizer, "built", True)
            and len(metadata["optimizer"]) > len(self._optimizer_variables())
        ):
            # Create the optimizer's slots so there is somewhere to load them.
            optimizer.build(self.model.trainable_variables)
        groups = self._groups()
        values = {
            group: [arrays[f"{group}/{i}"] for i in range(len(metadata[group]))]
            for group in _GROUPS
        }
        # Check everything before assigning anything: all restored or nothing.
        for group in ("model", "optimizer", "seed"):
            _check(groups[group], metadata[group], group, self)
        for group in ("model", "optimizer", "seed"):
            _assign_all(groups[group], values[group], group, self)
        if metadata["step"] > 0 and values["metric"]:
            self._pending_metrics = values["metric"]
        restore_position = getattr(self.model, "_restore_data_position", None)
        if restore_position is not None and metadata.get("data_position") is not None:
            restore_position(_decode(metadata["data_position"], arrays))

    def _delete_backup(self) -> None:
        if not os.path.isdir(self.backup_dir):
            return
        remove_stale_temporaries(self.backup_dir)
        for name in os.listdir(self.backup_dir):
            if _is_ours(name):
                os.remove(os.path.join(self.backup_dir, name))
        if not os.listdir(self.backup_dir):
            os.rmdir(self.backup_dir)


# -- helpers ---------------------------------------------------------------------------------
def _unique(variables) -> list:
    seen: set[int] = set()
    out = []
    for variable in variables:
        if id(variable) not in seen:
            seen.add(id(variable))
            out.append(variable)
    return out


def _is_ours(name: str) -> bool:
    return (
        name == _CHECKPOINT
        or (name.startswith(("arrays-", ".tmp-")) and ".npz" in name)
        or (name.startswith(".tmp-") and name.endswith(_CHECKPOINT))
    )


def _write_atomically(path: str, write) -> None:
    """``write(file)`` into a temporary file next to ``path``, fsync, rename into place
    (temporaries that killed writers left in the folder are removed first)."""
    with atomic_write(path) as f:
        write(f)


def _metadata_problem(metadata: dict) -> str | None:
    """What is missing or malformed in a checkpoint's metadata, or None."""
    for key, kind in (("epoch", int), ("step", int), ("arrays", str)):
        if not isinstance(metadata.get(key), kind):
            return f"has no valid {key!r} entry"
    if os.path.basename(metadata["arrays"]) != metadata["arrays"] or not _is_ours(
        metadata["arrays"]
    ):
        return f"names an arrays file outside the backup ({metadata['arrays']!r})"
    for group in _GROUPS:
        entries = metadata.get(group)
        if not isinstance(entries, list) or not all(
            isinstance(e, dict) and isinstance(e.get("shape"), list) for e in entries
        ):
            return f"has no valid {group!r} variable list"
    return None


def _check(variables: list, saved: list[dict], group: str, callback: BackupAndRestore) -> None:
    problem = None
    if len(variables) != len(saved):
        problem = f"it holds {len(saved)} {group} variables, the model now has {len(variables)}"
    else:
        for variable, entry in zip(variables, saved):
            if tuple(variable.shape) != tuple(entry["shape"]):
                problem = (
                    f"{group} variable {entry['name']!r} has shape {tuple(entry['shape'])} in "
                    f"the backup but {tuple(variable.shape)} in the model"
                )
                break
    if problem:
        raise ValueError(
            f"BackupAndRestore: the backup in {callback.backup_dir} does not match this "
            f"model: {problem}. Resume with the same model and optimizer, or delete "
            f"{callback.backup_dir} to start training afresh."
        )


def _assign_all(variables: list, values: list, group: str, callback: BackupAndRestore) -> None:
    if len(variables) != len(values):
        raise ValueError(
            f"BackupAndRestore: the backup in {callback.backup_dir} holds {len(values)} "
            f"{group} variables, the model now has {len(variables)}."
        )
    for variable, value in zip(variables, values):
        variable.assign(value)


def _encode(value: Any, arrays: dict) -> Any:
    """JSON data with every array replaced by ``{"__array__": key}`` (stored in ``arrays``)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, dict):
        return {str(k): _encode(v, arrays) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode(v, arrays) for v in value]
    if hasattr(value, "numpy"):
        value = value.numpy()
    value = numpy.asarray(value)
    if value.dtype == object:
        raise TypeError(
            "BackupAndRestore: model._data_position() returned an object that is neither "
            f"JSON data nor a numeric array: {type(value).__name__}."
        )
    key = f"data/{sum(name.startswith('data/') for name in arrays)}"
    arrays[key] = value
    return {"__array__": key}


def _decode(value: Any, arrays: dict) -> Any:
    if isinstance(value, dict):
        if set(value) == {"__array__"}:
            return arrays[value["__array__"]]
        return {k: _decode(v, arrays) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v, arrays) for v in value]
    return value
