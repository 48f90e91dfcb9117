"""``Layer``: Keras 3's layer contract.

* configuration in ``__init__`` (everything ``get_config`` returns);
* weights in ``build(input_shape)``, made with ``add_weight``, called once, on
  the first call, with the shape of the first input (batch axis included);
* the computation in ``call(inputs, training=None, ...)``;
* optionally, its cost in ``compute_flops(input_shape, output_shape)``, which
  ``Model.summary`` reports (layers with weights say how they use them).

Layers assigned as attributes (alone, or in lists and dicts) are tracked, so
``weights``, ``trainable_weights``, ``losses`` and ``trainable`` cover the whole
tree. ``training`` flows from an outer call to inner layers that accept it.

>>> import nerve
>>> from nerve import layers, ops
>>> class Scale(layers.Layer):
...     def build(self, input_shape):
...         self.factor = self.add_weight(shape=(input_shape[-1],), initializer="ones")
...     def call(self, inputs):
...         return inputs * self.factor
>>> scale = Scale(name="scale")
>>> scale(ops.ones((2, 3))).shape, [w.path for w in scale.weights]
((2, 3), ['scale/variable'])
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
import math
import re
import warnings
from collections.abc import Iterator
from typing import Any

from nerve import initializers, ops
from nerve.core import config as nerve_config
from nerve.core import dtypes, global_state, symbolic, tree
from nerve.core.errors import NerveError, ShapeError, with_location
from nerve.graph.trace import init_scope
from nerve.layers.symbolic import Node, any_symbolic, symbolic_call
from nerve.tensor import Tensor, Variable

__all__ = [
    "DTypePolicy",
    "Layer",
    "dtype_policy",
    "kernel_flops",
    "map_shapes",
    "set_dtype_policy",
    "training_scope",
    "unique_name",
]

_training: contextvars.ContextVar[bool | None] = contextvars.ContextVar(
    "nerve_training", default=None
)


def _snake_case(name: str) -> str:
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    # As Keras: no break between a digit and a capital ("Conv2D" -> "conv2d").
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def unique_name(base: str) -> str:
    """``base``, then ``base_1``, ``base_2``, ... (Keras's automatic layer names, counted
    by ``get_uid`` so ``clear_session`` starts them over)."""
    count = global_state.get_uid(base) - 1
    return base if count == 0 else f"{base}_{count}"


@contextlib.contextmanager
def training_scope(training: bool | None) -> Iterator[None]:
    """Set the ``training`` value that layers receive when a call doesn't pass one."""
    token = _training.set(training)
    try:
        yield
    finally:
        _training.reset(token)


class DTypePolicy:
    """Which dtype a layer computes in and which it stores its variables in.

    ``"mixed_float16"`` / ``"mixed_bfloat16"`` compute in half precision and keep
    float32 variables, as Keras's mixed precision does.

    Args:
        name: a dtype name (``"float32"``, ``"float64"``, ``"bfloat16"``, ...), used for
            both computing and storing, or ``"mixed_float16"`` / ``"mixed_bfloat16"``;
            ``None`` means ``nerve.config.floatx()``.

    >>> policy = DTypePolicy("mixed_float16")
    >>> policy.compute_dtype, policy.variable_dtype
    ('float16', 'float32')
    """

    def __init__(self, name: str | None = None):
        name = name or nerve_config.floatx()
        if name.startswith("mixed_"):
            self.compute_dtype = dtypes.standardize_dtype(name[len("mixed_") :])
            self.variable_dtype = "float32"
        else:
            self.compute_dtype = self.variable_dtype = dtypes.standardize_dtype(name)
        self.name = name

    def __repr__(self) -> str:
        return f"<DTypePolicy {self.name!r}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DTypePolicy) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)

    def get_config(self) -> dict:
        return {"name": self.name}

    @classmethod
    def from_config(cls, config: dict) -> DTypePolicy:
        return cls(**config)


# The policy layers built with dtype=None use (Keras's global dtype policy); None means
# the floatx policy, so set_floatx keeps working as before.
_global_policy: DTypePolicy | None = None


def dtype_policy() -> DTypePolicy:
    """The policy of layers made without ``dtype`` (Keras's ``keras.config.dtype_policy``).

    >>> dtype_policy().name
    'float32'
    """
    return _global_policy if _global_policy is not None else DTypePolicy(None)


def set_dtype_policy(policy: Any) -> None:
    """Make ``policy`` (a ``DTypePolicy`` or a name such as ``"mixed_float16"``) the
    policy of layers made from now on without ``dtype``; ``None`` restores the default.

    >>> set_dtype_policy("mixed_bfloat16"); dtype_policy().compute_dtype
    'bfloat16'
    >>> set_dtype_policy(None)
    """
    global _global_policy
    if policy is None or isinstance(policy, DTypePolicy):
        _global_policy = policy
        return
    if not isinstance(policy, str):
        raise ValueError(
            f"set_dtype_policy expects a DTypePolicy or a policy name such as "
            f"'mixed_float16'; got {type(policy).__name__}."
        )
    _global_policy = DTypePolicy(policy)


class Layer:
    """Base class of all layers; see the module docstring for the contract
    (``__init__`` / ``build`` / ``call`` / ``get_config``).

    Subclasses pass the arguments below on through ``**kwargs``; every built-in layer
    accepts them.

    Args:
        activity_regularizer: an optional penalty on the layer's output, added to
            ``losses`` after each call.
        trainable: whether the layer's weights are updated by training (true by
            default); setting ``layer.trainable`` later freezes or unfreezes it and
            every layer inside it.
        dtype: the layer's dtype policy: ``None`` (the global policy, float32 unless
            set otherwise), a dtype name such as ``"float64"``, a policy name such as
            ``"mixed_float16"``, or a ``DTypePolicy``.
        autocast: whether float inputs are cast to the compute dtype before ``call``
            (true by default).
        name: the layer's name, unique within a model; by default the class name in
            snake case, numbered (``dense``, ``dense_1``, ...).

    Call arguments:
        inputs: a tensor or a nested structure of tensors.
        training: passed on to ``call`` when it takes it; ``None`` inherits the value
            of the enclosing call (``fit`` sets it to true).
        mask: passed on to ``call`` when it takes it; by default the implicit mask
            the inputs carry.

    >>> from nerve import layers, ops
    >>> dense = layers.Dense(2, name="head", trainable=False, dtype="float64")
    >>> y = dense(ops.ones((1, 3)))
    >>> dense.name, y.dtype, len(dense.trainable_weights), len(dense.weights)
    ('head', 'float64', 0, 2)
    """

    # Set with object.__setattr__ in __init__, ahead of the tracking __setattr__ below.
    _tracked_layers: list[Layer]
    # The layer's calls on symbolic tensors; made by the first one (symbolic.Node).
    _inbound_nodes: list[Node]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # As in Keras, calling build() directly marks the layer built, so its first call
        # doesn't build (and create weights) a second time.
        build = cls.__dict__.get("build")
        if build is not None and not getattr(build, "_marks_built", False):

            @functools.wraps(build)
            def marking_build(self: Layer, *args: Any, **kw: Any) -> None:
                build(self, *args, **kw)
                self.built = True
                if self._build_shapes is None and args:
                    self._build_shapes = args[0]

            marking_build._marks_built = True  # type: ignore[attr-defined]
            # Wrapping the subclass's own build is the point; mypy forbids any method rebind.
            cls.build = marking_build  # type: ignore[method-assign]

    def __init__(
        self,
        *,
        activity_regularizer: Any = None,
        trainable: bool = True,
        dtype: Any = None,
        autocast: bool = True,
        name: str | None = None,
        **kwargs: Any,
    ):
        # input_shape / input_dim: Keras lets the first layer of a Sequential declare it.
        self._declared_input_shape = kwargs.pop("input_shape", None)
        if "input_dim" in kwargs:
            self._declared_input_shape = (kwargs.pop("input_dim"),)
        kwargs.pop("shared_object_id", None)  # Keras config bookkeeping, no meaning here
        if isinstance(dtype, dict):  # a serialized Keras DTypePolicy
            dtype = dtype.get("config", {}).get("name")
        if kwargs:
            raise TypeError(
                f"{type(self).__name__} got unexpected keyword arguments: {sorted(kwargs)}."
            )
        object.__setattr__(self, "_tracked_layers", [])
        self._own_weights: list[Variable] = []
        self._regularized: list[tuple[Variable, Any]] = []
        self._activity_losses: list[Tensor] = []
        self.name = name or unique_name(_snake_case(type(self).__name__))
        self._trainable = bool(trainable)
        if dtype is None:
            self.dtype_policy = dtype_policy()
        else:
            self.dtype_policy = dtype if isinstance(dtype, DTypePolicy) else DTypePolicy(dtype)
        self.autocast = autocast
        from nerve import regularizers

        self.activity_regularizer = regularizers.get(activity_regularizer)
        self.built = False
        self._build_shapes: Any = None
        self._call_signature = inspect.signature(self.call)

    # -- attribute tracking -----------------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        tracked = getattr(self, "_tracked_layers", None)
        if tracked is not None and not name.startswith("_tracked"):
            for layer in _layers_in(value):
                if layer is not self and not any(layer is t for t in tracked):
                    tracked.append(layer)
        object.__setattr__(self, name, value)

    @property
    def layers(self) -> list[Layer]:
        """Directly tracked sublayers, in the order they were assigned."""
        return list(self._tracked_layers)

    def _flatten_layers(self) -> Iterator[Layer]:
        """This layer and every layer below it, each once, depth first."""
        seen: set[int] = set()
        stack = [self]
        while stack:
            layer = stack.pop()
            if id(layer) in seen:
                continue
            seen.add(id(layer))
            yield layer
            stack.extend(reversed(layer._tracked_layers))

    # -- dtypes -----------------------------------------------------------------------
    @property
    def dtype(self) -> str:
        """The variable dtype (Keras's ``layer.dtype``)."""
        return self.dtype_policy.variable_dtype

    @property
    def compute_dtype(self) -> str:
        return self.dtype_policy.compute_dtype

    @property
    def variable_dtype(self) -> str:
        return self.dtype_policy.variable_dtype

    # -- weights ------------------------------------------------------------------------
    def add_weight(
        self,
        shape: Any = None,
        initializer: Any = None,
        dtype: Any = None,
        trainable: bool = True,
        autocast: bool = True,
        regularizer: Any = None,
        constraint: Any = None,
        name: str | None = None,
    ) -> Variable:
        """Create a weight variable owned by this layer.

        The default initializer is ``"glorot_uniform"`` for float weights and
        ``"zeros"`` otherwise, as in Keras.
        """
        from nerve import constraints, regularizers

        shape = () if shape is None else tuple(int(d) for d in shape)
        dtype = dtypes.standardize_dtype(dtype or self.variable_dtype)
        if initializer is None:
            initializer = "glorot_uniform" if dtypes.is_float(dtype) else "zeros"
        init = initializers.get(initializer)
        name = name or "variable"
        # A layer built during a traced call still gets concrete weights.
        with init_scope():
            variable = initializers.new_variable(
                (lambda: init(shape, dtype=dtype))
                if dtypes.is_float(dtype)
                else (lambda: ops.zeros(shape, dtype)),
                shape,
                dtype,
                trainable=trainable,
                name=name,
                constraint=constraints.get(constraint),
                path=f"{self.name}/{name}",
            )
        self._own_weights.append(variable)
        regularizer = regularizers.get(regularizer)
        if regularizer is not None:
            self._regularized.append((variable, regularizer))
        return variable

    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        """Freeze or unfreeze this layer and every layer below it."""
        for layer in self._flatten_layers():
            layer._trainable = bool(value)

    @property
    def weights(self) -> list[Variable]:
        """All weights of this layer and its sublayers, each once."""
        seen: set[int] = set()
        out = []
        for layer in self._flatten_layers():
            for w in layer._own_weights:
                if id(w) not in seen:
                    seen.add(id(w))
                    out.append(w)
        return out

    @property
    def trainable_weights(self) -> list[Variable]:
        if not self.trainable:
            return []
        out, seen = [], set()
        for layer in self._flatten_layers():
            if not layer.trainable:
                continue
            for w in layer._own_weights:
                if w.trainable and id(w) not in seen:
                    seen.add(id(w))
                    out.append(w)
        return out

    @property
    def non_trainable_weights(self) -> list[Variable]:
        trainable = {id(w) for w in self.trainable_weights}
        return [w for w in self.weights if id(w) not in trainable]

    variables = weights
    trainable_variables = trainable_weights
    non_trainable_variables = non_trainable_weights

    def count_params(self) -> int:
        """The number of scalars in all weights."""
        if not self.built:
            raise ValueError(
                f"Layer {self.name!r} is not built yet, so it has no weights to count. "
                "Call it on data (or call build(input_shape)) first."
            )
        return sum(w.size for w in self.weights)

    def get_weights(self) -> list:
        """The weights' values as NumPy arrays."""
        return [w.numpy() for w in self.weights]

    def set_weights(self, weights: list) -> None:
        """Replace the weights' values (same order and shapes as ``get_weights``)."""
        own = self.weights
        if len(weights) != len(own):
            raise ValueError(
                f"Layer {self.name!r} has {len(own)} weights but set_weights got {len(weights)}."
            )
        for variable, value in zip(own, weights):
            shape = tuple(getattr(value, "shape", ()))
            if shape != variable.shape:
                raise ShapeError(
                    f"Layer {self.name!r}: weight {variable.path!r} has shape {variable.shape}, "
                    f"but the value given has shape {shape}."
                )
            variable.assign(value)

    # -- losses -------------------------------------------------------------------------
    @property
    def losses(self) -> list[Tensor]:
        """Weight-regularization losses (recomputed on each access, so they follow the
        current weights) and activity-regularization losses of the last call."""
        out: list[Tensor] = []
        for layer in self._flatten_layers():
            out.extend(regularizer(v) for v, regularizer in layer._regularized)
            out.extend(layer._activity_losses)
        return out

    def add_loss(self, loss: Any) -> None:
        """Add a loss term (e.g. an activity penalty) computed in ``call``."""
        self._activity_losses.append(ops.convert_to_tensor(loss))

    # -- building and calling -----------------------------------------------------------
    def build(self, input_shape: Any) -> None:
        """Create weights from the input shape; layers without weights need not override."""

    def call(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        return inputs

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not args:
            raise TypeError(f"Layer {self.name!r} was called without inputs.")
        if any_symbolic((args, kwargs)):
            # Functional API: record a node between symbolic tensors, compute nothing.
            return symbolic_call(self, args, kwargs)
        inputs, rest = _to_tensors(args[0]), args[1:]
        if "training" in self._call_signature.parameters:
            if kwargs.get("training") is None:
                kwargs["training"] = _training.get()
        else:
            kwargs.pop("training", None)
        previous_mask = self._fill_mask_arguments(inputs, rest, kwargs)
        if not self.built:
            self._build_on_first_call(inputs)
        self._activity_losses = []
        if self.autocast:
            inputs = tree.map_structure(self._autocast, inputs)
        with training_scope(kwargs.get("training", _training.get())):
            outputs = self.call(inputs, *rest, **kwargs)
        if self.activity_regularizer is not None:
            for out in tree.flatten(outputs)[0]:
                batch = out.shape[0] if out.ndim else 1
                self.add_loss(self.activity_regularizer(out) / float(max(batch, 1)))
        if previous_mask is not None or self._computes_mask:
            self._attach_output_masks(inputs, outputs, previous_mask)
        return outputs

    # -- the Functional graph (Keras's Layer.input / Layer.output) -------------------------
    def _first_node(self, what: str) -> Any:
        nodes = getattr(self, "_inbound_nodes", None)
        if not nodes:
            raise AttributeError(
                f"Layer {self.name!r} has never been called on symbolic tensors (from "
                f"nerve.Input), so it has no defined {what}."
            )
        return nodes[0]

    @property
    def input(self) -> Any:
        """The symbolic input of the layer's first call in a Functional graph, for
        feature extraction: ``Model(model.inputs, model.get_layer("x").input)``."""
        return self._first_node("input").args[0]

    @property
    def output(self) -> Any:
        """The symbolic output of the layer's first call in a Functional graph:
        ``Model(model.inputs, model.get_layer("x").output)`` truncates a model."""
        return self._first_node("output").outputs

    # -- masks (Keras's implicit masking) ----------------------------------------------
    @property
    def supports_masking(self) -> bool:
        """Whether the layer passes a mask on (through ``compute_mask``): true for
        layers that override ``compute_mask`` or set ``supports_masking = True``."""
        explicit = self.__dict__.get("_supports_masking")
        if explicit is not None:
            return explicit
        return self._passes_masks or self._computes_mask

    @supports_masking.setter
    def supports_masking(self, value: bool) -> None:
        self.__dict__["_supports_masking"] = bool(value)

    #: Built-in layers that leave the time/feature layout alone pass masks on (Keras
    #: sets ``supports_masking = True`` in the same ones).
    _passes_masks = False

    @property
    def _computes_mask(self) -> bool:
        return type(self).compute_mask is not Layer.compute_mask

    def compute_mask(self, inputs: Any, previous_mask: Any = None) -> Any:
        """The mask of the outputs: by default the input's mask, unchanged."""
        return previous_mask

    def _fill_mask_arguments(self, inputs: Any, rest: tuple, kwargs: dict) -> Any:
        """Hand the inputs' implicit masks to ``call``'s ``mask`` parameter, and another
        argument's (positional or keyword) to ``<name>_mask`` (e.g. ``value`` ->
        ``value_mask``), where the caller passed none; the mask that ``compute_mask``
        starts from."""
        input_mask = _mask_of(inputs)
        takes_mask, sources = _mask_parameters(tuple(self._call_signature.parameters))
        if takes_mask and kwargs.get("mask") is None and input_mask is not None:
            kwargs["mask"] = input_mask
        for name, position, mask_name in sources:
            if kwargs.get(mask_name) is not None:
                continue
            if name in kwargs:
                value = kwargs[name]
            elif position is not None and position < len(rest):
                value = rest[position]
            else:
                continue
            mask = _mask_of(value)
            if mask is not None:
                kwargs[mask_name] = mask
        explicit = kwargs.get("mask")
        return explicit if explicit is not None else input_mask

    def _attach_output_masks(self, inputs: Any, outputs: Any, previous_mask: Any) -> None:
        if not self.supports_masking:
            if previous_mask is None:
                return
            warnings.warn(
                f"Layer {self.name!r} ({type(self).__name__}) does not support masking, "
                "but its input carries a mask (from Embedding(mask_zero=True) or Masking); "
                "the mask stops here and later layers will not see it.",
                stacklevel=3,
            )
            return
        flat_outputs = [out for out in tree.flatten(outputs)[0] if isinstance(out, Tensor)]
        if all(getattr(out, "_keras_mask", None) is not None for out in flat_outputs):
            return  # the layer set its own output masks
        masks = self.compute_mask(inputs, previous_mask)
        if masks is None:
            return
        # As Keras: masks pair with outputs in order (a single mask goes to the first).
        flat_masks = tree.flatten(masks)[0]
        for out, mask in zip(flat_outputs, flat_masks):
            if mask is not None and getattr(out, "_keras_mask", None) is None:
                out._keras_mask = mask

    def _cast(self, variable: Variable) -> Tensor:
        """A weight in the compute dtype (mixed precision keeps float32 variables)."""
        if variable.dtype == self.compute_dtype or not dtypes.is_float(variable.dtype):
            return variable
        return ops.cast(variable, self.compute_dtype)

    def _autocast(self, x: Any) -> Any:
        if isinstance(x, Tensor) and dtypes.is_float(x.dtype) and x.dtype != self.compute_dtype:
            return ops.cast(x, self.compute_dtype)
        return x

    def _build_on_first_call(self, inputs: Any) -> None:
        shapes = tree.map_structure(
            lambda x: tuple(x.shape) if isinstance(x, Tensor) else x, inputs
        )
        try:
            self.build(shapes)
        except NerveError:
            raise
        except (ValueError, TypeError, IndexError) as error:
            raise type(error)(
                with_location(
                    f"Layer {self.name!r} ({type(self).__name__}) could not be built for "
                    f"inputs of shape {shapes}: {error}"
                )
            ) from error
        self.built = True
        # Built while traced with a symbolic batch size: the saved shape says None there.
        self._build_shapes = symbolic.erase(shapes)

    def compute_output_shape(self, input_shape: Any) -> Any:
        """Output shape for ``input_shape`` (``None`` for unknown sizes), found by running
        ``call`` on abstract tensors (the graph tracer) unless a layer overrides it."""
        from nerve.graph.trace import Trace, tracing

        known = map_shapes(lambda shape: tuple(1 if d is None else d for d in shape), input_shape)
        if not self.built:
            self._build_on_first_call(map_shapes(lambda s: ops.zeros(s, self.compute_dtype), known))
        trace = Trace(f"{self.name}_shape")
        with tracing(trace):
            inputs = map_shapes(lambda s: trace.new_input(s, self.compute_dtype), known)
            outputs = self.call(inputs)
        return tree.map_structure(
            lambda out: _restore_unknown(tuple(out.shape), input_shape), outputs
        )

    def compute_flops(self, input_shape: Any, output_shape: Any) -> int | None:
        """Forward FLOPs per example (batch axis left out), or ``None`` if unknown.

        ``input_shape`` and ``output_shape`` have the form ``compute_output_shape``
        takes and returns (batch axis included, ``None`` for unknown sizes); either is
        ``None`` when the caller does not know it. A multiply-add counts as 2 FLOPs.
        Elementwise work (bias additions, activations) counts as 0, being cheap next to
        products, and so does a table lookup.

        The default knows only that a layer without weights (of its own or its
        sublayers') costs 0; for a layer with weights it answers ``None``, because the
        weights' shapes do not say how they are used: a 2-D weight may be a matrix
        product or an embedding table. A layer with weights overrides this method;
        ``kernel_flops`` counts a kernel applied at every output position.

        >>> from nerve import layers
        >>> layers.Flatten().compute_flops((None, 2, 3), (None, 6))
        0
        >>> layers.Dense(10).compute_flops((None, 64), (None, 10))  # 2 * 64 * 10
        1280
        """
        return None if self.weights else 0

    # -- serialization -------------------------------------------------------------------
    def get_config(self) -> dict:
        """The constructor arguments; subclasses add theirs."""
        from nerve import regularizers

        config = {"name": self.name, "trainable": self.trainable, "dtype": self.dtype_policy.name}
        if self.activity_regularizer is not None:
            config["activity_regularizer"] = regularizers.serialize(self.activity_regularizer)
        return config

    @classmethod
    def from_config(cls, config: dict) -> Layer:
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


def _layers_in(value: Any) -> list[Layer]:
    if isinstance(value, Layer):
        return [value]
    if isinstance(value, (list, tuple)):
        return [x for v in value for x in _layers_in(v)]
    if isinstance(value, dict):
        return [x for v in value.values() for x in _layers_in(v)]
    return []


def _to_tensors(inputs: Any) -> Any:
    def convert(x):
        if isinstance(x, Tensor) or x is None:
            return x
        if hasattr(x, "shape") and hasattr(x, "dtype"):
            return ops.convert_to_tensor(x)
        if isinstance(x, (int, float, bool)):
            return ops.convert_to_tensor(x)
        return x

    return tree.map_structure(convert, inputs)


def map_shapes(fn: Any, shapes: Any) -> Any:
    """Apply ``fn`` to every shape in a nested structure of shapes (a shape, a tuple of
    ints and ``None``, is a leaf here, not a sequence)."""
    if _is_shape(shapes):
        return fn(shapes)
    if isinstance(shapes, dict):
        return {k: map_shapes(fn, v) for k, v in shapes.items()}
    if isinstance(shapes, (list, tuple)):
        return type(shapes)(map_shapes(fn, v) for v in shapes)
    return fn(shapes)


def kernel_flops(kernel_shape: tuple, output_shape: tuple | None) -> int | None:
    """FLOPs per example of a kernel ``(..., in, out)`` applied at every position of a
    channels-last output ``(batch, ..., out)``, as in a dense or convolution layer:
    each of the ``output elements / out`` positions does one multiply-add per kernel
    element, and a multiply-add is 2 FLOPs. ``None`` if a size is unknown.

    >>> kernel_flops((64, 10), (None, 10))  # Dense(10) on 64 features
    1280
    >>> kernel_flops((3, 3, 2, 4), (None, 6, 6, 4))  # 3x3 convolution, 2 -> 4 channels
    5184
    """
    if output_shape is None or len(output_shape) < 2:
        return None
    if any(d is None for d in (*kernel_shape, *output_shape[1:])):
        return None
    return 2 * math.prod(output_shape[1:-1]) * math.prod(kernel_shape)


def _first_shape(shapes: Any) -> tuple:
    if _is_shape(shapes):
        return shapes
    values = shapes.values() if isinstance(shapes, dict) else shapes
    return _first_shape(next(iter(values))) if values else ()


@functools.lru_cache(maxsize=1024)
def _mask_parameters(names: tuple[str, ...]) -> tuple[bool, tuple]:
    """Read once per ``call`` parameter list (not on every call): whether ``call``
    takes ``mask``, and each argument ``name`` with a ``<name>_mask`` parameter, as
    ``(name, index among the arguments after the first, or None, "<name>_mask")``."""
    sources = tuple(
        (name, index - 1 if index >= 1 else None, f"{name}_mask")
        for index, name in enumerate(names)
        if f"{name}_mask" in names
    )
    return "mask" in names, sources


def _mask_of(value: Any) -> Any:
    """The implicit mask(s) of a tensor or structure of tensors; ``None`` if none has
    one."""
    if isinstance(value, Tensor):
        return getattr(value, "_keras_mask", None)
    if not isinstance(value, (list, tuple, dict)):
        return None
    masks = tree.map_structure(lambda x: getattr(x, "_keras_mask", None), value)
    return masks if any(m is not None for m in tree.flatten(masks)[0]) else None


def _restore_unknown(out_shape: tuple, input_shape: Any) -> tuple:
    """Put ``None`` back on the batch axis when the input's batch size was unknown."""
    first = _first_shape(input_shape)
    batch_unknown = bool(first) and first[0] is None
    if batch_unknown and out_shape:
        return (None, *out_shape[1:])
    return out_shape


def _is_shape(x: Any) -> bool:
    return isinstance(x, tuple) and all(
        d is None or (isinstance(d, int) and not isinstance(d, bool)) for d in x
    )
