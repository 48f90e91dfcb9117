"""Signal quality: ``psnr``."""

from __future__ import annotations

from typing import Any

from nerve.core.errors import ShapeError, with_location
from nerve.ops._convert import promote, to_float
from nerve.ops.elementwise import log10, multiply, square, subtract
from nerve.ops.reduction import mean
from nerve.tensor import Tensor

__all__ = ["psnr"]


def psnr(x1: Any, x2: Any, max_val: Any) -> Tensor:
    """Peak signal-to-noise ratio in decibels between two tensors of one shape, for
    signals ranging up to ``max_val``: ``20 log10(max_val) - 10 log10(mse)`` over all
    entries (infinite where they are equal).

    >>> from nerve import ops
    >>> float(ops.psnr(ops.zeros((4,)), ops.full((4,), 0.1), 1.0))
    20.0
    """
    x1, x2 = promote(to_float(x1), to_float(x2))
    if x1.shape != x2.shape:
        raise ShapeError(
            with_location(f"psnr: x1 and x2 must have one shape, got {x1.shape} and {x2.shape}.")
        )
    error = mean(square(subtract(x1, x2)))
    peak = multiply(log10(promote(max_val, x2)[0]), 20.0)
    return subtract(peak, multiply(log10(error), 10.0))
