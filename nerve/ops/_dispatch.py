"""Symbolic dispatch: every public ``nerve.ops`` function on symbolic arguments.

The Functional API's symbolic tensors (``KerasTensor``) live in ``nerve.layers``,
above this package, so ops cannot know them. Instead the layers package registers a
handler here (``register_symbolic_handler``), and each public op is wrapped once
(``install``) so that a call which fails on its arguments asks the handler whether
they hold a symbolic tensor; if they do, the handler records the call as a model
node. The concrete path pays one Python call and nothing else: the wrapper looks at
the arguments only after the op has raised (a symbolic tensor cannot be converted).

>>> from nerve import ops
>>> ops.sum.__wrapped__.__module__
'nerve.ops.reduction'
"""

from __future__ import annotations

import functools
import types
from collections.abc import Callable
from typing import Any, Protocol

__all__ = ["SymbolicHandler", "install", "public_name", "register_symbolic_handler"]


class SymbolicHandler(Protocol):
    """What the layer that owns symbolic tensors provides."""

    def holds_symbolic(self, args: tuple, kwargs: dict) -> bool:
        """Whether any argument (nested in lists, tuples and dicts) is symbolic."""

    def call(self, name: str, fn: Callable, args: tuple, kwargs: dict) -> Any:
        """Record ``fn(*args, **kwargs)`` (the op's public name ``name``) as a node."""


_handler: SymbolicHandler | None = None
# The public wrapper of each op, by id of the raw function, and each wrapper's name.
_wrappers: dict[int, Callable] = {}
_names: dict[int, str] = {}


def register_symbolic_handler(handler: SymbolicHandler) -> None:
    """Make ``handler`` build the node for an op called on symbolic tensors."""
    global _handler
    _handler = handler


def public_name(fn: Callable) -> str | None:
    """The name ``install`` gave a public op (``"mean"``, ``"image.resize"``), or None."""
    return _names.get(id(fn))


def _wrap(name: str, fn: Callable) -> Callable:
    @functools.wraps(fn)
    def op(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception:
            handler = _handler
            if handler is None or not handler.holds_symbolic(args, kwargs):
                raise
        return handler.call(name, fn, args, kwargs)

    return op


def install(namespaces: dict[str, types.ModuleType]) -> None:
    """Replace each public function of each namespace (prefix -> module) by its
    wrapper; a function exported under several names gets one wrapper, named by the
    first namespace listed (so ``ops.numpy.sum is ops.sum`` stays true)."""
    for prefix, module in namespaces.items():
        for attribute in getattr(module, "__all__", ()):
            fn = getattr(module, attribute, None)
            if not isinstance(fn, types.FunctionType) or id(fn) in _names:
                continue
            raw = fn
            wrapper = _wrappers.get(id(raw))
            if wrapper is None:
                wrapper = _wrap(prefix + attribute, raw)
                _wrappers[id(raw)] = wrapper
                _names[id(wrapper)] = prefix + attribute
            setattr(module, attribute, wrapper)
