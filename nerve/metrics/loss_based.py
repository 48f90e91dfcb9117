"""Metrics that are the running mean of a loss function (Keras's probabilistic,
hinge and regression metrics): ``BinaryCrossentropy``, ``KLDivergence``, ``Hinge``,
``MeanAbsolutePercentageError``, ``CosineSimilarity``...

Each one's ``update_state(y_true, y_pred, sample_weight=None)`` adds the per-sample
values of its function; ``result()`` is their (weighted) mean so far.

>>> m = MeanAbsolutePercentageError()
>>> float(m([[1.0, 2.0]], [[1.5, 2.0]]))
25.0
"""

from __future__ import annotations

from typing import Any

from nerve import losses
from nerve.losses import (
    binary_crossentropy,
    categorical_crossentropy,
    categorical_hinge,
    hinge,
    kl_divergence,
    log_cosh,
    mean_absolute_percentage_error,
    mean_squared_logarithmic_error,
    poisson,
    sparse_categorical_crossentropy,
    squared_hinge,
)
from nerve.metrics.reduction import MeanMetricWrapper
from nerve.tensor import Tensor

__all__ = [
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "CategoricalHinge",
    "CosineSimilarity",
    "Hinge",
    "KLDivergence",
    "LogCoshError",
    "MeanAbsolutePercentageError",
    "MeanSquaredLogarithmicError",
    "Poisson",
    "SparseCategoricalCrossentropy",
    "SquaredHinge",
    "cosine_similarity",
]


def cosine_similarity(y_true: Any, y_pred: Any, axis: int = -1) -> Tensor:
    """The cosine of the angle between ``y_true`` and ``y_pred`` along ``axis`` (1 means
    aligned; the loss ``nerve.losses.cosine_similarity`` is its negation).

    >>> float(cosine_similarity([[1.0, 0.0]], [[2.0, 0.0]])[0])
    1.0
    """
    return -losses.cosine_similarity(y_true, y_pred, axis=axis)


class MeanAbsolutePercentageError(MeanMetricWrapper):
    """Mean of ``100 * |y_true - y_pred| / |y_true|``.

    Args:
        name: the metric's name. dtype: the dtype of its state and result.
    """

    def __init__(self, name: str = "mean_absolute_percentage_error", dtype: str | None = None):
        super().__init__(mean_absolute_percentage_error, name=name, dtype=dtype)


class MeanSquaredLogarithmicError(MeanMetricWrapper):
    """Mean of ``(log(1 + y_true) - log(1 + y_pred)) ** 2``.

    Args:
        name: the metric's name. dtype: the dtype of its state and result.
    """

    def __init__(self, name: str = "mean_squared_logarithmic_error", dtype: str | None = None):
        super().__init__(mean_squared_logarithmic_error, name=name, dtype=dtype)


class LogCoshError(MeanMetricWrapper):
    """Mean of ``log(cosh(y_pred - y_true))``.

    Args:
        name: the metric's name (Keras's default ``"logcosh"``). dtype: state dtype.
    """

    def __init__(self, name: str = "logcosh", dtype: str | None = None):
        super().__init__(log_cosh, name=name, dtype=dtype)


class CosineSimilarity(MeanMetricWrapper):
    """Mean cosine similarity between labels and predictions along ``axis``.

    Args:
        name: the metric's name. dtype: state dtype. axis: the axis of the vectors.
    """

    def __init__(self, name: str = "cosine_similarity", dtype: str | None = None, axis: int = -1):
        super().__init__(cosine_similarity, name=name, dtype=dtype, axis=axis)


class Hinge(MeanMetricWrapper):
    """Mean of ``max(1 - y_true * y_pred, 0)`` (labels 0/1 are mapped to -1/1).

    Args:
        name: the metric's name. dtype: the dtype of its state and result.
    """

    def __init__(self, name: str = "hinge", dtype: str | None = None):
        super().__init__(hinge, name=name, dtype=dtype)


class SquaredHinge(MeanMetricWrapper):
    """Mean of ``max(1 - y_true * y_pred, 0) ** 2`` (labels 0/1 mapped to -1/1).

    Args:
        name: the metric's name. dtype: the dtype of its state and result.
    """

    def __init__(self, name: str = "squared_hinge", dtype: str | None = None):
        super().__init__(squared_hinge, name=name, dtype=dtype)


class CategoricalHinge(MeanMetricWrapper):
    """Mean of ``max(0, 1 + max(wrong-class scores) - true-class score)``.

    Args:
        name: the metric's name. dtype: the dtype of its state and result.
    """

    def __init__(self, name: str = "categorical_hinge", dtype: str | None = None):
        super().__init__(categorical_hinge, name=name, dtype=dtype)


class KLDivergence(MeanMetricWrapper):
    """Mean Kullback-Leibler divergence ``sum(y_true * log(y_true / y_pred))``.

    Args:
        name: the metric's name. dtype: the dtype of its state and result.
    """

    def __init__(self, name: str = "kl_divergence", dtype: str | None = None):
        super().__init__(kl_divergence, name=name, dtype=dtype)


class Poisson(MeanMetricWrapper):
    """Mean of ``y_pred - y_true * log(y_pred)``.

    Args:
        name: the metric's name. dtype: the dtype of its state and result.
    """

    def __init__(self, name: str = "poisson", dtype: str | None = None):
        super().__init__(poisson, name=name, dtype=dtype)


class BinaryCrossentropy(MeanMetricWrapper):
    """Mean binary cross-entropy.

    Args:
        name: the metric's name. dtype: state dtype. from_logits: whether ``y_pred``
        holds logits rather than probabilities. label_smoothing: in ``[0, 1]``, moves
        labels towards 0.5.
    """

    def __init__(
        self,
        name: str = "binary_crossentropy",
        dtype: str | None = None,
        from_logits: bool = False,
        label_smoothing: float = 0,
    ):
        super().__init__(
            binary_crossentropy,
            name=name,
            dtype=dtype,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
        )


class CategoricalCrossentropy(MeanMetricWrapper):
    """Mean categorical cross-entropy with one-hot labels.

    Args:
        name: the metric's name. dtype: state dtype. from_logits: whether ``y_pred``
        holds logits. label_smoothing: in ``[0, 1]``, spreads label mass over classes.
        axis: the class axis.
    """

    def __init__(
        self,
        name: str = "categorical_crossentropy",
        dtype: str | None = None,
        from_logits: bool = False,
        label_smoothing: float = 0,
        axis: int = -1,
    ):
        super().__init__(
            categorical_crossentropy,
            name=name,
            dtype=dtype,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
        )


class SparseCategoricalCrossentropy(MeanMetricWrapper):
    """Mean categorical cross-entropy with integer labels.

    Args:
        name: the metric's name. dtype: state dtype. from_logits: whether ``y_pred``
        holds logits. ignore_class: a label whose entries count 0. axis: the class axis.
    """

    def __init__(
        self,
        name: str = "sparse_categorical_crossentropy",
        dtype: str | None = None,
        from_logits: bool = False,
        ignore_class: int | None = None,
        axis: int = -1,
    ):
        super().__init__(
            sparse_categorical_crossentropy,
            name=name,
            dtype=dtype,
            from_logits=from_logits,
            ignore_class=ignore_class,
            axis=axis,
        )
