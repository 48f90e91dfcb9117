"""The Adam family: Adam, AdamW, Adamax and Nadam (Keras 3 update rules).

Keras and ``torch.optim`` differ in where ``epsilon`` enters; trajectories agree
only when ``epsilon`` is negligible against the second-moment terms:

* Adam/AdamW: Keras divides by ``sqrt(v) + epsilon`` and folds the bias correction
  into the step size, ``lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)``; torch divides
  by ``sqrt(v / (1 - beta_2**t)) + eps``. Keras's epsilon is torch's
  ``eps * sqrt(1 - beta_2**t)``.
* Adamax: Keras divides by ``u + epsilon``; torch keeps ``u = max(beta_2 * u,
  |g| + eps)``.
* Nadam: Keras's momentum schedule is ``beta_1 * (1 - 0.5 * 0.96**t)``, torch's
  ``NAdam(momentum_decay=1.0)`` (torch's default ``momentum_decay`` is 0.004).
"""

from __future__ import annotations

from typing import Any

from nerve import ops
from nerve.optimizers.base import Optimizer

__all__ = ["Adam", "AdamW", "Adamax", "Nadam"]


def _step_count(optimizer: Optimizer, dtype: str, offset: int = 1):
    """``iterations + offset`` as a float of ``dtype`` (the 1-based step number)."""
    return ops.cast(ops.add(optimizer.iterations, offset), dtype)


class Adam(Optimizer):
    """Adam (adaptive moment estimation), as Keras 3's ``Adam``.

    Per variable, with ``t`` the 1-based step number and both moments starting at 0:
    ``m = beta_1 * m + (1 - beta_1) * g`` (the mean of the gradients),
    ``v = beta_2 * v + (1 - beta_2) * g**2`` (their uncentred variance), then
    ``w -= lr * sqrt(1 - beta_2**t) / (1 - beta_1**t) * m / (sqrt(v) + epsilon)``
    (the bias correction folded into the step size). With ``amsgrad`` the
    denominator uses ``v_max = max(v_max, v)``, the largest ``v`` so far.

    Args:
        learning_rate: a float, a ``LearningRateSchedule`` or a callable (see
            ``Optimizer``); default 0.001.
        beta_1: the decay rate of the first moment ``m`` (default 0.9).
        beta_2: the decay rate of the second moment ``v`` (default 0.999).
        epsilon: a small constant added to ``sqrt(v)`` for numerical stability
            (default 1e-7).
        amsgrad: use the AMSGrad variant (default ``False``).
        name: the optimizer's name (default ``"adam"``).
        **kwargs: weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema,
            ema_momentum, ema_overwrite_frequency, loss_scale_factor,
            gradient_accumulation_steps: as for ``Optimizer``.

    >>> import nerve
    >>> w = nerve.Variable([1.0])
    >>> Adam(learning_rate=0.1).apply([nerve.ops.ones((1,))], [w])
    >>> w.numpy().round(5)
    array([0.9], dtype=float32)
    """

    def __init__(
        self,
        learning_rate: Any = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        amsgrad: bool = False,
        name: str = "adam",
        **kwargs: Any,
    ):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.amsgrad = amsgrad

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self._momentums = self.add_optimizer_variables(variables, "momentum")
        self._velocities = self.add_optimizer_variables(variables, "velocity")
        if self.amsgrad:
            self._velocity_hats = self.add_optimizer_variables(variables, "velocity_hat")

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        lr = ops.cast(learning_rate, dtype)
        t = _step_count(self, dtype)
        beta_1_power = ops.power(ops.convert_to_tensor(self.beta_1, dtype), t)
        beta_2_power = ops.power(ops.convert_to_tensor(self.beta_2, dtype), t)
        index = self._get_variable_index(variable)
        m, v = self._momentums[index], self._velocities[index]

        alpha = ops.divide(ops.multiply(lr, ops.sqrt(1 - beta_2_power)), 1 - beta_1_power)
        self.assign_add(m, ops.multiply(ops.subtract(gradient, m), 1 - self.beta_1))
        self.assign_add(v, ops.multiply(ops.subtract(ops.square(gradient), v), 1 - self.beta_2))
        if self.amsgrad:
            v_hat = self._velocity_hats[index]
            self.assign(v_hat, ops.maximum(v_hat, v))
            v = v_hat
        step = ops.divide(ops.multiply(m, alpha), ops.add(ops.sqrt(v), self.epsilon))
        self.assign_sub(variable, step)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "epsilon": self.epsilon,
            "amsgrad": self.amsgrad,
        }


class AdamW(Adam):
    """Adam with decoupled weight decay, as Keras 3's ``AdamW``: before each Adam step
    (see ``Adam``), ``w -= lr * weight_decay * w`` (``torch.optim.AdamW``'s rule). It is
    ``Adam(weight_decay=...)`` with a default decay of 0.004 that cannot be ``None``.

    Args:
        learning_rate: a float, a ``LearningRateSchedule`` or a callable (see
            ``Optimizer``); default 0.001.
        weight_decay: the decay rate, a float >= 0 (default 0.004); variables excluded
            with ``exclude_from_weight_decay`` are not decayed.
        beta_1, beta_2, epsilon, amsgrad: as for ``Adam`` (defaults 0.9, 0.999, 1e-7,
            ``False``).
        name: the optimizer's name (default ``"adam_w"``, as in Keras).
        **kwargs: clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum,
            ema_overwrite_frequency, loss_scale_factor, gradient_accumulation_steps:
            as for ``Optimizer``.

    >>> import nerve
    >>> w = nerve.Variable([1.0])
    >>> AdamW(learning_rate=0.1, weight_decay=0.5).apply([nerve.ops.zeros((1,))], [w])
    >>> w.numpy().round(5)
    array([0.95], dtype=float32)
    """

    def __init__(
        self,
        learning_rate: Any = 0.001,
        weight_decay: float = 0.004,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        amsgrad: bool = False,
        name: str = "adam_w",
        **kwargs: Any,
    ):
        if weight_decay is None:
            raise ValueError("AdamW: argument `weight_decay` must be a float. Received: None")
        super().__init__(
            learning_rate=learning_rate,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            amsgrad=amsgrad,
            name=name,
            weight_decay=weight_decay,
            **kwargs,
        )


class _BetaEpsilonOptimizer(Optimizer):
    """The constructor and config shared by Adamax and Nadam (Keras's arguments)."""

    default_name: str  # each subclass's Keras name

    def __init__(
        self,
        learning_rate: Any = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        name: str | None = None,
        **kwargs: Any,
    ):
        super().__init__(learning_rate=learning_rate, name=name or self.default_name, **kwargs)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "epsilon": self.epsilon,
        }


class Adamax(_BetaEpsilonOptimizer):
    """Adamax, the infinity-norm variant of Adam, as Keras 3's ``Adamax``.

    Per variable, with ``t`` the 1-based step number and both slots starting at 0:
    ``m = beta_1 * m + (1 - beta_1) * g``, ``u = max(beta_2 * u, |g|)`` (a decaying
    maximum of the gradient's size), then
    ``w -= lr / (1 - beta_1**t) * m / (u + epsilon)``.

    Args:
        learning_rate: a float, a ``LearningRateSchedule`` or a callable (see
            ``Optimizer``); default 0.001.
        beta_1: the decay rate of the first moment ``m`` (default 0.9).
        beta_2: the decay rate of the norm ``u`` (default 0.999).
        epsilon: a small constant added to ``u`` for numerical stability
            (default 1e-7).
        name: the optimizer's name (default ``"adamax"``).
        **kwargs: weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema,
            ema_momentum, ema_overwrite_frequency, loss_scale_factor,
            gradient_accumulation_steps: as for ``Optimizer``.

    >>> import nerve
    >>> w = nerve.Variable([1.0])
    >>> Adamax(learning_rate=0.1).apply([nerve.ops.ones((1,))], [w])
    >>> w.numpy().round(5)
    array([0.9], dtype=float32)
    """

    default_name = "adamax"

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self._m = self.add_optimizer_variables(variables, "momentum")
        self._u = self.add_optimizer_variables(variables, "norm")

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        lr = ops.cast(learning_rate, dtype)
        beta_1_power = ops.power(
            ops.convert_to_tensor(self.beta_1, dtype), _step_count(self, dtype)
        )
        index = self._get_variable_index(variable)
        m, u = self._m[index], self._u[index]
        self.assign_add(m, ops.multiply(ops.subtract(gradient, m), 1 - self.beta_1))
        self.assign(u, ops.maximum(ops.multiply(u, self.beta_2), ops.abs(gradient)))
        denominator = ops.multiply(1 - beta_1_power, ops.add(u, self.epsilon))
        self.assign_sub(variable, ops.divide(ops.multiply(m, lr), denominator))


class Nadam(_BetaEpsilonOptimizer):
    """Nadam, Adam with Nesterov momentum, as Keras 3's ``Nadam``.

    With ``t`` the 1-based step number, Dozat's momentum schedule
    ``mu_t = beta_1 * (1 - 0.5 * 0.96**t)`` and ``P_t = mu_1 * ... * mu_t`` (one
    product shared by all variables): ``m`` and ``v`` are updated as in ``Adam``, then
    ``m_hat = mu_{t+1} * m / (1 - P_t * mu_{t+1}) + (1 - mu_t) * g / (1 - P_t)``,
    ``v_hat = v / (1 - beta_2**t)`` and ``w -= lr * m_hat / (sqrt(v_hat) + epsilon)``.

    Args:
        learning_rate: a float, a ``LearningRateSchedule`` or a callable (see
            ``Optimizer``); default 0.001.
        beta_1: the decay rate of the first moment, also the scale of the momentum
            schedule (default 0.9).
        beta_2: the decay rate of the second moment (default 0.999).
        epsilon: a small constant added to ``sqrt(v_hat)`` for numerical stability
            (default 1e-7).
        name: the optimizer's name (default ``"nadam"``).
        **kwargs: weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema,
            ema_momentum, ema_overwrite_frequency, loss_scale_factor,
            gradient_accumulation_steps: as for ``Optimizer``.

    >>> import nerve
    >>> w = nerve.Variable([1.0])
    >>> Nadam(learning_rate=0.1).apply([nerve.ops.ones((1,))], [w])
    >>> w.numpy().round(5)
    array([0.89372], dtype=float32)
    """

    default_name = "nadam"

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self._momentums = self.add_optimizer_variables(variables, "momentum")
        self._velocities = self.add_optimizer_variables(variables, "velocity")
        # Product of the momentum schedule so far, shared by all variables.
        dtype = variables[0].dtype if variables else None
        self._u_product = self.add_variable((), "ones", dtype, f"{self.name}_u_product")

    def _mu(self, dtype: str, offset: int):
        decay = ops.power(ops.convert_to_tensor(0.96, dtype), _step_count(self, dtype, offset))
        return ops.multiply(self.beta_1, ops.subtract(1.0, ops.multiply(0.5, decay)))

    def _backend_update_step(self, grads, variables, learning_rate):
        # Advance the shared product once per step, before the per-variable updates.
        dtype = self._u_product.dtype
        self.assign(self._u_product, ops.multiply(self._u_product, self._mu(dtype, 1)))
        super()._backend_update_step(grads, variables, learning_rate)

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        lr = ops.cast(learning_rate, dtype)
        mu_t, mu_next = self._mu(dtype, 1), self._mu(dtype, 2)
        u_product = ops.cast(self._u_product, dtype)
        u_product_next = ops.multiply(u_product, mu_next)
        beta_2_power = ops.power(
            ops.convert_to_tensor(self.beta_2, dtype), _step_count(self, dtype)
        )
        index = self._get_variable_index(variable)
        m, v = self._momentums[index], self._velocities[index]

        self.assign_add(m, ops.multiply(ops.subtract(gradient, m), 1 - self.beta_1))
        self.assign_add(v, ops.multiply(ops.subtract(ops.square(gradient), v), 1 - self.beta_2))
        m_hat = ops.add(
            ops.divide(ops.multiply(mu_next, m), 1 - u_product_next),
            ops.divide(ops.multiply(1 - mu_t, gradient), 1 - u_product),
        )
        v_hat = ops.divide(v, 1 - beta_2_power)
        step = ops.divide(ops.multiply(m_hat, lr), ops.add(ops.sqrt(v_hat), self.epsilon))
        self.assign_sub(variable, step)
