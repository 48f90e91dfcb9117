"""Attention layers (Keras's ``keras.layers`` attention family): ``Attention``,
``AdditiveAttention``, ``MultiHeadAttention``, ``GroupedQueryAttention``."""

from nerve.layers.attention.additive_attention import AdditiveAttention
from nerve.layers.attention.attention import Attention
from nerve.layers.attention.grouped_query_attention import (
    GroupedQueryAttention,
    GroupQueryAttention,
)
from nerve.layers.attention.multi_head_attention import MultiHeadAttention

__all__ = [
    "AdditiveAttention",
    "Attention",
    "GroupQueryAttention",
    "GroupedQueryAttention",
    "MultiHeadAttention",
]
