"""Merging layers: combine a list of inputs into one (Keras's ``keras.layers`` merging).

>>> import nerve
>>> from nerve import layers, ops
>>> layers.Concatenate()([ops.ones((2, 3)), ops.zeros((2, 1))]).shape
(2, 4)
>>> float(ops.sum(layers.Add()([ops.ones((2,)), ops.ones((2,))])))
4.0
"""

from __future__ import annotations

import functools
from typing import Any

from nerve import ops
from nerve.core.errors import ShapeError
from nerve.layers.base import Layer
from nerve.tensor import Tensor

__all__ = [
    "Add",
    "Average",
    "Concatenate",
    "Maximum",
    "Merge",
    "Minimum",
    "Multiply",
    "Subtract",
    "add",
    "average",
    "concatenate",
    "maximum",
    "minimum",
    "multiply",
    "subtract",
]


class Merge(Layer):
    """Base of the elementwise merges: inputs of one shape (or broadcastable) in a list."""

    def _merge(self, inputs: list) -> Tensor:
        raise NotImplementedError

    def _check(self, inputs: Any) -> list:
        if not isinstance(inputs, (list, tuple)) or len(inputs) < 2:
            raise ValueError(
                f"{type(self).__name__} layer {self.name!r} must be called on a list of at "
                f"least 2 inputs, got {type(inputs).__name__}."
            )
        return list(inputs)

    def call(self, inputs: Any) -> Tensor:
        return self._merge(self._check(inputs))

    def compute_mask(self, inputs: Any, previous_mask: Any = None) -> Any:
        """A step is kept where every input that has a mask keeps it (as in Keras)."""
        masks = [m for m in (previous_mask or []) if m is not None]
        if not masks:
            return None
        return functools.reduce(ops.logical_and, [ops.cast(m, "bool") for m in masks])

    def compute_output_shape(self, input_shape: Any) -> tuple:
        shapes = [tuple(s) for s in input_shape]
        rank = max(len(s) for s in shapes)
        out = []
        for axis in range(-rank, 0):
            dims = {s[axis] for s in shapes if -axis <= len(s)} - {1}
            known = dims - {None}
            if len(known) > 1:
                raise ShapeError(
                    f"{type(self).__name__} layer {self.name!r}: inputs of shapes {shapes} "
                    "cannot be combined elementwise."
                )
            out.append(known.pop() if known else (None if None in dims else 1))
        return tuple(out)


class Add(Merge):
    """Adds a list of two or more tensors entry by entry. The inputs have one shape
    (or shapes that broadcast together), and so does the output; where inputs carry
    masks, a step is kept where every mask keeps it.

    Args:
        activity_regularizer, trainable, dtype, autocast, name: the arguments every
            layer takes; see ``Layer``.

    Call arguments:
        inputs: a list of at least two tensors.

    >>> from nerve import layers, ops
    >>> layers.Add()([ops.ones((2, 3)), ops.full((2, 3), 2.0)]).numpy()
    array([[3., 3., 3.],
           [3., 3., 3.]], dtype=float32)
    """

    def _merge(self, inputs: list) -> Tensor:
        return functools.reduce(ops.add, inputs)


class Multiply(Merge):
    """Multiplies a list of two or more tensors entry by entry (e.g. a gate and the
    signal it gates). The inputs have one shape (or shapes that broadcast together),
    and so does the output.

    Args:
        activity_regularizer, trainable, dtype, autocast, name: the arguments every
            layer takes; see ``Layer``.

    Call arguments:
        inputs: a list of at least two tensors.

    >>> from nerve import layers, ops
    >>> x = ops.convert_to_tensor([[1.0, 2.0, 3.0]])
    >>> layers.Multiply()([x, x, ops.convert_to_tensor([[0.0, 1.0, 2.0]])]).numpy()
    array([[ 0.,  4., 18.]], dtype=float32)
    """

    def _merge(self, inputs: list) -> Tensor:
        return functools.reduce(ops.multiply, inputs)


class Maximum(Merge):
    """The largest entry at each position across a list of two or more tensors. The
    inputs have one shape (or shapes that broadcast together), and so does the output.

    Args:
        activity_regularizer, trainable, dtype, autocast, name: the arguments every
            layer takes; see ``Layer``.

    Call arguments:
        inputs: a list of at least two tensors.

    >>> from nerve import layers, ops
    >>> a, b = ops.convert_to_tensor([[1.0, 5.0]]), ops.convert_to_tensor([[4.0, 2.0]])
    >>> layers.Maximum()([a, b]).numpy()
    array([[4., 5.]], dtype=float32)
    """

    def _merge(self, inputs: list) -> Tensor:
        return functools.reduce(ops.maximum, inputs)


class Minimum(Merge):
    """The smallest entry at each position across a list of two or more tensors. The
    inputs have one shape (or shapes that broadcast together), and so does the output.

    Args:
        activity_regularizer, trainable, dtype, autocast, name: the arguments every
            layer takes; see ``Layer``.

    Call arguments:
        inputs: a list of at least two tensors.

    >>> from nerve import layers, ops
    >>> a, b = ops.convert_to_tensor([[1.0, 5.0]]), ops.convert_to_tensor([[4.0, 2.0]])
    >>> layers.Minimum()([a, b]).numpy()
    array([[1., 2.]], dtype=float32)
    """

    def _merge(self, inputs: list) -> Tensor:
        return functools.reduce(ops.minimum, inputs)


class Subtract(Merge):
    """``inputs[0] - inputs[1]``, entry by entry, for exactly two tensors of one shape
    (or shapes that broadcast together); the output has that shape.

    Args:
        activity_regularizer, trainable, dtype, autocast, name: the arguments every
            layer takes; see ``Layer``.

    Call arguments:
        inputs: a list of two tensors.

    >>> from nerve import layers, ops
    >>> layers.Subtract()([ops.full((1, 2), 5.0), ops.ones((1, 2))]).numpy()
    array([[4., 4.]], dtype=float32)
    """

    def _merge(self, inputs: list) -> Tensor:
        if len(inputs) != 2:
            raise ValueError(f"Subtract layer {self.name!r} takes exactly 2 inputs.")
        return ops.subtract(inputs[0], inputs[1])


class Average(Merge):
    """The mean of a list of two or more tensors, entry by entry. The inputs have one
    shape (or shapes that broadcast together), and so does the output.

    Args:
        activity_regularizer, trainable, dtype, autocast, name: the arguments every
            layer takes; see ``Layer``.

    Call arguments:
        inputs: a list of at least two tensors.

    >>> from nerve import layers, ops
    >>> layers.Average()([ops.zeros((1, 2)), ops.full((1, 2), 3.0)]).numpy()
    array([[1.5, 1.5]], dtype=float32)
    """

    def _merge(self, inputs: list) -> Tensor:
        return ops.divide(functools.reduce(ops.add, inputs), float(len(inputs)))


class Concatenate(Layer):
    """Joins a list of tensors along ``axis``: the inputs must match on every other
    axis, and the output's size on ``axis`` is the sum of theirs. Where inputs carry
    masks, the masks are joined the same way.

    Args:
        axis: the axis to join along; the last axis by default.

    Call arguments:
        inputs: a list of tensors of the same rank.

    >>> from nerve import layers, ops
    >>> layers.Concatenate(axis=1)([ops.ones((2, 3, 4)), ops.zeros((2, 5, 4))]).shape
    (2, 8, 4)
    """

    def __init__(self, axis: int = -1, **kwargs: Any):
        super().__init__(**kwargs)
        self.axis = axis

    def call(self, inputs: Any) -> Tensor:
        if not isinstance(inputs, (list, tuple)) or len(inputs) < 1:
            raise ValueError(f"Concatenate layer {self.name!r} must be called on a list.")
        return ops.concatenate(list(inputs), axis=self.axis)

    def compute_mask(self, inputs: Any, previous_mask: Any = None) -> Any:
        """Keras's rule: inputs without a mask count as all kept; the masks (with a
        trailing axis added where the inputs have one more) are concatenated like the
        inputs, and a step is kept where any of its concatenated entries is."""
        if not previous_mask or all(m is None for m in previous_mask):
            return None
        parts = []
        for x, mask in zip(inputs, previous_mask):
            if mask is None:
                mask = ops.ones(x.shape, dtype="bool")
            elif mask.ndim < x.ndim:
                mask = ops.broadcast_to(ops.expand_dims(mask, -1), x.shape)
            parts.append(ops.cast(mask, "bool"))
        return ops.any(ops.concatenate(parts, axis=self.axis), axis=-1)

    def compute_output_shape(self, input_shape: Any) -> tuple:
        shapes = [tuple(s) for s in input_shape]
        axis = self.axis % len(shapes[0])
        sizes = [s[axis] for s in shapes]
        out = list(shapes[0])
        out[axis] = None if None in sizes else sum(sizes)
        for shape in shapes[1:]:
            others = [d for i, d in enumerate(shape) if i != axis]
            expected = [d for i, d in enumerate(shapes[0]) if i != axis]
            if len(shape) != len(shapes[0]) or any(
                a is not None and b is not None and a != b for a, b in zip(others, expected)
            ):
                raise ShapeError(
                    f"Concatenate layer {self.name!r}: inputs of shapes {shapes} must match "
                    f"on every axis but the concatenation axis ({self.axis})."
                )
        return tuple(out)

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis}


def _functional(cls: type, doc: str):
    def merge(inputs: list, **kwargs: Any) -> Tensor:
        return cls(**kwargs)(inputs)

    merge.__doc__ = doc
    return merge


add = _functional(Add, "Functional form of ``Add``.")
subtract = _functional(Subtract, "Functional form of ``Subtract``.")
multiply = _functional(Multiply, "Functional form of ``Multiply``.")
average = _functional(Average, "Functional form of ``Average``.")
maximum = _functional(Maximum, "Functional form of ``Maximum``.")
minimum = _functional(Minimum, "Functional form of ``Minimum``.")


def concatenate(inputs: list, axis: int = -1, **kwargs: Any) -> Tensor:
    """Functional form of ``Concatenate``."""
    return Concatenate(axis=axis, **kwargs)(inputs)
