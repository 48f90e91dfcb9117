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

    Arguments (Keras's): ``units``, ``activation="tanh"``, ``use_bias``, the
    ``kernel_*``/``recurrent_*``/``bias_*`` initializers, regularizers and constraints,
    ``dropout`` and ``recurrent_dropout`` (one mask per sequence), ``seed``.

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

    Takes ``SimpleRNNCell``'s arguments and ``RNN``'s (``return_sequences``,
    ``return_state``, ``go_backwards``, ``stateful``, ``unroll``), plus
    ``activity_regularizer``. Weights: ``kernel`` ``(input_dim, units)``,
    ``recurrent_kernel`` ``(units, units)``, ``bias`` ``(units,)``.

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
