"""Size-polymorphic graphs: a graph traced once with a symbolic size, specialized per size.

``nerve.function`` traces a function whose ``input_signature`` has ``None`` dims
with those dims set to the symbol ``n`` (``nerve.core.symbolic``): avals, params
(reshape targets, slice bounds, a mean's ``1 / n`` in a ``scalar_like``, a batch
size turned into a tensor by a ``full`` node) and static outputs then hold ``Dim``
and ``SymbolicFloat`` numbers. ``specialize(graph, n)`` walks that graph once and
evaluates every one of them at a concrete ``n``, giving an ordinary graph that
``optimize`` and ``CompiledGraph`` compile as usual: one Python run of the function
serves every size, at the price of one optimize and compile per size.

Control-flow params hold sub-programs (``nerve.graph.programs.Program``) traced with
the same symbol; they are specialized recursively.
"""

from __future__ import annotations

from typing import Any

from nerve.core.symbolic import Symbolic, SymbolicDimError
from nerve.graph.ir import Graph, Value
from nerve.graph.programs import Program
from nerve.primitives.registry import Aval

__all__ = [
    "specialize",
]


def specialize(graph: Graph, n: int) -> Graph:
    """``graph`` with the symbolic size set to ``n``; ``SymbolicDimError`` when a
    dimension comes out negative at ``n``, or a symbolic number cannot be evaluated
    there (``1 / n`` at ``n = 0``), so the caller can trace that size concretely.

    >>> import nerve
    >>> from nerve import ops
    >>> f = nerve.function(lambda x: ops.mean(x), input_signature=[nerve.TensorSpec((None,))])
    >>> print(f.get_concrete_function(ops.ones((4,))).symbolic)
    <lambda>(a:f32[n]) {
      b:f32[] = reduce_sum[axes=(0,) keepdims=False] a
      c:f32[] = scalar_like[value=(1.0 / n)] b
      d:f32[] = multiply b c
      return d
    }
    >>> print(specialize(f.get_concrete_function(ops.ones((4,))).symbolic, 8))
    <lambda>(a:f32[8]) {
      b:f32[] = reduce_sum[axes=(0,) keepdims=False] a
      c:f32[] = scalar_like[value=0.125] b
      d:f32[] = multiply b c
      return d
    }
    """
    try:
        return _Specializer(n).graph(graph)
    except (ArithmeticError, ValueError) as error:
        raise SymbolicDimError(f"the graph cannot be specialized to size {n}: {error}") from None


class _Specializer:
    """One specialization: evaluates avals and params at ``n``; sub-programs shared by
    several nodes (a cond's branches and their gradients) are specialized once."""

    def __init__(self, n: int):
        self.n = n
        self._programs: dict[int, Program] = {}

    def graph(self, source: Graph) -> Graph:
        out = Graph(source.name)
        out.variables = list(source.variables)
        mapping: dict[Value, Value] = {}
        for v in source.inputs:
            mapping[v] = out.add_input(self.aval(v.aval))
        for v, array in source.constants.items():
            mapping[v] = out.add_constant(array, v.aval)  # concrete: constants never hold n
        for node in source.nodes:
            new = out.add_node(
                node.prim,
                [mapping[v] for v in node.inputs],
                {k: self.param(p) for k, p in node.params.items()},
                [self.aval(v.aval) for v in node.outputs],
            )
            mapping.update(zip(node.outputs, new.outputs))
        out.outputs = [mapping[v] for v in source.outputs]
        return out

    def aval(self, aval: Aval) -> Aval:
        shape = tuple(self.value(d) for d in aval.shape)
        if any(d < 0 for d in shape):
            raise ValueError(f"shape {shape} has a negative dimension")
        return Aval(shape, aval.dtype)

    def value(self, x: Any) -> Any:
        return x.evaluate(self.n) if isinstance(x, Symbolic) else x

    def param(self, x: Any) -> Any:
        if isinstance(x, Symbolic):
            return x.evaluate(self.n)
        if isinstance(x, Aval):
            return self.aval(x)
        if isinstance(x, tuple):
            items = [self.param(v) for v in x]
            return type(x)(*items) if hasattr(x, "_fields") else tuple(items)
        if isinstance(x, list):
            return [self.param(v) for v in x]
        if isinstance(x, dict):
            return {k: self.param(v) for k, v in x.items()}
        if isinstance(x, Program):
            return self.program(x)
        return x

    def program(self, program: Program) -> Program:
        done = self._programs.get(id(program))
        if done is None:
            done = self._programs[id(program)] = Program(self.graph(program.graph), program.name)
            # A loop's residual-saving twin stays the twin of the specialized original.
            done.num_residuals = program.num_residuals
            if program.primal_of is not None:
                done.primal_of = self.program(program.primal_of)
        return done
