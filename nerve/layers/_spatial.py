"""What the pooling and reshaping layers share: their argument checks (data formats,
int tuples, ``(before, after)`` pairs per axis) and ``SpatialLayer``, a layer over
``rank`` spatial axes that knows where they sit in its inputs and says so when an
input has the wrong rank. Every error names the layer and what it received.
"""

from __future__ import annotations

import operator
from typing import Any, ClassVar

from nerve.core import config
from nerve.core.errors import ShapeError, with_location
from nerve.layers.base import Layer

DATA_FORMATS = ("channels_last", "channels_first")
PADDINGS = ("valid", "same")
_AXIS_NAMES = {1: "steps", 2: "height, width", 3: "depth, height, width"}


def data_format_of(value: Any, layer: str) -> str:
    """``value`` checked as a ``data_format`` (``None`` means ``config.image_data_format()``,
    ``"channels_last"`` unless set otherwise)."""
    if value is None:
        return config.image_data_format()
    if value not in DATA_FORMATS:
        raise ValueError(
            f"{layer}: data_format must be 'channels_last' or 'channels_first', "
            f"got data_format={value!r}."
        )
    return str(value)


def padding_of(value: Any, layer: str) -> str:
    """``value`` checked as a pooling ``padding`` ("valid" or "same", any case)."""
    name = value.lower() if isinstance(value, str) else value
    if name not in PADDINGS:
        raise ValueError(f"{layer}: padding must be 'valid' or 'same', got padding={value!r}.")
    return str(name)


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        return operator.index(value)
    except TypeError:
        return None


def int_tuple(value: Any, rank: int, what: str, layer: str, minimum: int = 1) -> tuple[int, ...]:
    """An int or ``rank`` ints, each at least ``minimum``, as a tuple of ``rank`` ints
    (Keras's ``pool_size``, ``kernel_size``, ``strides``, ``output_padding``, ...).

    >>> int_tuple(2, 3, "pool_size", "MaxPooling3D")
    (2, 2, 2)
    >>> int_tuple([0, 1], 2, "output_padding", "Conv2DTranspose", minimum=0)
    (0, 1)
    """
    items = tuple(value) if isinstance(value, (tuple, list)) else (value,) * rank
    values = tuple(v for v in map(_as_int, items) if v is not None and v >= minimum)
    if len(items) != rank or len(values) != rank:
        qualifier = "positive" if minimum == 1 else "non-negative"
        raise ValueError(
            f"{layer}: {what} must be a {qualifier} integer or a tuple of {rank} {qualifier} "
            f"integers (one per spatial axis), got {what}={value!r}."
        )
    return values


def _pair(item: Any) -> tuple[int, int] | None:
    """``item`` (an int, or a pair of ints) as a non-negative pair, or ``None``."""
    raw = tuple(item) if isinstance(item, (tuple, list)) else (item, item)
    if len(raw) != 2:
        return None
    before, after = _as_int(raw[0]), _as_int(raw[1])
    if before is None or after is None or before < 0 or after < 0:
        return None
    return (before, after)


def int_pairs(value: Any, rank: int, what: str, layer: str) -> tuple[tuple[int, int], ...]:
    """Keras's forms of a ``cropping`` / ``padding`` argument as ``rank`` pairs of
    non-negative ``(before, after)`` amounts: an int (the same everywhere), ``rank``
    ints (symmetric per axis) or ``rank`` pairs; for one axis, a pair is
    ``(before, after)``.

    >>> int_pairs(1, 2, "padding", "ZeroPadding2D")
    ((1, 1), (1, 1))
    >>> int_pairs((1, 2), 2, "padding", "ZeroPadding2D")
    ((1, 1), (2, 2))
    >>> int_pairs((1, 2), 1, "padding", "ZeroPadding1D")
    ((1, 2),)
    """
    if rank == 1 and isinstance(value, (tuple, list)) and len(value) == 2:
        items: tuple = (value,)
    else:
        items = tuple(value) if isinstance(value, (tuple, list)) else (value,) * rank
    pairs = tuple(p for p in map(_pair, items) if p is not None)
    if len(items) != rank or len(pairs) != rank:
        forms = (
            "an int or a pair (before, after)"
            if rank == 1
            else f"an int, a tuple of {rank} ints or a tuple of {rank} (before, after) pairs"
        )
        raise ValueError(
            f"{layer}: {what} must be {forms}, all non-negative, got {what}={value!r}."
        )
    return pairs


class SpatialLayer(Layer):
    """A layer over ``rank`` spatial axes laid out by ``data_format``: channels last,
    ``(batch, *spatial, channels)``, or channels first, ``(batch, channels, *spatial)``."""

    rank: ClassVar[int]
    data_format: str

    def spatial_axes(self) -> tuple[int, ...]:
        """The positions of the spatial axes in an input (batch axis included)."""
        first = 2 if self.data_format == "channels_first" else 1
        return tuple(range(first, first + self.rank))

    def check_rank(self, input_shape: tuple) -> None:
        """Raise, naming the layer, unless ``input_shape`` has ``rank + 2`` axes."""
        if len(input_shape) == self.rank + 2:
            return
        axes = _AXIS_NAMES[self.rank]
        layout = (
            f"(batch, channels, {axes})"
            if self.data_format == "channels_first"
            else f"(batch, {axes}, channels)"
        )
        raise ShapeError(
            with_location(
                f"{type(self).__name__} {self.name!r} expects inputs of rank {self.rank + 2}, "
                f"{layout} with data_format={self.data_format!r}, but received inputs of "
                f"shape {tuple(input_shape)}."
            )
        )

    def with_spatial(self, input_shape: tuple, spatial: Any) -> tuple:
        """``input_shape`` with its spatial sizes replaced by ``spatial``."""
        shape = list(input_shape)
        for axis, size in zip(self.spatial_axes(), spatial):
            shape[axis] = size
        return tuple(shape)

    def spatial_shape(self, input_shape: tuple) -> tuple:
        return tuple(input_shape[axis] for axis in self.spatial_axes())
