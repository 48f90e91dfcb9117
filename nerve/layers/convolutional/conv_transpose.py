"""Transposed convolution layers: ``Conv1DTranspose``, ``Conv2DTranspose``,
``Conv3DTranspose`` (the gradient of a convolution with respect to its input: each
input position spreads a kernel-weighted window over the output; for upsampling).

>>> from nerve import layers, ops
>>> up = layers.Conv2DTranspose(4, 3, strides=2, padding="same", name="up")
>>> up(ops.ones((1, 5, 5, 8))).shape
(1, 10, 10, 4)
>>> [(w.path, w.shape) for w in up.weights]
[('up/kernel', (3, 3, 4, 8)), ('up/bias', (4,))]
"""

from __future__ import annotations

from typing import Any

from nerve import constraints, initializers, ops, regularizers
from nerve.layers._spatial import int_tuple
from nerve.layers.convolutional.base import Convolution, KernelSpec, positive_int
from nerve.tensor import Tensor, Variable

__all__ = [
    "BaseConvTranspose",
    "Conv1DTranspose",
    "Conv2DTranspose",
    "Conv3DTranspose",
    "conv_transpose_output_size",
]


def conv_transpose_output_size(
    size: Any, window: int, stride: int, dilation: int, padding: str, output_padding: Any
) -> Any:
    """Output length of a transposed convolution along one axis, as Keras defines it
    (``None`` stays ``None``). Without ``output_padding``, ``"same"`` gives
    ``size * stride`` and ``"valid"`` every position some dilated window touches;
    ``output_padding`` extends the smallest such output at its end.

    >>> conv_transpose_output_size(5, 3, 2, 1, "same", None)
    10
    >>> conv_transpose_output_size(5, 3, 2, 1, "valid", None), conv_transpose_output_size(
    ...     5, 3, 2, 1, "same", 1)
    (11, 10)
    """
    if not isinstance(size, int):
        return None
    span = (window - 1) * dilation + 1
    if padding == "valid":
        extra = max(span, stride) - span if output_padding is None else output_padding
        return (size - 1) * stride + span + extra
    if output_padding is None:
        return size * stride
    return (size - 1) * stride + span % 2 + output_padding


class BaseConvTranspose(Convolution):
    """``activation(conv_transpose(inputs, kernel) + bias)`` with a kernel of shape
    ``(*kernel_size, filters, in_channels)`` (Keras's layout: the transpose of the
    convolution it undoes). ``output_padding``, each entry below the stride, picks
    among the output sizes that map back to the input size.

    >>> from nerve import layers, ops
    >>> layers.Conv1DTranspose(2, 3, strides=2, output_padding=1)(ops.ones((1, 4, 3))).shape
    (1, 10, 2)
    """

    strides_with_dilation = False
    kernel: Variable

    def __init__(
        self,
        filters: int,
        kernel_size: Any,
        strides: Any = 1,
        padding: str = "valid",
        output_padding: Any = None,
        data_format: str | None = None,
        dilation_rate: Any = 1,
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
        self.output_padding = (
            None
            if output_padding is None
            else int_tuple(output_padding, self.rank, "output_padding", layer, minimum=0)
        )
        if self.output_padding is not None and any(
            p >= s for p, s in zip(self.output_padding, self.strides)
        ):
            raise ValueError(
                f"{layer}: each output_padding must be smaller than the stride on its axis, "
                f"got output_padding={self.output_padding} and strides={self.strides}."
            )
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)

    def _kernels(self, channels: int) -> list[KernelSpec]:
        shape = (*self.kernel_size, self.filters, channels)
        return [
            KernelSpec(
                "kernel",
                shape,
                self.kernel_initializer,
                self.kernel_regularizer,
                self.kernel_constraint,
            )
        ]

    def _output_channels(self, channels: int | None) -> int | None:
        return self.filters

    def _output_spatial(self, spatial: tuple) -> tuple:
        extras = self.output_padding or (None,) * self.rank
        return tuple(
            conv_transpose_output_size(n, k, s, d, self.padding, p)
            for n, k, s, d, p in zip(
                spatial, self.kernel_size, self.strides, self.dilation_rate, extras
            )
        )

    def _flops_positions(self, input_shape: Any, output_shape: Any) -> Any:
        # Every input position multiplies the whole kernel once.
        return None if input_shape is None else self._channels_last(tuple(input_shape))

    def _convolve(self, inputs: Tensor) -> Tensor:
        return ops.conv_transpose(
            inputs,
            self._cast(self.kernel),
            strides=self.strides,
            padding=self.padding,
            output_padding=self.output_padding,
            data_format=self.data_format,
            dilation_rate=self.dilation_rate,
        )

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "filters": self.filters,
            "output_padding": self.output_padding,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
        }


class Conv1DTranspose(BaseConvTranspose):
    """Transposed 1-D convolution over ``(batch, steps, channels)`` inputs: each input
    step adds a ``kernel_size`` window, weighted by the kernel, into the output, which
    grows by about ``strides`` times. Inputs ``(batch, steps, channels)`` give outputs
    ``(batch, new_steps, filters)``, with ``new_steps = steps * strides`` for
    ``padding="same"`` and ``(steps - 1) * strides + max(kernel_size, strides)`` for
    ``"valid"`` (without dilation or ``output_padding``).

    Args:
        filters: the number of output channels (a positive int).
        kernel_size: the window length, an int or a tuple of one int.
        strides: the upsampling factor, an int or a tuple of one int; 1 by default.
            Strides above 1 cannot be combined with a ``dilation_rate`` above 1.
        padding: ``"valid"`` (the default) or ``"same"``, the padding of the
            convolution this layer is the transpose of.
        output_padding: ``None`` (the default: the output length above) or an int (or
            tuple of one) smaller than the stride, added to the smallest output length
            that convolves back to the input length; it picks among the lengths a
            strided convolution maps to the same size.
        data_format: ``"channels_last"`` or ``"channels_first"``; ``None`` uses
            ``nerve.config.image_data_format()`` (``"channels_last"`` unless set).
        dilation_rate: the spacing between the window's taps, an int or a tuple of
            one int; 1 (contiguous) by default.
        activation: applied to the output; ``None`` (the default) keeps it linear.
        use_bias: whether a bias of ``filters`` entries is added (true by default).
        kernel_initializer: how the kernel, of shape ``(kernel_size, filters,
            channels)``, starts; ``"glorot_uniform"`` by default.
        bias_initializer: how the bias starts; zeros by default.
        kernel_regularizer, bias_regularizer: optional penalties on the kernel and the
            bias, added to the layer's ``losses``.
        activity_regularizer: an optional penalty on the layer's output.
        kernel_constraint, bias_constraint: optional functions applied to the kernel
            and the bias after each optimizer step.

    >>> from nerve import layers, ops
    >>> layers.Conv1DTranspose(3, 4, strides=2, padding="same")(ops.ones((2, 6, 5))).shape
    (2, 12, 3)
    """

    rank = 1


class Conv2DTranspose(BaseConvTranspose):
    """Transposed 2-D convolution over ``(batch, height, width, channels)`` images (a
    decoder's or a GAN generator's upsampling step): each input pixel adds a
    ``kernel_size`` window, weighted by the kernel, into the output. Inputs ``(batch,
    height, width, channels)`` give outputs ``(batch, new_height, new_width,
    filters)``; along each axis the new size is ``size * strides`` for
    ``padding="same"`` and ``(size - 1) * strides + max(kernel, strides)`` for
    ``"valid"`` (without dilation or ``output_padding``).

    Args:
        filters: the number of output channels (a positive int).
        kernel_size: the window's height and width, an int (both) or a tuple of two.
        strides: the upsampling factors, an int or a tuple of two; 1 by default.
            Strides above 1 cannot be combined with a ``dilation_rate`` above 1.
        padding: ``"valid"`` (the default) or ``"same"``, the padding of the
            convolution this layer is the transpose of.
        output_padding: ``None`` (the default: the sizes above) or an int (or tuple of
            two), each smaller than the stride on its axis, added to the smallest
            output size that convolves back to the input size.
        data_format: ``"channels_last"`` or ``"channels_first"``; ``None`` uses
            ``nerve.config.image_data_format()`` (``"channels_last"`` unless set).
        dilation_rate: the spacing between the window's taps, an int or a tuple of
            two; 1 (contiguous) by default.
        activation: applied to the output; ``None`` (the default) keeps it linear.
        use_bias: whether a bias of ``filters`` entries is added (true by default).
        kernel_initializer: how the kernel, of shape ``(*kernel_size, filters,
            channels)``, starts; ``"glorot_uniform"`` by default.
        bias_initializer: how the bias starts; zeros by default.
        kernel_regularizer, bias_regularizer: optional penalties on the kernel and the
            bias, added to the layer's ``losses``.
        activity_regularizer: an optional penalty on the layer's output.
        kernel_constraint, bias_constraint: optional functions applied to the kernel
            and the bias after each optimizer step.

    >>> from nerve import layers, ops
    >>> layers.Conv2DTranspose(8, 2, strides=2)(ops.ones((1, 7, 7, 16))).shape
    (1, 14, 14, 8)
    """

    rank = 2


class Conv3DTranspose(BaseConvTranspose):
    """Transposed 3-D convolution over ``(batch, depth, height, width, channels)``:
    each input voxel adds a ``kernel_size`` window, weighted by the kernel, into the
    output. Inputs ``(batch, depth, height, width, channels)`` give outputs
    ``(batch, new_depth, new_height, new_width, filters)``; along each axis the new
    size is ``size * strides`` for ``padding="same"`` and
    ``(size - 1) * strides + max(kernel, strides)`` for ``"valid"`` (without dilation
    or ``output_padding``).

    Args:
        filters: the number of output channels (a positive int).
        kernel_size: the window's depth, height and width, an int (all three) or a
            tuple of three.
        strides: the upsampling factors, an int or a tuple of three; 1 by default.
            Strides above 1 cannot be combined with a ``dilation_rate`` above 1.
        padding: ``"valid"`` (the default) or ``"same"``, the padding of the
            convolution this layer is the transpose of.
        data_format: ``"channels_last"`` or ``"channels_first"``; ``None`` uses
            ``nerve.config.image_data_format()`` (``"channels_last"`` unless set).
        output_padding: ``None`` (the default: the sizes above) or an int (or tuple
            of three), each smaller than the stride on its axis, added to the smallest
            output size that convolves back to the input size.
        dilation_rate: the spacing between the window's taps, an int or a tuple of
            three; 1 (contiguous) by default.
        activation: applied to the output; ``None`` (the default) keeps it linear.
        use_bias: whether a bias of ``filters`` entries is added (true by default).
        kernel_initializer: how the kernel, of shape ``(*kernel_size, filters,
            channels)``, starts; ``"glorot_uniform"`` by default.
        bias_initializer: how the bias starts; zeros by default.
        kernel_regularizer, bias_regularizer: optional penalties on the kernel and the
            bias, added to the layer's ``losses``.
        activity_regularizer: an optional penalty on the layer's output.
        kernel_constraint, bias_constraint: optional functions applied to the kernel
            and the bias after each optimizer step.

    Keras takes ``data_format`` before ``output_padding`` here (and only here), so the
    positional order follows it.

    >>> from nerve import layers, ops
    >>> layers.Conv3DTranspose(2, 3, padding="same")(ops.ones((1, 3, 4, 4, 2))).shape
    (1, 3, 4, 4, 2)
    """

    rank = 3

    def __init__(
        self,
        filters: int,
        kernel_size: Any,
        strides: Any = 1,
        padding: str = "valid",
        data_format: str | None = None,
        output_padding: Any = None,
        dilation_rate: Any = 1,
        *args: Any,
        **kwargs: Any,
    ):
        super().__init__(
            filters,
            kernel_size,
            strides,
            padding,
            output_padding,
            data_format,
            dilation_rate,
            *args,
            **kwargs,
        )
