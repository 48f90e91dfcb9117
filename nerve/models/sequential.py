"""``Sequential``: a model that is a plain stack of layers, each feeding the next.

Once the input shape is known (a leading ``nerve.Input``, a first layer made with
``input_shape=``, or the first call on data) the stack is connected symbolically into a
``Functional`` graph, which checks the shapes at once and gives ``summary`` its
output shapes.

>>> import nerve
>>> from nerve import layers, ops
>>> model = nerve.Sequential([nerve.Input(shape=(4,)), layers.Dense(3), layers.Dense(1)])
>>> model.count_params(), model(ops.ones((2, 4))).shape
(19, (2, 1))
>>> unbuilt = nerve.Sequential([layers.Dense(3)])
>>> unbuilt.built, unbuilt(ops.ones((5, 2))).shape, unbuilt.built
(False, (5, 3), True)
"""

from __future__ import annotations

from typing import Any

from nerve.layers.base import Layer
from nerve.layers.input_layer import InputLayer
from nerve.layers.symbolic import KerasTensor, is_symbolic
from nerve.models.functional import Functional
from nerve.models.model import Model, _jsonable, deserialize_layer, serialize_layer

__all__ = ["Sequential"]


class Sequential(Model):
    """A model that is a plain stack of layers, each taking the previous one's output,
    as Keras 3's ``Sequential``.

    Once the input shape is known (a leading ``nerve.Input(shape=...)``, a first layer
    given ``input_shape=``, a ``build(input_shape)`` call, or the first call on data)
    the stack is connected into a graph, which checks every layer's shapes at once
    and gives ``summary`` its output shapes. ``add`` appends a layer and ``pop``
    removes the last; ``layers`` lists them (without the input layer).

    Args:
        layers: ``None`` (default: an empty model to fill with ``add``) or a list of
            layers, optionally starting with a ``nerve.Input`` tensor or an
            ``InputLayer`` that fixes the input shape.
        trainable: whether the layers' weights are trained (default ``True``;
            ``False`` freezes the whole model).
        name: the model's name (default ``None``: a unique ``"sequential"``,
            ``"sequential_1"``, ...).
        **kwargs: other ``Layer`` keyword arguments, such as ``dtype``.

    >>> import nerve
    >>> from nerve import layers
    >>> model = nerve.Sequential(name="regressor")
    >>> model.add(nerve.Input(shape=(4,)))
    >>> model.add(layers.Dense(8, activation="relu"))
    >>> model.add(layers.Dense(1))
    >>> model.name, len(model.layers), model.output_shape
    ('regressor', 2, (None, 1))
    """

    #: ``model(x)`` repeated on concrete inputs runs compiled (nerve.models.compiled_call).
    _compiles_calls = True

    # The connected graph once the input shape is known. Set with object.__setattr__,
    # so that Layer doesn't track it as a sublayer.
    _functional: Functional | None

    def __init__(
        self,
        layers: list | None = None,
        trainable: bool = True,
        name: str | None = None,
        **kwargs: Any,
    ):
        Model.__init__(self, trainable=trainable, name=name, **kwargs)
        self._layers: list[Layer] = []
        object.__setattr__(self, "_functional", None)
        for layer in layers or []:
            self.add(layer, rebuild=False)
        self._rebuild()

    # -- the stack ----------------------------------------------------------------------
    def add(self, layer: Any, rebuild: bool = True) -> None:
        """Append a layer (or a ``nerve.Input`` tensor, as the first entry only)."""
        if isinstance(layer, KerasTensor):
            if layer.node is None or not isinstance(layer.node.layer, InputLayer):
                raise TypeError(
                    f"Sequential {self.name!r}: only a nerve.Input tensor can be added, not a "
                    "tensor produced by a layer; add the layer itself instead."
                )
            layer = layer.node.layer
        if not isinstance(layer, Layer):
            raise TypeError(
                f"Sequential {self.name!r}: add() takes a layer, got {type(layer).__name__}: "
                f"{layer!r}."
            )
        if isinstance(layer, InputLayer) and self._layers:
            raise ValueError(
                f"Sequential {self.name!r}: an Input can only be the first entry, but the "
                f"model already has layers {[x.name for x in self._layers]}."
            )
        self._layers = [*self._layers, layer]  # reassigned so that Layer tracks it
        self._forget_compiled_forward()
        if rebuild:
            try:
                self._rebuild()
            except Exception:
                self.pop()  # a layer that doesn't fit leaves the model as it was
                raise
        else:
            self.built = False

    def pop(self, rebuild: bool = True) -> Layer:
        """Remove and return the last layer."""
        if not self.layers:
            raise IndexError(f"Sequential {self.name!r} has no layers to pop.")
        layer = self._layers[-1]
        self._layers = self._layers[:-1]
        self._forget_compiled_forward()
        self._tracked_layers.remove(layer)
        if rebuild:
            self._rebuild()
        return layer

    @property
    def layers(self) -> list[Layer]:
        """The layers, without the input layer (as in Keras)."""
        return [layer for layer in self._layers if not isinstance(layer, InputLayer)]

    def _rebuild(self) -> None:
        """Connect the stack into a Functional graph if its input shape is known."""
        object.__setattr__(self, "_functional", None)
        self.built = False
        if not self._layers:
            return
        first = self._layers[0]
        if not isinstance(first, InputLayer):
            declared = getattr(first, "_declared_input_shape", None)
            if declared is None:
                return  # built on the first call, from the data's shape
            self._layers = [InputLayer(shape=tuple(declared)), *self._layers]
        if len(self._layers) > 1:
            self._build_graph()

    def _input_layer(self) -> InputLayer:
        """The first layer: an ``InputLayer`` whenever the graph is (being) built."""
        first = self._layers[0]
        assert isinstance(first, InputLayer), f"{self.name}: the stack has no input layer"
        return first

    def _build_graph(self) -> None:
        input_layer = self._input_layer()
        x = input_layer.output
        for layer in self._layers[1:]:
            x = layer(x)
        graph = Functional(input_layer.output, x, name=f"{self.name}_graph")
        object.__setattr__(self, "_functional", graph)
        self.built = True
        self._build_shapes = input_layer.batch_shape

    def build(self, input_shape: Any = None) -> None:
        """Connect the layers for inputs of ``input_shape`` (its batch size is kept
        unknown, so later batches may differ)."""
        if self._functional is not None:
            return
        if input_shape is None or not isinstance(input_shape, tuple) or not input_shape:
            raise ValueError(
                f"Sequential {self.name!r} cannot be built from input shape {input_shape!r}; "
                "give a shape such as (None, 8) or start the model with nerve.Input(shape=...)."
            )
        if not self.layers:
            raise ValueError(f"Sequential {self.name!r} has no layers to build.")
        self._layers = [InputLayer(batch_shape=(None, *input_shape[1:])), *self._layers]
        self._build_graph()

    # -- running ------------------------------------------------------------------------
    def call(self, inputs: Any, training: bool | None = None, mask: Any = None) -> Any:
        if isinstance(inputs, dict):
            raise ValueError(
                f"Sequential model {self.name!r} takes one input (an array or tensor); "
                f"received a dict with keys {sorted(map(str, inputs))}. Pass the array "
                "itself, or build a Functional model with named Inputs for dict inputs."
            )
        if self._functional is not None and not is_symbolic(inputs):
            return self._functional.call(inputs, training=training)
        for layer in self.layers:
            inputs = layer(inputs, training=training)
        return inputs

    def compute_output_shape(self, input_shape: Any) -> Any:
        if self._functional is not None:
            return self._functional.compute_output_shape(input_shape)
        return super().compute_output_shape(input_shape)

    @property
    def inputs(self) -> list:
        return self._functional.inputs if self._functional is not None else []

    @property
    def outputs(self) -> list:
        return self._functional.outputs if self._functional is not None else []

    @property
    def input_shape(self) -> tuple | None:
        return self._input_layer().batch_shape if self._functional is not None else None

    @property
    def output_shape(self) -> tuple | None:
        return self.outputs[0].shape if self._functional is not None else None

    # -- serialization ------------------------------------------------------------------
    def get_config(self) -> dict:
        """Keras 3's Sequential config: ``name``, ``trainable``, the ``layers`` (the
        input layer first when there is one) and ``build_input_shape``."""
        config = {
            "name": self.name,
            "trainable": self.trainable,
            "layers": [serialize_layer(layer) for layer in self._layers],
        }
        if self._functional is not None:
            config["build_input_shape"] = _jsonable(self._input_layer().batch_shape)
        return config

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None) -> Sequential:
        layers = [deserialize_layer(data, custom_objects) for data in config.get("layers", [])]
        model = cls(layers=layers, name=config.get("name"), trainable=config.get("trainable", True))
        shape = config.get("build_input_shape")
        if not model.built and shape is not None:
            model.build(tuple(shape))
        return model
