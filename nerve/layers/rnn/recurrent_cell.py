"""``RecurrentCell``: what ``SimpleRNNCell``, ``LSTMCell`` and ``GRUCell`` share.

Each cell computes ``gates`` blocks of ``units`` columns: a kernel
``(input_dim, gates * units)`` applied to the inputs, a recurrent kernel
``(units, gates * units)`` applied to the previous output, and a bias (Keras's names,
shapes and gate order). The cell's work splits in two, so that ``RNN`` can hoist the
first part out of its time loop:

* ``project_inputs(inputs, training)`` — inputs times kernel plus the input bias, for
  inputs of any leading shape: a whole ``(timesteps, batch, features)`` sequence in one
  matrix product, or one step;
* ``step(projected, states, training)`` — the recurrence of one time step from the
  projected inputs: ``(output, new_states)``.

``call(inputs, states, training)`` (Keras's cell contract) is the two in a row, so a
cell called alone and a cell run by ``RNN`` compute with the same code.

>>> from nerve import layers, ops
>>> cell = layers.LSTMCell(4)
>>> output, (h, c) = cell(ops.ones((2, 3)), [ops.zeros((2, 4)), ops.zeros((2, 4))])
>>> output.shape, cell.kernel.shape, cell.recurrent_kernel.shape, cell.bias.shape
((2, 4), (3, 16), (4, 16), (16,))
"""

from __future__ import annotations

from typing import Any, ClassVar

from nerve import activations, constraints, initializers, ops, regularizers
from nerve import random as nrandom
from nerve.core.errors import ShapeError, check_int, with_location
from nerve.layers.base import Layer
from nerve.layers.rnn.dropout_rnn_cell import DropoutRNNCell
from nerve.tensor import Tensor

__all__ = ["RecurrentCell"]


def _positive_units(units: Any, layer: str) -> int:
    return check_int(units, "units", layer)


class RecurrentCell(DropoutRNNCell, Layer):
    """The shared base of the built-in cells (see the module docstring)."""

    #: Blocks of ``units`` columns in the kernels (1, 4 or 3).
    gates: ClassVar[int] = 1
    #: With ``recurrent_dropout`` (Keras's ``implementation=1``), one mask per gate.
    _per_gate_masks: ClassVar[bool] = True
    #: RNN may call ``project_inputs`` once for the whole sequence, then ``step``.
    _projects_inputs: ClassVar[bool] = True
    #: The output is the first state, so RNN need not carry it separately.
    _output_state_index: ClassVar[int | None] = 0

    def __init__(
        self,
        units: int,
        activation: Any = "tanh",
        *,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        recurrent_initializer: Any = "orthogonal",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        recurrent_regularizer: Any = None,
        bias_regularizer: Any = None,
        kernel_constraint: Any = None,
        recurrent_constraint: Any = None,
        bias_constraint: Any = None,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        seed: int | None = None,
        implementation: int = 2,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.units = _positive_units(units, type(self).__name__)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.recurrent_constraint = constraints.get(recurrent_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        # Keras clips the rates into [0, 1]; a rate of 1 then drops nothing (as in Keras).
        self.dropout = min(1.0, max(0.0, float(dropout)))
        self.recurrent_dropout = min(1.0, max(0.0, float(recurrent_dropout)))
        self.implementation = 1 if self.recurrent_dropout != 0.0 else int(implementation)
        if self.implementation == 1 and self._per_gate_masks:
            self.dropout_mask_count = self.gates
        self.seed = seed
        self.seed_generator = nrandom.SeedGenerator(seed)
        self.output_size = self.units
        self.state_size: Any = self.units

    # -- weights ---------------------------------------------------------------------------
    def build(self, input_shape: Any) -> None:
        width = self.gates * self.units
        self.kernel = self.add_weight(
            shape=(input_shape[-1], width),
            name="kernel",
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self.recurrent_kernel = self.add_weight(
            shape=(self.units, width),
            name="recurrent_kernel",
            initializer=self.recurrent_initializer,
            regularizer=self.recurrent_regularizer,
            constraint=self.recurrent_constraint,
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                shape=self._bias_shape(),
                name="bias",
                initializer=self._bias_initializer(),
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )

    def _bias_shape(self) -> tuple:
        return (self.gates * self.units,)

    def _bias_initializer(self) -> Any:
        return self.bias_initializer

    def _input_bias(self) -> Tensor | None:
        return None if self.bias is None else self._cast(self.bias)

    # -- the two halves of a step -------------------------------------------------------------
    def project_inputs(self, inputs: Tensor, training: Any = False) -> Tensor:
        """``inputs @ kernel + input bias`` (input dropout applied), for inputs shaped
        ``(..., batch, input_dim)``: one matrix product for every time step at once."""
        features = self.kernel.shape[0]
        if inputs.shape[-1] != features:
            raise ShapeError(
                with_location(
                    f"Layer {self.name!r} ({type(self).__name__}) was built for inputs with "
                    f"{features} features (its kernel has shape {self.kernel.shape}), but "
                    f"received inputs of shape {tuple(inputs.shape)}."
                )
            )
        kernel = self._cast(self.kernel)
        masks = None
        if training and 0.0 < self.dropout < 1.0:
            masks = self.get_dropout_mask(inputs if inputs.ndim == 2 else inputs[0])
        leading = tuple(inputs.shape[:-1])
        flat = ops.reshape(inputs, (-1, features))  # one 2-D product (BLAS), not a batch
        if masks is None:
            projected = ops.matmul(flat, kernel)
        elif isinstance(masks, list):
            blocks = ops.split(kernel, self.gates, axis=1)
            per_gate = [self._masked(inputs, m, features) for m in masks]
            projected = ops.concatenate(
                [ops.matmul(x, k) for x, k in zip(per_gate, blocks)], axis=-1
            )
        else:
            projected = ops.matmul(self._masked(inputs, masks, features), kernel)
        bias = self._input_bias()
        if bias is not None:
            projected = projected + bias
        return ops.reshape(projected, (*leading, projected.shape[-1]))

    @staticmethod
    def _masked(inputs: Tensor, mask: Tensor, features: int) -> Tensor:
        return ops.reshape(inputs * mask, (-1, features))

    def _recurrent_masks(self, training: Any) -> Any:
        return None if not training else self.__dict__.get("_recurrent_dropout_mask")

    def _recurrent_product(self, h: Tensor, first: int, last: int, training: Any) -> Tensor:
        """``h @ recurrent_kernel`` over gate blocks ``first..last-1``, with recurrent
        dropout (per gate under ``implementation=1``)."""
        kernel = self._cast(self.recurrent_kernel)
        units = self.units
        if (first, last) != (0, self.gates):
            kernel = kernel[:, first * units : last * units]
        masks = self._recurrent_masks(training)
        if masks is None:
            return ops.matmul(h, kernel)
        if not isinstance(masks, list):
            return ops.matmul(h * masks, kernel)
        blocks = ops.split(kernel, last - first, axis=1)
        return ops.concatenate(
            [ops.matmul(h * masks[first + g], block) for g, block in enumerate(blocks)],
            axis=-1,
        )

    def step(self, projected: Tensor, states: Any, training: Any = False) -> tuple[Tensor, Any]:
        """One time step from ``project_inputs``'s result: ``(output, new_states)``."""
        raise NotImplementedError

    # -- Keras's cell contract --------------------------------------------------------------------
    def call(self, inputs: Tensor, states: Any, training: Any = False) -> tuple[Tensor, Any]:
        if training and 0.0 < self.recurrent_dropout < 1.0:
            first = states[0] if isinstance(states, (list, tuple)) else states
            self.get_recurrent_dropout_mask(first)
        return self.step(self.project_inputs(inputs, training), states, training)

    def get_initial_state(self, batch_size: Any = None) -> list[Tensor]:
        """Zeros, one ``(batch_size, size)`` tensor per state."""
        sizes = self.state_size if isinstance(self.state_size, list) else [self.state_size]
        return [ops.zeros((batch_size, size), dtype=self.compute_dtype) for size in sizes]

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "recurrent_regularizer": regularizers.serialize(self.recurrent_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "recurrent_constraint": constraints.serialize(self.recurrent_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed,
        }
