"""nerve.datasets.mnist and fashion_mnist: Keras's origins and checksums, and loading
tiny files in the real formats (npz; gzipped IDX) served by a local HTTP server."""

from __future__ import annotations

import gzip
import hashlib
import io

import numpy as np
import pytest

from nerve.datasets import fashion_mnist, mnist
from tests.datasets._keras import keras_source
from tests.utils._http_server import serve

RNG = np.random.default_rng(0)
X_TRAIN = RNG.integers(0, 256, (5, 28, 28), dtype=np.uint8)
Y_TRAIN = RNG.integers(0, 10, (5,), dtype=np.uint8)
X_TEST = RNG.integers(0, 256, (3, 28, 28), dtype=np.uint8)
Y_TEST = RNG.integers(0, 10, (3,), dtype=np.uint8)


def test_mnist_constants_are_keras_s():
    source = keras_source("mnist")
    assert f'"{mnist._SHA256}"' in source
    assert f'"{mnist._ORIGIN_FOLDER}"' in source
    assert 'f"{origin_folder}mnist.npz"' in source


def test_fashion_mnist_constants_are_keras_s():
    source = keras_source("fashion_mnist")
    assert f'base = "{fashion_mnist._ORIGIN_FOLDER}"' in source
    assert 'os.path.join("datasets", "fashion-mnist")' in source
    for name in fashion_mnist._FILES:
        assert f'"{name}"' in source
    # Keras checks no hash for these files; neither can nerve without a recorded one.
    assert "file_hash" not in source
    assert set(fashion_mnist._FILES.values()) == {None}


def _npz_bytes(**arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


@pytest.fixture
def server(monkeypatch, tmp_path):
    monkeypatch.setenv("NERVE_HOME", str(tmp_path))
    with serve() as state:
        monkeypatch.setattr(mnist, "_ORIGIN_FOLDER", state.base + "/")
        monkeypatch.setattr(fashion_mnist, "_ORIGIN_FOLDER", state.base + "/")
        yield state


def _serve_mnist(server, monkeypatch, body: bytes) -> None:
    server.files["mnist.npz"] = body
    monkeypatch.setattr(mnist, "_SHA256", hashlib.sha256(body).hexdigest())


def test_mnist_downloads_once_and_loads(server, monkeypatch, tmp_path):
    _serve_mnist(
        server,
        monkeypatch,
        _npz_bytes(x_train=X_TRAIN, y_train=Y_TRAIN, x_test=X_TEST, y_test=Y_TEST),
    )
    (x_train, y_train), (x_test, y_test) = mnist.load_data()
    for got, want in [(x_train, X_TRAIN), (y_train, Y_TRAIN), (x_test, X_TEST), (y_test, Y_TEST)]:
        assert got.dtype == np.uint8 and got.shape == want.shape
        np.testing.assert_array_equal(got, want)
    assert (tmp_path / "datasets" / "mnist.npz").is_file()
    mnist.load_data()
    assert server.requests == ["mnist.npz"]
    mnist.load_data(path="other.npz")  # another cache name, same origin
    assert (tmp_path / "datasets" / "other.npz").is_file()
    assert server.requests == ["mnist.npz", "mnist.npz"]


def test_mnist_checksum_mismatch_leaves_no_file(server, monkeypatch, tmp_path):
    server.files["mnist.npz"] = _npz_bytes(x_train=X_TRAIN)
    with pytest.raises(ValueError, match="hash"):
        mnist.load_data()
    assert list((tmp_path / "datasets").iterdir()) == []


def test_mnist_missing_arrays_is_a_clear_error(server, monkeypatch):
    _serve_mnist(server, monkeypatch, _npz_bytes(x_train=X_TRAIN, y_train=Y_TRAIN))
    with pytest.raises(ValueError, match="lacks the arrays"):
        mnist.load_data()


def test_mnist_refuses_pickled_arrays(server, monkeypatch):
    objects = np.array([{"a": 1}], dtype=object)
    body = _npz_bytes(x_train=objects, y_train=Y_TRAIN, x_test=X_TEST, y_test=Y_TEST)
    _serve_mnist(server, monkeypatch, body)
    with pytest.raises(ValueError, match="allow_pickle"):
        mnist.load_data()


def test_mnist_offline_error_says_where_to_place_the_file(server, monkeypatch, tmp_path):
    with pytest.raises(OSError) as info:
        mnist.load_data()
    assert str(tmp_path / "datasets" / "mnist.npz") in str(info.value)


# --- Fashion-MNIST: gzipped IDX files -----------------------------------------------


def _idx(array: np.ndarray, magic: int | None = None) -> bytes:
    if magic is None:
        magic = 0x0800 | array.ndim
    header = magic.to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in array.shape)
    return header + array.astype(np.uint8).tobytes()


def _serve_fashion(server, **overrides: bytes) -> None:
    plain = {
        "train-labels-idx1-ubyte.gz": _idx(Y_TRAIN),
        "train-images-idx3-ubyte.gz": _idx(X_TRAIN),
        "t10k-labels-idx1-ubyte.gz": _idx(Y_TEST),
        "t10k-images-idx3-ubyte.gz": _idx(X_TEST),
    }
    for name, raw in plain.items():
        server.files[name] = gzip.compress(raw)
    for key, body in overrides.items():
        server.files[key.replace("_", "-") + "-ubyte.gz"] = body


def test_fashion_mnist_downloads_once_and_loads(server, tmp_path):
    _serve_fashion(server)
    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()
    for got, want in [(x_train, X_TRAIN), (y_train, Y_TRAIN), (x_test, X_TEST), (y_test, Y_TEST)]:
        assert got.dtype == np.uint8 and got.shape == want.shape
        np.testing.assert_array_equal(got, want)
    x_train[0, 0, 0] = 1  # writable copies
    folder = tmp_path / "datasets" / "fashion-mnist"
    assert sorted(p.name for p in folder.iterdir()) == sorted(fashion_mnist._FILES)
    fashion_mnist.load_data()
    assert sorted(server.requests) == sorted(fashion_mnist._FILES)


def test_fashion_mnist_checks_recorded_hashes(server, monkeypatch, tmp_path):
    _serve_fashion(server)
    monkeypatch.setitem(fashion_mnist._FILES, "t10k-labels-idx1-ubyte.gz", "0" * 64)
    with pytest.raises(ValueError, match="hash"):
        fashion_mnist.load_data()
    assert not (tmp_path / "datasets" / "fashion-mnist" / "t10k-labels-idx1-ubyte.gz").exists()


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"train_labels_idx1": gzip.compress(_idx(Y_TRAIN, magic=0x0803))}, "magic number"),
        ({"train_images_idx3": gzip.compress(_idx(X_TRAIN)[:-10])}, "truncated"),
        ({"train_images_idx3": gzip.compress(_idx(X_TRAIN) + b"x")}, "holds"),
        ({"t10k_labels_idx1": gzip.compress(b"\x00\x00")}, "too short"),
        ({"t10k_images_idx3": b"not gzip at all"}, "gzip"),
        ({"t10k_images_idx3": gzip.compress(_idx(X_TEST))[:-12]}, "gzip"),
        ({"t10k_images_idx3": gzip.compress(_idx(X_TEST[:2]))}, "labels"),
        ({"t10k_images_idx3": gzip.compress(_idx(X_TEST[:, :14]))}, r"\(N, 28, 28\)"),
    ],
    ids=[
        "bad-magic",
        "short-data",
        "extra-data",
        "short-header",
        "not-gzip",
        "cut-gzip",
        "count-mismatch",
        "wrong-image-size",
    ],
)
def test_fashion_mnist_malformed_files_are_clear_errors(server, overrides, message):
    _serve_fashion(server, **overrides)
    with pytest.raises(ValueError, match=message):
        fashion_mnist.load_data()
