"""Filters over image neighbourhoods: ``gaussian_blur``, ``sobel_edges``, ``ssim``.

Each is a depthwise convolution (``ops.depthwise_conv``: every channel filtered
on its own) with a small kernel built on the host, on an image padded first the
way the reference does it (zeros for the blur, mirrored edges for Sobel, none
for SSIM). Gradients with respect to the images come with the convolution.

>>> from nerve import ops
>>> ops.image.gaussian_blur(ops.ones((1, 5, 5, 2)), (3, 3), (1.0, 1.0)).shape
(1, 5, 5, 2)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nerve.core.errors import ShapeError, with_location
from nerve.ops._convert import cast, tensor
from nerve.ops.elementwise import divide, multiply
from nerve.ops.image._common import (
    check_data_format,
    check_rank,
    compute_dtype,
    static_number,
    to_batch,
)
from nerve.ops.nn.convolution import depthwise_conv
from nerve.ops.reduction import mean
from nerve.ops.shape import pad, reshape, stack, transpose
from nerve.tensor import Tensor, convert_to_tensor

__all__ = ["gaussian_blur", "sobel_edges", "ssim"]


def _gaussian_1d(size: int, sigma: float) -> np.ndarray:
    offsets = np.arange(size) - (size - 1) / 2
    kernel = np.exp(-0.5 * (offsets / sigma) ** 2)
    return kernel / kernel.sum()


def _depthwise(x: Tensor, kernel: np.ndarray) -> Tensor:
    """Every channel of the channels-last batch ``x`` correlated with the 2-D ``kernel``
    (valid positions only)."""
    channels = x.shape[-1]
    weights = np.broadcast_to(kernel[:, :, None, None], (*kernel.shape, channels, 1))
    weights_tensor = convert_to_tensor(np.ascontiguousarray(weights), dtype=x.dtype)
    # Explicit: the global image_data_format must not reinterpret this internal batch.
    return depthwise_conv(x, weights_tensor, data_format="channels_last")


def _pair(value: Any, op: str, what: str) -> tuple[Any, Any]:
    """One number or two (a sequence, an array or a concrete tensor) as a pair."""
    values = np.asarray(value.numpy() if isinstance(value, Tensor) else value).reshape(-1)
    if values.size == 1:
        values = np.repeat(values, 2)
    if values.size != 2:
        raise ValueError(with_location(f"{op}: {what} must be one or two numbers, got {value!r}."))
    return values[0].item(), values[1].item()


def gaussian_blur(
    images: Any, kernel_size: Any = (3, 3), sigma: Any = (1.0, 1.0), data_format: str | None = None
) -> Tensor:
    """Blur images with a Gaussian kernel, zeros outside the image. As in Keras,
    ``kernel_size[0]`` and ``sigma[0]`` shape the kernel along the width,
    ``kernel_size[1]`` and ``sigma[1]`` along the height; an even size puts the
    extra pixel after the centre.

    >>> import numpy as np
    >>> from nerve import ops
    >>> x = np.zeros((5, 5, 1))
    >>> x[2, 2] = 1.0
    >>> y = ops.image.gaussian_blur(x, (3, 3), (1.0, 1.0))
    >>> round(float(ops.sum(y)), 5), float(y[2, 2, 0]) == float(ops.max(y))
    (1.0, True)
    """
    x = tensor(images)
    fmt = check_data_format(data_format, "gaussian_blur")
    check_rank("gaussian_blur", x)
    size_x, size_y = (int(s) for s in _pair(kernel_size, "gaussian_blur", "kernel_size"))
    sigma_x, sigma_y = (
        static_number(s, "gaussian_blur", "sigma") for s in _pair(sigma, "gaussian_blur", "sigma")
    )
    if size_x < 1 or size_y < 1:
        raise ValueError(
            with_location(f"gaussian_blur: kernel_size must be positive, got {kernel_size!r}.")
        )
    kernel = np.outer(_gaussian_1d(size_y, sigma_y), _gaussian_1d(size_x, sigma_x))
    dtype = x.dtype
    batch, restore = to_batch(cast(x, compute_dtype(dtype)), fmt)
    before_h, before_w = (size_y - 1) // 2, (size_x - 1) // 2
    padded = pad(
        batch,
        ((0, 0), (before_h, size_y - 1 - before_h), (before_w, size_x - 1 - before_w), (0, 0)),
    )
    return cast(restore(_depthwise(padded, kernel)), dtype)


# Sobel: a central difference across one axis, smoothed by [1, 2, 1] along the other.
_SOBEL_ROWS = np.outer([-1.0, 0.0, 1.0], [1.0, 2.0, 1.0])
_SOBEL = (_SOBEL_ROWS, _SOBEL_ROWS.T)


def sobel_edges(images: Any, data_format: str | None = None) -> Tensor:
    """Sobel gradients of a batch of images: shape ``images.shape + (2,)``, the last axis
    holding ``[d/dy, d/dx]`` of every channel, edges mirrored (SciPy's
    ``ndimage.sobel`` with its default ``"reflect"`` mode).

    >>> from nerve import ops
    >>> ramp = ops.reshape(ops.tile(ops.arange(4.0), 4), (1, 4, 4, 1))
    >>> ops.image.sobel_edges(ramp)[0, 1, 1, 0].numpy()
    array([0., 8.], dtype=float32)
    """
    x = tensor(images)
    fmt = check_data_format(data_format, "sobel_edges")
    if x.ndim != 4:
        raise ShapeError(
            with_location(
                "sobel_edges: Invalid images rank: expected rank 4 (batch of images). "
                f"Received: images.shape={tuple(x.shape)}"
            )
        )
    dtype = x.dtype
    batch, _ = to_batch(cast(x, compute_dtype(dtype)), fmt)
    padded = pad(batch, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="symmetric")
    edges = stack([_depthwise(padded, kernel) for kernel in _SOBEL], axis=-1)
    if fmt == "channels_first":
        edges = transpose(edges, (0, 3, 1, 2, 4))
    return cast(edges, dtype)


def ssim(
    image1: Any,
    image2: Any,
    max_val: float = 1.0,
    filter_size: int = 11,
    filter_sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
    data_format: str | None = None,
) -> Tensor:
    """Structural similarity of two images or batches: the mean over valid
    ``filter_size`` windows (Gaussian-weighted, ``filter_sigma``) and over channels
    of ``(2 mu1 mu2 + c1)(2 cov + c2) / ((mu1^2 + mu2^2 + c1)(var1 + var2 + c2))``,
    ``c1 = (k1 max_val)^2``, ``c2 = (k2 max_val)^2``. Returns one value per image:
    shape ``(batch,)``, or ``()`` for single images.

    >>> from nerve import ops
    >>> x = ops.linspace(0.0, 1.0, 16 * 16 * 3).reshape((16, 16, 3))
    >>> round(float(ops.image.ssim(x, x)), 6)
    1.0
    """
    x1, x2 = tensor(image1), tensor(image2)
    fmt = check_data_format(data_format, "ssim")
    check_rank("ssim", x1, "image1")
    check_rank("ssim", x2, "image2")
    if x1.shape != x2.shape:
        raise ShapeError(
            with_location(
                f"ssim: image1 and image2 must have the same shape, got {tuple(x1.shape)} and "
                f"{tuple(x2.shape)}."
            )
        )
    dtype = x1.dtype
    work = compute_dtype(dtype)
    a, _ = to_batch(cast(x1, work), fmt)
    b, _ = to_batch(cast(x2, work), fmt)
    kernel = np.outer(*(2 * (_gaussian_1d(int(filter_size), float(filter_sigma)),)))
    c1 = (k1 * max_val) ** 2
    c2 = (k2 * max_val) ** 2
    mu1, mu2 = _depthwise(a, kernel), _depthwise(b, kernel)
    mu1_sq, mu2_sq, mu12 = mu1 * mu1, mu2 * mu2, mu1 * mu2
    var1 = _depthwise(a * a, kernel) - mu1_sq
    var2 = _depthwise(b * b, kernel) - mu2_sq
    cov = _depthwise(a * b, kernel) - mu12
    numerator = multiply(2.0 * mu12 + c1, 2.0 * cov + c2)
    denominator = multiply(mu1_sq + mu2_sq + c1, var1 + var2 + c2)
    per_image = mean(divide(numerator, denominator), axis=(1, 2, 3))
    if x1.ndim == 3:
        per_image = reshape(per_image, ())
    return cast(per_image, dtype)
