"""Data types and type promotion.

nerve names dtypes by strings, as Keras 3 does (``"float32"``, ``"int8"``, ...).
Promotion follows the JAX / Keras 3 lattice: a binary op's result type is the
least upper bound of its operands' types, and Python scalars are *weakly typed*:
they take the type of the tensor they meet instead of widening it.

>>> result_type("float32", "float64")
'float64'
>>> result_type("int8", "uint8")
'int16'
>>> result_type("float32", float)       # a Python float is weak
'float32'
>>> result_type("int32", float)         # ... but an int tensor meeting a float becomes floatx
'float32'
>>> result_type("bfloat16", "float16")
'float32'
>>> result_type("float64", "complex64")  # complex joins the lattice above the floats
'complex128'
>>> result_type("uint32", "int8")        # JAX's 32-bit mode: no 64 bits from 32-bit inputs
'int32'
"""

from __future__ import annotations

import functools
from typing import Any

from nerve.core import config

__all__ = [
    "ALL_TYPES",
    "COMPLEX_TYPES",
    "FLOAT_TYPES",
    "INT_TYPES",
    "bfloat16",
    "bool_",
    "complex64",
    "complex128",
    "complex_dtype",
    "default_dtype_of_scalar",
    "float16",
    "float32",
    "float64",
    "int8",
    "int16",
    "int32",
    "int64",
    "is_complex",
    "is_differentiable",
    "is_float",
    "is_int",
    "itemsize",
    "real_dtype",
    "result_type",
    "standardize_dtype",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "weak_type_of",
]

bool_ = "bool"
uint8 = "uint8"
uint16 = "uint16"
uint32 = "uint32"
uint64 = "uint64"
int8 = "int8"
int16 = "int16"
int32 = "int32"
int64 = "int64"
bfloat16 = "bfloat16"
float16 = "float16"
float32 = "float32"
float64 = "float64"
complex64 = "complex64"
complex128 = "complex128"

FLOAT_TYPES = ("bfloat16", "float16", "float32", "float64")
INT_TYPES = ("uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64")
COMPLEX_TYPES = ("complex64", "complex128")
ALL_TYPES = ("bool", *INT_TYPES, *FLOAT_TYPES, *COMPLEX_TYPES)

# Weak types stand for Python scalars in promotion.
_WEAK_INT = "int"
_WEAK_FLOAT = "float"
_WEAK_COMPLEX = "complex"

# Each type's direct supertypes in the promotion lattice (JAX's, restricted to
# the types nerve supports).
_LATTICE_UP = {
    "bool": (_WEAK_INT,),
    _WEAK_INT: ("uint8", "int8"),
    "uint8": ("int16", "uint16"),
    "uint16": ("int32", "uint32"),
    "uint32": ("int64", "uint64"),
    "uint64": (_WEAK_FLOAT,),
    "int8": ("int16",),
    "int16": ("int32",),
    "int32": ("int64",),
    "int64": (_WEAK_FLOAT,),
    _WEAK_FLOAT: ("bfloat16", "float16", _WEAK_COMPLEX),
    "bfloat16": ("float32",),
    "float16": ("float32",),
    "float32": ("float64", "complex64"),
    "float64": ("complex128",),
    _WEAK_COMPLEX: ("complex64",),
    "complex64": ("complex128",),
    "complex128": (),
}


def _ancestors(t: str) -> frozenset:
    seen = {t}
    stack = [t]
    while stack:
        for up in _LATTICE_UP[stack.pop()]:
            if up not in seen:
                seen.add(up)
                stack.append(up)
    return frozenset(seen)


_ANCESTORS = {t: _ancestors(t) for t in _LATTICE_UP}
_ORDER = {t: i for i, t in enumerate(_LATTICE_UP)}  # a topological order

_PYTHON_TYPES = {bool: "bool", int: "int32", float: "float32", complex: "complex64"}


_NAMES_BY_DTYPE: dict[Any, str] = {}


def standardize_dtype(dtype: Any) -> str:
    """Return nerve's name for ``dtype`` (a string, a Python type, or any object
    with a ``name`` such as a NumPy dtype).

    >>> standardize_dtype(float)
    'float32'
    >>> standardize_dtype("float")
    'float32'
    """
    if dtype is None:
        return config.floatx()
    if isinstance(dtype, str):
        name = dtype
    elif dtype in _PYTHON_TYPES:
        if dtype is float:
            return config.floatx()
        return complex_dtype(config.floatx()) if dtype is complex else _PYTHON_TYPES[dtype]
    else:
        # Array dtypes come through here on every compiled call: remember their names
        # (a NumPy dtype's ``.name`` is computed in Python each time).
        hashable = getattr(type(dtype), "__hash__", None) is not None
        known = _NAMES_BY_DTYPE.get(dtype) if hashable else None
        if known is not None:
            return known
        name = getattr(dtype, "name", None) or getattr(dtype, "__name__", None) or str(dtype)
        if hashable and name in ALL_TYPES and len(_NAMES_BY_DTYPE) < 256:
            _NAMES_BY_DTYPE[dtype] = name
    if name == "float":
        return config.floatx()
    if name == "int":
        return "int32"
    if name in ALL_TYPES:
        return name
    raise TypeError(f"Unsupported dtype {dtype!r}. nerve supports: {', '.join(ALL_TYPES)}.")


def is_float(dtype: str) -> bool:
    """Whether ``dtype`` is a floating-point type."""
    return dtype in FLOAT_TYPES


def is_int(dtype: str) -> bool:
    """Whether ``dtype`` is a (signed or unsigned) integer type."""
    return dtype in INT_TYPES


def is_complex(dtype: str) -> bool:
    """Whether ``dtype`` is a complex type."""
    return dtype in COMPLEX_TYPES


def real_dtype(dtype: str) -> str:
    """The dtype of the real and imaginary parts of ``dtype`` (``dtype`` itself when
    it is not complex).

    >>> real_dtype("complex64"), real_dtype("float16")
    ('float32', 'float16')
    """
    return _REAL_OF_COMPLEX.get(dtype, dtype)


def itemsize(dtype: str) -> int:
    """Bytes per element of ``dtype``.

    >>> itemsize("bfloat16"), itemsize("complex128"), itemsize("bool")
    (2, 16, 1)
    """
    if dtype == "bool":
        return 1
    if dtype not in ALL_TYPES:
        raise TypeError(f"Unsupported dtype {dtype!r}. nerve supports: {', '.join(ALL_TYPES)}.")
    return int("".join(c for c in dtype if c.isdigit())) // 8


def complex_dtype(dtype: str) -> str:
    """The complex type whose parts have ``dtype``'s precision: complex128 for float64
    (and complex128), complex64 otherwise."""
    return "complex128" if dtype in ("float64", "complex128") else "complex64"


_REAL_OF_COMPLEX = {"complex64": "float32", "complex128": "float64"}


def is_differentiable(dtype: str) -> bool:
    """Floating-point and complex values carry gradients (a complex cotangent follows
    JAX's convention: for a real loss L of z = a + ib it is dL/da - i dL/db)."""
    return dtype in FLOAT_TYPES or dtype in COMPLEX_TYPES


@functools.lru_cache(maxsize=1024)
def _join(a: str, b: str) -> str:
    common = _ANCESTORS[a] & _ANCESTORS[b]
    return min(common, key=_ORDER.__getitem__)


def weak_type_of(value: Any) -> str | None:
    """The weak type of a Python scalar (``"int"``/``"float"``), else ``None``."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return _WEAK_INT
    if isinstance(value, float):
        return _WEAK_FLOAT
    if isinstance(value, complex):
        return _WEAK_COMPLEX
    return None


def result_type(*types: Any) -> str:
    """The promoted type of ``types``: dtype names, or Python ``int``/``float``/``bool``
    (the type objects themselves) for weakly-typed scalars."""
    if not types:
        raise ValueError("result_type() needs at least one dtype.")
    names = []
    for t in types:
        if t is int:
            names.append(_WEAK_INT)
        elif t is float:
            names.append(_WEAK_FLOAT)
        elif t is complex:
            names.append(_WEAK_COMPLEX)
        elif t is bool:
            names.append("bool")
        else:
            names.append(standardize_dtype(t))
    out = names[0]
    for n in names[1:]:
        out = _join(out, n)
    if out == "int64" and "int64" not in names and "uint64" not in names:
        # uint32 with a signed type joins at int64; JAX in its default 32-bit mode (the
        # reference of Keras's dtype rules) narrows that to int32: promotion never
        # widens into 64 bits unless an operand is 64-bit.
        return "int32"
    if out == _WEAK_INT:
        return "int32"
    if out == _WEAK_FLOAT:
        return config.floatx()
    if out == _WEAK_COMPLEX:
        return complex_dtype(config.floatx())
    return out


def default_dtype_of_scalar(value: Any) -> str:
    """The dtype a Python scalar gets on its own: bool, int32 or floatx."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int32"
    if isinstance(value, float):
        return config.floatx()
    if isinstance(value, complex):
        return complex_dtype(config.floatx())
    raise TypeError(f"Cannot convert {type(value).__name__} {value!r} to a tensor.")
