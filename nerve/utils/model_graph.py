"""The layer graph of a model as plain data, for drawing it (``plot_model``) and for
TensorBoard's graph tab.

``model_graph(model)`` reads what every nerve model exposes (Functional models'
nodes; a Sequential model's graph once it knows its input shape; otherwise its list
of layers) without importing ``nerve.models``, which sits above this package.

>>> import nerve
>>> from nerve import layers
>>> model = nerve.Sequential([layers.Input((4,), name="x"), layers.Dense(2, name="out")])
>>> graph = model_graph(model)
>>> [(node.name, node.inbound) for node in graph.nodes]
[('x', []), ('out', ['x'])]
>>> graph.nodes[1].output_shapes
[(None, 2)]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["GraphNode", "ModelGraph", "model_graph"]


@dataclass
class GraphNode:
    """One layer: its name, class, the shapes of its first call in this model (``None``
    where unknown), the names of the layers feeding it, and, for a nested model, its
    own graph."""

    layer: Any
    name: str
    class_name: str
    input_shapes: list[tuple] | None = None
    output_shapes: list[tuple] | None = None
    inbound: list[str] = field(default_factory=list)
    nested: ModelGraph | None = None


@dataclass
class ModelGraph:
    """A model's layers in order, and which of them take its inputs and give its outputs."""

    name: str
    nodes: list[GraphNode]
    inputs: list[str]
    outputs: list[str]


def _is_model(layer: Any) -> bool:
    return hasattr(layer, "layers") and (
        hasattr(layer, "_all_nodes") or hasattr(layer, "_functional")
    )


def _node(layer: Any, expand_nested: bool) -> GraphNode:
    nested = model_graph(layer, expand_nested) if expand_nested and _is_model(layer) else None
    return GraphNode(layer, layer.name, type(layer).__name__, nested=nested)


def model_graph(model: Any, expand_nested: bool = True) -> ModelGraph:
    """The graph of ``model``'s layers; nested models get their own graph when
    ``expand_nested``."""
    graph = getattr(model, "_functional", None) or model
    if not hasattr(graph, "_all_nodes"):
        # A Sequential model without an input shape, or a subclassed model: layers in
        # order, chained only where the order is the data flow (Sequential).
        chained = type(model).__name__ == "Sequential"
        nodes = []
        for index, layer in enumerate(model.layers):
            node = _node(layer, expand_nested)
            if chained and index:
                node.inbound = [model.layers[index - 1].name]
            nodes.append(node)
        ends = [n.name for n in nodes]
        inputs, outputs = (ends[:1], ends[-1:]) if chained else ([], [])
        return ModelGraph(model.name, nodes, inputs, outputs)
    own_nodes = {id(n): n for n in graph._all_nodes()}
    nodes = []
    # Ops applied to symbolic tensors are nodes of the drawing too (not layers).
    for layer in getattr(graph, "operations", graph.layers):
        calls = [n for n in layer._inbound_nodes if id(n) in own_nodes]
        node = _node(layer, expand_nested)
        if calls:
            node.input_shapes = [t.shape for t in calls[0].input_tensors]
            node.output_shapes = [t.shape for t in calls[0].output_tensors]
        for call in calls:
            for tensor in call.input_tensors:
                source = tensor._history[0].name
                if source not in node.inbound:
                    node.inbound.append(source)
        nodes.append(node)
    inputs = [t._history[0].name for t in graph.inputs]
    outputs = [t._history[0].name for t in graph.outputs]
    return ModelGraph(model.name, nodes, inputs, outputs)
