"""What ``MultiHeadAttention`` and ``GroupedQueryAttention`` share: building from the
shapes of all three inputs, the combined attention mask, and attention over projected
heads (``ops.dot_product_attention`` where Keras uses it, an einsum and a masked
softmax where the scores are wanted, dropout applies or the inputs have more axes).
"""

from __future__ import annotations

import string
from typing import Any

from nerve import constraints, initializers, ops, regularizers
from nerve.core.errors import ShapeError, with_location
from nerve.layers.activations import Softmax
from nerve.layers.base import Layer
from nerve.layers.core import Dropout
from nerve.tensor import Tensor

__all__ = ["ProjectedAttention", "attention_equations", "projection_equation"]


def projection_equation(free: int, bound: int, out: int) -> tuple[str, str]:
    """An einsum projecting the last ``bound`` input axes onto ``out`` new axes, the
    first ``free`` passing through; and the bias axes (the new ones)."""
    letters = string.ascii_lowercase
    kept, summed = letters[:free], letters[free : free + bound]
    new = letters[free + bound : free + bound + out]
    return f"{kept}{summed},{summed}{new}->{kept}{new}", new


def attention_equations(rank: int, attention_axes: tuple) -> tuple[str, str, int]:
    """Einsums for projected tensors ``(batch, ..., heads, channels)`` of ``rank``:
    query x key -> scores ``(<other axes>, <query attention axes>, <key attention
    axes>)``, and scores x value -> output; and the scores' rank."""
    letters = string.ascii_lowercase
    query = letters[:rank]
    key = "".join(letters[rank + i] if i in attention_axes else query[i] for i in range(rank))
    others = [i for i in range(rank - 1) if i not in attention_axes]
    scores = "".join(
        [query[i] for i in others]
        + [query[i] for i in attention_axes]
        + [key[i] for i in attention_axes]
    )
    return f"{query},{key}->{scores}", f"{scores},{key}->{query}", len(scores)


class ProjectedAttention(Layer):
    """The shared part of the projected attention layers. A subclass builds
    ``_query_dense``, ``_key_dense``, ``_value_dense``, ``_output_dense`` (and
    ``_gate_dense`` with ``use_gate``) in ``build(query_shape, value_shape,
    key_shape)``, then calls ``_build_attention(rank)``."""

    _query_dense: Any  # EinsumDense sublayers, made in build
    _key_dense: Any
    _value_dense: Any
    _output_dense: Any
    _gate_dense: Any
    seed: int | None
    _attention_axes: tuple
    _scale: float
    _dropout_rate: float
    _flash_attention: Any
    _sliding_window: int | None
    _use_gate: bool

    def _describe(self) -> str:
        return f"{type(self).__name__} {self.name!r}"

    def _check_arguments(self, dropout: float, sliding_window: Any, flash_attention: Any) -> None:
        who = self._describe()
        if not 0 <= dropout <= 1:
            raise ValueError(f"{who}: dropout must be in [0, 1], got {dropout!r}.")
        if sliding_window is not None and (
            not isinstance(sliding_window, int) or sliding_window <= 0
        ):
            raise ValueError(
                f"{who}: sliding_window must be None or a positive integer, got {sliding_window!r}."
            )
        if flash_attention and dropout > 0:
            raise ValueError(
                f"{who}: flash_attention=True cannot drop attention weights; set dropout=0."
            )

    def _sublayer_arguments(self) -> dict:
        """What each projection gets: fresh copies of the initializers (so that every
        kernel draws its own numbers), the regularizers, constraints and dtype policy."""
        return {
            "kernel_initializer": initializers.get(initializers.serialize(self._kernel_init)),
            "bias_initializer": initializers.get(initializers.serialize(self._bias_init)),
            "kernel_regularizer": self._kernel_regularizer,
            "bias_regularizer": self._bias_regularizer,
            "activity_regularizer": self._sublayer_activity_regularizer,
            "kernel_constraint": self._kernel_constraint,
            "bias_constraint": self._bias_constraint,
            "dtype": self.dtype_policy,
        }

    def _store_weight_options(self, **options: Any) -> None:
        self._kernel_init = initializers.get(options["kernel_initializer"])
        self._bias_init = initializers.get(options["bias_initializer"])
        self._kernel_regularizer = regularizers.get(options["kernel_regularizer"])
        self._bias_regularizer = regularizers.get(options["bias_regularizer"])
        # As in Keras, the activity regularizer applies to each projection's output.
        self._sublayer_activity_regularizer = regularizers.get(options["activity_regularizer"])
        self._kernel_constraint = constraints.get(options["kernel_constraint"])
        self._bias_constraint = constraints.get(options["bias_constraint"])

    def _weight_options_config(self) -> dict:
        return {
            "kernel_initializer": initializers.serialize(self._kernel_init),
            "bias_initializer": initializers.serialize(self._bias_init),
            "kernel_regularizer": regularizers.serialize(self._kernel_regularizer),
            "bias_regularizer": regularizers.serialize(self._bias_regularizer),
            "activity_regularizer": regularizers.serialize(self._sublayer_activity_regularizer),
            "kernel_constraint": constraints.serialize(self._kernel_constraint),
            "bias_constraint": constraints.serialize(self._bias_constraint),
        }

    # -- building and calling -------------------------------------------------------------
    def __call__(self, query: Any, value: Any = None, key: Any = None, **kwargs: Any) -> Any:
        """Build from the shapes of all three inputs (``Layer`` builds from the first
        alone), then call with ``value`` and ``key`` as keywords, so that their implicit
        masks reach ``value_mask`` and ``key_mask``."""
        if value is None:
            raise TypeError(
                f"{self._describe()} needs a query and a value: call it as layer(query, value) "
                "or layer(query, value, key)."
            )
        if not self.built:
            key_shape = None if key is None else tuple(key.shape)
            self._check_ranks(tuple(query.shape), tuple(value.shape), key_shape)
            self.build(tuple(query.shape), tuple(value.shape), key_shape)
            # The masks are this layer's to apply (Keras clears them from the inputs
            # before projecting); the projections just pass them by, without a warning.
            for sublayer in self._tracked_layers:
                sublayer.supports_masking = True
        return super().__call__(query, value=value, key=key, **kwargs)

    def build(self, query_shape: Any, value_shape: Any = None, key_shape: Any = None) -> None:
        raise NotImplementedError

    def _record_build_shapes(self, query_shape: Any, value_shape: Any, key_shape: Any) -> None:
        """Keep the shapes ``build`` received for the build config, as Keras keeps them:
        the value's shape defaults to the query's; the key's appears only when given."""
        value_shape = query_shape if value_shape is None else value_shape
        shapes = {"query_shape": tuple(query_shape), "value_shape": tuple(value_shape)}
        if key_shape is not None:
            shapes["key_shape"] = tuple(key_shape)
        self._build_shapes_dict = shapes

    def get_build_config(self) -> dict | None:
        """``{"shapes_dict": {"query_shape": ..., "value_shape": ...}}`` once built, as
        Keras 3 saves it (its loader calls ``build(**shapes_dict)``)."""
        shapes = getattr(self, "_build_shapes_dict", None)
        if not self.built or shapes is None:
            return None
        return {"shapes_dict": {k: list(v) for k, v in shapes.items()}}

    def build_from_config(self, config: dict) -> None:
        """Build from ``get_build_config``'s output (or Keras's)."""
        shapes = config.get("shapes_dict")
        if self.built or not shapes:
            return
        self.build(**{k: tuple(v) for k, v in shapes.items() if v is not None})

    def _check_ranks(self, query: tuple, value: tuple, key: tuple | None) -> None:
        """Inputs of one rank, at least 3, with the same batch and steps in value and key."""
        key = value if key is None else key
        described = f"query {query}, value {value}, key {key}"
        if not len(query) == len(value) == len(key) or len(query) < 3:
            raise ShapeError(
                with_location(
                    f"{self._describe()} expects query, value and key of one rank, at least 3 "
                    f"(batch, steps, features), got {described}."
                )
            )
        if tuple(value[1:-1]) != tuple(key[1:-1]):
            raise ShapeError(
                with_location(
                    f"{self._describe()}: value and key must agree on every axis but the last, "
                    f"got {described}."
                )
            )

    def _check_features(self, query: Tensor, value: Tensor, key: Tensor) -> None:
        """The inputs' feature sizes are those the projections were built for."""
        wrong = []
        for name, x, dense in (
            ("query", query, self._query_dense),
            ("value", value, self._value_dense),
            ("key", key, self._key_dense),
        ):
            expected = dense.kernel.shape[0]
            if x.ndim != len(dense._build_shapes) or x.shape[-1] != expected:
                wrong.append(
                    f"{name} of shape {tuple(x.shape)} (expected rank "
                    f"{len(dense._build_shapes)} and {expected} features)"
                )
        if wrong:
            raise ShapeError(
                with_location(
                    f"{self._describe()} was built for other inputs: got {', '.join(wrong)}."
                )
            )

    def _build_attention(self, rank: int) -> None:
        """The einsums and the softmax over ``rank``-D projected tensors."""
        self._dot_product_equation, self._combine_equation, scores_rank = attention_equations(
            rank, self._attention_axes
        )
        axes = tuple(range(scores_rank - len(self._attention_axes), scores_rank))
        self._softmax = Softmax(axis=axes, dtype=self.dtype_policy)
        self._dropout_layer = Dropout(
            rate=self._dropout_rate, seed=self.seed, dtype=self.dtype_policy
        )

    # -- masks --------------------------------------------------------------------------
    def _attention_mask(
        self,
        query: Tensor,
        value: Tensor,
        query_mask: Any,
        value_mask: Any,
        key_mask: Any,
        attention_mask: Any,
        use_causal_mask: bool,
    ) -> Tensor | None:
        """Every mask as one boolean (batch, T, S) (true = attend): the query's mask on
        T, the value's and key's on S, the causal and sliding-window masks, and the
        caller's ``attention_mask``, all combined by AND."""
        parts = []
        if query_mask is not None:
            parts.append(ops.expand_dims(ops.cast(query_mask, "bool"), -1))
        for mask in (value_mask, key_mask):
            if mask is not None:
                parts.append(ops.expand_dims(ops.cast(mask, "bool"), -2))
        steps = (query.shape[1], value.shape[1])
        if use_causal_mask:
            parts.append(ops.expand_dims(ops.tri(*steps, dtype="bool"), 0))
        if self._sliding_window is not None:
            distance = ops.abs(
                ops.expand_dims(ops.arange(steps[0]), 1) - ops.expand_dims(ops.arange(steps[1]), 0)
            )
            parts.append(ops.expand_dims(ops.less(distance, self._sliding_window), 0))
        if attention_mask is not None:
            parts.insert(0, ops.cast(attention_mask, "bool"))
        if not parts:
            return None
        combined = parts[0]
        for part in parts[1:]:
            combined = ops.logical_and(combined, part)
        return combined

    def _expand_mask(self, mask: Tensor, rank: int) -> Tensor:
        """A (batch, T..., S...) mask with the heads axis added, to ``rank`` axes."""
        while mask.ndim < rank:
            mask = ops.expand_dims(mask, -2 * len(self._attention_axes) - 1)
        return mask

    # -- attention over heads ---------------------------------------------------------------
    def _heads_for_scores(self, key: Tensor, value: Tensor) -> tuple[Tensor, Tensor]:
        """Key and value heads as many as the query's (grouped attention repeats them)."""
        return key, value

    def _attend(
        self,
        query: Tensor,
        key: Tensor,
        value: Tensor,
        mask: Tensor | None,
        training: Any,
        return_attention_scores: bool,
        causal_only: bool,
    ) -> tuple[Tensor, Tensor | None]:
        """Attention over projected heads; the scores when asked for. Keras's two paths:
        the fused op for 4-D heads without dropout or scores (where a query with every
        key masked averages the values), else an einsum and a masked softmax (where it
        gets zeros)."""
        if self._flash_attention and return_attention_scores:
            raise ValueError(
                f"{self._describe()}: with flash_attention=True the attention scores are never "
                "formed, so return_attention_scores=True is not possible."
            )
        fused = not (self._dropout_rate > 0 or return_attention_scores or query.ndim != 4)
        if fused:
            out = ops.dot_product_attention(
                query,
                key,
                value,
                mask=None if mask is None else self._expand_mask(mask, 4),
                scale=self._scale,
                is_causal=causal_only,
                flash_attention=self._flash_attention,
            )
            return out, None
        if causal_only:
            mask = ops.expand_dims(ops.tri(query.shape[1], key.shape[1], dtype="bool"), 0)
        key, value = self._heads_for_scores(key, value)
        scores = ops.einsum(self._dot_product_equation, query * self._scale, key)
        if mask is not None:
            scores = self._softmax(scores, mask=self._expand_mask(mask, scores.ndim))
        else:
            scores = self._softmax(scores)
        mixed = self._dropout_layer(scores, training=training)
        return ops.einsum(self._combine_equation, mixed, value), scores

    def call(
        self,
        query: Any,
        value: Any,
        key: Any = None,
        query_mask: Any = None,
        value_mask: Any = None,
        key_mask: Any = None,
        attention_mask: Any = None,
        return_attention_scores: bool = False,
        training: bool | None = None,
        use_causal_mask: bool = False,
    ) -> Any:
        """Keras's call arguments for both projected attentions (multi-head and
        grouped-query); ``Layer.__call__`` fills the three masks from the inputs."""
        return self._project_and_attend(
            query,
            value,
            key,
            (query_mask, value_mask, key_mask),
            attention_mask,
            return_attention_scores,
            training,
            use_causal_mask,
        )

    def _project_and_attend(
        self,
        query: Any,
        value: Any,
        key: Any,
        masks: tuple,
        attention_mask: Any,
        return_attention_scores: bool,
        training: Any,
        use_causal_mask: bool,
    ) -> Any:
        """``call``'s body: masks, projections, attention, the output projection."""
        value = self._autocast(ops.convert_to_tensor(value))
        key = value if key is None else self._autocast(ops.convert_to_tensor(key))
        self._check_features(query, value, key)
        query_mask, value_mask, key_mask = masks
        if query_mask is None:
            # Keras fills query_mask from the query's implicit mask (MultiHeadAttention
            # reads it itself); Layer.__call__ fills only keyword inputs' masks.
            query_mask = getattr(query, "_keras_mask", None)
            masks = (query_mask, value_mask, key_mask)
        causal_only = (
            use_causal_mask
            and all(m is None for m in masks)
            and attention_mask is None
            and self._sliding_window is None
        )
        mask = None
        if not causal_only:
            mask = self._attention_mask(
                query, value, query_mask, value_mask, key_mask, attention_mask, use_causal_mask
            )
        gate = self._gate_dense(query) if self._use_gate else None
        out, scores = self._attend(
            self._query_dense(query),
            self._key_dense(key),
            self._value_dense(value),
            mask,
            training,
            return_attention_scores,
            causal_only,
        )
        if gate is not None:
            out = out * gate
        out = self._output_dense(out)
        return (out, scores) if return_attention_scores else out

    def compute_mask(self, inputs: Any, previous_mask: Any = None) -> Any:
        """The query's mask: the output has the query's steps."""
        return previous_mask
