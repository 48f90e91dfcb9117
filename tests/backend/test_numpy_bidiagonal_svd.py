"""The SVD by gesdd's steps with a C bidiagonalization: backward stable against
NumPy's float64 SVD on random, ill-conditioned, rank-deficient and odd-sized
matrices; its bidiagonal matches LAPACK's sgebrd; everything it does not take
falls through to the kernel's other paths."""

import ctypes
import glob
import os

import numpy as np
import pytest

from nerve.backend.numpy_backend import bidiagonal_svd, linalg
from nerve.backend.numpy_backend.native import bidiagonal, threads

#: Without a compiler or NumPy's OpenBLAS routines the path is off (nothing to test);
#: with both, its probe must pass (``test_the_probe_passes``), so a broken C loop fails
#: here rather than silently handing every matrix to gesdd.
pytestmark = pytest.mark.skipif(
    bidiagonal.panel_function() is None or bidiagonal_svd._openblas() is None,
    reason="no C compiler or no OpenBLAS routines here",
)


def _parts():
    return bidiagonal_svd._openblas(), bidiagonal.panel_function()


def test_the_probe_passes():
    assert bidiagonal_svd._ready() is not None


def _with_singular_values(n, values, seed=0):
    rng = np.random.default_rng(seed)
    u, _ = np.linalg.qr(rng.standard_normal((n, n)))
    v, _ = np.linalg.qr(rng.standard_normal((n, n)))
    return ((u * values) @ v.T).astype(np.float32)


def _matrices():
    rng = np.random.default_rng(7)
    for n in (128, 131, 200, 257, 512):
        yield f"random{n}", rng.standard_normal((n, n)).astype(np.float32)
    yield "cond1e6", _with_singular_values(160, np.logspace(0, -6, 160))
    yield "cond1e12", _with_singular_values(150, np.logspace(0, -12, 150))
    yield "rank70", _with_singular_values(140, np.r_[np.ones(70), np.zeros(70)])
    yield "repeated", _with_singular_values(144, np.repeat([3.0, 1.0, 0.5], 48))
    yield "rank1", np.outer(rng.standard_normal(130), rng.standard_normal(130)).astype("float32")
    yield "tiny_entries", (rng.standard_normal((150, 150)) * 1e-9).astype(np.float32)
    # Zero rows and columns: reflectors with nothing to annihilate (tau = 0).
    sparse = rng.standard_normal((136, 136)).astype(np.float32)
    sparse[::3] = 0
    sparse[:, 1::4] = 0
    yield "zero_rows_columns", sparse


MATRICES = dict(_matrices())


@pytest.mark.parametrize("cores", [1, 2])
@pytest.mark.parametrize("name", sorted(MATRICES))
def test_svd_is_backward_stable(name, cores):
    """On one core and on two (the two sormbr calls side by side)."""
    a = MATRICES[name]
    n = a.shape[0]
    with threads.hold():
        u, s, vh = bidiagonal_svd._factor(*_parts(), a, True, cores)
    assert u.dtype == s.dtype == vh.dtype == np.float32
    assert u.shape == vh.shape == (n, n) and s.shape == (n,)
    assert np.all(np.diff(s) <= 0) and np.all(s >= 0)
    a64 = a.astype(np.float64)
    norm = np.linalg.norm(a64, 2)
    eps = np.finfo(np.float32).eps
    # The bound of test_numpy_lapack (10 sqrt(n) eps ||A||: what gesdd meets).
    bound = 10 * np.sqrt(n) * eps * norm
    expected = np.linalg.svd(a64, compute_uv=False)
    np.testing.assert_allclose(s, expected, rtol=0, atol=bound)
    product = (u.astype(np.float64) * s) @ vh.astype(np.float64)
    assert np.linalg.norm(product - a64, 2) <= bound
    for factor in (u.astype(np.float64), vh.astype(np.float64).T):
        gram = factor.T @ factor
        assert np.abs(gram - np.eye(n)).max() <= 10 * np.sqrt(n) * eps
    (values,) = bidiagonal_svd._factor(*_parts(), a, compute_uv=False)
    np.testing.assert_allclose(values, expected, rtol=0, atol=bound)


def _lapack_gebrd(a):
    """LAPACK's sgebrd of a^T (column-major: a's C-order buffer), from NumPy's OpenBLAS."""
    blas = bidiagonal_svd._openblas()
    assert blas is not None
    sgebrd = ctypes.CDLL(_library_path()).scipy_sgebrd_64_
    n = a.shape[0]
    buffer = a.copy()
    d, e, tq, tp = (np.zeros(n, np.float32) for _ in range(4))
    work = np.empty(128 * n, np.float32)
    info = blas.fortran(sgebrd, n, n, buffer, n, d, e, tq, tp, work, work.size, chars=0)
    assert info == 0
    return buffer, d, e, tq, tp


def _library_path():
    folder = os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs")
    return sorted(glob.glob(os.path.join(folder, "libscipy_openblas64_*")))[0]


def _reflectors(vectors, taus):
    """The product H_0 H_1 ... of I - tau v v^T (float64), one row of vectors each."""
    q = np.eye(vectors.shape[1])
    for v, tau in zip(vectors[::-1], taus[::-1]):
        q -= tau * np.outer(v, v @ q)
    return q


def _plain_c_panel():
    """The panel loop compiled without its AVX-512 intrinsics (the plain C that other
    CPUs run), wrapped as ``panel_function`` wraps the native one."""
    import ctypes

    from nerve.backend.numpy_backend.native import toolchain

    library = toolchain.load(bidiagonal.SOURCE.replace("#ifdef __AVX512F__", "#if 0"))
    assert library is not None
    function = library.bidiagonal_panel_float32
    function.restype = ctypes.c_int
    function.argtypes = [ctypes.py_object] + [ctypes.c_int64] * 4 + [ctypes.py_object] * 6

    def panel(a, m, n, nb, d, e, tau_q, tau_p, x, y) -> None:
        assert not function(a, a.strides[0] // 4, m, n, nb, d, e, tau_q, tau_p, x, y)

    return panel


@pytest.mark.parametrize("code", ["native", "plain C"])
@pytest.mark.parametrize("n", [5, 33, 64, 100, 200])
def test_bidiagonalization_is_backward_stable(n, code):
    """Q^T A^T P is the bidiagonal it returns (A^T: the C-order buffer read
    column-major), Q and P built in float64 from the stored reflectors, LAPACK's
    layout; and the first entries are sgebrd's (later ones drift apart with rounding
    as sgebrd's own drift from dgebrd's: the bidiagonal form is not well conditioned)."""
    a = np.random.default_rng(n).standard_normal((n, n)).astype(np.float32)
    blas, panel = _parts()
    if code == "plain C":
        panel = _plain_c_panel()
    buffer, d, e, tau_q, tau_p = bidiagonal_svd._bidiagonalize(blas, panel, a)
    f = buffer.T.astype(np.float64)  # F with the reflectors
    u = np.tril(f, -1) + np.eye(n)  # column i: Q's i-th reflector
    v = np.triu(f, 2) + np.eye(n, k=1)  # row i: P's i-th reflector
    q = _reflectors(u.T, tau_q.astype(np.float64))
    p = _reflectors(v[: n - 1], tau_p[: n - 1].astype(np.float64))
    bidiagonal = np.diag(d.astype(np.float64)) + np.diag(e[: n - 1].astype(np.float64), 1)
    a64 = a.astype(np.float64)
    eps = np.finfo(np.float32).eps
    norm = np.linalg.norm(a64, 2)
    assert np.linalg.norm(q.T @ a64.T @ p - bidiagonal, 2) <= 10 * np.sqrt(n) * eps * norm
    assert np.abs(q.T @ q - np.eye(n)).max() <= 10 * np.sqrt(n) * eps
    assert np.abs(p.T @ p - np.eye(n)).max() <= 10 * np.sqrt(n) * eps
    _, d_lapack, e_lapack, tq_lapack, tp_lapack = _lapack_gebrd(a)
    first = min(n - 1, 8)
    for got, expected in ((d, d_lapack), (e, e_lapack), (tau_q, tq_lapack), (tau_p, tp_lapack)):
        np.testing.assert_allclose(got[:first], expected[:first], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "a",
    [
        np.ones((2, 200, 200), np.float32),  # a batch
        np.ones((200, 199), np.float32),  # not square
        np.ones((200, 200), np.float64),  # float64
        np.ones((100, 100), np.float32),  # below MIN_SIZE
        np.full((200, 200), np.inf, np.float32),  # not finite
        np.zeros((200, 200), np.float32),  # nothing gesdd would not rescale
        (np.eye(200) * 1e30).astype(np.float32),  # gesdd rescales it
        np.ones((200, 200), np.float32).astype(">f4"),  # not native byte order
    ],
    ids=["batch", "wide", "float64", "small", "inf", "zero", "huge", "big_endian"],
)
def test_what_it_does_not_take_goes_elsewhere(a):
    assert bidiagonal_svd.svd(a, full_matrices=True, compute_uv=True) is None


def test_the_kernel_takes_it_and_falls_through(monkeypatch):
    kernel = linalg.kernels(np)["svd"]
    a = MATRICES["random200"]
    calls = []
    original = bidiagonal_svd._factor

    def counted(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(bidiagonal_svd, "_factor", counted)
    u, s, vh = kernel(a, full_matrices=True, compute_uv=True)
    (values,) = kernel(a, full_matrices=True, compute_uv=False)
    assert len(calls) == 2
    np.testing.assert_allclose(s, values, rtol=1e-5, atol=1e-5)
    # A batch goes to gesdd and agrees with the fast path on each matrix.
    batch = np.stack([a, MATRICES["random200"][::-1]])
    u2, s2, vh2 = kernel(batch, full_matrices=True, compute_uv=True)
    assert len(calls) == 2
    np.testing.assert_allclose(s2[0], s, rtol=1e-5, atol=1e-4)


def test_two_cores_give_one_cores_bits():
    """The two sormbr calls side by side compute what they compute one after the
    other."""
    a = MATRICES["random257"]
    with threads.hold():
        one = bidiagonal_svd._factor(*_parts(), a, True, 1)
        two = bidiagonal_svd._factor(*_parts(), a, True, 2)
    for x, y in zip(one, two):
        np.testing.assert_array_equal(x, y)


def test_results_do_not_share_the_kept_scratch():
    """A thread keeps its scratch memory between calls; no result lives in it."""
    first, second = MATRICES["random200"], MATRICES["random200"][::-1].copy()
    kept = [x.copy() for x in bidiagonal_svd._factor(*_parts(), first, True)]
    results = bidiagonal_svd._factor(*_parts(), first, True)
    bidiagonal_svd._factor(*_parts(), second, True)
    bidiagonal_svd._factor(*_parts(), second, False)
    for got, expected in zip(results, kept):
        np.testing.assert_array_equal(got, expected)
