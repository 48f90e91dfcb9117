"""``Program.linearize``: a body's gradient split into a primal half that also returns
residuals and a tangent half that reads them, agreeing exactly with the program and
with its ``vjp``."""

import numpy as np
import pytest

from nerve import ops
from nerve.graph.programs import ProgramBuilder
from nerve.primitives.registry import Aval

BATCH, UNITS = 3, 4


def lstm_step(h, c, kernel, x):
    i, f, g, o = ops.split(x + h @ kernel, 4, axis=-1)
    c = ops.sigmoid(f) * c + ops.sigmoid(i) * ops.tanh(g)
    h = ops.sigmoid(o) * ops.tanh(c)
    return h, c


def lstm_program(dtype: str):
    state = Aval((BATCH, UNITS), dtype)
    builder = ProgramBuilder("lstm_step")
    builder.trace(
        lstm_step, (state, state, Aval((UNITS, 4 * UNITS), dtype), Aval((BATCH, 4 * UNITS), dtype))
    )
    return builder.programs()[0]


def random_arrays(avals, seed: int) -> list:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(a.shape).astype(a.dtype) for a in avals]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_halves_agree_exactly_with_the_program_and_its_vjp(dtype):
    program = lstm_program(dtype)
    primal, tangent = program.linearize(invariant=(2,))
    inputs = random_arrays(program.in_avals, 1)
    cts = random_arrays(program.out_avals, 2)
    outputs = program(*inputs)
    saved = primal(*inputs)
    n = len(outputs)
    for a, b in zip(outputs, saved[:n], strict=True):
        np.testing.assert_array_equal(a, b)
    grads = tangent(*inputs, *saved[n:], *cts)
    for a, b in zip(program.vjp()(*inputs, *cts), grads, strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-6 if dtype == "float32" else 1e-13)
    assert primal.primal_of is program and len(saved) - n == primal.num_residuals


def test_saves_the_gate_activations_only():
    """The three sigmoids and two tanhs; ``1 - y * y`` and the like are recomputed
    from them, and the transposed recurrent kernel (an invariant input) is not saved
    at every step."""
    primal, _ = lstm_program("float32").linearize(invariant=(2,))
    assert primal.num_residuals == 5
    producers = {out: node.prim.name for node in primal.graph.nodes for out in node.outputs}
    residuals = primal.graph.outputs[2:]
    assert sorted(producers[v] for v in residuals) == ["sigmoid"] * 3 + ["tanh"] * 2


def test_linearize_is_cached_per_invariant_set():
    program = lstm_program("float32")
    assert program.linearize(invariant=(2,)) is program.linearize(invariant=(2,))
    assert program.linearize() is not program.linearize(invariant=(2,))
