"""Keras's own ``keras.utils``, the reference the utility tests compare with."""

import inspect

import pytest


def keras_utils():
    """``keras.utils`` on Keras's NumPy backend (tests/conftest.py picks it); skips the
    test where Keras is not installed."""
    return pytest.importorskip("keras").utils


def assert_same_signature(ours, theirs):
    """Same parameter names, kinds and defaults, in the same order."""
    ours_parameters = inspect.signature(ours).parameters.values()
    theirs_parameters = inspect.signature(theirs).parameters.values()
    assert [(p.name, p.kind, p.default) for p in ours_parameters] == [
        (p.name, p.kind, p.default) for p in theirs_parameters
    ]
