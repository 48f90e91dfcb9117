"""Accuracy metrics and Mean/Sum against NumPy references."""

import numpy as np
import pytest

import nerve
from nerve import metrics
from nerve.core.errors import ShapeError

rng = np.random.default_rng(0)


def split(*arrays, sizes=(3, 5, 4)):
    """Cut aligned arrays (None allowed) into consecutive batches of ``sizes``."""
    out, start = [], 0
    for size in sizes:
        out.append(tuple(None if a is None else a[start : start + size] for a in arrays))
        start += size
    return out


def weighted_mean(values, weights=None):
    weights = np.ones_like(values) if weights is None else weights
    return np.sum(values * weights) / np.sum(weights)


# -- Mean / Sum ---------------------------------------------------------------------------


def test_mean_streams_weights_and_resets():
    values = rng.normal(size=(12, 3)).astype(np.float32)
    weights = rng.uniform(size=12).astype(np.float32)
    m = metrics.Mean()
    m.update_state(values[:5], sample_weight=weights[:5])
    m.update_state(values[5:], sample_weight=weights[5:])
    # Keras reduces rank-2 values to per-row means before weighting them.
    expected = weighted_mean(values.mean(axis=1), weights)
    np.testing.assert_allclose(float(m.result()), expected, rtol=1e-5)
    m.reset_state()
    assert float(m.result()) == 0.0
    assert float(m([1.0, 2.0, 6.0])) == 3.0


def test_mean_and_sum_traced_match_eager():
    values = rng.normal(size=(4, 6)).astype(np.float32)
    weights = rng.uniform(size=(4, 6)).astype(np.float32)
    for cls in (metrics.Mean, metrics.Sum):
        eager, traced = cls(), cls()
        step = nerve.function(lambda v, w, m=traced: m.update_state(v, sample_weight=w))
        for row in range(4):
            eager.update_state(values[row], sample_weight=weights[row])
            step(values[row], weights[row])
        np.testing.assert_allclose(float(traced.result()), float(eager.result()), rtol=1e-6)
    np.testing.assert_allclose(float(eager.result()), np.sum(values * weights), rtol=1e-5)


def test_mean_weight_shape_error_names_metric():
    with pytest.raises(ShapeError, match=r"Mean: values and sample_weight .*\(3,\).*\(2,\)"):
        metrics.Mean().update_state([1.0, 2.0, 3.0], sample_weight=[1.0, 2.0])


# -- accuracy family -------------------------------------------------------------------------


def test_accuracy(check_metric):
    y_true = rng.integers(0, 3, size=(12, 1))
    y_pred = np.where(rng.uniform(size=(12, 1)) < 0.6, y_true, (y_true + 1) % 3)
    weights = rng.uniform(size=12)
    expected = weighted_mean((y_true == y_pred)[:, 0].astype(float), weights)
    check_metric(metrics.Accuracy, split(y_true, y_pred, weights), expected)


def test_binary_accuracy_threshold_and_weights(check_metric):
    y_true = rng.integers(0, 2, size=(12, 4)).astype(np.float32)
    y_pred = rng.uniform(size=(12, 4)).astype(np.float32)
    weights = rng.uniform(size=12).astype(np.float32)
    for threshold in (0.5, 0.7):
        per_sample = ((y_pred > threshold) == y_true).mean(axis=1)
        check_metric(
            lambda t=threshold: metrics.BinaryAccuracy(threshold=t),
            split(y_true, y_pred, weights),
            weighted_mean(per_sample, weights),
        )
    # Labels shaped (n,) against predictions (n, 1) are aligned, not broadcast to (n, n).
    m = metrics.BinaryAccuracy()
    assert float(m([1.0, 0.0, 1.0], [[0.9], [0.2], [0.1]])) == pytest.approx(2 / 3)


def test_categorical_and_sparse_accuracy(check_metric):
    labels = rng.integers(0, 5, size=12)
    scores = rng.normal(size=(12, 5)).astype(np.float32)
    scores[:6, :] += 3 * np.eye(5, dtype=np.float32)[labels[:6]]  # make half of them right
    weights = rng.uniform(size=12).astype(np.float32)
    expected = weighted_mean((scores.argmax(1) == labels).astype(float), weights)
    assert 0.3 < expected < 1.0
    onehot = np.eye(5, dtype=np.float32)[labels]
    check_metric(metrics.CategoricalAccuracy, split(onehot, scores, weights), expected)
    check_metric(metrics.SparseCategoricalAccuracy, split(labels, scores, weights), expected)
    # (n, 1) integer labels, as Keras accepts.
    check_metric(
        metrics.SparseCategoricalAccuracy, split(labels[:, None], scores, weights), expected
    )


def numpy_in_top_k(labels, scores, k):
    """Reference: the label is in the top k when fewer than k scores beat it."""
    label_scores = scores[np.arange(len(labels)), labels]
    return ((scores > label_scores[:, None]).sum(axis=1) < k).astype(float)


@pytest.mark.parametrize("k", [1, 2, 4])
def test_top_k_accuracies(check_metric, k):
    labels = rng.integers(0, 6, size=12)
    scores = rng.normal(size=(12, 6)).astype(np.float32)
    weights = rng.uniform(size=12).astype(np.float32)
    expected = weighted_mean(numpy_in_top_k(labels, scores, k), weights)
    # Independent check of the reference via argsort on tie-free data.
    top = np.argsort(-scores, axis=1)[:, :k]
    assert np.allclose(numpy_in_top_k(labels, scores, k), (top == labels[:, None]).any(1))
    onehot = np.eye(6, dtype=np.float32)[labels]
    check_metric(
        lambda: metrics.TopKCategoricalAccuracy(k=k), split(onehot, scores, weights), expected
    )
    check_metric(
        lambda: metrics.SparseTopKCategoricalAccuracy(k=k), split(labels, scores, weights), expected
    )
    sorted_ids = np.argsort(-scores, axis=1).astype(np.int32)
    check_metric(
        lambda: metrics.SparseTopKCategoricalAccuracy(k=k, from_sorted_ids=True),
        split(labels, sorted_ids, weights),
        expected,
    )


def test_top_k_ties_count_as_inside():
    # Class 2 ties with class 1 for the top score: TF's in_top_k (Keras) counts it.
    m = metrics.SparseTopKCategoricalAccuracy(k=1)
    assert float(m([2], [[0.1, 0.45, 0.45]])) == 1.0


def test_default_names_and_config_round_trip():
    assert metrics.SparseTopKCategoricalAccuracy().name == "sparse_top_k_categorical_accuracy"
    assert metrics.BinaryAccuracy().get_config() == {
        "name": "binary_accuracy",
        "dtype": "float32",
        "threshold": 0.5,
    }
    m = metrics.TopKCategoricalAccuracy(k=3, name="top3", dtype="float64")
    clone = metrics.TopKCategoricalAccuracy.from_config(m.get_config())
    assert (clone.name, clone.dtype, clone.get_config()["k"]) == ("top3", "float64", 3)
    assert clone.result().dtype == "float64"


def test_accuracy_shape_errors():
    with pytest.raises(
        ShapeError, match=r"categorical_accuracy: y_true has shape \(2, 3\).*\(2, 4\)"
    ):
        metrics.CategoricalAccuracy().update_state(np.eye(3)[:2], np.ones((2, 4)))
    with pytest.raises(ShapeError, match=r"sparse_categorical_accuracy: .*\(3,\).*\(2, 4\)"):
        metrics.SparseCategoricalAccuracy().update_state([0, 1, 2], np.ones((2, 4)))
