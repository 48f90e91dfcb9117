"""NumPy's OpenBLAS reached from C (``native/cblas.py``): the ``sgemm`` address is
found and checked by a probe, and a product called through it is NumPy's."""

import ctypes

import numpy as np
import pytest

from nerve.backend.numpy_backend.native import cblas


@pytest.fixture
def sgemm():
    address = cblas.sgemm_address()
    if address is None:
        pytest.skip("NumPy's BLAS is not a scipy-openblas build with 64-bit integers")
    i64, f32, ptr = ctypes.c_int64, ctypes.c_float, ctypes.c_void_p
    kind = ctypes.CFUNCTYPE(
        None, *[ctypes.c_int] * 3, i64, i64, i64, f32, ptr, i64, ptr, i64, f32, ptr, i64
    )
    return kind(address)


@pytest.mark.parametrize("transposed", [False, True])
def test_a_product_through_the_address_is_numpys(sgemm, transposed):
    rng = np.random.default_rng(3)
    a = rng.standard_normal((7, 5) if not transposed else (5, 7)).astype("float32")
    b = rng.standard_normal((5, 9)).astype("float32")
    out = rng.standard_normal((7, 9)).astype("float32")
    want = (a.T if transposed else a) @ b + 2 * out
    trans_a = 112 if transposed else 111
    lda = a.shape[1]
    sgemm(101, trans_a, 111, 7, 9, 5, 1.0, a.ctypes.data, lda, b.ctypes.data, 9, 2.0,
          out.ctypes.data, 9)  # fmt: skip
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5)


def test_a_library_without_the_symbol_gives_no_address(monkeypatch):
    cblas.sgemm.cache_clear()
    cblas.sgemm_address.cache_clear()
    monkeypatch.setattr(cblas, "SGEMM", "no_such_symbol")
    try:
        assert cblas.sgemm() is None
        assert cblas.sgemm_address() is None
    finally:
        monkeypatch.undo()
        cblas.sgemm.cache_clear()
        cblas.sgemm_address.cache_clear()
