"""RMSprop."""

from __future__ import annotations

from typing import Any

from nerve import ops
from nerve.optimizers.base import Optimizer

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    """RMSprop, as Keras 3's ``RMSprop``: the gradient divided by a moving root mean
    square of past gradients.

    Per variable, the slots starting at 0: ``v = rho * v + (1 - rho) * g**2`` and the
    step ``s = lr * g / sqrt(v + epsilon)``; ``centered`` also keeps the moving mean
    ``a = rho * a + (1 - rho) * g`` and uses ``sqrt(v - a**2 + epsilon)`` (an estimate
    of the variance rather than the second moment). Without momentum ``w -= s``;
    with it ``buf = momentum * buf + s`` and ``w -= buf``. Unlike
    ``torch.optim.RMSprop`` (``sqrt(v) + eps``), epsilon is inside the square root.

    Args:
        learning_rate: a float, a ``LearningRateSchedule`` or a callable (see
            ``Optimizer``); default 0.001.
        rho: the decay rate of the moving averages (default 0.9).
        momentum: the momentum factor, a float >= 0 (default 0.0: no momentum
            buffer).
        epsilon: a small constant added under the square root for numerical
            stability (default 1e-7).
        centered: normalise by the estimated variance of the gradient instead of its
            second moment (default ``False``); may help training, costs one more slot.
        name: the optimizer's name (default ``"rm_sprop"``, as in Keras).
        **kwargs: weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema,
            ema_momentum, ema_overwrite_frequency, loss_scale_factor,
            gradient_accumulation_steps: as for ``Optimizer``.

    >>> import nerve
    >>> w = nerve.Variable([1.0])
    >>> RMSprop(learning_rate=0.1, rho=0.75, epsilon=0.0).apply([nerve.ops.ones((1,))], [w])
    >>> w.numpy().round(5)
    array([0.8], dtype=float32)
    """

    def __init__(
        self,
        learning_rate: Any = 0.001,
        rho: float = 0.9,
        momentum: float = 0.0,
        epsilon: float = 1e-7,
        centered: bool = False,
        name: str = "rm_sprop",
        **kwargs: Any,
    ):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.rho = rho
        self.momentum = momentum
        self.epsilon = epsilon
        self.centered = centered

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self._velocities = self.add_optimizer_variables(variables, "velocity")
        if self.momentum > 0:
            self._momentums = self.add_optimizer_variables(variables, "momentum")
        if self.centered:
            self._average_gradients = self.add_optimizer_variables(variables, "average_gradient")

    def update_step(self, gradient, variable, learning_rate):
        lr = ops.cast(learning_rate, variable.dtype)
        index = self._get_variable_index(variable)
        velocity = self._velocities[index]
        rho = self.rho
        self.assign(velocity, ops.add(velocity * rho, ops.square(gradient) * (1 - rho)))
        if self.centered:
            average = self._average_gradients[index]
            self.assign(average, ops.add(average * rho, gradient * (1 - rho)))
            denominator = ops.add(ops.subtract(velocity, ops.square(average)), self.epsilon)
        else:
            denominator = ops.add(velocity, self.epsilon)
        increment = ops.divide(ops.multiply(gradient, lr), ops.sqrt(denominator))
        if self.momentum > 0:
            buffer = self._momentums[index]
            self.assign(buffer, ops.add(ops.multiply(buffer, self.momentum), increment))
            self.assign_sub(variable, buffer)
        else:
            self.assign_sub(variable, increment)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "rho": self.rho,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "centered": self.centered,
        }
