"""FTRL-Proximal (follow the regularized leader)."""

from __future__ import annotations

from typing import Any

from nerve import initializers, ops
from nerve.optimizers.base import Optimizer, _is_number

__all__ = ["Ftrl"]


def _negated(value: Any) -> Any:
    return -value if _is_number(value) else value


class Ftrl(Optimizer):
    """FTRL-Proximal, as Keras 3's ``Ftrl`` (McMahan et al., 2013): an online method
    for wide, sparse linear models, with L1 regularisation that sets weights to exactly 0.

    Per variable, the accumulator ``n`` starting at ``initial_accumulator_value`` and the
    linear term ``z`` at 0, with ``p = -learning_rate_power`` (0.5 by default):
    ``g_s = g + 2 * l2_shrinkage_regularization_strength * w``, ``n_new = n + g**2``,
    ``z += g_s - (n_new**p - n**p) / lr * w``, ``n = n_new``, then
    ``w = (clip(z, -l1, l1) - z) / (n**p / lr + 2 * l2 + beta / lr)`` with ``l1``, ``l2``
    the two regularization strengths; where ``|z| <= l1`` this is 0.

    Args:
        learning_rate: a float, a ``LearningRateSchedule`` or a callable (see
            ``Optimizer``); default 0.001.
        learning_rate_power: a float <= 0 (default -0.5): how the per-element step size
            shrinks as squared gradients accumulate; 0 keeps it fixed.
        initial_accumulator_value: the starting value of ``n``, >= 0 (default 0.1).
        l1_regularization_strength: the L1 strength ``l1``, >= 0 (default 0.0).
        l2_regularization_strength: the stabilising L2 strength ``l2``, >= 0
            (default 0.0).
        l2_shrinkage_regularization_strength: a magnitude penalty, >= 0 (default 0.0):
            ``2 * strength * w`` is added to the gradient, as an L2 term in the loss
            would.
        beta: the paper's ``beta``, a float (default 0.0); ``beta / lr`` is added to the
            denominator.
        name: the optimizer's name (default ``None``: ``"ftrl"``).
        **kwargs: weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema,
            ema_momentum, ema_overwrite_frequency, loss_scale_factor,
            gradient_accumulation_steps: as for ``Optimizer``.

    >>> import nerve
    >>> w = nerve.Variable([0.0, 0.0])
    >>> opt = Ftrl(learning_rate=0.1, l1_regularization_strength=0.5)
    >>> opt.apply([nerve.ops.convert_to_tensor([1.0, 0.2])], [w])
    >>> w.numpy().round(5)  # the small gradient's weight stays exactly 0
    array([-0.04767,  0.     ], dtype=float32)
    """

    def __init__(
        self,
        learning_rate: Any = 0.001,
        learning_rate_power: float = -0.5,
        initial_accumulator_value: float = 0.1,
        l1_regularization_strength: float = 0.0,
        l2_regularization_strength: float = 0.0,
        l2_shrinkage_regularization_strength: float = 0.0,
        beta: float = 0.0,
        name: str | None = None,
        **kwargs: Any,
    ):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        for arg, value, expected in (
            ("initial_accumulator_value", initial_accumulator_value, ">= 0"),
            ("learning_rate_power", _negated(learning_rate_power), "<= 0"),
            ("l1_regularization_strength", l1_regularization_strength, ">= 0"),
            ("l2_regularization_strength", l2_regularization_strength, ">= 0"),
            ("l2_shrinkage_regularization_strength", l2_shrinkage_regularization_strength, ">= 0"),
        ):
            if not (_is_number(value) and value >= 0):
                shown = learning_rate_power if arg == "learning_rate_power" else value
                raise ValueError(
                    f"Ftrl: `{arg}` must be a number {expected}. Received: {arg}={shown!r}"
                )
        self.learning_rate_power = learning_rate_power
        self.initial_accumulator_value = initial_accumulator_value
        self.l1_regularization_strength = l1_regularization_strength
        self.l2_regularization_strength = l2_regularization_strength
        self.l2_shrinkage_regularization_strength = l2_shrinkage_regularization_strength
        self.beta = beta

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        start = initializers.Constant(self.initial_accumulator_value)
        self._squared_sums, self._linears = self.add_optimizer_variables(
            variables, ["accumulator", "linear"], [start, "zeros"]
        )

    def update_step(self, gradient, variable, learning_rate):
        lr = ops.cast(learning_rate, variable.dtype)
        index = self._get_variable_index(variable)
        n, z = self._squared_sums[index], self._linears[index]
        power = -self.learning_rate_power
        l1 = self.l1_regularization_strength
        shrunk = ops.add(
            gradient, ops.multiply(variable, 2 * self.l2_shrinkage_regularization_strength)
        )
        n_new = ops.add(n, ops.square(gradient))
        sigma = ops.divide(ops.subtract(ops.power(n_new, power), ops.power(n, power)), lr)
        self.assign_add(z, ops.subtract(shrunk, ops.multiply(sigma, variable)))
        l2 = ops.add(ops.divide(self.beta / 2.0, lr), self.l2_regularization_strength)
        quadratic = ops.add(ops.divide(ops.power(n_new, power), lr), ops.multiply(l2, 2.0))
        self.assign(variable, ops.divide(ops.subtract(ops.clip(z, -l1, l1), z), quadratic))
        self.assign(n, n_new)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "learning_rate_power": self.learning_rate_power,
            "initial_accumulator_value": self.initial_accumulator_value,
            "l1_regularization_strength": self.l1_regularization_strength,
            "l2_regularization_strength": self.l2_regularization_strength,
            "l2_shrinkage_regularization_strength": self.l2_shrinkage_regularization_strength,
            "beta": self.beta,
        }
