"""``nerve.metrics``: Keras 3's ``keras.metrics`` — streaming metrics whose state
lives in non-trainable variables, so they update eagerly or inside ``nerve.function``.

>>> from nerve import metrics
>>> m = metrics.get("SparseCategoricalAccuracy")
>>> float(m([2, 0], [[0.1, 0.2, 0.7], [0.3, 0.6, 0.1]]))
0.5
>>> metrics.deserialize(metrics.serialize(metrics.AUC(num_thresholds=50))).num_thresholds
50
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nerve.losses import (
    binary_crossentropy,
    binary_focal_crossentropy,
    categorical_crossentropy,
    categorical_focal_crossentropy,
    categorical_hinge,
    hinge,
    huber,
    kl_divergence,
    log_cosh,
    mean_absolute_percentage_error,
    mean_squared_logarithmic_error,
    poisson,
    sparse_categorical_crossentropy,
    squared_hinge,
)
from nerve.metrics.accuracy import (
    Accuracy,
    BinaryAccuracy,
    CategoricalAccuracy,
    SparseCategoricalAccuracy,
    SparseTopKCategoricalAccuracy,
    TopKCategoricalAccuracy,
    accuracy,
    binary_accuracy,
    categorical_accuracy,
    sparse_categorical_accuracy,
    sparse_top_k_categorical_accuracy,
    top_k_categorical_accuracy,
)
from nerve.metrics.base import Metric
from nerve.metrics.confusion import (
    AUC,
    FalseNegatives,
    FalsePositives,
    Precision,
    PrecisionAtRecall,
    Recall,
    RecallAtPrecision,
    SensitivityAtSpecificity,
    SpecificityAtSensitivity,
    TrueNegatives,
    TruePositives,
)
from nerve.metrics.f_score import F1Score, FBetaScore
from nerve.metrics.loss_based import (
    BinaryCrossentropy,
    CategoricalCrossentropy,
    CategoricalHinge,
    CosineSimilarity,
    Hinge,
    KLDivergence,
    LogCoshError,
    MeanAbsolutePercentageError,
    MeanSquaredLogarithmicError,
    Poisson,
    SparseCategoricalCrossentropy,
    SquaredHinge,
)
from nerve.metrics.reduction import Mean, MeanMetricWrapper, Sum
from nerve.metrics.regression import (
    BinaryIoU,
    ConcordanceCorrelation,
    IoU,
    MeanAbsoluteError,
    MeanIoU,
    MeanSquaredError,
    OneHotIoU,
    OneHotMeanIoU,
    PearsonCorrelation,
    R2Score,
    RootMeanSquaredError,
    concordance_correlation,
    mean_absolute_error,
    mean_squared_error,
    pearson_correlation,
)

_CLASSES: dict[str, type[Metric]] = {
    cls.__name__: cls
    for cls in (
        AUC,
        Accuracy,
        BinaryAccuracy,
        BinaryCrossentropy,
        CategoricalAccuracy,
        CategoricalCrossentropy,
        CategoricalHinge,
        CosineSimilarity,
        Hinge,
        KLDivergence,
        LogCoshError,
        MeanAbsolutePercentageError,
        MeanSquaredLogarithmicError,
        Poisson,
        SparseCategoricalCrossentropy,
        SquaredHinge,
        F1Score,
        FBetaScore,
        FalseNegatives,
        FalsePositives,
        Mean,
        MeanAbsoluteError,
        MeanIoU,
        MeanMetricWrapper,
        MeanSquaredError,
        Precision,
        R2Score,
        Recall,
        RootMeanSquaredError,
        SparseCategoricalAccuracy,
        SparseTopKCategoricalAccuracy,
        Sum,
        TopKCategoricalAccuracy,
        TrueNegatives,
        TruePositives,
        BinaryIoU,
        ConcordanceCorrelation,
        IoU,
        OneHotIoU,
        OneHotMeanIoU,
        PearsonCorrelation,
        PrecisionAtRecall,
        RecallAtPrecision,
        SensitivityAtSpecificity,
        SpecificityAtSensitivity,
    )
}

#: Function names and Keras's short aliases -> the metric class computing their mean.
_FUNCTION_ALIASES: dict[str, type[Metric]] = {
    "accuracy": Accuracy,
    "binary_accuracy": BinaryAccuracy,
    "categorical_accuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "top_k_categorical_accuracy": TopKCategoricalAccuracy,
    "sparse_top_k_categorical_accuracy": SparseTopKCategoricalAccuracy,
    "mean_squared_error": MeanSquaredError,
    "mse": MeanSquaredError,
    "MSE": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError,
    "mae": MeanAbsoluteError,
    "MAE": MeanAbsoluteError,
    "auc": AUC,
    "precision": Precision,
    "recall": Recall,
    "f1_score": F1Score,
    "fbeta_score": FBetaScore,
    "r2_score": R2Score,
    "root_mean_squared_error": RootMeanSquaredError,
    "rmse": RootMeanSquaredError,
    "mape": MeanAbsolutePercentageError,
    "MAPE": MeanAbsolutePercentageError,
    "msle": MeanSquaredLogarithmicError,
    "MSLE": MeanSquaredLogarithmicError,
    "logcosh": LogCoshError,
    "kld": KLDivergence,
    "KLD": KLDivergence,
    "pearson_correlation": PearsonCorrelation,
    "concordance_correlation": ConcordanceCorrelation,
}

_FUNCTIONS: dict[str, Callable] = {
    fn.__name__: fn
    for fn in (
        accuracy,
        binary_accuracy,
        categorical_accuracy,
        sparse_categorical_accuracy,
        top_k_categorical_accuracy,
        sparse_top_k_categorical_accuracy,
        mean_squared_error,
        mean_absolute_error,
        binary_crossentropy,
        binary_focal_crossentropy,
        categorical_crossentropy,
        categorical_focal_crossentropy,
        categorical_hinge,
        hinge,
        huber,
        kl_divergence,
        log_cosh,
        mean_absolute_percentage_error,
        mean_squared_logarithmic_error,
        poisson,
        sparse_categorical_crossentropy,
        squared_hinge,
        pearson_correlation,
        concordance_correlation,
    )
}


def resolve_accuracy(
    loss: Any = None,
    y_true_shape: tuple | None = None,
    y_pred_shape: tuple | None = None,
    name: str = "accuracy",
) -> Metric:
    """The accuracy metric that ``compile(metrics=["accuracy"])`` means.

    With the shapes of labels and predictions this follows Keras 3's ``compile``:
    a last prediction dimension of 1 means binary accuracy; labels of lower rank (or
    with a last dimension of 1 against several classes) mean sparse categorical
    accuracy; otherwise categorical accuracy. Without shapes, the loss decides, as
    tf.keras did: binary losses (``"binary_crossentropy"``, ``BinaryFocalCrossentropy``,
    hinge losses...) -> binary, sparse categorical ones -> sparse, other
    categorical ones -> categorical, anything else -> exact-match ``Accuracy``.
    The metric keeps ``name`` (``"accuracy"``), so logs read as in Keras.

    >>> type(resolve_accuracy("sparse_categorical_crossentropy")).__name__
    'SparseCategoricalAccuracy'
    >>> type(resolve_accuracy(y_true_shape=(32, 1), y_pred_shape=(32, 1))).__name__
    'BinaryAccuracy'
    """
    if y_true_shape is not None and y_pred_shape is not None:
        true_rank, pred_rank = len(y_true_shape), len(y_pred_shape)
        true_last = y_true_shape[-1] if true_rank else 1
        pred_last = y_pred_shape[-1] if pred_rank else 1
        if pred_last == 1:
            return BinaryAccuracy(name=name)
        if true_rank < pred_rank or (true_last == 1 and pred_last > 1):
            return SparseCategoricalAccuracy(name=name)
        return CategoricalAccuracy(name=name)
    key = _loss_key(loss)
    if "sparse_categorical" in key:
        return SparseCategoricalAccuracy(name=name)
    if "binary" in key or ("hinge" in key and "categorical" not in key):
        return BinaryAccuracy(name=name)
    if "categorical" in key or "kl_divergence" in key or key == "kld":
        return CategoricalAccuracy(name=name)
    return Accuracy(name=name)


def _loss_key(loss: Any) -> str:
    """A snake_case name for a loss given as a string, a function or a loss object."""
    import re

    if loss is None:
        return ""
    if isinstance(loss, str):
        raw = loss
    elif hasattr(loss, "__name__"):
        raw = loss.__name__
    else:
        raw = type(loss).__name__
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", raw).lower()


def get(identifier: Any) -> Metric | Callable | None:
    """A metric from a class name (``"AUC"`` -> a new ``AUC()``), a function name or
    alias (``"mse"`` -> the function ``mean_squared_error``, as Keras returns it), a
    ``serialize`` dict, a ``Metric`` or a callable (returned as is), or ``None``.

    >>> get("Precision").name
    'precision'
    >>> get("mae").__name__
    'mean_absolute_error'
    """
    if identifier is None or isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        if identifier in _CLASSES:
            return _CLASSES[identifier]()
        if identifier in _FUNCTIONS:
            return _FUNCTIONS[identifier]
        alias = _FUNCTION_ALIASES.get(identifier)
        if alias is not None:
            wrapped = getattr(alias(), "_fn", None)
            return wrapped if wrapped is not None else alias()
    elif callable(identifier) and not isinstance(identifier, type):
        return identifier
    raise ValueError(
        f"Unknown metric {identifier!r}. Expected a Metric, a callable, a serialize() dict, "
        f"or one of: {', '.join(sorted({*_CLASSES, *_FUNCTION_ALIASES, 'acc'}))}."
    )


def get_metric(identifier: Any, loss: Any = None) -> Metric:
    """A ``Metric`` instance for ``compile(metrics=[...])``: ``"accuracy"``/``"acc"`` go
    through ``resolve_accuracy(loss)``; strings and functions become the matching
    metric named as given (``"mse"`` logs as ``"mse"``), like Keras's ``compile``.

    >>> get_metric("acc", loss="binary_crossentropy")
    <BinaryAccuracy name='acc'>
    >>> get_metric("mse").name
    'mse'
    """
    if isinstance(identifier, str) and identifier in ("accuracy", "acc"):
        return resolve_accuracy(loss, name=identifier)
    if isinstance(identifier, str) and identifier in _FUNCTION_ALIASES:
        return _FUNCTION_ALIASES[identifier](name=identifier)
    metric = get(identifier)
    if metric is None:
        raise ValueError(
            "get_metric: a metric is needed, got None; pass a name, function or Metric."
        )
    if isinstance(metric, Metric):
        return metric
    return MeanMetricWrapper(metric, name=getattr(metric, "__name__", None))


def serialize(metric: Metric | Callable) -> dict | str:
    """Keras's ``{"module", "class_name", ...}`` for a built-in metric, the name for a built-in
    function; ``deserialize`` inverts it."""
    if isinstance(metric, Metric):
        if type(metric) is MeanMetricWrapper:
            raise ValueError(
                "serialize: a bare MeanMetricWrapper wraps an arbitrary function and cannot "
                "be serialized by name; subclass Metric (or MeanMetricWrapper) instead."
            )
        return {
            "module": "keras.metrics",
            "class_name": type(metric).__name__,
            "config": metric.get_config(),
            "registered_name": None,
        }
    name = getattr(metric, "__name__", None)
    if name in _FUNCTIONS and _FUNCTIONS[name] is metric:
        return name
    raise ValueError(f"serialize: {metric!r} is not a built-in nerve metric.")


def deserialize(config: dict | str, custom_objects: dict | None = None) -> Metric | Callable:
    """Rebuild a metric from ``serialize``'s output (``custom_objects`` adds classes)."""
    if isinstance(config, str):
        metric = get(config)
        assert metric is not None  # only None resolves to None
        return metric
    classes = {**_CLASSES, **(custom_objects or {})}
    if not isinstance(config, dict) or config.get("class_name") not in classes:
        raise ValueError(
            f"deserialize: unknown metric config {config!r}; expected "
            '{"class_name": <a nerve.metrics class>, "config": {...}}.'
        )
    return classes[config["class_name"]].from_config(config.get("config", {}))


__all__ = [
    *sorted(_CLASSES),
    "Metric",
    *sorted(_FUNCTIONS),
    "deserialize",
    "get",
    "get_metric",
    "resolve_accuracy",
    "serialize",
]
