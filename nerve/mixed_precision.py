"""``nerve.mixed_precision``: Keras 3's ``keras.mixed_precision`` — the global dtype
policy (``"mixed_float16"`` computes in float16 and keeps float32 variables) and
``LossScaleOptimizer``, which ``Model.compile`` applies under ``"mixed_float16"``.

>>> import nerve
>>> from nerve import layers, mixed_precision
>>> mixed_precision.set_global_policy("mixed_float16")
>>> layers.Dense(2).compute_dtype
'float16'
>>> mixed_precision.set_global_policy("float32")
"""

from __future__ import annotations

from nerve.layers.base import DTypePolicy, dtype_policy, set_dtype_policy
from nerve.optimizers.loss_scale_optimizer import LossScaleOptimizer

__all__ = [
    "DTypePolicy",
    "LossScaleOptimizer",
    "Policy",
    "dtype_policy",
    "global_policy",
    "set_dtype_policy",
    "set_global_policy",
]

#: Keras's older names for the same things.
Policy = DTypePolicy
global_policy = dtype_policy
set_global_policy = set_dtype_policy
