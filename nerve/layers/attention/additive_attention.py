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
    ``Attention``'s: ``[query, value]`` or ``[query, value, key]`` of shapes
    ``(batch, Tq, dim)``, ``(batch, Tv, dim_v)`` and ``(batch, Tv, dim)`` give
    ``(batch, Tq, dim_v)``.

    Args:
        use_scale: whether the ``tanh(query + key)`` terms are weighted by a learned
            ``(dim,)`` vector ``scale`` (starting Glorot-uniform) before they are
            summed; true by default.
        dropout: the fraction of attention weights to drop while training, in
            ``[0, 1]``; 0 by default. (``seed``, passed by keyword, makes the draws
            reproducible.)

    Call arguments:
        inputs: the list ``[query, value]`` or ``[query, value, key]``.
        mask: optional list ``[query_mask, value_mask]``, as for ``Attention``.
        training: whether dropout applies.
        return_attention_scores: whether to return ``(outputs, weights)`` too.
        use_causal_mask: whether query ``i`` sees only values ``j <= i``.

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
