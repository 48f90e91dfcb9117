"""More elementwise arithmetic (nerve/ops/arithmetic.py): one op-harness row per op;
dtype rules and errors below."""

import dataclasses

import numpy as np
import pytest

from nerve import ops
from nerve.core.errors import DTypeError
from nerve.testing.op_harness import Input, OpCase, T, op_tests


@dataclasses.dataclass(frozen=True)
class Special(Input):
    """Special values written at fixed flat positions: ``values[i]`` goes to position
    ``3 * i + 1`` (NaN, infinities, zeros)."""

    values: tuple = (float("nan"),)

    def generate(self, rng, float_dtype):
        x = super().generate(rng, float_dtype)
        flat = x.reshape(-1)
        for i, value in enumerate(self.values):
            if 3 * i + 1 < flat.size:
                flat[3 * i + 1] = value
        return flat.reshape(x.shape)


INF = float("inf")
SHAPES = [((3, 4), (3, 4)), ((2, 1, 4), (3, 1)), ((4,), ())]


def pairs(kind1="float", kind2="float", low2=-2.0, high2=2.0, special1=None):
    first = (
        (lambda s: Special(s, kind1, values=special1)) if special1 else (lambda s: Input(s, kind1))
    )
    return [(first(a), Input(b, kind2, low2, high2)) for a, b in SHAPES]


def unary(shapes=((3, 4), (2, 1, 3), ()), kind="float", low=-2.0, high=2.0):
    return [(Input(s, kind, low, high),) for s in shapes]


CASES = [
    OpCase(
        "cbrt",
        ops.cbrt,
        unary(kind="positive") + unary(low=-2.0, high=-0.5),
        numpy=np.cbrt,
        grad2=True,
    ),
    OpCase("cbrt_int", ops.cbrt, unary(kind="int", low=-30, high=30), numpy=np.cbrt, rtol=1e-6),
    OpCase("deg2rad", ops.deg2rad, unary(), numpy=np.deg2rad, torch=T.deg2rad),
    OpCase("rad2deg", ops.rad2deg, unary(), numpy=np.rad2deg, torch=T.rad2deg),
    OpCase("fabs", ops.fabs, unary(), numpy=np.fabs, torch=T.abs),
    OpCase("fabs_int", ops.fabs, unary(kind="int", low=-5, high=5), numpy=np.fabs),
    OpCase("trunc", ops.trunc, unary(low=-3, high=3), numpy=np.trunc, torch=T.trunc),
    OpCase("trunc_int", ops.trunc, unary(kind="int", low=-5, high=5), numpy=np.trunc),
    OpCase(
        "fmod",
        ops.fmod,
        pairs(low2=0.5, high2=2.0) + pairs(low2=-2.0, high2=-0.5),
        numpy=np.fmod,
        torch=T.fmod,
    ),
    OpCase(
        "fmod_int",
        ops.fmod,
        [
            (Input((3, 4), "int", -9, 9), Input((3, 4), "int", 1, 4)),
            (Input((5,), "int", -9, 9), Input((), "int", -4, -1)),
        ],
        numpy=np.fmod,
        torch=T.fmod,
    ),
    OpCase("fmax", ops.fmax, pairs(special1=(float("nan"),)), numpy=np.fmax, torch=T.fmax),
    OpCase("fmin", ops.fmin, pairs(special1=(float("nan"),)), numpy=np.fmin, torch=T.fmin),
    OpCase("logaddexp2", ops.logaddexp2, pairs(), numpy=np.logaddexp2, torch=T.logaddexp2),
    OpCase(
        "ldexp",
        ops.ldexp,
        pairs(kind2="int", low2=-4, high2=5),
        numpy=np.ldexp,
        # torch.ldexp's gradient drops entries and it resizes broadcast outputs; its
        # definition instead.
        torch=lambda x, e: x * 2.0**e,
    ),
    OpCase(
        "nextafter",
        ops.nextafter,
        pairs(special1=(0.0, INF)),
        numpy=np.nextafter,
        torch=T.nextafter,
        grad=False,
        dtypes=("float64",),  # the reference runs in float64; float32 is tested below
    ),
    OpCase(
        "isneginf",
        ops.isneginf,
        [(Special((3, 4), values=(INF, -INF, float("nan"))),)],
        numpy=np.isneginf,
        torch=T.isneginf,
        grad=False,
    ),
    OpCase(
        "isposinf",
        ops.isposinf,
        [(Special((3, 4), values=(INF, -INF, float("nan"))),)],
        numpy=np.isposinf,
        torch=T.isposinf,
        grad=False,
    ),
    OpCase(
        "divide_no_nan",
        ops.divide_no_nan,
        [(Input(a), Input(b, "positive")) for a, b in SHAPES],
        numpy=np.divide,
        torch=T.divide,
    ),
    OpCase(
        "divide_no_nan_zeros",
        ops.divide_no_nan,
        [(Input(a), Special(b, "positive", values=(0.0, 0.0))) for a, b in SHAPES],
        numpy=lambda x1, x2: np.where(x2 == 0, 0.0, x1 / np.where(x2 == 0, 1.0, x2)),
        grad=False,  # no derivative where x2 is 0; the gradient there is tested below
    ),
    OpCase(
        "allclose",
        lambda x1, x2: ops.allclose(x1, x1 + x2 * 1e-7),
        [(Input((3, 4)), Input((3, 4)))],
        numpy=lambda x1, x2: np.allclose(x1, x1 + x2 * 1e-7),
        grad=False,
    ),
    OpCase(
        "isin",
        ops.isin,
        [
            (Input((3, 4), "int", 0, 8), Input((3,), "int", 0, 8)),
            (Input((5,), "int", 0, 5), Input((2, 2), "int", 0, 5)),
        ],
        numpy=np.isin,
        torch=T.isin,
    ),
    OpCase(
        "isin_invert",
        lambda x1, x2: ops.isin(x1, x2, invert=True),
        [(Input((3, 4), "int", 0, 8), Input((3,), "int", 0, 8))],
        numpy=lambda x1, x2: np.isin(x1, x2, invert=True),
    ),
    OpCase(
        "gcd",
        ops.gcd,
        [
            (Input((3, 4), "int", -40, 40), Input((3, 4), "int", -40, 40)),
            (Input((4,), "int", 0, 100), Input((), "int", 0, 30)),
        ],
        numpy=np.gcd,
        torch=T.gcd,
    ),
    OpCase(
        "lcm",
        ops.lcm,
        [(Input((3, 4), "int", -20, 20), Input((3, 4), "int", -20, 20))],
        numpy=np.lcm,
        torch=T.lcm,
    ),
]

globals().update(op_tests(CASES))


@pytest.mark.parametrize(
    "fn,args,dtype",
    [
        (ops.deg2rad, (np.array([1], "int64"),), "float64"),
        (ops.deg2rad, (np.array([1], "int32"),), "float32"),
        (ops.rad2deg, (np.array([1], "float16"),), "float16"),
        (ops.cbrt, (np.array([8], "int64"),), "float64"),
        (ops.cbrt, (np.array([8], "uint8"),), "float32"),
        (ops.trunc, (np.array([8], "int16"),), "int16"),
        (ops.fmod, (np.array([True]), np.array([True])), "int32"),
        (ops.divide_no_nan, (np.array([1], "int32"), np.array([0], "int32")), "float32"),
        (ops.ldexp, (np.array([1.0], "float16"), np.array([3], "int32")), "float16"),
        (ops.gcd, (np.array([4], "int16"), np.array([6], "int16")), "int16"),
    ],
)
def test_result_dtypes_follow_keras(fn, args, dtype):
    assert fn(*args).dtype == dtype


@pytest.mark.parametrize(
    "call,error,match",
    [
        (lambda: ops.ldexp(np.ones(2), np.ones(2)), DTypeError, "integers"),
        (lambda: ops.gcd(np.ones(2), np.ones(2)), DTypeError, "integer"),
        (lambda: ops.lcm(np.ones(2, "int32"), np.ones(2)), DTypeError, "integer"),
    ],
)
def test_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_nextafter_steps_one_ulp_in_float32():
    x = np.array([1.0, 0.0, -2.0, np.inf], "float32")
    towards = np.array([2.0, -1.0, 0.0, 0.0], "float32")
    result = ops.nextafter(x, towards)
    assert result.dtype == "float32"
    np.testing.assert_array_equal(result.numpy(), np.nextafter(x, towards))


def test_divide_no_nan_gradient_is_zero_where_the_divisor_is():
    import nerve

    x1 = ops.convert_to_tensor([3.0, 2.0])
    x2 = ops.convert_to_tensor([0.0, 4.0])
    g1, g2 = nerve.grad(lambda a, b: ops.sum(ops.divide_no_nan(a, b)), argnums=(0, 1))(x1, x2)
    np.testing.assert_array_equal(g1.numpy(), [0.0, 0.25])
    np.testing.assert_array_equal(g2.numpy(), [0.0, -2.0 / 16])
