"""Confusion-matrix metrics at one or more decision thresholds: true/false
positives/negatives, ``Precision``, ``Recall`` and ``AUC``.

Every update compares the predictions with all thresholds at once (a
``(num_thresholds, num_values)`` comparison) and adds the weighted counts to the
state, so it is branch-free and traces like any other op.
"""

from __future__ import annotations

from typing import Any

from nerve import ops
from nerve.core import config
from nerve.core.errors import ShapeError, with_location
from nerve.metrics.base import Metric, divide_no_nan, squeeze_or_expand_to_same_rank
from nerve.tensor import Tensor

#: Predictions outside the top k are pushed below any threshold (Keras uses the same value).
_NEG_INF = -1e10
_KINDS = ("tp", "fp", "tn", "fn")


def _thresholds_list(thresholds: Any, default: float, metric: str) -> tuple[list[float], bool]:
    """The thresholds as a list, and whether the user gave a single one (or none)."""
    if thresholds is None:
        return [default], True
    single = not isinstance(thresholds, (list, tuple))
    values = [float(thresholds)] if single else [float(t) for t in thresholds]
    if not values or any(not 0.0 <= t <= 1.0 for t in values):
        raise ValueError(
            f"{metric}: thresholds must be in [0, 1] (and at least one), got {thresholds!r}."
        )
    return values, single


def _filter_top_k(y_pred: Tensor, k: int) -> Tensor:
    """Keep each row's ``k`` largest predictions (ties: the ones ``ops.top_k`` picks);
    push the rest below every threshold."""
    indices = ops.top_k(y_pred, k)[1]
    in_top_k = ops.sum(ops.one_hot(indices, y_pred.shape[-1], dtype=y_pred.dtype), axis=-2)
    return ops.where(ops.greater(in_top_k, 0), y_pred, _NEG_INF)


def update_confusion_counts(
    metric: str,
    counts: dict,
    y_true: Any,
    y_pred: Any,
    thresholds: list[float],
    dtype: str,
    top_k: int | None = None,
    class_id: int | None = None,
    sample_weight: Any = None,
    multi_label: bool = False,
    label_weights: Any = None,
) -> None:
    """Add weighted confusion counts at every threshold to ``counts`` (``{"tp": var, ...}``).

    A value is a predicted positive when ``y_pred > threshold`` and a true positive when
    also ``y_true > 0``. Without ``multi_label`` every entry is one more sample and the
    counts have shape ``(num_thresholds,)``; with it, the last axis holds labels that are
    counted separately, giving ``(num_thresholds, num_labels)``.
    """
    y_true = ops.cast(ops.convert_to_tensor(y_true), dtype)
    y_pred = ops.cast(ops.convert_to_tensor(y_pred), dtype)
    y_pred, y_true = squeeze_or_expand_to_same_rank(y_pred, y_true)
    if y_true.shape != y_pred.shape:
        raise ShapeError(
            with_location(
                f"{metric}: y_true has shape {y_true.shape} but y_pred has shape {y_pred.shape}; "
                "expected the same shape."
            )
        )
    weights = None
    if sample_weight is not None:
        weights = ops.cast(ops.convert_to_tensor(sample_weight), dtype)
        y_pred, weights = squeeze_or_expand_to_same_rank(y_pred, weights)
        if 0 < weights.ndim < y_pred.ndim and weights.shape == y_pred.shape[: weights.ndim]:
            # One weight per sample for multi-column predictions (Keras would refuse this).
            weights = ops.reshape(weights, weights.shape + (1,) * (y_pred.ndim - weights.ndim))
        try:
            weights = ops.broadcast_to(weights, y_pred.shape)
        except Exception:
            raise ShapeError(
                with_location(
                    f"{metric}: sample_weight of shape {weights.shape} does not broadcast to "
                    f"the predictions' shape {y_pred.shape}."
                )
            ) from None
    if top_k is not None:
        y_pred = _filter_top_k(y_pred, top_k)
    if class_id is not None:
        # Keep the class axis (size 1) so the weights slice the same way.
        y_true = y_true[..., class_id : class_id + 1]
        y_pred = y_pred[..., class_id : class_id + 1]
        if weights is not None:
            weights = weights[..., class_id : class_id + 1]
    if not multi_label and label_weights is not None:
        # Without multi_label, label weights are just more per-entry weights.
        label_weights = ops.cast(ops.convert_to_tensor(label_weights), dtype)
        weights = label_weights if weights is None else weights * label_weights
        weights = ops.broadcast_to(weights, y_pred.shape)

    shape: tuple[int, ...]
    if multi_label:
        num_labels = y_pred.shape[-1]
        shape = (1, -1, num_labels)  # (threshold, sample, label)
    else:
        shape = (1, -1)  # (threshold, value)
    labels = ops.reshape(ops.greater(y_true, 0), shape)
    preds = ops.reshape(y_pred, shape)
    thresh = ops.reshape(
        ops.convert_to_tensor(thresholds, dtype=dtype), (-1,) + (1,) * (len(shape) - 1)
    )
    predicted_pos = ops.greater(preds, thresh)
    indicators = {
        "tp": ops.logical_and(labels, predicted_pos),
        "fp": ops.logical_and(ops.logical_not(labels), predicted_pos),
        "tn": ops.logical_and(ops.logical_not(labels), ops.logical_not(predicted_pos)),
        "fn": ops.logical_and(labels, ops.logical_not(predicted_pos)),
    }
    for kind, variable in counts.items():
        hits = ops.cast(indicators[kind], dtype)
        if weights is not None:
            hits = hits * ops.reshape(weights, shape)
        variable.assign_add(ops.sum(hits, axis=1))


class _ConfusionMatrixCount(Metric):
    """One confusion count (``kind``) at each threshold."""

    _kind = "tp"

    def __init__(self, thresholds: Any = None, name: str | None = None, dtype: str | None = None):
        super().__init__(name=name, dtype=dtype)
        self.init_thresholds = thresholds
        self.thresholds, self._single = _thresholds_list(thresholds, 0.5, type(self).__name__)
        self.accumulator = self.add_variable((len(self.thresholds),), name="accumulator")

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        update_confusion_counts(
            type(self).__name__,
            {self._kind: self.accumulator},
            y_true,
            y_pred,
            self.thresholds,
            self.dtype,
            sample_weight=sample_weight,
        )

    def result(self) -> Tensor:
        value = self.accumulator.value
        return value[0] if self._single else value

    def get_config(self) -> dict:
        return {**super().get_config(), "thresholds": self.init_thresholds}


class TruePositives(_ConfusionMatrixCount):
    """The (weighted) number of true positives, as Keras 3's
    ``metrics.TruePositives``.

    An entry is a true positive where ``y_true > 0`` (a positive label) and
    ``y_pred > threshold`` (a positive prediction); each adds its ``sample_weight``
    (default 1). ``y_true`` and ``y_pred`` have one shape (up to a trailing axis of
    size 1) and every entry counts, whatever the shape. ``result()`` is the count, a
    scalar for a single threshold or one count per threshold for a list.

    Args:
        thresholds: a float in ``[0, 1]`` or a list of them (default ``None``: 0.5).
        name: the metric's name (default ``None``: ``"true_positives"``).
        dtype: as for ``Metric`` (default ``None``: floatx).

    >>> m = TruePositives()
    >>> float(m([0, 1, 1, 1], [1, 0, 1, 1]))
    2.0
    >>> TruePositives(thresholds=[0.25, 0.75])([0, 1, 1], [0.5, 0.5, 0.9]).numpy().tolist()
    [2.0, 1.0]
    """

    _kind = "tp"


class FalsePositives(_ConfusionMatrixCount):
    """The (weighted) number of false positives, as Keras 3's
    ``metrics.FalsePositives``.

    An entry is a false positive where ``y_true <= 0`` (a negative label) but
    ``y_pred > threshold``; each adds its ``sample_weight`` (default 1). ``y_true`` and
    ``y_pred`` have one shape (up to a trailing axis of size 1); ``result()`` is a
    scalar for a single threshold or one count per threshold for a list.

    Args:
        thresholds: a float in ``[0, 1]`` or a list of them (default ``None``: 0.5).
        name: the metric's name (default ``None``: ``"false_positives"``).
        dtype: as for ``Metric`` (default ``None``: floatx).

    >>> m = FalsePositives()
    >>> float(m([0, 1, 0, 0], [0, 0, 1, 1]))
    2.0
    """

    _kind = "fp"


class TrueNegatives(_ConfusionMatrixCount):
    """The (weighted) number of true negatives, as Keras 3's
    ``metrics.TrueNegatives``.

    An entry is a true negative where ``y_true <= 0`` and ``y_pred <= threshold``;
    each adds its ``sample_weight`` (default 1). ``y_true`` and ``y_pred`` have one
    shape (up to a trailing axis of size 1); ``result()`` is a scalar for a single
    threshold or one count per threshold for a list.

    Args:
        thresholds: a float in ``[0, 1]`` or a list of them (default ``None``: 0.5).
        name: the metric's name (default ``None``: ``"true_negatives"``).
        dtype: as for ``Metric`` (default ``None``: floatx).

    >>> m = TrueNegatives()
    >>> float(m([0, 1, 0, 0], [1, 1, 0, 0]))
    2.0
    """

    _kind = "tn"


class FalseNegatives(_ConfusionMatrixCount):
    """The (weighted) number of false negatives, as Keras 3's
    ``metrics.FalseNegatives``.

    An entry is a false negative where ``y_true > 0`` but ``y_pred <= threshold``;
    each adds its ``sample_weight`` (default 1). ``y_true`` and ``y_pred`` have one
    shape (up to a trailing axis of size 1); ``result()`` is a scalar for a single
    threshold or one count per threshold for a list.

    Args:
        thresholds: a float in ``[0, 1]`` or a list of them (default ``None``: 0.5).
        name: the metric's name (default ``None``: ``"false_negatives"``).
        dtype: as for ``Metric`` (default ``None``: floatx).

    >>> m = FalseNegatives()
    >>> float(m([0, 1, 1, 1], [0, 1, 0, 0]))
    2.0
    """

    _kind = "fn"


class _PrecisionRecall(Metric):
    """Shared state and options of ``Precision`` and ``Recall``."""

    _second = "fp"

    def __init__(
        self,
        thresholds: Any = None,
        top_k: int | None = None,
        class_id: int | None = None,
        name: str | None = None,
        dtype: str | None = None,
    ):
        super().__init__(name=name, dtype=dtype)
        metric = type(self).__name__
        if top_k is not None and (not isinstance(top_k, int) or top_k < 1):
            raise ValueError(f"{metric}: top_k must be a positive integer, got {top_k!r}.")
        self.init_thresholds = thresholds
        self.top_k = top_k
        self.class_id = class_id
        # With top_k and no thresholds, Keras counts every top-k prediction as positive.
        default = _NEG_INF if top_k is not None else 0.5
        if thresholds is None:
            self.thresholds, self._single = [default], True
        else:
            self.thresholds, self._single = _thresholds_list(thresholds, default, metric)
        size = (len(self.thresholds),)
        self.true_positives = self.add_variable(size, name="true_positives")
        other = "false_positives" if self._second == "fp" else "false_negatives"
        self._other = self.add_variable(size, name=other)
        setattr(self, other, self._other)

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        update_confusion_counts(
            type(self).__name__,
            {"tp": self.true_positives, self._second: self._other},
            y_true,
            y_pred,
            self.thresholds,
            self.dtype,
            top_k=self.top_k,
            class_id=self.class_id,
            sample_weight=sample_weight,
        )

    def result(self) -> Tensor:
        tp = self.true_positives.value
        value = divide_no_nan(tp, tp + self._other.value)
        return value[0] if self._single else value

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "thresholds": self.init_thresholds,
            "top_k": self.top_k,
            "class_id": self.class_id,
        }


class Precision(_PrecisionRecall):
    """The fraction of positive predictions that are right, ``tp / (tp + fp)``, as
    Keras 3's ``metrics.Precision`` (0 while nothing was predicted positive).

    True and false positives are counted as in ``TruePositives`` and
    ``FalsePositives``: labels ``y_true > 0`` are positive, predictions
    ``y_pred > threshold`` are, and each entry weighs its ``sample_weight``. ``y_true``
    and ``y_pred`` have one shape, classes (if any) on the last axis. ``result()`` is
    a scalar for a single threshold, or one precision per threshold for a list.

    Args:
        thresholds: a float in ``[0, 1]`` or a list of them (default ``None``: 0.5,
            or, with ``top_k``, every top-k prediction counts as positive).
        top_k: ``None`` (default) or an int >= 1: only each row's ``k`` highest
            predictions (over the last axis) can be positive.
        class_id: ``None`` (default) or an int: look only at that class (an index
            on the last axis), giving that class's precision.
        name: the metric's name (default ``None``: ``"precision"``).
        dtype: as for ``Metric`` (default ``None``: floatx).

    >>> m = Precision()
    >>> round(float(m([0, 1, 1, 1], [1, 0, 1, 1])), 5)
    0.66667
    >>> top_1 = Precision(top_k=1)
    >>> float(top_1([[0, 1, 1], [1, 0, 0]], [[0.2, 0.5, 0.3], [0.1, 0.6, 0.3]]))
    0.5
    """

    _second = "fp"


class Recall(_PrecisionRecall):
    """The fraction of positive labels that are found, ``tp / (tp + fn)``, as Keras
    3's ``metrics.Recall`` (0 while there were no positive labels).

    True positives and false negatives are counted as in ``TruePositives`` and
    ``FalseNegatives``: labels ``y_true > 0`` are positive, predictions
    ``y_pred > threshold`` are, and each entry weighs its ``sample_weight``. ``y_true``
    and ``y_pred`` have one shape, classes (if any) on the last axis. ``result()`` is
    a scalar for a single threshold, or one recall per threshold for a list.

    Args:
        thresholds: a float in ``[0, 1]`` or a list of them (default ``None``: 0.5,
            or, with ``top_k``, every top-k prediction counts as positive).
        top_k: ``None`` (default) or an int >= 1: only each row's ``k`` highest
            predictions (over the last axis) can be positive.
        class_id: ``None`` (default) or an int: look only at that class (an index
            on the last axis), giving that class's recall.
        name: the metric's name (default ``None``: ``"recall"``).
        dtype: as for ``Metric`` (default ``None``: floatx).

    >>> m = Recall()
    >>> round(float(m([0, 1, 1, 1], [1, 0, 1, 1])), 5)
    0.66667
    >>> round(float(Recall(thresholds=[0.5, 0.9])([1, 1], [0.6, 0.95])[1]), 5)
    0.5
    """

    _second = "fn"


class AUC(Metric):
    """The area under the ROC curve or the precision-recall curve, as Keras 3's
    ``metrics.AUC``: how well the predictions rank positives above negatives, over
    every threshold at once.

    Confusion counts (as in ``TruePositives`` etc., weighted by ``sample_weight``)
    accumulate at ``num_thresholds`` thresholds evenly spaced over ``[0, 1]`` (the two
    ends moved out by epsilon, so predictions of exactly 0 and 1 fall inside).
    ``result()`` turns them into points of the curve (ROC: false-positive rate
    against recall; PR: recall against precision) and sums the area by
    ``summation_method``. ``y_true`` holds 0/1 labels and ``y_pred`` probabilities
    (or logits with ``from_logits``), of one shape; without ``multi_label`` every
    entry counts as one more example. More thresholds give a finer approximation.

    Args:
        num_thresholds: how many thresholds, an int > 1 (default 200); ignored when
            ``thresholds`` is given.
        curve: ``"ROC"`` (default) or ``"PR"`` (precision-recall).
        summation_method: ``"interpolation"`` (default: trapezoids for ROC; for PR
            the interpolation of Davis and Goadrich, which follows how precision
            really changes between thresholds), ``"minoring"`` (each piece's lower
            height) or ``"majoring"`` (its upper height).
        name: the metric's name (default ``None``: ``"auc"``).
        dtype: as for ``Metric`` (default ``None``: floatx).
        thresholds: ``None`` (default) or a list of floats in ``[0, 1]`` to use instead
            of evenly spaced ones (the two end thresholds are added).
        multi_label: ``y_pred``'s last axis holds independent labels: one curve per
            label, and the result is their mean (default ``False``: every entry
            feeds one curve).
        num_labels: with ``multi_label``, the number of labels, to create the state
            at once (default ``None``: taken from the first batch).
        label_weights: ``None`` (default) or one non-negative weight per label: with
            ``multi_label``, the weights of the labels' areas in the mean; without it,
            extra weights of the entries of each label (class) column.
        from_logits: ``y_pred`` holds logits; a sigmoid is applied first (default
            ``False``).

    >>> m = AUC(num_thresholds=3)
    >>> float(m([0, 0, 1, 1], [0, 0.5, 0.3, 0.9]))
    0.75
    >>> pr = AUC(curve="PR", num_thresholds=11)
    >>> round(float(pr([0, 1], [0.2, 0.8])), 4)
    1.0
    """

    def __init__(
        self,
        num_thresholds: int = 200,
        curve: str = "ROC",
        summation_method: str = "interpolation",
        name: str | None = None,
        dtype: str | None = None,
        thresholds: Any = None,
        multi_label: bool = False,
        num_labels: int | None = None,
        label_weights: Any = None,
        from_logits: bool = False,
    ):
        super().__init__(name=name, dtype=dtype)
        if str(curve).upper() not in ("ROC", "PR"):
            raise ValueError(f'AUC: curve must be "ROC" or "PR", got {curve!r}.')
        if str(summation_method).lower() not in ("interpolation", "minoring", "majoring"):
            raise ValueError(
                'AUC: summation_method must be "interpolation", "minoring" or "majoring", '
                f"got {summation_method!r}."
            )
        self.curve = str(curve).upper()
        self.summation_method = str(summation_method).lower()
        self.multi_label = bool(multi_label)
        self.num_labels = num_labels
        self.label_weights = None if label_weights is None else [float(w) for w in label_weights]
        self.from_logits = bool(from_logits)
        self._init_from_thresholds = thresholds is not None
        if thresholds is not None:
            inner, _ = _thresholds_list(list(thresholds), 0.5, "AUC")
            inner = sorted(inner)
            self.num_thresholds = len(inner) + 2
        else:
            if num_thresholds <= 1:
                raise ValueError(f"AUC: num_thresholds must be > 1, got {num_thresholds!r}.")
            self.num_thresholds = int(num_thresholds)
            inner = [(i + 1) / (self.num_thresholds - 1) for i in range(self.num_thresholds - 2)]
        epsilon = config.epsilon()
        self.thresholds = [0.0 - epsilon, *inner, 1.0 + epsilon]
        self._built = False
        if not self.multi_label or num_labels is not None:
            self._build(num_labels)

    def _build(self, num_labels: int | None) -> None:
        shape = (
            (self.num_thresholds,) if not self.multi_label else (self.num_thresholds, num_labels)
        )
        self.num_labels = num_labels
        self.true_positives = self.add_variable(shape, name="true_positives")
        self.false_positives = self.add_variable(shape, name="false_positives")
        self.true_negatives = self.add_variable(shape, name="true_negatives")
        self.false_negatives = self.add_variable(shape, name="false_negatives")
        self._built = True

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        y_pred = ops.convert_to_tensor(y_pred)
        if self.multi_label and not self._built:
            if y_pred.ndim < 2:
                raise ShapeError(
                    with_location(
                        f"AUC(multi_label=True): y_pred has shape {y_pred.shape}; expected "
                        "(batch_size, num_labels)."
                    )
                )
            self._build(y_pred.shape[-1])
        if self.from_logits:
            y_pred = ops.sigmoid(ops.cast(y_pred, self.dtype))
        update_confusion_counts(
            "AUC",
            {
                "tp": self.true_positives,
                "fp": self.false_positives,
                "tn": self.true_negatives,
                "fn": self.false_negatives,
            },
            y_true,
            y_pred,
            self.thresholds,
            self.dtype,
            sample_weight=sample_weight,
            multi_label=self.multi_label,
            label_weights=self.label_weights,
        )

    def result(self) -> Tensor:
        if not self._built:
            return ops.zeros((), dtype=self.dtype)
        tp = self.true_positives.value
        fp = self.false_positives.value
        tn = self.true_negatives.value
        fn = self.false_negatives.value
        if self.curve == "PR" and self.summation_method == "interpolation":
            return self._reduce_labels(_interpolated_pr_area(tp, fp, fn))
        recall = divide_no_nan(tp, tp + fn)
        if self.curve == "ROC":
            x = divide_no_nan(fp, fp + tn)  # false positive rate
            y = recall
        else:
            x = recall
            y = divide_no_nan(tp, tp + fp)  # precision
        # Thresholds increase along axis 0, so x decreases and x[:-1] - x[1:] >= 0.
        if self.summation_method == "interpolation":
            heights = (y[:-1] + y[1:]) / 2.0
        elif self.summation_method == "minoring":
            heights = ops.minimum(y[:-1], y[1:])
        else:
            heights = ops.maximum(y[:-1], y[1:])
        return self._reduce_labels((x[:-1] - x[1:]) * heights)

    def _reduce_labels(self, terms: Tensor) -> Tensor:
        """Sum the area pieces; with ``multi_label``, average the per-label areas."""
        if not self.multi_label:
            return ops.sum(terms)
        by_label = ops.sum(terms, axis=0)
        if self.label_weights is None:
            return ops.mean(by_label)
        weights = ops.convert_to_tensor(self.label_weights, dtype=self.dtype)
        return divide_no_nan(ops.sum(by_label * weights), ops.sum(weights))

    def get_config(self) -> dict:
        config_ = {
            **super().get_config(),
            "num_thresholds": self.num_thresholds,
            "curve": self.curve,
            "summation_method": self.summation_method,
            "multi_label": self.multi_label,
            "num_labels": self.num_labels,
            "label_weights": self.label_weights,
            "from_logits": self.from_logits,
        }
        if self._init_from_thresholds:
            config_["thresholds"] = self.thresholds[1:-1]
        return config_


def _interpolated_pr_area(tp: Tensor, fp: Tensor, fn: Tensor) -> Tensor:
    """Area pieces under the PR curve, interpolating precision between thresholds as
    Davis & Goadrich (2006) do: between two thresholds precision follows
    ``dtp / dp`` along the change in predicted positives ``p``, which integrates to a
    log term instead of a straight line."""
    dtp = tp[:-1] - tp[1:]
    p = tp + fp
    dp = p[:-1] - p[1:]
    slope = divide_no_nan(dtp, ops.maximum(dp, 0.0))
    intercept = tp[1:] - slope * p[1:]
    both_positive = ops.logical_and(ops.greater(p[:-1], 0), ops.greater(p[1:], 0))
    safe_ratio = ops.where(
        both_positive, divide_no_nan(p[:-1], ops.maximum(p[1:], 0.0)), ops.ones_like(p[1:])
    )
    return divide_no_nan(
        slope * (dtp + intercept * ops.log(safe_ratio)), ops.maximum(tp[1:] + fn[1:], 0.0)
    )


class _AtConstraint(Metric):
    """The best value of one rate among the thresholds where another rate is at least
    ``value``: the shared state and update of ``PrecisionAtRecall``,
    ``RecallAtPrecision``, ``SensitivityAtSpecificity`` and ``SpecificityAtSensitivity``.

    Subclasses name their constraint argument (``_constraint``) and say which rates
    they compare (``_constrained``, ``_maximized``: "precision", "recall" or
    "specificity"; recall is the sensitivity).
    """

    _constraint = "value"
    _constrained = "recall"
    _maximized = "precision"

    def __init__(
        self,
        value: float,
        num_thresholds: int = 200,
        class_id: int | None = None,
        name: str | None = None,
        dtype: str | None = None,
    ):
        kind, arg = type(self).__name__, self._constraint
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise ValueError(
                f"{kind}: `{arg}` must be in the range [0, 1]. Received: {arg}={value!r}"
            )
        if (
            isinstance(num_thresholds, bool)
            or not isinstance(num_thresholds, int)
            or num_thresholds < 1
        ):
            raise ValueError(
                f"{kind}: `num_thresholds` must be an integer > 0. "
                f"Received: num_thresholds={num_thresholds!r}"
            )
        super().__init__(name=name, dtype=dtype)
        setattr(self, arg, value)
        self.value = value
        self.num_thresholds = num_thresholds
        self.class_id = class_id
        if num_thresholds == 1:
            self.thresholds = [0.5]
        else:
            # As Keras: 0, then evenly spaced, then 1 (no epsilon shift, unlike AUC).
            inner = [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            self.thresholds = [0.0, *inner, 1.0]
        shape = (len(self.thresholds),)
        self.true_positives = self.add_variable(shape, name="true_positives")
        self.false_positives = self.add_variable(shape, name="false_positives")
        self.true_negatives = self.add_variable(shape, name="true_negatives")
        self.false_negatives = self.add_variable(shape, name="false_negatives")

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        update_confusion_counts(
            type(self).__name__,
            {
                "tp": self.true_positives,
                "fp": self.false_positives,
                "tn": self.true_negatives,
                "fn": self.false_negatives,
            },
            y_true,
            y_pred,
            self.thresholds,
            self.dtype,
            class_id=self.class_id,
            sample_weight=sample_weight,
        )

    def _rate(self, which: str) -> Tensor:
        tp, fp = self.true_positives.value, self.false_positives.value
        tn, fn = self.true_negatives.value, self.false_negatives.value
        if which == "precision":
            return divide_no_nan(tp, tp + fp)
        if which == "recall":
            return divide_no_nan(tp, tp + fn)
        return divide_no_nan(tn, tn + fp)

    def result(self) -> Tensor:
        feasible = ops.greater_equal(self._rate(self._constrained), self.value)
        # 0 when no threshold meets the constraint (Keras's max with initial=0).
        return ops.max(ops.where(feasible, self._rate(self._maximized), 0.0))

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            self._constraint: self.value,
            "num_thresholds": self.num_thresholds,
            "class_id": self.class_id,
        }


_AT_ARGS = """num_thresholds: how many thresholds the counts are kept at, an int > 0
            (default 200): 0, then evenly spaced, then 1; a single one is 0.5.
        class_id: ``None`` (default) or the index of the one column of ``y_pred``
            (and ``y_true``) that counts, for multi-class outputs.
        name: the metric's name (default ``None``: the class name in snake case).
        dtype: as for ``Metric`` (default ``None``: floatx)."""


class PrecisionAtRecall(_AtConstraint):
    """The best precision at a recall of at least ``recall``, as Keras 3's
    ``metrics.PrecisionAtRecall``: confusion counts (weighted by ``sample_weight``) are
    kept at ``num_thresholds`` thresholds, a prediction ``> threshold`` counting as
    positive, and ``result()`` is the largest precision among the thresholds whose
    recall reaches ``recall`` (0 if none does). ``y_true`` holds 0/1 labels, ``y_pred``
    probabilities of one shape.

    Args:
        recall: the recall to reach, in ``[0, 1]``.
        {args}

    >>> m = PrecisionAtRecall(recall=0.5, num_thresholds=5)
    >>> float(m([0, 0, 1, 1], [0.1, 0.6, 0.4, 0.9]))
    1.0
    """

    _constraint, _constrained, _maximized = "recall", "recall", "precision"

    def __init__(
        self,
        recall: float,
        num_thresholds: int = 200,
        class_id: int | None = None,
        name: str | None = None,
        dtype: str | None = None,
    ):
        super().__init__(recall, num_thresholds, class_id, name=name, dtype=dtype)


class RecallAtPrecision(_AtConstraint):
    """The best recall at a precision of at least ``precision``, as Keras 3's
    ``metrics.RecallAtPrecision``: confusion counts (weighted by ``sample_weight``) are
    kept at ``num_thresholds`` thresholds, a prediction ``> threshold`` counting as
    positive, and ``result()`` is the largest recall among the thresholds whose
    precision reaches ``precision`` (0 if none does).

    Args:
        precision: the precision to reach, in ``[0, 1]``.
        {args}

    >>> m = RecallAtPrecision(precision=1.0, num_thresholds=5)
    >>> float(m([0, 0, 1, 1], [0.1, 0.6, 0.4, 0.9]))
    0.5
    """

    _constraint, _constrained, _maximized = "precision", "precision", "recall"

    def __init__(
        self,
        precision: float,
        num_thresholds: int = 200,
        class_id: int | None = None,
        name: str | None = None,
        dtype: str | None = None,
    ):
        super().__init__(precision, num_thresholds, class_id, name=name, dtype=dtype)


class SensitivityAtSpecificity(_AtConstraint):
    """The best sensitivity (recall) at a specificity of at least ``specificity``, as
    Keras 3's ``metrics.SensitivityAtSpecificity``: confusion counts (weighted by
    ``sample_weight``) are kept at ``num_thresholds`` thresholds, a prediction
    ``> threshold`` counting as positive, and ``result()`` is the largest
    ``tp / (tp + fn)`` among the thresholds whose ``tn / (tn + fp)`` reaches
    ``specificity`` (0 if none does).

    Args:
        specificity: the specificity to reach, in ``[0, 1]``.
        {args}

    >>> m = SensitivityAtSpecificity(specificity=0.5, num_thresholds=5)
    >>> float(m([0, 0, 1, 1], [0.1, 0.6, 0.4, 0.9]))
    1.0
    """

    _constraint, _constrained, _maximized = "specificity", "specificity", "recall"

    def __init__(
        self,
        specificity: float,
        num_thresholds: int = 200,
        class_id: int | None = None,
        name: str | None = None,
        dtype: str | None = None,
    ):
        super().__init__(specificity, num_thresholds, class_id, name=name, dtype=dtype)


class SpecificityAtSensitivity(_AtConstraint):
    """The best specificity at a sensitivity (recall) of at least ``sensitivity``, as
    Keras 3's ``metrics.SpecificityAtSensitivity``: confusion counts (weighted by
    ``sample_weight``) are kept at ``num_thresholds`` thresholds, a prediction
    ``> threshold`` counting as positive, and ``result()`` is the largest
    ``tn / (tn + fp)`` among the thresholds whose ``tp / (tp + fn)`` reaches
    ``sensitivity`` (0 if none does).

    Args:
        sensitivity: the sensitivity to reach, in ``[0, 1]``.
        {args}

    >>> m = SpecificityAtSensitivity(sensitivity=1.0, num_thresholds=5)
    >>> float(m([0, 0, 1, 1], [0.1, 0.6, 0.4, 0.9]))
    0.5
    """

    _constraint, _constrained, _maximized = "sensitivity", "recall", "specificity"

    def __init__(
        self,
        sensitivity: float,
        num_thresholds: int = 200,
        class_id: int | None = None,
        name: str | None = None,
        dtype: str | None = None,
    ):
        super().__init__(sensitivity, num_thresholds, class_id, name=name, dtype=dtype)


for _cls in (
    PrecisionAtRecall,
    RecallAtPrecision,
    SensitivityAtSpecificity,
    SpecificityAtSensitivity,
):
    _cls.__doc__ = (_cls.__doc__ or "").replace("{args}", _AT_ARGS)


__all__ = [
    "AUC",
    "FalseNegatives",
    "FalsePositives",
    "Precision",
    "PrecisionAtRecall",
    "Recall",
    "RecallAtPrecision",
    "SensitivityAtSpecificity",
    "SpecificityAtSensitivity",
    "TrueNegatives",
    "TruePositives",
    "update_confusion_counts",
]
