"""``EinsumDense``: a dense layer whose product with the kernel is an einsum equation
(Keras's ``keras.layers.EinsumDense``; the attention layers' projections).

The equation names the input's axes, the kernel's and the output's,
``"<input>,<kernel>-><output>"``, optionally with ``...`` standing for axes that pass
through at the start (``"...b,bc->...c"``) or the end (``"ab...,bc->ac..."``) of the
input and output. Each kernel axis takes its size from the output axis (given in
``output_shape``) or the input axis with the same letter. ``bias_axes`` names the
output axes the bias varies along; the bias then covers the output from the first of
them to the end (size 1 on the others), as in Keras, so weights files interchange.

>>> from nerve import layers, ops
>>> project = layers.EinsumDense("abc,cde->abde", output_shape=(None, 2, 4), bias_axes="de")
>>> project(ops.ones((3, 5, 8))).shape
(3, 5, 2, 4)
>>> [tuple(w.shape) for w in project.weights]
[(8, 2, 4), (2, 4)]
"""

from __future__ import annotations

import copy
import dataclasses
import math
import re
from typing import Any

from nerve import activations, constraints, initializers, ops, regularizers
from nerve.core.errors import ShapeError, with_location
from nerve.layers.base import Layer
from nerve.tensor import Tensor

__all__ = ["EinsumDense"]


@dataclasses.dataclass(frozen=True)
class _EinsumShapes:
    """What an equation makes of an input shape (``analyze_equation``)."""

    kernel: tuple
    bias: tuple | None
    output: tuple
    input_axes: tuple  # kernel axes summed against the input (its fan-in)
    output_axes: tuple  # kernel axes that reach the output (its fan-out)


_FORMS = (
    # (pattern over the equation with "..." written as "0", where the ellipsis is)
    (re.compile(r"([a-zA-Z]+),([a-zA-Z]+)->([a-zA-Z]+)"), None),
    (re.compile(r"0([a-zA-Z]+),([a-zA-Z]+)->0([a-zA-Z]+)"), "left"),
    (re.compile(r"([a-zA-Z]{2,})0,([a-zA-Z]+)->([a-zA-Z]+)0"), "right"),
)


def _split(equation: str, who: str) -> tuple[str, str, str, str | None]:
    plain = equation.replace("...", "0")
    for pattern, ellipsis in _FORMS:
        match = pattern.fullmatch(plain)
        if match:
            return match.group(1), match.group(2), match.group(3), ellipsis
    raise ValueError(
        f"{who}: the equation {equation!r} is not of a supported form: expected "
        "'<input>,<kernel>-><output>', '...<input>,<kernel>->...<output>' or "
        "'<input>...,<kernel>-><output>...' with letters for axes."
    )


def analyze_equation(
    equation: str, bias_axes: str | None, input_shape: tuple, output_shape: tuple, who: str
) -> _EinsumShapes:
    """Kernel, bias and output shapes for ``input_shape`` (batch axis included);
    ``output_shape`` leaves out the batch axis and may hold ``None`` for sizes the
    input gives."""
    input_spec, kernel_spec, output_spec, ellipsis = _split(equation, who)
    input_shape = tuple(input_shape)
    elided = len(input_shape) - len(input_spec)
    if elided < 0 or (elided > 0 and ellipsis is None):
        raise ShapeError(
            with_location(
                f"{who}: the equation {equation!r} names {len(input_spec)} input axes, but "
                f"the input has shape {input_shape} (rank {len(input_shape)})."
            )
        )
    # The input's and the output's named axes (what '...' covers is set aside).
    named_input = input_shape[elided:] if ellipsis == "left" else input_shape[: len(input_spec)]
    passed = input_shape[1:elided] if ellipsis == "left" else input_shape[len(input_spec) :]
    declared = list(output_shape)
    if len(declared) + 1 != len(output_spec) and ellipsis is None:
        raise ValueError(
            f"{who}: output_shape {tuple(output_shape)} has {len(declared)} entries, but the "
            f"equation {equation!r} has {len(output_spec)} output axes (the batch axis "
            "included, which output_shape leaves out)."
        )
    input_size = dict(zip(input_spec, named_input))
    if ellipsis == "left":
        named_output = ([None] * len(output_spec) + declared)[-len(output_spec) :]
    else:
        named_output = [input_shape[0], *declared][: len(output_spec)]
    named_output = [
        input_size.get(letter) if size is None else size
        for letter, size in zip(output_spec, named_output)
    ]
    for letter, size in zip(output_spec, named_output):
        known = input_size.get(letter)
        if known is not None and size is not None and known != size:
            raise ShapeError(
                with_location(
                    f"{who}: axis {letter!r} has size {known} in the input (shape "
                    f"{input_shape}) but {size} in output_shape {tuple(output_shape)}."
                )
            )
    output_size = dict(zip(output_spec, named_output))
    kernel, input_axes, output_axes = [], [], []
    for i, letter in enumerate(kernel_spec):
        if letter in output_size:
            kernel.append(output_size[letter])
            output_axes.append(i)
        elif letter in input_size:
            kernel.append(input_size[letter])
            input_axes.append(i)
        else:
            raise ValueError(
                f"{who}: kernel axis {letter!r} of {equation!r} is in neither the input "
                f"{input_spec!r} nor the output {output_spec!r}, so its size is unknown."
            )
    bias = None
    if bias_axes:
        missing = [letter for letter in bias_axes if letter not in output_spec]
        if missing:
            raise ValueError(
                f"{who}: bias_axes {bias_axes!r} names {missing}, which are not output axes "
                f"of {equation!r}."
            )
        first = min(output_spec.index(letter) for letter in bias_axes)
        bias = [output_size[c] if c in bias_axes else 1 for c in output_spec[first:]]
        bias += [1] * (elided if ellipsis == "right" else 0)
    if ellipsis == "left":
        output = (input_shape[0], *passed, *named_output)
    else:
        output = (*named_output, *passed)
    return _EinsumShapes(
        tuple(kernel), None if bias is None else tuple(bias), output, tuple(input_axes),
        tuple(output_axes),
    )  # fmt: skip


class EinsumDense(Layer):
    """``activation(einsum(equation, inputs, kernel) + bias)``; see the module
    docstring for the equation, ``output_shape`` (the output's shape without the batch
    axis, ``None`` where the input gives the size) and ``bias_axes``.

    A variance-scaling ``kernel_initializer`` (the default, Glorot uniform) counts its
    fan-in and fan-out over the kernel axes summed against the input and those that
    reach the output, as in Keras.

    Args:
        equation: ``"<input>,<kernel>-><output>"`` with one letter per axis, e.g.
            ``"ab,bc->ac"`` (a ``Dense``) or ``"...b,bc->...c"``; ``...`` may stand for
            axes at the start or the end of both the input and the output.
        output_shape: the output's shape without the batch axis: a tuple (``None``
            where an input axis of the same letter gives the size) or an int for a
            single axis.
        activation: applied to the result; ``None`` (the default) keeps it linear.
        bias_axes: the letters of the output axes a bias varies along, e.g. ``"c"``;
            ``None`` (the default) adds no bias.
        kernel_initializer: how the kernel starts; ``"glorot_uniform"`` by default.
        bias_initializer: how the bias starts; zeros by default.
        kernel_regularizer, bias_regularizer: optional penalties on the kernel and the
            bias, added to the layer's ``losses``.
        kernel_constraint, bias_constraint: optional functions applied to the kernel
            and the bias after each optimizer step.
        lora_rank, lora_alpha, gptq_unpacked_column_size, quantization_config:
            accepted for Keras compatibility; anything but ``None`` raises
            ``NotImplementedError`` (low-rank adaptation and quantization are not
            supported yet).

    >>> from nerve import layers, ops
    >>> layers.EinsumDense("ab,bc->ac", output_shape=4)(ops.ones((2, 3))).shape
    (2, 4)
    >>> layers.EinsumDense("...b,bc->...c", output_shape=4)(ops.ones((2, 5, 3))).shape
    (2, 5, 4)
    """

    def __init__(
        self,
        equation: str,
        output_shape: Any,
        activation: Any = None,
        bias_axes: str | None = None,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        lora_rank: int | None = None,
        lora_alpha: float | None = None,
        gptq_unpacked_column_size: Any = None,
        quantization_config: Any = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        unsupported = {
            "lora_rank": lora_rank,
            "lora_alpha": lora_alpha,
            "gptq_unpacked_column_size": gptq_unpacked_column_size,
            "quantization_config": quantization_config,
        }
        given = sorted(k for k, v in unsupported.items() if v is not None)
        if given:
            raise NotImplementedError(f"EinsumDense: {', '.join(given)} is not supported yet.")
        _split(equation, f"EinsumDense {self.name!r}")  # fail early on a bad equation
        self.equation = equation
        self.partial_output_shape = (
            (output_shape,) if isinstance(output_shape, int) else tuple(output_shape)
        )
        self.bias_axes = bias_axes
        self.activation = activations.get(activation)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)

    def _shapes(self, input_shape: tuple) -> _EinsumShapes:
        return analyze_equation(
            self.equation,
            self.bias_axes,
            input_shape,
            self.partial_output_shape,
            f"EinsumDense {self.name!r}",
        )

    def build(self, input_shape: tuple) -> None:
        shapes = self._shapes(tuple(input_shape))
        if None in shapes.kernel or (shapes.bias is not None and None in shapes.bias):
            raise ShapeError(
                f"EinsumDense {self.name!r}: the kernel's shape {shapes.kernel} needs the input "
                f"sizes that the equation {self.equation!r} sums over, but the input has shape "
                f"{tuple(input_shape)}."
            )
        self._input_rank = len(input_shape)
        self._kernel_sizes: dict[str, int] = {}
        _, kernel_spec, _, _ = _split(self.equation, self.name)
        for i in shapes.input_axes:
            self._kernel_sizes[kernel_spec[i]] = shapes.kernel[i]
        init = self.kernel_initializer
        if isinstance(init, initializers.VarianceScaling) and (
            init.input_axes is None or init.output_axes is None
        ):
            init = copy.copy(init)
            init.input_axes, init.output_axes = shapes.input_axes, shapes.output_axes
        self.kernel = self.add_weight(
            shape=shapes.kernel,
            initializer=init,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
            name="kernel",
        )
        self.bias = None
        if shapes.bias is not None:
            self.bias = self.add_weight(
                shape=shapes.bias,
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
                name="bias",
            )

    def call(self, inputs: Tensor) -> Tensor:
        self._check_input(inputs)
        outputs = ops.einsum(self.equation, inputs, self._cast(self.kernel))
        if self.bias is not None:
            outputs = outputs + self._cast(self.bias)
        return self.activation(outputs) if self.activation is not None else outputs

    def _check_input(self, inputs: Tensor) -> None:
        input_spec, _, _, ellipsis = _split(self.equation, self.name)
        shape = tuple(inputs.shape)
        rank_ok = inputs.ndim == self._input_rank or (
            ellipsis is not None and inputs.ndim >= len(input_spec)
        )
        named = shape[inputs.ndim - len(input_spec) :] if ellipsis == "left" else shape
        wrong = [
            f"axis {letter!r} has size {size}, expected {self._kernel_sizes[letter]}"
            for letter, size in zip(input_spec, named)
            if letter in self._kernel_sizes and size != self._kernel_sizes[letter]
        ]
        if not rank_ok or wrong:
            problem = "; ".join(wrong) or f"expected rank {self._input_rank}"
            raise ShapeError(
                with_location(
                    f"EinsumDense {self.name!r} (equation {self.equation!r}) received inputs "
                    f"of shape {shape}: {problem} (the sizes it was built for)."
                )
            )

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return self._shapes(tuple(input_shape)).output

    def compute_flops(self, input_shape: Any, output_shape: Any) -> int | None:
        """``2 * kernel size`` per position of the output's axes that are not in the
        kernel (each output element is a sum of products over the summed axes)."""
        if not self.built or output_shape is None or None in output_shape[1:]:
            return None
        _, kernel_spec, output_spec, _ = _split(self.equation, self.name)
        summed = math.prod(
            n for n, c in zip(self.kernel.shape, kernel_spec) if c not in output_spec
        )
        return 2 * summed * math.prod(output_shape[1:])

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "output_shape": self.partial_output_shape,
            "equation": self.equation,
            "activation": activations.serialize(self.activation),
            "bias_axes": self.bias_axes,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "activity_regularizer": regularizers.serialize(self.activity_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
            "quantization_config": None,
        }
