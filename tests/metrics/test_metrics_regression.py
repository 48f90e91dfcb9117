"""Regression metrics and MeanIoU against NumPy closed forms; the rest of the IoU family
and the correlation metrics against Keras 3 itself."""

import numpy as np
import pytest

from nerve import metrics
from nerve.core.errors import ShapeError

rng = np.random.default_rng(3)


def split(*arrays, sizes=(5, 8, 3)):
    out, start = [], 0
    for size in sizes:
        out.append(tuple(None if a is None else a[start : start + size] for a in arrays))
        start += size
    return out


def regression_data(columns=3):
    y_true = rng.normal(size=(16, columns)).astype(np.float32)
    y_pred = (y_true + 0.5 * rng.normal(size=(16, columns))).astype(np.float32)
    weights = rng.uniform(0.5, 2.0, size=16).astype(np.float32)
    return y_true, y_pred, weights


def test_mse_mae_rmse(check_metric):
    y_true, y_pred, weights = regression_data()
    squared = ((y_true - y_pred) ** 2).mean(axis=1)
    absolute = np.abs(y_true - y_pred).mean(axis=1)
    batches = split(y_true, y_pred, weights)
    check_metric(metrics.MeanSquaredError, batches, np.sum(squared * weights) / weights.sum())
    check_metric(metrics.MeanAbsoluteError, batches, np.sum(absolute * weights) / weights.sum())
    check_metric(
        metrics.RootMeanSquaredError, batches, np.sqrt(np.sum(squared * weights) / weights.sum())
    )
    check_metric(metrics.RootMeanSquaredError, split(y_true, y_pred, None), np.sqrt(squared.mean()))


def reference_r2(y_true, y_pred, weights, aggregation):
    w = weights[:, None]
    mean = np.sum(w * y_true, axis=0) / np.sum(w, axis=0)
    ss_tot = np.sum(w * (y_true - mean) ** 2, axis=0)
    ss_res = np.sum(w * (y_true - y_pred) ** 2, axis=0)
    scores = 1 - ss_res / ss_tot
    if aggregation == "uniform_average":
        return scores.mean()
    if aggregation == "variance_weighted_average":
        return np.sum(ss_tot * scores) / ss_tot.sum()
    return scores


@pytest.mark.parametrize("aggregation", ["uniform_average", "variance_weighted_average", None])
def test_r2_score(check_metric, aggregation):
    y_true, y_pred, weights = regression_data()
    expected = reference_r2(y_true, y_pred, weights, aggregation)
    check_metric(
        lambda: metrics.R2Score(class_aggregation=aggregation),
        split(y_true, y_pred, weights),
        expected,
        rtol=1e-4,
    )


def test_r2_adjusted_and_fallback(check_metric):
    y_true, y_pred, _ = regression_data(columns=1)
    r2 = reference_r2(y_true, y_pred, np.ones(16), "uniform_average")
    n, p = 16, 3  # Keras counts every entry of y_true: 16 x 1.
    check_metric(
        lambda: metrics.R2Score(num_regressors=p),
        split(y_true, y_pred, None),
        1 - (1 - r2) * (n - 1) / (n - p - 1),
        rtol=1e-4,
    )
    # p >= n - 1: plain R2 (Keras warns).
    check_metric(
        lambda: metrics.R2Score(num_regressors=40), split(y_true, y_pred, None), r2, rtol=1e-4
    )


def test_r2_constant_column_scores_zero():
    m = metrics.R2Score(class_aggregation=None)
    result = m([[1.0, 0.0], [1.0, 1.0], [1.0, 2.0]], [[1.0, 0.0], [1.0, 1.0], [1.0, 2.0]]).numpy()
    np.testing.assert_allclose(result, [0.0, 1.0])


def reference_mean_iou(y_true, y_pred, num_classes, weights=None, ignore_class=None):
    weights = np.ones(y_true.shape) if weights is None else np.broadcast_to(weights, y_true.shape)
    cm = np.zeros((num_classes, num_classes))
    for t, p, w in zip(y_true.ravel(), y_pred.ravel(), weights.ravel()):
        if t != ignore_class:
            cm[t, p] += w
    ious = []
    for c in range(num_classes):
        union = cm[c, :].sum() + cm[:, c].sum() - cm[c, c]
        if union > 0:
            ious.append(cm[c, c] / union)
    return np.mean(ious)


def test_mean_iou(check_metric):
    y_true = rng.integers(0, 4, size=(16, 5))
    y_pred = np.where(rng.uniform(size=(16, 5)) < 0.6, y_true, rng.integers(0, 4, size=(16, 5)))
    weights = rng.uniform(0.5, 2.0, size=(16, 5)).astype(np.float32)
    batches = split(y_true, y_pred, weights)
    check_metric(
        lambda: metrics.MeanIoU(4), batches, reference_mean_iou(y_true, y_pred, 4, weights)
    )
    check_metric(
        lambda: metrics.MeanIoU(4, ignore_class=0),
        split(y_true, y_pred, None),
        reference_mean_iou(y_true, y_pred, 4, ignore_class=0),
    )
    # Scores instead of class ids.
    scores = np.eye(4, dtype=np.float32)[y_pred]
    check_metric(
        lambda: metrics.MeanIoU(4, sparse_y_pred=False),
        split(y_true, scores, None),
        reference_mean_iou(y_true, y_pred, 4),
    )
    # A class that never appears does not count in the mean.
    assert float(metrics.MeanIoU(5)([0, 1, 1], [0, 1, 1])) == pytest.approx(1.0)


def test_regression_configs_and_errors():
    for metric in (
        metrics.R2Score(class_aggregation=None, num_regressors=2, name="r2"),
        metrics.MeanIoU(3, ignore_class=1, sparse_y_pred=False, axis=1),
        metrics.RootMeanSquaredError(dtype="float64"),
    ):
        assert type(metric).from_config(metric.get_config()).get_config() == metric.get_config()
    assert metrics.MeanIoU(2).name == "mean_io_u"
    with pytest.raises(ValueError, match="R2Score: class_aggregation must be one of"):
        metrics.R2Score(class_aggregation="median")
    with pytest.raises(ValueError, match="R2Score: num_regressors must be >= 0"):
        metrics.R2Score(num_regressors=-1)
    with pytest.raises(ShapeError, match=r"R2Score: y_true has shape \(3, 2, 2\)"):
        metrics.R2Score().update_state(np.ones((3, 2, 2)), np.ones((3, 2, 2)))
    with pytest.raises(
        ShapeError, match=r"MeanIoU: y_true has shape \(4,\) and y_pred has shape \(3,\)"
    ):
        metrics.MeanIoU(2).update_state([0, 1, 1, 0], [0, 1, 1])
    with pytest.raises(ValueError, match="MeanIoU: num_classes must be a positive int"):
        metrics.MeanIoU(0)


# -- the IoU family and the correlations against Keras 3 itself --------------------------------
_LABELS = rng.integers(0, 3, size=(16, 4))
_PREDICTED = np.where(rng.uniform(size=(16, 4)) < 0.6, _LABELS, rng.integers(0, 3, size=(16, 4)))
_ONE_HOT = np.eye(3, dtype=np.float32)[_LABELS]
_SCORES = (_ONE_HOT + rng.uniform(size=(16, 4, 3))).astype(np.float32)
_BITS = rng.integers(0, 2, size=(16, 4)).astype(np.float32)
_PROBS = rng.uniform(size=(16, 4)).astype(np.float32)
# Keras keeps IoU confusion matrices in int32, so fractional weights would be truncated
# there; whole-number weights compare like for like.
_COUNTS = rng.integers(0, 3, size=(16, 4)).astype(np.int32)
_REGRESSION = regression_data(columns=5)
KERAS_CASES = [
    ("IoU", {"num_classes": 3, "target_class_ids": [0, 2]}, _LABELS, _PREDICTED, _COUNTS),
    ("IoU", {"num_classes": 3, "target_class_ids": [1], "ignore_class": 0}, _LABELS, _PREDICTED,
     None),
    ("IoU", {"num_classes": 3, "target_class_ids": [2], "sparse_y_pred": False}, _LABELS, _SCORES,
     None),
    ("BinaryIoU", {}, _BITS, _PROBS, _COUNTS),
    ("BinaryIoU", {"target_class_ids": [1], "threshold": 0.3}, _BITS, _PROBS, None),
    ("OneHotIoU", {"num_classes": 3, "target_class_ids": [1, 2]}, _ONE_HOT, _SCORES, _COUNTS),
    ("OneHotMeanIoU", {"num_classes": 3}, _ONE_HOT, _SCORES, _COUNTS),
    ("OneHotMeanIoU", {"num_classes": 3, "sparse_y_pred": True}, _ONE_HOT, _PREDICTED, None),
    ("PearsonCorrelation", {}, *_REGRESSION),
    ("ConcordanceCorrelation", {}, *_REGRESSION),
]  # fmt: skip


@pytest.mark.parametrize(
    "name,kwargs,y_true,y_pred,weights", KERAS_CASES, ids=[c[0] for c in KERAS_CASES]
)
def test_matches_keras(check_against_keras, name, kwargs, y_true, y_pred, weights):
    check_against_keras(name, kwargs, split(y_true, y_pred, weights))


@pytest.mark.parametrize("name", ["pearson_correlation", "concordance_correlation"])
def test_correlation_functions_match_keras(name):
    keras = pytest.importorskip("keras")
    y_true, y_pred, _ = _REGRESSION
    for axis in (-1, 0):
        np.testing.assert_allclose(
            getattr(metrics, name)(y_true, y_pred, axis=axis).numpy(),
            keras.ops.convert_to_numpy(getattr(keras.metrics, name)(y_true, y_pred, axis=axis)),
            rtol=1e-5,
            atol=1e-6,
        )
    assert metrics.get(name) is getattr(metrics, name)  # the function, as Keras returns it


def test_iou_errors():
    with pytest.raises(ValueError, match=r"IoU: target class ids must lie in \[0, 3\)"):
        metrics.IoU(3, target_class_ids=[3])
    with pytest.raises(ValueError, match="BinaryIoU: target_class_ids must be a non-empty list"):
        metrics.BinaryIoU(target_class_ids=[])
