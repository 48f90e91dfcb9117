"""The C loop of ``product_patches_transpose`` (``native/convolution.py``): a batch
split across threads gives the same bits as one call, and the loop declines what it
does not take (the NumPy kernel then runs the product and ``patches_transpose``).
Its values against the three steps are checked in tests/primitives/test_nn.py and
tests/ops/test_nn.py."""

import os
import select
import warnings

import numpy as np
import pytest

from nerve.backend.numpy_backend.native import convolution
from nerve.backend.numpy_backend.native import threads as threads_module

GEOMETRY = ((9, 8), (3, 3), (1, 1), (1, 1), ((1, 1), (0, 0)))
OUT = (9, 6)


def _operands(batch, channels=32, dtype="float32"):
    rng = np.random.default_rng(batch)
    a = rng.standard_normal((batch * OUT[0] * OUT[1], 7)).astype(dtype)
    b = rng.standard_normal((9 * channels, 7)).astype(dtype).T  # a transposed view, as in graphs
    return a, b


@pytest.fixture
def native():
    if convolution._function() is None:
        pytest.skip("no C compiler or no AVX2/FMA: the NumPy kernel runs")


@pytest.mark.parametrize("threads", [2, 3])
def test_a_batch_split_across_threads_gives_the_same_bits(native, monkeypatch, threads):
    a, b = _operands(batch=5)
    whole = convolution.product_patches_transpose(a, b, *GEOMETRY, OUT)
    monkeypatch.setattr(convolution, "MIN_SPLIT", 0)
    monkeypatch.setattr(threads_module, "blas_threads", lambda: threads)
    split = convolution.product_patches_transpose(a, b, *GEOMETRY, OUT)
    assert whole is not None and split is not None
    np.testing.assert_array_equal(split, whole)


@pytest.mark.parametrize(
    "change",
    [
        {"dtype": "float64"},
        {"channels": 16},
        {"strides": (2, 1)},
        {"dilation": (1, 2)},
    ],
)
def test_operands_the_loop_does_not_take_return_none(change):
    a, b = _operands(
        batch=2, channels=change.get("channels", 32), dtype=change.get("dtype", "float32")
    )
    spatial, window, strides, dilation, padding = GEOMETRY
    strides, dilation = change.get("strides", strides), change.get("dilation", dilation)
    assert (
        convolution.product_patches_transpose(
            a, b, spatial, window, strides, dilation, padding, OUT
        )
        is None
    )


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_splits_with_its_own_pool(native, monkeypatch):
    # The parent's pool threads do not exist in a forked child; without a pool of its
    # own the child's first split call waits forever (the parent waits 20 s, then fails).
    a, b = _operands(batch=4)
    monkeypatch.setattr(convolution, "MIN_SPLIT", 0)
    monkeypatch.setattr(threads_module, "blas_threads", lambda: 2)
    whole = convolution.product_patches_transpose(a, b, *GEOMETRY, OUT)  # parent's pool
    reader, writer = os.pipe()
    with warnings.catch_warnings():
        # Forking a threaded process is what this test is about: JAX (when an earlier
        # test imported it) and Python 3.12+ warn about exactly that.
        warnings.filterwarnings("ignore", message=r".*fork\(\)", category=RuntimeWarning)
        warnings.filterwarnings("ignore", message=r".*fork\(\)", category=DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: one split call, then report and leave at once
        try:
            child = convolution.product_patches_transpose(a, b, *GEOMETRY, OUT)
            os.write(writer, b"1" if np.array_equal(child, whole) else b"0")
        finally:
            os._exit(0)
    os.close(writer)
    ready, _, _ = select.select([reader], [], [], 20)
    answer = os.read(reader, 1) if ready else b""
    os.close(reader)
    if not ready:
        os.kill(pid, 9)
    os.waitpid(pid, 0)
    assert answer == b"1", "the forked child's split call hung or differed"
