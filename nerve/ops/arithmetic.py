"""More elementwise arithmetic (Keras's NumPy-named functions), composed of the
elementwise family's primitives, so each is differentiable where it has a
derivative.

>>> from nerve import ops
>>> ops.trunc(ops.convert_to_tensor([-1.5, 2.7])).numpy()
array([-1.,  2.], dtype=float32)
>>> ops.fmod(ops.convert_to_tensor([-7, 7]), 3).numpy()
array([-1,  1], dtype=int32)
>>> ops.divide_no_nan(ops.convert_to_tensor([1.0, 2.0]), ops.convert_to_tensor([0.0, 4.0])).numpy()
array([0. , 0.5], dtype=float32)
"""

from __future__ import annotations

import math
from typing import Any

from nerve.core import config, dtypes
from nerve.core.errors import DTypeError, with_location
from nerve.ops import elementwise as ew
from nerve.ops._convert import cast, promote, tensor, to_float
from nerve.ops.control_flow import while_loop
from nerve.ops.reduction import all as all_
from nerve.ops.reduction import any as any_
from nerve.ops.shape import expand_dims, reshape
from nerve.primitives import elementwise as ewp
from nerve.tensor import Tensor

__all__ = [
    "allclose", "cbrt", "deg2rad", "divide_no_nan", "fabs", "fmax", "fmin", "fmod", "gcd",
    "isin", "isneginf", "isposinf", "lcm", "ldexp", "logaddexp2", "nextafter", "rad2deg", "trunc",
]  # fmt: skip


def _keras_float(x: Any) -> Tensor:
    """``x`` as Keras's angle conversions type it: float64 for int64, the 16-bit floats
    kept, everything else floatx."""
    x = tensor(x)
    if x.dtype in ("int64", "float64"):
        return cast(x, "float64")
    if x.dtype in ("float16", "bfloat16"):
        return x
    return cast(x, config.floatx())


def deg2rad(x: Any) -> Tensor:
    """Degrees to radians, elementwise.

    >>> from nerve import ops
    >>> ops.deg2rad(ops.convert_to_tensor([180.0, 90.0])).numpy()
    array([3.1415927, 1.5707964], dtype=float32)
    """
    return ew.multiply(_keras_float(x), math.pi / 180)


def rad2deg(x: Any) -> Tensor:
    """Radians to degrees, elementwise.

    >>> from nerve import ops
    >>> float(ops.rad2deg(ops.convert_to_tensor(math.pi / 2)))
    90.0
    """
    return ew.multiply(_keras_float(x), 180 / math.pi)


def cbrt(x: Any) -> Tensor:
    """Real cube root, elementwise (negative for negative ``x``; int64 gives float64,
    other integers floatx).

    >>> from nerve import ops
    >>> ops.cbrt(ops.convert_to_tensor([-8.0, 27.0])).numpy()
    array([-2.,  3.], dtype=float32)
    """
    x = tensor(x)
    x = cast(x, "float64") if x.dtype == "int64" else to_float(x)
    # float32 and narrower in float64, rounded once: ``|x| ** (1/3)`` misses a perfect
    # cube by an ulp in float32 with some pow kernels (NumPy's AVX-512 one: 27 gave
    # 3.0000002), and float64's error of ~1e-16 vanishes in that rounding.
    wide = cast(x, "float64") if x.dtype != "float64" else x
    return cast(ew.multiply(ew.sign(wide), ew.power(ew.abs(wide), 1 / 3)), x.dtype)


def fabs(x: Any) -> Tensor:
    """Absolute value as a float (integers and bools become floatx).

    >>> from nerve import ops
    >>> ops.fabs(ops.convert_to_tensor([-2, 3])).numpy()
    array([2., 3.], dtype=float32)
    """
    return ew.abs(to_float(x))


def trunc(x: Any) -> Tensor:
    """Round towards zero, elementwise (integers pass unchanged). Zero gradient.

    >>> from nerve import ops
    >>> ops.trunc(ops.convert_to_tensor([-0.5, 1.9])).numpy()
    array([-0.,  1.], dtype=float32)
    """
    x = tensor(x)
    if not dtypes.is_float(x.dtype):
        return x
    return ew.where(ew.less(x, 0), ew.ceil(x), ew.floor(x))


def fmod(x1: Any, x2: Any) -> Tensor:
    """C's remainder: ``x1 - x2 * trunc(x1 / x2)``, with the sign of ``x1`` (``mod``
    takes the divisor's sign). Exact: it corrects ``mod``'s result, never divides.

    >>> from nerve import ops
    >>> ops.fmod(ops.convert_to_tensor([-5.0, 5.0]), -3.0).numpy()
    array([-2.,  2.], dtype=float32)
    """
    x1, x2 = promote(x1, x2)
    if x1.dtype == "bool":
        x1, x2 = cast(x1, "int32"), cast(x2, "int32")
    remainder = ew.mod(x1, x2)
    # mod's remainder has x2's sign; where that differs from x1's, step back by x2.
    mismatch = ew.logical_and(
        ew.not_equal(remainder, 0), ew.not_equal(ew.less(remainder, 0), ew.less(x1, 0))
    )
    return ew.where(mismatch, ew.subtract(remainder, x2), remainder)


def _nan_ignoring(x1: Any, x2: Any, pick) -> Tensor:
    x1, x2 = promote(x1, x2)
    out = pick(x1, x2)
    if not dtypes.is_float(x1.dtype):
        return out
    return ew.where(ew.isnan(x1), x2, ew.where(ew.isnan(x2), x1, out))


def fmax(x1: Any, x2: Any) -> Tensor:
    """Elementwise maximum that ignores NaN (NaN only where both are).

    >>> from nerve import ops
    >>> x1 = ops.convert_to_tensor([1.0, float("nan")])
    >>> ops.fmax(x1, ops.convert_to_tensor([2.0, 0.0])).numpy()
    array([2., 0.], dtype=float32)
    """
    return _nan_ignoring(x1, x2, ew.maximum)


def fmin(x1: Any, x2: Any) -> Tensor:
    """Elementwise minimum that ignores NaN (NaN only where both are).

    >>> from nerve import ops
    >>> x1 = ops.convert_to_tensor([1.0, float("nan")])
    >>> ops.fmin(x1, ops.convert_to_tensor([2.0, 0.0])).numpy()
    array([1., 0.], dtype=float32)
    """
    return _nan_ignoring(x1, x2, ew.minimum)


def logaddexp2(x1: Any, x2: Any) -> Tensor:
    """Elementwise ``log2(2**x1 + 2**x2)``, without overflow.

    >>> from nerve import ops
    >>> float(ops.logaddexp2(1.0, 1.0))
    2.0
    """
    x1, x2 = promote(x1, x2, extra=(float,))
    ln2 = math.log(2)
    return ew.divide(ew.logaddexp(ew.multiply(x1, ln2), ew.multiply(x2, ln2)), ln2)


def ldexp(x1: Any, x2: Any) -> Tensor:
    """Elementwise ``x1 * 2**x2``; ``x2`` must be integers.

    >>> from nerve import ops
    >>> ops.ldexp(ops.convert_to_tensor([1.0, 3.0]), ops.convert_to_tensor([2, -1])).numpy()
    array([4. , 1.5], dtype=float32)
    """
    exponent = tensor(x2)
    if not dtypes.is_int(exponent.dtype):
        raise DTypeError(
            with_location(f"ldexp: the exponent x2 must be integers, got dtype {exponent.dtype}.")
        )
    x1, exponent = promote(x1, exponent, extra=(float,))
    return ew.multiply(x1, ew.power(ew.cast(2, x1.dtype), exponent))


def nextafter(x1: Any, x2: Any) -> Tensor:
    """The next representable float after ``x1`` in the direction of ``x2``,
    elementwise. Not differentiable.

    >>> from nerve import ops
    >>> float(ops.nextafter(ops.convert_to_tensor(1.0, "float64"), 2.0)) - 1.0
    2.220446049250313e-16
    """
    x1, x2 = promote(x1, x2, extra=(float,))
    return ewp.nextafter_p.bind(x1, x2)


def isneginf(x: Any) -> Tensor:
    """Elementwise test for negative infinity (bool).

    >>> from nerve import ops
    >>> ops.isneginf(ops.convert_to_tensor([-float("inf"), float("inf"), 0.0])).numpy()
    array([ True, False, False])
    """
    x = tensor(x)
    return ew.logical_and(ew.isinf(x), ew.less(x, 0))


def isposinf(x: Any) -> Tensor:
    """Elementwise test for positive infinity (bool).

    >>> from nerve import ops
    >>> ops.isposinf(ops.convert_to_tensor([-float("inf"), float("inf"), 0.0])).numpy()
    array([False,  True, False])
    """
    x = tensor(x)
    return ew.logical_and(ew.isinf(x), ew.greater(x, 0))


def divide_no_nan(x1: Any, x2: Any) -> Tensor:
    """``x1 / x2``, and 0 where ``x2`` is 0 (gradients there are 0 too).

    >>> from nerve import ops
    >>> ops.divide_no_nan(ops.convert_to_tensor([3, 1]), ops.convert_to_tensor([2, 0])).numpy()
    array([1.5, 0. ], dtype=float32)
    """
    x1, x2 = promote(x1, x2, extra=(float,))
    zero = ew.equal(x2, 0)
    # A safe divisor where x2 == 0, so that neither branch's gradient is inf or nan.
    quotient = ew.divide(x1, ew.where(zero, ew.cast(1, x2.dtype), x2))
    return ew.where(zero, ew.cast(0, quotient.dtype), quotient)


def allclose(
    x1: Any, x2: Any, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False
) -> Tensor:
    """Whether every pair of entries is ``isclose`` (a bool scalar).

    >>> from nerve import ops
    >>> bool(ops.allclose([1.0, 2.0], [1.0, 2.0 + 1e-9]))
    True
    """
    return all_(ew.isclose(x1, x2, rtol=rtol, atol=atol, equal_nan=equal_nan))


def isin(x1: Any, x2: Any, assume_unique: bool = False, invert: bool = False) -> Tensor:
    """Whether each entry of ``x1`` occurs anywhere in ``x2`` (bool, ``x1``'s shape);
    the opposite with ``invert``. ``assume_unique`` is accepted for NumPy's signature.

    >>> from nerve import ops
    >>> ops.isin(ops.convert_to_tensor([1, 2, 3]), [2, 5]).numpy()
    array([False,  True, False])
    """
    a, b = promote(x1, x2)
    b = reshape(b, (b.size,))
    found = any_(ew.equal(expand_dims(a, -1), b), axis=-1)
    return ew.logical_not(found) if invert else found


def _euclid(a: Tensor, b: Tensor) -> Tensor:
    """gcd of non-negative integer tensors of one shape: Euclid's algorithm, run until
    every divisor is 0 (at most ~1.44 log2 of the largest value steps)."""

    def step(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
        done = ew.equal(b, 0)
        remainder = ew.mod(a, ew.where(done, ew.cast(1, b.dtype), b))
        return ew.where(done, a, b), ew.where(done, b, remainder)

    return while_loop(lambda a, b: any_(ew.not_equal(b, 0)), step, (a, b))[0]


def _integers(op: str, x1: Any, x2: Any) -> tuple[Tensor, Tensor]:
    x1, x2 = promote(x1, x2)
    if not dtypes.is_int(x1.dtype):
        raise DTypeError(with_location(f"{op}: needs integer inputs, got dtype {x1.dtype}."))
    shape = ew.add(x1, x2).shape
    from nerve.ops.shape import broadcast_to

    return broadcast_to(ew.abs(x1), shape), broadcast_to(ew.abs(x2), shape)


def gcd(x1: Any, x2: Any) -> Tensor:
    """Greatest common divisor of integers, elementwise (non-negative; gcd(0, 0) = 0).

    >>> from nerve import ops
    >>> ops.gcd(ops.convert_to_tensor([12, -9, 0]), ops.convert_to_tensor([18, 6, 0])).numpy()
    array([6, 3, 0], dtype=int32)
    """
    return _euclid(*_integers("gcd", x1, x2))


def lcm(x1: Any, x2: Any) -> Tensor:
    """Least common multiple of integers, elementwise (non-negative; 0 if either is 0).

    >>> from nerve import ops
    >>> ops.lcm(ops.convert_to_tensor([4, -6, 0]), ops.convert_to_tensor([6, 4, 5])).numpy()
    array([12, 12,  0], dtype=int32)
    """
    a, b = _integers("lcm", x1, x2)
    divisor = _euclid(a, b)
    zero = ew.equal(divisor, 0)
    quotient = ew.floor_divide(a, ew.where(zero, ew.cast(1, a.dtype), divisor))
    return ew.where(zero, ew.cast(0, a.dtype), ew.multiply(quotient, b))
