"""Resampling by separable filters: ``resize`` and ``scale_and_translate``.

Each spatial axis in turn is resampled by a small, static table of taps (which
input rows each output row reads, and with what weights), computed in NumPy from
the sizes alone, applied by the ``resample`` primitive (one pass over the data; its
adjoint ``resample_transpose`` gives gradients of any order).

The sampling rule is the half-pixel one of Keras and JAX (PyTorch's
``align_corners=False``): output pixel ``i`` of an axis scaled by ``s`` and
translated by ``t`` samples the input at ``(i + 0.5 - t) / s - 0.5``. A kernel's
weights are normalized to sum to one, so edges need no padding. With
``antialias`` a downscaling kernel is widened by the scale factor (it averages
every input pixel the output pixel covers). ``"area"`` (TensorFlow's) weighs
each input pixel by how much of it the output pixel's box covers.

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

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from nerve.core import config, dtypes
from nerve.core.errors import with_location
from nerve.ops._convert import cast, tensor
from nerve.ops.creation import full
from nerve.ops.elementwise import clip, round
from nerve.ops.image._common import check_data_format, check_rank, choice, spatial_axes
from nerve.ops.shape import concatenate
from nerve.primitives import nn as nnp
from nerve.tensor import Tensor, convert_to_tensor

__all__ = ["resize", "scale_and_translate"]

#: The interpolations every Keras backend's resize has (and UpSampling2D takes).
INTERPOLATIONS = ("bilinear", "nearest", "lanczos3", "lanczos5", "bicubic")
#: resize's: those and TensorFlow's "area".
RESIZE_INTERPOLATIONS = (*INTERPOLATIONS, "area")
SCALE_AND_TRANSLATE_METHODS = {
    "bicubic": "cubic",
    "bilinear": "linear",
    "cubic": "cubic",
    "lanczos3": "lanczos3",
    "lanczos5": "lanczos5",
    "linear": "linear",
    "tricubic": "cubic",
    "trilinear": "linear",
}


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
    "linear": _triangle,
    "cubic": _keys_cubic,
    "lanczos3": _lanczos(3),
    "lanczos5": _lanczos(5),
}
_RESIZE_KERNELS = {"bilinear": "linear", "bicubic": "cubic", "lanczos3": "lanczos3",
                   "lanczos5": "lanczos5"}  # fmt: skip

# A weight sum below this (the kernel barely touches any input pixel) gives zeros.
_NEGLIGIBLE_WEIGHT = 1000 * float(np.finfo(np.float32).eps)


def _kernel_matrix(
    in_size: int, out_size: int, scale: float, translation: float, kernel: str, antialias: bool
) -> np.ndarray:
    """``(out_size, in_size)``: row ``i`` holds every input pixel's weight for output ``i``."""
    centers = (np.arange(out_size) + 0.5 - translation) / scale - 0.5
    widen = max(1.0 / scale, 1.0) if antialias else 1.0
    distance = np.abs(centers[:, None] - np.arange(in_size)[None, :]) / widen
    dense = _KERNELS[kernel](distance)
    total = dense.sum(axis=1, keepdims=True)
    negligible = np.abs(total) <= _NEGLIGIBLE_WEIGHT
    dense = np.where(negligible, 0.0, dense / np.where(negligible, 1.0, total))
    # An output pixel whose center falls outside the input reads nothing.
    inside = (centers >= -0.5) & (centers <= in_size - 0.5)
    return np.where(inside[:, None], dense, 0.0)


def _area_matrix(in_size: int, out_size: int) -> np.ndarray:
    """Output pixel ``i`` covers ``[i, i + 1) * in_size / out_size`` of the input; each
    input pixel weighs the length it shares with that box, over the box's length."""
    step = in_size / out_size
    starts = np.arange(out_size)[:, None] * step
    pixels = np.arange(in_size)[None, :]
    overlap = np.minimum(starts + step, pixels + 1) - np.maximum(starts, pixels)
    return np.maximum(overlap, 0.0) / step


def _nearest_matrix(in_size: int, out_size: int) -> np.ndarray:
    source = np.floor((np.arange(out_size) + 0.5) * in_size / out_size).astype(np.int64)
    dense = np.zeros((out_size, in_size))
    dense[np.arange(out_size), np.minimum(source, in_size - 1)] = 1.0
    return dense


def _taps(dense: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A weight matrix as taps: ``(indices, weights)``, both ``(out_size, taps)``, with
    output ``i = sum_t weights[i, t] * input[indices[i, t]]``. Each row's nonzero
    weights are contiguous; the window kept is the widest row's.

    >>> indices, weights = _taps(_kernel_matrix(2, 4, 2.0, 0.0, "linear", False))
    >>> indices.tolist(), weights.tolist()
    ([[0, 1], [0, 1], [0, 1], [1, 1]], [[1.0, 0.0], [0.75, 0.25], [0.25, 0.75], [1.0, 0.0]])
    """
    out_size, in_size = dense.shape
    nonzero = dense != 0
    some = nonzero.any(axis=1)
    first = np.where(some, nonzero.argmax(axis=1), 0)
    last = np.where(some, in_size - 1 - nonzero[:, ::-1].argmax(axis=1), 0)
    taps = int(np.max(last - first + 1))
    window = first[:, None] + np.arange(taps)[None, :]
    indices = np.minimum(window, in_size - 1)
    weights = np.where(window <= last[:, None], dense[np.arange(out_size)[:, None], indices], 0.0)
    return indices, weights


def _apply_taps(x: Tensor, axis: int, indices: np.ndarray, weights: np.ndarray) -> Tensor:
    """``x`` resampled along ``axis`` by taps (the ``resample`` primitive: one pass over
    the data)."""
    return nnp.resample_p.bind(
        x,
        convert_to_tensor(indices.astype(np.int32, copy=False)),
        convert_to_tensor(weights, dtype=x.dtype),
        axis=axis,
    )


def _apply_taps2(x: Tensor, axis: int, first: tuple, second: tuple) -> Tensor:
    """``x`` resampled along ``axis`` then ``axis + 1`` by their taps (the ``resample2``
    primitive: one pass over the data for both)."""
    tables = [convert_to_tensor(a.astype(np.int32, copy=False)) if i % 2 == 0
              else convert_to_tensor(a, dtype=x.dtype)
              for i, a in enumerate((*first, *second))]  # fmt: skip
    return nnp.resample2_p.bind(x, *tables, axis=axis)


def _resample(x: Tensor, tables: dict[int, tuple[np.ndarray, np.ndarray]]) -> Tensor:
    """Apply each axis's taps: two adjacent axes in one pass (the outer one first),
    others one by one, the most shrinking axis first (the later passes then run on
    less data). Integer images are resampled in floating point, rounded (half to
    even), clipped to their dtype's range and cast back."""
    dtype = x.dtype
    if not dtypes.is_float(dtype):
        x = cast(x, config.floatx())
    axes = sorted(tables)
    if len(axes) == 2 and axes[1] == axes[0] + 1:
        x = _apply_taps2(x, axes[0], tables[axes[0]], tables[axes[1]])
    else:
        order = sorted(tables, key=lambda a: tables[a][0].shape[0] / max(x.shape[a], 1))
        for axis in order:
            x = _apply_taps(x, axis, *tables[axis])
    if dtypes.is_float(dtype):
        return x
    if dtype != "bool":
        info = np.iinfo(np.dtype(dtype))
        x = clip(round(x), float(info.min), float(info.max))
    return cast(x, dtype)


def _resize_matrix(in_size: int, out_size: int, interpolation: str, antialias: bool) -> np.ndarray:
    if interpolation == "nearest":
        return _nearest_matrix(in_size, out_size)
    if interpolation == "area":
        return _area_matrix(in_size, out_size)
    kernel = _RESIZE_KERNELS[interpolation]
    return _kernel_matrix(in_size, out_size, out_size / in_size, 0.0, kernel, antialias)


@functools.lru_cache(maxsize=256)
def resize_taps(
    in_size: int, out_size: int, interpolation: str, antialias: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """The taps ``(indices, weights)``, each ``(out_size, taps)``, that ``resize``
    resamples one axis with (shared with the image-folder loader). Cached, as a model
    resizes the same sizes every step, and so read-only.

    >>> resize_taps(4, 2, "bilinear")[0].tolist()
    [[0, 1], [2, 3]]
    """
    indices, weights = _taps(_resize_matrix(in_size, out_size, interpolation, antialias))
    indices = indices.astype(np.int32)
    indices.flags.writeable = weights.flags.writeable = False
    return indices, weights


def _crop_to_aspect(x: Tensor, axes: tuple[int, int], size: tuple[int, int]) -> Tensor:
    """The centered crop of ``x`` with the aspect ratio of ``size`` (Keras's rounding)."""
    height, width = x.shape[axes[0]], x.shape[axes[1]]
    crop_height = max(min(height, int(width * size[0] / size[1])), 1)
    crop_width = max(min(width, int(height * size[1] / size[0])), 1)
    top, left = (height - crop_height) // 2, (width - crop_width) // 2
    index: list[Any] = [slice(None)] * x.ndim
    index[axes[0]] = slice(top, top + crop_height)
    index[axes[1]] = slice(left, left + crop_width)
    return x[tuple(index)]


def _pad_to_aspect(
    x: Tensor, axes: tuple[int, int], size: tuple[int, int], fill_value: float
) -> Tensor:
    """``x`` padded with ``fill_value`` on both sides of one axis towards the aspect
    ratio of ``size`` (Keras pads both sides by the same amount)."""
    height, width = x.shape[axes[0]], x.shape[axes[1]]
    pad_height = max(height, int(width * size[0] / size[1]))
    pad_width = max(width, int(height * size[1] / size[0]))
    for axis, amount in (
        (axes[0], (pad_height - height) // 2),
        (axes[1], (pad_width - width) // 2),
    ):
        if amount > 0:
            shape = tuple(amount if a == axis else n for a, n in enumerate(x.shape))
            fill = full(shape, fill_value, dtype=x.dtype)
            return concatenate([fill, x, fill], axis=axis)
    return x


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
    (Keys, a = -0.5), ``"lanczos3"``, ``"lanczos5"``, ``"area"``; ``antialias``
    widens the kernel when downscaling. ``crop_to_aspect_ratio`` first crops the
    centre of the image to the target's aspect ratio; ``pad_to_aspect_ratio`` pads
    it with ``fill_value`` instead (``fill_mode`` must be ``"constant"``). Integer
    images are resampled in floating point, rounded (half to even) and cast back,
    clipped to their dtype's range.

    >>> from nerve import ops
    >>> ops.image.resize(ops.ones((2, 4, 6, 3)), (8, 12)).shape
    (2, 8, 12, 3)
    >>> ops.image.resize(ops.ones((4, 6, 1)), (2, 2), crop_to_aspect_ratio=True).shape
    (2, 2, 1)
    """
    x = tensor(images)
    target = _resize_arguments(x, size, interpolation, crop_to_aspect_ratio, pad_to_aspect_ratio)
    fmt = check_data_format(data_format, "resize")
    if fill_mode != "constant":
        raise ValueError(
            with_location(
                "resize: Invalid value for argument `fill_mode`. Only `'constant'` is "
                f"supported. Received: fill_mode={fill_mode!r}"
            )
        )
    axes = spatial_axes(x, fmt)
    if crop_to_aspect_ratio:
        x = _crop_to_aspect(x, axes, target)
    elif pad_to_aspect_ratio:
        x = _pad_to_aspect(x, axes, target, fill_value)
    tables = {
        axis: resize_taps(x.shape[axis], new, interpolation, bool(antialias))
        for axis, new in zip(axes, target)
        if x.shape[axis] != new  # every kernel is 1 at distance 0, 0 at other whole ones
    }
    return _resample(x, tables)


def _resize_arguments(
    x: Tensor, size: Any, interpolation: str, crop: bool, pad: bool
) -> tuple[int, int]:
    """The checked target ``(height, width)``: two positive ints, given as a sequence,
    an array or a concrete tensor."""
    values = np.asarray(size.numpy() if isinstance(size, Tensor) else size, dtype=object)
    if values.shape != (2,) or not all(
        isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in values
    ):
        raise ValueError(
            with_location(
                f"resize: Expected `size` to be a tuple of 2 integers. Received: size={size!r}"
            )
        )
    if values[0] <= 0 or values[1] <= 0:
        raise ValueError(
            with_location(
                f"resize: `size` must have positive height and width. Received: size={size!r}"
            )
        )
    check_rank("resize", x)
    if crop and pad:
        raise ValueError(
            with_location(
                "resize: Only one of `pad_to_aspect_ratio` & `crop_to_aspect_ratio` can be `True`."
            )
        )
    choice("resize", "interpolation", interpolation, RESIZE_INTERPOLATIONS)
    return int(values[0]), int(values[1])


def scale_and_translate(
    images: Any,
    output_shape: Any,
    scale: Any,
    translation: Any,
    spatial_dims: Any,
    method: str,
    antialias: bool = True,
) -> Tensor:
    """Resample ``images`` along ``spatial_dims`` into ``output_shape``: output
    pixel ``i`` of dimension ``d`` samples the input at ``(i + 0.5 -
    translation[k]) / scale[k] - 0.5`` (JAX's ``jax.image.scale_and_translate``).

    ``method`` is ``"linear"`` (also ``"bilinear"``, ``"trilinear"``),
    ``"cubic"`` (also ``"bicubic"``, ``"tricubic"``), ``"lanczos3"`` or
    ``"lanczos5"``; ``antialias`` widens the kernel when downscaling. ``scale``
    and ``translation`` are one number per spatial dimension and must be concrete
    (the filter tables are built on the host). Output pixels sampling outside
    the input are 0.

    >>> from nerve import ops
    >>> x = ops.reshape(ops.arange(4.0), (1, 4))
    >>> ops.image.scale_and_translate(x, (1, 4), [1.0], [1.0], [1], "linear").numpy()
    array([[0., 0., 1., 2.]], dtype=float32)
    """
    x = tensor(images)
    choice("scale_and_translate", "method", method, SCALE_AND_TRANSLATE_METHODS)
    kernel = SCALE_AND_TRANSLATE_METHODS[method]
    dims = [int(d) % x.ndim for d in spatial_dims]
    scales = np.asarray(scale.numpy() if isinstance(scale, Tensor) else scale, np.float64)
    shifts = np.asarray(
        translation.numpy() if isinstance(translation, Tensor) else translation, np.float64
    )
    shape = tuple(int(s) for s in output_shape)
    if len(shape) != x.ndim or scales.shape != (len(dims),) or shifts.shape != (len(dims),):
        raise ValueError(
            with_location(
                f"scale_and_translate: output_shape must have one size per axis of images "
                f"{tuple(x.shape)} and scale and translation one number per spatial dim "
                f"{tuple(dims)}; got output_shape={shape}, scale shape {scales.shape}, "
                f"translation shape {shifts.shape}."
            )
        )
    for axis in range(x.ndim):
        if axis not in dims and shape[axis] != x.shape[axis]:
            raise ValueError(
                with_location(
                    f"scale_and_translate: axis {axis} is not in spatial_dims {tuple(dims)}, so "
                    f"output_shape {shape} must keep its size {x.shape[axis]}."
                )
            )
    tables = {
        axis: _taps(_kernel_matrix(x.shape[axis], shape[axis], s, t, kernel, antialias))
        for axis, s, t in zip(dims, scales.tolist(), shifts.tolist())
    }
    return _resample(x, tables)
