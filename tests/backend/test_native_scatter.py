"""The C scatter-add of rows (``index_add`` along one axis, an embedding's gradient)
gives bitwise the results of ``np.add.at``, which it replaces, for every dtype, axis
and index layout it takes; other cases, and native kernels off, run ``np.add.at``."""

import numpy as np
import pytest

from nerve.backend.numpy_backend import indexing
from nerve.backend.numpy_backend.native import scatter as native_scatter

FULL = ("slice", None, None, None)
INDEX_ADD = indexing.kernels(np)["index_add"]


@pytest.fixture
def numpy_kernels(monkeypatch):
    """Native kernels off for the duration of a test."""
    monkeypatch.setenv("NERVE_NATIVE", "0")
    native_scatter._functions.cache_clear()
    yield
    monkeypatch.undo()
    native_scatter._functions.cache_clear()


def _case(shape, axis, index_shape, dtype, index_dtype, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.standard_normal(shape).astype(dtype)
    size = shape[axis]
    # Few rows, many ids: duplicates accumulate, and negative ids wrap.
    index = rng.integers(-size, size, index_shape).astype(index_dtype)
    updates_shape = (*shape[:axis], *index_shape, *shape[axis + 1 :])
    updates = rng.standard_normal(updates_shape).astype(dtype)
    template = (FULL,) * axis + (("array", 0),)
    expected = base.copy()
    np.add.at(expected, (slice(None),) * axis + (index,), updates)
    return base, updates, index, template, expected


@pytest.mark.parametrize("native", [True, False])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("index_dtype", ["int32", "int64"])
@pytest.mark.parametrize(
    "shape, axis, index_shape",
    [
        ((7, 4), 0, (30,)),
        ((9, 3, 2), 0, (5, 6)),
        ((2, 5, 3), 1, (4, 4)),
        ((3, 6), 1, (11,)),
        ((8, 2), 0, (2, 3, 4)),
    ],
)
def test_scatter_add_rows_matches_add_at_bitwise(
    request, native, shape, axis, index_shape, dtype, index_dtype
):
    if native and native_scatter.scatter_add_rows_function() is None:
        pytest.skip("no C compiler: only the NumPy kernel runs here")
    if not native:
        request.getfixturevalue("numpy_kernels")
        assert native_scatter.scatter_add_rows_function() is None
    base, updates, index, template, expected = _case(shape, axis, index_shape, dtype, index_dtype)
    before = base.copy()
    out = INDEX_ADD(base, updates, index, template=template)
    assert out.dtype == expected.dtype
    np.testing.assert_array_equal(out, expected, strict=True)
    np.testing.assert_array_equal(base, before)  # the input is never written


def test_the_c_loop_does_the_adding():
    """Guards the fast path: the C function itself adds rows in place."""
    scatter = native_scatter.scatter_add_rows_function()
    if scatter is None:
        pytest.skip("no C compiler: only the NumPy kernel runs here")
    out = np.zeros((3, 2), "float32")
    assert scatter(out, np.array([2, 0, 2]), np.ones((3, 2), "float32"), 0)
    np.testing.assert_array_equal(out, [[1, 1], [0, 0], [2, 2]])
    assert not scatter(np.zeros((3, 2), "float16"), np.array([0]), np.ones((1, 2), "float16"), 0)


@pytest.mark.parametrize(
    "make",
    [
        lambda u: u.transpose(1, 0, 2).copy().transpose(1, 0, 2),  # strided updates
        lambda u: u.astype("float16"),  # a dtype without a C loop
    ],
)
def test_other_layouts_and_dtypes_agree(make):
    base, updates, index, template, _ = _case((6, 3), 0, (4, 5), "float32", "int32")
    updates = make(updates.reshape(4, 5, 3))
    base = base.astype(updates.dtype)
    expected = base.copy()
    np.add.at(expected, (index,), updates)
    np.testing.assert_array_equal(INDEX_ADD(base, updates, index, template=template), expected)


@pytest.mark.parametrize("native", [True, False])
@pytest.mark.parametrize("bad", [-7, 6])
def test_out_of_range_ids_raise_as_add_at_does(request, native, bad):
    if not native:
        request.getfixturevalue("numpy_kernels")
    base = np.zeros((6, 2), "float32")
    out_before = base.copy()
    with pytest.raises(IndexError, match=f"index {bad} is out of bounds for axis 0 with size 6"):
        INDEX_ADD(base, np.ones((2, 2), "float32"), np.array([1, bad]), template=(("array", 0),))
    np.testing.assert_array_equal(base, out_before)


@pytest.mark.parametrize(
    "index_shape, make",
    [
        ((4, 5), lambda u: u.transpose(1, 0, 2).copy().transpose(1, 0, 2)),  # time-major
        ((4, 5), lambda u: u[::-1, ::-1].copy()[::-1, ::-1]),  # negative strides
        ((4, 5), lambda u: np.pad(u, ((0, 0), (0, 0), (0, 2)))[..., :3]),  # rows apart
        ((20,), lambda u: u[::-1].copy()[::-1]),  # a 1-d index, rows in reverse
        ((), lambda u: u),  # one id
        ((), lambda u: u[0]),  # one id, one element: a NumPy scalar, copied to an array
        ((2, 3, 2), lambda u: u.transpose(2, 1, 0, 3).copy().transpose(2, 1, 0, 3)),  # copied
    ],
)
def test_strided_updates_are_read_in_place_by_the_c_loop(index_shape, make):
    """Guards the strided path: the C function itself takes these layouts (returns
    ``True``) and adds what ``np.add.at`` adds, bit for bit."""
    scatter = native_scatter.scatter_add_rows_function()
    if scatter is None:
        pytest.skip("no C compiler: only the NumPy kernel runs here")
    rng = np.random.default_rng(2)
    index = rng.integers(-6, 6, index_shape).astype("int32")
    updates = make(rng.standard_normal((*index_shape, 3)).astype("float32"))
    width = np.shape(updates)[index.ndim :]
    if isinstance(updates, np.ndarray) and index.ndim <= 2:
        assert native_scatter._row_layout(updates, 0, index.ndim) is not None
    out = rng.standard_normal((6, *width)).astype("float32")
    expected = out.copy()
    np.add.at(expected, (index,), updates)
    assert scatter(out, index, updates, 0)
    np.testing.assert_array_equal(out, expected)
