"""``GRUCell`` and ``GRU`` (Cho et al., 2014), as Keras 3 has them.

Weights: ``kernel`` ``(input_dim, 3 * units)`` and ``recurrent_kernel``
``(units, 3 * units)`` in the gate order z (update), r (reset), h (candidate). With
``reset_after=True`` (the default; PyTorch's ``nn.GRU`` formula, whose gate order is
r, z, n) the reset gate multiplies the recurrent product and ``bias`` is
``(2, 3 * units)``: row 0 for the inputs, row 1 for the recurrent product. With
``reset_after=False`` the reset gate multiplies the state before the product and
``bias`` is ``(3 * units,)``.

>>> from nerve import layers, ops
>>> gru = layers.GRU(4)
>>> gru(ops.ones((2, 5, 3))).shape, [w.shape for w in gru.weights]
((2, 4), [(3, 12), (4, 12), (2, 12)])
>>> classic = layers.GRU(4, reset_after=False)
>>> classic(ops.ones((2, 5, 3))).shape, classic.weights[2].shape
((2, 4), (12,))
"""

from __future__ import annotations

from typing import Any

from nerve import activations, ops
from nerve.layers.rnn.recurrent_cell import RecurrentCell
from nerve.layers.rnn.rnn import BuiltinRNN
from nerve.tensor import Tensor

__all__ = ["GRU", "GRUCell"]


class GRUCell(RecurrentCell):
    """One GRU step; the state is ``h`` and the output is ``h``::

        z = sigmoid(x_z + h @ R_z (+ b_z));  r = sigmoid(x_r + h @ R_r (+ b_r))
        reset_after:      h~ = tanh(x_h + r * (h @ R_h + b_h))
        not reset_after:  h~ = tanh(x_h + (r * h) @ R_h)
        h' = z * h + (1 - z) * h~

    (``x_*`` are the input products plus input bias.) Inputs of shape
    ``(batch, features)`` and a state ``(batch, units)`` give an output of shape
    ``(batch, units)``, which is also the new state.

    Args:
        units: the size of the state and of the output (a positive int).
        activation: the function producing the candidate state; ``"tanh"`` by default
            (``None`` keeps it linear).
        recurrent_activation: the function producing the gates; ``"sigmoid"`` by
            default.
        use_bias: whether a bias is added (true by default).
        kernel_initializer: how the input kernel starts; ``"glorot_uniform"`` by
            default.
        recurrent_initializer: how the recurrent kernel starts; ``"orthogonal"`` by
            default.
        bias_initializer: how the bias starts; zeros by default.
        kernel_regularizer, recurrent_regularizer, bias_regularizer: optional penalties
            on the three weights, added to the layer's ``losses``.
        kernel_constraint, recurrent_constraint, bias_constraint: optional functions
            applied to the three weights after each optimizer step.
        dropout: the fraction of the input features to drop while training, in
            ``[0, 1]`` (values outside are clipped; 0 and 1 drop nothing). One mask is
            drawn per sequence and used at every step.
        recurrent_dropout: the same for the previous state fed back at each step.
        seed: an int to make the dropout masks reproducible; ``None`` draws a fresh
            seed.
        implementation: Keras's choice of dropout masks: 1 draws one mask per gate,
            2 (the default) one shared mask; a ``recurrent_dropout`` above 0 selects 1.
        reset_after: whether the reset gate multiplies the recurrent product (true,
            the default, with a ``(2, 3 * units)`` bias) or the state before it (false,
            with a ``(3 * units,)`` bias); see the module docstring.

    Call arguments:
        inputs: one step's inputs, ``(batch, features)``.
        states: the previous states: a list holding ``h``, ``(batch, units)``.
        training: whether dropout applies.

    >>> from nerve import layers, ops
    >>> cell = layers.GRUCell(3, reset_after=False)
    >>> h, [h_again] = cell(ops.ones((2, 5)), cell.get_initial_state(batch_size=2))
    >>> h.shape, cell.bias.shape
    ((2, 3), (9,))
    """

    gates = 3

    def __init__(
        self,
        units: int,
        activation: Any = "tanh",
        recurrent_activation: Any = "sigmoid",
        *,
        reset_after: bool = True,
        **kwargs: Any,
    ):
        super().__init__(units, activation, **kwargs)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.reset_after = bool(reset_after)

    def _bias_shape(self) -> tuple:
        width = 3 * self.units
        return (2, width) if self.reset_after else (width,)

    def _input_bias(self) -> Tensor | None:
        bias = super()._input_bias()
        return bias[0] if bias is not None and self.reset_after else bias

    def step(self, projected: Tensor, states: Any, training: Any = False) -> tuple[Tensor, Any]:
        nested = isinstance(states, (list, tuple))
        h = states[0] if nested else states
        x_z, x_r, x_h = ops.split(projected, 3, axis=-1)
        gate = self.recurrent_activation
        if self.reset_after:
            inner = self._recurrent_product(h, 0, 3, training)
            if self.bias is not None:
                inner = inner + self._cast(self.bias)[1]
            r_z, r_r, r_h = ops.split(inner, 3, axis=-1)
            z, r = gate(x_z + r_z), gate(x_r + r_r)
            candidate = self.activation(x_h + r * r_h)
        else:
            r_z, r_r = ops.split(self._recurrent_product(h, 0, 2, training), 2, axis=-1)
            z, r = gate(x_z + r_z), gate(x_r + r_r)
            candidate = self.activation(x_h + self._recurrent_product(r * h, 2, 3, training))
        h = z * h + (1 - z) * candidate
        return h, ([h] if nested else h)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "recurrent_activation": activations.serialize(self.recurrent_activation),
            "reset_after": self.reset_after,
        }


class GRU(BuiltinRNN):
    """Gated recurrent unit layer: ``RNN(GRUCell(units, ...))`` with the cell's
    arguments on the layer (Keras's ``keras.layers.GRU``; ``use_cudnn`` is accepted and
    has no effect). ``return_state=True`` returns ``(output, h)``.

    Sequences of shape ``(batch, timesteps, features)`` give ``(batch, units)``, or
    ``(batch, timesteps, units)`` with ``return_sequences=True``.

    Args:
        units: the size of the state and of the output (a positive int).
        activation: the function producing the candidate state; ``"tanh"`` by default
            (``None`` keeps it linear).
        recurrent_activation: the function producing the gates; ``"sigmoid"`` by
            default.
        use_bias: whether a bias is added (true by default).
        kernel_initializer: how the input kernel starts; ``"glorot_uniform"`` by
            default.
        recurrent_initializer: how the recurrent kernel starts; ``"orthogonal"`` by
            default.
        bias_initializer: how the bias starts; zeros by default.
        kernel_regularizer, recurrent_regularizer, bias_regularizer: optional penalties
            on the three weights, added to the layer's ``losses``.
        kernel_constraint, recurrent_constraint, bias_constraint: optional functions
            applied to the three weights after each optimizer step.
        dropout: the fraction of the input features to drop while training, in
            ``[0, 1]`` (values outside are clipped; 0 and 1 drop nothing). One mask is
            drawn per sequence and used at every step.
        recurrent_dropout: the same for the previous state fed back at each step.
        seed: an int to make the dropout masks reproducible; ``None`` draws a fresh
            seed.
        implementation: Keras's choice of dropout masks: 1 draws one mask per gate,
            2 (the default) one shared mask; a ``recurrent_dropout`` above 0 selects 1.
        reset_after: whether the reset gate multiplies the recurrent product (true,
            the default, with a ``(2, 3 * units)`` bias) or the state before it (false,
            with a ``(3 * units,)`` bias); see the module docstring.
        return_sequences: whether the output holds every step,
            ``(batch, timesteps, units)``, or only the last, ``(batch, units)`` (the
            default).
        return_state: whether the final states are returned too, after the output
            (false by default).
        go_backwards: whether the sequence is read from its last step to its first;
            the outputs then come in that reversed order (false by default).
        stateful: whether the final states of each batch become the initial states
            of the next (false by default); the batch size must then be fixed, and
            ``reset_states()`` sets the states back to zeros.
        unroll: whether the steps run as a Python loop instead of one ``scan``
            (false by default; the results are the same).
        zero_output_for_mask: whether a masked step outputs zeros instead of
            repeating the previous output (false by default; ``Bidirectional`` sets it).
        activity_regularizer: an optional penalty on the layer's output.
        name, trainable, dtype: as for every layer (see ``Layer``); ``trainable``
            and ``dtype`` apply to the cell as well.
        use_cudnn: ``"auto"`` (the default), ``True`` or ``False``; accepted for Keras
            compatibility and without effect.

    Call arguments:
        sequences: a tensor of shape ``(batch, timesteps, features)``.
        initial_state: optional list of initial state tensors; zeros by default.
        mask: optional boolean ``(batch, timesteps)`` tensor; a masked step keeps the
            previous states. By default the implicit mask the inputs carry.
        training: whether dropout applies (true inside ``fit``).

    >>> from nerve import layers, ops
    >>> output, h = layers.GRU(4, return_state=True, go_backwards=True)(ops.ones((2, 5, 3)))
    >>> output.shape, h.shape
    ((2, 4), (2, 4))
    """

    cell_class = GRUCell
    cell_name = "gru_cell"

    def __init__(self, units: int, *args: Any, **kwargs: Any):
        kwargs.update(zip(("activation", "recurrent_activation"), args))
        super().__init__(units, **kwargs)
