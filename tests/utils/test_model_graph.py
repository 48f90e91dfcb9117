import nerve
from nerve import layers, ops
from nerve.utils.model_graph import model_graph


def test_functional_shared_layer_and_two_outputs():
    a, b = layers.Input((4,), name="a"), layers.Input((4,), name="b")
    shared = layers.Dense(3, name="shared")
    merged = layers.Concatenate(name="cat")([shared(a), shared(b)])
    model = nerve.Model([a, b], [layers.Dense(1, name="y")(merged), shared(a)])
    graph = model_graph(model)
    inbound = {node.name: node.inbound for node in graph.nodes}
    assert inbound == {"a": [], "b": [], "shared": ["a", "b"], "cat": ["shared"], "y": ["cat"]}
    assert (graph.inputs, graph.outputs) == (["a", "b"], ["y", "shared"])
    shapes = {node.name: (node.input_shapes, node.output_shapes) for node in graph.nodes}
    assert shapes["cat"] == ([(None, 3), (None, 3)], [(None, 6)])


def test_unbuilt_sequential_is_a_chain_without_shapes():
    model = nerve.Sequential([layers.Dense(3, name="d1"), layers.Dense(2, name="d2")])
    graph = model_graph(model)
    assert [(n.name, n.inbound, n.output_shapes) for n in graph.nodes] == [
        ("d1", [], None),
        ("d2", ["d1"], None),
    ]


def test_nested_model_graph():
    inner = nerve.Sequential(
        [layers.Input((4,), name="inner_in"), layers.Dense(2, name="inner_dense")], name="inner"
    )
    outer = nerve.Sequential([layers.Input((4,), name="outer_in"), inner])
    graph = model_graph(outer)
    assert graph.nodes[1].nested is not None
    assert [n.name for n in graph.nodes[1].nested.nodes] == ["inner_in", "inner_dense"]
    assert model_graph(outer, expand_nested=False).nodes[1].nested is None


def test_ops_on_symbolic_tensors_are_nodes_of_the_graph():
    x = nerve.Input((6,), name="x")
    sliced = x[:, :3]
    scaled = sliced * 2.0
    hidden = layers.Dense(4, name="hidden")(scaled)
    joined = ops.concatenate([hidden, x], axis=-1)
    graph = model_graph(nerve.Model(x, layers.Dense(2, name="out")(joined)))
    inbound = {node.name: node.inbound for node in graph.nodes}
    name = {t: t.node.layer.name for t in (sliced, scaled, joined)}
    assert inbound[name[sliced]] == ["x"] and inbound[name[scaled]] == [name[sliced]]
    assert inbound["hidden"] == [name[scaled]] and inbound["out"] == [name[joined]]
    assert inbound[name[joined]] == ["hidden", "x"]
