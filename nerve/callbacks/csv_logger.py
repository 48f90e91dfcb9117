"""``CSVLogger``: write each epoch's logs as a row of a CSV file.

>>> import os, tempfile
>>> from nerve.callbacks import CSVLogger
>>> path = os.path.join(tempfile.mkdtemp(), "log.csv")
>>> logger = CSVLogger(path)
>>> logger.on_train_begin()
>>> logger.on_epoch_end(0, {"loss": 0.5, "val_loss": 0.75})
>>> logger.on_train_end()
>>> with open(path) as f:
...     print(f.read(), end="")
epoch,loss,val_loss
0,0.5,0.75
"""

from __future__ import annotations

import csv
import os
from typing import Any

from nerve.callbacks.callback import Callback

__all__ = ["CSVLogger"]


def _cell(value: Any) -> Any:
    if isinstance(value, str):
        return value
    if hasattr(value, "numpy"):
        value = value.numpy()
    if hasattr(value, "ndim") and value.ndim == 0:
        return value.item()
    if hasattr(value, "__iter__"):
        return f'"[{", ".join(map(str, value))}]"'
    return value


class CSVLogger(Callback):
    """Writes each epoch's logs as one row of a CSV file, as Keras 3's
    ``callbacks.CSVLogger``.

    The file is opened when training begins, gets a row (and is flushed) at every
    epoch end, and is closed when training ends. The columns are ``epoch`` (0-based)
    then the names in the first epoch's logs, sorted; if that epoch has no ``val_*``
    entries, a ``val_<name>`` column is reserved for each name (validation may start
    later) and holds ``NA`` while missing. Array-valued logs are written as
    ``"[a, b, ...]"``.

    Args:
        filename: the path of the CSV file.
        separator: the field separator (default ``","``).
        append: add rows to an existing file (writing the header only if the file is
            empty or new) instead of overwriting it (default ``False``), e.g. to
            continue a log after resuming training.

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "log.csv")
    >>> logger = CSVLogger(path, separator=";")
    >>> logger.on_train_begin()
    >>> logger.on_epoch_end(0, {"loss": 0.5})
    >>> logger.on_train_end()
    >>> with open(path) as f:
    ...     print(f.read(), end="")
    epoch;loss;val_loss
    0;0.5;NA
    """

    def __init__(self, filename: str | os.PathLike, separator: str = ",", append: bool = False):
        super().__init__()
        self.sep = separator
        self.filename = os.fspath(filename)
        self.append = append
        self.writer: csv.DictWriter | None = None
        self.keys: list[str] | None = None
        self.append_header = True
        self.csv_file: Any = None

    def on_train_begin(self, logs: dict | None = None) -> None:
        if self.append:
            if os.path.exists(self.filename):
                with open(self.filename) as existing:
                    self.append_header = not existing.readline()
            mode = "a"
        else:
            mode = "w"
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        # Open for the whole run (closed in on_train_end), not per hook.
        self.csv_file = open(self.filename, mode, newline="")  # noqa: SIM115
        self.writer = None
        self.keys = None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
            if self.keys and not any(key.startswith("val_") for key in self.keys):
                self.keys += [f"val_{key}" for key in self.keys]
        if self.writer is None:

            class Dialect(csv.excel):
                delimiter = self.sep

            self.writer = csv.DictWriter(
                self.csv_file, fieldnames=["epoch", *self.keys], dialect=Dialect
            )
            if self.append_header:
                self.writer.writeheader()
        row = {"epoch": epoch}
        row.update((key, _cell(logs.get(key, "NA"))) for key in self.keys)
        self.writer.writerow(row)
        self.csv_file.flush()

    def on_train_end(self, logs: dict | None = None) -> None:
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self.writer = None
