"""Helpers shared by convolution and pooling: data formats, padding, window geometry."""

from __future__ import annotations

from typing import Any

from nerve.core import config
from nerve.core.errors import ShapeError, with_location
from nerve.ops._convert import to_float
from nerve.primitives.shape import transpose
from nerve.tensor import Tensor

_PADDINGS = ("valid", "same")


def _data_format(data_format: str | None, op: str) -> str:
    data_format = config.image_data_format() if data_format is None else data_format
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(
            with_location(
                f"{op}: data_format must be 'channels_last' or 'channels_first', "
                f"got {data_format!r}."
            )
        )
    return data_format


def _padding_name(padding: Any, op: str) -> str:
    name = padding.lower() if isinstance(padding, str) else padding
    if name not in _PADDINGS:
        raise ValueError(
            with_location(f"{op}: padding must be 'valid' or 'same', got {padding!r}.")
        )
    return name


def _tuple(value: Any, rank: int, what: str, op: str) -> tuple:
    """An int or a sequence of ``rank`` positive ints, as a tuple."""
    values = (value,) * rank if isinstance(value, int) else tuple(value)
    if len(values) != rank or not all(isinstance(v, int) and v >= 1 for v in values):
        raise ValueError(
            with_location(
                f"{op}: {what} must be a positive int or {rank} positive ints for "
                f"{rank} spatial axes, got {value!r}."
            )
        )
    return values


def _spatial_input(op: str, x: Any, data_format: str | None) -> tuple[Tensor, str, int]:
    """The input as a channels-last float tensor, its data format and its spatial rank."""
    x = to_float(x)
    data_format = _data_format(data_format, op)
    rank = x.ndim - 2
    if rank not in (1, 2, 3):
        raise ShapeError(
            with_location(
                f"{op}: inputs must have rank 3, 4 or 5 (batch, spatial axes, channels) for a "
                f"1-, 2- or 3-D op; got shape {tuple(x.shape)}."
            )
        )
    if data_format == "channels_first":
        x = transpose(x, (0, *range(2, rank + 2), 1))
    return x, data_format, rank


def _output_layout(y: Tensor, data_format: str) -> Tensor:
    if data_format == "channels_first":
        return transpose(y, (0, y.ndim - 1, *range(1, y.ndim - 1)))
    return y


def _same_padding(size: int, window: int, stride: int, dilation: int) -> tuple:
    """TensorFlow's "same": ceil(size / stride) outputs, the odd extra pad at the end."""
    span = (window - 1) * dilation + 1
    out = -(-size // stride)
    total = max((out - 1) * stride + span - size, 0)
    return (total // 2, total - total // 2)


def _padding_pairs(padding: str, spatial: tuple, window, strides, dilation) -> tuple:
    if padding == "valid":
        return ((0, 0),) * len(spatial)
    return tuple(_same_padding(*a) for a in zip(spatial, window, strides, dilation))


def _check_fits(op: str, x: Tensor, window, dilation, pads, data_format: str) -> None:
    for size, k, d, (lo, hi) in zip(x.shape[1:-1], window, dilation, pads):
        if size + lo + hi < (k - 1) * d + 1:
            raise ShapeError(
                with_location(
                    f"{op}: window {tuple(window)} (dilation {tuple(dilation)}) is larger than "
                    f"the spatial shape {tuple(x.shape[1:-1])} of the input "
                    f"(data_format={data_format!r}); use smaller windows or padding='same'."
                )
            )
