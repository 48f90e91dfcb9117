"""Objects to JSON-ready dicts and back, in Keras 3's format.

An object serializes to ``{"module", "class_name", "config", "registered_name"}``
(plus ``"build_config"`` and ``"compile_config"`` when it has them). Built-in
classes are written under the module and class names Keras 3 writes for its
namesakes (``"keras.layers"``, ``"keras.src.models.functional"``), so Keras loads
nerve's files; on load, those names (and nerve's own, from older files) are looked
up in a fixed table that maps them onto nerve's public namespaces. Custom classes
carry their registered name.

Deserialization is safe by construction: a class comes only from nerve's own
public namespaces or from registered / passed custom objects; no module named in
a file is imported, nothing is unpickled or evaluated, and a serialized lambda
is refused.

>>> from nerve import layers, saving
>>> config = saving.serialize_keras_object(layers.Dense(3, name="d"))
>>> config["module"], config["class_name"], config["registered_name"]
('keras.layers', 'Dense', None)
>>> saving.deserialize_keras_object(config).units
3
"""

from __future__ import annotations

import contextvars
import importlib
import inspect
import types
from typing import Any

from nerve.core import object_registry

__all__ = [
    "SerializationError",
    "build_from_config",
    "deserialize_keras_object",
    "get_build_config",
    "serialize_keras_object",
]

# Public namespaces whose classes and functions load by name, most specific first.
_NERVE_NAMESPACES = (
    "nerve.layers",
    "nerve.models",
    "nerve.optimizers",
    "nerve.optimizers.schedules",
    "nerve.losses",
    "nerve.metrics",
    "nerve.activations",
    "nerve.initializers",
    "nerve.regularizers",
    "nerve.constraints",
    "nerve.callbacks",
    "nerve",
)
# The module Keras 3 writes for the namesake of an object exported by each namespace.
_KERAS_MODULES = {name: "keras" + name[len("nerve") :] for name in _NERVE_NAMESPACES}
# Keras writes its model classes under their implementation modules; nerve writes the
# same. Keys are (nerve namespace, class name); values are (module, registered name).
_KERAS_MODEL_NAMES = {
    ("nerve.models", "Functional"): ("keras.src.models.functional", "Functional"),
    ("nerve.models", "Sequential"): ("keras", None),
    ("nerve.models", "Model"): ("keras", None),
    ("nerve", "Functional"): ("keras.src.models.functional", "Functional"),
    ("nerve", "Sequential"): ("keras", None),
    ("nerve", "Model"): ("keras", None),
}
# The allowlist of module names a file may give, and the nerve namespace each means.
# A module outside it resolves only through custom objects; nothing is ever imported
# because a file names it.
_LOADABLE_MODULES = {
    **{name: name for name in _NERVE_NAMESPACES},
    **{keras: nerve for nerve, keras in _KERAS_MODULES.items()},
    "keras.src.models.functional": "nerve.models",
    "keras.src.models.sequential": "nerve.models",
    "keras.src.models.model": "nerve.models",
    "keras.src.layers": "nerve.layers",
    "keras.src.losses": "nerve.losses",
    "keras.src.losses.losses": "nerve.losses",
    "keras.src.metrics": "nerve.metrics",
    "keras.src.activations": "nerve.activations",
    "keras.src.activations.activations": "nerve.activations",
    "keras.src.initializers": "nerve.initializers",
    "keras.src.regularizers": "nerve.regularizers",
    "keras.src.constraints": "nerve.constraints",
    "keras.src.optimizers": "nerve.optimizers",
    "keras.src.optimizers.schedules": "nerve.optimizers.schedules",
    "keras.src.optimizers.schedules.learning_rate_schedule": "nerve.optimizers.schedules",
}
_PLAIN_TYPES = (str, int, float, bool)
_safe_mode: contextvars.ContextVar[bool | None] = contextvars.ContextVar(
    "nerve_safe_mode", default=None
)


class SerializationError(TypeError):
    """An object could not be serialized or a config could not be deserialized."""


def _namespace(name: str) -> types.ModuleType | None:
    # Only names from the fixed list above are ever imported.
    if name not in _NERVE_NAMESPACES:
        return None
    try:
        return importlib.import_module(name)
    except ImportError:  # a namespace not written yet (e.g. nerve.models early on)
        return None


def _keras_names(obj: Any) -> tuple[str, str | None] | None:
    """``(module, registered_name)`` as Keras 3 writes them for the namesake of a
    public nerve object; ``None`` for a custom one."""
    public = _public_module(obj)
    if public is None:
        return None
    return _KERAS_MODEL_NAMES.get((public, obj.__name__), (_KERAS_MODULES[public], None))


def _public_module(obj: Any) -> str | None:
    """The public nerve namespace exporting ``obj`` under its own name, if any."""
    name = getattr(obj, "__name__", None)
    if not name or not str(getattr(obj, "__module__", "")).startswith("nerve"):
        return None
    for namespace in _NERVE_NAMESPACES:
        module = _namespace(namespace)
        if module is not None and getattr(module, name, None) is obj:
            return namespace
    return None


# -- serialize ---------------------------------------------------------------------------
def serialize_keras_object(obj: Any) -> Any:
    """A JSON-ready description of ``obj`` (see the module docstring).

    Plain values, lists and dicts pass through (recursively); arrays and tensors
    become ``{"class_name": "__numpy__", ...}``; functions and objects with
    ``get_config`` become Keras-style dicts. Lambdas are refused: nerve never
    saves (or loads) code.
    """
    if obj is None or isinstance(obj, _PLAIN_TYPES):
        return obj
    if isinstance(obj, (list, tuple)):
        return [serialize_keras_object(x) for x in obj]
    if isinstance(obj, dict):
        return {str(k): serialize_keras_object(v) for k, v in obj.items()}
    if isinstance(obj, bytes):
        return {"class_name": "__bytes__", "config": {"value": obj.decode("utf-8")}}
    if obj is Ellipsis:
        return {"class_name": "__ellipsis__", "config": {}}
    if isinstance(obj, slice):
        return {
            "class_name": "__slice__",
            "config": {"start": obj.start, "stop": obj.stop, "step": obj.step},
        }
    if _is_array(obj):
        if not obj.shape:
            return obj.item() if hasattr(obj, "item") else obj.numpy().item()
        array = obj.numpy() if hasattr(obj, "numpy") else obj
        return {
            "class_name": "__numpy__",
            "config": {"value": array.tolist(), "dtype": str(array.dtype)},
        }
    if isinstance(obj, (types.FunctionType, types.BuiltinFunctionType)):
        return _serialize_function(obj)
    if inspect.isclass(obj):
        raise SerializationError(
            f"Cannot serialize the class {obj.__name__!r} itself; serialize an instance."
        )
    if not hasattr(obj, "get_config"):
        raise SerializationError(
            f"Cannot serialize {obj!r} of type {type(obj).__name__}: to be serializable, "
            "a class must implement get_config()."
        )
    inner = obj.get_config()
    if not isinstance(inner, dict):
        raise SerializationError(
            f"{type(obj).__name__}.get_config() must return a dict; it returned {inner!r}."
        )
    cls = type(obj)
    keras_names = _keras_names(cls)
    registered = object_registry._GLOBAL_CUSTOM_NAMES.get(cls)
    if keras_names is not None and not registered:
        module, registered = keras_names
    else:
        module, registered = cls.__module__, registered or cls.__name__
    config = {
        "module": module,
        "class_name": object_registry.keras_class_name(cls),
        "config": serialize_keras_object(inner),
        "registered_name": registered,
    }
    build_config = get_build_config(obj)
    if build_config is not None:
        config["build_config"] = serialize_keras_object(build_config)
    compile_config = obj.get_compile_config() if hasattr(obj, "get_compile_config") else None
    if compile_config is not None:
        config["compile_config"] = serialize_keras_object(compile_config)
    return config


def _is_array(obj: Any) -> bool:
    """A NumPy array or scalar, or a nerve tensor."""
    has_array_fields = hasattr(obj, "shape") and hasattr(obj, "dtype")
    return has_array_fields and (hasattr(obj, "tolist") or hasattr(obj, "numpy"))


def _serialize_function(fn: Any) -> dict:
    if fn.__name__ == "<lambda>":
        raise SerializationError(
            "Cannot serialize a lambda: nerve never saves or loads code. Use a named "
            "function decorated with @nerve.saving.register_keras_serializable()."
        )
    registered = object_registry._GLOBAL_CUSTOM_NAMES.get(fn)
    if registered is None and _public_module(fn) is not None:
        # Keras 3's form for its own functions (a loss or metric in a compile config).
        return {
            "module": "builtins",
            "class_name": "function",
            "config": fn.__name__,
            "registered_name": "function",
        }
    return {
        "module": fn.__module__,
        "class_name": "function",
        "config": fn.__name__,
        "registered_name": registered or fn.__name__,
    }


def get_build_config(obj: Any) -> dict | None:
    """``{"input_shape": ...}`` for a built layer (Keras's ``get_build_config``)."""
    if hasattr(obj, "get_build_config"):
        return obj.get_build_config()
    shapes = getattr(obj, "_build_shapes", None)
    if getattr(obj, "built", False) and shapes is not None:
        return {"input_shape": shapes}
    return None


# -- deserialize -------------------------------------------------------------------------
def deserialize_keras_object(
    config: Any, custom_objects: dict[str, Any] | None = None, safe_mode: bool = True
) -> Any:
    """The object described by ``config`` (``serialize_keras_object``'s output, or
    Keras 3's for the same classes).

    Classes resolve, in order, from ``custom_objects``, the active
    ``custom_object_scope``, registered objects (by ``registered_name`` or class
    name), then nerve's public namespaces. After ``from_config`` a layer is built
    from its ``build_config`` and a model compiled from its ``compile_config``.
    ``safe_mode`` is accepted for Keras compatibility; nerve is always safe (a
    serialized lambda is refused whatever its value).
    """
    scoped = _safe_mode.get()
    safe_mode = scoped if scoped is not None else safe_mode
    if config is None or (isinstance(config, _PLAIN_TYPES) and not isinstance(config, str)):
        return config
    if isinstance(config, str):
        found = object_registry.lookup_custom([config], custom_objects)
        return found if found is not None else config
    if isinstance(config, (list, tuple)):
        return [deserialize_keras_object(x, custom_objects, safe_mode) for x in config]
    if not isinstance(config, dict):
        return config  # already an object (e.g. an optimizer instance in a compile config)
    if "class_name" not in config or "config" not in config:
        return {
            k: deserialize_keras_object(v, custom_objects, safe_mode) for k, v in config.items()
        }

    class_name = config["class_name"]
    inner = config["config"]
    special = _deserialize_special(class_name, inner)
    if special is not _NOT_SPECIAL:
        return special
    if class_name == "function":
        return _resolve_function(config, custom_objects)

    cls = _resolve_class(config, custom_objects)
    token = _safe_mode.set(safe_mode)
    try:
        with object_registry.CustomObjectScope(custom_objects):
            if not hasattr(cls, "from_config"):
                raise SerializationError(
                    f"{class_name!r} has no from_config() class method, so it cannot be "
                    "rebuilt from a config."
                )
            instance = cls.from_config(inner)
            build_config = config.get("build_config")
            if build_config:
                build_from_config(instance, build_config)
            compile_config = config.get("compile_config")
            if compile_config and hasattr(instance, "compile_from_config"):
                # Optimizer / loss / metric entries are serialized objects or names.
                instance.compile_from_config(
                    deserialize_keras_object(compile_config, custom_objects, safe_mode)
                )
    finally:
        _safe_mode.reset(token)
    return instance


_NOT_SPECIAL = object()


def _deserialize_special(class_name: str, inner: Any) -> Any:
    if class_name == "__lambda__":
        raise SerializationError(
            "This file contains a serialized Python lambda (bytecode). nerve never loads "
            "code from a file, so it cannot be restored (Keras would need safe_mode=False; "
            "nerve has no such mode). Rewrite the function as a named function registered "
            "with @nerve.saving.register_keras_serializable() and pass it via custom_objects."
        )
    if class_name in ("__numpy__", "__tensor__"):
        from nerve import ops

        return ops.convert_to_tensor(inner["value"], dtype=inner.get("dtype"))
    if class_name == "__bytes__":
        return inner["value"].encode("utf-8")
    if class_name == "__ellipsis__":
        return Ellipsis
    if class_name == "__slice__":
        return slice(inner.get("start"), inner.get("stop"), inner.get("step"))
    return _NOT_SPECIAL


def _candidate_names(config: dict) -> list[str | None]:
    return [config.get("registered_name"), config.get("class_name")]


def _from_namespaces(config: dict, attribute: str) -> Any:
    module = config.get("module")
    # Only names in the allowlist mean a namespace ("keras.layers" -> "nerve.layers").
    namespace_name = _LOADABLE_MODULES.get(module) if isinstance(module, str) else None
    namespaces = [namespace_name] if namespace_name is not None else []
    # Keras 3 writes its built-in functions in compile configs (losses, metrics) under
    # the module "builtins": they mean nerve's namesakes, wherever nerve exports them.
    if module is None or (module == "builtins" and attribute == config.get("config")):
        namespaces = list(_NERVE_NAMESPACES)
    for name in namespaces:
        namespace = _namespace(name)
        obj = getattr(namespace, attribute, None) if namespace is not None else None
        # Only nerve's own objects: a namespace attribute could be an imported module.
        if obj is not None and str(getattr(obj, "__module__", "")).startswith("nerve"):
            return obj
    return None


def _resolve_class(config: dict, custom_objects: dict[str, Any] | None) -> type:
    cls = object_registry.lookup_custom(_candidate_names(config), custom_objects)
    if cls is None:
        cls = _from_namespaces(config, config["class_name"])
    if cls is None or not inspect.isclass(cls):
        name = config.get("class_name")
        registered = config.get("registered_name") or name
        raise SerializationError(
            f"Could not locate class {name!r} (module {config.get('module')!r}, registered "
            f"name {registered!r}). If it is a custom class, decorate it with "
            "@nerve.saving.register_keras_serializable() (it is then saved and found as "
            f"'Custom>{name}'), or pass it when loading: custom_objects={{{name!r}: {name}}}, "
            "or load inside `with nerve.saving.custom_object_scope(...)`."
        )
    return cls


def _resolve_function(config: dict, custom_objects: dict[str, Any] | None) -> Any:
    inner = config["config"]
    fn = object_registry.lookup_custom([config.get("registered_name"), inner], custom_objects)
    if fn is None and isinstance(inner, str):
        fn = _from_namespaces(config, inner)
    if fn is None or not callable(fn):
        raise SerializationError(
            f"Could not locate function {inner!r} (module {config.get('module')!r}). "
            "Register it with @nerve.saving.register_keras_serializable() or pass it via "
            f"custom_objects={{{inner!r}: {inner}}}."
        )
    return fn


def _to_shape(value: Any) -> Any:
    """JSON lists back to shape tuples: a list of ints/None is a shape."""
    if isinstance(value, list):
        if all(d is None or isinstance(d, int) for d in value):
            return tuple(value)
        return [_to_shape(v) for v in value]
    if isinstance(value, dict):
        return {k: _to_shape(v) for k, v in value.items()}
    return value


def build_from_config(obj: Any, build_config: dict) -> None:
    """Create ``obj``'s weights from a ``build_config`` (Keras's ``build_from_config``)."""
    if hasattr(obj, "build_from_config"):
        obj.build_from_config(build_config)
        return
    from nerve import ops
    from nerve.layers import Layer
    from nerve.layers.base import map_shapes, training_scope

    if not isinstance(obj, Layer) or obj.built:
        return
    shapes = _to_shape(build_config.get("input_shape", build_config.get("shapes_dict")))
    if shapes is None:
        return
    obj._build_on_first_call(shapes)
    if all(layer.built for layer in obj._flatten_layers()):
        return
    # Sublayers built lazily on their first call: run the layer once on zeros
    # (unknown sizes as 1) in inference mode, as a first call would have.
    dummy = map_shapes(
        lambda s: ops.zeros(tuple(1 if d is None else d for d in s), obj.compute_dtype), shapes
    )
    with training_scope(False):
        obj(dummy)
