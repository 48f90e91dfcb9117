"""``StackedRNNCells``: several cells acting as one, each step feeding the next
(Keras 3's ``keras.layers.StackedRNNCells``; ``RNN([cell, cell])`` makes one).

The state is one entry per cell (the cell's own states), the output is the last
cell's. When the first cell is a built-in one, its input projection is hoisted out
of ``RNN``'s time loop as for a single cell (``project_inputs``); the cells after it
take the previous cell's output, which exists only inside the loop.

>>> from nerve import layers, ops
>>> cells = layers.StackedRNNCells([layers.LSTMCell(4), layers.GRUCell(3)])
>>> cells.state_size, cells.output_size
([[4, 4], 3], 3)
>>> layers.RNN(cells)(ops.ones((2, 5, 6))).shape
(2, 3)
"""

from __future__ import annotations

import inspect
from typing import Any

from nerve import ops
from nerve.layers.base import Layer
from nerve.layers.rnn._configs import deserialize_layer, serialize_layer
from nerve.tensor import Tensor

__all__ = ["StackedRNNCells"]


class StackedRNNCells(Layer):
    """Cells run one after another at every time step (see the module docstring): at
    each step the first cell takes the step's inputs ``(batch, features)``, each next
    cell the previous cell's output, and the output is the last cell's, ``(batch,
    output_size)``. Wrap it in ``RNN`` to run it over a sequence.

    Args:
        cells: a non-empty list of cells, each with a ``call(inputs, states)`` and a
            ``state_size``, in the order the data flows through them.

    Call arguments:
        inputs: one step's inputs, ``(batch, features)``.
        states: one entry per cell, each that cell's states.
        training: passed to the cells that take it.

    >>> from nerve import layers, ops
    >>> stack = layers.StackedRNNCells([layers.SimpleRNNCell(5), layers.SimpleRNNCell(2)])
    >>> layers.RNN(stack, return_sequences=True)(ops.ones((3, 4, 6))).shape
    (3, 4, 2)
    """

    def __init__(self, cells: list, **kwargs: Any):
        super().__init__(**kwargs)
        for cell in cells:
            if not callable(getattr(cell, "call", None)):
                raise ValueError(
                    f"StackedRNNCells: every cell must have a `call` method; received {cell!r}."
                )
            if getattr(cell, "state_size", None) is None:
                raise ValueError(
                    f"StackedRNNCells: every cell must have a `state_size`; received {cell!r}."
                )
        if not cells:
            raise ValueError("StackedRNNCells: pass at least one cell; received [].")
        self.cells = list(cells)

    @staticmethod
    def output_size_of(cell: Any) -> int:
        """A cell's output size: ``output_size``, else its (first) state size."""
        size = getattr(cell, "output_size", None)
        if size is not None:
            return size
        state = cell.state_size
        return state[0] if isinstance(state, (list, tuple)) else state

    @property
    def state_size(self) -> list:
        return [cell.state_size for cell in self.cells]

    @property
    def output_size(self) -> int:
        return self.output_size_of(self.cells[-1])

    @property
    def _projects_inputs(self) -> bool:
        return bool(getattr(self.cells[0], "_projects_inputs", False))

    @property
    def _output_state_index(self) -> int | None:
        """Where the output sits among the flattened states (the last cell's first
        state for built-in cells), so that RNN need not carry it separately."""
        index = getattr(self.cells[-1], "_output_state_index", None)
        if index is None:
            return None
        before = sum(_count(cell.state_size) for cell in self.cells[:-1])
        return before + index

    def build(self, input_shape: Any) -> None:
        batch = input_shape[0]
        for cell in self.cells:
            if isinstance(cell, Layer) and not cell.built:
                cell.build(input_shape)
            input_shape = (batch, self.output_size_of(cell))

    def get_initial_state(self, batch_size: Any = None) -> list:
        states = []
        for cell in self.cells:
            make = getattr(cell, "get_initial_state", None)
            if make is not None:
                states.append(make(batch_size=batch_size))
                continue
            sizes = cell.state_size if isinstance(cell.state_size, (list, tuple)) else None
            dtype = getattr(cell, "compute_dtype", self.compute_dtype)
            if sizes is None:
                states.append(ops.zeros((batch_size, cell.state_size), dtype=dtype))
            else:
                states.append([ops.zeros((batch_size, d), dtype=dtype) for d in sizes])
        return states

    def _run(self, inputs: Tensor, states: Any, training: Any, first: Any = None) -> tuple:
        """Each cell on the previous one's output; ``first`` runs the first cell."""
        new_states = []
        for position, (cell, cell_states) in enumerate(zip(self.cells, states)):
            was_list = isinstance(cell_states, (list, tuple))
            cell_states = list(cell_states) if was_list else [cell_states]
            if position == 0 and first is not None:
                inputs, cell_states = first(inputs, cell_states)
            else:
                kwargs = {}
                signature = getattr(cell, "_call_signature", None) or inspect.signature(cell.call)
                if "training" in signature.parameters:
                    kwargs["training"] = training
                call = cell if callable(cell) else cell.call
                inputs, cell_states = call(inputs, cell_states, **kwargs)
            if not isinstance(cell_states, (list, tuple)):
                cell_states = [cell_states]
            new_states.append(list(cell_states) if was_list else cell_states[0])
        return inputs, new_states

    def call(self, inputs: Tensor, states: Any, training: Any = False) -> tuple:
        return self._run(inputs, states, training)

    # The built-in first cell's hoisted projection (used by RNN when _projects_inputs).
    def project_inputs(self, inputs: Tensor, training: Any = False) -> Tensor:
        return self.cells[0].project_inputs(inputs, training)

    def step(self, projected: Tensor, states: Any, training: Any = False) -> tuple:
        first = self.cells[0]
        return self._run(projected, states, training, first=lambda x, s: first.step(x, s, training))

    def get_config(self) -> dict:
        return {**super().get_config(), "cells": [serialize_layer(c) for c in self.cells]}

    @classmethod
    def from_config(cls, config: dict) -> StackedRNNCells:
        config = dict(config)
        cells = [deserialize_layer(c, "cell") for c in config.pop("cells")]
        return cls(cells, **config)


def _count(state_size: Any) -> int:
    return len(state_size) if isinstance(state_size, (list, tuple)) else 1
