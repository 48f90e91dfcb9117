"""Keras's math namespace (keras/src/ops/math.py): segment reductions, ``top_k`` and
``in_top_k``, ``cdist``, ``logsumexp``, ``erf`` and friends, the FFTs and ``stft``.
The functions defined here are the ones no other family holds; the rest are
re-exported from theirs.

>>> from nerve import ops
>>> ops.math.segment_min([4.0, 2.0, 7.0], [0, 0, 1]).numpy()
array([2., 7.], dtype=float32)
>>> ops.math.in_top_k([1, 0], [[0.1, 0.7, 0.2], [0.3, 0.3, 0.4]], k=1).numpy()
array([ True, False])
"""

from __future__ import annotations

from typing import Any

from nerve.core import dtypes
from nerve.core.errors import ShapeError, with_location
from nerve.ops import elementwise as ew
from nerve.ops._convert import promote, tensor, to_float
from nerve.ops.complex_numbers import view_as_complex, view_as_real
from nerve.ops.elementwise import erf, erfc, erfinv, rsqrt
from nerve.ops.indexing import _arange, _segments, segment_max, segment_sum, top_k
from nerve.ops.linalg import logdet
from nerve.ops.reduction import logsumexp, prod, sum
from nerve.ops.reduction import min as min_
from nerve.ops.shape import broadcast_to, expand_dims, reshape
from nerve.ops.signal import extract_sequences, fft, fft2, ifft2, irfft, istft, rfft, stft
from nerve.tensor import Tensor

__all__ = [
    "cdist", "erf", "erfc", "erfinv", "extract_sequences", "fft", "fft2", "ifft2", "in_top_k",
    "irfft", "istft", "logdet", "logsumexp", "rfft", "rsqrt", "segment_max", "segment_min",
    "segment_prod", "segment_sum", "stft", "top_k", "view_as_complex", "view_as_real",
]  # fmt: skip


def _by_segment(op: str, data: Any, segment_ids: Any, num_segments: Any) -> tuple:
    """``data`` broadcast to (segments, rows, ...) and the membership mask of each row in
    each segment. Ids outside ``[0, num_segments)`` belong to no segment (Keras drops
    negative ids). Memory is segments x rows, as for ``segment_max``."""
    data = tensor(data)
    data, ids, num_segments = _segments(data, segment_ids, num_segments, op)
    members = ew.equal(
        reshape(ids, (1, ids.shape[0]) + (1,) * (data.ndim - 1)),
        _arange(num_segments, (num_segments,) + (1,) * data.ndim),
    )
    expanded = broadcast_to(expand_dims(data, 0), (num_segments, *data.shape))
    return expanded, broadcast_to(members, expanded.shape)


def segment_min(
    data: Any, segment_ids: Any, num_segments: int | None = None, sorted: bool = False
) -> Tensor:
    """Minimum of the rows of ``data`` in each segment (``inf``, or the dtype's
    maximum for integers, where a segment is empty). Ties share the gradient.

    >>> from nerve import ops
    >>> ops.segment_min([1.0, 5.0, 3.0], [0, 0, 1]).numpy()
    array([1., 3.], dtype=float32)
    """
    expanded, members = _by_segment("segment_min", data, segment_ids, num_segments)
    if dtypes.is_float(expanded.dtype):
        highest: Any = float("inf")
    elif expanded.dtype == "bool":
        highest = True
    else:
        bits = int("".join(c for c in expanded.dtype if c.isdigit()))
        highest = 2**bits - 1 if expanded.dtype.startswith("u") else 2 ** (bits - 1) - 1
    masked = ew.where(members, expanded, ew.cast(highest, expanded.dtype))
    return min_(masked, axis=1)


def segment_prod(
    data: Any, segment_ids: Any, num_segments: int | None = None, sorted: bool = False
) -> Tensor:
    """Product of the rows of ``data`` in each segment (1 where a segment is empty).

    >>> from nerve import ops
    >>> ops.segment_prod([2.0, 5.0, 3.0], [0, 0, 2]).numpy()
    array([10.,  1.,  3.], dtype=float32)
    """
    expanded, members = _by_segment("segment_prod", data, segment_ids, num_segments)
    masked = ew.where(members, expanded, ew.cast(1, expanded.dtype))
    return prod(masked, axis=1, dtype=expanded.dtype)


def in_top_k(targets: Any, predictions: Any, k: int) -> Tensor:
    """Whether each target class is among the ``k`` highest predictions of its row
    (bool, one per row). A target tied with the ``k``-th highest counts as in.

    >>> from nerve import ops
    >>> ops.in_top_k([2, 0], [[0.1, 0.5, 0.4], [0.2, 0.5, 0.3]], k=2).numpy()
    array([ True, False])
    """
    targets = tensor(targets)
    predictions = tensor(predictions)
    if predictions.ndim != 2 or targets.ndim != 1 or targets.shape[0] != predictions.shape[0]:
        raise ShapeError(
            with_location(
                "in_top_k: predictions must be (batch, classes) and targets (batch,), got "
                f"shapes {predictions.shape} and {targets.shape}."
            )
        )
    if not dtypes.is_int(targets.dtype):
        raise TypeError(
            with_location(f"in_top_k: targets must be integers, got dtype {targets.dtype}.")
        )
    from nerve.ops.indexing import take_along_axis

    target_values = take_along_axis(predictions, expand_dims(targets, -1), axis=-1)
    kth = min_(top_k(predictions, k)[0], axis=-1, keepdims=True)
    return reshape(ew.greater_equal(target_values, kth), (targets.shape[0],))


def cdist(x: Any, y: Any) -> Tensor:
    """Euclidean distances between the rows of ``x`` (..., P, M) and of ``y``
    (..., R, M): a (..., P, R) tensor. Differentiable where distances are nonzero.

    >>> from nerve import ops
    >>> ops.cdist([[0.0, 0.0], [3.0, 4.0]], [[0.0, 0.0]]).numpy()
    array([[0.],
           [5.]], dtype=float32)
    """
    x, y = promote(x, y)
    x, y = to_float(x), to_float(y)
    if x.ndim < 2 or y.ndim < 2:
        raise ValueError(
            with_location(f"cdist: inputs must have rank >= 2, got shapes {x.shape} and {y.shape}.")
        )
    if x.shape[-1] != y.shape[-1]:
        raise ValueError(
            with_location(
                f"cdist: the last axes must match (vector length), got shapes {x.shape} and "
                f"{y.shape}."
            )
        )
    difference = ew.subtract(expand_dims(x, -2), expand_dims(y, -3))
    return ew.sqrt(sum(ew.multiply(difference, difference), axis=-1))
