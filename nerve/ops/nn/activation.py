"""Activation functions of ``keras.ops`` (relu, gelu, silu, ...)."""

from __future__ import annotations

import math
from typing import Any

from nerve.core.errors import ShapeError, normalize_axis, with_location
from nerve.ops._convert import cast, to_float
from nerve.ops.creation import arange
from nerve.ops.elementwise import (
    abs,
    add,
    divide,
    equal,
    erf,
    expm1,
    greater,
    less,
    less_equal,
    minimum,
    multiply,
    negative,
    sigmoid,
    softplus,
    subtract,
    tanh,
    where,
)
from nerve.primitives import nn as nnp
from nerve.primitives import reduction as rp
from nerve.primitives.shape import reshape
from nerve.tensor import Tensor

__all__ = [
    "celu",
    "elu",
    "gelu",
    "glu",
    "hard_shrink",
    "hard_sigmoid",
    "hard_silu",
    "hard_swish",
    "hard_tanh",
    "leaky_relu",
    "log_sigmoid",
    "relu",
    "relu6",
    "selu",
    "sigmoid",
    "silu",
    "soft_shrink",
    "softplus",
    "softsign",
    "sparse_plus",
    "sparse_sigmoid",
    "sparsemax",
    "squareplus",
    "swish",
    "tanh_shrink",
    "threshold",
]


# -- activations -------------------------------------------------------------------------


def relu(x: Any) -> Tensor:
    """Rectified linear unit ``max(x, 0)``; the gradient at 0 is 0 (as in PyTorch)."""
    return nnp.relu_p.bind(to_float(x))


def relu6(x: Any) -> Tensor:
    """``min(max(x, 0), 6)``; the gradient is 0 at both corners (as in PyTorch).

    >>> from nerve import ops
    >>> ops.relu6(ops.convert_to_tensor([-1.0, 3.0, 8.0])).numpy()
    array([0., 3., 6.], dtype=float32)
    """
    x = to_float(x)
    return where(greater(x, 0.0), where(less(x, 6.0), x, 6.0), 0.0)


def softsign(x: Any) -> Tensor:
    """``x / (1 + |x|)``."""
    x = to_float(x)
    return divide(x, add(abs(x), 1.0))


def silu(x: Any) -> Tensor:
    """Sigmoid linear unit ``x * sigmoid(x)`` (also called swish)."""
    x = to_float(x)
    return multiply(x, sigmoid(x))


swish = silu


def log_sigmoid(x: Any) -> Tensor:
    """``log(sigmoid(x)) = -softplus(-x)``, without overflow or underflow."""
    return negative(softplus(negative(to_float(x))))


def leaky_relu(x: Any, negative_slope: float = 0.2) -> Tensor:
    """``x`` where positive, ``negative_slope * x`` elsewhere."""
    x = to_float(x)
    return where(greater(x, 0.0), x, multiply(x, negative_slope))


def hard_sigmoid(x: Any) -> Tensor:
    """Piecewise-linear sigmoid ``relu6(x + 3) / 6``."""
    return divide(relu6(add(to_float(x), 3.0)), 6.0)


def hard_silu(x: Any) -> Tensor:
    """``x * hard_sigmoid(x)`` (also called hard swish)."""
    x = to_float(x)
    return multiply(x, hard_sigmoid(x))


hard_swish = hard_silu


def hard_tanh(x: Any) -> Tensor:
    """``x`` clipped to ``[-1, 1]``; the gradient is 0 outside (and at the corners)."""
    x = to_float(x)
    return where(greater(x, -1.0), where(less(x, 1.0), x, 1.0), -1.0)


def elu(x: Any, alpha: float = 1.0) -> Tensor:
    """Exponential linear unit: ``x`` where positive, ``alpha * (exp(x) - 1)`` elsewhere."""
    x = to_float(x)
    # expm1 of min(x, 0), so large positive x can't overflow into a NaN gradient.
    return where(greater(x, 0.0), x, multiply(expm1(minimum(x, 0.0)), alpha))


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def selu(x: Any) -> Tensor:
    """Scaled exponential linear unit ``scale * elu(x, alpha)`` with the self-normalising
    constants of Klambauer et al. (2017)."""
    return multiply(elu(x, _SELU_ALPHA), _SELU_SCALE)


def celu(x: Any, alpha: float = 1.0) -> Tensor:
    """Continuously differentiable ELU: ``max(x, 0) + alpha * expm1(min(x, 0) / alpha)``."""
    x = to_float(x)
    return add(
        where(greater(x, 0.0), x, 0.0), multiply(expm1(divide(minimum(x, 0.0), alpha)), alpha)
    )


def gelu(x: Any, approximate: bool = True) -> Tensor:
    """Gaussian error linear unit ``x * Phi(x)``: the tanh approximation by default, the
    exact form (with erf) when ``approximate=False``.

    >>> from nerve import ops
    >>> x = ops.convert_to_tensor([1.0])
    >>> ops.gelu(x).numpy().round(4), ops.gelu(x, approximate=False).numpy().round(4)
    (array([0.8412], dtype=float32), array([0.8413], dtype=float32))
    """
    x = to_float(x)
    if approximate:
        inner = multiply(add(x, multiply(x * x * x, 0.044715)), math.sqrt(2 / math.pi))
        return multiply(multiply(x, 0.5), add(tanh(inner), 1.0))
    return multiply(multiply(x, 0.5), add(erf(multiply(x, 1 / math.sqrt(2))), 1.0))


def glu(x: Any, axis: int = -1) -> Tensor:
    """Gated linear unit: split ``x`` in two halves ``a, b`` along ``axis``; ``a * sigmoid(b)``."""
    x = to_float(x)
    axis = normalize_axis(axis, x.ndim, "glu")
    size = x.shape[axis]
    if size % 2:
        raise ShapeError(
            with_location(
                f"glu: axis {axis} of the input (shape {tuple(x.shape)}) must have an even "
                f"size to split in two halves; got {size}."
            )
        )
    # View the axis as (2, size // 2) and pick each half by a one-hot sum (no slicing op needed).
    shape = tuple(x.shape)
    split = (*shape[:axis], 2, size // 2, *shape[axis + 1 :])
    halves = reshape(x, split)
    mask_shape = (2,) + (1,) * (len(shape) - axis)
    first = cast(equal(arange(2), 0), x.dtype)
    first = reshape(first, mask_shape)
    a = rp.reduce_sum_p.bind(multiply(halves, first), axes=(axis,), keepdims=False)
    b = rp.reduce_sum_p.bind(multiply(halves, subtract(1.0, first)), axes=(axis,), keepdims=False)
    return multiply(a, sigmoid(b))


def tanh_shrink(x: Any) -> Tensor:
    """``x - tanh(x)``."""
    x = to_float(x)
    return subtract(x, tanh(x))


def soft_shrink(x: Any, threshold: float = 0.5) -> Tensor:
    """Shrink towards 0 by ``threshold``; values within ``threshold`` of 0 become 0."""
    x = to_float(x)
    return where(
        greater(x, threshold),
        subtract(x, threshold),
        where(less(x, -threshold), add(x, threshold), 0.0),
    )


def hard_shrink(x: Any, threshold: float = 0.5) -> Tensor:
    """``x`` where ``|x| > threshold``, else 0.

    >>> from nerve import ops
    >>> ops.hard_shrink(ops.convert_to_tensor([-1.0, 0.2, 0.7])).numpy()
    array([-1. ,  0. ,  0.7], dtype=float32)
    """
    x = to_float(x)
    return where(greater(abs(x), threshold), x, 0.0)


def threshold(x: Any, threshold: float, default_value: float) -> Tensor:
    """``x`` where ``x > threshold``, else ``default_value``.

    >>> from nerve import ops
    >>> ops.threshold(ops.convert_to_tensor([-1.0, 2.0]), 0.0, -5.0).numpy()
    array([-5.,  2.], dtype=float32)
    """
    x = to_float(x)
    return where(greater(x, threshold), x, cast(default_value, x.dtype))


def sparse_plus(x: Any) -> Tensor:
    """A smooth-at-the-joints ReLU: 0 for ``x <= -1``, ``(x + 1)**2 / 4`` on (-1, 1),
    ``x`` for ``x >= 1``.

    >>> from nerve import ops
    >>> ops.sparse_plus(ops.convert_to_tensor([-2.0, 0.0, 2.0])).numpy()
    array([0.  , 0.25, 2.  ], dtype=float32)
    """
    x = to_float(x)
    shifted = add(x, 1.0)
    middle = multiply(multiply(shifted, shifted), 0.25)
    return where(less_equal(x, -1.0), 0.0, where(less(x, 1.0), middle, x))


def sparse_sigmoid(x: Any) -> Tensor:
    """A piecewise-linear sigmoid: 0 for ``x <= -1``, ``(x + 1) / 2`` on (-1, 1), 1
    for ``x >= 1``.

    >>> from nerve import ops
    >>> ops.sparse_sigmoid(ops.convert_to_tensor([-2.0, 0.0, 2.0])).numpy()
    array([0. , 0.5, 1. ], dtype=float32)
    """
    x = to_float(x)
    middle = multiply(add(x, 1.0), 0.5)
    return where(less_equal(x, -1.0), 0.0,
                 where(less(x, 1.0), middle, 1.0))  # fmt: skip


def squareplus(x: Any, b: float = 4) -> Tensor:
    """A smooth ReLU with no exponential: ``(x + sqrt(x**2 + b)) / 2``.

    >>> from nerve import ops
    >>> float(ops.squareplus(ops.convert_to_tensor(0.0)))
    1.0
    """
    from nerve.ops.elementwise import sqrt

    x = to_float(x)
    return multiply(add(x, sqrt(add(multiply(x, x), cast(b, x.dtype)))), 0.5)


def sparsemax(x: Any, axis: int = -1) -> Tensor:
    """The Euclidean projection of ``x`` onto the probability simplex along ``axis``:
    like ``softmax`` but with exact zeros. ``max(x - tau, 0)``, where ``tau`` makes
    the entries sum to 1.

    >>> from nerve import ops
    >>> ops.sparsemax(ops.convert_to_tensor([1.0, 2.0, 0.0])).numpy()
    array([0., 1., 0.], dtype=float32)
    """
    from nerve.ops.elementwise import maximum
    from nerve.ops.indexing import sort
    from nerve.ops.reduction import cumsum, sum
    from nerve.ops.shape import moveaxis

    x = to_float(x)
    axis = normalize_axis(axis, x.ndim, "sparsemax")
    moved = moveaxis(x, axis, -1)
    n = moved.shape[-1]
    ordered = negative(sort(negative(moved), axis=-1))  # descending
    running = cumsum(ordered, axis=-1)
    ranks = arange(1, n + 1, dtype=x.dtype)
    # The support: the sorted entries that stay positive after the shift they imply.
    support = greater(multiply(ordered, ranks), subtract(running, 1.0))
    size = sum(cast(support, x.dtype), axis=-1, keepdims=True)
    tau = divide(subtract(sum(where(support, ordered, 0.0), axis=-1, keepdims=True), 1.0), size)
    return moveaxis(maximum(subtract(moved, tau), 0.0), -1, axis)
