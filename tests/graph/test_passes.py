"""Graph passes: dce, cse, fold_constants, simplify and the verifier.

Each pass is shown on a small traced program: the graph before and after,
that the input graph is left unchanged, that state (variable reads and writes)
keeps its order, and that the compiled results are the same.
"""

import numpy as np
import pytest

import nerve
from nerve import ops
from nerve.backend import get_backend
from nerve.graph.executor import CompiledGraph
from nerve.graph.ir import Graph, Node, Value
from nerve.graph.passes import (
    DEFAULT_PIPELINE,
    cse,
    dce,
    fold_constants,
    optimize,
    simplify,
    verify,
)
from nerve.graph.passes.verify import GraphError
from nerve.graph.trace import Trace, tracing
from nerve.primitives.elementwise import (
    add_p,
    cast_p,
    divide_p,
    exp_p,
    multiply_p,
    neg_p,
    scalar_like_p,
    subtract_p,
)
from nerve.primitives.indexing import getitem_p
from nerve.primitives.registry import Aval
from nerve.primitives.shape import broadcast_to_p, reshape_p, transpose_p

CPU = get_backend("cpu")

PASSES = [dce, cse, fold_constants, simplify]


def trace(fn, *specs) -> Graph:
    """Trace ``fn`` on abstract inputs given as ``(shape, dtype)`` pairs."""
    t = Trace("f")
    with tracing(t):
        args = [t.new_input(shape, dtype) for shape, dtype in specs]
        out = fn(*args)
        for o in out if isinstance(out, tuple) else (out,):
            t.graph.outputs.append(t.value_of(o))
    return t.graph


def run(graph: Graph, *arrays) -> list:
    return [np.asarray(a) for a in CompiledGraph(graph, get_backend()).run(list(arrays))]


def assert_same_results(before: Graph, after: Graph, *arrays) -> None:
    for a, b in zip(run(before, *arrays), run(after, *arrays), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=0)


def snapshot(graph: Graph):
    """Everything a pass could mutate by mistake."""
    return (
        graph.to_text(),
        [id(n) for n in graph.nodes],
        [(list(n.inputs), dict(n.params), list(n.outputs)) for n in graph.nodes],
        list(graph.outputs),
        dict(graph.constants),
    )


def body(graph: Graph) -> list[str]:
    """The node lines of the text form (without the header, constants and braces)."""
    return [line.strip() for line in graph.to_text().splitlines()[1:-1] if "= const" not in line]


def effects(graph: Graph) -> list:
    return [(n.prim.name, n.params["slot"]) for n in graph.nodes if n.has_effect]


X = ((2, 3), "float64")
x_data = np.arange(6.0).reshape(2, 3) / 7 - 0.3


# -- every pass: pure, keeps state in order, keeps results ----------------------------------


def _stateful_program():
    v = nerve.Variable(np.ones((2, 3)), dtype="float64", name="v")
    w = nerve.Variable(np.zeros(()), dtype="float64", name="w")

    def f(x):
        dead = ops.exp(x)  # noqa: F841 -- unused: dce's business
        a = ops.tanh(x) * 1.0 + ops.tanh(x)
        v.assign(a + v)
        w.assign_add(ops.sum(v * 2.0))
        v.assign(ops.negative(ops.negative(v)) - 0.0)
        return ops.sum(a) + ops.sum(v) + w

    return trace(f, X), (v, w)


@pytest.mark.parametrize("optimization", PASSES, ids=lambda p: p.__name__)
def test_pass_does_not_mutate_its_input(optimization):
    graph, _ = _stateful_program()
    before = snapshot(graph)
    optimization(graph, CPU)
    assert snapshot(graph) == before


@pytest.mark.parametrize("optimization", [*PASSES, optimize], ids=lambda p: p.__name__)
def test_pass_keeps_effects_in_order_and_results(optimization):
    graph, (v, w) = _stateful_program()
    after = optimization(graph, CPU)
    verify(after)
    assert effects(after) == effects(graph)
    initial = v._value.copy(), w._value.copy()
    expected = run(graph, x_data)
    eager_state = v._value.copy(), w._value.copy()
    v._value, w._value = initial
    got = run(after, x_data)
    np.testing.assert_allclose(got[0], expected[0], rtol=1e-12)
    np.testing.assert_allclose(v._value, eager_state[0], rtol=1e-12)
    np.testing.assert_allclose(w._value, eager_state[1], rtol=1e-12)


# -- dce ---------------------------------------------------------------------------------


def test_dce_drops_unused_nodes_and_constants():
    def f(x):
        ops.exp(x) * 3.0  # dead, and so is its constant
        return ops.tanh(x)

    graph = trace(f, X)
    assert graph.primitive_counts() == {"exp": 1, "multiply": 1, "tanh": 1}
    after = dce(graph, CPU)
    assert body(after) == ["b:f64[2,3] = tanh a", "return b"]
    assert not after.constants
    assert_same_results(graph, after, x_data)


def test_dce_keeps_unused_variable_reads():
    v = nerve.Variable(np.ones(()), dtype="float64")
    graph = trace(lambda x: (v.value, x)[1], X)
    assert dce(graph, CPU).primitive_counts() == {"read_variable": 1}


# -- cse ---------------------------------------------------------------------------------


def test_cse_merges_repeated_work():
    def f(x):
        return ops.exp(ops.tanh(x)) + ops.exp(ops.tanh(x))

    graph = trace(f, X)
    after = dce(cse(graph, CPU), CPU)
    assert graph.primitive_counts() == {"tanh": 2, "exp": 2, "add": 1}
    assert after.primitive_counts() == {"tanh": 1, "exp": 1, "add": 1}
    assert body(after) == [
        "b:f64[2,3] = tanh a",
        "c:f64[2,3] = exp b",
        "d:f64[2,3] = add c c",
        "return d",
    ]
    assert_same_results(graph, after, x_data)


def test_cse_respects_params_and_never_merges_state():
    v = nerve.Variable(np.ones((2, 3)), dtype="float64")

    def f(x):
        v.assign(x)
        v.assign(x)
        return ops.sum(x, axis=0), ops.sum(x, axis=1)

    after = cse(trace(f, X), CPU)
    assert after.primitive_counts() == {"assign_variable": 2, "reduce_sum": 2}


def constant_pair_graph(first, second):
    """``exp(a) * x + exp(b) * x`` with ``a`` and ``b`` two captured constants."""
    a, b = ops.convert_to_tensor(first), ops.convert_to_tensor(second)
    return trace(lambda x: ops.exp(a) * x + ops.exp(b) * x, X)


@pytest.mark.parametrize(
    ("first", "second", "merged"),
    [
        (np.float64(0.9), np.float64(0.9), True),
        (np.float64(np.nan), np.float64(np.nan), True),  # the same NaN, bit for bit
        (np.full(3, 0.5), np.full(3, 0.5), True),
        (np.float64(0.0), np.float64(-0.0), False),  # equal, but exp(1/x) would tell
        (np.float64(0.9), np.float64(0.8), False),
        (np.zeros(3), np.zeros((1, 3)), False),  # another shape
        (np.zeros((20, 2, 3)), np.zeros((20, 2, 3)), False),  # past MAX_MERGED_CONSTANT
    ],
)
def test_cse_merges_work_on_equal_small_constants(first, second, merged):
    graph = constant_pair_graph(first, second)
    after = dce(cse(graph, CPU), CPU)
    assert graph.primitive_counts()["exp"] == 2
    assert after.primitive_counts()["exp"] == (1 if merged else 2)
    assert len(after.constants) == (1 if merged else 2)
    x = np.arange(6.0).reshape(2, 3)
    for a, b in zip(run(graph, x), run(after, x), strict=True):
        np.testing.assert_array_equal(a, b)


def test_cse_keeps_constants_of_different_dtypes_apart():
    a = ops.convert_to_tensor(np.float32(0.5))
    b = ops.convert_to_tensor(np.float64(0.5))
    graph = trace(lambda x: ops.cast(ops.exp(a), "float64") * x + ops.exp(b) * x, X)
    assert dce(cse(graph, CPU), CPU).primitive_counts()["exp"] == 2


# -- fold_constants ------------------------------------------------------------------------


def test_fold_evaluates_constant_subgraphs_once():
    c = ops.convert_to_tensor(np.array([1.0, 2.0, 3.0]))

    def f(x):
        return x * ops.exp(c * 2.0)

    graph = trace(f, ((2, 3), "float64"))
    after = dce(fold_constants(graph, CPU), CPU)
    assert graph.primitive_counts() == {"multiply": 2, "exp": 1}
    assert after.primitive_counts() == {"multiply": 1}
    (folded,) = after.constants.values()
    np.testing.assert_allclose(folded, np.exp(np.array([1.0, 2.0, 3.0]) * 2.0))
    assert_same_results(graph, after, x_data)


def test_fold_skips_random_and_large_creations():
    def f(x):
        noise = nerve.random.normal((2, 3), seed=1, dtype="float64")
        big = ops.zeros((100, 100), dtype="float64")
        small = ops.ones((2, 3), dtype="float64")
        return x + noise + small, big

    after = fold_constants(trace(f, X), CPU)
    counts = after.primitive_counts()
    assert counts.get("random_normal") == 1
    assert sum(counts.values()) == 1 + 2 + 1  # random, two adds, the large zeros


# -- simplify ------------------------------------------------------------------------------


def _simplified(fn, *specs):
    graph = trace(fn, *specs)
    return graph, dce(simplify(graph, CPU), CPU)


def test_simplify_scalar_like_becomes_a_shared_constant():
    graph, after = _simplified(
        lambda x: exp_p.bind(x) * scalar_like_p.bind(x, value=2) + scalar_like_p.bind(x, value=2),
        X,
    )
    assert "scalar_like" not in after.primitive_counts()
    (two,) = after.constants.values()
    assert two.dtype == np.float64 and two.shape == () and two == 2
    assert_same_results(graph, after, x_data)


@pytest.mark.parametrize(
    "build",
    [
        lambda x, one, zero: multiply_p.bind(x, one),
        lambda x, one, zero: multiply_p.bind(one, x),
        lambda x, one, zero: add_p.bind(x, zero),
        lambda x, one, zero: add_p.bind(zero, x),
        lambda x, one, zero: subtract_p.bind(x, zero),
        lambda x, one, zero: divide_p.bind(x, one),
        lambda x, one, zero: neg_p.bind(neg_p.bind(x)),
        lambda x, one, zero: cast_p.bind(x, dtype="float64"),
        lambda x, one, zero: reshape_p.bind(x, shape=(2, 3)),
        lambda x, one, zero: reshape_p.bind(reshape_p.bind(x, shape=(3, 2)), shape=(2, 3)),
        lambda x, one, zero: transpose_p.bind(transpose_p.bind(x, axes=(1, 0)), axes=(1, 0)),
        lambda x, one, zero: broadcast_to_p.bind(x, shape=(2, 3)),
    ],
    ids=[
        "x*1", "1*x", "x+0", "0+x", "x-0", "x/1", "neg-neg", "cast-same", "reshape-same",
        "reshape-reshape-same", "transpose-transpose-identity", "broadcast-same",
    ],
)  # fmt: skip
def test_simplify_identities_vanish(build):
    def f(x):
        one = ops.convert_to_tensor(np.ones((1, 3)))  # broadcastable, not 0-d
        zero = scalar_like_p.bind(x, value=0)
        return exp_p.bind(build(x, one, zero))

    graph, after = _simplified(f, X)
    assert body(after) == ["b:f64[2,3] = exp a", "return b"]
    assert_same_results(graph, after, x_data)


def test_simplify_output_replacement_updates_graph_outputs():
    graph, after = _simplified(lambda x: (x * 1.0, neg_p.bind(neg_p.bind(x))), X)
    assert after.outputs == [graph.inputs[0], graph.inputs[0]]
    assert not after.nodes
    assert_same_results(graph, after, x_data)


def test_simplify_keeps_identities_that_broadcast_or_change_values():
    def f(x):
        widened = x * ops.convert_to_tensor(np.ones((4, 2, 3)))  # 1 broadcasts x to (4,2,3)
        return widened, x * 1.5, 0.0 - x, x * ops.convert_to_tensor(np.array([1.0, 2.0, 1.0]))

    graph, after = _simplified(f, X)
    counts = after.primitive_counts()
    assert counts == {"multiply": 3, "subtract": 1}
    assert_same_results(graph, after, x_data)


def test_simplify_composes_reshapes_and_transposes():
    def f(y):
        flat = reshape_p.bind(reshape_p.bind(y, shape=(6, 4)), shape=(24,))
        moved = transpose_p.bind(transpose_p.bind(y, axes=(1, 2, 0)), axes=(2, 0, 1))
        rolled = transpose_p.bind(transpose_p.bind(y, axes=(1, 0, 2)), axes=(0, 2, 1))
        return flat, moved, rolled

    y = np.arange(24.0).reshape(2, 3, 4)
    graph, after = _simplified(f, ((2, 3, 4), "float64"))
    assert body(after) == [
        "b:f64[24] = reshape[shape=(24,)] a",
        "c:f64[3,4,2] = transpose[axes=(1,2,0)] a",
        "return b a c",
    ]
    assert_same_results(graph, after, y)
    np.testing.assert_array_equal(run(after, y)[2], y.transpose(1, 0, 2).transpose(0, 2, 1))


@pytest.mark.parametrize("axes,turned", [((1, 0, 2), True), ((1, 2, 0), False), ((0, 2, 1), False)])
def test_simplify_gathers_rows_in_the_order_a_transpose_asks_for(axes, turned):
    # transpose(table[ids]) -> table[transpose(ids)] when only the ids' axes move (an
    # embedding made time-major); a transpose that moves the rows' own axis stays.
    table = np.arange(40.0).reshape(10, 4)
    ids = np.array([[3, 1, 0], [9, 9, 2]], np.int32)

    def f(t, i):
        return transpose_p.bind(getitem_p.bind(t, i, template=(("array", 0),)), axes=axes)

    graph, after = _simplified(f, ((10, 4), "float64"), ((2, 3), "int32"))
    (moved,) = [n for n in after.nodes if n.prim is transpose_p]
    assert (moved.inputs[0] is after.inputs[1]) == turned  # the ids, not the rows
    assert_same_results(graph, after, table, ids)
    np.testing.assert_array_equal(run(after, table, ids)[0], table[ids].transpose(axes))


def test_simplify_leaves_a_gather_that_something_else_reads():
    def f(t, i):
        rows = getitem_p.bind(t, i, template=(("array", 0),))
        return transpose_p.bind(rows, axes=(1, 0, 2)), rows

    graph, after = _simplified(f, ((10, 4), "float64"), ((2, 3), "int32"))
    assert after.primitive_counts() == {"getitem": 1, "transpose": 1}


def test_simplify_drops_broadcasts_that_elementwise_ops_do_themselves():
    def f(x, col):
        seed = broadcast_to_p.bind(scalar_like_p.bind(x, value=3), shape=(2, 3))
        wide = broadcast_to_p.bind(col, shape=(2, 3))
        needed = broadcast_to_p.bind(col, shape=(4, 2, 3))  # widens the result: stays
        return multiply_p.bind(seed, x), add_p.bind(x, wide), subtract_p.bind(needed, x)

    col = np.array([[0.5], [2.0]])
    graph, after = _simplified(f, X, ((2, 1), "float64"))
    assert graph.primitive_counts()["broadcast_to"] == 3
    assert after.primitive_counts() == {"broadcast_to": 1, "multiply": 1, "add": 1, "subtract": 1}
    assert "add a b" in after.to_text()
    assert_same_results(graph, after, x_data, col)


def test_simplify_reaches_a_fixed_point():
    # Each rewrite exposes the next: 1 * (x * 1) -> x * 1 -> x; reshape chains collapse.
    def f(x):
        one = scalar_like_p.bind(x, value=1)
        y = multiply_p.bind(one, multiply_p.bind(x, one))
        z = reshape_p.bind(reshape_p.bind(y, shape=(6,)), shape=(3, 2))
        z = reshape_p.bind(z, shape=(2, 3))
        return neg_p.bind(neg_p.bind(neg_p.bind(neg_p.bind(z))))

    graph, after = _simplified(f, X)
    assert after.outputs == graph.inputs and not after.nodes
    assert simplify(after, CPU).to_text() == after.to_text()


def test_default_pipeline_includes_simplify_and_shrinks_training_steps():
    assert simplify in DEFAULT_PIPELINE
    w = nerve.Variable(np.ones((3, 1)), dtype="float64")

    def step(x):
        with nerve.GradientTape() as tape:
            loss = ops.mean((x @ w) ** 2)
        w.assign_sub(0.1 * tape.gradient(loss, w))
        return loss

    concrete = nerve.function(step).get_concrete_function(np.ones((4, 3)))
    without = optimize(
        concrete.unoptimized, CPU, [p for p in DEFAULT_PIPELINE if p is not simplify]
    )
    assert len(concrete.graph) < len(without)
    assert "scalar_like" not in concrete.graph.primitive_counts()


# -- verify: one test per invariant ---------------------------------------------------------


def _small_graph():
    graph = Graph("g")
    x = graph.add_input(Aval((2,), "float32"))
    node = graph.add_node(exp_p, [x], {}, [Aval((2,), "float32")])
    graph.outputs = [node.outputs[0]]
    verify(graph)
    return graph, x, node


def test_verify_use_before_definition():
    graph, x, node = _small_graph()
    user = Node(neg_p, [node.outputs[0]], {}, [Value(Aval((2,), "float32"))])
    graph.nodes.insert(0, user)
    with pytest.raises(GraphError, match=r"node 0 \(neg\) uses a value defined later"):
        verify(graph, after="broken")


def test_verify_redefinition():
    graph, x, node = _small_graph()
    graph.nodes.append(Node(neg_p, [x], {}, node.outputs))
    with pytest.raises(GraphError, match=r"node 1 \(neg\) redefines a value"):
        verify(graph)


def test_verify_shape_rule_mismatch():
    graph, x, node = _small_graph()
    graph.nodes[0] = Node(exp_p, [x], {}, [Value(Aval((3,), "float32"))])
    graph.outputs = graph.nodes[0].outputs
    with pytest.raises(GraphError, match=r"exp\) outputs .* shape rule says"):
        verify(graph, after="broken")


def test_verify_shape_rule_rejection_is_a_graph_error():
    graph, x, node = _small_graph()
    graph.nodes.append(Node(reshape_p, [x], {"shape": (3,)}, [Value(Aval((3,), "float32"))]))
    with pytest.raises(GraphError, match=r"reshape\) is rejected by its shape rule"):
        verify(graph)


def test_verify_undefined_output():
    graph, x, node = _small_graph()
    graph.outputs = [Value(Aval((2,), "float32"))]
    with pytest.raises(GraphError, match=r"output is never defined after pass 'broken'"):
        verify(graph, after="broken")


def test_verify_input_that_is_also_a_constant():
    graph, x, node = _small_graph()
    graph.constants[x] = np.zeros(2, "float32")
    with pytest.raises(GraphError, match="both an input and a constant"):
        verify(graph)
