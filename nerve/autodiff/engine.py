"""The reverse-mode engine: one iterative backward pass over recorded nodes.

Rules compute cotangents; the engine does everything they share: skipping nodes
whose inputs need no gradient, filling missing cotangents of multi-output nodes
with zeros, summing a broadcast cotangent back to its input's shape, casting it
to its input's dtype, and accumulating fan-out.
"""

from __future__ import annotations

from nerve.core.dtypes import is_differentiable
from nerve.core.symbolic import is_one, same_shape
from nerve.primitives import elementwise as ew
from nerve.primitives.reduction import reduce_sum_p
from nerve.primitives.shape import broadcast_to, reshape

__all__ = [
    "backward",
    "ones_like",
    "sum_to_shape",
    "zeros_like",
]


def ones_like(x):
    return broadcast_to(ew.scalar(1, x), tuple(x.shape))


def zeros_like(x):
    return broadcast_to(ew.scalar(0, x), tuple(x.shape))


def sum_to_shape(ct, shape: tuple):
    """Sum a cotangent of a broadcast result back to ``shape``."""
    ct_shape = tuple(ct.shape)
    # same_shape and is_one ask a symbolic size (nerve.core.symbolic) nothing.
    if same_shape(ct_shape, shape):
        return ct
    lead = len(ct_shape) - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, d in enumerate(shape) if is_one(d) and not is_one(ct_shape[lead + i])
    )
    if axes:
        ct = reduce_sum_p.bind(ct, axes=axes, keepdims=False)
    return reshape(ct, shape)


def _fit(ct, like):
    shape = tuple(like.shape)
    if not same_shape(tuple(ct.shape), shape):
        ct = sum_to_shape(ct, shape)
    dtype = like.dtype
    return ct if ct.dtype == dtype else ew.cast(ct, dtype)


def backward(nodes: list, seeds: list, wanted: set) -> dict:
    """Cotangents of the tensors whose ids are in ``wanted``.

    ``nodes`` are in execution order; ``seeds`` pairs each target with its
    initial cotangent.
    """
    # Forward sweep: which tensors depend on a wanted one (only they need cotangents).
    reaches = set(wanted)
    for node in nodes:
        for x in node.inputs:
            if id(x) in reaches:
                reaches.update(id(o) for o in node.outputs)
                break
    cotangents: dict[int, object] = {}
    for target, seed in seeds:
        if id(target) in reaches:
            seed = _fit(seed, target)
            prior = cotangents.get(id(target))
            cotangents[id(target)] = seed if prior is None else ew.add(prior, seed)

    for node in reversed(nodes):
        outputs = node.outputs
        out_cts = [cotangents.get(id(o)) for o in outputs]
        if all(ct is None for ct in out_cts):
            continue
        needs = tuple(id(x) in reaches and is_differentiable(x.dtype) for x in node.inputs)
        if not any(needs):
            continue
        if len(outputs) == 1:
            ct_arg, out_arg = out_cts[0], outputs[0]
        else:
            ct_arg = tuple(zeros_like(o) if ct is None else ct for o, ct in zip(outputs, out_cts))
            out_arg = outputs
        in_cts = node.prim.vjp(ct_arg, node.inputs, out_arg, needs, **node.params)
        for x, need, ct in zip(node.inputs, needs, in_cts):
            if not need or ct is None:
                continue
            ct = _fit(ct, x)
            key = id(x)
            prior = cotangents.get(key)
            cotangents[key] = ct if prior is None else ew.add(prior, ct)
        for o in outputs:
            if id(o) not in wanted:
                cotangents.pop(id(o), None)
    return {k: v for k, v in cotangents.items() if k in wanted}
