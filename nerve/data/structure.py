"""Elements of a ``Dataset``: nested structures (tuples, lists, dicts) of NumPy arrays.

A pipeline runs on the host, before any backend sees the data, so its values are plain
NumPy arrays: Python numbers and strings become 0-d arrays, nerve tensors are copied to
the host. The helpers here stack elements into batches, pad them, split batches again
and describe an element's structure (``TensorSpec``), with errors that name the
component (``element[1]['image']``) whose shapes or dtypes disagree.

>>> import numpy as np
>>> stack_elements([(np.zeros(2), 1), (np.ones(2), 2)])
(array([[0., 0.],
       [1., 1.]]), array([1, 2]))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# Input pipelines run on the host: NumPy is their array library on every backend.
import numpy as np

from nerve.core import tree
from nerve.graph.function import TensorSpec
from nerve.tensor import Tensor

__all__ = [
    "component_paths",
    "pad_elements",
    "spec_of",
    "split_batch",
    "stack_elements",
    "to_numpy_element",
]


def _leaf_to_numpy(value: Any) -> np.ndarray:
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, Tensor):
        return value.numpy()
    if isinstance(value, bytes):
        return np.asarray(value, dtype=object)
    return np.asarray(value)


def to_numpy_element(element: Any) -> Any:
    """``element`` with every leaf a NumPy array (tensors copied to the host).

    As in tf.data, tuples (and namedtuples) and dicts are structure, while a Python
    list is data: it becomes one array.

    >>> to_numpy_element(([1, 2], {"a": 3}))
    (array([1, 2]), {'a': array(3)})
    """
    if isinstance(element, dict):
        return {key: to_numpy_element(value) for key, value in element.items()}
    if isinstance(element, tuple):
        items = [to_numpy_element(value) for value in element]
        return type(element)(*items) if hasattr(element, "_fields") else tuple(items)
    if isinstance(element, list):
        try:
            return np.asarray(element)
        except ValueError as error:
            raise ValueError(
                "A Python list in a dataset element is one array, and this one is ragged "
                f"({error}); make it a tuple for a structure, or pad it to one shape."
            ) from None
    return _leaf_to_numpy(element)


def component_paths(element: Any) -> list[str]:
    """How each leaf of ``element`` is reached, for error messages (``"[0]"``,
    ``"['image']"``; ``""`` for a single array), in ``tree.flatten`` order.

    >>> component_paths({"b": (1, 2), "a": 3})
    ["['a']", "['b'][0]", "['b'][1]"]
    """
    paths: list[str] = []

    def walk(x: Any, path: str) -> None:
        if isinstance(x, dict):
            for key in sorted(x):
                walk(x[key], f"{path}[{key!r}]")
        elif isinstance(x, (list, tuple)):
            for index, item in enumerate(x):
                walk(item, f"{path}[{index}]")
        else:
            paths.append(path)

    walk(element, "")
    return paths


def _same_structure(elements: Sequence[Any], op: str) -> tuple[list[list], Any, list[str]]:
    """The leaves of every element (they must share one structure), the rebuild
    function and the component paths."""
    first_leaves, rebuild = tree.flatten(elements[0])
    paths = component_paths(elements[0])
    columns: list[list] = [[leaf] for leaf in first_leaves]
    for element in elements[1:]:
        leaves, _ = tree.flatten(element)
        if len(leaves) != len(columns) or component_paths(element) != paths:
            raise ValueError(
                f"{op}: the elements do not all have the same structure: "
                f"{_describe(elements[0])} and {_describe(element)}."
            )
        for column, leaf in zip(columns, leaves):
            column.append(leaf)
    return columns, rebuild, paths


def _describe(element: Any) -> str:
    return repr(tree.map_structure(lambda leaf: f"<{np.shape(leaf)}>", element))


def stack_elements(elements: Sequence[Any], op: str = "batch") -> Any:
    """One element whose leaves stack the leaves of ``elements`` on a new first axis.

    Raises ``ValueError`` naming the component when shapes differ (pad with
    ``padded_batch`` instead).
    """
    columns, rebuild, paths = _same_structure(elements, op)
    stacked = []
    for column, path in zip(columns, paths):
        arrays = [_leaf_to_numpy(leaf) for leaf in column]
        shapes = {array.shape for array in arrays}
        if len(shapes) > 1:
            raise ValueError(
                f"{op}: cannot stack component element{path}: its shapes differ between "
                f"elements ({', '.join(str(s) for s in sorted(shapes, key=str)[:4])}). "
                "Use padded_batch to pad them to one shape, or resize them in a map first."
            )
        stacked.append(np.stack(arrays))
    return rebuild(stacked)


def pad_elements(
    elements: Sequence[Any],
    padded_shapes: Any = None,
    padding_values: Any = None,
    op: str = "padded_batch",
) -> Any:
    """Stack ``elements`` after padding every component at the end of each axis, to
    ``padded_shapes`` (``None``/-1 entries: the largest size in the batch) and with
    ``padding_values`` (default 0, or ``""`` for strings)."""
    columns, rebuild, paths = _same_structure(elements, op)
    shapes = _align(padded_shapes, elements[0], "padded_shapes", op)
    values = _align(padding_values, elements[0], "padding_values", op)
    stacked = []
    for column, path, shape, value in zip(columns, paths, shapes, values):
        arrays = [_leaf_to_numpy(leaf) for leaf in column]
        stacked.append(_pad_column(arrays, shape, value, f"{op}: component element{path}"))
    return rebuild(stacked)


def _align(spec: Any, element: Any, name: str, op: str) -> list:
    """One entry of ``spec`` per leaf of ``element``, walking both together: where the
    element has a leaf, the spec's value there (a whole shape, a padding value) is
    taken as it is. ``None`` anywhere means "the default" for what is below it."""
    out: list = []

    def walk(part: Any, x: Any, path: str) -> None:
        if part is None:
            out.extend([None] * len(tree.flatten(x)[0]))
        elif isinstance(x, dict):
            if not isinstance(part, dict) or sorted(part) != sorted(x):
                raise ValueError(
                    f"{op}: {name} must have the element's structure; at element{path} "
                    f"expected a dict with keys {sorted(x)}, received {part!r}."
                )
            for key in sorted(x):
                walk(part[key], x[key], f"{path}[{key!r}]")
        elif isinstance(x, (list, tuple)):
            if not isinstance(part, (list, tuple)) or len(part) != len(x):
                raise ValueError(
                    f"{op}: {name} must have the element's structure; at element{path} "
                    f"expected a sequence of {len(x)} entries, received {part!r}."
                )
            for index, (sub, item) in enumerate(zip(part, x)):
                walk(sub, item, f"{path}[{index}]")
        else:
            out.append(part)

    walk(spec, element, "")
    return out


def _pad_column(arrays: list[np.ndarray], shape: Any, value: Any, where: str) -> np.ndarray:
    ndim = arrays[0].ndim
    if any(array.ndim != ndim for array in arrays):
        raise ValueError(f"{where}: ranks differ between elements; padding keeps the rank.")
    largest = [max(array.shape[axis] for array in arrays) for axis in range(ndim)]
    if shape is None:
        target = largest
    else:
        if isinstance(shape, TensorSpec):
            shape = shape.shape
        shape = list(shape)
        if len(shape) != ndim:
            raise ValueError(
                f"{where}: padded shape {tuple(shape)} has {len(shape)} axes; the component "
                f"has {ndim}."
            )
        target = [big if want in (None, -1) else int(want) for want, big in zip(shape, largest)]
        for want, big in zip(target, largest):
            if big > want:
                raise ValueError(
                    f"{where}: an element of shape {tuple(largest)} is larger than the "
                    f"padded shape {tuple(target)}."
                )
    dtype = np.result_type(*arrays)
    if value is None:
        value = "" if dtype.kind in "US" else 0
    out = np.full([len(arrays), *target], value, dtype=dtype)
    for index, array in enumerate(arrays):
        region: tuple[Any, ...] = (index, *(slice(0, size) for size in array.shape))
        out[region] = array
    return out


def split_batch(batch: Any, op: str = "unbatch") -> list[Any]:
    """The elements of ``batch`` along its first axis (``unbatch``)."""
    leaves, rebuild = tree.flatten(batch)
    arrays = [_leaf_to_numpy(leaf) for leaf in leaves]
    if not arrays:
        return []
    sizes = {array.shape[0] if array.ndim else -1 for array in arrays}
    if -1 in sizes or len(sizes) != 1:
        paths = component_paths(batch)
        shapes = {path or "element": array.shape for path, array in zip(paths, arrays)}
        raise ValueError(
            f"{op}: every component needs the same first dimension (the batch size); "
            f"received shapes {shapes}."
        )
    return [rebuild([array[index] for array in arrays]) for index in range(sizes.pop())]


def spec_of(element: Any) -> Any:
    """The ``TensorSpec`` structure of one element (``nerve.TensorSpec``; string and
    object components, which nerve tensors cannot hold, are described by their NumPy
    dtype instead)."""

    def describe(leaf: Any) -> Any:
        array = _leaf_to_numpy(leaf)
        try:
            return TensorSpec(array.shape, array.dtype.name)
        except (TypeError, ValueError):
            return (array.shape, array.dtype)

    return tree.map_structure(describe, element)
