"""The NumPy backend's SVD: every path (NumPy's gufunc in the operand's precision, and
the fallbacks with and without SciPy) agrees with
NumPy's float64 SVD to within what a backward-stable algorithm guarantees, also on
ill-conditioned matrices, where a shortcut through A^T A would not."""

import dataclasses
import functools
import sys

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


# -- cholesky, solve, eigh, eig: float32 through the gufuncs, else numpy.linalg ----------


def _spd(shape, seed=4):
    a = np.random.default_rng(seed).standard_normal(shape)
    return (a @ np.swapaxes(a, -1, -2) + shape[-1] * np.eye(shape[-1])).astype("float32")


def _general(shape, seed=5):
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


def _eigenpairs_hold(a, w, v):
    # Eigenvectors are defined up to a factor: check A V = V diag(w) instead.
    return a @ v - v * w[..., None, :]


#: name -> (operands, residual(operands, outputs) -> float64 ~0, reference values):
#: the results against numpy.linalg in float64, within float32 tolerance.
ROUTINES = {
    "cholesky": lambda shape: (
        (_spd(shape),),
        lambda ops, out: [(out, np.linalg.cholesky(ops[0].astype("float64")))],
    ),
    "solve": lambda shape: (
        (_spd(shape), _general((*shape[:-1], 3))),
        lambda ops, out: [(out, np.linalg.solve(*(x.astype("float64") for x in ops)))],
    ),
    "solve_vector": lambda shape: (
        (_spd(shape[-2:]), _general(shape[-1:])),
        lambda ops, out: [(out, np.linalg.solve(*(x.astype("float64") for x in ops)))],
    ),
    "eigh": lambda shape: (
        (_spd(shape),),
        lambda ops, out: [
            (out[0], np.linalg.eigvalsh(ops[0].astype("float64"))),
            (_eigenpairs_hold(ops[0].astype("float64"), *out), 0),
        ],
    ),
    "eig": lambda shape: (
        (_general(shape),),
        lambda ops, out: [
            (np.sort_complex(out[0]), np.sort_complex(np.linalg.eigvals(ops[0].astype("float64")))),
            (_eigenpairs_hold(ops[0].astype("float64"), *out), 0),
        ],
    ),
}

SHAPES = [(40, 40), (6, 5, 5)]


def _function(name):
    return getattr(lapack, name.removesuffix("_vector"))


def _without_gufuncs(monkeypatch):
    monkeypatch.setattr(lapack, "_gufuncs", lambda name: None)


def _numpy_linalg_refused(monkeypatch, name):
    # A probe compares with numpy.linalg: it runs (once per process) before the patch.
    assert name not in lapack._ROUTINES or lapack._gufuncs(name) is not None

    def refused(*args, **kwargs):
        raise AssertionError(f"numpy.linalg.{name} ran")

    monkeypatch.setattr(np.linalg, name, refused)


@pytest.mark.parametrize("gufunc", [True, False], ids=["gufunc", "numpy_linalg"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name", sorted(ROUTINES))
def test_float32_results_match_float64(name, shape, gufunc, monkeypatch):
    operands, pairs = ROUTINES[name](shape)
    if gufunc:  # the float32 path must not hand the work to numpy.linalg
        _numpy_linalg_refused(monkeypatch, name.removesuffix("_vector"))
    else:
        _without_gufuncs(monkeypatch)
    out = _function(name)(*operands)
    monkeypatch.undo()  # the references below are numpy.linalg's
    results = out if isinstance(out, tuple) else (out,)
    # numpy.linalg.eig gives real arrays when all eigenvalues are real; the gufunc
    # complex ones (the kernel makes both complex).
    assert all(x.dtype.char in ("fF" if name == "eig" else "f") for x in results)
    if gufunc and name == "eig":
        assert all(x.dtype == np.complex64 for x in results)
    scale = max(1.0, float(np.abs(operands[0]).max()))
    for got, expected in pairs(operands, out):
        np.testing.assert_allclose(got, expected, rtol=2e-4, atol=2e-4 * scale)


_SIGNS = np.array([1, -1, 1], "float32")[:, None, None]

#: (kernel, operands, nerve's error message): the kernels fail alike on both paths.
FAILURES = [
    ("cholesky", (-_spd((5, 5)),), "not positive definite"),
    ("cholesky", (_spd((3, 4, 4)) * _SIGNS,), "not positive definite"),  # one of a batch
    ("solve", (np.ones((4, 4), "float32"), np.ones((4, 2), "float32")), "Singular matrix"),
    ("solve", (np.zeros((2, 3, 3), "float32"), np.ones((2, 3, 1), "float32")), "Singular matrix"),
    ("solve", (np.ones((3, 4), "float32"), np.ones((3, 1), "float32")), "must be square"),
    ("eig", (np.full((3, 3), np.nan, "float32"),), "infs or NaNs"),
    ("eigh", (np.ones((3, 4), "float32"),), "must be square"),
]


@pytest.mark.parametrize("gufunc", [True, False], ids=["gufunc", "numpy_linalg"])
@pytest.mark.parametrize(("name", "operands", "message"), FAILURES)
def test_kernel_errors_are_unchanged(name, operands, message, gufunc, monkeypatch):
    from nerve.core.errors import LinAlgError

    if not gufunc:
        _without_gufuncs(monkeypatch)
    with pytest.raises(LinAlgError, match=message):
        linalg.kernels(np)[name](*operands)


@pytest.mark.parametrize("gufunc", [True, False], ids=["gufunc", "numpy_linalg"])
@pytest.mark.parametrize("name", ["cholesky", "solve", "eigh", "eig"])
def test_kernels_keep_float32(name, gufunc, monkeypatch):
    if not gufunc:
        _without_gufuncs(monkeypatch)
    operands, _ = ROUTINES[name]((8, 8))
    out = linalg.kernels(np)[name](*operands)
    expected = "complex64" if name == "eig" else "float32"
    assert all(x.dtype == expected for x in (out if isinstance(out, tuple) else (out,)))


@pytest.mark.parametrize("name", sorted(lapack._ROUTINES))
def test_every_routine_passes_its_probe(name):
    assert lapack._gufuncs.__wrapped__(name) is not None


@pytest.mark.parametrize("name", sorted(lapack._ROUTINES))
def test_a_disagreeing_probe_falls_back(name, monkeypatch):
    routine = lapack._ROUTINES[name]

    def wrong(*args, **kwargs):
        out = routine.call(*args, **kwargs)
        return tuple(x * 2 for x in out) if isinstance(out, tuple) else out * 2

    monkeypatch.setitem(lapack._ROUTINES, name, dataclasses.replace(routine, call=wrong))
    assert lapack._gufuncs.__wrapped__(name) is None


@pytest.mark.parametrize("name", sorted(lapack._ROUTINES))
def test_a_missing_gufunc_module_falls_back(name, monkeypatch):
    import numpy.linalg

    monkeypatch.delattr(numpy.linalg, "_umath_linalg")
    monkeypatch.delitem(sys.modules, "numpy.linalg._umath_linalg")
    assert lapack._gufuncs.__wrapped__(name) is None


@pytest.mark.parametrize("scipy", [True, False], ids=["scipy", "numpy_linalg"])
@pytest.mark.parametrize("mode", ["reduced", "complete"])
@pytest.mark.parametrize("shape", [(90, 70), (70, 90), (3, 70, 70)], ids=str)
def test_float32_qr_factors_in_float32(shape, mode, scipy, monkeypatch):
    if scipy:  # then numpy.linalg must not run
        _numpy_linalg_refused(monkeypatch, "qr")
    else:
        _no_scipy(monkeypatch)
    a = _general(shape)
    q, r = linalg.kernels(np)["qr"](a, mode=mode)
    monkeypatch.undo()
    expected_q, expected_r = np.linalg.qr(a.astype("float64"), mode=mode)
    assert q.dtype == r.dtype == np.float32
    assert q.shape == expected_q.shape and r.shape == expected_r.shape
    assert np.array_equal(r, np.triu(r))
    eps = np.finfo(np.float32).eps
    np.testing.assert_allclose(q @ r, a, atol=50 * eps * np.abs(a).max())
    gram = np.swapaxes(q, -1, -2) @ q
    np.testing.assert_allclose(
        gram, np.broadcast_to(np.eye(q.shape[-1]), gram.shape), atol=50 * eps
    )


# Only the lower triangle is set: reading the upper one (as asked) gives other results.
_LOWER = np.tril(_spd((6, 6)))

#: (function, operands, keyword arguments) the gufuncs do not take as they are.
NOT_TAKEN = {
    "eigh_UPLO": ("eigh", (_LOWER,), {"UPLO": "U"}),
    "cholesky_upper": ("cholesky", (_LOWER,), {"upper": True}),
    "lists": ("solve", ([[2.0, 0.0], [0.0, 4.0]], [2.0, 4.0]), {}),
    "big_endian": ("cholesky", (_spd((4, 4)).astype(">f4"),), {}),
    "mixed_dtypes": ("solve", (_spd((4, 4)), np.ones(4)), {}),
}


@pytest.mark.parametrize("case", sorted(NOT_TAKEN))
def test_what_the_gufuncs_do_not_take_goes_to_numpy_linalg(case):
    name, operands, params = NOT_TAKEN[case]
    out = getattr(lapack, name)(*operands, **params)
    expected = getattr(np.linalg, name)(*operands, **params)
    for got, want in zip(*(x if isinstance(x, tuple) else (x,) for x in (out, expected))):
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
