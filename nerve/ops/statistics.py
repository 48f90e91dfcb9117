"""Statistics over tensors (Keras names and arguments): reductions that skip NaN,
percentiles, ranges, differences, histograms, correlation.

Every function is a composite of the reductions, sorts and gathers of the other
families, so gradients come for free where Keras's backends have them.

>>> from nerve import ops
>>> x = ops.convert_to_tensor([[1.0, float("nan")], [3.0, 4.0]])
>>> ops.nansum(x, axis=1).numpy()
array([1., 7.], dtype=float32)
>>> ops.nanmean(x).numpy()
array(2.6666667, dtype=float32)
>>> ops.diff(ops.convert_to_tensor([1, 4, 9, 16])).numpy()
array([3, 5, 7], dtype=int32)
"""

from __future__ import annotations

import builtins
import math
from typing import Any

from nerve.core import config, dtypes
from nerve.core.errors import ShapeError, normalize_axes, normalize_axis, with_location
from nerve.ops import elementwise as ew
from nerve.ops import reduction as red
from nerve.ops._convert import cast, promote, tensor, to_float
from nerve.ops.creation import arange, full_like, linspace
from nerve.ops.indexing import searchsorted, sort, take_along_axis
from nerve.ops.linalg import matmul
from nerve.ops.shape import expand_dims, pad, reshape, transpose
from nerve.tensor import Tensor, convert_to_tensor

__all__ = [
    "amax", "amin", "corrcoef", "correlate", "diff", "histogram", "nanargmax", "nanargmin",
    "nancumprod", "nancumsum", "nanmax", "nanmean", "nanmedian", "nanmin", "nanpercentile",
    "nanprod", "nanquantile", "nanstd", "nansum", "nanvar", "percentile", "ptp", "trapezoid",
]  # fmt: skip


def _nan_mask(x: Tensor) -> Tensor | None:
    """Where ``x`` is NaN; ``None`` for integer and bool tensors, which hold none."""
    return ew.isnan(x) if dtypes.is_float(x.dtype) else None


def _nan_to(x: Tensor, value: float) -> Tensor:
    mask = _nan_mask(x)
    return x if mask is None else ew.where(mask, ew.cast(value, x.dtype), x)


def amax(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Maximum over ``axis``; NumPy's other name for ``max``.

    >>> from nerve import ops
    >>> ops.amax(ops.convert_to_tensor([[1, 5], [3, 2]]), axis=0).numpy()
    array([3, 5], dtype=int32)
    """
    return red.max(x, axis=axis, keepdims=keepdims)


def amin(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Minimum over ``axis``; NumPy's other name for ``min``.

    >>> from nerve import ops
    >>> ops.amin(ops.convert_to_tensor([[1, 5], [3, 2]]), axis=1).numpy()
    array([1, 2], dtype=int32)
    """
    return red.min(x, axis=axis, keepdims=keepdims)


def ptp(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Range ("peak to peak") over ``axis``: ``max - min``.

    >>> from nerve import ops
    >>> ops.ptp(ops.convert_to_tensor([[4.0, 9.0, 2.0], [1.0, 1.0, 3.0]]), axis=1).numpy()
    array([7., 2.], dtype=float32)
    """
    x = tensor(x)
    return ew.subtract(red.max(x, axis, keepdims), red.min(x, axis, keepdims))


# -- reductions that skip NaN ---------------------------------------------------------------


def nansum(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Sum over ``axis`` treating NaN as zero (a sum of only NaN is 0).

    >>> from nerve import ops
    >>> float(ops.nansum(ops.convert_to_tensor([1.0, float("nan"), 2.0])))
    3.0
    """
    return red.sum(_nan_to(tensor(x), 0), axis=axis, keepdims=keepdims)


def nanprod(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Product over ``axis`` treating NaN as one.

    >>> from nerve import ops
    >>> float(ops.nanprod(ops.convert_to_tensor([2.0, float("nan"), 3.0])))
    6.0
    """
    return red.prod(_nan_to(tensor(x), 1), axis=axis, keepdims=keepdims)


def _count(x: Tensor, axis: Any, keepdims: bool) -> Tensor:
    """How many entries along ``axis`` are not NaN, in ``x``'s dtype."""
    mask = _nan_mask(x)
    present = ew.logical_not(mask) if mask is not None else full_like(x, True, dtype="bool")
    return cast(red.sum(present, axis=axis, keepdims=keepdims), x.dtype)


def nanmean(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Mean over ``axis`` of the entries that are not NaN (NaN where all are).

    >>> from nerve import ops
    >>> ops.nanmean(ops.convert_to_tensor([[1.0, float("nan")], [2.0, 4.0]]), axis=1).numpy()
    array([1., 3.], dtype=float32)
    """
    x = to_float(x)
    normalize_axes(axis, x.ndim, "nanmean")
    return ew.divide(nansum(x, axis, keepdims), _count(x, axis, keepdims))


def nanvar(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Population variance over ``axis`` of the entries that are not NaN.

    >>> from nerve import ops
    >>> float(ops.nanvar(ops.convert_to_tensor([1.0, float("nan"), 3.0])))
    1.0
    """
    x = to_float(x)
    normalize_axes(axis, x.ndim, "nanvar")
    centered = ew.subtract(x, nanmean(x, axis, keepdims=True))
    # Zeroed before squaring, so that no NaN meets the zero cotangent of a masked entry.
    centered = _nan_to(centered, 0) if _nan_mask(x) is not None else centered
    squares = red.sum(ew.multiply(centered, centered), axis=axis, keepdims=keepdims)
    return ew.divide(squares, _count(x, axis, keepdims))


def nanstd(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Population standard deviation over ``axis`` of the entries that are not NaN.

    >>> from nerve import ops
    >>> float(ops.nanstd(ops.convert_to_tensor([1.0, float("nan"), 3.0])))
    1.0
    """
    return ew.sqrt(nanvar(x, axis, keepdims))


def _nan_extremum(x: Any, axis: Any, keepdims: bool, largest: bool) -> Tensor:
    x = tensor(x)
    reduce = red.max if largest else red.min
    mask = _nan_mask(x)
    if mask is None:
        return reduce(x, axis=axis, keepdims=keepdims)
    filled = ew.where(mask, ew.cast(-math.inf if largest else math.inf, x.dtype), x)
    result = reduce(filled, axis=axis, keepdims=keepdims)
    # Only NaN along the axis: the answer is NaN, as in NumPy.
    return ew.where(red.all(mask, axis=axis, keepdims=keepdims), ew.cast(math.nan, x.dtype),
                    result)  # fmt: skip


def nanmax(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Maximum over ``axis`` ignoring NaN (NaN where all entries are).

    >>> from nerve import ops
    >>> float(ops.nanmax(ops.convert_to_tensor([1.0, float("nan"), 3.0])))
    3.0
    """
    return _nan_extremum(x, axis, keepdims, largest=True)


def nanmin(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Minimum over ``axis`` ignoring NaN (NaN where all entries are).

    >>> from nerve import ops
    >>> float(ops.nanmin(ops.convert_to_tensor([1.0, float("nan"), 3.0])))
    1.0
    """
    return _nan_extremum(x, axis, keepdims, largest=False)


def _nan_arg(x: Any, axis: Any, keepdims: bool, largest: bool) -> Tensor:
    x = tensor(x)
    arg = red.argmax if largest else red.argmin
    mask = _nan_mask(x)
    if mask is None:
        return arg(x, axis=axis, keepdims=keepdims)
    filled = ew.where(mask, ew.cast(-math.inf if largest else math.inf, x.dtype), x)
    position = arg(filled, axis=axis, keepdims=keepdims)
    # All NaN: -1, as Keras's backends answer.
    return ew.where(red.all(mask, axis=axis, keepdims=keepdims), -1, position)


def nanargmax(x: Any, axis: int | None = None, keepdims: bool = False) -> Tensor:
    """Position (int32) of the largest entry along ``axis`` ignoring NaN; -1 where all
    entries are NaN.

    >>> from nerve import ops
    >>> ops.nanargmax(ops.convert_to_tensor([[1.0, float("nan")], [float("nan")] * 2]), 1).numpy()
    array([ 0, -1], dtype=int32)
    """
    return _nan_arg(x, axis, keepdims, largest=True)


def nanargmin(x: Any, axis: int | None = None, keepdims: bool = False) -> Tensor:
    """Position (int32) of the smallest entry along ``axis`` ignoring NaN; -1 where all
    entries are NaN.

    >>> from nerve import ops
    >>> int(ops.nanargmin(ops.convert_to_tensor([3.0, float("nan"), 1.0])))
    2
    """
    return _nan_arg(x, axis, keepdims, largest=False)


def nancumsum(x: Any, axis: int | None = None, dtype: str | None = None) -> Tensor:
    """Running sum along ``axis`` treating NaN as zero; over the flattened tensor when
    ``axis`` is ``None``.

    >>> from nerve import ops
    >>> ops.nancumsum(ops.convert_to_tensor([1.0, float("nan"), 2.0])).numpy()
    array([1., 1., 3.], dtype=float32)
    """
    x = tensor(x)
    return red.cumsum(_nan_to(x if dtype is None else cast(x, dtype), 0), axis=axis)


def nancumprod(x: Any, axis: int | None = None, dtype: str | None = None) -> Tensor:
    """Running product along ``axis`` treating NaN as one.

    >>> from nerve import ops
    >>> ops.nancumprod(ops.convert_to_tensor([2.0, float("nan"), 3.0])).numpy()
    array([2., 2., 6.], dtype=float32)
    """
    x = tensor(x)
    return red.cumprod(_nan_to(x if dtype is None else cast(x, dtype), 1), axis=axis)


# -- quantiles ------------------------------------------------------------------------------


def percentile(
    x: Any, q: Any, axis: Any = None, method: str = "linear", keepdims: bool = False
) -> Tensor:
    """The ``q``-th percentile(s) (``q`` in [0, 100]) over ``axis``: ``quantile`` of
    ``q / 100``; see ``quantile`` for ``method``.

    >>> from nerve import ops
    >>> float(ops.percentile(ops.convert_to_tensor([1.0, 2.0, 3.0, 4.0, 5.0]), 25))
    2.0
    """
    return red.quantile(x, _fraction(x, q), axis=axis, method=method, keepdims=keepdims)


def _fraction(x: Any, q: Any) -> Any:
    """Percentages as probabilities, kept in ``x``'s float dtype (Python numbers stay
    Python numbers, so ``quantile`` converts them without rounding through floatx)."""
    if isinstance(q, (int, float)):
        return q / 100
    if isinstance(q, (list, tuple)) and builtins.all(isinstance(v, (int, float)) for v in q):
        return [v / 100 for v in q]
    return ew.divide(cast(q, to_float(x).dtype), 100)


_METHODS = ("linear", "lower", "higher", "midpoint", "nearest")


def nanquantile(
    x: Any, q: Any, axis: Any = None, method: str = "linear", keepdims: bool = False
) -> Tensor:
    """``quantile`` over the entries that are not NaN (NaN where all are). Each row
    along the reduced axes has its own count, so the positions differ per row.

    >>> from nerve import ops
    >>> x = ops.convert_to_tensor([[1.0, float("nan"), 3.0], [4.0, 5.0, 6.0]])
    >>> ops.nanquantile(x, 0.5, axis=1).numpy()
    array([2., 5.], dtype=float32)
    """
    if method not in _METHODS:
        raise ValueError(
            with_location(f"nanquantile: method must be one of {_METHODS}, got {method!r}.")
        )
    x = to_float(x)
    axes = tuple(sorted(normalize_axes(axis, x.ndim, "nanquantile")))
    q = cast(q, x.dtype) if isinstance(q, Tensor) else convert_to_tensor(q, x.dtype)
    if q.ndim > 1:
        raise ShapeError(
            with_location(f"nanquantile: q must be a scalar or 1-D, got shape {q.shape}.")
        )
    kept = [a for a in range(x.ndim) if a not in axes]
    n = math.prod(x.shape[a] for a in axes)
    if n == 0:
        raise ShapeError(
            with_location(f"nanquantile: cannot take a quantile over an empty axis of {x.shape}.")
        )
    data = transpose(x, (*kept, *axes)) if x.ndim else x
    data = sort(reshape(data, (*(x.shape[a] for a in kept), n)), axis=-1)  # NaN sort last
    count = _count(data, -1, keepdims=True)  # (*kept, 1)
    # Positions per row and quantile: (*kept, len(q)), or (*kept, 1) for a scalar q.
    position = ew.multiply(reshape(q, (1,) * len(kept) + (q.size,)), ew.subtract(count, 1))
    position = ew.maximum(position, 0)  # an all-NaN row (count 0) is masked below
    lower = {"nearest": ew.round, "higher": ew.ceil}.get(method, ew.floor)(position)
    result = take_along_axis(data, cast(lower, "int32"), axis=-1)
    if method in ("linear", "midpoint"):
        high = take_along_axis(data, cast(ew.ceil(position), "int32"), axis=-1)
        if method == "linear":
            fraction = ew.subtract(position, lower)
            result = ew.add(result, ew.multiply(ew.subtract(high, result), fraction))
        else:  # the mean of the two, which stays inf for inf and inf (no inf - inf)
            result = ew.add(ew.multiply(result, 0.5), ew.multiply(high, 0.5))
    result = ew.where(ew.equal(count, 0), ew.cast(math.nan, x.dtype), result)
    result = transpose(result, (result.ndim - 1, *range(result.ndim - 1)))
    if keepdims:
        shape = tuple(1 if a in axes else x.shape[a] for a in range(x.ndim))
        result = reshape(result, (q.size, *shape))
    return result if q.ndim else reshape(result, result.shape[1:])


def nanpercentile(
    x: Any, q: Any, axis: Any = None, method: str = "linear", keepdims: bool = False
) -> Tensor:
    """``percentile`` over the entries that are not NaN.

    >>> from nerve import ops
    >>> float(ops.nanpercentile(ops.convert_to_tensor([1.0, float("nan"), 3.0]), 50))
    2.0
    """
    return nanquantile(x, _fraction(x, q), axis=axis, method=method, keepdims=keepdims)


def nanmedian(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Median over ``axis`` of the entries that are not NaN.

    >>> from nerve import ops
    >>> float(ops.nanmedian(ops.convert_to_tensor([4.0, float("nan"), 1.0, 2.0])))
    2.0
    """
    # The mean of the middle two (an infinity among them stays one, as in NumPy).
    return nanquantile(x, 0.5, axis=axis, method="midpoint", keepdims=keepdims)


# -- differences and integrals ----------------------------------------------------------------


def _along(x: Tensor, axis: int, start: int | None, stop: int | None) -> Tensor:
    key = (slice(None),) * axis + (slice(start, stop),)
    return x[key]


def diff(a: Any, n: int = 1, axis: int = -1) -> Tensor:
    """The ``n``-th discrete difference along ``axis``: ``a[1:] - a[:-1]``, ``n`` times
    (booleans: ``a[1:] != a[:-1]``, as NumPy).

    >>> from nerve import ops
    >>> ops.diff(ops.convert_to_tensor([[1.0, 3.0, 6.0]]), n=2).numpy()
    array([[1.]], dtype=float32)
    """
    a = tensor(a)
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise ValueError(with_location(f"diff: n must be a non-negative int, got {n!r}."))
    if a.ndim == 0:
        raise ShapeError(with_location("diff: needs at least a 1-D input, got a scalar."))
    axis = normalize_axis(axis, a.ndim, "diff")
    for _ in range(n):
        later, earlier = _along(a, axis, 1, None), _along(a, axis, None, -1)
        a = ew.not_equal(later, earlier) if a.dtype == "bool" else ew.subtract(later, earlier)
    return a


def trapezoid(y: Any, x: Any = None, dx: float = 1.0, axis: int = -1) -> Tensor:
    """Integral of ``y`` along ``axis`` by the trapezoidal rule, at sample points ``x``
    (1-D along the axis or ``y``'s shape) or spaced ``dx`` apart.

    >>> from nerve import ops
    >>> float(ops.trapezoid(ops.convert_to_tensor([1.0, 2.0, 3.0])))
    4.0
    >>> float(ops.trapezoid([1.0, 2.0, 3.0], x=[0.0, 1.0, 3.0]))
    6.5
    """
    y = to_float(y)
    axis = normalize_axis(axis, y.ndim, "trapezoid")
    if x is None:
        spacing: Any = dx
    else:
        x = to_float(x)
        if x.ndim == 1:
            spacing = diff(x)
            spacing = reshape(spacing, (spacing.shape[0],) + (1,) * (y.ndim - 1 - axis))
        else:
            spacing = diff(x, axis=axis)
    heights = ew.add(_along(y, axis, 1, None), _along(y, axis, None, -1))
    return red.sum(ew.multiply(ew.multiply(heights, spacing), 0.5), axis=axis)


# -- histograms -------------------------------------------------------------------------------


def histogram(x: Any, bins: int = 10, range: tuple | None = None) -> tuple[Tensor, Tensor]:
    """Counts (int32) of the entries of the 1-D ``x`` in ``bins`` equal bins over
    ``range`` (``(min(x), max(x))`` by default), and the ``bins + 1`` edges. Each bin
    holds ``[edge_i, edge_i+1)``, the last also its right edge; values outside
    ``range`` are not counted. Not differentiable (counts are integers).

    >>> from nerve import ops
    >>> counts, edges = ops.histogram(ops.convert_to_tensor([0.0, 0.5, 1.0, 1.0]), bins=2)
    >>> counts.numpy(), edges.numpy()
    (array([1, 3], dtype=int32), array([0. , 0.5, 1. ], dtype=float32))
    """
    if not isinstance(bins, int) or isinstance(bins, bool):
        raise TypeError(
            with_location(f"histogram: Argument `bins` must be of type `int`, got {bins!r}.")
        )
    if bins < 0:
        raise ValueError(
            with_location(
                f"histogram: Argument `bins` should be a non-negative integer, got {bins}."
            )
        )
    x = to_float(x)
    if x.ndim != 1:
        raise ShapeError(
            with_location(f"histogram: Input tensor must be 1-dimensional, got shape {x.shape}.")
        )
    if range is not None:
        if not isinstance(range, tuple) or len(range) != 2:
            raise ValueError(
                with_location(
                    f"histogram: Argument `range` must be a tuple of two elements, got {range!r}."
                )
            )
        if range[1] < range[0]:
            raise ValueError(
                with_location(
                    "histogram: The second element of `range` must be greater than the first, "
                    f"got {range}."
                )
            )
        low, high = float(range[0]), float(range[1])
    elif x.shape[0] == 0:
        low, high = 0.0, 1.0
    else:
        low, high = float(red.min(x)), float(red.max(x))
    if low == high:  # a single value gets a unit-wide range, as in NumPy
        low, high = low - 0.5, high + 0.5
    edges = linspace(low, high, bins + 1, dtype=x.dtype)
    assert isinstance(edges, Tensor)  # no retstep
    # Bin i holds edge_i <= v < edge_i+1; v == high goes in the last bin.
    index = ew.subtract(searchsorted(edges, x, side="right"), 1)
    index = ew.where(ew.equal(x, edges[-1]), bins - 1, index)
    # Counted as a sum of one-hot rows (bincount's length would depend on the values,
    # which a traced program does not have); indices outside [0, bins) match no bin.
    hits = ew.equal(expand_dims(index, 1), expand_dims(arange(bins, dtype=index.dtype), 0))
    return red.sum(hits, axis=0), edges


# -- correlation ------------------------------------------------------------------------------


def corrcoef(x: Any) -> Tensor:
    """Pearson correlation coefficients between the rows of ``x`` (each row one
    variable, each column one observation), clipped to [-1, 1].

    >>> from nerve import ops
    >>> ops.corrcoef(ops.convert_to_tensor([[1.0, 2.0, 3.0], [3.0, 1.0, 2.0]])).numpy().round(4)
    array([[ 1. , -0.5],
           [-0.5,  1. ]], dtype=float32)
    """
    x = tensor(x)
    # Keras's rule: 64-bit inputs give float64, 16-bit floats stay, the rest floatx.
    if x.dtype in ("int64", "float64"):
        x = cast(x, "float64")
    elif x.dtype not in ("float16", "bfloat16"):
        x = cast(x, config.floatx())
    if x.ndim not in (1, 2):
        raise ShapeError(with_location(f"corrcoef: x must be 1-D or 2-D, got shape {x.shape}."))
    rows = x if x.ndim == 2 else reshape(x, (1, x.shape[0]))
    centered = ew.subtract(rows, red.mean(rows, axis=1, keepdims=True))
    products = cast(matmul(centered, transpose(centered)), x.dtype)  # N-1 cancels
    scale = ew.sqrt(red.sum(ew.multiply(centered, centered), axis=1))
    result = ew.clip(
        ew.divide(products, ew.multiply(expand_dims(scale, 1), expand_dims(scale, 0))), -1, 1
    )
    return result if x.ndim == 2 else reshape(result, ())


def correlate(x1: Any, x2: Any, mode: str = "valid") -> Tensor:
    """Cross-correlation of two 1-D tensors: ``c[k] = sum_n x1[n + k] * x2[n]``.
    ``mode``: ``"valid"`` (where they overlap fully), ``"same"`` (the longer one's
    length, centred) or ``"full"`` (every overlap). Integers give float32 (int64:
    float64), as Keras.

    >>> from nerve import ops
    >>> ops.correlate([1.0, 2.0, 3.0], [0.0, 1.0, 0.5]).numpy()
    array([3.5], dtype=float32)
    >>> ops.correlate([1.0, 2.0, 3.0], [0.0, 1.0, 0.5], mode="full").numpy()
    array([0.5, 2. , 3.5, 3. , 0. ], dtype=float32)
    """
    if mode not in ("valid", "same", "full"):
        raise ValueError(
            with_location(f"correlate: mode must be 'valid', 'same' or 'full', got {mode!r}.")
        )
    a, v = promote(x1, x2)
    if not dtypes.is_float(a.dtype):
        float_dtype = "float64" if a.dtype == "int64" else "float32"
        a, v = cast(a, float_dtype), cast(v, float_dtype)
    if a.ndim != 1 or v.ndim != 1:
        raise ShapeError(
            with_location(f"correlate: x1 and x2 must be 1-D, got shapes {a.shape} and {v.shape}.")
        )
    m, k = a.shape[0], v.shape[0]
    if m == 0 or k == 0:
        raise ValueError(with_location("correlate: x1 and x2 must not be empty."))
    # The full correlation: x1 padded by len(x2) - 1 zeros on each side, a window of
    # len(x2) at each of the m + k - 1 offsets, times x2.
    padded = pad(a, [(k - 1, k - 1)])
    length = m + k - 1
    index = ew.add(expand_dims(arange(length), 1), expand_dims(arange(k), 0))
    windows = padded[index]  # (m + k - 1, k)
    full = cast(matmul(windows, v), a.dtype)  # matmul may widen 16-bit floats
    if mode == "full":
        return full
    size = builtins.max(m, k) if mode == "same" else builtins.max(m, k) - builtins.min(m, k) + 1
    if mode == "same":  # NumPy centres the odd extra element on the right when x2 is longer
        start = (length - size + (1 if m < k else 0)) // 2
    else:
        start = builtins.min(m, k) - 1
    return full[start : start + size]
