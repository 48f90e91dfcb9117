"""Convolution layers: ``Conv1D``, ``Conv2D``, ``Conv3D`` (Keras's ``Conv*`` layers,
with ``groups`` and, for ``Conv1D``, ``padding="causal"``).

>>> from nerve import layers, ops
>>> conv = layers.Conv2D(8, (3, 3), strides=2, padding="same", name="conv")
>>> conv(ops.ones((2, 9, 9, 4))).shape
(2, 5, 5, 8)
>>> [(w.path, w.shape) for w in conv.weights]
[('conv/kernel', (3, 3, 4, 8)), ('conv/bias', (8,))]
"""

from __future__ import annotations

from typing import Any

from nerve import constraints, initializers, ops, regularizers
from nerve.core.errors import ShapeError, with_location
from nerve.layers.convolutional.base import Convolution, KernelSpec, positive_int
from nerve.tensor import Tensor, Variable

__all__ = ["BaseConv", "Conv1D", "Conv2D", "Conv3D"]


class BaseConv(Convolution):
    """``activation(conv(inputs, kernel) + bias)`` with a kernel of shape
    ``(*kernel_size, in_channels // groups, filters)``: ``groups`` splits the input
    channels and the filters into that many consecutive blocks, block ``g`` of the
    filters seeing only block ``g`` of the channels.

    >>> from nerve import layers, ops
    >>> conv = layers.Conv1D(6, 3, groups=2)
    >>> conv(ops.ones((1, 10, 4))).shape, conv.kernel.shape
    ((1, 8, 6), (3, 2, 6))
    """

    strides_with_dilation = False
    kernel: Variable

    def __init__(
        self,
        filters: int,
        kernel_size: Any,
        strides: Any = 1,
        padding: str = "valid",
        data_format: str | None = None,
        dilation_rate: Any = 1,
        groups: int = 1,
        activation: Any = None,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
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
        self.groups = positive_int(groups, "groups", layer)
        if self.filters % self.groups:
            raise ValueError(
                f"{layer}: filters must be divisible by groups, got filters={self.filters} "
                f"and groups={self.groups}."
            )
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)

    def _kernels(self, channels: int) -> list[KernelSpec]:
        shape = (*self.kernel_size, channels // self.groups, self.filters)
        return [
            KernelSpec(
                "kernel",
                shape,
                self.kernel_initializer,
                self.kernel_regularizer,
                self.kernel_constraint,
            )
        ]

    def _check_channels(self, channels: int, shape: tuple) -> None:
        if channels % self.groups:
            raise ShapeError(
                with_location(
                    f"{self._describe()}: the number of input channels must be divisible by "
                    f"groups={self.groups}, but inputs of shape {shape} have {channels} "
                    f"channels (data_format={self.data_format!r})."
                )
            )

    def _output_channels(self, channels: int | None) -> int | None:
        return self.filters

    def _convolve(self, inputs: Tensor) -> Tensor:
        padding = self.padding
        if padding == "causal":
            # Pad the start of the (one) spatial axis so output t sees inputs <= t only.
            left = (self.kernel_size[0] - 1) * self.dilation_rate[0]
            pads = [(0, 0), (left, 0), (0, 0)]
            if self.data_format == "channels_first":
                pads = [(0, 0), (0, 0), (left, 0)]
            inputs, padding = ops.pad(inputs, pads), "valid"
        return ops.conv(
            inputs,
            self._cast(self.kernel),
            strides=self.strides,
            padding=padding,
            data_format=self.data_format,
            dilation_rate=self.dilation_rate,
        )

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "filters": self.filters,
            "groups": self.groups,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
        }


class Conv1D(BaseConv):
    """1-D convolution over ``(batch, steps, channels)`` inputs (temporal convolution);
    ``padding="causal"`` pads the start only, so output ``t`` depends on inputs up to
    ``t`` (for autoregressive models such as WaveNet).

    Each output step is ``activation(sum(window * kernel) + bias)`` over a window of
    ``kernel_size`` steps. Inputs ``(batch, steps, channels)`` give outputs
    ``(batch, new_steps, filters)`` (``(batch, channels, steps)`` and
    ``(batch, filters, new_steps)`` with ``data_format="channels_first"``).

    Args:
        filters: the number of output channels (a positive int).
        kernel_size: the window length, an int or a tuple of one int.
        strides: how far the window moves between outputs, an int or a tuple of one
            int; 1 by default. Strides above 1 cannot be combined with a
            ``dilation_rate`` above 1.
        padding: ``"valid"`` (the default: no padding, only windows that fit),
            ``"same"`` (pad evenly so there are ``ceil(steps / strides)`` outputs) or
            ``"causal"`` (pad the start only).
        data_format: ``"channels_last"`` or ``"channels_first"``; ``None`` uses
            ``nerve.config.image_data_format()`` (``"channels_last"`` unless set).
        dilation_rate: the spacing between the window's taps, an int or a tuple of
            one int; 1 (contiguous) by default.
        groups: splits the input channels and the filters into this many blocks, each
            block of filters seeing only its block of channels; both ``filters`` and
            the input channels must be divisible by it. 1 by default.
        activation: applied to the output; ``None`` (the default) keeps it linear.
        use_bias: whether a bias of ``filters`` entries is added (true by default).
        kernel_initializer: how the kernel starts; ``"glorot_uniform"`` by default.
        bias_initializer: how the bias starts; zeros by default.
        kernel_regularizer, bias_regularizer: optional penalties on the kernel and the
            bias, added to the layer's ``losses``.
        activity_regularizer: an optional penalty on the layer's output.
        kernel_constraint, bias_constraint: optional functions applied to the kernel
            and the bias after each optimizer step.

    >>> from nerve import layers, ops
    >>> layers.Conv1D(4, 3, padding="causal", dilation_rate=2)(ops.ones((2, 10, 3))).shape
    (2, 10, 4)
    """

    rank = 1
    paddings = ("valid", "same", "causal")


class Conv2D(BaseConv):
    """2-D convolution over ``(batch, height, width, channels)`` images.

    Each output pixel is ``activation(sum(window * kernel) + bias)`` over a
    ``kernel_size`` window of the input. Inputs ``(batch, height, width, channels)``
    give outputs ``(batch, new_height, new_width, filters)`` (channels on axis 1
    instead with ``data_format="channels_first"``).

    Args:
        filters: the number of output channels (a positive int).
        kernel_size: the window's height and width, an int (both) or a tuple of two.
        strides: how far the window moves between outputs, an int or a tuple of two;
            1 by default. Strides above 1 cannot be combined with a ``dilation_rate``
            above 1.
        padding: ``"valid"`` (the default: no padding, only windows that fit) or
            ``"same"`` (pad evenly so each axis has ``ceil(size / strides)`` outputs).
        data_format: ``"channels_last"`` or ``"channels_first"``; ``None`` uses
            ``nerve.config.image_data_format()`` (``"channels_last"`` unless set).
        dilation_rate: the spacing between the window's taps, an int or a tuple of
            two; 1 (contiguous) by default.
        groups: splits the input channels and the filters into this many blocks, each
            block of filters seeing only its block of channels; both ``filters`` and
            the input channels must be divisible by it. 1 by default.
        activation: applied to the output; ``None`` (the default) keeps it linear.
        use_bias: whether a bias of ``filters`` entries is added (true by default).
        kernel_initializer: how the kernel starts; ``"glorot_uniform"`` by default.
        bias_initializer: how the bias starts; zeros by default.
        kernel_regularizer, bias_regularizer: optional penalties on the kernel and the
            bias, added to the layer's ``losses``.
        activity_regularizer: an optional penalty on the layer's output.
        kernel_constraint, bias_constraint: optional functions applied to the kernel
            and the bias after each optimizer step.

    >>> from nerve import layers, ops
    >>> layers.Conv2D(16, 3, activation="relu")(ops.ones((2, 28, 28, 1))).shape
    (2, 26, 26, 16)
    """

    rank = 2


class Conv3D(BaseConv):
    """3-D convolution over ``(batch, depth, height, width, channels)`` volumes.

    Each output voxel is ``activation(sum(window * kernel) + bias)`` over a
    ``kernel_size`` window of the input. Inputs ``(batch, depth, height, width,
    channels)`` give outputs ``(batch, new_depth, new_height, new_width, filters)``
    (channels on axis 1 instead with ``data_format="channels_first"``).

    Args:
        filters: the number of output channels (a positive int).
        kernel_size: the window's depth, height and width, an int (all three) or a
            tuple of three.
        strides: how far the window moves between outputs, an int or a tuple of
            three; 1 by default. Strides above 1 cannot be combined with a
            ``dilation_rate`` above 1.
        padding: ``"valid"`` (the default: no padding, only windows that fit) or
            ``"same"`` (pad evenly so each axis has ``ceil(size / strides)`` outputs).
        data_format: ``"channels_last"`` or ``"channels_first"``; ``None`` uses
            ``nerve.config.image_data_format()`` (``"channels_last"`` unless set).
        dilation_rate: the spacing between the window's taps, an int or a tuple of
            three; 1 (contiguous) by default.
        groups: splits the input channels and the filters into this many blocks, each
            block of filters seeing only its block of channels; both ``filters`` and
            the input channels must be divisible by it. 1 by default.
        activation: applied to the output; ``None`` (the default) keeps it linear.
        use_bias: whether a bias of ``filters`` entries is added (true by default).
        kernel_initializer: how the kernel starts; ``"glorot_uniform"`` by default.
        bias_initializer: how the bias starts; zeros by default.
        kernel_regularizer, bias_regularizer: optional penalties on the kernel and the
            bias, added to the layer's ``losses``.
        activity_regularizer: an optional penalty on the layer's output.
        kernel_constraint, bias_constraint: optional functions applied to the kernel
            and the bias after each optimizer step.

    >>> from nerve import layers, ops
    >>> layers.Conv3D(2, (1, 3, 3), padding="same")(ops.ones((1, 4, 6, 6, 3))).shape
    (1, 4, 6, 6, 2)
    """

    rank = 3
