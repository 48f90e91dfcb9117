"""The NumPy backend's product kernels: two-operand einsums run as one matmul and
agree with NumPy's einsum; BLAS is primed once, before the first large product."""

import numpy as np
import pytest

from nerve.backend.numpy_backend import linalg

KERNELS = linalg.kernels(np)

PRODUCTS = [
    # attention: batch and head axes kept from both operands, a size-1 group axis
    ("btkgh,bskh->bkgts", (2, 5, 3, 1, 4), (2, 6, 3, 4)),
    ("bkgts,bskh->btkh", (2, 3, 1, 5, 6), (2, 6, 3, 4)),
    ("bkgts,btkgh->bskh", (2, 3, 1, 5, 6), (2, 5, 3, 1, 4)),
    ("btkgh,bkgts->bskh", (2, 5, 3, 1, 4), (2, 3, 1, 5, 6)),
    ("bkgts,bskh->btkh", (2, 3, 2, 5, 6), (2, 6, 3, 4)),  # a group axis summed
    # dense projections and their gradients
    ("abc,cde->abde", (2, 3, 4), (4, 5, 6)),
    ("abde,cde->abc", (2, 3, 5, 6), (4, 5, 6)),
    ("abde,abc->cde", (2, 3, 5, 6), (2, 3, 4)),
    ("ij,jk->ki", (3, 4), (4, 5)),
    ("ij,kj->", (3, 4), (2, 4)),
    ("i,j->ij", (3,), (4,)),
    ("abc,bd->dca", (2, 3, 4), (3, 5)),
]


@pytest.mark.parametrize("dtype", ["float32", "float64", "complex128"])
@pytest.mark.parametrize("subscripts, a_shape, b_shape", PRODUCTS)
def test_einsum_as_matmul_agrees_with_numpy(subscripts, a_shape, b_shape, dtype):
    assert linalg._make_product_plan(subscripts, a_shape, b_shape) is not None
    rng = np.random.default_rng(0)
    a = rng.standard_normal(a_shape).astype(dtype)
    b = rng.standard_normal(b_shape).astype(dtype)
    if dtype.startswith("complex"):
        a = a + 1j * rng.standard_normal(a_shape)
        b = b + 1j * rng.standard_normal(b_shape)
    out = KERNELS["einsum"](a, b, subscripts=subscripts)
    expected = np.einsum(subscripts, a, b)
    assert out.shape == expected.shape and out.dtype == expected.dtype
    assert out.flags.c_contiguous
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "subscripts, a_shape, b_shape",
    [
        ("ii,ij->j", (3, 3), (3, 4)),  # a diagonal
        ("ij,ij->ij", (1, 3), (4, 3)),  # a size-1 label broadcast
        ("ij,jk", (3, 4), (4, 5)),  # implicit output
    ],
)
def test_what_matmul_cannot_express_keeps_numpys_einsum(subscripts, a_shape, b_shape):
    assert linalg._make_product_plan(subscripts, a_shape, b_shape) is None


@pytest.mark.parametrize(
    "a_view",
    [
        lambda a: a,  # contiguous: one product of all the stack's rows
        lambda a: a.transpose(1, 0, 2),  # not contiguous: NumPy's own stacked product
    ],
)
@pytest.mark.parametrize("dtype", ["float32", "float64", "complex128", "int64"])
def test_a_stack_times_a_matrix_agrees_with_numpy(a_view, dtype):
    rng = np.random.default_rng(1)
    a = a_view((rng.standard_normal((3, 4, 5)) * 4).astype(dtype))
    b = (rng.standard_normal((5, 6)) * 4).astype(dtype)
    out = KERNELS["matmul"](a, b)
    expected = np.matmul(a, b)
    assert out.shape == expected.shape == (*a.shape[:-1], 6) and out.dtype == expected.dtype
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-9)


def test_blas_is_primed_once_before_the_first_large_product():
    kernels = linalg.kernels(np)  # a fresh kernel set: not primed yet
    linalg.prime_blas.cache_clear()
    small = np.ones((8, 8), "float32")
    kernels["matmul"](small, small)
    assert linalg.prime_blas.cache_info().currsize == 0
    rng = np.random.default_rng(0)
    a = rng.standard_normal((64, 128)).astype("float32")
    b = rng.standard_normal((128, 128)).astype("float32")
    assert a.size * b.shape[1] >= linalg.PRIME_FROM
    np.testing.assert_array_equal(kernels["matmul"](a, b), np.matmul(a, b))
    assert linalg.prime_blas.cache_info().currsize == 1


# A large product inside a compiled run that holds the cores (``threads.hold``) is
# shared out among them: a stack by matrices, one matrix by rows or by columns.
SPLIT_PRODUCTS = [
    ((8, 16, 32), (8, 32, 24)),  # a stack: by matrices
    ((1, 16, 32), (6, 32, 24)),  # a broadcast stack
    ((4, 3, 16, 8), (4, 3, 8, 16)),  # attention's (batch, heads) stack
    ((1, 3, 16, 8), (1, 3, 8, 16)),  # the first batch axis too short: the next one
    ((301, 64), (64, 50)),  # by rows
    ((40, 64), (64, 301)),  # by columns
    ((1, 40, 64), (64, 301)),  # a one-matrix stack: by columns
]


def _count_splits(monkeypatch, calls: list, record) -> None:
    """Append ``record(workers, parts)`` to ``calls`` for each split product, whether its
    parts run on nerve's Python threads (``threads.run_split``) or from C (two cores,
    one matrix of float32: ``native/split_gemm.py``)."""
    from nerve.backend.numpy_backend.native import split_gemm, threads

    run_split, gemm_parts, prepare = threads.run_split, split_gemm.gemm_parts, split_gemm.prepare

    def counted_split(parts, workers):
        calls.append(record(workers, len(parts)))
        return run_split(parts, workers)

    def counted_parts(a, b, out, axis, bounds):
        done = gemm_parts(a, b, out, axis, bounds)
        if done:
            calls.append(record(2, len(bounds) - 1))
        return done

    def counted_prepare(a, b, out, axis, bounds):
        run = prepare(a, b, out, axis, bounds)
        if run is None:
            return None

        def counted_run(a, b, out):
            done = run(a, b, out)
            if done:
                calls.append(record(2, len(bounds) - 1))
            return done

        return counted_run

    monkeypatch.setattr(threads, "run_split", counted_split)
    monkeypatch.setattr(split_gemm, "gemm_parts", counted_parts)
    monkeypatch.setattr(split_gemm, "prepare", counted_prepare)
    # Products plan their split once per layout (``products``' plans): plan again here,
    # through the counted functions.
    linalg.products(np).plans.clear()


@pytest.mark.parametrize("parts", [2, 3])
@pytest.mark.parametrize("dtype", ["float32", "float64", "complex128"])
@pytest.mark.parametrize("a_shape, b_shape", SPLIT_PRODUCTS)
def test_products_shared_out_among_held_cores_agree_with_numpy(
    a_shape, b_shape, dtype, parts, monkeypatch
):
    from nerve.backend.numpy_backend.native import threads

    monkeypatch.setattr(linalg, "SPLIT_FROM", 0)
    monkeypatch.setattr(threads, "_held", [parts])
    calls: list = []
    _count_splits(monkeypatch, calls, lambda workers, count: workers)
    rng = np.random.default_rng(2)
    a = rng.standard_normal(a_shape).astype(dtype)
    b = rng.standard_normal(b_shape).astype(dtype)
    out = linalg.kernels(np)["matmul"](a, b)
    expected = np.matmul(a, b)
    assert calls == [parts]
    assert out.shape == expected.shape and out.dtype == expected.dtype
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "a, b",
    [
        (np.ones((4, 8, 8), "int64"), np.ones((4, 8, 8), "int64")),  # no BLAS
        (np.ones((4, 8, 8), "float32"), np.ones((4, 8, 8))),  # mixed dtypes
        (np.ones(8), np.ones((4, 8, 8))),  # a vector
        (np.ones((64, 64)), np.ones((64, 64))),  # too little work
    ],
)
def test_products_that_do_not_pay_or_apply_are_not_split(a, b, monkeypatch):
    from nerve.backend.numpy_backend.native import threads

    monkeypatch.setattr(threads, "_held", [2])
    monkeypatch.setattr(threads, "run_split", lambda parts, workers: pytest.fail("split"))
    if a.dtype == b.dtype == np.float64 and a.ndim == 2:
        assert a.size * b.shape[1] < linalg.SPLIT_FROM
    else:
        monkeypatch.setattr(linalg, "SPLIT_FROM", 0)
    np.testing.assert_array_equal(linalg.kernels(np)["matmul"](a, b), np.matmul(a, b))


@pytest.mark.parametrize("parts", [2, 3])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_deep_products_are_split_over_their_summed_terms(dtype, parts, monkeypatch):
    # (288, 15488) @ (15488, 64) in a convolution's kernel gradient, smaller here.
    from nerve.backend.numpy_backend.native import threads

    monkeypatch.setattr(linalg, "SPLIT_FROM", 0)
    monkeypatch.setattr(linalg, "PART_LENGTH", 64)
    monkeypatch.setattr(threads, "_held", [parts])
    counts: list = []
    _count_splits(monkeypatch, counts, lambda workers, count: count)
    rng = np.random.default_rng(3)
    a = np.ascontiguousarray(rng.standard_normal((1000, 24)).astype(dtype)).T  # a view
    b = rng.standard_normal((1000, 16)).astype(dtype)
    out = linalg.kernels(np)["matmul"](a, b)
    expected = a.astype("float64") @ b.astype("float64")
    assert out.shape == (24, 16) and out.dtype == dtype
    np.testing.assert_allclose(out, expected, rtol=1e-4 if dtype == "float32" else 1e-12)
    again = linalg.kernels(np)["matmul"](a, b)
    np.testing.assert_array_equal(out, again)  # the same parts, the same bits
    assert counts == [min(parts * threads.PARTS_PER_THREAD, 1000 // 64)] * 2


@pytest.mark.parametrize("held", [False, True])
@pytest.mark.parametrize(
    "subscripts, a_shape, b_shape",
    [
        ("bkgts,bskh->btkgh", (8, 4, 1, 128, 128), (8, 128, 4, 32)),
        ("btkgh,bkgts->bskh", (8, 128, 4, 1, 32), (8, 4, 1, 128, 128)),
        ("bkgts,bskh->btkh", (8, 4, 1, 128, 128), (8, 128, 4, 32)),
        ("bkgts,btkgh->bskh", (3, 4, 1, 5, 6), (3, 5, 4, 1, 7)),
    ],
)
def test_transposed_stacks_of_products_are_written_in_order_with_the_same_bits(
    subscripts, a_shape, b_shape, held, monkeypatch
):
    """A stack of products whose result is transposed is written straight into the
    output's order (no copy of the result), with the bits of product-then-copy, split
    across held cores or not."""
    from nerve.backend.numpy_backend.native import threads

    rng = np.random.default_rng(len(subscripts))
    a = rng.standard_normal(a_shape).astype("float32")
    b = rng.standard_normal(b_shape).astype("float32")
    if held:
        monkeypatch.setattr(threads, "_held", [2])
    written = []
    may_share = np.may_share_memory
    monkeypatch.setattr(
        np, "may_share_memory", lambda *xs: written.append(may_share(*xs)) or written[-1]
    )
    direct = KERNELS["einsum"](a, b, subscripts=subscripts)
    assert written == [True]  # the direct path ran
    monkeypatch.setattr(np, "may_share_memory", lambda *xs: False)  # product, then copy
    copied = KERNELS["einsum"](a, b, subscripts=subscripts)
    assert direct.flags.c_contiguous and direct.shape == copied.shape
    np.testing.assert_array_equal(direct, copied)
    np.testing.assert_allclose(direct, np.einsum(subscripts, a, b), rtol=1e-4, atol=1e-4)
