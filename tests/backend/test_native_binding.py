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


@pytest.mark.parametrize("through", ["fastcall", "ctypes"])
def test_packed_functions_run_their_loop_either_way(through, monkeypatch):
    from nerve.backend.numpy_backend.native import column_sums, fastcall

    library = binding.load_reading_objects(column_sums.SOURCE)
    if library is None or (through == "fastcall" and not fastcall.available()):
        pytest.skip("no C compiler or no fastcall builtin")
    if through == "ctypes":
        monkeypatch.setattr(fastcall, "bind", lambda *args: None)
    table = binding.packed_functions(library, "colsums", ["float32", "float64"], 2, 2)
    assert set(table) == {np.dtype("float32"), np.dtype("float64")}
    run = table[np.dtype("float64")]
    assert (type(run).__name__ == "builtin_function_or_method") == (through == "fastcall")
    x = np.arange(12.0).reshape(4, 3) - 5.5
    out = np.full(3, np.nan)
    run((4, 3), (x, out))  # ints (rows, n), then objects (x, out): in that order
    np.testing.assert_array_equal(out, np.add.reduce(x, axis=0))
    np.testing.assert_array_equal(x, np.arange(12.0).reshape(4, 3) - 5.5)  # only read
