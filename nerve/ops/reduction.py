"""Reductions and scans over any axes (Keras names and arguments).

>>> from nerve import ops
>>> x = ops.convert_to_tensor([[1.0, 2.0], [3.0, 4.0]])
>>> ops.sum(x, axis=0).numpy()
array([4., 6.], dtype=float32)
>>> ops.mean(x, axis=-1, keepdims=True).shape
(2, 1)
>>> ops.argmax(x, axis=1).numpy()
array([1, 1], dtype=int32)
>>> ops.cumsum(x).numpy()
array([ 1.,  3.,  6., 10.], dtype=float32)
"""

from __future__ import annotations

import math
from typing import Any

from nerve.core import dtypes
from nerve.core.errors import ShapeError, normalize_axes, normalize_axis, with_location
from nerve.ops._convert import cast, require_bool, tensor, to_float
from nerve.ops.core import stop_gradient
from nerve.primitives import elementwise as ew
from nerve.primitives import reduction as rp
from nerve.primitives import shape as sp
from nerve.tensor import Tensor, convert_to_tensor

__all__ = [
    "all", "any", "argmax", "argmin", "average", "count_nonzero", "cumprod", "cumsum",
    "logsumexp", "max", "mean", "median", "min", "prod", "quantile", "std", "sum", "var",
]  # fmt: skip

# Small integers and bools are summed (and multiplied) in int32, small unsigned ones in
# uint32, as Keras 3 (following JAX) does.
_SUM_DTYPE = {
    "bool": "int32", "int8": "int32", "int16": "int32", "uint8": "uint32", "uint16": "uint32",
}  # fmt: skip
# Half-precision floats accumulate in float32 and round once at the end, as Keras's
# backends do: a float16 sum of [65504, 65504, 65504] / 3 must not overflow on the way.
_HALF = ("float16", "bfloat16")


def _accumulate(x: Tensor) -> Tensor:
    return cast(x, "float32") if x.dtype in _HALF else x


def _round_back(out: Tensor, dtype: str) -> Tensor:
    return cast(out, dtype) if out.dtype != dtype else out


def _axes(x: Tensor, axis: Any, op: str) -> tuple:
    return tuple(sorted(normalize_axes(axis, x.ndim, op)))


def _widen(x: Any) -> Tensor:
    x = tensor(x)
    return cast(x, _SUM_DTYPE.get(x.dtype, x.dtype))


def sum(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Sum over ``axis`` (all axes when ``None``; an int or a tuple, negatives count
    from the end). Bools and small integers are summed in int32."""
    x = _widen(x)
    axes = _axes(x, axis, "sum")
    out = rp.reduce_sum_p.bind(_accumulate(x), axes=axes, keepdims=bool(keepdims))
    return _round_back(out, x.dtype)


def prod(x: Any, axis: Any = None, keepdims: bool = False, dtype: str | None = None) -> Tensor:
    """Product over ``axis``. Its gradient is exact also where entries are zero.

    >>> from nerve import ops
    >>> ops.prod(ops.convert_to_tensor([[1.0, 2.0], [3.0, 4.0]]), axis=1).numpy()
    array([ 2., 12.], dtype=float32)
    """
    x = _widen(x) if dtype is None else cast(x, dtype)
    return rp.reduce_prod_p.bind(x, axes=_axes(x, axis, "prod"), keepdims=bool(keepdims))


def mean(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Arithmetic mean over ``axis``; integer inputs give floatx. Half-precision
    inputs are summed in float32.

    >>> from nerve import ops
    >>> float(ops.mean(ops.convert_to_tensor([65504.0, 65504.0], dtype="float16")))
    65504.0
    """
    x = to_float(x)
    out = _mean(_accumulate(x), _axes(x, axis, "mean"), bool(keepdims))
    return _round_back(out, x.dtype)


def _mean(x: Tensor, axes: tuple, keepdims: bool) -> Tensor:
    count = math.prod(x.shape[a] for a in axes)
    total = rp.reduce_sum_p.bind(x, axes=axes, keepdims=keepdims)
    # An empty mean is 0/0 = nan, as in NumPy.
    return ew.mul(total, ew.scalar(1.0 / count if count else math.nan, total))


def var(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Population variance over ``axis`` (divides by N, as Keras does).

    >>> from nerve import ops
    >>> float(ops.var(ops.convert_to_tensor([1.0, 2.0, 3.0, 4.0])))
    1.25
    """
    x = to_float(x)
    axes = _axes(x, axis, "var")
    wide = _accumulate(x)
    centered = ew.sub(wide, _mean(wide, axes, True))
    return _round_back(_mean(ew.mul(centered, centered), axes, bool(keepdims)), x.dtype)


def std(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Population standard deviation over ``axis``: ``sqrt(var(x))``."""
    x = to_float(x)
    _axes(x, axis, "std")  # errors name std, not var
    out = ew.sqrt_p.bind(var(_accumulate(x), axis=axis, keepdims=keepdims))
    return _round_back(out, x.dtype)


def _extremum(prim, combine: str, x: Any, axis: Any, keepdims: bool, initial: Any) -> Tensor:
    from nerve.ops import elementwise

    x = tensor(x)
    axes = _axes(x, axis, combine[:3])
    if initial is not None and math.prod(x.shape[a] for a in axes) == 0:
        # Nothing to reduce: every entry is `initial`, as in NumPy and Keras.
        shape = rp.reduced_shape(x.shape, axes, bool(keepdims))
        return sp.broadcast_to(ew.scalar(initial, x), shape)
    out = prim.bind(x, axes=axes, keepdims=bool(keepdims))
    if initial is not None:
        if x.dtype == "bool" and isinstance(initial, (bool, int, float)):
            # JAX reads a Python initial in x's dtype: the result of bools stays bool.
            initial = ew.scalar(bool(initial), x)
        out = getattr(elementwise, combine)(out, initial)
    return out


def max(x: Any, axis: Any = None, keepdims: bool = False, initial: Any = None) -> Tensor:
    """Maximum over ``axis``, and ``initial`` when given (the result over an empty
    axis). Where several entries attain it, the gradient is shared evenly among them.

    >>> from nerve import ops
    >>> ops.max(ops.zeros((0, 2)), axis=0, initial=1.0).numpy()
    array([1., 1.], dtype=float32)
    """
    return _extremum(rp.reduce_max_p, "maximum", x, axis, keepdims, initial)


def min(x: Any, axis: Any = None, keepdims: bool = False, initial: Any = None) -> Tensor:
    """Minimum over ``axis`` (and ``initial``, as in ``max``); ties share the gradient
    as in ``max``."""
    return _extremum(rp.reduce_min_p, "minimum", x, axis, keepdims, initial)


def any(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Whether any entry along ``axis`` is true (nonzero); bool result."""
    x = require_bool(x)
    return rp.reduce_any_p.bind(x, axes=_axes(x, axis, "any"), keepdims=bool(keepdims))


def all(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Whether every entry along ``axis`` is true (nonzero); bool result."""
    x = require_bool(x)
    return rp.reduce_all_p.bind(x, axes=_axes(x, axis, "all"), keepdims=bool(keepdims))


def _arg_reduction(prim, op: str, x: Any, axis: Any, keepdims: bool) -> Tensor:
    x = tensor(x)
    if axis is not None:
        return prim.bind(x, axis=normalize_axis(axis, x.ndim, op), keepdims=bool(keepdims))
    # Positions in the flattened tensor, as NumPy and Keras give them.
    out = prim.bind(sp.reshape(x, (x.size,)), axis=0, keepdims=False)
    return sp.reshape(out, (1,) * x.ndim if keepdims else ())


def argmax(x: Any, axis: int | None = None, keepdims: bool = False) -> Tensor:
    """Position (int32) of the first maximum along ``axis``; over the flattened tensor
    when ``axis`` is ``None``. Not differentiable."""
    return _arg_reduction(rp.argmax_p, "argmax", x, axis, keepdims)


def argmin(x: Any, axis: int | None = None, keepdims: bool = False) -> Tensor:
    """Position (int32) of the first minimum along ``axis``; see ``argmax``."""
    return _arg_reduction(rp.argmin_p, "argmin", x, axis, keepdims)


def logsumexp(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """``log(sum(exp(x), axis))``, computed stably: the maximum is taken out first, so
    large inputs do not overflow.

    >>> from nerve import ops
    >>> float(ops.logsumexp(ops.convert_to_tensor([1000.0, 1000.0])))
    1000.6931...
    """
    x = to_float(x)
    axes = _axes(x, axis, "logsumexp")
    # The shift cancels in value and in gradient, so it is held constant; an infinite
    # maximum (all -inf, or an inf) is replaced by 0 so that inf - inf gives no nan.
    shift = stop_gradient(rp.reduce_max_p.bind(x, axes=axes, keepdims=True))
    shift = ew.where(ew.isfinite_p.bind(shift), shift, ew.scalar(0, shift))
    total = rp.reduce_sum_p.bind(ew.exp_p.bind(ew.sub(x, shift)), axes=axes, keepdims=True)
    out = ew.add(ew.log_p.bind(total), shift)
    return out if keepdims else sp.reshape(out, rp.reduced_shape(x.shape, axes, False))


def _scan_input(x: Any, axis: Any, dtype: str | None, op: str) -> tuple[Tensor, int]:
    x = tensor(x)
    if dtype is not None:
        x = cast(x, dtype)
    elif x.dtype == "bool":
        x = cast(x, "int32")  # as Keras: a running count
    if axis is None:
        return sp.reshape(x, (x.size,)), 0
    return x, normalize_axis(axis, x.ndim, op)


def cumsum(x: Any, axis: int | None = None, dtype: str | None = None) -> Tensor:
    """Running sum along ``axis``; over the flattened tensor when ``axis`` is ``None``.

    >>> from nerve import ops
    >>> ops.cumsum(ops.convert_to_tensor([[1, 2], [3, 4]]), axis=0).numpy()
    array([[1, 2],
           [4, 6]], dtype=int32)
    """
    x, axis = _scan_input(x, axis, dtype, "cumsum")
    return rp.cumsum_p.bind(x, axis=axis, reverse=False, exclusive=False)


def cumprod(x: Any, axis: int | None = None, dtype: str | None = None) -> Tensor:
    """Running product along ``axis``; over the flattened tensor when ``axis`` is
    ``None``. Its gradient is exact also where entries are zero."""
    x, axis = _scan_input(x, axis, dtype, "cumprod")
    return rp.cumprod_p.bind(x, axis=axis, reverse=False, exclusive=False)


def average(x: Any, axis: Any = None, weights: Any = None) -> Tensor:
    """Weighted mean over ``axis``: ``sum(x * weights) / sum(weights)``. ``weights`` has
    the shape of ``x``, or (for one ``axis``) is 1-D along it; ``None`` gives ``mean``.

    >>> from nerve import ops
    >>> float(ops.average(ops.convert_to_tensor([1.0, 2.0, 4.0]), weights=[1.0, 1.0, 2.0]))
    2.75
    """
    if weights is None:
        return mean(to_float(x), axis=axis)
    # Keras's rule: the type of x, a Python float and the weights together, so int8
    # data with bfloat16 weights gives bfloat16 (not floatx).
    x, weights = tensor(x), tensor(weights)
    dtype = dtypes.result_type(x.dtype, float, weights.dtype)
    x, weights = cast(x, dtype), cast(weights, dtype)
    axes = _axes(x, axis, "average")
    if weights.shape != x.shape:
        if len(axes) != 1 or weights.shape != (x.shape[axes[0]],):
            raise ShapeError(
                with_location(
                    f"average: weights of shape {weights.shape} do not fit x of shape "
                    f"{x.shape} with axis={axis!r}; pass weights of x's shape, or 1-D weights "
                    "along a single axis."
                )
            )
        weights = sp.reshape(weights, tuple(x.shape[a] if a == axes[0] else 1
                                            for a in range(x.ndim)))  # fmt: skip
        weights = sp.broadcast_to(weights, x.shape)
    total = rp.reduce_sum_p.bind(ew.mul(x, weights), axes=axes, keepdims=False)
    return ew.div(total, rp.reduce_sum_p.bind(weights, axes=axes, keepdims=False))


def count_nonzero(x: Any, axis: Any = None) -> Tensor:
    """Number (int32) of nonzero entries along ``axis``.

    >>> from nerve import ops
    >>> ops.count_nonzero(ops.convert_to_tensor([[0, 1], [2, 3]]), axis=0).numpy()
    array([1, 2], dtype=int32)
    """
    x = tensor(x)
    return sum(require_bool(x), axis=axis)


_QUANTILE_METHODS = ("linear", "lower", "higher", "midpoint", "nearest")


def quantile(
    x: Any, q: Any, axis: Any = None, method: str = "linear", keepdims: bool = False
) -> Tensor:
    """The ``q``-th quantile(s) of ``x`` over ``axis`` (all axes when ``None``). ``q``
    is a probability or a 1-D tensor of them; for several, the result's first axis runs
    over ``q``. ``method`` picks the value between neighbours ``i < j`` of the sorted
    data: ``"linear"`` interpolates, ``"lower"``/``"higher"`` take ``i``/``j``,
    ``"midpoint"`` their mean, ``"nearest"`` the closer (ties to the even position).
    Differentiable in ``x`` (through the sort) and, for ``"linear"``, in ``q``.

    >>> from nerve import ops
    >>> x = ops.convert_to_tensor([[1.0, 4.0, 2.0], [8.0, 6.0, 7.0]])
    >>> ops.quantile(x, 0.25, axis=1).numpy()
    array([1.5, 6.5], dtype=float32)
    >>> ops.quantile(x, [0.0, 1.0]).numpy()
    array([1., 8.], dtype=float32)
    """
    from nerve.ops.indexing import sort, take

    if method not in _QUANTILE_METHODS:
        raise ValueError(
            with_location(f"quantile: method must be one of {_QUANTILE_METHODS}, got {method!r}.")
        )
    x = to_float(x)
    axes = _axes(x, axis, "quantile")
    # Python numbers convert straight to x's dtype (not via floatx, which loses digits).
    q = cast(q, x.dtype) if isinstance(q, Tensor) else convert_to_tensor(q, x.dtype)
    if q.ndim > 1:
        raise ShapeError(
            with_location(f"quantile: q must be a scalar or 1-D, got shape {q.shape}.")
        )
    # Reduced axes go last and merge into one, which is sorted.
    kept = [a for a in range(x.ndim) if a not in axes]
    n = math.prod(x.shape[a] for a in axes)
    if n == 0:
        raise ShapeError(
            with_location(f"quantile: cannot take a quantile over an empty axis of {x.shape}.")
        )
    data = sp.transpose(x, (*kept, *axes)) if x.ndim else x
    data = sort(sp.reshape(data, (*(x.shape[a] for a in kept), n)), axis=-1)
    position = ew.mul(q, ew.scalar(n - 1, q))
    lower = ew.floor_p.bind(position)
    if method == "nearest":
        lower = ew.round_p.bind(position)  # round half to even, as NumPy
    elif method == "higher":
        lower = ew.ceil_p.bind(position)
    low_index = cast(lower, "int32")
    result = take(data, low_index, axis=-1)  # shape (*kept, *q.shape)
    if method in ("linear", "midpoint"):
        high_index = cast(ew.ceil_p.bind(position), "int32")
        high = take(data, high_index, axis=-1)
        if method == "linear":
            fraction = ew.sub(position, lower)
            result = ew.add(result, ew.mul(ew.sub(high, result), fraction))
        else:  # the mean of the two, which stays inf for inf and inf (no inf - inf)
            half = ew.scalar(0.5, result)
            result = ew.add(ew.mul(result, half), ew.mul(high, half))
    # Quantiles first, then the kept axes (with the reduced ones as 1 if keepdims).
    if q.ndim:
        result = sp.transpose(result, (result.ndim - 1, *range(result.ndim - 1)))
    if keepdims:
        shape = tuple(1 if a in axes else x.shape[a] for a in range(x.ndim))
        result = sp.reshape(result, (*q.shape, *shape))
    return result


def median(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Median over ``axis`` (the mean of the middle two for an even count).

    >>> from nerve import ops
    >>> float(ops.median(ops.convert_to_tensor([3.0, 1.0, 4.0, 2.0])))
    2.5
    """
    # The mean of the middle two (an infinity among them stays one, as in NumPy).
    return quantile(x, 0.5, axis=axis, method="midpoint", keepdims=keepdims)
