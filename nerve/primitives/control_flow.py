"""Control-flow primitives: ``cond_p``, ``while_p`` and ``scan_p``.

Their branches and bodies are *programs*: closed functions over arrays that
``nerve.ops.control_flow`` builds by tracing a Python function into a sub-graph
(the ops layer owns that because tracing lives above this layer). A program is
a static param, hashed by identity, and offers this small protocol:

* ``in_avals`` / ``out_avals``: tuples of ``Aval``;
* ``program(*arrays) -> tuple``: run it on backend arrays (what kernels call);
* ``program.stepper(*arrays) -> run``: optional; ``run(list_of_arrays) -> tuple`` runs
  it on arrays like these without a per-call error-state scope (a loop kernel enters
  one for all its steps);
* ``program.schedule(*arrays) -> Schedule | None``: optional; the compiled program as
  its kernel calls (``nerve.backend.program.Schedule``), for a loop kernel that runs
  a body's steps without coming back to Python;
* ``program.inline(*tensors) -> tuple``: bind its primitives under the current
  interpreter (so a vjp rule can splice it into the graph being traced);
* ``program.vjp() -> program``: ``(inputs..., output cotangents...) ->`` input
  cotangents (zeros, never ``None``);
* ``program.linearize(invariant) -> (primal, tangent)``: the vjp split in two, the primal
  half returning ``primal.num_residuals`` saved values after its outputs, the
  tangent half ``(inputs..., residuals..., output cotangents...) ->`` input
  cotangents (see ``nerve.graph.programs.Program.linearize``);
* ``program.trace(fn, avals, name) -> program``: trace ``fn`` over tensors of
  ``avals`` into a new program (used to build the backward scan body);
* ``program.cache``: a dict where rules keep programs derived from it, so
  repeated gradients reuse them.

Every control-flow primitive returns a tuple (``multiple_results``). Values the
Python functions captured from outside (closures, variables) are explicit
operands, so gradients reach them.
"""

from __future__ import annotations

from typing import Any

from nerve.core.errors import ShapeError, TracingError, with_location
from nerve.primitives import elementwise as ew
from nerve.primitives.registry import Aval, Primitive
from nerve.primitives.shape import broadcast_to

__all__ = [
    "cond_p",
    "scan_p",
    "while_p",
]


def _fmt(avals) -> str:
    return "(" + ", ".join(f"{a.dtype}{list(a.shape)}" for a in avals) + ")"


def _same(a, b) -> bool:
    return [(tuple(x.shape), x.dtype) for x in a] == [(tuple(y.shape), y.dtype) for y in b]


def _check_inputs(op: str, what: str, program: Any, avals) -> None:
    if not _same(program.in_avals, avals):
        raise ShapeError(
            with_location(
                f"{op}: {what} expects inputs {_fmt(program.in_avals)} but got {_fmt(avals)}."
            )
        )


def _as_tuple(cts) -> tuple:
    return cts if isinstance(cts, tuple) else (cts,)


def _zeros_like(x):
    return broadcast_to(ew.scalar(0, x), tuple(x.shape))


# -- cond -------------------------------------------------------------------------------


def _cond_shape_rule(pred: Aval, *operands: Aval, true_program, false_program):
    if tuple(pred.shape) != () or pred.dtype != "bool":
        raise ShapeError(
            with_location(
                f"cond: the predicate must be a scalar bool, got {pred.dtype}{list(pred.shape)}."
            )
        )
    _check_inputs("cond", "true_fn", true_program, operands)
    _check_inputs("cond", "false_fn", false_program, operands)
    if not _same(true_program.out_avals, false_program.out_avals):
        raise ShapeError(
            with_location(
                f"cond: true_fn returned {_fmt(true_program.out_avals)} but false_fn returned "
                f"{_fmt(false_program.out_avals)}; both branches must return tensors of the "
                "same shapes and dtypes (cast or reshape one branch)."
            )
        )
    return tuple(true_program.out_avals)


def _cond_vjp(cts, inputs, out, needs, true_program, false_program):
    """The gradient of a cond is a cond of the branches' gradients."""
    pred, *operands = inputs
    if not any(needs[1:]):
        return (None,) * len(inputs)
    in_cts = cond_p.bind(
        pred,
        *operands,
        *_as_tuple(cts),
        true_program=true_program.vjp(),
        false_program=false_program.vjp(),
    )
    return (None, *in_cts)


cond_p = Primitive(
    "cond", shape_rule=_cond_shape_rule, vjp=_cond_vjp, kernel="cond", multiple_results=True
)


# -- while ------------------------------------------------------------------------------


def _while_shape_rule(*args: Aval, cond_program, body_program, num_carry, maximum_iterations):
    carry = args[:num_carry]
    _check_inputs("while_loop", "cond", cond_program, args)
    _check_inputs("while_loop", "body", body_program, args)
    pred = cond_program.out_avals
    if len(pred) != 1 or tuple(pred[0].shape) != () or pred[0].dtype != "bool":
        raise ShapeError(
            with_location(f"while_loop: cond must return one scalar bool, got {_fmt(pred)}.")
        )
    if not _same(body_program.out_avals, carry):
        raise ShapeError(
            with_location(
                f"while_loop: the loop variables are {_fmt(carry)} but body returned "
                f"{_fmt(body_program.out_avals)}; the body must keep every loop variable's "
                "shape and dtype."
            )
        )
    return tuple(carry)


def _while_vjp(cts, inputs, out, needs, **params):
    raise TracingError(
        with_location(
            "while_loop: cannot differentiate through a traced while_loop, because its "
            "number of iterations is only known at run time (reverse mode would have to "
            "keep every iteration). Use ops.scan or ops.fori_loop with a static trip "
            "count instead, or compute the gradient outside nerve.function."
        )
    )


while_p = Primitive(
    "while_loop", shape_rule=_while_shape_rule, vjp=_while_vjp, multiple_results=True
)


# -- scan -------------------------------------------------------------------------------


def _scan_shape_rule(*args: Aval, body_program, num_carry, num_consts, length, reverse, history):
    """Outputs: final carry, stacked ys and, with ``history``, the stacked carry
    entering each step (what the backward steps read; ``ops.scan`` asks for none,
    and its gradient binds a copy of the loop that keeps it, see ``_scan_vjp``)."""
    carry = args[:num_carry]
    xs = args[num_carry + num_consts :]
    for x in xs:
        if not x.shape or x.shape[0] != length:
            raise ShapeError(
                with_location(
                    f"scan: every xs leaf needs a leading axis of length {length}, got "
                    f"{x.dtype}{list(x.shape)}."
                )
            )
    slices = [Aval(tuple(x.shape[1:]), x.dtype) for x in xs]
    _check_inputs("scan", "f", body_program, (*args[: num_carry + num_consts], *slices))
    new_carry = body_program.out_avals[:num_carry]
    if not _same(new_carry, carry):
        raise ShapeError(
            with_location(
                f"scan: the carry is {_fmt(carry)} but f returned the carry {_fmt(new_carry)}; "
                "f must keep the carry's shapes and dtypes."
            )
        )
    ys = body_program.out_avals[num_carry:]
    stacked = [Aval((length, *a.shape), a.dtype) for a in (*ys, *(carry if history else ()))]
    return (*carry, *stacked)


def _scan_vjp(
    cts, inputs, out, needs, body_program, num_carry, num_consts, length, reverse, history
):
    """A reverse scan over what the forward steps saved.

    The body's gradient is split (``program.linearize()``) into a primal half, which
    also returns the step's *residuals* (gate activations and the like), and a tangent
    half that reads them. The forward loop is bound again with the primal half as its
    body, so the residuals come out stacked; ``passes.share_scans`` then runs that
    loop in place of the original one (same operands, same first outputs), and the
    backward steps compute nothing of the forward step again."""
    if not any(needs):
        return (None,) * len(inputs)
    nc, nk = num_carry, num_consts
    ny = len(body_program.out_avals) - nc
    # With a single output (no carry, one y) the engine hands over bare tensors, not
    # tuples; slicing a bare one would cut the tensor instead of the output list.
    cts, out = _as_tuple(cts), _as_tuple(out)
    # ct_hist is empty unless this loop kept its history (a gradient's own loop).
    ct_final, ct_ys, ct_hist = cts[:nc], cts[nc : nc + ny], cts[nc + ny :]
    carry_init, consts, xs = inputs[:nc], inputs[nc : nc + nk], inputs[nc + nk :]
    primal, tangent = body_program.linearize(invariant=tuple(range(nc, nc + nk)))
    nr = primal.num_residuals
    saved = scan_p.bind(
        *carry_init,
        *consts,
        *xs,
        body_program=primal,
        num_carry=nc,
        num_consts=nk,
        length=length,
        reverse=reverse,
        history=True,
    )
    residuals, carries = saved[nc + ny : nc + ny + nr], saved[nc + ny + nr :]
    key = ("scan_backward", nc, nk, history)
    backward = body_program.cache.get(key)
    if backward is None:
        backward = body_program.cache[key] = _scan_backward_body(
            body_program, tangent, nc, nk, nr, history
        )
    results = scan_p.bind(
        *ct_final,
        *(_zeros_like(c) for c in consts),
        *consts,
        *carries,
        *xs,
        *residuals,
        *ct_ys,
        *ct_hist,
        body_program=backward,
        num_carry=nc + nk,
        num_consts=nk,
        length=length,
        reverse=not reverse,
        history=False,
    )
    # results: carry cts, const cts (accumulated), xs cts (stacked).
    return tuple(results[: nc + nk + len(xs)])


def _scan_backward_body(body_program, tangent, nc: int, nk: int, nr: int, history: bool):
    """One backward step: ``(ct_carry, ct_consts_sum, consts, carry_t, x_t,
    residuals_t, ct_y_t[, ct_history_t]) -> (ct_carry_prev, ct_consts_sum', ct_x_t)``."""
    ins = body_program.in_avals
    carry, consts, slices = ins[:nc], ins[nc : nc + nk], ins[nc + nk :]
    ys = body_program.out_avals[nc:]
    nx, ny = len(slices), len(ys)
    res = tangent.in_avals[nc + nk + nx : nc + nk + nx + nr]
    avals = (*carry, *consts, *consts, *carry, *slices, *res, *ys, *(carry if history else ()))

    def step(*args):
        ct_carry, acc, rest = args[:nc], args[nc : nc + nk], args[nc + nk :]
        k, rest = rest[:nk], rest[nk:]
        carry_t, rest = rest[:nc], rest[nc:]
        x_t, rest = rest[:nx], rest[nx:]
        r_t, rest = rest[:nr], rest[nr:]
        ct_y, ct_hist = rest[:ny], rest[ny:]
        d = tangent.inline(*carry_t, *k, *x_t, *r_t, *ct_carry, *ct_y)
        d_carry, d_consts, d_x = d[:nc], d[nc : nc + nk], d[nc + nk :]
        if ct_hist:
            d_carry = tuple(ew.add(a, b) for a, b in zip(d_carry, ct_hist))
        return (
            *d_carry,
            *(ew.add(a, b) for a, b in zip(acc, d_consts)),
            *d_x,
        )

    return body_program.trace(step, avals, "scan_backward")


scan_p = Primitive("scan", shape_rule=_scan_shape_rule, vjp=_scan_vjp, multiple_results=True)
