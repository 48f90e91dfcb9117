"""nerve.datasets.imdb: Keras's origins, hashes and signatures; the same arrays as
Keras's own loader on the same real-format file for a grid of arguments; downloads,
checksums, the word index, and files that would run code or are malformed."""

from __future__ import annotations

import pytest

from nerve.datasets import imdb
from tests.datasets import _sequence_checks as checks
from tests.datasets._loaders import RunsCode, RunsShell, npz_bytes, serve

IMDB = checks.SequenceDataset(
    imdb, splits=(("x_train", "y_train", 20), ("x_test", "y_test", 15)), num_classes=2
)


def test_constants_and_signatures_are_keras_s():
    checks.check_constants(IMDB)


@pytest.mark.parametrize("kwargs", checks.ARGUMENT_GRID, ids=checks.grid_id)
def test_same_as_keras(file_server, monkeypatch, tmp_path, kwargs):
    checks.check_same_as_keras(IMDB, file_server, monkeypatch, tmp_path, kwargs)


@pytest.mark.parametrize("layout", ["savez_compressed", "python2"])
def test_same_as_keras_for_other_archive_layouts(file_server, monkeypatch, tmp_path, layout):
    kwargs = {"num_words": 20, "maxlen": 10}
    checks.check_same_as_keras(IMDB, file_server, monkeypatch, tmp_path, kwargs, layout)


def test_downloads_once(file_server, monkeypatch, tmp_path):
    checks.check_downloads_once(IMDB, file_server, monkeypatch, tmp_path)


def test_checksum_mismatch_is_refused(file_server, monkeypatch, tmp_path):
    checks.check_checksum_mismatch(IMDB, file_server, monkeypatch, tmp_path)


@pytest.mark.parametrize("payload", [RunsCode, RunsShell], ids=["open", "os.system"])
def test_pickle_that_runs_code_is_refused(file_server, monkeypatch, tmp_path, payload):
    checks.check_malicious_pickle(IMDB, file_server, monkeypatch, tmp_path, payload)


def test_word_index(file_server, monkeypatch, tmp_path):
    checks.check_word_index(IMDB, file_server, monkeypatch, tmp_path)


def test_word_index_errors(file_server, monkeypatch, tmp_path):
    checks.check_word_index_errors(IMDB, file_server, monkeypatch, tmp_path)


def test_sequences_of_one_length_stay_one_dimensional(file_server, monkeypatch, tmp_path):
    checks.check_one_dimensional(IMDB, file_server, monkeypatch, tmp_path)


@pytest.mark.parametrize("change, message", checks.MALFORMED, ids=[c for c, _ in checks.MALFORMED])
def test_malformed_contents_are_clear_errors(file_server, monkeypatch, change, message):
    checks.check_malformed_contents(IMDB, file_server, monkeypatch, change, message)


def test_integer_arguments_are_checked_before_downloading(file_server):
    checks.check_integer_arguments(IMDB, file_server)


def test_unknown_keyword_arguments_are_refused(file_server):
    # Keras 3 accepts and ignores them; a misspelt argument should not vanish.
    with pytest.raises(TypeError, match=r"unexpected keyword arguments \['nb_words'\]"):
        imdb.load_data(nb_words=100)
    assert file_server.requests == []


def test_maxlen_that_drops_every_review_is_an_error(file_server, monkeypatch):
    serve(file_server, monkeypatch, imdb, npz_bytes(**IMDB.arrays()))
    # Every review holds start_char and at least one word: none is shorter than 2.
    with pytest.raises(ValueError, match="maxlen=2 drops every train review"):
        imdb.load_data(maxlen=2)
