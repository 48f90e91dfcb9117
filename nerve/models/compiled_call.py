"""``model(x)`` on concrete inputs through a compiled forward pass, once it repeats.

Calling a model eagerly runs each layer's Python and each op's kernel one at a time.
For a small batch that Python, not the arithmetic, is the latency: a 784-512-256-10
MLP at batch 1 spends most of an eager call in ``Layer.__call__`` and the eager
interpreter, a few times what its three matrix products take. Serving loops call
``model(x)`` over and over, so after :data:`WARMUP` eager calls of a model the next
ones run its forward pass as a ``nerve.function`` (batch axis symbolic: every batch
size reuses one trace; a new dtype or feature shape traces once more).

It takes this path only where the result is the same as the eager call's:

* the model is a plain ``Sequential`` or ``Functional`` model (a subclass's ``call``
  may have Python side effects that a trace would run once) made only of nerve's own
  layers, none of them stateful and none with an activity regularizer, and it was
  not compiled with ``run_eagerly=True``;
* the call is ``model(x)`` or ``model(x, training=False)`` with arrays or tensors
  (or a list, tuple or dict of them) that carry no mask, outside any trace, outside a
  recording ``GradientTape`` (gradients need the eager tape) and outside a training
  scope;
* the warm-up calls produced no output mask and no activity loss.

A call the compiled path cannot run (a trace that fails, or a kernel error) runs
eagerly instead, which raises the error a user should see; if the eager call then
succeeds, the model stays eager from then on.

>>> import numpy as np
>>> import nerve
>>> model = nerve.Sequential([nerve.Input((3,)), nerve.layers.Dense(2)])
>>> x = np.ones((1, 3), "float32")
>>> outputs = [model(x) for _ in range(4)]  # the 4th call runs compiled
>>> model._compiled_forward.compiled
True
>>> bool(np.allclose(outputs[0].numpy(), outputs[-1].numpy()))
True
"""

from __future__ import annotations

from typing import Any

from nerve.autodiff.tape import is_recording
from nerve.graph.trace import active_trace
from nerve.layers.base import Layer, _training
from nerve.tensor import Tensor

__all__ = ["WARMUP", "CompiledForward"]

#: Eager calls before ``model(x)`` compiles: a model called once or twice (a shape
#: check, a test) never pays for a trace.
WARMUP = 3

#: Distinct input signatures (dtype and non-batch shape) before giving up: an input
#: whose feature shape changes every call would trace every call.
MAX_SIGNATURES = 8


def _plain_leaf(x: Any) -> bool:
    if type(x) is Tensor:
        return getattr(x, "_keras_mask", None) is None
    return hasattr(x, "__array__") and hasattr(x, "shape") and hasattr(x, "dtype")


def _plain_input(x: Any) -> bool:
    """Arrays or mask-free tensors, alone or in one flat list, tuple or dict."""
    if _plain_leaf(x):
        return True
    if type(x) in (list, tuple):
        return bool(x) and all(_plain_leaf(v) for v in x)
    if type(x) is dict:
        return bool(x) and all(_plain_leaf(v) for v in x.values())
    return False


def _eligible_model(model: Any) -> bool:
    from nerve.models.functional import Functional
    from nerve.models.sequential import Sequential

    if type(model) not in (Sequential, Functional) or model.run_eagerly:
        return False
    for layer in model._flatten_layers():
        if not type(layer).__module__.startswith("nerve."):
            return False
        if layer.activity_regularizer is not None or getattr(layer, "stateful", False):
            return False
    return True


def _side_effects(model: Any, outputs: Any) -> bool:
    """Whether an eager call left what a compiled call would not: output masks or
    activity losses."""
    from nerve.core import tree

    if any(getattr(t, "_keras_mask", None) is not None for t in tree.flatten(outputs)[0]):
        return True
    return any(layer._activity_losses for layer in model._flatten_layers())


class CompiledForward:
    """The per-model state of the compiled ``model(x)`` path (see the module docstring)."""

    def __init__(self) -> None:
        self.eager_calls = 0
        self.disabled = False
        self.function: Any = None

    @property
    def compiled(self) -> bool:
        """Whether calls now run compiled."""
        return self.function is not None and not self.disabled

    def reset(self) -> None:
        """Forget the compiled forward (the model's layers changed)."""
        self.eager_calls = 0
        self.function = None
        self.disabled = False

    def applies(self, args: tuple, kwargs: dict) -> bool:
        """Whether this call may take the compiled path (cheap checks, every call)."""
        if self.disabled or len(args) != 1:
            return False
        if kwargs and (len(kwargs) > 1 or kwargs.get("training", True)):
            return False
        if active_trace() is not None or _training.get():
            return False
        if is_recording():
            return False
        return _plain_input(args[0])

    def __call__(self, model: Any, x: Any) -> Any:
        if self.function is None:
            return self._warm_up(model, x)
        try:
            outputs = self.function(x, None)
        except Exception:
            outputs = Layer.__call__(model, x, training=False)
            # The eager call worked where the compiled one failed: stay eager.
            self.disabled = True
            return outputs
        if self.function.structure_count > MAX_SIGNATURES:
            self.disabled = True  # the inputs keep changing shape: stop tracing them
        return outputs

    def _warm_up(self, model: Any, x: Any) -> Any:
        outputs = Layer.__call__(model, x, training=False)
        self.eager_calls += 1
        if _side_effects(model, outputs) or not _eligible_model(model):
            self.disabled = True
        elif self.eager_calls >= WARMUP:
            from nerve.training.trainer import _BatchPolymorphicFunction

            def forward(data: Any, mask: Any) -> Any:
                return model(data, training=False)

            self.function = _BatchPolymorphicFunction(forward)
        return outputs
