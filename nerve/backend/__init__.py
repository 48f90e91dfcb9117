"""Backends: the only code that knows which array library runs.

See ``base.Backend`` for the contract and ``registry`` for selection.
"""

from nerve.backend.base import Backend
from nerve.backend.registry import (
    available_backends,
    backend_of,
    default_device,
    device,
    get_backend,
    parse_device,
    register_backend,
)

__all__ = [
    "Backend",
    "available_backends",
    "backend_of",
    "default_device",
    "device",
    "get_backend",
    "parse_device",
    "register_backend",
]
