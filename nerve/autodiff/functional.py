"""Functional differentiation: ``grad`` and ``value_and_grad`` (JAX's shape of API).

>>> import nerve
>>> from nerve import ops
>>> f = lambda a: ops.sum(ops.sin(a) * a)
>>> round(float(nerve.grad(f)(2.0)), 5)           # sin(2) + 2 cos(2)
0.077
>>> round(float(nerve.grad(nerve.grad(f))(2.0)), 5)   # 2 cos(2) - 2 sin(2)
-2.65089
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

from nerve.autodiff.tape import GradientTape
from nerve.core import tree
from nerve.core.dtypes import is_float
from nerve.core.errors import ShapeError, with_location
from nerve.tensor import Tensor, convert_to_tensor

__all__ = [
    "grad",
    "value_and_grad",
]


def _as_differentiable(x: Any, argnum: int) -> Any:
    """Leaves become float tensors (variables stay variables, so they are watched as such);
    integer or boolean arguments have no gradient, so asking for one is an error."""

    def convert(leaf):
        t = leaf if isinstance(leaf, Tensor) else convert_to_tensor(leaf)
        if not is_float(t.dtype):
            raise TypeError(
                with_location(
                    f"grad: argument {argnum} has dtype {t.dtype}, but only floating-point "
                    "inputs have gradients. Pass a float (e.g. 2.0 instead of 2) or cast it."
                )
            )
        return t

    return tree.map_structure(convert, x)


def value_and_grad(
    fun: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False
) -> Callable:
    """A function returning ``(fun(*args), gradient)`` (or ``((value, aux), gradient)``
    with ``has_aux``). ``fun`` must return a scalar; the gradient has the structure of
    ``args[argnums]`` (a tuple of those when ``argnums`` is a sequence).

    >>> import nerve
    >>> value, g = nerve.value_and_grad(lambda x, y: x * y, argnums=(0, 1))(3.0, 4.0)
    >>> float(value), float(g[0]), float(g[1])
    (12.0, 4.0, 3.0)
    """
    multiple = not isinstance(argnums, int)
    positions = (argnums,) if isinstance(argnums, int) else tuple(argnums)

    @functools.wraps(fun)
    def wrapper(*args, **kwargs):
        args = list(args)
        for p in positions:
            if p >= len(args):
                raise ValueError(
                    f"argnums {p} is out of range: the function got {len(args)} positional "
                    "arguments."
                )
            args[p] = _as_differentiable(args[p], p)
        with GradientTape(watch_accessed_variables=False) as tape:
            for p in positions:
                tape.watch(args[p])
            out = fun(*args, **kwargs)
        if has_aux:
            if not (isinstance(out, (tuple, list)) and len(out) == 2):
                raise TypeError("With has_aux=True the function must return (value, aux).")
            value, aux = out
        else:
            value, aux = out, None
        if not isinstance(value, Tensor):
            value = convert_to_tensor(value)
        if value.shape != ():
            raise ShapeError(
                with_location(
                    f"grad needs a function with a scalar output, got shape {value.shape}. "
                    "Reduce it (e.g. with nerve.ops.sum) or use GradientTape.gradient."
                )
            )
        sources = tuple(args[p] for p in positions)
        grads = tape.gradient(value, sources, unconnected_gradients="zero")
        grads = grads if multiple else grads[0]
        return ((value, aux), grads) if has_aux else (value, grads)

    return wrapper


def grad(fun: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False) -> Callable:
    """The gradient of scalar-valued ``fun`` with respect to ``args[argnums]``.

    >>> import nerve
    >>> float(nerve.grad(lambda x: x ** 3)(2.0))
    12.0
    """
    value_and_grad_fun = value_and_grad(fun, argnums, has_aux)

    @functools.wraps(fun)
    def wrapper(*args, **kwargs):
        out, grads = value_and_grad_fun(*args, **kwargs)
        return (grads, out[1]) if has_aux else grads

    return wrapper
