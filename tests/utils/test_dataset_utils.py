"""split_dataset and timeseries_dataset_from_array: Keras's signatures, results
against the documented semantics written as plain Python, and Keras's errors."""

from __future__ import annotations

import random

import numpy as np
import pytest

from nerve.data import Dataset
from nerve.utils.dataset_utils import split_dataset
from nerve.utils.timeseries_dataset_utils import timeseries_dataset_from_array
from tests.utils._keras import assert_same_signature, keras_utils


@pytest.mark.parametrize("ours", [split_dataset, timeseries_dataset_from_array])
def test_signatures_are_keras_s(ours):
    theirs = getattr(keras_utils(), ours.__name__)
    if ours is timeseries_dataset_from_array:
        # Keras adds format= ("tf" or "grain") to choose its pipeline library.
        import inspect

        names = list(inspect.signature(theirs).parameters)
        assert names[:-1] == list(inspect.signature(ours).parameters)
    else:
        assert_same_signature(ours, theirs)


SPLITS = [
    (0.8, None, False),
    (None, 3, False),
    (4, 3, False),  # both given: the right part is the last 3, element 4..6 left out
    (0.25, 0.5, False),
    (0.7, None, True),
    (None, 0.4, True),
]


@pytest.mark.parametrize("left_size, right_size, shuffle", SPLITS)
@pytest.mark.parametrize("form", ["array", "tuple", "dataset", "batched"])
def test_split_dataset(left_size, right_size, shuffle, form):
    x, y = np.arange(10) * 10, np.arange(10) % 3
    data = {
        "array": x,
        "tuple": (x, y),
        "dataset": Dataset.from_tensor_slices((x, y)),
        "batched": Dataset.from_tensor_slices((x, y)).batch(4).prefetch(1),
    }[form]
    left, right = split_dataset(data, left_size, right_size, shuffle=shuffle, seed=3)
    # The reference: Keras's documented rule, in plain Python.
    rows = list(x) if form == "array" else list(zip(x, y))
    if shuffle:
        random.Random(3).shuffle(rows)
    n = len(rows)
    lcount = round(left_size * n) if isinstance(left_size, float) else left_size
    rcount = round(right_size * n) if isinstance(right_size, float) else right_size
    lcount = n - rcount if lcount is None else lcount
    rcount = n - lcount if rcount is None else rcount
    expect_left, expect_right = rows[:lcount], rows[n - rcount :]
    if form == "batched":
        assert [len(b[0]) for b in left] == [min(4, lcount - i) for i in range(0, lcount, 4)]
        left, right = left.unbatch(), right.unbatch()

    def plain(e):
        return tuple(int(v) for v in e) if isinstance(e, tuple) else int(e)

    assert [plain(e) for e in left] == [plain(e) for e in expect_left]
    assert [plain(e) for e in right] == [plain(e) for e in expect_right]


@pytest.mark.parametrize(
    "left_size, right_size, message",
    [
        (None, None, "give left_size or right_size"),
        (10, None, "positive int smaller than the dataset's length 10"),
        (1.5, None, r"must be in \(0, 1\)"),
        (0.6, 0.6, "must sum to at most 1"),
        (6, 6, "larger than the dataset's length"),
        ("half", None, "must be an int, a float or None"),
        (0.01, None, "leave the left part empty"),
    ],
)
def test_split_errors(left_size, right_size, message):
    with pytest.raises((ValueError, TypeError), match=message):
        split_dataset(np.arange(10), left_size, right_size)


def windows_reference(data, targets, length, stride, rate, start, end):
    """Keras's documented windows: starts every `stride` steps, `length` samples
    `rate` apart, target of the first step."""
    start = start or 0
    end = len(data) if end is None else end
    count = end - start - (length - 1) * rate
    if targets is not None:
        count = min(count, len(targets))
    out = []
    for first in range(0, count, stride):
        window = [data[start + first + j * rate] for j in range(length)]
        out.append((window, targets[start + first]) if targets is not None else window)
    return out


SERIES = [
    dict(sequence_length=3),
    dict(sequence_length=4, sequence_stride=3, sampling_rate=2),
    dict(sequence_length=2, start_index=5, end_index=17),
    dict(sequence_length=5, sampling_rate=3, batch_size=None),
    dict(sequence_length=3, sequence_stride=2, with_targets=False),
]


@pytest.mark.parametrize("case", SERIES)
def test_timeseries_windows(case):
    case = dict(case)
    with_targets = case.pop("with_targets", True)
    data = np.arange(20 * 2).reshape(20, 2)
    targets = np.arange(100, 120) if with_targets else None
    batch_size = case.pop("batch_size", 4)
    ds = timeseries_dataset_from_array(data, targets, batch_size=batch_size, **case)
    expected = windows_reference(
        data.tolist(),
        None if targets is None else targets.tolist(),
        case["sequence_length"],
        case.get("sequence_stride", 1),
        case.get("sampling_rate", 1),
        case.get("start_index"),
        case.get("end_index"),
    )
    got = []
    for element in ds:
        if batch_size is None:
            got.append((element[0].tolist(), int(element[1])) if with_targets else element.tolist())
            continue
        x, y = element if with_targets else (element, None)
        assert len(x) <= batch_size
        for i in range(len(x)):
            got.append((x[i].tolist(), int(y[i])) if with_targets else x[i].tolist())
    assert got == expected


def test_timeseries_shuffle_is_a_seeded_permutation():
    data, targets = np.arange(50), np.arange(50)

    def run(seed):
        ds = timeseries_dataset_from_array(data, targets, 3, shuffle=True, seed=seed, batch_size=5)
        return [(x.tolist(), y.tolist()) for x, y in ds]

    first = run(1)
    windows = [w for x, _ in first for w in x]
    assert sorted(windows) == [[i, i + 1, i + 2] for i in range(48)]
    assert [w[0] for w in windows] == [t for _, y in first for t in y]  # targets follow
    assert run(1) == first and run(2) != first


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(sequence_stride=0), "sequence_stride must be higher than 0"),
        (dict(sampling_rate=20), "sampling_rate must be lower than the length"),
        (dict(start_index=-1), "start_index must be 0 or greater"),
        (dict(start_index=5, end_index=5), "end_index must be higher than start_index"),
    ],
)
def test_timeseries_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        timeseries_dataset_from_array(np.arange(20), None, 3, **kwargs)
