"""Memory planning and fusion keep results identical to the unoptimized graph.

Every test compares the compiled function (default passes, memory plan) bit for bit
against ``optimize(graph, backend, passes=())`` run without a memory plan. The shapes here are
small, so fused nodes run as their steps (kernel by kernel); compiled loops over large
shapes are tested in ``tests/backend/test_native.py``.
"""

import itertools
import weakref

import numpy as np
import pytest

import nerve
from nerve import ops
from nerve.backend import get_backend
from nerve.graph.executor import CompiledGraph
from nerve.graph.passes import optimize
from nerve.graph.passes.fuse import fuse
from nerve.graph.passes.memory import plan_memory

CPU = get_backend("cpu")

#: The executor lowers with fusion by default; "unfused" compiles without it.
PIPELINES = {"default": True, "unfused": False}


def reference_run(function, *args):
    """Run ``function``'s unoptimized graph for ``args`` with no memory plan."""
    concrete = function.get_concrete_function(*args)
    graph = optimize(concrete.unoptimized, CPU, passes=())
    compiled = CompiledGraph(graph, get_backend(), plan=False, lower=False)
    arrays = [a._value for a in args]
    return [np.asarray(r) for r in compiled.run(arrays)]


def compile_with(function, args, pipeline="default"):
    """Compile ``function`` for ``args``, lowered per ``PIPELINES[pipeline]`` (memory plan on)."""
    concrete = function.get_concrete_function(*args)
    concrete.compiled = CompiledGraph(
        concrete.graph, concrete.compiled.backend, lower=PIPELINES[pipeline]
    )
    return function


def compiled_run(function, *args):
    result = function(*args)
    results = result if isinstance(result, (list, tuple)) else [result]
    return [r.numpy() for r in results]


def assert_same(function, *args, pipeline="default"):
    compile_with(function, args, pipeline)
    expected = reference_run(function, *args)
    actual = compiled_run(function, *args)
    assert len(expected) == len(actual)
    for e, a in zip(expected, actual):
        np.testing.assert_array_equal(a, e)


def tensor(rng, shape, dtype="float32"):
    return ops.convert_to_tensor(rng.standard_normal(shape).astype(dtype))


# -- the MLP training step ------------------------------------------------------------------


def make_mlp_step(seed=0, sizes=(12, 10, 8, 4), batch=6):
    rng = np.random.default_rng(seed)
    params = []
    for fan_in, fan_out in itertools.pairwise(sizes):
        params.append(nerve.Variable((rng.standard_normal((fan_in, fan_out)) * 0.3).astype("f4")))
        params.append(nerve.Variable((rng.standard_normal(fan_out) * 0.1).astype("f4")))
    velocities = [nerve.Variable(np.zeros(p.shape, "float32")) for p in params]
    x = tensor(rng, (batch, sizes[0]))
    y = ops.convert_to_tensor(rng.integers(0, sizes[-1], batch).astype("int32"))

    def step(x, y):
        with nerve.GradientTape() as tape:
            h = x
            for i in range(0, len(params) - 2, 2):
                h = ops.relu(h @ params[i] + params[i + 1])
            logits = h @ params[-2] + params[-1]
            loss = ops.mean(ops.sparse_categorical_crossentropy(y, logits, from_logits=True))
        grads = tape.gradient(loss, params)
        for p, v, g in zip(params, velocities, grads):
            v.assign(0.9 * v - 0.1 * g)
            p.assign_add(v)
        return loss

    return step, params + velocities, (x, y)


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_mlp_step_matches_unoptimized_graph_bit_for_bit(pipeline):
    step, state, args = make_mlp_step()
    ref_step, ref_state, _ = make_mlp_step()
    compiled = compile_with(nerve.function(step), args, pipeline)
    reference = nerve.function(ref_step)
    concrete = reference.get_concrete_function(*args)
    concrete.compiled = CompiledGraph(
        optimize(concrete.unoptimized, CPU, passes=()),
        concrete.compiled.backend,
        plan=False,
        lower=False,
    )
    for _ in range(4):
        np.testing.assert_array_equal(compiled(*args).numpy(), reference(*args).numpy())
    for a, b in zip(state, ref_state):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_mlp_step_updates_variables_in_place_after_the_first_step(pipeline):
    step, state, args = make_mlp_step()
    compiled = compile_with(nerve.function(step), args, pipeline)
    compiled(*args)  # the first step allocates: the initial buffers are not the graph's
    buffers = [id(v._value) for v in state]
    compiled(*args)
    compiled(*args)
    assert [id(v._value) for v in state] == buffers
    source = compiled.get_concrete_function(*args).compiled.source
    assert "refs(" in source and "out=" in source


@pytest.mark.parametrize("hold", ["tensor", "numpy", "view", "returned"])
def test_a_held_variable_buffer_is_never_written(hold):
    v = nerve.Variable(ops.ones((4, 3)))

    @nerve.function
    def step(x):
        v.assign(v * 0.5 + x)
        return v.value if hold == "returned" else ops.sum(v.value)

    x = ops.ones((4, 3))
    step(x)
    step(x)  # the buffer is now the graph's own
    if hold == "tensor":
        held = v.value
    elif hold == "numpy":
        held = v.numpy()
    elif hold == "view":
        held = ops.reshape(v.value, (12,))
    else:
        held = step(x)
    before = np.array(held)
    step(x)
    step(x)
    np.testing.assert_array_equal(np.asarray(held), before)
    assert not np.array_equal(v.numpy(), before)


def test_eager_assignment_between_steps_is_respected():
    v = nerve.Variable(ops.zeros((3,)))

    @nerve.function
    def step():
        v.assign_add(ops.ones((3,)))
        return ops.sum(v.value)

    step()
    step()
    outside = v.value
    v.assign(ops.full((3,), 10.0))  # eager: a buffer the graph does not own
    step()
    np.testing.assert_array_equal(v.numpy(), [11.0, 11.0, 11.0])
    np.testing.assert_array_equal(outside.numpy(), [2.0, 2.0, 2.0])


# -- random elementwise chains --------------------------------------------------------------

UNARY = (ops.tanh, ops.exp, ops.negative, ops.abs, ops.sigmoid, ops.relu)
BINARY = (ops.add, ops.subtract, ops.multiply, ops.maximum, ops.minimum)


def random_program(seed, length=25):
    """A random elementwise DAG with fan-out, broadcasting and views in between."""
    rng = np.random.default_rng(seed)
    choices = rng.integers(0, 1 << 30, size=(length, 4))

    def program(a, b, c):
        pool = [a, b, c]
        for kind, i, j, k in choices:
            x, y = pool[i % len(pool)], pool[j % len(pool)]
            kind %= 10
            if kind < 4:
                out = UNARY[k % len(UNARY)](x)
                if kind == 0:
                    out = ops.exp(-ops.abs(out))  # keep values bounded
            elif kind < 8:
                out = BINARY[k % len(BINARY)](x, y)
            elif kind == 8:
                out = ops.transpose(ops.transpose(x))
            else:
                out = ops.reshape(ops.reshape(x, (-1,)), x.shape)
            pool.append(ops.tanh(out) if k % 3 == 0 else out)
        return pool[-1], pool[len(pool) // 2], ops.sum(pool[-2])

    return program


@pytest.mark.parametrize("pipeline", PIPELINES)
@pytest.mark.parametrize("seed", range(12))
def test_random_elementwise_programs_match_unoptimized(seed, pipeline):
    rng = np.random.default_rng(100 + seed)
    args = (tensor(rng, (4, 5)), tensor(rng, (5,)), tensor(rng, (4, 5)))
    assert_same(nerve.function(random_program(seed)), *args, pipeline=pipeline)


# -- aliasing traps ---------------------------------------------------------------------------


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_transposed_view_of_a_dying_buffer_is_not_overwritten(pipeline):
    def f(a, b):
        x = ops.exp(a)  # a fresh buffer
        view = ops.transpose(x)  # a view of it, read after x's own last use
        y = x * b  # must not be written into x's buffer
        return ops.transpose(y) + view

    rng = np.random.default_rng(0)
    function = nerve.function(f)
    args = (tensor(rng, (3, 3)), tensor(rng, (3, 3)))
    assert_same(function, *args, pipeline=pipeline)
    expected = (np.exp(args[0].numpy()) * args[1].numpy()).T + np.exp(args[0].numpy()).T
    np.testing.assert_allclose(function(*args).numpy(), expected, rtol=1e-6)


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_view_returned_as_output_is_not_reused(pipeline):
    def f(a):
        x = ops.exp(a)
        flat = ops.reshape(x, (-1,))  # escapes as an output
        y = ops.tanh(x * 2.0)
        z = ops.reshape(y * 3.0, (-1,))
        return flat, z

    rng = np.random.default_rng(1)
    assert_same(nerve.function(f), tensor(rng, (4, 4)), pipeline=pipeline)


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_inputs_and_constants_are_never_written(pipeline):
    rng = np.random.default_rng(2)
    constant = tensor(rng, (3, 4))
    kept = constant.numpy().copy()

    def f(a):
        return ops.tanh(ops.negative(a) * constant) + constant

    a = tensor(rng, (3, 4))
    a_before = a.numpy().copy()
    function = nerve.function(f)
    for _ in range(3):
        assert_same(function, a, pipeline=pipeline)
    np.testing.assert_array_equal(a.numpy(), a_before)
    np.testing.assert_array_equal(constant.numpy(), kept)


def test_read_variable_used_after_its_update_keeps_the_old_value():
    w = nerve.Variable(np.arange(6, dtype="float32").reshape(2, 3))

    @nerve.function
    def step():
        old = w.value
        w.assign(old * 0.5)
        return ops.transpose(old) + 0.0  # reads the value from before the assignment

    first = step().numpy()
    second = step().numpy()
    third = step().numpy()
    np.testing.assert_array_equal(first, np.arange(6, dtype="float32").reshape(2, 3).T)
    np.testing.assert_array_equal(second, first * 0.5)
    np.testing.assert_array_equal(third, first * 0.25)


def test_variable_passed_as_an_input_is_not_written():
    v = nerve.Variable(ops.ones((5,)))

    @nerve.function
    def step(x):
        v.assign(v * 2.0)
        return x + 0.0

    x = ops.ones((5,))
    step(x)
    step(x)
    held = v.value
    np.testing.assert_array_equal(step(held).numpy(), np.full(5, 4.0))
    np.testing.assert_array_equal(held.numpy(), np.full(5, 4.0))


# -- the plan itself -----------------------------------------------------------------------------


def plan_for(f, *args):
    graph = nerve.function(f).graph_for(*args)
    return graph, plan_memory(graph, get_backend())


def test_plan_writes_a_chain_in_place():
    graph, plan = plan_for(lambda a: ops.tanh(ops.exp(a) * a + a), ops.ones((4,)))
    names = [n.prim.name for n in graph.nodes]
    in_place = [names[i] for i, target in plan.out.items()]
    assert sorted(in_place) == ["add", "multiply", "tanh"]


def test_plan_never_targets_inputs_or_views():
    def f(a):
        x = ops.exp(a)
        t = ops.transpose(x)
        return ops.transpose(x * 2.0) + t

    graph, plan = plan_for(f, ops.ones((3, 3)))
    targets = set(plan.out.values())
    assert not targets & set(graph.inputs)
    exp_out = next(n.outputs[0] for n in graph.nodes if n.prim.name == "exp")
    assert exp_out not in targets  # its transposed view is read later


# -- fusion ----------------------------------------------------------------------------------


def fused_graph(f, *args):
    graph = nerve.function(f).graph_for(*args)
    return graph, optimize(graph, CPU, passes=(fuse,))


def steps_of(node):
    return [prim.name for prim, _, _ in node.params["program"]]


def test_fuse_groups_a_dense_epilogue_into_one_node():
    x, w, b = ops.ones((4, 3)), ops.ones((3, 2)), ops.ones((2,))
    graph, fused = fused_graph(lambda x, w, b: ops.tanh(ops.relu(x @ w + b) * 2.0), x, w, b)
    assert fused.primitive_counts() == {"matmul": 1, "fused_elementwise": 1}
    node = fused.nodes[-1]
    assert steps_of(node) == ["add", "relu", "multiply", "tanh"]
    assert node.outputs == graph.outputs
    text = fused.to_text()
    assert "f:f32[4,2] = fused_elementwise e c d {" in text and "    _0 = add e c" in text


def test_values_read_outside_a_group_become_its_outputs_and_close_it():
    def f(a):
        shared = ops.exp(a)
        out = ops.tanh(shared)  # a graph output: still inside the group
        return out, ops.sum(out) + shared  # sum reads the group from outside: it closes

    graph = nerve.function(f).graph_for(ops.ones((3,)))
    before = graph.to_text()
    fused = fuse(graph, CPU)
    assert graph.to_text() == before  # the input graph is unchanged
    node = next(n for n in fused.nodes if n.prim.name == "fused_elementwise")
    assert steps_of(node) == ["exp", "tanh"]
    assert len(node.outputs) == 2  # shared (read by the add) and out (returned)
    names = [n.prim.name for n in fused.nodes]
    assert names == ["fused_elementwise", "reduce_sum", "add"]  # add can't join a closed group


def test_groups_merge_when_a_node_reads_two_open_groups():
    def f(a, b):
        return ops.exp(a) * 2.0 + ops.tanh(b)  # two chains meet at the add

    fused = fuse(nerve.function(f).graph_for(ops.ones((3,)), ops.ones((3,))), CPU)
    (node,) = fused.nodes
    assert sorted(steps_of(node)) == ["add", "exp", "multiply", "tanh"]


def test_groups_have_one_shape():
    def f(a, b):
        return ops.exp(ops.exp(a) + b)  # (3,) + (2, 3) -> (2, 3): a new group

    fused = fuse(nerve.function(f).graph_for(ops.ones((3,)), ops.ones((2, 3))), CPU)
    assert [n.prim.name for n in fused.nodes] == ["exp", "fused_elementwise"]
    assert steps_of(fused.nodes[1]) == ["add", "exp"]


def test_a_lone_node_is_a_loop_only_when_large_and_exact(monkeypatch):
    # (A backend may share a large loop out among cores; a transcendental function's
    # C form rounds differently from the array library's, so it stays a kernel.)
    import sys

    # (The package exports the pass function under the module's name.)
    monkeypatch.setattr(sys.modules["nerve.graph.passes.fuse"], "LONE_LOOP_ELEMENTS", 6)

    def f(a, b):
        return ops.sum(a + b), ops.sum(ops.exp(a)), ops.sum(a[:1] * b[:1])

    fused = fuse(nerve.function(f).graph_for(ops.ones((2, 3)), ops.ones((2, 3))), CPU)
    names = [n.prim.name for n in fused.nodes]
    assert names.count("fused_elementwise") == 1 and "exp" in names and "multiply" in names
    (loop,) = [n for n in fused.nodes if n.prim.name == "fused_elementwise"]
    assert steps_of(loop) == ["add"]


def test_an_optimizer_update_is_one_node_with_its_assignments_after_it():
    step, _, args = make_mlp_step()
    graph = nerve.function(step).graph_for(*args)
    fused = fuse(optimize(graph, CPU, passes=()), CPU)
    updates = [
        n
        for n in fused.nodes
        if n.prim.name == "fused_elementwise"
        and steps_of(n) == ["multiply", "multiply", "subtract", "add"]
    ]
    assert len(updates) == 6  # one per parameter: v = 0.9 v - 0.1 g and p += v
    for node in updates:
        at = fused.nodes.index(node)
        after = fused.nodes[at + 1 : at + 3]
        assert [n.prim.name for n in after] == ["assign_variable"] * 2
        assert [n.inputs[0] for n in after] == node.outputs


def effects_by_variable(graph):
    order = {}
    for n in graph.nodes:
        if n.has_effect:
            order.setdefault(n.params["slot"], []).append(n.prim.name)
    return order


def test_fuse_keeps_each_variables_effects_in_order():
    step, _, args = make_mlp_step()
    graph = optimize(nerve.function(step).get_concrete_function(*args).unoptimized, CPU, passes=())
    fused = fuse(graph, CPU)
    assert effects_by_variable(fused) == effects_by_variable(graph)
    assert len(fused) < len(graph)


def test_a_group_with_a_deferred_assignment_closes_at_an_effect_on_that_variable():
    v = nerve.Variable(ops.ones((3,)))

    def f(x):
        y = x * 2.0
        v.assign(y)  # deferred into y's group
        v.assign(x + 1.0)  # the same variable, from another group: y's group closes
        return y * 3.0  # so this can't join it

    concrete = nerve.function(f).get_concrete_function(ops.ones((3,)))
    fused = fuse(optimize(concrete.unoptimized, CPU, passes=()), CPU)
    names = [n.prim.name for n in fused.nodes]
    assert names == ["multiply", "assign_variable", "add", "assign_variable", "multiply"]
    x = ops.full((3,), 3.0)
    np.testing.assert_array_equal(nerve.function(f)(x).numpy(), [18.0, 18.0, 18.0])
    np.testing.assert_array_equal(v.numpy(), [4.0, 4.0, 4.0])


def test_an_adam_update_is_one_loop_over_m_v_and_the_parameter():
    p = nerve.Variable(np.ones((4, 3), "float32"))
    optimizer = nerve.optimizers.Adam(learning_rate=0.1)

    @nerve.function
    def step(g):
        optimizer.apply_gradients([(g, p)])

    g = ops.ones((4, 3))
    step(g)
    graph = fuse(optimize(step.get_concrete_function(g).unoptimized, CPU, passes=()), CPU)
    big = [n for n in graph.nodes if n.prim.name == "fused_elementwise" and n.outputs[0].shape]
    assert [len(n.outputs) for n in big if n.outputs[0].shape == (4, 3)] == [3]


def test_expanded_fused_nodes_never_overwrite_an_input_a_later_step_reads():
    def f(a):
        x = ops.exp(a)  # dies in the fused node below, but its last step reads it again
        return ops.tanh(x + 1.0) * x

    rng = np.random.default_rng(3)
    function = nerve.function(f)
    a = tensor(rng, (4, 4))
    assert_same(function, a)
    np.testing.assert_allclose(
        function(a).numpy(), np.tanh(np.exp(a.numpy()) + 1) * np.exp(a.numpy()), rtol=1e-6
    )


def make_embedding_step(seed=0, vocabulary=300, width=8, batch=(4, 5)):
    """An embedding table trained by Adam: its gradient is an ``index_add`` over the ids."""
    rng = np.random.default_rng(seed)
    table = nerve.Variable((rng.standard_normal((vocabulary, width)) * 0.1).astype("f4"))
    optimizer = nerve.optimizers.Adam(learning_rate=0.01)
    ids = ops.convert_to_tensor(rng.integers(0, vocabulary, batch).astype("int32"))

    def step(ids):
        with nerve.GradientTape() as tape:
            loss = ops.sum(ops.tanh(ops.take(table, ids, axis=0)))
        optimizer.apply_gradients([(tape.gradient(loss, table), table)])
        return loss

    return step, table, ids


def test_an_embedding_table_is_updated_in_place_by_its_optimizer():
    # The gradient (index_add, declared fresh) shares no alias group with the table or
    # the ids, so the table's read dies at the update, which writes into its buffer.
    step, table, ids = make_embedding_step()
    ref_step, ref_table, _ = make_embedding_step()
    compiled = nerve.function(step)
    reference = nerve.function(ref_step)
    concrete = reference.get_concrete_function(ids)
    concrete.compiled = CompiledGraph(
        optimize(concrete.unoptimized, CPU, passes=()), CPU, plan=False, lower=False
    )
    compiled(ids)  # the first step allocates: the initial buffer is not the graph's
    reference(ids)
    buffer = weakref.ref(table._value)  # a strong reference would make it shared
    for _ in range(3):
        np.testing.assert_array_equal(compiled(ids).numpy(), reference(ids).numpy())
    assert table._value is buffer()
    np.testing.assert_array_equal(table.numpy(), ref_table.numpy())
