"""Max and average pooling (1-3-D) as reductions over patch windows."""

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
from nerve.tensor import Tensor

__all__ = ["average_pool", "max_pool"]


# -- pooling --------------------------------------------------------------------------------


def _pool_patches(op: str, inputs, pool_size, strides, padding, data_format, pad_value):
    x, data_format, rank = _spatial_input(op, inputs, data_format)
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
    geometry = (window, strides, dilation, pads)
    patches = nnp.extract_patches(x, *geometry, pad_value=pad_value)
    window_axes = tuple(range(rank + 1, 2 * rank + 1))
    return x, patches, window_axes, geometry, data_format


def max_pool(
    inputs: Any,
    pool_size: Any,
    strides: Any = None,
    padding: str = "valid",
    data_format: str | None = None,
) -> Tensor:
    """Maximum over sliding windows (``strides`` defaults to ``pool_size``); "same"
    padding never wins the max."""
    _, patches, axes, _, data_format = _pool_patches(
        "max_pool", inputs, pool_size, strides, padding, data_format, float("-inf")
    )
    return _output_layout(rp.reduce_max_p.bind(patches, axes=axes, keepdims=False), data_format)


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
        "average_pool", inputs, pool_size, strides, padding, data_format, 0.0
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
