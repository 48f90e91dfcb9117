"""Muon: momentum orthogonalised by a Newton-Schulz iteration, AdamW elsewhere."""

from __future__ import annotations

import re
from typing import Any

from nerve import ops
from nerve.optimizers.base import Optimizer
from nerve.tensor import Variable

__all__ = ["Muon"]


def _swap_last_axes(x):
    axes = list(range(x.ndim))
    axes[-2], axes[-1] = axes[-1], axes[-2]
    return ops.transpose(x, axes)


class Muon(Optimizer):
    """Muon (Jordan et al., 2024), as Keras 3's ``Muon``: for weight matrices, an SGD
    momentum whose direction is replaced by a nearby orthogonal matrix (so every
    singular direction moves by about the same amount); every other variable takes an
    AdamW step.

    A variable takes the AdamW step if it is not 2-D, if ``exclude_embeddings`` is set
    and ``"embedding"`` is in its lower-cased ``path``, or if one of the
    ``exclude_layers`` patterns matches its ``path`` (``re.search``). That step is
    ``Adam``'s (see ``Adam``), with ``adam_beta_1``, ``adam_beta_2``, ``epsilon`` and the
    learning rate ``learning_rate * adam_lr_ratio``.

    A matrix ``W`` of shape ``(n, m)`` takes the Muon step: ``M = momentum * M + g``;
    the direction is ``D = g + momentum * M`` (``nesterov``) or ``M``; ``D`` is divided
    by its Frobenius norm (+ 1e-7) and ``ns_steps`` times ``D = a * D + (b * A + c * A @
    A) @ D`` with ``A = D @ D.T`` (worked on the transpose when ``n > m``); then
    ``W -= lr * D * sqrt(max(n, m)) * rms_rate`` (without the last two factors when
    ``rms_rate`` is ``None``).

    Decoupled weight decay, before each step, is ``w -= lr * wd * w`` with ``wd`` the
    ``weight_decay`` for Muon variables and ``adam_weight_decay`` for the others.

    Args:
        learning_rate: a float, a ``LearningRateSchedule`` or a callable (see
            ``Optimizer``); default 0.001.
        adam_beta_1: the decay rate of the AdamW first moment (default 0.9).
        adam_beta_2: the decay rate of the AdamW second moment (default 0.999).
        adam_weight_decay: the decoupled decay rate of the AdamW variables (default
            0.004; ``None`` for none).
        epsilon: the AdamW step's stability constant, added to ``sqrt(v)`` (default
            1e-7).
        weight_decay: the decoupled decay rate of the Muon variables (default 0.004;
            ``None`` for none).
        name: the optimizer's name (default ``None``: ``"muon"``).
        exclude_layers: ``None`` (default) or a list of regular expressions; variables
            whose ``path`` matches one take the AdamW step (e.g. the output layer).
        exclude_embeddings: variables with ``"embedding"`` in their path take the
            AdamW step (default ``True``).
        muon_a: the coefficient ``a`` of the Newton-Schulz iteration (default 3.4445).
        muon_b: the coefficient ``b`` (default -4.7750).
        muon_c: the coefficient ``c`` (default 2.0315).
        adam_lr_ratio: the AdamW variables' learning rate as a multiple of
            ``learning_rate`` (default 1).
        momentum: the Muon momentum factor (default 0.95).
        ns_steps: the number of Newton-Schulz iterations (default 5).
        nesterov: use Nesterov momentum for the Muon step (default ``True``).
        rms_rate: ``None`` or a float (default 0.2): scale the Muon step by
            ``sqrt(max(n, m)) * rms_rate`` so its root mean square matches an AdamW
            step's, letting both share one learning rate (Liu et al., 2025).
        **kwargs: clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum,
            ema_overwrite_frequency, loss_scale_factor, gradient_accumulation_steps:
            as for ``Optimizer``.

    >>> import nerve
    >>> w = nerve.Variable([[1.0, 0.0], [0.0, 1.0]], name="dense/kernel")
    >>> opt = Muon(learning_rate=0.1, weight_decay=None, rms_rate=None, ns_steps=10)
    >>> opt.apply([nerve.ops.convert_to_tensor([[2.0, 0.0], [0.0, 0.5]])], [w])
    >>> w.numpy().round(1)  # both directions move by about lr, whatever the gradient's size
    array([[0.9, 0. ],
           [0. , 0.9]], dtype=float32)
    """

    def __init__(
        self,
        learning_rate: Any = 0.001,
        adam_beta_1: float = 0.9,
        adam_beta_2: float = 0.999,
        adam_weight_decay: float | None = 0.004,
        epsilon: float = 1e-7,
        weight_decay: float | None = 0.004,
        name: str | None = None,
        exclude_layers: list[str] | None = None,
        exclude_embeddings: bool = True,
        muon_a: float = 3.4445,
        muon_b: float = -4.7750,
        muon_c: float = 2.0315,
        adam_lr_ratio: float = 1,
        momentum: float = 0.95,
        ns_steps: int = 5,
        nesterov: bool = True,
        rms_rate: float | None = 0.2,
        **kwargs: Any,
    ):
        super().__init__(
            learning_rate=learning_rate, name=name, weight_decay=weight_decay, **kwargs
        )
        if isinstance(ns_steps, bool) or not isinstance(ns_steps, int) or ns_steps < 0:
            raise ValueError(f"Muon: `ns_steps` must be an integer >= 0. Received: {ns_steps!r}")
        self.adam_beta_1 = adam_beta_1
        self.adam_beta_2 = adam_beta_2
        self.epsilon = epsilon
        self.muon_a = muon_a
        self.muon_b = muon_b
        self.muon_c = muon_c
        self.adam_lr_ratio = adam_lr_ratio
        self.momentum = momentum
        self.ns_steps = ns_steps
        self.nesterov = nesterov
        self.exclude_embeddings = exclude_embeddings
        self.exclude_layers = list(exclude_layers or [])
        self.adam_weight_decay = adam_weight_decay
        self.rms_rate = rms_rate

    _momentums: list[Variable]
    _adam_velocities: list[Variable | None]  # None: the variable takes the Muon step

    def _should_use_adamw(self, variable: Variable) -> bool:
        """Whether ``variable`` takes the AdamW step rather than the Muon step."""
        if variable.ndim != 2:
            return True
        path = str(variable.path)
        if self.exclude_embeddings and "embedding" in path.lower():
            return True
        return any(re.search(pattern, path) for pattern in self.exclude_layers)

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        # Keras's order: each variable's momentum, then its velocity if it has one.
        self._momentums = []
        self._adam_velocities = []
        for variable in variables:
            self._momentums.append(self.add_variable_from_reference(variable, "momentum"))
            velocity = None
            if self._should_use_adamw(variable):
                velocity = self.add_variable_from_reference(variable, "velocity")
            self._adam_velocities.append(velocity)

    def _apply_weight_decay(self, variables, learning_rate) -> None:
        for variable in variables:
            if not self._use_weight_decay(variable):
                continue
            adamw = self._adam_velocities[self._get_variable_index(variable)] is not None
            rate = self.adam_weight_decay if adamw else self.weight_decay
            if rate is None:
                continue
            lr = ops.cast(learning_rate, variable.dtype)
            self.assign(variable, ops.subtract(variable, ops.multiply(variable, lr * rate)))

    def update_step(self, gradient, variable, learning_rate):
        index = self._get_variable_index(variable)
        lr = ops.cast(learning_rate, variable.dtype)
        velocity = self._adam_velocities[index]
        if velocity is None:
            self._muon_step(gradient, variable, lr, self._momentums[index])
        else:
            lr = ops.multiply(lr, self.adam_lr_ratio)
            self._adamw_step(gradient, variable, lr, self._momentums[index], velocity)

    def _muon_step(self, gradient, variable, lr, m) -> None:
        self.assign(m, ops.add(ops.multiply(m, self.momentum), gradient))
        direction = ops.add(gradient, ops.multiply(m, self.momentum)) if self.nesterov else m
        update = ops.multiply(self.zeropower_via_newtonschulz5(direction, self.ns_steps), lr)
        if self.rms_rate is not None:
            n, k = variable.shape
            update = ops.multiply(update, max(n, k) ** 0.5 * self.rms_rate)
        self.assign_sub(variable, update)

    def _adamw_step(self, gradient, variable, lr, m, v) -> None:
        dtype = variable.dtype
        t = ops.cast(ops.add(self.iterations, 1), dtype)
        beta_1_power = ops.power(ops.convert_to_tensor(self.adam_beta_1, dtype), t)
        beta_2_power = ops.power(ops.convert_to_tensor(self.adam_beta_2, dtype), t)
        alpha = ops.divide(ops.multiply(lr, ops.sqrt(1 - beta_2_power)), 1 - beta_1_power)
        self.assign_add(m, ops.multiply(ops.subtract(gradient, m), 1 - self.adam_beta_1))
        self.assign_add(
            v, ops.multiply(ops.subtract(ops.square(gradient), v), 1 - self.adam_beta_2)
        )
        step = ops.divide(ops.multiply(m, alpha), ops.add(ops.sqrt(v), self.epsilon))
        self.assign_sub(variable, step)

    def zeropower_via_newtonschulz5(self, x, steps: int):
        """A roughly orthogonal matrix near ``x``: ``U V^T`` of its SVD, except that the
        singular values are only pushed into about ``[0.7, 1.2]``. ``steps`` quintic
        Newton-Schulz iterations on the last two axes, as the Muon step runs them (Keras's
        name for this method).

        >>> from nerve import ops
        >>> x = ops.convert_to_tensor([[3.0, 0.0], [0.0, 0.1]])
        >>> Muon().zeropower_via_newtonschulz5(x, steps=10).numpy().round(1)
        array([[1.1, 0. ],
               [0. , 0.8]], dtype=float32)
        """
        if x.ndim < 2:
            raise ValueError(
                f"Muon: the Newton-Schulz step needs a matrix (ndim >= 2); received shape "
                f"{tuple(x.shape)}."
            )
        tall = x.shape[-2] > x.shape[-1]
        if tall:
            x = _swap_last_axes(x)
        x = ops.divide(x, ops.add(ops.norm(x, axis=(-2, -1), keepdims=True), 1e-7))
        a, b, c = self.muon_a, self.muon_b, self.muon_c
        for _ in range(steps):
            gram = ops.matmul(x, _swap_last_axes(x))
            poly = ops.add(ops.multiply(gram, b), ops.multiply(ops.matmul(gram, gram), c))
            x = ops.add(ops.multiply(x, a), ops.matmul(poly, x))
        return _swap_last_axes(x) if tall else x

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "adam_beta_1": self.adam_beta_1,
            "adam_beta_2": self.adam_beta_2,
            "epsilon": self.epsilon,
            "exclude_layers": self.exclude_layers,
            "muon_a": self.muon_a,
            "muon_b": self.muon_b,
            "muon_c": self.muon_c,
            "adam_lr_ratio": self.adam_lr_ratio,
            "momentum": self.momentum,
            "ns_steps": self.ns_steps,
            "nesterov": self.nesterov,
            "exclude_embeddings": self.exclude_embeddings,
            "adam_weight_decay": self.adam_weight_decay,
            "rms_rate": self.rms_rate,
        }
