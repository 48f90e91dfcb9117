"""The parts of a split float32 product run from C (``native/split_gemm.py``) give the
bits of the parts NumPy's ``matmul`` computes (the Python split they replace): by rows,
by columns and over the summed terms, with operands transposed or rows apart, shared
with the C worker or on the caller alone; layouts BLAS does not take are declined, and
the backend's products (``linalg.products``) hand them their one-matrix float32
products on two held cores, except those NumPy runs by another BLAS call."""

import numpy as np
import pytest

from nerve.backend.numpy_backend import linalg
from nerve.backend.numpy_backend.native import split_gemm, threads

pytestmark = pytest.mark.skipif(
    split_gemm._function() is None, reason="no C compiler or no sgemm: the Python split runs"
)


@pytest.fixture
def shared():
    """Every job of two parts or more split with the worker (no back-off); a job of one
    part is declined by the runtime and runs on the caller."""
    split_gemm.allow_back_off(False)
    yield
    split_gemm.allow_back_off(True)


def _operand(rng, shape, transposed, apart):
    """A float32 matrix of ``shape``: C-ordered, the transpose of one, or a column block
    of a wider matrix (rows apart)."""
    if transposed:
        return np.ascontiguousarray(rng.standard_normal(shape[::-1]).astype("float32")).T
    if apart:
        return rng.standard_normal((shape[0], shape[1] + 5)).astype("float32")[:, 2 : 2 + shape[1]]
    return rng.standard_normal(shape).astype("float32")


def _reference(a, b, axis, bounds):
    """The parts as the Python split computes them: one ``matmul`` per block."""
    if axis == 2:
        return np.stack([a[:, lo:hi] @ b[lo:hi] for lo, hi in zip(bounds, bounds[1:])])
    out = np.empty((a.shape[0], b.shape[1]), np.float32)
    for lo, hi in zip(bounds, bounds[1:]):
        if axis == 0:
            out[lo:hi] = a[lo:hi] @ b
        else:
            out[:, lo:hi] = a @ b[:, lo:hi]
    return out


# (m, k, n, axis, parts): a Transformer's projections, feed-forward products and kernel
# gradients, odd sizes, one part per core, more parts than cores, one part (declined by
# the runtime: the caller runs it).
CASES = [
    (4096, 128, 128, 0, 8),
    (4096, 512, 128, 0, 8),
    (128, 4096, 512, 2, 8),
    (512, 4096, 128, 2, 8),
    (301, 64, 50, 0, 3),
    (40, 64, 301, 1, 5),
    (24, 1000, 16, 2, 2),
    (7, 3, 9, 0, 2),
    (300, 2000, 20, 2, 1),
]


@pytest.mark.parametrize("transposed_a, transposed_b, apart", [
    (False, False, False), (True, False, False), (False, True, False), (False, False, True),
])  # fmt: skip
@pytest.mark.parametrize("m, k, n, axis, parts", CASES)
def test_parts_give_the_bits_of_numpy_matmul_on_each_block(
    shared, m, k, n, axis, parts, transposed_a, transposed_b, apart
):
    rng = np.random.default_rng(m + k + n)
    a = _operand(rng, (m, k), transposed_a, apart)
    b = _operand(rng, (k, n), transposed_b, apart)
    bounds = threads.cuts((m, n, k)[axis], 2, parts)
    want = _reference(a, b, axis, bounds)
    out = np.full(want.shape, np.nan, np.float32)
    assert split_gemm.gemm_parts(a, b, out, axis, bounds)
    np.testing.assert_array_equal(out, want)


def test_results_rows_apart_are_written_in_place():
    rng = np.random.default_rng(1)
    a, b = _operand(rng, (300, 64), False, False), _operand(rng, (64, 40), False, False)
    wide = np.zeros((300, 50), np.float32)
    assert split_gemm.gemm_parts(a, b, wide[:, 5:45], 0, [0, 150, 300])
    np.testing.assert_array_equal(wide[:, 5:45], a @ b)
    assert not wide[:, :5].any() and not wide[:, 45:].any()


def test_what_blas_does_not_take_is_declined():
    a, b = np.ones((8, 6), np.float32), np.ones((6, 4), np.float32)
    out = np.empty((8, 4), np.float32)
    assert not split_gemm.gemm_parts(a.astype("float64"), b, out, 0, [0, 4, 8])
    assert not split_gemm.gemm_parts(np.ones((8, 12), np.float32)[:, ::2], b, out, 0, [0, 8])
    assert not split_gemm.gemm_parts(a, b, np.empty((4, 8), np.float32).T, 0, [0, 8])
    assert not split_gemm.gemm_parts(a, b, np.empty((3, 8, 4), np.float32), 2, [0, 3, 6])
    # What NumPy runs by gemv (one row or column, a part of one) or syrk (a @ a.T).
    assert not split_gemm.gemm_parts(a[:1], b, out[:1], 2, [0, 3, 6])
    assert not split_gemm.gemm_parts(a, b[:, :1], out[:, :1], 2, [0, 3, 6])
    assert not split_gemm.gemm_parts(a, b, out, 0, [0, 1, 8])
    assert not split_gemm.gemm_parts(a, a.T, np.empty((8, 8), np.float32), 0, [0, 4, 8])


@pytest.mark.parametrize("a_shape, b_shape, deep", [
    ((4096, 128), (128, 128), False),
    ((128, 4096), (4096, 128), True),
    ((1, 4096), (4096, 512), None),  # a bias gradient (a sum as a product): gemv's bits
])  # fmt: skip
def test_products_on_two_held_cores_run_them_with_the_python_splits_bits(
    a_shape, b_shape, deep, monkeypatch
):
    rng = np.random.default_rng(5)
    a = _operand(rng, a_shape, bool(deep), False)
    b = _operand(rng, b_shape, False, False)
    monkeypatch.setattr(threads, "_held", [2])
    calls = []
    gemm_parts, prepare = split_gemm.gemm_parts, split_gemm.prepare
    monkeypatch.setattr(
        split_gemm, "gemm_parts", lambda *args: calls.append(args[3]) or gemm_parts(*args)
    )
    monkeypatch.setattr(
        split_gemm, "prepare", lambda *args: calls.append(args[3]) or prepare(*args)
    )
    product = linalg.products(np)
    product.plans.clear()  # planned again, through the functions above
    got = product(a, b)
    assert calls == {True: [2], False: [0], None: [2]}[deep]  # (None: tried, declined)
    again = product(a, b)  # one matrix: its plan kept, nothing prepared again
    assert len(calls) == (1 if deep is False else 2) and np.array_equal(again, got)
    # The Python split
    monkeypatch.setattr(split_gemm, "gemm_parts", lambda *args: False)
    monkeypatch.setattr(split_gemm, "prepare", lambda *args: None)
    product.plans.clear()
    np.testing.assert_array_equal(got, product(a, b))
    product.plans.clear()
