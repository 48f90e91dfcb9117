"""Linear-algebra primitives."""

from __future__ import annotations

from nerve.core.errors import ShapeError, with_location
from nerve.primitives import rules
from nerve.primitives.creation import eye_p
from nerve.primitives.registry import Aval, Primitive
from nerve.primitives.shape import broadcast_to, reshape, transpose

__all__ = [
    "EINSUM_LABELS",
    "einsum_p",
    "matmul_p",
    "parse_einsum",
]


def _matmul_rule(a: Aval, b: Aval) -> Aval:
    dtype = rules.same_dtype("matmul", a, b)
    if len(a.shape) < 2 or len(b.shape) < 2:
        raise ShapeError(with_location("matmul primitive: operands must have rank >= 2."))
    if a.shape[-1] != b.shape[-2]:
        raise ShapeError(
            with_location(
                f"matmul: the last axis of the first operand (shape {tuple(a.shape)}) must match "
                f"the second-to-last axis of the second (shape {tuple(b.shape)}): "
                f"{a.shape[-1]} != {b.shape[-2]}."
            )
        )
    try:
        batch = rules.broadcast_shapes("matmul", tuple(a.shape[:-2]), tuple(b.shape[:-2]))
    except ShapeError:
        raise ShapeError(
            with_location(
                f"matmul: the batch axes (all but the last two) of operands of shapes "
                f"{tuple(a.shape)} and {tuple(b.shape)} cannot be broadcast together: "
                f"{tuple(a.shape[:-2])} vs {tuple(b.shape[:-2])}."
            )
        ) from None
    return Aval((*batch, a.shape[-2], b.shape[-1]), dtype)


def _swap_last(x):
    n = len(x.shape)
    return transpose(x, (*range(n - 2), n - 1, n - 2))


def _matmul_vjp(g, inputs, out, needs):
    a, b = inputs
    return (
        matmul_p.bind(g, _swap_last(b)) if needs[0] else None,
        matmul_p.bind(_swap_last(a), g) if needs[1] else None,
    )


matmul_p = Primitive("matmul", shape_rule=_matmul_rule, vjp=_matmul_vjp, fresh=True)


# -- einsum ---------------------------------------------------------------------------
# ``subscripts`` is explicit and letters only ("ij,jk->ik"): the op layer expands
# ellipses and implicit outputs. A label may repeat within one operand (a diagonal);
# a label of size 1 broadcasts against the same label elsewhere, as in NumPy.

# The labels NumPy accepts.
EINSUM_LABELS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def parse_einsum(subscripts: str) -> tuple[list[str], str]:
    inputs, output = subscripts.split("->")
    return inputs.split(","), output


def _einsum_rule(*operands: Aval, subscripts: str) -> Aval:
    inputs, output = parse_einsum(subscripts)
    if len(inputs) != len(operands):
        raise ShapeError(
            with_location(
                f"einsum: subscripts {subscripts!r} name {len(inputs)} operand(s), "
                f"got {len(operands)}."
            )
        )
    dtype = rules.same_dtype("einsum", *operands)
    sizes: dict[str, int] = {}
    for labels, operand in zip(inputs, operands):
        shape = tuple(operand.shape)
        if len(labels) != len(shape):
            raise ShapeError(
                with_location(
                    f"einsum: subscripts {labels!r} name {len(labels)} axes, but the operand "
                    f"has shape {shape} (rank {len(shape)})."
                )
            )
        for label, size in zip(labels, shape):
            known = sizes.setdefault(label, size)
            if size == known or size == 1:
                continue
            if known != 1:
                raise ShapeError(
                    with_location(
                        f"einsum: label {label!r} in {subscripts!r} has sizes {known} and "
                        f"{size}; operand shapes are {[tuple(o.shape) for o in operands]}."
                    )
                )
            sizes[label] = size
    missing = [label for label in output if label not in sizes]
    if missing or len(set(output)) != len(output):
        raise ShapeError(
            with_location(
                f"einsum: output subscripts {output!r} must be distinct labels that appear "
                f"in the inputs of {subscripts!r}."
            )
        )
    return Aval(tuple(sizes[label] for label in output), dtype)


def _einsum_operand_ct(g, inputs, k: int, subscripts: str):
    """Cotangent of operand ``k``: an einsum of ``g`` with the other operands.

    Labels of operand k found nowhere else were summed out, so the cotangent is
    constant along them (a broadcast). A label repeated within operand k picks a
    diagonal, so its cotangent is spread onto that diagonal with an identity matrix.
    """
    in_labels, out_labels = parse_einsum(subscripts)
    labels = in_labels[k]
    shape = tuple(inputs[k].shape)
    others = [i for i in range(len(inputs)) if i != k]
    available = set(out_labels).union(*(in_labels[i] for i in others))
    unused = iter(c for c in EINSUM_LABELS if c not in set(subscripts))

    renamed, deltas, delta_sizes = [], [], []
    for pos, label in enumerate(labels):
        if label in labels[:pos]:
            fresh = next(unused)
            deltas.append(label + fresh)
            delta_sizes.append(shape[pos])
            renamed.append(fresh)
        else:
            renamed.append(label)
    # Labels the cotangent einsum can produce: all but those summed out in operand k alone.
    target = "".join(dict.fromkeys(c for c in labels if c in available))
    ct = einsum_p.bind(
        g,
        *(inputs[i] for i in others),
        subscripts=",".join([out_labels, *(in_labels[i] for i in others)]) + "->" + target,
    )
    result = "".join(c for c in renamed if c in set(target).union(*deltas))
    if deltas:
        eyes = [eye_p.bind(rows=n, columns=n, k=0, dtype=g.dtype) for n in delta_sizes]
        ct = einsum_p.bind(ct, *eyes, subscripts=",".join([target, *deltas]) + "->" + result)
    else:
        ct = transpose(ct, tuple(target.index(c) for c in result))
    if len(result) < len(renamed):
        # Summed-out labels: insert their axes and broadcast along them.
        kept = iter(ct.shape)
        expanded = tuple(next(kept) if c in result else 1 for c in renamed)
        ct = reshape(ct, expanded)
        full = tuple(d if c in result else n for c, d, n in zip(renamed, expanded, shape))
        ct = broadcast_to(ct, full)
    return ct


def _einsum_vjp(g, inputs, out, needs, subscripts):
    return tuple(
        _einsum_operand_ct(g, inputs, k, subscripts) if needs[k] else None
        for k in range(len(inputs))
    )


einsum_p = Primitive("einsum", shape_rule=_einsum_rule, vjp=_einsum_vjp)
