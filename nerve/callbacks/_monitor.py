"""Shared by the callbacks that watch a metric: reading it from logs, and which way is better."""

from __future__ import annotations

import math
import warnings
from typing import Any

_MODES = ("auto", "min", "max")


def check_mode(mode: str, callback: str) -> str:
    if mode not in _MODES:
        warnings.warn(f"{callback} mode {mode!r} is unknown, fallback to auto mode.", stacklevel=3)
        return "auto"
    return mode


def scalar(value: Any) -> float:
    """A Python float from a log value (float, NumPy scalar, 0-d array or tensor)."""
    if hasattr(value, "numpy"):
        value = value.numpy()
    return float(value)


def monitor_value(logs: dict | None, monitor: str, what: str) -> float | None:
    """``logs[monitor]`` as a float, or None with a warning naming the available keys."""
    logs = logs or {}
    value = logs.get(monitor)
    if value is None:
        warnings.warn(
            f"{what} conditioned on metric `{monitor}` which is not available. "
            f"Available metrics are: {','.join(logs)}",
            stacklevel=3,
        )
        return None
    return scalar(value)


def higher_is_better(mode: str, monitor: str, model: Any, callback: str) -> bool:
    """Whether larger values of ``monitor`` are improvements.

    ``"auto"`` decides from the metric: losses go down; a model metric with a
    ``_direction`` attribute (``"up"``/``"down"``) says which way it goes; and names
    containing ``acc``/``auc``/``precision``/``recall`` go up (the rule Keras's
    ``ModelCheckpoint`` uses).
    """
    if mode != "auto":
        return mode == "max"
    name = monitor.removeprefix("val_")
    if name == "loss" or name.endswith("_loss"):
        return False
    for metric in getattr(model, "metrics", None) or ():
        direction = getattr(metric, "_direction", None)
        if getattr(metric, "name", None) == name and direction in ("up", "down"):
            return direction == "up"
    if any(word in name for word in ("acc", "auc", "precision", "recall", "fmeasure")):
        return True
    raise ValueError(
        f"{callback} received monitor={monitor!r} but cannot determine whether that "
        "metric should be maximized or minimized. Pass `mode='max'` to keep the highest "
        "value or `mode='min'` to keep the lowest."
    )


def is_nan_or_inf(value: Any) -> bool:
    value = scalar(value)
    return math.isnan(value) or math.isinf(value)
