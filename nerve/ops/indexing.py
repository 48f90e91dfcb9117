"""Indexing, gathering and scattering."""

from __future__ import annotations

from typing import Any

from nerve.tensor import Tensor

__all__: list[str] = []


def getitem(x: Tensor, key: Any) -> Tensor:
    """``x[key]`` with NumPy's basic and advanced indexing."""
    raise NotImplementedError("indexing is not implemented yet")


def nonzero(x: Any):
    raise NotImplementedError("nonzero is not implemented yet")
