"""Stochastic gradient descent with optional (Nesterov) momentum."""

from __future__ import annotations

from typing import Any

from nerve import ops
from nerve.optimizers.base import Optimizer

__all__ = ["SGD"]


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with (Nesterov) momentum, as Keras 3's
    ``SGD``.

    With ``momentum == 0`` each step is ``w -= learning_rate * g``. Otherwise a
    velocity (starting at 0) is kept per variable:
    ``velocity = momentum * velocity - learning_rate * g``, then ``w += velocity``; with
    ``nesterov=True`` the variable looks one step ahead instead:
    ``w += momentum * velocity - learning_rate * g``. For a constant learning rate this
    follows ``torch.optim.SGD``'s trajectory; ``weight_decay`` here is decoupled (see
    ``Optimizer``), torch's is an L2 term added to the gradient.

    Args:
        learning_rate: a float, a ``LearningRateSchedule`` or a callable (see
            ``Optimizer``); default 0.01.
        momentum: a float in ``[0, 1]`` (default 0.0: plain gradient descent, no
            velocity slots are created).
        nesterov: use Nesterov momentum (default ``False``).
        name: the optimizer's name (default ``"sgd"``, as in Keras).
        **kwargs: weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema,
            ema_momentum, ema_overwrite_frequency, loss_scale_factor,
            gradient_accumulation_steps: as for ``Optimizer``.

    >>> import nerve
    >>> w = nerve.Variable([1.0])
    >>> opt = SGD(learning_rate=0.1, momentum=0.9)
    >>> for _ in range(2):
    ...     opt.apply([nerve.ops.ones((1,))], [w])
    >>> w.numpy().round(6)
    array([0.71], dtype=float32)
    """

    def __init__(
        self,
        learning_rate: Any = 0.01,
        momentum: float = 0.0,
        nesterov: bool = False,
        name: str = "sgd",
        **kwargs: Any,
    ):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        if isinstance(momentum, bool) or not isinstance(momentum, (int, float)):
            raise ValueError(f"SGD: `momentum` must be a float in [0, 1]. Received: {momentum!r}")
        if not 0 <= momentum <= 1:
            raise ValueError(f"SGD: `momentum` must be a float in [0, 1]. Received: {momentum!r}")
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self.momentums = []
        if self.momentum != 0:
            self.momentums = self.add_optimizer_variables(variables, "momentum")

    def update_step(self, gradient, variable, learning_rate):
        lr = ops.cast(learning_rate, variable.dtype)
        step = ops.multiply(gradient, lr)
        if self.momentum == 0:
            self.assign_sub(variable, step)
            return
        m = self.momentums[self._get_variable_index(variable)]
        velocity = ops.subtract(ops.multiply(m, self.momentum), step)
        self.assign(m, velocity)
        if self.nesterov:
            self.assign_add(variable, ops.subtract(ops.multiply(velocity, self.momentum), step))
        else:
            self.assign_add(variable, velocity)

    def get_config(self) -> dict:
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}
