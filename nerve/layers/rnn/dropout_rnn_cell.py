"""``DropoutRNNCell``: Keras's per-sequence dropout masks for recurrent cells.

A cell mixing this in has ``dropout``, ``recurrent_dropout`` (rates in ``[0, 1]``),
``seed_generator`` and optionally ``dropout_mask_count`` (one mask per gate, Keras's
``implementation=1``). A mask is drawn once for a whole sequence — the same units are
dropped at every time step, as Keras does — and kept until the layer running the
cell calls ``reset_dropout_mask`` / ``reset_recurrent_dropout_mask`` after the
sequence. ``RNN`` draws the masks *before* its time loop, so a compiled recurrence
holds them as loop constants and draws fresh ones on each call.

>>> from nerve import layers, ops
>>> cell = layers.SimpleRNNCell(4, dropout=0.5, seed=1)
>>> first = cell.get_dropout_mask(ops.ones((2, 3)))
>>> cell.get_dropout_mask(ops.ones((2, 3))) is first  # kept until reset
True
>>> sorted(set(first.numpy().ravel().tolist()))
[0.0, 2.0]
>>> cell.reset_dropout_mask()
"""

from __future__ import annotations

from typing import Any

from nerve import ops
from nerve import random as nrandom
from nerve.tensor import Tensor

__all__ = ["DropoutRNNCell"]


class DropoutRNNCell:
    """Mixin holding the dropout masks of one sequence (see the module docstring)."""

    dropout: float
    recurrent_dropout: float
    seed_generator: nrandom.SeedGenerator
    dropout_mask_count: int | None = None

    def _create_dropout_mask(self, step_input: Tensor, rate: float) -> Any:
        ones = ops.ones_like(step_input)
        if self.dropout_mask_count is None:
            return nrandom.dropout(ones, rate, seed=self.seed_generator)
        return [
            nrandom.dropout(ones, rate, seed=self.seed_generator)
            for _ in range(self.dropout_mask_count)
        ]

    def get_dropout_mask(self, step_input: Tensor) -> Any:
        """The input mask of this sequence (made on first use; ``None`` without dropout):
        one tensor shaped like ``step_input``, or a list of ``dropout_mask_count``."""
        if self.__dict__.get("_dropout_mask") is None and 0.0 < self.dropout < 1.0:
            self.__dict__["_dropout_mask"] = self._create_dropout_mask(step_input, self.dropout)
        return self.__dict__.get("_dropout_mask")

    def get_recurrent_dropout_mask(self, step_input: Tensor) -> Any:
        """The recurrent-state mask of this sequence, as ``get_dropout_mask``."""
        if (
            self.__dict__.get("_recurrent_dropout_mask") is None
            and 0.0 < self.recurrent_dropout < 1.0
        ):
            self.__dict__["_recurrent_dropout_mask"] = self._create_dropout_mask(
                step_input, self.recurrent_dropout
            )
        return self.__dict__.get("_recurrent_dropout_mask")

    def reset_dropout_mask(self) -> None:
        """Forget the input mask, so the next sequence draws a new one."""
        self.__dict__["_dropout_mask"] = None

    def reset_recurrent_dropout_mask(self) -> None:
        """Forget the recurrent mask, so the next sequence draws a new one."""
        self.__dict__["_recurrent_dropout_mask"] = None
