"""text_dataset_from_directory on a tree of UTF-8 text files written here: Keras's
signature, its file order and class names, exact contents as NumPy strings,
max_length in characters, label modes, subsets, and errors naming the file."""

from __future__ import annotations

import inspect
import os

import numpy as np
import pytest

from nerve.utils.text_dataset_utils import text_dataset_from_directory
from tests.utils._keras import keras_utils

# relative path -> contents (bytes as written)
TEXTS = {
    "neg/a.txt": b"dull and slow",
    "neg/b.TXT": "naïve plot — zzz 😴".encode(),
    "neg/sub/c.txt": b"line one\r\nline two\n",
    "pos/d.txt": "\ufeffbyte-order mark first".encode(),
    "pos/e.txt": b"",
    "pos/.drafts/f.txt": b"draft",
    "pos/notes.md": b"not a .txt file",
    "unused/g.txt": b"third class",
}
# What each file reads as: UTF-8 decoded, a leading byte-order mark dropped.
EXPECTED = {
    name: data.decode("utf-8-sig") for name, data in TEXTS.items() if name.lower().endswith(".txt")
}


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("texts")
    for name, data in TEXTS.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return str(root)


def _relative(tree, path):
    return os.path.relpath(path, tree).replace(os.sep, "/")


def test_signature_is_keras_s_without_format():
    ours = inspect.signature(text_dataset_from_directory).parameters.values()
    theirs = inspect.signature(keras_utils().text_dataset_from_directory).parameters.values()
    # Keras's format= chooses between its tf.data and Grain pipelines.
    assert [(p.name, p.kind, p.default) for p in ours] == [
        (p.name, p.kind, p.default) for p in theirs if p.name != "format"
    ]


@pytest.mark.parametrize("class_names", [None, ["pos", "neg"]])
def test_texts_labels_and_order(tree, capsys, class_names):
    pytest.importorskip("keras")
    from keras.src.utils.dataset_utils import index_directory

    paths, labels, names = index_directory(
        tree, "inferred", (".txt",), class_names=class_names, seed=8, verbose=False
    )
    dataset = text_dataset_from_directory(
        tree, class_names=class_names, seed=8, batch_size=None, shuffle=True
    )
    found = len(EXPECTED) - (1 if class_names else 0)
    assert capsys.readouterr().out == f"Found {found} files belonging to {len(names)} classes.\n"
    assert dataset.class_names == names
    # Each pass reshuffles through the buffer; text and label still go together.
    expected = sorted(
        (EXPECTED[_relative(tree, path)], int(label)) for path, label in zip(paths, labels)
    )
    for _ in range(2):
        elements = list(dataset)
        assert all(text.dtype.kind == "U" and text.shape == () for text, _ in elements)
        assert sorted((str(text), int(label)) for text, label in elements) == expected


MAX_LENGTHS = [None, 0, 4, 11]


@pytest.mark.parametrize("max_length", MAX_LENGTHS)
def test_max_length_counts_characters(tree, max_length):
    dataset = text_dataset_from_directory(
        tree, labels=None, max_length=max_length, shuffle=False, batch_size=3, verbose=False
    )
    batches = list(dataset)
    assert [batch.shape for batch in batches] == [(3,), (3,), (1,)]
    texts = np.concatenate(batches).tolist()
    whole_tree = [EXPECTED[name] for name in sorted(EXPECTED, key=_walk_order)]
    assert texts == [text[:max_length] for text in whole_tree]


def _walk_order(name):
    """Keras's order for labels=None: folders sorted by path, then files by name."""
    folder, _, file = name.rpartition("/")
    return folder, file


@pytest.mark.parametrize(
    "label_mode, class_names, first_label",
    [("int", None, 0), ("categorical", None, [1.0, 0.0, 0.0]), ("binary", ["neg", "pos"], [0.0])],
)
def test_label_modes(tree, label_mode, class_names, first_label):
    texts, labels = next(
        iter(
            text_dataset_from_directory(
                tree, label_mode=label_mode, class_names=class_names, shuffle=False,
                verbose=False,
            )
        )
    )  # fmt: skip
    assert texts.dtype.kind == "U" and texts.shape == (len(labels),)
    assert labels[0].tolist() == first_label
    assert labels.dtype == ("int32" if label_mode == "int" else "float32")


def test_subset_both_returns_a_list(tree, capsys):
    datasets = text_dataset_from_directory(
        tree, validation_split=0.4, subset="both", seed=1, verbose=False
    )
    assert isinstance(datasets, list) and len(datasets) == 2
    assert capsys.readouterr().out == "Using 5 files for training.\nUsing 2 files for validation.\n"
    training, validation = (np.concatenate([texts for texts, _ in part]) for part in datasets)
    assert sorted(training.tolist() + validation.tolist()) == sorted(EXPECTED.values())


def test_invalid_utf8_names_the_file(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "latin1.txt").write_bytes("café".encode("latin-1"))
    dataset = text_dataset_from_directory(tmp_path, verbose=False)
    with pytest.raises(ValueError, match=r"cannot read '[^']*latin1\.txt' as UTF-8"):
        list(dataset)


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"max_length": -1}, "max_length must be"),
        ({"max_length": 2.5}, "max_length must be"),
        ({"label_mode": "binary"}, "needs exactly 2 classes"),
        ({"labels": [0] * 3}, "got 3 labels for 7 files"),
        ({"validation_split": 0.5, "subset": "validation", "shuffle": True}, "needs a seed"),
    ],
)
def test_argument_errors(tree, arguments, message):
    with pytest.raises(ValueError, match=message):
        text_dataset_from_directory(tree, verbose=False, **arguments)


def test_no_text_files_found(tmp_path):
    (tmp_path / "a").mkdir()
    with pytest.raises(ValueError, match=r"found no text files in directory .*\.txt"):
        text_dataset_from_directory(tmp_path, verbose=False)
