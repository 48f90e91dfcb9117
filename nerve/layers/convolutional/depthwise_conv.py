"""Depthwise convolution layers: ``DepthwiseConv1D``, ``DepthwiseConv2D`` (each input
channel convolved on its own with ``depth_multiplier`` filters).

>>> from nerve import layers, ops
>>> conv = layers.DepthwiseConv2D(3, depth_multiplier=2, name="dw")
>>> conv(ops.ones((1, 6, 6, 4))).shape
(1, 4, 4, 8)
>>> [(w.path, w.shape) for w in conv.weights]
[('dw/kernel', (3, 3, 4, 2)), ('dw/bias', (8,))]
"""

from __future__ import annotations

from typing import Any

from nerve import constraints, initializers, ops, regularizers
from nerve.layers.convolutional.base import Convolution, KernelSpec, positive_int
from nerve.tensor import Tensor, Variable

__all__ = ["BaseDepthwiseConv", "DepthwiseConv1D", "DepthwiseConv2D"]


class BaseDepthwiseConv(Convolution):
    """``activation(depthwise_conv(inputs, kernel) + bias)``: the kernel (weight name
    ``kernel``, as in Keras 3) has shape ``(*kernel_size, in_channels,
    depth_multiplier)``, and output channel ``c * depth_multiplier + m`` is input
    channel ``c`` convolved with filter ``m``.

    >>> from nerve import layers, ops
    >>> layers.DepthwiseConv1D(3, padding="same")(ops.ones((2, 7, 5))).shape
    (2, 7, 5)
    """

    kernel: Variable

    def __init__(
        self,
        kernel_size: Any,
        strides: Any = 1,
        padding: str = "valid",
        depth_multiplier: int = 1,
        data_format: str | None = None,
        dilation_rate: Any = 1,
        activation: Any = None,
        use_bias: bool = True,
        depthwise_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        depthwise_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        depthwise_constraint: Any = None,
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
        self.depth_multiplier = positive_int(
            depth_multiplier, "depth_multiplier", type(self).__name__
        )
        self.depthwise_initializer = initializers.get(depthwise_initializer)
        self.depthwise_regularizer = regularizers.get(depthwise_regularizer)
        self.depthwise_constraint = constraints.get(depthwise_constraint)

    def _kernels(self, channels: int) -> list[KernelSpec]:
        shape = (*self.kernel_size, channels, self.depth_multiplier)
        return [
            KernelSpec(
                "kernel",
                shape,
                self.depthwise_initializer,
                self.depthwise_regularizer,
                self.depthwise_constraint,
            )
        ]

    def _output_channels(self, channels: int | None) -> int | None:
        return None if channels is None else channels * self.depth_multiplier

    def _convolve(self, inputs: Tensor) -> Tensor:
        return ops.depthwise_conv(
            inputs,
            self._cast(self.kernel),
            strides=self.strides,
            padding=self.padding,
            data_format=self.data_format,
            dilation_rate=self.dilation_rate,
        )

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "depth_multiplier": self.depth_multiplier,
            "depthwise_initializer": initializers.serialize(self.depthwise_initializer),
            "depthwise_regularizer": regularizers.serialize(self.depthwise_regularizer),
            "depthwise_constraint": constraints.serialize(self.depthwise_constraint),
        }


class DepthwiseConv1D(BaseDepthwiseConv):
    """Depthwise 1-D convolution over ``(batch, steps, channels)`` inputs: each input
    channel is convolved on its own with ``depth_multiplier`` filters, with no mixing
    across channels. Inputs ``(batch, steps, channels)`` give outputs
    ``(batch, new_steps, channels * depth_multiplier)``, output channel
    ``c * depth_multiplier + m`` coming from input channel ``c`` and filter ``m``.

    Args:
        kernel_size: the window length, an int or a tuple of one int.
        strides: how far the window moves between outputs, an int or a tuple of one
            int; 1 by default.
        padding: ``"valid"`` (the default: no padding, only windows that fit) or
            ``"same"`` (pad evenly so there are ``ceil(steps / strides)`` outputs).
        depth_multiplier: the number of filters per input channel (a positive int;
            1 by default).
        data_format: ``"channels_last"`` or ``"channels_first"``; ``None`` uses
            ``nerve.config.image_data_format()`` (``"channels_last"`` unless set).
        dilation_rate: the spacing between the window's taps, an int or a tuple of
            one int; 1 (contiguous) by default.
        activation: applied to the output; ``None`` (the default) keeps it linear.
        use_bias: whether a bias, one entry per output channel, is added (true by
            default).
        depthwise_initializer: how the kernel, of shape ``(kernel_size, channels,
            depth_multiplier)``, starts; ``"glorot_uniform"`` by default.
        bias_initializer: how the bias starts; zeros by default.
        depthwise_regularizer, bias_regularizer: optional penalties on the kernel and
            the bias, added to the layer's ``losses``.
        activity_regularizer: an optional penalty on the layer's output.
        depthwise_constraint, bias_constraint: optional functions applied to the
            kernel and the bias after each optimizer step.

    >>> from nerve import layers, ops
    >>> layers.DepthwiseConv1D(3, depth_multiplier=3)(ops.ones((2, 9, 2))).shape
    (2, 7, 6)
    """

    rank = 1


class DepthwiseConv2D(BaseDepthwiseConv):
    """Depthwise 2-D convolution over ``(batch, height, width, channels)`` images (the
    first half of a MobileNet block): each input channel is convolved on its own with
    ``depth_multiplier`` filters, with no mixing across channels. Inputs ``(batch,
    height, width, channels)`` give outputs ``(batch, new_height, new_width,
    channels * depth_multiplier)``, output channel ``c * depth_multiplier + m``
    coming from input channel ``c`` and filter ``m``.

    Args:
        kernel_size: the window's height and width, an int (both) or a tuple of two.
        strides: how far the window moves between outputs, an int or a tuple of two;
            1 by default.
        padding: ``"valid"`` (the default: no padding, only windows that fit) or
            ``"same"`` (pad evenly so each axis has ``ceil(size / strides)`` outputs).
        depth_multiplier: the number of filters per input channel (a positive int;
            1 by default).
        data_format: ``"channels_last"`` or ``"channels_first"``; ``None`` uses
            ``nerve.config.image_data_format()`` (``"channels_last"`` unless set).
        dilation_rate: the spacing between the window's taps, an int or a tuple of
            two; 1 (contiguous) by default.
        activation: applied to the output; ``None`` (the default) keeps it linear.
        use_bias: whether a bias, one entry per output channel, is added (true by
            default).
        depthwise_initializer: how the kernel, of shape ``(*kernel_size, channels,
            depth_multiplier)``, starts; ``"glorot_uniform"`` by default.
        bias_initializer: how the bias starts; zeros by default.
        depthwise_regularizer, bias_regularizer: optional penalties on the kernel and
            the bias, added to the layer's ``losses``.
        activity_regularizer: an optional penalty on the layer's output.
        depthwise_constraint, bias_constraint: optional functions applied to the
            kernel and the bias after each optimizer step.

    >>> from nerve import layers, ops
    >>> layers.DepthwiseConv2D(3, strides=2, padding="same")(ops.ones((1, 8, 8, 3))).shape
    (1, 4, 4, 3)
    """

    rank = 2
