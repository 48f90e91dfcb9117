"""Softmax, log-softmax and the cross-entropy losses of ``keras.ops``, numerically
stable from logits."""

from __future__ import annotations

import warnings
from typing import Any

from nerve.autodiff.tape import record, stop_recording
from nerve.core import config
from nerve.core.errors import ShapeError, normalize_axes, normalize_axis, with_location
from nerve.ops._convert import cast, promote, tensor, to_float
from nerve.ops.core import stop_gradient
from nerve.ops.creation import arange
from nerve.ops.elementwise import (
    abs,
    add,
    divide,
    equal,
    exp,
    log,
    log1p,
    maximum,
    multiply,
    negative,
    subtract,
)
from nerve.ops.elementwise import clip as _clip
from nerve.primitives import nn as nnp
from nerve.primitives import reduction as rp
from nerve.primitives.shape import reshape
from nerve.tensor import IdentityWeakMap, Tensor

__all__ = [
    "binary_crossentropy",
    "categorical_crossentropy",
    "log_softmax",
    "softmax",
    "sparse_categorical_crossentropy",
]


# -- softmax -------------------------------------------------------------------------------


def _softmax_axes(x: Tensor, axis: Any, op: str) -> tuple:
    return tuple(sorted(normalize_axes(axis, x.ndim, op)))


def _shifted(x: Tensor, axes: tuple) -> Tensor:
    """``x - max(x)`` over ``axes``; the max is a constant to autodiff (softmax and
    log-softmax don't depend on it), which keeps their gradients simple and exact."""
    if x.size == 0:
        return x
    peak = rp.reduce_max_p.bind(x, axes=axes, keepdims=True)
    return subtract(x, stop_gradient(peak))


def softmax(x: Any, axis: Any = -1) -> Tensor:
    """``exp(x) / sum(exp(x))`` over ``axis``, computed stably.

    >>> from nerve import ops
    >>> ops.softmax(ops.convert_to_tensor([0.0, 1000.0])).numpy()
    array([0., 1.], dtype=float32)
    """
    x = to_float(x)
    if isinstance(axis, int) and -x.ndim <= axis < x.ndim and x.shape[axis] == 1:
        # Keras's warning: a softmax over one element is always 1.
        warnings.warn(
            f"softmax: You are using a softmax over axis {axis} of a tensor of shape "
            f"{tuple(x.shape)}. This axis has size 1. The softmax operation will always "
            "return the value 1, which is likely not what you intended. Did you mean to "
            "use a sigmoid instead?",
            UserWarning,
            stacklevel=2,
        )
    return softmax_over(x, _softmax_axes(x, axis, "softmax"))


class _SoftmaxGradient:
    """The recorded node of a softmax: its gradient is ``y * (g - sum(g * y))`` over
    the softmax's axes, from its output ``y`` alone.

    Why not the gradients of the five steps it computes: those read the steps' own
    values (``exp``, the sum), so a compiled training step kept them and could not
    run the forward softmax as one loop (``graph.passes.softmax``); and they take more
    passes over memory (an attention's (32, 4, 128, 128) scores: ~12 ms of a
    Transformer step on two threads, 2026-12-06). Written with primitives, so it is
    differentiable again (through ``y``'s own node)."""

    name = "softmax"
    differentiable = True

    def __init__(self, axes: tuple) -> None:
        self.axes = axes

    def vjp(self, g, inputs, out, needs):
        total = rp.reduce_sum_p.bind(multiply(g, out), axes=self.axes, keepdims=True)
        return (multiply(out, subtract(g, total)),)


def softmax_over(x: Tensor, axes: tuple) -> Tensor:
    """``softmax`` of a float tensor over normalized ``axes``, without ``softmax``'s
    warning about a size-1 axis (for callers where one is expected: attention over a
    single key)."""
    with stop_recording():
        e = exp(_shifted(x, axes))
        value = divide(e, rp.reduce_sum_p.bind(e, axes=axes, keepdims=True))
    out = Tensor(value)  # a tensor of its own: the output of the recorded node
    record(_SoftmaxGradient(axes), (x,), {}, (out,))
    _softmax_inputs[out] = (x, axes)
    return out


# softmax output -> (its logits, axes): the cross-entropies below then use the stable
# from-logits form for probabilities that came straight from a softmax, as Keras's
# TensorFlow backend does (``_keras_logits``), instead of log(clip(p)).
_softmax_inputs = IdentityWeakMap()


def _logits_behind(output: Any, axis: int) -> Tensor | None:
    if not isinstance(output, Tensor):
        return None
    entry = _softmax_inputs.get(output)
    if entry is None or entry[1] != (axis % output.ndim,):
        return None
    return entry[0]


def log_softmax(x: Any, axis: Any = -1) -> Tensor:
    """``x - logsumexp(x)`` over ``axis``, computed stably (no log of an underflowed 0)."""
    x = to_float(x)
    axes = _softmax_axes(x, axis, "log_softmax")
    shifted = _shifted(x, axes)
    total = rp.reduce_sum_p.bind(exp(shifted), axes=axes, keepdims=True)
    return subtract(shifted, log(total))


# -- losses ----------------------------------------------------------------------------------


def _check_same_shape(op: str, target: Tensor, output: Tensor) -> None:
    if tuple(target.shape) != tuple(output.shape):
        raise ShapeError(
            with_location(
                f"{op}: target and output must have the same shape; got target "
                f"{tuple(target.shape)} and output {tuple(output.shape)}."
            )
        )


def _over_last_axis(output: Tensor, axis: int) -> bool:
    """Whether the classes of ``output`` (normalized ``axis``) are its last axis, of a
    known, nonzero size: where the cross-entropy primitives take the logits."""
    classes = output.shape[axis]
    return axis == output.ndim - 1 and isinstance(classes, int) and classes > 0


def categorical_crossentropy(
    target: Any, output: Any, from_logits: bool = False, axis: int = -1
) -> Tensor:
    """Cross-entropy between one-hot (or soft) ``target`` and ``output`` over ``axis``.

    ``output`` holds probabilities (renormalised to sum to 1, then clipped to
    ``[epsilon, 1 - epsilon]`` as Keras does), or logits with ``from_logits=True``,
    where the loss is computed from a stable log-softmax.

    >>> from nerve import ops
    >>> t = ops.convert_to_tensor([[0.0, 1.0]])
    >>> ops.categorical_crossentropy(t, ops.convert_to_tensor([[1e3, 0.0]]), from_logits=True)
    Tensor([1000.], dtype=float32)
    """
    if not from_logits:
        logits = _logits_behind(output, axis) if isinstance(output, Tensor) else None
        if logits is not None:
            output, from_logits = logits, True
    target, output = promote(target, output, extra=(float,))
    _check_same_shape("categorical_crossentropy", target, output)
    axis = normalize_axis(axis, output.ndim, "categorical_crossentropy")
    if from_logits and _over_last_axis(output, axis):
        # One row loop each way (``softmax_cross_entropy``), as the sparse form.
        return nnp.softmax_cross_entropy_p.bind(output, target)
    if from_logits:
        log_prob = log_softmax(output, axis=axis)
    else:
        output = divide(output, rp.reduce_sum_p.bind(output, axes=(axis,), keepdims=True))
        eps = config.epsilon()
        log_prob = log(_clip(output, eps, 1.0 - eps))
    return negative(rp.reduce_sum_p.bind(multiply(target, log_prob), axes=(axis,), keepdims=False))


def sparse_categorical_crossentropy(
    target: Any, output: Any, from_logits: bool = False, axis: int = -1
) -> Tensor:
    """Cross-entropy with integer class labels ``target`` (``output`` without ``axis``).

    >>> from nerve import ops
    >>> out = ops.convert_to_tensor([[0.2, 0.8]])
    >>> ops.sparse_categorical_crossentropy(ops.convert_to_tensor([1]), out).numpy().round(4)
    array([0.2231], dtype=float32)
    """
    target = tensor(target)
    if not from_logits and _logits_behind(output, axis) is not None:
        output, from_logits = _logits_behind(output, axis), True
    output = to_float(output)
    axis = normalize_axis(axis, output.ndim, "sparse_categorical_crossentropy")
    expected = tuple(d for i, d in enumerate(output.shape) if i != axis)
    if tuple(target.shape) != expected:
        raise ShapeError(
            with_location(
                f"sparse_categorical_crossentropy: target of shape {tuple(target.shape)} "
                f"must have the shape of output {tuple(output.shape)} without axis {axis}, "
                f"i.e. {expected}."
            )
        )
    classes = output.shape[axis]
    if from_logits and _over_last_axis(output, axis):
        # One row loop each way (``sparse_softmax_cross_entropy``) where the one-hot
        # steps below are ~16 small kernels forward and back. Labels are class indices:
        # float labels are truncated to int32 first, as Keras does.
        if not target.dtype.startswith(("int", "uint")):
            target = cast(target, "int32")
        return nnp.sparse_softmax_cross_entropy_p.bind(output, target)
    # A one-hot mask by comparison with arange keeps this free of gather ops.
    target = reshape(target, (*expected[:axis], 1, *expected[axis:]))
    index_shape = (classes,) + (1,) * (output.ndim - axis - 1)
    one_hot = cast(
        equal(target, reshape(arange(classes, dtype=target.dtype), index_shape)), output.dtype
    )
    return categorical_crossentropy(one_hot, output, from_logits=from_logits, axis=axis)


def binary_crossentropy(target: Any, output: Any, from_logits: bool = False) -> Tensor:
    """Elementwise binary cross-entropy of ``target`` against probabilities ``output``
    (clipped to ``[epsilon, 1 - epsilon]``), or against logits with ``from_logits=True``
    (computed as ``max(x, 0) - x * t + log1p(exp(-|x|))``, stable for any ``x``)."""
    target, output = promote(target, output, extra=(float,))
    _check_same_shape("binary_crossentropy", target, output)
    if from_logits:
        return add(
            subtract(maximum(output, 0.0), multiply(output, target)),
            log1p(exp(negative(abs(output)))),
        )
    eps = config.epsilon()
    output = _clip(output, eps, 1.0 - eps)
    return negative(
        add(
            multiply(target, log(output)),
            multiply(subtract(1.0, target), log(subtract(1.0, output))),
        )
    )
