"""Lion (EvoLved Sign Momentum)."""

from __future__ import annotations

from typing import Any

from nerve import ops
from nerve.optimizers.base import Optimizer

__all__ = ["Lion"]


class Lion(Optimizer):
    """Lion (evolved sign momentum), as Keras 3's ``Lion``: every element moves by
    exactly ``lr`` per step, in the direction of an interpolated momentum's sign.

    Per variable, ``m`` starting at 0:
    ``w -= lr * sign(beta_1 * m + (1 - beta_1) * g)``, then
    ``m = beta_2 * m + (1 - beta_2) * g``. As the steps have a fixed size, Lion
    usually wants a learning rate several times smaller than Adam's.

    Args:
        learning_rate: a float, a ``LearningRateSchedule`` or a callable (see
            ``Optimizer``); default 0.001.
        beta_1: the weight of the momentum in the update direction, in ``(0, 1]``
            (default 0.9).
        beta_2: the decay rate of the momentum ``m`` (default 0.99).
        name: the optimizer's name (default ``"lion"``).
        **kwargs: weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema,
            ema_momentum, ema_overwrite_frequency, loss_scale_factor,
            gradient_accumulation_steps: as for ``Optimizer``.

    >>> import nerve
    >>> w = nerve.Variable([1.0, 1.0])
    >>> Lion(learning_rate=0.1).apply([nerve.ops.convert_to_tensor([2.0, -3.0])], [w])
    >>> w.numpy().round(5)
    array([0.9, 1.1], dtype=float32)
    """

    def __init__(
        self,
        learning_rate: Any = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.99,
        name: str = "lion",
        **kwargs: Any,
    ):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        if not 0 < beta_1 <= 1:
            raise ValueError(
                f"Lion: argument `beta_1` must be in the interval (0, 1]. Received: {beta_1!r}"
            )
        self.beta_1 = beta_1
        self.beta_2 = beta_2

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self._momentums = self.add_optimizer_variables(variables, "momentum")

    def update_step(self, gradient, variable, learning_rate):
        lr = ops.cast(learning_rate, variable.dtype)
        m = self._momentums[self._get_variable_index(variable)]
        direction = ops.add(ops.multiply(m, self.beta_1), ops.multiply(gradient, 1 - self.beta_1))
        self.assign_sub(variable, ops.multiply(ops.sign(direction), lr))
        self.assign(
            m, ops.add(ops.multiply(m, self.beta_2), ops.multiply(gradient, 1 - self.beta_2))
        )

    def get_config(self) -> dict:
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2}
