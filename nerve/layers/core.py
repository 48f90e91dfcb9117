"""Core layers: Dense, Activation, Dropout, Flatten, Reshape, Rescaling, Lambda, Identity.

>>> import nerve
>>> from nerve import layers, ops
>>> dense = layers.Dense(4, activation="relu", name="dense")
>>> dense(ops.ones((2, 3))).shape
(2, 4)
>>> [w.path for w in dense.weights]
['dense/kernel', 'dense/bias']
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from nerve import activations, initializers, ops
from nerve import random as nrandom
from nerve.core.errors import ShapeError, check_int, with_location
from nerve.layers._spatial import data_format_of
from nerve.layers.base import Layer, kernel_flops
from nerve.tensor import Tensor

__all__ = [
    "Activation",
    "Dense",
    "Dropout",
    "Flatten",
    "Identity",
    "Lambda",
    "Rescaling",
    "Reshape",
]


class Dense(Layer):
    """A fully connected layer: ``activation(inputs @ kernel + bias)`` over the last axis.

    Inputs of shape ``(batch, ..., features)`` give outputs of shape
    ``(batch, ..., units)``; the leading axes are carried through unchanged. The
    ``kernel`` has shape ``(features, units)`` and is made on the first call.

    Args:
        units: the size of the last axis of the output (a positive int).
        activation: applied to the result; a name such as ``"relu"`` or a callable.
            ``None`` (the default) keeps the result linear.
        use_bias: whether a ``(units,)`` bias vector is added (true by default).
        kernel_initializer: how the kernel starts; ``"glorot_uniform"`` by default.
        bias_initializer: how the bias starts; zeros by default.
        kernel_regularizer, bias_regularizer: optional penalties on the kernel and the
            bias, added to the layer's ``losses``.
        activity_regularizer: an optional penalty on the layer's output.
        kernel_constraint, bias_constraint: optional functions applied to the kernel
            and the bias after each optimizer step.
        quantization_config: accepted for Keras compatibility; anything but ``None``
            raises ``NotImplementedError`` (quantized layers are not supported yet).

    >>> from nerve import layers, ops
    >>> dense = layers.Dense(3, activation="relu", kernel_initializer="ones")
    >>> dense(ops.ones((2, 5, 4))).shape, dense.kernel.shape
    ((2, 5, 3), (4, 3))
    """

    _passes_masks = True

    def __init__(
        self,
        units: int,
        activation: Any = None,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        quantization_config: Any = None,
        **kwargs: Any,
    ):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        if quantization_config is not None:
            raise NotImplementedError("Dense: quantization is not supported yet.")
        self.units = check_int(units, "units", "Dense")
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = kernel_regularizer
        self.bias_regularizer = bias_regularizer
        self.kernel_constraint = kernel_constraint
        self.bias_constraint = bias_constraint

    def build(self, input_shape: tuple) -> None:
        if not input_shape or input_shape[-1] is None:
            raise ShapeError(
                f"Dense {self.name!r} needs inputs whose last axis is known, got shape "
                f"{input_shape}."
            )
        self.kernel = self.add_weight(
            shape=(input_shape[-1], self.units),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
            name="kernel",
        )
        self.bias = (
            self.add_weight(
                shape=(self.units,),
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
                name="bias",
            )
            if self.use_bias
            else None
        )

    def call(self, inputs: Tensor) -> Tensor:
        expected = self.kernel.shape[0]
        if inputs.shape[-1] != expected:
            raise ShapeError(
                with_location(
                    f"Dense {self.name!r} expects inputs whose last axis has size {expected}, "
                    f"but received inputs of shape {inputs.shape[1:]} (batch axis left out)."
                )
            )
        outputs = ops.matmul(inputs, self._cast(self.kernel))
        if self.bias is not None:
            outputs = outputs + self._cast(self.bias)
        return self.activation(outputs)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (*input_shape[:-1], self.units)

    def compute_flops(self, input_shape: Any, output_shape: Any) -> int | None:
        """``2 * in * units`` per output position (the matrix product's multiply-adds,
        2 FLOPs each); the bias and the activation are elementwise and count 0."""
        features = self.kernel.shape[0] if self.built else (input_shape or (None,))[-1]
        return kernel_flops((features, self.units), output_shape)

    def get_config(self) -> dict:
        from nerve import constraints, regularizers

        return {
            **super().get_config(),
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
        }


class Activation(Layer):
    """Applies an activation function to every entry; the output has the input's shape.

    Args:
        activation: a name such as ``"relu"``, ``"tanh"`` or ``"softmax"``, or a
            callable taking and returning a tensor.

    >>> from nerve import layers, ops
    >>> layers.Activation("relu")(ops.convert_to_tensor([-1.0, 2.0])).numpy()
    array([0., 2.], dtype=float32)
    """

    _passes_masks = True

    def __init__(self, activation: Any, **kwargs: Any):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def call(self, inputs: Tensor) -> Tensor:
        return self.activation(inputs)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "activation": activations.serialize(self.activation)}


class Dropout(Layer):
    """Zeroes a fraction ``rate`` of the inputs while training (scaling the rest by
    ``1 / (1 - rate)``, so the expected sum is unchanged); the identity at inference.
    The output has the input's shape.

    Args:
        rate: the fraction of entries to drop, a float in ``[0, 1]``.
        noise_shape: ``None`` (every entry is dropped independently) or the shape of
            the keep/drop pattern, which broadcasts to the inputs' shape; e.g.
            ``(batch, 1, features)`` drops the same features at every time step.
        seed: an int to make the random pattern reproducible; ``None`` draws a fresh
            seed.

    Call arguments:
        inputs: the tensor to drop entries of.
        training: whether to drop (true) or pass the inputs through (false, the
            default outside ``fit``).

    >>> from nerve import layers, ops
    >>> dropout = layers.Dropout(0.5, seed=1)
    >>> out = dropout(ops.ones((2, 4)), training=True)
    >>> sorted(set(out.numpy().ravel().tolist())) in ([0.0, 2.0], [2.0], [0.0])
    True
    >>> dropout(ops.ones((2, 4)), training=False).numpy().tolist()
    [[1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0]]
    """

    _passes_masks = True

    def __init__(
        self, rate: float, noise_shape: Any = None, seed: int | None = None, **kwargs: Any
    ):
        super().__init__(**kwargs)
        if not 0 <= rate <= 1:
            raise ValueError(f"Dropout: rate must be in [0, 1], got {rate!r}.")
        self.rate = float(rate)
        self.noise_shape = noise_shape
        self.seed = seed
        self.seed_generator = nrandom.SeedGenerator(seed)

    def call(self, inputs: Tensor, training: bool | None = None) -> Tensor:
        if not training or self.rate == 0:
            return inputs
        return nrandom.dropout(inputs, self.rate, self.noise_shape, seed=self.seed_generator)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "rate": self.rate,
            "noise_shape": self.noise_shape,
            "seed": self.seed,
        }


class Flatten(Layer):
    """Flattens every axis but the batch axis. Channels-first inputs are flattened in
    channels-last order (as Keras does), so the features come out in the same order
    whichever ``data_format`` the layers before used. Inputs of shape
    ``(batch, d1, ..., dn)`` give outputs of shape ``(batch, d1 * ... * dn)``.

    Args:
        data_format: ``"channels_last"`` or ``"channels_first"``, the layout of the
            inputs; ``None`` uses ``nerve.config.image_data_format()``
            (``"channels_last"`` unless set otherwise).

    >>> from nerve import layers, ops
    >>> x = ops.reshape(ops.arange(4.0), (1, 2, 2))  # (batch, channels, steps)
    >>> layers.Flatten(data_format="channels_first")(x).numpy()
    array([[0., 2., 1., 3.]], dtype=float32)
    """

    def __init__(self, data_format: str | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.data_format = data_format_of(data_format, "Flatten")

    def call(self, inputs: Tensor) -> Tensor:
        if self.data_format == "channels_first" and inputs.ndim > 2:
            # Keras flattens channels-first inputs in channels-last order.
            inputs = ops.transpose(inputs, (0, *range(2, inputs.ndim), 1))
        return ops.reshape(inputs, (inputs.shape[0], math.prod(inputs.shape[1:])))

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        rest = input_shape[1:]
        return (input_shape[0], None if None in rest else math.prod(rest))

    def get_config(self) -> dict:
        return {**super().get_config(), "data_format": self.data_format}


class Reshape(Layer):
    """Reshapes every example: inputs of shape ``(batch, ...)`` give outputs of shape
    ``(batch, *target_shape)``, with the same entries in the same (row-major) order.

    Args:
        target_shape: the shape of one example, without the batch axis; one entry may
            be -1, meaning whatever size makes the number of entries match.

    >>> from nerve import layers, ops
    >>> layers.Reshape((3, -1))(ops.ones((2, 12))).shape
    (2, 3, 4)
    """

    def __init__(self, target_shape: tuple, **kwargs: Any):
        super().__init__(**kwargs)
        self.target_shape = tuple(int(d) for d in target_shape)

    def call(self, inputs: Tensor) -> Tensor:
        return ops.reshape(inputs, (inputs.shape[0], *self.target_shape))

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        target = self.target_shape
        if -1 not in target:
            return (input_shape[0], *target)
        rest = input_shape[1:]
        known = math.prod(d for d in target if d != -1)
        inferred = None if None in rest else math.prod(rest) // known
        return (input_shape[0], *(inferred if d == -1 else d for d in target))

    def get_config(self) -> dict:
        return {**super().get_config(), "target_shape": self.target_shape}


class Rescaling(Layer):
    """``inputs * scale + offset`` (e.g. ``Rescaling(1 / 255)`` for pixel values),
    computed in the layer's compute dtype; the output has the input's shape.

    Args:
        scale: the factor the inputs are multiplied by.
        offset: added after scaling; 0 by default.

    >>> from nerve import layers, ops
    >>> layers.Rescaling(1 / 127.5, offset=-1.0)(ops.convert_to_tensor([0, 255])).numpy()
    array([-1.,  1.], dtype=float32)
    """

    _passes_masks = True

    def __init__(self, scale: float, offset: float = 0.0, **kwargs: Any):
        super().__init__(**kwargs)
        self.scale, self.offset = scale, offset

    def call(self, inputs: Tensor) -> Tensor:
        inputs = ops.cast(inputs, self.compute_dtype)
        return inputs * self.scale + self.offset

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "scale": self.scale, "offset": self.offset}


class Lambda(Layer):
    """Wraps an arbitrary function of the inputs as a layer (not serializable by code:
    ``from_config`` needs the function registered or passed again). The call returns
    ``function(inputs, **arguments)``.

    Args:
        function: the callable to apply to the inputs.
        output_shape: how to know the output's shape without running the function:
            ``None`` (infer it by running the function on placeholders), a shape
            without the batch axis, or a callable from the input shape to the output
            shape.
        arguments: an optional dict of keyword arguments passed to ``function``.

    >>> from nerve import layers, ops
    >>> double = layers.Lambda(lambda x, factor: x * factor, arguments={"factor": 2.0})
    >>> double(ops.ones((1, 3))).numpy()
    array([[2., 2., 2.]], dtype=float32)
    """

    _passes_masks = True

    def __init__(
        self,
        function: Callable,
        output_shape: Any = None,
        arguments: dict | None = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.function = function
        self.output_shape = output_shape
        self.arguments = dict(arguments or {})

    def call(self, inputs: Any) -> Any:
        return self.function(inputs, **self.arguments)

    def compute_output_shape(self, input_shape: Any) -> Any:
        if self.output_shape is None:
            return super().compute_output_shape(input_shape)
        if callable(self.output_shape):
            return self.output_shape(input_shape)
        return (input_shape[0], *self.output_shape)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "function": getattr(self.function, "__name__", repr(self.function)),
            "arguments": self.arguments,
        }

    @classmethod
    def from_config(cls, config: dict) -> Lambda:
        raise TypeError(
            "A Lambda layer's function cannot be restored from its config (nerve never runs "
            "code from a file). Rebuild the layer with the function, or write a Layer subclass "
            "registered with nerve.saving.register_keras_serializable."
        )


class Identity(Layer):
    """Returns its inputs unchanged (any structure and shape); a placeholder where a
    model needs a layer that does nothing.

    Args:
        activity_regularizer, trainable, dtype, autocast, name: the arguments every
            layer takes; see ``Layer``.

    >>> from nerve import layers, ops
    >>> layers.Identity()(ops.ones((2, 3))).shape
    (2, 3)
    """

    _passes_masks = True

    def call(self, inputs: Any) -> Any:
        return inputs

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape
