"""Keras's math functions defined in nerve/ops/math.py: one op-harness row per op;
empty segments and errors below."""

import numpy as np
import pytest

from nerve import ops
from nerve.core.errors import ShapeError
from nerve.testing.op_harness import Input, OpCase, T, op_tests

# Segment ids with a dropped negative id; every segment in [0, 3) is non-empty.
IDS = np.array([2, 0, -1, 2, 1, 0])


def np_segment(reduce, data, ids, num_segments):
    return np.stack([reduce(data[ids == s], axis=0) for s in range(num_segments)])


def np_in_top_k(targets, predictions, k):
    kth = -np.sort(-predictions, axis=-1)[:, k - 1]
    return predictions[np.arange(len(targets)), targets] >= kth


CASES = [
    OpCase(
        "segment_min",
        lambda d: ops.segment_min(d, IDS, num_segments=3),
        [(Input((6,)),), (Input((6, 2)),)],
        numpy=lambda d: np_segment(np.min, d, IDS, 3),
    ),
    OpCase(
        "segment_min_int",
        lambda d: ops.segment_min(d, IDS, num_segments=3),
        [(Input((6, 2), "int", -9, 9),)],
        numpy=lambda d: np_segment(np.min, d, IDS, 3),
    ),
    OpCase(
        "segment_prod",
        lambda d: ops.segment_prod(d, IDS, num_segments=3),
        [(Input((6,)),), (Input((6, 2)),)],
        numpy=lambda d: np_segment(np.prod, d, IDS, 3),
        grad2=True,
    ),
    *[
        OpCase(
            f"in_top_k_{k}",
            lambda t, p, k=k: ops.in_top_k(t, p, k),
            [(Input((5,), "index", high=4), Input((5, 4)))],
            numpy=lambda t, p, k=k: np_in_top_k(t, p, k),
            grad=False,
        )
        for k in (1, 3)
    ],
    OpCase(
        "cdist",
        ops.cdist,
        [(Input((3, 4)), Input((5, 4))), (Input((2, 3, 2)), Input((2, 1, 2)))],
        numpy=lambda x, y: np.sqrt(((x[..., :, None, :] - y[..., None, :, :]) ** 2).sum(-1)),
        torch=T.cdist,
    ),
]

globals().update(op_tests(CASES))


def test_empty_segments_get_the_identity():
    data = np.array([4.0, 2.0])
    np.testing.assert_array_equal(ops.segment_min(data, [0, 2]).numpy(), [4.0, np.inf, 2.0])
    np.testing.assert_array_equal(ops.segment_prod(data, [0, 2]).numpy(), [4.0, 1.0, 2.0])
    ints = ops.segment_min(np.array([3, 1], "int16"), [1, 1], num_segments=2)
    assert ints.numpy().tolist() == [32767, 1]


def test_in_top_k_counts_ties_as_in():
    predictions = np.array([[0.5, 0.5, 0.1]])
    assert ops.in_top_k([1], predictions, 1).numpy().tolist() == [True]


@pytest.mark.parametrize(
    "call,error,match",
    [
        (lambda: ops.segment_min(np.ones((3, 2)), [0, 1]), ShapeError, "segment_ids"),
        (lambda: ops.in_top_k([0.0], np.ones((1, 3)), 1), TypeError, "integers"),
        (lambda: ops.in_top_k([0, 1], np.ones((1, 3)), 1), ShapeError, "batch"),
        (lambda: ops.cdist(np.ones(3), np.ones((2, 3))), ValueError, "rank >= 2"),
        (lambda: ops.cdist(np.ones((2, 3)), np.ones((2, 4))), ValueError, "last axes"),
    ],
)
def test_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()
