"""Backends: the only code that knows which array library runs.

See ``base.Backend`` for the contract and ``registry`` for selection. Keras 3's
``keras.backend`` functions (``floatx``, ``epsilon``, ``image_data_format``,
``clear_session``...) are here too (``keras_api``).
"""

from nerve.backend.base import Backend
from nerve.backend.keras_api import (
    backend,
    clear_session,
    epsilon,
    floatx,
    get_uid,
    image_data_format,
    is_float_dtype,
    is_int_dtype,
    result_type,
    set_epsilon,
    set_floatx,
    set_image_data_format,
    standardize_dtype,
)
from nerve.backend.registry import (
    available_backends,
    backend_of,
    default_device,
    device,
    get_backend,
    parse_device,
    register_backend,
)

__all__ = [
    "Backend",
    "available_backends",
    "backend",
    "backend_of",
    "clear_session",
    "default_device",
    "device",
    "epsilon",
    "floatx",
    "get_backend",
    "get_uid",
    "image_data_format",
    "is_float_dtype",
    "is_int_dtype",
    "parse_device",
    "register_backend",
    "result_type",
    "set_epsilon",
    "set_floatx",
    "set_image_data_format",
    "standardize_dtype",
]
