"""How Python calls the C loops of native modules: data pointers and typed functions.

A C loop takes an array as its data pointer. ``ndarray.ctypes.data`` builds a helper
object on each access (~3 us on a 2-vCPU VM, where a batch-1 pooling loop runs in
~20 us), and ``dtype.name`` is computed in Python (~6 us). ``address`` reads the pointer
straight from the array object (~0.5 us; checked once against ``ctypes.data``), and
``typed_functions`` gives a library's loops in a table keyed by ``np.dtype``, so a call
looks its loop up by the array's dtype object instead of formatting a name.

``packed_functions`` is that table for loops of the form ``loop(objects..., ints...)``
called through ``fastcall``'s builtin (``run(ints, objects)``, ~0.15 us) instead of
ctypes (~2-3 us with a handful of arguments on the 2-vCPU Xeon, 2026-12-06); each such
loop's library holds a packed entry for it (``packed_entry_source``).
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from nerve.backend.numpy_backend.native import fastcall, toolchain
from nerve.backend.numpy_backend.native.toolchain import DATA_OFFSET

__all__ = [
    "address",
    "entry_address",
    "load_reading_objects",
    "packed_entry_source",
    "packed_functions",
    "reads_data_pointers",
    "typed_functions",
]

_read_pointer = ctypes.c_void_p.from_address


def _address_from_object(array: np.ndarray) -> int:
    # The array's ``data`` field sits right after the object header
    # (``PyArrayObject_fields``); the caller keeps ``array`` alive during the call.
    return _read_pointer(id(array) + DATA_OFFSET).value or 0


def _address_from_ctypes(array: np.ndarray) -> int:
    return array.ctypes.data


def _pick_address() -> Callable[[np.ndarray], int]:
    probe = np.arange(3.0)
    view = probe[1:]
    fast = _address_from_object(probe) == probe.ctypes.data
    fast = fast and _address_from_object(view) == view.ctypes.data
    return _address_from_object if fast else _address_from_ctypes


#: ``address(array)``: the integer address of a NumPy array's first element.
#:
#: >>> import numpy as np
#: >>> a = np.arange(4.0)
#: >>> address(a[1:]) - address(a)
#: 8
address: Callable[[np.ndarray], int] = _pick_address()


def reads_data_pointers(library: ctypes.CDLL) -> bool:
    """Whether ``library``'s ``nv_data`` (the ``NV_DATA`` macro of C that takes arrays
    as Python objects, see ``codegen.library_source``) finds an array's data where
    ``ctypes`` says it is; such libraries are used only where it does.

    >>> from nerve.backend.numpy_backend.native import spectral, toolchain
    >>> library = toolchain.load(spectral.SOURCE)
    >>> library is None or reads_data_pointers(library)
    True
    """
    probe = library.nv_data
    probe.argtypes, probe.restype = [ctypes.py_object], ctypes.c_void_p
    array = np.arange(3.0)
    return bool(probe(array) == array.ctypes.data)


def load_reading_objects(source: str) -> ctypes.CDLL | None:
    """The library compiled from ``source`` (``toolchain.load``), whose C takes arrays as
    Python objects, when it reads their data where ``ctypes`` says it is
    (``reads_data_pointers``); ``None`` without a compiler or when it does not.

    >>> from nerve.backend.numpy_backend.native import spectral
    >>> library = load_reading_objects(spectral.SOURCE)
    >>> library is None or reads_data_pointers(library)
    True
    """
    library = toolchain.load(source)
    if library is None or not reads_data_pointers(library):
        return None
    return library


def typed_functions(
    library: ctypes.CDLL,
    kind: str,
    dtypes: Iterable[str],
    argtypes: list,
    restype: Any = None,
) -> dict[np.dtype, Any]:
    """``{np.dtype(name): library.<kind>_<name>}`` for each dtype name, each function
    given ``argtypes`` and ``restype`` (the C loops of one kind are instantiated once
    per dtype from one template, named ``<kind>_<dtype>``).

    >>> from nerve.backend.numpy_backend.native import products
    >>> library = products._library()
    >>> arguments = [ctypes.c_void_p] * 3 + [ctypes.c_int64] * 3
    >>> table = {} if library is None else typed_functions(library, "thin", ["float32"], arguments)
    >>> library is None or list(table) == [np.dtype("float32")]
    True
    """
    table = {}
    for name in dtypes:
        function = getattr(library, f"{kind}_{name}")
        function.argtypes = argtypes
        function.restype = restype
        table[np.dtype(name)] = function
    return table


def entry_address(library: ctypes.CDLL, name: str) -> int:
    """The address of ``library``'s C function ``name``, for C to call (a packed entry
    for ``fastcall``, a part function for ``split_loops``).

    >>> from nerve.backend.numpy_backend.native import column_sums
    >>> library = load_reading_objects(column_sums.SOURCE)
    >>> library is None or entry_address(library, "colsums_float32_packed") > 0
    True
    """
    # (Never NULL: ``getattr`` raises for a name the library lacks.)
    return ctypes.cast(getattr(library, name), ctypes.c_void_p).value or 0


def packed_entry_source(function: str, signature: str, result: str = "void") -> str:
    """C of ``<function>_packed(ints, objects)``, the form ``fastcall`` calls, for a C
    function whose parameters are, in order, arrays (``"o"`` in ``signature``: objects
    ``NV_DATA`` reads, or ``None``) and int64 values (``"i"``), returning ``result``
    (``"void"``, or an integer type, returned as ``int64_t``).

    >>> print(packed_entry_source("sums", "ooi"), end="")
    void sums_packed(const int64_t *ints, void *const *objects) {
        sums(objects[0], objects[1], ints[0]);
    }
    """
    call = f"{function}({', '.join(_in_order(signature))})"
    if result == "void":
        return (
            f"void {function}_packed(const int64_t *ints, void *const *objects) {{\n"
            f"    {call};\n}}\n"
        )
    return (
        f"int64_t {function}_packed(const int64_t *ints, void *const *objects) {{\n"
        f"    return (int64_t){call};\n}}\n"
    )


def packed_functions(
    library: ctypes.CDLL, kind: str, dtypes: Iterable[str], signature: str, restype: Any = None
) -> dict[np.dtype, Callable[[tuple, tuple], Any]]:
    """``{np.dtype(name): run}``, ``run(ints, objects)`` calling ``<kind>_<name>`` (its
    parameters arrays and int64 values in the order of ``signature``, see
    ``packed_entry_source``, whose entry its library holds; ``restype`` an integer
    ctypes type where it returns one, which ``run`` returns) through ``fastcall``'s
    builtin, or through ctypes where the builtin does not build here. The builtin
    releases the GIL, as ctypes did.

    >>> from nerve.backend.numpy_backend.native import column_sums
    >>> library = load_reading_objects(column_sums.SOURCE)
    >>> table = {} if library is None else packed_functions(
    ...     library, "colsums", ["float32"], "ooii")
    >>> x, out = np.ones((3, 2), np.float32), np.zeros(2, np.float32)
    >>> for run in table.values(): run((3, 2), (x, out))
    >>> library is None or out.tolist() == [3.0, 3.0]
    True
    """
    argtypes = [ctypes.py_object if k == "o" else ctypes.c_int64 for k in signature]
    table: dict[np.dtype, Callable[[tuple, tuple], Any]] = {}
    for name, function in typed_functions(library, kind, dtypes, argtypes, restype).items():
        entry = entry_address(library, f"{kind}_{name}_packed")
        counts = signature.count("i"), signature.count("o")
        run = fastcall.bind(entry, *counts, fastcall.RELEASE_WORK, restype is not None)
        table[name] = run if run is not None else _through_ctypes(function, signature)
    return table


def _through_ctypes(function, signature: str) -> Callable[[tuple, tuple], Any]:
    """``run(ints, objects)`` calling the ctypes ``function`` with them in the order of
    ``signature``, spelled out (an adapter that looped over the signature cost ~1 us
    more per call)."""
    namespace = {"function": function}
    source = f"def run(ints, objects):\n    return function({', '.join(_in_order(signature))})\n"
    exec(source, namespace)  # safe: generated here from a string of "o" and "i"
    return namespace["run"]


def _in_order(signature: str) -> list[str]:
    """``objects[k]`` and ``ints[k]``, the loop's parameters in the order of
    ``signature`` (in C and in Python alike)."""
    spelled, taken = [], {"o": 0, "i": 0}
    for kind in signature:
        spelled.append(f"{'objects' if kind == 'o' else 'ints'}[{taken[kind]}]")
        taken[kind] += 1
    return spelled
