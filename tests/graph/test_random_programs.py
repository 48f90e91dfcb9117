"""Eager and compiled agree on random programs.

Hypothesis builds random chains of primitives (elementwise with broadcasting,
reductions, reshapes, transposes, matmuls, identities like ``x * 1`` that the
simplifier removes) and each program runs three ways: eagerly, compiled from
the unoptimized graph, and compiled after the default pass pipeline. Their
gradients (of a scalar loss, through ``GradientTape`` inside ``nerve.function``)
must agree with eager gradients too.
"""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nerve
from nerve import ops
from nerve.backend import get_backend
from nerve.graph.executor import CompiledGraph
from nerve.graph.passes import optimize
from nerve.graph.trace import Trace, tracing

CPU = get_backend("cpu")

UNARY = {
    "tanh": ops.tanh,
    "sin": ops.sin,
    "cos": ops.cos,
    "negative": ops.negative,
    "sigmoid": ops.sigmoid,
    "square": ops.square,
    "abs": ops.abs,
    "relu": ops.relu,
}
BINARY = {
    "add": ops.add,
    "subtract": ops.subtract,
    "multiply": ops.multiply,
    "maximum": ops.maximum,
    "minimum": ops.minimum,
}
# Python-number operands, identities included so the simplifier has work to do.
SCALAR = {
    "x+c": lambda x, c: x + c,
    "c+x": lambda x, c: c + x,
    "x-c": lambda x, c: x - c,
    "x*c": lambda x, c: x * c,
    "c*x": lambda x, c: c * x,
    "x/c": lambda x, c: x / c,
}
REDUCE = {"sum": ops.sum, "mean": ops.mean, "max": ops.max}
KINDS = ["unary", "binary", "scalar", "reduce", "reshape", "transpose", "matmul"]

TOLERANCE = {"rtol": 1e-9, "atol": 1e-12}


def apply(step: tuple, pool: list):
    """Run one program step on tensors ``pool`` (eager or traced alike)."""
    kind, args, params = step
    x = pool[args[0]]
    if kind == "unary":
        return UNARY[params](x)
    if kind == "binary":
        y = pool[args[1]]
        return BINARY[params[0]](x, ops.mean(y) if params[1] else y)
    if kind == "scalar":
        name, constant = params
        return SCALAR[name](x, constant)
    if kind == "reduce":
        name, axis, keepdims = params
        return REDUCE[name](x, axis=axis, keepdims=keepdims)
    if kind == "reshape":
        return ops.reshape(x, params)
    if kind == "transpose":
        return ops.transpose(x, params)
    if kind == "matmul":
        y = pool[args[1]] if args[1] is not None else x
        return ops.matmul(x, ops.transpose(y, params) if params else y)
    raise AssertionError(kind)


def replay(steps: list, inputs: list, outputs: tuple) -> list:
    pool = list(inputs)
    for step in steps:
        pool.append(apply(step, pool))
    return [pool[i] for i in outputs]


def _broadcastable(a: tuple, b: tuple) -> bool:
    try:
        np.broadcast_shapes(a, b)
    except ValueError:
        return False
    return True


def draw_step(data, pool: list) -> tuple:
    """Draw one step whose operands fit the shapes in ``pool`` (eager tensors)."""
    index = data.draw(st.sampled_from([len(pool) - 1, *range(len(pool))]))  # favour chains
    shape = tuple(pool[index].shape)
    ndim = len(shape)
    kind = data.draw(st.sampled_from(KINDS))
    if kind == "unary":
        return ("unary", (index,), data.draw(st.sampled_from(sorted(UNARY))))
    if kind == "binary":
        other = data.draw(st.integers(0, len(pool) - 1))
        # Shapes that do not broadcast together use the other operand's mean instead.
        reduce_other = not _broadcastable(shape, tuple(pool[other].shape))
        name = data.draw(st.sampled_from(sorted(BINARY)))
        return ("binary", (index, other), (name, reduce_other))
    if kind == "scalar":
        name = data.draw(st.sampled_from(sorted(SCALAR)))
        constant = data.draw(st.sampled_from([0.0, 1.0, 2.0, -0.5]))
        if name == "x/c" and constant == 0.0:
            constant = 1.0
        return ("scalar", (index,), (name, constant))
    if kind == "reduce":
        name = data.draw(st.sampled_from(sorted(REDUCE)))
        keepdims = data.draw(st.booleans())
        if ndim == 0 or data.draw(st.booleans()):
            axis = None
        else:
            axes = data.draw(st.lists(st.integers(-ndim, ndim - 1), min_size=1, max_size=ndim))
            axis = tuple(sorted({a % ndim for a in axes}))
            axis = axis[0] - ndim if len(axis) == 1 else axis  # a negative int axis
        if name == "max" and 0 in shape:
            name = "sum"
        return ("reduce", (index,), (name, axis, keepdims))
    if kind == "reshape":
        options = [(-1,), tuple(reversed(shape)), (*shape, 1), (1, *shape)]
        new_shape = data.draw(st.sampled_from(options))
        return ("reshape", (index,), new_shape)
    if kind == "transpose":
        return ("transpose", (index,), tuple(data.draw(st.permutations(range(ndim)))))
    # matmul: with a pool value of matching inner size, else with its own transpose.
    if ndim == 0:
        return ("unary", (index,), "tanh")
    partners = [
        i for i, t in enumerate(pool) if t.ndim == 2 and t.shape[0] == shape[-1] and t.shape[1] < 5
    ]
    if partners and data.draw(st.booleans()):
        return ("matmul", (index, data.draw(st.sampled_from(partners))), None)
    swap = (*range(ndim - 2), ndim - 1, ndim - 2) if ndim >= 2 else None
    return ("matmul", (index, None), swap)


shapes = st.lists(st.integers(1, 4), min_size=0, max_size=3).map(tuple)


@st.composite
def programs(draw):
    """``(input arrays, steps, output indices)``; the program runs eagerly while drawn."""
    data = draw(st.data())
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s) for s in draw(st.lists(shapes, min_size=1, max_size=3))]
    pool = [ops.convert_to_tensor(a) for a in arrays]
    steps = []
    for _ in range(draw(st.integers(3, 8))):
        step = draw_step(data, pool)
        pool.append(apply(step, pool))
        steps.append(step)
    outputs = (len(pool) - 1, draw(st.integers(0, len(pool) - 1)))
    return arrays, steps, outputs


def compiled_both_ways(steps: list, arrays: list, outputs: tuple) -> tuple[list, list]:
    trace = Trace("random")
    with tracing(trace):
        inputs = [trace.new_input(a.shape, "float64") for a in arrays]
        trace.graph.outputs = [trace.value_of(t) for t in replay(steps, inputs, outputs)]
    backend = get_backend()
    plain = CompiledGraph(optimize(trace.graph, CPU, passes=()), backend).run(arrays)
    optimized = CompiledGraph(optimize(trace.graph, backend), backend).run(arrays)
    return list(plain), list(optimized)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs())
def test_eager_and_compiled_agree(program):
    arrays, steps, outputs = program
    eager = replay(steps, [ops.convert_to_tensor(a) for a in arrays], outputs)
    plain, optimized = compiled_both_ways(steps, arrays, outputs)
    for e, p, o in zip(eager, plain, optimized, strict=True):
        assert e.dtype == "float64" and tuple(p.shape) == tuple(e.shape) == tuple(o.shape)
        np.testing.assert_allclose(np.asarray(p), e.numpy(), **TOLERANCE)
        np.testing.assert_allclose(np.asarray(o), e.numpy(), **TOLERANCE)


def loss_and_gradients(steps: list, outputs: tuple, *xs):
    with nerve.GradientTape() as tape:
        for x in xs:
            tape.watch(x)
        first, second = replay(steps, list(xs), outputs)
        loss = ops.sum(first) + 0.5 * ops.sum(ops.tanh(second))
    return loss, tape.gradient(loss, list(xs))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs())
def test_eager_and_compiled_gradients_agree(program):
    arrays, steps, outputs = program
    tensors = [ops.convert_to_tensor(a) for a in arrays]
    eager_loss, eager_grads = loss_and_gradients(steps, outputs, *tensors)
    compiled = nerve.function(lambda *xs: loss_and_gradients(steps, outputs, *xs))
    loss, grads = compiled(*tensors)
    np.testing.assert_allclose(loss.numpy(), eager_loss.numpy(), **TOLERANCE)
    for g, e in zip(grads, eager_grads, strict=True):
        assert (g is None) == (e is None)
        if e is not None:
            assert tuple(g.shape) == tuple(e.shape)
            np.testing.assert_allclose(g.numpy(), e.numpy(), **TOLERANCE)
