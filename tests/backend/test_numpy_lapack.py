"""The NumPy backend's SVD: every path (NumPy's gufunc in the operand's precision, and
the fallbacks with and without SciPy) agrees with
NumPy's float64 SVD to within what a backward-stable algorithm guarantees, also on
ill-conditioned matrices, where a shortcut through A^T A would not."""

import functools

import numpy as np
import pytest

from nerve.backend.numpy_backend import lapack, linalg


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


def _kernel(a, full_matrices):
    return linalg.kernels(np)["svd"](a, full_matrices=full_matrices, compute_uv=True)


def _without(monkeypatch, *names):
    for name in names:
        monkeypatch.setattr(lapack, name, lambda *args, **kwargs: None)


PATHS = {
    "gufunc": lambda a, full, mp: lapack.gufunc_svd(a, full, True),
    "kernel_scipy": lambda a, full, mp: _kernel(a, full),
    "kernel_gufunc_without_scipy": lambda a, full, mp: (_no_scipy(mp), _kernel(a, full))[1],
    "kernel_numpy": lambda a, full, mp: (
        _without(mp, "gufunc_svd"),
        _no_scipy(mp),
        _kernel(a, full),
    )[2],
}


@pytest.mark.parametrize("full_matrices", [True, False])
@pytest.mark.parametrize("name", sorted(MATRICES))
@pytest.mark.parametrize("path", sorted(PATHS))
def test_svd_is_backward_stable(path, name, full_matrices, monkeypatch):
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


@pytest.mark.parametrize("scale", [1e-30, 1e30])
def test_extreme_scales_keep_their_singular_values(scale):
    a = (np.random.default_rng(3).standard_normal((200, 200)) * scale).astype("float32")
    u, s, vh = _kernel(a, full_matrices=False)
    expected = np.linalg.svd(a.astype("float64"), compute_uv=False)
    np.testing.assert_allclose(s, expected, rtol=1e-4)
