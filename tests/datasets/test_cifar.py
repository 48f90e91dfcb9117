"""nerve.datasets.cifar10 and cifar100: Keras's origins and checksums; loading tiny
archives in the real format (a tar.gz of pickled batches) served by a local HTTP server;
and the restricted unpickler refusing pickles that would run code."""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest

from nerve.datasets import _safe_pickle, cifar10, cifar100
from tests.datasets._keras import keras_source
from tests.utils._http_server import serve

RNG = np.random.default_rng(0)


@pytest.mark.parametrize("module", [cifar10, cifar100], ids=["cifar10", "cifar100"])
def test_constants_are_keras_s(module):
    source = keras_source(module.__name__.rsplit(".", 1)[1])
    assert f'origin = "{module._ORIGIN}"' in source
    assert f'"{module._SHA256}"' in source
    assert f'dirname = "{module._DIRNAME}"' in source
    assert f'os.path.join(path, "{module._INNER}")' in source


# --- building archives in the real format ------------------------------------------


def _batch(count: int, **labels: list[int]) -> dict[bytes, object]:
    """A dict like a real CIFAR batch: bytes keys, (N, 3072) uint8 data, label lists."""
    batch: dict[bytes, object] = {
        b"batch_label": b"testing batch 1 of 1",
        b"data": RNG.integers(0, 256, (count, 3072), dtype=np.uint8),
        b"filenames": [f"image_{i}.png".encode() for i in range(count)],
    }
    for key, values in labels.items():
        batch[key.encode()] = values
    return batch


def _pickle(obj: object) -> bytes:
    # Protocol 3: bytes as BINBYTES and globals as GLOBAL lines, like the real files'
    # protocol 2 (whose Python 2 strings load as bytes with encoding="bytes").
    return pickle.dumps(obj, protocol=3)


def _tar_gz(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, body in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            archive.addfile(info, io.BytesIO(body))
    return buffer.getvalue()


def _expected_images(batch: dict[bytes, object]) -> np.ndarray:
    data = batch[b"data"]
    assert isinstance(data, np.ndarray)
    # Row layout: 1024 red, then 1024 green, then 1024 blue values, each row-major.
    return np.stack(
        [data[:, c * 1024 : (c + 1) * 1024].reshape(-1, 32, 32) for c in range(3)], axis=-1
    )


@pytest.fixture
def server(monkeypatch, tmp_path):
    monkeypatch.setenv("NERVE_HOME", str(tmp_path))
    with serve() as state:
        yield state


def _serve(server, monkeypatch, module, name: str, body: bytes) -> None:
    server.files[name] = body
    monkeypatch.setattr(module, "_ORIGIN", server.url(name))
    monkeypatch.setattr(module, "_SHA256", hashlib.sha256(body).hexdigest())


def _cifar10_batches() -> dict[str, dict[bytes, object]]:
    batches = {
        f"data_batch_{i}": _batch(i + 1, labels=[int(v) for v in RNG.integers(0, 10, i + 1)])
        for i in range(1, 6)
    }
    batches["test_batch"] = _batch(4, labels=[9, 0, 3, 5])
    return batches


def _cifar10_archive(batches: dict[str, dict[bytes, object]], **raw: bytes) -> bytes:
    files = {f"cifar-10-batches-py/{name}": _pickle(batch) for name, batch in batches.items()}
    files["cifar-10-batches-py/batches.meta"] = _pickle({b"label_names": [b"airplane"]})
    for name, body in raw.items():
        files[f"cifar-10-batches-py/{name}"] = body
    return _tar_gz(files)


# --- CIFAR-10 ------------------------------------------------------------------------


def test_cifar10_downloads_once_and_loads(server, monkeypatch, tmp_path):
    batches = _cifar10_batches()
    _serve(server, monkeypatch, cifar10, "cifar-10-python.tar.gz", _cifar10_archive(batches))
    (x_train, y_train), (x_test, y_test) = cifar10.load_data()

    train = [batches[f"data_batch_{i}"] for i in range(1, 6)]
    want_x_train = np.concatenate([_expected_images(b) for b in train])
    want_y_train = np.concatenate([b[b"labels"] for b in train]).reshape(-1, 1)
    assert x_train.shape == (2 + 3 + 4 + 5 + 6, 32, 32, 3) and x_train.dtype == np.uint8
    assert y_train.shape == (20, 1) and y_train.dtype == np.uint8
    np.testing.assert_array_equal(x_train, want_x_train)
    np.testing.assert_array_equal(y_train, want_y_train)
    assert x_test.shape == (4, 32, 32, 3) and x_test.dtype == np.uint8
    np.testing.assert_array_equal(x_test, _expected_images(batches["test_batch"]))
    assert y_test.dtype == np.uint8
    np.testing.assert_array_equal(y_test, [[9], [0], [3], [5]])
    # One pixel by hand: image 0 of the test batch, row 1, column 2, green channel.
    data = batches["test_batch"][b"data"]
    assert isinstance(data, np.ndarray)
    assert x_test[0, 1, 2, 1] == data[0, 1024 + 32 + 2]

    folder = tmp_path / "datasets"
    assert (folder / "cifar-10-batches-py-target_archive").is_file()
    assert (folder / "cifar-10-batches-py-target" / "cifar-10-batches-py").is_dir()
    cifar10.load_data()
    assert server.requests == ["cifar-10-python.tar.gz"]


def test_cifar10_checksum_mismatch_is_refused(server, monkeypatch, tmp_path):
    _serve(server, monkeypatch, cifar10, "c.tar.gz", _cifar10_archive(_cifar10_batches()))
    monkeypatch.setattr(cifar10, "_SHA256", "0" * 64)
    with pytest.raises(ValueError, match="hash"):
        cifar10.load_data()
    assert not (tmp_path / "datasets" / "cifar-10-batches-py-target").exists()


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda b: b.pop(b"labels"), r"test_batch lacks the keys \['labels'\]"),
        (lambda b: b.pop(b"data"), r"test_batch lacks the keys \['data'\]"),
        (lambda b: b.update({b"data": np.zeros((4, 100), np.uint8)}), r"\(N, 3072\)"),
        (lambda b: b.update({b"data": np.zeros((4, 3072), np.float32)}), "float32"),
        (lambda b: b.update({b"labels": [1, 2]}), "4 images but labels of shape"),
        (lambda b: b.update({b"labels": [0.5, 1, 2, 3]}), "float64"),
        (lambda b: b.update({b"labels": [0, 1, 2, 10]}), "0..9"),
    ],
    ids=[
        "no-labels",
        "no-data",
        "data-shape",
        "data-dtype",
        "label-count",
        "float-labels",
        "label-range",
    ],
)
def test_cifar10_malformed_batches_are_clear_errors(server, monkeypatch, change, message):
    batches = _cifar10_batches()
    change(batches["test_batch"])
    _serve(server, monkeypatch, cifar10, "c.tar.gz", _cifar10_archive(batches))
    with pytest.raises(ValueError, match=message) as info:
        cifar10.load_data()
    assert "cifar10.load_data" in str(info.value)


def test_cifar10_missing_batch_is_a_clear_error(server, monkeypatch):
    batches = _cifar10_batches()
    del batches["data_batch_3"]
    _serve(server, monkeypatch, cifar10, "c.tar.gz", _cifar10_archive(batches))
    with pytest.raises(ValueError, match=r"lacks .*data_batch_3"):
        cifar10.load_data()


# --- CIFAR-100 -----------------------------------------------------------------------


def _cifar100_archive(train: dict[bytes, object], test: dict[bytes, object]) -> bytes:
    return _tar_gz(
        {
            "cifar-100-python/train": _pickle(train),
            "cifar-100-python/test": _pickle(test),
            "cifar-100-python/meta": _pickle({b"fine_label_names": [b"apple"]}),
        }
    )


@pytest.mark.parametrize("label_mode", ["fine", "coarse"])
def test_cifar100_loads_both_label_modes(server, monkeypatch, tmp_path, label_mode):
    train = _batch(5, fine_labels=[99, 0, 42, 7, 58], coarse_labels=[19, 4, 0, 11, 3])
    test = _batch(3, fine_labels=[1, 98, 23], coarse_labels=[2, 17, 10])
    archive = _cifar100_archive(train, test)
    _serve(server, monkeypatch, cifar100, "cifar-100-python.tar.gz", archive)
    (x_train, y_train), (x_test, y_test) = cifar100.load_data(label_mode=label_mode)

    assert x_train.shape == (5, 32, 32, 3) and x_train.dtype == np.uint8
    assert x_test.shape == (3, 32, 32, 3) and x_test.dtype == np.uint8
    np.testing.assert_array_equal(x_train, _expected_images(train))
    np.testing.assert_array_equal(x_test, _expected_images(test))
    key = f"{label_mode}_labels".encode()
    assert y_train.shape == (5, 1) and y_train.dtype == np.int64
    assert y_test.shape == (3, 1) and y_test.dtype == np.int64
    np.testing.assert_array_equal(y_train[:, 0], train[key])
    np.testing.assert_array_equal(y_test[:, 0], test[key])
    assert (tmp_path / "datasets" / "cifar-100-python-target" / "cifar-100-python").is_dir()


def test_cifar100_default_label_mode_is_fine(server, monkeypatch):
    train = _batch(2, fine_labels=[50, 60], coarse_labels=[1, 2])
    test = _batch(1, fine_labels=[70], coarse_labels=[3])
    _serve(server, monkeypatch, cifar100, "c.tar.gz", _cifar100_archive(train, test))
    (_, y_train), (_, y_test) = cifar100.load_data()
    np.testing.assert_array_equal(y_train, [[50], [60]])
    np.testing.assert_array_equal(y_test, [[70]])


def test_cifar100_rejects_unknown_label_mode(server):
    with pytest.raises(ValueError, match=r"label_mode must be .*'medium'"):
        cifar100.load_data(label_mode="medium")
    assert server.requests == []  # checked before any download


def test_cifar100_missing_label_key_names_the_file(server, monkeypatch):
    train = _batch(2, fine_labels=[1, 2])
    test = _batch(1, fine_labels=[3], coarse_labels=[0])
    _serve(server, monkeypatch, cifar100, "c.tar.gz", _cifar100_archive(train, test))
    with pytest.raises(ValueError, match=r"cifar-100-python.train lacks the keys \['coarse"):
        cifar100.load_data(label_mode="coarse")


# --- the restricted unpickler ---------------------------------------------------------


class _RunsShell:
    """Unpickling this with the standard unpickler would run a shell command."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))

    pickled_as = f"{os.system.__module__}.system"


class _WritesFile:
    """Unpickling this with the standard unpickler would create a file."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))

    pickled_as = "io.open"


@pytest.mark.parametrize("payload", [_RunsShell, _WritesFile], ids=["os.system", "open"])
def test_malicious_batch_is_refused_and_runs_nothing(server, monkeypatch, tmp_path, payload):
    marker = tmp_path / "pwned"
    batches = _cifar10_batches()
    evil = dict(batches["data_batch_1"])
    evil[b"extra"] = payload(str(marker))
    archive = _cifar10_archive(batches, data_batch_1=_pickle(evil))
    _serve(server, monkeypatch, cifar10, "c.tar.gz", archive)
    with pytest.raises(pickle.UnpicklingError) as info:
        cifar10.load_data()
    message = str(info.value)
    # The refused global is named: os.system pickles as posix.system, open as io.open.
    assert f"refusing to load {payload.pickled_as}" in message
    assert "data_batch_1" in message
    assert not marker.exists()
    # The same bytes do run code with the standard unpickler (the test can fail).
    if payload is _WritesFile:
        pickle.loads(_pickle(evil))[b"extra"].close()
        assert marker.exists()


def test_unexpected_global_is_refused_by_name():
    body = _pickle({b"data": np.zeros((1, 3072), np.uint8), b"when": Path("x")})
    with pytest.raises(pickle.UnpicklingError, match=r"refusing to load pathlib\.PosixPath"):
        _safe_pickle.safe_load(io.BytesIO(body), source="some/file")
    with pytest.raises(pickle.UnpicklingError, match="some/file"):
        _safe_pickle.safe_load(io.BytesIO(body), source="some/file")


def test_real_format_batch_needs_only_the_allowed_globals():
    batch = _batch(3, labels=[1, 2, 3])
    loaded = _safe_pickle.safe_load(io.BytesIO(_pickle(batch)))
    assert isinstance(loaded, dict)
    np.testing.assert_array_equal(loaded[b"data"], batch[b"data"])
    assert loaded[b"labels"] == [1, 2, 3] and loaded[b"filenames"] == batch[b"filenames"]
    # Python 2 era files name NumPy 1's module; that spelling loads too.
    old = _pickle(batch).replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")
    assert b"numpy.core.multiarray\n_reconstruct" in old
    loaded = _safe_pickle.safe_load(io.BytesIO(old))
    np.testing.assert_array_equal(loaded[b"data"], batch[b"data"])
    # Nothing beyond the four entries is allowed.
    assert set(_safe_pickle.ALLOWED_NUMPY) == {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }


def test_python2_strings_load_as_bytes():
    # A hand-written protocol 2 pickle as Python 2 writes it: {'k': 'v'} with STRING
    # opcodes, which encoding="bytes" keeps as bytes (as the CIFAR batches need).
    body = b"\x80\x02}q\x00U\x01kq\x01U\x01vq\x02s."
    assert _safe_pickle.safe_load(io.BytesIO(body)) == {b"k": b"v"}
