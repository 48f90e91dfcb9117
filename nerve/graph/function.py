"""``nerve.function``: trace a Python function into a graph, optimize it, run it fast.

The first call for each *signature* traces the function (runs it once on
abstract tensors, recording a ``Graph``), optimizes the graph and compiles it;
later calls with the same signature run the compiled graph. The signature is the
shape and dtype of every tensor argument (NumPy arrays count as tensors) plus the
value of every other argument; Python control flow is unrolled at trace time.

Retracing rules: arguments are first bound to the function's signature (defaults
filled in), so positional, keyword and default spellings of one call share a
trace. Python numbers, strings, ``None`` and the like are static (one trace per
value); a ``Variable`` is captured state (one trace per variable, not per value);
any other object (e.g. ``self`` of a method) is keyed by identity. Decorated
methods get one ``Function`` per instance. After ``RETRACE_WARNING_THRESHOLD``
traces a ``RetracingWarning`` names the argument that changed, once.

Symbolic sizes: the ``None`` dims of an ``input_signature`` (all of one size in a
call) are traced once, as the symbol ``n`` of ``nerve.core.symbolic``; every size
then specializes that graph (``nerve.graph.polymorphic.specialize``) and compiles
it without running the Python function again. A function whose use of the size is
not affine (``x[: n // 2]``, ``int(n)``, ``if n > 4:``) cannot be traced that way:
the reason is kept in ``symbolic_fallback_reason`` (and logged at DEBUG level) and
each size traces on its own (expected, never warned about). ``trace_count`` counts
the runs of the Python function, that failed symbolic run included.

>>> import nerve
>>> from nerve import ops
>>> w = nerve.Variable(ops.ones((3,)), name="w")
>>> @nerve.function
... def step(x):
...     with nerve.GradientTape() as tape:
...         loss = ops.sum(w * x)
...     w.assign_sub(0.5 * tape.gradient(loss, w))
...     return loss
>>> float(step(ops.ones((3,))))
3.0
>>> w.numpy()
array([0.5, 0.5, 0.5], dtype=float32)
>>> step.trace_count
1
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
import traceback
import warnings
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from nerve.backend import get_backend
from nerve.core import dtypes, symbolic, tree
from nerve.core.errors import DTypeError, ShapeError, with_location
from nerve.graph.executor import CompiledGraph
from nerve.graph.ir import Graph
from nerve.graph.passes import optimize
from nerve.graph.polymorphic import specialize
from nerve.graph.trace import Trace, active_trace, describe, tracing
from nerve.tensor import Tensor, Variable, _new_tensor

__all__ = [
    "RETRACE_WARNING_THRESHOLD",
    "ConcreteFunction",
    "Function",
    "ProfileReport",
    "RetracingWarning",
    "TensorSpec",
    "function",
]

#: Warn when a function has been traced more often than this (TensorFlow warns at 5).
RETRACE_WARNING_THRESHOLD = 5

_logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TensorSpec:
    """Shape and dtype of a tensor argument, for ``input_signature``.

    >>> TensorSpec((None, 784), "float32")
    TensorSpec(shape=(None, 784), dtype='float32', name=None)
    """

    shape: tuple
    dtype: str = "float32"
    name: str | None = None

    def __post_init__(self):
        object.__setattr__(self, "shape", tuple(None if d is None else int(d) for d in self.shape))
        object.__setattr__(self, "dtype", dtypes.standardize_dtype(self.dtype))

    def is_compatible_with(self, shape: tuple, dtype: str) -> bool:
        return (
            dtype == self.dtype
            and len(shape) == len(self.shape)
            and all(s is None or s == d for s, d in zip(self.shape, shape))
        )


def _is_tensor_like(x: Any) -> bool:
    if isinstance(x, Variable):
        return False
    if isinstance(x, Tensor):
        return True
    return hasattr(x, "shape") and hasattr(x, "dtype") and hasattr(x, "__array__")


def _structure(x: Any) -> Any:
    """A hashable description of a nested structure's shape (not its leaves)."""
    if isinstance(x, dict):
        return ("dict", tuple((k, _structure(x[k])) for k in sorted(x)))
    if isinstance(x, (list, tuple)):
        return (type(x).__name__, tuple(_structure(v) for v in x))
    return "*"


#: Python values keyed by value (a new value traces again); any other object is keyed by
#: identity, so two equal objects holding different variables never share a graph.
_VALUE_TYPES = (bool, int, float, complex, str, bytes, type(None), type(Ellipsis), slice)


class _Identity:
    """A cache-key part equal only to the same object (kept alive while cached, so its
    id cannot be reused by a new object that would then hit a stale graph)."""

    __slots__ = ("obj",)

    def __init__(self, obj: Any):
        self.obj = obj

    def __hash__(self) -> int:
        return id(self.obj)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Identity) and other.obj is self.obj


def _leaf_key(x: Any) -> tuple:
    if _is_tensor_like(x):
        return ("tensor", tuple(x.shape), _dtype_of(x))
    if isinstance(x, Variable):
        # Captured state: the graph reads its current value, so only its identity matters.
        return ("variable", _Identity(x))
    if isinstance(x, _VALUE_TYPES) or (isinstance(x, type) or _is_enum(x)):
        return ("static", type(x).__name__, x)
    return ("object", type(x).__name__, _Identity(x))


def _is_enum(x: Any) -> bool:
    import enum

    return isinstance(x, enum.Enum)


class _NoFastPath(Exception):
    """An argument the fast signature does not describe: take the full path."""


def _fast_signature(x: Any, leaves: list, array_types: set) -> Any:
    """A hashable description of positional arguments made of tensors, arrays of a type
    the full path has seen, Python scalars, ``None``, and tuples/lists/dicts of those;
    appends the tensor and array leaves to ``leaves`` in ``tree.flatten`` order."""
    kind = type(x)
    if kind is Tensor:
        leaves.append(x)
        return (x.shape, x.dtype)
    if kind in array_types:
        leaves.append(x)
        return (kind, x.shape, x.dtype)
    if kind is tuple or kind is list:
        return (kind, tuple(_fast_signature(v, leaves, array_types) for v in x))
    if kind is dict:
        keys = sorted(x)
        return (kind, tuple((k, _fast_signature(x[k], leaves, array_types)) for k in keys))
    if x is None or kind in (bool, int, float, str):
        return (kind, x)
    raise _NoFastPath


def _leaf_paths(structure: Any, prefix: str) -> list[str]:
    """A readable path per leaf (``batch['image']``, ``xs[1]``), in ``tree.flatten`` order."""
    if isinstance(structure, dict):
        return [p for k in sorted(structure) for p in _leaf_paths(structure[k], f"{prefix}[{k!r}]")]
    if isinstance(structure, (list, tuple)):
        return [p for i, v in enumerate(structure) for p in _leaf_paths(v, f"{prefix}[{i}]")]
    return [prefix]


@dataclass
class ConcreteFunction:
    """One traced, optimized and compiled specialization of a ``Function``."""

    graph: Graph  # optimized
    unoptimized: Graph
    compiled: CompiledGraph
    output_leaves: list  # per output leaf: ("tensor", index) or ("static", value)
    rebuild_output: Callable[[list], Any]
    #: The symbolically traced graph this one was specialized from (``None`` when the
    #: function was traced at this concrete size).
    symbolic: Graph | None = None
    #: The result's index when the function returns one tensor, not in a container
    #: (``model(x)``): the call then skips the leaf list and the rebuild (~0.5 us of a
    #: batch-1 MLP's ~50 us); ``None`` otherwise.
    single_output: int | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        if len(self.output_leaves) == 1 and self.output_leaves[0][0] == "tensor":
            probe = object()
            if self.rebuild_output([probe]) is probe:
                self.single_output = self.output_leaves[0][1]

    def __call__(self, arrays: list) -> Any:
        results = self.compiled.run(arrays)
        if self.single_output is not None:
            return _new_tensor(results[self.single_output])
        leaves = [
            _new_tensor(results[payload]) if kind == "tensor" else payload
            for kind, payload in self.output_leaves
        ]
        return self.rebuild_output(leaves)

    def call_with(self, tensors: list) -> Any:
        """Run on the tensor leaves of a call (tensors or arrays, in ``tree.flatten``
        order), as a call of the ``Function`` that found this specialization would."""
        return self([_as_array(x) for x in tensors])


class Function:
    """A Python function compiled through graphs; see the module docstring."""

    __name__: str  # copied from the Python function by functools.update_wrapper

    def __init__(
        self,
        fn: Callable,
        input_signature: Sequence[TensorSpec] | None = None,
        reduce_retracing: bool = False,
    ):
        self.python_function = fn
        self.input_signature = None if input_signature is None else list(input_signature)
        self.reduce_retracing = reduce_retracing
        self._cache: dict[tuple, ConcreteFunction] = {}
        #: ``_fast_signature`` of positional arguments -> concrete (filled by the full path,
        #: so the first call of a signature always takes it), and the array types seen.
        self._by_signature: dict[Any, ConcreteFunction] = {}
        self._array_types: set[type] = set()
        self._last_key: tuple | None = None
        self._last_leaves: list | None = None
        self._last_paths: list | None = None
        self._warned = False
        self._relaxed_keys: set[tuple] = set()
        #: Runs of the Python function (traces), symbolic and concrete.
        self.trace_count = 0
        #: Why the last symbolic trace failed (its ``None`` dims then trace per size).
        self.symbolic_fallback_reason: str | None = None
        #: Per signature with the ``None`` dims' sizes left out: its symbolic trace, or
        #: ``None`` when that failed.
        self._symbolic: dict[tuple, _SymbolicTrace | None] = {}
        self._bound: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        try:
            self._signature: inspect.Signature | None = inspect.signature(fn)
        except (TypeError, ValueError):  # some builtins and C callables have none
            self._signature = None
        functools.update_wrapper(self, fn)

    def __get__(self, instance, owner=None):
        """Decorating a method: each instance gets its own ``Function`` (own cache, own
        trace count), holding the instance weakly so it can still be collected."""
        if instance is None:
            return self
        try:
            bound = self._bound.get(instance)
        except TypeError:  # unhashable or not weak-referenceable: bind like a function
            return functools.partial(self.__call__, instance)
        if bound is None:
            bound = self._bound[instance] = self._bind(instance)
        return bound

    def _bind(self, instance: Any) -> Function:
        ref = weakref.ref(instance)
        fn = self.python_function

        def method(*args, **kwargs):
            return fn(ref(), *args, **kwargs)

        functools.update_wrapper(method, fn)
        if self._signature is not None:
            params = list(self._signature.parameters.values())[1:]
            method.__signature__ = self._signature.replace(parameters=params)  # type: ignore[attr-defined]
        return Function(method, self.input_signature, self.reduce_retracing)

    # -- calling ------------------------------------------------------------------------
    def __call__(self, *args, **kwargs):
        if active_trace() is not None:
            # Called while tracing another function: inline into that graph.
            return self.python_function(*args, **kwargs)
        if not kwargs:  # the common call: positional tensors/arrays, maybe nested
            leaves: list = []
            try:
                key = _fast_signature(args, leaves, self._array_types)
            except _NoFastPath:
                key = None
            concrete = self._by_signature.get(key) if key is not None else None
            if concrete is not None:
                return concrete([_as_array(leaf) for leaf in leaves])
        concrete, leaves = self._concrete(args, kwargs)
        tensors = [leaf for leaf in leaves if _is_tensor_like(leaf)]
        if not kwargs:
            self._remember_signature(args, tensors, concrete)
        return concrete([_as_array(leaf) for leaf in tensors])

    def _remember_signature(self, args: tuple, tensors: list, concrete) -> None:
        """Let later calls like this one skip binding and flattening: when the fast walk
        of ``args`` finds exactly the tensor leaves the full path found, in order."""
        self._array_types.update(type(t) for t in tensors if type(t) is not Tensor)
        found: list = []
        try:
            key = _fast_signature(args, found, self._array_types)
        except _NoFastPath:
            return
        if len(found) == len(tensors) and all(a is b for a, b in zip(found, tensors)):
            self._by_signature[key] = concrete

    def compiled_for(self, *args) -> ConcreteFunction | None:
        """The specialization that a call with these positional arguments would run, if
        one is compiled and the call would find it by its signature alone (nothing is
        traced; ``None`` otherwise). A caller that keeps it skips the signature walk:
        ``concrete.call_with(tensor_leaves)`` is that call.

        >>> import nerve
        >>> f = nerve.function(lambda x: x * 2.0)
        >>> x = nerve.ops.ones((2,))
        >>> f.compiled_for(x) is None
        True
        >>> _ = f(x)
        >>> f.compiled_for(x).call_with([x]).numpy()
        array([2., 2.], dtype=float32)
        """
        try:
            key = _fast_signature(args, [], self._array_types)
        except _NoFastPath:
            return None
        return self._by_signature.get(key)

    def get_concrete_function(self, *args, **kwargs) -> ConcreteFunction:
        return self._concrete(args, kwargs)[0]

    def graph_for(self, *args, **kwargs) -> Graph:
        """The optimized graph that runs for these arguments (tracing if needed): fused
        nodes where the backend compiled a loop, their steps where it didn't."""
        return self.get_concrete_function(*args, **kwargs).compiled.graph

    def profile(self, *args, repeat: int = 5, **kwargs) -> ProfileReport:
        """Per-node time table of one step (state is not changed)."""
        concrete, leaves = self._concrete(args, kwargs)
        arrays = [_as_array(leaf) for leaf in leaves if _is_tensor_like(leaf)]
        return ProfileReport(concrete.compiled.profile(arrays, repeat))

    # -- tracing --------------------------------------------------------------------------
    def _concrete(self, args: tuple, kwargs: dict) -> tuple[ConcreteFunction, list]:
        args, kwargs, names = self._canonicalize(args, kwargs)
        leaves, rebuild = tree.flatten((args, kwargs))
        self._check_signature(leaves)
        key = (_structure((args, kwargs)), tuple(_leaf_key(leaf) for leaf in leaves))
        concrete = self._cache.get(key)
        if concrete is None:
            paths = [p for a, n in zip(args, names) for p in _leaf_paths(a, n)]
            paths += [p for k in sorted(kwargs) for p in _leaf_paths(kwargs[k], k)]
            concrete = self._trace(leaves, rebuild, self._relaxed(key))
            self._note_retrace(key, leaves, paths)
            self._cache[key] = concrete
            self._last_paths = paths
        self._last_key, self._last_leaves = key, leaves
        return concrete, leaves

    def _canonicalize(self, args: tuple, kwargs: dict) -> tuple[tuple, dict, list[str]]:
        """Bind to the signature, defaults filled in, so ``f(x, n=2)``, ``f(x, 2)`` and
        ``f(x)`` (with ``n=2`` the default) share one trace. Also names each argument."""
        if self._signature is None:
            return args, kwargs, [f"#{i}" for i in range(len(args))]
        bound = self._signature.bind(*args, **kwargs)  # TypeError as the plain call would
        bound.apply_defaults()
        names = []
        for name, param in self._signature.parameters.items():
            if param.kind is param.VAR_POSITIONAL:
                names += [f"{name}[{i}]" for i in range(len(bound.arguments.get(name, ())))]
            elif param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
                names.append(name)
        return bound.args, bound.kwargs, names[: len(bound.args)]

    def _check_signature(self, leaves: list) -> None:
        if self.input_signature is None:
            return
        tensors = [x for x in leaves if _is_tensor_like(x)]
        if len(tensors) != len(self.input_signature):
            raise ValueError(
                with_location(
                    f"{self.__name__} was declared with an input_signature of "
                    f"{len(self.input_signature)} tensors but got {len(tensors)}."
                )
            )
        for i, (x, spec) in enumerate(zip(tensors, self.input_signature)):
            dtype = x.dtype if isinstance(x, Tensor) else dtypes.standardize_dtype(x.dtype)
            if not spec.is_compatible_with(tuple(x.shape), dtype):
                error = DTypeError if dtype != spec.dtype else ShapeError
                raise error(
                    with_location(
                        f"{self.__name__}: tensor argument {i} is {describe(x)}, which does not "
                        f"match its input_signature entry {spec}."
                    )
                )

    def _note_retrace(self, key: tuple, leaves: list, paths: list[str]) -> None:
        """Warn, once, when a new signature has been traced too many times."""
        relaxed = self._relaxed(key)
        if relaxed in self._relaxed_keys:
            return  # only a None dim of the input_signature changed: expected, not warned
        self._relaxed_keys.add(relaxed)
        if self._warned or len(self._relaxed_keys) <= RETRACE_WARNING_THRESHOLD:
            return
        self._warned = True
        reason = "the structure of its arguments changed"
        previous = self._last_leaves
        if self._last_key is not None and previous is not None and self._last_key[0] == key[0]:
            for i, (old, new) in enumerate(zip(self._last_key[1], key[1])):
                if old != new:
                    reason = (
                        f"argument {paths[i]!r} changed from {describe(previous[i])} "
                        f"to {describe(leaves[i])}"
                    )
                    break
        warnings.warn(
            f"nerve.function {self.__name__!r} has been traced {self.trace_count} times; "
            f"the last retrace happened because {reason}. Each new shape, dtype or Python "
            "value traces again: pass tensors instead of Python numbers, keep shapes fixed, "
            "or give an input_signature.",
            RetracingWarning,
            stacklevel=4,
        )

    def _relaxed(self, key: tuple) -> tuple:
        """``key`` with the sizes of the input_signature's ``None`` dims left out."""
        if self.input_signature is None:
            return key
        specs = iter(self.input_signature)
        leaf_keys = []
        for leaf_key in key[1]:
            if leaf_key[0] == "tensor":
                spec = next(specs)
                shape = tuple(None if s is None else d for s, d in zip(spec.shape, leaf_key[1]))
                leaf_key = ("tensor", shape, leaf_key[2])
            leaf_keys.append(leaf_key)
        return key[0], tuple(leaf_keys)

    def _trace(self, leaves: list, rebuild: Callable, relaxed: tuple) -> ConcreteFunction:
        size = self._symbolic_size(leaves)
        if size is not None:
            if relaxed not in self._symbolic:
                self._symbolic[relaxed] = self._trace_symbolic(leaves, rebuild)
            traced = self._symbolic[relaxed]
            if traced is not None and traced.sizes.serves(size):
                concrete = self._specialize(traced, leaves, size)
                if concrete is not None:
                    return concrete
        graph, output_leaves, rebuild_output = self._trace_graph(leaves, rebuild)
        return self._compile(graph, leaves, output_leaves, rebuild_output)

    def _trace_graph(
        self, leaves: list, rebuild: Callable, size: Any = None
    ) -> tuple[Graph, list, Callable]:
        """Run the Python function on abstract inputs (the ``None`` dims of the
        input_signature set to ``size`` when given: a ``Dim``) and return its graph."""
        self.trace_count += 1
        trace = Trace(getattr(self.python_function, "__name__", "graph"))
        shapes = self._input_shapes(leaves, size)
        with tracing(trace):
            traced_leaves = [
                trace.new_input(next(shapes), _dtype_of(x)) if _is_tensor_like(x) else x
                for x in leaves
            ]
            args, kwargs = rebuild(traced_leaves)
            result = self.python_function(*args, **kwargs)
            out_leaves, rebuild_output = tree.flatten(result)
            graph = trace.graph
            output_leaves = []
            for leaf in out_leaves:
                if isinstance(leaf, Tensor):
                    output_leaves.append(("tensor", len(graph.outputs)))
                    graph.outputs.append(trace.value_of(leaf))
                else:
                    output_leaves.append(("static", leaf))
        return graph, output_leaves, rebuild_output

    def _compile(
        self,
        graph: Graph,
        leaves: list,
        output_leaves: list,
        rebuild_output: Callable,
        symbolic_graph: Graph | None = None,
    ) -> ConcreteFunction:
        unoptimized = graph.copy()
        backend = get_backend(_device_of(leaves, graph))
        optimized = optimize(graph, backend)
        compiled = CompiledGraph(optimized, backend)
        return ConcreteFunction(
            optimized, unoptimized, compiled, output_leaves, rebuild_output, symbolic_graph
        )

    # -- symbolic (None) dims of the input_signature ---------------------------------------
    def _input_shapes(self, leaves: list, size: Any) -> Iterator[tuple]:
        specs = iter(self.input_signature or ())
        for x in leaves:
            if not _is_tensor_like(x):
                continue
            shape = tuple(x.shape)
            spec = next(specs, None)
            if size is not None and spec is not None:
                shape = tuple(size if s is None else d for s, d in zip(spec.shape, shape))
            yield shape

    def _symbolic_size(self, leaves: list) -> int | None:
        """The size of the input_signature's ``None`` dims in this call, when they all
        agree (one symbolic size, typically the batch); else ``None``."""
        if self.input_signature is None:
            return None
        sizes: set[int] = set()
        tensors = [x for x in leaves if _is_tensor_like(x)]
        for x, spec in zip(tensors, self.input_signature):
            sizes.update(d for s, d in zip(spec.shape, tuple(x.shape)) if s is None)
        return sizes.pop() if len(sizes) == 1 else None

    def _trace_symbolic(self, leaves: list, rebuild: Callable) -> _SymbolicTrace | None:
        """Trace once with the ``None`` dims set to the symbol ``n``; ``None`` (and the
        reason recorded) when the function's use of the size is not affine in it."""
        try:
            with symbolic.tracking() as sizes:
                graph, output_leaves, rebuild_output = self._trace_graph(
                    leaves, rebuild, symbolic.Dim.symbol()
                )
        except symbolic.SymbolicDimError as error:
            reason = f"{error} ({_raised_at(error)})"
        except Exception as error:  # any failure: per-size tracing shows the real error
            reason = (
                f"tracing with a symbolic size raised {type(error).__name__}: {error} "
                f"({_raised_at(error)}); the function is traced once per size instead."
            )
        else:
            return _SymbolicTrace(graph, output_leaves, rebuild_output, sizes)
        self.symbolic_fallback_reason = reason
        # Debug, not a warning: falling back is legitimate (and warnings fail the tests).
        _logger.debug("nerve.function %r traces once per size: %s", self.__name__, reason)
        return None

    def _specialize(self, traced: _SymbolicTrace, leaves: list, size: int):
        """The symbolic trace compiled for ``size``; ``None`` when it cannot be
        evaluated there (a negative dimension, ``1 / n`` at 0): trace that size."""
        try:
            graph = specialize(traced.graph, size)
            output_leaves = [
                (kind, payload if kind == "tensor" else symbolic.evaluate(payload, size))
                for kind, payload in traced.output_leaves
            ]
        except (symbolic.SymbolicDimError, ArithmeticError) as error:
            _logger.debug("nerve.function %r traces size %d: %s", self.__name__, size, error)
            return None
        return self._compile(graph, leaves, output_leaves, traced.rebuild_output, traced.graph)


@dataclass
class _SymbolicTrace:
    """A function traced once with a symbolic size, for ``specialize``."""

    graph: Graph
    output_leaves: list
    rebuild_output: Callable
    sizes: symbolic.SmallSizes  # which sizes below MIN_SIZE it serves too


class RetracingWarning(UserWarning):
    """A ``nerve.function`` keeps tracing again: its signature keeps changing."""


class ProfileReport(list):
    """Rows of ``{"index", "op", "shapes", "ms", "percent", "steps"}`` (``steps``: a
    fused loop's primitives, else empty); prints as a table."""

    def __str__(self) -> str:
        header = f"{'#':>4}  {'op':<18} {'output':<22} {'ms':>9} {'%':>6}"
        lines = [header, "-" * len(header)]
        for row in sorted(self, key=lambda r: -r["ms"]):
            lines.append(
                f"{row['index']:>4}  {row['op']:<18} {row['shapes']:<22} "
                f"{row['ms']:>9.4f} {row['percent']:>6.1f}  {row.get('steps', '')}".rstrip()
            )
        total = sum(r["ms"] for r in self)
        lines.append(f"{'':>4}  {'total':<18} {'':<22} {total:>9.4f} {100.0:>6.1f}")
        return "\n".join(lines)


def _raised_at(error: Exception) -> str:
    """Where ``error`` was raised: the innermost frame of its traceback outside
    ``nerve.core.symbolic`` (the code that used the size) and, when that is inside
    nerve, the innermost frame outside nerve (the user's line that called it)."""
    frames = [
        f for f in traceback.extract_tb(error.__traceback__) if f.filename != symbolic.__file__
    ]
    if not frames:
        return "raised at an unknown place"
    inner = frames[-1]
    where = f"raised at {inner.filename}:{inner.lineno} in {inner.name}"
    outside = [f for f in frames if not f.filename.startswith(_NERVE_DIR)]
    if inner.filename.startswith(_NERVE_DIR) and outside:
        where += f", called from {outside[-1].filename}:{outside[-1].lineno}"
    return where


_NERVE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def _dtype_of(x: Any) -> str:
    return x.dtype if isinstance(x, Tensor) else dtypes.standardize_dtype(x.dtype)


def _as_array(x: Any) -> Any:
    if isinstance(x, Tensor):
        return x._value
    return get_backend().asarray(x)


def _device_of(leaves: list, graph: Graph) -> str | None:
    for x in leaves:
        if isinstance(x, Tensor):
            return x.device
    for v in graph.variables:
        return v.device
    return None


def function(
    fn: Callable | None = None,
    *,
    input_signature: Sequence[TensorSpec] | None = None,
    reduce_retracing: bool = False,
):
    """Compile ``fn`` through graphs (usable as ``@nerve.function`` or with arguments)."""
    if fn is None:
        return lambda f: Function(f, input_signature, reduce_retracing)
    return Function(fn, input_signature, reduce_retracing)
