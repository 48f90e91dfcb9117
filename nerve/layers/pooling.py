"""Pooling layers: max and average over sliding windows (``MaxPooling1D``/``2D``/``3D``,
``AveragePooling1D``/``2D``/``3D``) and over all spatial positions (the ``Global*``
layers), with Keras's short aliases (``MaxPool2D`` is ``MaxPooling2D``, ...).

Two bases hold everything: ``Pooling`` (windows: ``pool_size``, ``strides``,
``padding``) and ``GlobalPooling`` (``keepdims``); each family says which op it
applies and each class only its number of spatial axes.

>>> from nerve import layers, ops
>>> layers.MaxPooling2D()(ops.ones((1, 4, 6, 3))).shape
(1, 2, 3, 3)
>>> layers.GlobalAveragePooling2D(keepdims=True)(ops.ones((1, 4, 6, 3))).shape
(1, 1, 1, 3)
>>> layers.MaxPool2D is layers.MaxPooling2D
True
"""

from __future__ import annotations

import math
from typing import Any

from nerve import ops
from nerve.core.errors import ShapeError, with_location
from nerve.layers._spatial import (
    SpatialLayer,
    data_format_of,
    int_tuple,
    padding_of,
)
from nerve.tensor import Tensor

__all__ = [
    "AveragePooling1D",
    "AveragePooling2D",
    "AveragePooling3D",
    "AvgPool1D",
    "AvgPool2D",
    "AvgPool3D",
    "BaseAveragePooling",
    "BaseGlobalAveragePooling",
    "BaseGlobalMaxPooling",
    "BaseMaxPooling",
    "GlobalAveragePooling1D",
    "GlobalAveragePooling2D",
    "GlobalAveragePooling3D",
    "GlobalAvgPool1D",
    "GlobalAvgPool2D",
    "GlobalAvgPool3D",
    "GlobalMaxPool1D",
    "GlobalMaxPool2D",
    "GlobalMaxPool3D",
    "GlobalMaxPooling1D",
    "GlobalMaxPooling2D",
    "GlobalMaxPooling3D",
    "GlobalPooling",
    "MaxPool1D",
    "MaxPool2D",
    "MaxPool3D",
    "MaxPooling1D",
    "MaxPooling2D",
    "MaxPooling3D",
    "Pooling",
]


# -- windows ---------------------------------------------------------------------------------


class Pooling(SpatialLayer):
    """Reduces each ``pool_size`` window, moved by ``strides`` (default: ``pool_size``);
    ``padding="same"`` pads so that ``ceil(size / stride)`` windows fit, the odd extra
    at the end (TensorFlow's rule, as in Keras). Subclasses say which op reduces.

    >>> from nerve import layers
    >>> layers.AveragePooling1D(3, strides=2, padding="same").compute_output_shape((None, 7, 4))
    (None, 4, 4)
    """

    def __init__(
        self,
        pool_size: Any,
        strides: Any = None,
        padding: str = "valid",
        data_format: str | None = None,
        name: str | None = None,
        **kwargs: Any,
    ):
        super().__init__(name=name, **kwargs)
        layer = type(self).__name__
        self.pool_size = int_tuple(pool_size, self.rank, "pool_size", layer)
        self.strides = (
            self.pool_size if strides is None else int_tuple(strides, self.rank, "strides", layer)
        )
        self.padding = padding_of(padding, layer)
        self.data_format = data_format_of(data_format, layer)

    def pool(self, inputs: Tensor) -> Tensor:
        """The pooling op on channels-last or -first ``inputs`` (set by a family)."""
        raise NotImplementedError

    def call(self, inputs: Tensor) -> Tensor:
        self.check_input(tuple(inputs.shape))
        return self.pool(inputs)

    def check_input(self, input_shape: tuple) -> None:
        """Raise, naming the layer, on a wrong rank or a window that doesn't fit."""
        self.check_rank(input_shape)
        spatial = self.spatial_shape(input_shape)
        # Symbolic sizes (a trace with unknown dims) are left to the op to check.
        too_small = any(isinstance(n, int) and n < k for n, k in zip(spatial, self.pool_size))
        if self.padding == "valid" and too_small:
            raise ShapeError(
                with_location(
                    f"{type(self).__name__} {self.name!r}: pool_size {self.pool_size} is larger "
                    f"than the spatial shape {spatial} of inputs of shape {tuple(input_shape)} "
                    f"(data_format={self.data_format!r}); use a smaller pool_size or "
                    "padding='same'."
                )
            )

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        self.check_input(input_shape)
        sizes = [
            _pooled_size(n, k, s, self.padding) if isinstance(n, int) else None
            for n, k, s in zip(self.spatial_shape(input_shape), self.pool_size, self.strides)
        ]
        return self.with_spatial(input_shape, sizes)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "pool_size": self.pool_size,
            "padding": self.padding,
            "strides": self.strides,
            "data_format": self.data_format,
        }


def _pooled_size(size: int, window: int, stride: int, padding: str) -> int:
    if padding == "same":
        return math.ceil(size / stride)
    return (size - window) // stride + 1


class BaseMaxPooling(Pooling):
    """The maximum of each window; "same" padding never wins it.

    >>> from nerve import layers, ops
    >>> x = ops.reshape(ops.arange(5.0), (1, 5, 1))
    >>> layers.MaxPooling1D(2, padding="same")(x).numpy().ravel()
    array([1., 3., 4.], dtype=float32)
    """

    def __init__(
        self,
        pool_size: Any = 2,
        strides: Any = None,
        padding: str = "valid",
        data_format: str | None = None,
        name: str | None = None,
        **kwargs: Any,
    ):
        super().__init__(pool_size, strides, padding, data_format, name=name, **kwargs)

    def pool(self, inputs: Tensor) -> Tensor:
        return ops.max_pool(inputs, self.pool_size, self.strides, self.padding, self.data_format)


class BaseAveragePooling(Pooling):
    """The mean of each window; with "same" padding, of its positions inside the input.

    >>> from nerve import layers, ops
    >>> x = ops.reshape(ops.arange(5.0), (1, 5, 1))
    >>> layers.AveragePooling1D(2, padding="same")(x).numpy().ravel()
    array([0.5, 2.5, 4. ], dtype=float32)
    """

    def pool(self, inputs: Tensor) -> Tensor:
        return ops.average_pool(
            inputs, self.pool_size, self.strides, self.padding, self.data_format
        )


class MaxPooling1D(BaseMaxPooling):
    """Max pooling over the steps of ``(batch, steps, channels)`` inputs: each output
    step is the largest value of a ``pool_size`` window, per channel. Inputs
    ``(batch, steps, channels)`` give outputs ``(batch, new_steps, channels)``
    (``(batch, channels, steps)`` in and out with ``data_format="channels_first"``).

    Args:
        pool_size: the window length, an int or a tuple of one int; 2 by default.
        strides: how far the window moves between outputs, an int or a tuple of one
            int; ``None`` (the default) uses ``pool_size``, so windows do not overlap.
        padding: ``"valid"`` (the default: only windows that fit, giving
            ``(steps - pool_size) // strides + 1`` outputs) or ``"same"`` (pad evenly,
            any odd one at the end, so there are ``ceil(steps / strides)`` outputs;
            padding never wins the maximum). Either case is accepted.
        data_format: ``"channels_last"`` or ``"channels_first"``; ``None`` uses
            ``nerve.config.image_data_format()`` (``"channels_last"`` unless set).
        name: the layer's name (see ``Layer``).

    >>> from nerve import layers, ops
    >>> layers.MaxPooling1D(3, strides=1)(ops.ones((2, 5, 4))).shape
    (2, 3, 4)
    """

    rank = 1


class MaxPooling2D(BaseMaxPooling):
    """Max pooling over the height and width of images: each output pixel is the
    largest value of a ``pool_size`` window, per channel. Inputs ``(batch, height,
    width, channels)`` give outputs ``(batch, new_height, new_width, channels)``
    (channels on axis 1, in and out, with ``data_format="channels_first"``).

    Args:
        pool_size: the window's height and width, an int (both) or a tuple of two;
            2 by default.
        strides: how far the window moves between outputs, an int or a tuple of two;
            ``None`` (the default) uses ``pool_size``, so windows do not overlap.
        padding: ``"valid"`` (the default: only windows that fit, giving
            ``(size - pool_size) // strides + 1`` outputs per axis) or ``"same"`` (pad
            so each axis has ``ceil(size / strides)`` outputs; padding never wins the
            maximum). Either case is accepted.
        data_format: ``"channels_last"`` or ``"channels_first"``; ``None`` uses
            ``nerve.config.image_data_format()`` (``"channels_last"`` unless set).
        name: the layer's name (see ``Layer``).

    >>> from nerve import layers, ops
    >>> layers.MaxPooling2D((2, 3), data_format="channels_first")(ops.ones((1, 3, 4, 6))).shape
    (1, 3, 2, 2)
    """

    rank = 2


class MaxPooling3D(BaseMaxPooling):
    """Max pooling over the three spatial axes of volumes: each output voxel is the
    largest value of a ``pool_size`` window, per channel. Inputs ``(batch, depth,
    height, width, channels)`` give outputs ``(batch, new_depth, new_height,
    new_width, channels)`` (channels on axis 1, in and out, with
    ``data_format="channels_first"``).

    Args:
        pool_size: the window's depth, height and width, an int (all three) or a
            tuple of three; 2 by default.
        strides: how far the window moves between outputs, an int or a tuple of
            three; ``None`` (the default) uses ``pool_size``, so windows do not overlap.
        padding: ``"valid"`` (the default: only windows that fit, giving
            ``(size - pool_size) // strides + 1`` outputs per axis) or ``"same"`` (pad
            so each axis has ``ceil(size / strides)`` outputs; padding never wins the
            maximum). Either case is accepted.
        data_format: ``"channels_last"`` or ``"channels_first"``; ``None`` uses
            ``nerve.config.image_data_format()`` (``"channels_last"`` unless set).
        name: the layer's name (see ``Layer``).

    >>> from nerve import layers, ops
    >>> layers.MaxPooling3D(padding="same")(ops.ones((1, 3, 4, 5, 2))).shape
    (1, 2, 2, 3, 2)
    """

    rank = 3


class AveragePooling1D(BaseAveragePooling):
    """Average pooling over the steps of ``(batch, steps, channels)`` inputs: each
    output step is the mean of a ``pool_size`` window, per channel. Inputs
    ``(batch, steps, channels)`` give outputs ``(batch, new_steps, channels)``
    (``(batch, channels, steps)`` in and out with ``data_format="channels_first"``).

    Args:
        pool_size: the window length, an int or a tuple of one int (required).
        strides: how far the window moves between outputs, an int or a tuple of one
            int; ``None`` (the default) uses ``pool_size``, so windows do not overlap.
        padding: ``"valid"`` (the default: only windows that fit, giving
            ``(steps - pool_size) // strides + 1`` outputs) or ``"same"`` (pad evenly,
            any odd one at the end, so there are ``ceil(steps / strides)`` outputs;
            a window that reaches into the padding averages only its steps inside the
            input). Either case is accepted.
        data_format: ``"channels_last"`` or ``"channels_first"``; ``None`` uses
            ``nerve.config.image_data_format()`` (``"channels_last"`` unless set).
        name: the layer's name (see ``Layer``).

    >>> from nerve import layers, ops
    >>> layers.AveragePooling1D(2)(ops.ones((2, 5, 4))).shape
    (2, 2, 4)
    """

    rank = 1


class AveragePooling2D(BaseAveragePooling):
    """Average pooling over the height and width of images: each output pixel is the
    mean of a ``pool_size`` window, per channel. Inputs ``(batch, height, width,
    channels)`` give outputs ``(batch, new_height, new_width, channels)`` (channels on
    axis 1, in and out, with ``data_format="channels_first"``).

    Args:
        pool_size: the window's height and width, an int (both) or a tuple of two
            (required).
        strides: how far the window moves between outputs, an int or a tuple of two;
            ``None`` (the default) uses ``pool_size``, so windows do not overlap.
        padding: ``"valid"`` (the default: only windows that fit, giving
            ``(size - pool_size) // strides + 1`` outputs per axis) or ``"same"`` (pad
            so each axis has ``ceil(size / strides)`` outputs; a window that reaches
            into the padding averages only its positions inside the input). Either
            case is accepted.
        data_format: ``"channels_last"`` or ``"channels_first"``; ``None`` uses
            ``nerve.config.image_data_format()`` (``"channels_last"`` unless set).
        name: the layer's name (see ``Layer``).

    >>> from nerve import layers, ops
    >>> layers.AveragePooling2D(2, strides=1)(ops.ones((1, 4, 4, 3))).shape
    (1, 3, 3, 3)
    """

    rank = 2


class AveragePooling3D(BaseAveragePooling):
    """Average pooling over the three spatial axes of volumes: each output voxel is the
    mean of a ``pool_size`` window, per channel. Inputs ``(batch, depth, height,
    width, channels)`` give outputs ``(batch, new_depth, new_height, new_width,
    channels)`` (channels on axis 1, in and out, with
    ``data_format="channels_first"``).

    Args:
        pool_size: the window's depth, height and width, an int (all three) or a
            tuple of three (required).
        strides: how far the window moves between outputs, an int or a tuple of
            three; ``None`` (the default) uses ``pool_size``, so windows do not overlap.
        padding: ``"valid"`` (the default: only windows that fit, giving
            ``(size - pool_size) // strides + 1`` outputs per axis) or ``"same"`` (pad
            so each axis has ``ceil(size / strides)`` outputs; a window that reaches
            into the padding averages only its positions inside the input). Either
            case is accepted.
        data_format: ``"channels_last"`` or ``"channels_first"``; ``None`` uses
            ``nerve.config.image_data_format()`` (``"channels_last"`` unless set).
        name: the layer's name (see ``Layer``).

    >>> from nerve import layers, ops
    >>> layers.AveragePooling3D(2)(ops.ones((1, 4, 4, 4, 2))).shape
    (1, 2, 2, 2, 2)
    """

    rank = 3


# -- global ----------------------------------------------------------------------------------


class GlobalPooling(SpatialLayer):
    """Reduces over all spatial axes; ``keepdims=True`` keeps them with size 1.
    Subclasses say which reduction.

    >>> from nerve import layers
    >>> layers.GlobalMaxPooling1D(data_format="channels_first").compute_output_shape((None, 3, 7))
    (None, 3)
    """

    def __init__(self, data_format: str | None = None, keepdims: bool = False, **kwargs: Any):
        super().__init__(**kwargs)
        self.data_format = data_format_of(data_format, type(self).__name__)
        self.keepdims = bool(keepdims)

    def reduce(self, inputs: Tensor, axes: tuple[int, ...]) -> Tensor:
        """The reduction over ``axes`` (set by a family)."""
        raise NotImplementedError

    def call(self, inputs: Tensor) -> Tensor:
        self.check_rank(tuple(inputs.shape))
        return self.reduce(inputs, self.spatial_axes())

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        self.check_rank(input_shape)
        if self.keepdims:
            return self.with_spatial(input_shape, (1,) * self.rank)
        axes = self.spatial_axes()
        return tuple(d for axis, d in enumerate(input_shape) if axis not in axes)

    def get_config(self) -> dict:
        return {**super().get_config(), "data_format": self.data_format, "keepdims": self.keepdims}


class BaseGlobalMaxPooling(GlobalPooling):
    """The maximum over all spatial positions, per channel.

    >>> from nerve import layers, ops
    >>> x = ops.reshape(ops.arange(6.0), (1, 3, 2))
    >>> layers.GlobalMaxPooling1D()(x).numpy()
    array([[4., 5.]], dtype=float32)
    """

    def reduce(self, inputs: Tensor, axes: tuple[int, ...]) -> Tensor:
        return ops.max(inputs, axis=axes, keepdims=self.keepdims)


class BaseGlobalAveragePooling(GlobalPooling):
    """The mean over all spatial positions, per channel.

    >>> from nerve import layers, ops
    >>> x = ops.reshape(ops.arange(6.0), (1, 3, 2))
    >>> layers.GlobalAveragePooling1D()(x).numpy()
    array([[2., 3.]], dtype=float32)
    """

    def reduce(self, inputs: Tensor, axes: tuple[int, ...]) -> Tensor:
        return ops.mean(inputs, axis=axes, keepdims=self.keepdims)


class GlobalMaxPooling1D(BaseGlobalMaxPooling):
    """The maximum over the steps of a sequence, per channel: inputs ``(batch, steps,
    channels)`` give outputs ``(batch, channels)``, or ``(batch, 1, channels)`` with
    ``keepdims=True``.

    Args:
        data_format: ``"channels_last"`` (steps on axis 1) or ``"channels_first"``
            (steps on axis 2); ``None`` uses ``nerve.config.image_data_format()``.
        keepdims: whether the steps axis stays, with size 1 (false by default).

    >>> from nerve import layers, ops
    >>> layers.GlobalMaxPooling1D(keepdims=True)(ops.ones((2, 5, 4))).shape
    (2, 1, 4)
    """

    rank = 1


class GlobalMaxPooling2D(BaseGlobalMaxPooling):
    """The maximum over the height and width of images, per channel: inputs
    ``(batch, height, width, channels)`` give outputs ``(batch, channels)``, or
    ``(batch, 1, 1, channels)`` with ``keepdims=True``.

    Args:
        data_format: ``"channels_last"`` or ``"channels_first"`` (channels on axis 1);
            ``None`` uses ``nerve.config.image_data_format()``.
        keepdims: whether the spatial axes stay, with size 1 (false by default).

    >>> from nerve import layers, ops
    >>> layers.GlobalMaxPooling2D()(ops.ones((2, 5, 4, 3))).shape
    (2, 3)
    """

    rank = 2


class GlobalMaxPooling3D(BaseGlobalMaxPooling):
    """The maximum over the three spatial axes of volumes, per channel: inputs
    ``(batch, depth, height, width, channels)`` give outputs ``(batch, channels)``,
    or ``(batch, 1, 1, 1, channels)`` with ``keepdims=True``.

    Args:
        data_format: ``"channels_last"`` or ``"channels_first"`` (channels on axis 1);
            ``None`` uses ``nerve.config.image_data_format()``.
        keepdims: whether the spatial axes stay, with size 1 (false by default).

    >>> from nerve import layers, ops
    >>> layers.GlobalMaxPooling3D(data_format="channels_first")(ops.ones((2, 3, 4, 4, 4))).shape
    (2, 3)
    """

    rank = 3


class GlobalAveragePooling1D(BaseGlobalAveragePooling):
    """The mean over the steps of a sequence; with a ``mask`` of shape ``(batch, steps)``
    (``True`` for steps to keep), the mean over the kept steps only. Inputs
    ``(batch, steps, channels)`` give outputs ``(batch, channels)``, or
    ``(batch, 1, channels)`` with ``keepdims=True``; the output carries no mask.

    Args:
        data_format: ``"channels_last"`` (steps on axis 1) or ``"channels_first"``
            (steps on axis 2); ``None`` uses ``nerve.config.image_data_format()``.
        keepdims: whether the steps axis stays, with size 1 (false by default).

    Call arguments:
        inputs: the sequences.
        mask: optional boolean ``(batch, steps)`` tensor; by default the implicit mask
            the inputs carry (from ``Embedding(mask_zero=True)`` or ``Masking``).

    >>> from nerve import layers, ops
    >>> x = ops.reshape(ops.arange(6.0), (1, 3, 2))
    >>> mask = ops.convert_to_tensor([[True, True, False]])
    >>> layers.GlobalAveragePooling1D()(x, mask=mask).numpy()
    array([[1., 2.]], dtype=float32)
    """

    rank = 1

    def call(self, inputs: Tensor, mask: Any = None) -> Tensor:
        if mask is None:
            return super().call(inputs)
        self.check_rank(tuple(inputs.shape))
        (steps_axis,) = self.spatial_axes()
        mask = ops.convert_to_tensor(mask)
        expected = (inputs.shape[0], inputs.shape[steps_axis])
        if tuple(mask.shape) != expected:
            raise ShapeError(
                with_location(
                    f"{type(self).__name__} {self.name!r}: the mask must have shape (batch, "
                    f"steps) = {expected} for inputs of shape {tuple(inputs.shape)} "
                    f"(data_format={self.data_format!r}), but it has shape {tuple(mask.shape)}."
                )
            )
        channels_axis = 1 if self.data_format == "channels_first" else 2
        weights = ops.expand_dims(ops.cast(mask, inputs.dtype), channels_axis)
        total = ops.sum(inputs * weights, axis=steps_axis, keepdims=self.keepdims)
        return total / ops.sum(weights, axis=steps_axis, keepdims=self.keepdims)

    def compute_mask(self, inputs: Any, previous_mask: Any = None) -> Any:
        return None  # the steps are averaged away (it consumes the mask)


class GlobalAveragePooling2D(BaseGlobalAveragePooling):
    """The mean over the height and width of images, per channel: inputs
    ``(batch, height, width, channels)`` give outputs ``(batch, channels)``, or
    ``(batch, 1, 1, channels)`` with ``keepdims=True``.

    Args:
        data_format: ``"channels_last"`` or ``"channels_first"`` (channels on axis 1);
            ``None`` uses ``nerve.config.image_data_format()``.
        keepdims: whether the spatial axes stay, with size 1 (false by default).

    >>> from nerve import layers, ops
    >>> layers.GlobalAveragePooling2D()(ops.ones((2, 5, 4, 3))).shape
    (2, 3)
    """

    rank = 2


class GlobalAveragePooling3D(BaseGlobalAveragePooling):
    """The mean over the three spatial axes of volumes, per channel: inputs
    ``(batch, depth, height, width, channels)`` give outputs ``(batch, channels)``,
    or ``(batch, 1, 1, 1, channels)`` with ``keepdims=True``.

    Args:
        data_format: ``"channels_last"`` or ``"channels_first"`` (channels on axis 1);
            ``None`` uses ``nerve.config.image_data_format()``.
        keepdims: whether the spatial axes stay, with size 1 (false by default).

    >>> from nerve import layers, ops
    >>> layers.GlobalAveragePooling3D(keepdims=True)(ops.ones((2, 4, 4, 4, 3))).shape
    (2, 1, 1, 1, 3)
    """

    rank = 3


# Keras's short names: the same classes.
MaxPool1D = MaxPooling1D
MaxPool2D = MaxPooling2D
MaxPool3D = MaxPooling3D
AvgPool1D = AveragePooling1D
AvgPool2D = AveragePooling2D
AvgPool3D = AveragePooling3D
GlobalMaxPool1D = GlobalMaxPooling1D
GlobalMaxPool2D = GlobalMaxPooling2D
GlobalMaxPool3D = GlobalMaxPooling3D
GlobalAvgPool1D = GlobalAveragePooling1D
GlobalAvgPool2D = GlobalAveragePooling2D
GlobalAvgPool3D = GlobalAveragePooling3D
