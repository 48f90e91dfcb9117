"""Regression metrics (``MeanSquaredError``, ``RootMeanSquaredError``,
``MeanAbsoluteError``, ``R2Score``, ``PearsonCorrelation``, ``ConcordanceCorrelation``)
and the segmentation metrics of the ``IoU`` family (``MeanIoU``, ``IoU``, ``BinaryIoU``,
``OneHotIoU``, ``OneHotMeanIoU``)."""

from __future__ import annotations

from typing import Any

from nerve import ops
from nerve.core import config
from nerve.core.errors import ShapeError, with_location
from nerve.metrics.base import Metric, divide_no_nan, squeeze_or_expand_to_same_rank
from nerve.metrics.reduction import Mean, MeanMetricWrapper
from nerve.tensor import Tensor


def mean_squared_error(y_true: Any, y_pred: Any) -> Tensor:
    """``mean((y_true - y_pred) ** 2)`` over the last axis.

    >>> mean_squared_error([[0.0, 1.0]], [[1.0, 1.0]]).numpy()
    array([0.5], dtype=float32)
    """
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.cast(ops.convert_to_tensor(y_true), y_pred.dtype)
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    return ops.mean(ops.square(y_true - y_pred), axis=-1)


def mean_absolute_error(y_true: Any, y_pred: Any) -> Tensor:
    """``mean(abs(y_true - y_pred))`` over the last axis."""
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.cast(ops.convert_to_tensor(y_true), y_pred.dtype)
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    return ops.mean(ops.abs(y_true - y_pred), axis=-1)


class MeanSquaredError(MeanMetricWrapper):
    """The mean squared error, as Keras 3's ``metrics.MeanSquaredError``.

    Each sample's value is ``mean(square(y_true - y_pred), axis=-1)``; ``result()`` is
    the (weighted) mean of the values seen. ``y_true`` and ``y_pred`` share a shape
    ``(batch, ..., d)`` (up to a trailing axis of size 1).

    Args:
        name: the metric's name (default ``"mean_squared_error"``).
        dtype: as for ``Metric`` (default ``None``: floatx).

    >>> m = MeanSquaredError()
    >>> float(m([[0, 1], [0, 0]], [[1, 1], [0, 0]]))
    0.25
    """

    def __init__(self, name: str = "mean_squared_error", dtype: str | None = None):
        super().__init__(mean_squared_error, name=name, dtype=dtype)


class MeanAbsoluteError(MeanMetricWrapper):
    """The mean absolute error, as Keras 3's ``metrics.MeanAbsoluteError``.

    Each sample's value is ``mean(abs(y_true - y_pred), axis=-1)``; ``result()`` is the
    (weighted) mean of the values seen. ``y_true`` and ``y_pred`` share a shape
    ``(batch, ..., d)`` (up to a trailing axis of size 1).

    Args:
        name: the metric's name (default ``"mean_absolute_error"``).
        dtype: as for ``Metric`` (default ``None``: floatx).

    >>> m = MeanAbsoluteError()
    >>> float(m([[0, 1], [0, 0]], [[1, 1], [0, 0]]))
    0.25
    """

    def __init__(self, name: str = "mean_absolute_error", dtype: str | None = None):
        super().__init__(mean_absolute_error, name=name, dtype=dtype)


class RootMeanSquaredError(Mean):
    """The root mean squared error, as Keras 3's ``metrics.RootMeanSquaredError``:
    ``sqrt`` of the (weighted) mean of ``square(y_pred - y_true)`` over every sample
    seen (the root is taken of the running mean, not averaged per batch).

    ``y_true`` and ``y_pred`` share a shape ``(batch, ...)`` (up to a trailing axis of
    size 1); the squared errors are averaged per sample, then over samples.

    Args:
        name: the metric's name (default ``"root_mean_squared_error"``).
        dtype: as for ``Metric`` (default ``None``: floatx).

    >>> m = RootMeanSquaredError()
    >>> float(m([[0, 1], [0, 0]], [[1, 1], [0, 0]]))
    0.5
    """

    def __init__(self, name: str = "root_mean_squared_error", dtype: str | None = None):
        super().__init__(name=name, dtype=dtype)

    # Keras's API: a Mean whose update_state takes (y_true, y_pred) rather than values.
    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:  # type: ignore[override]
        y_true = ops.cast(ops.convert_to_tensor(y_true), self.dtype)
        y_pred = ops.cast(ops.convert_to_tensor(y_pred), self.dtype)
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        super().update_state(ops.square(y_pred - y_true), sample_weight=sample_weight)

    def result(self) -> Tensor:
        return ops.sqrt(divide_no_nan(self.total.value, self.count.value))


class R2Score(Metric):
    """The coefficient of determination, ``R2 = 1 - SS_res / SS_tot``, as Keras 3's
    ``metrics.R2Score``: 1 for perfect predictions, 0 for predicting the mean of
    ``y_true``, negative for worse.

    Per output column, ``SS_res`` is the (weighted) sum of ``(y_true - y_pred)**2``
    and ``SS_tot`` the (weighted) sum of ``(y_true - mean(y_true))**2``, both over
    every sample seen; a column whose ``SS_tot`` is 0 scores 0. ``y_true`` and
    ``y_pred`` have shape ``(batch, outputs)``, the same in every update;
    ``sample_weight`` is one weight per sample or per entry.

    Args:
        class_aggregation: how the per-column scores combine: ``"uniform_average"``
            (default: their mean), ``"variance_weighted_average"`` (their mean
            weighted by each column's ``SS_tot``) or ``None`` (one score per column).
        num_regressors: the number of independent variables ``p`` of the model, an
            int >= 0 (default 0). When > 0 the result is the adjusted R2,
            ``1 - (1 - R2) * (n - 1) / (n - p - 1)`` with ``n`` the number of entries
            of ``y_true`` seen (as Keras counts); it stays the plain R2 while
            ``n - p - 1 <= 0``.
        name: the metric's name (default ``"r2_score"``).
        dtype: as for ``Metric`` (default ``None``: floatx).

    >>> m = R2Score()
    >>> round(float(m([[1.0], [4.0], [3.0]], [[2.0], [4.0], [4.0]])), 6)
    0.571429
    """

    _CLASS_AGGREGATIONS = (None, "uniform_average", "variance_weighted_average")

    def __init__(
        self,
        class_aggregation: str | None = "uniform_average",
        num_regressors: int = 0,
        name: str = "r2_score",
        dtype: str | None = None,
    ):
        super().__init__(name=name, dtype=dtype)
        if class_aggregation not in self._CLASS_AGGREGATIONS:
            raise ValueError(
                "R2Score: class_aggregation must be one of None, 'uniform_average', "
                f"'variance_weighted_average'; got {class_aggregation!r}."
            )
        if num_regressors < 0:
            raise ValueError(f"R2Score: num_regressors must be >= 0, got {num_regressors!r}.")
        self.class_aggregation = class_aggregation
        self.num_regressors = int(num_regressors)
        self.num_samples = self.add_variable((), name="num_samples")
        self._built = False

    def _build(self, y_true_shape: tuple, y_pred_shape: tuple) -> None:
        if len(y_pred_shape) != 2 or len(y_true_shape) != 2 or y_true_shape != y_pred_shape:
            raise ShapeError(
                with_location(
                    f"R2Score: y_true has shape {y_true_shape} and y_pred has shape "
                    f"{y_pred_shape}; expected equal 2D shapes (batch_size, output_dim)."
                )
            )
        num_outputs = y_pred_shape[-1]
        self.squared_sum = self.add_variable((num_outputs,), name="squared_sum")
        self.sum = self.add_variable((num_outputs,), name="sum")
        self.total_mse = self.add_variable((num_outputs,), name="residual")
        self.count = self.add_variable((num_outputs,), name="count")
        self._built = True

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        y_true = ops.cast(ops.convert_to_tensor(y_true), self.dtype)
        y_pred = ops.cast(ops.convert_to_tensor(y_pred), self.dtype)
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        if not self._built:
            self._build(y_true.shape, y_pred.shape)
        elif y_true.shape[1:] != self.sum.shape or y_pred.shape != y_true.shape:
            raise ShapeError(
                with_location(
                    f"R2Score: got y_true {y_true.shape} and y_pred {y_pred.shape}; expected "
                    f"both (batch_size, {self.sum.shape[0]}) as in earlier updates."
                )
            )
        weights = ops.cast(
            ops.convert_to_tensor(1.0 if sample_weight is None else sample_weight), self.dtype
        )
        if weights.ndim == 1:
            weights = ops.expand_dims(weights, 1)  # one weight per row
        weights = ops.broadcast_to(weights, y_true.shape)
        weighted_y_true = y_true * weights
        self.sum.assign_add(ops.sum(weighted_y_true, axis=0))
        self.squared_sum.assign_add(ops.sum(y_true * weighted_y_true, axis=0))
        self.total_mse.assign_add(ops.sum(ops.square(y_true - y_pred) * weights, axis=0))
        self.count.assign_add(ops.sum(weights, axis=0))
        self.num_samples.assign_add(float(y_true.size))

    def result(self) -> Tensor:
        if not self._built:
            return ops.zeros((), dtype=self.dtype)
        total_sum = self.sum.value
        mean = divide_no_nan(total_sum, self.count.value)
        total = self.squared_sum.value - total_sum * mean  # SS_tot per column
        # A constant column has SS_tot = 0; Keras turns its infinite score into 0.
        raw_scores = ops.where(
            ops.equal(total, 0.0), 0.0, 1.0 - divide_no_nan(self.total_mse.value, total)
        )
        if self.class_aggregation == "uniform_average":
            score = ops.mean(raw_scores)
        elif self.class_aggregation == "variance_weighted_average":
            score = divide_no_nan(ops.sum(total * raw_scores), ops.sum(total))
        else:
            score = raw_scores
        if self.num_regressors != 0:
            n = self.num_samples.value
            p = float(self.num_regressors)
            denominator = n - p - 1.0
            adjusted = 1.0 - divide_no_nan((1.0 - score) * (n - 1.0), denominator)
            score = ops.where(ops.greater(denominator, 0.0), adjusted, score)
        return score

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "class_aggregation": self.class_aggregation,
            "num_regressors": self.num_regressors,
        }


class MeanIoU(Metric):
    """The mean intersection-over-union, as Keras 3's ``metrics.MeanIoU``: the usual
    score of semantic segmentation.

    A confusion matrix (rows: true class, columns: predicted class) accumulates the
    (weighted) counts of every entry; per class
    ``IoU = tp / (tp + fp + fn)``, and ``result()`` is the mean over the classes that
    occurred in labels or predictions. ``y_true`` and ``y_pred`` hold class ids of
    one shape (any shape: every entry counts), or, with ``sparse_y_true=False`` /
    ``sparse_y_pred=False``, scores whose arg-max along ``axis`` is the class id.
    Ids outside ``[0, num_classes)`` count nowhere.

    Args:
        num_classes: the number of classes, an int >= 1.
        name: the metric's name (default ``None``: ``"mean_io_u"``).
        dtype: as for ``Metric`` (default ``None``: floatx).
        ignore_class: ``None`` (default) or a class id whose labelled entries are
            skipped (e.g. a "void" or padding class).
        sparse_y_true: ``y_true`` holds class ids (default ``True``); ``False``: one
            score (or one-hot value) per class on ``axis``.
        sparse_y_pred: ``y_pred`` holds class ids (default ``True``); ``False``: one
            score per class on ``axis``.
        axis: the class axis of non-sparse inputs (default -1).

    >>> m = MeanIoU(num_classes=2)
    >>> round(float(m([0, 0, 1, 1], [0, 1, 0, 1])), 4)
    0.3333
    >>> scores = MeanIoU(num_classes=2, sparse_y_pred=False)
    >>> float(scores([0, 1], [[0.8, 0.2], [0.3, 0.7]]))
    1.0
    """

    def __init__(
        self,
        num_classes: int,
        name: str | None = None,
        dtype: str | None = None,
        ignore_class: int | None = None,
        sparse_y_true: bool = True,
        sparse_y_pred: bool = True,
        axis: int = -1,
    ):
        super().__init__(name=name, dtype=dtype)
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"MeanIoU: num_classes must be a positive int, got {num_classes!r}.")
        self.num_classes = num_classes
        self.ignore_class = ignore_class
        self.sparse_y_true = bool(sparse_y_true)
        self.sparse_y_pred = bool(sparse_y_pred)
        self.axis = int(axis)
        self.total_cm = self.add_variable((num_classes, num_classes), name="total_confusion_matrix")

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        y_true = ops.convert_to_tensor(y_true)
        y_pred = ops.convert_to_tensor(y_pred)
        if not self.sparse_y_true:
            y_true = ops.argmax(y_true, axis=self.axis)
        if not self.sparse_y_pred:
            y_pred = ops.argmax(y_pred, axis=self.axis)
        if y_true.shape != y_pred.shape:
            raise ShapeError(
                with_location(
                    f"MeanIoU: y_true has shape {y_true.shape} and y_pred has shape "
                    f"{y_pred.shape} (after arg-max of non-sparse inputs); expected one "
                    "predicted class id per label."
                )
            )
        if sample_weight is None:
            weights = ops.ones(y_true.shape, dtype=self.dtype)
        else:
            weights = ops.cast(ops.convert_to_tensor(sample_weight), self.dtype)
            weights = ops.broadcast_to(weights, y_true.shape)
        y_true = ops.reshape(ops.cast(y_true, "int32"), (-1,))
        y_pred = ops.reshape(ops.cast(y_pred, "int32"), (-1,))
        weights = ops.reshape(weights, (-1,))
        if self.ignore_class is not None:
            weights = ops.where(ops.equal(y_true, self.ignore_class), 0.0, weights)
        # Confusion matrix as onehot(true)^T @ (weights * onehot(pred)): no scatter needed,
        # and out-of-range ids simply count nowhere (one_hot gives a zero row).
        true_onehot = ops.one_hot(y_true, self.num_classes, dtype=self.dtype)
        pred_onehot = ops.one_hot(y_pred, self.num_classes, dtype=self.dtype)
        weighted = pred_onehot * ops.expand_dims(weights, -1)
        self.total_cm.assign_add(ops.matmul(ops.transpose(true_onehot), weighted))

    def _class_ious(self) -> tuple[Tensor, Tensor]:
        """Each class's IoU, and whether the class occurred (its denominator is not 0)."""
        cm = self.total_cm.value
        predicted = ops.sum(cm, axis=0)
        actual = ops.sum(cm, axis=1)
        true_positives = ops.diagonal(cm)
        denominator = predicted + actual - true_positives
        valid = ops.cast(ops.not_equal(denominator, 0.0), self.dtype)
        return divide_no_nan(true_positives, denominator), valid

    def result(self) -> Tensor:
        iou, valid = self._class_ious()
        return divide_no_nan(ops.sum(iou), ops.sum(valid))

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "num_classes": self.num_classes,
            "ignore_class": self.ignore_class,
            "sparse_y_true": self.sparse_y_true,
            "sparse_y_pred": self.sparse_y_pred,
            "axis": self.axis,
        }


def _check_class_ids(metric: str, ids: Any, num_classes: int) -> list[int]:
    ids = list(ids)
    if not ids or any(isinstance(i, bool) or not isinstance(i, int) for i in ids):
        raise ValueError(
            f"{metric}: target_class_ids must be a non-empty list of ints; got {ids!r}."
        )
    if min(ids) < 0 or max(ids) >= num_classes:
        raise ValueError(
            f"{metric}: target class ids must lie in [0, {num_classes}) (num_classes="
            f"{num_classes}); got {ids!r}."
        )
    return ids


class IoU(MeanIoU):
    """The intersection-over-union of chosen classes, as Keras 3's ``metrics.IoU``: the
    mean of ``tp / (tp + fp + fn)`` over ``target_class_ids`` (those that occurred), from
    the same weighted confusion matrix as ``MeanIoU``; one id gives that class's IoU.

    Args:
        num_classes: the number of classes, an int >= 1.
        target_class_ids: a list (or tuple) of the class ids to average over.
        name: the metric's name (default ``None``: ``"io_u"``).
        dtype: as for ``Metric`` (default ``None``: floatx).
        ignore_class: ``None`` (default) or a class id whose labelled entries are skipped.
        sparse_y_true: ``y_true`` holds class ids (default ``True``); ``False``: scores
            whose arg-max along ``axis`` is the class id.
        sparse_y_pred: the same for ``y_pred`` (default ``True``).
        axis: the class axis of non-sparse inputs (default -1).

    >>> m = IoU(num_classes=2, target_class_ids=[0])
    >>> round(float(m([0, 0, 1, 1], [0, 1, 0, 0])), 4)  # class 0: 1 / (2 + 3 - 1)
    0.25
    """

    def __init__(
        self,
        num_classes: int,
        target_class_ids: Any,
        name: str | None = None,
        dtype: str | None = None,
        ignore_class: int | None = None,
        sparse_y_true: bool = True,
        sparse_y_pred: bool = True,
        axis: int = -1,
    ):
        super().__init__(
            num_classes,
            name=name,
            dtype=dtype,
            ignore_class=ignore_class,
            sparse_y_true=sparse_y_true,
            sparse_y_pred=sparse_y_pred,
            axis=axis,
        )
        self.target_class_ids = _check_class_ids(type(self).__name__, target_class_ids, num_classes)

    def result(self) -> Tensor:
        iou, valid = self._class_ious()
        ids = ops.convert_to_tensor(self.target_class_ids, dtype="int32")
        return divide_no_nan(ops.sum(ops.take(iou, ids)), ops.sum(ops.take(valid, ids)))

    def get_config(self) -> dict:
        return {**super().get_config(), "target_class_ids": self.target_class_ids}


class BinaryIoU(IoU):
    """The IoU of binary predictions, as Keras 3's ``metrics.BinaryIoU``: ``y_pred``
    scores become class 1 where ``>= threshold`` and class 0 elsewhere, ``y_true`` holds
    0/1 labels, and the result is ``IoU`` over ``target_class_ids`` of the two classes.

    Args:
        target_class_ids: ``[0]``, ``[1]`` or ``[0, 1]`` (default ``(0, 1)``: the mean of
            both classes' IoU).
        threshold: the score from which a prediction is class 1 (default 0.5).
        name: the metric's name (default ``None``: ``"binary_io_u"``).
        dtype: as for ``Metric`` (default ``None``: floatx).

    >>> m = BinaryIoU(target_class_ids=[1], threshold=0.3)
    >>> round(float(m([0, 1, 0, 1], [0.1, 0.2, 0.4, 0.9])), 4)  # 1 / (2 + 2 - 1)
    0.3333
    """

    def __init__(
        self,
        target_class_ids: Any = (0, 1),
        threshold: float = 0.5,
        name: str | None = None,
        dtype: str | None = None,
    ):
        super().__init__(2, target_class_ids, name=name, dtype=dtype)
        self.threshold = threshold

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        y_pred = ops.convert_to_tensor(y_pred)
        y_pred = ops.cast(ops.greater_equal(y_pred, self.threshold), "int32")
        super().update_state(y_true, y_pred, sample_weight=sample_weight)

    def get_config(self) -> dict:
        return {
            "name": self.name,
            "dtype": self.dtype,
            "target_class_ids": self.target_class_ids,
            "threshold": self.threshold,
        }


def _without_sparse_y_true(config: dict) -> dict:
    return {k: v for k, v in config.items() if k != "sparse_y_true"}


class OneHotIoU(IoU):
    """``IoU`` for one-hot labels, as Keras 3's ``metrics.OneHotIoU``: ``y_true`` holds
    one-hot (or score) vectors along ``axis`` whose arg-max is the class id; ``y_pred``
    scores too unless ``sparse_y_pred``.

    Args:
        num_classes: the number of classes, an int >= 1.
        target_class_ids: a list (or tuple) of the class ids to average over.
        name: the metric's name (default ``None``: ``"one_hot_io_u"``).
        dtype: as for ``Metric`` (default ``None``: floatx).
        ignore_class: ``None`` (default) or a class id whose labelled entries are skipped.
        sparse_y_pred: ``y_pred`` holds class ids (default ``False``: scores on ``axis``).
        axis: the class axis (default -1).

    >>> m = OneHotIoU(num_classes=3, target_class_ids=[2])
    >>> float(m([[0, 0, 1], [1, 0, 0]], [[0.2, 0.1, 0.7], [0.1, 0.2, 0.7]]))
    0.5
    """

    def __init__(
        self,
        num_classes: int,
        target_class_ids: Any,
        name: str | None = None,
        dtype: str | None = None,
        ignore_class: int | None = None,
        sparse_y_pred: bool = False,
        axis: int = -1,
    ):
        super().__init__(
            num_classes,
            target_class_ids,
            name=name,
            dtype=dtype,
            ignore_class=ignore_class,
            sparse_y_true=False,
            sparse_y_pred=sparse_y_pred,
            axis=axis,
        )

    def get_config(self) -> dict:
        return _without_sparse_y_true(super().get_config())


class OneHotMeanIoU(MeanIoU):
    """``MeanIoU`` for one-hot labels, as Keras 3's ``metrics.OneHotMeanIoU``: ``y_true``
    holds one-hot (or score) vectors along ``axis``; ``y_pred`` scores too unless
    ``sparse_y_pred``.

    Args:
        num_classes: the number of classes, an int >= 1.
        name: the metric's name (default ``None``: ``"one_hot_mean_io_u"``).
        dtype: as for ``Metric`` (default ``None``: floatx).
        ignore_class: ``None`` (default) or a class id whose labelled entries are skipped.
        sparse_y_pred: ``y_pred`` holds class ids (default ``False``: scores on ``axis``).
        axis: the class axis (default -1).

    >>> m = OneHotMeanIoU(num_classes=3)
    >>> float(m([[0, 0, 1], [1, 0, 0]], [[0.2, 0.1, 0.7], [0.1, 0.2, 0.7]]))  # (0 + 0.5) / 2
    0.25
    """

    def __init__(
        self,
        num_classes: int,
        name: str | None = None,
        dtype: str | None = None,
        ignore_class: int | None = None,
        sparse_y_pred: bool = False,
        axis: int = -1,
    ):
        super().__init__(
            num_classes,
            name=name,
            dtype=dtype,
            ignore_class=ignore_class,
            sparse_y_true=False,
            sparse_y_pred=sparse_y_pred,
            axis=axis,
        )

    def get_config(self) -> dict:
        return _without_sparse_y_true(super().get_config())


def _standardized(x: Tensor, axis: int) -> Tensor:
    centred = x - ops.mean(x, axis=axis, keepdims=True)
    return centred / ops.std(centred, axis=axis, keepdims=True)


def pearson_correlation(y_true: Any, y_pred: Any, axis: int = -1) -> Tensor:
    """Pearson's correlation coefficient of ``y_true`` and ``y_pred`` along ``axis``
    (default -1: one coefficient per sample, over its features): the mean product of the
    two after each is centred and divided by its (population) standard deviation.

    >>> from nerve import metrics
    >>> metrics.pearson_correlation([[1.0, 2.0, 3.0]], [[2.0, 4.0, 7.0]]).numpy().round(4)
    array([0.9934], dtype=float32)
    """
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.cast(ops.convert_to_tensor(y_true), y_pred.dtype)
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    return ops.mean(_standardized(y_true, axis) * _standardized(y_pred, axis), axis=axis)


def concordance_correlation(y_true: Any, y_pred: Any, axis: int = -1) -> Tensor:
    """Lin's concordance correlation coefficient along ``axis`` (default -1): ``2 * cov /
    (var_true + var_pred + (mean_true - mean_pred)**2 + epsilon)`` with population
    (co)variances; 1 only when ``y_pred`` equals ``y_true``, unlike Pearson's, which any
    increasing linear map of ``y_true`` reaches.

    >>> from nerve import metrics
    >>> metrics.concordance_correlation([[1.0, 2.0, 3.0]], [[2.0, 4.0, 6.0]]).numpy().round(4)
    array([0.3636], dtype=float32)
    """
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.cast(ops.convert_to_tensor(y_true), y_pred.dtype)
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    true_mean = ops.mean(y_true, axis=axis, keepdims=True)
    pred_mean = ops.mean(y_pred, axis=axis, keepdims=True)
    covariance = ops.mean((y_true - true_mean) * (y_pred - pred_mean), axis=axis, keepdims=True)
    norm = (
        ops.var(y_true, axis=axis, keepdims=True)
        + ops.var(y_pred, axis=axis, keepdims=True)
        + ops.square(true_mean - pred_mean)
    )
    return ops.squeeze(2.0 * covariance / (norm + config.epsilon()), axis)


class PearsonCorrelation(MeanMetricWrapper):
    """The mean of Pearson's correlation coefficients, as Keras 3's
    ``metrics.PearsonCorrelation``: each sample's coefficient along ``axis`` (see
    ``pearson_correlation``), averaged (weighted) over every sample seen.

    Args:
        name: the metric's name (default ``"pearson_correlation"``).
        dtype: as for ``Metric`` (default ``None``: floatx).
        axis: the axis the coefficient runs along (default -1).

    >>> m = PearsonCorrelation()
    >>> round(float(m([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]], [[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]])), 4)
    0.0
    """

    def __init__(self, name: str = "pearson_correlation", dtype: str | None = None, axis: int = -1):
        super().__init__(pearson_correlation, name=name, dtype=dtype, axis=axis)
        self.axis = axis


class ConcordanceCorrelation(MeanMetricWrapper):
    """The mean of Lin's concordance correlation coefficients, as Keras 3's
    ``metrics.ConcordanceCorrelation``: each sample's coefficient along ``axis`` (see
    ``concordance_correlation``), averaged (weighted) over every sample seen.

    Args:
        name: the metric's name (default ``"concordance_correlation"``).
        dtype: as for ``Metric`` (default ``None``: floatx).
        axis: the axis the coefficient runs along (default -1).

    >>> m = ConcordanceCorrelation()
    >>> round(float(m([[1.0, 2.0, 3.0]], [[1.0, 2.0, 3.0]])), 4)
    1.0
    """

    def __init__(
        self, name: str = "concordance_correlation", dtype: str | None = None, axis: int = -1
    ):
        super().__init__(concordance_correlation, name=name, dtype=dtype, axis=axis)
        self.axis = axis


__all__ = [
    "BinaryIoU",
    "ConcordanceCorrelation",
    "IoU",
    "MeanAbsoluteError",
    "MeanIoU",
    "MeanSquaredError",
    "OneHotIoU",
    "OneHotMeanIoU",
    "PearsonCorrelation",
    "R2Score",
    "RootMeanSquaredError",
    "concordance_correlation",
    "mean_absolute_error",
    "mean_squared_error",
    "pearson_correlation",
]
