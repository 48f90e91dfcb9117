"""Indexing primitives: NumPy indexing as one gather, and the scatters that undo it.

An index is passed as a hashable *template* (a param) plus integer *index
tensors* (extra inputs after the data). The template has one entry per index
position, with ``...`` already expanded by the op layer:

* ``("int", i)``: an integer, already non-negative and in range;
* ``("slice", start, stop, step)``: a slice (``None`` where omitted);
* ``("none",)``: a new axis of size 1;
* ``("array", k)``: the ``k``-th index tensor (advanced indexing; negative
  entries wrap as in NumPy).

Axes the template does not reach are taken whole. Shapes follow NumPy exactly,
including where advanced-index dimensions land (see ``indexed_shape``).

``getitem`` gathers; ``index_add`` adds ``updates`` into a base at the indexed
positions, accumulating duplicates (``np.add.at``); ``index_set`` writes them.
The vjp of each is written with the others, so every order of derivative works.
"""

from __future__ import annotations

from nerve.core import dtypes
from nerve.core.errors import AxisError, DTypeError, ShapeError, with_location
from nerve.core.symbolic import slice_length
from nerve.primitives import elementwise as ew
from nerve.primitives import rules
from nerve.primitives.registry import Aval, Primitive

__all__ = [
    "FULL",
    "along",
    "argsort_p",
    "getitem",
    "getitem_p",
    "index_add",
    "index_add_p",
    "index_set",
    "index_set_p",
    "indexed_shape",
    "nonzero_p",
    "searchsorted_p",
]

FULL = ("slice", None, None, None)


def along(ndim_before: int, entry: tuple) -> tuple:
    """A template applying ``entry`` to axis ``ndim_before`` and taking earlier axes whole."""
    return (FULL,) * ndim_before + (entry,)


def indexed_shape(op: str, shape: tuple, index_shapes: list, template: tuple) -> tuple:
    """The shape of ``x[key]`` for ``x`` of ``shape`` (NumPy's rules)."""
    consumed = sum(1 for e in template if e[0] != "none")
    if consumed > len(shape):
        raise AxisError(
            with_location(
                f"{op}: too many indices for a tensor of shape {tuple(shape)}: "
                f"{consumed} axes indexed, {len(shape)} available."
            )
        )
    # Integers count as advanced indices when any array is present (NumPy's rule):
    # they decide whether the advanced indices are adjacent.
    has_array = any(e[0] == "array" for e in template)
    out: list = []
    advanced: list = []  # (template position, shape)
    insert_at = 0
    axis = 0
    for position, entry in enumerate(template):
        kind = entry[0]
        if kind == "none":
            out.append(1)
            continue
        size = shape[axis]
        if kind == "slice":
            _, start, stop, step = entry
            out.append(slice_length(start, stop, step, size))
        elif kind == "int":
            if not 0 <= entry[1] < size:
                raise AxisError(
                    with_location(
                        f"{op}: index {entry[1]} is out of range for axis {axis} with size "
                        f"{size} (tensor shape {tuple(shape)})."
                    )
                )
            if has_array:
                if not advanced:
                    insert_at = len(out)
                advanced.append((position, ()))
        else:
            if not advanced:
                insert_at = len(out)
            advanced.append((position, tuple(index_shapes[entry[1]])))
        axis += 1
    out.extend(shape[axis:])
    if advanced:
        broadcast = rules.broadcast_shapes(op, *(s for _, s in advanced))
        positions = [p for p, _ in advanced]
        adjacent = positions == list(range(positions[0], positions[0] + len(positions)))
        # Separated advanced indices put their dimensions first, as NumPy does.
        at = insert_at if adjacent else 0
        out[at:at] = list(broadcast)
    return tuple(out)


def _check_indices(op: str, indices: tuple) -> None:
    for i in indices:
        if not dtypes.is_int(i.dtype):
            raise DTypeError(
                with_location(f"{op}: index tensors must have an integer dtype, got {i.dtype}.")
            )


# -- getitem ---------------------------------------------------------------------------


def _getitem_rule(x: Aval, *indices: Aval, template: tuple) -> Aval:
    _check_indices("getitem", indices)
    shape = indexed_shape("getitem", tuple(x.shape), [i.shape for i in indices], template)
    return Aval(shape, x.dtype)


def _getitem_vjp(g, inputs, out, needs, template):
    x, *indices = inputs
    return (index_add(ew.zeros_like(x), g, template, indices), *([None] * len(indices)))


getitem_p = Primitive("getitem", shape_rule=_getitem_rule, vjp=_getitem_vjp)


def getitem(x, template: tuple, indices=()):
    """``x`` indexed by ``template`` and its index tensors."""
    return getitem_p.bind(x, *indices, template=tuple(template))


# -- index_add and index_set --------------------------------------------------------------


def _scatter_rule(op: str):
    def rule(base: Aval, updates: Aval, *indices: Aval, template: tuple) -> Aval:
        rules.same_dtype(op, base, updates)
        _check_indices(op, indices)
        expected = indexed_shape(op, tuple(base.shape), [i.shape for i in indices], template)
        if tuple(updates.shape) != expected:
            raise ShapeError(
                with_location(
                    f"{op}: updates of shape {tuple(updates.shape)} do not match the indexed "
                    f"region of shape {expected} of a tensor of shape {tuple(base.shape)}."
                )
            )
        return Aval(tuple(base.shape), base.dtype)

    rule.__name__ = f"_{op}_shape_rule"
    return rule


def _index_add_vjp(g, inputs, out, needs, template):
    base, updates, *indices = inputs
    return (
        g if needs[0] else None,
        getitem(g, template, indices) if needs[1] else None,
        *([None] * len(indices)),
    )


def _index_set_vjp(g, inputs, out, needs, template):
    """Overwritten positions get no gradient from the base; with duplicate indices
    every duplicate update receives the cotangent of the position it targets."""
    base, updates, *indices = inputs
    return (
        index_set(g, ew.zeros_like(updates), template, indices) if needs[0] else None,
        getitem(g, template, indices) if needs[1] else None,
        *([None] * len(indices)),
    )


# Both kernels copy their base before writing into the copy: a new array that aliases
# nothing. Declaring it lets the memory planner keep a result apart from the base's
# buffer and the index tensors (an embedding's gradient, built on the token ids, would
# otherwise share an alias group with the table, whose optimizer update then could not
# go in place: ~0.9 ms a step on a 20000x128 table).
index_add_p = Primitive(
    "index_add", shape_rule=_scatter_rule("index_add"), vjp=_index_add_vjp, fresh=True
)
index_set_p = Primitive(
    "index_set", shape_rule=_scatter_rule("index_set"), vjp=_index_set_vjp, fresh=True
)


def index_add(base, updates, template: tuple, indices=()):
    """``base`` with ``updates`` added at the indexed positions (duplicates accumulate)."""
    return index_add_p.bind(base, updates, *indices, template=tuple(template))


def index_set(base, updates, template: tuple, indices=()):
    """``base`` with the indexed positions replaced by ``updates``."""
    return index_set_p.bind(base, updates, *indices, template=tuple(template))


# -- sorting and searching (not differentiable: their gradients flow through gathers) --


def _argsort_rule(x: Aval, *, axis: int, descending: bool) -> Aval:
    if not 0 <= axis < max(len(x.shape), 1):
        raise AxisError(with_location(f"argsort: axis {axis} is invalid for shape {x.shape}."))
    return Aval(tuple(x.shape), "int32")


argsort_p = Primitive("argsort", shape_rule=_argsort_rule, differentiable=False)


def _nonzero_rule(x: Aval, *, size: int) -> tuple:
    return tuple(Aval((size,), "int32") for _ in x.shape)


# ``size`` (the count of non-zeros) is a param so that the output shape is static.
nonzero_p = Primitive(
    "nonzero", shape_rule=_nonzero_rule, multiple_results=True, differentiable=False
)


def _searchsorted_rule(sorted_sequence: Aval, values: Aval, *, side: str) -> Aval:
    rules.same_dtype("searchsorted", sorted_sequence, values)
    if len(sorted_sequence.shape) != 1:
        raise ShapeError(
            with_location(
                f"searchsorted: sorted_sequence must be 1-D, got shape "
                f"{tuple(sorted_sequence.shape)}."
            )
        )
    if side not in ("left", "right"):
        raise ValueError(
            with_location(f"searchsorted: side must be 'left' or 'right', got {side!r}.")
        )
    return Aval(tuple(values.shape), "int32")


# Insertion positions of ``values`` in an ascending 1-D ``sorted_sequence``.
searchsorted_p = Primitive("searchsorted", shape_rule=_searchsorted_rule, differentiable=False)
