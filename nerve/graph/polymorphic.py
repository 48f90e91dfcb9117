"""Size-polymorphic graphs: one trace serves every size of a symbolic (``None``) dimension.

Tracing bakes sizes into a graph: output shapes, the target shape of a reshape,
the divisor of a mean. To let a ``None`` dimension of an ``input_signature`` stay
symbolic without symbolic shape arithmetic in every shape rule, the function is
traced at three sizes of that dimension. If the three graphs have the same
structure and every number that differs between them is the same affine function
``slope * n + intercept`` of the size (checked on all three), the first graph
becomes a *template*: ``specialize(n)`` writes those numbers for any size ``n``
without running the Python function again. Anything else (a different structure,
a non-affine size like ``n // 2``, a changed array constant) returns ``None`` and
the caller traces each size on its own, as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nerve.graph.ir import Graph, Node, Value
from nerve.primitives.registry import Aval

#: The sizes a symbolic dimension is traced at (away from 1, whose broadcasting rules
#: differ, and large enough that n // 2-style sizes show up as non-affine).
TRACE_SIZES = (5, 6, 7)


@dataclass(frozen=True)
class Affine:
    """An integer (or scalar constant) equal to ``slope * n + intercept``."""

    slope: Any
    intercept: Any

    def at(self, n: int) -> Any:
        return self.slope * n + self.intercept


@dataclass(frozen=True)
class ReciprocalAffine(Affine):
    """A float equal to ``1 / (slope * n + intercept)`` (a mean's ``1 / count``)."""

    def at(self, n: int) -> Any:
        return 1.0 / (self.slope * n + self.intercept)


class _Mismatch(Exception):
    """The three traces don't fit one template."""


def _fit(values: tuple, sizes: tuple) -> Any:
    """A number that is the same at every size, or an ``Affine`` (or, for floats, a
    ``ReciprocalAffine``) that predicts all three."""
    first = values[0]
    if all(v == first and type(v) is type(first) for v in values):
        return first
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        raise _Mismatch
    if isinstance(first, int):
        slope = (values[1] - values[0]) // (sizes[1] - sizes[0])
        affine = Affine(slope, values[0] - slope * sizes[0])
        if any(affine.at(n) != v for n, v in zip(sizes, values)):
            raise _Mismatch
        return affine
    for kind, transformed in ((Affine, values), (ReciprocalAffine, _reciprocals(values))):
        if transformed is None:
            continue
        slope = (transformed[1] - transformed[0]) / (sizes[1] - sizes[0])
        candidate = kind(slope, transformed[0] - slope * sizes[0])
        if all(_close(candidate.at(n), v) for n, v in zip(sizes, values)):
            return candidate
    raise _Mismatch


def _reciprocals(values: tuple) -> tuple | None:
    return None if any(v == 0 for v in values) else tuple(1.0 / v for v in values)


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-12 * max(1.0, abs(b))


def _fit_tree(values: tuple, sizes: tuple) -> Any:
    """``_fit`` through nested tuples (params such as shapes and axes)."""
    first = values[0]
    if isinstance(first, Aval):  # before tuple: an Aval is a NamedTuple
        shape = _fit_tree(tuple(tuple(v.shape) for v in values), sizes)
        if any(v.dtype != first.dtype for v in values):
            raise _Mismatch
        return Aval(shape, first.dtype)
    if isinstance(first, tuple):
        if any(not isinstance(v, tuple) or len(v) != len(first) for v in values):
            raise _Mismatch
        return tuple(_fit_tree(parts, sizes) for parts in zip(*values))
    return _fit(values, sizes)


def _value_positions(graph: Graph) -> dict[Value, tuple]:
    positions: dict[Value, tuple] = {}
    for i, v in enumerate(graph.inputs):
        positions[v] = ("input", i)
    for i, v in enumerate(graph.constants):
        positions[v] = ("constant", i)
    for i, node in enumerate(graph.nodes):
        for j, v in enumerate(node.outputs):
            positions[v] = ("node", i, j)
    return positions


@dataclass
class SizeTemplate:
    """A graph whose size-dependent numbers are ``Affine`` in a symbolic size."""

    graph: Graph
    input_avals: list
    constants: list  # scalar values or Affine, per constant (None: keep the array)
    params: list  # per node: dict of params (values may contain Affine)
    output_avals: list  # per node: list of avals (shapes may contain Affine)

    def specialize(self, n: int) -> Graph:
        """The graph for size ``n`` (shapes checked non-negative)."""

        def at(x: Any) -> Any:
            if isinstance(x, Affine):
                return x.at(n)
            if isinstance(x, Aval):  # before tuple: an Aval is a NamedTuple
                shape = at(tuple(x.shape))
                if any(d < 0 for d in shape):
                    raise ValueError(f"size {n} gives a negative dimension in {shape}")
                return Aval(shape, x.dtype)
            if isinstance(x, tuple):
                return tuple(at(p) for p in x)
            return x

        source = self.graph
        out = Graph(source.name)
        out.variables = list(source.variables)
        mapping: dict[Value, Value] = {}
        for v, aval in zip(source.inputs, self.input_avals):
            mapping[v] = out.add_input(at(aval))
        for (v, array), scalar in zip(source.constants.items(), self.constants):
            if isinstance(scalar, Affine):
                array = _scalar_like(array, scalar.at(n))
            mapping[v] = out.add_constant(array, v.aval)
        for node, params, avals in zip(source.nodes, self.params, self.output_avals):
            new = out.add_node(
                node.prim,
                [mapping[v] for v in node.inputs],
                {k: at(p) for k, p in params.items()},
                [at(a) for a in avals],
            )
            mapping.update(zip(node.outputs, new.outputs))
        out.outputs = [mapping[v] for v in source.outputs]
        return out


def _scalar_like(array: Any, value: Any) -> Any:
    """A 0-d array of ``array``'s type and dtype holding ``value``."""
    result = array.copy()
    result[...] = value
    return result


def generalize(graphs: list[Graph], sizes: tuple = TRACE_SIZES) -> SizeTemplate | None:
    """The template the graphs traced at ``sizes`` share, or ``None``."""
    try:
        return _generalize(graphs, sizes)
    except _Mismatch:
        return None


def _generalize(graphs: list[Graph], sizes: tuple) -> SizeTemplate:
    first = graphs[0]
    for g in graphs[1:]:
        if (
            len(g.inputs) != len(first.inputs)
            or len(g.constants) != len(first.constants)
            or len(g.nodes) != len(first.nodes)
            or len(g.outputs) != len(first.outputs)
            or len(g.variables) != len(first.variables)
            or any(a is not b for a, b in zip(g.variables, first.variables))
        ):
            raise _Mismatch
    positions = [_value_positions(g) for g in graphs]

    def same_refs(values_per_graph: list[list[Value]]) -> None:
        refs = [[positions[k][v] for v in values] for k, values in enumerate(values_per_graph)]
        if any(r != refs[0] for r in refs[1:]):
            raise _Mismatch

    input_avals = [
        _fit_tree(avals, sizes) for avals in zip(*([v.aval for v in g.inputs] for g in graphs))
    ]
    constants = []
    for arrays in zip(*(list(g.constants.values()) for g in graphs)):
        constants.append(_fit_constant(arrays, sizes))
    params, output_avals = [], []
    for nodes in zip(*(g.nodes for g in graphs)):
        head: Node = nodes[0]
        if any(n.prim is not head.prim or set(n.params) != set(head.params) for n in nodes):
            raise _Mismatch
        same_refs([list(n.inputs) for n in nodes])
        params.append({k: _fit_tree(tuple(n.params[k] for n in nodes), sizes) for k in head.params})
        output_avals.append(
            [
                _fit_tree(avals, sizes)
                for avals in zip(*([v.aval for v in n.outputs] for n in nodes))
            ]
        )
    same_refs([list(g.outputs) for g in graphs])
    return SizeTemplate(first, input_avals, constants, params, output_avals)


def _fit_constant(arrays: tuple, sizes: tuple) -> Any:
    """``None`` for a constant equal in every trace; an ``Affine`` for a 0-d constant
    that varies affinely (a mean's element count, say); otherwise a mismatch."""
    first = arrays[0]
    if any(a.shape != first.shape or a.dtype != first.dtype for a in arrays):
        raise _Mismatch
    if all((a == first).all() for a in arrays[1:]):
        return None
    if first.ndim != 0:
        raise _Mismatch
    return _fit(tuple(a.item() for a in arrays), sizes)
