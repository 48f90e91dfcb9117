"""CTC prefix beam search on host arrays, for ``ctc_decode(strategy="beam_search")``.

A decoder, not a differentiable op: it runs on the host over NumPy arrays (the
values of concrete tensors), as TensorFlow's and Keras's NumPy and JAX decoders
do. Every example keeps ``width`` distinct label prefixes; for each, the
log-probability of the alignments seen so far that end in a blank (``blank``) and
of those that end in the prefix's last label (``label``). One time step turns each
prefix into a "stay" candidate (a blank, or a repeat of the last label, which
collapses into it) and one extension per label, the beam keeps the ``width`` most
probable candidates, and the decoded labellings are the best prefixes at the end.

Exact ties are broken as Keras's backends break them with stable sorts: between
equally probable prefixes, the one smaller in lexicographic order of labels wins,
except that a prefix loses to its extensions (on the first step, the blank ranks
by its class index). Keras's NumPy backend sorts some arrays unstably, so its
order among exactly tied labellings may differ; which scores are exactly tied can
also depend on the rounding of the log-softmax.

The only candidates that can coincide are a prefix's "stay" and the extension of
its parent (the prefix without its last label) by that label; those are merged.
Parents are found through a 64-bit hash of each prefix, and every hash match is
confirmed on the labels themselves, so the search is exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_PAD = -1
# Odd multiplier of the polynomial hash of a prefix (arithmetic wraps modulo 2**64).
_HASH_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)


@dataclass
class Beam:
    """The prefixes of every example: ``paths`` (batch, width, time) int32 labels
    padded with -1, their ``lengths``, ``hashes`` and ``parent_hashes`` (the hash
    without the last label), and the log-probabilities ``blank`` and ``label``.
    Empty slots have both log-probabilities -inf. ``classes`` counts the classes,
    blank included."""

    classes: int
    paths: np.ndarray
    lengths: np.ndarray
    hashes: np.ndarray
    parent_hashes: np.ndarray
    blank: np.ndarray
    label: np.ndarray

    @classmethod
    def start(cls, batch: int, width: int, steps: int, classes: int, dtype: np.dtype) -> Beam:
        """Only the empty prefix, with probability one, before any step."""
        blank = np.full((batch, width), -np.inf, dtype)
        blank[:, 0] = 0.0
        return cls(
            classes=classes,
            paths=np.full((batch, width, steps), _PAD, np.int32),
            lengths=np.zeros((batch, width), np.int64),
            hashes=np.zeros((batch, width), np.uint64),
            parent_hashes=np.zeros((batch, width), np.uint64),
            blank=blank,
            label=np.full((batch, width), -np.inf, dtype),
        )

    def total(self) -> np.ndarray:
        return np.logaddexp(self.blank, self.label)

    def last(self) -> np.ndarray:
        """Each prefix's last label, -1 for the empty prefix."""
        end = np.maximum(self.lengths - 1, 0)[..., None]
        last = np.take_along_axis(self.paths, end, axis=2)[..., 0]
        return np.where(self.lengths > 0, last, _PAD)


def _merge_parents(beam: Beam, last: np.ndarray, stay: np.ndarray, grow: np.ndarray) -> None:
    """Move the extension of each prefix's parent by its last label into the
    prefix's own "stay" candidate (``stay``: (batch, width), ``grow``: (batch,
    width, classes), both updated in place)."""
    valid = np.isfinite(beam.total())
    match = (
        valid[:, :, None]
        & valid[:, None, :]
        & (beam.lengths[:, :, None] == beam.lengths[:, None, :] + 1)
        & (beam.parent_hashes[:, :, None] == beam.hashes[:, None, :])
    )
    b, child, parent = np.nonzero(match)
    if b.size == 0:
        return
    trimmed = beam.paths[b, child].copy()
    trimmed[np.arange(b.size), beam.lengths[b, child] - 1] = _PAD
    same = np.all(trimmed == beam.paths[b, parent], axis=1)
    b, child, parent = b[same], child[same], parent[same]
    label = last[b, child]
    stay[b, child] = np.logaddexp(stay[b, child], grow[b, parent, label])
    grow[b, parent, label] = -np.inf


def candidate_paths(beam: Beam, index: np.ndarray, batch_index: np.ndarray) -> np.ndarray:
    """The labels of candidates ``index`` (below ``width``: the prefix itself,
    then prefix ``(index - width) // classes`` extended by ``(index - width) %
    classes``) of examples ``batch_index``."""
    width = beam.blank.shape[1]
    grown = index >= width
    source = np.where(grown, (index - width) // beam.classes, index)
    paths = beam.paths[batch_index, source].copy()
    rows = np.nonzero(grown)
    label = ((index - width) % beam.classes)[rows]
    where = [*rows, beam.lengths[batch_index, source][rows]]  # the first padding
    paths[tuple(where)] = label
    return paths


def _flipped(paths: np.ndarray, classes: int) -> np.ndarray:
    """Labels mapped so that larger means preferred on a tie (padding stays least)."""
    return np.where(paths >= 0, classes - 1 - paths, _PAD)


def _choose(beam: Beam, scores: np.ndarray, width: int, empty_key: int) -> np.ndarray:
    """The indices (batch, width) of the ``width`` most probable candidates of each
    example, -1 where fewer are possible; ties at the cut go to the preferred prefix,
    the empty one ranking as a first label ``empty_key`` (in ``_flipped`` terms)."""
    order = np.argsort(-scores, axis=1, kind="stable")
    chosen = order[:, :width].copy()
    kept = np.take_along_axis(scores, chosen, axis=1)
    chosen[~np.isfinite(kept)] = -1
    if scores.shape[1] <= width:
        return chosen
    cut = kept[:, -1]
    next_best = np.take_along_axis(scores, order[:, width : width + 1], axis=1)[:, 0]
    for b in np.nonzero(np.isfinite(cut) & (next_best == cut))[0]:
        tied = np.nonzero(scores[b] == cut[b])[0]
        above = int(np.sum(scores[b] > cut[b]))
        flipped = _flipped(candidate_paths(beam, tied, np.full_like(tied, b)), beam.classes)
        flipped[flipped[:, 0] == _PAD, 0] = empty_key
        preferred = tied[np.lexsort(flipped.T[::-1])[::-1]]
        chosen[b, above:] = preferred[: width - above]
    return chosen


def _advance(
    beam: Beam, chosen: np.ndarray, stay: tuple[np.ndarray, np.ndarray], grow: np.ndarray
) -> Beam:
    """The beam of the candidates ``chosen`` (from ``_choose``)."""
    batch, width = chosen.shape
    classes = grow.shape[2]
    valid = chosen >= 0
    index = np.where(valid, chosen, 0)
    rows = np.broadcast_to(np.arange(batch)[:, None], index.shape)
    grown = index >= width
    source = np.where(grown, (index - width) // classes, index)
    label = (index - width) % classes
    lengths = beam.lengths[rows, source]
    hashes = beam.hashes[rows, source]
    neg_inf = np.array(-np.inf, grow.dtype)
    return Beam(
        classes=classes,
        paths=np.where(valid[..., None], candidate_paths(beam, index, rows), _PAD).astype(np.int32),
        lengths=np.where(valid, lengths + grown, 0),
        hashes=np.where(grown, hashes * _HASH_MULTIPLIER + (label + 1).astype(np.uint64), hashes),
        parent_hashes=np.where(grown, hashes, beam.parent_hashes[rows, source]),
        blank=np.where(valid & ~grown, stay[0][rows, source], neg_inf),
        label=np.where(
            valid,
            np.where(grown, grow[rows, source, np.where(grown, label, 0)], stay[1][rows, source]),
            neg_inf,
        ),
    )


def step(beam: Beam, log_probs: np.ndarray, blank: int, width: int, first: bool) -> Beam:
    """One time step for every example: ``log_probs`` (batch, classes). On the
    ``first`` step Keras ranks tied classes by class index, the blank included."""
    batch, classes = log_probs.shape
    last = beam.last()
    total = beam.total()
    stay_blank = total + log_probs[:, blank : blank + 1]
    # A repeated label collapses into the prefix unless a blank came between.
    repeat = np.take_along_axis(log_probs, np.maximum(last, 0), axis=1)
    stay_label = np.where(last >= 0, beam.label + repeat, -np.inf).astype(total.dtype)
    from_state = np.where(
        np.arange(classes) == last[..., None], beam.blank[..., None], total[..., None]
    )
    grow = from_state + log_probs[:, None, :]
    grow[:, :, blank] = -np.inf
    _merge_parents(beam, last, stay_label, grow)
    scores = np.concatenate([np.logaddexp(stay_blank, stay_label), grow.reshape(batch, -1)], axis=1)
    chosen = _choose(beam, scores, width, classes - 1 - blank if first else _PAD)
    return _advance(beam, chosen, (stay_blank, stay_label), grow)


def decode(
    log_probs: np.ndarray, lengths: np.ndarray, width: int, top_paths: int, blank: int
) -> tuple[np.ndarray, np.ndarray]:
    """Beam-search decode ``log_probs`` (batch, time, classes), each example up to
    its length (its first step always counts, as in Keras). Returns the labellings
    (top_paths, batch, time) int32 padded with -1, best first, and their
    log-probabilities (batch, top_paths); missing labellings are -1 with -inf."""
    batch, steps, classes = log_probs.shape
    beam = Beam.start(batch, width, steps, classes, log_probs.dtype)
    for t in range(steps):
        new = step(beam, log_probs[:, t], blank, width, first=t == 0)
        active = (t < lengths) | (t == 0)
        beam = _keep_where(active, new, beam)
    total = beam.total()
    flipped = _flipped(beam.paths, classes)
    keys = [-flipped[..., k].ravel() for k in range(steps - 1, -1, -1)]
    keys += [-total.ravel(), np.repeat(np.arange(batch), width)]
    order = np.lexsort(keys).reshape(batch, width) % width
    paths = np.take_along_axis(beam.paths, order[..., None], axis=1)
    scores = np.take_along_axis(total, order, axis=1)
    paths = np.where(np.isfinite(scores)[..., None], paths, _PAD)
    if top_paths > width:
        extra = top_paths - width
        paths = np.concatenate([paths, np.full((batch, extra, steps), _PAD, np.int32)], 1)
        scores = np.concatenate([scores, np.full((batch, extra), -np.inf, total.dtype)], 1)
    return np.ascontiguousarray(paths[:, :top_paths].transpose(1, 0, 2)), scores[:, :top_paths]


def _keep_where(active: np.ndarray, new: Beam, old: Beam) -> Beam:
    """``new`` for the examples still within their length, ``old`` for the rest."""
    fields: dict = {"classes": new.classes}
    for name in ("paths", "lengths", "hashes", "parent_hashes", "blank", "label"):
        a, b = getattr(new, name), getattr(old, name)
        mask = active.reshape((-1,) + (1,) * (a.ndim - 1))
        fields[name] = np.where(mask, a, b)
    return Beam(**fields)
