"""Dataset.cache in memory and in a file: reuse, only complete passes kept, atomic files,
damaged files named."""

from __future__ import annotations

import os

import numpy as np
import pytest

from nerve.data import Dataset


class Counter:
    def __init__(self):
        self.calls = 0

    def __call__(self, x):
        self.calls += 1
        return {"value": x, "text": np.str_(f"item {int(x)}"), "pair": (x, x * 2.5)}


def as_list(dataset):
    return [
        (int(e["value"]), str(e["text"]), int(e["pair"][0]), float(e["pair"][1])) for e in dataset
    ]


@pytest.mark.parametrize("in_file", [False, True], ids=["memory", "file"])
def test_cache_replays_the_first_complete_pass(tmp_path, in_file):
    counter = Counter()
    filename = str(tmp_path / "cache" / "pipeline") if in_file else ""
    dataset = Dataset.range(5).map(counter).cache(filename)
    # A pass cut short caches nothing...
    assert len(list(dataset.take(2))) == 2
    if in_file:
        assert os.listdir(tmp_path / "cache") == []  # no partial file under any name
    first = as_list(dataset)
    assert counter.calls == 7
    # ...a complete one is replayed.
    assert as_list(dataset) == first == [(i, f"item {i}", i, i * 2.5) for i in range(5)]
    assert counter.calls == 7


def test_file_cache_is_reused_by_a_new_pipeline(tmp_path):
    filename = str(tmp_path / "c")
    first = as_list(Dataset.range(4).map(Counter()).cache(filename))
    assert sorted(os.listdir(tmp_path)) == ["c.data", "c.index"]

    def must_not_run(x):
        raise AssertionError("the cache file should have been read")

    assert as_list(Dataset.range(4).map(must_not_run).cache(filename)) == first


def test_damaged_cache_file_is_named(tmp_path):
    filename = str(tmp_path / "c")
    list(Dataset.range(50).map(lambda x: np.full(100, x)).cache(filename))
    with open(filename + ".data", "r+b") as stream:
        stream.truncate(1000)
    with pytest.raises(ValueError, match=r"c\.data is damaged at element"):
        list(Dataset.range(50).cache(filename))


def test_file_cache_refuses_object_arrays(tmp_path):
    dataset = Dataset.range(2).map(lambda x: np.array([b"a", 1], dtype=object))
    with pytest.raises(TypeError, match="Python-object array"):
        list(dataset.cache(str(tmp_path / "c")))
    assert os.listdir(tmp_path) == []
