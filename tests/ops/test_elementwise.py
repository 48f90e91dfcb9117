"""Elementwise ops: one row per op; the harness does the checking."""

import dataclasses
import math

import numpy as np
import pytest

import nerve
from nerve import ops
from nerve.core.errors import DTypeError
from nerve.testing.op_harness import Input, OpCase, T, op_tests

UNARY = [
    (Input((3, 4)),),
    (Input((0, 3)),),
    (Input((1,)),),
    (Input(()),),
    (Input((2, 1, 3)),),
]
BINARY = [
    (Input((3, 4)), Input((3, 4))),
    (Input((2, 1, 4)), Input((3, 1))),  # broadcasting on both sides
    (Input((4,)), Input(())),
    (Input((0, 2)), Input((1, 2))),
]


def unary(name, fn, numpy, torch, kind="float", low=-2.0, high=2.0, grad2=True, **kw):
    variants = [tuple(Input(s.shape, kind, low, high) for s in v) for v in UNARY]
    return OpCase(name, fn, variants, numpy=numpy, torch=torch, grad2=grad2, **kw)


def binary(name, fn, numpy, torch, kinds=("float", "float"), grad2=True, **kw):
    variants = [tuple(Input(s.shape, k, s.low, s.high) for s, k in zip(v, kinds)) for v in BINARY]
    return OpCase(name, fn, variants, numpy=numpy, torch=torch, grad2=grad2, **kw)


def _np_erf(x):
    return np.vectorize(math.erf, otypes=[np.float64])(x) if np.size(x) else np.zeros_like(x)


def _np_erfc(x):
    return np.vectorize(math.erfc, otypes=[np.float64])(x) if np.size(x) else np.zeros_like(x)


def _np_erfinv(y):
    """Inverse of erf by bisection (independent of the kernel's method)."""
    lo, hi = np.full(np.shape(y), -6.0), np.full(np.shape(y), 6.0)
    for _ in range(100):
        mid = (lo + hi) / 2
        below = _np_erf(mid) < y
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    return (lo + hi) / 2


@dataclasses.dataclass(frozen=True)
class Zeros(Input):
    """All entries exactly zero (for ops with a special case there)."""

    def generate(self, rng, float_dtype):
        return np.zeros(self.shape, self.dtype or float_dtype)


def _specials(x):
    """nan where |x| < 0.3, +-inf where |x| > 1.5 (nerve)."""
    x = ops.where(x > 1.5, math.inf, ops.where(x < -1.5, -math.inf, x))
    return ops.where(ops.abs(x) < 0.3, math.nan, x)


def _np_specials(x):
    x = np.where(x > 1.5, np.inf, np.where(x < -1.5, -np.inf, x))
    return np.where(np.abs(x) < 0.3, np.nan, x)


def _torch_specials(x):
    x = T.where(x > 1.5, math.inf, T.where(x < -1.5, -math.inf, x))
    return T.where(x.abs() < 0.3, math.nan, x)


def _near(x, y):
    """A second operand within about 2e-3 of ``x``: some pairs close, some not."""
    return x + y * 1e-3


CASES = [
    unary("negative", ops.negative, np.negative, lambda x: -x),
    unary("abs", ops.abs, np.abs, lambda x: T.abs(x)),
    unary("sign", ops.sign, np.sign, lambda x: T.sign(x), grad2=False),
    unary("exp", ops.exp, np.exp, lambda x: T.exp(x)),
    unary("expm1", ops.expm1, np.expm1, lambda x: T.expm1(x)),
    unary("log", ops.log, np.log, lambda x: T.log(x), kind="positive"),
    unary("log1p", ops.log1p, np.log1p, lambda x: T.log1p(x), kind="positive"),
    unary("log2", ops.log2, np.log2, lambda x: T.log2(x), kind="positive"),
    unary("log10", ops.log10, np.log10, lambda x: T.log10(x), kind="positive"),
    unary("sqrt", ops.sqrt, np.sqrt, lambda x: T.sqrt(x), kind="positive"),
    unary("rsqrt", ops.rsqrt, lambda x: 1 / np.sqrt(x), lambda x: T.rsqrt(x), kind="positive"),
    unary("square", ops.square, np.square, lambda x: T.square(x)),
    unary("reciprocal", ops.reciprocal, np.reciprocal, lambda x: T.reciprocal(x), kind="positive"),
    unary("sin", ops.sin, np.sin, lambda x: T.sin(x)),
    unary("cos", ops.cos, np.cos, lambda x: T.cos(x)),
    unary("tan", ops.tan, np.tan, lambda x: T.tan(x), low=-1.2, high=1.2),
    unary("arcsin", ops.arcsin, np.arcsin, lambda x: T.asin(x), low=-0.9, high=0.9),
    unary("arccos", ops.arccos, np.arccos, lambda x: T.acos(x), low=-0.9, high=0.9),
    unary("arctan", ops.arctan, np.arctan, lambda x: T.atan(x)),
    unary("sinh", ops.sinh, np.sinh, lambda x: T.sinh(x)),
    unary("cosh", ops.cosh, np.cosh, lambda x: T.cosh(x)),
    unary("tanh", ops.tanh, np.tanh, lambda x: T.tanh(x)),
    unary("arcsinh", ops.arcsinh, np.arcsinh, lambda x: T.asinh(x)),
    unary("arccosh", ops.arccosh, np.arccosh, lambda x: T.acosh(x), low=1.2, high=3.0),
    unary("arctanh", ops.arctanh, np.arctanh, lambda x: T.atanh(x), low=-0.9, high=0.9),
    unary("erf", ops.erf, _np_erf, lambda x: T.erf(x)),
    unary("erfc", ops.erfc, _np_erfc, lambda x: T.erfc(x), low=-1.0, high=4.0),
    unary("sigmoid", ops.sigmoid, lambda x: 1 / (1 + np.exp(-x)), lambda x: T.sigmoid(x)),
    unary(
        "softplus",
        ops.softplus,
        lambda x: np.log1p(np.exp(x)),
        lambda x: T.nn.functional.softplus(x),
    ),
    unary("floor", ops.floor, np.floor, lambda x: T.floor(x), low=-5, high=5, grad2=False),
    unary("ceil", ops.ceil, np.ceil, lambda x: T.ceil(x), low=-5, high=5, grad2=False),
    unary("round", ops.round, np.round, lambda x: T.round(x), low=-5, high=5, grad2=False),
    unary(
        "round_decimals",
        lambda x: ops.round(x, 1),
        lambda x: np.round(x, 1),
        lambda x: T.round(x, decimals=1),
        low=-5,
        high=5,
        grad2=False,
    ),
    unary("isnan", ops.isnan, np.isnan, lambda x: T.isnan(x), grad=False),
    unary("isinf", ops.isinf, np.isinf, lambda x: T.isinf(x), grad=False),
    unary("isfinite", ops.isfinite, np.isfinite, lambda x: T.isfinite(x), grad=False),
    unary(
        "logical_not",
        ops.logical_not,
        np.logical_not,
        lambda x: T.logical_not(x),
        kind="bool",
        grad=False,
    ),
    unary(
        "clip",
        lambda x: ops.clip(x, -1.0, 0.5),
        lambda x: np.clip(x, -1.0, 0.5),
        lambda x: T.clamp(x, -1.0, 0.5),
    ),
    binary("add", ops.add, np.add, lambda x, y: x + y),
    binary("subtract", ops.subtract, np.subtract, lambda x, y: x - y),
    binary("multiply", ops.multiply, np.multiply, lambda x, y: x * y),
    binary("divide", ops.divide, np.divide, lambda x, y: x / y, kinds=("float", "positive")),
    binary(
        "floor_divide",
        ops.floor_divide,
        np.floor_divide,
        lambda x, y: T.floor_divide(x, y),
        kinds=("float", "positive"),
        grad2=False,
        torch_grad=False,
    ),
    binary(
        "mod",
        ops.mod,
        np.mod,
        lambda x, y: T.remainder(x, y),
        kinds=("float", "positive"),
        grad2=False,
    ),
    binary("power", ops.power, np.power, lambda x, y: T.pow(x, y), kinds=("positive", "float")),
    binary("maximum", ops.maximum, np.maximum, lambda x, y: T.maximum(x, y)),
    binary("minimum", ops.minimum, np.minimum, lambda x, y: T.minimum(x, y)),
    binary("arctan2", ops.arctan2, np.arctan2, lambda x, y: T.atan2(x, y)),
    binary(
        "equal",
        lambda x, y: ops.equal(ops.round(x), ops.round(y)),
        lambda x, y: np.equal(np.round(x), np.round(y)),
        lambda x, y: T.eq(T.round(x), T.round(y)),
        grad=False,
    ),
    binary(
        "not_equal",
        lambda x, y: ops.not_equal(ops.round(x), ops.round(y)),
        lambda x, y: np.not_equal(np.round(x), np.round(y)),
        lambda x, y: T.ne(T.round(x), T.round(y)),
        grad=False,
    ),
    binary("less", ops.less, np.less, lambda x, y: x < y, grad=False),
    binary("less_equal", ops.less_equal, np.less_equal, lambda x, y: x <= y, grad=False),
    binary("greater", ops.greater, np.greater, lambda x, y: x > y, grad=False),
    binary("greater_equal", ops.greater_equal, np.greater_equal, lambda x, y: x >= y, grad=False),
    binary(
        "logical_and",
        ops.logical_and,
        np.logical_and,
        lambda x, y: T.logical_and(x, y),
        kinds=("bool", "bool"),
        grad=False,
    ),
    binary(
        "logical_or",
        ops.logical_or,
        np.logical_or,
        lambda x, y: T.logical_or(x, y),
        kinds=("bool", "bool"),
        grad=False,
    ),
    binary(
        "logical_xor",
        ops.logical_xor,
        np.logical_xor,
        lambda x, y: T.logical_xor(x, y),
        kinds=("bool", "bool"),
        grad=False,
    ),
    unary("exp2", ops.exp2, np.exp2, lambda x: T.exp2(x)),
    unary("erfinv", ops.erfinv, _np_erfinv, lambda x: T.erfinv(x), low=-0.9, high=0.9),
    unary("sinc", ops.sinc, np.sinc, lambda x: T.sinc(x)),
    OpCase(
        "sinc_at_zero",
        ops.sinc,
        [(Zeros((3,)),)],
        numpy=np.sinc,
        torch=lambda x: T.sinc(x),
    ),
    unary("signbit", ops.signbit, np.signbit, lambda x: T.signbit(x), grad=False),
    unary(
        "nan_to_num",
        lambda x: ops.nan_to_num(_specials(x), nan=1.5, posinf=7.0, neginf=-3.0),
        lambda x: np.nan_to_num(_np_specials(x), nan=1.5, posinf=7.0, neginf=-3.0),
        lambda x: T.nan_to_num(_torch_specials(x), nan=1.5, posinf=7.0, neginf=-3.0),
    ),
    unary(
        "nan_to_num_defaults",
        lambda x: ops.nan_to_num(_specials(x)),
        lambda x: np.nan_to_num(_np_specials(x)),
        lambda x: T.nan_to_num(_torch_specials(x)),
        grad=False,  # the float64 extremes overflow the finite-difference objective
        dtypes=("float64",),  # the reference's float64 extremes overflow other dtypes
    ),
    binary("logaddexp", ops.logaddexp, np.logaddexp, lambda x, y: T.logaddexp(x, y)),
    binary("hypot", ops.hypot, np.hypot, lambda x, y: T.hypot(x, y)),
    binary("copysign", ops.copysign, np.copysign, lambda x, y: T.copysign(x, y)),
    binary(
        "heaviside",
        lambda x, y: ops.heaviside(ops.round(x), y),
        lambda x, y: np.heaviside(np.round(x), y),
        lambda x, y: T.heaviside(T.round(x), y),
        torch_grad=False,  # torch has no heaviside derivative
    ),
    binary(
        "isclose",
        lambda x, y: ops.isclose(x, _near(x, y), rtol=1e-3, atol=1e-4),
        lambda x, y: np.isclose(x, _near(x, y), rtol=1e-3, atol=1e-4),
        lambda x, y: T.isclose(x, _near(x, y), rtol=1e-3, atol=1e-4),
        grad=False,
        dtypes=("float64",),
    ),
    *(
        binary(
            f"{name}_{kind}",
            getattr(ops, name),
            getattr(np, name),
            getattr(T, name),
            kinds=(kind, kind),
            grad=False,
            dtypes=("float32",),
        )
        for name in ("bitwise_and", "bitwise_or", "bitwise_xor")
        for kind in ("int", "bool")
    ),
    unary(
        "bitwise_not",
        ops.bitwise_not,
        np.invert,
        lambda x: T.bitwise_not(x),
        kind="int",
        low=-50,
        high=50,
        grad=False,
        dtypes=("float32",),
    ),
    *(
        OpCase(
            name,
            getattr(ops, name),
            [
                (Input((3, 4), "int", -50, 50), Input((3, 4), "int", 0, 6)),
                (Input((2, 1, 4), "int", -50, 50), Input((3, 1), "int", 0, 6)),
                (Input((0, 2), "int", 0, 9), Input((), "int", 0, 6)),
            ],
            numpy=getattr(np, name),
            torch=getattr(T, f"bitwise_{name}"),
            grad=False,
            dtypes=("float32",),
        )
        for name in ("left_shift", "right_shift")
    ),
    OpCase(
        "where",
        ops.where,
        [
            (Input((3, 4), "bool"), Input((3, 4)), Input((3, 4))),
            (Input((2, 1, 4), "bool"), Input((3, 1)), Input(())),
        ],
        numpy=np.where,
        torch=lambda c, x, y: T.where(c, x, y),
        grad2=True,
    ),
    OpCase(
        "cast_float64",
        lambda x: ops.cast(x, "float64") * 3.0,
        [(Input((3, 4)),)],
        numpy=lambda x: x.astype(np.float64) * 3.0,
        torch=lambda x: x.to(T.float64) * 3.0,
    ),
    OpCase(
        "cast_float16",
        lambda x: ops.cast(x, "float16"),
        [(Input((3, 4)),)],
        numpy=lambda x: x.astype(np.float16),
        torch=lambda x: x.to(T.float16),
        grad=False,
        rtol=1e-3,
        atol=1e-3,
    ),
    OpCase(
        "cast_int",
        lambda x: ops.cast(x, "int32"),
        [(Input((3, 4), low=-5, high=5),)],
        numpy=lambda x: x.astype(np.int32),
        torch=lambda x: x.to(T.int32),
        grad=False,
    ),
    OpCase(
        "tanh_half",
        ops.tanh,
        [(Input((3, 4)),)],
        numpy=np.tanh,
        dtypes=("float16", "bfloat16"),
        grad=False,
    ),
]

globals().update(op_tests(CASES))


# -- promotion through the operators ------------------------------------------------------


@pytest.mark.parametrize(
    "a,b,expected",
    [
        ("float32", "float64", "float64"),
        ("int8", "uint8", "int16"),
        ("int32", "float16", "float16"),
        ("bool", "int8", "int8"),
        ("float16", "bfloat16", "float32"),
    ],
)
def test_binary_promotion(a, b, expected):
    pytest.importorskip("ml_dtypes") if "bfloat16" in (a, b) else None
    x = ops.ones((2,), dtype=a)
    y = ops.ones((2,), dtype=b)
    assert (x + y).dtype == expected
    assert (y * x).dtype == expected


@pytest.mark.parametrize(
    "dtype,scalar,expected",
    [("float32", 2.0, "float32"), ("float16", 2, "float16"), ("int8", 3, "int8"),
     ("int32", 2.5, "float32"), ("uint8", 1, "uint8")],
)  # fmt: skip
def test_weak_python_scalars(dtype, scalar, expected):
    x = ops.ones((2,), dtype=dtype)
    assert (x * scalar).dtype == expected
    assert (scalar - x).dtype == expected


def test_square_of_bools_is_int32_as_keras():
    out = ops.square(ops.convert_to_tensor([True, False]))
    assert out.dtype == "int32" and out.numpy().tolist() == [1, 0]


def test_numpy_array_on_the_left_defers_to_tensor():
    out = np.ones(3, dtype=np.float32) + ops.ones((3,))
    assert isinstance(out, nerve.Tensor)
    np.testing.assert_array_equal(out.numpy(), [2, 2, 2])


def test_shape_mismatch_names_op_and_shapes():
    with pytest.raises(ValueError, match=r"add: shapes \(2, 3\) and \(4,\) cannot be broadcast"):
        ops.add(ops.ones((2, 3)), ops.ones((4,)))


def test_error_points_at_user_line():
    with pytest.raises(ValueError) as info:
        ops.ones((2, 3)) * ops.ones((2,))
    assert "test_elementwise.py" in str(info.value)


def test_bitwise_ops_reject_floats_naming_op_and_dtype():
    with pytest.raises(DTypeError, match=r"bitwise_and needs integer or bool tensors, got float32"):
        ops.bitwise_and(ops.ones((2,)), ops.ones((2,)))
    with pytest.raises(DTypeError, match=r"left_shift needs integer tensors, got bool"):
        ops.left_shift(ops.convert_to_tensor([True]), ops.convert_to_tensor([False]))


def test_erfinv_fallback_without_scipy_matches_and_handles_edges(monkeypatch):
    import sys

    from nerve.backend.numpy_backend.elementwise import _scalar_erfinv, _special

    monkeypatch.setitem(sys.modules, "scipy.special", None)  # make the import fail
    kernel = _special(np, "erfinv", _scalar_erfinv)
    y = np.array([-0.999, -0.5, 0.0, 0.3, 0.9, 0.99999], dtype=np.float64)
    np.testing.assert_allclose(kernel(y), _np_erfinv(y), rtol=1e-12, atol=1e-12)
    edges = kernel(np.array([1.0, -1.0, 2.0], dtype=np.float32))
    assert edges.dtype == np.float32
    np.testing.assert_array_equal(edges, [np.inf, -np.inf, np.nan])
    assert kernel(np.zeros((0, 2))).shape == (0, 2)


def test_special_values():
    inf, nan = math.inf, math.nan
    np.testing.assert_array_equal(
        ops.logaddexp([-inf, inf, 0.0], [-inf, inf, -inf]).numpy(), [-inf, inf, 0.0]
    )
    np.testing.assert_array_equal(ops.hypot([inf, 0.0], [inf, 0.0]).numpy(), [inf, 0.0])
    np.testing.assert_array_equal(
        ops.isclose([inf, nan, nan], [inf, nan, 1.0], equal_nan=True).numpy(), [True, True, False]
    )
    assert not ops.isclose(nan, nan).item()
    assert ops.signbit(ops.convert_to_tensor([-0.0])).numpy().tolist() == [True]
    assert ops.exp2(ops.convert_to_tensor([3])).dtype == "float32"
    assert ops.nan_to_num(ops.convert_to_tensor([1, 2])).dtype == "int32"


def test_hypot_and_logaddexp_do_not_overflow():
    assert float(ops.hypot(ops.convert_to_tensor(3e30), 4e30)) == pytest.approx(5e30)
    assert float(ops.logaddexp(ops.convert_to_tensor(800.0), 800.0)) == pytest.approx(
        800 + math.log(2)
    )
