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


def _reducing(name: str, combine, doc: str):
    class Reducing(Merge):
        def _merge(self, inputs: list) -> Tensor:
            return functools.reduce(combine, inputs)

    Reducing.__name__ = Reducing.__qualname__ = name
    Reducing.__doc__ = doc
    return Reducing


Add = _reducing("Add", ops.add, "Elementwise sum of the inputs.")
Multiply = _reducing("Multiply", ops.multiply, "Elementwise product of the inputs.")
Maximum = _reducing("Maximum", ops.maximum, "Elementwise maximum of the inputs.")
Minimum = _reducing("Minimum", ops.minimum, "Elementwise minimum of the inputs.")


class Subtract(Merge):
    """``inputs[0] - inputs[1]`` (exactly two inputs)."""

    def _merge(self, inputs: list) -> Tensor:
        if len(inputs) != 2:
            raise ValueError(f"Subtract layer {self.name!r} takes exactly 2 inputs.")
        return ops.subtract(inputs[0], inputs[1])


class Average(Merge):
    """Elementwise mean of the inputs."""

    def _merge(self, inputs: list) -> Tensor:
        return ops.divide(functools.reduce(ops.add, inputs), float(len(inputs)))


class Concatenate(Layer):
    """Concatenates a list of inputs along ``axis`` (all other axes must match)."""

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
