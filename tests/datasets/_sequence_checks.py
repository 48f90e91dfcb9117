"""The checks imdb and reuters share, written once: each takes a ``SequenceDataset``
(the module and how its archive is laid out) and the test's fixtures."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from nerve.datasets._safe_pickle import RefusedPickleError
from tests.datasets._keras import keras_source
from tests.datasets._loaders import (
    assert_same_splits,
    keras_loader,
    keras_parameters,
    nerve_parameters,
    npy_bytes,
    npz_bytes,
    object_array,
    python2_npy,
    random_sequences,
    serve,
    serve_word_index,
    zip_bytes,
)

#: Arguments Keras's and nerve's loaders are compared on (both data sets).
ARGUMENT_GRID = [
    {},
    {"num_words": 12},
    {"skip_top": 7},
    {"maxlen": 8},
    {"num_words": 15, "skip_top": 4, "oov_char": None},
    {"start_char": None},
    {"start_char": None, "index_from": 0},
    {"oov_char": None},
    {"index_from": 0},
    {"seed": 7},
    {"maxlen": 0, "num_words": 0},  # both falsy: no limit, as in Keras
    {
        "seed": 0,
        "maxlen": 6,
        "num_words": 10,
        "skip_top": 2,
        "start_char": None,
        "oov_char": 5,
        "index_from": 1,
    },
]


def grid_id(kwargs: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in kwargs.items()) or "defaults"


@dataclass(frozen=True)
class SequenceDataset:
    """A word-sequence data set: its module, the (x, y) key pairs of its archive with
    how many sequences each holds, and its number of classes."""

    module: ModuleType
    splits: tuple[tuple[str, str, int], ...]
    num_classes: int

    @property
    def name(self) -> str:
        return self.module.__name__.rsplit(".", 1)[1]

    def arrays(self, seed: int = 0) -> dict[str, np.ndarray]:
        """Random contents in the real layout: object arrays of int lists, int64 labels."""
        rng = np.random.default_rng(seed)
        arrays = {}
        for x_key, y_key, count in self.splits:
            arrays[x_key] = random_sequences(rng, count)
            arrays[y_key] = rng.integers(0, self.num_classes, count)
        return arrays

    def x_keys(self) -> list[str]:
        return [x_key for x_key, _, _ in self.splits]

    def cached(self, tmp_path) -> str:
        return str(tmp_path / "datasets" / self.module._FILE)


def _archive(arrays: dict[str, np.ndarray], layout: str) -> bytes:
    if layout == "python2":  # object arrays pickled as Python 2's NumPy wrote them
        return zip_bytes(
            {
                f"{key}.npy": python2_npy(a) if a.dtype == object else npy_bytes(a)
                for key, a in arrays.items()
            }
        )
    return npz_bytes(layout == "savez_compressed", **arrays)


# --- the checks ------------------------------------------------------------------------


def check_constants(dataset: SequenceDataset) -> None:
    module, source = dataset.module, keras_source(dataset.name)
    assert f'"{module._ORIGIN_FOLDER}"' in source
    assert f'origin=f"{{origin_folder}}{module._FILE}"' in source
    assert f'"{module._SHA256}"' in source
    assert f'origin=f"{{origin_folder}}{module._WORD_INDEX_FILE}"' in source
    assert f'file_hash="{module._WORD_INDEX_MD5}"' in source
    for function in ("load_data", "get_word_index"):
        want = keras_parameters(dataset.name, function)
        assert nerve_parameters(getattr(module, function)) == want


def check_same_as_keras(
    dataset: SequenceDataset, server, monkeypatch, tmp_path, kwargs: dict, layout: str = "savez"
) -> None:
    serve(server, monkeypatch, dataset.module, _archive(dataset.arrays(), layout))
    got = dataset.module.load_data(**kwargs)
    keras = keras_loader(dataset.name, dataset.cached(tmp_path))
    assert_same_splits(got, keras.load_data(**kwargs))


def check_downloads_once(dataset: SequenceDataset, server, monkeypatch, tmp_path) -> None:
    serve(server, monkeypatch, dataset.module, npz_bytes(**dataset.arrays()))
    first = dataset.module.load_data()
    assert os.path.isfile(dataset.cached(tmp_path))
    assert_same_splits(dataset.module.load_data(), first)
    assert server.requests == [dataset.module._FILE]
    dataset.module.load_data(path="other.npz")  # another cache name, the same origin
    assert (tmp_path / "datasets" / "other.npz").is_file()
    assert server.requests == [dataset.module._FILE] * 2


def check_checksum_mismatch(dataset: SequenceDataset, server, monkeypatch, tmp_path) -> None:
    serve(server, monkeypatch, dataset.module, npz_bytes(**dataset.arrays()))
    monkeypatch.setattr(dataset.module, "_SHA256", "0" * 64)
    with pytest.raises(ValueError, match="hash"):
        dataset.module.load_data()
    assert list((tmp_path / "datasets").iterdir()) == []


def check_malicious_pickle(
    dataset: SequenceDataset, server, monkeypatch, tmp_path, payload: type
) -> None:
    marker = tmp_path / "pwned"
    arrays = dataset.arrays()
    x_key = dataset.x_keys()[-1]
    arrays[x_key] = object_array([[1, 2], payload(str(marker)), [3]])
    y_key = next(y for x, y, _ in dataset.splits if x == x_key)
    arrays[y_key] = np.zeros(3, dtype=np.int64)
    serve(server, monkeypatch, dataset.module, npz_bytes(**arrays))
    with pytest.raises(RefusedPickleError, match=f"refusing to load {payload.pickled_as}") as info:
        dataset.module.load_data()
    assert f"{dataset.module._FILE}:{x_key}.npy" in str(info.value)
    assert not marker.exists()


def check_word_index(dataset: SequenceDataset, server, monkeypatch, tmp_path) -> None:
    index = {"the": 1, "and": 2, "a": 3, "café": 4, "don't": 5}
    body = json.dumps(index).encode()
    serve_word_index(server, monkeypatch, dataset.module, body)
    assert dataset.module.get_word_index() == index
    assert dataset.module.get_word_index() == index
    assert server.requests == [dataset.module._WORD_INDEX_FILE]
    cached = str(tmp_path / "datasets" / dataset.module._WORD_INDEX_FILE)
    assert hashlib.md5(Path(cached).read_bytes()).hexdigest() == dataset.module._WORD_INDEX_MD5
    keras = keras_loader(dataset.name, cached)
    assert keras.get_word_index() == index


def check_word_index_errors(dataset: SequenceDataset, server, monkeypatch, tmp_path) -> None:
    module = dataset.module
    serve_word_index(server, monkeypatch, module, b'{"the": 1}')
    monkeypatch.setattr(module, "_WORD_INDEX_MD5", "0" * 32)
    with pytest.raises(ValueError, match="hash"):
        module.get_word_index()
    for body, message in [
        (b"{'the': 1}", "not a JSON word index"),
        (b"\xff\xfe", "not a JSON word index"),
        (b'["the", "a"]', "holds list JSON"),
        (b'{"the": "1"}', "integer indices"),
    ]:
        serve_word_index(server, monkeypatch, module, body)
        with pytest.raises(ValueError, match=message):
            module.get_word_index(path=f"index-{hashlib.md5(body).hexdigest()}.json")


def check_one_dimensional(dataset: SequenceDataset, server, monkeypatch, tmp_path) -> None:
    arrays = dataset.arrays()
    for x_key in dataset.x_keys():
        arrays[x_key] = object_array([[4, 5, 6]] * len(arrays[x_key]))
    serve(server, monkeypatch, dataset.module, npz_bytes(**arrays))
    for x, _ in dataset.module.load_data():
        assert x.shape == (len(x),) and all(s == [1, 7, 8, 2] for s in x)
    # Keras makes a 2-D array of ints here; nerve keeps one list per sequence.
    keras = keras_loader(dataset.name, dataset.cached(tmp_path))
    (x_keras, _), _ = keras.load_data()
    assert x_keras.ndim == 2


def check_malformed_contents(
    dataset: SequenceDataset, server, monkeypatch, change: str, message: str
) -> None:
    arrays = dataset.arrays()
    x_key = dataset.x_keys()[0]
    y_key = next(y for x, y, _ in dataset.splits if x == x_key)
    count = len(arrays[x_key])
    if change == "numbers":
        arrays[x_key] = np.ones((count, 3), dtype=np.int64)
    elif change == "strings":
        arrays[x_key][1] = ["not", "words"]
    elif change == "floats":
        arrays[x_key][2] = [1.0, 2.5]
    elif change == "labels":
        arrays[y_key] = arrays[y_key][:-1]
    elif change == "float-labels":
        arrays[y_key] = arrays[y_key].astype(np.float64)
    elif change == "missing":
        del arrays[y_key]
    serve(server, monkeypatch, dataset.module, npz_bytes(**arrays))
    with pytest.raises(ValueError, match=message) as info:
        dataset.module.load_data()
    assert str(info.value).startswith(f"{dataset.name}.load_data: ")


MALFORMED = [
    ("numbers", r"int64 array of shape \(\d+, 3\); expected a 1-D object array"),
    ("strings", r"element 1 of .* is a list holding \['str'\]"),
    ("floats", r"element 2 of .* is a list holding \['float'\]"),
    ("labels", "expected integers of shape"),
    ("float-labels", "float64 array"),
    ("missing", "lacks the arrays"),
]


def check_integer_arguments(dataset: SequenceDataset, server) -> None:
    for name, value, allowed in [
        ("num_words", "100", "an int or None"),
        ("maxlen", 2.5, "an int or None"),
        ("oov_char", True, "an int or None"),
        ("skip_top", None, "an int,"),
        ("index_from", 1.0, "an int,"),
    ]:
        with pytest.raises(TypeError, match=f"{name} must be {allowed}"):
            dataset.module.load_data(**{name: value})
    assert server.requests == []  # checked before any download
