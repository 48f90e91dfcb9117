"""Weight regularizers by Keras name (``keras.regularizers``).

A regularizer is called on a weight tensor and returns a scalar penalty that a
layer adds to its losses.

>>> from nerve import ops, regularizers
>>> w = ops.convert_to_tensor([[1.0, -2.0], [0.5, 0.0]])
>>> round(float(regularizers.L1(0.1)(w)), 6)
0.35
>>> float(regularizers.get("l1_l2")(w))
0.0
>>> regularizers.serialize(regularizers.L2(0.5))  # Keras's names, for .keras interchange
{'module': 'keras.regularizers', 'class_name': 'L2', 'config': {'l2': 0.5}, 'registered_name': None}
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from nerve import ops
from nerve.core import config, dtypes
from nerve.core.errors import ShapeError, with_location
from nerve.core.lookup import deserialize_named, get_named
from nerve.tensor import Tensor


def _tensor(x: Any) -> Tensor:
    # Tensors (Variables included) pass through as they are: ``ops.convert_to_tensor``
    # copies a Variable into a plain tensor, which a GradientTape no longer links to it.
    return x if isinstance(x, Tensor) else ops.convert_to_tensor(x)


def _non_negative(value: Any, name: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
    ):
        raise ValueError(
            f"Invalid value for argument {name}: expected a non-negative float. "
            f"Received: {name}={value!r}"
        )
    return float(value)


class Regularizer:
    """Base class: ``__call__(x)`` returns a scalar; ``get_config`` / ``from_config``."""

    def __call__(self, x: Any) -> Tensor:
        return ops.convert_to_tensor(0.0)

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config: dict) -> Regularizer:
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class L1(Regularizer):
    """``l1 * sum(abs(x))``."""

    def __init__(self, l1: float = 0.01):
        self.l1 = _non_negative(l1, "l1")

    def __call__(self, x):
        return self.l1 * ops.sum(ops.abs(_tensor(x)))

    def get_config(self):
        return {"l1": self.l1}


class L2(Regularizer):
    """``l2 * sum(square(x))``."""

    def __init__(self, l2: float = 0.01):
        self.l2 = _non_negative(l2, "l2")

    def __call__(self, x):
        return self.l2 * ops.sum(ops.square(_tensor(x)))

    def get_config(self):
        return {"l2": self.l2}


class L1L2(Regularizer):
    """``l1 * sum(abs(x)) + l2 * sum(square(x))`` (``None`` counts as 0)."""

    def __init__(self, l1: float = 0.0, l2: float = 0.0):
        self.l1 = _non_negative(0.0 if l1 is None else l1, "l1")
        self.l2 = _non_negative(0.0 if l2 is None else l2, "l2")

    def __call__(self, x):
        x = _tensor(x)
        penalty = ops.zeros((), dtype=x.dtype if dtypes.is_float(x.dtype) else None)
        if self.l1:
            penalty = penalty + self.l1 * ops.sum(ops.abs(x))
        if self.l2:
            penalty = penalty + self.l2 * ops.sum(ops.square(x))
        return penalty

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class OrthogonalRegularizer(Regularizer):
    """Pushes the rows (``mode="rows"``) or columns (``mode="columns"``) of a rank-2
    weight towards mutual orthogonality: ``factor * 0.5 * sum(|off-diagonal of the
    Gram matrix of the L2-normalised vectors|) / num_pairs``.

    >>> from nerve import ops, regularizers
    >>> float(regularizers.OrthogonalRegularizer(1.0)(ops.eye(3)))
    0.0
    """

    def __init__(self, factor: float = 0.01, mode: str = "rows"):
        self.factor = _non_negative(factor, "factor")
        if mode not in ("rows", "columns"):
            raise ValueError(
                f"Invalid value for argument mode: expected 'rows' or 'columns'. "
                f"Received: mode={mode!r}"
            )
        self.mode = mode

    def __call__(self, x):
        x = _tensor(x)
        if x.ndim != 2:
            raise ShapeError(
                with_location(
                    f"OrthogonalRegularizer: inputs must have rank 2; received inputs of "
                    f"shape {tuple(x.shape)}."
                )
            )
        axis = 1 if self.mode == "rows" else 0
        sums = ops.sum(ops.square(x), axis=axis, keepdims=True)
        x = x * ops.rsqrt(ops.maximum(sums, config.epsilon()))
        gram = x @ ops.transpose(x) if axis == 1 else ops.transpose(x) @ x
        size = gram.shape[0]
        off_diagonal = gram * (1.0 - ops.eye(size, dtype=x.dtype))
        num_pairs = size * (size - 1.0) / 2.0
        # A single vector has no pairs: no penalty (Keras would divide 0 by 0).
        if num_pairs == 0:
            return ops.sum(off_diagonal)
        return self.factor * 0.5 * ops.sum(ops.abs(off_diagonal)) / num_pairs

    def get_config(self):
        return {"factor": self.factor, "mode": self.mode}


# Keras's lower-case spellings.
l1 = L1
l2 = L2
l1_l2 = L1L2
orthogonal_regularizer = OrthogonalRegularizer

_CLASSES = {cls.__name__: cls for cls in (Regularizer, L1, L2, L1L2, OrthogonalRegularizer)}
_ALIASES = {
    "l1": L1,
    "l2": L2,
    "l1_l2": L1L2,
    "l1l2": L1L2,
    "orthogonal_regularizer": OrthogonalRegularizer,
}


def serialize(regularizer: Regularizer | Callable | None) -> dict | None:
    """Keras's ``{"module", "class_name", ...}`` for a built-in regularizer, ``None`` for ``None``
    (``get`` inverts both). A plain function has no config: it raises ``ValueError``."""
    if regularizer is None:
        return None
    if isinstance(regularizer, (str, dict)):  # a name given to a layer, as Keras accepts
        regularizer = get(regularizer)
    if not isinstance(regularizer, Regularizer):
        raise ValueError(
            f"Cannot serialize the regularizer {regularizer!r}: only a Regularizer has a config. "
            "Subclass nerve.regularizers.Regularizer (with get_config) to save it."
        )
    return {
        "module": "keras.regularizers",
        "class_name": type(regularizer).__name__,
        "config": regularizer.get_config(),
        "registered_name": None,
    }


def deserialize(config: dict | str) -> Regularizer:
    """The regularizer from ``serialize``'s output or a name."""
    return deserialize_named("regularizer", config, {**_CLASSES, **_ALIASES})


def get(identifier: Any) -> Regularizer | Callable | None:
    """A regularizer from a name (``"l2"``), a config dict, an instance or callable
    (returned as is), or ``None``."""
    return get_named("regularizer", identifier, {**_CLASSES, **_ALIASES})


__all__ = [*_CLASSES, "deserialize", "get", "l1", "l1_l2", "l2", "orthogonal_regularizer",
           "serialize"]  # fmt: skip
