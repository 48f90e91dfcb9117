"""``Convolution``: what every convolution layer shares — argument checks, the input's
layout and rank, output shapes, the bias and the activation — so that each family
(plain, depthwise, separable, transposed) only says which kernels it holds and which
op applies them, and each ``Conv1D`` / ``Conv2D`` / ``Conv3D`` only its rank.

>>> from nerve import layers, ops
>>> conv = layers.Conv2D(4, 3, padding="same", name="conv")
>>> conv(ops.ones((2, 8, 8, 3))).shape
(2, 8, 8, 4)
>>> conv.compute_output_shape((None, 8, 8, 3))
(None, 8, 8, 4)
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from nerve import activations, constraints, initializers, ops, regularizers
from nerve.core import config
from nerve.core.errors import ShapeError, check_int, with_location
from nerve.layers._spatial import DATA_FORMATS, int_tuple
from nerve.layers.base import Layer, kernel_flops
from nerve.tensor import Tensor, Variable

__all__ = ["Convolution", "KernelSpec", "conv_output_size", "positive_int"]


def positive_int(value: Any, what: str, layer: str) -> int:
    """``value`` as an int, which must be positive (``filters``, ``groups``, ...).

    >>> positive_int(8, "filters", "Conv2D")
    8
    """
    return check_int(value, what, layer)


def conv_output_size(size: Any, window: int, stride: int, dilation: int, padding: str) -> Any:
    """Output length of a convolution along one axis (``None`` stays ``None``):
    ``valid`` keeps the positions where the dilated window fits, ``same`` and
    ``causal`` pad so that every ``stride``-th position has an output.

    >>> conv_output_size(10, 3, 2, 1, "valid"), conv_output_size(10, 3, 2, 1, "same")
    (4, 5)
    """
    if not isinstance(size, int):
        return None
    if padding == "valid":
        return (size - (window - 1) * dilation - 1) // stride + 1
    return -(-size // stride)


@dataclasses.dataclass(frozen=True)
class KernelSpec:
    """One kernel a layer holds: its attribute and weight name, its shape (for the
    input channels at hand), and its initializer, regularizer and constraint."""

    name: str
    shape: tuple
    initializer: Any
    regularizer: Any
    constraint: Any


class Convolution(Layer):
    """The shared part of Keras's convolution layers (an abstract base: the concrete
    classes set ``rank`` and implement ``_kernels`` and ``_convolve``).

    It checks the constructor arguments, makes the weights in ``build`` (the kernels
    the subclass declares, then a bias of ``_output_channels`` entries), checks each
    input's rank and channels against what the layer was built for, and computes the
    output shape and FLOPs. The input is ``(batch, *spatial, channels)`` for
    ``data_format="channels_last"`` (the default), ``(batch, channels, *spatial)``
    for ``"channels_first"``.

    >>> from nerve import layers, ops
    >>> layers.Conv1D(2, 3, data_format="channels_first")(ops.ones((1, 5, 7))).shape
    (1, 2, 5)
    """

    rank: ClassVar[int] = 0
    # Paddings this layer accepts; Conv1D adds "causal".
    paddings: ClassVar[tuple[str, ...]] = ("valid", "same")
    # Keras refuses strides > 1 together with dilation_rate > 1 in Conv and ConvTranspose.
    strides_with_dilation: ClassVar[bool] = True

    def __init__(
        self,
        kernel_size: Any,
        strides: Any = 1,
        padding: str = "valid",
        data_format: str | None = None,
        dilation_rate: Any = 1,
        activation: Any = None,
        use_bias: bool = True,
        bias_initializer: Any = "zeros",
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        bias_constraint: Any = None,
        **kwargs: Any,
    ):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        layer, rank = type(self).__name__, self.rank
        if rank not in (1, 2, 3):
            raise TypeError(f"{layer}: Convolution is abstract; use Conv1D, Conv2D, Conv3D, ...")
        self.kernel_size = int_tuple(kernel_size, rank, "kernel_size", layer)
        self.strides = int_tuple(strides, rank, "strides", layer)
        self.dilation_rate = int_tuple(dilation_rate, rank, "dilation_rate", layer)
        self.padding = _choice(padding, self.paddings, "padding", layer)
        self.data_format = _choice(
            config.image_data_format() if data_format is None else data_format,
            DATA_FORMATS,
            "data_format",
            layer,
        )
        strided, dilated = max(self.strides) > 1, max(self.dilation_rate) > 1
        if strided and dilated and not self.strides_with_dilation:
            raise ValueError(
                f"{layer}: strides > 1 cannot be combined with dilation_rate > 1 (as in "
                f"Keras); got strides={self.strides} and dilation_rate={self.dilation_rate}."
            )
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.bias_initializer = initializers.get(bias_initializer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.bias_constraint = constraints.get(bias_constraint)
        self.bias: Variable | None = None
        self._channels: int | None = None  # input channels, once built

    # -- what a family of convolutions declares -------------------------------------------
    def _kernels(self, channels: int) -> list[KernelSpec]:
        """The kernels for ``channels`` input channels, in weight order (bias last)."""
        raise NotImplementedError

    def _convolve(self, inputs: Tensor) -> Tensor:
        """The convolution itself, without bias and activation."""
        raise NotImplementedError

    def _output_channels(self, channels: int | None) -> int | None:
        """Output channels for ``channels`` input channels."""
        raise NotImplementedError

    def _output_spatial(self, spatial: tuple) -> tuple:
        """Output spatial sizes for input spatial sizes (``None`` where unknown)."""
        return tuple(
            conv_output_size(n, k, s, d, self.padding)
            for n, k, s, d in zip(spatial, self.kernel_size, self.strides, self.dilation_rate)
        )

    def _flops_positions(self, input_shape: Any, output_shape: Any) -> Any:
        """The channels-last shape over whose positions every kernel is applied once
        (the output's; a transposed convolution says the input's)."""
        if output_shape is None and input_shape is not None:
            output_shape = self.compute_output_shape(tuple(input_shape))
        return None if output_shape is None else self._channels_last(tuple(output_shape))

    # -- shapes ---------------------------------------------------------------------------
    def _describe(self) -> str:
        return f"{type(self).__name__} {self.name!r}"

    def _channels_last(self, shape: tuple) -> tuple:
        if self.data_format == "channels_first":
            return (shape[0], *shape[2:], shape[1])
        return shape

    def _layout(self, batch: Any, spatial: tuple, channels: Any) -> tuple:
        if self.data_format == "channels_first":
            return (batch, channels, *spatial)
        return (batch, *spatial, channels)

    def _split(self, shape: tuple) -> tuple[tuple, Any]:
        """The spatial sizes and the channel count of an input shape, after checking
        its rank (and, once built, its channels)."""
        shape = tuple(shape)
        expected = (
            "(batch, channels, *spatial)"
            if self.data_format == "channels_first"
            else ("(batch, *spatial, channels)")
        )
        if len(shape) != self.rank + 2:
            raise ShapeError(
                with_location(
                    f"{self._describe()} expects inputs of rank {self.rank + 2}, laid out "
                    f"{expected} for data_format={self.data_format!r}, but received inputs "
                    f"of shape {shape} (rank {len(shape)})."
                )
            )
        channel_axis = 1 if self.data_format == "channels_first" else -1
        channels = shape[channel_axis]
        if (
            self._channels is not None
            and isinstance(channels, int)
            and (channels != self._channels)
        ):
            raise ShapeError(
                with_location(
                    f"{self._describe()} was built for inputs with {self._channels} channels "
                    f"(axis {channel_axis}, data_format={self.data_format!r}), but received "
                    f"inputs of shape {shape}, with {channels} channels."
                )
            )
        spatial = shape[2:] if self.data_format == "channels_first" else shape[1:-1]
        return spatial, channels

    def _check_fits(self, shape: tuple, spatial: tuple) -> tuple:
        """The output spatial sizes, after checking that each is positive."""
        out = self._output_spatial(spatial)
        for n, size in zip(spatial, out):
            if isinstance(n, int) and size is not None and size <= 0:
                spans = tuple((k - 1) * d + 1 for k, d in zip(self.kernel_size, self.dilation_rate))
                raise ShapeError(
                    with_location(
                        f"{self._describe()}: kernel_size {self.kernel_size} with dilation_rate "
                        f"{self.dilation_rate} spans {spans}, larger than the spatial shape "
                        f"{tuple(spatial)} of its inputs of shape {tuple(shape)} (padding="
                        f"{self.padding!r}, data_format={self.data_format!r}); the output "
                        f"would have spatial shape {out}. Use padding='same', a smaller "
                        f"kernel or larger inputs."
                    )
                )
        return out

    def compute_output_shape(self, input_shape: Any) -> tuple:
        shape = tuple(input_shape)
        spatial, channels = self._split(shape)
        out = self._check_fits(shape, spatial)
        channels = self._channels if self._channels is not None else channels
        return self._layout(shape[0], out, self._output_channels(channels))

    # -- building and calling -------------------------------------------------------------
    def build(self, input_shape: Any) -> None:
        shape = tuple(input_shape)
        spatial, channels = self._split(shape)
        if not isinstance(channels, int):
            raise ShapeError(
                f"{self._describe()} needs inputs whose channel axis is known, got shape "
                f"{shape} (data_format={self.data_format!r})."
            )
        self._check_channels(channels, shape)
        self._check_fits(shape, spatial)
        for spec in self._kernels(channels):
            weight = self.add_weight(
                shape=spec.shape,
                initializer=spec.initializer,
                regularizer=spec.regularizer,
                constraint=spec.constraint,
                name=spec.name,
            )
            setattr(self, spec.name, weight)
        if self.use_bias:
            self.bias = self.add_weight(
                shape=(self._output_channels(channels),),
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
                name="bias",
            )
        self._channels = channels

    def _check_channels(self, channels: int, shape: tuple) -> None:
        """Further checks of the input channels at build time (groups divide them)."""

    def call(self, inputs: Tensor) -> Tensor:
        shape = tuple(inputs.shape)
        spatial, _ = self._split(shape)
        self._check_fits(shape, spatial)
        outputs = self._convolve(inputs)
        if self.bias is not None:
            bias = self._cast(self.bias)
            if self.data_format == "channels_first":
                bias = ops.reshape(bias, (-1, *(1,) * self.rank))
            outputs = outputs + bias
        return self.activation(outputs)

    def compute_flops(self, input_shape: Any, output_shape: Any) -> int | None:
        """``2 * prod(kernel shape)`` per position for each kernel (a multiply-add for
        every kernel entry), over the output's positions (the input's for a transposed
        convolution); the bias and the activation are elementwise and count 0."""
        channels = self._channels
        if channels is None and input_shape is not None:
            channels = self._split(tuple(input_shape))[1]
        positions = self._flops_positions(input_shape, output_shape)
        if not isinstance(channels, int) or positions is None:
            return None
        total = 0
        for spec in self._kernels(channels):
            flops = kernel_flops(spec.shape, positions)
            if flops is None:
                return None
            total += flops
        return total

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": self.dilation_rate,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "activity_regularizer": regularizers.serialize(self.activity_regularizer),
            "bias_constraint": constraints.serialize(self.bias_constraint),
        }


def _choice(value: Any, allowed: tuple[str, ...], what: str, layer: str) -> str:
    name = value.lower() if isinstance(value, str) else value
    if name not in allowed:
        raise ValueError(
            f"{layer}: {what} must be one of {', '.join(map(repr, allowed))}, got {value!r}."
        )
    return name
