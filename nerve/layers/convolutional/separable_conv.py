"""Separable convolution layers: ``SeparableConv1D``, ``SeparableConv2D`` (a depthwise
convolution, then a pointwise ``1 x 1`` convolution that mixes the channels).

>>> from nerve import layers, ops
>>> conv = layers.SeparableConv2D(8, 3, name="sep")
>>> conv(ops.ones((1, 6, 6, 4))).shape
(1, 4, 4, 8)
>>> [(w.path, w.shape) for w in conv.weights]
[('sep/depthwise_kernel', (3, 3, 4, 1)), ('sep/pointwise_kernel', (1, 1, 4, 8)), ('sep/bias', (8,))]
"""

from __future__ import annotations

from typing import Any

from nerve import constraints, initializers, ops, regularizers
from nerve.layers.convolutional.base import Convolution, KernelSpec, positive_int
from nerve.tensor import Tensor, Variable

__all__ = ["BaseSeparableConv", "SeparableConv1D", "SeparableConv2D"]


class BaseSeparableConv(Convolution):
    """``activation(separable_conv(inputs, depthwise_kernel, pointwise_kernel) + bias)``
    with a depthwise kernel ``(*kernel_size, in_channels, depth_multiplier)`` and a
    pointwise kernel ``(1, ..., 1, in_channels * depth_multiplier, filters)``; strides,
    padding and dilation apply to the depthwise step.

    >>> from nerve import layers, ops
    >>> layers.SeparableConv1D(4, 3, depth_multiplier=2)(ops.ones((2, 9, 3))).shape
    (2, 7, 4)
    """

    depthwise_kernel: Variable
    pointwise_kernel: Variable

    def __init__(
        self,
        filters: int,
        kernel_size: Any,
        strides: Any = 1,
        padding: str = "valid",
        data_format: str | None = None,
        dilation_rate: Any = 1,
        depth_multiplier: int = 1,
        activation: Any = None,
        use_bias: bool = True,
        depthwise_initializer: Any = "glorot_uniform",
        pointwise_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        depthwise_regularizer: Any = None,
        pointwise_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        depthwise_constraint: Any = None,
        pointwise_constraint: Any = None,
        bias_constraint: Any = None,
        **kwargs: Any,
    ):
        super().__init__(
            kernel_size,
            strides,
            padding,
            data_format,
            dilation_rate,
            activation,
            use_bias,
            bias_initializer,
            bias_regularizer,
            activity_regularizer,
            bias_constraint,
            **kwargs,
        )
        layer = type(self).__name__
        self.filters = positive_int(filters, "filters", layer)
        self.depth_multiplier = positive_int(depth_multiplier, "depth_multiplier", layer)
        self.depthwise_initializer = initializers.get(depthwise_initializer)
        self.pointwise_initializer = initializers.get(pointwise_initializer)
        self.depthwise_regularizer = regularizers.get(depthwise_regularizer)
        self.pointwise_regularizer = regularizers.get(pointwise_regularizer)
        self.depthwise_constraint = constraints.get(depthwise_constraint)
        self.pointwise_constraint = constraints.get(pointwise_constraint)

    def _kernels(self, channels: int) -> list[KernelSpec]:
        depthwise = (*self.kernel_size, channels, self.depth_multiplier)
        pointwise = (*(1,) * self.rank, channels * self.depth_multiplier, self.filters)
        return [
            KernelSpec(
                "depthwise_kernel",
                depthwise,
                self.depthwise_initializer,
                self.depthwise_regularizer,
                self.depthwise_constraint,
            ),
            KernelSpec(
                "pointwise_kernel",
                pointwise,
                self.pointwise_initializer,
                self.pointwise_regularizer,
                self.pointwise_constraint,
            ),
        ]

    def _output_channels(self, channels: int | None) -> int | None:
        return self.filters

    def _convolve(self, inputs: Tensor) -> Tensor:
        return ops.separable_conv(
            inputs,
            self._cast(self.depthwise_kernel),
            self._cast(self.pointwise_kernel),
            strides=self.strides,
            padding=self.padding,
            data_format=self.data_format,
            dilation_rate=self.dilation_rate,
        )

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "filters": self.filters,
            "depth_multiplier": self.depth_multiplier,
            "depthwise_initializer": initializers.serialize(self.depthwise_initializer),
            "pointwise_initializer": initializers.serialize(self.pointwise_initializer),
            "depthwise_regularizer": regularizers.serialize(self.depthwise_regularizer),
            "pointwise_regularizer": regularizers.serialize(self.pointwise_regularizer),
            "depthwise_constraint": constraints.serialize(self.depthwise_constraint),
            "pointwise_constraint": constraints.serialize(self.pointwise_constraint),
        }


class SeparableConv1D(BaseSeparableConv):
    """Separable 1-D convolution over ``(batch, steps, channels)`` inputs: a depthwise
    convolution (each channel on its own, ``depth_multiplier`` filters per channel)
    followed by a pointwise convolution of length 1 that mixes the channels into
    ``filters`` outputs. Inputs ``(batch, steps, channels)`` give outputs
    ``(batch, new_steps, filters)``.

    Args:
        filters: the number of output channels (a positive int).
        kernel_size: the depthwise window length, an int or a tuple of one int.
        strides: how far the depthwise window moves between outputs, an int or a
            tuple of one int; 1 by default.
        padding: ``"valid"`` (the default: no padding, only windows that fit) or
            ``"same"`` (pad evenly so there are ``ceil(steps / strides)`` outputs).
        data_format: ``"channels_last"`` or ``"channels_first"``; ``None`` uses
            ``nerve.config.image_data_format()`` (``"channels_last"`` unless set).
        dilation_rate: the spacing between the depthwise window's taps, an int or a
            tuple of one int; 1 (contiguous) by default.
        depth_multiplier: the number of depthwise filters per input channel (a
            positive int; 1 by default).
        activation: applied to the output; ``None`` (the default) keeps it linear.
        use_bias: whether a bias of ``filters`` entries is added (true by default).
        depthwise_initializer, pointwise_initializer: how the depthwise kernel
            ``(kernel_size, channels, depth_multiplier)`` and the pointwise kernel
            ``(1, channels * depth_multiplier, filters)`` start; ``"glorot_uniform"``
            by default.
        bias_initializer: how the bias starts; zeros by default.
        depthwise_regularizer, pointwise_regularizer, bias_regularizer: optional
            penalties on the two kernels and the bias, added to the layer's ``losses``.
        activity_regularizer: an optional penalty on the layer's output.
        depthwise_constraint, pointwise_constraint, bias_constraint: optional
            functions applied to the two kernels and the bias after each optimizer step.

    >>> from nerve import layers, ops
    >>> layers.SeparableConv1D(8, 5, padding="same")(ops.ones((2, 16, 3))).shape
    (2, 16, 8)
    """

    rank = 1


class SeparableConv2D(BaseSeparableConv):
    """Separable 2-D convolution over ``(batch, height, width, channels)`` images
    (Xception's building block): fewer weights and FLOPs than a ``Conv2D``. A
    depthwise convolution (each channel on its own, ``depth_multiplier`` filters per
    channel) is followed by a ``1 x 1`` convolution that mixes the channels into
    ``filters`` outputs. Inputs ``(batch, height, width, channels)`` give outputs
    ``(batch, new_height, new_width, filters)``.

    Args:
        filters: the number of output channels (a positive int).
        kernel_size: the depthwise window's height and width, an int (both) or a
            tuple of two.
        strides: how far the depthwise window moves between outputs, an int or a
            tuple of two; 1 by default.
        padding: ``"valid"`` (the default: no padding, only windows that fit) or
            ``"same"`` (pad evenly so each axis has ``ceil(size / strides)`` outputs).
        data_format: ``"channels_last"`` or ``"channels_first"``; ``None`` uses
            ``nerve.config.image_data_format()`` (``"channels_last"`` unless set).
        dilation_rate: the spacing between the depthwise window's taps, an int or a
            tuple of two; 1 (contiguous) by default.
        depth_multiplier: the number of depthwise filters per input channel (a
            positive int; 1 by default).
        activation: applied to the output; ``None`` (the default) keeps it linear.
        use_bias: whether a bias of ``filters`` entries is added (true by default).
        depthwise_initializer, pointwise_initializer: how the depthwise kernel
            ``(*kernel_size, channels, depth_multiplier)`` and the pointwise kernel
            ``(1, 1, channels * depth_multiplier, filters)`` start;
            ``"glorot_uniform"`` by default.
        bias_initializer: how the bias starts; zeros by default.
        depthwise_regularizer, pointwise_regularizer, bias_regularizer: optional
            penalties on the two kernels and the bias, added to the layer's ``losses``.
        activity_regularizer: an optional penalty on the layer's output.
        depthwise_constraint, pointwise_constraint, bias_constraint: optional
            functions applied to the two kernels and the bias after each optimizer step.

    >>> from nerve import layers, ops
    >>> layers.SeparableConv2D(16, 3, activation="relu")(ops.ones((1, 10, 10, 8))).shape
    (1, 8, 8, 16)
    """

    rank = 2
