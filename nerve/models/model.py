"""``Model``: a ``Layer`` with a training loop (``Trainer``) and a summary.

Three ways to make one, as in Keras:

* subclassing: define layers in ``__init__`` and the computation in ``call``;
* the Functional API: ``Model(inputs, outputs)`` on symbolic tensors from
  ``nerve.Input`` (``Model.__new__`` then returns a ``Functional``);
* ``nerve.Sequential([...])`` for a plain stack of layers.

>>> import nerve
>>> from nerve import layers, ops
>>> class TwoLayers(nerve.Model):
...     def __init__(self):
...         super().__init__()
...         self.hidden = layers.Dense(4, activation="relu")
...         self.out = layers.Dense(2)
...     def call(self, inputs):
...         return self.out(self.hidden(inputs))
>>> model = TwoLayers()
>>> model(ops.ones((3, 5))).shape, model.count_params()
((3, 2), 34)
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Callable
from typing import Any

from nerve.core import object_registry
from nerve.layers.base import Layer
from nerve.models.compiled_call import CompiledForward
from nerve.training.trainer import Trainer

__all__ = ["Model", "deserialize_layer", "dtype_size", "serialize_layer", "shape_size"]

_FUNCTIONAL_VERSIONS: dict[type, type] = {}


def _functional_version(cls: type, functional: type) -> type:
    """``cls`` mixed with ``Functional`` (one class per subclass, made once)."""
    version = _FUNCTIONAL_VERSIONS.get(cls)
    if version is None:
        version = type(cls.__name__, (cls, functional), {"__module__": cls.__module__})
        version.__qualname__ = cls.__qualname__
        _FUNCTIONAL_VERSIONS[cls] = version
    return version


class Model(Trainer, Layer):
    """A layer that groups layers, trains (``compile``, ``fit``, ``evaluate``,
    ``predict`` from ``Trainer``), saves and describes itself (``summary``), as Keras
    3's ``Model``.

    Subclass it (layers in ``__init__``, the computation in ``call``), or call it with
    symbolic inputs and outputs to get a ``Functional`` model; see the module
    docstring.

    Args:
        inputs, outputs: only for the Functional form, ``Model(inputs, outputs)``
            (positionally or by keyword): see ``Functional``.
        name: the model's name (default ``None``: derived from the class name).
        trainable, dtype: as for ``Layer`` (defaults ``True`` and ``None``: the global
            dtype policy).
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> Model:
        # As in Keras, only Model itself turns into a Functional model here: a
        # subclass's constructor arguments are its own (``VAE(784, 64, 32)``), and
        # ``__init__`` decides from what the subclass passes on to Model.
        if cls is Model and _is_functional_call(args, kwargs):
            from nerve.models.functional import Functional

            return Functional.__new__(Functional)
        return super().__new__(cls)

    def __init__(self, *args: Any, **kwargs: Any):
        """Model's own arguments: ``name=`` (and Layer's keywords), or ``inputs`` and
        ``outputs`` from ``nerve.Input`` to build a Functional model. A subclass that
        passes inputs and outputs on (or is called with them and has no ``__init__``)
        becomes its Functional version: the subclass's methods, such as ``train_step``,
        on top of a Functional model, as in Keras."""
        from nerve.models.functional import Functional

        if _is_functional_call(args, kwargs) and not isinstance(self, Functional):
            self.__class__ = _functional_version(type(self), Functional)
            assert isinstance(self, Functional)
            Functional.__init__(self, *args, **kwargs)
            return
        if args or "inputs" in kwargs or "outputs" in kwargs:
            raise TypeError(
                "Model(inputs, outputs) builds a Functional model from symbolic tensors made "
                "with nerve.Input; a subclass of Model passes Model's constructor only "
                f"keyword arguments such as name=. Got positional arguments {args!r} and "
                f"keyword arguments {sorted(kwargs)}."
            )
        Layer.__init__(self, **kwargs)
        if "__init__" in vars(Trainer):
            Trainer.__init__(self)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # Plain Sequential/Functional models called again and again on concrete inputs
        # run a compiled forward pass (nerve.models.compiled_call); the state lives in
        # __dict__, outside Layer's attribute tracking.
        forward = self.__dict__.get("_compiled_forward")
        if forward is None and type(self).__dict__.get("_compiles_calls"):
            forward = self.__dict__["_compiled_forward"] = CompiledForward()
        if forward is not None and forward.applies(args, kwargs):
            return forward(self, args[0])
        return Layer.__call__(self, *args, **kwargs)

    def _forget_compiled_forward(self) -> None:
        forward = self.__dict__.get("_compiled_forward")
        if forward is not None:
            forward.reset()

    def call(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(
            f"Model {self.name!r} ({type(self).__name__}) has no call method. A subclass of "
            "nerve.Model must define call(self, inputs); or build a model with "
            "nerve.Model(inputs, outputs) or nerve.Sequential([...])."
        )

    # -- layers -------------------------------------------------------------------------
    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer:
        """A layer of this model by ``index`` (in ``layers`` order) or by ``name``."""
        layers = self.layers
        if index is not None and name is not None:
            raise ValueError("get_layer: pass either name or index, not both.")
        if index is not None:
            if not -len(layers) <= index < len(layers):
                raise ValueError(
                    f"get_layer: index {index} is out of range: model {self.name!r} has "
                    f"{len(layers)} layers."
                )
            return layers[index]
        if name is not None:
            for layer in layers:
                if layer.name == name:
                    return layer
            names = [layer.name for layer in layers]
            raise ValueError(
                f"Model {self.name!r} has no layer named {name!r}; its layers: {names}."
            )
        raise ValueError("get_layer: pass a layer name or index.")

    # -- summary ------------------------------------------------------------------------
    def summary(
        self,
        line_length: int | None = None,
        positions: list[float] | None = None,
        print_fn: Callable[..., Any] | None = None,
        expand_nested: bool = False,
        show_trainable: bool = False,
    ) -> None:
        """Print a table of the model's layers, as Keras does, with two more columns.

        Columns: ``Layer (type)``, ``Output Shape``, ``Param #``, then (beyond Keras)
        ``FLOPs`` and ``Act. memory``, and for Functional models ``Connected to``
        (plus ``Trainable`` with ``show_trainable=True``). Below: total, trainable and
        non-trainable parameter counts with their size in bytes.

        **FLOPs** are per example, for one forward pass, as each layer counts them
        (``Layer.compute_flops``), a multiply-add being 2 FLOPs: ``Dense`` does
        ``2 * in * units`` per output position (``nerve.layers.base.kernel_flops``
        counts a convolution's kernel the same way). Bias additions, activations and
        layers without weights count 0, being cheap next to the products. A layer whose
        weights do not say how they are used (a 2-D weight may be a matrix product or an
        embedding table) shows ``?`` unless it defines ``compute_flops``, as do layers
        whose shapes are unknown; the total is then a lower bound. A nested model's
        FLOPs are the sum of its layers'.

        **Act. memory** is the size in bytes of the layer's outputs for one example
        (output elements times the dtype's size): what a forward pass keeps per example.

        ``line_length`` is the table's width; ``positions`` are the right edges of the
        columns, as fractions of it (all <= 1) or as character counts. ``print_fn``
        replaces ``print`` (it receives each line); ``expand_nested`` also lists the
        layers inside nested models.
        """
        from nerve.models.summary import render_summary

        render_summary(self, line_length, positions, print_fn, expand_nested, show_trainable)

    # -- saving (the formats live in nerve.saving) ---------------------------------------
    def save(self, filepath: Any, overwrite: bool = True, **kwargs: Any) -> None:
        """Save the model (config, weights, optimizer state) to a ``.keras`` file."""
        from nerve import saving

        saving.save_model(self, filepath, overwrite=overwrite, **kwargs)

    def save_weights(self, filepath: Any, overwrite: bool = True) -> None:
        """Save the weights (and optimizer state) to a ``.weights.h5`` file."""
        from nerve import saving

        saving.save_weights(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath: Any, skip_mismatch: bool = False, **kwargs: Any) -> None:
        """Load weights from a ``.weights.h5`` or ``.keras`` file."""
        from nerve import saving

        saving.load_weights(self, filepath, skip_mismatch=skip_mismatch, **kwargs)

    def to_json(self, **kwargs: Any) -> str:
        """The model's architecture (its serialized config, no weights) as a JSON string;
        ``nerve.models.model_from_json`` rebuilds it. ``kwargs`` go to ``json.dumps``.

        >>> from nerve import layers, models
        >>> m = models.Sequential([layers.Input((2,)), layers.Dense(1)])
        >>> '"class_name": "Sequential"' in m.to_json()
        True
        """
        import json

        from nerve import saving

        return json.dumps(saving.serialize_keras_object(self), **kwargs)

    # -- serialization ------------------------------------------------------------------
    def get_config(self) -> dict:
        """A subclassed model's config is its ``name`` and ``trainable`` only (as in Keras,
        override ``get_config``/``from_config`` to add constructor arguments)."""
        return {"name": self.name, "trainable": self.trainable}

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None) -> Model:
        """``cls(**config)``; a Functional config (one with ``input_layers``) rebuilds
        the graph, as ``keras.Model.from_config`` does."""
        from nerve.models.functional import Functional

        if "input_layers" in config and "output_layers" in config:
            # Functional's from_config run for cls. mypy types a bound classmethod as a plain
            # callable, though it has __func__.
            return Functional.from_config.__func__(  # type: ignore[attr-defined]
                Functional if cls is Model else cls, config, custom_objects
            )
        return cls(**config)


def _is_functional_call(args: tuple, kwargs: dict) -> bool:
    return (
        len(args) >= 2
        or ("inputs" in kwargs and "outputs" in kwargs)
        or (len(args) == 1 and "outputs" in kwargs)
    )


# -- layer (de)serialization, shared by Sequential and Functional -----------------------
def _module_of(layer: Layer) -> str:
    from nerve.models.functional import Functional
    from nerve.models.sequential import Sequential

    if isinstance(layer, Sequential):
        return "keras"
    if isinstance(layer, Functional):
        return "keras.src.models.functional"
    if type(layer).__module__.startswith("nerve.layers"):
        return "keras.layers"
    return type(layer).__module__


def serialize_layer(layer: Layer) -> dict:
    """Keras 3's form of a layer in a config: ``module``, ``class_name``, ``config``,
    ``registered_name`` and ``build_config`` (the shape it was built for)."""
    from nerve.layers.input_layer import InputLayer

    builtin = _module_of(layer).startswith("keras")
    saving = _saving()
    registered = saving.get_registered_name(type(layer)) if saving else type(layer).__name__
    data = {
        "module": _module_of(layer),
        "class_name": object_registry.keras_class_name(type(layer)),
        "config": layer.get_config(),
        "registered_name": None if builtin else registered,
    }
    if hasattr(layer, "get_build_config"):
        build_config = layer.get_build_config()  # a layer with Keras's own form of it
        if build_config is not None:
            data["build_config"] = _jsonable(build_config)
    elif layer.built and layer._build_shapes is not None and not isinstance(layer, InputLayer):
        data["build_config"] = {"input_shape": _jsonable(layer._build_shapes)}
    return data


def deserialize_layer(data: dict, custom_objects: dict | None = None) -> Layer:
    """Rebuild a layer from ``serialize_layer``'s output. Classes are found in
    ``custom_objects`` (by ``registered_name`` or ``class_name``), then (when
    ``nerve.saving`` is loaded) in ``custom_object_scope`` and the classes registered
    with ``register_keras_serializable``, then among nerve's layers and models."""
    cls = _find_class(data, custom_objects or {})
    config = data.get("config", {})
    if isinstance(cls, type) and issubclass(cls, Model):
        return cls.from_config(config, custom_objects=custom_objects)
    return cls.from_config(config)


def _find_class(data: dict, custom_objects: dict) -> type[Layer]:
    from nerve import layers as nerve_layers
    from nerve.models.functional import Functional
    from nerve.models.sequential import Sequential

    class_name = data.get("class_name")
    saving = _saving()
    for key in (data.get("registered_name"), class_name):
        if key and key in custom_objects:
            return custom_objects[key]
        found = saving.get_registered_object(key) if saving and key else None
        if found is not None:
            return found
    builtins = {"Functional": Functional, "Sequential": Sequential, "Model": Functional}
    if class_name in builtins:
        return builtins[class_name]
    found = getattr(nerve_layers, class_name or "", None)
    if isinstance(found, type) and issubclass(found, Layer):
        return found
    raise ValueError(
        f"Unknown layer class {class_name!r} in a model config. If it is your own Layer "
        "subclass, pass it in custom_objects={" + repr(class_name) + ": YourClass}."
    )


def _saving() -> Any:
    """``nerve.saving`` if it has been imported, else ``None``. It sits above models in
    the layout, so models never import it; when loaded, its registry of custom classes
    (``register_keras_serializable``, ``custom_object_scope``) is used too."""
    return sys.modules.get("nerve.saving")


def _jsonable(value: Any) -> Any:
    """Tuples as lists, recursively (what a JSON round trip gives back)."""
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def dtype_size(dtype: str) -> int:
    """Bytes per element of a dtype name (``float32`` -> 4; ``bool`` -> 1)."""
    bits = re.search(r"\d+", dtype)
    return int(bits.group()) // 8 if bits else 1


def shape_size(shape: tuple) -> int | None:
    """Elements per example (batch axis left out); ``None`` if an axis is unknown."""
    rest = shape[1:]
    return None if any(d is None for d in rest) else math.prod(rest)
