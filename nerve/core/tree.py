"""Nested structures (lists, tuples, namedtuples, dicts) as flat lists of leaves.

>>> leaves, rebuild = flatten({"b": [1, 2], "a": (3,)})
>>> leaves
[3, 1, 2]
>>> rebuild([30, 10, 20])
{'a': (30,), 'b': [10, 20]}
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["flatten", "map_structure"]


def _is_namedtuple(x: Any) -> bool:
    return isinstance(x, tuple) and hasattr(x, "_fields")


def flatten(structure: Any) -> tuple[list, Callable[[list], Any]]:
    """Leaves of ``structure`` (dict keys in sorted order) and a function that rebuilds
    the same structure from new leaves."""
    leaves: list = []

    def walk(x):
        if isinstance(x, dict):
            keys = sorted(x)
            subs = [walk(x[k]) for k in keys]
            return lambda it: {k: s(it) for k, s in zip(keys, subs)}
        if _is_namedtuple(x):
            subs = [walk(v) for v in x]
            return lambda it: type(x)(*(s(it) for s in subs))
        if isinstance(x, (list, tuple)):
            subs = [walk(v) for v in x]
            kind = type(x)
            return lambda it: kind(s(it) for s in subs)
        leaves.append(x)
        return lambda it: next(it)

    builder = walk(structure)
    return leaves, lambda new_leaves: builder(iter(new_leaves))


def map_structure(fn: Callable[[Any], Any], structure: Any) -> Any:
    """Apply ``fn`` to every leaf, keeping the structure."""
    leaves, rebuild = flatten(structure)
    return rebuild([fn(x) for x in leaves])
