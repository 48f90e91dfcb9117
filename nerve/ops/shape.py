"""Shape manipulation (Keras names and arguments).

>>> from nerve import ops
>>> ops.reshape(ops.arange(6), (2, -1)).shape
(2, 3)
>>> ops.transpose(ops.zeros((2, 3, 4))).shape
(4, 3, 2)
"""

from __future__ import annotations

import itertools
import math
from typing import Any

from nerve.core.errors import ShapeError, normalize_axes, normalize_axis, with_location
from nerve.core.symbolic import as_dim
from nerve.ops._convert import promote, tensor
from nerve.primitives import indexing as ip
from nerve.primitives import shape as sp
from nerve.tensor import Tensor, convert_to_tensor

__all__ = [
    "append",
    "broadcast_to",
    "concatenate",
    "expand_dims",
    "flip",
    "hstack",
    "kron",
    "meshgrid",
    "moveaxis",
    "pad",
    "ravel",
    "repeat",
    "reshape",
    "roll",
    "split",
    "squeeze",
    "stack",
    "swapaxes",
    "tile",
    "transpose",
    "unstack",
    "vstack",
]


def _resolve_shape(x: Tensor, new_shape: Any) -> tuple:
    if isinstance(new_shape, int):
        new_shape = (new_shape,)
    new_shape = tuple(as_dim(d) for d in new_shape)
    if any(isinstance(d, int) and d < -1 for d in new_shape):
        raise ShapeError(
            with_location(
                "reshape: each entry of the new shape must be a non-negative integer or -1 "
                f"(one unknown dimension), got newshape={new_shape}."
            )
        )
    unknown = [i for i, d in enumerate(new_shape) if d == -1]
    if len(unknown) > 1:
        raise ShapeError(
            with_location(
                f"reshape: at most one unknown dimension (-1) is allowed, got newshape={new_shape}."
            )
        )
    if unknown:
        known = math.prod(d for d in new_shape if d != -1)
        if known == 0 or x.size % known:
            raise ShapeError(
                with_location(
                    f"reshape: cannot reshape a tensor of shape {x.shape} ({x.size} elements) "
                    f"into shape {new_shape}."
                )
            )
        new_shape = tuple(x.size // known if d == -1 else d for d in new_shape)
    return new_shape


def reshape(x: Any, new_shape: Any) -> Tensor:
    """The same values in ``new_shape`` (one entry may be -1)."""
    x = tensor(x)
    return sp.reshape(x, _resolve_shape(x, new_shape))


def transpose(x: Any, axes: Any = None) -> Tensor:
    """Permute axes (reverse them when ``axes`` is ``None``)."""
    x = tensor(x)
    if axes is None:
        axes = tuple(reversed(range(x.ndim)))
    else:
        axes = tuple(normalize_axis(a, x.ndim, "transpose") for a in axes)
    return sp.transpose(x, axes)


def broadcast_to(x: Any, shape: Any) -> Tensor:
    """Broadcast ``x`` to ``shape`` (NumPy rules)."""
    return sp.broadcast_to(tensor(x), tuple(as_dim(d) for d in shape))


def expand_dims(x: Any, axis: Any) -> Tensor:
    """Insert size-1 axes at ``axis`` (an int or a tuple of ints)."""
    x = tensor(x)
    count = len(axis) if isinstance(axis, (list, tuple)) else 1
    axes = sorted(normalize_axes(axis, x.ndim + count, "expand_dims"))
    shape = list(x.shape)
    for a in axes:
        shape.insert(a, 1)
    return sp.reshape(x, tuple(shape))


def squeeze(x: Any, axis: Any = None) -> Tensor:
    """Remove size-1 axes (all of them, or those in ``axis``)."""
    x = tensor(x)
    if axis is None:
        axes = {i for i, d in enumerate(x.shape) if d == 1}
    else:
        axes = set(normalize_axes(axis, x.ndim, "squeeze"))
        for a in axes:
            if x.shape[a] != 1:
                raise ShapeError(
                    with_location(
                        f"squeeze: axis {a} of a tensor of shape {x.shape} has size "
                        f"{x.shape[a]}, not 1."
                    )
                )
    return sp.reshape(x, tuple(d for i, d in enumerate(x.shape) if i not in axes))


def ravel(x: Any) -> Tensor:
    """``x`` flattened to one axis (row-major)."""
    x = tensor(x)
    return sp.reshape(x, (x.size,))


def moveaxis(x: Any, source: Any, destination: Any) -> Tensor:
    """Move axes ``source`` to positions ``destination`` (ints or sequences of ints).

    >>> from nerve import ops
    >>> ops.moveaxis(ops.zeros((2, 3, 4)), 0, -1).shape
    (3, 4, 2)
    """
    x = tensor(x)
    source = normalize_axes(source, x.ndim, "moveaxis")
    destination = normalize_axes(destination, x.ndim, "moveaxis")
    if len(source) != len(destination):
        raise ShapeError(
            with_location(
                f"moveaxis: source {source} and destination {destination} must have the "
                "same number of axes."
            )
        )
    order = [a for a in range(x.ndim) if a not in source]
    for dest, src in sorted(zip(destination, source)):
        order.insert(dest, src)
    return sp.transpose(x, tuple(order))


def swapaxes(x: Any, axis1: int, axis2: int) -> Tensor:
    """Exchange two axes."""
    x = tensor(x)
    axes = list(range(x.ndim))
    a = normalize_axis(axis1, x.ndim, "swapaxes")
    b = normalize_axis(axis2, x.ndim, "swapaxes")
    axes[a], axes[b] = axes[b], axes[a]
    return sp.transpose(x, tuple(axes))


def concatenate(xs: Any, axis: int | None = 0) -> Tensor:
    """Join tensors along an existing ``axis`` (flattened first when ``axis`` is ``None``).

    >>> from nerve import ops
    >>> ops.concatenate([ops.zeros((2, 3)), ops.ones((1, 3))]).shape
    (3, 3)
    """
    xs = list(xs)
    if not xs:
        raise ValueError(with_location("concatenate: needs at least one tensor."))
    xs = promote(*xs)
    if axis is None:
        xs = [ravel(x) for x in xs]
        axis = 0
    ndim = xs[0].ndim
    if ndim == 0:
        raise ShapeError(with_location("concatenate: cannot join scalars (rank-0 tensors)."))
    return sp.concatenate(xs, normalize_axis(axis, ndim, "concatenate"))


def stack(x: Any, axis: int = 0) -> Tensor:
    """Join tensors of one shape along a new ``axis``.

    >>> from nerve import ops
    >>> ops.stack([ops.zeros((2,)), ops.ones((2,))], axis=1).shape
    (2, 2)
    """
    xs = promote(*x) if len(x) else []
    if not xs:
        raise ValueError(with_location("stack: needs at least one tensor."))
    shapes = {t.shape for t in xs}
    if len(shapes) > 1:
        raise ShapeError(
            with_location(f"stack: all inputs must have one shape, got {sorted(shapes)}.")
        )
    axis = normalize_axis(axis, xs[0].ndim + 1, "stack")
    return sp.concatenate([expand_dims(t, axis) for t in xs], axis)


def split(x: Any, indices_or_sections: Any, axis: int = 0) -> list:
    """Split along ``axis`` into equal sections (an int) or at the given indices.

    >>> from nerve import ops
    >>> [t.shape for t in ops.split(ops.zeros((5, 2)), [1, 3])]
    [(1, 2), (2, 2), (2, 2)]
    """
    x = tensor(x)
    axis = normalize_axis(axis, x.ndim, "split")
    size = x.shape[axis]
    if isinstance(indices_or_sections, int):
        sections = indices_or_sections
        if sections <= 0 or size % sections:
            raise ShapeError(
                with_location(
                    f"split: axis {axis} of size {size} (tensor shape {x.shape}) cannot be split "
                    f"into {sections} equal sections; pass a divisor of {size} or a list of "
                    "split indices."
                )
            )
        bounds = [i * (size // sections) for i in range(sections + 1)]
    else:
        points = [int(i) for i in indices_or_sections]
        # Split points clamp to the axis, as in NumPy.
        bounds = [0, *(min(max(p + size if p < 0 else p, 0), size) for p in points), size]
    # Points past one another give empty pieces, as in NumPy.
    bounds = list(itertools.accumulate(bounds, max))
    if len(bounds) == 2:
        return [x]
    return sp.split(x, axis, tuple(bounds))


def flip(x: Any, axis: Any = None) -> Tensor:
    """Reverse the order of elements along ``axis`` (all axes when ``None``)."""
    x = tensor(x)
    axes = normalize_axes(axis, x.ndim, "flip")
    if not axes:
        return x
    reverse = ("slice", None, None, -1)
    return ip.getitem(x, tuple(reverse if a in axes else ip.FULL for a in range(x.ndim)))


def roll(x: Any, shift: Any, axis: Any = None) -> Tensor:
    """Shift elements cyclically by ``shift`` along ``axis`` (of the flattened ``x`` if ``None``).

    >>> from nerve import ops
    >>> ops.roll(ops.arange(5), 2).numpy()
    array([3, 4, 0, 1, 2], dtype=int32)
    """
    x = tensor(x)
    if axis is None:
        return reshape(roll(ravel(x), shift, 0), x.shape)
    shifts = (shift,) if isinstance(shift, int) else tuple(shift)
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    if len(shifts) == 1:
        shifts = shifts * len(axes)
    if len(axes) == 1:
        axes = axes * len(shifts)
    if len(shifts) != len(axes):
        raise ShapeError(
            with_location(f"roll: shift {shift} and axis {axis} have different lengths.")
        )
    for s, a in zip(shifts, axes):
        a = normalize_axis(a, x.ndim, "roll")
        n = x.shape[a]
        s = int(s) % n if n else 0
        if s:
            tail = ip.getitem(x, ip.along(a, ("slice", n - s, n, None)))
            head = ip.getitem(x, ip.along(a, ("slice", 0, n - s, None)))
            x = sp.concatenate([tail, head], a)
    return x


def tile(x: Any, repeats: Any) -> Tensor:
    """Repeat the whole of ``x`` ``repeats[i]`` times along axis ``i``.

    >>> from nerve import ops
    >>> ops.tile(ops.convert_to_tensor([1, 2]), 2).numpy()
    array([1, 2, 1, 2], dtype=int32)
    """
    x = tensor(x)
    reps = [int(repeats)] if isinstance(repeats, int) else [int(r) for r in repeats]
    if any(r < 0 for r in reps):
        raise ValueError(with_location(f"tile: repeats must be non-negative, got {reps}."))
    ndim = max(x.ndim, len(reps))
    reps = [1] * (ndim - len(reps)) + reps
    shape = (1,) * (ndim - x.ndim) + x.shape
    # (d0, d1) -> (1, d0, 1, d1) -> (r0, d0, r1, d1) -> (r0*d0, r1*d1)
    interleaved = tuple(v for d in shape for v in (1, d))
    spread = tuple(v for r, d in zip(reps, shape) for v in (r, d))
    x = sp.broadcast_to(sp.reshape(x, interleaved), spread)
    return sp.reshape(x, tuple(r * d for r, d in zip(reps, shape)))


def repeat(x: Any, repeats: Any, axis: int | None = None) -> Tensor:
    """Repeat each element ``repeats`` times (an int, or one count per element) along
    ``axis`` (of the flattened ``x`` if ``None``).

    >>> from nerve import ops
    >>> ops.repeat(ops.convert_to_tensor([1, 2]), [1, 3]).numpy()
    array([1, 2, 2, 2], dtype=int32)
    """
    x = tensor(x)
    if axis is None:
        x = ravel(x)
        axis = 0
    axis = normalize_axis(axis, x.ndim, "repeat")
    n = x.shape[axis]
    counts = repeats.tolist() if isinstance(repeats, Tensor) else repeats
    if not isinstance(counts, int):
        counts = [int(c) for c in counts]
        if len(counts) == 1:
            counts = counts[0]
        elif len(counts) != n:
            raise ShapeError(
                with_location(
                    f"repeat: {len(counts)} repeat counts for axis {axis} of size {n} "
                    f"(tensor shape {x.shape}); pass one count or one per element."
                )
            )
    if isinstance(counts, int):
        if counts < 0:
            raise ValueError(with_location(f"repeat: repeats must be non-negative, got {counts}."))
        # (.., n, ..) -> (.., n, 1, ..) -> (.., n, r, ..) -> (.., n*r, ..)
        inner = (*x.shape[: axis + 1], 1, *x.shape[axis + 1 :])
        spread = (*x.shape[: axis + 1], counts, *x.shape[axis + 1 :])
        merged = (*x.shape[:axis], n * counts, *x.shape[axis + 1 :])
        return sp.reshape(sp.broadcast_to(sp.reshape(x, inner), spread), merged)
    if any(c < 0 for c in counts):
        raise ValueError(with_location(f"repeat: repeats must be non-negative, got {counts}."))
    positions = [i for i, c in enumerate(counts) for _ in range(c)]
    return _gather(x, axis, positions)


def _gather(x: Tensor, axis: int, positions: list) -> Tensor:
    """``x`` at Python-computed ``positions`` along ``axis``."""
    index = convert_to_tensor(positions, "int32")
    return ip.getitem(x, ip.along(axis, ("array", 0)), (index,))


_PAD_MODES = ("constant", "reflect", "symmetric")


def _pad_width(x: Tensor, pad_width: Any) -> tuple[tuple[int, int], ...]:
    """``pad_width`` as one (before, after) pair per axis, NumPy's shorthands allowed."""
    pairs: tuple[tuple[int, int], ...] | None
    try:
        given: list[tuple[Any, ...]]
        if isinstance(pad_width, int):
            given = [(pad_width, pad_width)] * x.ndim
        else:
            if all(isinstance(r, int) for r in pad_width):
                pad_width = [pad_width]  # (before, after), or (both,), for every axis
            rows = [tuple(r) * 2 if len(r) == 1 else tuple(r) for r in pad_width]
            given = rows * x.ndim if len(rows) == 1 else rows
        pairs = tuple((int(lo), int(hi)) for lo, hi in given)
    except (TypeError, ValueError):
        pairs = None
    if pairs is None or len(pairs) != x.ndim or any(lo < 0 or hi < 0 for lo, hi in pairs):
        raise ShapeError(
            with_location(
                f"pad: invalid pad_width {pad_width!r} for a tensor of shape {x.shape}; pass "
                "one non-negative (before, after) pair per axis, one pair for all axes, or "
                "an int."
            )
        )
    return pairs


def _mirror(i: int, n: int, mode: str) -> int:
    """Source position of padded position ``i`` (may be outside 0..n-1) when mirroring."""
    if mode == "reflect":  # the edge is not repeated: period 2(n - 1)
        if n == 1:
            return 0
        period = 2 * (n - 1)
        j = i % period
        return period - j if j >= n else j
    period = 2 * n  # symmetric: the edge is repeated
    j = i % period
    return period - 1 - j if j >= n else j


def pad(x: Any, pad_width: Any, mode: str = "constant", constant_values: Any = None) -> Tensor:
    """Pad ``x``: with ``constant_values`` (default 0), or by mirroring (``"reflect"``
    excludes the edge, ``"symmetric"`` repeats it).

    >>> from nerve import ops
    >>> ops.pad(ops.convert_to_tensor([1, 2, 3]), (2, 1), mode="reflect").numpy()
    array([3, 2, 1, 2, 3, 2], dtype=int32)
    """
    x = tensor(x)
    pairs = _pad_width(x, pad_width)
    if mode not in _PAD_MODES:
        raise ValueError(with_location(f"pad: mode must be one of {_PAD_MODES}, got {mode!r}."))
    if mode == "constant":
        value = 0 if constant_values is None else constant_values
        if isinstance(value, Tensor):
            value = value.item()
        if not any(lo or hi for lo, hi in pairs):
            return x
        return sp.pad_p.bind(x, pad_width=pairs, value=value)
    if constant_values is not None:
        raise ValueError(
            with_location(
                "pad: Argument `constant_values` can only be provided when "
                f"`mode == 'constant'`, got mode={mode!r}."
            )
        )
    for axis, (lo, hi) in enumerate(pairs):
        if not lo and not hi:
            continue
        n = x.shape[axis]
        if n == 0:
            raise ShapeError(
                with_location(
                    f"pad: cannot pad the empty axis {axis} of shape {x.shape} in {mode} mode."
                )
            )
        x = _gather(x, axis, [_mirror(i, n, mode) for i in range(-lo, n + hi)])
    return x


def hstack(xs: Any) -> Tensor:
    """Join tensors column-wise: along axis 1, or axis 0 when they are 1-D (scalars count
    as 1-D).

    >>> from nerve import ops
    >>> ops.hstack([ops.zeros((2, 1)), ops.ones((2, 3))]).shape
    (2, 4)
    """
    xs = [tensor(x) for x in xs]
    xs = [reshape(x, (1,)) if x.ndim == 0 else x for x in xs]
    return concatenate(xs, axis=0 if xs and xs[0].ndim == 1 else 1)


def vstack(xs: Any) -> Tensor:
    """Join tensors row-wise along axis 0; 1-D tensors (and scalars) become rows first.

    >>> from nerve import ops
    >>> ops.vstack([ops.zeros((3,)), ops.ones((3,))]).shape
    (2, 3)
    """
    xs = [tensor(x) for x in xs]
    return concatenate([reshape(x, (1, x.size)) if x.ndim < 2 else x for x in xs], axis=0)


def unstack(x: Any, num: int | None = None, axis: int = 0) -> list:
    """Split ``x`` along ``axis`` into its ``x.shape[axis]`` slices (that axis removed).
    ``num``, if given, must equal that size.

    >>> from nerve import ops
    >>> [t.shape for t in ops.unstack(ops.zeros((2, 3)), axis=1)]
    [(2,), (2,), (2,)]
    """
    x = tensor(x)
    axis = normalize_axis(axis, x.ndim, "unstack")
    size = x.shape[axis]
    if num is not None and num != size:
        raise ShapeError(
            with_location(
                f"unstack: num={num} does not match axis {axis} of size {size} (tensor shape "
                f"{x.shape})."
            )
        )
    return [ip.getitem(x, ip.along(axis, ("int", i))) for i in range(size)]


def meshgrid(*x: Any, indexing: str = "xy") -> list:
    """Coordinate grids from 1-D tensors: with ``indexing="ij"`` output ``i`` varies along
    axis ``i``; ``"xy"`` (Cartesian) swaps the first two axes, as NumPy does.

    >>> from nerve import ops
    >>> a, b = ops.meshgrid(ops.arange(3), ops.arange(2))
    >>> a.shape, b.numpy().tolist()
    ((2, 3), [[0, 0, 0], [1, 1, 1]])
    """
    if indexing not in ("xy", "ij"):
        raise ValueError(
            with_location(f"meshgrid: indexing must be 'xy' or 'ij', got {indexing!r}.")
        )
    xs = [ravel(t) for t in x]
    shape = [t.size for t in xs]
    if indexing == "xy" and len(xs) >= 2:
        shape[0], shape[1] = shape[1], shape[0]
    grids = []
    for i, t in enumerate(xs):
        axis = (1 - i if i < 2 else i) if indexing == "xy" and len(xs) >= 2 else i
        spread = tuple(t.size if a == axis else 1 for a in range(len(xs)))
        grids.append(sp.broadcast_to(sp.reshape(t, spread), tuple(shape)))
    return grids


def append(x1: Any, x2: Any, axis: int | None = None) -> Tensor:
    """``x2`` appended to ``x1`` along ``axis`` (both flattened first when ``None``).

    >>> from nerve import ops
    >>> ops.append(ops.convert_to_tensor([[1, 2]]), [3]).numpy()
    array([1, 2, 3], dtype=int32)
    """
    return concatenate([x1, x2], axis=axis)


def kron(x1: Any, x2: Any) -> Tensor:
    """Kronecker product: blocks ``x1[i, j, ...] * x2`` laid out on ``x1``'s grid.

    >>> from nerve import ops
    >>> ops.kron(ops.eye(2, dtype="int32"), ops.convert_to_tensor([[1, 2]])).numpy()
    array([[1, 2, 0, 0],
           [0, 0, 1, 2]], dtype=int32)
    """
    from nerve.ops.elementwise import multiply

    a, b = promote(x1, x2)
    ndim = max(a.ndim, b.ndim)
    a = sp.reshape(a, (1,) * (ndim - a.ndim) + a.shape)
    b = sp.reshape(b, (1,) * (ndim - b.ndim) + b.shape)
    # (a0, a1) x (b0, b1) -> (a0, 1, a1, 1) * (1, b0, 1, b1) -> (a0*b0, a1*b1)
    product = multiply(
        sp.reshape(a, tuple(v for d in a.shape for v in (d, 1))),
        sp.reshape(b, tuple(v for d in b.shape for v in (1, d))),
    )
    return sp.reshape(product, tuple(m * n for m, n in zip(a.shape, b.shape)))
