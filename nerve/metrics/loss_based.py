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
    """The mean absolute percentage error, as Keras 3's
    ``metrics.MeanAbsolutePercentageError``.

    Each sample's value is
    ``100 * mean(abs((y_true - y_pred) / max(abs(y_true), epsilon)), axis=-1)``
    (``nerve.losses.mean_absolute_percentage_error``); ``result()`` is the (weighted)
    mean of the values seen. ``y_true`` and ``y_pred`` share a shape
    ``(batch, ..., d)`` (up to a trailing axis of size 1).

    Args:
        name: the metric's name (default ``"mean_absolute_percentage_error"``).
        dtype: as for ``Metric`` (default ``None``: floatx).

    >>> m = MeanAbsolutePercentageError()
    >>> float(m([[2.0, 4.0]], [[1.0, 5.0]]))
    37.5
    """

    def __init__(self, name: str = "mean_absolute_percentage_error", dtype: str | None = None):
        super().__init__(mean_absolute_percentage_error, name=name, dtype=dtype)


class MeanSquaredLogarithmicError(MeanMetricWrapper):
    """The mean squared logarithmic error, as Keras 3's
    ``metrics.MeanSquaredLogarithmicError``.

    Each sample's value is ``mean(square(log(1 + y_pred) - log(1 + y_true)), axis=-1)``
    with both floored at ``epsilon`` first
    (``nerve.losses.mean_squared_logarithmic_error``); ``result()`` is the (weighted)
    mean of the values seen. ``y_true`` and ``y_pred`` share a shape
    ``(batch, ..., d)`` (up to a trailing axis of size 1).

    Args:
        name: the metric's name (default ``"mean_squared_logarithmic_error"``).
        dtype: as for ``Metric`` (default ``None``: floatx).

    >>> import math
    >>> m = MeanSquaredLogarithmicError()
    >>> round(float(m([[0.0]], [[math.e - 1.0]])), 5)
    1.0
    """

    def __init__(self, name: str = "mean_squared_logarithmic_error", dtype: str | None = None):
        super().__init__(mean_squared_logarithmic_error, name=name, dtype=dtype)


class LogCoshError(MeanMetricWrapper):
    """The mean logarithm of the hyperbolic cosine of the error, as Keras 3's
    ``metrics.LogCoshError``.

    Each sample's value is ``mean(log(cosh(y_pred - y_true)), axis=-1)``
    (``nerve.losses.log_cosh``, which does not overflow for large errors);
    ``result()`` is the (weighted) mean of the values seen. ``y_true`` and ``y_pred``
    share a shape ``(batch, ..., d)`` (up to a trailing axis of size 1).

    Args:
        name: the metric's name (default ``"logcosh"``, Keras's).
        dtype: as for ``Metric`` (default ``None``: floatx).

    >>> m = LogCoshError()
    >>> round(float(m([[0.0]], [[100.0]])), 4)
    99.3069
    """

    def __init__(self, name: str = "logcosh", dtype: str | None = None):
        super().__init__(log_cosh, name=name, dtype=dtype)


class CosineSimilarity(MeanMetricWrapper):
    """The mean cosine similarity between labels and predictions, as Keras 3's
    ``metrics.CosineSimilarity``: 1 when they point the same way, 0 when orthogonal,
    -1 when opposite.

    Each sample's value is ``sum(l2_normalize(y_true) * l2_normalize(y_pred))`` along
    ``axis`` (a zero vector gives 0); ``result()`` is the (weighted) mean of the
    values seen. ``y_true`` and ``y_pred`` share a shape, the vectors on ``axis``.
    (The loss ``nerve.losses.CosineSimilarity`` is its negation.)

    Args:
        name: the metric's name (default ``"cosine_similarity"``).
        dtype: as for ``Metric`` (default ``None``: floatx).
        axis: the axis along which the vectors lie (default -1).

    >>> m = CosineSimilarity()
    >>> float(m([[1.0, 0.0], [0.0, 3.0]], [[2.0, 0.0], [1.0, 0.0]]))
    0.5
    """

    def __init__(self, name: str = "cosine_similarity", dtype: str | None = None, axis: int = -1):
        super().__init__(cosine_similarity, name=name, dtype=dtype, axis=axis)


class Hinge(MeanMetricWrapper):
    """The mean hinge loss, as Keras 3's ``metrics.Hinge``.

    Each sample's value is ``mean(max(1 - y_true * y_pred, 0), axis=-1)``, with labels
    in ``{-1, 1}`` (labels that are all 0 or 1 are mapped to ``{-1, 1}`` first) and
    raw scores ``y_pred`` of the same shape; ``result()`` is the (weighted) mean of
    the values seen.

    Args:
        name: the metric's name (default ``"hinge"``).
        dtype: as for ``Metric`` (default ``None``: floatx).

    >>> m = Hinge()
    >>> float(m([[1.0, 0.0]], [[0.5, -2.0]]))
    0.25
    """

    def __init__(self, name: str = "hinge", dtype: str | None = None):
        super().__init__(hinge, name=name, dtype=dtype)


class SquaredHinge(MeanMetricWrapper):
    """The mean squared hinge loss, as Keras 3's ``metrics.SquaredHinge``.

    Each sample's value is ``mean(square(max(1 - y_true * y_pred, 0)), axis=-1)``,
    with labels in ``{-1, 1}`` (labels that are all 0 or 1 are mapped to ``{-1, 1}``
    first) and raw scores ``y_pred`` of the same shape; ``result()`` is the
    (weighted) mean of the values seen.

    Args:
        name: the metric's name (default ``"squared_hinge"``).
        dtype: as for ``Metric`` (default ``None``: floatx).

    >>> m = SquaredHinge()
    >>> float(m([[1.0, 0.0]], [[0.5, -2.0]]))
    0.125
    """

    def __init__(self, name: str = "squared_hinge", dtype: str | None = None):
        super().__init__(squared_hinge, name=name, dtype=dtype)


class CategoricalHinge(MeanMetricWrapper):
    """The mean multi-class hinge loss, as Keras 3's ``metrics.CategoricalHinge``.

    Each sample's value is ``max(neg - pos + 1, 0)``, with ``pos`` the score of the
    class that one-hot ``y_true`` marks and ``neg`` the highest score of the other
    classes (last axis); ``result()`` is the (weighted) mean of the values seen.
    ``y_true`` and ``y_pred`` have shape ``(batch, ..., classes)``.

    Args:
        name: the metric's name (default ``"categorical_hinge"``).
        dtype: as for ``Metric`` (default ``None``: floatx).

    >>> m = CategoricalHinge()
    >>> float(m([[0.0, 1.0, 0.0]], [[0.5, 1.0, 0.25]]))
    0.5
    """

    def __init__(self, name: str = "categorical_hinge", dtype: str | None = None):
        super().__init__(categorical_hinge, name=name, dtype=dtype)


class KLDivergence(MeanMetricWrapper):
    """The mean Kullback-Leibler divergence, as Keras 3's ``metrics.KLDivergence``.

    Each sample's value is ``sum(y_true * log(y_true / y_pred), axis=-1)``, both
    clipped to ``[epsilon, 1]`` first; ``result()`` is the (weighted) mean of the
    values seen. ``y_true`` and ``y_pred`` hold distributions over the last axis,
    shape ``(batch, ..., classes)``.

    Args:
        name: the metric's name (default ``"kl_divergence"``).
        dtype: as for ``Metric`` (default ``None``: floatx).

    >>> m = KLDivergence()
    >>> round(float(m([[0.5, 0.5]], [[0.25, 0.75]])), 4)
    0.1438
    """

    def __init__(self, name: str = "kl_divergence", dtype: str | None = None):
        super().__init__(kl_divergence, name=name, dtype=dtype)


class Poisson(MeanMetricWrapper):
    """The mean Poisson loss, as Keras 3's ``metrics.Poisson``.

    Each sample's value is ``mean(y_pred - y_true * log(y_pred + 1e-7), axis=-1)``,
    for counts ``y_true`` and positive rates ``y_pred`` of one shape
    ``(batch, ..., d)``; ``result()`` is the (weighted) mean of the values seen.

    Args:
        name: the metric's name (default ``"poisson"``).
        dtype: as for ``Metric`` (default ``None``: floatx).

    >>> m = Poisson()
    >>> round(float(m([[0.0, 2.0]], [[1.0, 1.0]])), 5)
    1.0
    """

    def __init__(self, name: str = "poisson", dtype: str | None = None):
        super().__init__(poisson, name=name, dtype=dtype)


class BinaryCrossentropy(MeanMetricWrapper):
    """The mean binary cross-entropy, as Keras 3's ``metrics.BinaryCrossentropy``.

    Each sample's value is ``nerve.losses.binary_crossentropy``: the mean over the
    last axis of ``-(t * log(p) + (1 - t) * log(1 - p))``, ``p`` clipped to
    ``[epsilon, 1 - epsilon]``; ``result()`` is the (weighted) mean of the values
    seen. ``y_true`` holds 0/1 (or soft) labels of ``y_pred``'s shape
    ``(batch, ..., d)``.

    Args:
        name: the metric's name (default ``"binary_crossentropy"``).
        dtype: as for ``Metric`` (default ``None``: floatx).
        from_logits: ``y_pred`` holds logits rather than probabilities (default
            ``False``).
        label_smoothing: a float in ``[0, 1]`` (default 0) squeezing the labels
            towards 0.5: ``t * (1 - label_smoothing) + 0.5 * label_smoothing``.

    >>> m = BinaryCrossentropy(from_logits=True)
    >>> round(float(m([[0.0, 1.0]], [[0.0, 0.0]])), 5)
    0.69315
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
    """The mean categorical cross-entropy with one-hot labels, as Keras 3's
    ``metrics.CategoricalCrossentropy``.

    Each sample's value is ``nerve.losses.categorical_crossentropy``:
    ``-sum(y_true * log(p), axis=axis)``, ``p`` the predictions renormalised and
    clipped (or a log-softmax of logits); ``result()`` is the (weighted) mean of the
    values seen. ``y_true`` and ``y_pred`` share a shape, classes on ``axis``.

    Args:
        name: the metric's name (default ``"categorical_crossentropy"``).
        dtype: as for ``Metric`` (default ``None``: floatx).
        from_logits: ``y_pred`` holds logits rather than probabilities (default
            ``False``).
        label_smoothing: a float in ``[0, 1]`` (default 0) mixing the labels with the
            uniform distribution: ``y_true * (1 - label_smoothing) +
            label_smoothing / classes``.
        axis: the class axis (default -1).

    >>> m = CategoricalCrossentropy()
    >>> round(float(m([[0.0, 1.0], [1.0, 0.0]], [[0.5, 0.5], [0.5, 0.5]])), 5)
    0.69315
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
    """The mean categorical cross-entropy with integer labels, as Keras 3's
    ``metrics.SparseCategoricalCrossentropy``.

    Each entry's value is ``-log(p[y_true])``
    (``nerve.losses.sparse_categorical_crossentropy``); ``result()`` is the
    (weighted) mean of the values seen. ``y_pred`` has the classes on ``axis``;
    ``y_true`` holds one integer label in ``[0, classes)`` per prediction (``y_pred``'s
    shape without ``axis``, or with a trailing 1 there).

    Args:
        name: the metric's name (default ``"sparse_categorical_crossentropy"``).
        dtype: as for ``Metric`` (default ``None``: floatx).
        from_logits: ``y_pred`` holds logits rather than probabilities (default
            ``False``).
        ignore_class: ``None`` (default) or a label whose entries contribute 0; as
            in Keras's metric (unlike the loss), they still count in the mean's
            denominator.
        axis: the class axis (default -1).

    >>> m = SparseCategoricalCrossentropy()
    >>> round(float(m([1, 0], [[0.5, 0.5], [0.5, 0.5]])), 5)
    0.69315
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
