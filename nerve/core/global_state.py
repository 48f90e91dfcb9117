"""Process-wide naming state: Keras's ``get_uid`` counters (automatic layer names come
from them) and ``clear_session``, which starts them over.

>>> clear_session()
>>> get_uid("dense"), get_uid("dense"), get_uid("conv")
(1, 2, 1)
>>> clear_session()
>>> get_uid("dense")
1
"""

from __future__ import annotations

import contextvars
import gc
import threading
from typing import Any

__all__ = ["clear_session", "current_path", "get_uid", "name_scope"]

_scopes: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar(
    "nerve_name_scopes", default=()
)

_uids: dict[str, int] = {}
_lock = threading.Lock()


def get_uid(prefix: str = "") -> int:
    """How many times ``get_uid(prefix)`` has been called since the session began,
    this call included: 1 the first time (Keras's ``keras.backend.get_uid``).

    >>> clear_session()
    >>> [get_uid("x") for _ in range(3)]
    [1, 2, 3]
    """
    with _lock:
        _uids[prefix] = _uids.get(prefix, 0) + 1
        return _uids[prefix]


def clear_session(free_memory: bool = True) -> None:
    """Start a new session: automatic names start over (the next ``Dense`` is named
    ``"dense"`` again), as ``keras.backend.clear_session`` does. ``free_memory`` runs
    Python's garbage collector so the arrays of dropped models are released now.

    >>> clear_session()
    >>> get_uid("dense")
    1
    """
    with _lock:
        _uids.clear()
    if free_memory:
        gc.collect()


class name_scope:
    """Prefix the ``path`` of every ``Variable`` created inside with ``name`` (Keras's
    ``keras.name_scope``); scopes nest with ``/``. ``deduplicate`` (default) makes a
    scope of the same name as the innermost one add nothing; ``override_parent``
    replaces the enclosing path; ``caller`` is accepted for Keras compatibility.

    >>> from nerve import Variable
    >>> with name_scope("encoder"), name_scope("block"):
    ...     Variable(1.0, name="w").path
    'encoder/block/w'
    """

    def __init__(
        self,
        name: str,
        caller: Any = None,
        deduplicate: bool = True,
        override_parent: str | None = None,
    ):
        if not isinstance(name, str) or not name or "/" in name:
            raise ValueError(
                f"name_scope: name must be a non-empty string without '/', got {name!r}."
            )
        self.name = name
        self.caller = caller
        self.deduplicate = deduplicate
        self.override_parent = override_parent
        self._token: contextvars.Token | None = None

    def __enter__(self) -> name_scope:
        scopes = _scopes.get()
        if self.override_parent is not None:
            scopes = tuple(part for part in self.override_parent.split("/") if part)
        if not (self.deduplicate and scopes and scopes[-1] == self.name):
            scopes = (*scopes, self.name)
        self._token = _scopes.set(scopes)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._token is not None:
            _scopes.reset(self._token)
            self._token = None


def current_path() -> str:
    """The enclosing ``name_scope`` names joined with ``/`` (``""`` outside any).

    >>> with name_scope("a"):
    ...     current_path()
    'a'
    """
    return "/".join(_scopes.get())
