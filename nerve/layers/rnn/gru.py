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

    (``x_*`` are the input products plus input bias.) Arguments as
    ``SimpleRNNCell``'s, plus ``recurrent_activation="sigmoid"`` and
    ``reset_after=True``.

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
