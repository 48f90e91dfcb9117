"""Sliding blocks: ``unfold`` (the blocks of an image as columns, PyTorch's im2col)
and its adjoint ``fold``, over the patch primitives that convolution uses, so each
is the other's gradient."""

from __future__ import annotations

from typing import Any

from nerve.core.errors import ShapeError, with_location
from nerve.ops._convert import to_float
from nerve.ops.shape import reshape, transpose
from nerve.primitives import nn as nnp
from nerve.tensor import Tensor

__all__ = ["fold", "unfold"]


def _pair(value: Any, what: str, op: str, minimum: int = 1) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or any(not isinstance(v, int) or v < minimum for v in pair):
        raise ValueError(
            with_location(f"{op}: {what} must be an int or two ints >= {minimum}, got {value!r}.")
        )
    return pair  # type: ignore[return-value]


def _geometry(op: str, kernel_size, dilation, padding, stride) -> tuple:
    window = _pair(kernel_size, "kernel_size", op)
    dilation = _pair(dilation, "dilation", op)
    pads = _pair(padding, "padding", op, minimum=0)
    strides = _pair(stride, "stride", op)
    return window, strides, dilation, tuple((p, p) for p in pads)


def _blocks(size: int, window: int, stride: int, dilation: int, pad: int) -> int:
    return (size + 2 * pad - dilation * (window - 1) - 1) // stride + 1


def unfold(
    x: Any, kernel_size: Any, dilation: Any = 1, padding: Any = 0, stride: Any = 1
) -> Tensor:
    """The sliding ``kernel_size`` blocks of a channels-first image batch (N, C, H, W)
    as columns: (N, C * kH * kW, L), each column one block (channel-major, then the
    kernel's rows and columns), L blocks in row-major order.

    >>> from nerve import ops
    >>> ops.unfold(ops.ones((2, 3, 4, 4)), 2).shape
    (2, 12, 9)
    """
    x = to_float(x)
    if x.ndim != 4:
        raise ShapeError(with_location(f"unfold: x must be 4-D (N, C, H, W), got shape {x.shape}."))
    geometry = _geometry("unfold", kernel_size, dilation, padding, stride)
    patches = nnp.extract_patches(transpose(x, (0, 2, 3, 1)), *geometry)  # (N, oH, oW, kH, kW, C)
    n, out_h, out_w, k_h, k_w, c = patches.shape
    columns = transpose(patches, (0, 5, 3, 4, 1, 2))
    return reshape(columns, (n, c * k_h * k_w, out_h * out_w))


def fold(
    x: Any,
    output_size: Any,
    kernel_size: Any,
    dilation: Any = 1,
    padding: Any = 0,
    stride: Any = 1,
) -> Tensor:
    """The adjoint of ``unfold``: columns (N, C * kH * kW, L) summed back into an image
    (N, C, *output_size), overlapping blocks adding up.

    >>> from nerve import ops
    >>> ops.fold(ops.ones((1, 4, 9)), (4, 4), 2)[0, 0].numpy()
    array([[1., 2., 2., 1.],
           [2., 4., 4., 2.],
           [2., 4., 4., 2.],
           [1., 2., 2., 1.]], dtype=float32)
    """
    x = to_float(x)
    window, strides, dilation_, pads = _geometry("fold", kernel_size, dilation, padding, stride)
    height, width = _pair(output_size, "output_size", "fold")
    out_h = _blocks(height, window[0], strides[0], dilation_[0], pads[0][0])
    out_w = _blocks(width, window[1], strides[1], dilation_[1], pads[1][0])
    per_channel = window[0] * window[1]
    if x.ndim != 3 or x.shape[1] % per_channel or x.shape[2] != out_h * out_w:
        raise ShapeError(
            with_location(
                f"fold: x must be a 3D tensor (N, C * {window[0]} * {window[1]}, "
                f"{out_h * out_w}) for output_size {(height, width)} and this geometry, got "
                f"shape {x.shape}."
            )
        )
    n, c = x.shape[0], x.shape[1] // per_channel
    patches = transpose(reshape(x, (n, c, *window, out_h, out_w)), (0, 4, 5, 2, 3, 1))
    image = nnp.patches_transpose(patches, (height, width), window, strides, dilation_, pads)
    return transpose(image, (0, 3, 1, 2))
