"""``nerve.function``: trace a Python function into a graph, optimize it, run it fast.

The first call for each *signature* traces the function (runs it once on
abstract tensors, recording a ``Graph``), optimizes the graph and compiles it;
later calls with the same signature run the compiled graph. The signature is the
shape and dtype of every tensor argument (NumPy arrays count as tensors) plus the
value of every other argument; Python control flow is unrolled at trace time.

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
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from nerve.backend import get_backend
from nerve.core import dtypes, tree
from nerve.core.errors import DTypeError, ShapeError, with_location
from nerve.graph.executor import CompiledGraph
from nerve.graph.ir import Graph
from nerve.graph.passes import optimize
from nerve.graph.trace import Trace, active_trace, describe, tracing
from nerve.tensor import Tensor, Variable, _new_tensor

#: Warn when a function has been traced more often than this (TensorFlow warns at 5).
RETRACE_WARNING_THRESHOLD = 5


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


def _leaf_key(x: Any) -> tuple:
    if _is_tensor_like(x):
        tensor = x if isinstance(x, Tensor) else None
        dtype = tensor.dtype if tensor is not None else dtypes.standardize_dtype(x.dtype)
        return ("tensor", tuple(x.shape), dtype)
    if isinstance(x, Variable):
        return ("variable", id(x))
    try:
        hash(x)
    except TypeError:
        return ("object", id(x))
    return ("static", type(x).__name__, x)


@dataclass
class ConcreteFunction:
    """One traced, optimized and compiled specialization of a ``Function``."""

    graph: Graph  # optimized
    unoptimized: Graph
    compiled: CompiledGraph
    output_leaves: list  # per output leaf: ("tensor", index) or ("static", value)
    rebuild_output: Callable[[list], Any]

    def __call__(self, arrays: list) -> Any:
        results = self.compiled.run(arrays)
        leaves = [
            _new_tensor(results[payload]) if kind == "tensor" else payload
            for kind, payload in self.output_leaves
        ]
        return self.rebuild_output(leaves)


class Function:
    """A Python function compiled through graphs; see the module docstring."""

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
        self._last_key: tuple | None = None
        self._last_leaves: list | None = None
        self._warned = False
        self.trace_count = 0
        functools.update_wrapper(self, fn)

    def __get__(self, instance, owner=None):
        # Decorating a method: bind like a function would.
        return self if instance is None else functools.partial(self.__call__, instance)

    # -- calling ------------------------------------------------------------------------
    def __call__(self, *args, **kwargs):
        if active_trace() is not None:
            # Called while tracing another function: inline into that graph.
            return self.python_function(*args, **kwargs)
        concrete, leaves = self._concrete(args, kwargs)
        arrays = [_as_array(leaf) for leaf in leaves if _is_tensor_like(leaf)]
        return concrete(arrays)

    def get_concrete_function(self, *args, **kwargs) -> ConcreteFunction:
        return self._concrete(args, kwargs)[0]

    def graph_for(self, *args, **kwargs) -> Graph:
        """The optimized graph that runs for these arguments (tracing if needed)."""
        return self.get_concrete_function(*args, **kwargs).graph

    def profile(self, *args, repeat: int = 5, **kwargs) -> ProfileReport:
        """Per-node time table of one step (state is not changed)."""
        concrete, leaves = self._concrete(args, kwargs)
        arrays = [_as_array(leaf) for leaf in leaves if _is_tensor_like(leaf)]
        return ProfileReport(concrete.compiled.profile(arrays, repeat))

    # -- tracing --------------------------------------------------------------------------
    def _concrete(self, args: tuple, kwargs: dict) -> tuple[ConcreteFunction, list]:
        leaves, rebuild = tree.flatten((args, kwargs))
        self._check_signature(leaves)
        key = (_structure((args, kwargs)), tuple(_leaf_key(leaf) for leaf in leaves))
        concrete = self._cache.get(key)
        if concrete is None:
            self._note_retrace(key, leaves)
            concrete = self._trace(leaves, rebuild)
            self._cache[key] = concrete
        self._last_key, self._last_leaves = key, leaves
        return concrete, leaves

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

    def _note_retrace(self, key: tuple, leaves: list) -> None:
        self.trace_count += 1
        if self._warned or self.trace_count <= RETRACE_WARNING_THRESHOLD:
            return
        self._warned = True
        reason = "the structure of its arguments changed"
        if self._last_key is not None and self._last_key[0] == key[0]:
            for i, (old, new) in enumerate(zip(self._last_key[1], key[1])):
                if old != new:
                    reason = (
                        f"argument leaf {i} changed from {describe(self._last_leaves[i])} "
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

    def _trace(self, leaves: list, rebuild: Callable) -> ConcreteFunction:
        trace = Trace(getattr(self.python_function, "__name__", "graph"))
        with tracing(trace):
            traced_leaves = [
                trace.new_input(tuple(x.shape), _dtype_of(x)) if _is_tensor_like(x) else x
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
        unoptimized = graph.copy()
        optimized = optimize(graph)
        backend = get_backend(_device_of(leaves, optimized))
        compiled = CompiledGraph(optimized, backend)
        return ConcreteFunction(optimized, unoptimized, compiled, output_leaves, rebuild_output)


class RetracingWarning(UserWarning):
    """A ``nerve.function`` keeps tracing again: its signature keeps changing."""


class ProfileReport(list):
    """Rows of ``{"index", "op", "shapes", "ms", "percent"}``; prints as a table."""

    def __str__(self) -> str:
        header = f"{'#':>4}  {'op':<18} {'output':<22} {'ms':>9} {'%':>6}"
        lines = [header, "-" * len(header)]
        for row in sorted(self, key=lambda r: -r["ms"]):
            lines.append(
                f"{row['index']:>4}  {row['op']:<18} {row['shapes']:<22} "
                f"{row['ms']:>9.4f} {row['percent']:>6.1f}"
            )
        total = sum(r["ms"] for r in self)
        lines.append(f"{'':>4}  {'total':<18} {'':<22} {total:>9.4f} {100.0:>6.1f}")
        return "\n".join(lines)


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
