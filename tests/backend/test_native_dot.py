"""The dot product of long vectors in C (``native/dot.py``) agrees with a float64
reference to rounding over odd lengths, the same bits whether the two cores shared its
halves or one thread summed both, and it is what ``norm`` and full einsum contractions
run on long float vectors where there are two cores."""

import time

import numpy as np
import pytest

from nerve import ops
from nerve.backend.numpy_backend.native import dot, threads

TOLERANCE = {"float32": 1e-5, "float64": 1e-13}
LENGTHS = [dot.MIN_LENGTH, dot.MIN_LENGTH + 1, dot.MIN_LENGTH + 63, 300_007, 1 << 20]


@pytest.fixture
def functions():
    found = dot._functions()
    if found is None:
        pytest.skip("no C compiler: NumPy's dot runs")
    dot.allow_back_off(False)  # every shared call shares, even under load
    yield found
    dot.allow_back_off(True)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("length", LENGTHS)
def test_agrees_with_a_float64_sum(functions, monkeypatch, length, dtype):
    monkeypatch.setattr(threads, "cores", lambda: 2)
    rng = np.random.default_rng(length)
    a = rng.standard_normal(length).astype(dtype)
    b = rng.standard_normal(length).astype(dtype)
    out = dot.dot(a, b)
    assert out is not None and out.dtype == dtype and out.shape == ()
    expected = np.dot(a.astype(np.float64), b.astype(np.float64))
    bound = np.dot(np.abs(a).astype(np.float64), np.abs(b).astype(np.float64))
    assert abs(float(out) - expected) <= TOLERANCE[dtype] * bound


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_shared_or_alone_the_same_bits(functions, dtype):
    a = np.random.default_rng(0).standard_normal(300_007).astype(dtype)
    function = functions[a.dtype]
    address = a.ctypes.data
    alone = function(address, address, a.size, 0)
    before = dot.worker_halves()
    deadline = time.monotonic() + 5
    # The worker wakes within a few calls and takes a half (under load from other
    # processes it may be descheduled for a while).
    while time.monotonic() < deadline:
        shared = [function(address, address, a.size, 1) for _ in range(100)]
        assert all(s == alone for s in shared)
        if dot.worker_halves() > before or threads.cores() < 2:
            break
    assert dot.worker_halves() > before or threads.cores() < 2


def test_declines_what_it_does_not_take(functions, monkeypatch):
    long = np.ones(dot.MIN_LENGTH, np.float32)
    monkeypatch.setattr(threads, "cores", lambda: 1)
    assert dot.dot(long, long) is None  # one core: NumPy's dot
    monkeypatch.setattr(threads, "cores", lambda: 2)
    assert dot.dot(np.ones(dot.MIN_LENGTH - 1, np.float32), np.ones(dot.MIN_LENGTH - 1)) is None
    assert dot.dot(long, long.astype(np.float64)) is None  # dtypes differ
    assert dot.dot(long[::2], long[::2]) is None  # not contiguous (and short)
    assert dot.dot(long.astype(np.int32), long.astype(np.int32)) is None


def test_norm_and_einsum_run_it(functions, monkeypatch):
    monkeypatch.setattr(threads, "cores", lambda: 2)
    ran = []
    real = dot.dot
    monkeypatch.setattr(dot, "dot", lambda a, b: ran.append(a.shape) or real(a, b))
    x = np.random.default_rng(1).standard_normal((512, 512)).astype("float32")
    reference = np.sqrt(np.sum(x.astype(np.float64) ** 2))
    assert abs(float(ops.norm(ops.convert_to_tensor(x))) - reference) <= 1e-5 * reference
    assert abs(float(ops.einsum("ij,ij->", x, x)) - reference**2) <= 1e-5 * reference**2
    assert ran == [(512, 512), (512, 512)]
