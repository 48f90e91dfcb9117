"""Control-flow kernels: they run the branch and body *programs* (closed functions
over arrays, see ``nerve.primitives.control_flow``) with a Python loop or ``if``."""

from __future__ import annotations

__all__ = [
    "kernels",
]


def kernels(xp) -> dict:
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
        carry = tuple(args[:num_carry])
        consts = args[num_carry : num_carry + num_consts]
        xs = args[num_carry + num_consts :]
        y_avals = body_program.out_avals[num_carry:]
        carry_avals = body_program.in_avals[:num_carry] if history else ()
        # Stacked results are written in place, step by step, indexed like xs.
        ys = [xp.empty((length, *a.shape), dtype=a.dtype) for a in y_avals]
        kept = [xp.empty((length, *a.shape), dtype=a.dtype) for a in carry_avals]
        for i in range(length - 1, -1, -1) if reverse else range(length):
            for h, c in zip(kept, carry):
                h[i] = c
            out = body_program(*carry, *consts, *(x[i] for x in xs))
            carry = tuple(out[:num_carry])
            for y, o in zip(ys, out[num_carry:]):
                y[i] = o
        return (*carry, *ys, *kept)

    return {"cond": cond, "while_loop": while_loop, "scan": scan}
