"""Scaled dot-product attention (Keras's ``keras.ops.dot_product_attention``).

A composite of einsum, where and softmax, so it differentiates to any order and
traces like any other op. Two paths compute the same result:

* the plain path materializes the ``(B, N, T, S)`` logits once, masks them with
  one ``where`` and takes a numerically stable softmax over ``S``;
* ``flash_attention=True`` walks the keys in blocks of ``FLASH_BLOCK_SIZE``,
  keeping a running maximum, a running sum of exponentials and a running
  weighted sum of values per query (the "online softmax"), so the forward pass
  holds only ``(B, N, T, FLASH_BLOCK_SIZE)`` logits at a time. Autodiff of that
  loop still keeps every block for the backward pass; the saving is in
  inference.

Grouped-query attention: ``key`` and ``value`` may have fewer heads ``K`` than the
``N`` of ``query`` (``N`` a multiple of ``K``); query head ``n`` then attends with
key/value head ``n // (N // K)``, as ``ops.repeat(key, N // K, axis=2)`` would give,
without copying the keys.
"""

from __future__ import annotations

import math
from typing import Any

from nerve.core.errors import ShapeError, with_location
from nerve.ops._convert import cast, promote, tensor
from nerve.ops.core import stop_gradient
from nerve.ops.creation import tri
from nerve.ops.elementwise import (
    add,
    divide,
    exp,
    logical_and,
    maximum,
    multiply,
    not_equal,
    subtract,
    where,
)
from nerve.ops.linalg import einsum
from nerve.ops.nn.crossentropy import softmax_over
from nerve.primitives import reduction as rp
from nerve.primitives.shape import reshape
from nerve.tensor import Tensor

__all__ = ["dot_product_attention"]

# Keys per block on the flash_attention=True path.
FLASH_BLOCK_SIZE = 128


def dot_product_attention(
    query: Any,
    key: Any,
    value: Any,
    bias: Any = None,
    mask: Any = None,
    scale: float | None = None,
    is_causal: bool = False,
    flash_attention: bool | None = None,
    attn_logits_soft_cap: float | None = None,
) -> Tensor:
    """``softmax(scale * query @ key^T + bias, masked) @ value``, per head.

    Shapes use Keras's letters: ``query`` is ``(B, T, N, H)``, ``key`` is
    ``(B, S, K, H)`` and ``value`` is ``(B, S, K, Hv)``; ``N`` must be a multiple of
    ``K`` (``K == N``: multi-head attention; ``K < N``: grouped-query attention,
    ``K == 1``: multi-query attention). The result is ``(B, T, N, Hv)``.

    ``bias`` is added to the logits and ``mask`` (boolean, true = attend) chooses
    which logits take part; both broadcast to ``(B, N, T, S)``. ``scale`` defaults
    to ``1 / sqrt(H)``. ``is_causal=True`` lets query ``t`` see keys ``s <= t``.
    A query whose every key is masked out averages all values, as in Keras (masked
    logits become a large negative number, not minus infinity). The softmax runs
    in float32 for half-precision inputs.

    ``flash_attention=True`` computes the same result block by block over the
    keys (see the module docstring); ``None`` and ``False`` take the plain path.
    ``attn_logits_soft_cap`` is refused, as Keras refuses it outside JAX on TPU.

    >>> from nerve import ops
    >>> q = ops.ones((2, 4, 8, 16))
    >>> kv = ops.ones((2, 6, 2, 16))
    >>> ops.dot_product_attention(q, kv, kv).shape
    (2, 4, 8, 16)
    >>> ops.dot_product_attention(q, kv, kv, is_causal=True, flash_attention=True).shape
    (2, 4, 8, 16)
    """
    if attn_logits_soft_cap is not None:
        raise ValueError(
            with_location(
                "dot_product_attention: attn_logits_soft_cap is not supported (Keras supports "
                f"it only with JAX on TPU); got attn_logits_soft_cap={attn_logits_soft_cap!r}. "
                "Pass attn_logits_soft_cap=None."
            )
        )
    query, key, value = promote(tensor(query), tensor(key), tensor(value), extra=(float,))
    groups = _check_shapes(query, key, value)
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else float(scale)
    logits_shape = (query.shape[0], query.shape[2], query.shape[1], key.shape[1])
    keep = _keep_mask(mask, is_causal, logits_shape)
    if bias is not None:
        bias = cast(tensor(bias), query.dtype)
        _check_broadcasts("bias", bias, logits_shape)
    # Heads grouped as (K, G): query head n = k * G + g uses key/value head k.
    batch, steps, heads, depth = query.shape
    grouped = reshape(query, (batch, steps, key.shape[2], groups, depth))
    if flash_attention and key.shape[1] > 0:
        out = _blockwise(grouped, key, value, bias, keep, scale)
    else:
        logits = _logits(grouped, key, bias, keep, scale, 0, key.shape[1])
        scores = _softmax_dtype(logits)
        probabilities = softmax_over(scores, (scores.ndim - 1,))
        out = einsum("bkgts,bskh->btkgh", cast(probabilities, value.dtype), value)
    return reshape(out, (batch, steps, heads, value.shape[-1]))


def _check_shapes(query: Tensor, key: Tensor, value: Tensor) -> int:
    """The number of query heads per key/value head, after checking the shapes."""
    shapes = f"query {tuple(query.shape)}, key {tuple(key.shape)}, value {tuple(value.shape)}"
    if (query.ndim, key.ndim, value.ndim) != (4, 4, 4):
        raise ShapeError(
            with_location(
                f"dot_product_attention needs 4-D inputs (batch, steps, heads, depth), got "
                f"{shapes}."
            )
        )
    problems = []
    if not query.shape[0] == key.shape[0] == value.shape[0]:
        problems.append("the batch sizes (axis 0) differ")
    if key.shape[1:3] != value.shape[1:3]:
        problems.append("key and value differ in steps or heads (axes 1 and 2)")
    if query.shape[3] != key.shape[3]:
        problems.append("query and key differ in depth (axis 3)")
    if key.shape[2] == 0 or query.shape[2] % key.shape[2]:
        problems.append("query's heads (axis 2) are not a multiple of key's")
    if problems:
        raise ShapeError(
            with_location(
                f"dot_product_attention: {'; '.join(problems)}: got {shapes}. Expected query "
                "(B, T, N, H), key (B, S, K, H) and value (B, S, K, Hv) with N a multiple of K."
            )
        )
    return query.shape[2] // key.shape[2]


def _check_broadcasts(name: str, x: Tensor, target: tuple) -> None:
    aligned = zip(reversed(x.shape), reversed(target))
    if x.ndim > len(target) or any(d != 1 and d != t for d, t in aligned):
        raise ShapeError(
            with_location(
                f"dot_product_attention: {name} of shape {tuple(x.shape)} does not broadcast to "
                f"the logits' shape (B, N, T, S) = {target}."
            )
        )


def _keep_mask(mask: Any, is_causal: bool, logits_shape: tuple) -> Tensor | None:
    """One boolean tensor (true = attend) broadcasting to the logits, or ``None``."""
    keep = None
    if mask is not None:
        keep = tensor(mask)
        _check_broadcasts("mask", keep, logits_shape)
        if keep.dtype != "bool":
            keep = not_equal(keep, 0)
    if is_causal:
        causal = tri(logits_shape[2], logits_shape[3], dtype="bool")
        keep = causal if keep is None else logical_and(keep, causal)
    return keep


def _large_negative(dtype: str) -> float:
    """What masked logits become: finite, so a fully masked row stays a number."""
    return -0.7 * (65500.0 if dtype == "float16" else 3.38953e38)


def _softmax_dtype(logits: Tensor) -> Tensor:
    """Half-precision logits go through the softmax in float32."""
    return cast(logits, "float32") if logits.dtype in ("float16", "bfloat16") else logits


def _with_groups(x: Tensor, groups: int) -> Tensor:
    """A bias or mask broadcasting to (B, N, T, S) as one broadcasting to (B, K, G, T, S)."""
    shape = (1,) * (4 - x.ndim) + tuple(x.shape)
    if shape[1] == 1:
        return reshape(x, (shape[0], 1, 1, *shape[2:]))
    return reshape(x, (shape[0], shape[1] // groups, groups, *shape[2:]))


def _logits(
    query: Tensor, key: Tensor, bias: Any, keep: Any, scale: float, start: int, stop: int
) -> Tensor:
    """Scaled, biased and masked logits (B, K, G, T, stop - start) for keys start:stop."""
    groups = query.shape[3]
    if (start, stop) != (0, key.shape[1]):
        key = key[:, start:stop]
        bias = None if bias is None else _key_slice(bias, start, stop)
        keep = None if keep is None else _key_slice(keep, start, stop)
    logits = multiply(einsum("btkgh,bskh->bkgts", query, key), scale)
    if bias is not None:
        logits = add(logits, _with_groups(bias, groups))
    if keep is not None:
        logits = where(_with_groups(keep, groups), logits, _large_negative(logits.dtype))
    return logits


def _key_slice(x: Tensor, start: int, stop: int) -> Tensor:
    """Keys start:stop of a bias or mask (its last axis may have size 1)."""
    return x if x.shape[-1] == 1 else x[..., start:stop]


def _blockwise(
    query: Tensor, key: Tensor, value: Tensor, bias: Any, keep: Any, scale: float
) -> Tensor:
    """Attention by the online softmax over blocks of keys; (B, T, K, G, Hv)."""
    peak = total = weighted = None
    for start in range(0, key.shape[1], FLASH_BLOCK_SIZE):
        stop = min(start + FLASH_BLOCK_SIZE, key.shape[1])
        logits = _softmax_dtype(_logits(query, key, bias, keep, scale, start, stop))
        block_peak = rp.reduce_max_p.bind(logits, axes=(4,), keepdims=True)
        # The running maximum only keeps exp() in range; the result does not depend on
        # it, so autodiff treats it as a constant (as softmax does its own maximum).
        new_peak = stop_gradient(block_peak if peak is None else maximum(peak, block_peak))
        weights = exp(subtract(logits, new_peak))
        block_sum = rp.reduce_sum_p.bind(weights, axes=(4,), keepdims=True)
        block_out = einsum("bkgts,bskh->bkgth", cast(weights, value.dtype), value[:, start:stop])
        if peak is None or total is None or weighted is None:
            total, weighted = block_sum, block_out
        else:
            rescale = exp(subtract(peak, new_peak))
            total = add(multiply(total, rescale), block_sum)
            weighted = add(multiply(weighted, cast(rescale, value.dtype)), block_out)
        peak = new_peak
    assert total is not None and weighted is not None, "the caller checks that S > 0"
    out = divide(weighted, cast(total, value.dtype))
    return einsum("bkgth->btkgh", out)
