"""``make_csv_dataset``: batches of ``(features, label)`` read from CSV files, with
tf.data's arguments.

Rows are parsed in chunks and kept column by column (one NumPy array per column), so
a million-row table streams at the speed of the ``csv`` module and NumPy's number
parsing rather than of one Python object per value. Column types are inferred from
the first ``num_rows_for_inference`` rows (int32, then int64, then float32, then
string), or given by ``column_defaults``.

Missing values (an empty field, or ``na_value``) are explicit:

- a column with a default in ``column_defaults`` takes that default;
- a column whose default is ``[]`` or ``None`` is *required*: a missing value is an
  error naming the file, line and column;
- without ``column_defaults``, a missing value in a numeric column makes the column
  float32 with NaN in that place (never a silent 0), and ``""`` in a string column.

>>> import pathlib, tempfile
>>> path = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
>>> _ = path.write_text("size,color,price\\n1,red,2.5\\n3,blue,\\n")
>>> ds = make_csv_dataset(path, batch_size=2, label_name="price", num_epochs=1, shuffle=False)
>>> features, label = next(iter(ds))
>>> features["size"].tolist(), features["color"].tolist(), label.tolist()
([1, 3], ['red', 'blue'], [2.5, nan])
"""

from __future__ import annotations

import contextlib
import csv
import glob
import gzip
import io
import itertools
import os
import zlib
from collections.abc import Iterator, Sequence
from typing import IO, Any, Literal

# Input pipelines run on the host: NumPy is their array library on every backend.
import numpy as np

from nerve import random as nrandom
from nerve.data.dataset import AUTOTUNE, Dataset, closing_iterator

__all__ = ["make_csv_dataset"]

#: Rows parsed per chunk: large enough to amortize NumPy's per-call cost.
_CHUNK_ROWS = 4096
_INFERRED = ("int32", "int64", "float32", "str")


def make_csv_dataset(
    file_pattern: str | Sequence[str],
    batch_size: int,
    column_names: Sequence[str] | None = None,
    column_defaults: Sequence[Any] | None = None,
    label_name: str | None = None,
    select_columns: Sequence[str | int] | None = None,
    field_delim: str = ",",
    use_quote_delim: bool = True,
    na_value: str = "",
    header: bool = True,
    num_epochs: int | None = None,
    shuffle: bool = True,
    shuffle_buffer_size: int = 10000,
    shuffle_seed: int | None = None,
    prefetch_buffer_size: int | None = None,
    num_parallel_reads: int | None = None,
    sloppy: bool = False,
    num_rows_for_inference: int = 100,
    compression_type: str | None = None,
    ignore_errors: bool = False,
    encoding: str = "utf-8",
) -> Dataset:
    """A ``Dataset`` of batches read from the CSV files matching ``file_pattern``.

    Each element is ``(features, label)`` with ``features`` a dict from column name to
    a batch of values, or just ``features`` without ``label_name``. As in tf.data the
    data repeat ``num_epochs`` times (forever for ``None``), rows are shuffled through
    a buffer of ``shuffle_buffer_size`` (seeded by ``shuffle_seed``, else by nerve's
    global seed generator), and batches are prefetched.

    Args:
        file_pattern: a path, a glob pattern, or a list of them.
        batch_size: rows per batch (the last batch may be smaller).
        column_names: names for the columns (required when ``header=False``).
        column_defaults: per column (of ``select_columns`` when given), a default value
            whose type sets the column's dtype, or ``[]``/``None`` for a required
            column; ``None`` as a whole infers the types.
        label_name: the column returned separately as the label.
        select_columns: the columns to keep (names or indices).
        field_delim, use_quote_delim, na_value, header, encoding: how to read the files
            (``na_value`` is read as a missing value, like an empty field).
        compression_type: ``None``/``""``, ``"GZIP"`` or ``"ZLIB"``.
        ignore_errors: skip malformed rows instead of raising.
        num_parallel_reads: files read at once, their chunks interleaved.
        sloppy: accepted for compatibility (the order is always deterministic).
    """
    files = _match_files(file_pattern)
    batch_size = int(batch_size)
    if batch_size < 1:
        raise ValueError(f"make_csv_dataset: batch_size must be at least 1, got {batch_size}.")
    reader = _Reader(field_delim, use_quote_delim, na_value, header, compression_type, encoding)
    names = _column_names(files[0], column_names, reader)
    selected = _select(names, select_columns)
    if label_name is not None and label_name not in [names[i] for i in selected]:
        raise ValueError(
            f"make_csv_dataset: label_name {label_name!r} is not a selected column; the "
            f"columns are {[names[i] for i in selected]}."
        )
    columns = _column_types(
        files[0], names, selected, column_defaults, reader, num_rows_for_inference
    )
    chunks: Dataset
    per_file: list[Dataset] = [
        _CsvChunks(path, names, columns, reader, ignore_errors) for path in files
    ]
    if num_parallel_reads and num_parallel_reads > 1 and len(per_file) > 1:
        chunks = Dataset.range(len(per_file)).interleave(
            lambda index: per_file[int(index)],
            cycle_length=min(num_parallel_reads, len(per_file)),
            num_parallel_calls=num_parallel_reads,
        )
    else:
        chunks = _Chain(per_file)
    chunks = chunks.repeat(num_epochs)
    seed = nrandom.host_seed(shuffle_seed) if shuffle else None
    batches: Dataset = _Rebatch(chunks, batch_size, shuffle_buffer_size if shuffle else 0, seed)
    if label_name is not None:
        batches = batches.map(lambda features: _split_label(features, label_name))
    return batches.prefetch(AUTOTUNE if prefetch_buffer_size is None else prefetch_buffer_size)


def _split_label(features: dict, label_name: str) -> tuple[dict, Any]:
    features = dict(features)
    return features, features.pop(label_name)


# -- files and reading ----------------------------------------------------------------


def _match_files(file_pattern: str | Sequence[str]) -> list[str]:
    patterns = (
        [file_pattern] if isinstance(file_pattern, (str, os.PathLike)) else list(file_pattern)
    )
    files: list[str] = []
    for pattern in patterns:
        pattern = os.fspath(pattern)
        matches = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
        files.extend(matches)
    missing = [path for path in files if not os.path.isfile(path)]
    if not files or missing:
        raise FileNotFoundError(
            f"make_csv_dataset: no CSV file matches {file_pattern!r}"
            + (f" (not found: {missing[:3]})" if missing else "")
            + "."
        )
    return files


class _Reader:
    """How to open and split the files."""

    def __init__(
        self,
        delimiter: str,
        quoting: bool,
        na_value: str,
        header: bool,
        compression: str | None,
        encoding: str,
    ):
        if compression not in (None, "", "GZIP", "ZLIB"):
            raise ValueError(
                f'make_csv_dataset: compression_type must be None, "", "GZIP" or "ZLIB"; '
                f"got {compression!r}."
            )
        self.delimiter = delimiter
        self.quoting: Literal[0, 1, 2, 3] = csv.QUOTE_MINIMAL if quoting else csv.QUOTE_NONE
        self.missing = {"", na_value}
        self.header = header
        self.compression = compression or None
        self.encoding = encoding

    @contextlib.contextmanager
    def rows(self, path: str) -> Iterator[Iterator[list[str]]]:
        """The data rows of ``path`` (lists of fields; blank lines skipped)."""
        with self._open(path) as text:
            reader = csv.reader(text, delimiter=self.delimiter, quoting=self.quoting)
            rows = filter(None, reader)  # blank lines are empty lists
            if self.header:
                next(rows, None)
            yield rows

    def line_of(self, path: str, row_index: int) -> int:
        """The line on which data row ``row_index`` (0-based) of ``path`` ends, for
        error messages (found by reading again: only errors pay for it)."""
        with self._open(path) as text:
            reader = csv.reader(text, delimiter=self.delimiter, quoting=self.quoting)
            seen = -1 if self.header else 0
            for row in reader:
                if row:
                    if seen == row_index:
                        return reader.line_num
                    seen += 1
        return -1

    def _open(self, path: str) -> IO[str]:
        if self.compression == "GZIP":
            return gzip.open(path, "rt", encoding=self.encoding, newline="")
        if self.compression == "ZLIB":
            with open(path, "rb") as raw:
                data = zlib.decompressobj().decompress(raw.read())
            return io.StringIO(data.decode(self.encoding), newline="")
        return open(path, encoding=self.encoding, newline="")


def _column_names(path: str, given: Sequence[str] | None, reader: _Reader) -> list[str]:
    if given is not None:
        return [str(name) for name in given]
    if not reader.header:
        raise ValueError("make_csv_dataset: column_names are required when header=False.")
    with reader._open(path) as text:
        first = next(csv.reader(text, delimiter=reader.delimiter, quoting=reader.quoting), None)
    if not first:
        raise ValueError(f"make_csv_dataset: {path} is empty; expected a header row.")
    if len(set(first)) != len(first):
        raise ValueError(f"make_csv_dataset: {path} has duplicate column names: {first}.")
    return first


def _select(names: list[str], select_columns: Sequence[str | int] | None) -> list[int]:
    if select_columns is None:
        return list(range(len(names)))
    indices = []
    for column in select_columns:
        if isinstance(column, int):
            if not 0 <= column < len(names):
                raise ValueError(
                    f"make_csv_dataset: select_columns index {column} is out of range for "
                    f"{len(names)} columns."
                )
            indices.append(column)
        elif column in names:
            indices.append(names.index(column))
        else:
            raise ValueError(
                f"make_csv_dataset: select_columns names {column!r}, which is not a column "
                f"({names})."
            )
    return sorted(set(indices))


class _Column:
    """One selected column: its position in a row, dtype and missing-value rule."""

    def __init__(self, name: str, index: int, dtype: str, default: Any, required: bool):
        self.name, self.index, self.dtype = name, index, dtype
        self.default, self.required = default, required


def _column_types(
    path: str,
    names: list[str],
    selected: list[int],
    defaults: Sequence[Any] | None,
    reader: _Reader,
    num_rows: int,
) -> list[_Column]:
    """The selected columns, typed by their ``column_defaults`` entry or, without one
    (or for a required column given as ``[]``/``None``), by inference."""
    if defaults is not None:
        if len(defaults) not in (len(selected), len(names)):
            raise ValueError(
                f"make_csv_dataset: column_defaults has {len(defaults)} entries; expected one "
                f"per selected column ({len(selected)})."
            )
        if len(defaults) == len(names) and len(names) != len(selected):
            defaults = [defaults[i] for i in selected]
    samples: list[list[str]] = [[] for _ in selected]
    with reader.rows(path) as rows:
        for row in itertools.islice(rows, num_rows):
            for sample, index in zip(samples, selected):
                if index < len(row):
                    sample.append(row[index])
    columns = []
    for position, (index, sample) in enumerate(zip(selected, samples)):
        inferred = _infer(sample, reader.missing)
        if defaults is None:
            columns.append(_Column(names[index], index, inferred, None, False))
        else:
            columns.append(_column_from_default(names[index], index, defaults[position], inferred))
    return columns


#: dtypes a ``column_defaults`` entry may name (a required column of that type).
_DTYPE_NAMES = {"int32": "int32", "int64": "int64", "float32": "float32", "float64": "float32"}


def _column_from_default(name: str, index: int, default: Any, inferred: str) -> _Column:
    """A column from its ``column_defaults`` entry: a value (its type is the column's,
    missing values take it), a dtype (``np.int32``, ``str``: required, of that type),
    or ``[]``/``None`` (required, type inferred)."""
    if default is None or (isinstance(default, (list, tuple)) and len(default) == 0):
        return _Column(name, index, inferred, None, required=True)
    if default is str:
        return _Column(name, index, "str", None, required=True)
    if isinstance(default, (type, np.dtype)):
        dtype_name = np.dtype(default).name
        if dtype_name not in _DTYPE_NAMES:
            raise TypeError(
                f"make_csv_dataset: column {name!r}: column_defaults may name int32, int64, "
                f"float32, float64 or str; received {dtype_name}."
            )
        return _Column(name, index, _DTYPE_NAMES[dtype_name], None, required=True)
    if isinstance(default, (list, tuple)) and len(default) == 1:
        default = default[0]
    if isinstance(default, str):
        return _Column(name, index, "str", default, False)
    if isinstance(default, (bool, np.bool_)):
        raise TypeError(f"make_csv_dataset: column {name!r}: a bool default is not supported.")
    if isinstance(default, (int, np.integer)):
        fits_int32 = np.iinfo("int32").min <= default <= np.iinfo("int32").max
        kind = "int32" if fits_int32 and np.asarray(default).dtype.itemsize <= 8 else "int64"
        if isinstance(default, np.integer) and default.dtype == np.int64:
            kind = "int64"
        return _Column(name, index, kind, default, False)
    if isinstance(default, (float, np.floating)):
        return _Column(name, index, "float32", default, False)
    raise TypeError(
        f"make_csv_dataset: column {name!r}: column_defaults entries must be numbers, "
        f"strings, dtypes, [] or None; received {default!r}."
    )


def _infer(sample: list[str], missing: set[str]) -> str:
    """The narrowest of int32, int64, float32 and string that reads every value; a
    numeric column with missing values is float32 (they become NaN)."""
    present = [value for value in sample if value not in missing]
    if not present:
        return "str"
    has_missing = len(present) != len(sample)
    for dtype in _INFERRED[:-1]:
        if dtype != "float32" and has_missing:
            continue
        try:
            values = np.array(present, dtype="float64" if dtype == "float32" else "int64")
        except (ValueError, OverflowError):
            continue
        if dtype == "int32" and (values.min() < -(2**31) or values.max() >= 2**31):
            continue
        return dtype
    return "str"


class _Chain(Dataset):
    """The chunks of each file in turn."""

    def __init__(self, parts: list[Dataset]):
        self._parts = parts

    def _iterate(self, pass_path: tuple[int, ...]) -> Iterator[Any]:
        for part in self._parts:
            with closing_iterator(part._iterate(pass_path)) as chunks:
                yield from chunks


class _CsvChunks(Dataset):
    """One file as chunks: dicts from column name to an array of up to
    ``_CHUNK_ROWS`` values.

    The ``csv`` module splits the rows; ``zip(*rows)`` turns a chunk into columns and
    NumPy parses each column in one call. Only a chunk with a problem (a row of the
    wrong width, a missing or unparsable value) takes the slower path that finds and
    names it.
    """

    def __init__(
        self, path: str, names: list[str], columns: list[_Column], reader: _Reader, skip: bool
    ):
        self._path, self._names, self._columns = path, names, columns
        self._reader, self._skip = reader, skip
        # A numeric-looking na_value ("-1") would parse as a number: check it by value.
        self._numeric_na = any(_is_number(value) for value in reader.missing)

    def _iterate(self, pass_path: tuple[int, ...]) -> Iterator[Any]:
        first_row = 0
        with self._reader.rows(self._path) as rows:
            while True:
                block = list(itertools.islice(rows, _CHUNK_ROWS))
                if not block:
                    return
                chunk = self._convert(block, first_row)
                first_row += len(block)
                if chunk is not None:
                    yield chunk

    def _error(self, row_index: int, message: str) -> ValueError:
        line = self._reader.line_of(self._path, row_index)
        return ValueError(f"make_csv_dataset: {self._path}, line {line}: {message}")

    def _convert(self, block: list[list[str]], first_row: int) -> dict | None:
        """The block as one array per column; rows that fail are dropped (with
        ``ignore_errors``) or named in the error."""
        width = len(self._names)
        keep = np.ones(len(block), dtype=bool)
        if min(map(len, block)) != width or max(map(len, block)) != width:
            for index, row in enumerate(block):
                if len(row) != width:
                    if not self._skip:
                        raise self._error(
                            first_row + index,
                            f"expected {width} fields ({self._names}), found {len(row)}.",
                        )
                    keep[index] = False
                    block[index] = [""] * width
        fields = list(zip(*block))
        out = {}
        for column in self._columns:
            array, bad = self._parse(column, fields[column.index], first_row)
            keep &= ~bad
            out[column.name] = array
        if not keep.all():
            out = {name: array[keep] for name, array in out.items()}
        return out if keep.any() else None

    def _parse(
        self, column: _Column, values: tuple[str, ...], first_row: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """One column's values as an array, and which rows are bad (dropped)."""
        no_rows_bad = np.zeros(len(values), dtype=bool)
        if column.dtype == "str":
            text = np.array(values, dtype=str)
            missing = np.isin(text, list(self._reader.missing))
            if not missing.any():
                return text, no_rows_bad
            if column.required:
                return text, self._fail(column, values, missing, first_row, "is missing")
            fill = "" if column.default is None else str(column.default)
            return np.where(missing, fill, text), no_rows_bad
        parse_as = "float64" if column.dtype == "float32" else "int64"
        if not self._numeric_na:
            try:  # the common case: every value is a number
                return np.array(values, dtype=parse_as).astype(column.dtype), no_rows_bad
            except (ValueError, OverflowError):
                pass
        return self._parse_slowly(column, values, first_row, parse_as)

    def _parse_slowly(
        self, column: _Column, values: tuple[str, ...], first_row: int, parse_as: str
    ) -> tuple[np.ndarray, np.ndarray]:
        """A numeric column with missing or unparsable values: fill what the rules
        say, and find the rows that are still bad."""
        missing = np.isin(np.array(values, dtype=str), list(self._reader.missing))
        bad = np.zeros(len(values), dtype=bool)
        if missing.any():
            if column.required:
                bad |= self._fail(column, values, missing, first_row, "is missing")
                fill = "0"
            elif column.default is not None:
                fill = str(column.default)
            elif column.dtype == "float32":
                fill = "nan"
            else:
                bad |= self._fail(
                    column, values, missing, first_row,
                    "is missing, in a column read as integers (from the first rows); pass "
                    "column_defaults, or a larger num_rows_for_inference",
                )  # fmt: skip
                fill = "0"
            values = tuple(fill if m else v for v, m in zip(values, missing))
        unparsable = np.fromiter((not _is_number(v, parse_as) for v in values), bool, len(values))
        if unparsable.any():
            bad |= self._fail(column, values, unparsable, first_row, "is not a number")
            values = tuple("0" if u else v for v, u in zip(values, unparsable))
        return np.array(values, dtype=parse_as).astype(column.dtype), bad

    def _fail(
        self,
        column: _Column,
        values: tuple[str, ...],
        rows: np.ndarray,
        first_row: int,
        what: str,
    ) -> np.ndarray:
        """``rows`` (to drop) with ``ignore_errors``; otherwise the error for the first."""
        if self._skip:
            return rows
        first = int(np.flatnonzero(rows)[0])
        required = ", required" if column.required else ""
        raise self._error(
            first_row + first,
            f"column {column.name!r} value {values[first]!r} {what} (column dtype "
            f"{column.dtype}{required}).",
        )


def _is_number(value: str, parse_as: str = "float64") -> bool:
    try:
        (float if parse_as == "float64" else int)(value)
    except ValueError:
        return False
    return True


class _RowQueue:
    """Column chunks waiting to be batched: ``take(n)`` removes the first ``n`` rows."""

    def __init__(self) -> None:
        self._chunks: list[dict] = []
        self.size = 0

    def put(self, chunk: dict) -> None:
        self._chunks.append(chunk)
        self.size += len(next(iter(chunk.values())))

    def take(self, count: int) -> dict:
        parts, needed = [], count
        while needed:
            chunk = self._chunks[0]
            rows = len(next(iter(chunk.values())))
            if rows <= needed:
                parts.append(self._chunks.pop(0))
                needed -= rows
            else:
                parts.append(_rows(chunk, slice(0, needed)))
                self._chunks[0] = _rows(chunk, slice(needed, None))
                needed = 0
        self.size -= count
        return _concat(parts)


class _Rebatch(Dataset):
    """Column chunks regrouped into batches of ``batch_size`` rows. With a shuffle
    buffer of ``buffer_size`` rows, each batch is ``batch_size`` rows drawn at random
    from the buffer, whose emptied slots take the next rows: tf.data's shuffle buffer,
    a batch at a time. At the end the rows left are permuted."""

    def __init__(self, chunks: Dataset, batch_size: int, buffer_size: int, seed: int | None):
        self._chunks, self._batch_size = chunks, batch_size
        self._buffer_size = max(buffer_size, batch_size) if buffer_size else 0
        self._seed = seed

    def _iterate(self, pass_path: tuple[int, ...]) -> Iterator[Any]:
        queue = _RowQueue()
        with closing_iterator(self._chunks._iterate(pass_path)) as chunks:
            if self._seed is None:
                for chunk in chunks:
                    queue.put(chunk)
                    while queue.size >= self._batch_size:
                        yield queue.take(self._batch_size)
                if queue.size:
                    yield queue.take(queue.size)
                return
            rng = np.random.default_rng([self._seed, *pass_path])
            buffer: dict | None = None
            for chunk in chunks:
                queue.put(chunk)
                held = 0 if buffer is None else len(next(iter(buffer.values())))
                if held < self._buffer_size:
                    fill = queue.take(min(self._buffer_size - held, queue.size))
                    buffer = fill if buffer is None else _concat([buffer, fill])
                    held = len(next(iter(buffer.values())))
                while held == self._buffer_size and queue.size >= self._batch_size:
                    assert buffer is not None
                    picks = rng.choice(held, size=self._batch_size, replace=False)
                    yield _rows(buffer, picks)
                    buffer = _replace_rows(buffer, picks, queue.take(self._batch_size))
        rest = _concat(
            [part for part in (buffer, queue.take(queue.size) if queue.size else None) if part]
        )
        count = len(next(iter(rest.values()))) if rest else 0
        order = rng.permutation(count)
        for start in range(0, count, self._batch_size):
            yield _rows(rest, order[start : start + self._batch_size])


def _replace_rows(buffer: dict, picks: np.ndarray, rows: dict) -> dict:
    """``buffer`` with the rows at ``picks`` replaced by ``rows`` (string columns widen
    to the longer of the two, so nothing is cut short)."""
    out = {}
    for name, array in buffer.items():
        new = rows[name]
        if new.dtype != array.dtype:
            array = array.astype(np.result_type(array, new))
        array[picks] = new
        out[name] = array
    return out


def _rows(columns: dict, index: Any) -> dict:
    return {name: array[index] for name, array in columns.items()}


def _concat(chunks: list[dict]) -> dict:
    if len(chunks) == 1:
        return {name: array.copy() for name, array in chunks[0].items()}
    return {name: np.concatenate([c[name] for c in chunks]) for name in chunks[0]}
