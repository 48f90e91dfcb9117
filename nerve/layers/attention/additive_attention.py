"""``AdditiveAttention``: Bahdanau-style attention (Keras's
``keras.layers.AdditiveAttention``): the score of a query and a key is
``sum(scale * tanh(query + key))`` over the features."""

from __future__ import annotations

from typing import Any

from nerve import ops
from nerve.layers.attention.attention import Attention
from nerve.tensor import Tensor

__all__ = ["AdditiveAttention"]


class AdditiveAttention(Attention):
    """``Attention`` with additive scores; ``use_scale=True`` (the default) learns a
    per-feature ``scale`` of shape ``(dim,)``. Inputs, masks and call arguments are
    ``Attention``'s.

    >>> import numpy as np
    >>> from nerve import layers
    >>> layer = layers.AdditiveAttention()
    >>> layer([np.ones((2, 3, 4), "float32"), np.ones((2, 5, 4), "float32")]).shape
    (2, 3, 4)
    >>> [tuple(w.shape) for w in layer.weights]
    [(4,)]
    """

    def __init__(self, use_scale: bool = True, dropout: float = 0.0, **kwargs: Any):
        kwargs.pop("score_mode", None)  # not AdditiveAttention's; Keras ignores it too
        super().__init__(use_scale=use_scale, dropout=dropout, **kwargs)

    def build(self, input_shape: Any) -> None:
        self._check_inputs(input_shape)
        self.scale = None
        self.concat_score_weight = None
        if self.use_scale:
            features = tuple(input_shape[0])[-1]
            self.scale = self.add_weight(
                shape=(features,), initializer="glorot_uniform", name="scale"
            )

    def _scores(self, query: Tensor, key: Tensor) -> Tensor:
        pairs = ops.tanh(ops.expand_dims(query, -2) + ops.expand_dims(key, -3))
        if self.scale is not None:
            pairs = pairs * self._cast(self.scale)
        return ops.sum(pairs, axis=-1)

    def get_config(self) -> dict:
        config = super().get_config()
        del config["score_mode"]
        return config
