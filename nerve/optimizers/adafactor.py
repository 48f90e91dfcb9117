"""Adafactor: Adam-like steps with a factored second moment."""

from __future__ import annotations

from typing import Any

from nerve import ops
from nerve.optimizers.base import Optimizer

__all__ = ["Adafactor"]


def _rms(x):
    return ops.sqrt(ops.mean(ops.square(x)))


class Adafactor(Optimizer):
    """Adafactor (Shazeer & Stern, 2018), as Keras 3's ``Adafactor``: the second moment
    of a matrix's gradient is kept as one row and one column of averages rather than a
    full copy, so the state grows with ``rows + columns``, not ``rows * columns``.

    Per variable, with ``t`` the 1-based step number, ``g2 = g**2 + epsilon_1`` and the
    decay ``b = 1 - t**beta_2_decay`` (0 on the first step): for a variable of rank >= 2,
    ``r = b * r + (1 - b) * mean(g2, axis=-1)`` and
    ``c = b * c + (1 - b) * mean(g2, axis=-2)``, and the second moment is their outer
    product ``v = r / mean(r, axis=-1) * c`` (over the last two axes); for a vector or
    scalar, ``v = b * v + (1 - b) * g2``. Then ``u = g / sqrt(v)``, clipped to
    ``u / max(1, rms(u) / clip_threshold)``, and
    ``w -= max(epsilon_2, rms(w)) * min(lr, 1 / sqrt(t)) * u``: the step is relative to
    the variable's own root mean square.

    Args:
        learning_rate: a float, a ``LearningRateSchedule`` or a callable (see
            ``Optimizer``); default 0.001. The step size is ``min(learning_rate,
            1 / sqrt(t))`` times the variable's scale.
        beta_2_decay: the exponent of the second moment's decay schedule (default
            -0.8): the decay is ``1 - t**beta_2_decay``, so early steps forget fast.
        epsilon_1: a tiny constant added to the squared gradients so ``v`` is never 0
            (default 1e-30).
        epsilon_2: the smallest variable scale a step is relative to, so variables at
            0 still move (default 1e-3).
        clip_threshold: the largest root mean square of a step before the learning
            rate is applied (default 1.0); independent of ``clipnorm``/``clipvalue``.
        relative_step: kept for Keras's signature and config (default ``True``). In
            Keras 3 the step size is ``min(learning_rate, 1 / sqrt(t))`` whether or not
            it is set, and nerve does the same.
        name: the optimizer's name (default ``None``: ``"adafactor"``).
        **kwargs: weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema,
            ema_momentum, ema_overwrite_frequency, loss_scale_factor,
            gradient_accumulation_steps: as for ``Optimizer``.

    >>> import nerve
    >>> w = nerve.Variable([[3.0, 4.0], [0.0, 0.0]])
    >>> opt = Adafactor(learning_rate=0.5)
    >>> opt.apply([nerve.ops.ones((2, 2))], [w])
    >>> w.numpy().round(4)  # each element moves by rms(w) * lr = 2.5 * 0.5
    array([[ 1.75,  2.75],
           [-1.25, -1.25]], dtype=float32)
    >>> [tuple(v.shape) for v in opt.variables[2:]]  # row, column, second moment
    [(2,), (2,), (2, 2)]
    """

    def __init__(
        self,
        learning_rate: Any = 0.001,
        beta_2_decay: float = -0.8,
        epsilon_1: float = 1e-30,
        epsilon_2: float = 1e-3,
        clip_threshold: float = 1.0,
        relative_step: bool = True,
        name: str | None = None,
        **kwargs: Any,
    ):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.beta_2_decay = beta_2_decay
        self.epsilon_1 = epsilon_1
        self.epsilon_2 = epsilon_2
        self.clip_threshold = clip_threshold
        self.relative_step = relative_step

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        # Keras's slots per variable, in its order: row and column averages (scalar
        # placeholders for a vector or scalar, so files line up), then the full moment.
        self._rows, self._columns, self._velocities = [], [], []
        for variable in variables:
            shape = tuple(variable.shape)
            factored = len(shape) >= 2
            prefix = str(variable.name).replace("/", "_")
            row_shape = shape[:-1] if factored else ()
            column_shape = shape[:-2] + shape[-1:] if factored else ()
            self._rows.append(
                self.add_variable(row_shape, "zeros", variable.dtype, f"{prefix}_row")
            )
            self._columns.append(
                self.add_variable(column_shape, "zeros", variable.dtype, f"{prefix}_column")
            )
            self._velocities.append(self.add_variable_from_reference(variable, "velocity"))

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        lr = ops.cast(learning_rate, dtype)
        t = ops.cast(ops.add(self.iterations, 1), dtype)
        index = self._get_variable_index(variable)
        v = self._velocities[index]

        step_size = ops.minimum(lr, ops.rsqrt(t))
        scale = ops.multiply(ops.maximum(_rms(variable), self.epsilon_2), step_size)
        g2 = ops.add(ops.square(gradient), self.epsilon_1)
        decay = ops.subtract(1.0, ops.power(t, self.beta_2_decay))

        def average(old, new):
            return ops.add(ops.multiply(decay, old), ops.multiply(ops.subtract(1.0, decay), new))

        if variable.ndim >= 2:
            r, c = self._rows[index], self._columns[index]
            self.assign(r, average(r, ops.mean(g2, axis=-1)))
            self.assign(c, average(c, ops.mean(g2, axis=-2)))
            row_factor = ops.divide(r, ops.mean(r, axis=-1, keepdims=True))
            self.assign(v, ops.multiply(ops.expand_dims(row_factor, -1), ops.expand_dims(c, -2)))
        else:
            self.assign(v, average(v, g2))
        u = ops.divide(gradient, ops.sqrt(v))
        u = ops.divide(u, ops.maximum(1.0, ops.divide(_rms(u), self.clip_threshold)))
        self.assign_sub(variable, ops.multiply(scale, u))

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "beta_2_decay": self.beta_2_decay,
            "epsilon_1": self.epsilon_1,
            "epsilon_2": self.epsilon_2,
            "clip_threshold": self.clip_threshold,
            "relative_step": self.relative_step,
        }
