"""What ``compile(loss=..., metrics=...)`` turns into: ``CompileLoss`` and
``CompileMetrics``, containers that map losses and metrics onto a model's outputs.

Both follow the structure of the targets: a single output, a list/tuple of outputs
(losses/metrics given as a list, or one entry applied to every output) or a dict of
named outputs (losses/metrics as a dict keyed by output name). Both are built eagerly
from the first batch's targets (``build(y_true, y_pred)``), before any traced step, so
their state variables never need creating inside ``nerve.function``.

Padding: the trainer pads the last batch and passes a ``mask`` (1 on real rows, 0 on
padding). Padded rows get sample weight 0 everywhere; losses whose reduction divides by
the number of entries (``"sum_over_batch_size"``, ``"mean"``) are multiplied by
``padded_rows / real_rows`` so they equal the reduction over the real rows only.

>>> import nerve
>>> from nerve import ops
>>> loss = CompileLoss("mse")
>>> y, p = ops.zeros((4, 1)), ops.ones((4, 1))
>>> loss.build(y, p)
>>> float(loss(y, p, mask=ops.convert_to_tensor([1.0, 1.0, 0.0, 0.0])))
1.0
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from nerve import losses as losses_module
from nerve import metrics as metrics_module
from nerve import ops
from nerve.tensor import Tensor

__all__ = ["CompileLoss", "CompileMetrics", "apply_mask", "flat_outputs"]

# Reductions that divide by the number of entries: they need the padded/real correction.
_MEAN_REDUCTIONS = ("sum_over_batch_size", "mean")


def _output_names(y: Any, output_names: list[str] | None) -> list[str] | None:
    """Names of the outputs, for multi-output metric names (``{name}_{metric}``)."""
    if isinstance(y, dict):
        return sorted(y)
    if isinstance(y, (list, tuple)):
        if output_names is not None and len(output_names) == len(y):
            return list(output_names)
        return [f"output_{i + 1}" for i in range(len(y))]
    return None


def _per_output(spec: Any, y: Any, what: str) -> list:
    """``spec`` (one entry, a list, or a dict) spread over the outputs of ``y``."""
    if not isinstance(y, (list, tuple, dict)):
        if isinstance(spec, (list, tuple)) and len(spec) == 1 and what == "loss":
            return [spec[0]]
        if isinstance(spec, dict) and len(spec) == 1 and what == "loss":
            return list(spec.values())
        return [spec]
    if isinstance(y, dict):
        keys = sorted(y)
        if isinstance(spec, dict):
            unknown = sorted(set(spec) - set(keys))
            if unknown:
                raise ValueError(
                    f"compile: {what} given for unknown outputs {unknown}; the model's "
                    f"outputs are {keys}."
                )
            return [spec.get(k) for k in keys]
        if isinstance(spec, (list, tuple)) and what == "loss":
            if len(spec) != len(keys):
                raise ValueError(
                    f"compile: got {len(spec)} {what} entries for {len(keys)} outputs {keys}."
                )
            return list(spec)
        return [spec] * len(keys)
    if isinstance(spec, dict):
        raise ValueError(
            f"compile: {what} was given as a dict, but the model's outputs are a "
            f"{type(y).__name__} (no names); pass a list instead."
        )
    if isinstance(spec, (list, tuple)) and (what == "loss" or _is_nested_metric_list(spec)):
        if len(spec) != len(y):
            raise ValueError(
                f"compile: got {len(spec)} {what} entries for a model with {len(y)} outputs."
            )
        return list(spec)
    return [spec] * len(y)


def _is_nested_metric_list(spec: Any) -> bool:
    """``metrics=[["acc"], ["mae"]]`` (one list per output) vs ``["acc", "mae"]``."""
    return all(isinstance(s, (list, tuple)) or s is None for s in spec)


def flat_outputs(y: Any) -> list:
    """The per-output parts of targets or predictions, in output order (dicts by key)."""
    if isinstance(y, dict):
        return [y[k] for k in sorted(y)]
    if isinstance(y, (list, tuple)):
        return list(y)
    return [y]


def _sample_weights(sample_weight: Any, count: int) -> list:
    """One weight per output: a single array applies to all of them."""
    if sample_weight is None:
        return [None] * count
    if isinstance(sample_weight, dict):
        return [sample_weight[k] for k in sorted(sample_weight)]
    if isinstance(sample_weight, (list, tuple)):
        return list(sample_weight)
    return [sample_weight] * count


def apply_mask(sample_weight: Any, mask: Any, values_like: Any = None) -> Any:
    """``sample_weight * mask`` (``mask`` alone when there is no weight), shaped so the
    mask's batch axis lines up with the weight's first axis."""
    if mask is None:
        return sample_weight
    if sample_weight is None:
        return mask
    sample_weight = ops.convert_to_tensor(sample_weight)
    mask = ops.cast(mask, sample_weight.dtype)
    if sample_weight.ndim > 1:
        mask = ops.reshape(mask, (mask.shape[0],) + (1,) * (sample_weight.ndim - 1))
    return sample_weight * mask


def _padding_scale(mask: Any) -> Tensor:
    """``padded_rows / real_rows``: turns a mean over the padded batch into the mean over
    the real rows (a tensor, so a different count doesn't retrace)."""
    real = ops.maximum(ops.sum(mask), 1.0)
    return float(mask.shape[0]) / real


class CompileLoss:
    """The total loss of ``compile(loss=..., loss_weights=...)``:
    ``sum(loss_weight_i * loss_i(y_true_i, y_pred_i, sample_weight_i))``.

    With several outputs, per-output ``Mean`` trackers named ``{output}_loss`` are
    exposed in ``metrics`` (as Keras logs them).
    """

    def __init__(self, loss: Any, loss_weights: Any = None, output_names: list | None = None):
        self.loss = loss
        self.loss_weights = loss_weights
        self.output_names = output_names
        self.built = False
        self.losses: list = []
        self.weights: list = []
        self.metrics: list = []
        self.label_checks: list[tuple[int, str, int, Any]] = []

    def build(self, y_true: Any, y_pred: Any = None) -> None:
        structure = y_pred if y_pred is not None else y_true
        specs = _per_output(self.loss, structure, "loss")
        self.losses = [_get_loss(spec) for spec in specs]
        self.label_checks = _label_checks([[fn] for fn in self.losses], y_pred)
        if self.loss_weights is None:
            self.weights = [1.0] * len(specs)
        else:
            self.weights = [
                1.0 if w is None else _loss_weight(w)
                for w in _per_output(self.loss_weights, structure, "loss")
            ]
        names = _output_names(structure, self.output_names)
        if names is not None and len(names) > 1:
            self.metrics = [
                metrics_module.Mean(name=f"{name}_loss")
                for name, fn in zip(names, self.losses)
                if fn is not None
            ]
        self.built = True

    def __call__(
        self, y_true: Any, y_pred: Any, sample_weight: Any = None, mask: Any = None
    ) -> Tensor | None:
        if not self.built:
            self.build(y_true, y_pred)
        y_trues, y_preds = flat_outputs(y_true), flat_outputs(y_pred)
        if len(y_trues) != len(y_preds):
            raise ValueError(
                f"The model has {len(y_preds)} outputs but the data has {len(y_trues)} "
                "targets; give one target per output."
            )
        weights = _sample_weights(sample_weight, len(y_preds))
        total = None
        trackers = iter(self.metrics)
        count = None if mask is None else ops.sum(mask)
        for fn, loss_weight, yt, yp, sw in zip(
            self.losses, self.weights, y_trues, y_preds, weights
        ):
            if fn is None:
                continue
            value = fn(yt, yp, sample_weight=apply_mask(sw, mask))
            if mask is not None and getattr(fn, "reduction", "sum_over_batch_size") in (
                _MEAN_REDUCTIONS
            ):
                value = value * _padding_scale(mask)
            tracker = next(trackers, None)
            if tracker is not None:
                tracker.update_state(
                    value, sample_weight=count if count is not None else yp.shape[0]
                )
            value = value * loss_weight if loss_weight != 1.0 else value
            total = value if total is None else total + value
        return total

    def reset_state(self) -> None:
        for metric in self.metrics:
            metric.reset_state()


def _loss_weight(weight: Any) -> float:
    if isinstance(weight, bool) or not isinstance(weight, (int, float, numbers.Real)):
        raise ValueError(
            f"compile: each loss weight must be a number; received loss_weights entry "
            f"{weight!r} (of type {type(weight).__name__})."
        )
    if not math.isfinite(weight):
        raise ValueError(
            f"compile: loss weights must be finite; received {weight!r}, which would make "
            "the loss NaN or infinite."
        )
    return float(weight)


def _label_checks(groups: list[list], y_pred: Any) -> list[tuple[int, str, int, Any]]:
    """``(output index, name, number of classes, ignore_class)`` for each loss or metric
    (``groups[i]``: those of output ``i``) that takes integer class labels: what ``fit``
    and ``evaluate`` check the targets against. The number of classes is ``y_pred``'s
    size on the class axis (known when traced, too)."""
    if y_pred is None:
        return []
    predictions = flat_outputs(y_pred)
    checks = []
    for index, (group, prediction) in enumerate(zip(groups, predictions)):
        for entry in group:
            found = None if entry is None else losses_module.class_label_check(entry)
            if found is None or not prediction.ndim:
                continue
            axis, ignore_class = found
            classes = prediction.shape[axis % prediction.ndim]
            if isinstance(classes, int):
                checks.append((index, entry.name, classes, ignore_class))
    return checks


def _get_loss(spec: Any) -> Any:
    if spec is None:
        return None
    loss = losses_module.get(spec)
    assert loss is not None  # only None resolves to None
    if isinstance(loss, losses_module.Loss):
        return loss
    # A plain function: wrap it so it reduces ("sum_over_batch_size") as Keras does.
    return losses_module.LossFunctionWrapper(loss, name=getattr(loss, "__name__", None))


class CompileMetrics:
    """The metrics of ``compile(metrics=..., weighted_metrics=...)``, per output.

    ``metrics`` ignore ``sample_weight`` (only the padding mask weighs them);
    ``weighted_metrics`` use it, as in Keras. Like Keras 3's container it acts as one
    metric named ``"compile_metrics"`` whose ``result()`` is a dict, so a custom
    ``train_step`` that calls ``metric.update_state(y, y_pred)`` on every entry of
    ``model.metrics`` builds and updates it.
    """

    name = "compile_metrics"

    def __init__(
        self,
        metrics: Any,
        weighted_metrics: Any,
        loss: Any = None,
        output_names: list | None = None,
    ):
        self._metrics_spec = metrics
        self._weighted_spec = weighted_metrics
        self._loss_spec = loss
        self.output_names = output_names
        self.built = False
        self._unweighted: list[list] = []
        self._weighted: list[list] = []
        self.label_checks: list[tuple[int, str, int, Any]] = []

    @property
    def variables(self) -> list:
        return [v for m in self.metrics for v in m.variables]

    @property
    def metrics(self) -> list:
        return [m for group in (self._unweighted, self._weighted) for ms in group for m in ms]

    def build(self, y_true: Any, y_pred: Any = None) -> None:
        structure = y_pred if y_pred is not None else y_true
        count = len(flat_outputs(structure))
        names = _output_names(structure, self.output_names)
        loss_specs = (
            _per_output(self._loss_spec, structure, "loss")
            if self._loss_spec is not None
            else [None] * count
        )
        true_shapes = [tuple(t.shape) for t in flat_outputs(y_true)]
        pred_shapes = [tuple(t.shape) for t in flat_outputs(structure)]
        seen: set[str] = set()

        def resolve(spec: Any, weighted: bool) -> list[list]:
            if spec is None:
                return [[] for _ in range(count)]
            per_output = _per_output(spec, structure, "metrics")
            groups = []
            for i, entries in enumerate(per_output):
                if entries is None:
                    entries = []
                elif not isinstance(entries, (list, tuple)):
                    entries = [entries]
                group = []
                for entry in entries:
                    if entry in ("accuracy", "acc") and y_pred is not None:
                        # Keras 3 picks binary/sparse/categorical accuracy from the shapes.
                        metric = metrics_module.resolve_accuracy(
                            loss_specs[i], true_shapes[i], pred_shapes[i], name=entry
                        )
                    else:
                        metric = metrics_module.get_metric(entry, loss=loss_specs[i])
                    base = metric.name
                    if names is not None and count > 1:
                        base = f"{names[i]}_{base}"
                    if weighted and base in seen:
                        base = f"weighted_{base}"
                    metric.name = base
                    seen.add(base)
                    group.append(metric)
                groups.append(group)
            return groups

        self._unweighted = resolve(self._metrics_spec, weighted=False)
        self._weighted = resolve(self._weighted_spec, weighted=True)
        groups = [a + b for a, b in zip(self._unweighted, self._weighted)]
        self.label_checks = _label_checks(groups, y_pred)
        self.built = True

    def update_state(
        self, y_true: Any, y_pred: Any, sample_weight: Any = None, mask: Any = None
    ) -> None:
        if not self.built:
            self.build(y_true, y_pred)
        y_trues, y_preds = flat_outputs(y_true), flat_outputs(y_pred)
        weights = _sample_weights(sample_weight, len(y_preds))
        for i, (yt, yp) in enumerate(zip(y_trues, y_preds)):
            for metric in self._unweighted[i]:
                metric.update_state(yt, yp, sample_weight=mask)
            for metric in self._weighted[i]:
                metric.update_state(yt, yp, sample_weight=apply_mask(weights[i], mask))

    def reset_state(self) -> None:
        for metric in self.metrics:
            metric.reset_state()

    def result(self) -> dict:
        return {metric.name: metric.result() for metric in self.metrics}
