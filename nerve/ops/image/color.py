"""Colour conversions: ``rgb_to_grayscale``, ``rgb_to_hsv``, ``hsv_to_rgb``.

Elementwise arithmetic on the three channel planes (``where`` picks the hue's
sector), so the conversions are differentiable almost everywhere.

>>> from nerve import ops
>>> rgb = ops.convert_to_tensor([[[1.0, 0.0, 0.0], [0.0, 0.5, 0.5]]])
>>> ops.image.rgb_to_hsv(rgb).numpy()
array([[[0. , 1. , 1. ],
        [0.5, 1. , 0.5]]], dtype=float32)
>>> ops.image.hsv_to_rgb(ops.image.rgb_to_hsv(rgb)).numpy()
array([[[1. , 0. , 0. ],
        [0. , 0.5, 0.5]]], dtype=float32)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nerve.core import dtypes
from nerve.core.errors import ShapeError, with_location
from nerve.ops._convert import cast, tensor
from nerve.ops.core import copy
from nerve.ops.elementwise import abs, clip, maximum, minimum, mod, where
from nerve.ops.image._common import channels_axis, check_data_format, check_rank, require_float
from nerve.ops.linalg import tensordot
from nerve.ops.shape import expand_dims, stack, unstack
from nerve.tensor import Tensor, convert_to_tensor

__all__ = ["hsv_to_rgb", "rgb_to_grayscale", "rgb_to_hsv"]

#: ITU-R BT.601 luma weights (TensorFlow's and Keras's).
_LUMA = (0.2989, 0.5870, 0.1140)


def _three_channels(op: str, x: Tensor, axis: int) -> None:
    if x.shape[axis] != 3:
        raise ShapeError(
            with_location(
                f"{op}: Input images must have 3 channels, but received images with "
                f"{x.shape[axis]} channels (images.shape={tuple(x.shape)})."
            )
        )


def rgb_to_grayscale(images: Any, data_format: str | None = None) -> Tensor:
    """Luma of RGB images (one channel, kept as an axis of size 1), in the images'
    dtype; one-channel images are returned as they are.

    >>> from nerve import ops
    >>> ops.image.rgb_to_grayscale(ops.ones((2, 2, 3))).shape
    (2, 2, 1)
    """
    x = tensor(images)
    fmt = check_data_format(data_format, "rgb_to_grayscale")
    check_rank("rgb_to_grayscale", x)
    axis = channels_axis(x, fmt)
    if x.shape[axis] not in (1, 3):
        raise ShapeError(
            with_location(
                "rgb_to_grayscale: Invalid channel size: expected 3 (RGB) or 1 (Grayscale). "
                f"Received input with shape: images.shape={tuple(x.shape)}"
            )
        )
    if x.shape[axis] == 1:
        return copy(x)
    dtype = x.dtype
    work = dtype if dtypes.is_float(dtype) else "float32"
    weights = convert_to_tensor(np.asarray(_LUMA), dtype=work)
    gray = tensordot(cast(x, work), weights, axes=([axis], [0]))
    return cast(expand_dims(gray, axis), dtype)


def rgb_to_hsv(images: Any, data_format: str | None = None) -> Tensor:
    """RGB to HSV, every component in ``[0, 1]`` (hue as a fraction of a turn). Float
    images only.

    >>> from nerve import ops
    >>> ops.image.rgb_to_hsv(ops.convert_to_tensor([[[0.0, 0.0, 1.0]]])).numpy()
    array([[[0.6666667, 1.       , 1.       ]]], dtype=float32)
    """
    x = tensor(images)
    fmt = check_data_format(data_format, "rgb_to_hsv")
    check_rank("rgb_to_hsv", x)
    require_float("rgb_to_hsv", x)
    axis = channels_axis(x, fmt)
    _three_channels("rgb_to_hsv", x, axis)
    eps = float(np.finfo(np.float32 if x.dtype == "bfloat16" else x.dtype).eps)
    if x.dtype == "bfloat16":
        eps = 2.0**-7
    x = where(abs(x) < eps, 0.0, x)
    red, green, blue = unstack(x, axis=axis)
    value = maximum(maximum(red, green), blue)
    spread = value - minimum(minimum(red, green), blue)
    positive_value = value > 0
    positive_spread = spread > 0
    saturation = where(positive_value, spread / where(positive_value, value, 1.0), 0.0)
    norm = 1.0 / (6.0 * where(positive_spread, spread, 1.0))
    hue = where(value == green, norm * (blue - red) + 2.0 / 6.0, norm * (red - green) + 4.0 / 6.0)
    hue = where(value == red, norm * (green - blue), hue)
    hue = where(positive_spread, hue, 0.0)
    hue = where(hue < 0.0, hue + 1.0, hue)
    return stack([hue, saturation, value], axis=axis)


def hsv_to_rgb(images: Any, data_format: str | None = None) -> Tensor:
    """HSV (every component in ``[0, 1]``) to RGB. Float images only.

    >>> from nerve import ops
    >>> ops.image.hsv_to_rgb(ops.convert_to_tensor([[[0.5, 1.0, 1.0]]])).numpy()
    array([[[0., 1., 1.]]], dtype=float32)
    """
    x = tensor(images)
    fmt = check_data_format(data_format, "hsv_to_rgb")
    check_rank("hsv_to_rgb", x)
    require_float("hsv_to_rgb", x)
    axis = channels_axis(x, fmt)
    _three_channels("hsv_to_rgb", x, axis)
    hue, saturation, value = unstack(x, axis=axis)
    sector = mod(hue, 1.0) * 6.0
    red = clip(abs(sector - 3.0) - 1.0, 0.0, 1.0)
    green = clip(2.0 - abs(sector - 2.0), 0.0, 1.0)
    blue = clip(2.0 - abs(sector - 4.0), 0.0, 1.0)
    grey = 1.0 - saturation
    planes = [value * (grey + saturation * c) for c in (red, green, blue)]
    return stack(planes, axis=axis)
