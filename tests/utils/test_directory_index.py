"""The folder index the loaders share, against Keras's own ``index_directory`` (pure
Python) on one tree: file order, labels and class names for several seeds and
settings; the training/validation split and the argument rules against Keras's;
label encoding; and where nerve deliberately differs."""

from __future__ import annotations

import os

import numpy as np
import pytest

from nerve.utils import set_random_seed
from nerve.utils.directory_index import (
    check_label_arguments,
    check_validation_split_arg,
    encode_labels,
    get_training_or_validation_split,
    index_directory,
)


def keras_dataset_utils():
    pytest.importorskip("keras")
    from keras.src.utils import dataset_utils

    return dataset_utils


# Every file of the tree, relative to its root. Sorted walks, nested and hidden folders,
# an empty class, upper-case extensions, files of other formats and at the top level.
TREE = [
    "zebra/z1.txt",
    "zebra/Z0.TXT",
    "zebra/deep/er/z2.txt",
    "zebra/.cache/z3.txt",
    "apple/a2.txt",
    "apple/a1.txt",
    "apple/a10.txt",
    "apple/skip.csv",
    "apple/sub/a0.txt",
    "apple/sub b/a4.Txt",
    "mango/m1.txt",
    "mango/m.md",
    ".hidden/h1.txt",
    "root.txt",
]
EMPTY_CLASS = "empty"
CLASS_FILE_COUNT = 10  # files ending in .txt, in any case, inside visible class folders
ALL_FILE_COUNT = 12  # and in the hidden folder and at the top level


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("tree")
    for name in TREE:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(name)
    (root / EMPTY_CLASS).mkdir()
    # A folder outside the tree, reached only through a symbolic link inside a class.
    linked = tmp_path_factory.mktemp("linked")
    (linked / "l1.txt").write_text("l1")
    (root / "mango" / "link").symlink_to(linked, target_is_directory=True)
    return str(root)


INDEX_CASES = [
    # (labels, class_names, shuffle, seed, follow_links, formats)
    ("inferred", None, False, None, False, (".txt",)),
    ("inferred", None, True, 0, False, (".txt",)),
    ("inferred", None, True, 1337, False, (".txt",)),
    ("inferred", None, True, 7, True, (".txt",)),
    ("inferred", ["zebra", "apple"], False, None, False, (".txt",)),
    ("inferred", ["mango", "empty", "apple"], True, 3, False, (".txt",)),
    ("inferred", ["mango", "apple", "mango"], False, None, False, (".txt",)),  # a repeat
    ("inferred", None, True, 5, False, (".txt", ".csv", ".md")),
    (None, None, False, None, False, (".txt",)),
    (None, None, True, 11, True, (".txt",)),
    ("manual", None, False, None, False, (".txt",)),
    ("manual", None, True, 21, False, (".txt",)),
]


def _labels_for(labels, count):
    """The manual labels of a case: a repeating pattern with gaps (classes 0, 2, 5)."""
    return [(0, 2, 5)[i % 3] for i in range(count)] if labels == "manual" else labels


@pytest.mark.parametrize("labels, class_names, shuffle, seed, follow_links, formats", INDEX_CASES)
def test_index_directory_is_keras_s(tree, capsys, labels, class_names, shuffle, seed,
                                    follow_links, formats):  # fmt: skip
    count = CLASS_FILE_COUNT if labels == "inferred" else ALL_FILE_COUNT
    count += 1 if follow_links else 0
    arguments = dict(
        formats=formats, class_names=class_names, shuffle=shuffle, follow_links=follow_links
    )
    # An unseeded shuffle draws its seed; give both sides the same one.
    seed = 123 if shuffle and seed is None else seed
    theirs = keras_dataset_utils().index_directory(
        tree, _labels_for(labels, count), seed=seed, **arguments
    )
    keras_output = capsys.readouterr().out
    ours = index_directory(tree, _labels_for(labels, count), seed=seed, **arguments)
    assert capsys.readouterr().out == keras_output
    paths, our_labels, names = ours
    assert paths == theirs[0]
    assert names == theirs[2]
    if labels is None:
        assert our_labels is None and theirs[1] is None
    else:
        assert list(our_labels) == list(theirs[1])
        assert type(our_labels) is type(theirs[1])


def test_index_directory_labels_and_order_on_their_own(tree):
    """Not only equal to Keras: what the rules say, written out."""
    paths, labels, names = index_directory(tree, "inferred", (".txt",), shuffle=False)
    relative = [os.path.relpath(path, tree) for path in paths]
    assert names == ["apple", EMPTY_CLASS, "mango", "zebra"]
    assert relative == [
        "apple/a1.txt", "apple/a10.txt", "apple/a2.txt", "apple/sub/a0.txt",
        "apple/sub b/a4.Txt", "mango/m1.txt", "zebra/Z0.TXT", "zebra/z1.txt",
        "zebra/.cache/z3.txt", "zebra/deep/er/z2.txt",
    ]  # fmt: skip
    assert labels.dtype == np.int32
    assert labels.tolist() == [0] * 5 + [2] + [3] * 4


def test_shuffle_applies_one_permutation_to_paths_and_labels(tree):
    ordered, ordered_labels, _ = index_directory(
        tree, "inferred", (".txt",), shuffle=False, verbose=False
    )
    paths, labels, _ = index_directory(tree, "inferred", (".txt",), seed=9, verbose=False)
    assert paths != ordered
    label_of = dict(zip(ordered, ordered_labels.tolist()))
    assert [label_of[path] for path in paths] == labels.tolist()


def test_unseeded_shuffle_follows_nerve_s_global_seed(tree):
    orders = []
    for seed in (4, 4, 5):
        set_random_seed(seed)
        orders.append(index_directory(tree, None, (".txt",), verbose=False)[0])
    assert orders[0] == orders[1] != orders[2]


@pytest.mark.parametrize("container", [list, tuple])
def test_given_labels_are_copied_not_shuffled_in_place(tree, container):
    # Keras shuffles a list in place and fails on a tuple; nerve copies either.
    given = container(range(ALL_FILE_COUNT))
    _, labels, names = index_directory(tree, given, (".txt",), seed=2, verbose=False)
    assert list(given) == list(range(ALL_FILE_COUNT))
    assert sorted(labels) == list(given) and labels != list(given)
    assert names == [str(label) for label in given]


INDEX_ERRORS = [
    # (labels, class_names, message); Keras refuses each too (not called for the last:
    # it raises with its thread pool still open, which leaks it)
    ("inferred", ["apple", "pear"], r"not sub-folders .*\['pear'\]"),
    ("inferred", [".hidden"], "subset"),
    (None, ["apple"], "class_names can only be given with labels='inferred'"),
    ([0, 1], ["apple"], "class_names can only be given"),
    ([0, 1, 2], None, "got 3 labels for 12 files"),
]


@pytest.mark.parametrize("labels, class_names, message", INDEX_ERRORS)
def test_index_directory_errors(tree, labels, class_names, message):
    with pytest.raises(ValueError, match=message):
        index_directory(tree, labels, (".txt",), class_names=class_names, verbose=False)
    if class_names is not None:
        with pytest.raises(ValueError):
            keras_dataset_utils().index_directory(
                tree, labels, (".txt",), class_names=class_names, verbose=False
            )


SPLITS = [
    # (count, validation_split, subset, with labels)
    (10, 0.2, "training", True),
    (10, 0.2, "validation", True),
    (7, 0.5, "training", False),
    (7, 0.5, "validation", True),
    (3, 0.34, "validation", True),
    (10, None, None, True),
    (0, 0.3, "training", True),
]


@pytest.mark.parametrize("count, validation_split, subset, labelled", SPLITS)
def test_split_is_keras_s(capsys, count, validation_split, subset, labelled):
    samples = [f"file{i}" for i in range(count)]
    labels = np.arange(count, dtype=np.int32) % 3 if labelled else None
    theirs = keras_dataset_utils().get_training_or_validation_split(
        samples, labels, validation_split, subset
    )
    keras_output = capsys.readouterr().out
    ours = get_training_or_validation_split(samples, labels, validation_split, subset)
    assert capsys.readouterr().out == keras_output
    assert ours[0] == theirs[0]
    if labelled:
        assert ours[1].tolist() == theirs[1].tolist()
    else:
        assert ours[1] is None


@pytest.mark.parametrize("subset", ["training", "validation"])
def test_split_leaving_no_validation_file_raises(subset):
    # Keras gives "validation" every file (the training ones too) and "training" none.
    with pytest.raises(ValueError, match=r"leaves no file for validation"):
        get_training_or_validation_split(list("abcd"), None, 0.2, subset)


def test_split_with_unknown_subset_raises():
    with pytest.raises(ValueError, match="subset must be 'training' or 'validation'"):
        get_training_or_validation_split(list("abcd"), None, 0.5, "both")


SPLIT_ARGUMENTS = [
    # (validation_split, subset, shuffle, seed, accepted)
    (None, None, True, None, True),
    (0.2, "training", True, 1, True),
    (0.2, "both", False, None, True),
    (0.2, "validation", True, None, False),  # a shuffled split needs a seed
    (1.5, "training", False, None, False),
    (0.2, None, False, None, False),
    (None, "training", False, None, False),
    (0.2, "test", False, None, False),
]


@pytest.mark.parametrize("validation_split, subset, shuffle, seed, accepted", SPLIT_ARGUMENTS)
def test_split_arguments_follow_keras_s_rules(validation_split, subset, shuffle, seed, accepted):
    arguments = (validation_split, subset, shuffle, seed)
    for check in (check_validation_split_arg, keras_dataset_utils().check_validation_split_arg):
        if accepted:
            check(*arguments)
        else:
            with pytest.raises(ValueError):
                check(*arguments)


LABEL_ARGUMENTS = [
    # (labels, label_mode, class_names, result or error message)
    ("inferred", "int", None, ("inferred", "int")),
    ("inferred", None, None, (None, None)),
    (None, "categorical", None, (None, None)),
    ([1, 0], "binary", None, ([1, 0], "binary")),
    ((1, 0), "int", [], ((1, 0), "int")),
    ("inferred", "sparse", None, "label_mode must be one of"),
    ("infered", "int", None, 'labels must be "inferred"'),
    (np.array([0, 1]), "int", None, 'labels must be "inferred"'),
    ([0, 1], "int", ["a", "b"], 'class_names can only be given with labels="inferred"'),
]


@pytest.mark.parametrize("labels, label_mode, class_names, expected", LABEL_ARGUMENTS)
def test_label_arguments(labels, label_mode, class_names, expected):
    if isinstance(expected, str):
        with pytest.raises(ValueError, match=expected):
            check_label_arguments(labels, label_mode, class_names, "files", "loader")
    else:
        assert check_label_arguments(labels, label_mode, class_names, "files", "loader") == (
            expected
        )


ENCODINGS = [
    # (labels, label_mode, num_classes, expected dtype, expected values)
    ([2, 0, 1], "int", 3, "int32", [2, 0, 1]),
    (np.array([1, 0], np.int32), "binary", 2, "float32", [[1.0], [0.0]]),
    ([1, 0, 2], "categorical", 3, "float32", [[0, 1, 0], [1, 0, 0], [0, 0, 1]]),
    ([5.0, 3.0], "int", 2, "int32", [5, 3]),  # whole floats are integer labels
]


@pytest.mark.parametrize("labels, label_mode, num_classes, dtype, values", ENCODINGS)
def test_encode_labels(labels, label_mode, num_classes, dtype, values):
    encoded = encode_labels(labels, label_mode, num_classes)
    assert encoded.dtype == dtype
    assert encoded.tolist() == values


@pytest.mark.parametrize(
    "labels, label_mode, message",
    [
        ([0.5, 1.0], "int", "labels must be integers"),
        (["a", "b"], "int", "labels must be integers"),
        ([0, 3], "categorical", r"labels in \[0, 2\).*\[3\]"),
        ([-1, 1], "categorical", r"\[-1\]"),
    ],
)
def test_encode_labels_errors(labels, label_mode, message):
    with pytest.raises(ValueError, match=message):
        encode_labels(labels, label_mode, 2)
