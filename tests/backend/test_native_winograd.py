"""Winograd's F(2x2, 3x3) (``native/winograd.py``): ``patches_product`` and
``transposed_patches_product`` agree with the direct products in float64 to float32
rounding over odd and even output sizes, every kind of padding and tiles taken in
chunks, and the operands it does not take return ``None``."""

import numpy as np
import pytest

from nerve.backend.numpy_backend.native import threads as threads_module
from nerve.backend.numpy_backend.native import winograd

# (batch, height, width, channels, filters, padding): odd and even output sizes (the
# last tiles of odd ones are cut), "same" padding, uneven padding, one-tile images.
GEOMETRIES = [
    (2, 13, 13, 32, 64, ((0, 0), (0, 0))),
    (3, 8, 9, 16, 24, ((1, 1), (1, 1))),
    (2, 6, 7, 16, 16, ((1, 0), (0, 1))),
    (1, 3, 4, 8 * 3, 16, ((0, 0), (0, 1))),
    (2, 5, 5, 16, 40, ((2, 2), (2, 2))),
]


@pytest.fixture
def native(monkeypatch):
    if winograd._functions() is None:
        pytest.skip("no C compiler or no AVX2: the NumPy kernel runs the direct product")
    monkeypatch.setattr(winograd, "MIN_WORK", 0)  # small test sizes take it too


def _case(batch, height, width, channels, filters, padding):
    rng = np.random.default_rng(height * width + channels)
    x = rng.standard_normal((batch, height, width, channels)).astype("float32")
    b = rng.standard_normal((9 * channels, filters)).astype("float32")
    padded = np.pad(x.astype("float64"), ((0, 0), *padding, (0, 0)))
    out_h, out_w = padded.shape[1] - 2, padded.shape[2] - 2
    windows = [padded[:, i : i + out_h, j : j + out_w] for i in range(3) for j in range(3)]
    patches = np.stack(windows, axis=3).reshape(batch * out_h * out_w, 9 * channels)
    g = rng.standard_normal((patches.shape[0], filters)).astype("float32")
    return x, b, g, patches


def _assert_rounding_close(got, want):
    """Float32 rounding of sums of ~300 terms: ~1e-6 of the largest value; a wrong
    transform or tile misses by the size of the values themselves."""
    assert got.dtype == np.float32 and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=2e-6 * np.abs(want).max())


# (CHUNK_TILES, BLAS threads, cores held): one chunk of tiles, or many and a rest;
# with several BLAS threads, always one; inside a run holding several cores, chunks
# of whole images shared out among them (``threads.hold``).
CHUNKS = [(512, 1, 1), (5, 1, 1), (5, 2, 1), (5, 1, 2), (40, 1, 3)]


def _take_runs(monkeypatch, whole: bool) -> None:
    """``whole``: the products run chunk after chunk in C with OpenBLAS's sgemm
    (``_runs``), else each chunk's products through NumPy."""
    if whole and winograd._runs() is None:
        pytest.skip("no sgemm reachable from C (cblas.sgemm_address)")
    if not whole:
        monkeypatch.setattr(winograd, "_runs", lambda: None)


@pytest.mark.parametrize("whole", [True, False])
@pytest.mark.parametrize("chunk, threads, held", CHUNKS)
@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_products_agree_with_the_direct_products_in_float64(
    native, monkeypatch, geometry, chunk, threads, held, whole
):
    _take_runs(monkeypatch, whole)
    monkeypatch.setattr(winograd, "CHUNK_TILES", chunk)
    monkeypatch.setattr(threads_module, "blas_threads", lambda: threads)
    monkeypatch.setattr(threads_module, "_held", [held] if held > 1 else [])
    x, b, g, patches = _case(*geometry)
    padding = geometry[-1]
    product = winograd.patches_product(x, b, (3, 3), (1, 1), (1, 1), padding)
    _assert_rounding_close(product, patches @ b.astype("float64"))
    gradient = winograd.transposed_patches_product(x, g, (3, 3), (1, 1), (1, 1), padding)
    _assert_rounding_close(gradient, patches.T @ g.astype("float64"))


@pytest.mark.parametrize(
    "change",
    [
        {"dtype": "float64"},
        {"channels": 8},
        {"channels": 20},
        {"window": (3, 2)},
        {"strides": (2, 1)},
        {"dilation": (1, 2)},
    ],
)
def test_operands_it_does_not_take_return_none(native, change):
    channels = change.get("channels", 16)
    x, b, g, _ = _case(2, 7, 7, channels, 16, ((1, 1), (1, 1)))
    dtype = change.get("dtype", "float32")
    x, b, g = x.astype(dtype), b.astype(dtype), g.astype(dtype)
    window = change.get("window", (3, 3))
    strides, dilation = change.get("strides", (1, 1)), change.get("dilation", (1, 1))
    geometry = (window, strides, dilation, ((1, 1), (1, 1)))
    assert winograd.patches_product(x, b, *geometry) is None
    assert winograd.transposed_patches_product(x, g, *geometry) is None
    kernel, spatial = np.ascontiguousarray(b.T), x.shape[1:3]
    assert winograd.product_patches_transpose(g, kernel, spatial, *geometry) is None


def test_small_products_are_left_to_the_direct_product():
    """Below MIN_WORK multiply-adds (one MNIST image) the transforms cost more than
    they save."""
    assert not winograd.takes((1, 13, 13, 32), "float32", (288, 64), (3, 3), (1, 1), (1, 1),
                              ((0, 0), (0, 0)))  # fmt: skip
    assert winograd.takes((128, 13, 13, 32), "float32", (288, 64), (3, 3), (1, 1), (1, 1),
                          ((0, 0), (0, 0))) == (winograd._functions() is not None)  # fmt: skip


@pytest.mark.parametrize("whole", [True, False])
@pytest.mark.parametrize("chunk, threads, held", CHUNKS)
@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_input_gradient_agrees_with_the_direct_one_in_float64(
    native, monkeypatch, geometry, chunk, threads, held, whole
):
    _take_runs(monkeypatch, whole)
    monkeypatch.setattr(winograd, "CHUNK_TILES", chunk)
    monkeypatch.setattr(threads_module, "blas_threads", lambda: threads)
    monkeypatch.setattr(threads_module, "_held", [held] if held > 1 else [])
    x, b, g, _ = _case(*geometry)
    batch, height, width, channels, filters, padding = geometry
    got = winograd.product_patches_transpose(
        g, np.ascontiguousarray(b.T), (height, width), (3, 3), (1, 1), (1, 1), padding
    )
    # The adjoint of the patch rows: each row of g @ b.T added back where its window lay.
    rows = g.astype("float64") @ b.T.astype("float64")
    padded = np.zeros((batch, height + sum(padding[0]), width + sum(padding[1]), channels))
    out_h, out_w = padded.shape[1] - 2, padded.shape[2] - 2
    windows = rows.reshape(batch, out_h, out_w, 3, 3, channels)
    for i in range(3):
        for j in range(3):
            padded[:, i : i + out_h, j : j + out_w] += windows[:, :, :, i, j]
    want = padded[:, padding[0][0] : padding[0][0] + height, padding[1][0] : padding[1][0] + width]
    _assert_rounding_close(got, want)


@pytest.mark.parametrize("chunk, held", [(5, 1), (40, 1), (5, 2)])
def test_chunks_run_whole_in_c_give_the_numpy_paths_bits(native, monkeypatch, chunk, held):
    # Each chunk's products are the same sgemm calls either way; only the kernel
    # gradient's sum over chunks is grouped by run when several cores share them.
    if winograd._runs() is None:
        pytest.skip("no sgemm reachable from C (cblas.sgemm_address)")
    monkeypatch.setattr(winograd, "CHUNK_TILES", chunk)
    monkeypatch.setattr(threads_module, "blas_threads", lambda: 1)
    monkeypatch.setattr(threads_module, "_held", [held] if held > 1 else [])
    x, b, g, _ = _case(*GEOMETRIES[0])
    padding, (height, width) = GEOMETRIES[0][-1], GEOMETRIES[0][1:3]

    def calls():
        return (
            winograd.patches_product(x, b, (3, 3), (1, 1), (1, 1), padding),
            winograd.product_patches_transpose(
                g, np.ascontiguousarray(b.T), (height, width), (3, 3), (1, 1), (1, 1), padding
            ),
            winograd.transposed_patches_product(x, g, (3, 3), (1, 1), (1, 1), padding),
        )

    whole = calls()
    monkeypatch.setattr(winograd, "_runs", lambda: None)
    chunked = calls()
    np.testing.assert_array_equal(whole[0], chunked[0])
    np.testing.assert_array_equal(whole[1], chunked[1])
    if held == 1:
        np.testing.assert_array_equal(whole[2], chunked[2])
    else:
        _assert_rounding_close(whole[2], chunked[2].astype("float64"))
