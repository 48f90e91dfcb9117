"""Moving pixels between space and depth: ``unfold`` (sliding blocks as columns,
PyTorch's im2col), its adjoint ``fold``, and the pixel shuffles ``depth_to_space``
and ``space_to_depth``. ``unfold``/``fold`` run over the patch primitives that
convolution uses, so each is the other's gradient."""

from __future__ import annotations

from typing import Any

from nerve.core.errors import ShapeError, with_location
from nerve.ops._convert import tensor, to_float
from nerve.ops.nn._spatial import _data_format
from nerve.ops.shape import reshape, transpose
from nerve.primitives import nn as nnp
from nerve.tensor import Tensor

__all__ = ["depth_to_space", "fold", "space_to_depth", "unfold"]


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
                f"fold: x must be (N, C * {window[0]} * {window[1]}, {out_h * out_w}) for "
                f"output_size {(height, width)} and this geometry, got shape {x.shape}."
            )
        )
    n, c = x.shape[0], x.shape[1] // per_channel
    patches = transpose(reshape(x, (n, c, *window, out_h, out_w)), (0, 4, 5, 2, 3, 1))
    image = nnp.patches_transpose(patches, (height, width), window, strides, dilation_, pads)
    return transpose(image, (0, 3, 1, 2))


def _block_size(block_size: Any, op: str) -> int:
    if not isinstance(block_size, int) or isinstance(block_size, bool) or block_size < 1:
        raise ValueError(
            with_location(f"{op}: block_size must be a positive int, got {block_size!r}.")
        )
    return block_size


def depth_to_space(x: Any, block_size: int, data_format: str = "channels_last") -> Tensor:
    """Pixel shuffle: each pixel's channels become a ``block_size`` x ``block_size``
    block of pixels with ``C / block_size**2`` channels (NHWC or NCHW).

    >>> from nerve import ops
    >>> ops.depth_to_space(ops.ones((1, 2, 3, 8)), 2).shape
    (1, 4, 6, 2)
    """
    x = tensor(x)
    b = _block_size(block_size, "depth_to_space")
    data_format = _data_format(data_format, "depth_to_space")
    channels = x.shape[-1 if data_format == "channels_last" else 1] if x.ndim == 4 else 0
    if x.ndim != 4 or channels % (b * b):
        raise ShapeError(
            with_location(
                f"depth_to_space: x must be 4-D with channels divisible by block_size**2 = "
                f"{b * b}, got shape {x.shape} ({data_format})."
            )
        )
    if data_format == "channels_last":
        n, h, w, c = x.shape
        blocks = transpose(reshape(x, (n, h, w, b, b, c // (b * b))), (0, 1, 3, 2, 4, 5))
        return reshape(blocks, (n, h * b, w * b, c // (b * b)))
    n, c, h, w = x.shape
    # Channels first, each channel's block comes from b * b consecutive channels (as
    # Keras's backends order them; channels last, each block's position is outermost).
    blocks = transpose(reshape(x, (n, c // (b * b), b, b, h, w)), (0, 1, 4, 2, 5, 3))
    return reshape(blocks, (n, c // (b * b), h * b, w * b))


def space_to_depth(x: Any, block_size: int, data_format: str = "channels_last") -> Tensor:
    """The inverse pixel shuffle: each ``block_size`` x ``block_size`` block of pixels
    becomes one pixel with ``block_size**2`` times the channels.

    >>> from nerve import ops
    >>> ops.space_to_depth(ops.ones((1, 4, 6, 2)), 2).shape
    (1, 2, 3, 8)
    """
    x = tensor(x)
    b = _block_size(block_size, "space_to_depth")
    data_format = _data_format(data_format, "space_to_depth")
    spatial = (
        (x.shape[1:3] if data_format == "channels_last" else x.shape[2:4]) if x.ndim == 4 else ()
    )
    if x.ndim != 4 or any(s % b for s in spatial):
        raise ShapeError(
            with_location(
                f"space_to_depth: x must be 4-D with height and width divisible by block_size "
                f"{b}, got shape {x.shape} ({data_format})."
            )
        )
    if data_format == "channels_last":
        n, h, w, c = x.shape
        blocks = transpose(reshape(x, (n, h // b, b, w // b, b, c)), (0, 1, 3, 2, 4, 5))
        return reshape(blocks, (n, h // b, w // b, c * b * b))
    n, c, h, w = x.shape
    blocks = transpose(reshape(x, (n, c, h // b, b, w // b, b)), (0, 1, 3, 5, 2, 4))
    return reshape(blocks, (n, c * b * b, h // b, w // b))
