"""``Functional``: a model that is a graph of layer calls on symbolic tensors.

``Model(inputs, outputs)`` collects the layer calls (``Node``s) between ``inputs``
and ``outputs`` in topological order (iteratively, no recursion), and calling the
model replays them on real tensors. Inputs and outputs may be one tensor, a list or
a dict; layers may be shared (called more than once) and models nest as layers.

>>> import nerve
>>> from nerve import layers, ops
>>> inputs = nerve.Input(shape=(3,), name="features")
>>> hidden = layers.Dense(4, activation="relu", name="hidden")(inputs)
>>> model = nerve.Model(inputs, layers.Dense(1, name="score")(hidden), name="scorer")
>>> type(model).__name__, [layer.name for layer in model.layers]
('Functional', ['features', 'hidden', 'score'])
>>> model(ops.ones((2, 3))).shape
(2, 1)
"""

from __future__ import annotations

from typing import Any

from nerve import ops
from nerve.core import tree
from nerve.core.errors import ShapeError, with_location
from nerve.layers.base import Layer
from nerve.layers.input_layer import InputLayer
from nerve.layers.operation import (
    Operation,
    is_operation_config,
    restore_constant,
    serialize_constant,
)
from nerve.layers.symbolic import KerasTensor, Node, is_symbolic
from nerve.models.model import Model, _jsonable, deserialize_layer, serialize_layer

__all__ = ["Functional"]


class Functional(Model):
    """A model defined by the graph of layer calls between its symbolic inputs and
    outputs, as Keras 3's Functional API; ``nerve.Model(inputs, outputs)`` returns
    one.

    Calling the model replays the layer calls on real tensors, in an order found when
    the model is made; a graph whose outputs need a tensor not computable from
    ``inputs`` is a ``ValueError`` naming the layer. Layers may be shared (called
    several times) and whole models used as layers.

    Args:
        inputs: the model's inputs, tensors from ``nerve.Input``: one tensor, a list
            (or tuple) of them, or a dict from name to tensor. Calls must pass data of
            the same structure.
        outputs: the model's outputs, symbolic tensors computed from ``inputs`` by
            layer calls (or ``nerve.ops`` on them): one tensor, a list (or tuple) or a
            dict; calling the model returns the same structure.
        name: the model's name (default ``None``: a unique ``"functional"``,
            ``"functional_1"``, ...).
        **kwargs: other ``Layer`` keyword arguments, such as ``trainable`` and
            ``dtype``.

    >>> import nerve
    >>> from nerve import layers, ops
    >>> features = nerve.Input(shape=(3,), name="features")
    >>> hidden = layers.Dense(4, activation="relu")(features)
    >>> model = nerve.Model(inputs=features, outputs={"score": layers.Dense(1)(hidden)})
    >>> type(model).__name__, model(ops.ones((2, 3)))["score"].shape
    ('Functional', (2, 1))
    """

    #: ``model(x)`` repeated on concrete inputs runs compiled (nerve.models.compiled_call).
    _compiles_calls = True

    def __init__(self, inputs: Any, outputs: Any, name: str | None = None, **kwargs: Any):
        Model.__init__(self, name=name, **kwargs)
        if isinstance(inputs, tuple):
            inputs = list(inputs)
        if isinstance(outputs, tuple):
            outputs = list(outputs)
        for role, structure in (("inputs", inputs), ("outputs", outputs)):
            for x in tree.flatten(structure)[0]:
                if not is_symbolic(x):
                    raise TypeError(
                        f"Model {self.name!r}: {role} must be symbolic tensors made with "
                        f"nerve.Input and layer calls on them, got {type(x).__name__}: {x!r}."
                    )
        self._inputs_struct = inputs
        self._outputs_struct = outputs
        self._input_tensors: list[KerasTensor] = tree.flatten(inputs)[0]
        self._output_tensors: list[KerasTensor] = tree.flatten(outputs)[0]
        self._nodes = _topological_nodes(self._input_tensors, self._output_tensors, self.name)
        self._check_connected()
        self._functional_layers = _layers_of(self._input_tensors, self._nodes)
        self.built = True
        self._build_shapes = tree.map_structure(lambda x: x.shape, inputs)

    # -- structure ----------------------------------------------------------------------
    @property
    def layers(self) -> list[Layer]:
        """The graph's layers (input layers first), each once, in call order; ops applied
        to symbolic tensors (``Operation`` nodes) are not layers, as in Keras."""
        return [layer for layer in self._functional_layers if isinstance(layer, Layer)]

    @property
    def operations(self) -> list[Any]:
        """The graph's layers and ops, each once, in call order."""
        return list(self._functional_layers)

    @property
    def inputs(self) -> list[KerasTensor]:
        return list(self._input_tensors)

    @property
    def outputs(self) -> list[KerasTensor]:
        return list(self._output_tensors)

    @property
    def input(self) -> Any:
        return self._inputs_struct

    @property
    def output(self) -> Any:
        return self._outputs_struct

    def _all_nodes(self) -> list[Node]:
        """The graph's nodes, input-layer nodes included."""
        return [_producer(t) for t in self._input_tensors] + self._nodes

    def _check_connected(self) -> None:
        known = {id(t) for t in self._input_tensors}
        for node in self._nodes:
            for tensor in node.input_tensors:
                if id(tensor) not in known:
                    source = _producer(tensor).layer
                    raise ValueError(
                        f"Model {self.name!r}: the graph is disconnected. Layer "
                        f"{node.layer.name!r} needs a tensor made by {source.name!r} "
                        f"({type(source).__name__}), which cannot be computed from the model's "
                        f"inputs {[_producer(t).layer.name for t in self._input_tensors]}. Pass "
                        "every nerve.Input the outputs depend on in Model(inputs=...)."
                    )
            known.update(id(t) for t in node.output_tensors)

    # -- running ------------------------------------------------------------------------
    def call(self, inputs: Any, training: bool | None = None, mask: Any = None) -> Any:
        values = {id(t): v for t, v in zip(self._input_tensors, self._flatten_inputs(inputs))}

        def value_of(x: Any) -> Any:
            return values[id(x)] if is_symbolic(x) else x

        for node in self._nodes:
            args = tree.map_structure(value_of, node.args)
            kwargs = tree.map_structure(value_of, node.kwargs)
            signature = getattr(node.layer, "_call_signature", None)
            if training is not None and signature and "training" in signature.parameters:
                kwargs.setdefault("training", training)
            outputs = tree.flatten(node.layer(*args, **kwargs))[0]
            values.update((id(t), v) for t, v in zip(node.output_tensors, outputs))
        _, rebuild = tree.flatten(self._outputs_struct)
        return rebuild([values[id(t)] for t in self._output_tensors])

    def _flatten_inputs(self, inputs: Any) -> list:
        """Match the call's inputs to the model's, converting dtypes and checking shapes."""
        expected = self._inputs_struct
        if isinstance(expected, dict):
            if not isinstance(inputs, dict) or set(inputs) != set(expected):
                given = sorted(inputs) if isinstance(inputs, dict) else type(inputs).__name__
                raise ValueError(
                    f"Model {self.name!r} takes a dict of inputs with keys {sorted(expected)}, "
                    f"got {given}."
                )
            flat = [inputs[k] for k in sorted(expected)]
        elif isinstance(expected, list):
            flat = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
            if isinstance(inputs, dict):
                names = [_producer(t).layer.name for t in self._input_tensors]
                flat = [inputs[n] for n in names] if set(inputs) == set(names) else [inputs]
        else:
            flat = [inputs]
            if isinstance(inputs, (list, tuple)) and len(inputs) == 1:
                flat = list(inputs)
        if len(flat) != len(self._input_tensors):
            raise ValueError(
                f"Model {self.name!r} takes {len(self._input_tensors)} inputs "
                f"{[_producer(t).layer.name for t in self._input_tensors]}, got {len(flat)}."
            )
        return [self._standardize(x, ref) for x, ref in zip(flat, self._input_tensors)]

    def _standardize(self, x: Any, ref: KerasTensor) -> Any:
        if is_symbolic(x):
            return x
        x = ops.convert_to_tensor(x)
        name = _producer(ref).layer.name
        compatible = x.ndim == ref.ndim and all(
            r is None or r == d for r, d in zip(ref.shape, x.shape)
        )
        if not compatible:
            raise ShapeError(
                with_location(
                    f"Model {self.name!r}: input {name!r} expects data of shape "
                    f"{ref.shape} (None = any size), but received shape {tuple(x.shape)}."
                )
            )
        return ops.cast(x, ref.dtype) if x.dtype != ref.dtype else x

    def compute_output_shape(self, input_shape: Any) -> Any:
        return tree.map_structure(lambda t: t.shape, self._outputs_struct)

    # -- serialization ------------------------------------------------------------------
    def get_config(self) -> dict:
        """Keras 3's Functional config: ``layers`` (each with its ``inbound_nodes``),
        ``input_layers`` and ``output_layers`` as ``[layer_name, node_index,
        tensor_index]`` in the structure of the model's inputs and outputs."""
        node_ids = {id(n) for n in self._all_nodes()}

        def local_index(node: Node) -> int:
            own = [n for n in node.layer._inbound_nodes if id(n) in node_ids]
            return next(i for i, n in enumerate(own) if n is node)

        def history(tensor: KerasTensor) -> list:
            layer, _, tensor_index = _history(tensor)
            return [layer.name, local_index(_producer(tensor)), tensor_index]

        def serialize_arg(x: Any) -> Any:
            special = serialize_constant(x)
            if special is not None:
                return special
            if is_symbolic(x):
                return {
                    "class_name": "__keras_tensor__",
                    "config": {
                        "shape": list(x.shape),
                        "dtype": x.dtype,
                        "keras_history": history(x),
                    },
                }
            if isinstance(x, (list, tuple)):
                return [serialize_arg(v) for v in x]
            if isinstance(x, dict):
                return {k: serialize_arg(v) for k, v in x.items()}
            return x

        layer_configs = []
        for layer in self._functional_layers:
            data = layer.serialize() if isinstance(layer, Operation) else serialize_layer(layer)
            data["name"] = layer.name
            data["inbound_nodes"] = [
                {"args": serialize_arg(n.args), "kwargs": serialize_arg(n.kwargs)}
                for n in layer._inbound_nodes
                if id(n) in node_ids and n.input_tensors
            ]
            layer_configs.append(data)
        return {
            "name": self.name,
            "trainable": self.trainable,
            "layers": layer_configs,
            "input_layers": _jsonable(tree.map_structure(history, self._inputs_struct)),
            "output_layers": _jsonable(tree.map_structure(history, self._outputs_struct)),
        }

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None) -> Functional:
        """Rebuild the graph: make each layer, then replay its calls once the tensors they
        take exist (shared layers may be called after layers listed later)."""
        created: dict[str, Any] = {}
        pending: dict[str, list] = {}
        for data in config["layers"]:
            if is_operation_config(data):
                layer: Any = Operation.deserialize(data)
            else:
                layer = deserialize_layer(data, custom_objects)
            name = data.get("name", layer.name)
            created[name] = layer
            pending[name] = list(data.get("inbound_nodes", []))
        # Outputs of the calls made so far, by (layer name, node index in this model).
        made: dict[tuple[str, int], list] = {}
        for name, layer in created.items():
            if isinstance(layer, InputLayer):
                made[(name, 0)] = [layer.output]

        def ready(x: Any) -> bool:
            if isinstance(x, dict) and x.get("class_name") == "__keras_tensor__":
                layer_name, node_index, _ = x["config"]["keras_history"]
                return (layer_name, node_index) in made
            if isinstance(x, list):
                return all(ready(v) for v in x)
            if isinstance(x, dict):
                return all(ready(v) for v in x.values())
            return True

        def restore(x: Any) -> Any:
            constant = restore_constant(x)
            if constant is not None:
                return constant
            if isinstance(x, dict) and x.get("class_name") == "__keras_tensor__":
                layer_name, node_index, tensor_index = x["config"]["keras_history"]
                return made[(layer_name, node_index)][tensor_index]
            if isinstance(x, list):
                return [restore(v) for v in x]
            if isinstance(x, dict):
                return {k: restore(v) for k, v in x.items()}
            return x

        while any(pending.values()):
            progress = False
            for name, nodes in pending.items():
                while nodes and ready(nodes[0]):
                    node = nodes.pop(0)
                    args = restore(node.get("args", []))
                    outputs = created[name](*args, **restore(node.get("kwargs", {})))
                    index = sum(1 for key in made if key[0] == name)
                    made[(name, index)] = tree.flatten(outputs)[0]
                    progress = True
            if not progress:
                stuck = sorted(name for name, nodes in pending.items() if nodes)
                raise ValueError(
                    f"Functional.from_config: the calls of layers {stuck} refer to tensors "
                    "that no layer in the config produces; the config is inconsistent."
                )

        def lookup(entry: Any) -> Any:
            if _is_history(entry):
                layer_name, node_index, tensor_index = entry
                return made[(layer_name, node_index)][tensor_index]
            if isinstance(entry, dict):
                return {k: lookup(v) for k, v in entry.items()}
            return [lookup(v) for v in entry]

        return cls(
            lookup(config["input_layers"]),
            lookup(config["output_layers"]),
            name=config.get("name"),
            trainable=config.get("trainable", True),
        )


def _is_history(entry: Any) -> bool:
    return (
        isinstance(entry, (list, tuple))
        and len(entry) == 3
        and isinstance(entry[0], str)
        and all(isinstance(i, int) for i in entry[1:])
    )


def _history(tensor: KerasTensor) -> tuple[Any, int, int]:
    """``(layer, node_index, tensor_index)`` of the layer call that made ``tensor``."""
    if tensor._history is None:
        raise ValueError(
            f"{tensor!r} was not made by nerve.Input or a layer call, so a model cannot trace "
            "it back to its inputs; start the graph with nerve.Input(shape=...)."
        )
    return tensor._history


def _producer(tensor: KerasTensor) -> Node:
    """The layer call (``Node``) that made ``tensor``."""
    layer, node_index, _ = _history(tensor)
    return layer._inbound_nodes[node_index]


def _topological_nodes(
    inputs: list[KerasTensor], outputs: list[KerasTensor], model_name: str
) -> list[Node]:
    """The nodes between ``inputs`` and ``outputs``, each after the nodes it reads from
    (an iterative depth-first post-order, so deep graphs don't hit the recursion limit)."""
    input_ids = {id(t) for t in inputs}
    order: list[Node] = []
    finished: set[int] = set()
    visited: set[int] = set()
    stack: list[tuple[Node, bool]] = []
    for tensor in reversed(outputs):
        if id(tensor) not in input_ids:
            stack.append((_producer(tensor), False))
    while stack:
        node, expanded = stack.pop()
        if expanded:
            if id(node) not in finished:
                finished.add(id(node))
                order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        for tensor in reversed(node.input_tensors):
            if id(tensor) not in input_ids:
                source = _producer(tensor)
                if id(source) not in visited:
                    stack.append((source, False))
    for node in order:
        if isinstance(node.layer, InputLayer):
            raise ValueError(
                f"Model {model_name!r}: the graph is disconnected. Its outputs depend on the "
                f"input {node.layer.name!r}, which is not among the model's inputs "
                f"{[_producer(t).layer.name for t in inputs]}. Add it to Model(inputs=...)."
            )
    return order


def _layers_of(inputs: list[KerasTensor], nodes: list[Node]) -> list[Any]:
    layers: list[Any] = []
    seen: set[int] = set()
    for layer in [_producer(t).layer for t in inputs] + [n.layer for n in nodes]:
        if id(layer) not in seen:
            seen.add(id(layer))
            layers.append(layer)
    return layers
