"""LAMB: Adam steps rescaled per variable by a trust ratio."""

from __future__ import annotations

from typing import Any

from nerve import ops
from nerve.optimizers.base import Optimizer

__all__ = ["Lamb"]


class Lamb(Optimizer):
    """LAMB (layer-wise adaptive moments, You et al., 2019), as Keras 3's ``Lamb``: an
    Adam direction whose length is set per variable by the ratio of the variable's norm
    to the direction's norm, which keeps large-batch training stable.

    Per variable, with ``t`` the 1-based step number and both moments starting at 0:
    ``m = beta_1 * m + (1 - beta_1) * g``, ``v = beta_2 * v + (1 - beta_2) * g**2``,
    ``u = (m / (1 - beta_1**t)) / (sqrt(v / (1 - beta_2**t)) + epsilon)``, then
    ``w -= lr * r * u`` with the trust ratio ``r = ||w|| / ||u||`` (L2 norms over the
    whole variable), or ``r = 1`` when either norm is 0.

    Args:
        learning_rate: a float, a ``LearningRateSchedule`` or a callable (see
            ``Optimizer``); default 0.001.
        beta_1: the decay rate of the first moment ``m`` (default 0.9).
        beta_2: the decay rate of the second moment ``v`` (default 0.999).
        epsilon: a small constant added to the bias-corrected ``sqrt(v)`` for numerical
            stability (default 1e-7).
        name: the optimizer's name (default ``None``: ``"lamb"``).
        **kwargs: weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema,
            ema_momentum, ema_overwrite_frequency, loss_scale_factor,
            gradient_accumulation_steps: as for ``Optimizer``.

    >>> import nerve
    >>> w = nerve.Variable([3.0, 4.0])
    >>> Lamb(learning_rate=0.1).apply([nerve.ops.convert_to_tensor([1.0, 0.0])], [w])
    >>> w.numpy().round(5)  # a step of lr * ||w|| = 0.5 along the Adam direction
    array([2.5, 4. ], dtype=float32)
    """

    def __init__(
        self,
        learning_rate: Any = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        name: str | None = None,
        **kwargs: Any,
    ):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self._momentums, self._velocities = self.add_optimizer_variables(
            variables, ["momentum", "velocity"]
        )

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        lr = ops.cast(learning_rate, dtype)
        t = ops.cast(ops.add(self.iterations, 1), dtype)
        beta_1_power = ops.power(ops.convert_to_tensor(self.beta_1, dtype), t)
        beta_2_power = ops.power(ops.convert_to_tensor(self.beta_2, dtype), t)
        index = self._get_variable_index(variable)
        m, v = self._momentums[index], self._velocities[index]

        self.assign_add(m, ops.multiply(ops.subtract(gradient, m), 1 - self.beta_1))
        self.assign_add(v, ops.multiply(ops.subtract(ops.square(gradient), v), 1 - self.beta_2))
        m_hat = ops.divide(m, 1 - beta_1_power)
        v_hat = ops.divide(v, 1 - beta_2_power)
        direction = ops.divide(m_hat, ops.add(ops.sqrt(v_hat), self.epsilon))
        w_norm = ops.sqrt(ops.sum(ops.square(variable)))
        u_norm = ops.sqrt(ops.sum(ops.square(direction)))
        # Both where's: a zero norm gives ratio 1, never 0/0 (nor a NaN in its gradient).
        both_positive = ops.logical_and(ops.greater(w_norm, 0), ops.greater(u_norm, 0))
        safe_u_norm = ops.where(both_positive, u_norm, 1.0)
        ratio = ops.where(both_positive, ops.divide(w_norm, safe_u_norm), 1.0)
        self.assign_sub(variable, ops.multiply(ops.multiply(ratio, lr), direction))

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "epsilon": self.epsilon,
        }
