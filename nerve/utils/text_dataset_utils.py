"""``text_dataset_from_directory``: a folder tree of ``.txt`` files as a
``nerve.data.Dataset`` of strings and labels (Keras 3.15.1's
``keras.utils.text_dataset_from_directory``).

The files are indexed as in Keras (``nerve.utils.directory_index``; ``.txt`` in any
case), read on parallel threads, in order, and yielded as NumPy ``str`` arrays (a batch
is a ``(batch,)`` array of dtype ``<U...``).

Where nerve differs from Keras, and why:

- there is no ``format=`` argument: Keras uses it to choose between a ``tf.data`` and a
  Grain pipeline; nerve always returns a ``nerve.data.Dataset``;
- a file is decoded as UTF-8 (a byte-order mark is dropped) and its text kept exactly,
  line endings included; ``max_length`` counts characters, as Keras's Grain pipeline
  does (its ``tf.data`` pipeline yields bytes and counts bytes, which is the same for
  ASCII text);
- a file that is not valid UTF-8 raises, when the dataset reaches it, a
  ``ValueError`` naming the file.

>>> import os, tempfile
>>> root = tempfile.mkdtemp()
>>> for name, text in (("neg/1.txt", "dull"), ("pos/2.txt", "great fun"), ("pos/3.txt", "ok")):
...     os.makedirs(os.path.join(root, os.path.dirname(name)), exist_ok=True)
...     with open(os.path.join(root, name), "w", encoding="utf-8") as file:
...         _ = file.write(text)
>>> dataset = text_dataset_from_directory(root, max_length=5, shuffle=False)
Found 3 files belonging to 2 classes.
>>> texts, labels = next(iter(dataset))
>>> texts.tolist(), labels.tolist(), dataset.class_names
(['dull', 'great', 'ok'], [0, 1, 1], ['neg', 'pos'])
"""

from __future__ import annotations

import functools
import os
from typing import Any

# Texts are read on the host, before any backend sees them.
import numpy as np

from nerve.utils.directory_index import check_label_arguments, datasets_from_directory

__all__ = ["text_dataset_from_directory"]


def text_dataset_from_directory(
    directory: str | os.PathLike[str],
    labels: Any = "inferred",
    label_mode: str | None = "int",
    class_names: list[str] | None = None,
    batch_size: int | None = 32,
    max_length: int | None = None,
    shuffle: bool = True,
    seed: int | None = None,
    validation_split: float | None = None,
    subset: str | None = None,
    follow_links: bool = False,
    verbose: bool = True,
) -> Any:
    """A dataset of the texts of the ``.txt`` files under ``directory`` (see the module
    docstring).

    Args:
        directory: the root folder; with ``labels="inferred"`` one sub-folder per class.
        labels: ``"inferred"`` (class ``i`` is the ``i``-th sub-folder), ``None`` (texts
            only) or a list/tuple of integer labels, one per text file in the sorted
            order of their paths.
        label_mode: ``"int"`` (``int32`` labels), ``"categorical"`` (``float32`` one-hot
            rows), ``"binary"`` (``float32`` of shape ``(batch, 1)``, exactly two
            classes) or ``None`` (texts only).
        class_names: with ``labels="inferred"``, the sub-folders to read, in label order.
        batch_size: texts per batch; ``None`` yields single texts.
        max_length: keep at most this many characters of each text.
        shuffle: shuffle the files (with ``seed``) and, each pass, through a buffer of
            eight batches; otherwise the files are read in sorted order.
        seed: the shuffling seed; ``None`` draws one from nerve's global seed generator.
        validation_split: the fraction of the files kept for validation (the last ones
            after shuffling).
        subset: ``"training"``, ``"validation"`` or ``"both"`` (a list of two datasets);
            only with ``validation_split``.
        follow_links: descend into symbolic links to folders.
        verbose: print how many files and classes were found.

    Returns:
        A ``nerve.data.Dataset`` yielding ``(texts, labels)``, or ``texts`` alone when
        ``label_mode`` or ``labels`` is ``None``; texts are NumPy ``str`` arrays of shape
        ``(batch,)``. It has a ``class_names`` attribute. ``subset="both"`` returns
        ``[training, validation]``.
    """
    function = "text_dataset_from_directory"
    labels, label_mode = check_label_arguments(
        labels, label_mode, class_names, "text files", function
    )
    if max_length is not None and (
        isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 0
    ):
        raise ValueError(
            f"{function}: max_length must be None or a non-negative int; received "
            f"max_length={max_length!r}."
        )
    return datasets_from_directory(
        directory,
        labels=labels,
        label_mode=label_mode,
        class_names=class_names,
        formats=(".txt",),
        load=functools.partial(_read_text, max_length=max_length),
        batch_size=batch_size,
        shuffle=shuffle,
        seed=seed,
        validation_split=validation_split,
        subset=subset,
        follow_links=follow_links,
        verbose=verbose,
        function=function,
        files="text files",
    )


def _read_text(path: str, max_length: int | None) -> np.ndarray:
    """The text of one file as a 0-d ``str`` array, cut to ``max_length`` characters."""
    with open(path, "rb") as file:
        data = file.read()
    try:
        # Bytes, not text mode, so line endings stay as they are in the file; "utf-8-sig"
        # drops a leading byte-order mark and reads any other file as plain UTF-8.
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ValueError(
            f"text_dataset_from_directory: cannot read {path!r} as UTF-8 text ({error}); "
            "convert the file to UTF-8 (or move it out of the directory)."
        ) from error
    return np.asarray(text if max_length is None else text[:max_length], dtype=str)
