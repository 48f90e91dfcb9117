"""Backend selection: which backend runs, by device name or by array type.

``device("cpu")`` is a context manager that sets where new tensors are created.
Operations on existing tensors run on the backend that owns their arrays.
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib
from collections.abc import Iterator
from typing import Any

from nerve.backend.base import Backend
from nerve.core.errors import BackendError

__all__ = [
    "BACKEND_CLASSES",
    "available_backends",
    "backend_of",
    "default_device",
    "device",
    "get_backend",
    "parse_device",
    "register_array_types",
    "register_backend",
]

#: Device kind -> (module, class) of the backend serving it, imported on first use. A
#: new backend is one row here (and its package under ``nerve/backend/``).
BACKEND_CLASSES: dict[str, tuple[str, str]] = {
    "cpu": ("nerve.backend.numpy_backend", "NumpyBackend"),
}

_BACKENDS: dict[str, Backend] = {}
#: ``get_backend``'s answers by device name: it runs on every compiled call, where
#: parsing the name each time was a measurable part of a batch-1 call.
_BY_DEVICE_NAME: dict[str, Backend] = {}
_BY_ARRAY_TYPE: dict[type, Backend] = {}
_default_device: contextvars.ContextVar[str] = contextvars.ContextVar("nerve_device", default="cpu")


def register_backend(device_kind: str, backend: Backend) -> None:
    """Make ``backend`` serve devices of kind ``device_kind`` (``"cpu"``, ``"gpu"``)."""
    _BACKENDS[device_kind] = backend
    _BY_DEVICE_NAME.clear()
    register_array_types(backend)


def register_array_types(backend: Backend) -> None:
    """Route arrays of ``backend.array_types`` to ``backend`` (without a device kind)."""
    for t in backend.array_types:
        _BY_ARRAY_TYPE[t] = backend


def _load(kind: str) -> Backend:
    entry = BACKEND_CLASSES.get(kind)
    if entry is None:
        raise BackendError(
            f"No backend serves device kind {kind!r} in this installation (available: "
            f"{', '.join(sorted(BACKEND_CLASSES))}). A GPU needs the CuPy backend, which is "
            "not built yet; use device 'cpu'."
        )
    module, name = entry
    register_backend(kind, getattr(importlib.import_module(module), name)())
    return _BACKENDS[kind]


def available_backends() -> dict[str, Backend]:
    """Every backend that can run here, by device kind (loading them); kinds whose
    backend cannot start on this machine (no GPU, no library) are left out."""
    found = {}
    for kind in BACKEND_CLASSES:
        try:
            found[kind] = get_backend(kind)
        except (BackendError, ImportError):
            continue
    return found


def parse_device(name: str) -> tuple[str, int]:
    """Split ``"gpu:1"`` into ``("gpu", 1)``; ``"cpu"`` is ``("cpu", 0)``."""
    kind, _, index = str(name).lower().partition(":")
    if kind not in ("cpu", "gpu"):
        raise BackendError(f"Unknown device {name!r}; expected 'cpu', 'gpu' or 'gpu:N'.")
    try:
        return kind, int(index) if index else 0
    except ValueError:
        raise BackendError(f"Bad device index in {name!r}; expected e.g. 'gpu:0'.") from None


def get_backend(device: str | None = None) -> Backend:
    """The backend serving ``device`` (default: the current default device)."""
    name = device or _default_device.get()
    backend = _BY_DEVICE_NAME.get(name)
    if backend is not None:
        return backend
    kind, _ = parse_device(name)
    backend = _BACKENDS.get(kind)
    if backend is None:
        backend = _load(kind)
    if len(_BY_DEVICE_NAME) < 64:  # bounded: device names come from user code
        _BY_DEVICE_NAME[name] = backend
    return backend


def _register_abstract() -> None:
    from nerve.backend.abstract import AbstractBackend

    register_array_types(AbstractBackend())


def backend_of(array: Any) -> Backend:
    """The backend that owns ``array``."""
    backend = _BY_ARRAY_TYPE.get(type(array))
    if backend is not None:
        return backend
    for b in _BACKENDS.values():
        if b.is_array(array):
            return b
    raise BackendError(f"No backend owns arrays of type {type(array).__name__}.")


def default_device() -> str:
    """Name of the device new tensors are created on."""
    return _default_device.get()


@contextlib.contextmanager
def device(name: str) -> Iterator[None]:
    """Create new tensors on device ``name`` inside this block.

    >>> import nerve
    >>> with nerve.device("cpu"):
    ...     nerve.ops.ones((2,)).device
    'cpu'
    """
    get_backend(name)  # fail now, not at first use, if the device is unavailable
    token = _default_device.set(name)
    try:
        yield
    finally:
        _default_device.reset(token)


_register_abstract()
