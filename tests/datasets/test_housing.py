"""nerve.datasets.boston_housing and california_housing: Keras's origins, hashes and
signatures; the same arrays as Keras's own loader on the same real-format file for a
grid of test splits, seeds and versions; downloads, checksums, argument checks, and
malformed files (object arrays are refused without being unpickled)."""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

import numpy as np
import pytest

from nerve.datasets import boston_housing, california_housing
from tests.datasets._keras import keras_source
from tests.datasets._loaders import (
    RunsCode,
    assert_same_splits,
    keras_loader,
    keras_parameters,
    nerve_parameters,
    npz_bytes,
    object_array,
    serve,
)


@dataclass(frozen=True)
class Housing:
    module: ModuleType
    rows: int
    num_features: int

    @property
    def name(self) -> str:
        return self.module.__name__.rsplit(".", 1)[1]

    def arrays(self) -> dict[str, np.ndarray]:
        rng = np.random.default_rng(1)
        x = rng.normal(size=(self.rows, self.num_features))
        return {"x": x, "y": rng.uniform(5, 50, self.rows)}

    def serve(self, server, monkeypatch, **arrays: np.ndarray) -> None:
        serve(server, monkeypatch, self.module, npz_bytes(**(arrays or self.arrays())))


# California needs more than 600 rows, so that "small" takes only some of them.
BOSTON = Housing(boston_housing, rows=51, num_features=13)
CALIFORNIA = Housing(california_housing, rows=650, num_features=8)
BOTH = pytest.mark.parametrize("housing", [BOSTON, CALIFORNIA], ids=lambda h: h.name)


@BOTH
def test_constants_and_signature_are_keras_s(housing):
    module, source = housing.module, keras_source(housing.name)
    assert f'"{module._ORIGIN_FOLDER}"' in source
    assert f'origin=f"{{origin_folder}}{module._FILE}"' in source
    assert f'"{module._SHA256}"' in source
    assert nerve_parameters(module.load_data) == keras_parameters(housing.name, "load_data")


def test_california_small_version_size_is_keras_s():
    assert f"x[:{california_housing._SMALL_ROWS}]" in keras_source("california_housing")


CASES = [
    (BOSTON, {}),
    (BOSTON, {"test_split": 0.0}),
    (BOSTON, {"test_split": 0.5, "seed": 1}),
    (BOSTON, {"test_split": 0.99}),
    (CALIFORNIA, {}),
    (CALIFORNIA, {"version": "small"}),
    (CALIFORNIA, {"version": "small", "test_split": 0.3, "seed": 0}),
    (CALIFORNIA, {"version": "large", "test_split": 0.0}),
]


@pytest.mark.parametrize(
    "housing, kwargs",
    CASES,
    ids=[
        f"{h.name}-{','.join(f'{k}={v}' for k, v in kw.items()) or 'defaults'}" for h, kw in CASES
    ],
)
def test_same_as_keras(file_server, monkeypatch, tmp_path, housing, kwargs):
    housing.serve(file_server, monkeypatch)
    got = housing.module.load_data(**kwargs)
    cached = str(tmp_path / "datasets" / housing.module._FILE)
    want = keras_loader(housing.name, cached).load_data(**kwargs)
    assert_same_splits(got, want)
    (x_train, _), (x_test, _) = got
    rows = 600 if kwargs.get("version") == "small" else housing.rows
    assert len(x_train) + len(x_test) == rows
    assert x_train.shape[1:] == (housing.num_features,)


@BOTH
def test_downloads_once_and_keeps_every_row(file_server, monkeypatch, tmp_path, housing):
    arrays = housing.arrays()
    housing.serve(file_server, monkeypatch, **arrays)
    (x_train, y_train), (x_test, y_test) = housing.module.load_data()
    housing.module.load_data(test_split=0.5)
    assert file_server.requests == [housing.module._FILE]
    assert (tmp_path / "datasets" / housing.module._FILE).is_file()
    # A permutation of the file's rows, with each target still beside its features.
    x, y = np.concatenate([x_train, x_test]), np.concatenate([y_train, y_test])
    order = np.argsort(y)
    np.testing.assert_array_equal(y[order], np.sort(arrays["y"]))
    np.testing.assert_array_equal(x[order], arrays["x"][np.argsort(arrays["y"])])
    assert len(x_train) == int(housing.rows * 0.8)


@BOTH
def test_checksum_mismatch_is_refused(file_server, monkeypatch, tmp_path, housing):
    housing.serve(file_server, monkeypatch)
    monkeypatch.setattr(housing.module, "_SHA256", "0" * 64)
    with pytest.raises(ValueError, match="hash"):
        housing.module.load_data()
    assert list((tmp_path / "datasets").iterdir()) == []


@BOTH
@pytest.mark.parametrize(
    "test_split, error",
    [(1.0, ValueError), (-0.1, ValueError), (float("nan"), ValueError), ("0.2", TypeError)],
)
def test_bad_test_split_is_refused_before_downloading(file_server, housing, test_split, error):
    with pytest.raises(error, match="test_split"):
        housing.module.load_data(test_split=test_split)
    assert file_server.requests == []


def test_unknown_california_version_is_refused_before_downloading(file_server):
    with pytest.raises(ValueError, match="version must be 'small' or 'large', got 'medium'"):
        california_housing.load_data(version="medium")
    assert file_server.requests == []


@BOTH
@pytest.mark.parametrize(
    "change, message",
    [
        ("features", r"float64 array of shape \(\d+, 3\) under 'x'; expected numbers of shape"),
        ("targets", r"under 'y'; expected numbers of shape"),
        ("text", "under 'x'"),
        ("missing", r"lacks the arrays \['y'\]"),
    ],
)
def test_malformed_files_are_clear_errors(file_server, monkeypatch, housing, change, message):
    arrays = housing.arrays()
    if change == "features":
        arrays["x"] = arrays["x"][:, :3]
    elif change == "targets":
        arrays["y"] = arrays["y"][:-1]
    elif change == "text":
        arrays["x"] = arrays["x"].astype("U8")
    elif change == "missing":
        del arrays["y"]
    housing.serve(file_server, monkeypatch, **arrays)
    with pytest.raises(ValueError, match=message) as info:
        housing.module.load_data()
    assert str(info.value).startswith(f"{housing.name}.load_data: ")


@BOTH
def test_object_arrays_are_refused_without_unpickling(file_server, monkeypatch, tmp_path, housing):
    marker = tmp_path / "pwned"
    arrays = housing.arrays()
    arrays["y"] = object_array([RunsCode(str(marker))] * housing.rows)
    housing.serve(file_server, monkeypatch, **arrays)
    with pytest.raises(ValueError, match="array of Python objects"):
        housing.module.load_data()
    assert not marker.exists()
