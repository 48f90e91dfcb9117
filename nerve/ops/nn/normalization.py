"""Moments and normalizations (batch, layer, RMS, ``normalize``)."""

from __future__ import annotations

import math
import numbers
import warnings
from typing import Any

from nerve.core import config
from nerve.core.errors import ShapeError, normalize_axes, normalize_axis, with_location
from nerve.core.symbolic import as_float
from nerve.ops._convert import cast, to_float
from nerve.ops.elementwise import (
    abs,
    add,
    clip,
    divide,
    maximum,
    multiply,
    rsqrt,
    subtract,
)
from nerve.primitives import reduction as rp
from nerve.primitives.shape import reshape
from nerve.tensor import Tensor

__all__ = [
    "batch_normalization",
    "layer_normalization",
    "moments",
    "normalize",
    "rms_normalization",
]


# -- normalization ----------------------------------------------------------------------------


def moments(x: Any, axes: Any, keepdims: bool = False, synchronized: bool = False) -> tuple:
    """Mean and (biased) variance of ``x`` over ``axes``.

    ``synchronized`` (cross-device statistics) is accepted for Keras compatibility;
    on one device it changes nothing.

    >>> from nerve import ops
    >>> mean, var = ops.moments(ops.convert_to_tensor([1.0, 2.0, 3.0, 4.0]), axes=0)
    >>> float(mean), float(var)
    (2.5, 1.25)
    """
    x = to_float(x)
    axes = tuple(sorted(normalize_axes(axes, x.ndim, "moments")))
    dtype = x.dtype
    if dtype in ("float16", "bfloat16"):
        # Half precision accumulates in float32 (a float16 variance of large values
        # overflows on the way), as Keras's backends do.
        x = cast(x, "float32")
    count = math.prod(x.shape[a] for a in axes)
    mean = divide(rp.reduce_sum_p.bind(x, axes=axes, keepdims=True), as_float(count))
    centred = subtract(x, mean)
    variance = divide(
        rp.reduce_sum_p.bind(multiply(centred, centred), axes=axes, keepdims=keepdims),
        as_float(count),
    )
    if not keepdims:
        mean = reshape(mean, tuple(d for i, d in enumerate(x.shape) if i not in axes))
    if dtype != x.dtype:
        # Keras clips to float16's range before rounding back (also for bfloat16).
        mean, variance = (cast(clip(v, -65504.0, 65504.0), dtype) for v in (mean, variance))
    return mean, variance


def batch_normalization(
    x: Any,
    mean: Any,
    variance: Any,
    axis: int,
    offset: Any = None,
    scale: Any = None,
    epsilon: float = 1e-3,
) -> Tensor:
    """``(x - mean) / sqrt(variance + epsilon) * scale + offset``, where ``mean``,
    ``variance``, ``offset`` and ``scale`` are vectors along ``axis`` of ``x``.

    Training-mode batch norm is ``moments`` followed by this op.

    >>> from nerve import ops
    >>> x = ops.convert_to_tensor([[1.0, 2.0], [3.0, 6.0]])
    >>> ops.batch_normalization(x, [2.0, 4.0], [1.0, 4.0], axis=1, epsilon=0.0).numpy()
    array([[-1., -1.],
           [ 1.,  1.]], dtype=float32)
    """
    x = to_float(x)
    axis = normalize_axis(axis, x.ndim, "batch_normalization")
    shape = tuple(x.shape[axis] if i == axis else 1 for i in range(x.ndim))

    def along_axis(name: str, v: Any) -> Tensor:
        v = cast(to_float(v), x.dtype)
        if v.ndim > 1 or (v.ndim == 1 and v.shape[0] != x.shape[axis]):
            raise ShapeError(
                with_location(
                    f"batch_normalization: {name} of shape {tuple(v.shape)} must be a vector "
                    f"of length {x.shape[axis]} (axis {axis} of x, shape {tuple(x.shape)})."
                )
            )
        return v if v.ndim == 0 else reshape(v, shape)

    inverse = rsqrt(add(along_axis("variance", variance), epsilon))
    if scale is not None:
        inverse = multiply(inverse, along_axis("scale", scale))
    out = multiply(subtract(x, along_axis("mean", mean)), inverse)
    return out if offset is None else add(out, along_axis("offset", offset))


def layer_normalization(
    x: Any,
    gamma: Any = None,
    beta: Any = None,
    axis: Any = -1,
    epsilon: float | None = None,
    rms_scaling: bool = False,
) -> Tensor:
    """Normalise ``x`` over ``axis`` (an int or a tuple) to zero mean and unit variance,
    then scale by ``gamma`` and shift by ``beta`` (broadcast against the normalised axes).
    ``epsilon`` defaults to ``nerve.config.epsilon()``, as in Keras.

    ``rms_scaling=True`` is Keras's deprecated variant, kept for compatibility: ``x``
    is not centred and ``beta`` is ignored, and ``x`` is divided by the root of its
    *variance* plus ``epsilon`` (not by its root mean square): ``x * rsqrt(var(x) +
    epsilon) * gamma``. It warns; ``rms_normalization`` is the root-mean-square op.

    >>> from nerve import ops
    >>> ops.layer_normalization(ops.convert_to_tensor([[1.0, 3.0]]), epsilon=0.0).numpy()
    array([[-1.,  1.]], dtype=float32)
    """
    if rms_scaling:
        warnings.warn(
            "layer_normalization: You passed `rms_scaling=True`, which is deprecated (as in "
            "Keras): it divides x by the root of its variance, not of its mean square, and "
            "ignores beta. Use ops.rms_normalization for root-mean-square normalization.",
            UserWarning,
            stacklevel=2,
        )
    return _layer_normalization(x, gamma, beta, axis, epsilon, rms_scaling)


def _layer_normalization(
    x: Any,
    gamma: Any = None,
    beta: Any = None,
    axis: Any = -1,
    epsilon: float | None = None,
    rms_scaling: bool = False,
) -> Tensor:
    """``layer_normalization`` without the deprecation warning for ``rms_scaling``
    (for ``LayerNormalization``, which warns once, when it is made)."""
    x = to_float(x)
    epsilon = config.epsilon() if epsilon is None else epsilon
    axes = tuple(sorted(normalize_axes(axis, x.ndim, "layer_normalization")))
    mean, variance = moments(x, axes, keepdims=True)
    centred = x if rms_scaling else subtract(x, mean)
    out = multiply(centred, rsqrt(add(variance, epsilon)))
    shape = tuple(x.shape[i] if i in axes else 1 for i in range(x.ndim))
    if gamma is not None:
        out = multiply(out, _param_like(gamma, out, shape))
    if beta is not None and not rms_scaling:
        out = add(out, _param_like(beta, out, shape))
    return out


def rms_normalization(
    x: Any, scale: Any = None, axis: Any = -1, epsilon: float | None = None
) -> Tensor:
    """Root-mean-square normalisation over ``axis``:
    ``x * rsqrt(mean(square(x), axis) + epsilon) * scale`` (``epsilon`` defaults to
    ``nerve.config.epsilon()``; ``scale`` broadcasts against the normalised axes).

    >>> from nerve import ops
    >>> ops.rms_normalization(ops.convert_to_tensor([[3.0, 4.0]]), epsilon=0.0).numpy()
    array([[0.84852815, 1.1313709 ]], dtype=float32)
    """
    x = to_float(x)
    epsilon = config.epsilon() if epsilon is None else epsilon
    axes = tuple(sorted(normalize_axes(axis, x.ndim, "rms_normalization")))
    mean_square = divide(
        rp.reduce_sum_p.bind(multiply(x, x), axes=axes, keepdims=True),
        as_float(math.prod(x.shape[a] for a in axes)),
    )
    out = multiply(x, rsqrt(add(mean_square, epsilon)))
    if scale is None:
        return out
    shape = tuple(x.shape[i] if i in axes else 1 for i in range(x.ndim))
    return multiply(out, _param_like(scale, out, shape))


def normalize(x: Any, axis: Any = -1, order: Any = 2, epsilon: float | None = None) -> Tensor:
    """``x`` divided by its ``order``-norm over ``axis`` (``order`` an int >= 1, as in
    Keras), the norm floored at ``epsilon`` (``nerve.config.epsilon()`` by default) so
    that zero vectors stay finite.

    >>> from nerve import ops
    >>> ops.normalize(ops.convert_to_tensor([[3.0, 4.0]])).numpy()
    array([[0.6, 0.8]], dtype=float32)
    """
    if not isinstance(order, numbers.Integral) or isinstance(order, bool) or order < 1:
        raise ValueError(
            with_location(f"normalize: Argument `order` must be an int >= 1, got {order!r}.")
        )
    x = to_float(x)
    epsilon = config.epsilon() if epsilon is None else epsilon
    axes = tuple(sorted(normalize_axes(axis, x.ndim, "normalize")))
    if order == 2:
        # Flooring the squared norm at epsilon**2 (rather than the norm at epsilon) keeps
        # rsqrt and its gradient finite for zero vectors.
        squares = rp.reduce_sum_p.bind(multiply(x, x), axes=axes, keepdims=True)
        return multiply(x, rsqrt(maximum(squares, epsilon * epsilon)))
    from nerve.ops.elementwise import power

    p = float(order)
    total = rp.reduce_sum_p.bind(power(abs(x), p), axes=axes, keepdims=True)
    # Floored before the root, for the same reason as above.
    norm = power(maximum(total, epsilon**p), 1.0 / p)
    return divide(x, norm)


def _param_like(v: Any, x: Tensor, shape: tuple) -> Tensor:
    """A per-feature parameter reshaped to broadcast along the normalised axes."""
    v = cast(to_float(v), x.dtype)
    if v.ndim <= 1 and v.size == math.prod(shape):
        return reshape(v, shape)
    return v
