"""Every public module of nerve says what it exports, and exports only its own API.

A public module is one whose dotted name has no part starting with ``_`` (package
``__init__``s included). Its ``__all__`` is the list ``from module import *``
brings in and the API the docs promise, so it must exist, name only things the
module has, name each once, and never leak what the module merely uses: a typing
construct (``Callable``, ``Any``) or a library module (``np``, ``math``).
"""

import importlib
import importlib.util
import pkgutil
import types

import pytest

import nerve

# Where typing constructs live; a name from one of these is an annotation helper.
TYPING_MODULES = {"typing", "typing_extensions", "collections.abc", "types", "__future__"}


def _is_public(name: str) -> bool:
    return not any(part.startswith("_") for part in name.split("."))


def public_modules() -> list[str]:
    names = ["nerve"]
    for info in pkgutil.walk_packages(nerve.__path__, prefix="nerve."):
        if _is_public(info.name):
            names.append(info.name)
    return sorted(names)


PUBLIC_MODULES = public_modules()


def test_the_walk_finds_the_package():
    # Guards the parametrization below against an empty or partial walk.
    assert len(PUBLIC_MODULES) > 100
    for expected in ("nerve", "nerve.ops", "nerve.ops.nn.activation", "nerve.losses"):
        assert expected in PUBLIC_MODULES


def _defines(module: types.ModuleType, name: str) -> bool:
    """Whether ``from module import name`` works: an attribute, or a package's submodule
    (which a star-import loads when ``__all__`` names it)."""
    if hasattr(module, name):
        return True
    is_package = hasattr(module, "__path__")
    return is_package and importlib.util.find_spec(f"{module.__name__}.{name}") is not None


def leaks(module: types.ModuleType) -> list[str]:
    """Names in ``module.__all__`` that are typing constructs or foreign modules."""
    found = []
    for name in module.__all__:
        value = getattr(module, name, None)
        if isinstance(value, types.ModuleType):
            if not value.__name__.startswith("nerve."):
                found.append(f"{name} (the module {value.__name__})")
        elif getattr(value, "__module__", None) in TYPING_MODULES:
            found.append(f"{name} (from {value.__module__})")
    return found


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_public_module_declares_its_api(name):
    module = importlib.import_module(name)
    assert hasattr(module, "__all__"), (
        f"{name} has no __all__: list the names it exports on purpose, so that "
        f"`from {name} import *` does not leak its imports"
    )
    exported = list(module.__all__)
    assert all(isinstance(item, str) for item in exported), f"{name}.__all__ holds a non-string"
    missing = [item for item in exported if not _defines(module, item)]
    assert not missing, f"{name}.__all__ names {missing}, which {name} does not define"
    duplicates = sorted({item for item in exported if exported.count(item) > 1})
    assert not duplicates, f"{name}.__all__ lists {duplicates} more than once"
    leaked = leaks(module)
    assert not leaked, (
        f"{name}.__all__ exports what the module only uses: {leaked}; drop these names from __all__"
    )


def test_leaks_are_detected():
    """The leak check can fail: a module exporting ``Callable`` and ``np`` is caught."""
    import collections.abc
    from typing import Any

    import numpy

    fake = types.ModuleType("nerve.fake")
    fake.Callable = collections.abc.Callable
    fake.Any = Any
    fake.np = numpy
    fake.ops = nerve.ops
    fake.__all__ = ["Callable", "Any", "np", "ops"]
    assert leaks(fake) == [
        "Callable (from collections.abc)",
        "Any (from typing)",
        "np (the module numpy)",
    ]


def test_keras_names_for_the_functional_api():
    # Keras 3 spells these keras.layers.Input, keras.Layer and keras.KerasTensor.
    assert nerve.layers.Input is nerve.Input
    assert nerve.Layer is nerve.layers.Layer
    assert isinstance(nerve.layers.Input(shape=(3,)), nerve.KerasTensor)
