"""Connectionist temporal classification: ``ctc_loss`` (the forward algorithm over
the label sequence with blanks between and around its labels, a ``scan`` over time in
log space, differentiable) and ``ctc_decode`` (greedy, or a prefix beam search on
the host)."""

from __future__ import annotations

from typing import Any

from nerve.core import dtypes
from nerve.core.errors import ShapeError, TracingError, with_location
from nerve.ops._convert import cast, tensor
from nerve.ops.control_flow import scan
from nerve.ops.creation import arange, full
from nerve.ops.elementwise import add, equal, less, logical_and, logical_not, maximum, not_equal
from nerve.ops.elementwise import where as where_
from nerve.ops.indexing import take_along_axis
from nerve.ops.nn import _ctc_beam
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
    mask_index: int | None = 0,
) -> tuple[Tensor, Tensor]:
    """Decode CTC outputs ``inputs`` (batch, time, classes), each example within its
    ``sequence_lengths``; ``mask_index`` is the blank class (``None``: the last).

    * ``strategy="greedy"``: the most likely class at each step, repeats merged
      (with ``merge_repeated``) and blanks dropped. Returns the labels, (1, batch,
      time) padded with -1, and minus the sum of the chosen (largest) inputs, (batch,
      1), as Keras scores them.
    * ``strategy="beam_search"``: prefix beam search over the labellings, keeping
      ``beam_width`` prefixes; ``inputs`` are logits (a log-softmax is applied).
      Returns the ``top_paths`` best labellings, (top_paths, batch, time) padded with
      -1, best first, and their log-probabilities, (batch, top_paths). Repeats are
      always merged (the CTC rule), as in Keras's backends. Not differentiable; runs
      on the host on concrete values.

    Labels are int32; scores are float32, or float64 for float64 inputs.

    >>> from nerve import ops
    >>> probs = ops.one_hot(ops.convert_to_tensor([[1, 1, 0, 2, 2]]), 3)
    >>> decoded, _ = ops.ctc_decode(probs, [5])
    >>> decoded.numpy()
    array([[[ 1,  2, -1, -1, -1]]], dtype=int32)
    >>> decoded, scores = ops.ctc_decode(probs * 5, [5], strategy="beam_search", top_paths=2)
    >>> decoded.shape, scores.shape
    ((2, 1, 5), (1, 2))
    >>> decoded.numpy()[0]
    array([[ 1,  2, -1, -1, -1]], dtype=int32)
    """
    if strategy not in ("greedy", "beam_search"):
        raise ValueError(
            with_location(
                f"ctc_decode: Invalid strategy {strategy!r}; supported values are 'greedy' "
                "and 'beam_search'."
            )
        )
    inputs = tensor(inputs)
    if inputs.ndim != 3:
        raise ShapeError(
            with_location(f"ctc_decode: inputs must be (batch, time, classes), got {inputs.shape}.")
        )
    classes = inputs.shape[2]
    if mask_index is None:
        mask_index = classes - 1
    if not 0 <= int(mask_index) < classes:
        raise ValueError(
            with_location(
                f"ctc_decode: mask_index must be a class in [0, {classes}), got {mask_index}."
            )
        )
    if strategy == "beam_search":
        return _beam_search(inputs, sequence_lengths, beam_width, top_paths, int(mask_index))
    return _greedy(inputs, sequence_lengths, merge_repeated, int(mask_index))


def _greedy(
    inputs: Tensor, sequence_lengths: Any, merge_repeated: bool, mask_index: int
) -> tuple[Tensor, Tensor]:
    from nerve.ops.indexing import argsort
    from nerve.ops.reduction import argmax

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


def _beam_search(
    inputs: Tensor, sequence_lengths: Any, beam_width: int, top_paths: int, mask_index: int
) -> tuple[Tensor, Tensor]:
    for name, value in (("beam_width", beam_width), ("top_paths", top_paths)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(
                with_location(f"ctc_decode: {name} must be a positive integer, got {value!r}.")
            )
    compute = dtypes.result_type(inputs.dtype, "float32")
    log_probs = log_softmax(cast(inputs, compute), axis=-1)
    lengths = cast(sequence_lengths, "int32")
    if lengths.shape != (inputs.shape[0],):
        raise ShapeError(
            with_location(
                f"ctc_decode: sequence_lengths must be (batch,) = ({inputs.shape[0]},), got "
                f"{lengths.shape}."
            )
        )
    try:
        host_log_probs, host_lengths = log_probs.numpy(), lengths.numpy()
    except TracingError as error:
        raise TracingError(
            with_location(
                "ctc_decode: strategy='beam_search' searches on the host and needs concrete "
                "inputs; it cannot be traced into a graph (call it outside nerve.function)."
            )
        ) from error
    paths, scores = _ctc_beam.decode(
        host_log_probs, host_lengths, beam_width, top_paths, mask_index
    )
    return tensor(paths), tensor(scores)
