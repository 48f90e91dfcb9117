"""Symbolic tensors (Keras's ``KerasTensor``) and the call records (``Node``) that
the Functional API builds graphs from.

``nerve.Input(shape)`` returns a ``KerasTensor``: a shape (batch axis ``None``), a
dtype, and the layer call that produced it. Calling a layer on ``KerasTensor``s
runs no arithmetic: it builds the layer if needed, checks that the inputs fit, and
records a ``Node`` whose outputs are new ``KerasTensor``s.

>>> import nerve
>>> from nerve import layers
>>> x = nerve.Input(shape=(8,))
>>> y = layers.Dense(4, name="symbolic_dense")(x)
>>> y
<KerasTensor shape=(None, 4), dtype=float32, produced by 'symbolic_dense'>
"""

from __future__ import annotations

import inspect
from typing import Any

from nerve import ops
from nerve.core import dtypes, tree
from nerve.core.errors import NerveError, ShapeError, with_location

__all__ = [
    "PLACEHOLDER_SIZE",
    "ROOMY_PLACEHOLDER_SIZE",
    "KerasTensor",
    "Node",
    "any_symbolic",
    "is_symbolic",
    "symbolic_call",
]

# The size a ``None`` (unknown) axis takes while a layer is traced abstractly; where a
# layer cannot take that (a convolution's window wider than 1), the second.
PLACEHOLDER_SIZE = 1
ROOMY_PLACEHOLDER_SIZE = 64


def _operator(op: Any) -> Any:
    def method(self: KerasTensor, other: Any) -> Any:
        return op(self, other)

    return method


def _bitwise(logical: str, bitwise: str, reflected: bool = False) -> Any:
    """``& | ^``: the logical op where both sides are bools, else the bitwise one (which
    refuses floats with the tensor operators' message)."""

    def method(self: KerasTensor, other: Any) -> Any:
        left, right = (other, self) if reflected else (self, other)
        other_dtype = getattr(other, "dtype", "bool" if isinstance(other, bool) else None)
        both_bool = self.dtype == "bool" and str(other_dtype) == "bool"
        return getattr(ops, logical if both_bool else bitwise)(left, right)

    return method


def _shift(name: str, reflected: bool = False) -> Any:
    """``<< >>``: where both sides are bools, they shift as int8, as NumPy (and nerve's
    tensors) cast them."""

    def kind(x: Any) -> Any:
        return x.dtype if hasattr(x, "dtype") else type(x)

    def method(self: KerasTensor, other: Any) -> Any:
        left, right = (other, self) if reflected else (self, other)
        if dtypes.result_type(kind(left), kind(right)) == "bool":
            left, right = ops.cast(left, "int8"), ops.cast(right, "int8")
        return getattr(ops, name)(left, right)

    return method


class KerasTensor:
    """A symbolic tensor: shape (``None`` for unknown sizes), dtype, and history.

    ``_history`` is ``(layer, node_index, tensor_index)``: the layer that made it, which
    call of that layer (its ``_inbound_nodes[node_index]``), and which of that call's
    flattened outputs.
    """

    def __init__(self, shape: tuple, dtype: Any = "float32", name: str | None = None):
        self.shape = tuple(None if d is None else int(d) for d in shape)
        self.dtype = dtypes.standardize_dtype(dtype)
        self.name = name
        self._history: tuple[Any, int, int] | None = None
        # The shape of Keras's implicit mask this tensor will carry when the model
        # runs (``None``: no mask), so that layers built on it see a mask while their
        # call is traced, as they will at run time.
        self._mask_shape: tuple | None = None

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def node(self) -> Node | None:
        """The layer call that produced this tensor."""
        if self._history is None:
            return None
        layer, node_index, _ = self._history
        return layer._inbound_nodes[node_index]

    def __repr__(self) -> str:
        origin = f", produced by {self._history[0].name!r}" if self._history else ""
        return f"<KerasTensor shape={self.shape}, dtype={self.dtype}{origin}>"

    # Python operators and indexing record the matching op as a node of the graph, as in
    # Keras; ``& | ^ ~`` are logical on bools and bitwise on integers, as on tensors.
    __add__ = _operator(lambda x, y: ops.add(x, y))
    __radd__ = _operator(lambda x, y: ops.add(y, x))
    __sub__ = _operator(lambda x, y: ops.subtract(x, y))
    __rsub__ = _operator(lambda x, y: ops.subtract(y, x))
    __mul__ = _operator(lambda x, y: ops.multiply(x, y))
    __rmul__ = _operator(lambda x, y: ops.multiply(y, x))
    __matmul__ = _operator(lambda x, y: ops.matmul(x, y))
    __rmatmul__ = _operator(lambda x, y: ops.matmul(y, x))
    __truediv__ = _operator(lambda x, y: ops.true_divide(x, y))
    __rtruediv__ = _operator(lambda x, y: ops.true_divide(y, x))
    __floordiv__ = _operator(lambda x, y: ops.floor_divide(x, y))
    __rfloordiv__ = _operator(lambda x, y: ops.floor_divide(y, x))
    __mod__ = _operator(lambda x, y: ops.mod(x, y))
    __rmod__ = _operator(lambda x, y: ops.mod(y, x))
    __pow__ = _operator(lambda x, y: ops.power(x, y))
    __rpow__ = _operator(lambda x, y: ops.power(y, x))
    __lt__ = _operator(lambda x, y: ops.less(x, y))
    __le__ = _operator(lambda x, y: ops.less_equal(x, y))
    __gt__ = _operator(lambda x, y: ops.greater(x, y))
    __ge__ = _operator(lambda x, y: ops.greater_equal(x, y))
    # ``==`` stays identity (models keep tensors in lists and compare them); Keras has
    # ``!=`` as an op and ``==`` not, and so does nerve.
    __ne__ = _operator(lambda x, y: ops.not_equal(x, y))  # type: ignore[assignment]
    __and__ = _bitwise("logical_and", "bitwise_and")
    __rand__ = _bitwise("logical_and", "bitwise_and", reflected=True)
    __or__ = _bitwise("logical_or", "bitwise_or")
    __ror__ = _bitwise("logical_or", "bitwise_or", reflected=True)
    __xor__ = _bitwise("logical_xor", "bitwise_xor")
    __rxor__ = _bitwise("logical_xor", "bitwise_xor", reflected=True)
    __lshift__ = _shift("left_shift")
    __rlshift__ = _shift("left_shift", reflected=True)
    __rshift__ = _shift("right_shift")
    __rrshift__ = _shift("right_shift", reflected=True)
    __getitem__ = _operator(lambda x, key: ops.get_item(x, key))

    def __neg__(self) -> Any:
        return ops.negative(self)

    def __pos__(self) -> Any:
        return self

    def __abs__(self) -> Any:
        return ops.absolute(self)

    def __invert__(self) -> Any:
        return ops.logical_not(self) if self.dtype == "bool" else ops.bitwise_invert(self)

    def __round__(self, ndigits: int | None = None) -> Any:
        return ops.round(self, decimals=ndigits or 0)

    __hash__ = object.__hash__

    def __iter__(self) -> Any:
        # Without this, Python would iterate through __getitem__ (x[0], x[1], ...).
        raise TypeError(
            "A symbolic tensor cannot be iterated over: its values exist only when the "
            "model runs. Index it (x[:, 0]) or split it (ops.split, ops.unstack)."
        )

    def __bool__(self) -> bool:
        raise TypeError(
            "A symbolic tensor (from nerve.Input or a layer called on one) has no value, so it "
            "cannot be used in an `if` or `while`. Put data-dependent logic inside a layer's "
            "call, or subclass nerve.Model."
        )


class Node:
    """One call of ``layer`` on symbolic arguments, with the outputs it produced."""

    def __init__(self, layer: Any, args: tuple, kwargs: dict, outputs: Any):
        self.layer = layer
        self.args = args
        self.kwargs = kwargs
        self.outputs = outputs
        self.input_tensors = [x for x in tree.flatten((args, kwargs))[0] if is_symbolic(x)]
        self.output_tensors = tree.flatten(outputs)[0]
        if getattr(layer, "_inbound_nodes", None) is None:
            object.__setattr__(layer, "_inbound_nodes", [])
        layer._inbound_nodes.append(self)
        index = len(layer._inbound_nodes) - 1
        for i, tensor in enumerate(self.output_tensors):
            tensor._history = (layer, index, i)

    @property
    def parent_nodes(self) -> list[Node]:
        return [t.node for t in self.input_tensors]

    def __repr__(self) -> str:
        counts = f"{len(self.input_tensors)} in, {len(self.output_tensors)} out"
        return f"<Node {self.layer.name!r}: {counts}>"


def is_symbolic(x: Any) -> bool:
    return isinstance(x, KerasTensor)


def any_symbolic(structure: Any) -> bool:
    return any(is_symbolic(x) for x in tree.flatten(structure)[0])


def _shape_structure(structure: Any) -> Any:
    """The same structure with every KerasTensor replaced by its shape."""
    return tree.map_structure(lambda x: x.shape if is_symbolic(x) else x, structure)


def _without_batch(shapes: Any) -> Any:
    from nerve.layers.base import map_shapes

    return map_shapes(lambda s: tuple(s[1:]) if isinstance(s, tuple) else s, shapes)


def _argument_name(layer: Any) -> str:
    params = [p for p in inspect.signature(layer.call).parameters.values()]
    return params[0].name if params else "inputs"


def _connect_error(layer: Any, input_shapes: Any, was_built: bool, error: Exception) -> Exception:
    """A newcomer-readable error for a layer that cannot take the inputs it was given."""
    kind = type(layer).__name__
    argument = _argument_name(layer)
    received = _without_batch(input_shapes)
    if was_built and layer._build_shapes is not None:
        expected = _without_batch(layer._build_shapes)
        message = (
            f"Layer {layer.name!r} ({kind}) cannot be connected here: its argument "
            f"`{argument}` expected a tensor of shape {expected} but received one of shape "
            f"{received} (shapes leave out the batch axis). The layer was built for shape "
            f"{expected} the first time it was called, and a layer keeps the input size it "
            f"was built for. Feed it a tensor of shape {expected}, or use a new {kind} layer "
            f"for this input."
        )
    else:
        message = (
            f"Layer {layer.name!r} ({kind}) cannot be connected here: it cannot accept its "
            f"argument `{argument}` of shape {received} (shapes leave out the batch axis)."
        )
    detail = str(error).split("\n  (called at")[0]
    return ShapeError(with_location(f"{message}\n  Details: {detail}"))


def _trace_call(layer: Any, args: tuple, call_kwargs: dict, placeholder: int) -> tuple[Any, Any]:
    """Run ``layer.call`` on abstract tensors, each unknown size set to ``placeholder``;
    the outputs and their masks (as ``Layer.__call__`` would attach them)."""
    from nerve.graph.trace import Trace, tracing
    from nerve.layers.base import training_scope

    trace = Trace(f"{layer.name}_symbolic")
    with tracing(trace):

        def concrete_shape(shape: tuple) -> tuple:
            return tuple(placeholder if d is None else d for d in shape)

        def abstract(x: Any) -> Any:
            if not is_symbolic(x):
                return x
            value = trace.new_input(concrete_shape(x.shape), x.dtype)
            value = layer._autocast(value) if layer.autocast else value
            if x._mask_shape is not None:
                value._keras_mask = trace.new_input(concrete_shape(x._mask_shape), "bool")
            return value

        traced_args = tree.map_structure(abstract, args)
        traced_kwargs = tree.map_structure(abstract, call_kwargs)
        previous_mask = layer._fill_mask_arguments(traced_args[0], traced_args[1:], traced_kwargs)
        with training_scope(call_kwargs.get("training")):
            outputs = layer.call(*traced_args, **traced_kwargs)
        return outputs, _output_masks(layer, traced_args[0], outputs, previous_mask)


def _output_masks(layer: Any, inputs: Any, outputs: Any, previous_mask: Any) -> list:
    """The mask each flattened output will carry at run time (``None`` for none):
    ones the layer set itself, else ``compute_mask``'s where it supports masking."""
    flat_outputs = tree.flatten(outputs)[0]
    own = [getattr(out, "_keras_mask", None) for out in flat_outputs]
    if all(mask is not None for mask in own) or not layer.supports_masking:
        return own
    try:
        masks = layer.compute_mask(inputs, previous_mask)
    except (NerveError, ValueError, TypeError, IndexError):
        return own  # checked again, with values, when the model runs
    flat_masks = [] if masks is None else tree.flatten(masks)[0]
    flat_masks += [None] * (len(flat_outputs) - len(flat_masks))
    return [m if o is None else o for o, m in zip(own, flat_masks)]


def _trace_with_room(layer: Any, args: tuple, call_kwargs: dict) -> tuple[Any, Any] | None:
    """A second try for a built layer that failed on unknown sizes of 1 (a convolution
    whose window does not fit): unknown sizes of ``ROOMY_PLACEHOLDER_SIZE``. Only for a
    layer with its own ``compute_output_shape``, which then gives the output shape, so
    the placeholder never shows in it. ``None`` where that does not apply or fails."""
    from nerve.layers.base import Layer

    unknown = any(None in x.shape[1:] for x in tree.flatten(args[0])[0] if is_symbolic(x))
    declares_shape = type(layer).compute_output_shape is not Layer.compute_output_shape
    if not (layer.built and unknown and declares_shape):
        return None
    try:
        return _trace_call(layer, args, call_kwargs, ROOMY_PLACEHOLDER_SIZE)
    except (NerveError, ValueError, IndexError):
        return None


def symbolic_call(layer: Any, args: tuple, kwargs: dict) -> Any:
    """Call ``layer`` on symbolic arguments: build it, check the inputs by tracing its
    ``call`` abstractly, and record a ``Node``; returns symbolic outputs."""
    from nerve.layers.base import Layer, map_shapes

    input_shapes = _shape_structure(args[0])
    was_built = layer.built
    call_kwargs = dict(kwargs)
    if "training" not in layer._call_signature.parameters:
        call_kwargs.pop("training", None)
    try:
        if not layer.built:
            layer._build_on_first_call(input_shapes)
        traced, masks = _trace_call(layer, args, call_kwargs, PLACEHOLDER_SIZE)
    except (NerveError, ValueError, IndexError) as error:
        retried = _trace_with_room(layer, args, call_kwargs)
        if retried is None:
            raise _connect_error(layer, input_shapes, was_built, error) from error
        traced, masks = retried

    # Unknown input sizes were traced as PLACEHOLDER_SIZE: restore None on the batch
    # axis; a layer's own compute_output_shape (if it has one) knows the other axes.
    flat_inputs = [x for x in tree.flatten(args[0])[0] if is_symbolic(x)]
    batch_unknown = (
        bool(flat_inputs) and bool(flat_inputs[0].shape) and flat_inputs[0].shape[0] is None
    )
    flat_traced, rebuild = tree.flatten(traced)
    shapes = [tuple(t.shape) for t in flat_traced]
    if batch_unknown:
        shapes = [(None, *s[1:]) if s else s for s in shapes]
    if len(flat_traced) == 1 and type(layer).compute_output_shape is not Layer.compute_output_shape:
        try:
            declared = layer.compute_output_shape(map_shapes(tuple, input_shapes))
        except Exception:  # some overrides assume known sizes; the traced shape stands
            declared = None
        valid = isinstance(declared, tuple) and len(declared) == len(shapes[0])
        if valid and all(d is None or isinstance(d, int) for d in declared):
            shapes = [declared]
    flat_outputs = [KerasTensor(s, t.dtype, name=layer.name) for s, t in zip(shapes, flat_traced)]
    for output, traced_output, mask in zip(flat_outputs, flat_traced, masks):
        if mask is None:
            continue
        mask_shape = tuple(mask.shape)
        if mask_shape == tuple(traced_output.shape)[: len(mask_shape)]:
            # The usual case, (batch, steps) of a (batch, steps, features) output: its
            # sizes are the output's, unknown ones included.
            output._mask_shape = output.shape[: len(mask_shape)]
        else:
            output._mask_shape = (None, *mask_shape[1:]) if batch_unknown else mask_shape
    outputs = rebuild(flat_outputs)
    Node(layer, tuple(args), dict(kwargs), outputs)
    return outputs
