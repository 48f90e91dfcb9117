"""The eager interpreter: every primitive bind outside a trace runs here.

``eager_bind`` runs the primitive's kernel on the backend that owns its inputs'
arrays and records the op on the gradient tapes that track an input
(``nerve.autodiff.tape``). It is the base of the primitive registry's interpreter
stack; tracing pushes another on top.

It is the hottest path in eager mode, so it does no checking: a kernel failure is
explained afterwards by the shape rule (``_explain_failure``). For debugging,
``nerve.config.enable_shape_rule_checks()`` (or ``NERVE_CHECK_SHAPE_RULES=1`` in
the environment) installs ``checked_eager_bind`` instead, which also compares every
result with what the primitive's shape rule predicts and raises
``ShapeRuleMismatchError`` naming both; switching costs nothing when off.

>>> import nerve
>>> nerve.config.enable_shape_rule_checks()
>>> float(nerve.ops.sum(nerve.ops.ones((2, 3))))
6.0
>>> nerve.config.enable_shape_rule_checks(False)
"""

from __future__ import annotations

import os
from typing import Any

from nerve.autodiff import tape as _tape
from nerve.autodiff.tape import _state, record
from nerve.backend import backend_of, get_backend
from nerve.core import config
from nerve.core.errors import NerveError, with_location
from nerve.primitives.registry import Aval, Primitive, aval_list, set_base_interpreter
from nerve.tensor import Tensor, _new_tensor

__all__ = ["ShapeRuleMismatchError", "check_shape_rule", "checked_eager_bind", "eager_bind"]

_object_new = object.__new__


class ShapeRuleMismatchError(NerveError):
    """A kernel returned a shape or dtype its primitive's shape rule did not predict
    (a bug in the kernel or the rule: the graph compiler trusts the rules)."""


def eager_bind(prim: Primitive, args: tuple, params: dict) -> Any:
    """Run ``prim`` now on the backend owning its inputs, and record it if needed."""
    # This function runs for every eager op: two-input ops without params (most
    # arithmetic) take the shortest path.
    n = len(args)
    values: tuple | list
    if n == 2:
        x, y = args
        first = x._value
        values = (first, y._value)
    elif n == 1:
        first = args[0]._value
        values = (first,)
    elif n:
        values = [a._value for a in args]
        first = values[0]
    else:
        first = values = ()
    # The kernel for this array type, cached on the primitive: one dict lookup.
    kernel = prim.kernels_by_array_type.get(type(first))
    if kernel is None:
        kernel = _resolve_kernel(prim, first if n else None)
    try:
        out = kernel(*values, **params) if params else kernel(*values)
    except NerveError:
        raise
    except Exception as error:
        raise _explain_failure(prim, args, params, error) from error
    if prim.multiple_results:
        result = tuple(_new_tensor(o) for o in out)
        if _tape._recording_threads and _state.tapes and prim.differentiable:
            record(prim, args, params, result)
        return result
    tensor = _object_new(Tensor)
    tensor._value = out
    if _tape._recording_threads and _state.tapes and prim.differentiable:
        record(prim, args, params, (tensor,))
    return tensor


def _resolve_kernel(prim: Primitive, array: Any):
    """Find ``prim``'s kernel on the backend owning ``array`` (the default device's
    backend when the primitive has no inputs) and cache it by array type."""
    if array is None:
        return get_backend().kernel(prim.kernel)  # depends on the device scope: no cache
    kernel = backend_of(array).kernel(prim.kernel)
    prim.kernels_by_array_type[type(array)] = kernel
    return kernel


def _explain_failure(prim: Primitive, args: tuple, params: dict, error: Exception) -> Exception:
    """A kernel failed: let the shape rule say why in nerve's words, if it can."""
    avals = [Aval(a.shape, a.dtype) for a in args]
    try:
        prim.shape_rule(*avals, **params)
    except NerveError as explained:
        return explained
    received = ", ".join(f"{a.dtype}{list(a.shape)}" for a in avals)
    return NerveError(with_location(f"{prim.name} failed on inputs ({received}): {error}"))


def check_shape_rule(prim: Primitive, args: tuple, params: dict, result: Any) -> None:
    """Raise ``ShapeRuleMismatchError`` unless ``result`` (one tensor, or a tuple for
    multiple results) has the shapes and dtypes ``prim``'s shape rule predicts."""
    rule_result = prim.shape_rule(*(Aval(a.shape, a.dtype) for a in args), **params)
    predicted = aval_list(rule_result, prim.multiple_results)
    actual = tuple(result) if prim.multiple_results else (result,)
    received = ", ".join(f"{a.dtype}{list(a.shape)}" for a in args)
    if len(predicted) != len(actual):
        raise ShapeRuleMismatchError(
            f"{prim.name} on ({received}): the shape rule predicts {len(predicted)} "
            f"results, the {backend_of(_first_value(args, actual)).name} kernel gave "
            f"{len(actual)}."
        )
    for i, (p, a) in enumerate(zip(predicted, actual)):
        if (tuple(p.shape), p.dtype) != (tuple(a.shape), a.dtype):
            raise ShapeRuleMismatchError(
                f"{prim.name}{params or ''} on ({received}): the shape rule predicts "
                f"result {i} as {p.dtype}{list(p.shape)}, the "
                f"{backend_of(_first_value(args, actual)).name} kernel gave "
                f"{a.dtype}{list(a.shape)}."
            )


def _first_value(args: tuple, results: tuple) -> Any:
    return (args[0] if args else results[0])._value


def checked_eager_bind(prim: Primitive, args: tuple, params: dict) -> Any:
    """``eager_bind``, then ``check_shape_rule`` on its result."""
    result = eager_bind(prim, args, params)
    check_shape_rule(prim, args, params, result)
    return result


def _install(checked: bool) -> None:
    set_base_interpreter(checked_eager_bind if checked else eager_bind)


if os.environ.get("NERVE_CHECK_SHAPE_RULES", "") not in ("", "0"):
    config.enable_shape_rule_checks()
config.on_shape_rule_checks(_install)  # installs the interpreter now
