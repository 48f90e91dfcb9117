"""Keras 3's ``keras.models`` saving entry points: ``load_model``, ``save_model`` and
``model_from_json``. The formats live in ``nerve.saving`` (a higher layer); these hand
over to it when called.

>>> import json
>>> from nerve import layers, models
>>> m = models.Sequential([layers.Input((3,)), layers.Dense(2)])
>>> type(model_from_json(m.to_json())).__name__
'Sequential'
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["load_model", "model_from_json", "save_model"]


def load_model(
    filepath: Any,
    custom_objects: dict[str, Any] | None = None,
    compile: bool = True,
    safe_mode: bool = True,
) -> Any:
    """The model saved in a ``.keras`` archive (see ``nerve.saving.load_model``).

    >>> import os, tempfile
    >>> from nerve import layers, models
    >>> m = models.Sequential([layers.Input((2,)), layers.Dense(1)])
    >>> path = os.path.join(tempfile.mkdtemp(), "m.keras")
    >>> save_model(m, path)
    >>> load_model(path).output_shape
    (None, 1)
    """
    from nerve import saving

    return saving.load_model(
        filepath, custom_objects=custom_objects, compile=compile, safe_mode=safe_mode
    )


def save_model(model: Any, filepath: Any, overwrite: bool = True, **kwargs: Any) -> None:
    """Write ``model`` to a ``.keras`` archive (see ``nerve.saving.save_model``); the same
    as ``model.save(filepath)``.

    >>> import os, tempfile
    >>> from nerve import layers, models
    >>> m = models.Sequential([layers.Input((2,)), layers.Dense(1)])
    >>> save_model(m, os.path.join(tempfile.mkdtemp(), "m.keras"))
    """
    from nerve import saving

    saving.save_model(model, filepath, overwrite=overwrite, **kwargs)


def model_from_json(json_string: str, custom_objects: dict[str, Any] | None = None) -> Any:
    """The model described by ``json_string`` (what ``Model.to_json`` returns), with
    newly initialized weights.

    >>> from nerve import layers, models
    >>> m = models.Sequential([layers.Input((2,)), layers.Dense(4, name="hidden")])
    >>> model_from_json(m.to_json()).get_layer("hidden").units
    4
    """
    from nerve import saving

    if not isinstance(json_string, (str, bytes, bytearray)):
        raise TypeError(
            f"model_from_json expects a JSON string (from Model.to_json()); "
            f"got {type(json_string).__name__}."
        )
    try:
        config = json.loads(json_string)
    except json.JSONDecodeError as error:
        raise ValueError(f"model_from_json: the string is not valid JSON ({error}).") from None
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(
            "model_from_json expects a serialized model: a JSON object with 'class_name' "
            "and 'config' (what Model.to_json() returns)."
        )
    return saving.deserialize_keras_object(config, custom_objects=custom_objects)
