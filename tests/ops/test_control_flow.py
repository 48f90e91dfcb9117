"""Control flow: cond, while_loop, fori_loop, scan — eager and traced, with gradients.

The harness rows run each construct eagerly (Python control flow) and through
``nerve.function`` (sub-graph primitives), and check gradients against finite
differences and PyTorch; the focused tests below cover what rows cannot.
"""

import dataclasses

import numpy as np
import pytest

import nerve
from nerve import ops
from nerve.core.errors import ShapeError, TracingError
from nerve.ops.control_flow import staged
from nerve.testing.op_harness import Input, OpCase, T, op_tests

# -- references ---------------------------------------------------------------------------


def rnn(xs, h0, w, u):
    """A small tanh RNN: the carry is the state, ys are the states entering each step."""
    return ops.scan(lambda h, x: (ops.tanh(h @ w + x @ u), h), h0, xs)


def np_rnn(xs, h0, w, u, reverse=False):
    h, ys = h0, []
    for x in xs[::-1] if reverse else xs:
        ys.append(h)
        h = np.tanh(h @ w + x @ u)
    ys = ys[::-1] if reverse else ys
    return h, np.stack(ys) if ys else np.zeros((0, *h0.shape))


def torch_rnn(xs, h0, w, u):
    h, ys = h0, []
    for x in xs:
        ys.append(h)
        h = T.tanh(h @ w + x @ u)
    return h, T.stack(ys) if ys else T.zeros((0, *h0.shape), dtype=h0.dtype)


RNN = [
    (Input((5, 2, 3)), Input((2, 4)), Input((4, 4), low=-0.5, high=0.5), Input((3, 4))),
    (Input((1, 1, 3)), Input((1, 4)), Input((4, 4)), Input((3, 4))),
    (Input((0, 2, 3)), Input((2, 4)), Input((4, 4)), Input((3, 4))),  # no steps
]


def cumulative(xs, c0):
    """Carry and ys as a dict and a tuple, a None y leaf, reverse order."""

    def step(carry, x):
        total = carry["total"] + x[0] * x[1]
        return {"total": total, "count": carry["count"] + 1.0}, (total * 2.0, None)

    carry, (ys, nothing) = ops.scan(
        step, {"total": c0, "count": ops.zeros((), c0.dtype)}, (xs, ops.sin(xs)), reverse=True
    )
    assert nothing is None
    return carry["total"], carry["count"], ys


def np_cumulative(xs, c0):
    total, ys = c0, [None] * len(xs)
    for i in range(len(xs) - 1, -1, -1):
        total = total + xs[i] * np.sin(xs[i])
        ys[i] = total * 2.0
    return total, np.array(float(len(xs))), np.stack(ys)


def pick(threshold):
    """cond on a data-dependent predicate; threshold decides which branch runs."""
    return lambda x, y: ops.cond(ops.sum(x) > threshold, lambda: x * y, lambda: ops.sin(x) + y * y)


def np_pick(threshold):
    return lambda x, y: x * y if np.sum(x) > threshold else np.sin(x) + y * y


def t_pick(threshold):
    return lambda x, y: x * y if float(x.detach().sum()) > threshold else T.sin(x) + y * y


BINARY = [
    (Input((3, 4)), Input((3, 4))),
    (Input((2, 1, 4)), Input((3, 1))),  # broadcasting inside the branches
    (Input((0, 3)), Input((1, 3))),
    (Input(()), Input(())),
]


def power_loop(x):
    """fori_loop with a static trip count: x * (1 + 2 + 3) applied as products."""
    return ops.fori_loop(1, 4, lambda i, v: v * x + ops.cast(i, x.dtype), x)


def np_power_loop(x):
    v = x
    for i in range(1, 4):
        v = v * x + i
    return v


def halve_until_small(x):
    """while_loop with a data-dependent trip count (forward only: not differentiable)."""
    return ops.while_loop(
        lambda v, n: ops.max(ops.abs(v)) > 0.1, lambda v, n: (v * 0.5, n + 1), (x, 0)
    )


def np_halve_until_small(x):
    n = 0
    while x.size and np.max(np.abs(x)) > 0.1:
        x, n = x * 0.5, n + 1
    return x, np.array(n, dtype=np.int32)


def t_halve_until_small(x):
    n = 0
    while x.numel() and float(x.detach().abs().max()) > 0.1:
        x, n = x * 0.5, n + 1
    return x, np.array(n, dtype=np.int32)


CASES = [
    OpCase("cond_true", pick(-1e9), BINARY, numpy=np_pick(-1e9), torch=t_pick(-1e9), grad2=True),
    OpCase("cond_false", pick(1e9), BINARY, numpy=np_pick(1e9), torch=t_pick(1e9), grad2=True),
    OpCase("scan_rnn", rnn, RNN, numpy=np_rnn, torch=torch_rnn, grad2=True),
    OpCase(
        "scan_nested_reverse",
        cumulative,
        [(Input((4, 3)), Input((3,))), (Input((1, 2)), Input((2,)))],
        numpy=np_cumulative,
        torch=lambda xs, c0: np_cumulative_torch(xs, c0),
        grad2=True,
        noncontiguous=False,
    ),
    OpCase(
        "scan_no_carry",  # one output only: the vjp gets bare tensors, not tuples
        lambda xs: ops.scan(lambda c, x: (c, ops.sin(x) * x), (), xs)[1],
        [(Input((4, 3)),), (Input((1,)),)],
        numpy=lambda xs: np.sin(xs) * xs,
        torch=lambda xs: T.sin(xs) * xs,
        grad2=True,
    ),
    OpCase(
        "fori_loop",
        power_loop,
        [(Input((3,)),), (Input(()),), (Input((0, 2)),)],
        numpy=np_power_loop,
        torch=np_power_loop,
        grad2=True,
    ),
    OpCase(
        "while_loop",
        halve_until_small,
        [(Input((3,)),), (Input((2, 2), low=-20, high=20),), (Input(()),)],
        numpy=np_halve_until_small,
        torch=t_halve_until_small,
        grad=False,  # a traced while_loop has no gradient (see test below)
    ),
]


def np_cumulative_torch(xs, c0):
    total, ys = c0, [None] * len(xs)
    for i in range(len(xs) - 1, -1, -1):
        total = total + xs[i] * T.sin(xs[i])
        ys[i] = total * 2.0
    return total, T.tensor(float(len(xs)), dtype=xs.dtype), T.stack(ys)


def staged_row(case):
    """The same row with control flow run as its primitives even eagerly: the harness's
    finite-difference, PyTorch and second-order checks then exercise their vjp rules."""

    def fn(*args):
        with staged():
            return case.fn(*args)

    return dataclasses.replace(case, name=f"{case.name}_staged", fn=fn)


def pick_sum_max(result):
    return result["sum"], result["max"]


# Built on the above (Keras's core functions): map, switch, vectorized_map,
# associative_scan.
CASES += [
    OpCase(
        "map",
        lambda x: ops.map(lambda row: ops.sum(row * ops.sin(row)), x),
        [(Input((4, 3)),), (Input((1, 2)),)],
        numpy=lambda x: (x * np.sin(x)).sum(1),
        torch=lambda x: (x * T.sin(x)).sum(1),
        grad2=True,
    ),
    *[
        OpCase(
            f"switch_{index}",
            lambda x, i=index: ops.switch(i, [lambda v: v * 2.0, lambda v: ops.sin(v)], x),
            [(Input((3,)),)],
            numpy=lambda x, i=index: np.sin(x) if i >= 1 else x * 2.0,
            torch=lambda x, i=index: T.sin(x) if i >= 1 else x * 2.0,
        )
        for index in (0, 1, 7)  # 7 clamps to the last branch
    ],
    OpCase(
        "vectorized_map",
        lambda x, y: ops.vectorized_map(lambda ab: ops.outer(ab[0], ab[1]), (x, y)),
        [(Input((3, 2)), Input((3, 4)))],
        numpy=lambda x, y: np.einsum("bi,bj->bij", x, y),
        torch=lambda x, y: T.einsum("bi,bj->bij", x, y),
    ),
    *[
        OpCase(
            f"associative_scan_add_{n}{'_reverse' if reverse else ''}",
            lambda x, r=reverse: ops.associative_scan(lambda a, b: a + b, x, reverse=r, axis=1),
            [(Input((2, n)),)],
            numpy=lambda x, r=reverse: (
                np.flip(np.cumsum(np.flip(x, 1), 1), 1) if r else np.cumsum(x, 1)
            ),
            torch=lambda x, r=reverse: (
                T.flip(T.cumsum(T.flip(x, [1]), 1), [1]) if r else T.cumsum(x, 1)
            ),
        )
        for n, reverse in ((1, False), (5, False), (8, True))
    ],
    OpCase(
        "associative_scan_matmul",
        lambda m: ops.associative_scan(ops.matmul, m),
        [(Input((7, 2, 2)),)],
        numpy=lambda m: np.stack(
            [np.linalg.multi_dot([*m[: i + 1], np.eye(2)]) for i in range(len(m))]
        ),
        grad2=True,
    ),
    OpCase(
        "associative_scan_pytree",
        lambda a, b: pick_sum_max(
            ops.associative_scan(
                lambda x, y: {"sum": x["sum"] + y["sum"], "max": ops.maximum(x["max"], y["max"])},
                {"sum": a, "max": b},
            )
        ),
        [(Input((6,)), Input((6,)))],
        numpy=lambda a, b: (np.cumsum(a), np.maximum.accumulate(b)),
    ),
]

CASES += [staged_row(case) for case in CASES]
# Each op here takes Python functions (branches, loop bodies), which a model config
# cannot hold: no row is checked on symbolic tensors.
CASES = [dataclasses.replace(case, symbolic=False) for case in CASES]

globals().update(op_tests(CASES))


# -- tracing behaviour ----------------------------------------------------------------------


def test_traced_cond_picks_branch_at_run_time_without_retracing():
    f = nerve.function(lambda x: ops.cond(ops.sum(x) > 0, lambda: x * 2.0, lambda: x - 10.0))
    np.testing.assert_allclose(f(ops.ones((3,))).numpy(), [2.0, 2.0, 2.0])
    np.testing.assert_allclose(f(-ops.ones((3,))).numpy(), [-11.0, -11.0, -11.0])
    assert f.trace_count == 1
    counts = f.graph_for(ops.ones((3,))).primitive_counts()
    assert counts["cond"] == 1 and "multiply" not in counts  # branches live in sub-graphs


def test_traced_scan_is_one_node_not_unrolled():
    f = nerve.function(rnn)
    xs, h0, w, u = (ops.ones(s) * 0.1 for s in ((50, 2, 3), (2, 4), (4, 4), (3, 4)))
    graph = f.graph_for(xs, h0, w, u)
    assert graph.primitive_counts().get("scan") == 1
    assert len(graph) < 5
    carry, ys = f(xs, h0, w, u)
    expected = np_rnn(*(np.asarray(t) for t in (xs, h0, w, u)))
    np.testing.assert_allclose(carry.numpy(), expected[0], rtol=1e-5)
    np.testing.assert_allclose(ys.numpy(), expected[1], rtol=1e-5)


def test_traced_while_loop_runs_data_dependent_trip_count():
    f = nerve.function(
        lambda n: ops.while_loop(lambda i, s: i < n, lambda i, s: (i + 1, s + i), (0, 0))
    )
    for n, total in ((0, 0), (5, 10), (10, 45)):
        i, s = f(ops.convert_to_tensor(n))
        assert (int(i), int(s)) == (n, total)
    assert f.trace_count == 1


def test_while_loop_maximum_iterations_eager_and_traced():
    def fn(x):
        return ops.while_loop(lambda v: v < 100.0, lambda v: v + 1.0, x, maximum_iterations=3)

    for g in (fn, nerve.function(fn)):
        assert float(g(ops.convert_to_tensor(0.0))) == 3.0
        assert float(g(ops.convert_to_tensor(99.5))) == 100.5


def test_fori_loop_with_tensor_bounds_traced():
    f = nerve.function(lambda x, n: ops.fori_loop(0, n, lambda i, v: v * 2.0, x))
    assert float(f(ops.convert_to_tensor(1.0), ops.convert_to_tensor(3))) == 8.0
    assert float(f(ops.convert_to_tensor(1.0), ops.convert_to_tensor(0))) == 1.0
    assert f.trace_count == 1


def test_scan_with_length_and_no_xs():
    def fn(x):
        return ops.scan(lambda c, _: (c * x, c), ops.ones_like(x), length=4)

    for g in (fn, nerve.function(fn)):
        carry, ys = g(ops.convert_to_tensor([2.0, 3.0]))
        np.testing.assert_allclose(carry.numpy(), [16.0, 81.0])
        np.testing.assert_allclose(ys.numpy(), [[1, 1], [2, 3], [4, 9], [8, 27]])


def test_cond_inside_scan_traced_with_gradient():
    def fn(xs, w):
        with nerve.GradientTape() as tape:
            tape.watch(w)
            carry, _ = ops.scan(
                lambda c, x: (ops.cond(x > 0, lambda: c * w, lambda: c + w), x), w, xs
            )
        return carry, tape.gradient(carry, w)

    xs = ops.convert_to_tensor([1.0, -1.0, 2.0])
    w = ops.convert_to_tensor(1.5)
    eager, traced = fn(xs, w), nerve.function(fn)(xs, w)
    # ((w * w) + w) * w = w^3 + w^2: 5.625, gradient 3 w^2 + 2 w = 9.75.
    for value, grad in (eager, traced):
        assert float(value) == pytest.approx(5.625)
        assert float(grad) == pytest.approx(9.75)


def test_variables_used_inside_bodies_get_gradients():
    w = nerve.Variable(np.full((4, 4), 0.2), name="w")
    u = nerve.Variable(np.full((3, 4), -0.1), name="u")
    flag = nerve.Variable(np.array(1.0), name="flag", trainable=False)

    def step(xs, h0):
        with nerve.GradientTape() as tape:
            carry, ys = rnn(xs, h0, w, u)
            loss = ops.cond(flag > 0, lambda: ops.sum(carry * carry), lambda: ops.sum(ys))
        return loss, tape.gradient(loss, [w, u])

    xs = ops.convert_to_tensor(np.linspace(-1, 1, 30).reshape(5, 2, 3))
    h0 = ops.zeros((2, 4), "float64")
    eager_loss, eager_grads = step(xs, h0)
    traced_loss, traced_grads = nerve.function(step)(xs, h0)
    assert float(traced_loss) == pytest.approx(float(eager_loss))
    for e, t in zip(eager_grads, traced_grads):
        np.testing.assert_allclose(t.numpy(), e.numpy(), rtol=1e-10)


def test_rnn_gradients_match_unrolled_python_loop():
    rng = np.random.default_rng(0)
    xs, h0, w, u = (ops.convert_to_tensor(rng.standard_normal(s) * 0.5)
                    for s in ((6, 2, 3), (2, 4), (4, 4), (3, 4)))  # fmt: skip

    def unrolled(xs, h0, w, u):
        h, ys = h0, []
        for t in range(xs.shape[0]):
            ys.append(h)
            h = ops.tanh(h @ w + xs[t] @ u)
        return h, ops.stack(ys)

    def loss_and_grads(model):
        def fn(xs, h0, w, u):
            with nerve.GradientTape() as tape:
                tape.watch([xs, h0, w, u])
                carry, ys = model(xs, h0, w, u)
                loss = ops.sum(carry) + ops.sum(ops.sin(ys))
            return loss, tape.gradient(loss, [xs, h0, w, u])

        return fn

    reference = loss_and_grads(unrolled)(xs, h0, w, u)
    traced = nerve.function(loss_and_grads(rnn))(xs, h0, w, u)
    assert float(traced[0]) == pytest.approx(float(reference[0]))
    for r, t in zip(reference[1], traced[1]):
        np.testing.assert_allclose(t.numpy(), r.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("model", ["cond", "scan"])
def test_traced_second_order_matches_eager(model):
    if model == "cond":

        def f(x):
            return ops.cond(ops.sum(x) > 0, lambda: ops.sum(ops.sin(x) * x), lambda: ops.sum(x))
    else:

        def f(x):
            return ops.sum(ops.scan(lambda c, xi: (ops.tanh(c * xi), c), x[0], x)[0])

    def second(x):
        with nerve.GradientTape() as outer:
            outer.watch(x)
            with nerve.GradientTape() as inner:
                inner.watch(x)
                y = f(x)
            g = ops.sum(inner.gradient(y, x) * ops.arange(1.0, 4.0, dtype="float64"))
        return outer.gradient(g, x)

    x = ops.convert_to_tensor(np.array([0.3, 0.7, 1.1]))
    np.testing.assert_allclose(nerve.function(second)(x).numpy(), second(x).numpy(), rtol=1e-10)


# -- errors ------------------------------------------------------------------------------------


def test_cond_branches_with_different_shapes_raise():
    f = nerve.function(lambda x: ops.cond(ops.sum(x) > 0, lambda: x, lambda: ops.ones((4,))))
    with pytest.raises(ShapeError, match=r"cond: true_fn returned \(float32\[3\]\).*float32\[4\]"):
        f(ops.ones((3,)))


def test_cond_branches_with_different_structures_raise():
    f = nerve.function(lambda x: ops.cond(ops.sum(x) > 0, lambda: (x, x), lambda: x))
    with pytest.raises(ValueError, match="cond: true_fn returned the structure"):
        f(ops.ones((3,)))


def test_cond_needs_a_scalar_predicate():
    with pytest.raises(ShapeError, match=r"cond: the predicate must be a scalar.*\(2,\)"):
        ops.cond(ops.ones((2,)) > 0, lambda: 1.0, lambda: 2.0)


@pytest.mark.parametrize("compiled", [False, True])
def test_scan_carry_must_keep_shape(compiled):
    def fn(x):
        return ops.scan(lambda c, xi: (ops.concatenate([c, c]), xi), x, x)

    g = nerve.function(fn) if compiled else fn
    with pytest.raises(ShapeError, match=r"scan: the loop carry .*\(2,\).*\(4,\)"):
        g(ops.ones((2,)))


@pytest.mark.parametrize("compiled", [False, True])
def test_while_loop_carry_must_keep_dtype(compiled):
    def fn(x):
        return ops.while_loop(lambda v: ops.sum(v) < 10, lambda v: ops.cast(v, "int32") + 1, x)

    g = nerve.function(fn) if compiled else fn
    with pytest.raises(ShapeError, match=r"while_loop: the loop carry .*float32.*int32"):
        g(ops.ones((2,)))


def test_gradient_through_traced_while_loop_raises():
    @nerve.function
    def fn(x):
        with nerve.GradientTape() as tape:
            tape.watch(x)
            y = ops.while_loop(lambda v: ops.sum(v) < 10.0, lambda v: v * 2.0, x)
        return tape.gradient(y, x)

    with pytest.raises(TracingError, match=r"while_loop: cannot differentiate.*ops\.scan"):
        fn(ops.ones((2,)))


def test_assigning_a_variable_inside_a_traced_body_raises():
    v = nerve.Variable(0.0, name="counter")

    @nerve.function
    def fn(x):
        return ops.cond(x > 0, lambda: v.assign_add(1.0) * 1.0, lambda: x)

    with pytest.raises(TracingError, match="'counter' is assigned inside a traced cond"):
        fn(ops.convert_to_tensor(1.0))


def test_scan_length_errors():
    with pytest.raises(ValueError, match="scan: got no `xs` to scan over and `length` not"):
        ops.scan(lambda c, x: (c, x), 0.0)
    with pytest.raises(ShapeError, match=r"scan: length=3 but xs have leading length 2"):
        ops.scan(lambda c, x: (c, x), 0.0, ops.ones((2,)), length=3)
    with pytest.raises(ShapeError, match=r"different leading lengths: shapes \[\(2,\), \(3,\)\]"):
        ops.scan(lambda c, x: (c, x), 0.0, (ops.ones((2,)), ops.ones((3,))))


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        ({"f": 123}, TypeError, r"scan: `f` should be a callable, got 123"),
        ({"unroll": -1}, ValueError, r"`unroll` must be an positive integer or boolean, got -1"),
        ({"unroll": 1.5}, ValueError, r"`unroll` must be an positive integer or boolean"),
    ],
)
def test_scan_checks_its_arguments_as_keras(kwargs, error, match):
    arguments = {"f": lambda c, x: (c + x, c), "init": 0.0, "xs": ops.ones((3,)), **kwargs}
    with pytest.raises(error, match=match):
        ops.scan(**arguments)


def test_integer_carries_and_outputs_alongside_gradients():
    def step(xs, w):
        with nerve.GradientTape() as tape:
            tape.watch(w)
            (c, n), steps = ops.scan(
                lambda carry, x: ((carry[0] * w + x, carry[1] + 1), carry[1]), (w, 0), xs
            )
            out, count = ops.cond(ops.sum(c) > 0, lambda: (c * 2.0, n), lambda: (c, n * 2))
            loss = ops.sum(out)
        return loss, count, steps, tape.gradient(loss, w)

    xs, w = ops.ones((3, 2)), ops.convert_to_tensor([0.5, -3.0])
    eager, traced = step(xs, w), nerve.function(step)(xs, w)
    # c = w^4 + w^2 + w + 1 per element; the cond takes its true branch (sum > 0).
    expected = [2 * (v**4 + v**2 + v + 1) for v in (0.5, -3.0)]
    expected_grad = [2 * (4 * v**3 + 2 * v + 1) for v in (0.5, -3.0)]
    for loss, count, steps, grad in (eager, traced):
        assert float(loss) == pytest.approx(sum(expected))
        assert (int(count), steps.dtype, steps.tolist()) == (3, "int32", [0, 1, 2])
        np.testing.assert_allclose(grad.numpy(), expected_grad, rtol=1e-6)


def test_traced_switch_picks_the_branch_at_run_time():
    f = nerve.function(lambda i, x: ops.switch(i, [lambda v: v + 1, lambda v: v * 10], x))
    assert [float(f(ops.convert_to_tensor(i), 2.0)) for i in (0, 1, -4, 9)] == [3, 20, 3, 20]


def test_switch_needs_branches():
    with pytest.raises(ValueError, match="at least one"):
        ops.switch(0, [], 1.0)


def test_vectorized_map_needs_one_leading_length():
    with pytest.raises(ShapeError, match="same leading length"):
        ops.vectorized_map(lambda ab: ab[0], (ops.ones((2,)), ops.ones((3,))))


def test_associative_scan_needs_one_length_and_a_function():
    with pytest.raises(ShapeError, match=r"same first dimension .*\[\(2,\), \(3,\)\]"):
        ops.associative_scan(lambda a, b: a, (ops.ones((2,)), ops.ones((3,))))
    with pytest.raises(TypeError, match="should be a callable"):
        ops.associative_scan(None, ops.ones((2,)))
