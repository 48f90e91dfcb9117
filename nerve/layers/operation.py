"""Ops on symbolic tensors: any ``nerve.ops`` function, Python operator or slice
applied to ``KerasTensor``s becomes an ``Operation`` node of the Functional graph.

An ``Operation`` is one call of one public op with its static arguments (Keras's
``keras.src.ops`` classes: ``Mean(axis, keepdims)`` called on ``x``). Its output's
shape and dtype come from running the op on abstract tensors (no arithmetic), once
with each unknown size set to one placeholder and once to another: the axes that
differ are unknown (``None``) in the result. The model runs the op itself, so
gradients flow through it as through any op.

Configs use Keras 3's form (``module`` ``keras.src.ops.numpy``, ``class_name``
``Mean``, the static arguments in ``config``, the tensors in the node), so files
cross both ways; ops Keras has no class for are saved as ``module`` ``nerve.ops``
with the op's public name. Loading builds only ops found in that table or among
nerve's public ops: nothing named by a file is imported.

>>> import nerve
>>> from nerve import activations, ops
>>> x = nerve.Input(shape=(6,))
>>> y = ops.mean(x[:, :4] * 2.0, axis=-1, keepdims=True)
>>> y.shape, y.dtype, y.node.layer.op
((None, 1), 'float32', 'mean')
>>> model = nerve.Model(x, y)
>>> model(ops.ones((2, 6))).numpy().tolist()
[[2.0], [2.0]]
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable
from typing import Any

from nerve import activations, ops
from nerve.core import config as core_config
from nerve.core import tree
from nerve.core.errors import NerveError, ShapeError, with_location
from nerve.layers.base import unique_name
from nerve.layers.symbolic import KerasTensor, Node, any_symbolic, is_symbolic
from nerve.ops import _dispatch

__all__ = ["Operation", "is_operation_config", "restore_constant", "serialize_constant"]

# Two sizes for unknown axes while an op is evaluated abstractly: an output axis whose
# size differs between them depends on an unknown size, so it is unknown. Pairs are
# tried in order until one fits the op (a reshape to (-1, 5) needs a multiple of 5).
_PLACEHOLDER_PAIRS = ((2, 3), (60, 120), (1, 2))

# Keras arguments spelled differently in nerve (function -> {Keras name: nerve name}).
_RENAMED = {"reshape": {"newshape": "new_shape"}}
# Keras arguments nerve does not take, with the only value nerve can honour.
_KERAS_ONLY = {"convert_to_tensor": {"sparse": False, "ragged": False}}


# Keras's op classes outside keras.src.ops: the two activations it records as nodes
# when called on symbolic tensors (keras.activations.relu(x, max_value=6.0), mish).
_KERAS_ACTIVATION_ROWS = (
    ("activations", "ReLU", "relu", ("negative_slope", "max_value", "threshold"), ("x",)),
    ("activations", "Mish", "mish", (), ("x",)),
)
# The namespaces a public op name may start with, and the module Keras files them in.
_NAMESPACES = ("numpy", "nn", "math", "core", "linalg", "image", "activations")


class _KerasRow:
    """One op class of Keras's: where it lives and how its arguments are split."""

    def __init__(self, family: str, class_name: str, function: str, init: tuple, call: tuple):
        self.family = family
        self.class_name = class_name
        self.op = f"{family}.{function}" if family in ("image", "activations") else function
        self.init = init
        self.call = call

    @property
    def module(self) -> str:
        if self.family == "activations":
            return "keras.src.activations.activations"
        return f"keras.src.ops.{self.family}"


@functools.cache
def _keras_rows() -> list[_KerasRow]:
    """The rows whose function nerve has, each naming nerve's op by its public name
    (Keras's ``true_divide`` is nerve's ``divide``: one function, two names)."""
    from nerve.layers._keras_ops import KERAS_OP_ROWS  # read on first use, not at import

    rows = []
    for family, class_name, function, init, call in KERAS_OP_ROWS + _KERAS_ACTIVATION_ROWS:
        row = _KerasRow(family, class_name, function, init, call)
        fn = _public_op(row.op)
        if fn is not None:
            row.op = _dispatch.public_name(fn) or row.op
            rows.append(row)
    return rows


@functools.cache
def _rows_by_op() -> dict[str, _KerasRow]:
    """Keras's row for each public nerve op name (the first where two share one)."""
    rows: dict[str, _KerasRow] = {}
    for row in _keras_rows():
        rows.setdefault(row.op, row)
    return rows


@functools.cache
def _rows_by_class() -> dict[tuple[str, str], _KerasRow]:
    return {(row.module, row.class_name): row for row in _keras_rows()}


def _public_op(name: str) -> Callable | None:
    """The public op ``name`` (``"mean"``, ``"image.resize"``, ``"activations.relu"``):
    the allowlist."""
    namespace: Any = ops
    *path, attribute = name.split(".")
    if len(path) > 1 or (path and path[0] not in _NAMESPACES):
        return None
    if path == ["activations"]:
        fn = getattr(activations, attribute, None) if attribute in activations.__all__ else None
        return fn if inspect.isfunction(fn) else None
    if path:
        namespace = getattr(ops, path[0])
    fn = getattr(namespace, attribute, None) if attribute in namespace.__all__ else None
    return fn if fn is not None and _dispatch.public_name(fn) is not None else None


def _snake_case(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class Operation:
    """One op of a Functional graph: the public op ``op`` with static arguments
    ``config``; its calls (``Node``s) pass the tensors, as positional arguments named
    ``call_arguments`` (Keras's split) or as the op was called (``None``)."""

    def __init__(
        self,
        op: str,
        config: dict | None = None,
        call_arguments: tuple | None = None,
        name: str | None = None,
    ):
        fn = _public_op(op)
        if fn is None:
            raise ValueError(f"{op!r} is not a public nerve.ops function.")
        self.op = op
        self.fn = fn
        self.config = dict(config or {})
        self.call_arguments = call_arguments
        row = _rows_by_op().get(op)
        base = _snake_case(row.class_name) if row else op.replace(".", "_")
        self.name = name or unique_name(base)
        self._inbound_nodes: list[Node] = []

    def __repr__(self) -> str:
        return f"<Operation {self.name!r}: ops.{self.op}>"

    @property
    def class_name(self) -> str:
        """Keras's class for this op (``GetItem``, ``Concatenate``), else the op's name."""
        row = _rows_by_op().get(self.op)
        return row.class_name if row is not None else self.op

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if any_symbolic((args, kwargs)):
            return _record(self, args, kwargs)
        return self._run(args, kwargs)

    def _run(self, args: tuple, kwargs: dict) -> Any:
        if self.op == "get_item" and len(args) == 2 and isinstance(args[1], list):
            # A JSON file turns the key's tuple into a list; Keras reads it back so too.
            args = (args[0], tuple(args[1]))
        if self.call_arguments is None:
            return self.fn(*args, **kwargs, **self.config)
        values = dict(self.config)
        values.update(kwargs)
        spread: list = []
        for name, value in zip(self.call_arguments, args):
            values[name.lstrip("*")] = value
        if self.call_arguments and self.call_arguments[-1].startswith("*"):
            spread = list(args[len(self.call_arguments) - 1 :])
            values.pop(self.call_arguments[-1].lstrip("*"), None)
        return _call_by_name(self.fn, values, spread)

    # -- Keras's config form -------------------------------------------------------------
    def serialize(self) -> dict:
        """``module``, ``class_name``, ``config`` and ``registered_name`` as Keras saves
        an op (``name`` and ``inbound_nodes`` are added by the model)."""
        row = _rows_by_op().get(self.op)
        if row is not None and self.call_arguments is not None:
            renamed = {v: k for k, v in _RENAMED.get(self.op, {}).items()}
            config = {renamed.get(k, k): _plain(v) for k, v in self.config.items()}
            config.update(_KERAS_ONLY.get(self.op, {}))
            module, class_name = row.module, row.class_name
        else:
            config = {k: _plain(v) for k, v in self.config.items()}
            module, class_name = "nerve.ops", self.op
        return {
            "module": module,
            "class_name": class_name,
            "config": {"name": self.name, **config},
            "registered_name": class_name,
        }

    @classmethod
    def deserialize(cls, data: dict) -> Operation:
        """The op a config entry names, found only in Keras's table or among nerve's
        public ops (never imported)."""
        module, class_name = data.get("module"), data.get("class_name")
        config = {k: _unplain(v) for k, v in (data.get("config") or {}).items()}
        name = config.pop("name", None)
        if module == "nerve.ops":
            if not isinstance(class_name, str) or _public_op(class_name) is None:
                raise ValueError(
                    f"The config names the op nerve.ops.{class_name}, which is not a public "
                    "nerve.ops function."
                )
            return cls(class_name, config, None, name=name)
        row = _rows_by_class().get((str(module), str(class_name)))
        if row is None:
            raise ValueError(
                f"The config names the Keras op {module}.{class_name}, which nerve does not "
                "know: it loads only the op classes of Keras 3's keras.src.ops whose function "
                "nerve.ops has."
            )
        for keras_name, value in _KERAS_ONLY.get(row.op, {}).items():
            given = config.pop(keras_name, value)
            if given != value:
                raise ValueError(
                    f"The config's {class_name} op has {keras_name}={given!r}; nerve supports "
                    f"only {keras_name}={value!r}."
                )
        renamed = _RENAMED.get(row.op, {})
        config = {renamed.get(k, k): v for k, v in config.items()}
        return cls(row.op, config, row.call, name=name)


def is_operation_config(data: dict) -> bool:
    """Whether a layer entry of a Functional config describes an op, not a layer."""
    module = str(data.get("module") or "")
    keras_op = module.startswith("keras.src.ops.") or module == "keras.src.activations.activations"
    return module == "nerve.ops" or keras_op


def _plain(value: Any) -> Any:
    """A static argument as JSON-ready data (tuples as lists; arrays, slices and other
    constants in Keras's ``__tensor__``-style forms)."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    special = serialize_constant(value)
    return value if special is None else special


def _unplain(value: Any) -> Any:
    """``_plain`` undone: the constants its forms describe, lists left as lists."""
    constant = restore_constant(value)
    if constant is not None:
        return constant
    if isinstance(value, list):
        return [_unplain(v) for v in value]
    if isinstance(value, dict):
        return {k: _unplain(v) for k, v in value.items()}
    return value


def serialize_constant(x: Any) -> dict | None:
    """Keras's form of a constant argument of a node (a slice, ``...``, a tensor or
    array), or ``None`` for anything else."""
    if x is Ellipsis:
        return {"class_name": "__ellipsis__", "config": {}}
    if isinstance(x, complex):  # nerve's own form: Keras saves no complex constants
        return {"class_name": "__complex__", "config": {"real": x.real, "imag": x.imag}}
    if isinstance(x, slice):
        return {
            "class_name": "__slice__",
            "config": {"start": x.start, "stop": x.stop, "step": x.step},
        }
    if not is_symbolic(x) and hasattr(x, "shape") and hasattr(x, "dtype"):
        value = ops.convert_to_numpy(x)
        return {
            "class_name": "__tensor__",
            "config": {"value": value.tolist(), "dtype": str(value.dtype)},
        }
    return None


def restore_constant(x: Any) -> Any:
    """The constant a node argument describes (``serialize_constant``'s forms and
    Keras's ``__numpy__``), or ``None``."""
    if not isinstance(x, dict) or set(x) - {"class_name", "config"}:
        return None
    class_name, inner = x.get("class_name"), x.get("config") or {}
    if class_name == "__ellipsis__":
        return Ellipsis
    if class_name == "__slice__":
        return slice(inner.get("start"), inner.get("stop"), inner.get("step"))
    if class_name == "__complex__":
        return complex(inner["real"], inner["imag"])
    if class_name in ("__tensor__", "__numpy__"):
        return ops.convert_to_tensor(inner["value"], dtype=inner.get("dtype"))
    return None


def _call_by_name(fn: Callable, values: dict, spread: list) -> Any:
    """``fn`` called with arguments given by name (``spread`` fills its ``*args``):
    positionally while the signature allows, by keyword after that."""
    signature = inspect.signature(fn)
    positional: list = []
    keywords: dict = {}
    in_order = True
    for p in signature.parameters.values():
        if p.kind is p.VAR_POSITIONAL:
            if spread and not in_order:
                raise TypeError(f"ops.{fn.__name__}: cannot pass its *{p.name} here.")
            positional.extend(spread)
            in_order = False
            continue
        if p.name not in values:
            in_order = False
            continue
        value = values.pop(p.name)
        if in_order and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            positional.append(value)
        else:
            in_order = False
            keywords[p.name] = value
    if values:
        raise TypeError(f"ops.{fn.__name__} got arguments it does not take: {sorted(values)}.")
    return fn(*positional, **keywords)


# -- recording a call ---------------------------------------------------------------------
def _split(op: str, fn: Callable, args: tuple, kwargs: dict) -> Operation | None:
    """The ``Operation`` for ``fn(*args, **kwargs)`` in Keras's split (static arguments
    in its config, the rest in the node), or ``None`` where Keras has no class for it."""
    row = _rows_by_op().get(op)
    if row is None:
        return None
    try:
        bound = inspect.signature(fn).bind(*args, **kwargs)
    except TypeError:
        return None  # the op itself will say what is wrong with the call
    bound.apply_defaults()
    values = dict(bound.arguments)
    renamed = _RENAMED.get(op, {})
    init = [renamed.get(a, a) for a in row.init if not a.startswith("*")]
    call = [renamed.get(a.lstrip("*"), a.lstrip("*")) for a in row.call]
    if any(a not in values for a in init + call):
        return None
    if any(is_symbolic(x) for a in init for x in tree.flatten(values[a])[0]):
        return None  # a tensor where Keras keeps a constant: the call stays as it was made
    config = {a: values.pop(a) for a in init}
    if row.family == "nn" and "data_format" in config and config["data_format"] is None:
        # Keras's nn functions pin it before making the op, and some of its nn classes
        # need it pinned (its image classes take None and resolve it themselves).
        config["data_format"] = core_config.image_data_format()
    # nerve's own extra arguments, if any, travel with the static ones.
    config.update({a: v for a, v in values.items() if a not in call})
    return Operation(op, config, tuple(row.call))


def _node_arguments(operation: Operation, fn: Callable, args: tuple, kwargs: dict) -> tuple:
    if operation.call_arguments is None:
        return args, kwargs
    values = inspect.signature(fn).bind(*args, **kwargs)
    values.apply_defaults()
    renamed = _RENAMED.get(operation.op, {})
    node_args: list = []
    for name in operation.call_arguments:
        value = values.arguments[renamed.get(name.lstrip("*"), name.lstrip("*"))]
        if name.startswith("*"):
            node_args.extend(value)
        else:
            node_args.append(value)
    return tuple(node_args), {}


def _abstract_outputs(operation: Operation, args: tuple, kwargs: dict) -> Any:
    """The op's outputs as ``KerasTensor``s, found by running it on abstract tensors."""
    from nerve.graph.trace import Trace, tracing

    def evaluate(size: int) -> Any:
        trace = Trace(f"{operation.name}_symbolic")
        with tracing(trace):

            def abstract(x: Any) -> Any:
                if not is_symbolic(x):
                    return x
                return trace.new_input(tuple(size if d is None else d for d in x.shape), x.dtype)

            outputs = operation._run(
                tree.map_structure(abstract, args), tree.map_structure(abstract, kwargs)
            )
            return tree.flatten(outputs)

    first_error: Exception | None = None
    for small, large in _PLACEHOLDER_PAIRS:
        try:
            (flat_a, rebuild), (flat_b, _) = evaluate(small), evaluate(large)
        except (NerveError, ValueError, TypeError, IndexError) as error:
            first_error = first_error or error
            continue
        if not any(_is_array_like(a) for a in flat_a):
            return _static_answer(operation, rebuild, flat_a, flat_b)
        outputs = []
        for a, b in zip(flat_a, flat_b):
            if not _is_array_like(a):
                raise TypeError(
                    f"ops.{operation.op} returns a {type(a).__name__} on symbolic tensors, "
                    "which a model cannot carry as a tensor."
                )
            shape = tuple(d if d == e else None for d, e in zip(a.shape, b.shape))
            outputs.append(KerasTensor(shape, a.dtype, name=operation.name))
        return rebuild(outputs)
    raise _op_error(operation, args, kwargs, first_error)


class _Static:
    """An op's answer that is no tensor (``ops.shape``, ``ops.ndim``): no node."""

    def __init__(self, value: Any):
        self.value = value


def _is_array_like(x: Any) -> bool:
    return hasattr(x, "shape") and hasattr(x, "dtype")


def _static_answer(operation: Operation, rebuild: Any, flat_a: list, flat_b: list) -> _Static:
    """The op's Python answer: sizes that differ between the placeholders are unknown
    (``None``) inside a tuple (a shape); a lone number that differs has no answer."""
    if not isinstance(rebuild(flat_a), (tuple, list)) and flat_a != flat_b:
        raise TypeError(
            f"ops.{operation.op} of a symbolic tensor depends on its unknown sizes, so it "
            "has no value until the model runs; compute it inside a layer's call."
        )
    return _Static(rebuild([a if a == b else None for a, b in zip(flat_a, flat_b)]))


def _op_error(operation: Operation, args: tuple, kwargs: dict, error: Any) -> ShapeError:
    def describe(x: Any) -> str:
        return f"{x.shape} {x.dtype}" if is_symbolic(x) else repr(x)

    tensors = [describe(x) for x in tree.flatten((args, kwargs))[0] if is_symbolic(x)]
    detail = str(error).split("\n  (called at")[0]
    return ShapeError(
        with_location(
            f"ops.{operation.op} cannot be applied to the symbolic tensors it was given "
            f"(shapes and dtypes, None = unknown size: {', '.join(tensors)}).\n"
            f"  What the op expected: {detail}"
        )
    )


def _record(operation: Operation, args: tuple, kwargs: dict) -> Any:
    outputs = _abstract_outputs(operation, args, kwargs)
    if isinstance(outputs, _Static):
        return outputs.value
    Node(operation, tuple(args), dict(kwargs), outputs)
    return outputs


class _Handler:
    """What ``nerve.ops`` calls when an op fails on arguments that hold symbolic tensors."""

    def holds_symbolic(self, args: tuple, kwargs: dict) -> bool:
        return any_symbolic((args, kwargs))

    def call(self, name: str, fn: Callable, args: tuple, kwargs: dict) -> Any:
        wrapper = _public_op(name)
        assert wrapper is not None, name
        if name == "get_item" and len(args) == 2 and isinstance(args[1], list):
            # A list index picks entries (NumPy's rule); as a tensor it stays one in a
            # file, where a list would read back as a tuple of indices.
            args = (args[0], ops.convert_to_tensor(args[1]))
        operation = _split(name, wrapper, args, kwargs)
        if operation is None:
            operation = Operation(name)
        else:
            args, kwargs = _node_arguments(operation, wrapper, args, kwargs)
        return _record(operation, args, kwargs)


_dispatch.register_symbolic_handler(_Handler())
