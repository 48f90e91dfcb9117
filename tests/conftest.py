"""Shared pytest set-up: GPU tests skip cleanly where no CUDA device (or CuPy) exists;
Keras, where installed, runs on its NumPy backend (the reference the layer tables
compare with), chosen before any test imports it."""

import os

import pytest

os.environ.setdefault("KERAS_BACKEND", "numpy")


def _gpu_available() -> bool:
    try:
        import cupy
    except ImportError:
        return False
    try:
        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


def pytest_collection_modifyitems(config, items):
    if _gpu_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU with CuPy")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
