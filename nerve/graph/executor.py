"""The executor: turns an optimized graph into straight-line Python over kernels.

Per node, eager mode pays for argument conversion, dtype promotion, an
interpreter dispatch, a tensor wrapper and tape bookkeeping. A compiled graph
pays for none of these: the executor generates one Python function whose body
is one line per node, calling the backend kernel (with its params bound ahead
of time) on plain backend arrays held in local variables. Python's own local
variable handling then frees each intermediate after its last use.

The generated source is kept on the compiled object (``.source``) for
inspection; it is built from the graph IR in memory, never read from a file.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

from nerve.backend.base import Backend
from nerve.graph.ir import Graph, Node, Value, format_aval

#: Effectful primitives the executor runs itself (they have no backend kernel).
STATE_PRIMITIVES = ("read_variable", "assign_variable")


class CompiledGraph:
    """A graph compiled for one backend: ``run(input_arrays) -> output_arrays``."""

    def __init__(self, graph: Graph, backend: Backend):
        self.graph = graph
        self.backend = backend
        self.source, namespace = _generate(graph, backend)
        code = compile(self.source, f"<nerve graph {graph.name}>", "exec")
        exec(code, namespace)  # safe: source generated from the graph IR, not read from a file
        self._run = namespace["run"]
        self._variables = list(graph.variables)

    def run(self, inputs: list) -> tuple:
        return self._run(inputs, self._variables)

    def profile(self, inputs: list, repeat: int = 5) -> list[dict]:
        """Per-node wall time (best of ``repeat`` runs), interpreting node by node."""
        return _profile(self.graph, self.backend, inputs, repeat)


def _kernel_for(node: Node, backend: Backend) -> Callable:
    kernel = backend.kernel(node.prim.kernel)
    return functools.partial(kernel, **node.params) if node.params else kernel


def _generate(graph: Graph, backend: Backend) -> tuple[str, dict]:
    namespace: dict[str, Any] = {}
    names: dict[Value, str] = {}

    def name(v: Value) -> str:
        if v not in names:
            names[v] = f"v{len(names)}"
        return names[v]

    lines = ["def run(inputs, variables):"]
    if graph.inputs:
        targets = ", ".join(name(v) for v in graph.inputs)
        lines.append(f"    ({targets},) = inputs")
    for i, (value, array) in enumerate(graph.constants.items()):
        namespace[f"c{i}"] = array
        names[value] = f"c{i}"
    for i, node in enumerate(graph.nodes):
        args = ", ".join(name(v) for v in node.inputs)
        prim = node.prim.name
        if prim == "read_variable":
            lines.append(f"    {name(node.outputs[0])} = variables[{node.params['slot']}]._value")
            continue
        if prim == "assign_variable":
            lines.append(f"    variables[{node.params['slot']}]._value = {args}")
            continue
        namespace[f"k{i}"] = _kernel_for(node, backend)
        if node.prim.multiple_results:
            outs = ", ".join(name(o) for o in node.outputs)
            lines.append(f"    ({outs}{',' if len(node.outputs) == 1 else ''}) = k{i}({args})")
        else:
            lines.append(f"    {name(node.outputs[0])} = k{i}({args})")
        lines[-1] += f"  # {prim}"
    outs = ", ".join(name(v) for v in graph.outputs)
    lines.append(f"    return ({outs}{',' if len(graph.outputs) == 1 else ''})")
    return "\n".join(lines) + "\n", namespace


def _profile(graph: Graph, backend: Backend, inputs: list, repeat: int) -> list[dict]:
    env: dict[Value, Any] = dict(zip(graph.inputs, inputs))
    env.update(graph.constants)
    kernels = {
        id(n): _kernel_for(n, backend) for n in graph.nodes if n.prim.name not in STATE_PRIMITIVES
    }
    best = [float("inf")] * len(graph.nodes)
    for _ in range(repeat):
        # Run on copies of the variables' values so profiling never changes state.
        state = {i: v._value for i, v in enumerate(graph.variables)}
        for k, node in enumerate(graph.nodes):
            start = time.perf_counter()
            if node.prim.name == "read_variable":
                env[node.outputs[0]] = state[node.params["slot"]]
            elif node.prim.name == "assign_variable":
                state[node.params["slot"]] = env[node.inputs[0]]
            else:
                out = kernels[id(node)](*(env[v] for v in node.inputs))
                outs = out if node.prim.multiple_results else (out,)
                env.update(zip(node.outputs, outs))
            best[k] = min(best[k], time.perf_counter() - start)
    total = sum(best) or 1.0
    return [
        {
            "index": k,
            "op": node.prim.name,
            "shapes": " ".join(format_aval(v.aval) for v in node.outputs) or "-",
            "ms": best[k] * 1e3,
            "percent": 100 * best[k] / total,
        }
        for k, node in enumerate(graph.nodes)
    ]
