"""Configs of the layers a recurrent layer holds (``RNN``'s cell, ``StackedRNNCells``'s
cells, ``Bidirectional``'s and ``TimeDistributed``'s layer), in Keras 3's nested form
``{"module", "class_name", "config", "registered_name"}``.

``nerve.saving`` sits above ``nerve.layers`` in the package layout, so the wrappers
cannot call its serializer; this is the part of it they need. Classes resolve the way
``nerve.saving`` resolves them — passed or registered custom objects first, then
``nerve.layers`` — so a user's cell registered with
``@nerve.saving.register_keras_serializable()`` round-trips; nothing named in a config
is imported.

>>> from nerve import layers
>>> config = serialize_layer(layers.LSTMCell(3, name="cell"))
>>> config["module"], config["class_name"], config["registered_name"]
('keras.layers', 'LSTMCell', None)
>>> deserialize_layer(config).units
3
"""

from __future__ import annotations

import inspect
from typing import Any

from nerve.core import object_registry

__all__ = ["deserialize_layer", "serialize_layer"]


def serialize_layer(layer: Any) -> dict:
    """``layer``'s class and ``get_config()`` in Keras's nested form."""
    cls = type(layer)
    registered = object_registry._GLOBAL_CUSTOM_NAMES.get(cls)
    builtin = cls.__module__.startswith("nerve.") and registered is None
    return {
        "module": "keras.layers" if builtin else cls.__module__,
        "class_name": object_registry.keras_class_name(cls),
        "config": layer.get_config(),
        "registered_name": None if builtin else (registered or cls.__name__),
    }


def deserialize_layer(config: Any, what: str = "layer") -> Any:
    """The layer a ``serialize_layer`` (or Keras) config describes; a layer passes as is."""
    if not isinstance(config, dict):
        return config
    if "class_name" not in config or "config" not in config:
        raise ValueError(
            f"A {what} config must be a dict with 'class_name' and 'config' keys; "
            f"received keys {sorted(config)}."
        )
    names = [config.get("registered_name"), config["class_name"]]
    cls = object_registry.lookup_custom(names, None)
    if cls is None:
        import nerve.layers

        candidate = getattr(nerve.layers, config["class_name"], None)
        if inspect.isclass(candidate) and candidate.__module__.startswith("nerve."):
            cls = candidate
    if cls is None:
        name = config["class_name"]
        raise ValueError(
            f"Could not find the {what} class {name!r}. A custom class must be registered "
            "with @nerve.saving.register_keras_serializable() or passed in "
            f"custom_objects={{{name!r}: {name}}}."
        )
    return cls.from_config(dict(config["config"]))
