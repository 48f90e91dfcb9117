"""The graph IR: a dataflow graph whose nodes are primitives and whose edges are tensors.

* ``Value`` — an edge: one tensor, with its abstract value (shape and dtype).
  It is produced by exactly one ``Node``, or is a graph input, a constant, or a
  variable read.
* ``Node`` — one application of a primitive to input values, with static params.
* ``Graph`` — inputs, constants, captured variables, nodes in program order, and
  outputs. Variables are state: ``read_variable`` and ``assign_variable`` nodes
  name a variable by its slot in ``Graph.variables`` and keep program order,
  so passes never move or drop them.

The text form is deterministic (values are renamed in order of appearance), in
the spirit of a jaxpr:

    graph(a:f32[2,3], b:f32[3]) {
      c:f32[2,3] = add a b
      return c
    }
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Protocol

from nerve.primitives.registry import Aval, Primitive

__all__ = [
    "Graph",
    "Node",
    "NodePrimitive",
    "Value",
    "format_aval",
    "iter_values",
    "to_text",
]

_value_ids = itertools.count()

_SHORT_DTYPES = {
    "bool": "bool", "uint8": "u8", "uint16": "u16", "uint32": "u32", "uint64": "u64",
    "int8": "i8", "int16": "i16", "int32": "i32", "int64": "i64",
    "bfloat16": "bf16", "float16": "f16", "float32": "f32", "float64": "f64",
}  # fmt: skip


class NodePrimitive(Protocol):
    """What a node's primitive provides: a registered ``Primitive`` (see
    ``nerve.primitives.registry`` for what each fact means), or a graph-only primitive
    such as ``passes.fuse.FusedElementwise``, which no eager code binds."""

    @property
    def name(self) -> str: ...
    @property
    def kernel(self) -> str | None:
        """The backend kernel's name; ``None``: the executor runs the node itself."""

    @property
    def shape_rule(self) -> Callable[..., Aval | Sequence[Aval]]: ...
    @property
    def vjp(self) -> Callable[..., Sequence[Any]] | None: ...
    @property
    def multiple_results(self) -> bool: ...
    @property
    def differentiable(self) -> bool: ...
    @property
    def effect(self) -> bool: ...
    @property
    def elementwise(self) -> bool: ...
    @property
    def fresh(self) -> bool: ...
    @property
    def random(self) -> bool: ...
    @property
    def cost(self) -> str: ...


class Value:
    """An edge of the graph: one tensor-valued result."""

    __slots__ = ("aval", "id")

    def __init__(self, aval: Aval):
        self.aval = aval
        self.id = next(_value_ids)

    @property
    def shape(self) -> tuple:
        return self.aval.shape

    @property
    def dtype(self) -> str:
        return self.aval.dtype

    def __repr__(self) -> str:
        return f"Value#{self.id}<{format_aval(self.aval)}>"


class Node:
    """One application of a primitive: ``outputs = prim(*inputs, **params)``."""

    __slots__ = ("inputs", "outputs", "params", "prim")

    def __init__(self, prim: NodePrimitive, inputs: list, params: dict, outputs: list):
        self.prim = prim
        self.inputs = list(inputs)
        self.params = dict(params)
        self.outputs = list(outputs)

    @property
    def has_effect(self) -> bool:
        """Effectful nodes (variable reads and writes, collectives) are never removed or
        reordered; the one exception, ``passes.schedule``, moves collectives (each kind
        keeping its order) past nodes that do not feed them."""
        return getattr(self.prim, "effect", False)

    def __repr__(self) -> str:
        return f"Node({self.prim.name}, {len(self.inputs)} inputs)"


class Graph:
    """A traced program; see the module docstring."""

    def __init__(self, name: str = "graph"):
        self.name = name
        self.inputs: list[Value] = []
        self.outputs: list[Value] = []
        self.nodes: list[Node] = []
        self.constants: dict[Value, Any] = {}  # Value -> backend array
        self.variables: list = []  # nerve.Variable objects, by slot

    # -- building -----------------------------------------------------------------
    def add_input(self, aval: Aval) -> Value:
        value = Value(aval)
        self.inputs.append(value)
        return value

    def add_constant(self, array: Any, aval: Aval) -> Value:
        value = Value(aval)
        self.constants[value] = array
        return value

    def add_node(self, prim: NodePrimitive, inputs: list, params: dict, out_avals: list) -> Node:
        node = Node(prim, inputs, params, [Value(a) for a in out_avals])
        self.nodes.append(node)
        return node

    def variable_slot(self, variable: Any) -> int:
        for i, v in enumerate(self.variables):
            if v is variable:
                return i
        self.variables.append(variable)
        return len(self.variables) - 1

    # -- queries --------------------------------------------------------------------
    def producers(self) -> dict[Value, Node]:
        return {out: node for node in self.nodes for out in node.outputs}

    def uses(self) -> dict[Value, int]:
        """How many times each value is consumed (by nodes or as a graph output)."""
        counts: dict[Value, int] = {}
        for node in self.nodes:
            for v in node.inputs:
                counts[v] = counts.get(v, 0) + 1
        for v in self.outputs:
            counts[v] = counts.get(v, 0) + 1
        return counts

    def primitive_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for node in self.nodes:
            counts[node.prim.name] = counts.get(node.prim.name, 0) + 1
        return counts

    def __len__(self) -> int:
        return len(self.nodes)

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes)

    def copy(self) -> Graph:
        """A shallow structural copy: new node list and node objects, same values."""
        g = Graph(self.name)
        g.inputs = list(self.inputs)
        g.outputs = list(self.outputs)
        g.nodes = [Node(n.prim, n.inputs, n.params, n.outputs) for n in self.nodes]
        g.constants = dict(self.constants)
        g.variables = list(self.variables)
        return g

    # -- text form --------------------------------------------------------------------
    def __str__(self) -> str:
        return to_text(self)

    def to_text(self) -> str:
        return to_text(self)

    def to_dot(self) -> str:
        """Graphviz DOT source of the graph."""
        from nerve.graph.inspect import to_dot

        return to_dot(self)

    def save_svg(self, path: str) -> None:
        """Render the graph to an SVG file with Graphviz's ``dot`` program."""
        from nerve.graph.inspect import save_svg

        save_svg(self, path)


def format_aval(aval: Aval) -> str:
    dims = ",".join("?" if d is None else str(d) for d in aval.shape)
    return f"{_SHORT_DTYPES.get(aval.dtype, aval.dtype)}[{dims}]"


def _names() -> Iterator[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    for size in itertools.count(1):
        for combo in itertools.product(letters, repeat=size):
            yield "".join(combo)


def _format_param(value: Any) -> str:
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, tuple):
        return (
            "(" + ",".join(_format_param(v) for v in value) + ("," if len(value) == 1 else "") + ")"
        )
    if isinstance(value, Primitive):
        return value.name
    return repr(value) if isinstance(value, str) else str(value)


def to_text(graph: Graph) -> str:
    """The deterministic, readable text form of ``graph``."""
    names: dict[Value, str] = {}
    fresh = _names()

    def name(v: Value) -> str:
        if v not in names:
            names[v] = next(fresh)
        return names[v]

    def typed(v: Value) -> str:
        return f"{name(v)}:{format_aval(v.aval)}"

    lines = [f"{graph.name}({', '.join(typed(v) for v in graph.inputs)}) {{"]
    for v, array in graph.constants.items():
        shown = _short_constant(array)
        lines.append(f"  {typed(v)} = const {shown}")
    for node in graph.nodes:
        outs = " ".join(typed(o) for o in node.outputs) or "_"
        if node.prim.name == "fused_elementwise":
            lines.extend(_fused_text(node, outs, name))
            continue
        params = " ".join(
            f"{k}={_format_param(v)}" for k, v in sorted(node.params.items()) if k != "variable"
        )
        if "slot" in node.params:
            var = graph.variables[node.params["slot"]]
            params = f"{params} name={getattr(var, 'name', '?')}".strip()
        args = " ".join(name(v) for v in node.inputs)
        head = node.prim.name + (f"[{params}]" if params else "")
        lines.append(f"  {outs} = {head} {args}".rstrip())
    lines.append(f"  return {' '.join(name(v) for v in graph.outputs)}")
    lines.append("}")
    return "\n".join(lines)


def _fused_text(node: Node, outs: str, name) -> list[str]:
    """A fused node as a block: one line per step; steps whose value leaves the block
    carry the node's output names, the others are ``_0, _1, ...``."""
    refs = [name(v) for v in node.inputs]
    for k, block in enumerate(node.params.get("blocks") or ()):
        if block is not None:  # columns read in place
            refs[k] = f"{refs[k]}[...,{block[0]}:{block[1]}]"
    results = dict(zip(node.params["results"], node.outputs))
    lines = [f"  {outs} = fused_elementwise {' '.join(refs)} {{"]
    for j, (prim, args, params) in enumerate(node.params["program"]):
        out = results.get(len(refs))
        refs.append(name(out) if out is not None else f"_{j}")
        shown = " ".join(f"{k}={_format_param(v)}" for k, v in params)
        head = prim.name + (f"[{shown}]" if shown else "")
        lines.append(f"    {refs[-1]} = {head} {' '.join(refs[k] for k in args)}")
    for result, out in results.items():
        if isinstance(result, tuple):  # written in blocks: a concatenation along the last axis
            blocks = " ".join(refs[k] for k in result)
            lines.append(f"    {name(out)} = concatenate[axis=-1] {blocks}")
    lines.append("  }")
    return lines


def _short_constant(array: Any) -> str:
    size = getattr(array, "size", 1)
    if size == 1:
        try:
            return repr(array.item())
        except Exception:
            return "<scalar>"
    return f"<{size} elements>"


def iter_values(nodes: Iterable[Node]) -> Iterator[Value]:
    for node in nodes:
        yield from node.inputs
        yield from node.outputs
