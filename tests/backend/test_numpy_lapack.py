"""The NumPy backend's SVD: every path (gesdd's steps on two cores, NumPy's gufunc in
the operand's precision, and the fallbacks with and without SciPy) agrees with
NumPy's float64 SVD to within what a backward-stable algorithm guarantees, also on
ill-conditioned matrices, where a shortcut through A^T A would not."""

import functools

import numpy as np
import pytest

from nerve.backend.numpy_backend import lapack, linalg

LAPACK = lapack._lapack()
needs_lapack = pytest.mark.skipif(LAPACK is None, reason="NumPy without its bundled OpenBLAS")


def _with_singular_values(shape, values, dtype, seed=0):
    """A matrix of ``shape`` with the given singular values (built in float64)."""
    rng = np.random.default_rng(seed)
    m, n = shape
    u, _ = np.linalg.qr(rng.standard_normal((m, m)))
    v, _ = np.linalg.qr(rng.standard_normal((n, n)))
    k = min(m, n)
    return ((u[:, :k] * values) @ v[:, :k].T).astype(dtype)


def _matrices():
    """(name, matrix): random ones, tall, wide, and condition numbers past 1/eps."""
    rng = np.random.default_rng(1)
    for dtype in ("float32", "float64"):
        for shape in ((60, 60), (80, 60), (60, 75)):
            yield f"random{shape}-{dtype}", rng.standard_normal(shape).astype(dtype)
        for exponent in (6, 12, 30):
            values = np.logspace(0, -exponent, 60)
            matrix = _with_singular_values((66, 60), values, dtype)
            yield f"cond1e{exponent}-{dtype}", matrix
        rank_deficient = _with_singular_values((60, 60), np.r_[np.ones(30), np.zeros(30)], dtype)
        yield f"rank30-{dtype}", rank_deficient


MATRICES = dict(_matrices())


@functools.cache
def _exact_singular_values(name):
    return np.linalg.svd(MATRICES[name].astype(np.float64), compute_uv=False)


def _no_scipy(monkeypatch):
    monkeypatch.setattr(linalg, "_scipy_linalg", lambda: None)


def _two_cores_from_16(monkeypatch):
    """The kernel's two-core path for these small matrices, as on a two-core machine."""
    monkeypatch.setattr(lapack, "TWO_CORE_FROM", 16)
    if LAPACK is not None:
        monkeypatch.setattr(LAPACK, "get_threads", lambda: 2)


def _kernel(a, full_matrices):
    return linalg.kernels(np)["svd"](a, full_matrices=full_matrices, compute_uv=True)


def _without(monkeypatch, *names):
    for name in names:
        monkeypatch.setattr(lapack, name, lambda *args, **kwargs: None)


PATHS = {
    "two_core": lambda a, full, mp: lapack._two_core_svd(LAPACK, a, full),
    "gufunc": lambda a, full, mp: lapack.gufunc_svd(a, full, True),
    "kernel_two_core": lambda a, full, mp: (_two_cores_from_16(mp), _kernel(a, full))[1],
    "kernel_two_core_without_scipy": lambda a, full, mp: (
        _two_cores_from_16(mp),
        _no_scipy(mp),
        _kernel(a, full),
    )[2],
    "kernel_scipy": lambda a, full, mp: (_without(mp, "two_core_svd"), _kernel(a, full))[1],
    "kernel_gufunc_without_scipy": lambda a, full, mp: (
        _without(mp, "two_core_svd"),
        _no_scipy(mp),
        _kernel(a, full),
    )[2],
    "kernel_numpy": lambda a, full, mp: (
        _without(mp, "two_core_svd", "gufunc_svd"),
        _no_scipy(mp),
        _kernel(a, full),
    )[2],
}


@pytest.mark.parametrize("full_matrices", [True, False])
@pytest.mark.parametrize("name", sorted(MATRICES))
@pytest.mark.parametrize("path", sorted(PATHS))
def test_svd_is_backward_stable(path, name, full_matrices, monkeypatch):
    if path == "two_core" and LAPACK is None:
        pytest.skip("NumPy without its bundled OpenBLAS")
    a = MATRICES[name]
    u, s, vh = PATHS[path](a, full_matrices, monkeypatch)
    m, n = a.shape
    k = min(m, n)
    assert u.dtype == s.dtype == vh.dtype == a.dtype
    assert u.shape == ((m, m) if full_matrices else (m, k))
    assert vh.shape == ((n, n) if full_matrices else (k, n))
    assert s.shape == (k,) and np.all(np.diff(s) <= 0) and np.all(s >= 0)
    a64 = a.astype(np.float64)
    norm = np.linalg.norm(a64, 2)
    eps = np.finfo(a.dtype).eps
    # Backward stability: each singular value within p(n) eps ||A|| of the exact ones
    # (those of A as given, computed in float64), the factors orthogonal to working
    # precision and their product within p(n) eps ||A|| of A, with p(n) = 10 sqrt(n)
    # (gesdd itself reached 33 eps on a 190x180 float32 matrix). Squaring the
    # condition number (A^T A) would miss the small values by ~sqrt(eps) ||A||,
    # 18x this bound in float32.
    bound = 10 * np.sqrt(max(m, n)) * eps * norm
    expected = _exact_singular_values(name)
    np.testing.assert_allclose(s, expected, rtol=0, atol=bound)
    product = (u[:, :k].astype(np.float64) * s) @ vh[:k].astype(np.float64)
    assert np.linalg.norm(product - a64, 2) <= bound
    u64, vh64 = u.astype(np.float64), vh.astype(np.float64)
    for gram in (u64.T @ u64, vh64 @ vh64.T):
        assert np.abs(gram - np.eye(gram.shape[0])).max() <= 10 * np.sqrt(max(m, n)) * eps


@needs_lapack
def test_two_cores_run_for_large_matrices_and_restore_the_blas_threads(monkeypatch):
    calls = []
    two_core = lapack._two_core_svd
    monkeypatch.setattr(
        lapack, "_two_core_svd", lambda *args: calls.append(args[1].shape) or two_core(*args)
    )
    # As on a two-core machine; the count set around the LAPACK steps is recorded
    # (1 for them, then back to what it was) but not applied.
    monkeypatch.setattr(LAPACK, "get_threads", lambda: 2)
    settings: list = []
    monkeypatch.setattr(LAPACK, "set_threads", settings.append)
    a = np.random.default_rng(2).standard_normal((3, 175, 170)).astype("float32")
    u, s, vh = lapack.two_core_svd(a, full_matrices=False)
    assert calls == [(175, 170)] * 3
    assert settings == [1, 2] * 3
    np.testing.assert_allclose((u * s[..., None, :]) @ vh, a, atol=1e-4)
    np.testing.assert_allclose(s, np.linalg.svd(a.astype("float64"), compute_uv=False), atol=1e-4)
    # Small or very tall matrices keep gesdd, as do values-only calls (the kernel).
    for shape in ((100, 100), (400, 170)):
        assert lapack.two_core_svd(np.ones(shape, "float32"), full_matrices=False) is None
    linalg.kernels(np)["svd"](a[0], full_matrices=False, compute_uv=False)
    assert len(calls) == 3


@pytest.mark.parametrize(
    "value, expected",
    [(1.0, True), (np.nan, False), (np.inf, False), (1e-30, False), (1e30, False), (0.0, False)],
)
def test_two_cores_leave_matrices_gesdd_would_rescale_to_gesdd(value, expected):
    a = np.full((4, 4), value, dtype=np.float32)
    assert lapack._safe_for_two_cores(a) is expected


@pytest.mark.parametrize("scale", [1e-30, 1e30])
def test_extreme_scales_keep_their_singular_values(scale):
    a = (np.random.default_rng(3).standard_normal((200, 200)) * scale).astype("float32")
    u, s, vh = _kernel(a, full_matrices=False)
    expected = np.linalg.svd(a.astype("float64"), compute_uv=False)
    np.testing.assert_allclose(s, expected, rtol=1e-4)
