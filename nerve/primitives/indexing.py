"""Indexing primitives."""

from __future__ import annotations
