"""``LossScaleOptimizer``: dynamic loss scaling for float16 training (Keras 3's
``keras.optimizers.LossScaleOptimizer``).

float16 gradients of small losses underflow to 0 and large ones overflow to inf. The
loss is multiplied by a scale before differentiation and the gradients divided by it
before the update. A step whose gradients are not all finite is skipped and the scale
halved; after ``dynamic_growth_steps`` finite steps in a row the scale doubles. All of
it is tensor arithmetic, so the step also runs inside ``nerve.function``.

>>> from nerve import Variable, optimizers
>>> w = Variable([1.0])
>>> opt = LossScaleOptimizer(optimizers.SGD(0.1), initial_scale=4.0)
>>> opt.apply([[float("inf")]], [w])  # overflow: skipped, scale halved
>>> float(w.numpy()[0]), float(opt.dynamic_scale.numpy())
(1.0, 2.0)
>>> opt.apply([[2.0]], [w])  # a scaled gradient: 2.0 / 2.0 = 1.0
>>> round(float(w.numpy()[0]), 4)
0.9
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nerve import ops
from nerve.graph import init_scope
from nerve.optimizers.base import Optimizer
from nerve.tensor import Variable

__all__ = ["LossScaleOptimizer"]


class LossScaleOptimizer(Optimizer):
    """Wraps ``inner_optimizer`` with dynamic loss scaling, as Keras 3's
    ``optimizers.LossScaleOptimizer`` (see the module docstring for the rule).

    ``scale_loss(loss)`` multiplies the loss by the current scale; ``apply`` divides
    the gradients by it and, if they are all finite, lets the inner optimizer update
    the variables; otherwise the step is skipped (variables, slots and iteration
    count unchanged) and the scale halved. ``learning_rate``, ``iterations`` and the
    state are the inner optimizer's. ``Model.compile`` wraps the optimizer in one
    automatically when the model's dtype policy is ``"mixed_float16"``, as Keras does.

    Args:
        inner_optimizer: the ``Optimizer`` that makes the updates; it must not be a
            ``LossScaleOptimizer`` itself nor use ``gradient_accumulation_steps``.
        initial_scale: the first loss scale, a float > 0 (default ``2 ** 15``).
        dynamic_growth_steps: after this many finite steps in a row the scale doubles,
            an int >= 1 (default 2000).
        name: the optimizer's name (default ``None``: ``"loss_scale_optimizer"``).
        **kwargs: ``Optimizer``'s other arguments, accepted as Keras does but not
            used by the wrapper: give clipping, weight decay or EMA to
            ``inner_optimizer``.
    """

    def __init__(
        self,
        inner_optimizer: Optimizer,
        initial_scale: float = 2.0**15,
        dynamic_growth_steps: int = 2000,
        name: str | None = None,
        **kwargs: Any,
    ):
        if not isinstance(inner_optimizer, Optimizer):
            raise ValueError(
                f"LossScaleOptimizer: inner_optimizer must be a nerve Optimizer; got "
                f"{type(inner_optimizer).__name__}."
            )
        if isinstance(inner_optimizer, LossScaleOptimizer):
            raise ValueError("LossScaleOptimizer: inner_optimizer is already loss-scaled.")
        if inner_optimizer.gradient_accumulation_steps:
            raise NotImplementedError(
                "LossScaleOptimizer with gradient_accumulation_steps is not supported yet."
            )
        if not initial_scale > 0:
            raise ValueError(
                f"LossScaleOptimizer: initial_scale must be > 0, got {initial_scale!r}."
            )
        if not isinstance(dynamic_growth_steps, int) or dynamic_growth_steps < 1:
            raise ValueError(
                f"LossScaleOptimizer: dynamic_growth_steps must be an int >= 1, got "
                f"{dynamic_growth_steps!r}."
            )
        super().__init__(learning_rate=0.0, name=name or "loss_scale_optimizer", **kwargs)
        self.inner_optimizer = inner_optimizer
        self.initial_scale = float(initial_scale)
        self.dynamic_growth_steps = dynamic_growth_steps
        with init_scope():
            self.dynamic_scale = Variable(
                self.initial_scale, dtype="float32", trainable=False, name="dynamic_scale"
            )
            self.step_counter = Variable(0, dtype="int64", trainable=False, name="step_counter")
        self._variables = [self.dynamic_scale, self.step_counter]

    # The inner optimizer's state is the state that matters; this one adds its two.
    @property
    def variables(self) -> list[Variable]:
        return [*self._variables, *self.inner_optimizer.variables]

    @property
    def iterations(self):
        return self.inner_optimizer.iterations

    @property
    def learning_rate(self):
        return self.inner_optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, value: Any) -> None:
        if "inner_optimizer" in self.__dict__:
            self.inner_optimizer.learning_rate = value

    @property
    def built(self) -> bool:
        return self.inner_optimizer.built

    @built.setter
    def built(self, value: bool) -> None:
        pass  # the inner optimizer's build is what counts

    def build(self, variables: Sequence[Variable]) -> None:
        self.inner_optimizer.build(variables)

    def scale_loss(self, loss: Any):
        """``loss`` times the current scale (in the loss's dtype)."""
        loss = ops.convert_to_tensor(loss)
        return ops.multiply(loss, ops.cast(self.dynamic_scale, loss.dtype))

    def apply(self, grads: Sequence[Any], trainable_variables: Sequence[Variable] | None = None):
        """Unscale ``grads``; apply them with the inner optimizer if all are finite
        (otherwise leave the variables as they are), then adjust the scale."""
        grads = list(grads)
        if trainable_variables is None:
            trainable_variables = self.inner_optimizer._trainable_variables
        pairs = [(g, v) for g, v in zip(grads, trainable_variables) if g is not None]
        inv_scale = ops.divide(1.0, self.dynamic_scale)
        unscaled = [
            ops.multiply(ops.cast(ops.convert_to_tensor(g), "float32"), inv_scale) for g, _ in pairs
        ]
        finite = ops.convert_to_tensor(True)
        for g in unscaled:
            finite = ops.logical_and(finite, ops.all(ops.isfinite(g)))
        safe = [ops.where(finite, g, ops.zeros_like(g)) for g in unscaled]
        inner = self.inner_optimizer
        if not inner.built:
            inner.build(list(trainable_variables))
        before = ops.convert_to_tensor(inner._iterations)
        # A skipped step writes nothing: every write of the inner update is masked.
        inner._update_mask = finite
        try:
            inner.apply(
                [ops.cast(s, v.dtype) if s is not None else None for s, (_, v) in zip(safe, pairs)],
                [v for _, v in pairs],
            )
        finally:
            inner._update_mask = None
        inner._iterations.assign(ops.where(finite, inner._iterations, before))
        grown = ops.greater_equal(self.step_counter + 1, self.dynamic_growth_steps)
        new_scale = ops.where(
            finite,
            ops.where(grown, self.dynamic_scale * 2.0, self.dynamic_scale),
            self.dynamic_scale * 0.5,
        )
        new_counter = ops.where(
            ops.logical_and(finite, ops.logical_not(grown)),
            self.step_counter + 1,
            ops.zeros_like(self.step_counter),
        )
        self.dynamic_scale.assign(new_scale)
        self.step_counter.assign(ops.cast(new_counter, "int64"))

    def finalize_variable_values(self, var_list: Sequence[Variable]) -> None:
        self.inner_optimizer.finalize_variable_values(var_list)

    def get_config(self) -> dict:
        from nerve import optimizers

        return {
            "name": self.name,
            "inner_optimizer": optimizers.serialize(self.inner_optimizer),
            "initial_scale": self.initial_scale,
            "dynamic_growth_steps": self.dynamic_growth_steps,
        }

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None) -> Optimizer:
        from nerve import optimizers

        config = dict(config)
        inner = optimizers.deserialize(config.pop("inner_optimizer"), custom_objects)
        return cls(inner, **config)
