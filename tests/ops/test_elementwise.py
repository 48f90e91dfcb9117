"""Elementwise ops: one row per op; the harness does the checking."""

import math

import numpy as np
import pytest

import nerve
from nerve import ops
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
