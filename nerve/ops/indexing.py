"""Indexing, gathering, scattering, sorting (Keras names and arguments).

Everything here is built on three primitives: ``getitem`` (a gather with NumPy's
indexing rules), ``index_add`` and ``index_set`` (scatters into a base tensor).
Gradients of gathers are scatter-adds, so duplicate indices accumulate.

>>> from nerve import ops
>>> x = ops.convert_to_tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
>>> x[1, ::-1].numpy()
array([6., 5., 4.], dtype=float32)
>>> ops.take(x, [2, 0], axis=1).numpy()
array([[3., 1.],
       [6., 4.]], dtype=float32)
"""

from __future__ import annotations

import math
import operator
from typing import Any

from nerve.core import config, dtypes
from nerve.core.errors import AxisError, DTypeError, ShapeError, normalize_axis, with_location
from nerve.core.symbolic import Dim
from nerve.ops._convert import cast, tensor
from nerve.primitives import elementwise as ew
from nerve.primitives import indexing as ip
from nerve.primitives import reduction as rp
from nerve.primitives import shape as sp
from nerve.tensor import Tensor, convert_to_tensor

__all__ = [
    "argpartition",
    "argsort",
    "bincount",
    "diag",
    "diagonal",
    "digitize",
    "nonzero",
    "one_hot",
    "scatter",
    "scatter_update",
    "searchsorted",
    "segment_max",
    "segment_sum",
    "slice",
    "slice_update",
    "sort",
    "take",
    "take_along_axis",
    "top_k",
    "tril",
    "triu",
]

_slice = slice  # ``slice`` is also a public op of this module.


def _index_tensor(value: Any, op: str) -> Tensor:
    """An integer index tensor (Python ints become int32, as in Keras)."""
    t = tensor(value) if isinstance(value, Tensor) else convert_to_tensor(value)
    if t.dtype == "bool" or not dtypes.is_int(t.dtype):
        if t.size == 0 and dtypes.is_float(t.dtype):
            return cast(t, "int32")  # an empty list converts as float
        raise DTypeError(
            with_location(f"{op}: indices must be integers, got a tensor of dtype {t.dtype}.")
        )
    return t


def _arange(n: int, shape: tuple) -> Tensor:
    """``0..n-1`` as int32, reshaped to ``shape`` (which holds ``n`` elements)."""
    return sp.reshape(convert_to_tensor(list(range(n)), "int32"), shape)


def _as_int(value: Any, what: str) -> Any:
    """An int, or a symbolic size (``x[: x.shape[0] - 1]`` while traced with one)."""
    if isinstance(value, Dim):
        return value
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(
            with_location(f"getitem: {what} must be an integer, got {type(value).__name__}.")
        ) from None


# -- getitem ---------------------------------------------------------------------------


def _classify(key: Any) -> tuple:
    """One index entry as ("int", i) | ("slice", s) | ("none",) | ("ellipsis",) |
    ("array", tensor) | ("mask", tensor)."""
    if key is None:
        return ("none",)
    if key is Ellipsis:
        return ("ellipsis",)
    if isinstance(key, _slice):
        return ("slice", key)
    if isinstance(key, bool):
        raise TypeError(
            with_location("getitem: a Python bool is not a valid index; use a boolean tensor.")
        )
    if isinstance(key, Dim):  # a symbolic size as an index (x[x.shape[0] - 1])
        return ("int", key)
    if not isinstance(key, (Tensor, list, tuple)) and getattr(key, "ndim", 0) == 0:
        if hasattr(key, "__index__"):
            return ("int", operator.index(key))
        raise TypeError(
            with_location(
                f"getitem: invalid index {key!r} of type {type(key).__name__}; use ints, "
                "slices, None, Ellipsis, or integer/boolean tensors."
            )
        )
    t = key if isinstance(key, Tensor) else convert_to_tensor(key)
    if t.dtype == "bool":
        if t.ndim == 0:
            raise TypeError(with_location("getitem: a 0-d boolean index is not supported."))
        return ("mask", t)
    if not dtypes.is_int(t.dtype):
        if t.size == 0:
            return ("array", cast(t, "int32"))
        raise DTypeError(
            with_location(
                f"getitem: index tensors must be integers or booleans, got dtype {t.dtype}."
            )
        )
    return ("array", t)


def getitem(x: Any, key: Any) -> Tensor:
    """``x[key]`` with NumPy's basic and advanced indexing.

    Supports ints, slices (negative bounds and steps), ``None``, ``...``,
    integer tensors/lists (advanced indexing, also mixed with slices) and
    boolean masks (evaluated eagerly). Negative integers wrap as in NumPy.

    >>> from nerve import ops
    >>> x = ops.reshape(ops.arange(12), (3, 4))
    >>> x[-1].numpy()
    array([ 8,  9, 10, 11], dtype=int32)
    >>> x[[0, 2], 1:3].numpy()
    array([[ 1,  2],
           [ 9, 10]], dtype=int32)
    >>> x[x > 9].numpy()
    array([10, 11], dtype=int32)
    """
    x = tensor(x)
    entries = [_classify(k) for k in (key if isinstance(key, tuple) else (key,))]
    if sum(e[0] == "ellipsis" for e in entries) > 1:
        raise IndexError(with_location("getitem: an index can only have one Ellipsis (...)."))
    consumed = sum(e[1].ndim if e[0] == "mask" else e[0] not in ("none", "ellipsis")
                   for e in entries)  # fmt: skip
    if consumed > x.ndim:
        raise AxisError(
            with_location(
                f"getitem: too many indices for a tensor of shape {x.shape}: {consumed} axes "
                f"indexed, {x.ndim} available."
            )
        )
    template: list = []
    indices: list = []
    axis = 0
    for entry in entries:
        kind = entry[0]
        if kind == "ellipsis":
            template.extend([ip.FULL] * (x.ndim - consumed))
            axis += x.ndim - consumed
        elif kind == "none":
            template.append(("none",))
        elif kind == "int":
            size = x.shape[axis]
            if not -size <= entry[1] < size:
                raise AxisError(
                    with_location(
                        f"getitem: index {entry[1]} is out of range for axis {axis} with size "
                        f"{size} (tensor shape {x.shape})."
                    )
                )
            index = entry[1]
            template.append(("int", index + size if index < 0 else index))
            axis += 1
        elif kind == "slice":
            s = entry[1]
            bounds = [None if b is None else _as_int(b, "slice bounds")
                      for b in (s.start, s.stop, s.step)]  # fmt: skip
            if bounds[2] == 0:
                raise ValueError(with_location("getitem: slice step cannot be zero."))
            template.append(("slice", *bounds))
            axis += 1
        elif kind == "array":
            template.append(("array", len(indices)))
            indices.append(entry[1])
            axis += 1
        else:  # a boolean mask stands for the integer indices of its true entries
            mask = entry[1]
            covered = x.shape[axis : axis + mask.ndim]
            if mask.shape != covered:
                raise ShapeError(
                    with_location(
                        f"getitem: boolean mask of shape {mask.shape} does not match the "
                        f"indexed axes {covered} of a tensor of shape {x.shape}."
                    )
                )
            for where in nonzero(mask):
                template.append(("array", len(indices)))
                indices.append(where)
            axis += mask.ndim
    if all(e == ip.FULL for e in template):
        return x
    return ip.getitem(x, tuple(template), tuple(indices))


def nonzero(x: Any) -> tuple:
    """Indices of the non-zero elements: one int32 tensor per axis (eager: the
    number of non-zeros decides the output shape).

    >>> from nerve import ops
    >>> [i.numpy().tolist() for i in ops.nonzero([[0, 3], [4, 0]])]
    [[0, 1], [1, 0]]
    """
    x = tensor(x)
    if x.ndim == 0:
        raise ShapeError(with_location("nonzero: needs a tensor of rank 1 or more, got a scalar."))
    hit = ew.cast(ew.not_equal_p.bind(x, ew.scalar(0, x)), "int32")
    size = int(rp.reduce_sum_p.bind(hit, axes=tuple(range(x.ndim)), keepdims=False))
    return tuple(ip.nonzero_p.bind(x, size=size))


# -- gathers ------------------------------------------------------------------------


def take(x: Any, indices: Any, axis: int | None = None) -> Tensor:
    """Elements of ``x`` at ``indices`` along ``axis`` (of the flattened ``x`` if ``None``).

    >>> from nerve import ops
    >>> ops.take([10, 20, 30], [[2, -1], [0, 0]]).numpy()
    array([[30, 30],
           [10, 10]], dtype=int32)
    """
    x = tensor(x)
    indices = _index_tensor(indices, "take")
    if axis is None:
        x = sp.reshape(x, (x.size,))
        axis = 0
    axis = normalize_axis(axis, x.ndim, "take")
    return ip.getitem(x, ip.along(axis, ("array", 0)), (indices,))


def take_along_axis(x: Any, indices: Any, axis: int | None = None) -> Tensor:
    """Pick one element per index along ``axis``; other axes broadcast (``np.take_along_axis``).

    >>> from nerve import ops
    >>> x = ops.convert_to_tensor([[10, 30, 20], [60, 40, 50]])
    >>> ops.take_along_axis(x, [[1], [0]], axis=1).numpy()
    array([[30],
           [60]], dtype=int32)
    """
    x = tensor(x)
    indices = _index_tensor(indices, "take_along_axis")
    if axis is None:
        x = sp.reshape(x, (x.size,))
        indices = sp.reshape(indices, (indices.size,))
        axis = 0
    axis = normalize_axis(axis, x.ndim, "take_along_axis")
    if indices.ndim != x.ndim:
        raise ShapeError(
            with_location(
                f"take_along_axis: indices of shape {indices.shape} must have the rank of x "
                f"(shape {x.shape})."
            )
        )
    index_tensors = []
    for d in range(x.ndim):
        if d == axis:
            index_tensors.append(indices)
        else:
            shape = tuple(x.shape[d] if i == d else 1 for i in range(x.ndim))
            index_tensors.append(_arange(x.shape[d], shape))
    template = tuple(("array", d) for d in range(x.ndim))
    return ip.getitem(x, template, tuple(index_tensors))


def slice(inputs: Any, start_indices: Any, shape: Any) -> Tensor:
    """The block of ``shape`` starting at ``start_indices``.

    >>> from nerve import ops
    >>> ops.slice(ops.reshape(ops.arange(9), (3, 3)), (1, 0), (2, 2)).numpy()
    array([[3, 4],
           [6, 7]], dtype=int32)
    """
    inputs = tensor(inputs)
    template = _block("slice", inputs, start_indices, tuple(int(d) for d in shape))
    return ip.getitem(inputs, template)


def _block(op: str, x: Tensor, start_indices: Any, shape: tuple) -> tuple:
    starts = [int(s) for s in (start_indices.tolist() if isinstance(start_indices, Tensor)
                               else start_indices)]  # fmt: skip
    if len(starts) != x.ndim or len(shape) != x.ndim:
        raise ShapeError(
            with_location(
                f"{op}: start_indices {tuple(starts)} and block shape {shape} need one entry "
                f"per axis of the input of shape {x.shape}."
            )
        )
    template = []
    for axis, (start, size, dim) in enumerate(zip(starts, shape, x.shape)):
        if size == -1:
            size = dim - start
        if not (start >= 0 and size >= 0 and start + size <= dim):
            raise ShapeError(
                with_location(
                    f"{op}: a block of shape {shape} at {tuple(starts)} does not fit in a "
                    f"tensor of shape {x.shape} (axis {axis})."
                )
            )
        template.append(("slice", start, start + size, None))
    return tuple(template)


# -- scatters --------------------------------------------------------------------------


def _scatter_index(indices: Any, updates: Tensor, op: str, shape: tuple) -> tuple:
    """Template and index tensors for ``indices`` of shape (..., index_depth)."""
    indices = _index_tensor(indices, op)
    ndim = len(shape)
    if indices.ndim == 0 or not 0 < indices.shape[-1] <= ndim:
        raise ShapeError(
            with_location(
                f"{op}: indices of shape {indices.shape} must end in an index depth between 1 "
                f"and the target's rank {ndim}."
            )
        )
    depth = indices.shape[-1]
    expected = indices.shape[:-1] + shape[depth:]
    if updates.shape != expected:
        raise ShapeError(
            with_location(
                f"{op}: updates of shape {updates.shape} do not fit indices of shape "
                f"{indices.shape} into a tensor of shape {shape}; expected updates of shape "
                f"{expected} (indices.shape[:-1] + shape[index_depth:])."
            )
        )
    lead = (_slice(None),) * (indices.ndim - 1)
    columns = tuple(getitem(indices, (*lead, j)) for j in range(depth))
    return tuple(("array", j) for j in range(depth)), columns


def scatter(indices: Any, values: Any, shape: Any) -> Tensor:
    """A zero tensor of ``shape`` with ``values`` added at ``indices`` (shape
    ``(..., index_depth)``); duplicate indices are summed.

    >>> from nerve import ops
    >>> ops.scatter([[0, 1], [1, 0], [0, 1]], [1.0, 2.0, 3.0], (2, 2)).numpy()
    array([[0., 4.],
           [2., 0.]], dtype=float32)
    """
    values = tensor(values)
    shape = tuple(int(d) for d in shape)
    template, columns = _scatter_index(indices, values, "scatter", shape)
    zeros = sp.broadcast_to(ew.scalar(0, values), shape)
    return ip.index_add(zeros, values, template, columns)


_SCATTER_REDUCTIONS = (None, "add", "max", "min", "mul")


def scatter_update(inputs: Any, indices: Any, updates: Any, reduction: str | None = None) -> Tensor:
    """``inputs`` with the elements (or slices) at ``indices`` replaced by ``updates``;
    with ``reduction`` (``"add"``, ``"max"``, ``"min"`` or ``"mul"``) combined with them
    instead, every update to the same place counted.

    >>> from nerve import ops
    >>> ops.scatter_update(ops.zeros((2, 3)), [[1, 2]], [5.0]).numpy()
    array([[0., 0., 0.],
           [0., 0., 5.]], dtype=float32)
    >>> ops.scatter_update(ops.ones((3,)), [[0], [0], [2]], [2.0, 3.0, 4.0], "mul").numpy()
    array([6., 1., 4.], dtype=float32)
    """
    if reduction not in _SCATTER_REDUCTIONS:
        raise ValueError(
            with_location(
                f"scatter_update: Unsupported reduction: {reduction!r}; expected one of "
                f"{_SCATTER_REDUCTIONS}."
            )
        )
    inputs = tensor(inputs)
    updates = cast(updates, inputs.dtype)
    template, columns = _scatter_index(indices, updates, "scatter_update", inputs.shape)
    if reduction is None:
        return ip.index_set(inputs, updates, template, columns)
    if reduction == "add":
        return ip.index_add(inputs, updates, template, columns)
    return _scatter_reduce(inputs, indices, updates, reduction)


def _scatter_reduce(inputs: Tensor, indices: Any, updates: Tensor, reduction: str) -> Tensor:
    """max/min/mul scatter as a masked reduction over a (targets, updates) membership
    mask: memory is targets x updates, fine at the sizes scatters see."""
    ids = _index_tensor(indices, "scatter_update")
    depth = ids.shape[-1]
    ids = sp.reshape(ids, (-1, depth)) if ids.ndim != 2 else ids
    count = ids.shape[0]
    targets = math.prod(inputs.shape[:depth])
    rest = inputs.shape[depth:]
    rows = sp.reshape(updates, (count, *rest))
    linear = convert_to_tensor(0, ids.dtype)
    for axis in range(depth):
        column = ids[:, axis]
        linear = ew.add(ew.mul(linear, ew.scalar(inputs.shape[axis], ids)), column)
    members = ew.equal_p.bind(
        sp.reshape(linear, (1, count) + (1,) * len(rest)),
        cast(_arange(targets, (targets,) + (1,) * (len(rest) + 1)), ids.dtype),
    )
    from nerve.ops.elementwise import maximum, minimum, multiply

    neutral: float
    if reduction == "mul":
        neutral, prim, combine = 1, rp.reduce_prod_p, multiply
    elif reduction == "max":
        neutral = float("-inf") if dtypes.is_float(inputs.dtype) else _int_min(inputs.dtype)
        prim, combine = rp.reduce_max_p, maximum
    else:
        neutral = float("inf") if dtypes.is_float(inputs.dtype) else _int_max(inputs.dtype)
        prim, combine = rp.reduce_min_p, minimum
    masked = ew.where(members, sp.reshape(rows, (1, count, *rest)), ew.scalar(neutral, rows))
    masked = sp.broadcast_to(masked, (targets, count, *rest))
    reduced = prim.bind(masked, axes=(1,), keepdims=False)
    return combine(inputs, sp.reshape(reduced, inputs.shape))


def slice_update(inputs: Any, start_indices: Any, updates: Any) -> Tensor:
    """``inputs`` with the block at ``start_indices`` replaced by ``updates``.

    >>> from nerve import ops
    >>> ops.slice_update(ops.zeros((2, 3)), (0, 1), ops.ones((2, 2))).numpy()
    array([[0., 1., 1.],
           [0., 1., 1.]], dtype=float32)
    """
    inputs = tensor(inputs)
    updates = cast(updates, inputs.dtype)
    template = _block("slice_update", inputs, start_indices, updates.shape)
    return ip.index_set(inputs, updates, template)


def _segments(data: Tensor, segment_ids: Any, num_segments: Any, op: str) -> tuple:
    """The checked 1-D ids (one per row of data) and the segment count."""
    ids = _index_tensor(segment_ids, op)
    if ids.ndim != 1:
        # Keras's wording, which its tests match.
        raise ShapeError(
            with_location(
                f"{op}: Argument `segment_ids` should be an 1-D vector, got shape {ids.shape}. "
                "Flatten both: segment_ids.reshape(-1) and "
                "data.reshape((-1, *data.shape[segment_ids.ndim:]))."
            )
        )
    if data.ndim == 0 or data.shape[0] != ids.shape[0]:
        raise ShapeError(
            with_location(
                f"{op}: Argument `segment_ids` and `data` should have same leading dimension. "
                f"Got segment_ids of shape {ids.shape} and data of shape {data.shape} (one "
                "segment id per row of data)."
            )
        )
    rows = ids.shape[0]
    if num_segments is None:  # eager: the largest id decides the output size
        largest = rp.reduce_max_p.bind(ids, axes=(0,), keepdims=False) if rows else -1
        num_segments = int(largest) + 1
    return data, ids, int(num_segments)


def segment_sum(
    data: Any, segment_ids: Any, num_segments: int | None = None, sorted: bool = False
) -> Tensor:
    """Sum of the rows of ``data`` in each segment. Rows whose id is negative or not
    below ``num_segments`` are dropped, as in Keras.

    >>> from nerve import ops
    >>> ops.segment_sum([1.0, 2.0, 3.0], [0, 0, 2]).numpy()
    array([3., 0., 3.], dtype=float32)
    >>> ops.segment_sum([1.0, 2.0, 3.0], [0, -1, 1]).numpy()
    array([1., 3.], dtype=float32)
    """
    data = tensor(data)
    data, ids, num_segments = _segments(data, segment_ids, num_segments, "segment_sum")
    # An index_add would wrap a negative id around to the last segments.
    valid = ew.logical_and_p.bind(
        ew.greater_equal_p.bind(ids, ew.scalar(0, ids)),
        ew.less_p.bind(ids, ew.scalar(num_segments, ids)),
    )
    ids = ew.where(valid, ids, ew.scalar(0, ids))
    rows = sp.reshape(valid, (valid.shape[0],) + (1,) * (data.ndim - 1))
    data = ew.where(rows, data, ew.scalar(0, data))
    zeros = sp.broadcast_to(ew.scalar(0, data), (num_segments, *data.shape[1:]))
    return ip.index_add(zeros, data, (("array", 0),), (ids,))


def segment_max(
    data: Any, segment_ids: Any, num_segments: int | None = None, sorted: bool = False
) -> Tensor:
    """Maximum of the rows of ``data`` in each segment (``-inf``, or the dtype's
    minimum for integers, where a segment is empty).

    >>> from nerve import ops
    >>> ops.segment_max([1.0, 5.0, 3.0], [0, 0, 1]).numpy()
    array([5., 3.], dtype=float32)
    """
    data = tensor(data)
    data, ids, num_segments = _segments(data, segment_ids, num_segments, "segment_max")
    # A (segments, rows) membership mask; a masked max over rows. Memory is
    # segments x rows, fine for the sizes segment ops see outside of graphs.
    members = ew.equal_p.bind(
        sp.reshape(ids, (1, ids.shape[0]) + (1,) * (data.ndim - 1)),
        _arange(num_segments, (num_segments,) + (1,) * data.ndim),
    )
    lowest = float("-inf") if dtypes.is_float(data.dtype) else _int_min(data.dtype)
    expanded = sp.reshape(data, (1, *data.shape))
    masked = ew.where(members, expanded, ew.scalar(lowest, data))
    masked = sp.broadcast_to(masked, (num_segments, *data.shape))
    return rp.reduce_max_p.bind(masked, axes=(1,), keepdims=False)


def _int_max(dtype: str) -> int:
    if dtype == "bool":
        return 1
    bits = int("".join(c for c in dtype if c.isdigit()))
    return 2**bits - 1 if dtype.startswith("u") else 2 ** (bits - 1) - 1


def _int_min(dtype: str) -> int:
    if dtype == "bool":
        return 0
    bits = int("".join(c for c in dtype if c.isdigit()))
    return 0 if dtype.startswith("u") else -(2 ** (bits - 1))


# -- structured selections ----------------------------------------------------------------


def one_hot(
    x: Any, num_classes: int, axis: int = -1, dtype: str | None = None, sparse: bool = False
) -> Tensor:
    """One-hot encode integer ``x`` along a new ``axis``; out-of-range values give zeros.

    Float labels (``[2.0, 0.0]``, as arrays loaded from CSV often hold) are cast to
    integers first, truncating toward zero as Keras's TensorFlow and PyTorch backends
    do (its JAX backend instead gives a row of zeros for a non-integer value).

    >>> from nerve import ops
    >>> ops.one_hot([2, 0], 3).numpy()
    array([[0., 0., 1.],
           [1., 0., 0.]], dtype=float32)
    >>> ops.one_hot([2.0, 0.0], 3).numpy()
    array([[0., 0., 1.],
           [1., 0., 0.]], dtype=float32)
    """
    if sparse:
        raise NotImplementedError("one_hot: sparse tensors are not supported.")
    x = tensor(x) if isinstance(x, Tensor) else convert_to_tensor(x)
    if dtypes.is_float(x.dtype):
        x = cast(x, "int64")
    x = _index_tensor(x, "one_hot")
    axis = normalize_axis(axis, x.ndim + 1, "one_hot")
    shape = list(x.shape)
    shape.insert(axis, 1)
    classes = tuple(num_classes if i == axis else 1 for i in range(x.ndim + 1))
    hit = ew.equal_p.bind(sp.reshape(cast(x, "int32"), tuple(shape)), _arange(num_classes, classes))
    return cast(hit, dtype or config.floatx())


def _band(op: str, x: Any, k: int, upper: bool) -> Tensor:
    x = tensor(x)
    if x.ndim < 2:
        raise ShapeError(with_location(f"{op}: needs a tensor of rank >= 2, got shape {x.shape}."))
    rows, cols = x.shape[-2:]
    offset = ew.sub(_arange(cols, (1, cols)), _arange(rows, (rows, 1)))
    k = ew.scalar(int(k), offset)
    keep = ew.greater_equal_p.bind(offset, k) if upper else ew.less_equal_p.bind(offset, k)
    return ew.where(keep, x, ew.scalar(0, x))


def triu(x: Any, k: int = 0) -> Tensor:
    """Zero the elements below the ``k``-th diagonal of the last two axes.

    >>> from nerve import ops
    >>> ops.triu(ops.ones((2, 2))).numpy()
    array([[1., 1.],
           [0., 1.]], dtype=float32)
    """
    return _band("triu", x, k, upper=True)


def tril(x: Any, k: int = 0) -> Tensor:
    """Zero the elements above the ``k``-th diagonal of the last two axes."""
    return _band("tril", x, k, upper=False)


def _diagonal_indices(rows: int, cols: int, offset: int) -> tuple:
    """Row and column indices of the ``offset`` diagonal of a rows x cols matrix."""
    first_row, first_col = max(-offset, 0), max(offset, 0)
    n = max(0, min(rows - first_row, cols - first_col))
    r = convert_to_tensor(list(range(first_row, first_row + n)), "int32")
    c = convert_to_tensor(list(range(first_col, first_col + n)), "int32")
    return r, c


def diagonal(x: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Tensor:
    """The ``offset`` diagonal of the planes spanned by ``axis1`` and ``axis2``, as the
    last axis of the result (``np.diagonal``).

    >>> from nerve import ops
    >>> ops.diagonal(ops.reshape(ops.arange(6), (2, 3)), offset=1).numpy()
    array([1, 5], dtype=int32)
    """
    x = tensor(x)
    if x.ndim < 2:
        raise ShapeError(
            with_location(f"diagonal: needs a tensor of rank >= 2, got shape {x.shape}.")
        )
    axis1 = normalize_axis(axis1, x.ndim, "diagonal")
    axis2 = normalize_axis(axis2, x.ndim, "diagonal")
    if axis1 == axis2:
        raise AxisError(with_location(f"diagonal: axis1 and axis2 are both {axis1}."))
    rest = tuple(a for a in range(x.ndim) if a not in (axis1, axis2))
    x = sp.transpose(x, (*rest, axis1, axis2))
    r, c = _diagonal_indices(x.shape[-2], x.shape[-1], int(offset))
    template = (ip.FULL,) * len(rest) + (("array", 0), ("array", 1))
    return ip.getitem(x, template, (r, c))


def diag(x: Any, k: int = 0) -> Tensor:
    """The ``k``-th diagonal of a matrix, or a matrix with vector ``x`` on it.

    >>> from nerve import ops
    >>> ops.diag([1, 2]).numpy()
    array([[1, 0],
           [0, 2]], dtype=int32)
    """
    x = tensor(x)
    if x.ndim == 2:
        return diagonal(x, k)
    if x.ndim != 1:
        raise ShapeError(with_location(f"diag: needs a 1-D or 2-D tensor, got shape {x.shape}."))
    n = x.shape[0] + abs(int(k))
    r, c = _diagonal_indices(n, n, int(k))
    zeros = sp.broadcast_to(ew.scalar(0, x), (n, n))
    return ip.index_add(zeros, x, (("array", 0), ("array", 1)), (r, c))


# -- sorting -----------------------------------------------------------------------------


def _argsort(x: Tensor, axis: int, descending: bool) -> Tensor:
    return ip.argsort_p.bind(x, axis=axis, descending=descending)


def argsort(x: Any, axis: int | None = -1) -> Tensor:
    """Indices (int32) that sort ``x`` along ``axis`` (stable; flattened if ``None``).

    >>> from nerve import ops
    >>> ops.argsort([3.0, 1.0, 2.0]).numpy()
    array([1, 2, 0], dtype=int32)
    """
    x = tensor(x)
    if axis is None:
        x = sp.reshape(x, (x.size,))
        axis = 0
    if x.ndim == 0:
        return convert_to_tensor(0, "int32")
    return _argsort(x, normalize_axis(axis, x.ndim, "argsort"), False)


def sort(x: Any, axis: int = -1) -> Tensor:
    """``x`` sorted along ``axis``; the gradient flows back to the original positions.

    >>> from nerve import ops
    >>> ops.sort([3.0, 1.0, 2.0]).numpy()
    array([1., 2., 3.], dtype=float32)
    """
    x = tensor(x)
    if axis is None:
        x = sp.reshape(x, (x.size,))
        axis = 0
    if x.ndim == 0:
        return x
    axis = normalize_axis(axis, x.ndim, "sort")
    return take_along_axis(x, _argsort(x, axis, False), axis)


def top_k(x: Any, k: int, sorted: bool = True) -> tuple:
    """The ``k`` largest values along the last axis and their int32 indices.

    >>> from nerve import ops
    >>> values, indices = ops.top_k([1.0, 4.0, 2.0, 3.0], 2)
    >>> values.numpy(), indices.numpy()
    (array([4., 3.], dtype=float32), array([1, 3], dtype=int32))
    """
    x = tensor(x)
    if x.ndim == 0 or not 0 <= k <= x.shape[-1]:
        raise ShapeError(
            with_location(f"top_k: k={k} is out of range for a tensor of shape {x.shape}.")
        )
    order = _argsort(x, x.ndim - 1, True)
    indices = ip.getitem(order, ip.along(x.ndim - 1, ("slice", 0, k, None)))
    return take_along_axis(x, indices, -1), indices


# -- searching and counting ------------------------------------------------------------


def searchsorted(sorted_sequence: Any, values: Any, side: str = "left") -> Tensor:
    """Positions (int32) where ``values`` would be inserted into the ascending 1-D
    ``sorted_sequence`` to keep it sorted: before equal entries (``side="left"``) or
    after them (``"right"``). Not differentiable.

    >>> from nerve import ops
    >>> ops.searchsorted([1.0, 2.0, 2.0, 5.0], [2.0, 3.0, 9.0]).numpy()
    array([1, 3, 4], dtype=int32)
    >>> ops.searchsorted([1.0, 2.0, 2.0, 5.0], [2.0], side="right").numpy()
    array([3], dtype=int32)
    """
    from nerve.ops._convert import promote

    sorted_sequence, values = promote(sorted_sequence, values)
    return ip.searchsorted_p.bind(sorted_sequence, values, side=side)


def digitize(x: Any, bins: Any) -> Tensor:
    """Index (int32) of the bin of each entry of ``x``: ``i`` such that
    ``bins[i - 1] <= x < bins[i]`` for ascending 1-D ``bins`` (0 below the first edge,
    ``len(bins)`` at or above the last).

    >>> from nerve import ops
    >>> ops.digitize([0.5, 1.0, 2.5, 7.0], [1.0, 2.0, 3.0]).numpy()
    array([0, 1, 2, 3], dtype=int32)
    """
    return searchsorted(bins, x, side="right")


def bincount(x: Any, weights: Any = None, minlength: int = 0, sparse: bool = False) -> Tensor:
    """Count occurrences of each value of the non-negative integers ``x`` (1-D, or 2-D for
    one count per row), summing ``weights`` instead of ones when given. The length is
    ``max(max(x) + 1, minlength)``, read from ``x`` eagerly. Differentiable in ``weights``.

    >>> from nerve import ops
    >>> ops.bincount([0, 2, 2, 3]).numpy()
    array([1, 0, 2, 1], dtype=int32)
    >>> ops.bincount([1, 1], weights=[0.5, 2.0], minlength=3).numpy()
    array([0. , 2.5, 0. ], dtype=float32)
    """
    if sparse:
        raise NotImplementedError("bincount: sparse tensors are not supported.")
    x = _index_tensor(x, "bincount")
    if x.ndim not in (1, 2):
        raise ShapeError(with_location(f"bincount: x must be 1-D or 2-D, got shape {x.shape}."))
    if weights is None:
        weights = _ones_int32(x)
    else:
        weights = tensor(weights)
        if weights.shape != x.shape:
            raise ShapeError(
                with_location(
                    f"bincount: weights of shape {weights.shape} must match x of shape {x.shape}."
                )
            )
    values = x.numpy()  # the output length depends on the data
    if values.size and values.min() < 0:
        raise ValueError(with_location("bincount: x must hold non-negative integers."))
    length = max(int(values.max()) + 1 if values.size else 0, int(minlength))
    base = ew.zeros_like(sp.broadcast_to(ew.scalar(0, weights), (*x.shape[:-1], length)))
    if x.ndim == 1:
        return ip.index_add(base, weights, (("array", 0),), (x,))
    rows = sp.broadcast_to(_arange(x.shape[0], (x.shape[0], 1)), x.shape)
    return ip.index_add(base, weights, (("array", 0), ("array", 1)), (rows, x))


def _ones_int32(x: Tensor) -> Tensor:
    return sp.broadcast_to(convert_to_tensor(1, "int32"), x.shape)


def argpartition(x: Any, kth: int, axis: int | None = -1) -> Tensor:
    """Indices (int32) that partition ``x`` along ``axis`` around its ``kth`` smallest
    entry: that entry lands at position ``kth``, smaller ones before it and the rest
    after (in no promised order; nerve returns a full stable sort, which qualifies).
    ``axis=None`` partitions the flattened tensor.

    >>> from nerve import ops
    >>> x = ops.convert_to_tensor([3.0, 4.0, 2.0, 1.0])
    >>> float(ops.take(x, ops.argpartition(x, 1))[1])
    2.0
    """
    x = tensor(x)
    if axis is None:  # positions in the flattened tensor, as NumPy gives them
        x, axis = sp.reshape(x, (x.size,)), 0
    if x.ndim == 0:
        raise ShapeError(with_location("argpartition: x must have at least one axis."))
    axis = normalize_axis(axis, x.ndim, "argpartition")
    size = x.shape[axis]
    if not -size <= kth < size:
        raise ValueError(
            with_location(
                f"argpartition: kth={kth} is out of range for axis {axis} of size {size} "
                f"(tensor shape {x.shape})."
            )
        )
    return _argsort(x, axis, False)
