"""Adagrad."""

from __future__ import annotations

from typing import Any

from nerve import ops
from nerve.optimizers.base import Optimizer

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    """Adagrad, as Keras 3's ``Adagrad``: each variable's step shrinks with the sum of
    its past squared gradients.

    Per variable, ``acc`` starts at ``initial_accumulator_value``; each step
    ``acc += g**2`` then ``w -= lr * g / sqrt(acc + epsilon)``.
    (``torch.optim.Adagrad`` divides by ``sqrt(acc) + eps`` instead.)

    Args:
        learning_rate: a float, a ``LearningRateSchedule`` or a callable (see
            ``Optimizer``); default 0.001.
        initial_accumulator_value: the starting value of every accumulator, a float
            >= 0 (default 0.1).
        epsilon: a small constant added under the square root for numerical
            stability (default 1e-7).
        name: the optimizer's name (default ``"adagrad"``).
        **kwargs: weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema,
            ema_momentum, ema_overwrite_frequency, loss_scale_factor,
            gradient_accumulation_steps: as for ``Optimizer``.

    >>> import nerve
    >>> w = nerve.Variable([1.0])
    >>> opt = Adagrad(learning_rate=0.1, initial_accumulator_value=3.0, epsilon=0.0)
    >>> opt.apply([nerve.ops.ones((1,))], [w])
    >>> w.numpy().round(5)
    array([0.95], dtype=float32)
    """

    def __init__(
        self,
        learning_rate: Any = 0.001,
        initial_accumulator_value: float = 0.1,
        epsilon: float = 1e-7,
        name: str = "adagrad",
        **kwargs: Any,
    ):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        if initial_accumulator_value < 0:
            raise ValueError(
                "Adagrad: `initial_accumulator_value` must be >= 0. Received: "
                f"initial_accumulator_value={initial_accumulator_value!r}"
            )
        self.initial_accumulator_value = initial_accumulator_value
        self.epsilon = epsilon

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        start = {"class_name": "Constant", "config": {"value": self.initial_accumulator_value}}
        self._accumulators = self.add_optimizer_variables(variables, "accumulator", start)

    def update_step(self, gradient, variable, learning_rate):
        lr = ops.cast(learning_rate, variable.dtype)
        accumulator = self._accumulators[self._get_variable_index(variable)]
        self.assign_add(accumulator, ops.square(gradient))
        scale = ops.sqrt(ops.add(accumulator, self.epsilon))
        self.assign_sub(variable, ops.divide(ops.multiply(gradient, lr), scale))

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "initial_accumulator_value": self.initial_accumulator_value,
            "epsilon": self.epsilon,
        }
