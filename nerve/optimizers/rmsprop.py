"""RMSprop."""

from __future__ import annotations

from typing import Any

from nerve import ops
from nerve.optimizers.base import Optimizer

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    """RMSprop, as Keras 3's ``RMSprop``.

    ``v = rho * v + (1 - rho) * g**2``; the step is ``lr * g / sqrt(v + epsilon)``
    (``centered``: ``sqrt(v - mean_g**2 + epsilon)``, with ``mean_g`` the moving mean
    of ``g``); with ``momentum`` the step feeds ``buf = momentum * buf + step`` and
    ``w -= buf``. Unlike ``torch.optim.RMSprop`` (``sqrt(v) + eps``), epsilon is
    inside the square root. Other keyword arguments are ``Optimizer``'s.

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
        name: str = "rmsprop",
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
