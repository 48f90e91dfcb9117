"""Compiled graphs return IEEE special values silently, like eager mode (no warnings)."""

import numpy as np

import nerve
from nerve import ops


def test_compiled_log_of_zero_and_division_by_zero_are_silent():
    f = nerve.function(lambda x: (ops.log(x), 1.0 / x, ops.sqrt(x - 1.0)))
    log, inverse, root = f(ops.zeros((2,)))
    assert np.all(np.isneginf(log.numpy()))
    assert np.all(np.isposinf(inverse.numpy()))
    assert np.all(np.isnan(root.numpy()))
    report = f.profile(ops.zeros((2,)))  # profiling runs the same kernels
    assert len(report) == len(f.graph_for(ops.zeros((2,))))
