"""Connectionist temporal classification: ``ctc_loss`` (the forward algorithm over
the label sequence with blanks between and around its labels, a ``scan`` over time in
log space, differentiable) and greedy ``ctc_decode``."""

from __future__ import annotations

from typing import Any

from nerve.core import dtypes
from nerve.core.errors import ShapeError, with_location
from nerve.ops._convert import cast, tensor
from nerve.ops.control_flow import scan
from nerve.ops.creation import arange, full
from nerve.ops.elementwise import add, equal, less, logical_and, logical_not, maximum, not_equal
from nerve.ops.elementwise import where as where_
from nerve.ops.indexing import take_along_axis
from nerve.ops.nn.crossentropy import log_softmax
from nerve.ops.reduction import logsumexp, max, sum
from nerve.ops.shape import broadcast_to, concatenate, expand_dims, reshape, stack, transpose
from nerve.tensor import Tensor

__all__ = ["ctc_decode", "ctc_loss"]

# The log of "impossible": finite (as in Keras's backends), so that no inf - inf or
# 0 * inf reaches a gradient.
_LOG_ZERO = -1e5


def ctc_loss(
    target: Any, output: Any, target_length: Any, output_length: Any, mask_index: int = 0
) -> Tensor:
    """The CTC loss of each sequence in a batch: minus the log-probability, summed
    over every alignment, of ``target`` (int, (batch, max_label_length), padded past
    ``target_length``) under ``output`` (logits, (batch, max_time, classes), valid up
    to ``output_length``); ``mask_index`` is the blank class. Differentiable in
    ``output``. Integers and 16-bit floats are computed in float32, as Keras does.

    >>> from nerve import ops
    >>> logits = ops.zeros((1, 3, 3))  # uniform over {blank, a, b} at each of 3 steps
    >>> float(ops.ctc_loss([[1, 2]], logits, [2], [3])[0])  # 5 alignments of 27 paths
    1.6863...
    """
    target = cast(target, "int32")
    output = tensor(output)
    compute = dtypes.result_type(output.dtype, "float32")
    output = cast(output, compute)
    if output.ndim != 3 or target.ndim != 2 or target.shape[0] != output.shape[0]:
        raise ShapeError(
            with_location(
                "ctc_loss: output must be (batch, time, classes) and target (batch, "
                f"max_label_length), got shapes {output.shape} and {target.shape}."
            )
        )
    batch, steps, _ = output.shape
    labels = target.shape[1]
    target_length = cast(target_length, "int32")
    output_length = cast(output_length, "int32")
    log_probs = log_softmax(output, axis=-1)
    # Extended labels: blank, l1, blank, l2, ..., blank (2 * labels + 1 states).
    blanks = full((batch, labels), mask_index, dtype="int32")
    extended = reshape(stack([blanks, target], axis=2), (batch, 2 * labels))
    extended = concatenate([extended, full((batch, 1), mask_index, dtype="int32")], axis=1)
    states = 2 * labels + 1
    emissions = take_along_axis(
        log_probs, broadcast_to(expand_dims(extended, 1), (batch, steps, states)), axis=2
    )
    emissions = transpose(emissions, (1, 0, 2))  # (time, batch, states)
    # A state may be entered from two back when it is a label unlike the one before.
    skips = logical_and(
        not_equal(extended[:, 2:], mask_index), not_equal(extended[:, 2:], extended[:, :-2])
    )
    skips = concatenate([full((batch, 2), False, dtype="bool"), skips], axis=1)
    floor = full((), _LOG_ZERO, dtype=compute)
    position = arange(states, dtype="int32")
    alpha = where_(less(position, 2), emissions[0], floor)
    active = less(expand_dims(arange(steps, dtype="int32"), 1), expand_dims(output_length, 0))

    def step(alpha: Tensor, inputs: tuple) -> tuple:
        emission, valid = inputs
        pad1 = full((batch, 1), _LOG_ZERO, dtype=compute)
        pad2 = full((batch, 2), _LOG_ZERO, dtype=compute)
        from_previous = concatenate([pad1, alpha[:, :-1]], axis=1)
        from_skip = where_(skips, concatenate([pad2, alpha[:, :-2]], axis=1), floor)
        entered = logsumexp(stack([alpha, from_previous, from_skip], axis=-1), axis=-1)
        new = add(entered, emission)
        # Past a sequence's length its probabilities stay as they were.
        return where_(expand_dims(valid, 1), new, alpha), None

    if steps > 1:
        alpha, _ = scan(step, alpha, (emissions[1:], active[1:]))
    # The path ends on the last label or on the blank after it.
    last = expand_dims(2 * target_length, 1)
    before = expand_dims(maximum(2 * target_length - 1, 0), 1)
    end_blank = take_along_axis(alpha, last, axis=1)
    end_label = where_(
        expand_dims(equal(target_length, 0), 1), floor, take_along_axis(alpha, before, axis=1)
    )
    return -logsumexp(concatenate([end_blank, end_label], axis=1), axis=1)


def ctc_decode(
    inputs: Any,
    sequence_lengths: Any,
    strategy: str = "greedy",
    beam_width: int = 100,
    top_paths: int = 1,
    merge_repeated: bool = True,
    mask_index: int = 0,
) -> tuple[Tensor, Tensor]:
    """Decode CTC outputs (batch, time, classes) greedily: the most likely class at
    each step within ``sequence_lengths``, repeats merged (with ``merge_repeated``)
    and blanks (``mask_index``) dropped. Returns the decoded labels, (1, batch, time)
    padded with -1, and minus the sum of the chosen (largest) inputs, (batch, 1), as
    Keras scores them. Only ``strategy="greedy"`` is implemented.

    >>> from nerve import ops
    >>> probs = ops.one_hot(ops.convert_to_tensor([[1, 1, 0, 2, 2]]), 3)
    >>> decoded, _ = ops.ctc_decode(probs, [5])
    >>> decoded.numpy()
    array([[[ 1,  2, -1, -1, -1]]], dtype=int32)
    """
    if strategy not in ("greedy", "beam_search"):
        raise ValueError(
            with_location(
                f"ctc_decode: Invalid strategy {strategy!r}; supported values are 'greedy' "
                "and 'beam_search'."
            )
        )
    if strategy != "greedy":
        raise NotImplementedError(
            with_location(
                f"ctc_decode: strategy={strategy!r} is not implemented in nerve yet; use "
                "strategy='greedy'."
            )
        )
    from nerve.ops.indexing import argsort
    from nerve.ops.reduction import argmax

    inputs = tensor(inputs)
    if inputs.ndim != 3:
        raise ShapeError(
            with_location(f"ctc_decode: inputs must be (batch, time, classes), got {inputs.shape}.")
        )
    batch, steps, _ = inputs.shape
    lengths = cast(sequence_lengths, "int32")
    best = argmax(inputs, axis=-1)  # (batch, time)
    valid = less(expand_dims(arange(steps, dtype="int32"), 0), expand_dims(lengths, 1))
    keep = logical_and(valid, not_equal(best, mask_index))
    if merge_repeated:
        first = full((batch, 1), True, dtype="bool")
        changed = concatenate([first, not_equal(best[:, 1:], best[:, :-1])], axis=1)
        keep = logical_and(keep, changed)
    # Kept labels first, in order (a stable sort of "dropped" flags), the rest -1.
    order = argsort(cast(logical_not(keep), "int32"), axis=1)
    labels = take_along_axis(where_(keep, best, -1), order, axis=1)
    # Keras's score: minus the sum of each step's largest input (logits as given).
    chosen = cast(max(inputs, axis=-1), dtypes.result_type(inputs.dtype, "float32"))
    scores = -sum(where_(valid, chosen, 0.0), axis=1)
    return expand_dims(labels, 0), expand_dims(scores, 1)
