"""The C product loops (``native/products.py``) agree with NumPy's matmul to rounding,
over the shapes they take (thin left operands; small results of long sums, the left
operand a transposed view), and the backend's matmul hands them exactly those."""

import numpy as np
import pytest

from nerve.backend.numpy_backend import linalg
from nerve.backend.numpy_backend.native import products

ROWS = products.MIN_ROWS + 37  # not a multiple of the block or vector sizes
TOLERANCE = {"float32": 2e-5, "float64": 1e-12}


@pytest.fixture
def functions():
    found = products.product_functions()
    if found is None:
        pytest.skip("no C compiler: NumPy's matmul runs")
    return found


def _close(out, a, b, dtype):
    expected = a.astype(np.float64) @ b.astype(np.float64)
    scale = np.abs(a).astype(np.float64) @ np.abs(b).astype(np.float64)  # error bound
    assert out.dtype == dtype and out.shape == expected.shape
    assert np.all(np.abs(out - expected) <= TOLERANCE[dtype] * (scale + 1))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(("inner", "columns"), [(1, 5), (9, 32), (3, 70), (16, 64), (7, 31)])
def test_thin_products_match_numpy(functions, dtype, inner, columns):
    rng = np.random.default_rng(inner)
    a = rng.standard_normal((ROWS, inner)).astype(dtype)
    b = rng.standard_normal((inner, columns)).astype(dtype)
    out = products.product(a, b)
    assert out is not None
    _close(out, a, b, dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(("left", "right"), [(9, 32), (1, 1), (3, 45), (27, 37), (16, 64)])
def test_gram_products_match_numpy(functions, dtype, left, right):
    rng = np.random.default_rng(left)
    p = rng.standard_normal((ROWS, left)).astype(dtype)
    g = rng.standard_normal((ROWS, right)).astype(dtype)
    out = products.product(p.T, g)
    assert out is not None
    _close(out, p.T, g, dtype)


def test_special_values_propagate(functions):
    a = np.ones((ROWS, 4), np.float32)
    b = np.ones((4, 33), np.float32)
    a[5, 2], b[1, 32] = np.nan, np.inf
    out = products.product(a, b)
    with np.errstate(all="ignore"):
        expected = a @ b
    np.testing.assert_array_equal(np.isnan(out), np.isnan(expected))
    np.testing.assert_array_equal(np.isinf(out), np.isinf(expected))


@pytest.mark.parametrize(
    "shapes",
    [
        ((ROWS, products.MAX_INNER + 1), (products.MAX_INNER + 1, 8)),  # not thin
        ((products.MIN_ROWS - 1, 9), (9, 32)),  # too short
        ((40, ROWS), (ROWS, 40)),  # result too large
    ],
)
def test_other_shapes_are_left_to_numpy(shapes):
    a, b = (np.ones(s, np.float32) for s in shapes)
    assert products.product(a, b) is None


@pytest.mark.parametrize(
    "make",
    [
        lambda a, b: (a.astype(np.float64), b),  # mixed dtypes
        lambda a, b: (a.astype(np.int32), b.astype(np.int32)),  # integers
        lambda a, b: (np.asfortranarray(a), b),  # thin operand not C-contiguous
        lambda a, b: (a, np.asfortranarray(b)),
    ],
)
def test_other_layouts_and_dtypes_are_left_to_numpy(make):
    a, b = make(np.ones((ROWS, 9), np.float32), np.ones((9, 32), np.float32))
    assert products.product(a, b) is None
    assert products.product(np.ascontiguousarray(a.T), np.ones((9, 3), a.dtype)) is None


def test_the_backend_matmul_runs_them(functions, monkeypatch):
    calls = []
    monkeypatch.setattr(products, "product", lambda a, b: calls.append(a.shape) or a @ b)
    matmul = linalg.kernels(np)["matmul"]
    p, g = np.ones((ROWS, 9), np.float32), np.ones((ROWS, 32), np.float32)
    matmul(p, np.ones((9, 32), np.float32))
    matmul(p.T, g)
    matmul(np.ones((3, 4), np.float32), np.ones((4, 5), np.float32))  # small: not asked
    assert calls == [(ROWS, 9), (9, ROWS)]


@pytest.mark.parametrize("parts", [2, 3])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_calls_shared_out_among_held_cores(functions, dtype, parts, monkeypatch):
    # Inside a compiled run holding several cores: thin by rows (the same bits), gram
    # by runs of blocks whose partial sums are added (agrees to rounding).
    from nerve.backend.numpy_backend.native import threads

    rng = np.random.default_rng(9)
    a = rng.standard_normal((ROWS, 9)).astype(dtype)
    b = rng.standard_normal((9, 37)).astype(dtype)
    g = rng.standard_normal((ROWS, 31)).astype(dtype)
    whole_thin = products.product(a, b)
    monkeypatch.setattr(products, "SPLIT_ROWS", 0)
    monkeypatch.setattr(threads, "_held", [parts])
    calls = []
    run_split = threads.run_split
    monkeypatch.setattr(threads, "run_split", lambda p, w: (calls.append(w), run_split(p, w)))
    np.testing.assert_array_equal(products.product(a, b), whole_thin)
    _close(products.product(a.T, g), a.T, g, dtype)
    assert calls == [parts, parts]


@pytest.mark.parametrize("held", [1, 2, 3])
def test_blocked_products_give_the_bits_of_the_product_and_its_epilogue(held, monkeypatch):
    """``blocked_bias_relu``: blocks of rows by sgemm (none small enough for OpenBLAS's
    small-matrix kernels), then the bias and ReLU the fused loop computes, or the
    ReLU mask (``masked_product``); in one thread or shared out among held cores (two:
    from C, ``split_loops``)."""
    if not products.takes_blocked((4096, 128), (128, 512), "float32"):
        pytest.skip("no C compiler or no sgemm: the blocked loop never runs")
    from nerve.backend.numpy_backend.native import split_loops, threads

    monkeypatch.setattr(products, "BLOCKED_ROWS", 256)
    monkeypatch.setattr(products, "BLOCKED_FROM", 1)  # (this result is smaller)
    monkeypatch.setattr(threads, "_held", [held])
    rng = np.random.default_rng(held)
    a = rng.standard_normal((1100, 96), dtype=np.float32)
    b = rng.standard_normal((96, 136), dtype=np.float32)
    bias = rng.standard_normal(136, dtype=np.float32)
    b[0, :3] = [np.nan, np.inf, -np.inf]  # NaN stays, -inf becomes 0
    z = linalg.kernels(np)["matmul"](a, b) + bias
    want = np.where((z > 0) | (z != z), z, np.float32(0))
    parts = []  # jobs run from C (two held cores: split_loops), their part counts
    run_parts = split_loops.run_parts
    monkeypatch.setattr(
        split_loops, "run_parts", lambda *args: parts.append(len(args[3]) - 1) or run_parts(*args)
    )
    np.testing.assert_array_equal(products.blocked_bias_relu(a, b, bias), want)
    # ... and the mask's epilogue: the product times cast(mask > 0).
    mask = rng.standard_normal((1100, 136), dtype=np.float32)
    product = linalg.kernels(np)["matmul"](a, b)
    masked = products.masked_product(a, b, mask)
    with np.errstate(invalid="ignore"):  # (inf * 0 is NaN there too)
        np.testing.assert_array_equal(masked, product * (mask > 0).astype(np.float32))
    assert parts == ([4, 4] if held == 2 else [])
    assert products.blocked_bias_relu(a.astype("float64"), b, bias) is None
