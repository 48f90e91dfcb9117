"""Image ops (Keras's ``keras.ops.image``): ``resize``.

Resizing is separable: each spatial axis in turn is resampled by a small, static
table of taps (which input rows each output row reads, and with what weights),
computed in NumPy from the sizes alone. The op itself is then a gather (``take``)
and a weighted sum over the taps, both composites of primitives, so gradients of
any order and graph compilation come for free.

The sampling rule is the half-pixel one of Keras and JAX (PyTorch's
``align_corners=False``): output pixel ``i`` of an axis resized from ``n`` to
``m`` samples the input at ``(i + 0.5) * n / m - 0.5``. Each kernel's weights
are normalized to sum to one, so edges need no padding. With ``antialias`` a
downscaling kernel is widened by the scale factor (it averages every input pixel
the output pixel covers).

>>> from nerve import ops
>>> x = ops.reshape(ops.arange(4.0), (2, 2, 1))
>>> ops.image.resize(x, (3, 3))[..., 0].numpy()
array([[0. , 0.5, 1. ],
       [1. , 1.5, 2. ],
       [2. , 2.5, 3. ]], dtype=float32)
>>> ops.image.resize(x, (4, 4), interpolation="nearest")[..., 0].numpy()
array([[0., 0., 1., 1.],
       [0., 0., 1., 1.],
       [2., 2., 3., 3.],
       [2., 2., 3., 3.]], dtype=float32)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from nerve.core import config, dtypes
from nerve.core.errors import ShapeError, with_location
from nerve.ops._convert import cast, tensor
from nerve.ops.elementwise import clip, multiply, round
from nerve.ops.indexing import take
from nerve.ops.reduction import sum
from nerve.ops.shape import reshape
from nerve.tensor import Tensor, convert_to_tensor

__all__ = ["resize"]

INTERPOLATIONS = ("bilinear", "nearest", "lanczos3", "lanczos5", "bicubic")


# -- kernels: weight as a function of the distance (in input pixels) -----------------------


def _triangle(x: np.ndarray) -> np.ndarray:
    return np.maximum(0.0, 1.0 - x)


def _keys_cubic(x: np.ndarray) -> np.ndarray:
    """Keys' cubic convolution kernel with a = -0.5 (Catmull-Rom)."""
    a = -0.5
    near = ((a + 2) * x - (a + 3)) * x * x + 1
    far = ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
    return np.where(x <= 1, near, np.where(x < 2, far, 0.0))


def _lanczos(radius: int) -> Callable[[np.ndarray], np.ndarray]:
    def kernel(x: np.ndarray) -> np.ndarray:
        return np.where(x < radius, np.sinc(x) * np.sinc(x / radius), 0.0)

    return kernel


_KERNELS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "bilinear": _triangle,
    "bicubic": _keys_cubic,
    "lanczos3": _lanczos(3),
    "lanczos5": _lanczos(5),
}

# A weight sum below this (the kernel barely touches any input pixel) gives zeros.
_NEGLIGIBLE_WEIGHT = 1000 * float(np.finfo(np.float32).eps)


def _resize_taps(
    in_size: int, out_size: int, interpolation: str, antialias: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Which input positions each output position of one axis reads, and their weights.

    Returns ``(indices, weights)``, both of shape ``(out_size, taps)``: output
    position ``i`` is ``sum_t weights[i, t] * input[indices[i, t]]``.

    >>> indices, weights = _resize_taps(2, 4, "bilinear")
    >>> indices.tolist(), weights.tolist()
    ([[0, 1], [0, 1], [0, 1], [1, 1]], [[1.0, 0.0], [0.75, 0.25], [0.25, 0.75], [1.0, 0.0]])
    """
    inverse_scale = in_size / out_size
    centers = (np.arange(out_size) + 0.5) * inverse_scale - 0.5
    if interpolation == "nearest":
        nearest = np.minimum(np.floor(centers + 0.5), in_size - 1).astype(np.int64)
        return nearest[:, None], np.ones((out_size, 1))
    widen = max(inverse_scale, 1.0) if antialias else 1.0
    distance = np.abs(centers[:, None] - np.arange(in_size)[None, :]) / widen
    dense = _KERNELS[interpolation](distance)  # (out_size, in_size)
    total = dense.sum(axis=1, keepdims=True)
    negligible = np.abs(total) <= _NEGLIGIBLE_WEIGHT
    dense = np.where(negligible, 0.0, dense / np.where(negligible, 1.0, total))
    # Each row's nonzero weights are contiguous: keep that window, the same width for all.
    nonzero = dense != 0
    first = np.where(nonzero.any(axis=1), nonzero.argmax(axis=1), 0)
    last = np.where(nonzero.any(axis=1), in_size - 1 - nonzero[:, ::-1].argmax(axis=1), 0)
    taps = int(np.max(last - first + 1))
    window = first[:, None] + np.arange(taps)[None, :]
    indices = np.minimum(window, in_size - 1)
    rows = np.arange(out_size)[:, None]
    weights = np.where(window <= last[:, None], dense[rows, indices], 0.0)
    return indices, weights


def _resample_axis(x: Tensor, axis: int, size: int, interpolation: str, antialias: bool) -> Tensor:
    in_size = x.shape[axis]
    if in_size == size:  # every kernel is 1 at distance 0 and 0 at other whole distances
        return x
    indices, weights = _resize_taps(in_size, size, interpolation, antialias)
    taps = indices.shape[1]
    gathered = take(x, convert_to_tensor(indices.reshape(-1).astype(np.int32)), axis=axis)
    if taps == 1 and np.all(weights == 1.0):
        return gathered
    shape = (*x.shape[:axis], size, taps, *x.shape[axis + 1 :])
    weight_shape = (size, taps) + (1,) * (x.ndim - axis - 1)
    w = convert_to_tensor(weights.reshape(weight_shape), dtype=x.dtype)
    return sum(multiply(reshape(gathered, shape), w), axis=axis + 1)


def resize(
    images: Any,
    size: Any,
    interpolation: str = "bilinear",
    antialias: bool = False,
    crop_to_aspect_ratio: bool = False,
    pad_to_aspect_ratio: bool = False,
    fill_mode: str = "constant",
    fill_value: float = 0.0,
    data_format: str | None = None,
) -> Tensor:
    """Resize images to ``size = (height, width)``.

    ``images`` has shape ``(height, width, channels)`` or ``(batch, height, width,
    channels)`` (channels first with ``data_format="channels_first"``).
    ``interpolation`` is one of ``"bilinear"``, ``"nearest"``, ``"bicubic"``
    (Keys, a = -0.5), ``"lanczos3"``, ``"lanczos5"``; ``antialias`` widens the
    kernel when downscaling. Integer images are resampled in floating point,
    rounded (half to even) and cast back, clipped to their dtype's range.
    ``crop_to_aspect_ratio`` and ``pad_to_aspect_ratio`` are not supported yet.

    >>> from nerve import ops
    >>> ops.image.resize(ops.ones((2, 4, 6, 3)), (8, 12)).shape
    (2, 8, 12, 3)
    """
    x = tensor(images)
    if interpolation not in INTERPOLATIONS:
        raise ValueError(
            with_location(
                f"resize: interpolation must be one of {INTERPOLATIONS}, got {interpolation!r}."
            )
        )
    if crop_to_aspect_ratio or pad_to_aspect_ratio:
        raise NotImplementedError(
            "resize: crop_to_aspect_ratio and pad_to_aspect_ratio are not supported yet; "
            "crop or pad the images first (ops.pad, slicing)."
        )
    del fill_mode, fill_value  # only used with pad_to_aspect_ratio
    if data_format not in (None, "channels_last", "channels_first"):
        raise ValueError(
            with_location(
                "resize: data_format must be 'channels_last' or 'channels_first', "
                f"got {data_format!r}."
            )
        )
    if x.ndim not in (3, 4):
        raise ShapeError(
            with_location(
                "resize: images must have rank 3 (one image) or 4 (a batch of images), "
                f"got shape {x.shape}."
            )
        )
    sizes = tuple(size) if isinstance(size, (list, tuple)) else (size,)
    if len(sizes) != 2 or not all(isinstance(s, int) and s >= 1 for s in sizes):
        raise ValueError(
            with_location(f"resize: size must be two positive ints (height, width), got {size!r}.")
        )
    first_spatial = x.ndim - (2 if data_format == "channels_first" else 3)
    dtype = x.dtype
    if not dtypes.is_float(dtype):
        x = cast(x, config.floatx())
    for offset, new_size in enumerate(sizes):
        x = _resample_axis(x, first_spatial + offset, new_size, interpolation, antialias)
    if dtypes.is_float(dtype):
        return x
    if dtype != "bool":
        info = np.iinfo(np.dtype(dtype))
        x = clip(round(x), float(info.min), float(info.max))
    return cast(x, dtype)
