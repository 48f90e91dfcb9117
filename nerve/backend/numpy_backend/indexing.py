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


_FULL = ("slice", None, None, None)


def _single_axis(template: tuple, indices: tuple) -> int | None:
    """The axis of a template that indexes one axis with the one index tensor and takes
    every other axis whole (a gather's ``take``), else ``None``."""
    if len(indices) != 1:
        return None
    arrays = [k for k, entry in enumerate(template) if entry[0] == "array"]
    if len(arrays) != 1 or any(e != _FULL for e in template if e[0] != "array"):
        return None
    return arrays[0]


def _native_scatter(xp):
    if xp.__name__ != "numpy":
        return None
    from nerve.backend.numpy_backend.native.scatter import scatter_add_rows_function

    return scatter_add_rows_function()


def kernels(xp) -> dict:
    def getitem(x, *indices, template):
        # A gather of rows (an embedding lookup) by take: ~30% faster than fancy
        # indexing for (64, 100) ids into a (20000, 128) table; the same errors.
        if _single_axis(template, indices) == 0 and indices[0].dtype.kind in "iu":
            return xp.asarray(xp.take(x, indices[0], axis=0))
        # Integer-only keys give array scalars; keep results arrays.
        return xp.asarray(x[_key(template, indices)])

    def index_add(base, updates, *indices, template):
        out = xp.array(base, copy=True)
        axis = _single_axis(template, indices)
        scatter = None if axis is None else _native_scatter(xp)
        # np.add.at walks the index element by element (~20x slower than a C loop
        # over rows); the loop adds in the same order, so results are identical.
        if scatter is not None and scatter(out, indices[0], updates, axis):
            return out
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
