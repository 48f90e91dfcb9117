"""Accuracy metrics: the fraction of predictions that match the labels.

Each metric is the running (weighted) mean of a per-sample function, also exported
on its own (``binary_accuracy`` etc., as in ``keras.metrics``).
"""

from __future__ import annotations

from typing import Any

from nerve import ops
from nerve.core import config
from nerve.core.errors import ShapeError, with_location
from nerve.losses import check_class_labels, takes_class_labels
from nerve.metrics.base import squeeze_or_expand_to_same_rank
from nerve.metrics.reduction import MeanMetricWrapper
from nerve.tensor import Tensor


def accuracy(y_true: Any, y_pred: Any) -> Tensor:
    """1.0 where ``y_pred`` equals ``y_true`` exactly, else 0.0."""
    y_true, y_pred = ops.convert_to_tensor(y_true), ops.convert_to_tensor(y_pred)
    y_pred, y_true = squeeze_or_expand_to_same_rank(y_pred, y_true)
    return ops.cast(ops.equal(y_true, y_pred), config.floatx())


def binary_accuracy(y_true: Any, y_pred: Any, threshold: float = 0.5) -> Tensor:
    """Per sample, the fraction of entries where ``y_pred > threshold`` matches ``y_true``.

    >>> binary_accuracy([[1.0], [0.0]], [[0.7], [0.6]]).numpy()
    array([1., 0.], dtype=float32)
    """
    y_true, y_pred = ops.convert_to_tensor(y_true), ops.convert_to_tensor(y_pred)
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    predicted = ops.cast(ops.greater(y_pred, threshold), y_true.dtype)
    return ops.mean(ops.cast(ops.equal(y_true, predicted), config.floatx()), axis=-1)


def categorical_accuracy(y_true: Any, y_pred: Any) -> Tensor:
    """1.0 where the arg-max of ``y_pred`` equals the arg-max of one-hot ``y_true``."""
    y_true, y_pred = ops.convert_to_tensor(y_true), ops.convert_to_tensor(y_pred)
    _check_last_dims("categorical_accuracy", y_true, y_pred)
    matches = ops.equal(ops.argmax(y_true, axis=-1), ops.argmax(y_pred, axis=-1))
    return ops.cast(matches, config.floatx())


@takes_class_labels
def sparse_categorical_accuracy(y_true: Any, y_pred: Any) -> Tensor:
    """1.0 where the arg-max of ``y_pred`` equals the integer label ``y_true``.

    >>> sparse_categorical_accuracy([2, 1], [[0.1, 0.2, 0.7], [0.5, 0.3, 0.2]]).numpy()
    array([1., 0.], dtype=float32)
    """
    y_true, y_pred = ops.convert_to_tensor(y_true), ops.convert_to_tensor(y_pred)
    y_true = _sparse_labels("sparse_categorical_accuracy", y_true, y_pred)
    predicted = ops.argmax(y_pred, axis=-1)
    return ops.cast(ops.equal(ops.cast(y_true, predicted.dtype), predicted), config.floatx())


def top_k_categorical_accuracy(y_true: Any, y_pred: Any, k: int = 5) -> Tensor:
    """1.0 where the one-hot label's class is among the ``k`` highest scores."""
    y_true, y_pred = ops.convert_to_tensor(y_true), ops.convert_to_tensor(y_pred)
    _check_last_dims("top_k_categorical_accuracy", y_true, y_pred)
    return _in_top_k(ops.argmax(y_true, axis=-1), y_pred, k)


@takes_class_labels
def sparse_top_k_categorical_accuracy(
    y_true: Any, y_pred: Any, k: int = 5, from_sorted_ids: bool = False
) -> Tensor:
    """1.0 where the integer label is among the ``k`` highest scores.

    With ``from_sorted_ids=True``, ``y_pred`` holds class ids sorted by score (e.g. from
    ``ops.top_k``) and the label only has to appear among its first ``k`` entries.

    >>> sparse_top_k_categorical_accuracy([2, 0], [[0.1, 0.5, 0.4], [0.1, 0.5, 0.4]], k=2).numpy()
    array([1., 0.], dtype=float32)
    """
    y_true, y_pred = ops.convert_to_tensor(y_true), ops.convert_to_tensor(y_pred)
    name = "sparse_top_k_categorical_accuracy"
    y_true = _sparse_labels(name, y_true, y_pred, check_values=not from_sorted_ids)
    if from_sorted_ids:
        ids = y_pred[..., :k]
        found = ops.any(ops.equal(ops.expand_dims(ops.cast(y_true, ids.dtype), -1), ids), axis=-1)
        return ops.cast(found, config.floatx())
    return _in_top_k(y_true, y_pred, k)


def _in_top_k(labels: Tensor, scores: Tensor, k: int) -> Tensor:
    """1.0 where fewer than ``k`` classes score strictly higher than the label's class.

    Ties at the boundary count as "in the top k", as TensorFlow's ``in_top_k`` (which
    Keras uses) does; this needs no sort, so it traces to a few elementwise ops.
    """
    num_classes = scores.shape[-1]
    onehot = ops.one_hot(ops.cast(labels, "int32"), num_classes, dtype=scores.dtype)
    label_score = ops.sum(scores * onehot, axis=-1, keepdims=True)
    higher = ops.sum(ops.cast(ops.greater(scores, label_score), "int32"), axis=-1)
    return ops.cast(ops.less(higher, k), config.floatx())


def _check_last_dims(name: str, y_true: Tensor, y_pred: Tensor) -> None:
    if y_true.ndim == 0 or y_pred.ndim == 0 or y_true.shape[-1] != y_pred.shape[-1]:
        raise ShapeError(
            with_location(
                f"{name}: y_true has shape {y_true.shape} and y_pred has shape {y_pred.shape}; "
                "expected one-hot labels with the same number of classes (last dimension) as "
                "the predictions. For integer labels use the sparse_* variant."
            )
        )


def _sparse_labels(name: str, y_true: Tensor, y_pred: Tensor, check_values: bool = True) -> Tensor:
    """Integer labels shaped like ``y_pred`` minus its class axis (``(n, 1)`` -> ``(n,)``)."""
    if y_true.ndim == y_pred.ndim and y_true.ndim > 0 and y_true.shape[-1] == 1:
        y_true = ops.squeeze(y_true, -1)
    if y_pred.ndim == 0 or y_true.shape != y_pred.shape[:-1]:
        raise ShapeError(
            with_location(
                f"{name}: y_true has shape {y_true.shape} and y_pred has shape {y_pred.shape}; "
                "expected integer labels of shape y_pred.shape[:-1] (class scores on the last "
                "axis). For one-hot labels use the non-sparse variant."
            )
        )
    if check_values:
        check_class_labels(name, y_true, y_pred.shape[-1])
    return y_true


class Accuracy(MeanMetricWrapper):
    """How often predictions equal labels exactly, as Keras 3's ``metrics.Accuracy``.

    Each entry scores 1 where ``y_pred == y_true`` and 0 elsewhere; ``result()`` is the
    (weighted) mean of the scores, averaged per sample first. ``y_true`` and
    ``y_pred`` have one shape (up to a trailing axis of size 1) and hold class ids or
    other exact values, not probabilities (use ``BinaryAccuracy`` or
    ``CategoricalAccuracy`` for those).

    Args:
        name: the metric's name (default ``"accuracy"``).
        dtype: as for ``Metric`` (default ``None``: floatx).

    >>> m = Accuracy()
    >>> float(m([[1], [2], [3], [4]], [[0], [2], [3], [4]]))
    0.75
    """

    def __init__(self, name: str = "accuracy", dtype: str | None = None):
        super().__init__(accuracy, name=name, dtype=dtype)


class BinaryAccuracy(MeanMetricWrapper):
    """How often thresholded predictions match binary labels, as Keras 3's
    ``metrics.BinaryAccuracy``.

    An entry counts as predicted positive where ``y_pred > threshold``, and scores 1
    where that matches the 0/1 label ``y_true``; each sample's score is the mean over
    its last axis and ``result()`` the (weighted) mean over samples. ``y_true`` and
    ``y_pred`` share a shape ``(batch, ..., d)`` (up to a trailing axis of size 1).

    Args:
        name: the metric's name (default ``"binary_accuracy"``).
        dtype: as for ``Metric`` (default ``None``: floatx).
        threshold: the decision threshold on ``y_pred`` (default 0.5; use 0.0 for
            logits).

    >>> m = BinaryAccuracy()
    >>> float(m([[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]]))
    0.75
    """

    def __init__(
        self, name: str = "binary_accuracy", dtype: str | None = None, threshold: float = 0.5
    ):
        super().__init__(binary_accuracy, name=name, dtype=dtype, threshold=threshold)


class CategoricalAccuracy(MeanMetricWrapper):
    """How often the highest-scoring class is the labelled one, for one-hot labels,
    as Keras 3's ``metrics.CategoricalAccuracy``.

    A sample scores 1 where ``argmax(y_pred, -1) == argmax(y_true, -1)``;
    ``result()`` is the (weighted) mean. ``y_true`` is one-hot and ``y_pred`` holds
    scores, probabilities or logits, both of shape ``(batch, ..., classes)``. For
    integer labels use ``SparseCategoricalAccuracy``.

    Args:
        name: the metric's name (default ``"categorical_accuracy"``).
        dtype: as for ``Metric`` (default ``None``: floatx).

    >>> m = CategoricalAccuracy()
    >>> float(m([[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]]))
    0.5
    """

    def __init__(self, name: str = "categorical_accuracy", dtype: str | None = None):
        super().__init__(categorical_accuracy, name=name, dtype=dtype)


class SparseCategoricalAccuracy(MeanMetricWrapper):
    """How often the highest-scoring class is the labelled one, for integer labels,
    as Keras 3's ``metrics.SparseCategoricalAccuracy``.

    A sample scores 1 where ``argmax(y_pred, -1) == y_true``; ``result()`` is the
    (weighted) mean. ``y_pred`` has shape ``(batch, ..., classes)``; ``y_true`` holds
    one integer label in ``[0, classes)`` per prediction, shape ``(batch, ...)`` (a
    trailing axis of size 1 is allowed); labels outside that range are an error when
    the values are known.

    Args:
        name: the metric's name (default ``"sparse_categorical_accuracy"``).
        dtype: as for ``Metric`` (default ``None``: floatx).

    >>> m = SparseCategoricalAccuracy()
    >>> float(m([[2], [1]], [[0.1, 0.6, 0.3], [0.05, 0.95, 0]]))
    0.5
    """

    def __init__(self, name: str = "sparse_categorical_accuracy", dtype: str | None = None):
        super().__init__(sparse_categorical_accuracy, name=name, dtype=dtype)


class TopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the labelled class is among the ``k`` highest scores, for one-hot
    labels, as Keras 3's ``metrics.TopKCategoricalAccuracy``.

    A sample scores 1 where fewer than ``k`` classes score strictly higher than the
    class that ``y_true`` marks (so ties at the boundary count as a hit);
    ``result()`` is the (weighted) mean. ``y_true`` is one-hot and ``y_pred`` holds
    scores, both of shape ``(batch, classes)``.

    Args:
        k: how many of the top scores count (default 5).
        name: the metric's name (default ``"top_k_categorical_accuracy"``).
        dtype: as for ``Metric`` (default ``None``: floatx).

    >>> m = TopKCategoricalAccuracy(k=1)
    >>> float(m([[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]]))
    0.5
    """

    def __init__(
        self, k: int = 5, name: str = "top_k_categorical_accuracy", dtype: str | None = None
    ):
        super().__init__(top_k_categorical_accuracy, name=name, dtype=dtype, k=int(k))


class SparseTopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the integer label is among the ``k`` highest scores, as Keras 3's
    ``metrics.SparseTopKCategoricalAccuracy``.

    A sample scores 1 where fewer than ``k`` classes score strictly higher than the
    labelled class (ties at the boundary count as a hit); ``result()`` is the
    (weighted) mean. ``y_pred`` holds scores of shape ``(batch, classes)`` and
    ``y_true`` one integer label per sample, shape ``(batch,)`` or ``(batch, 1)``.

    Args:
        k: how many of the top scores count (default 5).
        name: the metric's name (default ``"sparse_top_k_categorical_accuracy"``).
        dtype: as for ``Metric`` (default ``None``: floatx).
        from_sorted_ids: ``y_pred`` already holds class ids sorted by decreasing
            score (e.g. the indices from ``ops.top_k``) rather than one score per
            class; a sample then scores 1 where its label is among the first ``k``
            ids (default ``False``).

    >>> m = SparseTopKCategoricalAccuracy(k=1)
    >>> float(m([2, 1], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]]))
    0.5
    >>> sorted_ids = SparseTopKCategoricalAccuracy(k=2, from_sorted_ids=True)
    >>> float(sorted_ids([2, 1], [[1, 2, 0], [0, 2, 1]]))
    0.5
    """

    def __init__(
        self,
        k: int = 5,
        name: str = "sparse_top_k_categorical_accuracy",
        dtype: str | None = None,
        from_sorted_ids: bool = False,
    ):
        super().__init__(
            sparse_top_k_categorical_accuracy,
            name=name,
            dtype=dtype,
            k=int(k),
            from_sorted_ids=bool(from_sorted_ids),
        )


__all__ = [
    "Accuracy",
    "BinaryAccuracy",
    "CategoricalAccuracy",
    "SparseCategoricalAccuracy",
    "SparseTopKCategoricalAccuracy",
    "TopKCategoricalAccuracy",
    "accuracy",
    "binary_accuracy",
    "categorical_accuracy",
    "sparse_categorical_accuracy",
    "sparse_top_k_categorical_accuracy",
    "top_k_categorical_accuracy",
]
