"""Learning-rate schedules (Keras 3's ``keras.optimizers.schedules``).

A schedule is called with the optimizer's step (an int or an integer tensor,
possibly traced) and returns the learning rate as a floatx tensor. All math is
``nerve.ops``; choices Keras makes with ``ops.cond`` are made with ``ops.where``,
so schedules run inside ``nerve.function`` too.

>>> from nerve.optimizers import schedules
>>> s = schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
>>> round(float(s(20)), 6)
0.025
"""

from __future__ import annotations

import math
from typing import Any

from nerve import ops
from nerve.core import config as nerve_config


class LearningRateSchedule:
    """Base class: ``__call__(step)`` returns the learning rate; ``get_config``."""

    def __call__(self, step: Any):
        raise NotImplementedError(f"{type(self).__name__} does not implement __call__().")

    def get_config(self) -> dict:
        raise NotImplementedError(f"{type(self).__name__} does not implement get_config().")

    @classmethod
    def from_config(cls, config: dict) -> LearningRateSchedule:
        return cls(**config)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.get_config()})"


def _float(x: Any):
    """``x`` as a floatx tensor; Python numbers convert directly (not via float32)."""
    if isinstance(x, (int, float)):
        return ops.convert_to_tensor(float(x), nerve_config.floatx())
    return ops.cast(x, nerve_config.floatx())


def _check_positive(kind: str, name: str, value: Any) -> None:
    if value <= 0:
        raise ValueError(f"{kind}: argument `{name}` must be > 0. Received: {name}={value!r}")


class _StepRatioDecay(LearningRateSchedule):
    """Shared by the schedules driven by ``step / decay_steps`` (floored with
    ``staircase``): the same constructor, progress and config."""

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: int,
        decay_rate: float,
        staircase: bool = False,
        name: str | None = None,
    ):
        _check_positive(type(self).__name__, "decay_steps", decay_steps)
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.decay_rate = decay_rate
        self.staircase = staircase
        self.name = name or type(self).__name__

    def _progress(self, step):
        p = ops.divide(_float(step), float(self.decay_steps))
        return ops.floor(p) if self.staircase else p

    def get_config(self) -> dict:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "decay_rate": self.decay_rate,
            "staircase": self.staircase,
            "name": self.name,
        }


class ExponentialDecay(_StepRatioDecay):
    """``initial_learning_rate * decay_rate ** (step / decay_steps)``; with
    ``staircase`` the exponent is floored.

    >>> round(float(ExponentialDecay(1.0, 4, 0.5, staircase=True)(7)), 6)
    0.5
    """

    def __call__(self, step):
        p = self._progress(step)
        return ops.multiply(self.initial_learning_rate, ops.power(_float(self.decay_rate), p))


class PiecewiseConstantDecay(LearningRateSchedule):
    """``values[0]`` while ``step <= boundaries[0]``, ``values[i]`` while
    ``boundaries[i-1] < step <= boundaries[i]``, ``values[-1]`` after the last.

    >>> s = PiecewiseConstantDecay([10, 20], [1.0, 0.5, 0.1])
    >>> [round(float(s(t)), 6) for t in (10, 11, 21)]
    [1.0, 0.5, 0.1]
    """

    def __init__(self, boundaries: list, values: list, name: str = "PiecewiseConstant"):
        if len(boundaries) != len(values) - 1:
            raise ValueError(
                "PiecewiseConstantDecay: the length of boundaries should be 1 less than the "
                f"length of values. Received: boundaries={boundaries} of length "
                f"{len(boundaries)}, and values={values} of length {len(values)}."
            )
        self.boundaries = list(boundaries)
        self.values = list(values)
        self.name = name

    def __call__(self, step):
        step = ops.convert_to_tensor(step)
        result = _float(self.values[-1])
        # From the last interval down, so the first boundary the step is within wins.
        for boundary, value in zip(reversed(self.boundaries), reversed(self.values[:-1])):
            inside = ops.less_equal(_float(step), float(boundary))
            result = ops.where(inside, _float(value), result)
        return result

    def get_config(self) -> dict:
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


class PolynomialDecay(LearningRateSchedule):
    """``(initial - end) * (1 - step / decay_steps) ** power + end``, holding ``end``
    after ``decay_steps`` (or, with ``cycle``, stretching ``decay_steps`` to the next
    multiple above ``step``).

    >>> round(float(PolynomialDecay(1.0, 10, end_learning_rate=0.0)(5)), 6)
    0.5
    """

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: int,
        end_learning_rate: float = 0.0001,
        power: float = 1.0,
        cycle: bool = False,
        name: str = "PolynomialDecay",
    ):
        _check_positive("PolynomialDecay", "decay_steps", decay_steps)
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.end_learning_rate = end_learning_rate
        self.power = power
        self.cycle = cycle
        self.name = name

    def __call__(self, step):
        step = _float(step)
        decay_steps = _float(self.decay_steps)
        if self.cycle:
            # The first multiple of decay_steps at or above step (1 at step 0).
            multiplier = ops.where(ops.equal(step, 0), 1.0, ops.ceil(ops.divide(step, decay_steps)))
            decay_steps = ops.multiply(decay_steps, multiplier)
        else:
            step = ops.minimum(step, decay_steps)
        fraction = ops.divide(step, decay_steps)
        decayed = ops.power(ops.subtract(1.0, fraction), _float(self.power))
        span = self.initial_learning_rate - self.end_learning_rate
        return ops.add(ops.multiply(_float(span), decayed), self.end_learning_rate)

    def get_config(self) -> dict:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "end_learning_rate": self.end_learning_rate,
            "power": self.power,
            "cycle": self.cycle,
            "name": self.name,
        }


class InverseTimeDecay(_StepRatioDecay):
    """``initial_learning_rate / (1 + decay_rate * step / decay_steps)``; with
    ``staircase`` the ratio ``step / decay_steps`` is floored.

    >>> round(float(InverseTimeDecay(1.0, 1, 0.5)(2)), 6)
    0.5
    """

    def __call__(self, step):
        denominator = ops.add(1.0, ops.multiply(self._progress(step), self.decay_rate))
        return ops.divide(_float(self.initial_learning_rate), denominator)


def _cosine(fraction, alpha: float, scale=1.0):
    """``(1 - alpha) * scale * (1 + cos(pi * fraction)) / 2 + alpha``."""
    cosine = ops.multiply(0.5, ops.add(1.0, ops.cos(ops.multiply(math.pi, fraction))))
    return ops.add(ops.multiply(ops.multiply(cosine, scale), 1.0 - alpha), alpha)


class CosineDecay(LearningRateSchedule):
    """Cosine decay from ``initial_learning_rate`` to ``alpha * initial_learning_rate``
    over ``decay_steps``, optionally after a linear warmup of ``warmup_steps`` from
    ``initial_learning_rate`` to ``warmup_target`` (the decay then starts there).

    >>> round(float(CosineDecay(1.0, 10)(5)), 6)
    0.5
    >>> round(float(CosineDecay(0.0, 10, warmup_target=1.0, warmup_steps=4)(2)), 6)
    0.5
    """

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: int,
        alpha: float = 0.0,
        name: str = "CosineDecay",
        warmup_target: float | None = None,
        warmup_steps: int = 0,
    ):
        _check_positive("CosineDecay", "decay_steps", decay_steps)
        if warmup_steps < 0:
            raise ValueError(
                f"CosineDecay: argument `warmup_steps` must be >= 0. Received: {warmup_steps}"
            )
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.alpha = alpha
        self.name = name
        self.warmup_target = warmup_target
        self.warmup_steps = warmup_steps

    def __call__(self, step):
        step = _float(step)
        initial = _float(self.initial_learning_rate)
        decay_steps = float(self.decay_steps)
        if self.warmup_target is None:
            fraction = ops.divide(ops.minimum(step, decay_steps), decay_steps)
            return ops.multiply(initial, _cosine(fraction, self.alpha))
        warmup_steps = float(self.warmup_steps)
        target = _float(self.warmup_target)
        step = ops.minimum(step, decay_steps + warmup_steps)
        # max(.., 1) keeps the unselected warmup branch finite when warmup_steps is 0.
        warm_fraction = ops.divide(step, max(warmup_steps, 1.0))
        warm = ops.add(ops.multiply(ops.subtract(target, initial), warm_fraction), initial)
        fraction = ops.divide(ops.subtract(step, warmup_steps), decay_steps)
        decayed = ops.multiply(target, _cosine(fraction, self.alpha))
        return ops.where(ops.less(step, warmup_steps), warm, decayed)

    def get_config(self) -> dict:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "alpha": self.alpha,
            "name": self.name,
            "warmup_target": self.warmup_target,
            "warmup_steps": self.warmup_steps,
        }


class CosineDecayRestarts(LearningRateSchedule):
    """Cosine decay with warm restarts (SGDR): the first period lasts
    ``first_decay_steps``, each next one ``t_mul`` times longer and starting from
    ``m_mul`` times the previous peak; the floor is ``alpha * initial_learning_rate``.

    >>> s = CosineDecayRestarts(1.0, first_decay_steps=4)
    >>> [round(float(s(t)), 6) for t in (0, 2, 4)]
    [1.0, 0.5, 1.0]
    """

    def __init__(
        self,
        initial_learning_rate: float,
        first_decay_steps: int,
        t_mul: float = 2.0,
        m_mul: float = 1.0,
        alpha: float = 0.0,
        name: str = "SGDRDecay",
    ):
        _check_positive("CosineDecayRestarts", "first_decay_steps", first_decay_steps)
        self.initial_learning_rate = initial_learning_rate
        self.first_decay_steps = first_decay_steps
        self._t_mul = t_mul
        self._m_mul = m_mul
        self.alpha = alpha
        self.name = name

    def __call__(self, step):
        fraction = ops.divide(_float(step), float(self.first_decay_steps))
        t_mul = float(self._t_mul)
        if t_mul == 1.0:
            restart = ops.floor(fraction)
            fraction = ops.subtract(fraction, restart)
        else:
            # Periods grow geometrically: find the restart index i with
            # sum_{k<i} t_mul**k <= fraction, then the fraction into period i.
            ratio = ops.divide(ops.log(1.0 - fraction * (1.0 - t_mul)), math.log(t_mul))
            restart = ops.floor(ratio)
            period = ops.power(_float(t_mul), restart)
            elapsed = ops.divide(ops.subtract(1.0, period), 1.0 - t_mul)
            fraction = ops.divide(ops.subtract(fraction, elapsed), period)
        peak = ops.power(_float(self._m_mul), restart)
        return ops.multiply(self.initial_learning_rate, _cosine(fraction, self.alpha, peak))

    def get_config(self) -> dict:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "first_decay_steps": self.first_decay_steps,
            "t_mul": self._t_mul,
            "m_mul": self._m_mul,
            "alpha": self.alpha,
            "name": self.name,
        }


_CLASSES = {
    cls.__name__: cls
    for cls in (
        ExponentialDecay,
        PiecewiseConstantDecay,
        PolynomialDecay,
        InverseTimeDecay,
        CosineDecay,
        CosineDecayRestarts,
    )
}


def serialize(schedule: LearningRateSchedule) -> dict:
    """Keras's ``{"module", "class_name", ...}`` for a schedule (``deserialize`` inverts it)."""
    return {
        "module": "keras.optimizers.schedules",
        "class_name": type(schedule).__name__,
        "config": schedule.get_config(),
        "registered_name": None,
    }


def deserialize(config: dict, custom_objects: dict | None = None) -> LearningRateSchedule:
    """A schedule from ``serialize``'s dict (Keras's ``module``/``registered_name``
    keys are accepted and ignored)."""
    classes = {**_CLASSES, **(custom_objects or {})}
    name = config.get("class_name") if isinstance(config, dict) else None
    if name not in classes:
        raise ValueError(
            f"Unknown learning rate schedule {name!r} in {config!r}. Expected one of: "
            f"{', '.join(sorted(classes))}."
        )
    return classes[name].from_config(config.get("config", {}))


__all__ = [*_CLASSES, "LearningRateSchedule", "deserialize", "serialize"]
