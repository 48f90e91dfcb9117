"""``GroupedQueryAttention`` (Keras's ``keras.layers.GroupQueryAttention``): attention
with ``num_query_heads`` query heads sharing ``num_key_value_heads`` key/value heads."""

from __future__ import annotations

from typing import Any

from nerve import ops
from nerve.core.errors import check_int
from nerve.layers.attention._projected import ProjectedAttention
from nerve.layers.einsum_dense import EinsumDense
from nerve.tensor import Tensor

__all__ = ["GroupQueryAttention", "GroupedQueryAttention"]


class GroupedQueryAttention(ProjectedAttention):
    """Grouped-query attention of ``query`` ``(batch, T, dim)`` over ``value`` ``(batch,
    S, dim)`` (and ``key``): each group of ``num_query_heads // num_key_value_heads``
    query heads attends with one key/value head. The output has the query's shape.

    The projections are ``EinsumDense`` sublayers with Keras's names and kernels:
    ``query`` ``(dim, num_query_heads, head_dim)``, ``key`` and ``value`` ``(dim,
    num_key_value_heads, head_dim)``, ``attention_output`` ``(num_query_heads,
    head_dim, dim)``. The arguments are ``MultiHeadAttention``'s but for the head
    sizes (no ``value_dim``, ``output_shape`` or ``attention_axes``); the inputs must
    be 3-D.

    Args:
        head_dim: the size of each head (a positive int); the scores are divided by
            its square root.
        num_query_heads: the number of query heads (a positive int).
        num_key_value_heads: the number of key and value heads, which
            ``num_query_heads`` must be a multiple of (equal numbers give plain
            multi-head attention, one gives multi-query attention).
        dropout: the fraction of attention weights to drop while training, in
            ``[0, 1]``; 0 by default (it must be 0 with ``flash_attention=True``).
        use_bias: whether the projections add a bias (true by default).
        sliding_window: ``None`` (the default) or a positive int: query ``i`` then
            attends only to keys ``j`` with ``|i - j| < sliding_window`` (combined with
            ``use_causal_mask``, a look-back window).
        flash_attention: ``None`` (the default: let ``ops.dot_product_attention``
            choose), ``True`` (the blockwise path, which never forms the scores, so
            ``return_attention_scores`` is then refused) or ``False``.
        kernel_initializer: how the projections' kernels start; ``"glorot_uniform"``
            by default (each kernel draws its own numbers).
        bias_initializer: how their biases start; zeros by default.
        kernel_regularizer, bias_regularizer: optional penalties on the projections'
            kernels and biases, added to the layer's ``losses``.
        activity_regularizer: an optional penalty on the layer's output.
        kernel_constraint, bias_constraint: optional functions applied to the
            projections' kernels and biases after each optimizer step.
        use_gate: whether each head's output is multiplied by a sigmoid gate computed
            from the query by one more projection, ``gate`` (false by default).
        seed: an int to make the dropout reproducible; ``None`` draws a fresh seed.

    Call arguments:
        query: the tensor whose steps ask, ``(batch, T, dim)``.
        value: the tensor whose steps are mixed, ``(batch, S, dim)``.
        key: optional tensor the query is matched against, ``(batch, S, dim)``;
            ``value`` by default.
        query_mask, value_mask, key_mask: optional booleans ``(batch, T)`` or
            ``(batch, S)``; by default the implicit masks the inputs carry.
        attention_mask: optional boolean ``(batch, T, S)``, true where query ``t``
            may attend to step ``s``; combined with the masks above.
        return_attention_scores: whether to return ``(output, weights)``, with the
            per-head weights after the softmax (false by default).
        training: whether dropout applies.
        use_causal_mask: whether query ``t`` sees only steps ``s <= t`` (false by
            default), as in a decoder.

    >>> import numpy as np
    >>> from nerve import layers
    >>> gqa = layers.GroupedQueryAttention(head_dim=4, num_query_heads=4, num_key_value_heads=2)
    >>> gqa(np.ones((3, 5, 8), "float32"), np.ones((3, 6, 8), "float32")).shape
    (3, 5, 8)
    """

    # Keras 3 names this class GroupQueryAttention; files use its name.
    _keras_class_name = "GroupQueryAttention"

    def __init__(
        self,
        head_dim: int,
        num_query_heads: int,
        num_key_value_heads: int,
        dropout: float = 0.0,
        use_bias: bool = True,
        sliding_window: int | None = None,
        flash_attention: bool | None = None,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        use_gate: bool = False,
        seed: int | None = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        sizes = {
            "head_dim": head_dim,
            "num_query_heads": num_query_heads,
            "num_key_value_heads": num_key_value_heads,
        }
        for name, size in sizes.items():
            check_int(size, name, "GroupedQueryAttention")
        if num_query_heads % num_key_value_heads:
            raise ValueError(
                f"GroupedQueryAttention: num_query_heads ({num_query_heads}) must be a multiple "
                f"of num_key_value_heads ({num_key_value_heads})."
            )
        self._check_arguments(dropout, sliding_window, flash_attention)
        self.head_dim = head_dim
        self.num_query_heads, self.num_key_value_heads = num_query_heads, num_key_value_heads
        self.num_repeats = num_query_heads // num_key_value_heads
        self.dropout = self._dropout_rate = float(dropout)
        self.use_bias, self.use_gate = bool(use_bias), bool(use_gate)
        self._use_gate = self.use_gate
        self.sliding_window = self._sliding_window = sliding_window
        self._flash_attention = flash_attention
        self.seed = seed
        self._attention_axes = (1,)
        self._scale = 1.0 / float(head_dim) ** 0.5
        self._store_weight_options(
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer,
            activity_regularizer=activity_regularizer,
            kernel_constraint=kernel_constraint,
            bias_constraint=bias_constraint,
        )

    def _dense(self, equation: str, output_shape: tuple, bias_axes: str, **extra: Any) -> Any:
        return EinsumDense(
            equation,
            output_shape=output_shape,
            bias_axes=bias_axes if self.use_bias else None,
            **extra,
            **self._sublayer_arguments(),
        )

    def build(self, query_shape: Any, value_shape: Any = None, key_shape: Any = None) -> None:
        query_shape = tuple(query_shape)
        self._record_build_shapes(query_shape, value_shape, key_shape)
        value_shape = query_shape if value_shape is None else tuple(value_shape)
        key_shape = value_shape if key_shape is None else tuple(key_shape)
        self._check_ranks(query_shape, value_shape, key_shape)
        if len(query_shape) != 3:
            raise ValueError(
                f"{self._describe()} expects 3-D inputs (batch, steps, features), got query "
                f"{query_shape}."
            )
        self.feature_dim = query_shape[-1]
        query_heads = (None, self.num_query_heads, self.head_dim)
        kv_heads = (None, self.num_key_value_heads, self.head_dim)
        self._query_dense = self._dense("bqm,muh->bquh", query_heads, "uh", name="query")
        self._query_dense.build(query_shape)
        self._key_dense = self._dense("bkm,mvh->bkvh", kv_heads, "vh", name="key")
        self._key_dense.build(key_shape)
        if self.use_gate:
            self._gate_dense = self._dense(
                "bqm,muh->bquh", query_heads, "uh", activation="sigmoid", name="gate"
            )
            self._gate_dense.build(query_shape)
        self._value_dense = self._dense("bkm,mvh->bkvh", kv_heads, "vh", name="value")
        self._value_dense.build(value_shape)
        self._build_attention(4)
        self._output_dense = self._dense(
            "bquh,uhm->bqm", (None, self.feature_dim), "m", name="attention_output"
        )
        self._output_dense.build((None, None, self.num_query_heads, self.head_dim))

    def _heads_for_scores(self, key: Tensor, value: Tensor) -> tuple[Tensor, Tensor]:
        return (
            ops.repeat(key, self.num_repeats, axis=2),
            ops.repeat(value, self.num_repeats, axis=2),
        )

    def compute_output_shape(
        self, query_shape: Any, value_shape: Any = None, key_shape: Any = None
    ) -> tuple:
        return tuple(query_shape)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "head_dim": self.head_dim,
            "num_query_heads": self.num_query_heads,
            "num_key_value_heads": self.num_key_value_heads,
            "use_bias": self.use_bias,
            "use_gate": self.use_gate,
            "sliding_window": self.sliding_window,
            "dropout": self.dropout,
            **self._weight_options_config(),
            "seed": self.seed,
        }


# Keras exports the class under this name (keras.layers.GroupQueryAttention).
GroupQueryAttention = GroupedQueryAttention
