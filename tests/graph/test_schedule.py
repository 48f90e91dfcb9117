"""The scheduling pass (``nerve.graph.passes.schedule``) on small traced programs with
collective nodes: starts move to just after their inputs, waits to just before their
first user, each kind keeps its order, nothing else moves, and the compiled results
are bit-identical to the traced order's."""

import numpy as np
import pytest

import nerve
from nerve import ops
from nerve.backend import get_backend
from nerve.graph.executor import CompiledGraph
from nerve.graph.passes import fuse, optimize, schedule_collectives
from nerve.graph.passes.memory import analyze
from nerve.primitives.collective import allreduce_start_p, allreduce_wait_p
from nerve.primitives.registry import Aval

CPU = get_backend("cpu")


class RecordingChannel:
    """A channel that "sums" over two identical replicas (doubles) and records the
    order of its calls."""

    def __init__(self):
        self.events = []
        self._pending = {}

    def start(self, bucket, *arrays):
        self.events.append(f"start{bucket}")
        self._pending[bucket] = [np.asarray(a) * 2 for a in arrays]
        return np.array(bucket, dtype="int64")

    def wait(self, bucket, token):
        self.events.append(f"wait{bucket}")
        return tuple(self._pending.pop(bucket))


def _sum(channel, buckets):
    """Bind one start per bucket, then one wait per bucket (as a traced step does)."""
    tokens = [
        allreduce_start_p.bind(*arrays, channel=channel, bucket=n)
        for n, arrays in enumerate(buckets)
    ]
    return [
        allreduce_wait_p.bind(
            token, channel=channel, bucket=n, avals=tuple(Aval(a.shape, a.dtype) for a in arrays)
        )
        for n, (token, arrays) in enumerate(zip(tokens, buckets))
    ]


def _backward_like(channel, swap=False):
    """Two "gradients": ``late`` needs a second matmul after ``early`` is ready."""

    def step(x):
        early = ops.matmul(x, x)
        late = ops.matmul(ops.tanh(early), x)
        buckets = [[late], [early]] if swap else [[early], [late]]
        (a,), (b,) = _sum(channel, buckets)
        return ops.add(ops.exp(x), 1.0), ops.add(a, b)

    return nerve.function(step)


def _kinds(graph):
    names = {"allreduce_start": "start", "allreduce_wait": "wait"}
    return [names.get(n.prim.name, n.prim.name) for n in graph.nodes]


def test_starts_go_right_after_their_inputs_and_waits_right_before_their_user():
    x = ops.convert_to_tensor(np.random.default_rng(0).normal(size=(4, 4)).astype("float32"))
    function = _backward_like(RecordingChannel())
    kinds = _kinds(function.graph_for(x))
    first_start, last_matmul = kinds.index("start"), len(kinds) - 1 - kinds[::-1].index("matmul")
    # The first bucket travels while the second matmul runs; the waits come after the
    # independent exp (it is traced after them) and just before the add that uses them.
    assert first_start < last_matmul < kinds.index("start", first_start + 1)
    assert kinds[-3:] == ["wait", "wait", "add"]
    traced = _kinds(function.get_concrete_function(x).unoptimized)
    assert traced.index("start") > max(k for k, n in enumerate(traced) if n == "matmul")


@pytest.mark.parametrize("swap", [False, True], ids=["in_order", "late_bucket_first"])
def test_results_are_bit_identical_to_the_traced_order_and_each_kind_keeps_its_order(swap):
    x = ops.convert_to_tensor(np.random.default_rng(1).normal(size=(5, 5)).astype("float32"))
    channel = RecordingChannel()
    function = _backward_like(channel, swap)
    scheduled = [np.asarray(v) for v in function(x)]
    assert channel.events == ["start0", "start1", "wait0", "wait1"]
    # The same optimized graph, fused the same way, run in traced order.
    fused = optimize(function.get_concrete_function(x).graph, CPU, (fuse,))
    unscheduled = CompiledGraph(fused, CPU, lower=False).run([np.asarray(x)])
    kinds = _kinds(fused)  # (and in that order the starts come after all compute)
    assert kinds.index("start") > max(k for k, kind in enumerate(kinds) if kind == "matmul")
    for got, expected in zip(scheduled, unscheduled):
        np.testing.assert_array_equal(got, expected)


def test_a_graph_without_collectives_is_left_as_it_is():
    graph = nerve.function(lambda x: ops.tanh(x)).get_concrete_function(ops.ones((2,))).graph
    assert schedule_collectives(graph, CPU) is graph


@pytest.mark.parametrize(
    "bind,message",
    [
        (lambda: allreduce_start_p.bind(channel=None, bucket=3), "bucket 3 has no arrays"),
        (
            lambda: allreduce_wait_p.bind(ops.ones((2,)), channel=None, bucket=0, avals=()),
            r"expected the token of an allreduce_start \(int64\[\]\)",
        ),
    ],
)
def test_the_collective_shape_rules_name_what_is_wrong(bind, message):
    with pytest.raises(ValueError, match=message):
        nerve.function(lambda: bind()).get_concrete_function()


def test_a_bucket_s_gradients_die_at_its_start_and_the_channel_s_arrays_are_never_reused():
    x = ops.convert_to_tensor(np.ones((3, 3), "float32"))
    graph = _backward_like(RecordingChannel()).graph_for(x)
    facts = analyze(graph, CPU)
    start = next(k for k, n in enumerate(graph.nodes) if n.prim is allreduce_start_p and k > 2)
    late = graph.nodes[start].inputs[0]  # the second matmul, used by nothing else
    assert facts.reusable(late) and facts.end_of_group(late) == start
    channel_values = [v for n in graph.nodes if n.prim.effect for v in n.outputs]
    assert channel_values and not any(facts.reusable(v) for v in channel_values)
