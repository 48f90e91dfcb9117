"""Reducing metrics: ``Mean``, ``Sum`` and ``MeanMetricWrapper`` (the mean of a
per-sample function, which most Keras metrics are)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nerve import ops
from nerve.metrics.base import (
    Metric,
    check_broadcastable,
    divide_no_nan,
    squeeze_or_expand_to_same_rank,
)
from nerve.tensor import Tensor


def reduce_to_samplewise_values(
    values: Any, sample_weight: Any, reduce_fn: Callable, dtype: str, metric: str
) -> tuple[Tensor, Tensor | None]:
    """Weight ``values`` and reduce them to one value per sample (Keras's rule).

    Values of higher rank than the weights are first reduced down to the weights'
    rank; the weights are broadcast to the values, multiplied in, and both are then
    reduced over every axis but the first.
    """
    values = ops.cast(ops.convert_to_tensor(values), dtype)
    if sample_weight is not None:
        sample_weight = ops.cast(ops.convert_to_tensor(sample_weight), dtype)
        values, sample_weight = squeeze_or_expand_to_same_rank(values, sample_weight)
        weight_ndim, values_ndim = sample_weight.ndim, values.ndim
        if values_ndim > weight_ndim:
            values = reduce_fn(values, axis=tuple(range(weight_ndim, values_ndim)))
        check_broadcastable(metric, "values and sample_weight", values.shape, sample_weight.shape)
        # Broadcasting changes nothing in the product but counts each weight once per value.
        sample_weight = ops.broadcast_to(sample_weight, values.shape)
        values = values * sample_weight
        if weight_ndim > 1:
            sample_weight = reduce_fn(sample_weight, axis=tuple(range(1, weight_ndim)))
    if values.ndim > 1:
        values = reduce_fn(values, axis=tuple(range(1, values.ndim)))
    return values, sample_weight


class Sum(Metric):
    """The (weighted) sum of all values seen, as Keras 3's ``metrics.Sum``.

    ``update_state(values, sample_weight=None)`` adds ``sum(values * sample_weight)``:
    ``values`` has any shape, ``sample_weight`` (optional) one that broadcasts to it
    after Keras's rank matching (values of higher rank than the weights are first
    summed down to the weights' rank). ``result()`` is the running total, a scalar.

    Args:
        name: the metric's name (default ``"sum"``).
        dtype: as for ``Metric`` (default ``None``: floatx).

    >>> m = Sum()
    >>> m.update_state([1.0, 3.0, 5.0, 7.0])
    >>> float(m.result())
    16.0
    >>> m.reset_state()
    >>> m.update_state([1.0, 3.0, 5.0, 7.0], sample_weight=[1, 1, 0, 0])
    >>> float(m.result())
    4.0
    """

    def __init__(self, name: str = "sum", dtype: str | None = None):
        super().__init__(name=name, dtype=dtype)
        self.total = self.add_variable((), name="total")

    def update_state(self, values: Any, sample_weight: Any = None) -> None:
        values, _ = reduce_to_samplewise_values(
            values, sample_weight, ops.sum, self.dtype, type(self).__name__
        )
        self.total.assign_add(ops.sum(values))

    def result(self) -> Tensor:
        return self.total.value


class Mean(Metric):
    """The (weighted) mean of all values seen, as Keras 3's ``metrics.Mean``.

    ``update_state(values, sample_weight=None)`` reduces ``values`` to one value per
    sample (the mean over every axis but the first, after weighting), adds their
    weighted sum to ``total`` and the number of samples (or, with ``sample_weight``,
    the sum of the weights) to ``count``. ``result()`` is ``total / count``, 0 before
    any update or while the weights sum to 0.

    Args:
        name: the metric's name (default ``"mean"``).
        dtype: as for ``Metric`` (default ``None``: floatx).

    >>> m = Mean()
    >>> m.update_state([1.0, 3.0, 5.0, 7.0])
    >>> float(m.result())
    4.0
    >>> m.reset_state()
    >>> m.update_state([1.0, 3.0, 5.0, 7.0], sample_weight=[1, 1, 0, 0])
    >>> float(m.result())
    2.0
    """

    def __init__(self, name: str = "mean", dtype: str | None = None):
        super().__init__(name=name, dtype=dtype)
        self.total = self.add_variable((), name="total")
        self.count = self.add_variable((), name="count")

    def update_state(self, values: Any, sample_weight: Any = None) -> None:
        values, sample_weight = reduce_to_samplewise_values(
            values, sample_weight, ops.mean, self.dtype, type(self).__name__
        )
        self.total.assign_add(ops.sum(values))
        num_samples: Tensor | int
        if sample_weight is not None:
            num_samples = ops.sum(sample_weight)
        else:
            # Shapes are static, so this is a Python number even inside nerve.function.
            num_samples = values.shape[0] if values.ndim >= 1 else 1
        self.count.assign_add(ops.cast(num_samples, self.dtype))

    def result(self) -> Tensor:
        return divide_no_nan(self.total.value, self.count.value)


def _times_mask(sample_weight: Any, mask: Tensor) -> Tensor:
    """``sample_weight * mask``, a per-sample weight of shape ``(batch,)`` spread over
    the mask's trailing axes."""
    weight = ops.cast(ops.convert_to_tensor(sample_weight), mask.dtype)
    while weight.ndim < mask.ndim:
        weight = ops.expand_dims(weight, -1)
    return weight * mask


class MeanMetricWrapper(Mean):
    """The running mean of a per-sample function of labels and predictions, as Keras
    3's ``metrics.MeanMetricWrapper``; most metrics (accuracies, errors,
    cross-entropies) are one.

    ``update_state(y_true, y_pred, sample_weight=None)`` matches the ranks of
    ``y_true`` and ``y_pred`` (a trailing axis of size 1), computes
    ``fn(y_true, y_pred, **kwargs)`` and feeds the values to ``Mean.update_state``;
    ``y_pred``'s implicit mask, if any, weighs padded entries 0. ``result()`` is the
    (weighted) mean of every value seen.

    Args:
        fn: the function, ``fn(y_true, y_pred, **kwargs)``, returning one value per
            sample (values of higher rank are averaged per sample).
        name: the metric's name (default ``None``: ``fn.__name__``).
        dtype: as for ``Metric`` (default ``None``: floatx).
        **kwargs: keyword arguments passed to ``fn`` on every update.

    >>> def absolute_error(y_true, y_pred):
    ...     return ops.abs(y_true - y_pred)
    >>> m = MeanMetricWrapper(absolute_error, name="mae")
    >>> float(m([0.0, 1.0], [1.0, 3.0]))
    1.5
    """

    def __init__(
        self, fn: Callable, name: str | None = None, dtype: str | None = None, **kwargs: Any
    ):
        super().__init__(
            name=name if name is not None else getattr(fn, "__name__", "mean"), dtype=dtype
        )
        self._fn = fn
        self._fn_kwargs = kwargs

    # Keras's API: a Mean whose update_state takes (y_true, y_pred) rather than values.
    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:  # type: ignore[override]
        # Keras's implicit mask on the predictions (padded time steps) weighs them 0.
        keras_mask = getattr(y_pred, "_keras_mask", None)
        if keras_mask is not None:
            mask = ops.cast(keras_mask, self.dtype)
            sample_weight = mask if sample_weight is None else _times_mask(sample_weight, mask)
        y_true = ops.convert_to_tensor(y_true)
        y_pred = ops.convert_to_tensor(y_pred)
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        values = self._fn(y_true, y_pred, **self._fn_kwargs)
        super().update_state(values, sample_weight=sample_weight)

    def get_config(self) -> dict:
        config: dict[str, Any] = {"name": self.name, "dtype": self.dtype}
        # Subclasses take their keyword arguments directly; a bare wrapper needs ``fn`` too.
        if type(self) is MeanMetricWrapper:
            config["fn"] = self._fn
        config.update(self._fn_kwargs)
        return config


__all__ = ["Mean", "MeanMetricWrapper", "Sum", "reduce_to_samplewise_values"]
