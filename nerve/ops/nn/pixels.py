"""Pixel rearrangements and an image metric from ``keras.ops.nn``:
``depth_to_space``, ``space_to_depth`` (reshapes and a transpose) and ``psnr``.

>>> from nerve import ops
>>> ops.depth_to_space(ops.ones((1, 2, 2, 12)), 2).shape
(1, 4, 4, 3)
>>> ops.space_to_depth(ops.ones((1, 4, 4, 3)), 2).shape
(1, 2, 2, 12)
"""

from __future__ import annotations

from typing import Any

from nerve.core.errors import ShapeError, with_location
from nerve.ops._convert import cast, promote, tensor
from nerve.ops.elementwise import log10, square, subtract
from nerve.ops.nn._spatial import _data_format
from nerve.ops.reduction import mean
from nerve.ops.shape import reshape, transpose
from nerve.tensor import Tensor

__all__ = ["depth_to_space", "psnr", "space_to_depth"]


def _block(op: str, x: Tensor, block_size: Any) -> int:
    if not isinstance(block_size, int) or isinstance(block_size, bool) or block_size < 2:
        raise ValueError(
            with_location(
                f"{op}: `block_size` must be at least 2. Received: block_size={block_size!r}"
            )
        )
    if x.ndim != 4:
        raise ShapeError(
            with_location(
                f"{op}: `{op}` requires a 4D input tensor. Received: x.shape={tuple(x.shape)}"
            )
        )
    return block_size


def depth_to_space(x: Any, block_size: int, data_format: str = "channels_last") -> Tensor:
    """Move channels into ``block_size x block_size`` spatial blocks: ``(N, H, W, C)``
    becomes ``(N, H * b, W * b, C / b**2)``. Channels last reads each block's channels
    as ``(b, b, C / b**2)`` (TensorFlow's order), channels first as ``(C / b**2, b, b)``
    (PyTorch's ``pixel_shuffle``), as Keras does.

    >>> from nerve import ops
    >>> x = ops.reshape(ops.arange(4.0), (1, 1, 1, 4))
    >>> ops.depth_to_space(x, 2)[0, ..., 0].numpy()
    array([[0., 1.],
           [2., 3.]], dtype=float32)
    """
    x = tensor(x)
    b = _block("depth_to_space", x, block_size)
    fmt = _data_format(data_format, "depth_to_space")
    channels = x.shape[3] if fmt == "channels_last" else x.shape[1]
    if channels % (b * b):
        raise ShapeError(
            with_location(
                f"depth_to_space: the channels ({channels}) must be divisible by block_size**2 "
                f"({b * b}); got x.shape={tuple(x.shape)}."
            )
        )
    new = channels // (b * b)
    if fmt == "channels_last":
        n, h, w, _ = x.shape
        y = transpose(reshape(x, (n, h, w, b, b, new)), (0, 1, 3, 2, 4, 5))
        return reshape(y, (n, h * b, w * b, new))
    n, _, h, w = x.shape
    y = transpose(reshape(x, (n, new, b, b, h, w)), (0, 1, 4, 2, 5, 3))
    return reshape(y, (n, new, h * b, w * b))


def space_to_depth(x: Any, block_size: int, data_format: str = "channels_last") -> Tensor:
    """The inverse of ``depth_to_space``: ``(N, H, W, C)`` becomes ``(N, H / b, W / b,
    C * b**2)``.

    >>> from nerve import ops
    >>> x = ops.reshape(ops.arange(4.0), (1, 2, 2, 1))
    >>> ops.space_to_depth(x, 2).numpy().ravel()
    array([0., 1., 2., 3.], dtype=float32)
    """
    x = tensor(x)
    b = _block("space_to_depth", x, block_size)
    fmt = _data_format(data_format, "space_to_depth")
    if fmt == "channels_last":
        n, h, w, c = x.shape
    else:
        n, c, h, w = x.shape
    for name, size in (("Height", h), ("Width", w)):
        if size % b:
            raise ShapeError(
                with_location(
                    f"space_to_depth: {name} ({size}) must be divisible by block_size ({b})."
                )
            )
    if fmt == "channels_last":
        y = transpose(reshape(x, (n, h // b, b, w // b, b, c)), (0, 1, 3, 2, 4, 5))
        return reshape(y, (n, h // b, w // b, c * b * b))
    y = transpose(reshape(x, (n, c, h // b, b, w // b, b)), (0, 1, 3, 5, 2, 4))
    return reshape(y, (n, c * b * b, h // b, w // b))


def psnr(x1: Any, x2: Any, max_val: Any) -> Tensor:
    """Peak signal-to-noise ratio in decibels: ``20 log10(max_val) - 10 log10(mse)``,
    the mean squared error taken over all elements.

    >>> from nerve import ops
    >>> round(float(ops.psnr(ops.zeros((4,)), ops.full((4,), 0.1), 1.0)), 4)
    20.0
    """
    a, b = tensor(x1), tensor(x2)
    if a.shape != b.shape:
        raise ShapeError(
            with_location(
                f"psnr: Input shapes {tuple(a.shape)} and {tuple(b.shape)} must match for PSNR "
                "calculation."
            )
        )
    a, b = promote(a, b, extra=(float,))
    peak = cast(tensor(max_val), a.dtype)
    mse = mean(square(subtract(a, b)))
    return 20.0 * log10(peak) - 10.0 * log10(mse)
