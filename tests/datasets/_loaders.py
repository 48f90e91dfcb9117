"""Helpers shared by the tests of the ``.npz`` loaders (imdb, reuters, housing):
building archives in the real formats, serving them from the local HTTP server,
running Keras's own loader on the same file, comparing results, and payloads that
would run code if unpickled."""

from __future__ import annotations

import ast
import builtins
import hashlib
import importlib.util
import inspect
import io
import os
import pickle
import struct
import zipfile
from pathlib import Path
from types import ModuleType

import numpy as np

from tests.datasets._keras import keras_source

# --- building files -------------------------------------------------------------------


def object_array(sequences: list) -> np.ndarray:
    """A 1-D object array holding ``sequences`` (lists), as the imdb/reuters files do."""
    array = np.empty(len(sequences), dtype=object)
    for position, sequence in enumerate(sequences):
        array[position] = sequence
    return array


def random_sequences(rng: np.random.Generator, count: int, *, vocabulary: int = 30) -> np.ndarray:
    """``count`` lists of 1..12 Python ints in ``[1, vocabulary)``, of varied lengths."""
    lengths = rng.integers(1, 13, count)
    lengths[:2] = (1, 12)  # never all one length
    return object_array([[int(w) for w in rng.integers(1, vocabulary, n)] for n in lengths])


def npz_bytes(compressed: bool = False, **arrays: np.ndarray) -> bytes:
    """An archive as ``np.savez`` (or ``savez_compressed``) writes it."""
    buffer = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buffer, **arrays)
    return buffer.getvalue()


def zip_bytes(members: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, body in members.items():
            archive.writestr(name, body)
    return buffer.getvalue()


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def python2_npy(array: np.ndarray) -> bytes:
    """An object array's ``.npy`` as Python 2's NumPy wrote it: pickle protocol 2, the
    ``numpy.core`` module name, and text as Python 2 ``str`` (SHORT_BINSTRING, which
    Python 3 decodes with the unpickler's encoding). Current NumPy writes protocol 4."""
    saved = npy_bytes(array)
    header = saved[: saved.index(b"\n") + 1]
    body = pickle.dumps(array, protocol=3)  # GLOBAL lines and BINUNICODE, as in 2
    body = b"\x80\x02" + body[2:].replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")
    for text in (b"b", b"|", b"O8"):  # SHORT_BINBYTES or BINUNICODE -> SHORT_BINSTRING
        short = b"U" + bytes([len(text)]) + text
        body = body.replace(b"C" + bytes([len(text)]) + text, short)
        body = body.replace(b"X" + struct.pack("<I", len(text)) + text, short)
    return header + body


def patch_central_directory(archive: bytes, offset: int, fmt: str, value: int) -> bytes:
    """``archive`` with a field of its (first) central-directory entry overwritten."""
    start = archive.index(b"PK\x01\x02") + offset
    return archive[:start] + struct.pack(fmt, value) + archive[start + struct.calcsize(fmt) :]


class RunsCode:
    """Unpickling this with the standard unpickler creates ``marker`` (it reduces to
    ``open(marker, "w")``); the restricted one must refuse ``io.open``."""

    pickled_as = "io.open"

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


class RunsShell(RunsCode):
    """Reduces to ``os.system("touch marker")``."""

    pickled_as = f"{os.system.__module__}.system"

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


# --- serving and Keras ----------------------------------------------------------------


def serve(server, monkeypatch, module: ModuleType, body: bytes, *, hash_name: str = "_SHA256"):
    """Serve ``body`` as the module's data file and point its origin and hash at it."""
    server.files[module._FILE] = body
    monkeypatch.setattr(module, "_ORIGIN_FOLDER", server.base + "/")
    digest = hashlib.sha256(body).hexdigest()
    monkeypatch.setattr(module, hash_name, digest)


def serve_word_index(server, monkeypatch, module: ModuleType, body: bytes) -> None:
    server.files[module._WORD_INDEX_FILE] = body
    monkeypatch.setattr(module, "_ORIGIN_FOLDER", server.base + "/")
    monkeypatch.setattr(module, "_WORD_INDEX_MD5", hashlib.md5(body).hexdigest())


def keras_loader(name: str, file_path: str) -> ModuleType:
    """Keras's ``keras/src/datasets/<name>.py``, run as it is but with its ``get_file``
    returning ``file_path`` (Keras would check its own hash and download).

    The module's source is executed on its own, without importing the keras package
    (five seconds of start-up that would be most of these tests' time): its imports
    from keras resolve to Keras's own ``npz_utils`` and ``python_utils`` (standard
    library and NumPy only, loaded from their files), a no-op ``keras_export`` and the
    ``get_file`` stand-in. Skips the test where keras is not installed.
    """
    keras_source(name)  # skips without keras
    folder = _keras_folder()

    def from_file(relative: str) -> ModuleType:
        spec = importlib.util.spec_from_file_location(
            f"_keras_{relative.replace('/', '_')}", folder / f"{relative}.py"
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    stand_ins = {
        "keras.src.api_export": _namespace(keras_export=lambda *names: lambda symbol: symbol),
        "keras.src.datasets": _namespace(npz_utils=from_file("datasets/npz_utils")),
        "keras.src.utils.file_utils": _namespace(get_file=lambda *args, **kwargs: file_path),
        "keras.src.utils.python_utils": from_file("utils/python_utils"),
    }

    def isolated_import(module, globals=None, locals=None, fromlist=(), level=0):
        if module in stand_ins:
            return stand_ins[module]
        assert not module.startswith("keras"), f"Keras's {name}.py imports {module}"
        return builtins.__import__(module, globals, locals, fromlist, level)

    loader = ModuleType(f"_keras_datasets_{name}")
    loader.__dict__["__builtins__"] = {**vars(builtins), "__import__": isolated_import}
    path = folder / "datasets" / f"{name}.py"
    exec(compile(path.read_text(), str(path), "exec"), loader.__dict__)
    return loader


def _keras_folder() -> Path:
    spec = importlib.util.find_spec("keras")  # finds the package without importing it
    assert spec is not None and spec.origin is not None
    return Path(spec.origin).parent / "src"


def _namespace(**attributes: object) -> ModuleType:
    module = ModuleType("_keras_stand_in")
    module.__dict__.update(attributes)
    return module


def keras_parameters(module: str, function: str) -> list[tuple[str, object]]:
    """``(name, default)`` for each parameter of a function in Keras's data-set module,
    read from its source (``"**"`` prefixes a ``**kwargs``; no default: ``...``)."""
    tree = ast.parse(keras_source(module))
    node = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == function)
    args = node.args.args
    defaults = [...] * (len(args) - len(node.args.defaults)) + [
        ast.literal_eval(d) for d in node.args.defaults
    ]
    parameters: list[tuple[str, object]] = [(a.arg, d) for a, d in zip(args, defaults)]
    if node.args.kwarg is not None:
        parameters.append(("**" + node.args.kwarg.arg, ...))
    return parameters


def nerve_parameters(function) -> list[tuple[str, object]]:
    """The same as ``keras_parameters``, for a nerve function."""
    result: list[tuple[str, object]] = []
    for p in inspect.signature(function).parameters.values():
        if p.kind is p.VAR_KEYWORD:
            result.append(("**" + p.name, ...))
        else:
            result.append((p.name, ... if p.default is p.empty else p.default))
    return result


def assert_same_splits(got, want) -> None:
    """``(x_train, y_train), (x_test, y_test)`` equal Keras's: the same sequences (or
    rows) in the same order, the same label values and dtypes."""
    for (x_got, y_got), (x_want, y_want) in zip(got, want):
        assert x_got.dtype == x_want.dtype and len(x_got) == len(x_want)
        if x_got.dtype == object:
            assert x_got.ndim == 1  # Keras's is 2-D only when all lengths agree
            assert [list(s) for s in x_got] == [list(s) for s in x_want]
            assert all(type(s) is list for s in x_got)
            assert {type(w) for s in x_got for w in s} <= {type(w) for s in x_want for w in s}
        else:
            np.testing.assert_array_equal(x_got, x_want)
        assert y_got.dtype == y_want.dtype
        np.testing.assert_array_equal(y_got, y_want)
