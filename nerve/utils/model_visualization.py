"""Draw a model's layer graph: ``model_to_dot`` builds Graphviz DOT text (no ``pydot``
needed), ``plot_model`` writes it as ``.dot`` directly or renders ``.png``, ``.svg``,
``.pdf`` (or any format Graphviz knows) with the Graphviz ``dot`` program.

Each layer is a box labelled with its name and class (``show_layer_names``) or just
its class, then optional lines: its activation, its input and output shapes, its
output dtype, and whether it is trainable; an edge joins each layer to the layers it
feeds. With ``expand_nested`` a nested model is a dashed cluster of its own layers.

>>> import nerve
>>> from nerve import layers
>>> from nerve.utils import model_to_dot
>>> inputs = layers.Input((4,), name="x")
>>> model = nerve.Model(inputs, layers.Dense(2, name="out")(inputs), name="mlp")
>>> print(model_to_dot(model, show_shapes=True).to_string(), end="")
digraph "mlp" {
  graph [rankdir="TB", dpi=200, concentrate=true];
  node [shape=box, fontname="Helvetica"];
  n0 [label="x (InputLayer)\\noutput: (None, 4)"];
  n1 [label="out (Dense)\\ninput: (None, 4)\\noutput: (None, 2)"];
  n0 -> n1;
}
"""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Any

from nerve.utils.model_graph import GraphNode, ModelGraph, model_graph

__all__ = ["DotGraph", "model_to_dot", "plot_model"]

_RANKDIRS = ("TB", "LR", "BT", "RL")
GRAPHVIZ_HELP = (
    "install Graphviz (https://graphviz.org/download/: e.g. `apt install graphviz`, "
    "`brew install graphviz` or `conda install graphviz`) so that `dot` is on PATH, "
    "or write a `.dot` file, which needs no Graphviz"
)


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _shape_text(shapes: list[tuple] | None) -> str:
    if shapes is None:
        return "?"
    text = [str(tuple(shape)).replace(",)", ")") for shape in shapes]
    return text[0] if len(text) == 1 else "[" + ", ".join(text) + "]"


def _activation_name(layer: Any) -> str | None:
    activation = getattr(layer, "activation", None)
    if activation is None:
        return None
    return (
        getattr(activation, "__name__", None)
        or getattr(activation, "name", None)
        or str(activation)
    )


class DotGraph:
    """Graphviz DOT text, as ``model_to_dot`` returns it: ``to_string()`` gives the text,
    ``create(format)`` renders it with ``dot``, ``write(path)`` saves it."""

    def __init__(self, source: str) -> None:
        self.source = source

    def to_string(self) -> str:
        return self.source

    def __str__(self) -> str:
        return self.source

    def create(self, format: str = "png", prog: str = "dot") -> bytes:
        """The graph rendered by the Graphviz program ``prog`` in ``format``."""
        program = shutil.which(prog)
        if program is None:
            raise ImportError(
                f"Rendering a model plot as {format!r} needs Graphviz: {GRAPHVIZ_HELP}."
            )
        result = subprocess.run(
            [program, f"-T{format}"],
            input=self.source.encode("utf-8"),
            capture_output=True,
            check=False,
        )
        if result.returncode != 0:
            message = result.stderr.decode(errors="replace").strip()
            raise RuntimeError(f"Graphviz `{prog} -T{format}` failed: {message}")
        return result.stdout

    def write(self, path: str | os.PathLike, format: str | None = None) -> None:
        """Save to ``path``: the DOT text for format ``"dot"`` (``raw``/``gv`` too), else
        the rendering (format from the file's extension when not given)."""
        path = os.fspath(path)
        if format is None:
            format = os.path.splitext(path)[1][1:] or "png"
        if format in ("dot", "gv", "raw"):
            with open(path, "w", encoding="utf-8") as file:
                file.write(self.source)
        else:
            data = self.create(format)
            with open(path, "wb") as file:
                file.write(data)


class _DotBuilder:
    def __init__(self, options: dict) -> None:
        self.options = options
        self.lines: list[str] = []
        self.ids: dict[tuple[int, str], str] = {}

    def label(self, node: GraphNode) -> str:
        layer, options = node.layer, self.options
        lines = [
            f"{node.name} ({node.class_name})" if options["show_layer_names"] else node.class_name
        ]
        if options["show_layer_activations"]:
            activation = _activation_name(layer)
            if activation is not None:
                lines.append(f"activation: {activation}")
        if options["show_shapes"]:
            if node.class_name != "InputLayer":
                lines.append(f"input: {_shape_text(node.input_shapes)}")
            lines.append(f"output: {_shape_text(node.output_shapes)}")
        if options["show_dtype"]:
            dtype = getattr(layer, "compute_dtype", None) or getattr(layer, "dtype", None)
            lines.append(f"dtype: {dtype or '?'}")
        if options["show_trainable"] and getattr(layer, "weights", None):
            lines.append("trainable" if layer.trainable else "non-trainable")
        return "\n".join(lines)

    def add_graph(self, graph: ModelGraph, indent: str) -> None:
        """Nodes of ``graph`` (clusters for nested graphs), then its edges."""
        for node in graph.nodes:
            if node.nested is not None:
                self.lines.append(f"{indent}subgraph cluster_{len(self.ids)} {{")
                self.ids[(id(graph), node.name)] = ""
                self.lines.append(f"{indent}  label={_quote(node.name)}; style=dashed;")
                self.add_graph(node.nested, indent + "  ")
                self.lines.append(f"{indent}}}")
            else:
                node_id = f"n{len(self.ids)}"
                self.ids[(id(graph), node.name)] = node_id
                self.lines.append(f"{indent}{node_id} [label={_quote(self.label(node))}];")
        by_name = {node.name: node for node in graph.nodes}
        for node in graph.nodes:
            for source in node.inbound:
                for tail in self.ends(graph, by_name[source], "outputs"):
                    for head in self.ends(graph, node, "inputs"):
                        self.lines.append(f"{indent}{tail} -> {head};")

    def ends(self, graph: ModelGraph, node: GraphNode, side: str) -> list[str]:
        """The DOT ids an edge to (``inputs``) or from (``outputs``) ``node`` attaches to:
        the node itself, or a nested model's input or output layers."""
        if node.nested is None:
            return [self.ids[(id(graph), node.name)]]
        inner = {n.name: n for n in node.nested.nodes}
        names = getattr(node.nested, side) or [n.name for n in node.nested.nodes][:1]
        return [end for name in names for end in self.ends(node.nested, inner[name], side)]


def model_to_dot(
    model: Any,
    show_shapes: bool = False,
    show_dtype: bool = False,
    show_layer_names: bool = True,
    rankdir: str = "TB",
    expand_nested: bool = False,
    dpi: int = 200,
    subgraph: bool = False,
    show_layer_activations: bool = False,
    show_trainable: bool = False,
    **kwargs: Any,
) -> DotGraph:
    """The DOT graph of ``model``'s layers (see the module docstring); ``rankdir`` is
    Graphviz's direction: ``"TB"`` (top to bottom) or ``"LR"`` (left to right), or
    their reverses; ``subgraph`` gives a dashed cluster to place in another graph."""
    if kwargs.pop("layer_range", None) is not None:
        raise ValueError(
            "model_to_dot: the `layer_range` argument is not supported (nor in Keras 3)."
        )
    if kwargs:
        raise ValueError(f"model_to_dot: unrecognized keyword arguments: {sorted(kwargs)}.")
    if rankdir not in _RANKDIRS:
        raise ValueError(f"model_to_dot: rankdir must be one of {_RANKDIRS}, got {rankdir!r}.")
    if not getattr(model, "built", True):
        raise ValueError(
            f"model_to_dot: model {model.name!r} has not been built yet. Build it first by "
            "calling `build()` or by calling the model on a batch of data."
        )
    builder = _DotBuilder(
        {
            "show_shapes": show_shapes,
            "show_dtype": show_dtype,
            "show_layer_names": show_layer_names,
            "show_layer_activations": show_layer_activations,
            "show_trainable": show_trainable,
        }
    )
    if subgraph:
        header = [
            f"subgraph {_quote('cluster_' + model.name)} {{",
            f"  label={_quote(model.name)}; style=dashed;",
        ]
    else:
        header = [
            f"digraph {_quote(model.name)} {{",
            f"  graph [rankdir={_quote(rankdir)}, dpi={int(dpi)}, concentrate=true];",
            '  node [shape=box, fontname="Helvetica"];',
        ]
    builder.add_graph(model_graph(model, expand_nested), "  ")
    return DotGraph("\n".join([*header, *builder.lines, "}"]) + "\n")


def plot_model(
    model: Any,
    to_file: str | os.PathLike = "model.png",
    show_shapes: bool = False,
    show_dtype: bool = False,
    show_layer_names: bool = False,
    rankdir: str = "TB",
    expand_nested: bool = False,
    dpi: int = 200,
    show_layer_activations: bool = False,
    show_trainable: bool = False,
    **kwargs: Any,
) -> None:
    """Write the model's graph to ``to_file``: DOT text for ``.dot``/``.gv``, otherwise
    rendered by Graphviz's ``dot`` in the format the extension names (``.png`` when
    there is none). Without Graphviz, an ``ImportError`` says what to install.

    >>> import os, tempfile, nerve
    >>> from nerve import layers
    >>> from nerve.utils import plot_model
    >>> model = nerve.Sequential([layers.Input((4,)), layers.Dense(2)])
    >>> path = os.path.join(tempfile.mkdtemp(), "model.dot")
    >>> plot_model(model, to_file=path, show_shapes=True)
    >>> with open(path) as file:
    ...     file.read().startswith("digraph")
    True
    """
    to_file = os.fspath(to_file)
    extension = os.path.splitext(to_file)[1][1:] or "png"
    if extension not in ("dot", "gv", "raw") and shutil.which("dot") is None:
        raise ImportError(f"plot_model: writing {to_file!r} needs Graphviz: {GRAPHVIZ_HELP}.")
    dot = model_to_dot(
        model,
        show_shapes=show_shapes,
        show_dtype=show_dtype,
        show_layer_names=show_layer_names,
        rankdir=rankdir,
        expand_nested=expand_nested,
        dpi=dpi,
        show_layer_activations=show_layer_activations,
        show_trainable=show_trainable,
        **kwargs,
    )
    dot.write(to_file, format=extension)
