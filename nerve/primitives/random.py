"""Random primitives: counter-based sampling from an explicit seed.

Every random primitive takes its seed as its first input: an int64 tensor of
shape ``(2,)`` holding ``(key, counter)``. A bind is a pure function of its
inputs and params, so the same seed gives the same numbers on every call and
every machine; and because the seed is a tensor, a traced program reads it from
a ``SeedGenerator``'s state variable at run time, drawing fresh numbers each
step. Stateful seeding (``SeedGenerator``) lives in ``nerve.random``, above.

Samplers are not differentiable (``differentiable=False``), except ``shuffle``:
a permutation is linear in its input, and its vjp is the inverse permutation
drawn from the same seed (``unshuffle``), so gradients flow through it.
"""

from __future__ import annotations

import inspect

from nerve.core import dtypes
from nerve.core.errors import DTypeError, ShapeError, normalize_axis, with_location
from nerve.core.symbolic import Dim
from nerve.primitives import rules
from nerve.primitives.registry import Aval, Primitive

__all__ = [
    "random_beta_p",
    "random_binomial_p",
    "random_categorical_p",
    "random_gamma_p",
    "random_normal_p",
    "random_randint_p",
    "random_shuffle_p",
    "random_truncated_normal_p",
    "random_uniform_p",
    "random_unshuffle_p",
]


def _check_seed(op: str, seed: Aval) -> None:
    if tuple(seed.shape) != (2,) or seed.dtype != "int64":
        raise TypeError(
            with_location(
                f"{op}: the seed must be an int64 tensor of shape (2,), got "
                f"{seed.dtype} of shape {tuple(seed.shape)}."
            )
        )


def _check_shape(op: str, shape) -> tuple:
    # A symbolic size (nerve.core.symbolic.Dim) is a valid dimension while tracing.
    if not isinstance(shape, tuple) or not all(
        isinstance(d, (int, Dim)) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise ShapeError(
            with_location(f"{op}: shape must be a tuple of non-negative ints, got {shape!r}.")
        )
    return shape


def _require(op: str, dtype: str, kind: str) -> None:
    if kind == "float" and not dtypes.is_float(dtype):
        raise DTypeError(
            with_location(f"{op}: dtype must be a floating-point type, got {dtype!r}.")
        )
    if kind == "int" and not dtypes.is_int(dtype):
        raise DTypeError(with_location(f"{op}: dtype must be an integer type, got {dtype!r}."))


def _exact_signature(rule, inputs: tuple[str, ...], params: tuple[str, ...]) -> None:
    """Give a generic ``rule`` the exact signature of its primitive (``inputs`` positional,
    ``params`` by keyword): the kernel contract is read off it (``Primitive.kernel_signature``)."""
    kind = inspect.Parameter
    rule.__signature__ = inspect.Signature(
        [inspect.Parameter(n, kind.POSITIONAL_OR_KEYWORD) for n in inputs]
        + [inspect.Parameter(n, kind.KEYWORD_ONLY) for n in params]
    )


def _sampler_rule(op: str, kind: str, params: tuple[str, str]):
    """Rule of a sampler with no tensor inputs but its seed: output is ``shape`` in
    ``dtype``; ``params`` names its two scalar params (``mean``/``stddev``, ...)."""

    def rule(seed: Aval, *, shape, dtype, **scalars) -> Aval:
        _check_seed(op, seed)
        _require(op, dtype, kind)
        return Aval(_check_shape(op, shape), dtype)

    rule.__name__ = f"_{op}_shape_rule"
    _exact_signature(rule, ("seed",), ("shape", "dtype", *params))
    return rule


def _parametric_rule(op: str, inputs: tuple[str, ...]):
    """Rule of a sampler whose distribution parameters (tensor ``inputs``) are broadcast
    to ``shape``."""

    def rule(seed: Aval, *params: Aval, shape, dtype) -> Aval:
        _check_seed(op, seed)
        _require(op, dtype, "float")
        shape = _check_shape(op, shape)
        for p in params:
            _require(op, p.dtype, "float")
        if rules.broadcast_shapes(op, shape, *(p.shape for p in params)) != shape:
            raise ShapeError(
                with_location(
                    f"{op}: parameters of shapes {[tuple(p.shape) for p in params]} do not "
                    f"broadcast to the requested shape {shape}."
                )
            )
        return Aval(shape, dtype)

    rule.__name__ = f"_{op}_shape_rule"
    _exact_signature(rule, ("seed", *inputs), ("shape", "dtype"))
    return rule


# -- samplers with no tensor inputs ---------------------------------------------------

# Standard normal scaled: mean + stddev * z.
random_normal_p = Primitive(
    "random_normal",
    shape_rule=_sampler_rule("random_normal", "float", ("mean", "stddev")),
    differentiable=False,
    random=True,
)
# Uniform in [minval, maxval), maxval excluded even after rounding to ``dtype``.
random_uniform_p = Primitive(
    "random_uniform",
    shape_rule=_sampler_rule("random_uniform", "float", ("minval", "maxval")),
    differentiable=False,
    random=True,
)
# Normal with values beyond two standard deviations re-drawn.
random_truncated_normal_p = Primitive(
    "random_truncated_normal",
    shape_rule=_sampler_rule("random_truncated_normal", "float", ("mean", "stddev")),
    differentiable=False,
    random=True,
)
# Integers in [minval, maxval).
random_randint_p = Primitive(
    "random_randint",
    shape_rule=_sampler_rule("random_randint", "int", ("minval", "maxval")),
    differentiable=False,
    random=True,
)

# -- samplers with parameter tensors ---------------------------------------------------

random_gamma_p = Primitive(
    "random_gamma",
    shape_rule=_parametric_rule("random_gamma", ("alpha",)),
    differentiable=False,
    random=True,
)
random_beta_p = Primitive(
    "random_beta",
    shape_rule=_parametric_rule("random_beta", ("alpha", "beta")),
    differentiable=False,
    random=True,
)
random_binomial_p = Primitive(
    "random_binomial",
    shape_rule=_parametric_rule("random_binomial", ("counts", "probabilities")),
    differentiable=False,
    random=True,
)


def _categorical_rule(seed: Aval, logits: Aval, *, num_samples, dtype) -> Aval:
    _check_seed("categorical", seed)
    _require("categorical", dtype, "int")
    _require("categorical", logits.dtype, "float")
    if len(logits.shape) != 2:
        raise ShapeError(
            with_location(
                f"categorical: logits must be 2-D (batch_size, num_classes), got shape "
                f"{tuple(logits.shape)}."
            )
        )
    if logits.shape[1] == 0 and logits.shape[0] and num_samples:
        raise ShapeError(
            with_location(f"categorical: logits of shape {tuple(logits.shape)} have no classes.")
        )
    return Aval((logits.shape[0], num_samples), dtype)


# Class indices drawn from softmax(logits) per row.
random_categorical_p = Primitive(
    "random_categorical", shape_rule=_categorical_rule, differentiable=False, random=True
)

# -- shuffle: a differentiable random permutation -----------------------------------------


def _shuffle_rule(op: str):
    def rule(seed: Aval, x: Aval, *, axis) -> Aval:
        _check_seed(op, seed)
        normalize_axis(axis, len(x.shape), op)
        return Aval(tuple(x.shape), x.dtype)

    rule.__name__ = f"_{op}_shape_rule"
    return rule


def _shuffle_vjp(ct, inputs, out, needs, *, axis):
    return (None, random_unshuffle_p.bind(inputs[0], ct, axis=axis))


def _unshuffle_vjp(ct, inputs, out, needs, *, axis):
    return (None, random_shuffle_p.bind(inputs[0], ct, axis=axis))


# Permutes ``x`` along ``axis`` by the permutation drawn from ``seed``.
random_shuffle_p = Primitive(
    "random_shuffle", shape_rule=_shuffle_rule("shuffle"), vjp=_shuffle_vjp, random=True
)
# The inverse of ``random_shuffle`` for the same seed and axis (its vjp).
random_unshuffle_p = Primitive(
    "random_unshuffle", shape_rule=_shuffle_rule("unshuffle"), vjp=_unshuffle_vjp, random=True
)
