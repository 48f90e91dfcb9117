"""``nerve.config``: Keras 3's ``keras.config`` — global settings: the default float
type, the fuzz factor, the image data format, the dtype policy.

>>> import nerve
>>> nerve.config.floatx(), nerve.config.image_data_format(), nerve.config.dtype_policy().name
('float32', 'channels_last', 'float32')
"""

from nerve.core.config import (
    DATA_CHECKS,
    backend,
    data_checks,
    enable_shape_rule_checks,
    epsilon,
    floatx,
    floatx_scope,
    flush_denormals,
    image_data_format,
    set_data_checks,
    set_epsilon,
    set_floatx,
    set_flush_denormals,
    set_image_data_format,
    shape_rule_checks_enabled,
)
from nerve.layers.base import dtype_policy, set_dtype_policy

__all__ = [
    "DATA_CHECKS",
    "backend",
    "data_checks",
    "dtype_policy",
    "enable_shape_rule_checks",
    "epsilon",
    "floatx",
    "floatx_scope",
    "flush_denormals",
    "image_data_format",
    "set_data_checks",
    "set_dtype_policy",
    "set_epsilon",
    "set_floatx",
    "set_flush_denormals",
    "set_image_data_format",
    "shape_rule_checks_enabled",
]
