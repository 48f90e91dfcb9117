"""Confusion-count metrics, Precision/Recall and AUC against NumPy references; the
at-a-constraint metrics (PrecisionAtRecall...) against Keras 3 itself."""

import numpy as np
import pytest

from nerve import metrics
from nerve.core.errors import ShapeError

rng = np.random.default_rng(1)
EPSILON = 1e-7


def split(*arrays, sizes=(7, 9, 4)):
    out, start = [], 0
    for size in sizes:
        out.append(tuple(None if a is None else a[start : start + size] for a in arrays))
        start += size
    return out


def counts(y_true, y_pred, thresholds, weights=None):
    """Reference tp, fp, tn, fn at each threshold, by explicit loops over thresholds."""
    weights = np.ones_like(y_pred) if weights is None else np.broadcast_to(weights, y_pred.shape)
    y_true, y_pred, weights = y_true.ravel() > 0, y_pred.ravel(), weights.ravel()
    out = {k: [] for k in ("tp", "fp", "tn", "fn")}
    for t in thresholds:
        positive = y_pred > t
        out["tp"].append(np.sum(weights * (y_true & positive)))
        out["fp"].append(np.sum(weights * (~y_true & positive)))
        out["tn"].append(np.sum(weights * (~y_true & ~positive)))
        out["fn"].append(np.sum(weights * (y_true & ~positive)))
    return {k: np.array(v) for k, v in out.items()}


def data(n=20, shape=()):
    y_true = rng.integers(0, 2, size=(n, *shape)).astype(np.float32)
    y_pred = rng.uniform(size=(n, *shape)).astype(np.float32)
    weights = rng.uniform(0.5, 2.0, size=n).astype(np.float32)
    return y_true, y_pred, weights


@pytest.mark.parametrize(
    "cls,kind",
    [
        (metrics.TruePositives, "tp"),
        (metrics.FalsePositives, "fp"),
        (metrics.TrueNegatives, "tn"),
        (metrics.FalseNegatives, "fn"),
    ],
)
def test_confusion_counts(check_metric, cls, kind):
    y_true, y_pred, weights = data()
    expected = counts(y_true, y_pred, [0.5], weights[:, None] if y_true.ndim > 1 else weights)
    check_metric(cls, split(y_true, y_pred, weights), expected[kind][0])
    thresholds = [0.2, 0.5, 0.9]
    many = counts(y_true, y_pred, thresholds)
    check_metric(lambda: cls(thresholds=thresholds), split(y_true, y_pred, None), many[kind])


@pytest.mark.parametrize("cls", [metrics.Precision, metrics.Recall])
def test_precision_recall_thresholds_and_weights(check_metric, cls):
    y_true, y_pred, weights = data(shape=(3,))
    thresholds = [0.0, 0.3, 0.75]
    c = counts(y_true, y_pred, thresholds, weights[:, None])
    other = c["fp"] if cls is metrics.Precision else c["fn"]
    expected = c["tp"] / (c["tp"] + other)
    check_metric(lambda: cls(thresholds=thresholds), split(y_true, y_pred, weights), expected)
    c = counts(y_true, y_pred, [0.5])
    other = c["fp"] if cls is metrics.Precision else c["fn"]
    check_metric(cls, split(y_true, y_pred, None), (c["tp"] / (c["tp"] + other))[0])


def test_precision_recall_class_id_and_top_k(check_metric):
    y_true, y_pred, weights = data(shape=(5,))
    # class_id: only column 2 counts.
    c = counts(y_true[:, 2], y_pred[:, 2], [0.5], weights)
    check_metric(
        lambda: metrics.Precision(class_id=2),
        split(y_true, y_pred, weights),
        (c["tp"] / (c["tp"] + c["fp"]))[0],
    )
    # top_k: only each row's 2 largest predictions can be positive (no threshold -> all are).
    top2 = np.argsort(-y_pred, axis=1)[:, :2]
    predicted = np.zeros_like(y_pred, dtype=bool)
    np.put_along_axis(predicted, top2, True, axis=1)
    tp = np.sum(predicted & (y_true > 0))
    check_metric(
        lambda: metrics.Precision(top_k=2), split(y_true, y_pred, None), tp / predicted.sum()
    )
    check_metric(
        lambda: metrics.Recall(top_k=2), split(y_true, y_pred, None), tp / (y_true > 0).sum()
    )


def test_precision_is_zero_without_positives():
    m = metrics.Precision()
    assert float(m([1.0, 1.0], [0.1, 0.2])) == 0.0
    assert float(metrics.Recall()([0.0, 0.0], [0.9, 0.2])) == 0.0


# -- AUC ----------------------------------------------------------------------------------


def keras_thresholds(num_thresholds):
    inner = [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)]
    return [-EPSILON, *inner, 1 + EPSILON]


def reference_auc(y_true, y_pred, num_thresholds, curve, method, weights=None):
    """Keras's AUC, written out: counts at each threshold, then a Riemann/trapezoid sum."""
    c = counts(y_true, y_pred, keras_thresholds(num_thresholds), weights)
    tp, fp, tn, fn = c["tp"], c["fp"], c["tn"], c["fn"]
    if curve == "PR" and method == "interpolation":
        total = 0.0
        for i in range(num_thresholds - 1):
            dtp = tp[i] - tp[i + 1]
            p0, p1 = tp[i] + fp[i], tp[i + 1] + fp[i + 1]
            dp = p0 - p1
            slope = dtp / dp if dp > 0 else 0.0
            intercept = tp[i + 1] - slope * p1
            ratio = p0 / p1 if (p0 > 0 and p1 > 0) else 1.0
            if tp[i + 1] + fn[i + 1] > 0:
                total += slope * (dtp + intercept * np.log(ratio)) / (tp[i + 1] + fn[i + 1])
        return total

    def rate(a, b):
        return np.where(a + b > 0, a / np.maximum(a + b, 1e-30), 0.0)

    if curve == "ROC":
        x, y = rate(fp, tn), rate(tp, fn)
    else:
        x, y = rate(tp, fn), rate(tp, fp)
    pick = {
        "interpolation": lambda a, b: (a + b) / 2,
        "minoring": np.minimum,
        "majoring": np.maximum,
    }
    return np.sum((x[:-1] - x[1:]) * pick[method](y[:-1], y[1:]))


@pytest.mark.parametrize("curve", ["ROC", "PR"])
@pytest.mark.parametrize("method", ["interpolation", "minoring", "majoring"])
def test_auc_matches_reference(check_metric, curve, method):
    y_true, y_pred, weights = data()
    expected = reference_auc(y_true, y_pred, 50, curve, method, weights)
    check_metric(
        lambda: metrics.AUC(num_thresholds=50, curve=curve, summation_method=method),
        split(y_true, y_pred, weights),
        expected,
    )


def test_roc_auc_converges_to_rank_statistic():
    # With fine thresholds the trapezoid ROC area is the Mann-Whitney probability
    # that a random positive outranks a random negative.
    y_true = rng.integers(0, 2, size=300).astype(np.float32)
    y_pred = np.clip(0.3 * y_true + rng.uniform(size=300) * 0.7, 0, 1).astype(np.float32)
    positives, negatives = y_pred[y_true == 1], y_pred[y_true == 0]
    direct = np.mean(positives[:, None] > negatives[None, :])
    auc = float(metrics.AUC(num_thresholds=2000)(y_true, y_pred))
    assert abs(auc - direct) < 2e-3
    assert 0.6 < auc < 1.0


def test_auc_perfect_and_from_logits():
    y_true = np.array([0, 0, 1, 1], np.float32)
    assert float(metrics.AUC()(y_true, [0.1, 0.2, 0.8, 0.9])) == pytest.approx(1.0, abs=1e-6)
    logits = np.array([-2.0, 0.5, -0.3, 3.0], np.float32)
    from_logits = float(metrics.AUC(from_logits=True)(y_true, logits))
    probabilities = 1 / (1 + np.exp(-logits))
    assert from_logits == pytest.approx(float(metrics.AUC()(y_true, probabilities)), abs=1e-6)


def test_auc_explicit_thresholds_and_multi_label(check_metric):
    y_true, y_pred, weights = data(shape=(3,))
    expected = np.mean(
        [
            reference_auc(y_true[:, j], y_pred[:, j], 20, "ROC", "interpolation", weights)
            for j in range(3)
        ]
    )
    check_metric(
        lambda: metrics.AUC(num_thresholds=20, multi_label=True),
        split(y_true, y_pred, weights),
        expected,
    )
    check_metric(
        lambda: metrics.AUC(num_thresholds=20, multi_label=True, num_labels=3),
        split(y_true, y_pred, weights),
        expected,
    )
    label_weights = [0.2, 0.0, 0.8]
    per_label = [
        reference_auc(y_true[:, j], y_pred[:, j], 20, "PR", "interpolation") for j in range(3)
    ]
    check_metric(
        lambda: metrics.AUC(
            num_thresholds=20, curve="PR", multi_label=True, label_weights=label_weights
        ),
        split(y_true, y_pred, None),
        np.dot(per_label, label_weights) / sum(label_weights),
    )
    # Explicit thresholds are the inner ones; the ends are added, as Keras does.
    inner = [(i + 1) / 19 for i in range(18)]
    check_metric(
        lambda: metrics.AUC(thresholds=inner),
        split(y_true, y_pred, None),
        reference_auc(y_true, y_pred, 20, "ROC", "interpolation"),
    )


def test_confusion_config_round_trips():
    for metric in (
        metrics.Precision(thresholds=[0.2, 0.7], top_k=2, class_id=1, name="p"),
        metrics.Recall(thresholds=0.3),
        metrics.TruePositives(thresholds=[0.1, 0.4]),
        metrics.AUC(num_thresholds=13, curve="PR", summation_method="majoring", from_logits=True),
        metrics.AUC(thresholds=[0.25, 0.5, 0.75], multi_label=True, num_labels=2),
    ):
        clone = type(metric).from_config(metric.get_config())
        assert clone.get_config() == metric.get_config()
        assert [v.shape for v in clone.variables] == [v.shape for v in metric.variables]
    assert metrics.AUC(thresholds=[0.25, 0.5]).num_thresholds == 4


def test_confusion_errors():
    with pytest.raises(ValueError, match="AUC: curve must be"):
        metrics.AUC(curve="XY")
    with pytest.raises(ValueError, match="AUC: summation_method"):
        metrics.AUC(summation_method="simpson")
    with pytest.raises(ValueError, match=r"Precision: thresholds must be in \[0, 1\]"):
        metrics.Precision(thresholds=[0.5, 1.5])
    with pytest.raises(ValueError, match="Recall: top_k must be a positive integer"):
        metrics.Recall(top_k=0)
    with pytest.raises(
        ShapeError, match=r"Precision: y_true has shape \(4,\) but y_pred has shape \(3,\)"
    ):
        metrics.Precision().update_state([1, 0, 1, 0], [0.2, 0.4, 0.9])
    with pytest.raises(ShapeError, match=r"AUC\(multi_label=True\): y_pred has shape \(4,\)"):
        metrics.AUC(multi_label=True).update_state([1, 0, 1, 0], [0.2, 0.4, 0.9, 0.1])


# -- the at-a-constraint metrics against Keras 3 itself ----------------------------------------
_Y_TRUE, _Y_PRED, _WEIGHTS = data(shape=(3,))
KERAS_CASES = [
    ("PrecisionAtRecall", {"recall": 0.6}, _WEIGHTS),
    ("PrecisionAtRecall", {"recall": 0.9, "num_thresholds": 7, "class_id": 1}, None),
    ("RecallAtPrecision", {"precision": 0.5, "num_thresholds": 50}, _WEIGHTS),
    ("RecallAtPrecision", {"precision": 0.99}, None),  # no threshold reaches it: 0
    ("SensitivityAtSpecificity", {"specificity": 0.7}, None),
    ("SensitivityAtSpecificity", {"specificity": 0.3, "num_thresholds": 1}, _WEIGHTS),
    ("SpecificityAtSensitivity", {"sensitivity": 0.4, "class_id": 2}, _WEIGHTS),
    ("SpecificityAtSensitivity", {"sensitivity": 0.8, "num_thresholds": 20}, None),
]


@pytest.mark.parametrize("name,kwargs,weights", KERAS_CASES, ids=[c[0] for c in KERAS_CASES])
def test_at_constraint_metrics_match_keras(check_against_keras, name, kwargs, weights):
    weights = None if weights is None else weights[:, None]
    check_against_keras(name, kwargs, split(_Y_TRUE, _Y_PRED, weights))


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda: metrics.PrecisionAtRecall(1.5), r"`recall` must be in the range \[0, 1\]"),
        (lambda: metrics.RecallAtPrecision(-0.1), r"`precision` must be in the range \[0, 1\]"),
        (lambda: metrics.SensitivityAtSpecificity(0.5, num_thresholds=0), "num_thresholds"),
    ],
)
def test_at_constraint_errors(make, match):
    with pytest.raises(ValueError, match=match):
        make()
