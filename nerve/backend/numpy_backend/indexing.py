"""Indexing kernels; see ``nerve.primitives.indexing`` for the index template."""

from __future__ import annotations

from typing import Any

__all__ = [
    "kernels",
]


def _key(template: tuple, indices) -> tuple:
    """The NumPy index that ``template`` describes."""
    key: list[Any] = []  # slices, ints, None and index arrays
    for entry in template:
        kind = entry[0]
        if kind == "slice":
            key.append(slice(*entry[1:]))
        elif kind == "int":
            key.append(entry[1])
        elif kind == "none":
            key.append(None)
        else:
            key.append(indices[entry[1]])
    return tuple(key)


def kernels(xp) -> dict:
    def getitem(x, *indices, template):
        # Integer-only keys give array scalars; keep results arrays.
        return xp.asarray(x[_key(template, indices)])

    def index_add(base, updates, *indices, template):
        out = xp.array(base, copy=True)
        key = _key(template, indices)
        if indices:
            xp.add.at(out, key, updates)  # accumulates duplicate indices
        else:
            out[key] += updates  # basic indexing never repeats a position
        return out

    def index_set(base, updates, *indices, template):
        out = xp.array(base, copy=True)
        out[_key(template, indices)] = updates
        return out

    def argsort(x, axis, descending):
        if descending:
            # Negation keeps the sort stable; widen first so unsigned and bool negate.
            x = -(x.astype(xp.int64) if x.dtype.kind in "ub" else x)
        return xp.argsort(x, axis=axis, kind="stable").astype(xp.int32)

    def nonzero(x, size):
        return tuple(i.astype(xp.int32) for i in xp.nonzero(x))

    def searchsorted(sorted_sequence, values, side):
        return xp.searchsorted(sorted_sequence, values, side=side).astype(xp.int32)

    return {
        "searchsorted": searchsorted,
        "getitem": getitem,
        "index_add": index_add,
        "index_set": index_set,
        "argsort": argsort,
        "nonzero": nonzero,
    }
