"""``.keras`` archives and ``.weights.h5`` files, in Keras 3's layout.

A ``.keras`` file is a zip archive holding ``metadata.json`` (version, date),
``config.json`` (the serialized model: ``module``, ``class_name``, ``config``,
``registered_name``, ``build_config``, ``compile_config``) and
``model.weights.h5``. The weights file stores the object tree as Keras does:
each layer and the optimizer own a group ``<path>/vars`` with datasets ``0``,
``1``, ... (a layer's trainable variables first, then its non-trainable ones,
each in creation order); the path is the chain of attribute names from the
model, except that a Sequential or Functional model's layers sit under
``layers/<snake_case class name>[_<n>]`` (``layers/dense``, ``layers/dense_1``).

Writes are atomic: the file is written next to its destination under a
temporary name, synced, then renamed over it, so a crash leaves the old file
whole. Loading never runs code from the file (see ``serialization``).

>>> import os, tempfile
>>> from nerve import layers, ops, saving
>>> dense = layers.Dense(2, name="dense")
>>> _ = dense(ops.ones((1, 3)))
>>> path = os.path.join(tempfile.mkdtemp(), "dense.keras")
>>> saving.save_model(dense, path)
>>> restored = saving.load_model(path)
>>> [w.shape for w in restored.weights] == [w.shape for w in dense.weights]
True
"""

from __future__ import annotations

import contextlib
import datetime
import io
import json
import os
import re
import tempfile
import warnings
import zipfile
from collections.abc import Iterator
from typing import Any

from nerve.core.errors import ShapeError
from nerve.saving import serialization
from nerve.saving.h5_store import H5Reader, H5Writer, WeightsFileError

__all__ = [
    "CONFIG_FILENAME",
    "METADATA_FILENAME",
    "WEIGHTS_FILENAME",
    "WeightsMismatchError",
    "load_model",
    "load_weights",
    "save_model",
    "save_weights",
]

CONFIG_FILENAME = "config.json"
METADATA_FILENAME = "metadata.json"
WEIGHTS_FILENAME = "model.weights.h5"


class WeightsMismatchError(WeightsFileError, ShapeError):
    """The weights in a file do not fit the model (a count or a shape differs)."""


# -- the object tree -------------------------------------------------------------------
def _is_saveable(obj: Any) -> bool:
    from nerve.layers import Layer
    from nerve.optimizers import Optimizer

    return isinstance(obj, (Layer, Optimizer))


_skiplist: frozenset[str] | None = None


def _layer_skiplist() -> frozenset[str]:
    """Attributes every Layer has; the others are where a layer keeps its sublayers
    (Keras's ``get_attr_skiplist("Layer")``)."""
    global _skiplist
    if _skiplist is None:
        from nerve.layers import Layer

        _skiplist = frozenset(dir(Layer(name="saving_skiplist_probe")))
    return _skiplist


def _name_key(name: str) -> str:
    # Private attributes are visited last, so a public name wins for a shared object.
    return "~" + name if name.startswith("_") else name


def _children(obj: Any) -> Iterator[tuple[str, Any]]:
    """``(attribute name, value)`` pairs to walk, in Keras's order."""
    from nerve.layers import Layer

    if not isinstance(obj, Layer):
        return
    kinds = {klass.__name__ for klass in type(obj).__mro__}
    skip = _layer_skiplist()
    # A Sequential's or Functional's layers come first, under "layers"; its internal
    # graph is not walked (Keras's skiplists add these names too).
    if "Sequential" in kinds:
        yield "layers", list(obj.layers)
        skip = skip | {"_functional"}
    elif "Functional" in kinds:
        yield "layers", list(obj.layers)
        skip = skip | {"operations", "_operations"}
    for attr in sorted(dir(obj), key=_name_key):
        if attr.startswith("__") or attr in skip:
            continue
        try:
            value = getattr(obj, attr)
        except Exception:  # a property that cannot be computed now holds no state
            continue
        yield attr, value


def _own_variables(obj: Any) -> list:
    from nerve.layers import Layer

    if isinstance(obj, Layer):
        own = obj._own_weights
        return [w for w in own if w.trainable] + [w for w in own if not w.trainable]
    return _keras_optimizer_order(obj)


# Keras creates these slot pairs together, per model variable (momentum_0, velocity_0,
# momentum_1, ...); nerve creates each as a block. Files use Keras's order.
_KERAS_PAIRED_SLOTS = {
    "Adam": ("_momentums", "_velocities"),
    "Nadam": ("_momentums", "_velocities"),
    "Adamax": ("_m", "_u"),
    "Adadelta": ("_accumulated_grads", "_accumulated_deltas"),
}


def _keras_optimizer_order(optimizer: Any) -> list:
    """The optimizer's variables in the order Keras 3 saves them."""
    variables = list(optimizer.variables)
    names = next(
        (_KERAS_PAIRED_SLOTS[k.__name__] for k in type(optimizer).__mro__
         if k.__name__ in _KERAS_PAIRED_SLOTS and k.__module__.startswith("nerve.")),
        None,
    )  # fmt: skip
    first, second = (getattr(optimizer, n, None) for n in names) if names else (None, None)
    if not first or not second or len(first) != len(second):
        return variables
    paired = {id(v) for v in [*first, *second]}
    positions = [i for i, v in enumerate(variables) if id(v) in paired]
    start = positions[0]
    if positions != list(range(start, start + len(positions))):
        return variables  # not two adjacent blocks: leave the order alone
    interleaved = [v for pair in zip(first, second) for v in pair]
    return variables[:start] + interleaved + variables[start + len(interleaved) :]


def _container_items(container: Any) -> Iterator[tuple[str, Any]]:
    """Saveables in a list/tuple/dict/set, named by snake-case class name plus a
    counter (``dense``, ``dense_1``): reproducible, unlike auto-generated names."""
    values = container.values() if isinstance(container, dict) else container
    used: dict[str, int] = {}
    for value in values:
        if not _is_saveable(value):
            continue
        name = _snake_case(type(value).__name__)
        if name in used:
            used[name] += 1
            name = f"{name}_{used[name]}"
        else:
            used[name] = 0
        yield name, value


def _snake_case(name: str) -> str:
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    # As Keras: no break between a digit and a capital ("Conv2D" -> "conv2d").
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def _join(path: str, name: str) -> str:
    return f"{path}/{name}" if path else name


def _walk(obj: Any, path: str, visited: set[int]) -> Iterator[tuple[str, Any, Any]]:
    """Every saveable below ``obj`` (included) once: ``(path, object, owner)``."""
    stack: list[tuple[str, Any, Any]] = [(path, obj, None)]
    while stack:
        path, obj, owner = stack.pop()
        if id(obj) in visited:
            continue
        visited.add(id(obj))
        yield path, obj, owner
        found = []
        for attr, child in _children(obj):
            if _is_saveable(child):
                found.append((_join(path, attr), child, obj))
            elif isinstance(child, (list, tuple, dict, set)):
                for name, item in _container_items(child):
                    found.append((_join(_join(path, attr), name), item, obj))
        # Depth first in Keras's order: the first path that reaches an object owns it.
        stack.extend(reversed(found))


# -- writing ---------------------------------------------------------------------------
class _VarsStore:
    """The dict-like store handed to a custom ``save_own_variables(store)``."""

    def __init__(self, writer: H5Writer, group: Any):
        self.writer, self.group = writer, group

    def __setitem__(self, key: str, value: Any) -> None:
        self.writer.write(self.group, str(key), _to_array(value))


def _to_array(value: Any) -> Any:
    return value.numpy() if hasattr(value, "numpy") else value


def _write_weights(model: Any, target: Any) -> None:
    writer = H5Writer(target)
    try:
        for path, obj, _ in _walk(model, "", set()):
            group = writer.make(path, getattr(obj, "name", None))
            if hasattr(obj, "save_own_variables"):
                obj.save_own_variables(_VarsStore(writer, group))
                continue
            for i, variable in enumerate(_own_variables(obj)):
                writer.write(group, str(i), variable.numpy())
    finally:
        writer.close()


@contextlib.contextmanager
def _atomic_write(filepath: str) -> Iterator[Any]:
    """A binary file that replaces ``filepath`` only once completely written and synced."""
    directory = os.path.dirname(os.path.abspath(filepath))
    existing_mode = os.stat(filepath).st_mode & 0o777 if os.path.exists(filepath) else 0o644
    fd, temp_path = tempfile.mkstemp(
        dir=directory, prefix=f".{os.path.basename(filepath)}.", suffix=".tmp"
    )
    try:
        with os.fdopen(fd, "w+b") as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temp_path, existing_mode)
        os.replace(temp_path, filepath)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_path)
        raise
    # Persist the rename itself (POSIX; directories cannot be opened on Windows).
    with contextlib.suppress(OSError):
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _check_destination(filepath: Any, suffix: str, what: str, overwrite: bool) -> str:
    filepath = os.fspath(filepath)
    if not str(filepath).endswith(suffix):
        hint = ""
        if str(filepath).endswith(".h5") and suffix == ".keras":
            hint = (
                " The legacy whole-model .h5 format is not supported; use .keras, or "
                "save_weights with a .weights.h5 name for weights only."
            )
        raise ValueError(
            f"Invalid filepath for {what}: expected a name ending in {suffix!r}. "
            f"Received: filepath={filepath!r}.{hint}"
        )
    if not overwrite and os.path.exists(filepath):
        raise FileExistsError(f"{filepath!r} exists and overwrite=False.")
    return filepath


def _warn_if_unbuilt(model: Any) -> None:
    if not getattr(model, "built", True):
        warnings.warn(
            f"Saving {type(model).__name__} {getattr(model, 'name', '')!r}, which is not "
            "built yet, so it has no weights to save. Call it on data (or build it) first.",
            stacklevel=3,
        )


def save_weights(model: Any, filepath: Any, overwrite: bool = True) -> None:
    """Write ``model``'s weights (and its optimizer's state) to a ``.weights.h5`` file.

    ``model`` may be any Layer. The layout is Keras 3's (module docstring).
    """
    filepath = _check_destination(filepath, ".weights.h5", "save_weights", overwrite)
    _warn_if_unbuilt(model)
    with _atomic_write(filepath) as file:
        _write_weights(model, file)


def save_model(
    model: Any, filepath: Any, overwrite: bool = True, zipped: bool | None = None
) -> None:
    """Write ``model`` (config, weights, optimizer state) to a ``.keras`` archive.

    ``model`` may be any Layer whose class loads by name (a nerve class, or one
    registered with ``register_keras_serializable``). ``zipped=False`` (Keras's
    unzipped directory) is not supported.
    """
    from nerve import __version__

    if zipped is False:
        raise NotImplementedError(
            "save_model(zipped=False) (an unzipped model directory) is not supported; "
            "nerve writes zipped .keras archives."
        )
    filepath = _check_destination(filepath, ".keras", "save_model", overwrite)
    _warn_if_unbuilt(model)
    config_json = json.dumps(serialization.serialize_keras_object(model))
    metadata_json = json.dumps(
        {
            "keras_version": __version__,
            "nerve_version": __version__,
            "saved_by": "nerve",
            "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
        }
    )
    weights = io.BytesIO()
    _write_weights(model, weights)
    with _atomic_write(filepath) as file, zipfile.ZipFile(file, "w") as archive:
        archive.writestr(METADATA_FILENAME, metadata_json)
        archive.writestr(CONFIG_FILENAME, config_json)
        archive.writestr(WEIGHTS_FILENAME, weights.getvalue())


# -- reading ---------------------------------------------------------------------------
def _read_weights(model: Any, reader: H5Reader, skip_mismatch: bool) -> None:
    """Check every saveable's variables against the file, then assign them all, so a
    failed load leaves the model untouched."""
    from nerve.optimizers import Optimizer

    assignments: list[tuple[Any, Any]] = []
    errors: list[str] = []
    for path, obj, owner in _walk(model, "", set()):
        where = f"'{path or '/'}'"
        group = reader.get(path)
        keys = reader.keys(group) if group is not None else []
        if hasattr(obj, "load_own_variables"):
            obj.load_own_variables({key: reader.read(group, key, where) for key in keys})
            continue
        variables = _own_variables(obj)
        if isinstance(obj, Optimizer):
            if keys and not obj.built and len(keys) > len(variables) and owner is not None:
                obj.build(owner.trainable_weights)  # create the slots the file holds
                variables = _own_variables(obj)
            if len(keys) != len(variables):
                warnings.warn(
                    f"Skipping the state of optimizer {obj.name!r} at {where}: it has "
                    f"{len(variables)} variables but the file holds {len(keys)}. Build the "
                    "optimizer (e.g. train one step) before loading to restore it.",
                    stacklevel=3,
                )
                continue
        elif len(keys) != len(variables):
            names = [v.path for v in variables]
            built = "" if getattr(obj, "built", True) else " (the layer is not built yet)"
            errors.append(
                f"Layer {obj.name!r} ({type(obj).__name__}) at {where} has {len(variables)} "
                f"variables {names}{built}, but the file holds {len(keys)}."
            )
            continue
        for key, variable in zip(keys, variables):
            saved_shape = reader.shape(group, key)
            if saved_shape != tuple(variable.shape):
                errors.append(
                    f"Weight '{_join(path, 'vars/' + key)}' (variable {variable.path!r}) has "
                    f"shape {saved_shape} in the file, but the model's variable has shape "
                    f"{tuple(variable.shape)}."
                )
                continue
            assignments.append((variable, reader.read(group, key, f"'{path}/vars/{key}'")))
    if errors:
        message = (
            f"{len(errors)} weight(s) in {reader.description} do not fit "
            f"{type(model).__name__} {getattr(model, 'name', '')!r}:\n  " + "\n  ".join(errors)
        )
        if not skip_mismatch:
            raise WeightsMismatchError(message)
        warnings.warn(message + "\nThese were skipped (skip_mismatch=True).", stacklevel=3)
    for variable, value in assignments:
        variable.assign(value)


def _open_archive(filepath: str) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(filepath, "r")
    except zipfile.BadZipFile as error:
        raise WeightsFileError(
            f"{filepath!r} is not a valid .keras file: it is not a zip archive ({error}). "
            "It may be truncated or corrupt, or saved in another format (a .weights.h5 "
            "file loads with load_weights)."
        ) from error


def _archive_weights(archive: zipfile.ZipFile, filepath: str) -> H5Reader:
    names = archive.namelist()
    if WEIGHTS_FILENAME in names:
        data = io.BytesIO(archive.read(WEIGHTS_FILENAME))
        return H5Reader(data, f"{WEIGHTS_FILENAME} in {filepath!r}")
    if "model.weights.npz" in names:
        raise WeightsFileError(
            f"{filepath!r} stores its weights as model.weights.npz, which can only be read "
            "by unpickling; nerve never unpickles. Re-save the model with the default "
            "(HDF5) weights format."
        )
    raise WeightsFileError(f"{filepath!r} is not a valid .keras file: no {WEIGHTS_FILENAME}.")


def load_weights(model: Any, filepath: Any, skip_mismatch: bool = False) -> None:
    """Load weights saved by ``save_weights`` (``.weights.h5``) or ``save_model``
    (``.keras``) into ``model`` (any Layer, built). Mismatched counts or shapes raise
    ``WeightsMismatchError`` naming each weight's path and both shapes, and nothing
    is assigned; ``skip_mismatch=True`` warns and loads the rest."""
    filepath = os.fspath(filepath)
    if str(filepath).endswith(".keras"):
        with _open_archive(filepath) as archive:
            reader = _archive_weights(archive, filepath)
            try:
                _read_weights(model, reader, skip_mismatch)
            finally:
                reader.close()
        return
    if not str(filepath).endswith(".weights.h5"):
        raise ValueError(
            "load_weights expects a .weights.h5 file (or a .keras archive). "
            f"Received: filepath={filepath!r}"
        )
    if not os.path.exists(filepath):
        raise FileNotFoundError(f"No weights file at {filepath!r}.")
    reader = H5Reader(filepath, repr(filepath))
    try:
        _read_weights(model, reader, skip_mismatch)
    finally:
        reader.close()


def load_model(
    filepath: Any,
    custom_objects: dict[str, Any] | None = None,
    compile: bool = True,
    safe_mode: bool = True,
) -> Any:
    """The model saved in a ``.keras`` archive, rebuilt from its config (classes from
    nerve or ``custom_objects`` / registered ones), built, compiled (unless
    ``compile=False``) and with its weights and optimizer state loaded."""
    filepath = os.fspath(filepath)
    if not str(filepath).endswith(".keras"):
        hint = " Use load_weights for a .weights.h5 file." if filepath.endswith(".h5") else ""
        raise ValueError(
            f"load_model expects a .keras file. Received: filepath={filepath!r}.{hint}"
        )
    if not os.path.exists(filepath):
        raise FileNotFoundError(f"No model file at {filepath!r}.")
    with _open_archive(filepath) as archive:
        if CONFIG_FILENAME not in archive.namelist():
            raise WeightsFileError(
                f"{filepath!r} is not a valid .keras file: no {CONFIG_FILENAME}."
            )
        try:
            config = json.loads(archive.read(CONFIG_FILENAME))
        except (ValueError, UnicodeDecodeError) as error:
            raise WeightsFileError(
                f"{CONFIG_FILENAME} in {filepath!r} is not valid JSON ({error})."
            ) from error
        if not isinstance(config, dict) or "class_name" not in config:
            raise WeightsFileError(
                f"{CONFIG_FILENAME} in {filepath!r} does not describe an object (no 'class_name')."
            )
        if not compile:
            config.pop("compile_config", None)
        model = serialization.deserialize_keras_object(config, custom_objects, safe_mode)
        reader = _archive_weights(archive, filepath)
        try:
            _read_weights(model, reader, skip_mismatch=False)
        finally:
            reader.close()
    return model
