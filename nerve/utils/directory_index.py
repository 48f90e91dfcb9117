"""What Keras's folder loaders (``image_dataset_from_directory``,
``text_dataset_from_directory``, ``audio_dataset_from_directory``) share: the index of
a folder tree (``index_directory``: file paths, labels, class names), their argument
checks, the training/validation split, labels encoded for ``label_mode``, and the
pipeline from file paths to a batched, prefetched ``nerve.data.Dataset``.

The index is Keras 3.15.1's, file for file, so a seed gives the same file order as in
Keras:

- with ``labels="inferred"`` every sub-folder of ``directory`` whose name does not start
  with ``"."`` is a class, in sorted order (or in the order of ``class_names``, which
  must name a subset of them); a class's files are found in its whole tree, folders
  sorted by path and files by name, hidden nested folders included;
- with ``labels=None`` or a list of labels the whole tree is indexed, hidden folders
  included, and ``class_names`` must not be given;
- a file is kept when its lower-cased name ends with one of ``formats``
  (so ``PHOTO.JPG`` counts as ``.jpg``); ``follow_links`` descends into symbolic links
  to folders;
- ``shuffle`` permutes the paths, then the labels, each with a fresh
  ``np.random.RandomState(seed)``; ``seed=None`` draws one with
  ``nerve.random.host_seed`` (``nerve.utils.set_random_seed`` reproduces it) where
  Keras draws from NumPy's global state.

Where nerve differs from Keras, and why:

- a list or tuple of labels is copied before it is shuffled (Keras shuffles the
  caller's list in place, and fails on a tuple);
- ``get_training_or_validation_split`` raises when ``validation_split`` is too small
  to leave one file for validation (Keras returns every file for validation, the
  training files included, or no training file at all);
- labels given as a list must be integers, and with ``label_mode="categorical"`` each
  must be a class index below the number of classes (Keras's one-hot rows would be all
  zeros);
- remote paths (``gs://``), which Keras reads through TensorFlow, are not supported.

>>> import os, tempfile
>>> root = tempfile.mkdtemp()
>>> for name in ("b/1.txt", "b/deep/2.TXT", "a/3.txt", "a/skip.csv", ".hidden/4.txt"):
...     os.makedirs(os.path.dirname(os.path.join(root, name)), exist_ok=True)
...     with open(os.path.join(root, name), "w") as file:
...         _ = file.write("x")
>>> paths, labels, class_names = index_directory(root, "inferred", formats=(".txt",),
...                                              shuffle=False)
Found 3 files belonging to 2 classes.
>>> [os.path.relpath(path, root) for path in paths], labels.tolist(), class_names
(['a/3.txt', 'b/1.txt', 'b/deep/2.TXT'], [0, 1, 1], ['a', 'b'])
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

# File indexes and labels are built on the host, before any backend sees the data.
import numpy as np

from nerve import random as nrandom
from nerve.data import AUTOTUNE, Dataset
from nerve.data.transforms import BatchMap

__all__ = [
    "LABEL_MODES",
    "check_label_arguments",
    "check_validation_split_arg",
    "datasets_from_directory",
    "encode_labels",
    "get_training_or_validation_split",
    "index_directory",
    "paths_and_labels_to_batches",
    "paths_and_labels_to_dataset",
]

LABEL_MODES = ("int", "categorical", "binary", None)


# -- argument checks ------------------------------------------------------------------------


def check_label_arguments(
    labels: Any, label_mode: Any, class_names: Any, files: str, function: str
) -> tuple[Any, str | None]:
    """Keras's checks of ``labels``, ``class_names`` and ``label_mode``, in Keras's
    order; returns ``(labels, label_mode)``, both ``None`` when either is (no labels).
    ``files`` names the files for the message (``"image files"``).

    >>> check_label_arguments([0, 1], None, None, "text files", "f")
    (None, None)
    >>> check_label_arguments("inferred", "one-hot", None, "text files", "f")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: f: label_mode must be one of 'int', ... received label_mode='one-hot'.
    """
    if not _is_inferred(labels) and labels is not None:
        if not isinstance(labels, (list, tuple)):
            raise ValueError(
                f'{function}: labels must be "inferred" (one class per sub-folder), None '
                f"(no labels) or a list/tuple of integer labels, one for each of the {files} "
                "found in the directory, in the sorted order of their paths; received "
                f"labels={labels!r}."
            )
        if class_names:
            raise ValueError(
                f'{function}: class_names can only be given with labels="inferred" (it picks '
                "and orders the sub-folders); with a list of labels the class names are the "
                f"sorted distinct labels. Received labels={labels!r}, "
                f"class_names={class_names!r}."
            )
    if label_mode not in LABEL_MODES:
        raise ValueError(
            f"{function}: label_mode must be one of 'int', 'categorical', 'binary' or None; "
            f"received label_mode={label_mode!r}."
        )
    if labels is None or label_mode is None:
        return None, None
    return labels, label_mode


def _is_inferred(labels: Any) -> bool:
    # A comparison with == would be elementwise (and ambiguous) for an array of labels.
    return isinstance(labels, str) and labels == "inferred"


def check_validation_split_arg(
    validation_split: float | None, subset: str | None, shuffle: bool, seed: int | None
) -> None:
    """Keras's rules for ``validation_split``, ``subset``, ``shuffle`` and ``seed``:
    the split is in ``(0, 1)``; it and ``subset`` come together; ``subset`` is
    ``"training"``, ``"validation"`` or ``"both"``; a shuffled split needs a seed (the
    training and the validation call must shuffle the files the same way, or their
    files would overlap).

    >>> check_validation_split_arg(0.2, "training", shuffle=True, seed=None)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: validation_split=0.2 with shuffle=True needs a seed: ...
    """
    if validation_split and not 0 < validation_split < 1:
        raise ValueError(
            f"validation_split must be a float between 0 and 1 (exclusive); received "
            f"validation_split={validation_split!r}."
        )
    if bool(validation_split) != bool(subset):
        raise ValueError(
            "validation_split and subset go together: give both (subset='training', "
            f"'validation' or 'both') or neither; received validation_split="
            f"{validation_split!r}, subset={subset!r}."
        )
    if subset not in ("training", "validation", "both", None):
        raise ValueError(
            f"subset must be 'training', 'validation', 'both' or None; received subset={subset!r}."
        )
    if validation_split and shuffle and seed is None:
        raise ValueError(
            f"validation_split={validation_split!r} with shuffle=True needs a seed: both "
            "subsets are cut from one shuffled list of files, and only a fixed seed makes "
            "the training and the validation call shuffle it the same way (without one "
            "their files would overlap)."
        )


# -- the index ------------------------------------------------------------------------------


def index_directory(
    directory: str | os.PathLike[str],
    labels: Any,
    formats: tuple[str, ...],
    class_names: Sequence[str] | None = None,
    shuffle: bool = True,
    seed: int | None = None,
    follow_links: bool = False,
    verbose: bool = True,
) -> tuple[list[str], Any, list[str] | None]:
    """The files under ``directory`` whose extension is in ``formats``, with labels
    (Keras's ``index_directory``; the module docstring gives the rules).

    Args:
        directory: the root folder.
        labels: ``"inferred"`` (from the sub-folders), ``None``, or a list/tuple of
            integer labels, one per file in sorted path order.
        formats: lower-case extensions with the dot (``(".jpg", ".png")``).
        class_names: with ``"inferred"``, the sub-folders to use, in label order.
        shuffle: permute the files (and labels the same way) with ``seed``; otherwise
            they stay in sorted order (class by class for ``"inferred"``).
        seed: the ``np.random.RandomState`` seed; ``None`` draws one.
        follow_links: descend into symbolic links to folders.
        verbose: print ``"Found N files belonging to K classes."``.

    Returns:
        ``(file_paths, labels, class_names)``: paths joined onto ``directory``; an
        ``int32`` array for ``"inferred"``, a list for given labels, ``None`` without;
        the class names (``None`` without labels; the sorted distinct labels as strings
        for given labels).
    """
    directory = os.fspath(directory)
    if _is_inferred(labels):
        subdirs = _class_folders(directory, class_names)
    else:
        if class_names is not None:
            raise ValueError(
                "index_directory: class_names can only be given with labels='inferred'; "
                f"received labels={labels!r}, class_names={class_names!r}."
            )
        subdirs = [""]  # the whole tree, from the root down
    # Walking folders waits on the file system (a network drive, say): one thread each.
    with ThreadPoolExecutor() as pool:
        parts = list(
            pool.map(
                lambda subdir: _index_subdirectory(
                    os.path.join(directory, subdir), follow_links, formats
                ),
                subdirs,
            )
        )
    filenames = [name for part in parts for name in part]
    labels, names = _label_files(labels, subdirs, parts, directory)
    if verbose:
        if names is None:
            print(f"Found {len(filenames)} files.")
        else:
            print(f"Found {len(filenames)} files belonging to {len(names)} classes.")
    file_paths = [os.path.join(directory, name) for name in filenames]
    if shuffle:
        # One permutation for both lists: the same seed drives two fresh generators.
        seed = nrandom.host_seed(seed)
        np.random.RandomState(seed).shuffle(file_paths)
        if labels is not None:
            np.random.RandomState(seed).shuffle(labels)
    return file_paths, labels, names


def _label_files(
    labels: Any, subdirs: list[str], parts: list[list[str]], directory: str
) -> tuple[Any, list[str] | None]:
    """The labels of the files found (``parts``: the files of each of ``subdirs``) and
    the class names, for ``labels`` ``"inferred"``, ``None`` or a given list."""
    if _is_inferred(labels):
        # Keras looks a folder's label up by its name, so a repeated class name takes
        # the index of its last position.
        class_indices = {name: index for index, name in enumerate(subdirs)}
        part_labels = np.array([class_indices[subdir] for subdir in subdirs], dtype=np.int32)
        return np.repeat(part_labels, [len(part) for part in parts]), list(subdirs)
    if labels is None:
        return None, None
    count = sum(len(part) for part in parts)
    if len(labels) != count:
        raise ValueError(
            f"index_directory: got {len(labels)} labels for {count} files in directory "
            f"{directory!r}; give exactly one label per file (in the sorted order of their "
            "paths)."
        )
    labels = list(labels)
    return labels, [str(label) for label in sorted(set(labels))]


def _class_folders(directory: str, class_names: Sequence[str] | None) -> list[str]:
    """The visible sub-folders of ``directory``, sorted, or ``class_names`` (checked)."""
    subdirs = [
        name
        for name in sorted(os.listdir(directory))
        if os.path.isdir(os.path.join(directory, name)) and not name.startswith(".")
    ]
    if class_names is None:
        return subdirs
    unknown = [name for name in class_names if name not in subdirs]
    if unknown:
        raise ValueError(
            f"index_directory: class_names {list(class_names)!r} name folders that are not "
            f"sub-folders of {directory!r} ({unknown!r}); the sub-folders are {subdirs!r}, "
            "and class_names must be a subset of them."
        )
    return list(class_names)


def _index_subdirectory(directory: str, follow_links: bool, formats: tuple[str, ...]) -> list[str]:
    """The files under ``directory`` that match ``formats``, as paths relative to its
    parent (``"class_a/sub/x.png"``; just ``"sub/x.png"`` for the root itself)."""
    folder_name = os.path.basename(directory)
    found = []
    walk = os.walk(directory, followlinks=follow_links)
    for root, _, files in sorted(walk, key=lambda entry: entry[0]):
        for name in sorted(files):
            if name.lower().endswith(formats):
                relative = os.path.relpath(os.path.join(root, name), directory)
                found.append(os.path.join(folder_name, relative))
    return found


def get_training_or_validation_split(
    samples: Any, labels: Any, validation_split: float | None, subset: str | None
) -> tuple[Any, Any]:
    """The last ``int(validation_split * len(samples))`` samples (and labels) for
    ``subset="validation"``, the others for ``"training"``, everything without a
    ``validation_split``; prints how many files it keeps, as Keras does.

    >>> get_training_or_validation_split(list("abcde"), [0, 1, 0, 1, 0], 0.4, "validation")
    Using 2 files for validation.
    (['d', 'e'], [1, 0])
    """
    if not validation_split:
        return samples, labels
    validation_count = int(validation_split * len(samples))
    if validation_count == 0 and len(samples):
        raise ValueError(
            f"validation_split={validation_split!r} of {len(samples)} files leaves no file "
            f"for validation (int({validation_split!r} * {len(samples)}) is 0); use a larger "
            "validation_split or more files."
        )
    cut = len(samples) - validation_count
    if subset == "training":
        print(f"Using {cut} files for training.")
        return samples[:cut], None if labels is None else labels[:cut]
    if subset == "validation":
        print(f"Using {validation_count} files for validation.")
        return samples[cut:], None if labels is None else labels[cut:]
    raise ValueError(f"subset must be 'training' or 'validation' here; received subset={subset!r}.")


# -- labels and the pipeline ----------------------------------------------------------------


def encode_labels(labels: Any, label_mode: str, num_classes: int) -> np.ndarray:
    """Labels as a dataset yields them: ``"int"`` an ``int32`` vector; ``"binary"``
    ``float32`` of shape ``(n, 1)``; ``"categorical"`` ``float32`` one-hot rows.

    >>> encode_labels([1, 0], "categorical", 3).tolist()
    [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]
    >>> encode_labels([1, 0], "binary", 2).shape
    (2, 1)
    """
    values = np.asarray(labels)
    if values.size and values.dtype.kind not in "iu":
        if values.dtype.kind not in "fb" or not np.array_equal(values, np.round(values)):
            raise ValueError(
                f"labels must be integers; received values of dtype {values.dtype} "
                f"(first few: {values.ravel()[:5].tolist()})."
            )
    indices = values.astype(np.int64).reshape(-1)
    if label_mode == "int":
        return indices.astype(np.int32)
    if label_mode == "binary":
        return indices.astype(np.float32)[:, np.newaxis]
    if label_mode == "categorical":
        outside = indices[(indices < 0) | (indices >= num_classes)]
        if outside.size:
            raise ValueError(
                f"label_mode='categorical' needs labels in [0, {num_classes}) (one per "
                f"class); received {sorted(set(outside.tolist()))[:5]}."
            )
        return np.eye(num_classes, dtype=np.float32)[indices]
    raise ValueError(f"label_mode must be one of {LABEL_MODES}; received {label_mode!r}.")


def paths_and_labels_to_dataset(
    file_paths: Sequence[str],
    labels: Any,
    label_mode: str | None,
    num_classes: int,
    load: Callable[[str], Any],
    shuffle: bool,
    shuffle_buffer_size: int,
    seed: int,
) -> Dataset:
    """``load(path)`` for each file, paired with its encoded label (when
    ``label_mode``), shuffled through a buffer when ``shuffle``; files are read on
    parallel threads and come out in order."""
    dataset = _paths_and_labels(file_paths, labels, label_mode, num_classes)
    if shuffle:
        dataset = dataset.shuffle(shuffle_buffer_size, seed=seed)
    if label_mode is None:
        return dataset.map(lambda path: load(str(path)), num_parallel_calls=AUTOTUNE)
    return dataset.map(lambda path, label: (load(str(path)), label), num_parallel_calls=AUTOTUNE)


def paths_and_labels_to_batches(
    file_paths: Sequence[str],
    labels: Any,
    label_mode: str | None,
    num_classes: int,
    load: Callable[[str], Any],
    load_batch: Callable[[list[str]], Any],
    batch_size: int,
    shuffle: bool,
    shuffle_buffer_size: int,
    seed: int,
) -> Dataset:
    """The batches ``paths_and_labels_to_dataset(...).batch(batch_size)`` gives, made
    by ``load_batch(paths)``, which reads ``batch_size`` files at a time into one
    stacked array: the files are shuffled and grouped first (the same order, since the
    buffer shuffles paths, not images), so the per-image work of the pipeline runs once
    per batch and a loader can resize a whole batch in one call. Under
    ``ignore_errors`` a batch that fails is read again file by file with ``load``, so
    only the broken files are dropped, as before batching."""
    dataset = _paths_and_labels(file_paths, labels, label_mode, num_classes)
    if shuffle:
        dataset = dataset.shuffle(shuffle_buffer_size, seed=seed)
    dataset = dataset.batch(batch_size)
    if label_mode is None:
        return BatchMap(
            dataset, lambda paths: load_batch(paths.tolist()), lambda path: load(str(path))
        )
    return BatchMap(
        dataset,
        lambda paths, batch_labels: (load_batch(paths.tolist()), batch_labels),
        lambda path, label: (load(str(path)), label),
    )


def _paths_and_labels(
    file_paths: Sequence[str], labels: Any, label_mode: str | None, num_classes: int
) -> Dataset:
    paths = np.asarray(list(file_paths), dtype=str)
    if label_mode is None:
        return Dataset.from_tensor_slices(paths)
    return Dataset.from_tensor_slices((paths, encode_labels(labels, label_mode, num_classes)))


def datasets_from_directory(
    directory: str | os.PathLike[str],
    *,
    labels: Any,
    label_mode: str | None,
    class_names: Sequence[str] | None,
    formats: tuple[str, ...],
    load: Callable[[str], Any],
    batch_size: int | None,
    shuffle: bool,
    seed: int | None,
    validation_split: float | None,
    subset: str | None,
    follow_links: bool,
    verbose: bool,
    function: str,
    files: str,
    padded: bool = False,
    keep_file_paths: bool = False,
    load_batch: Callable[[list[str]], Any] | None = None,
) -> Any:
    """The part every folder loader shares, after its own argument checks: check the
    split, index the files, and build one dataset, or ``[training, validation]`` for
    ``subset="both"`` (the validation part is never buffer-shuffled, as in Keras).

    ``labels`` and ``label_mode`` are as ``check_label_arguments`` returns them;
    ``load(path)`` reads one file; ``function`` and ``files`` (``"image files"``)
    name things in messages. Each dataset is batched (``padded``: to the longest
    element of each batch) unless ``batch_size`` is ``None``, prefetched, and carries
    Keras's attributes: ``class_names``, and ``file_paths`` when ``keep_file_paths``.
    ``load_batch(paths)``, where given, reads a batch of files into one array (see
    ``paths_and_labels_to_batches``); ``load`` then serves unbatched datasets only.
    """
    check_validation_split_arg(validation_split, subset, shuffle, seed)
    seed = nrandom.host_seed(seed)
    file_paths, labels, names = index_directory(
        directory,
        labels,
        formats=formats,
        class_names=class_names,
        shuffle=shuffle,
        seed=seed,
        follow_links=follow_links,
        verbose=verbose,
    )
    if label_mode == "binary" and len(names or ()) != 2:
        raise ValueError(
            f"{function}: label_mode='binary' needs exactly 2 classes; received "
            f"class_names={names!r}. Use label_mode='int' or 'categorical' for more."
        )
    # Keras's buffer: eight batches, or 1024 files when unbatched.
    buffer_size = 1024 if batch_size is None else batch_size * 8

    def build(paths: list[str], part_labels: Any, shuffle_files: bool) -> Dataset:
        num_classes = len(names or ())
        if load_batch is not None and batch_size is not None and not padded:
            dataset = paths_and_labels_to_batches(
                paths, part_labels, label_mode, num_classes, load, load_batch, batch_size,
                shuffle_files, buffer_size, seed,
            )  # fmt: skip
        else:
            dataset = paths_and_labels_to_dataset(
                paths, part_labels, label_mode, num_classes, load, shuffle_files, buffer_size, seed
            )
            if batch_size is not None:
                dataset = dataset.padded_batch(batch_size) if padded else dataset.batch(batch_size)
        dataset = dataset.prefetch(AUTOTUNE)
        # Keras hangs these on the dataset object, where users read them.
        dataset.class_names = names  # type: ignore[attr-defined]
        if keep_file_paths:
            dataset.file_paths = paths  # type: ignore[attr-defined]
        return dataset

    def check_found(paths: list[str], part: str) -> None:
        if not paths:
            raise ValueError(
                f"{function}: found no {part}{files} in directory {os.fspath(directory)!r} "
                f"(the extensions read, in any case: {', '.join(formats)})."
            )

    if subset != "both":
        paths, part_labels = get_training_or_validation_split(
            file_paths, labels, validation_split, subset
        )
        check_found(paths, "")
        return build(paths, part_labels, shuffle)
    training = get_training_or_validation_split(file_paths, labels, validation_split, "training")
    validation = get_training_or_validation_split(
        file_paths, labels, validation_split, "validation"
    )
    check_found(training[0], "training ")
    check_found(validation[0], "validation ")
    return [build(*training, shuffle), build(*validation, False)]
