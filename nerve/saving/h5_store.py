"""The HDF5 weights store, in Keras 3's layout.

Each saved object owns a group ``<path>/vars`` (``vars`` at the root) holding
its variables as datasets ``"0"``, ``"1"``, ... in order; a layer's path is the
chain of attribute names (``layers/dense``), as Keras's ``H5IOStore`` writes it.
bfloat16 arrays are stored as Keras stores them: HDF5 opaque 2-byte values
tagged with the attribute ``dtype="bfloat16"``.

Reading trusts nothing in the file. It accepts only numeric datasets (nothing is
unpickled or evaluated) and never reads outside the file it was given: every
group and dataset on a path must be reached by a hard link inside the file (soft
and external links are refused without being followed), and a dataset whose
values are stored elsewhere (HDF5 external storage, virtual datasets) or decoded
by a filter other than HDF5's and h5py's built-in ones (which HDF5 would look for
as a plugin library) is refused before any value is read. Declared sizes are
checked against the file: a dataset's stored bytes must lie inside the file and
account for the values it declares. Values that change when cast to the
variable's dtype (``1e300`` into float32, ``2**40`` into int32) are an error.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from nerve.core.errors import NerveError

__all__ = ["H5Reader", "H5Writer", "WeightsFileError"]

_NUMERIC_KINDS = "biuf"  # bool, signed, unsigned, float
# HDF5's predefined filters and h5py's LZF: decoded without loading a plugin library.
# deflate, shuffle, fletcher32, szip, nbit, scaleoffset, lzf.
_BUILTIN_FILTERS = frozenset({1, 2, 3, 4, 5, 6, 32000})
# No compression reaches this ratio (deflate's limit is about 1032:1): a dataset that
# declares more values than this many times its stored bytes is a decompression bomb.
_MAX_EXPANSION = 1100
# Range checks of a cast read a dataset in slices of about this many bytes.
_CHECK_SLICE_BYTES = 1 << 24


class WeightsFileError(NerveError, ValueError):
    """A weights or model file is missing, corrupt, unsafe, or not in the expected layout."""


def _h5py() -> Any:
    try:
        import h5py
    except ImportError as error:  # pragma: no cover - h5py is in the h5/test extras
        raise ImportError(
            "Saving and loading weights needs h5py: `pip install h5py` "
            "(or `pip install nerve[h5]`)."
        ) from error
    return h5py


def _vars_path(path: str) -> str:
    return f"{path}/vars" if path else "vars"


def host_dtype(name: str) -> Any:
    """The NumPy dtype (ml_dtypes for bfloat16 and float8) of a nerve dtype name."""
    import numpy

    try:
        return numpy.dtype(name)
    except TypeError:
        import ml_dtypes

        return numpy.dtype(getattr(ml_dtypes, name))


def cast_problem(values: Any, dtype: Any) -> str | None:
    """Why casting the NumPy array ``values`` to ``dtype`` would change a value (a
    finite number that overflows, a number out of an integer type's range), or None."""
    import ml_dtypes
    import numpy

    source, target = values.dtype, numpy.dtype(dtype)
    if source == target or values.size == 0 or target.kind == "b":
        return None
    if source.kind in "iub" and target.kind in "fV":
        return None  # every integer fits a float's range (precision may round)
    if source.kind in "iub" and target.kind in "iu" and numpy.can_cast(source, target):
        return None
    if target.kind in "iu":
        info = numpy.iinfo(target)
        if source.kind == "f" or source.kind == "V":
            as_float = values.astype(numpy.float64)
            if not numpy.isfinite(as_float).all():
                return f"a non-finite value cannot be cast to {target.name}"
            low, high = as_float.min(), as_float.max()
        else:
            low, high = values.min(), values.max()
        if int(low) < info.min or int(high) > info.max:
            return (
                f"values from {low} to {high} do not fit {target.name} ([{info.min}, {info.max}])"
            )
        return None
    # A float target: finite values must stay finite.
    limit = float(ml_dtypes.finfo(target).max)
    as_float = values.astype(numpy.float64)
    finite = as_float[numpy.isfinite(as_float)]
    if finite.size and float(numpy.abs(finite).max()) > limit:
        return (
            f"the finite value {float(finite[numpy.abs(finite).argmax()])!r} overflows "
            f"{target.name} (largest {limit!r}): it would load as inf"
        )
    return None


class H5Writer:
    """Writes ``<path>/vars/<i>`` datasets to an HDF5 file (a path or a binary file object)."""

    def __init__(self, target: Any):
        self.file = _h5py().File(target, mode="w")

    def make(self, path: str, name: str | None = None) -> Any:
        """The (new) ``vars`` group for the object at ``path``, tagged with the
        object's name as Keras tags it (informational; loading goes by path)."""
        group = self.file.require_group(_vars_path(path))
        if name is not None:
            group.attrs["name"] = str(name)
        return group

    @staticmethod
    def write(group: Any, key: str, array: Any) -> None:
        if str(array.dtype) == "bfloat16":
            dataset = group.create_dataset(key, data=array)  # h5py stores it opaque ("V2")
            dataset.attrs["dtype"] = "bfloat16"
        else:
            group.create_dataset(key, data=array)

    def close(self) -> None:
        self.file.close()


class H5Reader:
    """Reads a file written by ``H5Writer`` (or by Keras 3), refusing anything that
    would read outside it (module docstring). ``description`` names the file in errors.
    """

    def __init__(self, source: Any, description: str):
        h5py = _h5py()
        self.description = description
        try:
            self.file = h5py.File(source, mode="r")
            self.file_size = self.file.id.get_filesize()
        except (OSError, ValueError, RuntimeError) as error:
            raise WeightsFileError(
                f"{description} is not a readable HDF5 weights file ({error}). It may be "
                "truncated or corrupt; weights files are written by save_weights / save_model."
            ) from error

    @contextlib.contextmanager
    def guard(self, where: str) -> Iterator[None]:
        """Turn HDF5's errors about damaged structures into ``WeightsFileError``."""
        try:
            yield
        except WeightsFileError:
            raise
        except (OSError, ValueError, KeyError, TypeError, RuntimeError, AttributeError) as e:
            raise WeightsFileError(
                f"{where} in {self.description} cannot be read ({type(e).__name__}: {e}). "
                "The file may be truncated or corrupt."
            ) from e

    def _child(self, group: Any, name: str, where: str) -> Any | None:
        """``group[name]`` if it is a hard link inside the file, None if absent; a soft
        or external link is refused without being followed."""
        h5py = _h5py()
        link = group.get(name, getlink=True)
        if link is None:
            return None
        if not isinstance(link, h5py.HardLink):
            kind = "an external link" if isinstance(link, h5py.ExternalLink) else "a soft link"
            target = getattr(link, "path", "")
            if isinstance(link, h5py.ExternalLink):
                target = f"{link.filename}:{link.path}"
            raise WeightsFileError(
                f"{where} in {self.description} is {kind} (to {target!r}). nerve loads only "
                "groups and datasets stored in the file itself (hard links); refusing to "
                "follow it."
            )
        return group[name]

    def get(self, path: str) -> Any | None:
        """The ``vars`` group of the object at ``path``, or ``None`` if absent."""
        h5py = _h5py()
        node = self.file
        with self.guard(f"'{_vars_path(path)}'"):
            for part in _vars_path(path).split("/"):
                node = self._child(node, part, f"'{_vars_path(path)}'")
                if node is None or not isinstance(node, h5py.Group):
                    return None
        return node

    def dataset(self, group: Any, key: str, where: str) -> Any:
        """Dataset ``key`` of ``group``, checked: a hard link to a numeric dataset whose
        values are stored inside this file. ``where`` names it in errors."""
        with self.guard(where):
            dataset = self._child(group, key, where)
            if not isinstance(dataset, _h5py().Dataset):
                raise WeightsFileError(f"{where} in {self.description} is a group, not an array.")
            self._check_storage(dataset, where)
            if not self._is_bfloat16(dataset) and dataset.dtype.kind not in _NUMERIC_KINDS:
                raise WeightsFileError(
                    f"{where} in {self.description} has dtype {dataset.dtype}, which is not a "
                    "numeric array; refusing to load it."
                )
        return dataset

    def _check_storage(self, dataset: Any, where: str) -> None:
        plist = dataset.id.get_create_plist()
        if plist.get_external_count() > 0:
            names = [plist.get_external(i)[0] for i in range(plist.get_external_count())]
            raise WeightsFileError(
                f"{where} in {self.description} declares HDF5 external storage (its values "
                f"would be read from {names!r}). nerve reads weights only from the file "
                "itself; refusing to open those files."
            )
        if dataset.is_virtual:
            raise WeightsFileError(
                f"{where} in {self.description} is an HDF5 virtual dataset (its values are "
                "mapped from other datasets or files). nerve reads weights only from the file "
                "itself; refusing it."
            )
        for index in range(plist.get_nfilters()):
            code, _, _, name = plist.get_filter(index)
            if code not in _BUILTIN_FILTERS:
                raise WeightsFileError(
                    f"{where} in {self.description} is encoded with HDF5 filter {code} "
                    f"({name!r}), which is not built in; HDF5 would load a plugin library "
                    "to decode it. Refusing it (re-save it uncompressed or with gzip)."
                )
        declared = int(dataset.size) * dataset.dtype.itemsize
        stored = self._stored_bytes(dataset, where)
        if declared > _MAX_EXPANSION * stored + 65536:
            raise WeightsFileError(
                f"{where} in {self.description} declares {declared} bytes of values "
                f"(shape {dataset.shape}, {dataset.dtype}) but stores only {stored} bytes; "
                "the file is damaged or a decompression bomb."
            )

    def _stored_bytes(self, dataset: Any, where: str) -> int:
        """Bytes of values the dataset stores, after checking they lie inside the file."""
        h5py = _h5py()
        layout = dataset.id.get_create_plist().get_layout()
        extents: list[tuple[int, int]] = []
        if layout == h5py.h5d.CONTIGUOUS:
            offset = dataset.id.get_offset()
            if offset is not None:
                extents.append((offset, dataset.id.get_storage_size()))
        elif layout == h5py.h5d.CHUNKED:
            for index in range(dataset.id.get_num_chunks()):
                info = dataset.id.get_chunk_info(index)
                if info.byte_offset is not None:
                    extents.append((info.byte_offset, info.size))
        else:  # compact: the values sit in the object header, which HDF5 has read
            return int(dataset.id.get_storage_size())
        for offset, size in extents:
            if offset + size > self.file_size:
                raise WeightsFileError(
                    f"{where} in {self.description} stores its values at bytes "
                    f"{offset}..{offset + size}, past the end of the file ({self.file_size} "
                    "bytes): the file is truncated or corrupt."
                )
        return sum(size for _, size in extents)

    @staticmethod
    def _is_bfloat16(dataset: Any) -> bool:
        return dataset.attrs.get("dtype") == "bfloat16" and dataset.dtype.kind in "Vf"

    def _values(self, dataset: Any, selection: Any = ()) -> Any:
        raw = dataset[selection]
        if self._is_bfloat16(dataset) and raw.dtype.kind == "V":
            import ml_dtypes

            return raw.view(ml_dtypes.bfloat16)  # opaque 2-byte values (Keras, nerve)
        return raw

    def check_cast(self, dataset: Any, dtype: str, where: str) -> None:
        """Raise if a value of ``dataset`` changes when cast to nerve dtype ``dtype``;
        reads the dataset in slices (memory stays bounded) only when the cast can."""
        import numpy

        target = host_dtype(dtype)
        bfloat16 = self._is_bfloat16(dataset) and dataset.dtype.kind == "V"
        source = host_dtype("bfloat16") if bfloat16 else dataset.dtype
        if source == target or (
            source.kind in "iubf" and target.kind in "iubf" and numpy.can_cast(source, target)
        ):
            return
        with self.guard(where):
            for selection in _slices(dataset.shape, source.itemsize):
                problem = cast_problem(self._values(dataset, selection), target)
                if problem:
                    raise WeightsFileError(
                        f"{where} in {self.description} holds {source.name} values that do "
                        f"not fit the variable's dtype {dtype}: {problem}."
                    )

    def read(self, dataset: Any, where: str) -> Any:
        """The values of a ``dataset`` checked by ``dataset()``, as a NumPy array."""
        with self.guard(where):
            return self._values(dataset)

    def keys(self, group: Any, where: str = "a group") -> list[str]:
        """Variable keys in numeric order ("0", "1", ..., "10"); ``where`` names the group."""
        with self.guard(where):
            names = [str(k) for k in group]
        return sorted(names, key=lambda k: (not k.isdigit(), int(k) if k.isdigit() else k))

    def close(self) -> None:
        self.file.close()


def _slices(shape: tuple, itemsize: int) -> Iterator[Any]:
    """Selections that cover an array of ``shape`` in slices of about
    ``_CHECK_SLICE_BYTES`` along its first axis."""
    if not shape:
        yield ()
        return
    row_bytes = max(1, itemsize)
    for d in shape[1:]:
        row_bytes *= d
    rows = max(1, _CHECK_SLICE_BYTES // max(1, row_bytes))
    for start in range(0, max(shape[0], 1), rows):
        yield slice(start, start + rows)
