"""``clone_model``: a new model of the same architecture with fresh weights (Keras 3's
``keras.models.clone_model``).

>>> from nerve import layers, models
>>> m = models.Sequential([layers.Input((3,)), layers.Dense(2, name="d")])
>>> twin = models.clone_model(m)
>>> twin is m, [layer.name for layer in twin.layers]
(False, ['d'])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nerve.layers.base import Layer
from nerve.layers.input_layer import InputLayer
from nerve.models.functional import Functional
from nerve.models.model import Model
from nerve.models.sequential import Sequential

__all__ = ["clone_model"]


def _fresh_copy(layer: Layer) -> Layer:
    """The layer rebuilt from its config: same hyperparameters, new variables."""
    return type(layer).from_config(layer.get_config())


def clone_model(
    model: Model,
    input_tensors: Any = None,
    clone_function: Callable[[Layer], Layer] | None = None,
    call_function: Callable | None = None,
    recursive: bool = False,
    **kwargs: Any,
) -> Model:
    """A new model with ``model``'s architecture and newly initialized weights; nothing
    is shared with ``model`` (copy weights with ``twin.set_weights(model.get_weights())``).

    ``clone_function`` maps each layer of a ``Sequential`` to the layer the clone uses
    (default: the layer rebuilt from its config). A Functional or subclassed model is
    rebuilt from its config. ``input_tensors``, ``call_function`` and ``recursive`` are
    Keras arguments nerve does not support yet; passing them raises ``NotImplementedError``.

    >>> from nerve import layers
    >>> m = Sequential([layers.Input((4,)), layers.Dense(3)])
    >>> clone_model(m).output_shape
    (None, 3)
    """
    if not isinstance(model, Model):
        raise ValueError(
            f"clone_model expects a nerve Model (Sequential, Functional or subclassed); "
            f"got {type(model).__name__}."
        )
    if kwargs:
        raise TypeError(f"clone_model got unexpected keyword arguments {sorted(kwargs)}.")
    unsupported = {
        "input_tensors": input_tensors,
        "call_function": call_function,
        "recursive": recursive or None,
    }
    given = sorted(name for name, value in unsupported.items() if value is not None)
    if given:
        raise NotImplementedError(f"clone_model: {', '.join(given)} is not supported yet.")
    if isinstance(model, Sequential):
        clone = clone_function or _fresh_copy
        copies = [clone(layer) for layer in model.layers if not isinstance(layer, InputLayer)]
        twin = Sequential(copies, name=model.name, trainable=model.trainable)
        if model.input_shape is not None:
            twin.build(model.input_shape)
        return twin
    if clone_function is not None:
        kind = "Functional" if isinstance(model, Functional) else "subclassed"
        raise NotImplementedError(
            f"clone_model: clone_function is supported for Sequential models only, "
            f"got a {kind} model {model.name!r}."
        )
    return type(model).from_config(model.get_config())
