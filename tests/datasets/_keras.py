"""Keras's own data-set modules, read as text: the loaders' constants (origins,
checksums, folder names) are checked against them, where keras is installed."""

import importlib.util
from pathlib import Path

import pytest


def keras_source(module: str) -> str:
    """The source of ``keras/src/datasets/<module>.py``; skips the test without keras."""
    spec = importlib.util.find_spec("keras")
    if spec is None or spec.origin is None:
        pytest.skip("keras is not installed")
    return (Path(spec.origin).parent / "src" / "datasets" / f"{module}.py").read_text()
