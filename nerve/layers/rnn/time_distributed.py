"""``TimeDistributed``: one layer applied to every time step of a sequence, with the
same weights (Keras 3's ``keras.layers.TimeDistributed``).

As in Keras, the wrapped layer's ``call`` runs once per time step on that step's
``(batch, ...)`` slice, so a layer whose result depends on the whole batch (batch
normalization while training) sees each step's batch alone; the outputs are stacked
on axis 1. An input mask ``(batch, timesteps)`` is passed on, and each step's slice
to a layer whose ``call`` takes ``mask``.

>>> from nerve import layers, ops
>>> wrapped = layers.TimeDistributed(layers.Dense(4))
>>> wrapped(ops.ones((2, 5, 3))).shape, wrapped.weights[0].shape
((2, 5, 4), (3, 4))
"""

from __future__ import annotations

from typing import Any

from nerve import ops
from nerve.core.errors import ShapeError, with_location
from nerve.layers.base import Layer
from nerve.layers.rnn._configs import deserialize_layer, serialize_layer
from nerve.tensor import Tensor

__all__ = ["TimeDistributed"]


class TimeDistributed(Layer):
    """Apply ``layer`` to every time step (see the module docstring): inputs of shape
    ``(batch, timesteps, ...)`` give ``(batch, timesteps, ...)``, where each step's
    slice has become what ``layer`` makes of a ``(batch, ...)`` input.

    Args:
        layer: the layer to apply (a ``nerve.layers.Layer``); its weights are shared
            by every step.

    Call arguments:
        inputs: a tensor of shape ``(batch, timesteps, ...)``.
        training: passed to ``layer`` when its ``call`` takes it.
        mask: optional boolean tensor starting with ``(batch, timesteps)``; each
            step's slice is passed to ``layer`` when its ``call`` takes a mask.

    >>> from nerve import layers, ops
    >>> frames = ops.ones((2, 6, 8, 8, 3))  # six 8x8 RGB frames per example
    >>> layers.TimeDistributed(layers.Conv2D(4, 3))(frames).shape
    (2, 6, 6, 6, 4)
    """

    _passes_masks = True

    def __init__(self, layer: Layer, **kwargs: Any):
        if not isinstance(layer, Layer):
            raise ValueError(
                f"TimeDistributed: `layer` must be a nerve.layers.Layer instance; received "
                f"{layer!r}."
            )
        super().__init__(**kwargs)
        self.layer = layer

    def _child_shape(self, input_shape: Any) -> tuple:
        if not isinstance(input_shape, (tuple, list)) or len(input_shape) < 3:
            raise ShapeError(
                with_location(
                    f"Layer {self.name!r} (TimeDistributed) expects inputs of shape (batch, "
                    f"timesteps, ...) (rank 3 or more), but received shape {input_shape}."
                )
            )
        return (input_shape[0], *input_shape[2:])

    def build(self, input_shape: Any) -> None:
        child = self._child_shape(tuple(input_shape))
        if not self.layer.built:
            self.layer.build(child)

    def compute_output_shape(self, input_shape: Any) -> tuple:
        child = self.layer.compute_output_shape(self._child_shape(tuple(input_shape)))
        return (child[0], input_shape[1], *child[1:])

    def call(self, inputs: Tensor, training: Any = None, mask: Any = None) -> Tensor:
        shape = tuple(inputs.shape)
        self._child_shape(shape)
        if mask is not None:
            mask = ops.convert_to_tensor(mask)
            if mask.ndim < 2 or tuple(mask.shape[:2]) != shape[:2]:
                raise ShapeError(
                    with_location(
                        f"Layer {self.name!r} (TimeDistributed) received a mask of shape "
                        f"{tuple(mask.shape)} for inputs of shape {shape}; the mask must start "
                        f"with (batch, timesteps) = {shape[:2]}."
                    )
                )
        parameters = self.layer._call_signature.parameters
        outputs = []
        for t in range(shape[1]):
            kwargs: dict = {}
            if "training" in parameters:
                kwargs["training"] = training
            if "mask" in parameters and mask is not None:
                kwargs["mask"] = mask[:, t]
            outputs.append(self.layer.call(inputs[:, t], **kwargs))
        return ops.stack(outputs, axis=1)

    def get_config(self) -> dict:
        return {**super().get_config(), "layer": serialize_layer(self.layer)}

    @classmethod
    def from_config(cls, config: dict) -> TimeDistributed:
        config = dict(config)
        return cls(deserialize_layer(config.pop("layer")), **config)
