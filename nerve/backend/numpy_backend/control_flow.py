"""Control-flow kernels: they run the branch and body *programs* (closed functions
over arrays, see ``nerve.primitives.control_flow``) with a Python loop or ``if``."""

from __future__ import annotations

import contextlib
from typing import Any

__all__ = [
    "kernels",
]


def _no_errstate(**settings):
    return contextlib.nullcontext()


def kernels(xp) -> dict:
    errstate = getattr(xp, "errstate", None) or _no_errstate
    native_scan: Any = None
    if xp.__name__ == "numpy":
        from nerve.backend.numpy_backend import native

        if native.available():
            from nerve.backend.numpy_backend.native import scan_loop as native_scan

    def cond(pred, *operands, true_program, false_program):
        return (true_program if pred else false_program)(*operands)

    def while_loop(*args, cond_program, body_program, num_carry, maximum_iterations):
        carry, consts = tuple(args[:num_carry]), args[num_carry:]
        steps = 0
        while maximum_iterations is None or steps < maximum_iterations:
            if not cond_program(*carry, *consts)[0]:
                break
            carry = tuple(body_program(*carry, *consts))
            steps += 1
        return carry

    def scan(*args, body_program, num_carry, num_consts, length, reverse, history):
        nc, nk = num_carry, num_consts
        xs = args[nc + nk :]
        y_avals = body_program.out_avals[nc:]
        carry_avals = body_program.in_avals[:nc] if history else ()
        # Stacked results are written in place, step by step, indexed like xs.
        ys = [xp.empty((length, *a.shape), dtype=a.dtype) for a in y_avals]
        kept = [xp.empty((length, *a.shape), dtype=a.dtype) for a in carry_avals]
        # The body's inputs, one list updated at every step: the carry, the constants,
        # then this step's slices.
        inputs = [*args[: nc + nk], *(None for _ in xs)]
        steps = range(length - 1, -1, -1) if reverse else range(length)
        if not length:
            return (*inputs[:nc], *ys, *kept)
        inputs[nc + nk :] = [x[steps[0]] for x in xs]
        # The whole loop in C where the body's calls allow (``native.scan_loop``).
        schedule = getattr(body_program, "schedule", None) if native_scan else None
        if schedule is not None:
            body = schedule(*inputs)
            if body is not None:
                done = native_scan.run(body, args, nc, nk, length, reverse, history)
                if done is not None:
                    return done
        stepper = getattr(body_program, "stepper", None)
        # The compiled body for this backend, fetched once; its error-state scope is
        # entered once for the whole loop (a scope per step costs microseconds).
        run = stepper(*inputs) if stepper is not None else lambda a, d: body_program(*a)
        # With history, a step writes its new carry straight into the next step's row
        # of the history (its compiled loops take that row as their destination), and
        # the next step reads it there: no copy per step. The last step's carry, which
        # the loop returns, goes to its own array. (A row of a 1-d stack is a scalar.)
        nxt = -1 if reverse else 1
        no_dests = [None] * nc
        written = no_dests  # the rows the previous step was asked to write its carry into
        with errstate(all="ignore"):
            for n, i in enumerate(steps):
                for j, x in enumerate(xs, nc + nk):
                    inputs[j] = x[i]
                for h, c, w in zip(kept, inputs, written):
                    if c is not w:
                        h[i] = c
                if kept and n + 1 < length:
                    written = [h[i + nxt] if h.ndim > 1 else None for h in kept]
                else:
                    written = no_dests
                # The body's compiled loops write ys straight into their stacked rows;
                # the others come back as their own arrays and are copied there.
                rows = [y[i] if y.ndim > 1 else None for y in ys]
                out = run(inputs, [*written, *rows])
                inputs[:nc] = out[:nc]
                for y, row, o in zip(ys, rows, out[nc:]):
                    if o is not row:
                        y[i] = o
        return (*inputs[:nc], *ys, *kept)

    return {"cond": cond, "while_loop": while_loop, "scan": scan}
