"""Elementwise primitives: one registration block each.

Binary primitives broadcast like NumPy and take operands of one dtype (the
``nerve.ops`` layer promotes first). Gradient rules return cotangents in the
broadcast shape; the autodiff engine sums them back to each input's shape.
"""

from __future__ import annotations

import math

from nerve.core import dtypes
from nerve.core.errors import DTypeError, with_location
from nerve.primitives import rules
from nerve.primitives.registry import Aval, Primitive

__all__ = [
    "abs_p",
    "add",
    "add_p",
    "arccos_p",
    "arccosh_p",
    "arcsin_p",
    "arcsinh_p",
    "arctan2_p",
    "arctan_p",
    "arctanh_p",
    "bitwise_and_p",
    "bitwise_not_p",
    "bitwise_or_p",
    "bitwise_xor_p",
    "cast",
    "cast_p",
    "ceil_p",
    "complex_p",
    "conj_p",
    "cos_p",
    "cosh_p",
    "div",
    "divide_p",
    "equal_p",
    "erf_p",
    "erfc_p",
    "erfinv_p",
    "exp_p",
    "expm1_p",
    "floor_divide_p",
    "floor_p",
    "greater_equal_p",
    "greater_p",
    "i0_p",
    "i1_p",
    "imag_p",
    "isfinite_p",
    "isinf_p",
    "isnan_p",
    "left_shift_p",
    "less_equal_p",
    "less_p",
    "log1p_p",
    "log_p",
    "logical_and_p",
    "logical_not_p",
    "logical_or_p",
    "logical_xor_p",
    "maximum_p",
    "minimum_p",
    "mod_p",
    "mul",
    "multiply_p",
    "neg",
    "neg_p",
    "not_equal_p",
    "power_p",
    "real_p",
    "reciprocal_p",
    "right_shift_p",
    "round_p",
    "rsqrt_p",
    "scalar",
    "scalar_like_p",
    "sigmoid_p",
    "sign_p",
    "signbit_p",
    "sin_p",
    "sinh_p",
    "sqrt_p",
    "sub",
    "subtract_p",
    "tan_p",
    "tanh_p",
    "where",
    "where_p",
    "zeros_like",
]

# -- helpers used by gradient rules (all bind primitives, so they differentiate) --


def neg(x):
    return neg_p.bind(x)


def add(x, y):
    return add_p.bind(x, y)


def sub(x, y):
    return subtract_p.bind(x, y)


def mul(x, y):
    return multiply_p.bind(x, y)


def div(x, y):
    return divide_p.bind(x, y)


def scalar(value, like):
    """A 0-d tensor holding ``value`` with ``like``'s dtype and device."""
    return scalar_like_p.bind(like, value=value)


def zeros_like(x):
    from nerve.primitives.shape import broadcast_to

    return broadcast_to(scalar(0, x), tuple(x.shape))


def where(cond, x, y):
    return where_p.bind(cond, x, y)


def cast(x, dtype: str):
    return x if x.dtype == dtype else cast_p.bind(x, dtype=dtype)


# -- unary ------------------------------------------------------------------------


def _unary(
    name: str,
    vjp=None,
    *,
    differentiable: bool = True,
    out_dtype: str | None = None,
    cost: str = "arithmetic",
) -> Primitive:
    rule = rules.unary_to(name, out_dtype) if out_dtype else rules.unary(name)
    return Primitive(
        name, shape_rule=rule, vjp=vjp, differentiable=differentiable, elementwise=True, cost=cost
    )


def _zero_vjp(g, inputs, out, needs):
    return (zeros_like(inputs[0]),)


def _one_minus_square(x):
    return sub(scalar(1, x), mul(x, x))


# A primitive that an earlier block's vjp uses (sign_p, cos_p, cosh_p, cast_p) is
# annotated: mypy cannot infer the type of a global read before its definition.
neg_p = _unary("neg", lambda g, inputs, out, needs: (neg(g),))


def _abs_rule(x: Aval) -> Aval:
    return Aval(tuple(x.shape), dtypes.real_dtype(x.dtype))  # |a + ib| is real


def _abs_vjp(g, inputs, out, needs):
    x = inputs[0]
    if not dtypes.is_complex(x.dtype):
        return (mul(g, sign_p.bind(x)),)
    # d|z| = (a da + b db) / |z|: the cotangent g conj(z) / |z|, 0 at z = 0.
    safe = where(equal_p.bind(out, scalar(0, out)), scalar(1, out), out)
    scale = cast(div(g, safe), x.dtype)
    return (mul(scale, conj_p.bind(x)),)


abs_p = Primitive("abs", shape_rule=_abs_rule, vjp=_abs_vjp, elementwise=True)
sign_p: Primitive = _unary("sign", _zero_vjp)
floor_p = _unary("floor", _zero_vjp)
ceil_p = _unary("ceil", _zero_vjp)
round_p = _unary("round", _zero_vjp)
exp_p = _unary("exp", lambda g, inputs, out, needs: (mul(g, out),), cost="transcendental")
expm1_p = _unary(
    "expm1",
    lambda g, inputs, out, needs: (mul(g, add(out, scalar(1, out))),),
    cost="transcendental",
)
log_p = _unary("log", lambda g, inputs, out, needs: (div(g, inputs[0]),), cost="transcendental")
log1p_p = _unary(
    "log1p",
    lambda g, inputs, out, needs: (div(g, add(inputs[0], scalar(1, g))),),
    cost="transcendental",
)
sqrt_p = _unary(
    "sqrt", lambda g, inputs, out, needs: (div(mul(g, scalar(0.5, g)), out),), cost="division"
)
rsqrt_p = _unary(
    "rsqrt",
    lambda g, inputs, out, needs: (mul(g, div(mul(scalar(-0.5, out), out), inputs[0])),),
    cost="division",
)
reciprocal_p = _unary(
    "reciprocal", lambda g, inputs, out, needs: (neg(mul(g, mul(out, out))),), cost="division"
)
sin_p = _unary(
    "sin", lambda g, inputs, out, needs: (mul(g, cos_p.bind(inputs[0])),), cost="transcendental"
)
cos_p: Primitive = _unary(
    "cos",
    lambda g, inputs, out, needs: (neg(mul(g, sin_p.bind(inputs[0]))),),
    cost="transcendental",
)
tan_p = _unary(
    "tan",
    lambda g, inputs, out, needs: (mul(g, add(scalar(1, out), mul(out, out))),),
    cost="transcendental",
)
arcsin_p = _unary(
    "arcsin",
    lambda g, inputs, out, needs: (mul(g, rsqrt_p.bind(_one_minus_square(inputs[0]))),),
    cost="transcendental",
)
arccos_p = _unary(
    "arccos",
    lambda g, inputs, out, needs: (neg(mul(g, rsqrt_p.bind(_one_minus_square(inputs[0])))),),
    cost="transcendental",
)
arctan_p = _unary(
    "arctan",
    lambda g, inputs, out, needs: (div(g, add(scalar(1, g), mul(inputs[0], inputs[0]))),),
    cost="transcendental",
)
sinh_p = _unary(
    "sinh", lambda g, inputs, out, needs: (mul(g, cosh_p.bind(inputs[0])),), cost="transcendental"
)
cosh_p: Primitive = _unary(
    "cosh", lambda g, inputs, out, needs: (mul(g, sinh_p.bind(inputs[0])),), cost="transcendental"
)
tanh_p = _unary(
    "tanh", lambda g, inputs, out, needs: (mul(g, _one_minus_square(out)),), cost="transcendental"
)
arcsinh_p = _unary(
    "arcsinh",
    lambda g, inputs, out, needs: (
        mul(g, rsqrt_p.bind(add(mul(inputs[0], inputs[0]), scalar(1, g)))),
    ),
    cost="transcendental",
)
arccosh_p = _unary(
    "arccosh",
    lambda g, inputs, out, needs: (
        mul(g, rsqrt_p.bind(sub(mul(inputs[0], inputs[0]), scalar(1, g)))),
    ),
    cost="transcendental",
)
arctanh_p = _unary(
    "arctanh",
    lambda g, inputs, out, needs: (div(g, _one_minus_square(inputs[0])),),
    cost="transcendental",
)
erf_p = _unary(
    "erf",
    lambda g, inputs, out, needs: (
        mul(
            g,
            mul(
                scalar(2 / math.sqrt(math.pi), g),
                exp_p.bind(neg(mul(inputs[0], inputs[0]))),
            ),
        ),
    ),
    cost="transcendental",
)
# d/dx erfc(x) = -2/sqrt(pi) exp(-x**2): erf's derivative, negated.
erfc_p = _unary(
    "erfc",
    lambda g, inputs, out, needs: (
        mul(g, mul(scalar(-2 / math.sqrt(math.pi), g), exp_p.bind(neg(mul(inputs[0], inputs[0]))))),
    ),
    cost="transcendental",
)
sigmoid_p = _unary(
    "sigmoid",
    lambda g, inputs, out, needs: (mul(g, mul(out, sub(scalar(1, out), out))),),
    cost="transcendental",
)
# d/dx erfinv(x) = sqrt(pi)/2 * exp(erfinv(x)**2), from the derivative of erf.
erfinv_p = _unary(
    "erfinv",
    lambda g, inputs, out, needs: (
        mul(g, mul(scalar(math.sqrt(math.pi) / 2, g), exp_p.bind(mul(out, out)))),
    ),
    cost="transcendental",
)
# d/dx I0(x) = I1(x); d/dx I1(x) = I0(x) - I1(x) / x, whose limit at 0 is 1/2.
i0_p = _unary(
    "i0", lambda g, inputs, out, needs: (mul(g, i1_p.bind(inputs[0])),), cost="transcendental"
)


def _i1_vjp(g, inputs, out, needs):
    x = inputs[0]
    at_zero = equal_p.bind(x, scalar(0, x))
    ratio = div(out, where(at_zero, scalar(1, x), x))
    slope = sub(i0_p.bind(x), where(at_zero, scalar(0.5, x), ratio))
    return (mul(g, slope),)


i1_p: Primitive = _unary("i1", _i1_vjp, cost="transcendental")
isnan_p = _unary("isnan", differentiable=False, out_dtype="bool")
isinf_p = _unary("isinf", differentiable=False, out_dtype="bool")
isfinite_p = _unary("isfinite", differentiable=False, out_dtype="bool")
logical_not_p = _unary("logical_not", differentiable=False, out_dtype="bool")
signbit_p = _unary("signbit", differentiable=False, out_dtype="bool")
bitwise_not_p = _unary("bitwise_not", differentiable=False)

# -- binary -------------------------------------------------------------------------


def _binary(
    name: str,
    vjp=None,
    *,
    differentiable: bool = True,
    out_dtype: str | None = None,
    cost: str = "arithmetic",
):
    return Primitive(
        name,
        shape_rule=rules.binary(name, out_dtype),
        vjp=vjp,
        differentiable=differentiable,
        elementwise=True,
        cost=cost,
    )


def _divide_vjp(g, inputs, out, needs):
    x, y = inputs
    return (
        div(g, y) if needs[0] else None,
        neg(div(mul(g, out), y)) if needs[1] else None,
    )


def _power_vjp(g, inputs, out, needs):
    x, y = inputs
    dx = dy = None
    if needs[0]:
        # y * x**(y - 1) is 0 * inf at x = 0, y = 0; the derivative there is 0.
        slope = mul(y, power_p.bind(x, sub(y, scalar(1, y))))
        dx = mul(g, where(equal_p.bind(y, scalar(0, y)), scalar(0, y), slope))
    if needs[1]:
        # d/dy x**y = x**y log x; taken as 0 where x == 0 (as JAX and PyTorch do).
        safe_x = where(equal_p.bind(x, scalar(0, x)), scalar(1, x), x)
        dy = mul(g, mul(out, log_p.bind(safe_x)))
    return dx, dy


def _select_max_vjp(g, inputs, out, needs):
    """Gradient of maximum/minimum: to the selected operand; split evenly on ties."""
    x, y = inputs
    half = scalar(0.5, g)
    x_share = where(equal_p.bind(x, out), scalar(1, g), scalar(0, g))
    y_share = where(equal_p.bind(y, out), scalar(1, g), scalar(0, g))
    tie = mul(x_share, y_share)
    x_share = sub(x_share, mul(tie, half))
    y_share = sub(y_share, mul(tie, half))
    return (mul(g, x_share) if needs[0] else None, mul(g, y_share) if needs[1] else None)


def _arctan2_vjp(g, inputs, out, needs):
    y, x = inputs
    denom = add(mul(x, x), mul(y, y))
    return (
        div(mul(g, x), denom) if needs[0] else None,
        neg(div(mul(g, y), denom)) if needs[1] else None,
    )


def _mod_vjp(g, inputs, out, needs):
    x, y = inputs
    return (
        g if needs[0] else None,
        neg(mul(g, floor_divide_p.bind(x, y))) if needs[1] else None,
    )


add_p = _binary("add", lambda g, inputs, out, needs: (g, g))
subtract_p = _binary("subtract", lambda g, inputs, out, needs: (g, neg(g) if needs[1] else None))
multiply_p = _binary(
    "multiply",
    lambda g, inputs, out, needs: (
        mul(g, inputs[1]) if needs[0] else None,
        mul(g, inputs[0]) if needs[1] else None,
    ),
)
divide_p = _binary("divide", _divide_vjp, cost="division")
floor_divide_p = _binary(
    "floor_divide",
    lambda g, inputs, out, needs: (zeros_like(inputs[0]), zeros_like(inputs[1])),
    cost="division",
)
mod_p = _binary("mod", _mod_vjp, cost="division")
power_p = _binary("power", _power_vjp, cost="transcendental")
maximum_p = _binary("maximum", _select_max_vjp)
minimum_p = _binary("minimum", _select_max_vjp)
arctan2_p = _binary("arctan2", _arctan2_vjp, cost="transcendental")

equal_p = _binary("equal", differentiable=False, out_dtype="bool")
not_equal_p = _binary("not_equal", differentiable=False, out_dtype="bool")
less_p = _binary("less", differentiable=False, out_dtype="bool")
less_equal_p = _binary("less_equal", differentiable=False, out_dtype="bool")
greater_p = _binary("greater", differentiable=False, out_dtype="bool")
greater_equal_p = _binary("greater_equal", differentiable=False, out_dtype="bool")
logical_and_p = _binary("logical_and", differentiable=False, out_dtype="bool")
logical_or_p = _binary("logical_or", differentiable=False, out_dtype="bool")
logical_xor_p = _binary("logical_xor", differentiable=False, out_dtype="bool")
# Bitwise ops on integers (and bools, except the shifts); the op layer checks dtypes.
bitwise_and_p = _binary("bitwise_and", differentiable=False)
bitwise_or_p = _binary("bitwise_or", differentiable=False)
bitwise_xor_p = _binary("bitwise_xor", differentiable=False)
left_shift_p = _binary("left_shift", differentiable=False)
right_shift_p = _binary("right_shift", differentiable=False)
# The next representable float after x1 towards x2: a step of one unit in the last place,
# which no arithmetic on floats computes exactly near powers of two and subnormals.
nextafter_p = _binary("nextafter", differentiable=False)

# -- select, cast, constants ----------------------------------------------------------


def _where_rule(cond: Aval, x: Aval, y: Aval) -> Aval:
    dtype = rules.same_dtype("where", x, y)
    return Aval(rules.broadcast_shapes("where", cond.shape, x.shape, y.shape), dtype)


def _where_vjp(g, inputs, out, needs):
    cond, x, y = inputs
    zero = scalar(0, g)
    return (
        None,
        where(cond, g, zero) if needs[1] else None,
        where(cond, zero, g) if needs[2] else None,
    )


where_p = Primitive("where", shape_rule=_where_rule, vjp=_where_vjp, elementwise=True)

cast_p: Primitive = Primitive(
    "cast",
    shape_rule=lambda x, *, dtype: Aval(tuple(x.shape), dtype),
    vjp=lambda g, inputs, out, needs, dtype: (cast_p.bind(g, dtype=inputs[0].dtype),),
    elementwise=True,
)

scalar_like_p = Primitive(
    "scalar_like",
    shape_rule=lambda like, *, value: Aval((), like.dtype),
    differentiable=False,
)


# -- complex parts ---------------------------------------------------------------------
# Cotangents of complex values follow JAX: for a real loss L of z = a + ib the
# cotangent of z is dL/da - i dL/db, so a complex-linear map's rule is its transpose
# (no conjugation) and the rules of the existing primitives hold for complex operands.


def _part_rule(op: str):
    def rule(x: Aval) -> Aval:
        if not dtypes.is_complex(x.dtype):
            raise DTypeError(with_location(f"{op}: needs a complex tensor, got {x.dtype}."))
        return Aval(tuple(x.shape), dtypes.real_dtype(x.dtype))

    rule.__name__ = f"_{op}_shape_rule"
    return rule


def _complex_rule(re: Aval, im: Aval) -> Aval:
    dtype = rules.same_dtype("complex", re, im)
    if dtype not in ("float32", "float64"):
        raise DTypeError(with_location(f"complex: needs float32 or float64 parts, got {dtype}."))
    return Aval(rules.broadcast_shapes("complex", re.shape, im.shape), dtypes.complex_dtype(dtype))


def _real_vjp(g, inputs, out, needs):
    return (cast(g, inputs[0].dtype),)  # L = <g, a>: cotangent g + 0i


def _imag_vjp(g, inputs, out, needs):
    return (complex_p.bind(zeros_like(g), neg(g)),)  # L = <g, b>: cotangent -ig


def _make_complex_vjp(g, inputs, out, needs):
    return (
        real_p.bind(g) if needs[0] else None,
        neg(imag_p.bind(g)) if needs[1] else None,
    )


real_p: Primitive = Primitive(
    "real", shape_rule=_part_rule("real"), vjp=_real_vjp, elementwise=True
)
imag_p: Primitive = Primitive(
    "imag", shape_rule=_part_rule("imag"), vjp=_imag_vjp, elementwise=True
)
conj_p: Primitive = _unary("conj", lambda g, inputs, out, needs: (conj_p.bind(g),))
complex_p: Primitive = Primitive(
    "complex", shape_rule=_complex_rule, vjp=_make_complex_vjp, elementwise=True
)
