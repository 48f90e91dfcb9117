"""How native modules call C (``native/binding.py``): the data pointer read from the
array object is the one ``ctypes`` reports, for every kind of array a kernel may get,
and loops are found by the array's dtype object."""

import ctypes

import numpy as np
import pytest

from nerve.backend.numpy_backend.native import binding, products, spectral, toolchain

_BASE = np.arange(24.0).reshape(4, 6)
ARRAYS = {
    "contiguous": _BASE,
    "row slice": _BASE[1:],
    "column slice": _BASE[:, 2:],
    "transposed": _BASE.T,
    "0-d": np.array(3.0),
    "empty": np.empty((0, 5), np.float32),
    "reshaped view": _BASE.reshape(-1)[3:],
    "read-only": np.frombuffer(bytes(16), np.float32),
}


@pytest.mark.parametrize("kind", list(ARRAYS))
def test_address_is_the_ctypes_data_pointer(kind):
    array = ARRAYS[kind]
    assert binding.address(array) == array.ctypes.data


def test_address_falls_back_to_ctypes_where_the_object_layout_differs(monkeypatch):
    monkeypatch.setattr(binding, "_address_from_object", lambda array: 0)
    assert binding._pick_address() is binding._address_from_ctypes


def test_typed_functions_are_keyed_by_dtype_and_run_their_loop():
    library = products._library()
    if library is None:
        pytest.skip("no C compiler")
    arguments = [ctypes.c_void_p] * 3 + [ctypes.c_int64] * 3
    table = binding.typed_functions(library, "thin", ["float32", "float64"], arguments)
    assert set(table) == {np.dtype("float32"), np.dtype("float64")}
    assert np.dtype(">f4") not in table  # a byte-swapped array finds no loop
    a = np.arange(12.0).reshape(4, 3)
    b = np.arange(6.0).reshape(3, 2)
    out = np.empty((4, 2))
    address = binding.address
    table[a.dtype](address(a), address(b), address(out), 4, 3, 2)
    np.testing.assert_allclose(out, a @ b)


def test_a_library_reading_arrays_as_objects_finds_their_data():
    library = toolchain.load(spectral.SOURCE)
    if library is None:
        pytest.skip("no C compiler")
    assert binding.reads_data_pointers(library)


def _column_sums(library_of):
    from nerve.backend.numpy_backend.native import column_sums

    library = library_of(column_sums.SOURCE)
    x = np.arange(12.0).reshape(4, 3) - 5.5
    out = np.full(3, np.nan)
    # ints (rows, n), objects (x, out): the loop's order is x, out, rows, n.
    call = ((4, 3), (x, out))
    return library, "colsums", "ooii", None, call, lambda: np.add.reduce(x, axis=0), out


def _row_product(library_of):
    from nerve.backend.numpy_backend.native import row_product

    library = row_product._LIBRARY.library()
    a, b = np.arange(3.0).reshape(1, 3), np.arange(6.0).reshape(3, 2) - 2
    bias, out = np.array([0.5, -100.0]), np.full((1, 2), np.nan)
    # The loop's order is a, b, out, K, N, split, bias, relu; it returns 1 when done.
    call = ((3, 2, 0, 1), (a, b, out, bias))
    expected = lambda: np.maximum(a @ b + bias, 0)  # noqa: E731 (small integers: exact)
    return library, "row_product", "oooiiioi", ctypes.c_int, call, expected, out


@pytest.mark.parametrize("loop", [_column_sums, _row_product], ids=["void", "int_result"])
@pytest.mark.parametrize("through", ["fastcall", "ctypes"])
def test_packed_functions_run_their_loop_either_way(loop, through, monkeypatch):
    from nerve.backend.numpy_backend.native import fastcall

    library, kind, signature, restype, (ints, objects), expected, out = loop(
        binding.load_reading_objects
    )
    if library is None or (through == "fastcall" and not fastcall.available()):
        pytest.skip("no C compiler or no fastcall builtin")
    if through == "ctypes":
        monkeypatch.setattr(fastcall, "bind", lambda *args, **kwargs: None)
    table = binding.packed_functions(library, kind, ["float32", "float64"], signature, restype)
    assert set(table) == {np.dtype("float32"), np.dtype("float64")}
    run = table[np.dtype("float64")]
    assert (type(run).__name__ == "builtin_function_or_method") == (through == "fastcall")
    inputs = [x.copy() for x in objects if x is not out]
    result = run(ints, objects)
    assert result == (None if restype is None else 1)
    np.testing.assert_array_equal(out, expected())
    for before, after in zip(inputs, [x for x in objects if x is not out]):
        np.testing.assert_array_equal(before, after)  # only read
