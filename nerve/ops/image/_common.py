"""Checks and layout helpers shared by the image ops.

Most image ops work on one layout: a batch of channels-last images
``(batch, height, width, channels)``. ``to_batch`` brings any accepted input
there and returns how to bring a result back, so each op is written once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nerve.core import config, dtypes
from nerve.core.errors import ShapeError, with_location
from nerve.ops._convert import cast, tensor
from nerve.ops.shape import expand_dims, squeeze, transpose
from nerve.tensor import Tensor

DATA_FORMATS = ("channels_last", "channels_first")
FILL_MODES = ("constant", "nearest", "wrap", "mirror", "reflect")
#: Affine-style resamplers' interpolations and the spline order each means.
SAMPLING_ORDERS = {"nearest": 0, "bilinear": 1}


def check_data_format(value: str | None, op: str) -> str:
    """``value``, checked; ``None`` means the global ``config.image_data_format()``,
    as in Keras."""
    value = config.image_data_format() if value is None else value
    if value not in DATA_FORMATS:
        raise ValueError(
            with_location(
                f"{op}: data_format must be 'channels_last' or 'channels_first', got {value!r}."
            )
        )
    return value


def check_rank(op: str, x: Tensor, name: str = "images") -> None:
    """Images are rank 3 (one image) or rank 4 (a batch), as in Keras."""
    if x.ndim not in (3, 4):
        raise ShapeError(
            with_location(
                f"{op}: Invalid {name} rank: expected rank 3 (single image) or rank 4 "
                f"(batch of images). Received input with shape: {name}.shape={tuple(x.shape)}"
            )
        )


def choice(op: str, what: str, value: Any, allowed: Any) -> None:
    if value not in allowed:
        raise ValueError(
            with_location(
                f"{op}: Invalid value for argument `{what}`. Expected one of "
                f"{sorted(allowed)}. Received: {what}={value!r}"
            )
        )


def channels_axis(x: Tensor, fmt: str) -> int:
    return x.ndim - 1 if fmt == "channels_last" else x.ndim - 3


def spatial_axes(x: Tensor, fmt: str) -> tuple[int, int]:
    first = x.ndim - (3 if fmt == "channels_last" else 2)
    return first, first + 1


def to_batch(x: Tensor, fmt: str) -> tuple[Tensor, Callable[[Tensor], Tensor]]:
    """``x`` as ``(batch, height, width, channels)``, and the function that puts a
    result of that layout (same rank) back into ``x``'s layout."""
    single = x.ndim == 3
    if single:
        x = expand_dims(x, 0)
    if fmt == "channels_first":
        x = transpose(x, (0, 2, 3, 1))

    def restore(y: Tensor) -> Tensor:
        if fmt == "channels_first":
            y = transpose(y, (0, y.ndim - 1, *range(1, y.ndim - 1)))
        return squeeze(y, 0) if single else y

    return x, restore


def compute_dtype(dtype: str) -> str:
    """The float dtype an image op computes in: float64 stays, everything else
    (integers, float16, bfloat16) is computed in float32, as Keras's backends do."""
    return "float64" if dtype == "float64" else "float32"


def as_compute(x: Any) -> tuple[Tensor, str]:
    """``x`` cast to its compute dtype, and its own dtype."""
    x = tensor(x)
    return cast(x, compute_dtype(x.dtype)), x.dtype


def require_float(op: str, x: Tensor) -> None:
    if not dtypes.is_float(x.dtype):
        # Keras raises ValueError here, not TypeError.
        raise ValueError(
            with_location(
                f"{op}: Invalid images dtype: expected float dtype. Received: "
                f"images.dtype={x.dtype}"
            )
        )


def static_number(value: Any, op: str, what: str) -> float:
    """A Python float from a number, a 0-d array or a concrete tensor: these ops
    build their filters on the host, so the value must be known."""
    try:
        return float(value.numpy() if isinstance(value, Tensor) else value)
    except (TypeError, ValueError) as error:
        raise TypeError(
            with_location(f"{op}: {what} must be a concrete number, got {value!r}.")
        ) from error
