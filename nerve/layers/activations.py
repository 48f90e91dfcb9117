"""Activation layers: ReLU, LeakyReLU, PReLU, ELU, Softmax.

Each applies one activation function, with its arguments as layer configuration
(``Activation("relu")`` applies a function by name). PReLU learns its negative slope.

>>> import nerve
>>> from nerve import layers, ops
>>> x = ops.convert_to_tensor([-2.0, 0.5, 8.0])
>>> layers.ReLU(max_value=6.0)(x).numpy(), layers.LeakyReLU(negative_slope=0.5)(x).numpy()
(array([0. , 0.5, 6. ], dtype=float32), array([-1. ,  0.5,  8. ], dtype=float32))
"""

from __future__ import annotations

from typing import Any

from nerve import activations, constraints, initializers, ops, regularizers
from nerve.core.errors import ShapeError, with_location
from nerve.layers.base import Layer
from nerve.tensor import Tensor

__all__ = ["ELU", "LeakyReLU", "PReLU", "ReLU", "Softmax"]


def _non_negative(layer: str, name: str, value: Any) -> float:
    if value is None or isinstance(value, bool) or not float(value) >= 0:
        raise ValueError(f"{layer}: {name} must be a number >= 0, got {value!r}.")
    return float(value)


class _Elementwise(Layer):
    """An activation layer: the output has the input's shape, and costs no FLOPs."""

    _passes_masks = True

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def compute_flops(self, input_shape: Any, output_shape: Any) -> int | None:
        """0: an activation is elementwise work (see ``Layer.compute_flops``)."""
        return 0


class ReLU(_Elementwise):
    """Rectified linear unit with Keras's options: ``x`` above ``threshold``,
    ``negative_slope * (x - threshold)`` at or below it, and the result capped at
    ``max_value`` when one is given. All three must be >= 0. The output has the
    input's shape.

    Args:
        max_value: the largest value the output can take; ``None`` (the default)
            leaves it unbounded.
        negative_slope: the slope applied at or below ``threshold``; 0 (the default)
            gives the plain ReLU.
        threshold: the input value where the unit switches from the slope to the
            identity; 0 by default.

    >>> import nerve
    >>> from nerve import layers, ops
    >>> relu = layers.ReLU(max_value=1.5, negative_slope=0.1, threshold=0.5)
    >>> relu(ops.convert_to_tensor([-1.0, 0.5, 1.0, 2.0])).numpy()
    array([-0.15,  0.  ,  1.  ,  1.5 ], dtype=float32)
    """

    def __init__(
        self,
        max_value: float | None = None,
        negative_slope: float = 0.0,
        threshold: float = 0.0,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.max_value = (
            None if max_value is None else _non_negative("ReLU", "max_value", max_value)
        )
        self.negative_slope = _non_negative("ReLU", "negative_slope", negative_slope)
        self.threshold = _non_negative("ReLU", "threshold", threshold)

    def call(self, inputs: Tensor) -> Tensor:
        return activations.relu(
            inputs,
            negative_slope=self.negative_slope,
            max_value=self.max_value,
            threshold=self.threshold,
        )

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "max_value": self.max_value,
            "negative_slope": self.negative_slope,
            "threshold": self.threshold,
        }


class LeakyReLU(_Elementwise):
    """``x`` where positive, ``negative_slope * x`` elsewhere (``negative_slope`` >= 0;
    0.3 by default, as in Keras's layer). The output has the input's shape.

    Args:
        negative_slope: the factor applied to negative inputs; a number >= 0.

    >>> import nerve
    >>> from nerve import layers, ops
    >>> layers.LeakyReLU()(ops.convert_to_tensor([-1.0, 2.0])).numpy()
    array([-0.3,  2. ], dtype=float32)
    """

    def __init__(self, negative_slope: float = 0.3, **kwargs: Any):
        super().__init__(**kwargs)
        self.negative_slope = _non_negative("LeakyReLU", "negative_slope", negative_slope)

    def call(self, inputs: Tensor) -> Tensor:
        return ops.leaky_relu(inputs, negative_slope=self.negative_slope)

    def get_config(self) -> dict:
        return {**super().get_config(), "negative_slope": self.negative_slope}


class PReLU(Layer):
    """Parametric ReLU: ``x`` where ``x >= 0``, ``alpha * x`` elsewhere, with ``alpha``
    a learned weight shaped like one example (``inputs.shape[1:]``). ``shared_axes``
    lists axes (counted with the batch axis, which is 0) along which one ``alpha`` is
    shared: ``shared_axes=[1, 2]`` on images ``(batch, height, width, channels)``
    learns one slope per channel. The output has the input's shape.

    Args:
        alpha_initializer: how ``alpha`` starts (a name, an initializer or a
            callable); zeros by default, so the layer starts as a ReLU.
        alpha_regularizer: an optional penalty on ``alpha`` added to the layer's losses.
        alpha_constraint: an optional function applied to ``alpha`` after each
            optimizer step.
        shared_axes: ``None`` (one slope per input entry), an axis or a list of axes
            along which a single slope is shared.

    >>> import nerve
    >>> from nerve import layers, ops
    >>> prelu = layers.PReLU(alpha_initializer=nerve.initializers.Constant(0.25), shared_axes=[1])
    >>> prelu(ops.convert_to_tensor([[[-4.0, 4.0], [-8.0, 1.0]]])).numpy()
    array([[[-1.,  4.],
            [-2.,  1.]]], dtype=float32)
    >>> prelu.alpha.shape
    (1, 2)
    """

    _passes_masks = True

    def __init__(
        self,
        alpha_initializer: Any = "Zeros",
        alpha_regularizer: Any = None,
        alpha_constraint: Any = None,
        shared_axes: Any = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.alpha_initializer = initializers.get(alpha_initializer)
        self.alpha_regularizer = regularizers.get(alpha_regularizer)
        self.alpha_constraint = constraints.get(alpha_constraint)
        if shared_axes is None:
            self.shared_axes = None
        elif isinstance(shared_axes, (list, tuple)):
            self.shared_axes = [int(a) for a in shared_axes]
        else:
            self.shared_axes = [int(shared_axes)]

    def build(self, input_shape: tuple) -> None:
        ndim = len(input_shape)
        shape = list(input_shape[1:])
        for axis in self.shared_axes or []:
            if not (1 <= axis < ndim or -ndim < axis < 0):
                raise ShapeError(
                    f"PReLU {self.name!r}: shared axis {axis} is not a non-batch axis of inputs "
                    f"of shape {tuple(input_shape)}; shared_axes must be in 1..{ndim - 1}."
                )
            shape[axis % ndim - 1] = 1
        if any(d is None for d in shape):
            raise ShapeError(
                f"PReLU {self.name!r} needs every non-batch axis of its inputs known, or "
                f"listed in shared_axes, to make alpha; received inputs of shape "
                f"{tuple(input_shape)}."
            )
        self.alpha = self.add_weight(
            shape=tuple(shape),
            initializer=self.alpha_initializer,
            regularizer=self.alpha_regularizer,
            constraint=self.alpha_constraint,
            name="alpha",
        )

    def call(self, inputs: Tensor) -> Tensor:
        shape, alpha_shape = tuple(inputs.shape), self.alpha.shape
        if len(shape) != len(alpha_shape) + 1 or any(
            a != 1 and a != d for a, d in zip(alpha_shape, shape[1:])
        ):
            raise ShapeError(
                with_location(
                    f"PReLU {self.name!r} was built for examples of shape "
                    f"{tuple(d if d != 1 else None for d in alpha_shape)} (None: shared), but "
                    f"received inputs of shape {shape}."
                )
            )
        # relu(x) - alpha * relu(-x): alpha * x below 0, x above.
        return ops.relu(inputs) - self._cast(self.alpha) * ops.relu(-inputs)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def compute_flops(self, input_shape: Any, output_shape: Any) -> int | None:
        """0: an activation is elementwise work (see ``Layer.compute_flops``)."""
        return 0

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "alpha_initializer": initializers.serialize(self.alpha_initializer),
            "alpha_regularizer": regularizers.serialize(self.alpha_regularizer),
            "alpha_constraint": constraints.serialize(self.alpha_constraint),
            "shared_axes": self.shared_axes,
        }


class ELU(_Elementwise):
    """Exponential linear unit: ``x`` where positive, ``alpha * (exp(x) - 1)`` elsewhere.
    The output has the input's shape.

    Args:
        alpha: the value the output approaches for very negative inputs is
            ``-alpha``; 1.0 by default.

    >>> import nerve
    >>> from nerve import layers, ops
    >>> layers.ELU(alpha=2.0)(ops.convert_to_tensor([-100.0, 3.0])).numpy()
    array([-2.,  3.], dtype=float32)
    """

    def __init__(self, alpha: float = 1.0, **kwargs: Any):
        super().__init__(**kwargs)
        self.alpha = float(alpha)

    def call(self, inputs: Tensor) -> Tensor:
        return ops.elu(inputs, alpha=self.alpha)

    def get_config(self) -> dict:
        return {**super().get_config(), "alpha": self.alpha}


class Softmax(_Elementwise):
    """Softmax over ``axis`` (an int or a tuple of axes). At call, an optional boolean
    ``mask`` (the inputs' shape, or one that broadcasts to it; true = keep) leaves out
    the masked entries: they get 0
    and the kept entries share the whole probability; where every entry is masked, all
    are 0. The output has the input's shape.

    Args:
        axis: the axis (or tuple of axes) that sums to 1; the last axis by default.

    Call arguments:
        inputs: the logits.
        mask: optional boolean tensor, true where an entry takes part.

    >>> import nerve
    >>> from nerve import layers, ops
    >>> softmax = layers.Softmax()
    >>> softmax(ops.zeros((1, 4)), mask=ops.convert_to_tensor([[True, True, False, True]])).numpy()
    array([[0.33333334, 0.33333334, 0.        , 0.33333334]], dtype=float32)
    """

    def __init__(self, axis: Any = -1, **kwargs: Any):
        super().__init__(**kwargs)
        self.axis = tuple(int(a) for a in axis) if isinstance(axis, (list, tuple)) else int(axis)

    def call(self, inputs: Tensor, mask: Any = None) -> Tensor:
        if mask is None:
            return ops.softmax(inputs, axis=self.axis)
        keep = ops.convert_to_tensor(mask)
        shape, mask_shape = tuple(inputs.shape), tuple(keep.shape)
        aligned = zip(reversed(mask_shape), reversed(shape))
        if len(mask_shape) > len(shape) or any(m != 1 and m != d for m, d in aligned):
            raise ShapeError(
                with_location(
                    f"Softmax {self.name!r}: mask of shape {mask_shape} does not broadcast to "
                    f"inputs of shape {shape}; it must have the inputs' shape (or sizes of 1 "
                    "where it is the same for every entry)."
                )
            )
        keep = ops.cast(keep, inputs.dtype)
        # A large negative logit gives masked entries no weight; multiplying by the mask
        # then zeroes them exactly, and zeroes rows where every entry is masked.
        logits = inputs + (1.0 - keep) * _large_negative(inputs.dtype)
        return ops.softmax(logits, axis=self.axis) * keep

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis}


def _large_negative(dtype: str) -> float:
    """A logit whose exponential is 0 next to any ordinary one, finite in ``dtype``."""
    return -3e4 if dtype == "float16" else -1e9
