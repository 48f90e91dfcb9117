"""Weight constraints by Keras name (``keras.constraints``).

A constraint is called on a weight after each optimizer update and returns the
weight projected back onto the allowed set (the optimizer assigns it).

>>> from nerve import constraints, ops
>>> w = ops.convert_to_tensor([[3.0, 0.0], [4.0, 1.0]])
>>> constraints.MaxNorm(1.0)(w).numpy().round(3)
array([[0.6, 0. ],
       [0.8, 1. ]], dtype=float32)
>>> constraints.get("non_neg")(ops.convert_to_tensor([-1.0, 2.0])).numpy()
array([0., 2.], dtype=float32)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nerve import ops
from nerve.core import config
from nerve.core.lookup import deserialize_named, get_named
from nerve.tensor import Tensor


def _tensor(x: Any) -> Tensor:
    # Tensors (Variables included) pass through as they are: ``ops.convert_to_tensor``
    # copies a Variable into a plain tensor, which a GradientTape no longer links to it.
    return x if isinstance(x, Tensor) else ops.convert_to_tensor(x)


def _norms(w: Tensor, axis: Any) -> Tensor:
    if isinstance(axis, list):
        axis = tuple(axis)
    return ops.sqrt(ops.sum(ops.square(w), axis=axis, keepdims=True))


class Constraint:
    """Base class: ``__call__(w)`` returns the projected weight (the identity here)."""

    def __call__(self, w: Any) -> Tensor:
        return _tensor(w)

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config: dict) -> Constraint:
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class MaxNorm(Constraint):
    """Rescale slices along ``axis`` whose L2 norm exceeds ``max_value`` down to it.
    For a ``Dense`` kernel ``(in, out)`` the default ``axis=0`` bounds each unit's
    incoming weight vector."""

    def __init__(self, max_value: float = 2, axis: Any = 0):
        self.max_value = max_value
        self.axis = axis

    def __call__(self, w):
        w = _tensor(w)
        norms = _norms(w, self.axis)
        desired = ops.clip(norms, 0, self.max_value)
        return w * (desired / (config.epsilon() + norms))

    def get_config(self):
        return {"max_value": self.max_value, "axis": self.axis}


class NonNeg(Constraint):
    """Zero out negative entries."""

    def __call__(self, w):
        w = _tensor(w)
        # ``where`` rather than Keras's ``w * (w >= 0)``, which leaves -0.0 behind.
        return ops.where(ops.greater_equal(w, 0.0), w, ops.zeros_like(w))


class UnitNorm(Constraint):
    """Scale slices along ``axis`` to unit L2 norm."""

    def __init__(self, axis: Any = 0):
        self.axis = axis

    def __call__(self, w):
        w = _tensor(w)
        return w / (config.epsilon() + _norms(w, self.axis))

    def get_config(self):
        return {"axis": self.axis}


class MinMaxNorm(Constraint):
    """Move slices' L2 norms along ``axis`` into ``[min_value, max_value]``:
    ``norm <- rate * clip(norm, min_value, max_value) + (1 - rate) * norm``."""

    def __init__(
        self, min_value: float = 0.0, max_value: float = 1.0, rate: float = 1.0, axis: Any = 0
    ):
        self.min_value = min_value
        self.max_value = max_value
        self.rate = rate
        self.axis = axis

    def __call__(self, w):
        w = _tensor(w)
        norms = _norms(w, self.axis)
        desired = (
            self.rate * ops.clip(norms, self.min_value, self.max_value) + (1.0 - self.rate) * norms
        )
        return w * (desired / (config.epsilon() + norms))

    def get_config(self):
        return {
            "min_value": self.min_value,
            "max_value": self.max_value,
            "rate": self.rate,
            "axis": self.axis,
        }


# Keras's lower-case spellings.
max_norm = MaxNorm
non_neg = NonNeg
unit_norm = UnitNorm
min_max_norm = MinMaxNorm

_CLASSES: dict[str, type[Constraint]] = {
    cls.__name__: cls for cls in (Constraint, MaxNorm, NonNeg, UnitNorm, MinMaxNorm)
}
_ALIASES: dict[str, type[Constraint]] = {
    "max_norm": MaxNorm,
    "non_neg": NonNeg,
    "unit_norm": UnitNorm,
    "min_max_norm": MinMaxNorm,
}
_BY_NAME = {**_CLASSES, **_ALIASES}


def serialize(constraint: Constraint | Callable | None) -> dict | None:
    """Keras's ``{"module", "class_name", ...}`` for a built-in constraint, ``None`` for ``None``
    (``get`` inverts both). A plain function has no config: it raises ``ValueError``."""
    if constraint is None:
        return None
    if isinstance(constraint, (str, dict)):  # a name given to a layer, as Keras accepts
        constraint = get(constraint)
    if not isinstance(constraint, Constraint):
        raise ValueError(
            f"Cannot serialize the constraint {constraint!r}: only a Constraint has a config. "
            "Subclass nerve.constraints.Constraint (with get_config) to save it."
        )
    return {
        "module": "keras.constraints",
        "class_name": type(constraint).__name__,
        "config": constraint.get_config(),
        "registered_name": None,
    }


def deserialize(config: dict | str) -> Constraint:
    """The constraint from ``serialize``'s output or a name."""
    return deserialize_named("constraint", config, _BY_NAME)


def get(identifier: Any) -> Constraint | Callable | None:
    """A constraint from a name (``"max_norm"``), a config dict, an instance or callable
    (returned as is), or ``None``."""
    return get_named("constraint", identifier, _BY_NAME)


__all__ = [*_CLASSES, "deserialize", "get", "max_norm", "min_max_norm", "non_neg", "serialize",
           "unit_norm"]  # fmt: skip
