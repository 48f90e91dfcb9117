"""Activation functions by Keras name (``keras.activations``).

Each is a function of one tensor; ``get`` resolves a name, a function or
``None`` (linear), as layers' ``activation=`` arguments do.

>>> from nerve import activations, ops
>>> activations.get("relu")(ops.convert_to_tensor([-1.0, 2.0])).numpy()
array([0., 2.], dtype=float32)
>>> activations.serialize(activations.get("gelu"))
'gelu'
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nerve import ops
from nerve.core import object_registry
from nerve.tensor import Tensor


def relu(
    x: Any, negative_slope: float = 0.0, max_value: float | None = None, threshold: float = 0.0
) -> Tensor:
    """Rectified linear unit, with Keras's optional leak, cap and threshold."""
    x = ops.convert_to_tensor(x)
    if negative_slope == 0.0 and max_value is None and threshold == 0.0:
        return ops.relu(x)
    shifted = x - threshold if threshold else x
    out = ops.where(x > threshold, x, shifted * negative_slope if negative_slope else 0.0)
    return out if max_value is None else ops.minimum(out, max_value)


def relu6(x: Any) -> Tensor:
    """``min(max(x, 0), 6)``."""
    return ops.relu6(x)


def leaky_relu(x: Any, negative_slope: float = 0.2) -> Tensor:
    """``x`` where positive, ``negative_slope * x`` elsewhere."""
    return ops.leaky_relu(x, negative_slope)


def elu(x: Any, alpha: float = 1.0) -> Tensor:
    """Exponential linear unit."""
    return ops.elu(x, alpha)


def selu(x: Any) -> Tensor:
    """Scaled exponential linear unit."""
    return ops.selu(x)


def gelu(x: Any, approximate: bool = False) -> Tensor:
    """Gaussian error linear unit (exact by default, as in Keras's activation)."""
    return ops.gelu(x, approximate)


def silu(x: Any) -> Tensor:
    """``x * sigmoid(x)``."""
    return ops.silu(x)


swish = silu


def mish(x: Any) -> Tensor:
    """``x * tanh(softplus(x))``."""
    x = ops.convert_to_tensor(x)
    return x * ops.tanh(ops.softplus(x))


def softmax(x: Any, axis: int = -1) -> Tensor:
    """Softmax over ``axis``."""
    return ops.softmax(x, axis)


def log_softmax(x: Any, axis: int = -1) -> Tensor:
    """Log-softmax over ``axis``."""
    return ops.log_softmax(x, axis)


def sigmoid(x: Any) -> Tensor:
    """Logistic sigmoid."""
    return ops.sigmoid(x)


def hard_sigmoid(x: Any) -> Tensor:
    """Piecewise-linear sigmoid ``clip(x / 6 + 0.5, 0, 1)``."""
    return ops.hard_sigmoid(x)


def hard_silu(x: Any) -> Tensor:
    """``x * hard_sigmoid(x)``."""
    return ops.hard_silu(x)


hard_swish = hard_silu


def tanh(x: Any) -> Tensor:
    """Hyperbolic tangent."""
    return ops.tanh(x)


def softplus(x: Any) -> Tensor:
    """``log(1 + exp(x))``."""
    return ops.softplus(x)


def softsign(x: Any) -> Tensor:
    """``x / (1 + |x|)``."""
    return ops.softsign(x)


def exponential(x: Any) -> Tensor:
    """``exp(x)``."""
    return ops.exp(x)


def linear(x: Any) -> Tensor:
    """The identity (Keras's name for "no activation")."""
    return ops.convert_to_tensor(x)


def celu(x: Any, alpha: float = 1.0) -> Tensor:
    """Continuously differentiable exponential linear unit."""
    return ops.celu(x, alpha)


def glu(x: Any, axis: int = -1) -> Tensor:
    """Gated linear unit: the first half of ``axis`` times the sigmoid of the second."""
    return ops.glu(x, axis)


def hard_tanh(x: Any) -> Tensor:
    """``clip(x, -1, 1)``."""
    return ops.hard_tanh(x)


def hard_shrink(x: Any, threshold: float = 0.5) -> Tensor:
    """``x`` where ``|x| > threshold``, else 0."""
    return ops.hard_shrink(x, threshold)


def soft_shrink(x: Any, threshold: float = 0.5) -> Tensor:
    """Shrink towards 0 by ``threshold``; within it, 0."""
    return ops.soft_shrink(x, threshold)


def tanh_shrink(x: Any) -> Tensor:
    """``x - tanh(x)``."""
    return ops.tanh_shrink(x)


def threshold(x: Any, threshold: float, default_value: float) -> Tensor:
    """``x`` where ``x > threshold``, else ``default_value``."""
    return ops.threshold(x, threshold, default_value)


def log_sigmoid(x: Any) -> Tensor:
    """``log(sigmoid(x))``, computed stably."""
    return ops.log_sigmoid(x)


def sparse_plus(x: Any) -> Tensor:
    """0 below -1, ``(x + 1)**2 / 4`` on (-1, 1), ``x`` above 1."""
    return ops.sparse_plus(x)


def sparse_sigmoid(x: Any) -> Tensor:
    """0 below -1, ``(x + 1) / 2`` on (-1, 1), 1 above 1."""
    return ops.sparse_sigmoid(x)


def squareplus(x: Any, b: float = 4) -> Tensor:
    """``(x + sqrt(x**2 + b)) / 2``."""
    return ops.squareplus(x, b)


def sparsemax(x: Any, axis: int = -1) -> Tensor:
    """The projection of ``x`` onto the probability simplex along ``axis``."""
    return ops.sparsemax(x, axis)


_BY_NAME: dict[str, Callable] = {
    "relu": relu, "relu6": relu6, "leaky_relu": leaky_relu, "elu": elu, "selu": selu,
    "gelu": gelu, "silu": silu, "swish": swish, "mish": mish, "softmax": softmax,
    "log_softmax": log_softmax, "sigmoid": sigmoid, "hard_sigmoid": hard_sigmoid,
    "hard_silu": hard_silu, "hard_swish": hard_swish, "tanh": tanh, "softplus": softplus,
    "softsign": softsign, "exponential": exponential, "linear": linear, "celu": celu,
    "glu": glu, "hard_tanh": hard_tanh, "hard_shrink": hard_shrink, "soft_shrink": soft_shrink,
    "tanh_shrink": tanh_shrink, "threshold": threshold, "log_sigmoid": log_sigmoid,
    "sparse_plus": sparse_plus, "sparse_sigmoid": sparse_sigmoid, "squareplus": squareplus,
    "sparsemax": sparsemax,
}  # fmt: skip


def get(identifier: str | Callable | None) -> Callable:
    """The activation for a name, a function (returned as is) or ``None`` (linear)."""
    if identifier is None:
        return linear
    if callable(identifier):
        return identifier
    if isinstance(identifier, str) and identifier in _BY_NAME:
        return _BY_NAME[identifier]
    if isinstance(identifier, str):
        # A custom activation registered with register_keras_serializable (or passed in
        # a custom_object_scope), by its registered or plain name.
        custom = object_registry.get_registered_object(identifier)
        if custom is not None:
            return custom
    raise ValueError(
        f"Unknown activation {identifier!r}. Expected a function or one of: "
        f"{', '.join(sorted(_BY_NAME))}."
    )


def serialize(activation: Callable) -> str:
    """The Keras name of a built-in activation (``get`` inverts it)."""
    for name, fn in _BY_NAME.items():
        if fn is activation:
            # Aliases (swish, hard_swish) serialize under their canonical name.
            return {"swish": "silu", "hard_swish": "hard_silu"}.get(name, name)
    if getattr(activation, "__name__", None) is None:
        raise ValueError(f"Cannot serialize activation {activation!r}: it has no name.")
    # "package>name" for a registered function, so ``get`` can find it again.
    return object_registry.get_registered_name(activation)


def deserialize(config: Any, custom_objects: dict | None = None) -> Callable:
    """The activation a ``serialize`` result names (a name, or Keras's
    ``{"class_name": "function", "config": name}`` dict); ``custom_objects`` maps names
    to functions.

    >>> deserialize("relu") is relu
    True
    """
    name = config.get("config") if isinstance(config, dict) else config
    if not isinstance(name, str):
        raise ValueError(f"deserialize expects an activation name or its dict; got {config!r}.")
    custom = (custom_objects or {}).get(name)
    return custom if custom is not None else get(name)


__all__ = [*sorted(_BY_NAME), "deserialize", "get", "serialize"]
