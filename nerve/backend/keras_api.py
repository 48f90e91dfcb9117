"""Keras 3's ``keras.backend`` functions, re-exported by ``nerve.backend``.

They only read and set settings kept in ``nerve.core`` (the default float type, the
fuzz factor, the image data format, the automatic-name counters), so they sit here
without pointing up the layering. ``is_keras_tensor`` needs ``KerasTensor`` from
``nerve.layers`` and lives in ``nerve.utils`` instead (``keras.utils`` has it too).

>>> from nerve import backend
>>> backend.floatx(), backend.image_data_format(), backend.backend()
('float32', 'channels_last', 'nerve')
>>> backend.is_float_dtype("bfloat16"), backend.is_int_dtype("uint8")
(True, True)
"""

from __future__ import annotations

from typing import Any

from nerve.core import dtypes
from nerve.core.config import (
    backend,
    epsilon,
    floatx,
    image_data_format,
    set_epsilon,
    set_floatx,
    set_image_data_format,
)
from nerve.core.dtypes import result_type, standardize_dtype
from nerve.core.global_state import clear_session, get_uid

__all__ = [
    "backend",
    "clear_session",
    "epsilon",
    "floatx",
    "get_uid",
    "image_data_format",
    "is_float_dtype",
    "is_int_dtype",
    "result_type",
    "set_epsilon",
    "set_floatx",
    "set_image_data_format",
    "standardize_dtype",
]


def is_float_dtype(dtype: Any) -> bool:
    """Whether ``dtype`` (any spelling ``standardize_dtype`` accepts) is a float type.

    >>> is_float_dtype("float16"), is_float_dtype("int32")
    (True, False)
    """
    return dtypes.is_float(standardize_dtype(dtype))


def is_int_dtype(dtype: Any) -> bool:
    """Whether ``dtype`` is a signed or unsigned integer type (``bool`` is not).

    >>> is_int_dtype("int8"), is_int_dtype("bool")
    (True, False)
    """
    return dtypes.is_int(standardize_dtype(dtype))
