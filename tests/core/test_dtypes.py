"""Type promotion against JAX's lattice (what Keras 3 follows), weak scalars, floatx."""

import itertools

import numpy as np
import pytest

import nerve
from nerve import ops
from nerve.core import config, dtypes

# JAX's binary promotion table (https://jax.readthedocs.io/en/latest/type_promotion.html),
# restricted to nerve's dtypes and written out by hand so the test does not reuse
# nerve's lattice code. Abbreviations as in the JAX docs.
NAMES = {
    "b1": "bool", "u1": "uint8", "u2": "uint16", "u4": "uint32", "u8": "uint64", "i1": "int8",
    "i2": "int16", "i4": "int32", "i8": "int64", "bf": "bfloat16", "f2": "float16",
    "f4": "float32", "f8": "float64",
}  # fmt: skip
# u8 (uint64) with a signed type leaves the integers: JAX gives a float (floatx here).
# u4 (uint32) with a signed type of at most 32 bits is i8 in JAX's 64-bit mode, and i4 in
# its default 32-bit mode, which Keras's dtype tests follow (and nerve with them).
TABLE = """
    b1 u1 u2 u4 u8 i1 i2 i4 i8 bf f2 f4 f8
b1  b1 u1 u2 u4 u8 i1 i2 i4 i8 bf f2 f4 f8
u1  u1 u1 u2 u4 u8 i2 i2 i4 i8 bf f2 f4 f8
u2  u2 u2 u2 u4 u8 i4 i4 i4 i8 bf f2 f4 f8
u4  u4 u4 u4 u4 u8 i4 i4 i4 i8 bf f2 f4 f8
u8  u8 u8 u8 u8 u8 f4 f4 f4 f4 bf f2 f4 f8
i1  i1 i2 i4 i4 f4 i1 i2 i4 i8 bf f2 f4 f8
i2  i2 i2 i4 i4 f4 i2 i2 i4 i8 bf f2 f4 f8
i4  i4 i4 i4 i4 f4 i4 i4 i4 i8 bf f2 f4 f8
i8  i8 i8 i8 i8 f4 i8 i8 i8 i8 bf f2 f4 f8
bf  bf bf bf bf bf bf bf bf bf bf f4 f4 f8
f2  f2 f2 f2 f2 f2 f2 f2 f2 f2 f4 f2 f4 f8
f4  f4 f4 f4 f4 f4 f4 f4 f4 f4 f4 f4 f4 f8
f8  f8 f8 f8 f8 f8 f8 f8 f8 f8 f8 f8 f8 f8
"""


def _table():
    header, *rows = TABLE.strip().splitlines()
    columns = header.split()
    out = {}
    for row in rows:
        first, *cells = row.split()
        for column, cell in zip(columns, cells):
            out[NAMES[first], NAMES[column]] = NAMES[cell]
    return out


EXPECTED = _table()


def test_table_is_complete_and_symmetric():
    assert len(EXPECTED) == len(NAMES) ** 2
    for (a, b), c in EXPECTED.items():
        assert EXPECTED[b, a] == c


@pytest.mark.parametrize("a,b", sorted(EXPECTED))
def test_promotion_table(a, b):
    assert dtypes.result_type(a, b) == EXPECTED[a, b]


@pytest.mark.parametrize("a,b,c", [("uint8", "int8", "bfloat16"), ("bool", "int16", "float16")])
def test_promotion_is_associative(a, b, c):
    left = dtypes.result_type(dtypes.result_type(a, b), c)
    right = dtypes.result_type(a, dtypes.result_type(b, c))
    assert left == right == dtypes.result_type(a, b, c)


def test_promotion_of_all_triples_is_order_independent():
    for triple in itertools.product(dtypes.ALL_TYPES, repeat=3):
        results = {dtypes.result_type(*p) for p in itertools.permutations(triple)}
        assert len(results) == 1, triple


@pytest.mark.parametrize("a,b", [("int8", "uint8"), ("int32", "float16"), ("bool", "int64")])
def test_tensor_operators_follow_the_table(a, b):
    x, y = ops.ones((2,), dtype=a), ops.ones((2,), dtype=b)
    assert (x + y).dtype == EXPECTED[a, b]
    assert (y - x).dtype == EXPECTED[a, b]


# -- weak Python scalars ---------------------------------------------------------------

# Python int/float are weak: they adopt the tensor's type unless their kind is higher
# (a float meeting an int or bool tensor gives floatx). Weak int with bool gives int32.
WEAK = [
    ("bool", bool, "bool"),
    ("bool", int, "int32"),
    ("bool", float, "float32"),
    ("uint8", int, "uint8"),
    ("int8", int, "int8"),
    ("int16", int, "int16"),
    ("int64", int, "int64"),
    ("uint8", float, "float32"),
    ("int64", float, "float32"),
    ("bfloat16", int, "bfloat16"),
    ("bfloat16", float, "bfloat16"),
    ("float16", float, "float16"),
    ("float16", int, "float16"),
    ("float64", float, "float64"),
    ("float64", int, "float64"),
]


@pytest.mark.parametrize("dtype,scalar,expected", WEAK)
def test_weak_scalars(dtype, scalar, expected):
    assert dtypes.result_type(dtype, scalar) == expected
    assert dtypes.result_type(scalar, dtype) == expected


def test_weak_scalars_alone():
    assert dtypes.result_type(int) == "int32"
    assert dtypes.result_type(float) == "float32"
    assert dtypes.result_type(int, float) == "float32"
    assert dtypes.result_type(int, int) == "int32"
    assert dtypes.result_type(bool, int) == "int32"


# -- complex ------------------------------------------------------------------------------

# JAX's table (with 64-bit types enabled) for the complex rows: complex64 sits above
# float32 and the weak float, complex128 above float64 and complex64; a Python complex
# is weak and resolves to the complex type of floatx's precision.
COMPLEX = [
    ("complex64", "bool", "complex64"),
    ("complex64", "uint8", "complex64"),
    ("complex64", "int64", "complex64"),
    ("complex64", "bfloat16", "complex64"),
    ("complex64", "float16", "complex64"),
    ("complex64", "float32", "complex64"),
    ("complex64", "float64", "complex128"),
    ("complex64", "complex128", "complex128"),
    ("complex128", "float32", "complex128"),
    ("complex64", int, "complex64"),
    ("complex64", float, "complex64"),
    ("complex128", float, "complex128"),
    ("float32", complex, "complex64"),
    ("float16", complex, "complex64"),
    ("float64", complex, "complex128"),
    ("int32", complex, "complex64"),
]


@pytest.mark.parametrize("a,b,expected", COMPLEX)
def test_complex_promotion(a, b, expected):
    assert dtypes.result_type(a, b) == expected
    assert dtypes.result_type(b, a) == expected


def test_complex_tensors_promote_in_arithmetic():
    z = ops.convert_to_tensor(np.array([1 + 2j], np.complex64))
    assert (z + ops.ones((1,), dtype="float64")).dtype == "complex128"
    assert (z * 2.5).dtype == "complex64"
    assert (ops.ones((1,)) * 1j).dtype == "complex64"
    np.testing.assert_allclose((z * z).numpy(), [-3 + 4j])


@pytest.mark.parametrize(
    "dtype,scalar", [("int8", 3), ("uint8", 7), ("float16", 2.5), ("int16", 2.5), ("bool", 1)]
)
def test_weak_scalars_in_tensor_arithmetic(dtype, scalar):
    x = ops.ones((2,), dtype=dtype)
    expected = dtypes.result_type(dtype, type(scalar))
    assert (x * scalar).dtype == expected
    assert (scalar + x).dtype == expected


def test_result_type_needs_an_argument():
    with pytest.raises(ValueError, match="at least one"):
        dtypes.result_type()


# -- standardize_dtype ---------------------------------------------------------------


@pytest.mark.parametrize(
    "given,expected",
    [
        ("float32", "float32"),
        ("float", "float32"),
        ("int", "int32"),
        (float, "float32"),
        (int, "int32"),
        (bool, "bool"),
        (None, "float32"),
        (np.float16, "float16"),
        (np.dtype("int8"), "int8"),
        (np.dtype(np.uint8), "uint8"),
        (np.bool_, "bool"),
        ("bfloat16", "bfloat16"),
    ],
)
def test_standardize_dtype(given, expected):
    assert nerve.standardize_dtype(given) == expected


def test_standardize_dtype_of_torch_dtype():
    torch = pytest.importorskip("torch")
    # torch dtypes have no .name; their str is "torch.float32".
    try:
        got = nerve.standardize_dtype(torch.float32)
    except TypeError as error:
        assert "Unsupported dtype torch.float32" in str(error)
    else:
        assert got == "float32"


@pytest.mark.parametrize("bad", ["float128", "complex256", "string", object])
def test_standardize_dtype_rejects_unknown(bad):
    with pytest.raises(TypeError, match=r"Unsupported dtype .*nerve supports: bool, uint8"):
        nerve.standardize_dtype(bad)


# -- floatx ---------------------------------------------------------------------------


def test_floatx_scope_changes_defaults_and_restores():
    assert config.floatx() == "float32"
    with config.floatx_scope("float64"):
        assert config.floatx() == "float64"
        assert nerve.standardize_dtype(float) == "float64"
        assert nerve.standardize_dtype(None) == "float64"
        assert dtypes.result_type("int32", float) == "float64"
        assert dtypes.result_type("float16", float) == "float16"  # weak stays weak
        assert ops.convert_to_tensor(1.0).dtype == "float64"
        assert ops.convert_to_tensor([1.0, 2]).dtype == "float64"
        assert ops.convert_to_tensor([1, 2]).dtype == "int32"
        assert ops.sqrt(ops.convert_to_tensor([4])).dtype == "float64"  # int -> floatx
    assert config.floatx() == "float32"
    assert ops.convert_to_tensor(1.0).dtype == "float32"


def test_floatx_scope_restores_after_an_exception():
    with pytest.raises(RuntimeError), config.floatx_scope("float16"):
        raise RuntimeError
    assert config.floatx() == "float32"


def test_floatx_rejects_non_float():
    with pytest.raises(ValueError, match="floatx must be one of"), config.floatx_scope("int32"):
        pass


def test_predicates():
    assert all(dtypes.is_float(d) for d in dtypes.FLOAT_TYPES)
    assert not any(dtypes.is_float(d) for d in ("bool", *dtypes.INT_TYPES))
    assert all(dtypes.is_int(d) for d in dtypes.INT_TYPES)
    assert not dtypes.is_int("bool")
    assert [d for d in dtypes.ALL_TYPES if dtypes.is_differentiable(d)] == [
        *dtypes.FLOAT_TYPES,
        *dtypes.COMPLEX_TYPES,
    ]
    assert [d for d in dtypes.ALL_TYPES if dtypes.is_complex(d)] == list(dtypes.COMPLEX_TYPES)
