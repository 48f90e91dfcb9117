"""Elementwise ops (Keras's ``keras.ops`` names and arguments).

Binary ops broadcast like NumPy and promote like Keras 3 / JAX:

>>> from nerve import ops
>>> x = ops.convert_to_tensor([1.0, 2.0, 3.0])
>>> ops.multiply(x, 2).numpy()
array([2., 4., 6.], dtype=float32)
>>> ops.divide(ops.convert_to_tensor([1, 2]), 2).dtype   # true division of ints gives floatx
'float32'
>>> ops.sqrt(ops.convert_to_tensor([4, 9])).numpy()
array([2., 3.], dtype=float32)
"""

from __future__ import annotations

import math
from typing import Any, overload

from nerve.core import dtypes
from nerve.core.errors import DTypeError, with_location
from nerve.ops._convert import cast, promote, promote2, require_bool, tensor, to_float
from nerve.primitives import elementwise as ew
from nerve.primitives.registry import interpreter_stack
from nerve.tensor import Tensor

__all__ = [
    "abs", "absolute", "add", "arccos", "arccosh", "arcsin", "arcsinh", "arctan", "arctan2",
    "arctanh", "bitwise_and", "bitwise_invert", "bitwise_left_shift", "bitwise_not", "bitwise_or",
    "bitwise_right_shift", "bitwise_xor", "cast", "ceil", "clip", "copysign", "cos", "cosh",
    "divide", "equal", "erf", "erfc", "erfinv", "exp", "exp2", "expm1", "floor", "floor_divide",
    "greater", "greater_equal", "heaviside", "hypot", "isclose", "isfinite", "isinf", "isnan",
    "left_shift", "less", "less_equal", "log", "log1p", "log2", "log10", "logaddexp",
    "logical_and", "logical_not", "logical_or", "logical_xor", "maximum", "minimum", "mod",
    "multiply", "nan_to_num", "negative", "not_equal", "power", "reciprocal", "right_shift",
    "round", "rsqrt", "sigmoid", "sign", "signbit", "sin", "sinc", "sinh", "softplus", "sqrt",
    "square", "subtract", "tan", "tanh", "true_divide", "where",
]  # fmt: skip


def _float_unary(prim, doc: str):
    def op(x: Any) -> Tensor:
        return prim.bind(to_float(x))

    op.__name__ = prim.name
    op.__doc__ = doc
    return op


def _numeric_unary(prim, doc: str):
    def op(x: Any) -> Tensor:
        x = tensor(x)
        return x if x.dtype == "bool" else prim.bind(x)

    op.__name__ = prim.name
    op.__doc__ = doc
    return op


def _predicate(prim, doc: str, integer_answer: bool):
    def op(x: Any) -> Tensor:
        x = tensor(x)
        if not dtypes.is_float(x.dtype):
            # Integers are never NaN or infinite.
            from nerve.ops.creation import full_like

            return full_like(x, integer_answer, dtype="bool")
        return prim.bind(x)

    op.__name__ = prim.name
    op.__doc__ = doc
    return op


def _is_float_tensor(x: Tensor) -> bool:
    return x.dtype in dtypes.FLOAT_TYPES


_NO_PARAMS: dict = {}


def _binary(prim, doc: str, extra: tuple = ()):
    bind = prim.bind
    if extra:

        def op(x1: Any, x2: Any) -> Tensor:
            if type(x1) is Tensor and type(x2) is Tensor:
                d1, d2 = x1._value.dtype, x2._value.dtype
                if (d1 is d2 or d1 == d2) and _is_float_tensor(x1):
                    return bind(x1, x2)
            a, b = promote(x1, x2, extra=extra)
            return bind(a, b)
    else:

        def op(x1: Any, x2: Any) -> Tensor:
            # Fast path: two plain tensors of one dtype need no conversion.
            if type(x1) is Tensor and type(x2) is Tensor:
                d1, d2 = x1._value.dtype, x2._value.dtype
                if d1 is d2 or d1 == d2:
                    return interpreter_stack[-1](prim, (x1, x2), _NO_PARAMS)
            a, b = promote2(x1, x2)
            return bind(a, b)

    op.__name__ = prim.name
    op.__doc__ = doc
    return op


def _logical(prim, doc: str):
    def op(x1: Any, x2: Any) -> Tensor:
        return prim.bind(require_bool(x1), require_bool(x2))

    op.__name__ = prim.name
    op.__doc__ = doc
    return op


exp = _float_unary(ew.exp_p, "Elementwise e**x.")
expm1 = _float_unary(ew.expm1_p, "Elementwise e**x - 1, accurate near 0.")
log = _float_unary(ew.log_p, "Elementwise natural logarithm.")
log1p = _float_unary(ew.log1p_p, "Elementwise log(1 + x), accurate near 0.")
sqrt = _float_unary(ew.sqrt_p, "Elementwise square root.")
rsqrt = _float_unary(ew.rsqrt_p, "Elementwise 1 / sqrt(x).")
sin = _float_unary(ew.sin_p, "Elementwise sine.")
cos = _float_unary(ew.cos_p, "Elementwise cosine.")
tan = _float_unary(ew.tan_p, "Elementwise tangent.")
arcsin = _float_unary(ew.arcsin_p, "Elementwise inverse sine.")
arccos = _float_unary(ew.arccos_p, "Elementwise inverse cosine.")
arctan = _float_unary(ew.arctan_p, "Elementwise inverse tangent.")
sinh = _float_unary(ew.sinh_p, "Elementwise hyperbolic sine.")
cosh = _float_unary(ew.cosh_p, "Elementwise hyperbolic cosine.")
tanh = _float_unary(ew.tanh_p, "Elementwise hyperbolic tangent.")
arcsinh = _float_unary(ew.arcsinh_p, "Elementwise inverse hyperbolic sine.")
arccosh = _float_unary(ew.arccosh_p, "Elementwise inverse hyperbolic cosine.")
arctanh = _float_unary(ew.arctanh_p, "Elementwise inverse hyperbolic tangent.")
erf = _float_unary(ew.erf_p, "Elementwise Gauss error function.")
erfc = _float_unary(
    ew.erfc_p,
    """Elementwise complementary error function ``1 - erf(x)``, accurate where ``erf(x)``
    is close to 1 (large ``x``), where ``1 - erf(x)`` would round to 0.

    >>> from nerve import ops
    >>> ops.erfc(ops.convert_to_tensor([0.0, 6.0], dtype="float64")).numpy()
    array([1.00000000e+00, 2.15197367e-17])
    """,
)
erfinv = _float_unary(
    ew.erfinv_p,
    """Elementwise inverse of ``erf`` on (-1, 1); +-inf at +-1, nan outside.

    >>> from nerve import ops
    >>> ops.erfinv(ops.convert_to_tensor([0.0, 0.5])).numpy()
    array([0.        , 0.47693628], dtype=float32)
    """,
)
sigmoid = _float_unary(ew.sigmoid_p, "Elementwise logistic sigmoid 1 / (1 + e**-x).")
sign = _numeric_unary(ew.sign_p, "Elementwise sign: -1, 0 or 1.")
floor = _float_unary(ew.floor_p, "Elementwise floor.")
ceil = _float_unary(ew.ceil_p, "Elementwise ceiling.")
isnan = _predicate(ew.isnan_p, "Elementwise test for NaN.", False)
isinf = _predicate(ew.isinf_p, "Elementwise test for positive or negative infinity.", False)
isfinite = _predicate(ew.isfinite_p, "Elementwise test for finite values.", True)


def negative(x: Any) -> Tensor:
    """Elementwise -x."""
    return ew.neg_p.bind(tensor(x))


def abs(x: Any) -> Tensor:
    """Elementwise absolute value."""
    x = tensor(x)
    return x if x.dtype == "bool" else ew.abs_p.bind(x)


absolute = abs


def square(x: Any) -> Tensor:
    """Elementwise x * x (booleans as int32, as in Keras and JAX)."""
    x = tensor(x)
    if x.dtype == "bool":
        x = ew.cast(x, "int32")
    return ew.multiply_p.bind(x, x)


def reciprocal(x: Any) -> Tensor:
    """Elementwise 1 / x."""
    return ew.reciprocal_p.bind(to_float(x))


def log2(x: Any) -> Tensor:
    """Elementwise base-2 logarithm."""
    x = to_float(x)
    return multiply(ew.log_p.bind(x), 1 / math.log(2))


def log10(x: Any) -> Tensor:
    """Elementwise base-10 logarithm."""
    x = to_float(x)
    return multiply(ew.log_p.bind(x), 1 / math.log(10))


def softplus(x: Any) -> Tensor:
    """Elementwise log(1 + e**x), computed without overflow."""
    x = to_float(x)
    # log1p(exp(-|x|)) + max(x, 0): exp never overflows.
    return add(log1p(exp(negative(abs(x)))), maximum(x, 0.0))


def round(x: Any, decimals: int = 0) -> Tensor:
    """Round half to even, to ``decimals`` places."""
    x = tensor(x)
    if not dtypes.is_float(x.dtype):
        return x if decimals >= 0 else cast(round(cast(x, "float64"), decimals), x.dtype)
    if decimals == 0:
        return ew.round_p.bind(x)
    factor = 10.0**decimals
    return divide(ew.round_p.bind(multiply(x, factor)), factor)


def logical_not(x: Any) -> Tensor:
    """Elementwise NOT of truth values."""
    return ew.logical_not_p.bind(require_bool(x))


add = _binary(ew.add_p, "Elementwise x1 + x2.")
subtract = _binary(ew.subtract_p, "Elementwise x1 - x2.")
multiply = _binary(ew.multiply_p, "Elementwise x1 * x2.")
divide = _binary(ew.divide_p, "Elementwise true division x1 / x2 (ints give floatx).", (float,))
true_divide = divide
floor_divide = _binary(ew.floor_divide_p, "Elementwise floor(x1 / x2).")
mod = _binary(ew.mod_p, "Elementwise remainder with the sign of the divisor.")
power = _binary(ew.power_p, "Elementwise x1 ** x2.")
maximum = _binary(ew.maximum_p, "Elementwise maximum (the gradient is split on ties).")
minimum = _binary(ew.minimum_p, "Elementwise minimum (the gradient is split on ties).")
arctan2 = _binary(ew.arctan2_p, "Elementwise angle of the point (x2, x1).", (float,))
equal = _binary(ew.equal_p, "Elementwise x1 == x2.")
not_equal = _binary(ew.not_equal_p, "Elementwise x1 != x2.")
less = _binary(ew.less_p, "Elementwise x1 < x2.")
less_equal = _binary(ew.less_equal_p, "Elementwise x1 <= x2.")
greater = _binary(ew.greater_p, "Elementwise x1 > x2.")
greater_equal = _binary(ew.greater_equal_p, "Elementwise x1 >= x2.")
logical_and = _logical(ew.logical_and_p, "Elementwise AND of truth values.")
logical_or = _logical(ew.logical_or_p, "Elementwise OR of truth values.")
logical_xor = _logical(ew.logical_xor_p, "Elementwise XOR of truth values.")


@overload
def where(condition: Any, x1: None = None, x2: None = None) -> tuple[Tensor, ...]: ...
@overload
def where(condition: Any, x1: Any, x2: Any) -> Tensor: ...
def where(condition: Any, x1: Any = None, x2: Any = None) -> Tensor | tuple[Tensor, ...]:
    """``x1`` where ``condition`` holds, else ``x2`` (broadcasting all three).

    >>> from nerve import ops
    >>> ops.where(ops.convert_to_tensor([True, False]), 1.0, -1.0).numpy()
    array([ 1., -1.], dtype=float32)
    """
    if x1 is None and x2 is None:
        from nerve.ops.indexing import nonzero

        return nonzero(condition)
    if x1 is None or x2 is None:
        raise ValueError(
            with_location(
                "where: `x1` and `x2` either both should be `None` or both should have "
                f"non-None value; got x1={'None' if x1 is None else 'a value'} and "
                f"x2={'None' if x2 is None else 'a value'}."
            )
        )
    a, b = promote(x1, x2)
    return ew.where_p.bind(require_bool(condition), a, b)


def clip(x: Any, x_min: Any, x_max: Any) -> Tensor:
    """Limit values to ``[x_min, x_max]``.

    >>> from nerve import ops
    >>> ops.clip(ops.convert_to_tensor([-2.0, 0.5, 3.0]), -1.0, 1.0).numpy()
    array([-1. ,  0.5,  1. ], dtype=float32)
    """
    x = tensor(x)
    if x.dtype == "bool":
        x = cast(x, "int32")
    return minimum(maximum(x, x_min), x_max)


# -- composites added for Keras coverage ------------------------------------------------

# Largest finite value of each float dtype (nan_to_num's default for infinities).
_FLOAT_MAX = {
    "float16": 65504.0,
    "bfloat16": 3.3895313892515355e38,
    "float32": 3.4028234663852886e38,
    "float64": 1.7976931348623157e308,
}


def exp2(x: Any) -> Tensor:
    """Elementwise 2**x (ints give floatx)."""
    x = to_float(x)
    return ew.power_p.bind(ew.scalar(2, x), x)


def logaddexp(x1: Any, x2: Any) -> Tensor:
    """Elementwise ``log(exp(x1) + exp(x2))``, without overflow.

    >>> from nerve import ops
    >>> float(ops.logaddexp(1000.0, 1000.0))
    1000.6931...
    """
    x1, x2 = promote(x1, x2, extra=(float,))
    # max + log1p(exp(-|x1 - x2|)): the exponent is never positive. Equal inputs get a
    # difference of exactly 0, so equal infinities give no inf - inf.
    same = equal(x1, x2)
    zero = ew.scalar(0, x1)
    delta = subtract(where(same, zero, x1), where(same, zero, x2))
    return add(maximum(x1, x2), log1p(exp(negative(abs(delta)))))


def hypot(x1: Any, x2: Any) -> Tensor:
    """Elementwise ``sqrt(x1**2 + x2**2)``, scaled so that squares do not overflow.

    >>> from nerve import ops
    >>> float(ops.hypot(3.0, 4.0))
    5.0
    """
    x1, x2 = promote(x1, x2, extra=(float,))
    a, b = abs(x1), abs(x2)
    high, low = maximum(a, b), minimum(a, b)
    # high * sqrt(1 + (low / high)**2); high == 0 means both are 0 (and the result 0).
    safe_high = where(equal(high, 0), ew.scalar(1, high), high)
    ratio = divide(low, safe_high)
    out = multiply(high, sqrt(add(multiply(ratio, ratio), 1.0)))
    return where(isinf(high), high, out)  # inf / inf would make the ratio nan


def nan_to_num(x: Any, nan: float = 0.0, posinf: float | None = None,
               neginf: float | None = None) -> Tensor:  # fmt: skip
    """Replace nan by ``nan``, +inf by ``posinf`` and -inf by ``neginf`` (by default the
    largest and lowest finite values of the dtype). Integer tensors pass unchanged.

    >>> from nerve import ops
    >>> ops.nan_to_num(ops.convert_to_tensor([float("nan"), float("inf"), 1.0]), posinf=9.0).numpy()
    array([0., 9., 1.], dtype=float32)
    """
    x = tensor(x)
    if not dtypes.is_float(x.dtype):
        return x
    big = _FLOAT_MAX[x.dtype]
    posinf = big if posinf is None else posinf
    neginf = -big if neginf is None else neginf
    x = where(isnan(x), nan, x)
    x = where(ew.logical_and_p.bind(isinf(x), greater(x, 0)), posinf, x)
    return where(ew.logical_and_p.bind(isinf(x), less(x, 0)), neginf, x)


def isclose(x1: Any, x2: Any, rtol: float = 1e-5, atol: float = 1e-8,
            equal_nan: bool = False) -> Tensor:  # fmt: skip
    """Elementwise ``|x1 - x2| <= atol + rtol * |x2|`` (bool); equal infinities are
    close, and so are two nans when ``equal_nan``.

    >>> from nerve import ops
    >>> ops.isclose([1.0, 1.0, float("inf")], [1.0 + 1e-9, 1.1, float("inf")]).numpy()
    array([ True, False,  True])
    """
    x1, x2 = promote(x1, x2)
    if x1.dtype == "bool" or dtypes.is_int(x1.dtype):
        x1, x2 = cast(x1, "float64"), cast(x2, "float64")
    # Equal entries (equal infinities included) are close; zeroing them first also keeps
    # inf - inf out of the subtraction.
    same = equal(x1, x2)
    zero = ew.scalar(0, x1)
    difference = abs(subtract(where(same, zero, x1), where(same, zero, x2)))
    close = less_equal(difference, add(multiply(abs(x2), rtol), atol))
    if equal_nan:
        close = ew.logical_or_p.bind(close, ew.logical_and_p.bind(isnan(x1), isnan(x2)))
    return close


def heaviside(x1: Any, x2: Any) -> Tensor:
    """Heaviside step: 0 where ``x1 < 0``, ``x2`` where ``x1 == 0``, 1 where ``x1 > 0``.

    >>> from nerve import ops
    >>> ops.heaviside(ops.convert_to_tensor([-1.0, 0.0, 2.0]), 0.5).numpy()
    array([0. , 0.5, 1. ], dtype=float32)
    """
    x1, x2 = promote(x1, x2, extra=(float,))
    step = where(greater(x1, 0), ew.scalar(1, x1), ew.scalar(0, x1))
    return where(equal(x1, 0), x2, step)


def signbit(x: Any) -> Tensor:
    """Elementwise test of the sign bit (bool): true for negatives, -0.0 and -nan."""
    x = tensor(x)
    if x.dtype == "bool":
        x = cast(x, "int8")
    return ew.signbit_p.bind(x)


def copysign(x1: Any, x2: Any) -> Tensor:
    """Elementwise ``|x1|`` with the sign (bit) of ``x2``.

    >>> from nerve import ops
    >>> ops.copysign(ops.convert_to_tensor([1.0, -2.0]), ops.convert_to_tensor([-0.0, 3.0])).numpy()
    array([-1.,  2.], dtype=float32)
    """
    x1, x2 = promote(x1, x2, extra=(float,))
    magnitude = abs(x1)
    return where(ew.signbit_p.bind(x2), negative(magnitude), magnitude)


def sinc(x: Any) -> Tensor:
    """Normalised sinc: ``sin(pi x) / (pi x)``, and 1 at 0.

    >>> from nerve import ops
    >>> ops.sinc(ops.convert_to_tensor([0.0, 0.5])).numpy()
    array([1.        , 0.63661975], dtype=float32)
    """
    x = to_float(x)
    at_zero = equal(x, 0)
    # A safe denominator at 0 keeps the unused branch (and its gradient) finite.
    angle = multiply(where(at_zero, ew.scalar(1, x), x), math.pi)
    return where(at_zero, ew.scalar(1, x), divide(sin(angle), angle))


# -- bitwise (integers; bools where it makes sense) --------------------------------------


def _bitwise_operands(op: str, allow_bool: bool, *xs: Any) -> list[Tensor]:
    operands = promote(*xs)
    dtype = operands[0].dtype
    if not (dtypes.is_int(dtype) or (allow_bool and dtype == "bool")):
        kinds = "integer or bool" if allow_bool else "integer"
        raise DTypeError(with_location(f"{op} needs {kinds} tensors, got {dtype}."))
    return operands


def _bitwise_binary(prim, op: str, allow_bool: bool, doc: str):
    def fn(x: Any, y: Any) -> Tensor:
        return prim.bind(*_bitwise_operands(op, allow_bool, x, y))

    fn.__name__ = op
    fn.__doc__ = doc
    return fn


def bitwise_not(x: Any) -> Tensor:
    """Elementwise bitwise NOT (``~x``) of integers; logical NOT of bools.

    >>> from nerve import ops
    >>> ops.bitwise_not(ops.convert_to_tensor([0, 5], dtype="int8")).numpy()
    array([-1, -6], dtype=int8)
    """
    (x,) = _bitwise_operands("bitwise_not", True, x)
    return ew.bitwise_not_p.bind(x)


bitwise_invert = bitwise_not
bitwise_and = _bitwise_binary(
    ew.bitwise_and_p,
    "bitwise_and",
    True,
    """Elementwise bitwise AND of integers (or bools).

    >>> from nerve import ops
    >>> ops.bitwise_and(ops.convert_to_tensor([12, 10]), 6).numpy()
    array([4, 2], dtype=int32)
    """,
)
bitwise_or = _bitwise_binary(
    ew.bitwise_or_p, "bitwise_or", True, "Elementwise bitwise OR of integers (or bools)."
)
bitwise_xor = _bitwise_binary(
    ew.bitwise_xor_p, "bitwise_xor", True, "Elementwise bitwise XOR of integers (or bools)."
)
left_shift = _bitwise_binary(
    ew.left_shift_p,
    "left_shift",
    False,
    """Elementwise ``x << y`` on integers.

    >>> from nerve import ops
    >>> ops.left_shift(ops.convert_to_tensor([1, 3]), 2).numpy()
    array([ 4, 12], dtype=int32)
    """,
)
right_shift = _bitwise_binary(
    ew.right_shift_p, "right_shift", False, "Elementwise ``x >> y`` on integers (arithmetic)."
)
bitwise_left_shift = left_shift
bitwise_right_shift = right_shift
