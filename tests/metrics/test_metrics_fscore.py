"""F1Score / FBetaScore against per-class precision/recall computed with NumPy."""

import numpy as np
import pytest

from nerve import metrics
from nerve.core.errors import ShapeError

rng = np.random.default_rng(2)


def split(*arrays, sizes=(6, 10, 4)):
    out, start = [], 0
    for size in sizes:
        out.append(tuple(None if a is None else a[start : start + size] for a in arrays))
        start += size
    return out


def reference_fbeta(y_true, y_pred, beta, threshold, average, weights=None):
    """sklearn-style F-beta (closed form, epsilon-free) per class, then averaged."""
    if threshold is None:
        predicted = (y_pred == y_pred.max(axis=1, keepdims=True)) & (np.abs(y_pred) > 1e-9)
    else:
        predicted = y_pred > threshold
    predicted = predicted.astype(float)
    w = np.ones((len(y_true), 1)) if weights is None else weights[:, None]
    tp = np.sum(w * predicted * y_true, axis=0)
    fp = np.sum(w * predicted * (1 - y_true), axis=0)
    fn = np.sum(w * (1 - predicted) * y_true, axis=0)
    support = np.sum(w * y_true, axis=0)
    if average == "micro":
        tp, fp, fn = tp.sum(), fp.sum(), fn.sum()
    precision = np.where(tp + fp > 0, tp / np.maximum(tp + fp, 1e-30), 0.0)
    recall = np.where(tp + fn > 0, tp / np.maximum(tp + fn, 1e-30), 0.0)
    b2 = beta**2
    denominator = b2 * precision + recall
    score = np.where(
        denominator > 0, (1 + b2) * precision * recall / np.maximum(denominator, 1e-30), 0.0
    )
    if average == "weighted":
        return np.sum(score * support / support.sum())
    if average in ("micro", "macro"):
        return np.mean(score)
    return score


@pytest.mark.parametrize("average", [None, "micro", "macro", "weighted"])
@pytest.mark.parametrize("beta,threshold", [(1.0, 0.5), (2.0, None), (0.5, 0.3)])
def test_fbeta_matches_reference(check_metric, average, beta, threshold):
    y_true = rng.integers(0, 2, size=(20, 4)).astype(np.float32)
    y_pred = rng.uniform(size=(20, 4)).astype(np.float32)
    weights = rng.uniform(0.5, 2.0, size=20).astype(np.float32)
    expected = reference_fbeta(y_true, y_pred, beta, threshold, average, weights)

    def make():
        return metrics.FBetaScore(average=average, beta=beta, threshold=threshold)

    # Keras adds epsilon=1e-7 to the denominators; that shifts results by ~1e-7 relative.
    check_metric(make, split(y_true, y_pred, weights), expected, rtol=1e-4)
    if beta == 1.0:
        check_metric(
            lambda: metrics.F1Score(average=average, threshold=threshold),
            split(y_true, y_pred, None),
            reference_fbeta(y_true, y_pred, 1.0, threshold, average),
            rtol=1e-4,
        )


def test_f1_argmax_mode_and_all_zero_rows():
    # Without a threshold only the row maximum is positive; an all-zero row has none.
    m = metrics.F1Score()
    m.update_state([[0, 1, 0], [1, 0, 0]], [[0.2, 0.5, 0.3], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(m.result().numpy(), [0.0, 1.0, 0.0], atol=1e-6)


def test_fbeta_config_and_errors():
    m = metrics.FBetaScore(average="macro", beta=2.0, threshold=0.4, name="fb", dtype="float64")
    assert metrics.FBetaScore.from_config(m.get_config()).get_config() == m.get_config()
    f1 = metrics.F1Score(average="weighted")
    assert "beta" not in f1.get_config()
    assert metrics.F1Score.from_config(f1.get_config()).average == "weighted"
    with pytest.raises(ValueError, match="FBetaScore: average must be one of"):
        metrics.FBetaScore(average="samples")
    with pytest.raises(ValueError, match="FBetaScore: beta must be a number > 0"):
        metrics.FBetaScore(beta=0)
    with pytest.raises(ValueError, match=r"F1Score: threshold must be a number in \(0, 1\]"):
        metrics.F1Score(threshold=1.5)
    with pytest.raises(ShapeError, match=r"F1Score: .*\(4,\).*expected 2D inputs"):
        metrics.F1Score().update_state([1, 0, 1, 1], [0.2, 0.3, 0.9, 0.5])
    m = metrics.F1Score()
    m.update_state(np.eye(3), np.eye(3))
    with pytest.raises(ShapeError, match=r"F1Score: got y_true \(2, 4\).*\(batch_size, 3\)"):
        m.update_state(np.ones((2, 4)), np.ones((2, 4)))
