"""``nerve.tree``: Keras 3's ``keras.tree`` — nested structures (lists, tuples,
namedtuples, dicts; dict keys in sorted order) flattened, mapped and rebuilt.

>>> from nerve import tree
>>> tree.flatten({"b": [1, 2], "a": (3, None)})
[3, None, 1, 2]
>>> tree.map_structure(lambda x, y: x + y, [1, (2, 3)], [10, (20, 30)])
[11, (22, 33)]
>>> tree.pack_sequence_as({"x": 0, "y": [0, 0]}, [1, 2, 3])
{'x': 1, 'y': [2, 3]}
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nerve.core import tree as _core_tree

__all__ = [
    "assert_same_structure",
    "flatten",
    "flatten_with_path",
    "is_nested",
    "lists_to_tuples",
    "map_structure",
    "pack_sequence_as",
    "traverse",
]


def is_nested(structure: Any) -> bool:
    """Whether ``structure`` is a list, tuple (namedtuples included) or dict, not a leaf.

    >>> is_nested([1]), is_nested(1), is_nested("ab")
    (True, False, False)
    """
    return isinstance(structure, (list, tuple, dict))


def flatten(structure: Any) -> list:
    """The leaves of ``structure`` in order (``None`` is a leaf, as in Keras).

    >>> flatten([1, {"k": 2}, (3,)])
    [1, 2, 3]
    """
    return _core_tree.flatten(structure)[0]


def _children(structure: Any) -> list[tuple[Any, Any]]:
    if isinstance(structure, dict):
        return [(key, structure[key]) for key in sorted(structure)]
    return list(enumerate(structure))


def flatten_with_path(structure: Any) -> list[tuple[tuple, Any]]:
    """``(path, leaf)`` pairs, a path being the keys and indices leading to the leaf.

    >>> flatten_with_path({"a": [5, 6]})
    [(('a', 0), 5), (('a', 1), 6)]
    """
    out: list[tuple[tuple, Any]] = []

    def walk(x: Any, path: tuple) -> None:
        if not is_nested(x):
            out.append((path, x))
            return
        for key, value in _children(x):
            walk(value, (*path, key))

    walk(structure, ())
    return out


def _types(structure: Any) -> Any:
    if isinstance(structure, dict):
        return (dict, tuple((k, _types(structure[k])) for k in sorted(structure)))
    if isinstance(structure, (list, tuple)):
        return (type(structure), tuple(_types(v) for v in structure))
    return None


def assert_same_structure(a: Any, b: Any, check_types: Any = None) -> None:
    """Raise ``ValueError`` unless ``a`` and ``b`` nest the same way, container types
    included (a list and a tuple differ, as in Keras 3; ``check_types`` is accepted for
    compatibility and ignored, as Keras does).

    >>> assert_same_structure([1, (2,)], [3, (4,)])
    """
    if _types(a) != _types(b):
        raise ValueError(
            f"The two structures don't have the same nested structure: {a!r} and {b!r}."
        )


def map_structure(func: Callable[..., Any], *structures: Any, none_is_leaf: bool = True) -> Any:
    """``func`` applied to the leaves at the same place in each of ``structures``
    (which must nest the same way), in the first one's structure. With
    ``none_is_leaf=False`` a ``None`` in the first structure stays ``None``.

    >>> map_structure(abs, {"a": -1, "b": [-2]})
    {'a': 1, 'b': [2]}
    """
    if not structures:
        raise ValueError("map_structure needs at least one structure.")
    for other in structures[1:]:
        assert_same_structure(structures[0], other)
    leaves = [flatten(s) for s in structures]
    results = [
        None if not none_is_leaf and args[0] is None else func(*args) for args in zip(*leaves)
    ]
    return pack_sequence_as(structures[0], results)


def pack_sequence_as(structure: Any, flat_sequence: Any) -> Any:
    """``flat_sequence``'s items arranged in ``structure``'s nesting.

    >>> pack_sequence_as((0, [0]), ["x", "y"])
    ('x', ['y'])
    """
    count = len(flatten(structure))
    flat = list(flat_sequence)
    if len(flat) != count:
        raise ValueError(
            f"pack_sequence_as: the structure has {count} leaves but the flat "
            f"sequence has {len(flat)} items."
        )
    items = iter(flat)

    def build(x: Any) -> Any:
        if isinstance(x, dict):
            # Leaves are taken in sorted-key order; the dict keeps its own key order.
            values = {key: build(x[key]) for key in sorted(x)}
            return type(x)((key, values[key]) for key in x)
        if isinstance(x, tuple) and hasattr(x, "_fields"):
            return type(x)(*(build(v) for v in x))
        if isinstance(x, (list, tuple)):
            return type(x)(build(v) for v in x)
        return next(items)

    return build(structure)


def lists_to_tuples(structure: Any) -> Any:
    """``structure`` with every list turned into a tuple.

    >>> lists_to_tuples([1, [2, {"a": [3]}]])
    (1, (2, {'a': (3,)}))
    """
    if isinstance(structure, dict):
        return {key: lists_to_tuples(value) for key, value in structure.items()}
    if isinstance(structure, tuple) and hasattr(structure, "_fields"):
        return type(structure)(*(lists_to_tuples(v) for v in structure))
    if isinstance(structure, (list, tuple)):
        return tuple(lists_to_tuples(v) for v in structure)
    return structure


def traverse(func: Callable[[Any], Any], structure: Any, top_down: bool = True) -> Any:
    """Visit every node, containers included. Top down, ``func``'s non-``None`` result
    replaces the node (and its children are not visited); bottom up, ``func`` sees each
    container after its children are rebuilt and a non-``None`` result replaces it.

    >>> traverse(lambda x: "list" if isinstance(x, list) else None, ([1], 2))
    ('list', 2)
    """

    def rebuild(x: Any, children: list) -> Any:
        if isinstance(x, dict):
            by_key = {key: child for (key, _), child in zip(_children(x), children)}
            return {key: by_key[key] for key in x}  # the dict's own key order
        if isinstance(x, tuple) and hasattr(x, "_fields"):
            return type(x)(*children)
        return type(x)(children)

    def walk(x: Any) -> Any:
        if top_down:
            result = func(x)
            if result is not None:
                return result
            if not is_nested(x):
                return x
            return rebuild(x, [walk(value) for _, value in _children(x)])
        node = rebuild(x, [walk(value) for _, value in _children(x)]) if is_nested(x) else x
        result = func(node)
        return node if result is None else result

    return walk(structure)
