"""``LSTMCell`` and ``LSTM`` (Hochreiter and Schmidhuber, 1997), as Keras 3 has them.

Weights: ``kernel`` ``(input_dim, 4 * units)`` and ``recurrent_kernel``
``(units, 4 * units)``, the four blocks in the gate order i (input), f (forget),
c (candidate), o (output) — PyTorch's ``nn.LSTM`` order i, f, g, o, transposed — and
``bias`` ``(4 * units,)``, whose forget block starts at one (``unit_forget_bias``).

>>> from nerve import layers, ops
>>> lstm = layers.LSTM(4)
>>> lstm(ops.ones((2, 5, 3))).shape, [w.shape for w in lstm.weights]
((2, 4), [(3, 16), (4, 16), (16,)])
>>> lstm.weights[2].numpy()[4:8]  # the forget gate's bias
array([1., 1., 1., 1.], dtype=float32)
"""

from __future__ import annotations

from typing import Any

from nerve import activations, ops
from nerve.layers.rnn.recurrent_cell import RecurrentCell
from nerve.layers.rnn.rnn import BuiltinRNN
from nerve.tensor import Tensor

__all__ = ["LSTM", "LSTMCell"]


class LSTMCell(RecurrentCell):
    """One LSTM step; the states are ``[h, c]`` and the output is ``h``::

        i, f, c~, o = split(x @ kernel + h @ recurrent_kernel + bias, 4)
        c' = sigmoid(f) * c + sigmoid(i) * tanh(c~);  h' = sigmoid(o) * tanh(c')

    (``sigmoid`` is ``recurrent_activation``, ``tanh`` is ``activation``.) Inputs of
    shape ``(batch, features)`` and states ``[h, c]``, each ``(batch, units)``, give
    an output of shape ``(batch, units)``.

    Args:
        units: the size of the state and of the output (a positive int).
        activation: the function applied to the candidate and to the cell state
            before the output gate; ``"tanh"`` by default (``None`` keeps them linear).
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
        unit_forget_bias: whether the forget gate's bias starts at one (true by
            default), so the cell keeps its memory early in training; the other blocks
            use ``bias_initializer``.

    Call arguments:
        inputs: one step's inputs, ``(batch, features)``.
        states: the previous states: ``[h, c]``, each ``(batch, units)``.
        training: whether dropout applies.

    >>> from nerve import layers, ops
    >>> cell = layers.LSTMCell(3)
    >>> h, [h_again, c] = cell(ops.ones((2, 5)), cell.get_initial_state(batch_size=2))
    >>> h.shape, c.shape
    ((2, 3), (2, 3))
    """

    gates = 4

    def __init__(
        self,
        units: int,
        activation: Any = "tanh",
        recurrent_activation: Any = "sigmoid",
        *,
        unit_forget_bias: bool = True,
        **kwargs: Any,
    ):
        super().__init__(units, activation, **kwargs)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.unit_forget_bias = bool(unit_forget_bias)
        self.state_size = [self.units, self.units]

    def _bias_initializer(self) -> Any:
        if not self.unit_forget_bias:
            return self.bias_initializer
        units, initializer = self.units, self.bias_initializer

        def forget_gate_ones(shape: Any, dtype: Any = None) -> Tensor:
            return ops.concatenate(
                [
                    initializer((units,), dtype=dtype),
                    ops.ones((units,), dtype=dtype),
                    initializer((2 * units,), dtype=dtype),
                ]
            )

        return forget_gate_ones

    def step(self, projected: Tensor, states: Any, training: Any = False) -> tuple[Tensor, Any]:
        h, c = states[0], states[1]
        z = projected + self._recurrent_product(h, 0, 4, training)
        i, f, candidate, o = ops.split(z, 4, axis=-1)
        gate = self.recurrent_activation
        c = gate(f) * c + gate(i) * self.activation(candidate)
        h = gate(o) * self.activation(c)
        return h, [h, c]

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "recurrent_activation": activations.serialize(self.recurrent_activation),
            "unit_forget_bias": self.unit_forget_bias,
        }


class LSTM(BuiltinRNN):
    """Long short-term memory layer: ``RNN(LSTMCell(units, ...))`` with the cell's
    arguments on the layer (Keras's ``keras.layers.LSTM``; ``use_cudnn`` is accepted
    and has no effect). ``return_state=True`` returns ``(output, h, c)``.

    Sequences of shape ``(batch, timesteps, features)`` give ``(batch, units)``, or
    ``(batch, timesteps, units)`` with ``return_sequences=True``.

    Args:
        units: the size of the state and of the output (a positive int).
        activation: the function applied to the candidate and to the cell state
            before the output gate; ``"tanh"`` by default (``None`` keeps them linear).
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
        unit_forget_bias: whether the forget gate's bias starts at one (true by
            default), so the cell keeps its memory early in training; the other blocks
            use ``bias_initializer``.
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
    >>> sequence, h, c = layers.LSTM(4, return_sequences=True, return_state=True)(
    ...     ops.ones((2, 5, 3)))
    >>> sequence.shape, h.shape, c.shape
    ((2, 5, 4), (2, 4), (2, 4))
    """

    cell_class = LSTMCell
    cell_name = "lstm_cell"

    def __init__(self, units: int, *args: Any, **kwargs: Any):
        kwargs.update(zip(("activation", "recurrent_activation"), args))
        super().__init__(units, **kwargs)
