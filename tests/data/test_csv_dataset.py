"""make_csv_dataset: values against Python's csv module, type inference, missing values,
shuffling that keeps rows whole, compression, and errors that name file and line."""

from __future__ import annotations

import csv
import gzip
import math
import zlib
from pathlib import Path

import numpy as np
import pytest

from nerve.data import csv_dataset, make_csv_dataset

HEADER = ["id", "count", "big", "score", "color", "label"]


def make_rows(count, start=0):
    rows = []
    for i in range(start, start + count):
        score = "" if i % 7 == 3 else f"{i * 0.25:.2f}"
        rows.append([str(i), str(i % 5), str(2**40 + i), score, f"c{'x' * (i % 4)}", str(i % 2)])
    return rows


def write(path: Path, rows, header=HEADER, compress=None):
    lines = [",".join(header)] if header else []
    text = "\n".join(lines + [",".join(r) for r in rows]) + "\n"
    data = text.encode()
    if compress == "GZIP":
        data = gzip.compress(data)
    elif compress == "ZLIB":
        data = zlib.compress(data)
    path.write_bytes(data)
    return str(path)


def reference(paths, header=True):
    """The rows as Python's csv module reads them (the oracle)."""
    rows = []
    for path in paths:
        with open(path, newline="") as stream:
            reader = csv.reader(stream)
            if header:
                next(reader)
            rows.extend(reader)
    return rows


def gather(dataset, label=True):
    """All batches concatenated: ({column: array}, label array)."""
    features, labels = {}, []
    for element in dataset:
        batch, y = element if label else (element, None)
        for name, values in batch.items():
            features.setdefault(name, []).append(values)
        if label:
            labels.append(y)
    joined = {name: np.concatenate(parts) for name, parts in features.items()}
    return joined, (np.concatenate(labels) if label else None)


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch):
    # Chunk boundaries inside the test files, so batching across chunks is exercised.
    monkeypatch.setattr(csv_dataset, "_CHUNK_ROWS", 7)


def test_values_and_inferred_types_match_the_csv_module(tmp_path):
    paths = [write(tmp_path / "a.csv", make_rows(30)), write(tmp_path / "b.csv", make_rows(12, 30))]
    dataset = make_csv_dataset(
        str(tmp_path / "*.csv"), batch_size=8, label_name="label", num_epochs=1, shuffle=False
    )
    features, labels = gather(dataset)
    rows = reference(paths)
    assert [y.shape[0] for _, y in dataset] == [8, 8, 8, 8, 8, 2]
    assert features["id"].dtype == np.int32 and features["id"].tolist() == [int(r[0]) for r in rows]
    assert features["big"].dtype == np.int64 and features["big"].tolist() == [
        int(r[2]) for r in rows
    ]
    assert features["color"].tolist() == [r[4] for r in rows]
    assert labels.tolist() == [int(r[5]) for r in rows]
    # score has missing values: float32, NaN exactly where the field is empty.
    score = features["score"]
    assert score.dtype == np.float32
    for value, row in zip(score, rows):
        assert math.isnan(value) if row[3] == "" else value == np.float32(float(row[3]))


@pytest.mark.parametrize("compress", ["GZIP", "ZLIB"])
def test_compressed_files(tmp_path, compress):
    path = write(tmp_path / "t.csv.z", make_rows(20), compress=compress)
    plain = write(tmp_path / "t.csv", make_rows(20))
    got, _ = gather(
        make_csv_dataset(path, 6, num_epochs=1, shuffle=False, compression_type=compress), False
    )
    want, _ = gather(make_csv_dataset(plain, 6, num_epochs=1, shuffle=False), False)
    for name in want:
        np.testing.assert_array_equal(got[name], want[name])


def test_select_columns_defaults_and_no_header(tmp_path):
    path = write(tmp_path / "t.csv", make_rows(15), header=None)
    dataset = make_csv_dataset(
        path,
        batch_size=4,
        column_names=HEADER,
        header=False,
        select_columns=["id", "score", 5],
        column_defaults=[0, -1.0, "none"],
        label_name="label",
        num_epochs=1,
        shuffle=False,
    )
    features, labels = gather(dataset)
    assert sorted(features) == ["id", "score"]
    assert features["score"][3] == -1.0  # the default fills the missing value
    assert labels.dtype.kind == "U" and labels.tolist()[:3] == ["0", "1", "0"]


def test_shuffle_keeps_rows_whole_is_seeded_and_reshuffles(tmp_path):
    path = write(tmp_path / "t.csv", make_rows(100))
    dataset = make_csv_dataset(
        path, 16, label_name="label", num_epochs=2, shuffle_buffer_size=30, shuffle_seed=5
    )
    features, labels = gather(dataset)
    ids = features["id"]
    assert sorted(ids.tolist()) == sorted(list(range(100)) * 2)
    assert ids[:100].tolist() != list(range(100))
    np.testing.assert_array_equal(labels, ids % 2)  # each row's fields stay together
    np.testing.assert_array_equal(features["count"], ids % 5)
    again, _ = gather(
        make_csv_dataset(
            path, 16, label_name="label", num_epochs=2, shuffle_buffer_size=30, shuffle_seed=5
        )
    )
    np.testing.assert_array_equal(again["id"], ids)
    second_pass, _ = gather(dataset)
    assert second_pass["id"].tolist() != ids.tolist()
    # A buffer of b rows: no row comes out more than b + batch rows before its turn.
    first_epoch = ids[:100]
    assert all(position >= value - 30 - 16 for position, value in enumerate(first_epoch))


def test_num_epochs_none_repeats_forever(tmp_path):
    path = write(tmp_path / "t.csv", make_rows(10))
    dataset = make_csv_dataset(path, 4, shuffle=False)
    ids = np.concatenate([b["id"] for b in dataset.take(6)])
    assert ids.tolist() == (list(range(10)) * 3)[:24]


ERRORS = [
    ("id,count\n1,2\n3\n", {}, r"t\.csv, line 3: expected 2 fields"),
    (
        "id,count\n1,2\n3,x\n",
        {"column_defaults": [0, 0]},
        r"line 3: column 'count' value 'x' is not a number",
    ),
    (
        "id,count\n1,2\n3,\n",
        {"column_defaults": [0, []]},
        r"line 3: column 'count' value '' is missing \(column dtype float32, required\)",
    ),
    (
        "id,count\n" + "1,2\n" * 5 + "3,\n",
        {"num_rows_for_inference": 3},
        r"line 7: column 'count' .*read as integers",
    ),
    ("id,count\n1,2\n", {"label_name": "price"}, r"label_name 'price' is not a selected column"),
    ("id,count\n1,2\n", {"select_columns": ["id", "cost"]}, r"select_columns names 'cost'"),
    ("id,id\n1,2\n", {}, "duplicate column names"),
    (
        "id,c\n1,2\n3,x\n",
        {"column_defaults": [0, np.float32]},
        r"line 3: column 'c' value 'x' is not a number \(column dtype float32, required\)",
    ),
    (
        "id,c\n1,2\n\n3,\n",
        {"column_defaults": [0, np.int64]},
        r"line 4: column 'c' value '' is missing \(column dtype int64, required\)",
    ),
    ('id,c\n1,"a\nb"\n2\n', {}, r"line 4: expected 2 fields"),
]


@pytest.mark.parametrize("text, kwargs, message", ERRORS)
def test_errors_name_file_line_and_column(tmp_path, text, kwargs, message):
    path = tmp_path / "t.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        list(make_csv_dataset(str(path), 2, num_epochs=1, shuffle=False, **kwargs))


def test_ignore_errors_skips_malformed_rows(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("id,count\n1,2\n3\n4,x\n5,6\n")
    dataset = make_csv_dataset(
        str(path), 5, num_epochs=1, shuffle=False, ignore_errors=True, column_defaults=[0, 0]
    )
    (batch,) = list(dataset)
    assert batch["id"].tolist() == [1, 5] and batch["count"].tolist() == [2, 6]


def test_missing_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="no CSV file matches"):
        make_csv_dataset(str(tmp_path / "*.csv"), 2)
