"""``Embedding`` (integer ids to vectors) and ``Masking`` (skip padded time steps):
the two layers that start Keras's implicit masks.

``Embedding`` looks rows up with ``ops.take``, whose gradient is a scatter-add into a
table of zeros (only the rows that were used get a contribution), not a product with
a dense one-hot matrix. With ``mask_zero=True`` id 0 means padding: the output carries
the mask ``ids != 0``, which ``Layer.__call__`` hands to every later layer that takes a
``mask`` (recurrent layers, attention, pooling) and losses and metrics use to leave
padded steps out.

>>> import numpy as np
>>> import nerve
>>> layer = nerve.layers.Embedding(10, 3, mask_zero=True)
>>> out = layer(np.array([[4, 2, 0, 0]]))
>>> out.shape, out._keras_mask.numpy().tolist()
((1, 4, 3), [[True, True, False, False]])
"""

from __future__ import annotations

from typing import Any

from nerve import constraints, initializers, ops, regularizers
from nerve.core import dtypes
from nerve.core.errors import ShapeError, check_int, with_location
from nerve.layers.base import Layer
from nerve.tensor import Tensor

__all__ = ["Embedding", "Masking"]


def _positive_int(value: Any, name: str) -> int:
    return check_int(value, name, "Embedding")


class Embedding(Layer):
    """Turns integer ids of shape ``(batch, ...)`` into vectors of shape
    ``(batch, ..., output_dim)``: row ``i`` of ``embeddings`` for id ``i``.

    Args:
        input_dim: the number of ids (the vocabulary size); ids run ``0..input_dim-1``.
        output_dim: the size of each vector.
        embeddings_initializer, embeddings_regularizer, embeddings_constraint: for the
            ``(input_dim, output_dim)`` table, as Keras's.
        mask_zero: id 0 is padding; the output carries the mask ``ids != 0`` (so id 0
            is reserved and ``input_dim`` should count it).
        weights: an initial table (a list holding one array, or the array).
        lora_rank, lora_alpha, quantization_config: accepted for Keras compatibility;
            anything but ``None`` for ``lora_rank`` or ``quantization_config`` raises
            ``NotImplementedError`` (low-rank adaptation and quantization are not
            supported yet).

    Ids must be integers in ``[0, input_dim)``: a float array, or (when the ids are
    known, outside ``nerve.function``) an id out of range, is an error naming the layer.

    >>> import numpy as np
    >>> from nerve import layers
    >>> embed = layers.Embedding(input_dim=100, output_dim=8)
    >>> embed(np.array([[3, 14, 15], [92, 6, 5]])).shape, embed.embeddings.shape
    ((2, 3, 8), (100, 8))
    """

    def __init__(
        self,
        input_dim: int,
        output_dim: int,
        embeddings_initializer: Any = "uniform",
        embeddings_regularizer: Any = None,
        embeddings_constraint: Any = None,
        mask_zero: bool = False,
        weights: Any = None,
        lora_rank: int | None = None,
        lora_alpha: float | None = None,
        quantization_config: Any = None,
        **kwargs: Any,
    ):
        kwargs.pop("input_length", None)  # Keras 2's argument; Keras 3 ignores it too
        if lora_rank is not None or quantization_config is not None:
            raise NotImplementedError("Embedding: LoRA and quantization are not supported yet.")
        super().__init__(**kwargs)
        self.input_dim = _positive_int(input_dim, "input_dim")
        self.output_dim = _positive_int(output_dim, "output_dim")
        self.embeddings_initializer = initializers.get(embeddings_initializer)
        self.embeddings_regularizer = regularizers.get(embeddings_regularizer)
        self.embeddings_constraint = constraints.get(embeddings_constraint)
        self.mask_zero = bool(mask_zero)
        self.supports_masking = self.mask_zero
        # Ids stay integers: autocasting would turn them into floats.
        self.autocast = False
        if weights is not None:
            self.build()
            self.set_weights(weights if isinstance(weights, list) else [weights])

    def build(self, input_shape: Any = None) -> None:
        if getattr(self, "embeddings", None) is not None:
            return
        self.embeddings = self.add_weight(
            shape=(self.input_dim, self.output_dim),
            initializer=self.embeddings_initializer,
            regularizer=self.embeddings_regularizer,
            constraint=self.embeddings_constraint,
            name="embeddings",
        )
        self.built = True

    def call(self, inputs: Tensor) -> Tensor:
        ids = ops.convert_to_tensor(inputs)
        if not dtypes.is_int(ids.dtype):
            # Floats are cast, as in Keras (``Input(shape=(None,))`` is float32 by
            # default); where the values are known, they must be whole numbers.
            if dtypes.is_float(ids.dtype) and (
                not _concrete(ids) or bool(ops.all(ids == ops.round(ids)))
            ):
                ids = ops.cast(ids, "int32")
            else:
                raise TypeError(
                    with_location(
                        f"Embedding {self.name!r} expects integer ids; received dtype "
                        f"{ids.dtype} (cast the input to int32)."
                    )
                )
        if _concrete(ids) and ids.size:
            low, high = int(ops.min(ids)), int(ops.max(ids))
            if low < 0 or high >= self.input_dim:
                raise ValueError(
                    with_location(
                        f"Embedding {self.name!r} has input_dim={self.input_dim}, so ids must "
                        f"be in [0, {self.input_dim}); received ids from {low} to {high}."
                    )
                )
        return ops.take(self._cast(self.embeddings), ids, axis=0)

    def compute_mask(self, inputs: Any, previous_mask: Any = None) -> Any:
        if not self.mask_zero:
            return None
        return ops.not_equal(inputs, 0)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (*input_shape, self.output_dim)

    def compute_flops(self, input_shape: Any, output_shape: Any) -> int | None:
        return 0  # a table lookup

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            "embeddings_initializer": initializers.serialize(self.embeddings_initializer),
            "embeddings_regularizer": regularizers.serialize(self.embeddings_regularizer),
            "embeddings_constraint": constraints.serialize(self.embeddings_constraint),
            "mask_zero": self.mask_zero,
        }


def _concrete(x: Tensor) -> bool:
    """Whether ``x`` holds values (eager), not a placeholder being traced."""
    from nerve.graph.trace import active_trace

    return active_trace() is None


class Masking(Layer):
    """Marks time steps whose features all equal ``mask_value`` as padding: they are
    set to 0 and the output carries the mask of the others (shape ``(batch, steps)``)
    for later layers to skip. The output has the input's shape ``(batch, steps,
    ...)``.

    Args:
        mask_value: the value that marks padding; 0.0 by default.

    >>> import numpy as np
    >>> x = np.array([[[1.0, 2.0], [0.0, 0.0], [3.0, 0.0]]])
    >>> Masking(mask_value=0.0)(x)._keras_mask.numpy().tolist()
    [[True, False, True]]
    """

    def __init__(self, mask_value: float = 0.0, **kwargs: Any):
        super().__init__(**kwargs)
        self.mask_value = mask_value
        self.supports_masking = True

    def call(self, inputs: Tensor) -> Tensor:
        if inputs.ndim < 2:
            raise ShapeError(
                with_location(
                    f"Masking {self.name!r} expects inputs of shape (batch, steps, ...); "
                    f"received shape {inputs.shape}."
                )
            )
        keep = ops.any(ops.not_equal(inputs, self.mask_value), axis=-1, keepdims=True)
        outputs = ops.where(keep, inputs, ops.zeros_like(inputs))
        outputs._keras_mask = ops.squeeze(keep, axis=-1)
        return outputs

    def compute_mask(self, inputs: Any, previous_mask: Any = None) -> Any:
        return ops.any(ops.not_equal(inputs, self.mask_value), axis=-1)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "mask_value": self.mask_value}
