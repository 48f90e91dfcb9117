"""Custom-object registration: how a saved config finds a user's own classes.

Loading resolves classes only from nerve's public namespaces and from objects
registered here (or passed as ``custom_objects``); it never imports a module
named in a file. Registered names are ``"package>name"``, as in Keras.

>>> from nerve import layers, saving
>>> @saving.register_keras_serializable(package="Docs")
... class Twice(layers.Layer):
...     def call(self, inputs):
...         return inputs * 2
>>> saving.get_registered_name(Twice)
'Docs>Twice'
>>> saving.get_registered_object("Docs>Twice") is Twice
True
"""

from __future__ import annotations

import contextvars
import inspect
from collections.abc import Callable
from typing import Any

__all__ = [
    "CustomObjectScope",
    "custom_object_scope",
    "get_custom_objects",
    "get_registered_name",
    "get_registered_object",
    "keras_class_name",
    "lookup_custom",
    "register_keras_serializable",
]

#: ``"package>name"`` -> class or function, filled by ``register_keras_serializable``.
_GLOBAL_CUSTOM_OBJECTS: dict[str, Any] = {}
#: object -> its registered name (the reverse map, used when saving).
_GLOBAL_CUSTOM_NAMES: dict[Any, str] = {}
_scope_objects: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "nerve_custom_object_scope", default=None
)


def register_keras_serializable(package: str = "Custom", name: str | None = None) -> Callable:
    """Class (or function) decorator: make a custom object loadable by name.

    The object is saved with ``registered_name = f"{package}>{name}"`` (``name``
    defaults to the class or function name) and found again by that name at load
    time. Classes must define ``get_config``.
    """
    if not isinstance(package, str) or ">" in package:
        raise ValueError(
            f"register_keras_serializable: `package` must be a string without '>'. "
            f"Received: package={package!r}"
        )

    def decorator(obj: Any) -> Any:
        registered_name = f"{package}>{name or obj.__name__}"
        if inspect.isclass(obj) and not hasattr(obj, "get_config"):
            raise ValueError(
                f"Cannot register {obj.__name__!r} as serializable: it has no get_config() "
                "method, so its configuration could not be saved."
            )
        previous = _GLOBAL_CUSTOM_OBJECTS.get(registered_name)
        if previous is not None and previous is not obj and not _same_definition(previous, obj):
            raise ValueError(
                f"{registered_name!r} is already registered to {previous!r}. Pick another "
                "`package` or `name` for register_keras_serializable."
            )
        if previous is not None:
            _GLOBAL_CUSTOM_NAMES.pop(previous, None)
        _GLOBAL_CUSTOM_OBJECTS[registered_name] = obj
        _GLOBAL_CUSTOM_NAMES[obj] = registered_name
        return obj

    return decorator


def _same_definition(a: Any, b: Any) -> bool:
    # Re-running a definition (a notebook cell, a reloaded module) replaces it silently.
    return getattr(a, "__qualname__", None) == getattr(b, "__qualname__", None) and getattr(
        a, "__module__", None
    ) == getattr(b, "__module__", None)


def get_registered_name(obj: Any) -> str:
    """The name ``obj`` is registered under, else its own ``__name__``."""
    return _GLOBAL_CUSTOM_NAMES.get(obj, getattr(obj, "__name__", type(obj).__name__))


def get_custom_objects() -> dict[str, Any]:
    """The live global registry (``"package>name"`` -> object)."""
    return _GLOBAL_CUSTOM_OBJECTS


def get_registered_object(
    name: str, custom_objects: dict[str, Any] | None = None, module_objects: dict | None = None
) -> Any:
    """The object for ``name``: from the active ``custom_object_scope``, the global
    registry, ``custom_objects`` or ``module_objects`` (in that order); ``None`` if
    none has it."""
    for table in (_scope_objects.get(), _GLOBAL_CUSTOM_OBJECTS, custom_objects, module_objects):
        if table and name in table:
            return table[name]
    return None


def lookup_custom(names: list[str | None], custom_objects: dict[str, Any] | None) -> Any:
    """The first of ``names`` found in ``custom_objects``, the scope or the registry."""
    tables = (custom_objects or {}, _scope_objects.get() or {}, _GLOBAL_CUSTOM_OBJECTS)
    for name in names:
        if not name:
            continue
        for table in tables:
            if name in table:
                return table[name]
    return None


class CustomObjectScope:
    """``with custom_object_scope({"MyLayer": MyLayer}):`` makes those objects
    resolvable by name (class name or registered name) inside the block.

    >>> from nerve import layers, saving
    >>> class Plain(layers.Layer):
    ...     pass
    >>> with saving.custom_object_scope({"Plain": Plain}):
    ...     saving.get_registered_object("Plain") is Plain
    True
    >>> saving.get_registered_object("Plain") is None
    True
    """

    def __init__(self, *custom_objects: dict[str, Any] | None):
        self.custom_objects: dict[str, Any] = {}
        for objects in custom_objects:
            self.custom_objects.update(objects or {})
        self._tokens: list[contextvars.Token] = []

    def __enter__(self) -> CustomObjectScope:
        merged = {**(_scope_objects.get() or {}), **self.custom_objects}
        self._tokens.append(_scope_objects.set(merged))
        return self

    def __exit__(self, *exc_info: Any) -> None:
        _scope_objects.reset(self._tokens.pop())


custom_object_scope = CustomObjectScope


def keras_class_name(cls: type) -> str:
    """The class name Keras 3 writes for ``cls``'s namesake: ``cls.__name__`` unless
    the class itself (not a subclass) declares ``_keras_class_name``.

    >>> class GroupedThing:
    ...     _keras_class_name = "GroupThing"
    >>> keras_class_name(GroupedThing), keras_class_name(type("Sub", (GroupedThing,), {}))
    ('GroupThing', 'Sub')
    """
    return str(cls.__dict__.get("_keras_class_name", cls.__name__))
