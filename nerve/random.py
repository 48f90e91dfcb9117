"""Random tensors driven by explicit seeds (Keras 3's ``keras.random``)."""

from __future__ import annotations

__all__: list[str] = []
