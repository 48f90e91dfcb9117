"""Max pooling (1-3-D) as one primitive that keeps each window's argmax; average
pooling as a sum over patch windows."""

from __future__ import annotations

import math
from typing import Any

from nerve.core.errors import with_location
from nerve.ops.creation import ones
from nerve.ops.elementwise import (
    divide,
)
from nerve.ops.nn._spatial import (
    _check_fits,
    _output_layout,
    _padding_name,
    _padding_pairs,
    _spatial_input,
    _tuple,
)
from nerve.primitives import nn as nnp
from nerve.primitives import reduction as rp
from nerve.primitives.shape import reshape
from nerve.tensor import Tensor

__all__ = ["adaptive_average_pool", "adaptive_max_pool", "average_pool", "max_pool"]


# -- pooling --------------------------------------------------------------------------------


def _pool_geometry(op: str, x: Tensor, rank: int, pool_size, strides, padding, data_format):
    """The window, strides and explicit padding pairs of a pooling op, validated."""
    if not isinstance(pool_size, int) and len(tuple(pool_size)) != rank:
        raise ValueError(
            with_location(
                f"{op}: pool_size {tuple(pool_size)} has {len(tuple(pool_size))} entries but "
                f"inputs of shape {tuple(x.shape)} (data_format={data_format!r}) have "
                f"{rank} spatial axes."
            )
        )
    window = _tuple(pool_size, rank, "pool_size", op)
    strides = window if strides is None else _tuple(strides, rank, "strides", op)
    padding = _padding_name(padding, op)
    dilation = (1,) * rank
    pads = _padding_pairs(padding, tuple(x.shape[1:-1]), window, strides, dilation)
    _check_fits(op, x, window, dilation, pads, data_format)
    return window, strides, pads


def _pool_patches(op: str, inputs, pool_size, strides, padding, data_format):
    x, data_format, rank = _spatial_input(op, inputs, data_format)
    window, strides, pads = _pool_geometry(op, x, rank, pool_size, strides, padding, data_format)
    geometry = (window, strides, (1,) * rank, pads)
    if strides == window and not any(lo or hi for lo, hi in pads):
        return x, _window_blocks(x, window), tuple(range(2, 2 * rank + 1, 2)), geometry, data_format
    patches = nnp.extract_patches(x, *geometry)
    window_axes = tuple(range(rank + 1, 2 * rank + 1))
    return x, patches, window_axes, geometry, data_format


def _window_blocks(x: Tensor, window: tuple) -> Tensor:
    """Non-overlapping windows (strides equal to the window, no padding) as a reshape:
    ``(batch, out_1, window_1, ..., out_n, window_n, channels)``, the input cropped to
    whole windows first. Its gradient is a reshape too, where the general patches'
    gradient adds overlapping windows back one offset at a time (the common 2x2 pool
    measured ~3x faster this way, forward and backward)."""
    sizes = tuple(x.shape[1:-1])
    out = tuple(s // w for s, w in zip(sizes, window))
    if any(o * w != s for o, w, s in zip(out, window, sizes)):
        # The index tuple is built first: mypy reads x[(a, *b)] as 3.11's x[a, *b].
        whole = (slice(None), *(slice(0, o * w) for o, w in zip(out, window)), slice(None))
        x = x[whole]
    blocks = tuple(d for pair in zip(out, window) for d in pair)
    return reshape(x, (x.shape[0], *blocks, x.shape[-1]))


def max_pool(
    inputs: Any,
    pool_size: Any,
    strides: Any = None,
    padding: str = "valid",
    data_format: str | None = None,
) -> Tensor:
    """Maximum over sliding windows (``strides`` defaults to ``pool_size``); "same"
    padding never wins the max. The gradient goes to the first maximal position of
    each window (row-major), as in PyTorch and TensorFlow.

    >>> from nerve import ops
    >>> x = ops.reshape(ops.convert_to_tensor([1.0, 3.0, 2.0, 0.0, 5.0]), (1, 5, 1))
    >>> ops.max_pool(x, 2, padding="same").numpy().ravel()
    array([3., 2., 5.], dtype=float32)
    """
    op = "max_pool"
    x, data_format, rank = _spatial_input(op, inputs, data_format)
    window, strides, pads = _pool_geometry(op, x, rank, pool_size, strides, padding, data_format)
    pooled, _ = nnp.max_pool(x, window, strides, pads)
    return _output_layout(pooled, data_format)


def average_pool(
    inputs: Any,
    pool_size: Any,
    strides: Any = None,
    padding: str = "valid",
    data_format: str | None = None,
) -> Tensor:
    """Mean over sliding windows; with "same" padding the padded positions are left
    out of each average (as in TensorFlow and Keras).

    >>> from nerve import ops
    >>> x = ops.reshape(ops.arange(3.0), (1, 3, 1))
    >>> ops.average_pool(x, 2, padding="same").numpy().ravel()
    array([0.5, 2. ], dtype=float32)
    """
    x, patches, axes, geometry, data_format = _pool_patches(
        "average_pool", inputs, pool_size, strides, padding, data_format
    )
    total = rp.reduce_sum_p.bind(patches, axes=axes, keepdims=False)
    if any(lo or hi for lo, hi in geometry[3]):
        # How many real (unpadded) positions each window covers.
        mask = ones((1, *x.shape[1:-1], 1), dtype=x.dtype)
        count = rp.reduce_sum_p.bind(
            nnp.extract_patches(mask, *geometry), axes=axes, keepdims=False
        )
    else:
        count = float(math.prod(geometry[0]))
    return _output_layout(divide(total, count), data_format)


# -- adaptive pooling --------------------------------------------------------------------


def _adaptive_masks(size: int, out: int, dtype: str) -> Tensor:
    """A (out, size) 0/1 matrix: row i marks input positions floor(i * size / out) up to
    ceil((i + 1) * size / out), the bins PyTorch and Keras use (they overlap when size
    does not divide evenly)."""
    from nerve.tensor import convert_to_tensor

    rows = [[1 if (i * size) // out <= j < -((-(i + 1) * size) // out) else 0
             for j in range(size)] for i in range(out)]  # fmt: skip
    return convert_to_tensor(rows, dtype)


def _adaptive_pool(op: str, inputs: Any, output_size: Any, data_format: str | None,
                   largest: bool) -> Tensor:  # fmt: skip
    from nerve.ops.elementwise import where
    from nerve.ops.linalg import tensordot
    from nerve.ops.shape import moveaxis

    x, data_format, rank = _spatial_input(op, inputs, data_format)
    sizes = _tuple(output_size, rank, "output_size", op)
    # Separable: a rectangle's mean (max) is the mean (max) along one axis at a time.
    for axis, out in enumerate(sizes, start=1):
        masks = _adaptive_masks(x.shape[axis], out, x.dtype)
        if largest:
            moved = moveaxis(x, axis, -1)  # (..., size)
            hidden = reshape(moved, (*moved.shape[:-1], 1, moved.shape[-1]))
            chosen = where(masks > 0, hidden, float("-inf"))  # (..., out, size)
            pooled = rp.reduce_max_p.bind(chosen, axes=(chosen.ndim - 1,), keepdims=False)
            x = moveaxis(pooled, -1, axis)
        else:
            weights = divide(masks, rp.reduce_sum_p.bind(masks, axes=(1,), keepdims=True))
            x = moveaxis(tensordot(x, weights, axes=[[axis], [1]]), -1, axis)
    return _output_layout(x, data_format)


def adaptive_average_pool(inputs: Any, output_size: Any, data_format: str | None = None) -> Tensor:
    """Average pooling to a fixed ``output_size`` (an int or one per spatial axis) for
    any input size: output ``i`` averages input positions ``floor(i * n / out)`` up to
    ``ceil((i + 1) * n / out)`` along each axis (1-3 spatial axes).

    >>> from nerve import ops
    >>> x = ops.reshape(ops.arange(5.0), (1, 5, 1))
    >>> ops.adaptive_average_pool(x, 2).numpy().ravel()
    array([1., 3.], dtype=float32)
    """
    return _adaptive_pool("adaptive_average_pool", inputs, output_size, data_format, False)


def adaptive_max_pool(inputs: Any, output_size: Any, data_format: str | None = None) -> Tensor:
    """Max pooling to a fixed ``output_size`` over the bins of
    ``adaptive_average_pool``; ties share the gradient.

    >>> from nerve import ops
    >>> x = ops.reshape(ops.arange(5.0), (1, 5, 1))
    >>> ops.adaptive_max_pool(x, 2).numpy().ravel()
    array([2., 4.], dtype=float32)
    """
    return _adaptive_pool("adaptive_max_pool", inputs, output_size, data_format, True)
