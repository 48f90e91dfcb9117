"""``Bidirectional``: a recurrent layer run forwards and backwards over the sequence,
the two outputs merged (Keras 3's ``keras.layers.Bidirectional``).

The forward layer is a copy of the given one (rebuilt from its config, named
``forward_<name>``); the backward layer is ``backward_layer`` or another copy with
``go_backwards=True`` (``backward_<name>``). Its sequence output is flipped back, so
position ``t`` of both halves belongs to input step ``t``. ``merge_mode`` is
``"concat"`` (the default), ``"sum"``, ``"mul"``, ``"ave"`` or ``None`` (the two
outputs as a pair). With ``return_state=True`` the forward states follow the output,
then the backward ones. Weights: the forward layer's, then the backward layer's.

>>> from nerve import layers, ops
>>> both = layers.Bidirectional(layers.LSTM(4, return_sequences=True))
>>> both(ops.ones((2, 5, 3))).shape
(2, 5, 8)
>>> [w.path for w in both.weights][:2]
['lstm_cell/kernel', 'lstm_cell/recurrent_kernel']
"""

from __future__ import annotations

from typing import Any

from nerve import ops
from nerve.layers.base import Layer
from nerve.layers.rnn._configs import deserialize_layer, serialize_layer

__all__ = ["Bidirectional"]

MERGE_MODES = ("concat", "sum", "mul", "ave", None)


def _renamed_copy(layer: Layer, prefix: str, **changes: Any) -> Any:
    config = serialize_layer(layer)
    name = layer.name.removeprefix(prefix)
    config["config"] = {**config["config"], "name": f"{prefix}{name}", **changes}
    return deserialize_layer(config)


class Bidirectional(Layer):
    """A recurrent layer run in both directions (see the module docstring): for
    sequences ``(batch, timesteps, features)`` and a wrapped layer of ``units``
    outputs, ``merge_mode="concat"`` gives ``(batch, 2 * units)`` (or
    ``(batch, timesteps, 2 * units)`` with ``return_sequences=True``), the other
    merges ``units`` wide, and ``None`` a pair.

    Args:
        layer: the recurrent layer to run forwards (``LSTM``, ``GRU``, ``RNN``, ...);
            the layer holds a copy of it, not the instance itself.
        merge_mode: how the two outputs combine: ``"concat"`` (the default, along the
            last axis), ``"sum"``, ``"mul"``, ``"ave"`` (their mean) or ``None``
            (returned as a pair).
        weights: an optional list of initial weight values (the forward layer's,
            then the backward layer's), set when the layer is built.
        backward_layer: an optional recurrent layer for the backward direction; it
            must have ``go_backwards=True`` and the same ``return_sequences``,
            ``return_state`` and ``stateful`` as ``layer``. By default a copy of
            ``layer`` that reads backwards.

    Call arguments:
        sequences: a tensor of shape ``(batch, timesteps, ...)``.
        initial_state: optional list of initial states: the forward layer's, then the
            backward layer's.
        mask: optional boolean ``(batch, timesteps)`` tensor; by default the implicit
            mask the inputs carry.
        training: passed to both halves.

    >>> from nerve import layers, ops
    >>> pair = layers.Bidirectional(layers.GRU(3), merge_mode=None)(ops.ones((2, 4, 5)))
    >>> [p.shape for p in pair]
    [(2, 3), (2, 3)]
    """

    def __init__(
        self,
        layer: Layer,
        merge_mode: str | None = "concat",
        weights: list | None = None,
        backward_layer: Layer | None = None,
        **kwargs: Any,
    ):
        if not isinstance(layer, Layer):
            raise ValueError(
                f"Bidirectional: `layer` must be a nerve.layers.Layer instance (a recurrent "
                f"layer); received {layer!r}."
            )
        if backward_layer is not None and not isinstance(backward_layer, Layer):
            raise ValueError(
                "Bidirectional: `backward_layer` must be a nerve.layers.Layer instance; "
                f"received {backward_layer!r}."
            )
        if merge_mode not in MERGE_MODES:
            raise ValueError(
                f"Bidirectional: invalid merge_mode {merge_mode!r}; expected one of "
                '"sum", "mul", "ave", "concat" or None.'
            )
        super().__init__(**kwargs)
        recurrent: Any = layer  # any layer with the RNN attributes (return_sequences, ...)
        self.forward_layer: Any = _renamed_copy(layer, "forward_")
        if backward_layer is None:
            backward_layer = _renamed_copy(layer, "backward_", go_backwards=True)
        self.backward_layer: Any = backward_layer
        self._verify_layers()
        halves: tuple[Any, Any] = (self.forward_layer, self.backward_layer)
        for half in halves:
            if hasattr(half, "zero_output_for_mask"):
                half.zero_output_for_mask = half.return_sequences
        self.merge_mode = merge_mode
        self._initial_weights = weights
        self.stateful = recurrent.stateful
        self.return_sequences = recurrent.return_sequences
        self.return_state = recurrent.return_state

    def _verify_layers(self) -> None:
        forward, backward = self.forward_layer, self.backward_layer
        if forward.go_backwards == backward.go_backwards:
            raise ValueError(
                "Bidirectional: the forward and backward layers must have different "
                f"`go_backwards` values; received forward_layer.go_backwards="
                f"{forward.go_backwards}, backward_layer.go_backwards={backward.go_backwards}."
            )
        for name in ("stateful", "return_sequences", "return_state"):
            if getattr(forward, name) != getattr(backward, name):
                raise ValueError(
                    f"Bidirectional: the forward and backward layers must have the same "
                    f"{name!r}; received {getattr(forward, name)} for the forward layer and "
                    f"{getattr(backward, name)} for the backward layer."
                )

    # -- shapes and masks ---------------------------------------------------------------
    def build(self, sequences_shape: Any, initial_state_shape: Any = None) -> None:
        for half in (self.forward_layer, self.backward_layer):
            if not half.built:
                half.build(tuple(sequences_shape))
        if self._initial_weights:
            self.set_weights(self._initial_weights)
            self._initial_weights = None

    def compute_output_shape(self, sequences_shape: Any, initial_state_shape: Any = None) -> Any:
        output_shape = self.forward_layer.compute_output_shape(sequences_shape)
        state_shapes: tuple = ()
        if self.return_state:
            output_shape, state_shapes = output_shape[0], tuple(output_shape[1:])
        if self.merge_mode == "concat":
            output_shape = (*output_shape[:-1], output_shape[-1] * 2)
        elif self.merge_mode is None:
            pair = (output_shape, output_shape)
            return (*pair, *state_shapes, *state_shapes) if self.return_state else pair
        if self.return_state:
            return (output_shape, *state_shapes, *state_shapes)
        return output_shape

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        if isinstance(mask, list):
            mask = mask[0]
        if self.return_sequences:
            output_mask = mask if self.merge_mode else (mask, mask)
        else:
            output_mask = None if self.merge_mode else (None, None)
        if self.return_state and self.states is not None:
            none_states = (None,) * len(self.states)
            if isinstance(output_mask, tuple):
                return (*output_mask, *none_states)
            return (output_mask, *none_states)
        return output_mask

    # -- calling --------------------------------------------------------------------------
    def call(
        self, sequences: Any, initial_state: Any = None, mask: Any = None, training: Any = None
    ) -> Any:
        kwargs: dict = {}
        if "training" in self.forward_layer._call_signature.parameters:
            kwargs["training"] = training
        if "mask" in self.forward_layer._call_signature.parameters:
            kwargs["mask"] = mask
        forward_state = backward_state = None
        if initial_state is not None:
            half = len(initial_state) // 2
            forward_state, backward_state = initial_state[:half], initial_state[half:]
        y = self.forward_layer(sequences, initial_state=forward_state, **kwargs)
        y_rev = self.backward_layer(sequences, initial_state=backward_state, **kwargs)
        states: tuple = ()
        if self.return_state:
            states = (*y[1:], *y_rev[1:])
            y, y_rev = y[0], y_rev[0]
        if self.return_sequences:
            y_rev = ops.flip(y_rev, axis=1)
        output = self._merge(y, y_rev)
        if self.return_state:
            return (*output, *states) if self.merge_mode is None else (output, *states)
        return output

    def _merge(self, y: Any, y_rev: Any) -> Any:
        if self.merge_mode == "concat":
            return ops.concatenate([y, y_rev], axis=-1)
        if self.merge_mode == "sum":
            return y + y_rev
        if self.merge_mode == "ave":
            return (y + y_rev) / 2
        if self.merge_mode == "mul":
            return y * y_rev
        return (y, y_rev)

    # -- state ------------------------------------------------------------------------------
    @property
    def states(self) -> tuple | None:
        forward, backward = self.forward_layer.states, self.backward_layer.states
        return (*forward, *backward) if forward and backward else None

    def reset_state(self) -> None:
        """Zero both halves' states (the layer must be stateful)."""
        if not self.stateful:
            raise AttributeError(f"Layer {self.name!r} (Bidirectional) must be stateful.")
        self.forward_layer.reset_state()
        self.backward_layer.reset_state()

    def reset_states(self) -> None:
        """Alias of ``reset_state``."""
        self.reset_state()

    # -- serialization ------------------------------------------------------------------------
    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "merge_mode": self.merge_mode,
            "layer": serialize_layer(self.forward_layer),
            "backward_layer": serialize_layer(self.backward_layer),
        }

    @classmethod
    def from_config(cls, config: dict) -> Bidirectional:
        config = dict(config)
        config["layer"] = deserialize_layer(config["layer"])
        backward = config.pop("backward_layer", None)
        if backward is not None:
            config["backward_layer"] = deserialize_layer(backward)
        return cls(**config)
