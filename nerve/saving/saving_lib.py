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
whole, and the next save into the folder removes temporaries that killed writers
left (``nerve.utils.atomic_files``). Loading never runs code from the file (see
``serialization``), never reads outside it (see ``h5_store``), and is bounded:
archive members are checked against the archive and limits before they are read,
variables are built without initial values the file overwrites, and weights are
streamed into place, so a model of N bytes of weights loads in about N bytes.

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
import shutil
import struct
import tempfile
import time
import warnings
import zipfile
import zlib
from collections.abc import Iterator
from typing import Any

from nerve.core.errors import ShapeError
from nerve.saving import serialization
from nerve.saving.h5_store import H5Reader, H5Writer, WeightsFileError
from nerve.utils.atomic_files import atomic_write

__all__ = [
    "CONFIG_FILENAME",
    "MAX_ARCHIVE_MEMBERS",
    "MAX_CONFIG_BYTES",
    "MAX_CONFIG_DEPTH",
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
        # Its private list also holds the InputLayer, which Keras's files leave out.
        skip = skip | {"_functional", "_layers"}
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
    with atomic_write(filepath) as file:
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
    # The weights are staged in an anonymous file on the destination's disk (no name,
    # so a killed save leaves nothing behind), not in memory: saving a model of N bytes
    # of weights needs no second N bytes of RAM.
    folder = os.path.dirname(os.path.abspath(filepath))
    with tempfile.TemporaryFile(dir=folder) as weights:
        _write_weights(model, weights)
        size = weights.seek(0, io.SEEK_END)
        weights.seek(0)
        with atomic_write(filepath) as file, zipfile.ZipFile(file, "w") as archive:
            archive.writestr(METADATA_FILENAME, metadata_json)
            archive.writestr(CONFIG_FILENAME, config_json)
            info = zipfile.ZipInfo(WEIGHTS_FILENAME, time.localtime()[:6])
            info.file_size = size  # known in advance: ZIP64 headers only when needed
            with archive.open(info, "w") as member:
                shutil.copyfileobj(weights, member, _COPY_BLOCK)


# -- reading ---------------------------------------------------------------------------
# What a .keras archive may declare; everything is checked before it is read.
MAX_ARCHIVE_MEMBERS = 10_000
MAX_CONFIG_BYTES = 64 << 20
MAX_CONFIG_DEPTH = 128
# A member over _BOMB_FLOOR bytes that expands more than _MAX_EXPANSION times its
# compressed size is refused as a decompression bomb (Keras's rule too): no weights or
# config compress that well, and a 2 MB archive must not become 2 GiB in memory.
_BOMB_FLOOR = 1 << 20
_MAX_EXPANSION = 100
_COPY_BLOCK = 1 << 20
_LOCAL_HEADER = struct.Struct("<4s22xHH")  # signature, ..., name length, extra length
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)


def _plan_weights(
    model: Any, reader: H5Reader
) -> tuple[list[tuple[Any, Any, str]], list[tuple[Any, dict, str]], list[str]]:
    """Match every saveable's variables with the file's datasets, reading no values:
    ``(variable, dataset, where)`` triples, ``(object, {key: dataset}, where)`` for
    objects with ``load_own_variables``, and the mismatches found."""
    from nerve.optimizers import Optimizer

    planned: list[tuple[Any, Any, str]] = []
    custom: list[tuple[Any, dict, str]] = []
    errors: list[str] = []
    for path, obj, owner in _walk(model, "", set()):
        where = f"'{path or '/'}'"
        group = reader.get(path)
        keys = reader.keys(group, where) if group is not None else []
        if hasattr(obj, "load_own_variables"):
            datasets = {k: reader.dataset(group, k, f"'{_join(path, 'vars/' + k)}'") for k in keys}
            custom.append((obj, datasets, where))
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
                    stacklevel=4,
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
            name = _join(path, "vars/" + key)
            dataset = reader.dataset(group, key, f"'{name}'")
            if tuple(dataset.shape) != tuple(variable.shape):
                errors.append(
                    f"Weight '{name}' (variable {variable.path!r}) has shape "
                    f"{tuple(dataset.shape)} in the file, but the model's variable has shape "
                    f"{tuple(variable.shape)}."
                )
                continue
            planned.append((variable, dataset, f"'{name}'"))
    return planned, custom, errors


def _read_weights(model: Any, reader: H5Reader, skip_mismatch: bool) -> None:
    """Load the file's weights into ``model``. Everything that can be checked without
    reading values (structure, counts, shapes, where values are stored) and every cast
    that could change a value are checked before anything is assigned, so such a
    failure leaves the model untouched; then each weight is read and put in place in
    turn, so loading holds at most one weight's values beyond the model's own."""
    planned, custom, errors = _plan_weights(model, reader)
    if errors:
        message = (
            f"{len(errors)} weight(s) in {reader.description} do not fit "
            f"{type(model).__name__} {getattr(model, 'name', '')!r}:\n  " + "\n  ".join(errors)
        )
        if not skip_mismatch:
            raise WeightsMismatchError(message)
        warnings.warn(message + "\nThese were skipped (skip_mismatch=True).", stacklevel=3)
    for variable, dataset, where in planned:
        reader.check_cast(dataset, variable.dtype, where)
    for obj, datasets, where in custom:
        obj.load_own_variables({k: reader.read(d, where) for k, d in datasets.items()})
    for variable, dataset, where in planned:
        variable._assign_owned(reader.read(dataset, where))


@contextlib.contextmanager
def _file_errors(filepath: str) -> Iterator[None]:
    """Damaged archives and HDF5 files raise ``WeightsFileError`` naming the file, not
    the zip, zlib or HDF5 error that noticed the damage."""
    try:
        yield
    except (WeightsFileError, serialization.SerializationError):
        raise
    except (
        zipfile.BadZipFile,
        zlib.error,
        EOFError,
        struct.error,
        OSError,
        NotImplementedError,  # zipfile: an unknown compression method
        ValueError,
    ) as error:
        raise WeightsFileError(
            f"{filepath!r} cannot be read ({type(error).__name__}: {error}). It may be "
            "truncated or corrupt."
        ) from error


def _open_archive(filepath: str) -> zipfile.ZipFile:
    """The archive, after checking what its members declare against the file."""
    try:
        archive = zipfile.ZipFile(filepath, "r")
    except zipfile.BadZipFile as error:
        raise WeightsFileError(
            f"{filepath!r} is not a valid .keras file: it is not a zip archive ({error}). "
            "It may be truncated or corrupt, or saved in another format (a .weights.h5 "
            "file loads with load_weights)."
        ) from error
    try:
        _check_archive(archive, filepath, os.path.getsize(filepath))
    except BaseException:
        archive.close()
        raise
    return archive


def _check_archive(archive: zipfile.ZipFile, filepath: str, size: int) -> None:
    infos = archive.infolist()
    if len(infos) > MAX_ARCHIVE_MEMBERS:
        raise WeightsFileError(
            f"{filepath!r} is not a valid .keras file: it has {len(infos)} members "
            f"(at most {MAX_ARCHIVE_MEMBERS} are accepted)."
        )
    for info in infos:
        end = info.header_offset + _LOCAL_HEADER.size + info.compress_size
        if info.header_offset < 0 or end > size:
            raise WeightsFileError(
                f"{filepath!r} is damaged: member {info.filename!r} declares "
                f"{info.compress_size} bytes at offset {info.header_offset}, past the end of "
                f"the {size}-byte archive."
            )
        if info.compress_type == zipfile.ZIP_STORED and info.compress_size != info.file_size:
            raise WeightsFileError(
                f"{filepath!r} is damaged: the uncompressed member {info.filename!r} declares "
                f"{info.file_size} bytes but occupies {info.compress_size}."
            )
        if info.file_size > _BOMB_FLOOR and info.file_size > _MAX_EXPANSION * info.compress_size:
            raise WeightsFileError(
                f"{filepath!r}: member {info.filename!r} declares {info.file_size} bytes, "
                f"{info.file_size / max(info.compress_size, 1):.0f} times its "
                f"{info.compress_size} compressed bytes; refusing a likely decompression bomb."
            )


def _read_member(archive: zipfile.ZipFile, name: str, limit: int, filepath: str) -> bytes:
    info = archive.getinfo(name)
    if info.file_size > limit:
        raise WeightsFileError(
            f"{name} in {filepath!r} declares {info.file_size} bytes; at most {limit} are accepted."
        )
    with archive.open(info) as member:
        data = member.read(limit + 1)
    if len(data) > limit:
        raise WeightsFileError(f"{name} in {filepath!r} holds more than {limit} bytes.")
    return data


class _Window(io.RawIOBase):
    """Bytes ``start .. start + size`` of a binary file, as a read-only seekable file:
    HDF5 reads an uncompressed member straight from the archive, without a copy."""

    def __init__(self, file: Any, start: int, size: int):
        super().__init__()
        self._file, self._start, self._size, self._position = file, start, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        count = max(0, min(len(view), self._size - self._position))
        if count == 0:
            return 0
        self._file.seek(self._start + self._position)
        done = self._file.readinto(view[:count])
        self._position += done
        return done


def _stored_member(raw: Any, info: zipfile.ZipInfo, description: str) -> _Window:
    """A window on an uncompressed member's bytes, after checking its CRC."""
    raw.seek(info.header_offset)
    header = raw.read(_LOCAL_HEADER.size)
    if len(header) != _LOCAL_HEADER.size:
        raise WeightsFileError(f"{description} is damaged: its local header is cut off.")
    signature, name_length, extra_length = _LOCAL_HEADER.unpack(header)
    if signature != b"PK\x03\x04":
        raise WeightsFileError(f"{description} is damaged: bad local header signature.")
    start = info.header_offset + _LOCAL_HEADER.size + name_length + extra_length
    window = _Window(raw, start, info.file_size)
    crc = 0
    block = bytearray(_COPY_BLOCK)
    while True:
        count = window.readinto(block)
        if not count:
            break
        crc = zlib.crc32(memoryview(block)[:count], crc)
    if window.tell() != info.file_size or crc != info.CRC:
        raise WeightsFileError(
            f"{description} is damaged: its bytes do not match the archive's checksum "
            "(a flipped or truncated byte)."
        )
    window.seek(0)
    return window


@contextlib.contextmanager
def _archive_weights(archive: zipfile.ZipFile, filepath: str) -> Iterator[H5Reader]:
    """A reader of the archive's weights, streamed from the archive: an uncompressed
    member in place, a compressed one through an anonymous temporary file (never a
    copy in memory)."""
    names = archive.namelist()
    if WEIGHTS_FILENAME not in names:
        if "model.weights.npz" in names:
            raise WeightsFileError(
                f"{filepath!r} stores its weights as model.weights.npz, which can only be "
                "read by unpickling; nerve never unpickles. Re-save the model with the "
                "default (HDF5) weights format."
            )
        raise WeightsFileError(f"{filepath!r} is not a valid .keras file: no {WEIGHTS_FILENAME}.")
    info = archive.getinfo(WEIGHTS_FILENAME)
    description = f"{WEIGHTS_FILENAME} in {filepath!r}"
    with contextlib.ExitStack() as stack:
        if info.compress_type == zipfile.ZIP_STORED:
            raw = stack.enter_context(open(filepath, "rb"))
            source: Any = _stored_member(raw, info, description)
        else:
            source = stack.enter_context(tempfile.TemporaryFile())
            with archive.open(info) as member:  # checks the CRC and the declared size
                shutil.copyfileobj(member, source, _COPY_BLOCK)
            source.seek(0)
        reader = H5Reader(source, description)
        stack.callback(reader.close)
        yield reader


def load_weights(model: Any, filepath: Any, skip_mismatch: bool = False) -> None:
    """Load weights saved by ``save_weights`` (``.weights.h5``) or ``save_model``
    (``.keras``) into ``model`` (any Layer, built). Mismatched counts or shapes raise
    ``WeightsMismatchError`` naming each weight's path and both shapes, and nothing
    is assigned; ``skip_mismatch=True`` warns and loads the rest. A damaged or unsafe
    file raises ``WeightsFileError`` naming it (see ``h5_store`` for what is refused)."""
    filepath = os.fspath(filepath)
    if str(filepath).endswith(".keras"):
        if not os.path.exists(filepath):
            raise FileNotFoundError(f"No model file at {filepath!r}.")
        with (
            _file_errors(filepath),
            _open_archive(filepath) as archive,
            _archive_weights(archive, filepath) as reader,
        ):
            _read_weights(model, reader, skip_mismatch)
        return
    if not str(filepath).endswith(".weights.h5"):
        raise ValueError(
            "load_weights expects a .weights.h5 file (or a .keras archive). "
            f"Received: filepath={filepath!r}"
        )
    if not os.path.exists(filepath):
        raise FileNotFoundError(f"No weights file at {filepath!r}.")
    with _file_errors(filepath):
        reader = H5Reader(filepath, repr(filepath))
        try:
            _read_weights(model, reader, skip_mismatch)
        finally:
            reader.close()


def _json_depth(text: str) -> int:
    """How deeply the arrays and objects of a JSON text nest (strings skipped)."""
    depth = deepest = 0
    for bracket in re.findall(r"[\[\]{}]", _JSON_STRING.sub("", text)):
        depth += 1 if bracket in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def _read_config(archive: zipfile.ZipFile, filepath: str) -> dict:
    if CONFIG_FILENAME not in archive.namelist():
        raise WeightsFileError(f"{filepath!r} is not a valid .keras file: no {CONFIG_FILENAME}.")
    data = _read_member(archive, CONFIG_FILENAME, MAX_CONFIG_BYTES, filepath)
    try:
        text = data.decode("utf-8")
        depth = _json_depth(text)
        if depth > MAX_CONFIG_DEPTH:
            raise WeightsFileError(
                f"{CONFIG_FILENAME} in {filepath!r} nests {depth} levels deep; at most "
                f"{MAX_CONFIG_DEPTH} are accepted."
            )
        config = json.loads(text)
    except (ValueError, UnicodeDecodeError, RecursionError) as error:
        if isinstance(error, WeightsFileError):
            raise
        raise WeightsFileError(
            f"{CONFIG_FILENAME} in {filepath!r} is not valid JSON ({error})."
        ) from error
    if not isinstance(config, dict) or "class_name" not in config:
        raise WeightsFileError(
            f"{CONFIG_FILENAME} in {filepath!r} does not describe an object (no 'class_name')."
        )
    return config


def _rebuild(config: dict, filepath: str, custom_objects: Any, safe_mode: bool) -> Any:
    """The object a config describes; a config that cannot be rebuilt (an unknown
    class, arguments a class refuses) raises ``SerializationError`` naming the file."""
    try:
        return serialization.deserialize_keras_object(config, custom_objects, safe_mode)
    except WeightsFileError:
        raise
    except serialization.SerializationError as error:
        raise serialization.SerializationError(
            f"{CONFIG_FILENAME} in {filepath!r}: {error}"
        ) from error
    except RecursionError as error:
        raise WeightsFileError(
            f"{CONFIG_FILENAME} in {filepath!r} nests objects too deeply to rebuild."
        ) from error
    except Exception as error:
        raise serialization.SerializationError(
            f"{CONFIG_FILENAME} in {filepath!r} describes a model that cannot be rebuilt: "
            f"{type(error).__name__}: {error}"
        ) from error


def load_model(
    filepath: Any,
    custom_objects: dict[str, Any] | None = None,
    compile: bool = True,
    safe_mode: bool = True,
) -> Any:
    """The model saved in a ``.keras`` archive, rebuilt from its config (classes from
    nerve or ``custom_objects`` / registered ones), built, compiled (unless
    ``compile=False``) and with its weights and optimizer state loaded.

    Loading is bounded: members' declared sizes are checked against the archive and
    limits (``MAX_CONFIG_BYTES``, ``MAX_CONFIG_DEPTH``, no decompression bombs) before
    they are read; variables are built without computing initial values that the file
    overwrites, and weights are streamed into place, so a model of N bytes of weights
    loads in about N bytes of memory. A damaged or unsafe file raises
    ``WeightsFileError`` naming it; an unknown class, ``SerializationError``."""
    from nerve import initializers

    filepath = os.fspath(filepath)
    if not str(filepath).endswith(".keras"):
        hint = " Use load_weights for a .weights.h5 file." if filepath.endswith(".h5") else ""
        raise ValueError(
            f"load_model expects a .keras file. Received: filepath={filepath!r}.{hint}"
        )
    if not os.path.exists(filepath):
        raise FileNotFoundError(f"No model file at {filepath!r}.")
    with _file_errors(filepath), _open_archive(filepath) as archive:
        config = _read_config(archive, filepath)
        if not compile:
            config.pop("compile_config", None)
        with initializers.deferred_initial_values() as pending:
            model = _rebuild(config, filepath, custom_objects, safe_mode)
            with _archive_weights(archive, filepath) as reader:
                _read_weights(model, reader, skip_mismatch=False)
        initializers.materialize(pending)  # state the file does not hold
    return model
