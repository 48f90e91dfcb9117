"""nerve.tree agrees with keras.tree on the same structures."""

import collections

import pytest

from nerve import tree

Point = collections.namedtuple("Point", ["x", "y"])

STRUCTURES = [
    1,
    None,
    [1, 2, (3, None)],
    {"b": [1, 2], "a": (3, {"z": 4, "c": 5})},
    Point(1, [2, 3]),
    [Point(x={"k": 1}, y=2), ()],
]


@pytest.fixture(scope="module")
def keras_tree():
    return pytest.importorskip("keras").tree


@pytest.mark.parametrize("structure", STRUCTURES, ids=repr)
@pytest.mark.parametrize(
    "name, call",
    [
        ("flatten", lambda t, s: t.flatten(s)),
        ("flatten_with_path", lambda t, s: t.flatten_with_path(s)),
        ("is_nested", lambda t, s: t.is_nested(s)),
        ("lists_to_tuples", lambda t, s: t.lists_to_tuples(s)),
        ("map_structure", lambda t, s: t.map_structure(lambda v: (v, v), s)),
        ("map_two", lambda t, s: t.map_structure(lambda a, b: (a, b), s, s)),
        (
            "pack_sequence_as",
            lambda t, s: t.pack_sequence_as(s, list(range(len(t.flatten(s))))),
        ),
        (
            "traverse_bottom_up",
            lambda t, s: t.traverse(lambda v: len(v) if isinstance(v, list) else None, s, False),
        ),
        (
            "traverse_top_down",
            lambda t, s: t.traverse(lambda v: "d" if isinstance(v, dict) else None, s),
        ),
    ],
)
def test_same_as_keras(keras_tree, structure, name, call):
    ours, theirs = call(tree, structure), call(keras_tree, structure)
    assert ours == theirs
    assert repr(ours) == repr(theirs)  # container types and dict key order too


@pytest.mark.parametrize(
    "a, b",
    [([1, (2,)], [3, [4]]), ({"a": 1}, {"b": 1}), ([1, 2], [1]), (Point(1, 2), (1, 2))],
)
def test_assert_same_structure_rejects_what_keras_rejects(keras_tree, a, b):
    with pytest.raises(ValueError):
        keras_tree.assert_same_structure(a, b)
    with pytest.raises(ValueError, match="same nested structure"):
        tree.assert_same_structure(a, b)


def test_pack_sequence_as_names_a_count_mismatch():
    with pytest.raises(ValueError, match="2 leaves but the flat sequence has 3"):
        tree.pack_sequence_as([0, 0], [1, 2, 3])
