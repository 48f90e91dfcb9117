"""Adadelta."""

from __future__ import annotations

from typing import Any

from nerve import ops
from nerve.optimizers.base import Optimizer

__all__ = ["Adadelta"]


class Adadelta(Optimizer):
    """Adadelta, as Keras 3's ``Adadelta`` (the same rule as ``torch.optim.Adadelta``):
    the step size adapts from moving averages of squared gradients and squared
    updates, so a learning rate of 1.0 is a natural choice.

    Per variable, both averages starting at 0:
    ``acc_g = rho * acc_g + (1 - rho) * g**2``,
    ``delta = -sqrt(acc_d + epsilon) / sqrt(acc_g + epsilon) * g``,
    ``acc_d = rho * acc_d + (1 - rho) * delta**2``, then ``w += lr * delta``.

    Args:
        learning_rate: a float, a ``LearningRateSchedule`` or a callable (see
            ``Optimizer``); default 0.001 (Keras's default; the original paper uses
            1.0).
        rho: the decay rate of both moving averages (default 0.95).
        epsilon: a small constant added under both square roots; it also sets the
            size of the first steps (default 1e-7).
        name: the optimizer's name (default ``"adadelta"``).
        **kwargs: weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema,
            ema_momentum, ema_overwrite_frequency, loss_scale_factor,
            gradient_accumulation_steps: as for ``Optimizer``.

    >>> import nerve
    >>> w = nerve.Variable([1.0])
    >>> Adadelta(learning_rate=1.0, rho=0.0, epsilon=1.0).apply([nerve.ops.ones((1,))], [w])
    >>> w.numpy().round(5)
    array([0.29289], dtype=float32)
    """

    def __init__(
        self,
        learning_rate: Any = 0.001,
        rho: float = 0.95,
        epsilon: float = 1e-7,
        name: str = "adadelta",
        **kwargs: Any,
    ):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.rho = rho
        self.epsilon = epsilon

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self._accumulated_grads = self.add_optimizer_variables(variables, "accumulated_grad")
        self._accumulated_deltas = self.add_optimizer_variables(variables, "accumulated_delta_var")

    def update_step(self, gradient, variable, learning_rate):
        lr = ops.cast(learning_rate, variable.dtype)
        index = self._get_variable_index(variable)
        acc_grad, acc_delta = self._accumulated_grads[index], self._accumulated_deltas[index]
        rho = self.rho

        def rms(x):
            return ops.sqrt(ops.add(x, self.epsilon))

        self.assign(acc_grad, ops.add(acc_grad * rho, ops.square(gradient) * (1 - rho)))
        delta = ops.negative(ops.divide(ops.multiply(rms(acc_delta), gradient), rms(acc_grad)))
        self.assign(acc_delta, ops.add(acc_delta * rho, ops.square(delta) * (1 - rho)))
        self.assign_add(variable, ops.multiply(delta, lr))

    def get_config(self) -> dict:
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}
