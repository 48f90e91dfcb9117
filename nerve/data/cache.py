"""``Dataset.cache``: replay the elements of the first complete pass.

In memory (``filename=""``) the elements are kept in a list. In a file they are
streamed, as they are produced, into ``<filename>.data`` (one ``.npy`` record per array,
NumPy's own format, written and read with ``allow_pickle=False``), and
``<filename>.index`` (JSON: the element structure and the count) is written last.
Both are written under temporary names and renamed only when the pass completes, so an
interrupted pass leaves no cache that a later run could take for a complete one; a
cache file is reused across runs, as tf.data does, until it is deleted.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Iterator
from typing import Any, BinaryIO

# Input pipelines run on the host: NumPy is their array library on every backend.
import numpy as np

from nerve.core import tree
from nerve.data.dataset import Dataset, closing_iterator

__all__ = ["Cache"]

_FORMAT = "nerve.data.cache/1"


class Cache(Dataset):
    def __init__(self, upstream: Dataset, filename: str):
        if not isinstance(filename, (str, os.PathLike)):
            raise TypeError(f"Dataset.cache: filename must be a str, received {filename!r}.")
        self._upstream = upstream
        self._filename = os.fspath(filename)
        self._memory: list[Any] | None = None
        self._lock = threading.Lock()

    def cardinality(self) -> int:
        return self._upstream.cardinality()

    def _iterate(self, pass_path: tuple[int, ...]) -> Iterator[Any]:
        if self._filename:
            if os.path.exists(self._filename + ".index"):
                return _read(self._filename)
            return self._write_file(pass_path)
        with self._lock:
            cached = self._memory
        if cached is not None:
            return iter(cached)
        return self._fill_memory(pass_path)

    def _fill_memory(self, pass_path: tuple[int, ...]) -> Iterator[Any]:
        elements: list[Any] = []
        with closing_iterator(self._upstream._iterate(pass_path)) as source:
            for element in source:
                elements.append(element)
                yield element
        # Only a complete pass is kept; a pass cut short (take, an error) keeps nothing.
        with self._lock:
            self._memory = elements

    def _write_file(self, pass_path: tuple[int, ...]) -> Iterator[Any]:
        folder = os.path.dirname(os.path.abspath(self._filename))
        os.makedirs(folder, exist_ok=True)
        data_fd, data_tmp = tempfile.mkstemp(prefix=".cache-", suffix=".data.tmp", dir=folder)
        count, layout = 0, None
        try:
            with (
                os.fdopen(data_fd, "wb") as data,
                closing_iterator(self._upstream._iterate(pass_path)) as source,
            ):
                for element in source:
                    if layout is None:
                        layout = _layout(element)
                    _write_element(data, element, layout, count)
                    count += 1
                    yield element
            index = {"format": _FORMAT, "count": count, "structure": layout}
            os.replace(data_tmp, self._filename + ".data")
            _write_json_atomically(self._filename + ".index", index)
        finally:
            if os.path.exists(data_tmp):
                os.unlink(data_tmp)


def _layout(element: Any) -> Any:
    """A JSON description of the element's structure (leaves as ``null``)."""
    if isinstance(element, dict):
        for key in element:
            if not isinstance(key, str):
                raise TypeError(
                    f"Dataset.cache: a file cache needs string dict keys, received {key!r}."
                )
        return {"dict": {key: _layout(value) for key, value in element.items()}}
    if isinstance(element, tuple):
        return {"tuple": [_layout(value) for value in element]}
    if isinstance(element, list):
        return {"list": [_layout(value) for value in element]}
    return None


def _rebuild(layout: Any, leaves: Iterator[np.ndarray]) -> Any:
    if layout is None:
        return next(leaves)
    if "dict" in layout:
        keys = sorted(layout["dict"])
        return {key: _rebuild(layout["dict"][key], leaves) for key in keys}
    if "tuple" in layout:
        return tuple(_rebuild(item, leaves) for item in layout["tuple"])
    return [_rebuild(item, leaves) for item in layout["list"]]


def _num_leaves(layout: Any) -> int:
    if layout is None:
        return 1
    if "dict" in layout:
        return sum(_num_leaves(item) for item in layout["dict"].values())
    return sum(_num_leaves(item) for item in layout.get("tuple", layout.get("list", [])))


def _write_element(stream: BinaryIO, element: Any, layout: Any, index: int) -> None:
    if _layout(element) != layout:
        raise ValueError(
            f"Dataset.cache: element {index} has a different structure from the first one."
        )
    for leaf in tree.flatten(element)[0]:
        array = np.asarray(leaf)
        if array.dtype.hasobject:
            raise TypeError(
                "Dataset.cache: a file cache stores numeric, boolean and string arrays; "
                f"element {index} holds a Python-object array."
            )
        np.lib.format.write_array(stream, array, allow_pickle=False)


def _write_json_atomically(path: str, value: Any) -> None:
    fd, tmp = tempfile.mkstemp(
        prefix=".cache-", suffix=".index.tmp", dir=os.path.dirname(os.path.abspath(path))
    )
    try:
        with os.fdopen(fd, "w") as stream:
            json.dump(value, stream)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _read(filename: str) -> Iterator[Any]:
    with open(filename + ".index") as stream:
        index = json.load(stream)
    if not isinstance(index, dict) or index.get("format") != _FORMAT:
        raise ValueError(
            f"Dataset.cache: {filename}.index is not a nerve cache index; delete "
            f"{filename}.index and {filename}.data to rebuild the cache."
        )
    layout = index["structure"]
    num_leaves = _num_leaves(layout)
    with open(filename + ".data", "rb") as data:
        for position in range(int(index["count"])):
            try:
                leaves = [
                    np.lib.format.read_array(data, allow_pickle=False) for _ in range(num_leaves)
                ]
            except (ValueError, OSError, EOFError) as error:
                raise ValueError(
                    f"Dataset.cache: {filename}.data is damaged at element {position} "
                    f"({error}); delete the cache files to rebuild them."
                ) from error
            yield _rebuild(layout, iter(leaves))
