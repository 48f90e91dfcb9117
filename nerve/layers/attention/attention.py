"""``Attention``: Luong-style dot-product attention (Keras's ``keras.layers.Attention``),
the base of ``AdditiveAttention``.

Called on ``[query, value]`` or ``[query, value, key]`` (``key`` defaults to
``value``) of shapes ``(batch, Tq, dim)``, ``(batch, Tv, dim_v)`` and ``(batch, Tv,
dim)``; ``mask=[query_mask, value_mask]`` (booleans ``(batch, Tq)`` and ``(batch,
Tv)``) keeps padded values out of every query's mix and zeroes the outputs of padded
queries. The output has shape ``(batch, Tq, dim_v)``, and the output's mask is the
query's.
"""

from __future__ import annotations

from typing import Any

from nerve import ops
from nerve import random as nrandom
from nerve.core.errors import ShapeError, with_location
from nerve.layers.base import Layer
from nerve.tensor import Tensor

__all__ = ["Attention"]


class Attention(Layer):
    """Scores ``query @ key^T`` (``score_mode="dot"``) or ``sum(tanh(query + key))``
    (``score_mode="concat"``), a softmax over the value steps, then the mix of values.

    Inputs ``[query, value]`` or ``[query, value, key]`` of shapes
    ``(batch, Tq, dim)``, ``(batch, Tv, dim_v)`` and ``(batch, Tv, dim)`` give
    ``(batch, Tq, dim_v)``: each query's mix of the values, weighted by how well it
    matches each key (``key`` is ``value`` when left out).

    Args:
        use_scale: whether the scores are multiplied by a learned scalar ``scale``
            (starting at 1) before the softmax; false by default.
        score_mode: ``"dot"`` (the default: the dot product of query and key) or
            ``"concat"`` (``tanh`` of their sum, summed over the features and
            multiplied by a learned scalar ``concat_score_weight``).
        dropout: the fraction of attention weights to drop while training, in
            ``[0, 1]``; 0 by default.
        seed: an int to make the dropout reproducible; ``None`` draws a fresh seed.

    Call arguments:
        inputs: the list ``[query, value]`` or ``[query, value, key]``.
        mask: optional list ``[query_mask, value_mask]`` of booleans ``(batch, Tq)``
            and ``(batch, Tv)``: masked values get no weight, masked queries output
            zeros. By default the implicit masks the inputs carry.
        training: whether dropout applies.
        return_attention_scores: whether to return ``(outputs, weights)``, with the
            ``(batch, Tq, Tv)`` weights after the softmax (false by default).
        use_causal_mask: whether query ``i`` sees only values ``j <= i`` (false by
            default), as in a decoder.

    >>> import numpy as np
    >>> from nerve import layers
    >>> query, value = np.ones((2, 3, 4), "float32"), np.ones((2, 5, 4), "float32")
    >>> layers.Attention()([query, value]).shape
    (2, 3, 4)
    >>> out, scores = layers.Attention(use_scale=True)([query, value], return_attention_scores=True)
    >>> scores.shape
    (2, 3, 5)
    """

    def __init__(
        self,
        use_scale: bool = False,
        score_mode: str = "dot",
        dropout: float = 0.0,
        seed: int | None = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        if score_mode not in ("dot", "concat"):
            raise ValueError(
                f"{type(self).__name__}: score_mode must be 'dot' or 'concat', got {score_mode!r}."
            )
        if not 0 <= dropout <= 1:
            raise ValueError(f"{type(self).__name__}: dropout must be in [0, 1], got {dropout!r}.")
        self.use_scale = bool(use_scale)
        self.score_mode = score_mode
        self.dropout = float(dropout)
        self.seed = seed
        self.seed_generator = nrandom.SeedGenerator(seed) if self.dropout > 0 else None

    def _describe(self) -> str:
        return f"{type(self).__name__} {self.name!r}"

    def build(self, input_shape: Any) -> None:
        self._check_inputs(input_shape)
        self.scale = None
        self.concat_score_weight = None
        if self.use_scale:
            self.scale = self.add_weight(shape=(), initializer="ones", name="scale")
        if self.score_mode == "concat":
            self.concat_score_weight = self.add_weight(
                shape=(), initializer="ones", name="concat_score_weight"
            )

    # -- checks -----------------------------------------------------------------------------
    def _check_inputs(self, inputs: Any, mask: Any = None) -> None:
        """``inputs`` (tensors or shapes) must be ``[query, value(, key)]`` of one rank,
        at least 3, with value and key of the same length; ``mask`` a list of 2 or 3."""
        who = self._describe()
        one_shape = isinstance(inputs, tuple) and all(
            d is None or isinstance(d, int) for d in inputs
        )
        if one_shape or not isinstance(inputs, (list, tuple)) or not 2 <= len(inputs) <= 3:
            raise ValueError(
                with_location(
                    f"{who} must be called on a list [query, value] or [query, value, key], "
                    f"got {_summary(inputs)}."
                )
            )
        shapes = [tuple(getattr(x, "shape", x) or ()) for x in inputs]
        names = ["query", "value", "key"][: len(shapes)]
        described = ", ".join(f"{n} {s}" for n, s in zip(names, shapes))
        if len({len(s) for s in shapes}) > 1 or len(shapes[0]) < 3:
            raise ShapeError(
                with_location(
                    f"{who} expects query, value and key of one rank, at least 3 (batch, "
                    f"steps, features), got {described}."
                )
            )
        key = shapes[-1]
        if len(shapes) == 3 and shapes[1][:-1] != key[:-1]:
            raise ShapeError(
                with_location(
                    f"{who}: value and key must have the same batch and steps, got {described}."
                )
            )
        self._check_features(shapes[0], key, described)
        if mask is not None and (not isinstance(mask, (list, tuple)) or not 2 <= len(mask) <= 3):
            raise ValueError(
                with_location(
                    f"{who}: mask must be a list [query_mask, value_mask], got {_summary(mask)}."
                )
            )

    def _check_features(self, query: tuple, key: tuple, described: str) -> None:
        if query[-1] is not None and key[-1] is not None and query[-1] != key[-1]:
            raise ShapeError(
                with_location(
                    f"{self._describe()} scores a query against keys of the same feature "
                    f"size, got {described} (the last axes differ)."
                )
            )

    # -- the computation --------------------------------------------------------------------
    def _scores(self, query: Tensor, key: Tensor) -> Tensor:
        """(batch, Tq, Tv) scores before masking."""
        if self.score_mode == "dot":
            scores = ops.matmul(query, ops.swapaxes(key, -2, -1))
            return scores if self.scale is None else scores * self._cast(self.scale)
        pairs = ops.expand_dims(query, -2) + ops.expand_dims(key, -3)
        if self.scale is not None:
            pairs = pairs * self._cast(self.scale)
        assert self.concat_score_weight is not None, "built with score_mode='concat'"
        return self._cast(self.concat_score_weight) * ops.sum(ops.tanh(pairs), axis=-1)

    def call(
        self,
        inputs: list,
        mask: Any = None,
        training: bool | None = False,
        return_attention_scores: bool = False,
        use_causal_mask: bool = False,
    ) -> Any:
        self._check_inputs(inputs, mask)
        query, value = inputs[0], inputs[1]
        key = inputs[2] if len(inputs) > 2 else value
        query_mask = mask[0] if mask else None
        value_mask = mask[1] if mask else None
        scores = self._scores(query, key)
        keep = _score_mask(scores, value_mask, use_causal_mask)
        if keep is not None:
            # A masked score drops far below the others (not to -inf: a query with
            # every value masked still gets finite weights, as in Keras).
            big = 65504.0 if scores.dtype == "float16" else 1e9
            scores = ops.where(keep, scores, scores - big)
        weights = ops.softmax(scores, axis=-1)
        mixed = weights
        if training and self.dropout > 0:
            mixed = nrandom.dropout(weights, self.dropout, seed=self.seed_generator)
        outputs = ops.matmul(mixed, value)
        if query_mask is not None:
            keep_query = ops.expand_dims(ops.cast(query_mask, "bool"), -1)
            outputs = ops.where(keep_query, outputs, ops.zeros((), outputs.dtype))
        return (outputs, weights) if return_attention_scores else outputs

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        """The query's mask (the output has the query's steps)."""
        if mask is None or mask[0] is None:
            return None
        return ops.convert_to_tensor(mask[0])

    def compute_output_shape(self, input_shape: Any) -> tuple:
        return (*tuple(input_shape[0])[:-1], tuple(input_shape[1])[-1])

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "use_scale": self.use_scale,
            "score_mode": self.score_mode,
            "dropout": self.dropout,
            "seed": self.seed,
        }


def _score_mask(scores: Tensor, value_mask: Any, use_causal_mask: bool) -> Tensor | None:
    """Which scores count (true = keep): the values' mask, the causal mask, or both."""
    keep = None
    if value_mask is not None:
        keep = ops.cast(value_mask, "bool")
        if keep.ndim == 2:
            keep = ops.expand_dims(keep, -2)  # (batch, 1, Tv): the same for every query
    if use_causal_mask:
        causal = ops.tri(scores.shape[-2], scores.shape[-1], dtype="bool")
        keep = causal if keep is None else ops.logical_and(keep, causal)
    return keep


def _summary(x: Any) -> str:
    if isinstance(x, tuple) and all(d is None or isinstance(d, int) for d in x):
        return f"one tensor of shape {x}"
    if isinstance(x, (list, tuple)):
        return f"a {type(x).__name__} of {len(x)}"
    return f"a {type(x).__name__} of shape {tuple(x.shape)}" if hasattr(x, "shape") else repr(x)
