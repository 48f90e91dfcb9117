"""Schedule-Free AdamW: interpolation and averaging in place of a learning-rate schedule."""

from __future__ import annotations

from typing import Any

from nerve import ops
from nerve.optimizers.base import Optimizer

__all__ = ["ScheduleFreeAdamW"]


class ScheduleFreeAdamW(Optimizer):
    """Schedule-Free AdamW (Defazio et al., 2024), as Keras 3's ``ScheduleFreeAdamW``:
    Adam-scaled steps on a base sequence ``z``, a running average ``x`` of it, and the
    variable kept at their interpolation, which removes the need to plan a decaying
    learning-rate schedule (and its stopping time) in advance.

    Per variable ``y`` (the value the model uses), with ``t`` the 1-based step number,
    ``z`` (the ``momentum`` slot) starting as a copy of ``y`` and ``v`` at 0:
    ``v = beta_2 * v + (1 - beta_2) * g**2``,
    ``z_new = z - lr_t * g / (sqrt(v / (1 - beta_2**t)) + epsilon)``,
    ``x = (y - (1 - beta_1) * z) / beta_1`` (the average, recovered from ``y``),
    ``x = (1 - 1/t) * x + z_new / t`` and ``y = (1 - beta_1) * z_new + beta_1 * x``.
    ``lr_t`` is ``learning_rate``, times ``min(t / warmup_steps, 1)`` when
    ``warmup_steps > 0``. As in Keras, the variable keeps ``y`` (there is no switch to
    the average ``x`` for evaluation).

    Args:
        learning_rate: a float, a ``LearningRateSchedule`` or a callable (see
            ``Optimizer``); default 0.0025.
        beta_1: the interpolation weight of the average ``x`` in ``y`` (default 0.9).
        beta_2: the decay rate of the second moment ``v`` (default 0.999).
        epsilon: a small constant added to the bias-corrected ``sqrt(v)`` for
            numerical stability (default 1e-8).
        warmup_steps: the number of steps over which the learning rate rises linearly
            from ``lr / warmup_steps`` to ``lr`` (default 0: no warm-up).
        name: the optimizer's name (default ``None``: ``"schedule_free_adam_w"``).
        **kwargs: weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema,
            ema_momentum, ema_overwrite_frequency, loss_scale_factor,
            gradient_accumulation_steps: as for ``Optimizer``.

    >>> import nerve
    >>> w = nerve.Variable([1.0])
    >>> opt = ScheduleFreeAdamW(learning_rate=0.1, beta_1=0.5, epsilon=0.0)
    >>> opt.apply([nerve.ops.ones((1,))], [w])
    >>> w.numpy().round(5)  # the first step moves z, x and y together by lr
    array([0.9], dtype=float32)
    """

    def __init__(
        self,
        learning_rate: Any = 0.0025,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
        warmup_steps: int = 0,
        name: str | None = None,
        **kwargs: Any,
    ):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        if not 0 < beta_1 <= 1:
            raise ValueError(
                "ScheduleFreeAdamW: `beta_1` must be in the interval (0, 1] (it divides the "
                f"recovery of the average). Received: beta_1={beta_1!r}"
            )
        if isinstance(warmup_steps, bool) or not isinstance(warmup_steps, int) or warmup_steps < 0:
            raise ValueError(
                "ScheduleFreeAdamW: `warmup_steps` must be an integer >= 0. "
                f"Received: warmup_steps={warmup_steps!r}"
            )
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.warmup_steps = warmup_steps

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self._momentums, self._velocities = [], []
        for variable in variables:
            # z starts at the variable's value; its initializer runs eagerly, in build.
            self._momentums.append(
                self.add_variable_from_reference(
                    variable, "momentum", lambda shape, dtype=None, v=variable: ops.copy(v.value)
                )
            )
            self._velocities.append(self.add_variable_from_reference(variable, "velocity"))

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        lr = ops.cast(learning_rate, dtype)
        t = ops.cast(ops.add(self.iterations, 1), dtype)
        if self.warmup_steps > 0:
            lr = ops.multiply(lr, ops.minimum(ops.divide(t, self.warmup_steps), 1.0))
        index = self._get_variable_index(variable)
        z, v = self._momentums[index], self._velocities[index]
        z_old = z.value  # an immutable snapshot, read before z moves

        beta_1 = self.beta_1
        correction = 1 - ops.power(ops.convert_to_tensor(self.beta_2, dtype), t)
        self.assign_add(v, ops.multiply(ops.subtract(ops.square(gradient), v), 1 - self.beta_2))
        denominator = ops.add(ops.sqrt(ops.divide(v, correction)), self.epsilon)
        self.assign_sub(z, ops.divide(ops.multiply(gradient, lr), denominator))

        weight = ops.divide(1.0, t)
        x_old = ops.divide(ops.subtract(variable, ops.multiply(z_old, 1 - beta_1)), beta_1)
        x_new = ops.add(ops.multiply(x_old, ops.subtract(1.0, weight)), ops.multiply(z, weight))
        self.assign(variable, ops.add(ops.multiply(z, 1 - beta_1), ops.multiply(x_new, beta_1)))

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "epsilon": self.epsilon,
            "warmup_steps": self.warmup_steps,
        }
