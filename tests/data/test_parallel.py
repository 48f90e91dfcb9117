"""Background work in pipelines: parallel map order, error propagation with the original
traceback, and no thread left behind however the consumer stops."""

from __future__ import annotations

import threading
import time
import traceback

import numpy as np
import pytest

from nerve.data import Dataset


def data_threads():
    return [t for t in threading.enumerate() if t.name.startswith("nerve-data")]


@pytest.fixture(autouse=True)
def no_leftover_threads():
    yield
    deadline = time.monotonic() + 5
    while data_threads() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert data_threads() == []


def slow_identity(x):
    # Later elements finish first, so order must come from the pipeline, not timing.
    time.sleep(0.002 * (10 - int(x) % 10))
    return x


def test_parallel_map_keeps_order_and_overlaps():
    start = time.perf_counter()
    out = [int(x) for x in Dataset.range(40).map(slow_identity, num_parallel_calls=8)]
    parallel_time = time.perf_counter() - start
    assert out == list(range(40))
    start = time.perf_counter()
    [int(x) for x in Dataset.range(40).map(slow_identity)]
    serial_time = time.perf_counter() - start
    assert parallel_time < serial_time  # sleeping threads overlap (no GIL held)


def test_nondeterministic_map_gives_every_element():
    out = [int(x) for x in Dataset.range(40).map(slow_identity, 8, deterministic=False)]
    assert sorted(out) == list(range(40))


def failing(x):
    if int(x) == 3:
        raise KeyError(f"bad element {int(x)}")
    return x


@pytest.mark.parametrize(
    "build",
    [
        lambda: Dataset.range(10).map(failing),
        lambda: Dataset.range(10).map(failing, num_parallel_calls=3),
        lambda: Dataset.range(10).map(failing, num_parallel_calls=3).prefetch(2),
        lambda: Dataset.range(10).map(failing).batch(2).prefetch(1),
        lambda: Dataset.range(3).interleave(
            lambda i: Dataset.range(5).map(failing), cycle_length=2, num_parallel_calls=2
        ),
    ],
    ids=["serial", "parallel", "parallel+prefetch", "prefetch", "interleave"],
)
def test_errors_reach_the_consumer_with_their_traceback(build):
    with pytest.raises(KeyError, match="bad element 3") as info:
        list(build())
    frames = [frame.name for frame in traceback.extract_tb(info.value.__traceback__)]
    assert "failing" in frames  # the traceback still points into the user's function


@pytest.mark.parametrize(
    "build",
    [
        lambda: Dataset.range(10**6).map(lambda x: x, num_parallel_calls=4),
        lambda: Dataset.range(10**6).prefetch(4),
        lambda: Dataset.range(10**6).map(lambda x: x, num_parallel_calls=2).prefetch(2).batch(2),
        lambda: Dataset.range(100).interleave(
            lambda x: Dataset.range(10**6), cycle_length=4, num_parallel_calls=4
        ),
    ],
    ids=["map", "prefetch", "map+prefetch", "interleave"],
)
def test_leaving_early_stops_the_workers(build):
    iterator = iter(build())
    next(iterator)
    assert data_threads()  # working ahead
    iterator.close()
    assert data_threads() == []


def test_abandoned_iterator_is_stopped_by_garbage_collection():
    iterator = iter(Dataset.range(10**6).prefetch(2))
    next(iterator)
    del iterator  # the fixture checks the thread went away


def test_prefetch_overlaps_producer_and_consumer():
    def produce(x):
        time.sleep(0.01)
        return x

    def consume(dataset):
        start = time.perf_counter()
        for _ in dataset:
            time.sleep(0.01)
        return time.perf_counter() - start

    serial = consume(Dataset.range(20).map(produce))
    overlapped = consume(Dataset.range(20).map(produce).prefetch(2))
    assert overlapped < 0.8 * serial


def test_map_may_return_nerve_tensors():
    from nerve import ops

    out = list(Dataset.from_tensor_slices(np.ones((3, 2), "float32")).map(lambda x: ops.sum(x)))
    assert [float(x) for x in out] == [2.0, 2.0, 2.0]
    assert all(isinstance(x, np.ndarray) for x in out)


def decode(x):
    if int(x) % 4 == 1:
        raise ValueError(f"corrupt file {int(x)}")
    return x


@pytest.mark.parametrize(
    "build",
    [
        lambda: Dataset.range(12).map(decode, num_parallel_calls=2).batch(3).prefetch(2),
        lambda: Dataset.range(12).shuffle(4, seed=0).map(decode).batch(3).prefetch(1),
        lambda: Dataset.range(12).map(decode).prefetch(3).batch(3),
    ],
    ids=["map-batch-prefetch", "shuffle-map-batch-prefetch", "map-prefetch-batch"],
)
def test_ignore_errors_skips_failed_elements_across_batch_and_prefetch(build):
    # Folder loaders end in map -> batch -> prefetch: ignore_errors() must drop only
    # the corrupt elements (batches fill on with the next good ones), with warnings.
    with pytest.warns(UserWarning, match="corrupt file") as caught:
        batches = [b.tolist() for b in build().ignore_errors(log_warning=True)]
    kept = [v for b in batches for v in b]
    assert sorted(kept) == [v for v in range(12) if v % 4 != 1]
    assert [len(b) for b in batches] == [3, 3, 3]
    assert len(caught) == 3
    with pytest.raises(ValueError, match="corrupt file"):
        list(build())
