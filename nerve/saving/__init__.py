"""``nerve.saving``: Keras 3's ``.keras`` archives, ``.weights.h5`` files and
object (de)serialization with a registry of custom objects.

>>> import os, tempfile
>>> from nerve import layers, ops, saving
>>> dense = layers.Dense(2)
>>> _ = dense(ops.ones((1, 3)))
>>> path = os.path.join(tempfile.mkdtemp(), "dense.weights.h5")
>>> saving.save_weights(dense, path)
>>> twin = layers.Dense(2)
>>> _ = twin(ops.zeros((1, 3)))
>>> saving.load_weights(twin, path)
>>> bool(ops.all(twin.kernel == dense.kernel))
True
"""

from nerve.core.object_registry import (
    CustomObjectScope,
    custom_object_scope,
    get_custom_objects,
    get_registered_name,
    get_registered_object,
    register_keras_serializable,
)
from nerve.saving.h5_store import WeightsFileError
from nerve.saving.saving_lib import (
    WeightsMismatchError,
    load_model,
    load_weights,
    save_model,
    save_weights,
)
from nerve.saving.serialization import (
    SerializationError,
    deserialize_keras_object,
    serialize_keras_object,
)

__all__ = [
    "CustomObjectScope",
    "SerializationError",
    "WeightsFileError",
    "WeightsMismatchError",
    "custom_object_scope",
    "deserialize_keras_object",
    "get_custom_objects",
    "get_registered_name",
    "get_registered_object",
    "load_model",
    "load_weights",
    "register_keras_serializable",
    "save_model",
    "save_weights",
    "serialize_keras_object",
]
