"""The ``Optimizer`` base class (Keras 3's ``keras.optimizers.Optimizer``).

An optimizer owns its state as non-trainable ``nerve.Variable``s, created once by
``build(variables)``; ``apply(grads, variables)`` then updates the variables using
only ``nerve.ops``, so the same call runs eagerly and inside ``nerve.function``.
Subclasses implement ``build`` (slot variables) and ``update_step`` (the math for
one variable) and use ``self.assign``/``assign_add``/``assign_sub`` for every write.

Everything that Keras decides with ``ops.cond`` on a tensor (is this a gradient
accumulation update step? is it time to overwrite weights with their moving
average?) is decided here with ``ops.where``: both outcomes are computed and the
right one selected, so no Python branch ever looks at a tensor's value.

>>> import nerve
>>> from nerve import ops, optimizers
>>> w = nerve.Variable([1.0, 2.0], name="w")
>>> opt = optimizers.SGD(learning_rate=0.5)
>>> opt.apply([ops.convert_to_tensor([1.0, 1.0])], [w])
>>> w.numpy(), int(opt.iterations)
(array([0.5, 1.5], dtype=float32), 1)
"""

from __future__ import annotations

import contextlib
import math
import numbers
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from nerve import initializers, ops
from nerve.core import config as nerve_config
from nerve.core import dtypes
from nerve.core.dtypes import result_type
from nerve.graph.trace import init_scope
from nerve.optimizers import schedules
from nerve.tensor import Tensor, Variable

__all__ = ["Optimizer", "clip_by_global_norm", "clip_by_norm", "global_norm"]

_BASE_ARGS = (
    "weight_decay",
    "clipnorm",
    "global_clipnorm",
    "clipvalue",
    "use_ema",
    "ema_momentum",
    "ema_overwrite_frequency",
    "loss_scale_factor",
    "gradient_accumulation_steps",
)


def _snake_case(name: str) -> str:
    # Keras's rule: a break before each capitalised word and between a lower-case letter
    # and a capital ("RMSprop" -> "rm_sprop", "ScheduleFreeAdamW" -> "schedule_free_adam_w").
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def _is_number(value: Any) -> bool:
    """A real number (``int``, ``float``, a NumPy scalar), not a ``bool``."""
    return not isinstance(value, bool) and isinstance(value, (int, float, numbers.Real))


class Optimizer:
    """Base class of all optimizers (Keras 3's ``keras.optimizers.Optimizer``).

    ``apply(grads, variables)`` runs one step: the gradients are cast to each
    variable's dtype and divided by ``loss_scale_factor`` (if set); with
    ``gradient_accumulation_steps`` they are added to per-variable accumulators and
    only every N-th call goes on; then clipping (``clipnorm``, ``global_clipnorm`` or
    ``clipvalue``), decoupled weight decay, the subclass's ``update_step`` per
    variable (followed by the variable's ``constraint``), the moving averages
    (``use_ema``), and ``iterations`` grows by one. The state (iteration counter,
    learning rate, slots) lives in non-trainable variables (``variables``).

    Args:
        learning_rate: a float >= 0 (kept in a variable, so it can be set later), a
            ``LearningRateSchedule`` (called with the number of ``apply`` calls so
            far), or a callable of no arguments returning the rate. Required here;
            every subclass has its own default.
        weight_decay: ``None`` (default: no decay) or a float >= 0. Decoupled weight
            decay: before each update ``variable -= learning_rate * weight_decay *
            variable``, except for variables excluded with
            ``exclude_from_weight_decay``.
        clipnorm: ``None`` (default) or a float > 0: each gradient is rescaled so its
            own L2 norm is at most this.
        clipvalue: ``None`` (default) or a float > 0: each gradient element is
            clipped to ``[-clipvalue, clipvalue]``.
        global_clipnorm: ``None`` (default) or a float > 0: all gradients are rescaled
            by one factor so their joint L2 norm is at most this. At most one of
            ``clipnorm``, ``clipvalue`` and ``global_clipnorm`` may be set.
        use_ema: keep an exponential moving average of every trained variable
            (default ``False``); ``finalize_variable_values`` (called at the end of
            ``fit``) copies the averages into the variables.
        ema_momentum: the averaging factor in ``[0, 1]`` (default 0.99):
            ``average = ema_momentum * average + (1 - ema_momentum) * variable``, the
            first step copying the variable. Used only with ``use_ema``.
        ema_overwrite_frequency: ``None`` (default: only at the end of training) or an
            int >= 1: every this many iterations, the variables are overwritten by
            their moving averages. Used only with ``use_ema``.
        loss_scale_factor: ``None`` (default) or a float: ``scale_loss`` multiplies
            the loss by it and ``apply`` divides the gradients by it, so a small
            float16 loss keeps its gradients representable.
        gradient_accumulation_steps: ``None`` (default) or an int >= 2: gradients are
            summed over this many ``apply`` calls and the variables updated with
            their mean on every N-th call (``iterations`` then counts updates).
        name: the optimizer's name (default: the class name in snake case); it
            prefixes the names of the optimizer's own variables and is kept in the
            config.

    >>> import nerve
    >>> from nerve import optimizers
    >>> w = nerve.Variable([3.0, -4.0])
    >>> opt = optimizers.SGD(learning_rate=1.0, global_clipnorm=1.0)
    >>> opt.apply([nerve.ops.convert_to_tensor([3.0, -4.0])], [w])
    >>> [round(float(v), 4) for v in w.numpy()], int(opt.iterations)
    ([2.4, -3.2], 1)
    """

    def __init__(
        self,
        learning_rate: Any,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        use_ema: bool = False,
        ema_momentum: float = 0.99,
        ema_overwrite_frequency: int | None = None,
        loss_scale_factor: float | None = None,
        gradient_accumulation_steps: int | None = None,
        name: str | None = None,
        **kwargs: Any,
    ):
        kwargs.pop("decay", None)  # Keras 2 argument, ignored by Keras 3 too
        if kwargs:
            raise ValueError(
                f"{type(self).__name__}: argument(s) not recognized: {sorted(kwargs)}."
            )
        kind = type(self).__name__
        if gradient_accumulation_steps is not None and (
            not isinstance(gradient_accumulation_steps, int) or gradient_accumulation_steps < 2
        ):
            raise ValueError(
                f"{kind}: `gradient_accumulation_steps` must be an integer >= 2. "
                f"Received: gradient_accumulation_steps={gradient_accumulation_steps!r}"
            )
        if use_ema:
            if not 0 <= ema_momentum <= 1:
                raise ValueError(
                    f"{kind}: `ema_momentum` must be in the range [0, 1]. "
                    f"Received: ema_momentum={ema_momentum!r}"
                )
            if ema_overwrite_frequency is not None and (
                not isinstance(ema_overwrite_frequency, int) or ema_overwrite_frequency < 1
            ):
                raise ValueError(
                    f"{kind}: `ema_overwrite_frequency` must be an integer >= 1 or None. "
                    f"Received: ema_overwrite_frequency={ema_overwrite_frequency!r}"
                )
        if sum(a is not None for a in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise ValueError(
                f"{kind}: only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be "
                f"set. Received: clipnorm={clipnorm}, clipvalue={clipvalue}, "
                f"global_clipnorm={global_clipnorm}"
            )
        for arg, value in (
            ("clipnorm", clipnorm),
            ("clipvalue", clipvalue),
            ("global_clipnorm", global_clipnorm),
        ):
            if value is not None and not (_is_number(value) and value > 0):
                raise ValueError(f"{kind}: `{arg}` must be > 0. Received: {arg}={value!r}")
        if weight_decay is not None and not (_is_number(weight_decay) and weight_decay >= 0):
            raise ValueError(
                f"{kind}: `weight_decay` must be a number >= 0 or None. "
                f"Received: weight_decay={weight_decay!r}"
            )

        self.name = name if name is not None else _snake_case(kind)
        self.weight_decay = weight_decay
        self.clipnorm = clipnorm
        self.clipvalue = clipvalue
        self.global_clipnorm = global_clipnorm
        self.use_ema = bool(use_ema)
        self.ema_momentum = ema_momentum
        self.ema_overwrite_frequency = ema_overwrite_frequency
        self.loss_scale_factor = loss_scale_factor
        self.gradient_accumulation_steps = gradient_accumulation_steps

        self.built = False
        self._variables: list[Variable] = []
        self._trainable_variables: list[Variable] = []
        self._index: dict[int, int] = {}  # id(variable) -> position in _trainable_variables
        self._exclude_ids: set[int] = set()
        self._exclude_names: tuple[str, ...] = ()
        # While an accumulation step is being applied: a bool tensor, True on update steps.
        self._update_mask: Tensor | None = None

        self._iterations = self._track(
            Variable(0, dtype="int64", trainable=False, name=f"{self.name}_iteration")
        )
        self._learning_rate = self._make_learning_rate(learning_rate)

    # -- state --------------------------------------------------------------------
    def _track(self, variable: Variable) -> Variable:
        self._variables.append(variable)
        return variable

    def _make_learning_rate(self, learning_rate: Any):
        if isinstance(learning_rate, schedules.LearningRateSchedule) or callable(learning_rate):
            return learning_rate
        if not _is_number(learning_rate):
            raise ValueError(
                f"{type(self).__name__}: `learning_rate` should be a float, a "
                "LearningRateSchedule, or a callable taking no arguments. "
                f"Received: learning_rate={learning_rate!r}"
            )
        self._check_learning_rate(learning_rate)
        return self._track(
            Variable(
                float(learning_rate),
                dtype=nerve_config.floatx(),
                trainable=False,
                name=f"{self.name}_learning_rate",
            )
        )

    def _check_learning_rate(self, value: float) -> None:
        # A negative rate climbs the loss and NaN poisons every weight: both silently.
        if not (math.isfinite(value) and value >= 0):
            raise ValueError(
                f"{type(self).__name__}: `learning_rate` must be a finite number >= 0; "
                f"received learning_rate={value!r}."
            )

    @property
    def variables(self) -> list[Variable]:
        """All state: iteration counter, learning rate (if a variable), then slots."""
        return self._variables[:]

    @property
    def iterations(self):
        """Number of optimizer steps taken: ``apply`` calls, divided by
        ``gradient_accumulation_steps`` when accumulating (as in Keras)."""
        if self.gradient_accumulation_steps:
            return ops.floor_divide(self._iterations, self.gradient_accumulation_steps)
        return self._iterations

    @property
    def learning_rate(self):
        """The current learning rate: the variable, or the schedule evaluated at the
        number of ``apply`` calls (not divided by accumulation steps, as in Keras)."""
        lr = self._learning_rate
        if isinstance(lr, schedules.LearningRateSchedule):
            return lr(self._iterations)
        if isinstance(lr, Variable):
            return lr
        return lr()

    @learning_rate.setter
    def learning_rate(self, value: Any) -> None:
        if isinstance(value, schedules.LearningRateSchedule) or callable(value):
            self._learning_rate = value
        elif isinstance(self._learning_rate, Variable):
            if _is_number(value):
                self._check_learning_rate(value)
            self._learning_rate.assign(value)
        else:
            raise TypeError(
                f"{type(self).__name__} was created with a schedule or callable "
                "`learning_rate`, so its learning rate cannot be set to a number. "
                "Create the optimizer with a float `learning_rate` to make it settable."
            )

    def add_variable(
        self,
        shape: tuple,
        initializer: Any = "zeros",
        dtype: str | None = None,
        name: str | None = None,
    ) -> Variable:
        """A new non-trainable state variable, tracked in ``variables``. Made eagerly
        even during tracing (``init_scope``), so a traced first step can build slots."""
        init = initializers.get(initializer)
        shape = tuple(shape)
        dtype = dtypes.standardize_dtype(dtype or nerve_config.floatx())
        with init_scope():
            return self._track(
                initializers.new_variable(
                    lambda: init(shape, dtype=dtype), shape, dtype, trainable=False, name=name
                )
            )

    def add_variable_from_reference(
        self, reference: Variable, name: str, initializer: Any = "zeros"
    ) -> Variable:
        """A state variable with ``reference``'s shape and dtype (zeros by default)."""
        full_name = f"{str(reference.name).replace('/', '_')}_{name}"
        return self.add_variable(reference.shape, initializer, reference.dtype, full_name)

    def add_optimizer_variables(
        self,
        variables: Sequence[Variable],
        name: str | Sequence[str],
        initializer: Any = "zeros",
    ) -> Any:
        """One state variable per trainable variable (``name`` is the suffix).

        With a list of names (and optionally a list of initializers, one per name), a
        tuple of such lists, created variable by variable as Keras does (``a_momentum``,
        ``a_velocity``, ``b_momentum``, ...), so ``variables`` lists them in the order
        Keras saves them.
        """
        if isinstance(name, str):
            return [self.add_variable_from_reference(v, name, initializer) for v in variables]
        names = list(name)
        inits = list(initializer) if isinstance(initializer, (list, tuple)) else None
        if inits is None:
            inits = [initializer] * len(names)
        if len(inits) != len(names):
            raise ValueError(
                f"{type(self).__name__}: add_optimizer_variables got {len(names)} names and "
                f"{len(inits)} initializers; give one initializer, or one per name."
            )
        slots: tuple[list[Variable], ...] = tuple([] for _ in names)
        for variable in variables:
            for slot, slot_name, init in zip(slots, names, inits):
                slot.append(self.add_variable_from_reference(variable, slot_name, init))
        return slots

    def build(self, variables: Sequence[Variable]) -> None:
        """Create the state for ``variables`` (subclasses add their slots after this).

        Safe to call from a traced train step: state is created eagerly (``init_scope``).
        """
        variables = list(variables)
        self._trainable_variables = variables
        self._index = {id(v): i for i, v in enumerate(variables)}
        if self.use_ema:
            self._averages = self.add_optimizer_variables(variables, "average")
        if self.gradient_accumulation_steps:
            self._accumulated_gradients = self.add_optimizer_variables(
                variables, "gradient_accumulator"
            )
        self.built = True

    def _get_variable_index(self, variable: Variable) -> int:
        return self._index[id(variable)]

    # -- writes (masked while a gradient accumulation step is applied) --------------
    def assign(self, variable: Variable, value: Any) -> None:
        """Write ``value`` into ``variable``; use it (not ``variable.assign``) in
        ``update_step`` so gradient accumulation can keep non-update steps inert."""
        if self._update_mask is not None:
            value = ops.where(self._update_mask, value, variable)
        variable.assign(value)

    def assign_add(self, variable: Variable, value: Any) -> None:
        self.assign(variable, ops.add(variable, value))

    def assign_sub(self, variable: Variable, value: Any) -> None:
        self.assign(variable, ops.subtract(variable, value))

    # -- weight decay ----------------------------------------------------------------
    def exclude_from_weight_decay(
        self, var_list: Iterable[Variable] | None = None, var_names: Iterable[str] | None = None
    ) -> None:
        """Exempt variables (by identity, or names matched with ``re.search``) from
        weight decay. Call before ``build``."""
        if self.built:
            raise ValueError(
                f"{type(self).__name__}: exclude_from_weight_decay() must be called "
                "before the optimizer is built."
            )
        self._exclude_ids = {id(v) for v in var_list or ()}
        self._exclude_names = tuple(var_names or ())

    def _use_weight_decay(self, variable: Variable) -> bool:
        if id(variable) in self._exclude_ids:
            return False
        return not any(re.search(pattern, variable.name) for pattern in self._exclude_names)

    def _apply_weight_decay(self, variables: Sequence[Variable], learning_rate) -> None:
        if self.weight_decay is None:
            return
        for variable in variables:
            if self._use_weight_decay(variable):
                lr = ops.cast(learning_rate, variable.dtype)
                decay = ops.multiply(ops.multiply(variable, lr), self.weight_decay)
                self.assign(variable, ops.subtract(variable, decay))

    # -- clipping ----------------------------------------------------------------------
    def _clip_gradients(self, grads: list[Tensor]) -> list[Tensor]:
        if self.clipnorm is not None:
            return [clip_by_norm(g, self.clipnorm) for g in grads]
        if self.global_clipnorm is not None:
            return clip_by_global_norm(grads, self.global_clipnorm)
        if self.clipvalue is not None:
            return [ops.clip(g, -self.clipvalue, self.clipvalue) for g in grads]
        return grads

    # -- applying gradients --------------------------------------------------------------
    def apply_gradients(self, grads_and_vars: Iterable[tuple[Any, Variable]]):
        """``apply`` on ``(gradient, variable)`` pairs; returns ``iterations``."""
        pairs = list(grads_and_vars)
        if pairs:
            grads, variables = zip(*pairs)
            self.apply(list(grads), list(variables))
        return self.iterations

    def apply(self, grads: Sequence[Any], trainable_variables: Sequence[Variable] | None = None):
        """Update ``trainable_variables`` (default: those the optimizer was built with)
        from ``grads``, one per variable; ``None`` gradients are skipped."""
        grads = list(grads)
        if self._collected is not None:
            self._collected.append((grads, trainable_variables))
            return
        if not grads:
            return
        if trainable_variables is None:
            if not self.built:
                raise ValueError(
                    f"{type(self).__name__}: when passing `grads` without variables, the "
                    "optimizer must already be built. Call "
                    "`optimizer.build(trainable_variables)` first."
                )
            trainable_variables = self._trainable_variables
        else:
            trainable_variables = list(trainable_variables)
            if not self.built:
                self.build(trainable_variables)
            for v in trainable_variables:
                if id(v) not in self._index:
                    raise ValueError(
                        f"{type(self).__name__}: unknown variable {v.name!r}. This optimizer "
                        "can only update the variables it was built with; create a new "
                        "optimizer for a new set of variables."
                    )
        if len(grads) != len(trainable_variables):
            raise ValueError(
                f"{type(self).__name__}: got {len(grads)} gradients for "
                f"{len(trainable_variables)} variables; they must match one to one."
            )

        pairs = [(g, v) for g, v in zip(grads, trainable_variables) if g is not None]
        if pairs:
            grads = [ops.cast(ops.convert_to_tensor(g), v.dtype) for g, v in pairs]
            variables = [v for _, v in pairs]
            if self.loss_scale_factor is not None:
                grads = [ops.divide(g, self.loss_scale_factor) for g in grads]
            if self.gradient_accumulation_steps:
                self._apply_accumulated(grads, variables)
            else:
                self._update(grads, variables)
            if self.use_ema:
                self._update_moving_averages()
        self._iterations.assign_add(1)

    # While a data-parallel step is traced: where ``apply`` records its arguments.
    _collected: list | None = None

    @contextlib.contextmanager
    def collect_gradients(self) -> Iterator[list]:
        """Inside the block ``apply`` updates nothing: it appends ``(grads, variables)``
        to the list this yields. A data-parallel trainer (``nerve.training.distributed``)
        runs a custom or built-in ``train_step`` this way, sums the gradients over the
        replicas, then applies their mean.

        >>> import nerve
        >>> from nerve import optimizers
        >>> w = nerve.Variable([1.0], name="w")
        >>> opt = optimizers.SGD(0.5)
        >>> with opt.collect_gradients() as collected:
        ...     opt.apply([nerve.ops.convert_to_tensor([2.0])], [w])
        >>> len(collected), w.numpy().tolist()
        (1, [1.0])
        """
        previous, self._collected = self._collected, []
        try:
            yield self._collected
        finally:
            self._collected = previous

    def _update(self, grads: list[Tensor], variables: list[Variable]) -> None:
        """Clip, decay and step: what every update step does."""
        grads = self._clip_gradients(grads)
        learning_rate = self.learning_rate
        self._apply_weight_decay(variables, learning_rate)
        self._backend_update_step(grads, variables, learning_rate)

    def _backend_update_step(self, grads, variables, learning_rate) -> None:
        for grad, variable in zip(grads, variables):
            self.update_step(grad, variable, learning_rate)
            if variable.constraint is not None:
                # Keras projects constrained variables right after their update.
                self.assign(variable, variable.constraint(variable))

    def _apply_accumulated(self, grads: list[Tensor], variables: list[Variable]) -> None:
        steps = self.gradient_accumulation_steps
        is_update_step = ops.equal(ops.mod(self._iterations + 1, steps), 0)
        accumulators = [self._accumulated_gradients[self._get_variable_index(v)] for v in variables]
        totals = [ops.add(acc, g) for acc, g in zip(accumulators, grads)]
        # Compute the update on every call, keep it only on update steps (trace-safe cond);
        # within a step a wrapper already masks (a loss-scale skip), both must hold.
        outer = self._update_mask
        self._update_mask = (
            is_update_step if outer is None else ops.logical_and(outer, is_update_step)
        )
        try:
            self._update([ops.divide(t, steps) for t in totals], variables)
        finally:
            self._update_mask = outer
        for acc, total in zip(accumulators, totals):
            value = ops.where(is_update_step, ops.zeros_like(total), total)
            acc.assign(value if outer is None else ops.where(outer, value, acc))

    def update_step(self, gradient: Tensor, variable: Variable, learning_rate) -> None:
        """Update one variable (and its slots) from its gradient; subclasses implement."""
        raise NotImplementedError(f"{type(self).__name__} does not implement update_step().")

    def scale_loss(self, loss: Any):
        """``loss * loss_scale_factor`` (``apply`` divides the gradients back)."""
        if self.loss_scale_factor is not None:
            return ops.multiply(loss, self.loss_scale_factor)
        return loss

    # -- exponential moving average --------------------------------------------------------
    def _update_moving_averages(self) -> None:
        # The first step copies the variables (momentum 0), as in Keras.
        not_first = ops.not_equal(self.iterations, 0)
        # Through self.assign: a step a LossScaleOptimizer skips leaves the averages too.
        for variable, average in zip(self._trainable_variables, self._averages):
            momentum = ops.multiply(ops.cast(not_first, variable.dtype), self.ema_momentum)
            self.assign(average, momentum * average + (1 - momentum) * variable)
        if self.ema_overwrite_frequency:
            overwrite = ops.equal(ops.mod(self.iterations + 1, self.ema_overwrite_frequency), 0)
            for variable, average in zip(self._trainable_variables, self._averages):
                self.assign(variable, ops.where(overwrite, average, variable))

    def finalize_variable_values(self, var_list: Sequence[Variable]) -> None:
        """At the end of training: with ``use_ema``, set the variables to their averages."""
        if self.use_ema:
            for variable in var_list:
                variable.assign(self._averages[self._get_variable_index(variable)])

    # -- config ---------------------------------------------------------------------------
    def get_config(self) -> dict:
        lr = self._learning_rate
        if isinstance(lr, schedules.LearningRateSchedule):
            learning_rate: Any = schedules.serialize(lr)
        elif isinstance(lr, Variable):
            learning_rate = float(lr.numpy())
        else:
            learning_rate = lr
        return {
            "name": self.name,
            "learning_rate": learning_rate,
            **{arg: getattr(self, arg) for arg in _BASE_ARGS},
        }

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None) -> Optimizer:
        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = schedules.deserialize(config["learning_rate"])
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r}>"


def clip_by_norm(gradient: Tensor, clipnorm: float) -> Tensor:
    """Scale ``gradient`` so its L2 norm is at most ``clipnorm``."""
    l2sum = ops.sum(ops.square(gradient))
    # Double where keeps sqrt away from 0 so a zero gradient stays zero (no NaN).
    positive = ops.greater(l2sum, 0)
    norm = ops.where(positive, ops.sqrt(ops.where(positive, l2sum, 1)), l2sum)
    return ops.divide(ops.multiply(gradient, clipnorm), ops.maximum(norm, clipnorm))


def global_norm(tensors: Sequence[Tensor]) -> Tensor:
    """The L2 norm of all ``tensors`` taken together."""
    dtype = result_type(*(t.dtype for t in tensors))
    total = ops.sum(ops.stack([ops.sum(ops.square(ops.cast(t, dtype))) for t in tensors]))
    return ops.sqrt(total)


def clip_by_global_norm(grads: Sequence[Tensor], clipnorm: float) -> list[Tensor]:
    """Scale all ``grads`` by one factor so their joint L2 norm is at most ``clipnorm``."""
    norm = global_norm(grads)
    # clipnorm / max(norm, clipnorm) is 1 when already small (and never divides by 0);
    # adding norm - norm makes it NaN for an inf/NaN norm instead of silently zeroing
    # the update (as in Keras).
    scale = ops.divide(clipnorm, ops.maximum(norm, clipnorm))
    scale = ops.add(scale, ops.subtract(norm, norm))
    return [ops.multiply(g, ops.cast(scale, g.dtype)) for g in grads]
