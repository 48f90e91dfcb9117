"""Reduction kernels. ``axes`` is a tuple; results keep the input dtype."""

from __future__ import annotations


def kernels(xp) -> dict:
    def reduce_sum(x, axes, keepdims):
        return xp.sum(x, axis=axes, keepdims=keepdims, dtype=x.dtype)

    def reduce_max(x, axes, keepdims):
        return xp.max(x, axis=axes, keepdims=keepdims)

    def reduce_min(x, axes, keepdims):
        return xp.min(x, axis=axes, keepdims=keepdims)

    return {"reduce_sum": reduce_sum, "reduce_max": reduce_max, "reduce_min": reduce_min}
