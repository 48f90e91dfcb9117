"""Array building and rearranging (Keras's NumPy-named functions): splits and
stacks by axis name, flips and rotations, ``unique``, ``select``, ``cross``,
``vander``, ``geomspace``, ``unravel_index`` and ``vectorize``. Composites of the
shape, indexing and creation families.

>>> from nerve import ops
>>> ops.rot90(ops.convert_to_tensor([[1, 2], [3, 4]])).numpy()
array([[2, 4],
       [1, 3]], dtype=int32)
>>> ops.unique(ops.convert_to_tensor([3, 1, 3, 2])).numpy()
array([1, 2, 3], dtype=int32)
"""

from __future__ import annotations

import builtins
import math
import re
from collections.abc import Callable
from typing import Any

from nerve.core import dtypes
from nerve.core.errors import ShapeError, normalize_axis, with_location
from nerve.ops import _convert
from nerve.ops import elementwise as ew
from nerve.ops._convert import cast, promote, tensor
from nerve.ops.creation import arange, full, logspace, ones_like, zeros_like
from nerve.ops.indexing import argsort, diag, nonzero, take
from nerve.ops.reduction import any as any_
from nerve.ops.reduction import cumprod, cumsum
from nerve.ops.shape import (
    broadcast_to,
    concatenate,
    expand_dims,
    flip,
    moveaxis,
    reshape,
    split,
    stack,
    swapaxes,
    transpose,
)
from nerve.primitives import shape as shape_p
from nerve.primitives.rules import broadcast_shapes
from nerve.tensor import Tensor, convert_to_tensor

__all__ = [
    "array", "array_split", "cross", "diagflat", "dsplit", "dstack", "empty_like", "fliplr",
    "flipud", "geomspace", "get_item", "hsplit", "rearrange", "rot90", "select", "unique",
    "unravel_index", "vander", "vectorize", "view", "vsplit",
]  # fmt: skip


def array(x: Any, dtype: str | None = None) -> Tensor:
    """``x`` as a tensor (of ``dtype`` when given): Keras's NumPy-style constructor.

    >>> from nerve import ops
    >>> ops.array([1, 2], dtype="float32").numpy()
    array([1., 2.], dtype=float32)
    """
    return convert_to_tensor(x, dtype)


def view(x: Any, dtype: str | None = None) -> Tensor:
    """The bits of ``x`` read as ``dtype`` (NumPy's ``ndarray.view``): with another
    item size the last axis shrinks or grows by the ratio of the sizes. Not
    differentiable, as in Keras.

    >>> from nerve import ops
    >>> ops.view(ops.convert_to_tensor([1.0, -2.0]), "int32").numpy()
    array([ 1065353216, -1073741824], dtype=int32)
    >>> ops.view(ops.convert_to_tensor([1, 256], "int16"), "uint8").numpy()
    array([1, 0, 0, 1], dtype=uint8)
    """
    x = tensor(x)
    if dtype is None:
        return x
    try:
        dtype = dtypes.standardize_dtype(dtype)
    except TypeError as error:
        raise TypeError(with_location(f"view: {error}")) from None
    return x if dtype == x.dtype else shape_p.bitcast_p.bind(x, dtype=dtype)


def empty_like(x: Any, dtype: str | None = None) -> Tensor:
    """A tensor of ``x``'s shape and dtype (or ``dtype``); its values are zeros.

    >>> from nerve import ops
    >>> ops.empty_like(ops.ones((2, 3))).shape
    (2, 3)
    """
    return zeros_like(x, dtype=dtype)


def get_item(x: Any, key: Any) -> Tensor:
    """``x[key]``, as a function.

    >>> from nerve import ops
    >>> ops.get_item(ops.convert_to_tensor([[1, 2], [3, 4]]), (1, 0)).numpy()
    array(3, dtype=int32)
    """
    return tensor(x)[key]


# -- splits and stacks ------------------------------------------------------------------------


def array_split(x: Any, indices_or_sections: Any, axis: int = 0) -> list:
    """Like ``split``, but an int need not divide the axis: the first ``size %
    sections`` pieces get one entry more.

    >>> from nerve import ops
    >>> [t.shape for t in ops.array_split(ops.zeros((5,)), 3)]
    [(2,), (2,), (1,)]
    """
    x = tensor(x)
    if not isinstance(indices_or_sections, int):
        return split(x, indices_or_sections, axis=axis)
    sections = indices_or_sections
    if sections <= 0:
        raise ValueError(
            with_location(f"array_split: the number of sections must be positive, got {sections}.")
        )
    size = x.shape[normalize_axis(axis, x.ndim, "array_split")]
    base, extra = divmod(size, sections)
    bounds, start = [], 0
    for i in range(sections - 1):
        start += base + (1 if i < extra else 0)
        bounds.append(start)
    return split(x, bounds, axis=axis)


def _split_along(op: str, x: Any, indices_or_sections: Any, axis: int, min_ndim: int) -> list:
    x = tensor(x)
    if x.ndim < min_ndim:
        raise ShapeError(
            with_location(f"{op}: needs a tensor of rank >= {min_ndim}, got shape {x.shape}.")
        )
    return split(x, indices_or_sections, axis=axis)


def hsplit(x: Any, indices_or_sections: Any) -> list:
    """``split`` along the second axis (the first, for 1-D tensors).

    >>> from nerve import ops
    >>> [t.shape for t in ops.hsplit(ops.zeros((2, 4)), 2)]
    [(2, 2), (2, 2)]
    """
    x = tensor(x)
    return _split_along("hsplit", x, indices_or_sections, 1 if x.ndim > 1 else 0, 1)


def vsplit(x: Any, indices_or_sections: Any) -> list:
    """``split`` along the first axis of a tensor of rank >= 2.

    >>> from nerve import ops
    >>> [t.shape for t in ops.vsplit(ops.zeros((4, 2)), [1])]
    [(1, 2), (3, 2)]
    """
    return _split_along("vsplit", x, indices_or_sections, 0, 2)


def dsplit(x: Any, indices_or_sections: Any) -> list:
    """``split`` along the third axis of a tensor of rank >= 3.

    >>> from nerve import ops
    >>> [t.shape for t in ops.dsplit(ops.zeros((1, 2, 4)), 2)]
    [(1, 2, 2), (1, 2, 2)]
    """
    return _split_along("dsplit", x, indices_or_sections, 2, 3)


def dstack(xs: Any) -> Tensor:
    """Stack along the third axis: 1-D tensors of length n count as (1, n, 1), 2-D
    ones as (m, n, 1).

    >>> from nerve import ops
    >>> ops.dstack([[1, 2], [3, 4]]).numpy()
    array([[[1, 3],
            [2, 4]]], dtype=int32)
    """
    parts = promote(*xs)
    shaped = []
    for part in parts:
        if part.ndim == 0:
            part = reshape(part, (1, 1, 1))
        elif part.ndim == 1:
            part = reshape(part, (1, part.shape[0], 1))
        elif part.ndim == 2:
            part = expand_dims(part, -1)
        shaped.append(part)
    return concatenate(shaped, axis=2)


def diagflat(x: Any, k: int = 0) -> Tensor:
    """A square matrix with the flattened ``x`` on its ``k``-th diagonal.

    >>> from nerve import ops
    >>> ops.diagflat([[1, 2]]).numpy()
    array([[1, 0],
           [0, 2]], dtype=int32)
    """
    x = tensor(x)
    return diag(reshape(x, (x.size,)), k=k)


# -- flips and rotations ----------------------------------------------------------------------


def fliplr(x: Any) -> Tensor:
    """Reverse the second axis (columns) of a tensor of rank >= 2.

    >>> from nerve import ops
    >>> ops.fliplr(ops.convert_to_tensor([[1, 2], [3, 4]])).numpy()
    array([[2, 1],
           [4, 3]], dtype=int32)
    """
    x = tensor(x)
    if x.ndim < 2:
        raise ShapeError(with_location(f"fliplr: needs rank >= 2, got shape {x.shape}."))
    return flip(x, axis=1)


def flipud(x: Any) -> Tensor:
    """Reverse the first axis (rows) of a tensor of rank >= 1.

    >>> from nerve import ops
    >>> ops.flipud(ops.convert_to_tensor([1, 2, 3])).numpy()
    array([3, 2, 1], dtype=int32)
    """
    x = tensor(x)
    if x.ndim < 1:
        raise ShapeError(with_location("flipud: needs rank >= 1, got a scalar."))
    return flip(x, axis=0)


def rot90(array: Any, k: int = 1, axes: tuple = (0, 1)) -> Tensor:
    """Rotate by ``k`` quarter turns in the plane of ``axes``, from the first axis
    towards the second (``k`` may be negative).

    >>> from nerve import ops
    >>> ops.rot90(ops.convert_to_tensor([[1, 2], [3, 4]]), k=2).numpy()
    array([[4, 3],
           [2, 1]], dtype=int32)
    """
    x = tensor(array)
    if x.ndim < 2:
        raise ValueError(
            with_location(f"rot90: the input must have at least 2 dimensions, got shape {x.shape}.")
        )
    axes = tuple(axes)
    if len(axes) != 2:
        raise ValueError(with_location(f"rot90: axes must be two axes, got {axes}."))
    first, second = (normalize_axis(a, x.ndim, "rot90") for a in axes)
    if first == second:
        raise ValueError(with_location(f"rot90: axes must be two different axes, got {axes}."))
    k %= 4
    if k == 1:
        return swapaxes(flip(x, axis=second), first, second)
    if k == 2:
        return flip(flip(x, axis=first), axis=second)
    if k == 3:
        return flip(swapaxes(x, first, second), axis=second)
    return x


# -- selection and sets -----------------------------------------------------------------------


def select(condlist: Any, choicelist: Any, default: Any = 0) -> Tensor:
    """Elementwise, the entry of the first ``choicelist[i]`` whose ``condlist[i]``
    holds; ``default`` where none does.

    >>> from nerve import ops
    >>> x = ops.convert_to_tensor([-2, 0, 3])
    >>> ops.select([x < 0, x > 0], [-x, x * 10], default=7).numpy()
    array([ 2,  7, 30], dtype=int32)
    """
    if not isinstance(condlist, (list, tuple)) or not isinstance(choicelist, (list, tuple)):
        raise TypeError(with_location("select: condlist and choicelist must be lists of tensors."))
    if len(condlist) != len(choicelist):
        raise ValueError(
            with_location(
                f"select: condlist has {len(condlist)} entries but choicelist has "
                f"{len(choicelist)}; they must pair up."
            )
        )
    if not condlist:
        raise ValueError(with_location("select: condlist and choicelist must not be empty."))
    *choices, fallback = promote(*choicelist, default)
    result = fallback
    # The last condition first, so that earlier ones take precedence.
    for condition, choice in zip(reversed(condlist), reversed(choices)):
        result = ew.where(condition, choice, result)
    return result


def unique(
    x: Any,
    sorted: bool = True,
    return_index: bool = False,
    return_inverse: bool = False,
    return_counts: bool = False,
    axis: int | None = None,
    size: int | None = None,
    fill_value: Any = None,
) -> Any:
    """The distinct entries of ``x`` in increasing order (of the flattened tensor, or
    the distinct slices along ``axis``), and on request: the position of each one's
    first occurrence (``return_index``), which one each entry of ``x`` is
    (``return_inverse``), and how often each occurs (``return_counts``). ``size``
    pads (with ``fill_value``, default the smallest value; indices with the first
    value's, counts with 0, as JAX does) or truncates the result to that length,
    which fixes its shape; without it the shape depends on the values, so it cannot be
    traced.

    >>> from nerve import ops
    >>> values, counts = ops.unique(ops.convert_to_tensor([2, 1, 2, 2]), return_counts=True)
    >>> values.numpy(), counts.numpy()
    (array([1, 2], dtype=int32), array([1, 3], dtype=int32))
    """
    x = tensor(x)
    if axis is None:
        data = reshape(x, (x.size, 1))
        moved = reshape(x, (x.size,))
        axis_ = 0
    else:
        axis_ = normalize_axis(axis, x.ndim, "unique")
        moved = moveaxis(x, axis_, 0)
        data = reshape(moved, (moved.shape[0], math.prod(moved.shape[1:])))
    n = data.shape[0]
    # Lexicographic order of the rows: stable sorts by each column, last column first.
    order = arange(n, dtype="int32")
    for column in range(data.shape[1] - 1, -1, -1):
        order = take(order, argsort(take(data[:, column], order)))
    rows = take(data, order, axis=0)
    if n:
        changed = any_(ew.not_equal(rows[1:], rows[:-1]), axis=1)
        new = concatenate([convert_to_tensor([True]), changed], axis=0)
    else:
        new = convert_to_tensor([], "bool")
    starts = nonzero(new)[0]
    values = take(take(moved, order, axis=0), starts, axis=0)
    if axis is not None:
        values = moveaxis(values, 0, axis_)
    outputs = [values]
    if return_index:
        outputs.append(take(order, starts))
    if return_inverse:
        group = ew.subtract(cumsum(cast(new, "int32")), 1)
        inverse = take(group, argsort(order))
        outputs.append(reshape(inverse, x.shape) if axis is None else inverse)
    if return_counts:
        ends = concatenate([starts[1:], convert_to_tensor([n], "int32")], axis=0)
        outputs.append(ew.subtract(ends, starts))
    if size is not None:
        outputs = _to_size(outputs, size, fill_value, axis_ if axis is not None else 0,
                           return_index, return_counts)  # fmt: skip
    return outputs[0] if len(outputs) == 1 else tuple(outputs)


def _to_size(outputs: list, size: int, fill_value: Any, axis: int, has_index: bool,
             has_counts: bool) -> list:  # fmt: skip
    """Pad or truncate ``unique``'s values (and indices and counts) to ``size``."""
    values = outputs[0]
    count = values.shape[axis]
    resized = []
    for i, out in enumerate(outputs):
        is_inverse = i > 0 and not (i == 1 and has_index) and not (i == len(outputs) - 1
                                                                   and has_counts)  # fmt: skip
        if is_inverse:
            resized.append(out)
            continue
        along = axis if i == 0 else 0
        if count >= size:
            key = (builtins.slice(None),) * along + (builtins.slice(0, size),)
            resized.append(out[key])
            continue
        shape = list(out.shape)
        shape[along] = size - count
        if i == 0:
            fill = fill_value
            if fill is None:
                fill = take(reshape(out, (out.size,)), convert_to_tensor([0]))[0] if out.size else 0
        elif i == 1 and has_index:
            # As in JAX: padded entries point where the first value first occurs.
            fill = out[0] if out.size else 0
        else:
            fill = 0
        padding = full(tuple(shape), fill, dtype=out.dtype)
        resized.append(concatenate([out, padding], axis=along))
    return resized


def unravel_index(indices: Any, shape: Any) -> tuple:
    """Flat positions into a tensor of ``shape`` as a tuple of coordinate tensors (one
    per axis, ``indices``' dtype).

    >>> from nerve import ops
    >>> rows, cols = ops.unravel_index(ops.convert_to_tensor([5, 7]), (3, 4))
    >>> rows.numpy(), cols.numpy()
    (array([1, 1], dtype=int32), array([1, 3], dtype=int32))
    """
    indices = tensor(indices)
    if not dtypes.is_int(indices.dtype):
        raise TypeError(
            with_location(f"unravel_index: indices must be integers, got dtype {indices.dtype}.")
        )
    shape = tuple(int(d) for d in shape)
    coordinates = []
    remaining = indices
    for extent in reversed(shape):
        coordinates.append(ew.mod(remaining, extent))
        remaining = ew.floor_divide(remaining, extent)
    return tuple(reversed(coordinates))


# -- constructions ----------------------------------------------------------------------------


def vander(x: Any, N: int | None = None, increasing: bool = False) -> Tensor:
    """The Vandermonde matrix of the 1-D ``x``: column ``j`` is ``x ** (N - 1 - j)``
    (``x ** j`` with ``increasing``); ``N`` defaults to ``len(x)``.

    >>> from nerve import ops
    >>> ops.vander(ops.convert_to_tensor([1, 2, 3]), N=3).numpy()
    array([[1, 1, 1],
           [4, 2, 1],
           [9, 3, 1]], dtype=int32)
    """
    x = tensor(x)
    if x.ndim != 1:
        raise ValueError(with_location(f"vander: x must be 1-D, got shape {x.shape}."))
    columns = x.shape[0] if N is None else int(N)
    if columns < 0:
        raise ValueError(with_location(f"vander: N must be non-negative, got {N}."))
    if columns == 0:
        return reshape(x[:0], (x.shape[0], 0)) if x.shape[0] else zeros_like(x)[:0]
    # Running products [1, x, x*x, ...]: exact for integers, and the gradient of x**0
    # at x == 0 stays finite.
    factors = [ones_like(x)] + [x] * (columns - 1)
    powers = cumprod(stack(factors, axis=1), axis=1)
    return powers if increasing else flip(powers, axis=1)


def geomspace(
    start: Any,
    stop: Any,
    num: int = 50,
    endpoint: bool = True,
    dtype: str | None = None,
    axis: int = 0,
) -> Tensor:
    """``num`` numbers from ``start`` to ``stop`` spaced evenly on a log scale (a
    geometric progression); both must be nonzero and of one sign (a zero tensor gives
    NaN: its check would need the values, which a traced program does not have).

    >>> from nerve import ops
    >>> ops.geomspace(1.0, 1000.0, num=4).numpy()
    array([   1.,   10.,  100., 1000.], dtype=float32)
    """
    if any(isinstance(v, (int, float)) and v == 0 for v in (start, stop)):
        raise ValueError(with_location("geomspace: start and stop must be nonzero."))
    start, stop = promote(start, stop, extra=(float,))
    sign = ew.sign(start)
    low, high = ew.log10(ew.abs(start)), ew.log10(ew.abs(stop))
    out = logspace(low, high, num=num, endpoint=endpoint, dtype=dtype, axis=axis)
    out = ew.multiply(out, _along_new_axis(cast(sign, out.dtype), out, axis))  # keeps dtype
    # The ends exactly as given, as in NumPy.
    if num > 0:
        axis_ = normalize_axis(axis, out.ndim, "geomspace")
        pieces = split(out, [1, num - 1] if endpoint and num > 1 else [1], axis=axis_)
        pieces[0] = _along_new_axis(cast(start, out.dtype), out, axis_)
        if endpoint and num > 1:
            pieces[-1] = _along_new_axis(cast(stop, out.dtype), out, axis_)
        out = concatenate(pieces, axis=axis_)
    return out


def _along_new_axis(value: Tensor, like: Tensor, axis: int) -> Tensor:
    """``value`` (the shape of ``like`` without ``axis``) with ``axis`` restored as 1."""
    axis = normalize_axis(axis, like.ndim, "geomspace")
    return expand_dims(broadcast_to(value, like.shape[:axis] + like.shape[axis + 1 :]), axis)


def cross(
    x1: Any, x2: Any, axisa: int = -1, axisb: int = -1, axisc: int = -1, axis: int | None = None
) -> Tensor:
    """Cross product of 2- or 3-vectors along ``axisa`` of ``x1`` and ``axisb`` of
    ``x2`` (``axis`` sets all three), broadcasting the other axes; the result's
    vector axis is ``axisc``. Two 2-vectors give the scalar z component.

    >>> from nerve import ops
    >>> ops.cross([1.0, 0.0, 0.0], [0.0, 1.0, 0.0]).numpy()
    array([0., 0., 1.], dtype=float32)
    """
    if axis is not None:
        axisa = axisb = axisc = axis
    a, b = promote(x1, x2)
    a = moveaxis(a, normalize_axis(axisa, a.ndim, "cross"), -1)
    b = moveaxis(b, normalize_axis(axisb, b.ndim, "cross"), -1)
    if a.shape[-1] not in (2, 3) or b.shape[-1] not in (2, 3):
        raise ValueError(
            with_location(
                f"cross: the vector axes must have length 2 or 3, got {a.shape[-1]} and "
                f"{b.shape[-1]} (shapes {a.shape} and {b.shape})."
            )
        )
    a_parts = [a[..., i] for i in range(a.shape[-1])]
    b_parts = [b[..., i] for i in range(b.shape[-1])]
    z = ew.subtract(ew.multiply(a_parts[0], b_parts[1]), ew.multiply(a_parts[1], b_parts[0]))
    if len(a_parts) == 2 and len(b_parts) == 2:
        return z
    zero = ew.multiply(a_parts[0], 0)
    ax, ay, az = a_parts if len(a_parts) == 3 else (*a_parts, zero)
    bx, by, bz = b_parts if len(b_parts) == 3 else (*b_parts, ew.multiply(b_parts[0], 0))
    x = ew.subtract(ew.multiply(ay, bz), ew.multiply(az, by))
    y = ew.subtract(ew.multiply(az, bx), ew.multiply(ax, bz))
    shape = ew.add(x, z).shape
    result = stack([broadcast_to(c, shape) for c in (x, y, z)], axis=-1)
    return moveaxis(result, -1, normalize_axis(axisc, result.ndim, "cross"))


# -- vectorize ----------------------------------------------------------------------------------

_SIGNATURE = re.compile(r"^\((.*?)\)(?:,\((.*?)\))*->.*$")


def _core_ranks(signature: str) -> list[int]:
    """Core ranks of the inputs of a gufunc signature like ``"(n),(n)->()"``."""
    inputs = signature.replace(" ", "").split("->")[0]
    if not _SIGNATURE.match(signature.replace(" ", "")):
        raise ValueError(with_location(f"vectorize: cannot read the signature {signature!r}."))
    groups = re.findall(r"\((.*?)\)", inputs)
    return [len([d for d in g.split(",") if d]) for g in groups]


def vectorize(pyfunc: Callable, *, excluded: Any = None, signature: str | None = None) -> Callable:
    """``pyfunc`` mapped over the broadcast leading axes of its tensor arguments: each
    call sees one element (or, with a ``signature`` like ``"(n),(n)->()"``, one slice
    of the core shape), and the results are stacked. ``excluded`` names positions or
    keywords passed through unchanged. Differentiable (a loop of slices and a stack).

    >>> from nerve import ops
    >>> f = ops.vectorize(lambda a, b: a + 2 * b)
    >>> f(ops.convert_to_tensor([1, 2]), 10).numpy()
    array([21, 22], dtype=int32)
    """
    excluded = set(excluded or ())
    ranks = _core_ranks(signature) if signature is not None else None

    def vectorized(*args: Any, **kwargs: Any) -> Any:
        positions = [i for i in range(len(args)) if i not in excluded]
        tensors = [tensor(args[i]) for i in positions]
        core = ranks if ranks is not None else [0] * len(tensors)
        if len(core) != len(tensors):
            raise ValueError(
                with_location(
                    f"vectorize: the signature has {len(core)} inputs, the call {len(tensors)}."
                )
            )
        loops = [t.shape[: t.ndim - c] for t, c in zip(tensors, core)]
        loop_shape = broadcast_shapes("vectorize", *loops) if loops else ()
        tensors = [broadcast_to(t, loop_shape + t.shape[t.ndim - c :])
                   for t, c in zip(tensors, core)]  # fmt: skip
        flat = [reshape(t, (math.prod(loop_shape), *t.shape[len(loop_shape) :])) for t in tensors]
        results = []
        for i in range(math.prod(loop_shape)):
            call = list(args)
            for p, t in zip(positions, flat):
                call[p] = t[i]
            results.append(tensor(pyfunc(*call, **kwargs)))
        if not results:
            raise ValueError(with_location("vectorize: cannot infer the result of an empty loop."))
        out = stack(results, axis=0)
        return reshape(out, loop_shape + out.shape[1:])

    vectorized.__name__ = getattr(pyfunc, "__name__", "vectorized")
    vectorized.__doc__ = pyfunc.__doc__
    return vectorized


# -- rearrange (einops) -------------------------------------------------------------------------

_TOKEN = re.compile(r"\(([^()]*)\)|([A-Za-z_]\w*)|(\S)")


def _groups(side: str, pattern: str) -> list[list[str]]:
    """One side of an einops pattern as groups of axis names: ``"b (h w) c"`` ->
    ``[["b"], ["h", "w"], ["c"]]``."""
    groups = []
    for group, name, other in _TOKEN.findall(side):
        if other:
            raise ValueError(
                with_location(f"rearrange: cannot read {other!r} in the pattern {pattern!r}.")
            )
        groups.append(group.split() if group or not name else [name])
    return groups


def rearrange(tensor: Any, pattern: str, **axes_lengths: int) -> Tensor:
    """Reorder, split and merge axes by an einops pattern such as
    ``"b (h w) c -> b h w c"``: names on the left label the input's axes (a group in
    parentheses splits one axis, with all but one of its sizes given as keywords),
    and the right side lists them in their new order (a group merges them).

    >>> from nerve import ops
    >>> ops.rearrange(ops.zeros((2, 6, 3)), "b (h w) c -> b c h w", h=2).shape
    (2, 3, 2, 3)
    >>> images = ops.zeros((2, 4, 4, 3))
    >>> ops.rearrange(images, "b (h h1) (w w1) c -> b h w (c h1 w1)", h1=2, w1=2).shape
    (2, 2, 2, 12)
    """
    x = _convert.tensor(tensor)  # the argument is named as in Keras, hiding the function
    if pattern.count("->") != 1:
        raise ValueError(with_location(f"rearrange: the pattern needs one '->', got {pattern!r}."))
    left, right = pattern.split("->")
    inputs, outputs = _groups(left, pattern), _groups(right, pattern)
    if len(inputs) != x.ndim:
        raise ValueError(
            with_location(
                f"rearrange: the pattern {pattern!r} names {len(inputs)} input axes, but the "
                f"tensor has shape {x.shape}."
            )
        )
    names = [n for group in inputs for n in group]
    produced = [n for group in outputs for n in group]
    if sorted(names) != sorted(produced) or len(set(names)) != len(names):
        raise ValueError(
            with_location(
                f"rearrange: both sides of {pattern!r} must name the same axes, each once "
                f"(left {names}, right {produced})."
            )
        )
    sizes = _axis_sizes(inputs, x.shape, axes_lengths, pattern)
    x = reshape(x, tuple(sizes[n] for n in names))
    x = transpose(x, tuple(names.index(n) for n in produced))
    return reshape(x, tuple(math.prod(sizes[n] for n in group) for group in outputs))


def _axis_sizes(inputs: list, shape: tuple, given: dict, pattern: str) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for group, extent in zip(inputs, shape):
        unknown = [n for n in group if n not in given]
        known = math.prod(int(given[n]) for n in group if n in given)
        if len(unknown) > 1:
            raise ValueError(
                with_location(
                    f"rearrange: the group {group} of {pattern!r} leaves {unknown} unknown; "
                    "give all but one of its sizes as keywords."
                )
            )
        if (unknown and (known == 0 or extent % known)) or (not unknown and known != extent):
            raise ValueError(
                with_location(
                    f"rearrange: an axis of size {extent} cannot split into {group} with "
                    f"{ {n: given[n] for n in group if n in given} } in {pattern!r}."
                )
            )
        for n in group:
            sizes[n] = int(given[n]) if n in given else extent // known
    return sizes
