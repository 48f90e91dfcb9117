"""Neural-network ops (Keras's ``keras.ops`` nn functions).

>>> from nerve import ops
>>> ops.relu(ops.convert_to_tensor([-1.0, 2.0])).numpy()
array([0., 2.], dtype=float32)
"""

from __future__ import annotations

from typing import Any

from nerve.ops._convert import to_float
from nerve.ops.elementwise import maximum
from nerve.tensor import Tensor

__all__ = ["relu"]


def relu(x: Any) -> Tensor:
    """Rectified linear unit max(x, 0)."""
    return maximum(to_float(x), 0.0)
