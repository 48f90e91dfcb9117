"""``Model.summary``'s table (see its docstring for the columns and the FLOP count)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from nerve.layers.base import Layer
from nerve.models.model import dtype_size, shape_size

__all__ = [
    "format_bytes",
    "layer_flops",
    "render_summary",
]


class _Row(NamedTuple):
    """A layer the summary lists, with its input and output shapes (``None`` if unknown)."""

    layer: Layer
    input_shapes: list[tuple] | None
    output_shapes: list[tuple] | None


def _as_argument(shapes: list[tuple] | None) -> Any:
    """Shapes in the form ``compute_output_shape`` uses: one tuple, or a list of them."""
    if shapes is None:
        return None
    return shapes[0] if len(shapes) == 1 else shapes


def layer_flops(row: _Row) -> int | None:
    """Forward FLOPs per example, as the layer counts them (``Layer.compute_flops``); a
    nested model's are the sum of its layers'. ``None`` if unknown."""
    from nerve.models.model import Model

    if not isinstance(row.layer, Layer):
        return 0  # an op node: like layers without weights, cheap next to the products
    if isinstance(row.layer, Model):
        total = 0
        for inner in _layer_rows(row.layer):
            flops = layer_flops(inner)
            if flops is None:
                return None
            total += flops
        return total
    return row.layer.compute_flops(_as_argument(row.input_shapes), _as_argument(row.output_shapes))


def _layer_rows(model: Any) -> list[_Row]:
    """A row for each layer the summary lists."""
    from nerve.models.functional import Functional
    from nerve.models.sequential import Sequential

    graph = model._functional if isinstance(model, Sequential) else model
    if isinstance(graph, Functional):
        node_ids = {id(n) for n in graph._all_nodes()}
        rows = []
        # A Functional model lists its op nodes too (``x[:, :4]``, ``ops.relu``), as
        # Keras's summary does: "Connected to" names them.
        layers = model.layers if isinstance(model, Sequential) else graph.operations
        for layer in layers:
            nodes = [n for n in layer._inbound_nodes if id(n) in node_ids]
            if nodes:
                inputs = [t.shape for t in nodes[0].input_tensors]
                rows.append(_Row(layer, inputs, [t.shape for t in nodes[0].output_tensors]))
            else:
                rows.append(_Row(layer, None, None))
        return rows
    return [_Row(layer, None, None) for layer in model.layers]


def _connections(model: Any, layer: Layer) -> str:
    node_ids = {id(n) for n in model._all_nodes()}
    parts = []
    for node in layer._inbound_nodes:
        if id(node) not in node_ids:
            continue
        for tensor in node.input_tensors:
            source, _, tensor_index = tensor._history
            own = [n for n in source._inbound_nodes if id(n) in node_ids]
            index = next(i for i, n in enumerate(own) if n is tensor.node)
            parts.append(f"{source.name}[{index}][{tensor_index}]")
    return ", ".join(parts) if parts else "-"


def _format_shape(shapes: list[tuple] | None) -> str:
    if shapes is None:
        return "?"
    text = [str(s).replace(",)", ")") for s in shapes]
    return text[0] if len(text) == 1 else "[" + ", ".join(text) + "]"


def format_bytes(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.2f} {unit}"
        size /= 1024
    return f"{size:.2f} GB"


def _format_count(value: int | None) -> str:
    return "?" if value is None else f"{value:,}"


def _memory(shapes: list[tuple] | None, dtype: str) -> str:
    if shapes is None:
        return "?"
    elements = 0
    for shape in shapes:
        size = shape_size(shape)
        if size is None:
            return "?"
        elements += size
    return format_bytes(elements * dtype_size(dtype))


def _rows(
    model: Any, expand_nested: bool, show_trainable: bool, connected: bool, depth: int = 0
) -> list[list[str]]:
    from nerve.models.model import Model

    rows = []
    for listed in _layer_rows(model):
        layer, shapes = listed.layer, listed.output_shapes
        prefix = "  " * depth + ("└ " if depth else "")
        if isinstance(layer, Layer):
            params = layer.count_params() if layer.built else 0
            kind, dtype, trainable = type(layer).__name__, layer.compute_dtype, layer.trainable
        else:  # an op node: no weights
            params, kind, trainable = 0, layer.class_name, False
            outputs = layer._inbound_nodes[0].output_tensors if layer._inbound_nodes else []
            dtype = outputs[0].dtype if outputs else "float32"
        row = [
            f"{prefix}{layer.name} ({kind})",
            _format_shape(shapes),
            _format_count(params),
            _format_count(layer_flops(listed)),
            _memory(shapes, dtype),
        ]
        if connected:
            row.append(_connections(model, layer) if depth == 0 else "")
        if show_trainable:
            row.append("Y" if trainable else "N" if isinstance(layer, Layer) else "-")
        rows.append(row)
        if expand_nested and isinstance(layer, Model):
            rows.extend(_rows(layer, True, show_trainable, connected, depth + 1))
    return rows


def render_summary(
    model: Any,
    line_length: int | None,
    positions: list[float] | None,
    print_fn: Callable[..., Any] | None,
    expand_nested: bool,
    show_trainable: bool,
) -> None:
    from nerve.models.functional import Functional

    print_fn = print_fn or print
    connected = isinstance(model, Functional)  # a graph: show what feeds each layer
    headers = ["Layer (type)", "Output Shape", "Param #", "FLOPs", "Act. memory"]
    if connected:
        headers.append("Connected to")
    if show_trainable:
        headers.append("Trainable")
    rows = _rows(model, expand_nested, show_trainable, connected)
    widths = _column_widths(headers, rows, line_length, positions)
    numeric = {2, 3, 4}

    def line(cells: list[str], left: str, sep: str, right: str) -> str:
        parts = []
        for i, (cell, width) in enumerate(zip(cells, widths)):
            cell = cell if len(cell) <= width else cell[: max(width - 1, 0)] + "…"
            parts.append(" " + (cell.rjust(width) if i in numeric else cell.ljust(width)) + " ")
        return left + sep.join(parts) + right

    def rule(left: str, mid: str, right: str, fill: str) -> str:
        return left + mid.join(fill * (w + 2) for w in widths) + right

    print_fn(f'Model: "{model.name}"')
    print_fn(rule("┏", "┳", "┓", "━"))
    print_fn(line(headers, "┃", "┃", "┃"))
    print_fn(rule("┡", "╇", "┩", "━"))
    for i, row in enumerate(rows):
        print_fn(line(row, "│", "│", "│"))
        if i < len(rows) - 1:
            print_fn(rule("├", "┼", "┤", "─"))
    print_fn(rule("└", "┴", "┘", "─"))

    def total(weights: list) -> str:
        count = sum(w.size for w in weights)
        size = sum(w.size * dtype_size(w.dtype) for w in weights)
        return f"{count:,} ({format_bytes(size)})"

    built = model.built
    print_fn(f" Total params: {total(model.weights if built else [])}")
    print_fn(f" Trainable params: {total(model.trainable_weights if built else [])}")
    print_fn(f" Non-trainable params: {total(model.non_trainable_weights if built else [])}")
    counts = [layer_flops(row) for row in _layer_rows(model)]
    flops = f"{sum(c or 0 for c in counts):,}"
    if None in counts:
        flops = f"at least {flops} (some layers' counts are unknown: ?)"
    print_fn(f" FLOPs per example (forward, 2 x multiply-adds): {flops}")


def _column_widths(
    headers: list[str], rows: list[list[str]], line_length: int | None, positions: Any
) -> list[int]:
    """Column text widths: from ``positions`` (right edges) if given, else fitted to the
    content and then scaled to ``line_length``."""
    count = len(headers)
    if positions is not None:
        positions = list(positions)[:count]
        total = line_length or 98
        if all(p <= 1 for p in positions):
            positions = [int(p * total) for p in positions]
        edges = [0, *positions]
        widths = [max(edges[i + 1] - edges[i] - 3, 1) for i in range(len(positions))]
        return widths + [12] * (count - len(widths))
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(count)]
    if line_length is not None:
        # Share the room left after the borders (3 characters per column, plus 1).
        room = max(line_length - 3 * count - 1, 3 * count)
        natural = sum(widths)
        widths = [max(w * room // natural, 3) for w in widths]
        widths[0] += max(room - sum(widths), 0)
    return widths
