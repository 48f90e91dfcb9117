"""Resolving Keras-style identifiers: a name, a ``{"class_name", "config"}`` dict, an
instance or callable, or ``None`` — shared by constraints, regularizers and friends."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

__all__ = ["Configurable", "deserialize_named", "get_named"]


class Configurable(Protocol):
    """What a lookup table holds: a class made with no arguments or from a config."""

    def __call__(self) -> Any: ...

    def from_config(self, config: dict[str, Any]) -> Any: ...


def deserialize_named(kind: str, config: Any, table: Mapping[str, Configurable]) -> Any:
    """An object of the class ``config`` names (a name or a config dict) in ``table``."""
    if isinstance(config, str) and config in table:
        return table[config]()
    if isinstance(config, dict) and config.get("class_name") in table:
        return table[config["class_name"]].from_config(config.get("config", {}))
    raise ValueError(
        f"Unknown {kind} {config!r}. Expected a config dict or one of: {', '.join(sorted(table))}."
    )


def get_named(
    kind: str, identifier: Any, table: Mapping[str, Configurable]
) -> Any | Callable | None:
    """``None`` stays ``None``; names and dicts are deserialized; callables pass through."""
    if identifier is None:
        return None
    if isinstance(identifier, (str, dict)):
        return deserialize_named(kind, identifier, table)
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret {kind} identifier: {identifier!r}.")
