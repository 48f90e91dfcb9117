"""Convolutions (1-3-D, grouped, depthwise, separable, transposed) over the
``extract_patches`` primitive and its adjoint."""

from __future__ import annotations

import math
from typing import Any

from nerve.core.errors import ShapeError, with_location
from nerve.ops._convert import promote, to_float
from nerve.ops.nn._spatial import (
    _check_fits,
    _output_layout,
    _padding_name,
    _padding_pairs,
    _spatial_input,
    _tuple,
)
from nerve.primitives import linalg as lp
from nerve.primitives import nn as nnp
from nerve.primitives.shape import reshape, transpose
from nerve.tensor import Tensor

__all__ = ["conv", "conv_transpose", "depthwise_conv", "separable_conv"]


# -- convolution -------------------------------------------------------------------------


def _conv_channels_last(
    x: Tensor, kernel: Tensor, strides, padding: str, dilation, op: str, data_format: str
) -> Tensor:
    """Grouped N-D convolution of a channels-last ``x`` with a Keras-layout kernel."""
    rank = x.ndim - 2
    window = tuple(kernel.shape[:rank])
    channels = x.shape[-1]
    group_channels, filters = kernel.shape[-2:] if kernel.ndim == x.ndim else (0, 0)
    groups = channels // group_channels if group_channels else 0
    if groups == 0 or channels % group_channels or filters % groups:
        raise ShapeError(
            with_location(
                f"{op}: inputs of shape {tuple(x.shape)} (channels-last view; "
                f"data_format={data_format!r}) have {channels} channels, which the kernel of "
                f"shape {tuple(kernel.shape)} cannot take. The kernel must have rank "
                f"{x.ndim}, layout (*window, in_channels / groups, out_channels), with "
                f"in_channels / groups dividing {channels} and groups dividing out_channels."
            )
        )
    pads = _padding_pairs(padding, tuple(x.shape[1:-1]), window, strides, dilation)
    _check_fits(op, x, window, dilation, pads, data_format)
    patches = nnp.extract_patches(x, window, strides, dilation, pads)
    batch, out = x.shape[0], tuple(patches.shape[1 : 1 + rank])
    rows, taps = batch * math.prod(out), math.prod(window)
    if groups == 1:
        y = lp.matmul_p.bind(
            reshape(patches, (rows, taps * channels)), reshape(kernel, (taps * channels, filters))
        )
    else:
        # One batched matmul over groups: (G, rows, taps*Cg) @ (G, taps*Cg, filters/G).
        per_group = filters // groups
        p = transpose(reshape(patches, (rows, taps, groups, group_channels)), (2, 0, 1, 3))
        p = reshape(p, (groups, rows, taps * group_channels))
        k = transpose(reshape(kernel, (taps, group_channels, groups, per_group)), (2, 0, 1, 3))
        k = reshape(k, (groups, taps * group_channels, per_group))
        y = transpose(lp.matmul_p.bind(p, k), (1, 0, 2))
    return reshape(y, (batch, *out, filters))


def _operands(op: str, inputs: Any, kernel: Any, data_format: str | None) -> tuple:
    """Inputs in the channels-last view and the kernel, promoted to one float dtype."""
    x, data_format, rank = _spatial_input(op, inputs, data_format)
    x, kernel = promote(x, to_float(kernel))
    return x, kernel, data_format, rank


def _geometry(op: str, rank: int, strides: Any, dilation_rate: Any, padding: Any) -> tuple:
    """Strides and dilation as ``rank``-tuples, and the padding name, validated."""
    strides = _tuple(strides, rank, "strides", op)
    dilation = _tuple(dilation_rate, rank, "dilation_rate", op)
    return strides, dilation, _padding_name(padding, op)


def conv(
    inputs: Any,
    kernel: Any,
    strides: Any = 1,
    padding: str = "valid",
    data_format: str | None = None,
    dilation_rate: Any = 1,
) -> Tensor:
    """1-, 2- or 3-D convolution (cross-correlation, as in every framework).

    ``kernel`` has shape ``(*window, in_channels / groups, out_channels)``; a
    grouped convolution is inferred when the input has a multiple of the
    kernel's input channels, as in Keras.

    >>> from nerve import ops
    >>> x = ops.reshape(ops.arange(5.0), (1, 5, 1))
    >>> ops.conv(x, ops.ones((2, 1, 1))).numpy().ravel()
    array([1., 3., 5., 7.], dtype=float32)
    """
    x, kernel, data_format, rank = _operands("conv", inputs, kernel, data_format)
    strides, dilation, padding = _geometry("conv", rank, strides, dilation_rate, padding)
    y = _conv_channels_last(x, kernel, strides, padding, dilation, "conv", data_format)
    return _output_layout(y, data_format)


def depthwise_conv(
    inputs: Any,
    kernel: Any,
    strides: Any = 1,
    padding: str = "valid",
    data_format: str | None = None,
    dilation_rate: Any = 1,
) -> Tensor:
    """Depthwise convolution: each input channel convolved with its own
    ``channel_multiplier`` filters; ``kernel`` is ``(*window, in_channels, multiplier)``
    and output channel ``c * multiplier + m`` comes from input channel ``c``."""
    x, kernel, data_format, rank = _operands("depthwise_conv", inputs, kernel, data_format)
    if kernel.ndim != x.ndim or kernel.shape[-2] != x.shape[-1]:
        raise ShapeError(
            with_location(
                f"depthwise_conv: inputs of shape {tuple(x.shape)} (channels-last view; "
                f"data_format={data_format!r}) need a kernel of shape (*window, "
                f"{x.shape[-1]}, multiplier) of rank {x.ndim}; got {tuple(kernel.shape)}."
            )
        )
    strides, dilation, padding = _geometry("depthwise_conv", rank, strides, dilation_rate, padding)
    # A grouped convolution with one group per input channel.
    window = tuple(kernel.shape[:rank])
    grouped = reshape(kernel, (*window, 1, kernel.shape[-2] * kernel.shape[-1]))
    y = _conv_channels_last(x, grouped, strides, padding, dilation, "depthwise_conv", data_format)
    return _output_layout(y, data_format)


def separable_conv(
    inputs: Any,
    depthwise_kernel: Any,
    pointwise_kernel: Any,
    strides: Any = 1,
    padding: str = "valid",
    data_format: str | None = None,
    dilation_rate: Any = 1,
) -> Tensor:
    """A depthwise convolution followed by a 1x1 (pointwise) convolution."""
    depthwise = depthwise_conv(
        inputs, depthwise_kernel, strides, padding, data_format, dilation_rate
    )
    return conv(depthwise, pointwise_kernel, 1, "valid", data_format, 1)


def _transpose_output_size(size: int, window: int, stride: int, padding: str, extra, dilation):
    """Keras's output length of a transposed convolution."""
    span = (window - 1) * dilation + 1
    if padding == "valid":
        extra = max(span, stride) - span if extra is None else extra
        return (size - 1) * stride + span + extra
    return size * stride if extra is None else (size - 1) * stride + span % 2 + extra


def conv_transpose(
    inputs: Any,
    kernel: Any,
    strides: Any = 1,
    padding: str = "valid",
    output_padding: Any = None,
    data_format: str | None = None,
    dilation_rate: Any = 1,
) -> Tensor:
    """Transposed convolution (the gradient of ``conv`` with respect to its input).

    ``kernel`` has shape ``(*window, out_channels, in_channels)`` as in Keras;
    output sizes follow Keras (``output_padding`` adds to the end of each axis).

    >>> from nerve import ops
    >>> ops.conv_transpose(ops.ones((1, 4, 4, 3)), ops.ones((3, 3, 8, 3)), 2, "same").shape
    (1, 8, 8, 8)
    """
    op = "conv_transpose"
    x, kernel, data_format, rank = _operands(op, inputs, kernel, data_format)
    if kernel.ndim != x.ndim or kernel.shape[-1] != x.shape[-1]:
        raise ShapeError(
            with_location(
                f"{op}: inputs of shape {tuple(x.shape)} (channels-last view; "
                f"data_format={data_format!r}) need a kernel of rank {x.ndim} and layout "
                f"(*window, out_channels, {x.shape[-1]}); got kernel shape "
                f"{tuple(kernel.shape)}."
            )
        )
    strides, dilation, padding = _geometry(op, rank, strides, dilation_rate, padding)
    extra = (None,) * rank if output_padding is None else _tuple_nonneg(output_padding, rank, op)
    window, filters = tuple(kernel.shape[:rank]), kernel.shape[-2]
    sizes = tuple(x.shape[1:-1])
    out = tuple(
        map(_transpose_output_size, sizes, window, strides, (padding,) * rank, extra, dilation)
    )
    pads = []
    for n, size, k, s, d in zip(sizes, out, window, strides, dilation):
        span = (k - 1) * d + 1
        total = max((n - 1) * s + span - size, 0) if padding == "same" else 0
        if size + total < (n - 1) * s + span:
            raise ShapeError(
                with_location(f"{op}: output_padding {output_padding!r} is too small.")
            )
        pads.append((total // 2, total - total // 2))
    batch, taps = x.shape[0], math.prod(window)
    # Each input pixel spreads kernel-weighted copies over a window; overlaps add up.
    spread = lp.matmul_p.bind(
        reshape(x, (batch * math.prod(sizes), x.shape[-1])),
        transpose(reshape(kernel, (taps * filters, x.shape[-1])), (1, 0)),
    )
    patches = reshape(spread, (batch, *sizes, *window, filters))
    y = nnp.patches_transpose(patches, out, window, strides, dilation, tuple(pads))
    return _output_layout(y, data_format)


def _tuple_nonneg(value: Any, rank: int, op: str) -> tuple:
    values = (value,) * rank if isinstance(value, int) else tuple(value)
    if len(values) != rank or not all(isinstance(v, int) and v >= 0 for v in values):
        raise ValueError(
            with_location(
                f"{op}: output_padding must be a non-negative int or {rank} of them, got {value!r}."
            )
        )
    return values
