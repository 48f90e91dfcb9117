"""Where a pipeline's elements come from: arrays (``from_tensor_slices``,
``from_tensors``), a Python generator, ``range``, and datasets combined (``zip``,
``concatenate``)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any

# Input pipelines run on the host: NumPy is their array library on every backend.
import numpy as np

from nerve.core import tree
from nerve.data import structure
from nerve.data.dataset import INFINITE_CARDINALITY, UNKNOWN_CARDINALITY, Dataset, closing_iterator

__all__ = ["Concatenate", "FromGenerator", "Range", "TensorSlices", "Tensors", "Zip"]


class TensorSlices(Dataset):
    """Row ``i`` of every array is element ``i``."""

    def __init__(self, tensors: Any):
        self._tensors = structure.to_numpy_element(tensors)
        leaves, _ = tree.flatten(self._tensors)
        if not leaves:
            raise ValueError("Dataset.from_tensor_slices: received no arrays.")
        paths = structure.component_paths(self._tensors)
        sizes = {}
        for path, leaf in zip(paths, leaves):
            if leaf.ndim == 0:
                raise ValueError(
                    f"Dataset.from_tensor_slices: component tensors{path} is a scalar; every "
                    "component needs a first dimension to slice (use from_tensors for one "
                    "element)."
                )
            sizes[path or "tensors"] = leaf.shape[0]
        if len(set(sizes.values())) != 1:
            raise ValueError(
                "Dataset.from_tensor_slices: all components must have the same first "
                f"dimension; received {sizes}."
            )
        self._length = int(leaves[0].shape[0])

    def _iterate(self, pass_path: tuple[int, ...]) -> Iterator[Any]:
        leaves, rebuild = tree.flatten(self._tensors)
        for index in range(self._length):
            yield rebuild([leaf[index] for leaf in leaves])

    def cardinality(self) -> int:
        return self._length

    def rows(self, index: Any) -> Any:
        """Element ``index`` (an int), or the stacked elements at ``index`` (a slice
        or an integer array): random access for ``shuffle`` and ``batch``."""
        leaves, rebuild = tree.flatten(self._tensors)
        return rebuild([leaf[index] for leaf in leaves])

    def _iterate_batches(
        self, pass_path: tuple[int, ...], batch_size: int, drop_remainder: bool
    ) -> Iterator[Any]:
        stop = self._length - self._length % batch_size if drop_remainder else self._length
        for start in range(0, stop, batch_size):
            yield self.rows(slice(start, start + batch_size))


class Tensors(Dataset):
    """One element: the structure given."""

    def __init__(self, tensors: Any):
        self._element = structure.to_numpy_element(tensors)

    def _iterate(self, pass_path: tuple[int, ...]) -> Iterator[Any]:
        yield self._element

    def cardinality(self) -> int:
        return 1


class FromGenerator(Dataset):
    """The items of ``generator(*args)``, checked against ``output_signature``."""

    def __init__(
        self,
        generator: Callable[..., Iterable[Any]],
        args: tuple,
        output_signature: Any,
        output_types: Any,
        output_shapes: Any,
    ):
        if not callable(generator):
            raise TypeError(
                "Dataset.from_generator: generator must be a callable that returns an "
                f"iterable (a generator function), received {type(generator).__name__}. "
                "Pass the function itself, not a generator object, so that every pass "
                "starts afresh."
            )
        if output_signature is not None:
            signature = _leaf_specs(output_signature)
        elif output_types is not None:
            signature = _signature_from_types(output_types, output_shapes)
        else:
            signature = None
        self._generator = generator
        self._args = tuple(args)
        self._signature = signature

    def _iterate(self, pass_path: tuple[int, ...]) -> Iterator[Any]:
        iterator = iter(self._generator(*self._args))
        try:
            for index, item in enumerate(iterator):
                element = structure.to_numpy_element(item)
                if self._signature is not None:
                    element = _conform(element, self._signature, index)
                yield element
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()


class _LeafSpec:
    """What ``from_generator`` checks of one component: its dtype and, when known,
    its shape (``None`` entries vary)."""

    def __init__(self, shape: tuple | None, dtype: Any):
        self.shape = None if shape is None else tuple(shape)
        self.dtype = np.dtype(dtype)


def _leaf_specs(signature: Any) -> Any:
    """``output_signature`` (``TensorSpec`` leaves) as ``_LeafSpec`` leaves."""

    def convert(spec: Any) -> _LeafSpec:
        if not hasattr(spec, "shape") or not hasattr(spec, "dtype"):
            raise TypeError(
                "Dataset.from_generator: output_signature must be a structure of "
                f"nerve.TensorSpec, received a {type(spec).__name__}."
            )
        return _LeafSpec(spec.shape, spec.dtype)

    return tree.map_structure(convert, signature)


def _signature_from_types(types: Any, shapes: Any) -> Any:
    """tf's older ``output_types``/``output_shapes`` pair as ``_LeafSpec`` leaves."""
    type_leaves, rebuild = tree.flatten(types)
    if shapes is None:
        return rebuild([_LeafSpec(None, t) for t in type_leaves])
    shape_leaves = _shape_list(shapes)
    if len(shape_leaves) != len(type_leaves):
        raise ValueError(
            "Dataset.from_generator: output_shapes must have the structure of output_types."
        )
    return rebuild([_LeafSpec(s, t) for s, t in zip(shape_leaves, type_leaves)])


def _shape_list(shapes: Any) -> list:
    """Leaves of a structure of shapes, where a shape is a tuple/list of ints or None."""
    if isinstance(shapes, (tuple, list)) and all(d is None or isinstance(d, int) for d in shapes):
        return [shapes]
    if isinstance(shapes, dict):
        return [s for key in sorted(shapes) for s in _shape_list(shapes[key])]
    return [s for item in shapes for s in _shape_list(item)]


def _conform(element: Any, signature: Any, index: int) -> Any:
    """``element`` cast to the signature's dtypes, or an error naming what differs."""
    paths = structure.component_paths(signature)
    specs, _ = tree.flatten(signature)
    leaves, rebuild = tree.flatten(element)
    if len(leaves) != len(specs) or structure.component_paths(element) != paths:
        raise ValueError(
            f"Dataset.from_generator: element {index} has structure "
            f"{structure.component_paths(element)}; output_signature expects {paths}."
        )
    out = []
    for path, spec, leaf in zip(paths, specs, leaves):
        shape = spec.shape
        if shape is not None:
            bad_rank = leaf.ndim != len(shape)
            if bad_rank or any(w is not None and w != g for w, g in zip(shape, leaf.shape)):
                raise ValueError(
                    f"Dataset.from_generator: element {index}, component element{path}, has "
                    f"shape {leaf.shape}; output_signature expects {shape}."
                )
        if leaf.dtype != spec.dtype:
            # Python ints and floats arrive as int64/float64: cast them, as tf.data does;
            # a kind change that loses meaning (float data for an int spec) is an error.
            lossless_kind = leaf.dtype.kind == spec.dtype.kind or (
                leaf.dtype.kind in "biu" and spec.dtype.kind in "biuf"
            )
            if not lossless_kind:
                raise TypeError(
                    f"Dataset.from_generator: element {index}, component element{path}, has "
                    f"dtype {leaf.dtype.name}; output_signature expects {spec.dtype.name}."
                )
            leaf = leaf.astype(spec.dtype)
        out.append(leaf)
    return rebuild(out)


class Range(Dataset):
    """``range(start, stop, step)`` as 0-d arrays of ``dtype``."""

    def __init__(self, *args: int, dtype: str = "int64"):
        if not 1 <= len(args) <= 3:
            raise TypeError(f"Dataset.range takes 1 to 3 arguments, received {len(args)}.")
        for arg in args:
            if isinstance(arg, bool) or not isinstance(arg, (int, np.integer)):
                raise TypeError(f"Dataset.range: arguments must be ints, received {args!r}.")
        self._range = range(*(int(a) for a in args))
        self._dtype = np.dtype(dtype)

    def _iterate(self, pass_path: tuple[int, ...]) -> Iterator[Any]:
        for value in self._range:
            yield np.asarray(value, dtype=self._dtype)

    def cardinality(self) -> int:
        return len(self._range)


class Zip(Dataset):
    """Elements of the datasets in ``datasets`` (a structure of datasets), side by side."""

    def __init__(self, datasets: Any):
        leaves, _ = tree.flatten(datasets)
        if not leaves:
            raise ValueError("Dataset.zip: received no datasets.")
        for leaf in leaves:
            if not isinstance(leaf, Dataset):
                raise TypeError(
                    f"Dataset.zip: expected datasets, received a {type(leaf).__name__}."
                )
        self._datasets = datasets

    def _iterate(self, pass_path: tuple[int, ...]) -> Iterator[Any]:
        leaves, rebuild = tree.flatten(self._datasets)
        with contextlib.ExitStack() as stack:
            iterators = [
                stack.enter_context(closing_iterator(d._iterate(pass_path))) for d in leaves
            ]
            for items in zip(*iterators):
                yield rebuild(list(items))

    def cardinality(self) -> int:
        counts = [d.cardinality() for d in tree.flatten(self._datasets)[0]]
        finite = [c for c in counts if c >= 0]
        if finite:
            return min(finite) if UNKNOWN_CARDINALITY not in counts else UNKNOWN_CARDINALITY
        return UNKNOWN_CARDINALITY if UNKNOWN_CARDINALITY in counts else INFINITE_CARDINALITY


class Concatenate(Dataset):
    """One dataset's elements, then another's (they must share a structure)."""

    def __init__(self, first: Dataset, second: Dataset):
        if not isinstance(second, Dataset):
            raise TypeError(
                f"Dataset.concatenate: expected a Dataset, received {type(second).__name__}."
            )
        self._parts = (first, second)

    def _iterate(self, pass_path: tuple[int, ...]) -> Iterator[Any]:
        paths = None
        for part in self._parts:
            with closing_iterator(part._iterate(pass_path)) as elements:
                for element in elements:
                    if paths is None:
                        paths = structure.component_paths(element)
                    elif structure.component_paths(element) != paths:
                        raise ValueError(
                            "Dataset.concatenate: the two datasets' elements have different "
                            f"structures ({paths} and {structure.component_paths(element)})."
                        )
                    yield element

    def cardinality(self) -> int:
        counts = [part.cardinality() for part in self._parts]
        if INFINITE_CARDINALITY in counts:
            return INFINITE_CARDINALITY
        if UNKNOWN_CARDINALITY in counts:
            return UNKNOWN_CARDINALITY
        return sum(counts)
