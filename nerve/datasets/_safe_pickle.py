"""A restricted unpickler for data sets stored as Python pickles (the CIFAR batches;
the object arrays inside the imdb and reuters ``.npz`` files): it rebuilds only NumPy
arrays of plain dtypes and Python's own values (lists, dicts, numbers, strings), and
refuses everything else, so loading a file never runs code from it.

A pickle names the callables that rebuild its objects (``module`` and ``name``) and
the standard ``pickle.Unpickler`` imports and calls whatever it names; that is how a
malicious file runs ``os.system``. Here ``find_class`` looks the pair up in a fixed
table (``ALLOWED_NUMPY``) and raises ``RefusedPickleError`` (a
``pickle.UnpicklingError``) naming the pair for anything else. Nothing is imported by
name, so the old ``numpy.core`` spelling of Python 2 era files works on NumPy 2
without touching its deprecated module.

NumPy's own rebuilders are not handed to the pickle either, because a pickle that
names only them can still crash the interpreter: ``ndarray.__setstate__`` trusts an
object array's shape and reads past the end of a shorter list of elements, and
``dtype.__setstate__`` accepts inconsistent field tables (both segmentation faults on
NumPy 2.4); calling ``ndarray(shape)`` or ``_reconstruct`` with a huge shape
allocates that much memory. So the table holds checked stand-ins: ``numpy.ndarray``
is a name that cannot be called; ``_reconstruct`` and ``numpy.dtype`` return pending
objects whose ``__setstate__`` checks the state (a plain dtype; element list or raw
bytes matching the shape exactly) and builds the NumPy object from the checked parts.
``load`` swaps each pending object for what it built. The stand-ins have no instance
dictionary, so a pickle cannot set attributes on them either.
"""

from __future__ import annotations

import math
import pickle
from collections.abc import Callable, Mapping
from typing import IO, Any, cast

import numpy as np

__all__ = ["ALLOWED_NUMPY", "RefusedPickleError", "RestrictedUnpickler", "safe_load"]

# The function NumPy's ndarray.__reduce__ names, taken from NumPy itself.
_numpy_reconstruct = cast(Callable[..., np.ndarray], np.zeros(0).__reduce__()[0])
#: The dtype kinds a pickled array may have: numbers, booleans, bytes, text, raw bytes
#: and Python objects (no datetimes, no structured or sub-array dtypes).
_DTYPE_KINDS = frozenset("biufcSUVO")


class RefusedPickleError(pickle.UnpicklingError):
    """A pickle asks for what the restricted unpickler does not allow: a global outside
    its table, or an array or dtype whose state is not a plain, consistent one. (Other
    ``pickle.UnpicklingError``\\ s mean a damaged stream.)"""


class _ArrayName:
    """Stands for ``numpy.ndarray``, which NumPy's pickles use only as
    ``_reconstruct``'s first argument; it cannot be called."""

    __slots__ = ()


class _PendingArray:
    """What ``_reconstruct`` hands the pickle: a slot that the pickle's BUILD opcode
    fills through ``__setstate__`` with NumPy's array state, checked first."""

    __slots__ = ("array",)

    def __init__(self) -> None:
        self.array: np.ndarray | None = None

    def __setstate__(self, state: object) -> None:
        if self.array is not None:
            raise RefusedPickleError("a pickle sets the state of one array twice.")
        self.array = _array_from_state(state)


class _PendingDtype:
    """What ``numpy.dtype(typestr, align, copy)`` hands the pickle: the plain dtype
    ``typestr`` names, whose byte order the state (BUILD) may then set."""

    __slots__ = ("dtype", "has_state")

    def __init__(self, dtype: np.dtype) -> None:
        self.dtype = dtype
        self.has_state = False

    def __setstate__(self, state: object) -> None:
        if self.has_state:
            raise RefusedPickleError("a pickle sets the state of one dtype twice.")
        self.has_state = True
        self.dtype = _dtype_from_state(self.dtype, state)


class _Reconstruct:
    """Stands for numpy's ``_reconstruct``: NumPy always writes
    ``_reconstruct(ndarray, (0,), b"b")``, an empty array whose shape, dtype and
    contents come with the state."""

    __slots__ = ()

    def __call__(self, subtype: object, shape: object, dtype: object) -> _PendingArray:
        if not isinstance(subtype, _ArrayName) or shape != (0,):
            raise RefusedPickleError(
                f"a pickle calls numpy's _reconstruct with ({subtype!r}, {shape!r:.80}); "
                "NumPy writes (numpy.ndarray, (0,)) and nothing else is allowed."
            )
        return _PendingArray()


class _Dtype:
    """Stands for ``numpy.dtype`` (called by a pickle as ``dtype(typestr, align,
    copy)``): only a type string naming a plain dtype, such as ``"u1"`` or ``"O8"``."""

    __slots__ = ()

    def __call__(self, typestr: object, align: object = False, copy: object = True):
        if isinstance(typestr, bytes):  # a Python 2 str under encoding="bytes"
            typestr = typestr.decode("latin-1")
        try:
            dtype = np.dtype(typestr) if isinstance(typestr, str) else None
        except TypeError:
            dtype = None
        if dtype is None or dtype.kind not in _DTYPE_KINDS or dtype.fields or dtype.subdtype:
            raise RefusedPickleError(
                f"a pickle asks for numpy.dtype({typestr!r:.40}); only plain dtypes "
                "(numbers, text, bytes, objects) are read."
            )
        return _PendingDtype(dtype)


def _dtype_from_state(dtype: np.dtype, state: object) -> np.dtype:
    """``dtype`` in the byte order ``state`` gives, once ``state`` is checked to be
    NumPy's (version 3) state of a plain dtype of that size."""
    if not isinstance(state, tuple) or len(state) != 8 or state[0] != 3:
        raise RefusedPickleError(f"a pickled dtype's state is not NumPy's: {state!r:.80}")
    byteorder, subarray, names, fields, itemsize = state[1:6]
    if isinstance(byteorder, bytes):
        byteorder = byteorder.decode("latin-1")
    if (
        byteorder not in ("<", ">", "|", "=")
        or (subarray, names, fields) != (None, None, None)
        or itemsize not in (-1, dtype.itemsize)
    ):
        raise RefusedPickleError(
            f"a pickled {dtype} has the state {state!r:.80}; only plain dtypes (no "
            "fields, no sub-arrays) of their own size are read."
        )
    # Through the type string, so that the native order reads "=" as NumPy's own does.
    return np.dtype(byteorder + dtype.str[1:]) if byteorder in "<>" else dtype


def _array_from_state(state: object) -> np.ndarray:
    """The array ``ndarray.__setstate__`` builds from ``state``, once the state is
    checked to describe exactly the data it carries."""
    if not isinstance(state, tuple) or len(state) not in (4, 5):
        raise RefusedPickleError(f"a pickled array's state is not NumPy's: {state!r:.80}")
    shape, dtype, fortran_order, data = state[-4:]
    if isinstance(dtype, _PendingDtype):
        dtype = dtype.dtype
    if not (
        isinstance(shape, tuple)
        and all(type(n) is int and n >= 0 for n in shape)
        and isinstance(dtype, np.dtype)
        and isinstance(fortran_order, bool)
    ):
        raise RefusedPickleError(
            f"a pickled array's state has shape {shape!r:.80}, dtype {dtype!r:.80} and "
            f"order {fortran_order!r:.20}; expected a tuple of sizes, a dtype and a bool."
        )
    count = math.prod(shape)
    if dtype.hasobject:
        # NumPy trusts the shape and reads `count` elements whatever the list's length,
        # so a short list would make it read past the list's end.
        if not isinstance(data, list) or len(data) != count:
            length = len(data) if isinstance(data, list) else type(data).__name__
            raise RefusedPickleError(
                f"a pickled object array of shape {shape} comes with {length} elements; "
                f"it needs a list of exactly {count}."
            )
        # Arrays stored as elements (a ragged array of arrays) were built before it.
        data = [_built(item) for item in data]
    else:
        # Bytes, or a Python 2 string decoded as latin-1 (one character per byte).
        size = len(data) if isinstance(data, (bytes, str)) else type(data).__name__
        if size != count * dtype.itemsize:
            raise RefusedPickleError(
                f"a pickled {dtype} array of shape {shape} needs {count * dtype.itemsize} "
                f"bytes but comes with {size}."
            )
    array = _numpy_reconstruct(np.ndarray, (0,), b"b")
    # NumPy wants a Python bool for the order (its stubs say numpy.bool, which it refuses).
    checked: Any = (1, shape, dtype, fortran_order, data)
    array.__setstate__(checked)
    return array


def _built(value: object) -> object:
    """What a pending array or dtype built; anything else as it is."""
    if isinstance(value, _PendingArray):
        if value.array is None:
            raise RefusedPickleError("a pickle uses an array before giving its state.")
        return value.array
    if isinstance(value, _PendingDtype):
        return value.dtype
    return value


def _resolve(value: object, seen: set[int]) -> object:
    """``value`` with each pending object in it replaced by what it built, inside
    dicts (their values), lists and tuples at any depth: dicts and lists are changed in
    place, tuples rebuilt. Arrays are not entered (an object array's own elements were
    resolved when it was built)."""
    if isinstance(value, tuple):
        items = [_resolve(item, seen) for item in value]
        changed = any(new is not old for new, old in zip(items, value))
        return tuple(items) if changed else value
    if isinstance(value, dict) and id(value) not in seen:
        seen.add(id(value))
        for key, item in list(value.items()):
            value[key] = _resolve(item, seen)
    elif isinstance(value, list) and id(value) not in seen:
        seen.add(id(value))  # a list may hold itself
        for index, item in enumerate(value):
            value[index] = _resolve(item, seen)
    return _built(value)


#: The globals a pickled NumPy array (protocol 0 to 5, in band) names: the array
#: rebuilder, under its NumPy 1 (``numpy.core``) and NumPy 2 (``numpy._core``) module
#: names, the class it rebuilds and ``numpy.dtype``, each as its checked stand-in.
#: States are set by ``__setstate__``, which is not looked up through ``find_class``.
ALLOWED_NUMPY: Mapping[tuple[str, str], object] = {
    ("numpy.core.multiarray", "_reconstruct"): _Reconstruct(),
    ("numpy._core.multiarray", "_reconstruct"): _Reconstruct(),
    ("numpy", "ndarray"): _ArrayName(),
    ("numpy", "dtype"): _Dtype(),
}


class RestrictedUnpickler(pickle.Unpickler):
    """A ``pickle.Unpickler`` whose globals come only from ``allowed`` (default
    ``ALLOWED_NUMPY``); any other ``module.name`` raises ``RefusedPickleError``, and so
    does an array state that does not match its shape and dtype. ``load`` returns the
    object with NumPy arrays in place of the checked stand-ins.

    Args:
        file: a binary file open for reading.
        allowed: ``(module, name) -> object``, the only globals the pickle may name.
        encoding: how Python 2 ``str`` objects are decoded (``"bytes"``: kept as bytes,
            as the CIFAR batches need).
        source: what to call the file in error messages (for example its path).
    """

    def __init__(
        self,
        file: IO[bytes],
        *,
        allowed: Mapping[tuple[str, str], object] = ALLOWED_NUMPY,
        encoding: str = "bytes",
        source: str = "",
    ) -> None:
        super().__init__(file, encoding=encoding)
        self._allowed = dict(allowed)
        self._source = source

    def find_class(self, module: str, name: str) -> object:
        try:
            return self._allowed[(module, name)]
        except KeyError:
            where = f" ({self._source})" if self._source else ""
            allowed = ", ".join(sorted(f"{m}.{n}" for m, n in self._allowed))
            raise RefusedPickleError(
                f"refusing to load {module}.{name} from a pickle{where}: only {allowed} "
                "may be loaded, because unpickling anything else can run code. The "
                "file is not the expected data set file; delete it and download it again."
            ) from None

    def load(self) -> object:
        try:
            return _resolve(super().load(), set())
        except RefusedPickleError as error:
            if self._source and self._source not in str(error):
                raise RefusedPickleError(f"{error} ({self._source})") from None
            raise
        except RecursionError:
            raise RefusedPickleError(
                f"a pickle ({self._source or 'stream'}) nests containers too deeply to "
                "be a data set file."
            ) from None

    def persistent_load(self, pid: object) -> object:
        raise RefusedPickleError(
            f"refusing a persistent id in a pickle ({self._source or 'stream'}): "
            "data set files have none."
        )


def safe_load(
    file: IO[bytes],
    *,
    allowed: Mapping[tuple[str, str], object] = ALLOWED_NUMPY,
    encoding: str = "bytes",
    source: str = "",
) -> object:
    """Unpickle one object from ``file`` with ``RestrictedUnpickler``."""
    return RestrictedUnpickler(file, allowed=allowed, encoding=encoding, source=source).load()
