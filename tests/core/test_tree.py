"""nerve.core.tree: flatten / rebuild of nested structures."""

import collections

from nerve.core import tree

Point = collections.namedtuple("Point", ["x", "y"])


def test_flatten_order_and_rebuild():
    structure = {"b": [1, (2, 3)], "a": Point(4, {"z": 5, "y": 6})}
    leaves, rebuild = tree.flatten(structure)
    assert leaves == [4, 6, 5, 1, 2, 3]  # dict keys sorted, depth first
    rebuilt = rebuild([x * 10 for x in leaves])
    assert rebuilt == {"b": [10, (20, 30)], "a": Point(40, {"z": 50, "y": 60})}
    assert type(rebuilt["a"]) is Point and type(rebuilt["b"][1]) is tuple


def test_leaf_and_none():
    leaves, rebuild = tree.flatten(7)
    assert leaves == [7] and rebuild([8]) == 8
    leaves, rebuild = tree.flatten([None, 1])
    assert leaves == [None, 1] and rebuild([2, 3]) == [2, 3]


def test_empty_containers_have_no_leaves():
    leaves, rebuild = tree.flatten({"a": [], "b": ()})
    assert leaves == [] and rebuild([]) == {"a": [], "b": ()}


def test_rebuild_can_be_called_twice():
    _, rebuild = tree.flatten([1, [2]])
    assert rebuild([3, 4]) == [3, [4]]
    assert rebuild([5, 6]) == [5, [6]]


def test_map_structure():
    assert tree.map_structure(lambda x: x + 1, {"k": (1, [2])}) == {"k": (2, [3])}
