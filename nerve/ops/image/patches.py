"""Windows and borders: ``extract_patches`` (2-D and 3-D), ``crop_images``,
``pad_images``.

Patches come from the ``extract_patches`` primitive that convolutions use
(sliding windows, with strides, dilation and TensorFlow's ``"same"`` padding);
Keras lays each patch out flat, window position major and channel minor.
Cropping is slicing and padding is ``ops.pad``, so all are differentiable.

>>> from nerve import ops
>>> ops.image.extract_patches(ops.ones((1, 4, 4, 3)), 2).shape
(1, 2, 2, 12)
"""

from __future__ import annotations

import math
from typing import Any

from nerve.core.errors import ShapeError, with_location
from nerve.ops._convert import tensor
from nerve.ops.image._common import check_data_format, check_rank, spatial_axes
from nerve.ops.nn._spatial import _check_fits, _padding_name, _padding_pairs, _tuple
from nerve.ops.shape import expand_dims, pad, reshape, squeeze, transpose
from nerve.primitives import nn as nnp
from nerve.tensor import Tensor

__all__ = ["crop_images", "extract_patches", "extract_patches_3d", "pad_images"]


def _patches(
    op: str,
    x: Tensor,
    size: tuple,
    strides: Any,
    dilation_rate: Any,
    padding: str,
    data_format: str | None,
) -> Tensor:
    """Patches of a batch (or one) of ``rank``-D images, Keras's layout."""
    rank = len(size)
    fmt = check_data_format(data_format, op)
    if x.ndim not in (rank + 1, rank + 2):
        raise ShapeError(
            with_location(
                f"{op}: images must have rank {rank + 1} (one) or {rank + 2} (a batch), got "
                f"shape {tuple(x.shape)}."
            )
        )
    window = _tuple(size, rank, "size", op)
    strides = window if strides is None or strides == 0 else _tuple(strides, rank, "strides", op)
    dilation = _tuple(dilation_rate, rank, "dilation_rate", op)
    padding = _padding_name(padding, op)
    single = x.ndim == rank + 1
    if single:
        x = expand_dims(x, 0)
    if fmt == "channels_first":
        x = transpose(x, (0, *range(2, rank + 2), 1))
    pads = _padding_pairs(padding, tuple(x.shape[1:-1]), window, strides, dilation)
    _check_fits(op, x, window, dilation, pads, fmt)
    patches = nnp.extract_patches(x, window, strides, dilation, pads)
    out = tuple(patches.shape[1 : 1 + rank])
    y = reshape(patches, (x.shape[0], *out, math.prod(window) * x.shape[-1]))
    if fmt == "channels_first":
        y = transpose(y, (0, rank + 1, *range(1, rank + 1)))
    return squeeze(y, 0) if single else y


def _size(op: str, size: Any) -> tuple:
    if isinstance(size, int) and not isinstance(size, bool):
        return (size, size)
    if not isinstance(size, (tuple, list)):
        raise TypeError(
            with_location(
                f"{op}: Invalid `size` argument. Expected an int or a tuple. Received: "
                f"size={size!r} of type {type(size).__name__}"
            )
        )
    if len(size) not in (2, 3):
        raise ValueError(
            with_location(
                f"{op}: Invalid `size` argument. Expected a tuple of length 2 or 3. Received: "
                f"size={size!r} with length {len(size)}"
            )
        )
    return tuple(size)


def extract_patches(
    images: Any,
    size: Any,
    strides: Any = None,
    dilation_rate: Any = 1,
    padding: str = "valid",
    data_format: str | None = None,
) -> Tensor:
    """Patches of ``size`` (an int, ``(height, width)``, or ``(depth, height, width)``
    for volumes, as ``extract_patches_3d``) every ``strides`` pixels (default: the
    size, so patches tile the image), each flattened into the channel axis: a batch
    ``(batch, height, width, channels)`` gives ``(batch, rows, cols, ph * pw *
    channels)``. ``padding="same"`` pads as TensorFlow does.

    >>> from nerve import ops
    >>> x = ops.reshape(ops.arange(16.0), (4, 4, 1))
    >>> ops.image.extract_patches(x, (2, 2))[0, 0].numpy()
    array([0., 1., 4., 5.], dtype=float32)
    """
    size = _size("extract_patches", size)
    x = tensor(images)
    return _patches("extract_patches", x, size, strides, dilation_rate, padding, data_format)


def extract_patches_3d(
    volumes: Any,
    size: Any,
    strides: Any = None,
    dilation_rate: Any = 1,
    padding: str = "valid",
    data_format: str | None = None,
) -> Tensor:
    """Patches of volumes ``(batch, depth, height, width, channels)`` (or one volume),
    as ``extract_patches`` in three dimensions; ``size`` is an int or three ints.

    >>> from nerve import ops
    >>> ops.image.extract_patches_3d(ops.ones((4, 4, 4, 2)), 2).shape
    (2, 2, 2, 16)
    """
    if isinstance(size, int) and not isinstance(size, bool):
        size = (size, size, size)
    if not isinstance(size, (tuple, list)) or len(size) != 3:
        raise TypeError(
            with_location(
                "extract_patches_3d: Invalid `size` argument. Expected an int or a tuple of "
                f"length 3. Received: size={size!r}"
            )
        )
    if strides is not None and not isinstance(strides, int):
        if not isinstance(strides, (tuple, list)) or len(strides) != 3:
            raise ValueError(
                with_location(f"extract_patches_3d: Invalid `strides` argument. Got: {strides!r}")
            )
    x = tensor(volumes)
    return _patches("extract_patches_3d", x, tuple(size), strides, dilation_rate, padding,
                    data_format)  # fmt: skip


# -- crop and pad -------------------------------------------------------------------------


def _exactly_two(op: str, names: tuple[str, str, str], values: tuple) -> None:
    if list(values).count(None) != 1:
        given = ", ".join(f"{n}={v}" for n, v in zip(names, values))
        raise ValueError(
            with_location(
                f"{op}: Must specify exactly two of {', '.join(names)}. Received: {given}"
            )
        )


def _non_negative(op: str, **values: Any) -> None:
    for name, value in values.items():
        if value is not None and value < 0:
            raise ValueError(with_location(f"{op}: {name} must be >= 0. Received: {name}={value}"))


def _borders(
    op: str, verb: str, x: Tensor, fmt: str, values: dict[str, Any]
) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
    """The two amounts per spatial axis (``top``/``bottom``, ``left``/``right``) of a crop
    (``verb="cropping"``) or a pad (``"padding"``), inferred from any two of the amounts
    and the target size, checked non-negative; and the spatial axes."""
    grow = 1 if verb == "padding" else -1
    axes = spatial_axes(x, fmt)
    result = []
    for (first, second, target), axis in zip((("top", "bottom", "height"),
                                              ("left", "right", "width")), axes):  # fmt: skip
        names = (f"{first}_{verb}", f"{second}_{verb}", f"target_{target}")
        a, b, size = (values[n] for n in names)
        _exactly_two(op, names, (a, b, size))
        _non_negative(op, **dict(zip(names, (a, b, size))))
        current = x.shape[axis]
        if a is None:
            a = grow * (size - current) - b
        if b is None:
            b = grow * (size - current) - a
        _non_negative(op, **{names[0]: a, names[1]: b})
        if grow < 0 and a + b > current:
            raise ValueError(
                with_location(
                    f"{op}: cropping {a} + {b} pixels from an axis of {current} leaves nothing; "
                    f"target_{target} must be >= 0."
                )
            )
        result.append((int(a), int(b)))
    return result[0], result[1], axes


def pad_images(
    images: Any,
    top_padding: int | None = None,
    left_padding: int | None = None,
    bottom_padding: int | None = None,
    right_padding: int | None = None,
    target_height: int | None = None,
    target_width: int | None = None,
    data_format: str | None = None,
) -> Tensor:
    """Pad images with zeros. Per axis give exactly two of the amounts before and
    after and the target size (``top_padding``, ``bottom_padding``,
    ``target_height``; ``left_padding``, ``right_padding``, ``target_width``).

    >>> from nerve import ops
    >>> ops.image.pad_images(ops.ones((2, 2, 1)), 1, 0, target_height=4, target_width=3).shape
    (4, 3, 1)
    """
    x = tensor(images)
    fmt = check_data_format(data_format, "pad_images")
    check_rank("pad_images", x)
    rows, cols, axes = _borders("pad_images", "padding", x, fmt, {
        "top_padding": top_padding, "bottom_padding": bottom_padding,
        "target_height": target_height, "left_padding": left_padding,
        "right_padding": right_padding, "target_width": target_width,
    })  # fmt: skip
    widths = [(0, 0)] * x.ndim
    widths[axes[0]], widths[axes[1]] = rows, cols
    return pad(x, widths)


def crop_images(
    images: Any,
    top_cropping: int | None = None,
    left_cropping: int | None = None,
    bottom_cropping: int | None = None,
    right_cropping: int | None = None,
    target_height: int | None = None,
    target_width: int | None = None,
    data_format: str | None = None,
) -> Tensor:
    """Crop images. Per axis give exactly two of the amounts cut before and after
    and the target size (``top_cropping``, ``bottom_cropping``, ``target_height``;
    ``left_cropping``, ``right_cropping``, ``target_width``).

    >>> from nerve import ops
    >>> ops.image.crop_images(ops.ones((5, 5, 1)), 1, 2, target_height=2, target_width=2).shape
    (2, 2, 1)
    """
    x = tensor(images)
    fmt = check_data_format(data_format, "crop_images")
    check_rank("crop_images", x)
    rows, cols, axes = _borders("crop_images", "cropping", x, fmt, {
        "top_cropping": top_cropping, "bottom_cropping": bottom_cropping,
        "target_height": target_height, "left_cropping": left_cropping,
        "right_cropping": right_cropping, "target_width": target_width,
    })  # fmt: skip
    index: list[Any] = [slice(None)] * x.ndim
    for axis, (before, after) in zip(axes, (rows, cols)):
        index[axis] = slice(before, x.shape[axis] - after)
    return x[tuple(index)]
