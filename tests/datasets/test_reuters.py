"""nerve.datasets.reuters: Keras's origins, hashes, signatures and topic names; the
same arrays as Keras's own loader on the same real-format file for a grid of
arguments and test splits; downloads, checksums, the word index, and files that would
run code or are malformed."""

from __future__ import annotations

import ast

import pytest

from nerve.datasets import reuters
from tests.datasets import _sequence_checks as checks
from tests.datasets._keras import keras_source
from tests.datasets._loaders import RunsCode, RunsShell

REUTERS = checks.SequenceDataset(reuters, splits=(("x", "y", 40),), num_classes=46)

SPLIT_GRID = [
    {"test_split": 0.0},
    {"test_split": 0.5, "num_words": 20},
    {"test_split": 1.0},
    {"test_split": 0.33, "maxlen": 9, "seed": 3},
]


def test_constants_and_signatures_are_keras_s():
    checks.check_constants(REUTERS)


def test_label_names_are_keras_s():
    tree = ast.parse(keras_source("reuters"))
    function = next(
        node
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and node.name == "get_label_names"
    )
    returned = function.body[-1]
    assert isinstance(returned, ast.Return) and returned.value is not None
    assert reuters.get_label_names() == ast.literal_eval(returned.value)
    assert len(reuters.get_label_names()) == 46


@pytest.mark.parametrize("kwargs", checks.ARGUMENT_GRID + SPLIT_GRID, ids=checks.grid_id)
def test_same_as_keras(file_server, monkeypatch, tmp_path, kwargs):
    checks.check_same_as_keras(REUTERS, file_server, monkeypatch, tmp_path, kwargs)


@pytest.mark.parametrize("layout", ["savez_compressed", "python2"])
def test_same_as_keras_for_other_archive_layouts(file_server, monkeypatch, tmp_path, layout):
    kwargs = {"num_words": 20, "maxlen": 10}
    checks.check_same_as_keras(REUTERS, file_server, monkeypatch, tmp_path, kwargs, layout)


def test_downloads_once(file_server, monkeypatch, tmp_path):
    checks.check_downloads_once(REUTERS, file_server, monkeypatch, tmp_path)


def test_checksum_mismatch_is_refused(file_server, monkeypatch, tmp_path):
    checks.check_checksum_mismatch(REUTERS, file_server, monkeypatch, tmp_path)


@pytest.mark.parametrize("payload", [RunsCode, RunsShell], ids=["open", "os.system"])
def test_pickle_that_runs_code_is_refused(file_server, monkeypatch, tmp_path, payload):
    checks.check_malicious_pickle(REUTERS, file_server, monkeypatch, tmp_path, payload)


def test_word_index(file_server, monkeypatch, tmp_path):
    checks.check_word_index(REUTERS, file_server, monkeypatch, tmp_path)


def test_word_index_errors(file_server, monkeypatch, tmp_path):
    checks.check_word_index_errors(REUTERS, file_server, monkeypatch, tmp_path)


def test_sequences_of_one_length_stay_one_dimensional(file_server, monkeypatch, tmp_path):
    checks.check_one_dimensional(REUTERS, file_server, monkeypatch, tmp_path)


@pytest.mark.parametrize("change, message", checks.MALFORMED, ids=[c for c, _ in checks.MALFORMED])
def test_malformed_contents_are_clear_errors(file_server, monkeypatch, change, message):
    checks.check_malformed_contents(REUTERS, file_server, monkeypatch, change, message)


def test_integer_arguments_are_checked_before_downloading(file_server):
    checks.check_integer_arguments(REUTERS, file_server)


@pytest.mark.parametrize(
    "test_split, error",
    [(-0.1, ValueError), (1.5, ValueError), (float("nan"), ValueError), ("0.2", TypeError)],
)
def test_bad_test_split_is_refused_before_downloading(file_server, test_split, error):
    # Keras does not check it: 1.5 there makes a negative split index.
    with pytest.raises(error, match="test_split"):
        reuters.load_data(test_split=test_split)
    assert file_server.requests == []
