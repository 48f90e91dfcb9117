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

    (``sigmoid`` is ``recurrent_activation``, ``tanh`` is ``activation``.) Arguments
    as ``SimpleRNNCell``'s, plus ``recurrent_activation="sigmoid"`` and
    ``unit_forget_bias=True``.

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
