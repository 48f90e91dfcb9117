"""``nerve.optimizers``: Keras 3's optimizers and learning-rate schedules.

>>> from nerve import optimizers
>>> opt = optimizers.get("adam")
>>> type(opt).__name__, opt.get_config()["learning_rate"]
('Adam', 0.0010000000474974513)
>>> optimizers.deserialize(optimizers.serialize(opt)).beta_2
0.999
"""

from __future__ import annotations

from typing import Any

from nerve.optimizers import schedules
from nerve.optimizers.adadelta import Adadelta
from nerve.optimizers.adafactor import Adafactor
from nerve.optimizers.adagrad import Adagrad
from nerve.optimizers.adam import Adam, Adamax, AdamW, Nadam
from nerve.optimizers.base import Optimizer, clip_by_global_norm, clip_by_norm, global_norm
from nerve.optimizers.ftrl import Ftrl
from nerve.optimizers.lamb import Lamb
from nerve.optimizers.lion import Lion
from nerve.optimizers.loss_scale_optimizer import LossScaleOptimizer
from nerve.optimizers.muon import Muon
from nerve.optimizers.rmsprop import RMSprop
from nerve.optimizers.schedule_free_adamw import ScheduleFreeAdamW
from nerve.optimizers.sgd import SGD

_CLASSES = {
    cls.__name__: cls
    for cls in (
        SGD, Adam, AdamW, RMSprop, Adagrad, Adadelta, Adamax, Nadam, Lion, Adafactor, Ftrl,
        Lamb, Muon, ScheduleFreeAdamW,
    )
}  # fmt: skip
# Keras looks names up case-insensitively ("adam", "Adam", "ADAM").
_BY_LOWER_NAME = {name.lower(): cls for name, cls in _CLASSES.items()}


def serialize(optimizer: Optimizer) -> dict:
    """Keras's ``{"module", "class_name", ...}`` for an optimizer (``deserialize`` inverts it)."""
    return {
        "module": "keras.optimizers",
        "class_name": type(optimizer).__name__,
        "config": optimizer.get_config(),
        "registered_name": None,
    }


def deserialize(config: dict, custom_objects: dict | None = None) -> Optimizer:
    """An optimizer from ``serialize``'s dict; ``class_name`` may be any case of a
    built-in name (Keras's ``module``/``registered_name`` keys are ignored)."""
    name = config.get("class_name") if isinstance(config, dict) else None
    custom_objects = custom_objects or {}
    if name in custom_objects:
        cls = custom_objects[name]
    elif isinstance(name, str) and name.lower() in _BY_LOWER_NAME:
        cls = _BY_LOWER_NAME[name.lower()]
    else:
        raise ValueError(
            f"Unknown optimizer {name!r}. Expected an Optimizer, a config dict, or one of: "
            f"{', '.join(sorted(_BY_LOWER_NAME))}."
        )
    return cls.from_config(config.get("config", {}))


def get(identifier: Any) -> Optimizer | None:
    """An optimizer from a name (``"adam"``), a config dict, or an instance (returned
    as is); ``None`` gives ``None``."""
    if identifier is None or isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str):
        return deserialize({"class_name": identifier, "config": {}})
    if isinstance(identifier, dict):
        return deserialize(identifier)
    raise ValueError(f"Could not interpret optimizer identifier: {identifier!r}")


__all__ = [
    *_CLASSES,
    "LossScaleOptimizer",
    "Optimizer",
    "clip_by_global_norm",
    "clip_by_norm",
    "deserialize",
    "get",
    "global_norm",
    "schedules",
    "serialize",
]
