"""Inspection: Graphviz DOT export and SVG rendering of graphs."""

from __future__ import annotations

import shutil
import subprocess

from nerve.graph.ir import Graph, Node, Value, format_aval

__all__ = [
    "save_svg",
    "to_dot",
]


def to_dot(graph: Graph) -> str:
    """Graphviz DOT source: one box per node, one edge per tensor (labelled by its type)."""
    lines = [f'digraph "{graph.name}" {{', "  rankdir=TB;", '  node [fontname="monospace"];']
    source: dict[Value, str] = {}
    for i, v in enumerate(graph.inputs):
        source[v] = f"in{i}"
        lines.append(f'  in{i} [shape=oval, label="input {i}\\n{format_aval(v.aval)}"];')
    for i, v in enumerate(graph.constants):
        source[v] = f"const{i}"
        lines.append(f'  const{i} [shape=note, label="const\\n{format_aval(v.aval)}"];')
    for i, node in enumerate(graph.nodes):
        style = ", style=filled, fillcolor=lightyellow" if node.has_effect else ""
        lines.append(f'  n{i} [shape=box{style}, label="{_label(node)}"];')
        for v in node.inputs:
            lines.append(f'  {source[v]} -> n{i} [label="{format_aval(v.aval)}"];')
        for v in node.outputs:
            source[v] = f"n{i}"
    for i, v in enumerate(graph.outputs):
        lines.append(f'  out{i} [shape=oval, label="output {i}"];')
        lines.append(f'  {source[v]} -> out{i} [label="{format_aval(v.aval)}"];')
    lines.append("}")
    return "\n".join(lines)


def _label(node: Node) -> str:
    if node.prim.name == "fused_elementwise":  # the steps, in order
        return "fused\\n" + "\\n".join(prim.name for prim, _, _ in node.params["program"])
    return node.prim.name


def save_svg(graph: Graph, path: str) -> None:
    """Render with Graphviz's ``dot``; a clear error says how to install it if missing."""
    dot = shutil.which("dot")
    if dot is None:
        raise RuntimeError(
            "save_svg needs Graphviz's `dot` program (e.g. `apt-get install graphviz`); "
            "graph.to_dot() gives the DOT source without it."
        )
    subprocess.run([dot, "-Tsvg", "-o", path], input=to_dot(graph).encode(), check=True)
