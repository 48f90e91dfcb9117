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

import gc
import threading

__all__ = ["clear_session", "get_uid"]

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
