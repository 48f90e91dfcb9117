"""``custom_gradient``: a function with a hand-written gradient (TensorFlow's API).

>>> import nerve
>>> from nerve import ops
>>> @nerve.custom_gradient
... def clip_gradient(x):
...     def grad(upstream):
...         return ops.clip(upstream, -1.0, 1.0)
...     return x * 1.0, grad
>>> float(nerve.grad(lambda x: 5.0 * clip_gradient(x))(3.0))
1.0
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from nerve.autodiff.tape import record, stop_recording
from nerve.core import tree
from nerve.tensor import Tensor, convert_to_tensor

__all__ = [
    "custom_gradient",
]


class _CustomVJP:
    """Stands in for a primitive in a recorded node; its vjp calls the user's function."""

    differentiable = True

    def __init__(self, name: str, grad_fn: Callable, num_outputs: int):
        self.name = f"custom_gradient[{name}]"
        self.grad_fn = grad_fn
        self.num_outputs = num_outputs

    def vjp(self, ct, inputs, out, needs):
        grads = self.grad_fn(*ct) if self.num_outputs > 1 else self.grad_fn(ct)
        if isinstance(grads, (list, tuple)):
            grads = tuple(grads)
        else:
            grads = (grads,)
        if len(grads) != len(inputs):
            raise ValueError(
                f"{self.name}: the gradient function returned {len(grads)} gradients for "
                f"{len(inputs)} inputs."
            )
        return tuple(None if g is None else convert_to_tensor(g) for g in grads)


def custom_gradient(f: Callable) -> Callable:
    """Decorate ``f(*tensors) -> (outputs, grad_fn)``; ``grad_fn(*upstream)`` returns one
    gradient per input. The body of ``f`` is not recorded; ``grad_fn`` is, so it can be
    differentiated again."""

    @functools.wraps(f)
    def wrapper(*args):
        inputs = tuple(a if isinstance(a, Tensor) else convert_to_tensor(a) for a in args)
        with stop_recording():
            outputs, grad_fn = f(*inputs)
        leaves, rebuild = tree.flatten(outputs)
        # Fresh tensor objects, so the node's outputs are not shared with anything recorded.
        leaves = [Tensor(convert_to_tensor(o)) for o in leaves]
        record(_CustomVJP(f.__name__, grad_fn, len(leaves)), inputs, {}, tuple(leaves))
        return rebuild(leaves)

    return wrapper
