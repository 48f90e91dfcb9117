"""Metric base class contract, traced updates, get/serialize/deserialize and aliases."""

import numpy as np
import pytest

import nerve
from nerve import metrics, ops

ALL_METRICS = [
    metrics.Mean(),
    metrics.Sum(),
    metrics.Accuracy(),
    metrics.BinaryAccuracy(threshold=0.3),
    metrics.CategoricalAccuracy(),
    metrics.SparseCategoricalAccuracy(),
    metrics.TopKCategoricalAccuracy(k=2),
    metrics.SparseTopKCategoricalAccuracy(k=3, from_sorted_ids=True),
    metrics.TruePositives(thresholds=[0.1, 0.9]),
    metrics.FalsePositives(),
    metrics.TrueNegatives(),
    metrics.FalseNegatives(),
    metrics.Precision(top_k=2),
    metrics.Recall(class_id=1),
    metrics.AUC(num_thresholds=17, curve="PR"),
    metrics.F1Score(average="micro"),
    metrics.FBetaScore(beta=0.5),
    metrics.MeanSquaredError(),
    metrics.MeanAbsoluteError(),
    metrics.RootMeanSquaredError(),
    metrics.R2Score(),
    metrics.MeanIoU(num_classes=4),
]


@pytest.mark.parametrize("metric", ALL_METRICS, ids=lambda m: type(m).__name__)
def test_serialize_round_trip(metric):
    config = metrics.serialize(metric)
    assert config["class_name"] == type(metric).__name__
    clone = metrics.deserialize(config)
    assert type(clone) is type(metric)
    assert clone.get_config() == metric.get_config()
    assert clone.name == metric.name and clone.dtype == metric.dtype
    assert all(not v.trainable for v in metric.variables)
    assert metric.trainable_variables == []


def test_get_strings_and_aliases():
    assert isinstance(metrics.get("AUC"), metrics.AUC)
    assert metrics.get("mse") is metrics.mean_squared_error
    assert metrics.get("MAE") is metrics.mean_absolute_error
    assert metrics.get("binary_accuracy") is metrics.binary_accuracy
    assert metrics.get(None) is None
    m = metrics.Mean()
    assert metrics.get(m) is m
    assert isinstance(metrics.get({"class_name": "Recall", "config": {}}), metrics.Recall)
    with pytest.raises(ValueError, match=r"Unknown metric 'nope'.*mse"):
        metrics.get("nope")
    with pytest.raises(ValueError, match="deserialize: unknown metric config"):
        metrics.deserialize({"class_name": "Nope", "config": {}})
    assert metrics.serialize(metrics.mean_squared_error) == "mean_squared_error"
    assert metrics.deserialize("mean_squared_error") is metrics.mean_squared_error


def test_get_metric_like_compile():
    mse = metrics.get_metric("mse")
    assert isinstance(mse, metrics.MeanSquaredError) and mse.name == "mse"
    custom = metrics.get_metric(lambda y_true, y_pred: ops.abs(y_true - y_pred))
    assert isinstance(custom, metrics.MeanMetricWrapper)
    assert float(custom([1.0, 2.0], [2.0, 4.0])) == 1.5
    acc = metrics.get_metric("accuracy", loss="categorical_crossentropy")
    assert isinstance(acc, metrics.CategoricalAccuracy) and acc.name == "accuracy"


def test_get_metric_refuses_none():
    # Wrapping None would only fail at the first update, far from the compile call.
    with pytest.raises(ValueError, match="get_metric: a metric is needed, got None"):
        metrics.get_metric(None)


@pytest.mark.parametrize(
    "loss,expected",
    [
        ("binary_crossentropy", metrics.BinaryAccuracy),
        ("BinaryFocalCrossentropy", metrics.BinaryAccuracy),
        ("hinge", metrics.BinaryAccuracy),
        ("categorical_crossentropy", metrics.CategoricalAccuracy),
        ("categorical_hinge", metrics.CategoricalAccuracy),
        ("sparse_categorical_crossentropy", metrics.SparseCategoricalAccuracy),
        ("SparseCategoricalCrossentropy", metrics.SparseCategoricalAccuracy),
        ("mse", metrics.Accuracy),
        (None, metrics.Accuracy),
    ],
)
def test_resolve_accuracy_from_loss(loss, expected):
    assert type(metrics.resolve_accuracy(loss)) is expected


def test_resolve_accuracy_from_shapes_like_keras3():
    resolve = metrics.resolve_accuracy
    assert type(resolve(y_true_shape=(8,), y_pred_shape=(8, 1))) is metrics.BinaryAccuracy
    assert (
        type(resolve(y_true_shape=(8,), y_pred_shape=(8, 5))) is metrics.SparseCategoricalAccuracy
    )
    assert (
        type(resolve(y_true_shape=(8, 1), y_pred_shape=(8, 5))) is metrics.SparseCategoricalAccuracy
    )
    assert type(resolve(y_true_shape=(8, 5), y_pred_shape=(8, 5))) is metrics.CategoricalAccuracy
    # A function loss works too (its __name__ is used).
    assert type(resolve(metrics.binary_accuracy)) is metrics.BinaryAccuracy


def test_call_is_update_then_result_and_traced_state_is_shared():
    m = metrics.Mean()
    assert float(m([2.0, 4.0])) == 3.0
    assert float(m([6.0])) == 4.0

    @nerve.function
    def step(values):
        return m(values)

    assert float(step(ops.convert_to_tensor([8.0, 10.0]))) == 6.0
    assert float(step(ops.convert_to_tensor([0.0, 0.0]))) == pytest.approx(30 / 7)
    assert step.trace_count == 1
    np.testing.assert_allclose(float(m.result()), 30 / 7, rtol=1e-6)


def test_traced_reset_state():
    m = metrics.Sum()
    m.update_state([1.0, 2.0])
    reset = nerve.function(lambda: m.reset_state())
    reset()
    assert float(m.result()) == 0.0


def test_custom_metric_subclass():
    class Maximum(metrics.Metric):
        def __init__(self, name="maximum", dtype=None):
            super().__init__(name=name, dtype=dtype)
            self.value = self.add_variable((), name="value")

        def update_state(self, values, sample_weight=None):
            self.value.assign(ops.maximum(self.value, ops.max(values)))

        def result(self):
            return self.value.value

    m = Maximum()
    assert float(m([1.0, 5.0, 2.0])) == 5.0
    assert [v.name for v in m.variables] == ["value"]
    assert (
        metrics.deserialize(
            {"class_name": "Maximum", "config": m.get_config()}, custom_objects={"Maximum": Maximum}
        ).name
        == "maximum"
    )
    with pytest.raises(NotImplementedError, match="Bare must implement update_state"):
        type("Bare", (metrics.Metric,), {})().update_state(1.0)
