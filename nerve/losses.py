"""Loss functions by Keras name (``keras.losses``).

Each loss comes in two forms, as in Keras 3:

- a function ``fn(y_true, y_pred, ...)`` returning one value per sample (the mean or
  sum over the last axis, or over ``axis``), e.g. ``mean_squared_error``;
- a class ``Loss(reduction="sum_over_batch_size", name=None, dtype=None, ...)`` whose
  ``__call__(y_true, y_pred, sample_weight=None)`` applies the function, weights the
  per-sample values and reduces them to a scalar, e.g. ``MeanSquaredError``.

Reductions: ``"sum_over_batch_size"`` (the default) and its synonym ``"mean"`` divide
the weighted sum by the number of loss values, ``"mean_with_sample_weight"`` by the sum
of the sample weights, ``"sum"`` returns the weighted sum, and ``None``/``"none"`` the
weighted per-sample values.

Everything is made of ``nerve.ops``, so losses work eagerly, under ``GradientTape``
and inside ``nerve.function``.

Differences from Keras 3 (each turns a silent surprise into a defined result):

- ``y_true`` and ``y_pred`` must have equal shapes after Keras's matching of a
  trailing size-1 axis; Keras broadcasts them, so ``(batch, 1)`` labels against
  ``(batch, n)`` predictions silently give a wrong loss. The ``ShapeError`` names the
  loss and both shapes.
- A ``sample_weight`` of lower rank than the losses gets trailing axes appended, so
  ``(batch,)`` weights scale ``(batch, steps)`` losses per sample (Keras broadcasts
  them against the last axis); one that cannot broadcast is a ``ShapeError``.
- ``"mean_with_sample_weight"`` divides by the sum of the weights broadcast to the
  losses' shape, a true weighted mean (Keras sums the weights as given, so a scalar
  weight ``w`` on ``n`` samples divides by ``w``, not ``n * w``).
- An empty batch reduces to a scalar 0 (Keras returns the empty losses unreduced).
- ``sparse_categorical_crossentropy(ignore_class=...)`` leaves ``y_pred`` as it is
  (Keras first zeroes the ignored rows, which for probability inputs means 0 / 0 in
  the renormalisation); ignored entries get loss 0 and gradient 0 either way.
- ``serialize`` gives a name string for a loss function (Keras a dict).

>>> from nerve import losses, ops
>>> y_true = ops.convert_to_tensor([[0.0, 1.0], [0.0, 0.0]])
>>> y_pred = ops.convert_to_tensor([[1.0, 1.0], [1.0, 0.0]])
>>> losses.mean_squared_error(y_true, y_pred).numpy()
array([0.5, 0.5], dtype=float32)
>>> float(losses.MeanSquaredError()(y_true, y_pred, sample_weight=[0.7, 0.3]))
0.25
>>> losses.get("mse") is losses.mean_squared_error
True
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

from nerve import ops
from nerve.core import config, dtypes
from nerve.core.errors import DataError, ShapeError, normalize_axis, with_location
from nerve.core.symbolic import as_float
from nerve.tensor import Tensor

REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None)


# -- helpers ---------------------------------------------------------------------------------


def _float(x: Any) -> Tensor:
    """``x`` as a float tensor (ints and bools become floatx, as in Keras)."""
    x = _tensor(x)
    return x if dtypes.is_float(x.dtype) else ops.cast(x, config.floatx())


def _tensor(x: Any) -> Tensor:
    # Tensors (Variables included) pass through as they are: ``ops.convert_to_tensor``
    # copies a Variable into a plain tensor, which a GradientTape no longer links to it.
    return x if isinstance(x, Tensor) else ops.convert_to_tensor(x)


def squeeze_or_expand_to_same_rank(x1: Tensor, x2: Tensor, expand_rank_1: bool = True) -> tuple:
    """Keras's rank matching: where ranks differ by one and the longer one ends in a
    size-1 axis, squeeze that axis (or, if the shorter is rank 1, expand it instead)."""
    r1, r2 = x1.ndim, x2.ndim
    if r1 == r2 + 1 and x1.shape[-1] == 1:
        if r2 == 1 and expand_rank_1:
            x2 = ops.expand_dims(x2, -1)
        else:
            x1 = ops.squeeze(x1, -1)
    elif r2 == r1 + 1 and x2.shape[-1] == 1:
        if r1 == 1 and expand_rank_1:
            x1 = ops.expand_dims(x1, -1)
        else:
            x2 = ops.squeeze(x2, -1)
    return x1, x2


def _pair(name: str, y_true: Any, y_pred: Any) -> tuple[Tensor, Tensor]:
    """Convert ``y_pred`` to float and ``y_true`` to its dtype, match ranks as Keras
    does, then insist on equal shapes (Keras would broadcast, which silently turns a
    ``(batch, 1)`` vs ``(batch, n)`` mix-up into a wrong loss)."""
    y_pred = _float(y_pred)
    y_true = ops.cast(_tensor(y_true), y_pred.dtype)
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    if tuple(y_true.shape) != tuple(y_pred.shape):
        raise ShapeError(
            with_location(
                f"{name}: y_true and y_pred must have the same shape (up to a trailing "
                f"axis of size 1); got y_true of shape {tuple(y_true.shape)} and y_pred of "
                f"shape {tuple(y_pred.shape)}."
            )
        )
    return y_true, y_pred


def _smooth_binary(y_true: Tensor, label_smoothing: float) -> Tensor:
    # Squeeze targets towards 0.5: 0 -> ls / 2, 1 -> 1 - ls / 2.
    return y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing if label_smoothing else y_true


def _smooth_categorical(y_true: Tensor, label_smoothing: float, axis: int) -> Tensor:
    if not label_smoothing:
        return y_true
    classes = y_true.shape[axis]
    return y_true * (1.0 - label_smoothing) + label_smoothing / classes


def l2_normalize(x: Tensor, axis: int = -1) -> Tensor:
    """``x / sqrt(max(sum(x**2), epsilon))`` over ``axis`` (Keras's loss-side normalize)."""
    square_sum = ops.sum(ops.square(x), axis=axis, keepdims=True)
    return x * ops.rsqrt(ops.maximum(square_sum, config.epsilon()))


def _check_axis_arg(name: str, axis: Any) -> None:
    if isinstance(axis, bool) or not isinstance(axis, int):
        raise ValueError(f"{name}: axis must be an int; received axis={axis!r}.")


# -- loss functions (one value per sample) -----------------------------------------------------


def mean_squared_error(y_true: Any, y_pred: Any) -> Tensor:
    """``mean(square(y_true - y_pred), axis=-1)``.

    >>> from nerve import losses
    >>> losses.mean_squared_error([[1.0, 2.0]], [[2.0, 4.0]]).numpy()
    array([2.5], dtype=float32)
    """
    y_true, y_pred = _pair("mean_squared_error", y_true, y_pred)
    return ops.mean(ops.square(y_true - y_pred), axis=-1)


def mean_absolute_error(y_true: Any, y_pred: Any) -> Tensor:
    """``mean(abs(y_true - y_pred), axis=-1)``."""
    y_true, y_pred = _pair("mean_absolute_error", y_true, y_pred)
    return ops.mean(ops.abs(y_true - y_pred), axis=-1)


def mean_absolute_percentage_error(y_true: Any, y_pred: Any) -> Tensor:
    """``100 * mean(abs((y_true - y_pred) / max(abs(y_true), epsilon)), axis=-1)``."""
    y_true, y_pred = _pair("mean_absolute_percentage_error", y_true, y_pred)
    diff = ops.abs((y_true - y_pred) / ops.maximum(ops.abs(y_true), config.epsilon()))
    return 100.0 * ops.mean(diff, axis=-1)


def mean_squared_logarithmic_error(y_true: Any, y_pred: Any) -> Tensor:
    """``mean(square(log(1 + y_pred) - log(1 + y_true)), axis=-1)``, both floored at
    ``epsilon`` before the log."""
    y_true, y_pred = _pair("mean_squared_logarithmic_error", y_true, y_pred)
    eps = config.epsilon()
    first = ops.log(ops.maximum(y_pred, eps) + 1.0)
    second = ops.log(ops.maximum(y_true, eps) + 1.0)
    return ops.mean(ops.square(first - second), axis=-1)


def huber(y_true: Any, y_pred: Any, delta: float = 1.0) -> Tensor:
    """Quadratic ``0.5 * e**2`` for ``|e| <= delta``, linear ``delta * (|e| - 0.5 * delta)``
    beyond; the mean over the last axis.

    >>> from nerve import losses
    >>> losses.huber([[0.0, 0.0]], [[0.5, 3.0]]).numpy()
    array([1.3125], dtype=float32)
    """
    y_true, y_pred = _pair("huber", y_true, y_pred)
    error = y_pred - y_true
    abs_error = ops.abs(error)
    quadratic = 0.5 * ops.square(error)
    linear = delta * abs_error - 0.5 * delta * delta
    return ops.mean(ops.where(ops.less_equal(abs_error, delta), quadratic, linear), axis=-1)


def log_cosh(y_true: Any, y_pred: Any) -> Tensor:
    """``mean(log(cosh(y_pred - y_true)), axis=-1)``, computed as
    ``x + softplus(-2x) - log(2)`` so large errors do not overflow ``cosh``."""
    y_true, y_pred = _pair("log_cosh", y_true, y_pred)
    x = y_pred - y_true
    return ops.mean(x + ops.softplus(-2.0 * x) - math.log(2.0), axis=-1)


def kl_divergence(y_true: Any, y_pred: Any) -> Tensor:
    """``sum(y_true * log(y_true / y_pred), axis=-1)`` with both clipped to
    ``[epsilon, 1]``."""
    y_true, y_pred = _pair("kl_divergence", y_true, y_pred)
    eps = config.epsilon()
    y_true = ops.clip(y_true, eps, 1.0)
    y_pred = ops.clip(y_pred, eps, 1.0)
    return ops.sum(y_true * ops.log(y_true / y_pred), axis=-1)


def poisson(y_true: Any, y_pred: Any) -> Tensor:
    """``mean(y_pred - y_true * log(y_pred + epsilon), axis=-1)`` (``epsilon = 1e-7``)."""
    y_true, y_pred = _pair("poisson", y_true, y_pred)
    return ops.mean(y_pred - y_true * ops.log(y_pred + 1e-7), axis=-1)


def _hinge_labels(y_true: Tensor) -> Tensor:
    # Keras maps {0, 1} labels to {-1, 1}; labels already in {-1, 1} pass unchanged.
    # ``where`` (not a Python ``if``) keeps this traceable.
    is_binary = ops.all(ops.logical_or(ops.equal(y_true, 0.0), ops.equal(y_true, 1.0)))
    return ops.where(is_binary, 2.0 * y_true - 1.0, y_true)


def hinge(y_true: Any, y_pred: Any) -> Tensor:
    """``mean(max(1 - y_true * y_pred, 0), axis=-1)``; labels ``{0, 1}`` become
    ``{-1, 1}``."""
    y_true, y_pred = _pair("hinge", y_true, y_pred)
    y_true = _hinge_labels(y_true)
    return ops.mean(ops.maximum(1.0 - y_true * y_pred, 0.0), axis=-1)


def squared_hinge(y_true: Any, y_pred: Any) -> Tensor:
    """``mean(square(max(1 - y_true * y_pred, 0)), axis=-1)``; labels ``{0, 1}`` become
    ``{-1, 1}``."""
    y_true, y_pred = _pair("squared_hinge", y_true, y_pred)
    y_true = _hinge_labels(y_true)
    return ops.mean(ops.square(ops.maximum(1.0 - y_true * y_pred, 0.0)), axis=-1)


def categorical_hinge(y_true: Any, y_pred: Any) -> Tensor:
    """``max(neg - pos + 1, 0)`` with ``pos = sum(y_true * y_pred)`` and
    ``neg = max((1 - y_true) * y_pred)`` over the last axis."""
    y_true, y_pred = _pair("categorical_hinge", y_true, y_pred)
    pos = ops.sum(y_true * y_pred, axis=-1)
    neg = ops.max((1.0 - y_true) * y_pred, axis=-1)
    return ops.maximum(neg - pos + 1.0, 0.0)


def cosine_similarity(y_true: Any, y_pred: Any, axis: int = -1) -> Tensor:
    """The negated cosine similarity over ``axis``: ``-sum(l2_normalize(y_true) *
    l2_normalize(y_pred))``, so -1 means aligned, 0 orthogonal (as a loss to minimise)."""
    y_true, y_pred = _pair("cosine_similarity", y_true, y_pred)
    return -ops.sum(l2_normalize(y_true, axis) * l2_normalize(y_pred, axis), axis=axis)


def binary_crossentropy(
    y_true: Any,
    y_pred: Any,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> Tensor:
    """Binary cross-entropy averaged over ``axis``; ``y_pred`` holds probabilities, or
    logits with ``from_logits=True`` (computed stably). ``label_smoothing`` squeezes
    targets towards 0.5.

    >>> from nerve import losses
    >>> losses.binary_crossentropy([[0.0, 1.0]], [[0.0, 0.0]], from_logits=True).numpy()
    array([0.6931472], dtype=float32)
    """
    _check_axis_arg("binary_crossentropy", axis)
    y_true, y_pred = _pair("binary_crossentropy", y_true, y_pred)
    y_true = _smooth_binary(y_true, label_smoothing)
    return ops.mean(ops.binary_crossentropy(y_true, y_pred, from_logits=from_logits), axis=axis)


def binary_focal_crossentropy(
    y_true: Any,
    y_pred: Any,
    apply_class_balancing: bool = False,
    alpha: float = 0.25,
    gamma: float = 2.0,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> Tensor:
    """Focal binary cross-entropy (Lin et al., 2017): each term of the binary
    cross-entropy scaled by ``(1 - p_t) ** gamma``, where ``p_t`` is the probability
    given to the true label; with ``apply_class_balancing`` also by ``alpha`` for
    positives and ``1 - alpha`` for negatives. The mean over ``axis``."""
    _check_axis_arg("binary_focal_crossentropy", axis)
    y_true, y_pred = _pair("binary_focal_crossentropy", y_true, y_pred)
    y_true = _smooth_binary(y_true, label_smoothing)
    if from_logits:
        y_pred = ops.sigmoid(y_pred)
    bce = ops.binary_crossentropy(y_true, y_pred, from_logits=False)
    p_t = y_true * y_pred + (1.0 - y_true) * (1.0 - y_pred)
    focal_bce = ops.power(1.0 - p_t, gamma) * bce
    if apply_class_balancing:
        focal_bce = (y_true * alpha + (1.0 - y_true) * (1.0 - alpha)) * focal_bce
    return ops.mean(focal_bce, axis=axis)


def categorical_crossentropy(
    y_true: Any,
    y_pred: Any,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> Tensor:
    """Cross-entropy between one-hot (or soft) ``y_true`` and ``y_pred`` over ``axis``
    (probabilities, renormalised and clipped; or logits with ``from_logits=True``).
    ``label_smoothing`` mixes the targets with the uniform distribution.

    >>> from nerve import losses
    >>> losses.categorical_crossentropy([[0.0, 1.0]], [[0.2, 0.8]]).numpy().round(4)
    array([0.2231], dtype=float32)
    """
    _check_axis_arg("categorical_crossentropy", axis)
    y_true, y_pred = _pair("categorical_crossentropy", y_true, y_pred)
    y_true = _smooth_categorical(y_true, label_smoothing, axis)
    return ops.categorical_crossentropy(y_true, y_pred, from_logits=from_logits, axis=axis)


def categorical_focal_crossentropy(
    y_true: Any,
    y_pred: Any,
    alpha: float = 0.25,
    gamma: float = 2.0,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> Tensor:
    """Focal categorical cross-entropy: ``sum(alpha * (1 - p) ** gamma * -y_true *
    log(p))`` over ``axis``, with ``p`` the renormalised, clipped probabilities."""
    _check_axis_arg("categorical_focal_crossentropy", axis)
    y_true, y_pred = _pair("categorical_focal_crossentropy", y_true, y_pred)
    y_true = _smooth_categorical(y_true, label_smoothing, axis)
    if from_logits:
        y_pred = ops.softmax(y_pred, axis=axis)
    output = y_pred / ops.sum(y_pred, axis=axis, keepdims=True)
    eps = config.epsilon()
    output = ops.clip(output, eps, 1.0 - eps)
    cce = -y_true * ops.log(output)
    return ops.sum(alpha * ops.power(1.0 - output, gamma) * cce, axis=axis)


def _sparse_pair(name: str, y_true: Any, y_pred: Any, axis: int) -> tuple[Tensor, Tensor]:
    y_pred = _float(y_pred)
    y_true = _tensor(y_true)
    # Labels shaped (batch, 1) against predictions (batch, classes): drop the 1.
    if y_true.ndim == y_pred.ndim and y_true.ndim > 0 and y_true.shape[-1] == 1:
        y_true = ops.squeeze(y_true, -1)
    if y_pred.ndim == 0:
        raise ShapeError(with_location(f"{name}: y_pred needs a class axis; got a scalar."))
    ax = normalize_axis(axis, y_pred.ndim, name)
    expected = tuple(d for i, d in enumerate(y_pred.shape) if i != ax)
    if tuple(y_true.shape) != expected:
        raise ShapeError(
            with_location(
                f"{name}: y_true must hold one integer label per prediction, i.e. have "
                f"y_pred's shape without the class axis {axis}: {expected}; got y_true of "
                f"shape {tuple(y_true.shape)} and y_pred of shape {tuple(y_pred.shape)}."
            )
        )
    return y_true, y_pred


def check_class_labels(
    name: str,
    labels: Any,
    num_classes: int,
    ignore_class: int | None = None,
    source: str = "y_true",
) -> None:
    """Raise ``DataError`` unless every label is an integer class index in
    ``[0, num_classes)`` (or equals ``ignore_class``). Out-of-range labels would
    otherwise match no class: a loss of 0 and an accuracy of 0, silently.

    It checks concrete values (eager calls) and returns at once inside a trace, where
    the values are unknown; ``fit`` therefore checks the first batch's targets and
    ``evaluate`` every batch's, on the host, before the compiled step runs.

    >>> check_class_labels("sparse_categorical_crossentropy", [0, 5], 3)
    Traceback (most recent call last):
    ...
    nerve.core.errors.DataError: sparse_categorical_crossentropy: y_true holds 1 label ...
    """
    if not _concrete():
        return
    # On the host, in one pass: a few eager ops per call would cost ~30x more.
    values = ops.convert_to_numpy(labels)
    if values.size == 0 or values.dtype.kind == "b":
        return
    valid = (values >= 0) & (values < num_classes)
    if values.dtype.kind == "f":
        valid &= values.round() == values
    if ignore_class is not None:
        valid |= values == ignore_class
    if valid.all():
        return
    flags = ~valid.reshape(-1)
    count = int(flags.sum())
    first = int(flags.argmax())
    value = values.reshape(-1)[first]
    index = []
    for size in reversed(values.shape):
        first, position = divmod(first, size)
        index.append(position)
    ignored = "" if ignore_class is None else f" or ignore_class={ignore_class}"
    raise DataError(
        with_location(
            f"{name}: {source} holds {count} label{'s' if count > 1 else ''} that "
            f"{'are' if count > 1 else 'is'} not an integer class index in "
            f"[0, {num_classes}){ignored} (the first: {value} at index "
            f"{tuple(reversed(index))}); expected one integer 0..{num_classes - 1} per "
            f"prediction, as y_pred has {num_classes} classes."
        )
    )


def takes_class_labels(fn: Callable) -> Callable:
    """Mark a per-sample loss or metric function whose ``y_true`` holds integer class
    indices (its ``axis`` and ``ignore_class`` keywords, where it has them, say where the
    classes are): ``fit`` and ``evaluate`` check such labels (``class_label_check``)."""
    fn.takes_class_labels = True  # type: ignore[attr-defined]
    return fn


def class_label_check(loss_or_metric: Any) -> tuple[int, int | None] | None:
    """``(class axis, ignore_class)`` when the loss or metric object wraps a function
    marked by ``takes_class_labels`` (else ``None``).

    >>> class_label_check(SparseCategoricalCrossentropy(ignore_class=-1))
    (-1, -1)
    """
    fn = getattr(loss_or_metric, "fn", None) or getattr(loss_or_metric, "_fn", None)
    if not getattr(fn, "takes_class_labels", False):
        return None
    kwargs = getattr(loss_or_metric, "_fn_kwargs", None) or {}
    if kwargs.get("from_sorted_ids"):  # y_pred holds ids, not one score per class
        return None
    return int(kwargs.get("axis", -1)), kwargs.get("ignore_class")


def _concrete() -> bool:
    """Whether tensors hold values here (eager), not placeholders of a trace."""
    from nerve.graph.trace import active_trace

    return active_trace() is None


def _sparse_with_mask(
    y_true: Any, y_pred: Any, from_logits: bool, ignore_class: int | None, axis: int
) -> tuple[Tensor, Tensor | None]:
    _check_axis_arg("sparse_categorical_crossentropy", axis)
    y_true, y_pred = _sparse_pair("sparse_categorical_crossentropy", y_true, y_pred, axis)
    classes = y_pred.shape[normalize_axis(axis, y_pred.ndim, "sparse_categorical_crossentropy")]
    check_class_labels("sparse_categorical_crossentropy", y_true, classes, ignore_class)
    if ignore_class is None:
        return ops.sparse_categorical_crossentropy(y_true, y_pred, from_logits, axis), None
    valid = ops.not_equal(y_true, ignore_class)
    # Ignored labels may be out of range (-1 is common): replace them by class 0 and zero
    # their loss afterwards. Unlike Keras we leave y_pred alone, so the masked entries'
    # gradients stay 0 rather than 0 * nan.
    y_true = ops.where(valid, y_true, ops.zeros_like(y_true))
    res = ops.sparse_categorical_crossentropy(y_true, y_pred, from_logits, axis)
    return ops.where(valid, res, ops.zeros_like(res)), valid


@takes_class_labels
def sparse_categorical_crossentropy(
    y_true: Any,
    y_pred: Any,
    from_logits: bool = False,
    ignore_class: int | None = None,
    axis: int = -1,
) -> Tensor:
    """Cross-entropy with integer class labels ``y_true`` (the shape of ``y_pred``
    without ``axis``, or with a trailing 1). Entries whose label is ``ignore_class``
    get loss 0 (the class form also leaves them out of the mean).

    >>> from nerve import losses
    >>> losses.sparse_categorical_crossentropy([1, 0], [[0.2, 0.8], [0.5, 0.5]]).numpy().round(4)
    array([0.2231, 0.6931], dtype=float32)
    """
    return _sparse_with_mask(y_true, y_pred, from_logits, ignore_class, axis)[0]


def _axes(name: str, axis: Any) -> int | tuple[int, ...] | None:
    """``axis`` for a reduction: ``None``, an int, or a tuple (a config's list too)."""
    if isinstance(axis, list):
        axis = tuple(axis)
    ints = axis if isinstance(axis, tuple) else (axis,)
    if axis is not None and not all(isinstance(a, int) and not isinstance(a, bool) for a in ints):
        raise ValueError(
            f"{name}: axis must be None, an int or a tuple of ints; received axis={axis!r}."
        )
    return axis


def dice(y_true: Any, y_pred: Any, axis: Any = None) -> Tensor:
    """The Dice loss, ``1 - 2 * sum(y_true * y_pred) / (sum(y_true) + sum(y_pred) +
    epsilon)``, the sums over ``axis`` (default ``None``: every axis, one value for the
    whole batch; ``axis=(1, 2, 3)`` gives one value per image of a segmentation batch).
    1 minus the soft overlap of a predicted mask with the true one.

    >>> from nerve import losses
    >>> y_true = [[1.0, 1.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]]
    >>> y_pred = [[1.0, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]]
    >>> losses.dice(y_true, y_pred, axis=1).numpy().round(4)  # 1 - 2/3, then 1 - 2/2
    array([0.3333, 0.    ], dtype=float32)
    """
    axis = _axes("dice", axis)
    y_true, y_pred = _pair("dice", y_true, y_pred)
    intersection = ops.sum(y_true * y_pred, axis=axis)
    total = ops.sum(y_true, axis=axis) + ops.sum(y_pred, axis=axis) + config.epsilon()
    return 1.0 - 2.0 * intersection / total


def tversky(
    y_true: Any, y_pred: Any, alpha: float = 0.5, beta: float = 0.5, axis: Any = None
) -> Tensor:
    """The Tversky loss (Salehi et al., 2017), a Dice loss with the two kinds of error
    weighed apart: ``1 - I / (I + alpha * sum(y_true * (1 - y_pred)) + beta *
    sum((1 - y_true) * y_pred) + epsilon)`` with ``I = sum(y_true * y_pred)``, the sums
    over ``axis`` (default ``None``: every axis). As in Keras 3, ``alpha`` weighs the
    true mass the prediction misses and ``beta`` the predicted mass outside the truth
    (Keras's docs name them the other way round); ``alpha = beta = 0.5`` is ``dice``.

    >>> from nerve import losses
    >>> y_true, y_pred = [[1.0, 1.0, 0.0]], [[1.0, 0.0, 1.0]]
    >>> losses.tversky(y_true, y_pred, alpha=0.2, beta=0.8, axis=1).numpy().round(4)
    array([0.5], dtype=float32)
    """
    axis = _axes("tversky", axis)
    y_true, y_pred = _pair("tversky", y_true, y_pred)
    intersection = ops.sum(y_true * y_pred, axis=axis)
    missed = ops.sum(y_true * (1.0 - y_pred), axis=axis)
    extra = ops.sum((1.0 - y_true) * y_pred, axis=axis)
    denominator = intersection + alpha * missed + beta * extra + config.epsilon()
    return 1.0 - intersection / denominator


def _labels_for_rows(name: str, labels: Any, rows: int, what: str) -> Tensor:
    """Integer labels, one per embedding row: ``(rows,)`` or ``(rows, 1)``."""
    labels = _tensor(labels)
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = ops.squeeze(labels, 1)
    if tuple(labels.shape) != (rows,):
        raise ShapeError(
            with_location(
                f"{name}: {what} must hold one integer label per embedding, of shape "
                f"({rows},) or ({rows}, 1); got shape {tuple(labels.shape)}."
            )
        )
    return ops.cast(labels, "int32")


def circle(
    y_true: Any,
    y_pred: Any,
    ref_labels: Any = None,
    ref_embeddings: Any = None,
    remove_diagonal: bool = True,
    gamma: float = 80,
    margin: float = 0.4,
) -> Tensor:
    """The Circle loss (Sun et al., 2020) of each embedding against the reference
    embeddings: pulls same-label pairs together and pushes different-label pairs apart,
    each pair weighted by how far it is from its optimum.

    ``y_pred`` holds L2-normalised embeddings ``(batch, dim)``, ``y_true`` their
    integer labels ``(batch,)``; the references default to the batch itself. With
    ``d`` the cosine distances ``max(1 - y_pred @ ref_embeddings.T, 0)`` and ``m`` the
    margin, a same-label pair (positive; the pair of an embedding with itself left out
    when ``remove_diagonal``) scores ``-gamma * max(m + d, 0) * (m - d)`` and a
    different-label pair ``gamma * max(1 + m - d, 0) * (1 - m - d)``; the loss of a row
    is ``softplus(logsumexp(positive scores) + logsumexp(negative scores))``, 0 for a
    row without positives or negatives.

    Args:
        y_true: integer labels, shape ``(batch,)`` or ``(batch, 1)``.
        y_pred: L2-normalised embeddings, shape ``(batch, dim)``.
        ref_labels: integer labels of the references (default ``None``: ``y_true``).
        ref_embeddings: L2-normalised reference embeddings ``(refs, dim)`` (default
            ``None``: ``y_pred``).
        remove_diagonal: leave each embedding's pair with itself out of the positives
            (default ``True``; meant for references that are the batch itself).
        gamma: the scale of the scores (default 80).
        margin: the relaxation margin ``m`` (default 0.4).

    >>> from nerve import losses
    >>> y_pred = [[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]  # two alike, one orthogonal
    >>> losses.circle([0, 0, 1], y_pred, gamma=1.0).numpy().round(4)  # row 3: no positive
    array([0.5459, 0.5459, 0.    ], dtype=float32)
    """
    y_pred = _float(y_pred)
    if y_pred.ndim != 2:
        raise ShapeError(
            with_location(
                "circle: y_pred must hold one embedding per row, shape (batch, dim); got "
                f"shape {tuple(y_pred.shape)}."
            )
        )
    labels = _labels_for_rows("circle", y_true, y_pred.shape[0], "y_true")
    refs = y_pred if ref_embeddings is None else ops.cast(_tensor(ref_embeddings), y_pred.dtype)
    if refs.ndim != 2 or refs.shape[1] != y_pred.shape[1]:
        raise ShapeError(
            with_location(
                f"circle: ref_embeddings must have shape (refs, {y_pred.shape[1]}) to match "
                f"y_pred; got shape {tuple(refs.shape)}."
            )
        )
    keys = (
        labels
        if ref_labels is None
        else _labels_for_rows("circle", ref_labels, refs.shape[0], "ref_labels")
    )
    distances = ops.maximum(1.0 - ops.matmul(y_pred, ops.transpose(refs)), 0.0)
    positive = ops.equal(ops.expand_dims(labels, 1), ops.expand_dims(keys, 0))
    negative = ops.logical_not(positive)
    if remove_diagonal:
        diagonal = ops.eye(y_pred.shape[0], refs.shape[0], k=0, dtype="bool")
        positive = ops.logical_and(positive, ops.logical_not(diagonal))
    pos_weights = ops.maximum((margin + distances) * ops.cast(positive, distances.dtype), 0.0)
    neg_weights = ops.maximum((1.0 + margin - distances) * ops.cast(negative, distances.dtype), 0.0)
    pos_scores = -gamma * pos_weights * (margin - distances)
    neg_scores = gamma * neg_weights * (1.0 - margin - distances)
    # -inf leaves a pair out of the log-sum-exp; a row with none gives -inf, softplus 0.
    pos_lse = ops.logsumexp(ops.where(positive, pos_scores, float("-inf")), axis=1)
    neg_lse = ops.logsumexp(ops.where(negative, neg_scores, float("-inf")), axis=1)
    return ops.softplus(pos_lse + neg_lse)


@takes_class_labels
def categorical_generalized_cross_entropy(y_true: Any, y_pred: Any, q: float) -> Tensor:
    """The generalized cross-entropy (Zhang & Sabuncu, 2018), ``(1 - p**q) / q`` with
    ``p`` the probability ``y_pred`` gives the labelled class: a loss robust to noisy
    labels, between the cross-entropy (``q -> 0``) and the mean absolute error
    (``q = 1``).

    ``y_true`` holds integer labels, ``y_pred``'s shape without its last (class) axis
    (a trailing axis of size 1 is allowed); ``y_pred`` holds probabilities.

    >>> from nerve import losses
    >>> y_pred = [[0.75, 0.25], [1.0, 0.0]]
    >>> losses.categorical_generalized_cross_entropy([1, 0], y_pred, q=0.5).numpy()
    array([1., 0.], dtype=float32)
    """
    name = "categorical_generalized_cross_entropy"
    y_true, y_pred = _sparse_pair(name, y_true, y_pred, -1)
    classes = y_pred.shape[-1]
    check_class_labels(name, y_true, classes)
    one_hot = ops.one_hot(ops.cast(y_true, "int32"), classes, dtype=y_pred.dtype)
    p = ops.sum(y_pred * one_hot, axis=-1)
    return (1.0 - ops.power(p, q)) / q


def ctc(y_true: Any, y_pred: Any) -> Tensor:
    """The CTC (connectionist temporal classification) loss of each sequence: minus the
    log-probability of the label sequence, summed over all its alignments with the
    time steps (see ``nerve.ops.ctc_loss``).

    ``y_true`` holds integer labels ``(batch, max_length)``, padded with 0, which is
    also the blank class (so classes start at 1); ``y_pred`` holds logits (not
    softmax outputs), ``(batch, time, classes)``, every time step counting.

    >>> from nerve import losses, ops
    >>> logits = ops.zeros((1, 3, 3))  # uniform over {blank, a, b} at each of 3 steps
    >>> losses.ctc([[1, 2, 0]], logits).numpy().round(4)  # 5 alignments of 27 paths
    array([1.6864], dtype=float32)
    """
    y_true, y_pred = _tensor(y_true), _float(y_pred)
    if y_true.ndim != 2 or y_pred.ndim != 3 or y_true.shape[0] != y_pred.shape[0]:
        raise ShapeError(
            with_location(
                "ctc: y_true must be integer labels of shape (batch, max_length) and "
                "y_pred logits of shape (batch, time, classes); got y_true of shape "
                f"{tuple(y_true.shape)} and y_pred of shape {tuple(y_pred.shape)}."
            )
        )
    labels = ops.cast(y_true, "int32")
    label_length = ops.sum(ops.cast(ops.not_equal(labels, 0), "int32"), axis=-1)
    batch, steps = y_pred.shape[0], y_pred.shape[1]
    input_length = ops.full((batch,), steps, dtype="int32")
    return ops.ctc_loss(labels, y_pred, label_length, input_length, mask_index=0)


# Keras's short names.
mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
mape = MAPE = mean_absolute_percentage_error
msle = MSLE = mean_squared_logarithmic_error
kld = KLD = kullback_leibler_divergence = kl_divergence
logcosh = log_cosh
bce = BCE = binary_crossentropy


# -- reduction -------------------------------------------------------------------------------


def standardize_reduction(reduction: str | None) -> str | None:
    """Check ``reduction`` against Keras's list (``REDUCTIONS``)."""
    if reduction not in REDUCTIONS:
        raise ValueError(
            f"Invalid value for argument `reduction`: expected one of {list(REDUCTIONS)}; "
            f"received reduction={reduction!r}."
        )
    return reduction


def _weight_like(name: str, values: Tensor, weight: Tensor) -> tuple[Tensor, Tensor]:
    """``values`` and ``weight`` made to broadcast: Keras's squeeze/expand of a trailing
    1, then (beyond Keras) missing trailing axes appended to ``weight``, so per-sample
    weights ``(batch,)`` scale per-timestep losses ``(batch, steps)`` row by row."""
    values, weight = squeeze_or_expand_to_same_rank(values, weight)
    if 0 < weight.ndim < values.ndim:
        weight = ops.reshape(weight, (*weight.shape, *(1,) * (values.ndim - weight.ndim)))
    if not _broadcastable(tuple(weight.shape), tuple(values.shape)):
        raise ShapeError(
            with_location(
                f"{name}: sample_weight of shape {tuple(weight.shape)} cannot be broadcast "
                f"to the per-sample losses of shape {tuple(values.shape)}; pass one weight "
                "per sample (or per loss value)."
            )
        )
    return values, weight


def _broadcastable(small: tuple, big: tuple) -> bool:
    """Whether ``small`` broadcasts *to* ``big`` (the losses keep their shape)."""
    if len(small) > len(big):
        return False
    return all(s in (1, b) for s, b in zip(reversed(small), reversed(big)))


def _mask_like(mask: Tensor, losses: Tensor, name: str) -> Tensor:
    """The predictions' mask shaped like the per-element ``losses`` (a trailing axis of
    size 1 dropped or added), or a clear error."""
    if mask.ndim == losses.ndim + 1 and mask.shape[-1] == 1:
        mask = ops.squeeze(mask, -1)
    elif mask.ndim + 1 == losses.ndim and losses.shape[-1] == 1:
        mask = ops.expand_dims(mask, -1)
    if tuple(mask.shape) != tuple(losses.shape):
        raise ShapeError(
            f"Loss {name!r}: the predictions carry a mask of shape {tuple(mask.shape)}, which "
            f"does not match the per-sample losses of shape {tuple(losses.shape)}."
        )
    return ops.cast(mask, "bool")


def reduce_weighted_values(
    values: Tensor,
    sample_weight: Any = None,
    mask: Tensor | None = None,
    reduction: str | None = "sum_over_batch_size",
    dtype: str | None = None,
    name: str = "loss",
) -> Tensor:
    """Weight ``values`` by ``sample_weight`` (and a validity ``mask``) and reduce them
    as ``reduction`` says. A mask makes the mean reductions average over valid entries."""
    reduction = standardize_reduction(reduction)
    values = ops.cast(values, dtype or values.dtype)
    if sample_weight is not None:
        sample_weight = ops.cast(_tensor(sample_weight), values.dtype)
    if mask is not None:
        mask = ops.cast(mask, values.dtype)
        if reduction in ("mean", "sum_over_batch_size"):
            # Valid entries weigh total / valid, so sum / total == sum / valid.
            total = float(math.prod(mask.shape))
            mask = mask * (total / (ops.sum(mask) + config.epsilon()))
        if sample_weight is None:
            sample_weight = mask
        else:
            mask, sample_weight = _weight_like(name, mask, sample_weight)
            sample_weight = sample_weight * mask
    if sample_weight is not None:
        values, sample_weight = _weight_like(name, values, sample_weight)
        values = values * sample_weight
    # (Keras also returns an empty batch's (0,) losses unreduced; a scalar 0 is kinder
    # to training loops.)
    if reduction in (None, "none") or values.ndim == 0:
        return values
    loss = ops.sum(values)
    if reduction == "sum":
        return loss
    if reduction == "mean_with_sample_weight" and sample_weight is not None:
        divisor = ops.sum(ops.broadcast_to(sample_weight, values.shape))
        # divide_no_nan, with a gradient that stays finite when the weights sum to 0.
        nonzero = ops.not_equal(divisor, 0.0)
        return ops.where(nonzero, loss / ops.where(nonzero, divisor, 1.0), 0.0)
    count = math.prod(values.shape)
    # as_float: float(count), or a symbolic 1/n-style number while traced with a symbolic
    # batch size (nerve.core.symbolic).
    return loss / as_float(count) if count else loss  # an empty batch's mean is 0


# -- loss classes ----------------------------------------------------------------------------


def _snake_case(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z][a-z])", "_", name).lower()


class Loss:
    """Base class of the losses (Keras 3's ``keras.losses.Loss``): calling a loss,
    ``loss(y_true, y_pred, sample_weight=None)``, turns a batch of targets and
    predictions into the number training minimises.

    A subclass implements ``call(y_true, y_pred)``, returning per-sample losses
    (typically ``y_pred``'s shape without its last axis). ``__call__`` first casts
    ``y_pred`` (and ``y_true``, except the integer labels of sparse losses) to
    ``dtype``; then multiplies the per-sample losses by ``sample_weight`` (a scalar,
    or an array whose missing trailing axes are added) and by ``y_pred``'s implicit
    mask if it carries one (padded time steps weigh 0); and reduces them as
    ``reduction`` says.

    Args:
        name: the loss's name in logs and configs (default ``None``: the class name
            in snake case; each built-in class has its own default).
        reduction: how the weighted per-sample losses become the result:
            ``"sum_over_batch_size"`` (default) or its synonym ``"mean"``: their sum
            divided by their number (masked-out entries not counted);
            ``"mean_with_sample_weight"``: their sum divided by the sum of the weights
            (a true weighted mean); ``"sum"``: their sum; ``None`` or ``"none"``: the
            weighted per-sample losses, unreduced. An empty batch reduces to 0.
        dtype: the dtype the loss computes and returns in (default ``None``:
            ``nerve.config.floatx()``, normally ``"float32"``).

    >>> from nerve import losses, ops
    >>> class Cubed(losses.Loss):
    ...     def call(self, y_true, y_pred):
    ...         return ops.mean(ops.abs(y_true - y_pred) ** 3, axis=-1)
    >>> float(Cubed(reduction="sum")([[0.0], [0.0]], [[1.0], [2.0]]))
    9.0
    >>> float(Cubed()([[0.0], [0.0]], [[1.0], [2.0]], sample_weight=[1.0, 0.0]))
    0.5
    """

    def __init__(
        self,
        name: str | None = None,
        reduction: str | None = "sum_over_batch_size",
        dtype: str | None = None,
    ):
        self.name = name or _snake_case(type(self).__name__)
        self.reduction = standardize_reduction(reduction)
        self._dtype = None if dtype is None else dtypes.standardize_dtype(dtype)

    @property
    def dtype(self) -> str:
        """The dtype of the loss's computations (floatx unless given)."""
        return self._dtype or config.floatx()

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Tensor:
        # Keras's implicit mask on the predictions (padded time steps): those losses
        # weigh 0, and mean reductions average over the rest. Read before the cast,
        # which makes a new tensor.
        keras_mask = getattr(y_pred, "_keras_mask", None)
        y_pred = ops.cast(_tensor(y_pred), self.dtype)
        y_true = _tensor(y_true)
        if not self._integer_labels:
            y_true = ops.cast(y_true, self.dtype)
        losses, mask = self._call_with_mask(y_true, y_pred)
        if keras_mask is not None:
            keras_mask = _mask_like(keras_mask, losses, self.name)
            mask = keras_mask if mask is None else ops.logical_and(mask, keras_mask)
        return reduce_weighted_values(
            losses, sample_weight, mask, self.reduction, self.dtype, name=self.name
        )

    # Sparse losses keep integer labels; every other loss computes in ``dtype``.
    _integer_labels = False

    def _call_with_mask(self, y_true: Tensor, y_pred: Tensor) -> tuple[Tensor, Tensor | None]:
        return self.call(y_true, y_pred), None

    def call(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} must implement call(y_true, y_pred).")

    def get_config(self) -> dict:
        return {"name": self.name, "reduction": self.reduction, "dtype": self._dtype}

    @classmethod
    def from_config(cls, config: dict) -> Loss:
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class LossFunctionWrapper(Loss):
    """A ``Loss`` made from a function that returns per-sample losses (Keras 3's
    ``keras.losses.LossFunctionWrapper``); every built-in loss class is one, e.g.
    ``MeanSquaredError`` wraps ``mean_squared_error``.

    ``call`` matches the ranks of ``y_true`` and ``y_pred`` (a trailing axis of size 1)
    and returns ``fn(y_true, y_pred, **kwargs)``; ``Loss.__call__`` weights and
    reduces the result. ``get_config`` includes ``kwargs`` (and, for a bare wrapper,
    ``fn`` by name), so the loss can be saved and rebuilt.

    Args:
        fn: the per-sample loss function, ``fn(y_true, y_pred, **kwargs)``.
        reduction, dtype: as for ``Loss`` (defaults ``"sum_over_batch_size"``, ``None``).
        name: the loss's name (default ``None``: ``fn.__name__``).
        **kwargs: keyword arguments passed to ``fn`` on every call.

    >>> from nerve import losses
    >>> wrapped = losses.LossFunctionWrapper(losses.huber, delta=0.5, reduction="sum")
    >>> wrapped.name, float(wrapped([[0.0, 0.0]], [[0.25, 2.0]]))
    ('huber', 0.453125)
    """

    def __init__(
        self,
        fn: Callable,
        reduction: str | None = "sum_over_batch_size",
        name: str | None = None,
        dtype: str | None = None,
        **kwargs: Any,
    ):
        super().__init__(
            name=name or getattr(fn, "__name__", None), reduction=reduction, dtype=dtype
        )
        self.fn = fn
        self._fn_kwargs = kwargs

    def call(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        return self.fn(y_true, y_pred, **self._fn_kwargs)

    def get_config(self) -> dict:
        config = super().get_config()
        if type(self) is LossFunctionWrapper:
            config["fn"] = serialize(self.fn)
        return {**config, **self._fn_kwargs}

    @classmethod
    def from_config(cls, config: dict) -> Loss:
        if cls is LossFunctionWrapper:
            config = dict(config)
            config["fn"] = get(config["fn"])
        return cls(**config)


class MeanSquaredError(LossFunctionWrapper):
    """The mean squared error, as Keras 3's ``MeanSquaredError``.

    Per sample ``mean(square(y_true - y_pred), axis=-1)``. ``y_true`` and ``y_pred``
    share a shape ``(batch, ..., d)`` (either may lack a trailing axis of size 1);
    the per-sample losses, of shape ``(batch, ...)``, are weighted and reduced as
    ``reduction`` says (by default, their mean).

    Args:
        reduction, dtype: as for ``Loss`` (defaults ``"sum_over_batch_size"``, ``None``).
        name: the loss's name (default ``"mean_squared_error"``).

    >>> loss = MeanSquaredError()
    >>> float(loss([[0.0, 1.0], [1.0, 1.0]], [[1.0, 1.0], [1.0, 3.0]]))
    1.25
    """

    def __init__(
        self,
        reduction: str | None = "sum_over_batch_size",
        name: str | None = "mean_squared_error",
        dtype: str | None = None,
    ):
        super().__init__(mean_squared_error, reduction=reduction, name=name, dtype=dtype)


class MeanAbsoluteError(LossFunctionWrapper):
    """The mean absolute error, as Keras 3's ``MeanAbsoluteError``.

    Per sample ``mean(abs(y_true - y_pred), axis=-1)``, for ``y_true`` and ``y_pred`` of
    one shape ``(batch, ..., d)``; the per-sample losses ``(batch, ...)`` are weighted
    and reduced as ``reduction`` says (by default, their mean). Less sensitive to
    outliers than the squared error.

    Args:
        reduction, dtype: as for ``Loss`` (defaults ``"sum_over_batch_size"``, ``None``).
        name: the loss's name (default ``"mean_absolute_error"``).

    >>> loss = MeanAbsoluteError(reduction="sum")
    >>> float(loss([[0.0, 1.0], [1.0, 1.0]], [[1.0, 1.0], [1.0, 3.0]]))
    1.5
    """

    def __init__(
        self,
        reduction: str | None = "sum_over_batch_size",
        name: str | None = "mean_absolute_error",
        dtype: str | None = None,
    ):
        super().__init__(mean_absolute_error, reduction=reduction, name=name, dtype=dtype)


class MeanAbsolutePercentageError(LossFunctionWrapper):
    """The mean absolute percentage error, as Keras 3's
    ``MeanAbsolutePercentageError``.

    Per sample ``100 * mean(abs((y_true - y_pred) / max(abs(y_true), epsilon)), axis=-1)``
    (``epsilon`` from ``nerve.config.epsilon()``, so a zero target gives a very large
    term instead of a division by zero), for ``y_true`` and ``y_pred`` of one shape
    ``(batch, ..., d)``; the per-sample losses ``(batch, ...)`` are weighted and
    reduced as ``reduction`` says.

    Args:
        reduction, dtype: as for ``Loss`` (defaults ``"sum_over_batch_size"``, ``None``).
        name: the loss's name (default ``"mean_absolute_percentage_error"``).

    >>> loss = MeanAbsolutePercentageError()
    >>> float(loss([[2.0, 4.0]], [[1.0, 5.0]]))
    37.5
    """

    def __init__(
        self,
        reduction: str | None = "sum_over_batch_size",
        name: str | None = "mean_absolute_percentage_error",
        dtype: str | None = None,
    ):
        super().__init__(
            mean_absolute_percentage_error, reduction=reduction, name=name, dtype=dtype
        )


class MeanSquaredLogarithmicError(LossFunctionWrapper):
    """The mean squared logarithmic error, as Keras 3's
    ``MeanSquaredLogarithmicError``: the squared error between ``log(1 + y)`` values,
    so it weighs relative rather than absolute differences.

    Per sample ``mean(square(log(1 + y_pred) - log(1 + y_true)), axis=-1)``, each of
    ``y_true``, ``y_pred`` first floored at ``epsilon`` (so negative values count as
    0). Both have one shape ``(batch, ..., d)``; the per-sample losses
    ``(batch, ...)`` are weighted and reduced as ``reduction`` says.

    Args:
        reduction, dtype: as for ``Loss`` (defaults ``"sum_over_batch_size"``, ``None``).
        name: the loss's name (default ``"mean_squared_logarithmic_error"``).

    >>> import math
    >>> loss = MeanSquaredLogarithmicError()
    >>> round(float(loss([[0.0]], [[math.e - 1.0]])), 5)
    1.0
    """

    def __init__(
        self,
        reduction: str | None = "sum_over_batch_size",
        name: str | None = "mean_squared_logarithmic_error",
        dtype: str | None = None,
    ):
        super().__init__(
            mean_squared_logarithmic_error, reduction=reduction, name=name, dtype=dtype
        )


class Huber(LossFunctionWrapper):
    """The Huber loss, as Keras 3's ``Huber``: quadratic for small errors, linear for
    large ones, so outliers pull less than with the squared error.

    With ``e = y_pred - y_true``, each element costs ``0.5 * e**2`` where
    ``|e| <= delta`` and ``delta * (|e| - 0.5 * delta)`` beyond; the per-sample loss is
    their mean over the last axis. ``y_true`` and ``y_pred`` share a shape
    ``(batch, ..., d)``; the per-sample losses ``(batch, ...)`` are weighted and
    reduced as ``reduction`` says.

    Args:
        delta: the error size where the loss turns from quadratic to linear, a float
            > 0 (default 1.0).
        reduction, dtype: as for ``Loss`` (defaults ``"sum_over_batch_size"``, ``None``).
        name: the loss's name (default ``"huber_loss"``).

    >>> loss = Huber(delta=1.0)
    >>> float(loss([[0.0, 0.0]], [[0.5, 3.0]]))
    1.3125
    """

    def __init__(
        self,
        delta: float = 1.0,
        reduction: str | None = "sum_over_batch_size",
        name: str | None = "huber_loss",
        dtype: str | None = None,
    ):
        super().__init__(huber, reduction=reduction, name=name, dtype=dtype, delta=delta)
        self.delta = delta


class LogCosh(LossFunctionWrapper):
    """The logarithm of the hyperbolic cosine of the error, as Keras 3's ``LogCosh``:
    about ``e**2 / 2`` for small errors and ``|e| - log(2)`` for large ones.

    Per sample ``mean(log(cosh(y_pred - y_true)), axis=-1)``, computed without
    overflow for large errors. ``y_true`` and ``y_pred`` share a shape
    ``(batch, ..., d)``; the per-sample losses ``(batch, ...)`` are weighted and
    reduced as ``reduction`` says.

    Args:
        reduction, dtype: as for ``Loss`` (defaults ``"sum_over_batch_size"``, ``None``).
        name: the loss's name (default ``"log_cosh"``).

    >>> loss = LogCosh()
    >>> round(float(loss([[0.0, 0.0]], [[0.0, 100.0]])), 4)
    49.6534
    """

    def __init__(
        self,
        reduction: str | None = "sum_over_batch_size",
        name: str | None = "log_cosh",
        dtype: str | None = None,
    ):
        super().__init__(log_cosh, reduction=reduction, name=name, dtype=dtype)


class KLDivergence(LossFunctionWrapper):
    """The Kullback-Leibler divergence from ``y_pred`` to ``y_true``, as Keras 3's
    ``KLDivergence``.

    Per sample ``sum(y_true * log(y_true / y_pred), axis=-1)``, both first clipped to
    ``[epsilon, 1]``. ``y_true`` and ``y_pred`` hold probability distributions over
    the last axis, of one shape ``(batch, ..., classes)``; the per-sample losses
    ``(batch, ...)`` are weighted and reduced as ``reduction`` says.

    Args:
        reduction, dtype: as for ``Loss`` (defaults ``"sum_over_batch_size"``, ``None``).
        name: the loss's name (default ``"kl_divergence"``).

    >>> import math
    >>> loss = KLDivergence()
    >>> round(float(loss([[0.5, 0.5]], [[0.25, 0.75]])) - 0.5 * math.log(4 / 3), 5)
    0.0
    """

    def __init__(
        self,
        reduction: str | None = "sum_over_batch_size",
        name: str | None = "kl_divergence",
        dtype: str | None = None,
    ):
        super().__init__(kl_divergence, reduction=reduction, name=name, dtype=dtype)


class Poisson(LossFunctionWrapper):
    """The Poisson loss, as Keras 3's ``Poisson``: the negative log-likelihood of
    counts ``y_true`` under Poisson rates ``y_pred``, up to a term free of ``y_pred``.

    Per sample ``mean(y_pred - y_true * log(y_pred + 1e-7), axis=-1)``; ``y_pred``
    should be positive rates (e.g. from an ``exp`` or ``softplus`` output). Both have
    one shape ``(batch, ..., d)``; the per-sample losses ``(batch, ...)`` are weighted
    and reduced as ``reduction`` says.

    Args:
        reduction, dtype: as for ``Loss`` (defaults ``"sum_over_batch_size"``, ``None``).
        name: the loss's name (default ``"poisson"``).

    >>> loss = Poisson()
    >>> round(float(loss([[0.0, 2.0]], [[1.0, 1.0]])), 5)
    1.0
    """

    def __init__(
        self,
        reduction: str | None = "sum_over_batch_size",
        name: str | None = "poisson",
        dtype: str | None = None,
    ):
        super().__init__(poisson, reduction=reduction, name=name, dtype=dtype)


class Hinge(LossFunctionWrapper):
    """The hinge loss of a maximum-margin classifier, as Keras 3's ``Hinge``.

    Per sample ``mean(max(1 - y_true * y_pred, 0), axis=-1)``, with labels ``y_true``
    in ``{-1, 1}`` (labels that are all 0 or 1 are mapped to ``{-1, 1}`` first) and
    raw scores ``y_pred``. Both have one shape ``(batch, ..., d)``; the per-sample
    losses ``(batch, ...)`` are weighted and reduced as ``reduction`` says.

    Args:
        reduction, dtype: as for ``Loss`` (defaults ``"sum_over_batch_size"``, ``None``).
        name: the loss's name (default ``"hinge"``).

    >>> loss = Hinge()
    >>> float(loss([[1.0, 0.0]], [[0.5, -2.0]]))
    0.25
    """

    def __init__(
        self,
        reduction: str | None = "sum_over_batch_size",
        name: str | None = "hinge",
        dtype: str | None = None,
    ):
        super().__init__(hinge, reduction=reduction, name=name, dtype=dtype)


class SquaredHinge(LossFunctionWrapper):
    """The squared hinge loss, as Keras 3's ``SquaredHinge``: like ``Hinge`` but the
    margin violations are squared, so large ones cost more.

    Per sample ``mean(square(max(1 - y_true * y_pred, 0)), axis=-1)``, with labels
    ``y_true`` in ``{-1, 1}`` (labels that are all 0 or 1 are mapped to ``{-1, 1}``
    first) and raw scores ``y_pred`` of the same shape ``(batch, ..., d)``; the
    per-sample losses ``(batch, ...)`` are weighted and reduced as ``reduction`` says.

    Args:
        reduction, dtype: as for ``Loss`` (defaults ``"sum_over_batch_size"``, ``None``).
        name: the loss's name (default ``"squared_hinge"``).

    >>> loss = SquaredHinge()
    >>> float(loss([[1.0, 0.0]], [[0.5, -2.0]]))
    0.125
    """

    def __init__(
        self,
        reduction: str | None = "sum_over_batch_size",
        name: str | None = "squared_hinge",
        dtype: str | None = None,
    ):
        super().__init__(squared_hinge, reduction=reduction, name=name, dtype=dtype)


class CategoricalHinge(LossFunctionWrapper):
    """The multi-class hinge loss, as Keras 3's ``CategoricalHinge``.

    Per sample ``max(neg - pos + 1, 0)`` where ``pos = sum(y_true * y_pred)`` is the
    true class's score and ``neg = max((1 - y_true) * y_pred)`` the best other score,
    both over the last axis. ``y_true`` is one-hot and ``y_pred`` holds scores, both
    of shape ``(batch, ..., classes)``; the per-sample losses ``(batch, ...)`` are
    weighted and reduced as ``reduction`` says.

    Args:
        reduction, dtype: as for ``Loss`` (defaults ``"sum_over_batch_size"``, ``None``).
        name: the loss's name (default ``"categorical_hinge"``).

    >>> loss = CategoricalHinge()
    >>> float(loss([[0.0, 1.0, 0.0]], [[0.5, 1.0, 0.25]]))
    0.5
    """

    def __init__(
        self,
        reduction: str | None = "sum_over_batch_size",
        name: str | None = "categorical_hinge",
        dtype: str | None = None,
    ):
        super().__init__(categorical_hinge, reduction=reduction, name=name, dtype=dtype)


class CosineSimilarity(LossFunctionWrapper):
    """The negated cosine similarity, as Keras 3's ``CosineSimilarity``: -1 when
    ``y_pred`` points the same way as ``y_true``, 0 when orthogonal, 1 when opposite,
    so minimising it aligns the vectors.

    Per sample ``-sum(l2_normalize(y_true) * l2_normalize(y_pred), axis=axis)`` (each
    vector divided by ``sqrt(max(sum(x**2), epsilon))``, so a zero vector gives 0).
    ``y_true`` and ``y_pred`` share a shape; the per-sample losses (that shape
    without ``axis``) are weighted and reduced as ``reduction`` says.

    Args:
        axis: the axis along which the vectors lie (default -1).
        reduction, dtype: as for ``Loss`` (defaults ``"sum_over_batch_size"``, ``None``).
        name: the loss's name (default ``"cosine_similarity"``).

    >>> loss = CosineSimilarity(reduction=None)
    >>> loss([[1.0, 0.0], [0.0, 3.0]], [[2.0, 0.0], [0.0, -1.0]]).numpy().tolist()
    [-1.0, 1.0]
    """

    def __init__(
        self,
        axis: int = -1,
        reduction: str | None = "sum_over_batch_size",
        name: str | None = "cosine_similarity",
        dtype: str | None = None,
    ):
        super().__init__(cosine_similarity, reduction=reduction, name=name, dtype=dtype, axis=axis)
        self.axis = axis


class BinaryCrossentropy(LossFunctionWrapper):
    """The binary cross-entropy, as Keras 3's ``BinaryCrossentropy``: for one or more
    independent yes/no predictions per sample.

    Each element costs ``-(t * log(p) + (1 - t) * log(1 - p))``, with ``p`` the
    predicted probability (clipped to ``[epsilon, 1 - epsilon]``; with
    ``from_logits=True`` computed stably from the logit) and ``t`` the target after
    label smoothing; the per-sample loss is the mean over ``axis``. ``y_true`` holds
    0/1 labels (or soft targets in ``[0, 1]``) of ``y_pred``'s shape
    ``(batch, ..., d)``; the per-sample losses are weighted and reduced as
    ``reduction`` says.

    Args:
        from_logits: ``y_pred`` holds logits (any real number) rather than
            probabilities (default ``False``). Logits are more stable numerically.
        label_smoothing: a float in ``[0, 1]`` (default 0): targets become
            ``t * (1 - label_smoothing) + 0.5 * label_smoothing``, squeezing them
            towards 0.5.
        axis: the axis averaged over to give one value per sample (default -1).
        reduction, dtype: as for ``Loss`` (defaults ``"sum_over_batch_size"``, ``None``).
        name: the loss's name (default ``"binary_crossentropy"``).

    >>> loss = BinaryCrossentropy(from_logits=True)
    >>> round(float(loss([[0.0, 1.0]], [[0.0, 0.0]])), 5)
    0.69315
    """

    def __init__(
        self,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: int = -1,
        reduction: str | None = "sum_over_batch_size",
        name: str | None = "binary_crossentropy",
        dtype: str | None = None,
    ):
        super().__init__(
            binary_crossentropy,
            reduction=reduction,
            name=name,
            dtype=dtype,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
        )
        self.from_logits = from_logits
        self.label_smoothing = label_smoothing
        self.axis = axis


class BinaryFocalCrossentropy(LossFunctionWrapper):
    """The binary focal cross-entropy (Lin et al., 2017), as Keras 3's
    ``BinaryFocalCrossentropy``: a binary cross-entropy that weighs down the
    examples the model already gets right, to focus training on the hard ones.

    Each element's binary cross-entropy (see ``BinaryCrossentropy``) is multiplied by
    ``(1 - p_t) ** gamma``, where ``p_t = t * p + (1 - t) * (1 - p)`` is the
    probability given to the true label; with ``apply_class_balancing`` also by
    ``alpha`` for positive targets and ``1 - alpha`` for negative ones. The
    per-sample loss is the mean over ``axis``. ``y_true`` holds 0/1 labels of
    ``y_pred``'s shape ``(batch, ..., d)``; the per-sample losses are weighted and
    reduced as ``reduction`` says.

    Args:
        apply_class_balancing: weigh positives by ``alpha`` and negatives by
            ``1 - alpha`` (default ``False``).
        alpha: the positives' weight in ``[0, 1]`` when balancing (default 0.25).
        gamma: the focusing exponent, >= 0 (default 2.0); 0 gives the plain binary
            cross-entropy.
        from_logits: ``y_pred`` holds logits rather than probabilities (default
            ``False``).
        label_smoothing: a float in ``[0, 1]`` (default 0) squeezing targets towards
            0.5, as in ``BinaryCrossentropy``.
        axis: the axis averaged over to give one value per sample (default -1).
        reduction, dtype: as for ``Loss`` (defaults ``"sum_over_batch_size"``, ``None``).
        name: the loss's name (default ``"binary_focal_crossentropy"``).

    >>> import math
    >>> loss = BinaryFocalCrossentropy(gamma=2.0)
    >>> round(float(loss([[1.0]], [[0.5]])) / (0.25 * math.log(2.0)), 5)
    1.0
    """

    def __init__(
        self,
        apply_class_balancing: bool = False,
        alpha: float = 0.25,
        gamma: float = 2.0,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: int = -1,
        reduction: str | None = "sum_over_batch_size",
        name: str | None = "binary_focal_crossentropy",
        dtype: str | None = None,
    ):
        super().__init__(
            binary_focal_crossentropy,
            reduction=reduction,
            name=name,
            dtype=dtype,
            apply_class_balancing=apply_class_balancing,
            alpha=alpha,
            gamma=gamma,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
        )
        self.apply_class_balancing = apply_class_balancing
        self.alpha = alpha
        self.gamma = gamma
        self.from_logits = from_logits
        self.label_smoothing = label_smoothing
        self.axis = axis


class CategoricalCrossentropy(LossFunctionWrapper):
    """The categorical cross-entropy, as Keras 3's ``CategoricalCrossentropy``: for
    one-of-many classification with one-hot (or soft) targets.

    Per sample ``-sum(y_true * log(p), axis=axis)``, with ``p`` the predictions
    renormalised to sum to 1 and clipped to ``[epsilon, 1 - epsilon]``, or (with
    ``from_logits=True``) a stable log-softmax of the logits. ``y_true`` and
    ``y_pred`` share a shape with the classes on ``axis``; the per-sample losses
    (that shape without ``axis``) are weighted and reduced as ``reduction`` says.
    For integer labels use ``SparseCategoricalCrossentropy``.

    Args:
        from_logits: ``y_pred`` holds logits rather than probabilities (default
            ``False``).
        label_smoothing: a float in ``[0, 1]`` (default 0): targets become
            ``y_true * (1 - label_smoothing) + label_smoothing / classes``.
        axis: the class axis (default -1).
        reduction, dtype: as for ``Loss`` (defaults ``"sum_over_batch_size"``, ``None``).
        name: the loss's name (default ``"categorical_crossentropy"``).

    >>> loss = CategoricalCrossentropy()
    >>> round(float(loss([[0.0, 1.0], [1.0, 0.0]], [[0.5, 0.5], [0.5, 0.5]])), 5)
    0.69315
    """

    def __init__(
        self,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: int = -1,
        reduction: str | None = "sum_over_batch_size",
        name: str | None = "categorical_crossentropy",
        dtype: str | None = None,
    ):
        super().__init__(
            categorical_crossentropy,
            reduction=reduction,
            name=name,
            dtype=dtype,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
        )
        self.from_logits = from_logits
        self.label_smoothing = label_smoothing
        self.axis = axis


class CategoricalFocalCrossentropy(LossFunctionWrapper):
    """The categorical focal cross-entropy, as Keras 3's
    ``CategoricalFocalCrossentropy``: a categorical cross-entropy that weighs down
    confidently right predictions, for one-of-many classification with imbalanced
    classes.

    Per sample ``sum(alpha * (1 - p) ** gamma * -y_true * log(p), axis=axis)``, with
    ``p`` the predictions renormalised to sum to 1 and clipped to
    ``[epsilon, 1 - epsilon]`` (with ``from_logits=True``, the softmax of the logits).
    ``y_true`` is one-hot of ``y_pred``'s shape, classes on ``axis``; the per-sample
    losses (that shape without ``axis``) are weighted and reduced as ``reduction``
    says.

    Args:
        alpha: a float weighting every term (default 0.25).
        gamma: the focusing exponent, >= 0 (default 2.0); 0 gives ``alpha`` times
            the categorical cross-entropy.
        from_logits: ``y_pred`` holds logits rather than probabilities (default
            ``False``).
        label_smoothing: a float in ``[0, 1]`` (default 0) mixing the targets with the
            uniform distribution, as in ``CategoricalCrossentropy``.
        axis: the class axis (default -1).
        reduction, dtype: as for ``Loss`` (defaults ``"sum_over_batch_size"``, ``None``).
        name: the loss's name (default ``"categorical_focal_crossentropy"``).

    >>> import math
    >>> loss = CategoricalFocalCrossentropy(alpha=1.0, gamma=1.0)
    >>> round(float(loss([[0.0, 1.0]], [[0.5, 0.5]])) / (0.5 * math.log(2.0)), 5)
    1.0
    """

    def __init__(
        self,
        alpha: float = 0.25,
        gamma: float = 2.0,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: int = -1,
        reduction: str | None = "sum_over_batch_size",
        name: str | None = "categorical_focal_crossentropy",
        dtype: str | None = None,
    ):
        super().__init__(
            categorical_focal_crossentropy,
            reduction=reduction,
            name=name,
            dtype=dtype,
            alpha=alpha,
            gamma=gamma,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
        )
        self.alpha = alpha
        self.gamma = gamma
        self.from_logits = from_logits
        self.label_smoothing = label_smoothing
        self.axis = axis


class SparseCategoricalCrossentropy(LossFunctionWrapper):
    """The categorical cross-entropy with integer class labels, as Keras 3's
    ``SparseCategoricalCrossentropy``.

    Per entry ``-log(p[y_true])``: the log of the probability given to the labelled
    class (``p`` as in ``CategoricalCrossentropy``, or a stable log-softmax with
    ``from_logits=True``). ``y_pred`` has the classes on ``axis``; ``y_true`` holds
    one integer in ``[0, classes)`` per prediction, i.e. ``y_pred``'s shape without
    ``axis`` (a trailing axis of size 1 is allowed); other labels are an error when
    the values are known. The per-entry losses are weighted and reduced as
    ``reduction`` says; entries labelled ``ignore_class`` weigh 0 and are left out of
    the mean.

    Args:
        from_logits: ``y_pred`` holds logits rather than probabilities (default
            ``False``).
        ignore_class: ``None`` (default) or an int label (e.g. -1 or a padding class)
            whose entries get loss 0 and do not count in the mean; it may lie outside
            ``[0, classes)``.
        reduction, dtype: as for ``Loss`` (defaults ``"sum_over_batch_size"``, ``None``).
        axis: the class axis of ``y_pred`` (default -1).
        name: the loss's name (default ``"sparse_categorical_crossentropy"``).

    >>> loss = SparseCategoricalCrossentropy(ignore_class=-1)
    >>> round(float(loss([1, -1], [[0.5, 0.5], [0.9, 0.1]])), 5)
    0.69315
    """

    _integer_labels = True

    def __init__(
        self,
        from_logits: bool = False,
        ignore_class: int | None = None,
        reduction: str | None = "sum_over_batch_size",
        axis: int = -1,
        name: str | None = "sparse_categorical_crossentropy",
        dtype: str | None = None,
    ):
        super().__init__(
            sparse_categorical_crossentropy,
            reduction=reduction,
            name=name,
            dtype=dtype,
            from_logits=from_logits,
            ignore_class=ignore_class,
            axis=axis,
        )
        self.from_logits = from_logits
        self.ignore_class = ignore_class
        self.axis = axis

    def _call_with_mask(self, y_true: Tensor, y_pred: Tensor) -> tuple[Tensor, Tensor | None]:
        # Integer labels, and a mask of the entries labelled ``ignore_class``.
        kw = self._fn_kwargs
        return _sparse_with_mask(y_true, y_pred, kw["from_logits"], kw["ignore_class"], kw["axis"])


class Dice(LossFunctionWrapper):
    """The Dice loss, as Keras 3's ``Dice``: 1 minus the soft overlap of a predicted
    mask with the true one, for segmentation.

    ``1 - 2 * sum(y_true * y_pred) / (sum(y_true) + sum(y_pred) + epsilon)``, the sums
    over ``axis`` (see ``dice``); ``y_true`` and ``y_pred`` share a shape. The values
    (one for the batch with ``axis=None``; one per sample with e.g. ``axis=(1, 2, 3)``)
    are weighted and reduced as ``reduction`` says.

    Args:
        reduction, dtype: as for ``Loss`` (defaults ``"sum_over_batch_size"``, ``None``).
        name: the loss's name (default ``"dice"``).
        axis: ``None`` (default: all axes), an int or a tuple of ints: the axes summed.

    >>> loss = Dice(axis=(1, 2), reduction=None)
    >>> y_true = [[[1.0], [1.0]], [[1.0], [0.0]]]
    >>> loss(y_true, [[[1.0], [0.0]], [[1.0], [0.0]]]).numpy().round(4)
    array([0.3333, 0.    ], dtype=float32)
    """

    def __init__(
        self,
        reduction: str | None = "sum_over_batch_size",
        name: str | None = "dice",
        axis: Any = None,
        dtype: str | None = None,
    ):
        super().__init__(dice, reduction=reduction, name=name, dtype=dtype, axis=axis)
        self.axis = axis


class Tversky(LossFunctionWrapper):
    """The Tversky loss, as Keras 3's ``Tversky``: a Dice loss that weighs missed
    true mass (``alpha``) and predicted mass outside the truth (``beta``) apart, for
    segmentation with imbalanced classes.

    ``1 - I / (I + alpha * sum(y_true * (1 - y_pred)) + beta * sum((1 - y_true) *
    y_pred) + epsilon)`` with ``I = sum(y_true * y_pred)``, the sums over ``axis`` (see
    ``tversky``); weighted and reduced as ``reduction`` says.

    Args:
        alpha: the weight of the true mass the prediction misses (default 0.5; Keras's
            docs call it the false-positive weight, but this is what Keras computes).
        beta: the weight of the predicted mass outside the truth (default 0.5).
        reduction, dtype: as for ``Loss`` (defaults ``"sum_over_batch_size"``, ``None``).
        name: the loss's name (default ``"tversky"``).
        axis: ``None`` (default: all axes), an int or a tuple of ints: the axes summed.

    >>> loss = Tversky(alpha=0.2, beta=0.8, axis=1, reduction=None)
    >>> loss([[1.0, 1.0, 0.0]], [[1.0, 0.0, 1.0]]).numpy().round(4)
    array([0.5], dtype=float32)
    """

    def __init__(
        self,
        alpha: float = 0.5,
        beta: float = 0.5,
        reduction: str | None = "sum_over_batch_size",
        name: str | None = "tversky",
        axis: Any = None,
        dtype: str | None = None,
    ):
        super().__init__(
            tversky, reduction=reduction, name=name, dtype=dtype, alpha=alpha, beta=beta, axis=axis
        )
        self.alpha = alpha
        self.beta = beta
        self.axis = axis


class Circle(LossFunctionWrapper):
    """The Circle loss between integer labels and L2-normalised embeddings, as Keras 3's
    ``Circle``: metric learning that pulls same-label embeddings of the batch together
    and pushes the others apart (see ``circle`` for the formula).

    ``y_true`` holds one integer label per sample ``(batch,)``; ``y_pred`` the
    embeddings ``(batch, dim)``, e.g. a ``Dense`` layer without activation followed by
    ``UnitNormalization``. As in Keras, rows whose loss is 0 (no positive or no negative
    pair) are masked: the mean reductions average over the other rows.

    Args:
        gamma: the scale of the pair scores (default 80.0).
        margin: the relaxation margin (default 0.4): same-label pairs closer than it
            and different-label pairs farther than ``1 - margin`` weigh little.
        remove_diagonal: leave each embedding's pair with itself out of the positives
            (default ``True``).
        reduction, dtype: as for ``Loss`` (defaults ``"sum_over_batch_size"``, ``None``).
        name: the loss's name (default ``"circle"``).

    >>> loss = Circle(gamma=1.0)  # the mean over the two rows that have a positive
    >>> round(float(loss([0, 0, 1], [[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])), 4)
    0.5459
    """

    _integer_labels = True

    def __init__(
        self,
        gamma: float = 80.0,
        margin: float = 0.4,
        remove_diagonal: bool = True,
        reduction: str | None = "sum_over_batch_size",
        name: str | None = "circle",
        dtype: str | None = None,
    ):
        super().__init__(
            circle,
            reduction=reduction,
            name=name,
            dtype=dtype,
            gamma=gamma,
            margin=margin,
            remove_diagonal=remove_diagonal,
        )
        self.gamma = gamma
        self.margin = margin
        self.remove_diagonal = remove_diagonal

    def _call_with_mask(self, y_true: Tensor, y_pred: Tensor) -> tuple[Tensor, Tensor | None]:
        # Keras masks the rows whose loss is 0, so means count only the others.
        losses = self.call(y_true, y_pred)
        return losses, ops.greater(losses, 0.0)


class CategoricalGeneralizedCrossEntropy(LossFunctionWrapper):
    """The generalized cross-entropy, as Keras 3's
    ``CategoricalGeneralizedCrossEntropy``: ``(1 - p**q) / q`` per sample, ``p`` the
    probability given to the labelled class; robust to noisy labels.

    ``y_true`` holds integer labels (``y_pred``'s shape without its last axis, or with
    a trailing 1); ``y_pred`` probabilities. The per-sample losses are weighted and
    reduced as ``reduction`` says.

    Args:
        q: a float in ``(0, 1)`` (default 0.5): towards 0 the loss behaves like the
            cross-entropy, towards 1 like the mean absolute error.
        reduction, dtype: as for ``Loss`` (defaults ``"sum_over_batch_size"``, ``None``).
        name: the loss's name (default ``"categorical_generalized_cross_entropy"``).

    >>> loss = CategoricalGeneralizedCrossEntropy(q=0.5)
    >>> float(loss([1, 0], [[0.75, 0.25], [1.0, 0.0]]))
    0.5
    """

    _integer_labels = True

    def __init__(
        self,
        q: float = 0.5,
        reduction: str | None = "sum_over_batch_size",
        name: str | None = "categorical_generalized_cross_entropy",
        dtype: str | None = None,
    ):
        if isinstance(q, bool) or not isinstance(q, (int, float)) or not 0 < q < 1:
            raise ValueError(
                f"CategoricalGeneralizedCrossEntropy: q must be a float in the interval "
                f"(0, 1); received q={q!r}."
            )
        super().__init__(
            categorical_generalized_cross_entropy,
            reduction=reduction,
            name=name,
            dtype=dtype,
            q=q,
        )
        self.q = q


class CTC(LossFunctionWrapper):
    """The CTC (connectionist temporal classification) loss, as Keras 3's ``CTC``: for
    sequence outputs (speech, handwriting) whose alignment with the labels is unknown.

    ``y_true`` holds integer labels ``(batch, max_length)`` padded with 0, the blank
    class; ``y_pred`` holds logits ``(batch, time, classes)``. Per sequence, minus the
    log-probability of its labels summed over all alignments (see ``ctc``); weighted
    and reduced as ``reduction`` says.

    Args:
        reduction, dtype: as for ``Loss`` (defaults ``"sum_over_batch_size"``, ``None``).
        name: the loss's name (default ``"ctc"``).

    >>> from nerve import ops
    >>> round(float(CTC()([[1, 2, 0]], ops.zeros((1, 3, 3)))), 4)
    1.6864
    """

    _integer_labels = True

    def __init__(
        self,
        reduction: str | None = "sum_over_batch_size",
        name: str | None = "ctc",
        dtype: str | None = None,
    ):
        super().__init__(ctc, reduction=reduction, name=name, dtype=dtype)


# -- get / serialize / deserialize -----------------------------------------------------------

_CLASSES: dict[str, type[Loss]] = {
    cls.__name__: cls
    for cls in (
        Loss, LossFunctionWrapper, MeanSquaredError, MeanAbsoluteError,
        MeanAbsolutePercentageError, MeanSquaredLogarithmicError, Huber, LogCosh, KLDivergence,
        Poisson, Hinge, SquaredHinge, CategoricalHinge, CosineSimilarity, BinaryCrossentropy,
        BinaryFocalCrossentropy, CategoricalCrossentropy, CategoricalFocalCrossentropy,
        SparseCategoricalCrossentropy, Dice, Tversky, Circle, CategoricalGeneralizedCrossEntropy,
        CTC,
    )
}  # fmt: skip
_FUNCTIONS = {
    fn.__name__: fn
    for fn in (
        mean_squared_error, mean_absolute_error, mean_absolute_percentage_error,
        mean_squared_logarithmic_error, huber, log_cosh, kl_divergence, poisson, hinge,
        squared_hinge, categorical_hinge, cosine_similarity, binary_crossentropy,
        binary_focal_crossentropy, categorical_crossentropy, categorical_focal_crossentropy,
        sparse_categorical_crossentropy, dice, tversky, circle,
        categorical_generalized_cross_entropy, ctc,
    )
}  # fmt: skip
_ALIASES = {
    "mse": mse, "MSE": mse, "mae": mae, "MAE": mae, "mape": mape, "MAPE": mape,
    "msle": msle, "MSLE": msle, "kld": kld, "KLD": kld, "kullback_leibler_divergence": kld,
    "logcosh": log_cosh, "bce": bce, "BCE": bce,
}  # fmt: skip
_BY_NAME: dict[str, Any] = {**_CLASSES, **_FUNCTIONS, **_ALIASES}


def serialize(loss: Loss | Callable | None) -> dict | str | None:
    """Keras's ``{"module", "class_name", ...}`` for a ``Loss``; a built-in function's name;
    ``None`` for ``None`` (``deserialize`` and ``get`` invert all three)."""
    if loss is None:
        return None
    if isinstance(loss, Loss):
        return {
            "module": "keras.losses",
            "class_name": type(loss).__name__,
            "config": loss.get_config(),
            "registered_name": None,
        }
    name = getattr(loss, "__name__", None)
    if name is None:
        raise ValueError(f"Cannot serialize loss {loss!r}: it is neither a Loss nor named.")
    return name


def deserialize(config: dict | str | None) -> Loss | Callable | None:
    """The loss described by ``serialize``'s output (a config dict, a name or ``None``)."""
    if config is None:
        return None
    if isinstance(config, str):
        if config in _BY_NAME:
            return _BY_NAME[config]
    elif isinstance(config, dict) and config.get("class_name") in _CLASSES:
        return _CLASSES[config["class_name"]].from_config(config.get("config", {}))
    raise ValueError(
        f"Unknown loss {config!r}. Expected a config dict from `serialize` or one of: "
        f"{', '.join(sorted(_BY_NAME))}."
    )


def get(identifier: Any) -> Loss | Callable | None:
    """A loss from a name (a function's, e.g. ``"mse"``; or a class's, e.g.
    ``"MeanSquaredError"``, which is instantiated), a config dict, a ``Loss`` or a
    callable (returned as is), or ``None``."""
    if identifier is None:
        return None
    if isinstance(identifier, (str, dict)):
        identifier = deserialize(identifier)
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret loss identifier: {identifier!r}.")


__all__ = [
    *_CLASSES, *_FUNCTIONS,
    "BCE", "KLD", "MAE", "MAPE", "MSE", "MSLE", "REDUCTIONS", "bce", "deserialize", "get",
    "kld", "kullback_leibler_divergence", "l2_normalize", "logcosh", "mae", "mape", "mse",
    "msle", "reduce_weighted_values", "serialize", "squeeze_or_expand_to_same_rank",
    "standardize_reduction",
]  # fmt: skip
