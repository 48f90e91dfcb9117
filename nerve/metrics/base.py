"""The ``Metric`` base class: streaming state in non-trainable variables.

A metric accumulates statistics over batches with ``update_state`` and reports
them with ``result``. All state lives in ``nerve.Variable``s created eagerly (in
``__init__`` or on the first update), and updates are pure ``nerve.ops`` math
followed by ``assign``/``assign_add``, so the same update runs eagerly and inside
``nerve.function`` (where ``model.fit`` runs its train step).

>>> from nerve import metrics
>>> m = metrics.Mean()
>>> m.update_state([1.0, 2.0])
>>> m.update_state([3.0])
>>> float(m.result())
2.0
>>> m.reset_state()
>>> float(m.result())
0.0
"""

from __future__ import annotations

import re
from typing import Any

from nerve import initializers, ops
from nerve.core import config, dtypes
from nerve.core.errors import ShapeError, with_location
from nerve.graph.trace import active_trace

# Keras's rank matching, shared with the losses (re-exported for the metric families).
from nerve.losses import squeeze_or_expand_to_same_rank  # noqa: F401
from nerve.tensor import Tensor, Variable

__all__ = ["Metric", "check_broadcastable", "divide_no_nan"]


def _snake_case(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


class Metric:
    """Base class of every metric (Keras 3's ``keras.metrics.Metric``): a statistic
    accumulated over batches in non-trainable state variables.

    ``update_state(...)`` adds a batch, ``result()`` reports the value so far,
    ``reset_state()`` zeros the state (``fit`` and ``evaluate`` do so at the start of
    each epoch or run), and calling the metric updates it and returns the new result.
    A subclass creates its state with ``add_variable`` and implements
    ``update_state`` and ``result`` with ``nerve.ops``, so both run eagerly and inside
    ``nerve.function``.

    Args:
        dtype: the dtype of the state and the result (default ``None``:
            ``nerve.config.floatx()``, normally ``"float32"``).
        name: the metric's name, the key of its entry in the logs (default ``None``:
            the class name in snake case; each built-in class has its own default).

    >>> from nerve import metrics
    >>> class Count(metrics.Metric):
    ...     def __init__(self, name="count", dtype=None):
    ...         super().__init__(name=name, dtype=dtype)
    ...         self.count = self.add_variable((), name="count")
    ...     def update_state(self, values, sample_weight=None):
    ...         self.count.assign_add(ops.cast(ops.size(values), self.dtype))
    ...     def result(self):
    ...         return ops.convert_to_tensor(self.count)
    >>> c = Count()
    >>> float(c([1, 2, 3]))
    3.0
    """

    def __init__(self, dtype: str | None = None, name: str | None = None):
        self.name = name if name is not None else _snake_case(type(self).__name__)
        self._dtype = dtypes.standardize_dtype(dtype) if dtype is not None else config.floatx()
        self._variables: list[Variable] = []

    @property
    def dtype(self) -> str:
        """The dtype of the metric's state and result."""
        return self._dtype

    @property
    def variables(self) -> list[Variable]:
        """The state variables (all non-trainable)."""
        return list(self._variables)

    @property
    def trainable_variables(self) -> list[Variable]:
        return []

    @property
    def non_trainable_variables(self) -> list[Variable]:
        return self.variables

    def add_variable(
        self,
        shape: tuple,
        initializer: Any = "zeros",
        dtype: str | None = None,
        name: str | None = None,
    ) -> Variable:
        """A new non-trainable state variable (``reset_state`` zeros it, as in Keras)."""
        shape = tuple(int(d) for d in shape)
        dtype = dtypes.standardize_dtype(dtype) if dtype is not None else self.dtype
        if initializer in ("zeros", "Zeros") or isinstance(initializer, initializers.Zeros):
            # Python zeros become a concrete array even while nerve.function traces, so
            # metrics that build on their first update can do so inside a traced step.
            initial = _python_zeros(shape)
        else:
            if active_trace() is not None:
                raise RuntimeError(
                    f"{type(self).__name__}: cannot create variable {name!r} with initializer "
                    f"{initializer!r} inside nerve.function; build the metric eagerly first."
                )
            initial = initializers.get(initializer)(shape, dtype)
        variable = Variable(initial, dtype=dtype, trainable=False, name=name)
        self._variables.append(variable)
        return variable

    def reset_state(self) -> None:
        """Reset every state variable to zeros (works eagerly and when traced)."""
        for variable in self._variables:
            variable.assign(ops.zeros(variable.shape, dtype=variable.dtype))

    def update_state(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement update_state().")

    def result(self) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} must implement result().")

    def __call__(self, *args: Any, **kwargs: Any) -> Tensor:
        """Update the state with this batch and return the new result."""
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self) -> dict:
        """The constructor arguments; ``type(m).from_config(m.get_config())`` rebuilds it."""
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config: dict) -> Metric:
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r}>"


def _python_zeros(shape: tuple) -> Any:
    value: Any = 0.0
    for size in reversed(shape):
        value = (
            [value] * size if not isinstance(value, list) else [list(value) for _ in range(size)]
        )
    return value


# -- helpers shared by the metric families ---------------------------------------------------


def divide_no_nan(x: Any, y: Any) -> Tensor:
    """``x / y``, with 0 where ``y == 0`` (and no division-by-zero warnings)."""
    x, y = ops.convert_to_tensor(x), ops.convert_to_tensor(y)
    zero = ops.equal(y, 0)
    safe = ops.where(zero, ops.ones_like(y), y)
    return ops.where(zero, ops.zeros_like(ops.divide(x, safe)), ops.divide(x, safe))


def check_broadcastable(metric: str, what: str, s1: tuple, s2: tuple) -> None:
    """Raise a ``ShapeError`` naming the metric when two input shapes do not broadcast."""
    n = max(len(s1), len(s2))
    p1 = (1,) * (n - len(s1)) + tuple(s1)
    p2 = (1,) * (n - len(s2)) + tuple(s2)
    if any(a != b and a != 1 and b != 1 for a, b in zip(p1, p2)):
        raise ShapeError(
            with_location(
                f"{metric}: {what} have incompatible shapes {tuple(s1)} and {tuple(s2)}; "
                "expected equal shapes (or shapes that broadcast)."
            )
        )
