"""``SimpleRNNCell`` and ``SimpleRNN``: ``h_t = activation(x_t @ kernel + h_{t-1} @
recurrent_kernel + bias)`` (Keras 3's, same weights and config).

>>> from nerve import layers, ops
>>> rnn = layers.SimpleRNN(4, return_sequences=True)
>>> rnn(ops.ones((2, 5, 3))).shape, [w.shape for w in rnn.weights]
((2, 5, 4), [(3, 4), (4, 4), (4,)])
"""

from __future__ import annotations

from typing import Any

from nerve.layers.rnn.recurrent_cell import RecurrentCell
from nerve.layers.rnn.rnn import BuiltinRNN
from nerve.tensor import Tensor

__all__ = ["SimpleRNN", "SimpleRNNCell"]


class SimpleRNNCell(RecurrentCell):
    """One step of a fully connected recurrence: ``output = new state =
    activation(inputs @ kernel + state @ recurrent_kernel + bias)``.

    Inputs of shape ``(batch, features)`` and a state ``(batch, units)`` give an
    output of shape ``(batch, units)``. ``RNN`` (or ``SimpleRNN``) runs it over a
    sequence.

    Args:
        units: the size of the state and of the output (a positive int).
        activation: the function producing the output; ``"tanh"`` by default
            (``None`` keeps it linear).
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
        implementation: accepted for Keras compatibility; a single-gate cell computes
            the same either way.

    Call arguments:
        inputs: one step's inputs, ``(batch, features)``.
        states: the previous states: a list holding one ``(batch, units)`` tensor.
        training: whether dropout applies.

    >>> from nerve import layers, ops
    >>> cell = layers.SimpleRNNCell(2, kernel_initializer="ones", recurrent_initializer="zeros")
    >>> output, [state] = cell(ops.ones((1, 3)), [ops.zeros((1, 2))])
    >>> output.numpy().round(4)
    array([[0.9951, 0.9951]], dtype=float32)
    """

    gates = 1
    _per_gate_masks = False

    def step(self, projected: Tensor, states: Any, training: Any = False) -> tuple[Tensor, Any]:
        nested = isinstance(states, (list, tuple))
        previous = states[0] if nested else states
        output = self.activation(projected + self._recurrent_product(previous, 0, 1, training))
        return output, ([output] if nested else output)


class SimpleRNN(BuiltinRNN):
    """A fully connected recurrent layer: ``RNN(SimpleRNNCell(units, ...))`` with the
    cell's arguments on the layer (Keras's ``keras.layers.SimpleRNN``).

    Sequences of shape ``(batch, timesteps, features)`` give ``(batch, units)``, or
    ``(batch, timesteps, units)`` with ``return_sequences=True``; with
    ``return_state=True`` the final state follows. Weights: ``kernel``
    ``(features, units)``, ``recurrent_kernel`` ``(units, units)``, ``bias``
    ``(units,)``.

    Args:
        units: the size of the state and of the output (a positive int).
        activation: the function producing the output; ``"tanh"`` by default
            (``None`` keeps it linear).
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
        implementation: accepted for Keras compatibility; a single-gate cell computes
            the same either way.
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

    Call arguments:
        sequences: a tensor of shape ``(batch, timesteps, features)``.
        initial_state: optional list of initial state tensors; zeros by default.
        mask: optional boolean ``(batch, timesteps)`` tensor; a masked step keeps the
            previous states. By default the implicit mask the inputs carry.
        training: whether dropout applies (true inside ``fit``).

    >>> from nerve import layers, ops
    >>> output, state = layers.SimpleRNN(3, return_state=True)(ops.ones((2, 4, 5)))
    >>> output.shape, state.shape
    ((2, 3), (2, 3))
    """

    cell_class = SimpleRNNCell
    cell_name = "simple_rnn_cell"
    _takes_use_cudnn = False

    def __init__(self, units: int, *args: Any, **kwargs: Any):
        kwargs.update(zip(("activation",), args))
        super().__init__(units, **kwargs)
