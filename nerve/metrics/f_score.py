"""``FBetaScore`` and ``F1Score``: the harmonic-style mean of precision and recall,
per class or averaged, for multi-class / multi-label predictions of shape
``(batch_size, num_classes)``."""

from __future__ import annotations

from typing import Any

from nerve import ops
from nerve.core import config
from nerve.core.errors import ShapeError, with_location
from nerve.metrics.base import Metric
from nerve.tensor import Tensor

_AVERAGES = (None, "micro", "macro", "weighted")


class FBetaScore(Metric):
    """The F-beta score, as Keras 3's ``metrics.FBetaScore``: a mean of precision and
    recall in which recall weighs ``beta`` times as much as precision.

    ``score = (1 + beta**2) * precision * recall / (beta**2 * precision + recall)``,
    per class from (weighted) true positive, false positive and false negative
    counts accumulated over batches; as in Keras, precision, recall and the score
    each add ``epsilon`` to their denominators. ``y_true`` holds one-hot or
    multi-hot labels and ``y_pred`` scores, both of shape ``(batch, classes)``;
    ``sample_weight`` is one weight per sample (or per entry). ``result()`` has one
    score per class, or a scalar with an ``average``.

    Args:
        average: ``None`` (default: one score per class), ``"micro"`` (pool the
            counts of all classes, then one score), ``"macro"`` (the unweighted mean
            of the per-class scores) or ``"weighted"`` (their mean weighted by each
            class's (weighted) number of true labels).
        beta: how many times more recall counts than precision, a number > 0
            (default 1.0: the F1 score).
        threshold: a float in ``(0, 1]``: predictions above it are positive (default
            ``None``: only each row's highest prediction is, unless it is 0).
        name: the metric's name (default ``"fbeta_score"``).
        dtype: as for ``Metric`` (default ``None``: floatx).

    >>> m = FBetaScore(beta=2.0, threshold=0.5)
    >>> m.update_state([[1, 1, 1], [1, 0, 0], [1, 1, 0]],
    ...                [[0.2, 0.6, 0.7], [0.2, 0.6, 0.6], [0.6, 0.8, 0.0]])
    >>> [round(float(v), 4) for v in m.result()]
    [0.3846, 0.9091, 0.8333]
    """

    def __init__(
        self,
        average: str | None = None,
        beta: float = 1.0,
        threshold: float | None = None,
        name: str = "fbeta_score",
        dtype: str | None = None,
    ):
        super().__init__(name=name, dtype=dtype)
        metric = type(self).__name__
        if average not in _AVERAGES:
            raise ValueError(
                f"{metric}: average must be one of None, 'micro', 'macro', 'weighted'; "
                f"got {average!r}."
            )
        if isinstance(beta, bool) or not isinstance(beta, (int, float)) or beta <= 0.0:
            raise ValueError(f"{metric}: beta must be a number > 0, got {beta!r}.")
        if threshold is not None and (
            isinstance(threshold, bool)
            or not isinstance(threshold, (int, float))
            or not 0.0 < threshold <= 1.0
        ):
            raise ValueError(f"{metric}: threshold must be a number in (0, 1], got {threshold!r}.")
        self.average = average
        self.beta = float(beta)
        self.threshold = None if threshold is None else float(threshold)
        self._built = False

    def _build(self, y_true_shape: tuple, y_pred_shape: tuple) -> None:
        metric = type(self).__name__
        if len(y_pred_shape) != 2 or len(y_true_shape) != 2:
            raise ShapeError(
                with_location(
                    f"{metric}: y_true has shape {y_true_shape} and y_pred has shape "
                    f"{y_pred_shape}; expected 2D inputs of shape (batch_size, num_classes)."
                )
            )
        if y_true_shape[-1] != y_pred_shape[-1]:
            raise ShapeError(
                with_location(
                    f"{metric}: y_true has {y_true_shape[-1]} classes but y_pred has "
                    f"{y_pred_shape[-1]} (shapes {y_true_shape} and {y_pred_shape}); "
                    "expected one-hot/multi-hot labels shaped like the predictions."
                )
            )
        num_classes = y_pred_shape[-1]
        self.num_classes = num_classes
        self.true_positives = self.add_variable((num_classes,), name="true_positives")
        self.false_positives = self.add_variable((num_classes,), name="false_positives")
        self.false_negatives = self.add_variable((num_classes,), name="false_negatives")
        self.intermediate_weights = self.add_variable((num_classes,), name="intermediate_weights")
        self._built = True

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        y_true = ops.cast(ops.convert_to_tensor(y_true), self.dtype)
        y_pred = ops.cast(ops.convert_to_tensor(y_pred), self.dtype)
        if not self._built:
            self._build(y_true.shape, y_pred.shape)
        elif y_pred.shape[1:] != (self.num_classes,) or y_true.shape != y_pred.shape:
            raise ShapeError(
                with_location(
                    f"{type(self).__name__}: got y_true {y_true.shape} and y_pred {y_pred.shape}; "
                    f"expected both (batch_size, {self.num_classes}) as in earlier updates."
                )
            )
        if self.threshold is None:
            # Only the row maximum is positive, but an all-zero row stays all negative.
            row_max = ops.max(y_pred, axis=-1, keepdims=True)
            positive = ops.logical_and(
                ops.greater_equal(y_pred, row_max), ops.greater(ops.abs(y_pred), 1e-9)
            )
        else:
            positive = ops.greater(y_pred, self.threshold)
        y_pred = ops.cast(positive, self.dtype)
        weights = None
        if sample_weight is not None:
            weights = ops.cast(ops.convert_to_tensor(sample_weight), self.dtype)
            if weights.ndim == 1:
                weights = ops.expand_dims(weights, 1)

        def weighted_sum(values: Tensor) -> Tensor:
            if weights is not None:
                values = values * weights
            return ops.sum(values, axis=0)

        self.true_positives.assign_add(weighted_sum(y_pred * y_true))
        self.false_positives.assign_add(weighted_sum(y_pred * (1.0 - y_true)))
        self.false_negatives.assign_add(weighted_sum((1.0 - y_pred) * y_true))
        self.intermediate_weights.assign_add(weighted_sum(y_true))

    def result(self) -> Tensor:
        if not self._built:
            return ops.zeros((), dtype=self.dtype)
        tp = self.true_positives.value
        fp = self.false_positives.value
        fn = self.false_negatives.value
        if self.average == "micro":
            tp, fp, fn = ops.sum(tp), ops.sum(fp), ops.sum(fn)
        epsilon = config.epsilon()
        precision = tp / (tp + fp + epsilon)
        recall = tp / (tp + fn + epsilon)
        beta2 = self.beta**2
        score = (1.0 + beta2) * precision * recall / (beta2 * precision + recall + epsilon)
        if self.average == "weighted":
            support = self.intermediate_weights.value
            return ops.sum(score * support / (ops.sum(support) + epsilon))
        if self.average is not None:  # micro (already a scalar) or macro
            return ops.mean(score)
        return score

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "average": self.average,
            "beta": self.beta,
            "threshold": self.threshold,
        }


class F1Score(FBetaScore):
    """The F1 score, the harmonic mean of precision and recall, as Keras 3's
    ``metrics.F1Score``: ``FBetaScore`` with ``beta=1``, i.e.
    ``2 * precision * recall / (precision + recall)``.

    ``y_true`` holds one-hot or multi-hot labels and ``y_pred`` scores, both of shape
    ``(batch, classes)``; ``result()`` has one score per class, or a scalar with an
    ``average``.

    Args:
        average: ``None`` (default: one score per class), ``"micro"``, ``"macro"`` or
            ``"weighted"``, as for ``FBetaScore``.
        threshold: a float in ``(0, 1]``: predictions above it are positive (default
            ``None``: only each row's highest prediction is, unless it is 0).
        name: the metric's name (default ``"f1_score"``).
        dtype: as for ``Metric`` (default ``None``: floatx).

    >>> m = F1Score(threshold=0.5)
    >>> m.update_state([[1, 1, 1], [1, 0, 0], [1, 1, 0]],
    ...                [[0.2, 0.6, 0.7], [0.2, 0.6, 0.6], [0.6, 0.8, 0.0]])
    >>> [round(float(v), 4) for v in m.result()]
    [0.5, 0.8, 0.6667]
    >>> round(float(F1Score(average="micro", threshold=0.5)(
    ...     [[1, 0], [0, 1]], [[0.9, 0.8], [0.1, 0.2]])), 4)
    0.5
    """

    def __init__(
        self,
        average: str | None = None,
        threshold: float | None = None,
        name: str = "f1_score",
        dtype: str | None = None,
    ):
        super().__init__(average=average, beta=1.0, threshold=threshold, name=name, dtype=dtype)

    def get_config(self) -> dict:
        config_ = super().get_config()
        del config_["beta"]
        return config_


__all__ = ["F1Score", "FBetaScore"]
