"""``MultiHeadAttention`` (Keras's ``keras.layers.MultiHeadAttention``): query, key and
value projected to ``num_heads`` heads by ``EinsumDense`` sublayers named ``query``,
``key``, ``value`` (kernels ``(dim, num_heads, key_dim)``), attention per head, and the
heads projected back by ``attention_output`` (kernel ``(num_heads, value_dim, dim)``).
Weight names, shapes and order are Keras's, so ``.weights.h5`` files interchange."""

from __future__ import annotations

from typing import Any

from nerve.core.errors import check_int
from nerve.layers.attention._projected import ProjectedAttention, projection_equation
from nerve.layers.einsum_dense import EinsumDense

__all__ = ["MultiHeadAttention"]


class MultiHeadAttention(ProjectedAttention):
    """Multi-head attention of ``query`` ``(batch, T, dim)`` over ``value`` ``(batch, S,
    dim_v)`` (and ``key``, default ``value``); the output has the query's shape, or
    ``output_shape`` in place of its last axis.

    With ``return_attention_scores=True`` the weights, ``(batch, num_heads, T, S)``,
    come too.

    Args:
        num_heads: the number of attention heads (a positive int).
        key_dim: the size of each query and key head (a positive int); the scores
            are divided by its square root.
        value_dim: the size of each value head; ``key_dim`` by default.
        dropout: the fraction of attention weights to drop while training, in
            ``[0, 1]``; 0 by default (it must be 0 with ``flash_attention=True``).
        use_bias: whether the projections add a bias (true by default).
        output_shape: the size (an int) or shape (a tuple) of the output's last
            axes; by default the query's last axis size.
        attention_axes: the axes attended over, counted in the query's shape; by
            default every axis between the batch and the features (pass ``(1, 2)`` to
            attend over both spatial axes of a ``(batch, height, width, dim)`` input).
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
        value: the tensor whose steps are mixed, ``(batch, S, dim_v)``.
        key: optional tensor the query is matched against, ``(batch, S, dim_k)``;
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
    >>> mha = layers.MultiHeadAttention(num_heads=2, key_dim=4)
    >>> x = np.ones((3, 5, 8), "float32")
    >>> out, scores = mha(x, x, return_attention_scores=True, use_causal_mask=True)
    >>> out.shape, scores.shape
    ((3, 5, 8), (3, 2, 5, 5))
    >>> [(w.path, tuple(w.shape)) for w in mha.weights][:2]
    [('query/kernel', (8, 2, 4)), ('query/bias', (2, 4))]
    """

    def __init__(
        self,
        num_heads: int,
        key_dim: int,
        value_dim: int | None = None,
        dropout: float = 0.0,
        use_bias: bool = True,
        output_shape: Any = None,
        attention_axes: Any = None,
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
        check_int(num_heads, "num_heads", "MultiHeadAttention")
        check_int(key_dim, "key_dim", "MultiHeadAttention")
        check_int(value_dim, "value_dim", "MultiHeadAttention", allow_none=True)
        self._check_arguments(dropout, sliding_window, flash_attention)
        self.num_heads, self.key_dim = num_heads, key_dim
        self.value_dim = value_dim or key_dim
        self.dropout = self._dropout_rate = float(dropout)
        self.use_bias, self._use_gate = bool(use_bias), bool(use_gate)
        if isinstance(output_shape, int):
            output_shape = (output_shape,)
        self._output_shape = tuple(output_shape) if output_shape else None
        if isinstance(attention_axes, int):
            attention_axes = (attention_axes,)
        elif attention_axes is not None and not isinstance(attention_axes, (list, tuple)):
            raise ValueError(
                "MultiHeadAttention: attention_axes must be an int, a list or a tuple, got "
                f"{attention_axes!r}."
            )
        self._declared_attention_axes = None if attention_axes is None else tuple(attention_axes)
        self._attention_axes = self._declared_attention_axes or ()
        self._sliding_window = sliding_window
        self._flash_attention = flash_attention
        self.seed = seed
        self._scale = 1.0 / float(key_dim) ** 0.5
        self._store_weight_options(
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer,
            activity_regularizer=activity_regularizer,
            kernel_constraint=kernel_constraint,
            bias_constraint=bias_constraint,
        )

    @property
    def attention_axes(self) -> tuple | None:
        return self._declared_attention_axes if not self.built else self._attention_axes

    # Keras's names for the projections (also the groups of its weights files).
    @property
    def query_dense(self) -> EinsumDense:
        return self._query_dense

    @property
    def key_dense(self) -> EinsumDense:
        return self._key_dense

    @property
    def value_dense(self) -> EinsumDense:
        return self._value_dense

    @property
    def output_dense(self) -> EinsumDense:
        return self._output_dense

    def _projection(self, rank: int, heads_dim: int, name: str, **extra: Any) -> EinsumDense:
        """(batch, ..., features) -> (batch, ..., num_heads, heads_dim)."""
        equation, bias_axes = projection_equation(rank - 1, 1, 2)
        return EinsumDense(
            equation,
            output_shape=(*[None] * (rank - 2), self.num_heads, heads_dim),
            bias_axes=bias_axes if self.use_bias else None,
            name=name,
            **extra,
            **self._sublayer_arguments(),
        )

    def build(self, query_shape: Any, value_shape: Any = None, key_shape: Any = None) -> None:
        query_shape = tuple(query_shape)
        self._record_build_shapes(query_shape, value_shape, key_shape)
        value_shape = query_shape if value_shape is None else tuple(value_shape)
        key_shape = value_shape if key_shape is None else tuple(key_shape)
        self._check_ranks(query_shape, value_shape, key_shape)
        rank = len(query_shape)
        self._query_dense = self._projection(rank, self.key_dim, "query")
        self._query_dense.build(query_shape)
        self._key_dense = self._projection(rank, self.key_dim, "key")
        self._key_dense.build(key_shape)
        if self._use_gate:
            self._gate_dense = self._projection(rank, self.value_dim, "gate", activation="sigmoid")
            self._gate_dense.build(query_shape)
        self._value_dense = self._projection(rank, self.value_dim, "value")
        self._value_dense.build(value_shape)
        self._attention_axes = tuple(
            range(1, rank - 1)
            if self._declared_attention_axes is None
            else (a % rank for a in self._declared_attention_axes)
        )
        bad = [a for a in self._attention_axes if not 0 < a < rank - 1]
        if bad:
            raise ValueError(
                f"{self._describe()}: attention_axes {self._declared_attention_axes} must lie "
                f"between the batch and feature axes of a rank-{rank} query {query_shape}."
            )
        self._build_attention(rank + 1)
        features = self._output_shape or (query_shape[-1],)
        equation, bias_axes = projection_equation(rank - 1, 2, len(features))
        self._output_dense = EinsumDense(
            equation,
            output_shape=(*[None] * (rank - 2), *features),
            bias_axes=bias_axes if self.use_bias else None,
            name="attention_output",
            **self._sublayer_arguments(),
        )
        self._output_dense.build((*query_shape[:-1], self.num_heads, self.value_dim))

    def compute_output_shape(
        self, query_shape: Any, value_shape: Any = None, key_shape: Any = None
    ) -> tuple:
        query_shape = tuple(query_shape)
        if self._output_shape:
            return (*query_shape[:-1], *self._output_shape)
        return query_shape

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "num_heads": self.num_heads,
            "key_dim": self.key_dim,
            "value_dim": self.value_dim,
            "dropout": self.dropout,
            "use_bias": self.use_bias,
            "use_gate": self._use_gate,
            "output_shape": self._output_shape,
            "attention_axes": self.attention_axes,
            "sliding_window": self._sliding_window,
            **self._weight_options_config(),
            "seed": self.seed,
        }
