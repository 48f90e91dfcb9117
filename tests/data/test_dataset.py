"""nerve.data.Dataset: each pipeline in one table, compared with the same semantics
written as plain Python over lists; then shuffling, cardinality and errors."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from nerve.data import AUTOTUNE, INFINITE_CARDINALITY, UNKNOWN_CARDINALITY, Dataset, TensorSpec
from nerve.utils import set_random_seed


def plain(value):
    """Elements as plain Python (tuples/dicts kept; arrays to lists), for comparison."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return tuple(plain(v) for v in value)
    if isinstance(value, (np.ndarray, np.generic)):
        return value.tolist()
    return value


def chunks(items, size, drop=False):
    out = [items[i : i + size] for i in range(0, len(items), size)]
    return [c for c in out if len(c) == size] if drop else out


def ragged_gen():
    for n in (1, 3, 2, 4, 1):
        yield np.arange(1, n + 1), np.int64(n)


def pad_to(rows, width, value=0):
    return [r + [value] * (width - len(r)) for r in rows]


# (id, pipeline builder, expected elements as plain Python)
CASES = [
    ("range", lambda: Dataset.range(5), [0, 1, 2, 3, 4]),
    ("range_start_stop_step", lambda: Dataset.range(10, 2, -3), [10, 7, 4]),
    (
        "slices_tuple",
        lambda: Dataset.from_tensor_slices((np.arange(3), np.arange(3) * 2.0)),
        [(0, 0.0), (1, 2.0), (2, 4.0)],
    ),
    (
        "slices_dict",
        lambda: Dataset.from_tensor_slices({"a": [[1, 2], [3, 4]], "b": ["x", "y"]}),
        [{"a": [1, 2], "b": "x"}, {"a": [3, 4], "b": "y"}],
    ),
    ("from_tensors", lambda: Dataset.from_tensors((1, [2, 3])), [(1, [2, 3])]),
    (
        "generator_args",
        lambda: Dataset.from_generator(lambda n: iter(range(n)), args=(3,)),
        [0, 1, 2],
    ),
    (
        "zip_nested",
        lambda: Dataset.zip({"i": Dataset.range(3), "j": Dataset.range(10, 20)}),
        [{"i": 0, "j": 10}, {"i": 1, "j": 11}, {"i": 2, "j": 12}],
    ),
    (
        "concatenate",
        lambda: Dataset.range(2).concatenate(Dataset.range(7, 9)),
        [0, 1, 7, 8],
    ),
    (
        "map_unpacks_tuples",
        lambda: Dataset.zip(Dataset.range(3), Dataset.range(3)).map(lambda a, b: a * 10 + b),
        [0, 11, 22],
    ),
    (
        "map_parallel_ordered",
        lambda: Dataset.range(50).map(lambda x: x * x, num_parallel_calls=4),
        [i * i for i in range(50)],
    ),
    (
        "map_autotune",
        lambda: Dataset.range(9).map(lambda x: (x, -x), num_parallel_calls=AUTOTUNE),
        [(i, -i) for i in range(9)],
    ),
    ("filter", lambda: Dataset.range(10).filter(lambda x: x % 3 == 1), [1, 4, 7]),
    ("enumerate", lambda: Dataset.range(5, 7).enumerate(2), [(2, 5), (3, 6)]),
    ("batch", lambda: Dataset.range(7).batch(3), chunks(list(range(7)), 3)),
    (
        "batch_drop",
        lambda: Dataset.range(7).batch(3, drop_remainder=True),
        chunks([*range(7)], 3, True),
    ),
    (
        "batch_structure",
        lambda: Dataset.from_tensor_slices({"x": np.ones((5, 2)), "y": np.arange(5)}).batch(4),
        [{"x": [[1.0, 1.0]] * 4, "y": [0, 1, 2, 3]}, {"x": [[1.0, 1.0]], "y": [4]}],
    ),
    (
        "padded_batch_default",
        lambda: Dataset.from_generator(ragged_gen).padded_batch(2),
        [
            (pad_to([[1], [1, 2, 3]], 3), [1, 3]),
            (pad_to([[1, 2], [1, 2, 3, 4]], 4), [2, 4]),
            ([[1]], [1]),
        ],
    ),
    (
        "padded_batch_shapes_values",
        lambda: Dataset.from_generator(ragged_gen).padded_batch(
            3, padded_shapes=([5], []), padding_values=(-1, 0), drop_remainder=True
        ),
        [(pad_to([[1], [1, 2, 3], [1, 2]], 5, -1), [1, 3, 2])],
    ),
    (
        "padded_batch_strings",
        lambda: Dataset.from_tensor_slices(["a", "bb"]).map(lambda s: [s, s]).padded_batch(2),
        [[["a", "a"], ["bb", "bb"]]],
    ),
    ("unbatch", lambda: Dataset.range(7).batch(3).unbatch(), list(range(7))),
    ("repeat", lambda: Dataset.range(3).repeat(2), [0, 1, 2, 0, 1, 2]),
    ("repeat_take", lambda: Dataset.range(2).repeat().take(5), [0, 1, 0, 1, 0]),
    ("repeat_empty_forever", lambda: Dataset.range(0).repeat(), []),
    ("take_all", lambda: Dataset.range(3).take(-1), [0, 1, 2]),
    ("skip", lambda: Dataset.range(5).skip(3), [3, 4]),
    ("skip_all", lambda: Dataset.range(5).skip(-1), []),
    ("shard", lambda: Dataset.range(10).shard(3, 2), [2, 5, 8]),
    (
        # tf.data's documented interleave example (cycle 2, block 4).
        "interleave",
        lambda: Dataset.range(1, 6).interleave(
            lambda x: Dataset.from_tensors(x).repeat(6), cycle_length=2, block_length=4
        ),
        [1] * 4 + [2] * 4 + [1] * 2 + [2] * 2 + [3] * 4 + [4] * 4 + [3] * 2 + [4] * 2 + [5] * 6,
    ),
    (
        "interleave_parallel",
        lambda: Dataset.range(3).interleave(
            lambda x: Dataset.range(x * 10, x * 10 + 3), cycle_length=3, num_parallel_calls=3
        ),
        [0, 10, 20, 1, 11, 21, 2, 12, 22],
    ),
    ("prefetch", lambda: Dataset.range(20).map(lambda x: x + 1).prefetch(3), list(range(1, 21))),
    ("prefetch_zero", lambda: Dataset.range(3).prefetch(0), [0, 1, 2]),
    ("cache_memory", lambda: Dataset.range(4).cache().map(lambda x: -x), [0, -1, -2, -3]),
    (
        "ignore_errors",
        lambda: Dataset.range(6).map(lambda x: 1 // (x % 3)).ignore_errors(),
        [1, 0, 1, 0],
    ),
    (
        "ignore_errors_parallel",
        lambda: (
            Dataset.range(6)
            .map(lambda x: 1 // (x % 3), num_parallel_calls=2)
            .filter(lambda y: y >= 0)
            .ignore_errors()
        ),
        [1, 0, 1, 0],
    ),
]


@pytest.mark.parametrize("build, expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_pipeline(build, expected):
    dataset = build()
    assert [plain(e) for e in dataset] == expected
    # A second pass runs the recipe again and gives the same elements.
    assert [plain(e) for e in dataset.as_numpy_iterator()] == expected
    count = dataset.cardinality()
    if count >= 0:
        assert count == len(expected)


# -- cardinality --------------------------------------------------------------------------

CARDINALITY = [
    (lambda: Dataset.range(10).batch(3), 4),
    (lambda: Dataset.range(10).batch(3, drop_remainder=True), 3),
    (lambda: Dataset.range(10).repeat(), INFINITE_CARDINALITY),
    (lambda: Dataset.range(10).repeat().take(4), 4),
    (lambda: Dataset.range(10).filter(lambda x: x > 2), UNKNOWN_CARDINALITY),
    (lambda: Dataset.range(10).skip(4).shard(4, 1), 2),
    (lambda: Dataset.zip(Dataset.range(3), Dataset.range(5).repeat()), 3),
    (lambda: Dataset.from_generator(lambda: iter([1])), UNKNOWN_CARDINALITY),
    (lambda: Dataset.range(3).concatenate(Dataset.range(2).repeat()), INFINITE_CARDINALITY),
]


@pytest.mark.parametrize("build, expected", CARDINALITY)
def test_cardinality(build, expected):
    dataset = build()
    assert dataset.cardinality() == expected
    if expected >= 0:
        assert len(dataset) == expected
    else:
        with pytest.raises(TypeError, match=r"infinite|unknown"):
            len(dataset)


# -- shuffling ----------------------------------------------------------------------------


def values(dataset, count=None):
    return [int(x) for x in itertools.islice(dataset, count)]


def test_shuffle_is_a_seeded_permutation():
    a = values(Dataset.range(100).shuffle(100, seed=7))
    assert sorted(a) == list(range(100)) and a != list(range(100))
    assert values(Dataset.range(100).shuffle(100, seed=7)) == a
    assert values(Dataset.range(100).shuffle(100, seed=8)) != a


def test_shuffle_reshuffles_each_pass_unless_told_not_to():
    dataset = Dataset.range(50).shuffle(50, seed=3)
    first, second = values(dataset), values(dataset)
    assert first != second and sorted(first) == sorted(second)
    # Pass k is the same order however it is reached (what fit relies on to resume).
    assert values(dataset.iterate_pass(1)) == second
    fixed = Dataset.range(50).shuffle(50, seed=3, reshuffle_each_iteration=False)
    assert values(fixed) == values(fixed)


def test_shuffle_inside_repeat_differs_per_repetition():
    out = values(Dataset.range(20).shuffle(20, seed=1).repeat(2))
    assert sorted(out[:20]) == sorted(out[20:]) == list(range(20)) and out[:20] != out[20:]


def test_shuffle_buffer_bounds_displacement():
    # With a buffer of b, element i cannot come out before position i - b + 1.
    out = values(Dataset.range(200).shuffle(10, seed=0))
    assert sorted(out) == list(range(200))
    assert all(position >= value - 9 for position, value in enumerate(out))
    assert values(Dataset.range(10).shuffle(1, seed=0)) == list(range(10))


def test_unseeded_shuffle_follows_set_random_seed():
    set_random_seed(11)
    a = values(Dataset.range(30).shuffle(30))
    set_random_seed(11)
    assert values(Dataset.range(30).shuffle(30)) == a


# -- from_generator signatures ----------------------------------------------------------


def test_output_signature_casts_and_checks():
    spec = (TensorSpec((None,), "float32"), TensorSpec((), "int32"))
    dataset = Dataset.from_generator(lambda: iter([([1, 2], 3)]), output_signature=spec)
    x, y = next(iter(dataset))
    assert x.dtype == np.float32 and y.dtype == np.int32 and x.tolist() == [1.0, 2.0]
    bad_shape = Dataset.from_generator(lambda: iter([([[1]], 3)]), output_signature=spec)
    with pytest.raises(ValueError, match=r"element 0, component element\[0\], has shape \(1, 1\)"):
        list(bad_shape)
    bad_dtype = Dataset.from_generator(lambda: iter([([1.5], 3)]), output_types=("int32", "int32"))
    with pytest.raises(TypeError, match="dtype float64; output_signature expects int32"):
        list(bad_dtype)


# -- errors -------------------------------------------------------------------------------

ERRORS = [
    (
        lambda: Dataset.from_tensor_slices((np.zeros(3), np.zeros(4))),
        ValueError,
        r"same first dimension; received \{'\[0\]': 3, '\[1\]': 4\}",
    ),
    (lambda: Dataset.from_tensor_slices(5), ValueError, "is a scalar"),
    (
        lambda: list(Dataset.from_generator(ragged_gen).batch(2)),
        ValueError,
        r"cannot stack component element\[0\].*padded_batch",
    ),
    (lambda: Dataset.range(3).batch(0), ValueError, "batch_size must be at least 1"),
    (lambda: Dataset.range(3).batch(2.0), TypeError, "batch_size must be an int"),
    (lambda: Dataset.range(3).take(-2), ValueError, "count must be -1 or at least 0"),
    (lambda: Dataset.range(3).shard(2, 2), ValueError, r"index must be in \[0, num_shards=2\)"),
    (lambda: list(Dataset.range(3).filter(lambda x: [x, x])), ValueError, "one boolean"),
    (lambda: list(Dataset.range(3).interleave(lambda x: x)), TypeError, "must return a Dataset"),
    (lambda: Dataset.from_generator(iter([1])), TypeError, "generator function"),
    (lambda: Dataset.zip(Dataset.range(2), [1]), TypeError, "expected datasets"),
    (
        lambda: list(Dataset.range(2).concatenate(Dataset.zip(Dataset.range(2), Dataset.range(2)))),
        ValueError,
        "different structures",
    ),
    (
        lambda: list(Dataset.from_generator(ragged_gen).padded_batch(2, padded_shapes=([2], []))),
        ValueError,
        r"element\[0\]: an element of shape \(3,\) is larger than the padded shape \(2,\)",
    ),
    (
        lambda: Dataset.range(2).map(lambda x: x, num_parallel_calls=0),
        ValueError,
        "num_parallel_calls must be a positive int",
    ),
]


@pytest.mark.parametrize("action, error, message", ERRORS)
def test_errors_name_what_was_wrong(action, error, message):
    with pytest.raises(error, match=message):
        action()


def test_element_spec():
    dataset = Dataset.from_tensor_slices(
        {"image": np.zeros((4, 2, 2), "float32"), "label": [1, 2, 3, 4]}
    )
    spec = dataset.batch(2).element_spec
    assert spec["image"] == TensorSpec((2, 2, 2), "float32")
    assert spec["label"] == TensorSpec((2,), "int64")


@pytest.mark.parametrize("drop", [False, True])
@pytest.mark.parametrize(
    "build",
    [
        lambda: Dataset.from_tensor_slices({"x": np.arange(22).reshape(11, 2), "y": np.arange(11)}),
        lambda: Dataset.from_tensor_slices((np.arange(11), np.arange(11) * 2)).shuffle(11, seed=4),
        lambda: Dataset.from_tensor_slices(np.arange(11)).shuffle(100, seed=4),
        lambda: Dataset.from_tensor_slices((np.arange(41), np.arange(41) * 2)).shuffle(6, seed=4),
    ],
    ids=["slices", "full_shuffle", "oversized_buffer", "partial_buffer"],
)
def test_batches_cut_at_once_equal_stacked_elements(build, drop):
    # batch() on arrays (and on a shuffle of them, its order drawn on row indices)
    # gathers whole batches; the result must be what stacking the same pass's elements
    # gives (a partial buffer shuffles the elements themselves on the element path).
    dataset = build()
    elements = [plain(e) for e in dataset.iterate_pass(2)]
    stacked = [plain(b) for b in dataset.batch(4, drop_remainder=drop).iterate_pass(2)]
    expected = []
    for chunk in chunks(elements, 4, drop):
        if isinstance(chunk[0], dict):
            expected.append({k: [e[k] for e in chunk] for k in chunk[0]})
        elif isinstance(chunk[0], tuple):
            expected.append(tuple([e[i] for e in chunk] for i in range(len(chunk[0]))))
        else:
            expected.append(chunk)
    assert stacked == expected


def test_batch_map_drops_only_failing_elements_when_errors_are_ignored():
    from nerve.data.transforms import BatchMap

    def check(x):
        if np.any(np.asarray(x) == 4):
            raise ValueError("four is broken")
        return np.asarray(x) * 10

    dataset = BatchMap(Dataset.range(7).batch(3), check, check)
    with pytest.raises(ValueError, match="four is broken"):
        list(dataset)
    with pytest.warns(UserWarning, match="four is broken"):
        batches = [b.tolist() for b in dataset.ignore_errors(log_warning=True)]
    # The failing batch is redone element by element: only 4 is lost.
    assert batches == [[0, 10, 20], [30, 50], [60]]
