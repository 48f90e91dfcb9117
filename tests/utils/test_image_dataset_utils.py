"""image_dataset_from_directory on a tree of images written here (several formats and
Pillow modes, upper-case extensions, nested and hidden folders, an empty class, other
files): Keras's signature, its file order and labels, pixels equal to Keras's own image
loader (Pillow and keras.ops.image.resize on the NumPy backend) for every setting it
supports, TensorFlow's extra interpolations against their definitions, subsets,
batches equal to single images, errors naming the file, and no thread left behind."""

from __future__ import annotations

import inspect
import io
import math
import os
import threading

import numpy as np
import pytest

PIL = pytest.importorskip("PIL")
from PIL import Image  # noqa: E402

from nerve.utils import image_dataset_utils  # noqa: E402
from nerve.utils.image_dataset_utils import (  # noqa: E402
    ALLOWLIST_FORMATS,
    image_dataset_from_directory,
    resize_image,
)
from tests.utils._keras import keras_utils  # noqa: E402
from tests.utils._png_files import png_bytes, random_pixels  # noqa: E402

SEED = 5


def keras_module(name):
    pytest.importorskip("keras")
    import importlib

    return importlib.import_module(f"keras.src.utils.{name}")


def _picture(height, width, mode, salt):
    rows, columns = np.mgrid[0:height, 0:width]
    rgb = np.stack([columns * 37 + salt, rows * 23, (rows * columns * 7 + salt) % 256], -1)
    image = Image.fromarray((rgb % 256).astype(np.uint8))
    if mode == "RGBA":
        image.putalpha(Image.fromarray((rows * 11 % 256).astype(np.uint8)))
    return image.convert(mode) if mode not in ("RGB", "RGBA") else image


# relative path -> (Pillow format, mode, height, width)
IMAGES = {
    "cat/c1.png": ("PNG", "RGB", 13, 21),
    "cat/c2.JPG": ("JPEG", "RGB", 30, 8),
    "cat/nested/deeper/c3.bmp": ("BMP", "L", 9, 9),
    "cat/.thumbs/c4.gif": ("GIF", "P", 16, 12),
    "dog/d1.PNG": ("PNG", "RGBA", 20, 31),
    "dog/d2.jpeg": ("JPEG", "L", 11, 17),
    "dog/d3.png": ("PNG", "P", 7, 25),
    ".hidden/h1.png": ("PNG", "RGB", 5, 5),
}
OTHER_FILES = {"cat/notes.txt": b"not an image", "dog/d4.webp.txt": b"skip"}
CLASS_NAMES = ["cat", "dog", "empty"]


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("images")
    for index, (name, (file_format, mode, height, width)) in enumerate(IMAGES.items()):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        _picture(height, width, mode, salt=index * 40).save(path, format=file_format)
    for name, data in OTHER_FILES.items():
        (root / name).write_bytes(data)
    (root / "empty").mkdir()
    return str(root)


@pytest.fixture
def corrupt_tree(tmp_path):
    for name in ("a/good.png", "b/good.png"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        _picture(6, 6, "RGB", 0).save(tmp_path / name)
    (tmp_path / "a" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 20)
    return tmp_path


def _elements(dataset):
    """Every (image, label) or image of an unbatched dataset, in order."""
    return list(dataset)


def test_signature_is_keras_s_without_format():
    ours = inspect.signature(image_dataset_from_directory).parameters.values()
    theirs = inspect.signature(keras_utils().image_dataset_from_directory).parameters.values()
    # Keras's format= chooses between its tf.data and Grain pipelines.
    assert [(p.name, p.kind, p.default) for p in ours] == [
        (p.name, p.kind, p.default) for p in theirs if p.name != "format"
    ]


def test_allowlist_is_keras_s():
    assert keras_module("image_dataset_utils").ALLOWLIST_FORMATS == ALLOWLIST_FORMATS


INDEXINGS = [
    # (labels, class_names, shuffle, seed)
    ("inferred", None, True, SEED),
    ("inferred", None, False, None),
    ("inferred", ["dog", "cat"], True, 99),
    (None, None, True, 3),
]


@pytest.mark.parametrize("labels, class_names, shuffle, seed", INDEXINGS)
def test_files_labels_and_class_names_are_keras_s(tree, capsys, labels, class_names, shuffle,
                                                  seed):  # fmt: skip
    theirs = keras_module("dataset_utils").index_directory(
        tree, labels, ALLOWLIST_FORMATS, class_names=class_names, shuffle=shuffle, seed=seed
    )
    keras_output = capsys.readouterr().out
    dataset = image_dataset_from_directory(
        tree, labels=labels, class_names=class_names, shuffle=shuffle, seed=seed,
        image_size=(4, 4), batch_size=None,
    )  # fmt: skip
    assert capsys.readouterr().out == keras_output
    assert dataset.file_paths == theirs[0]
    assert dataset.class_names == theirs[2]
    elements = _elements(dataset)
    assert len(elements) == len(theirs[0])
    if labels is not None:
        # The buffer shuffle reorders the files; each image still carries its label.
        label_of = {path: int(label) for path, label in zip(*theirs[:2])}
        pixels_of = {
            path: _keras_pixels(path, (4, 4), "rgb", "bilinear", "channels_last", False, False)
            for path in theirs[0]
        }
        for image, label in elements:
            matches = [p for p, pixels in pixels_of.items() if np.allclose(pixels, image)]
            assert [label_of[p] for p in matches] == [int(label)] * len(matches) != []


def _keras_pixels(path, size, color_mode, interpolation, data_format, crop, pad):
    """Keras's own decode-and-resize of one file (its Grain pipeline's loader: Pillow,
    then keras.ops.image.resize on the NumPy backend)."""
    channels = {"grayscale": 1, "rgb": 3, "rgba": 4}[color_mode]
    load = keras_module("image_dataset_utils")._load_image_grain
    # Keras leaves a path's file open; from bytes in memory nothing is left to close.
    with open(path, "rb") as file:
        data = io.BytesIO(file.read())
    return np.asarray(load(data, size, channels, interpolation, data_format, crop, pad))


PIXEL_SETTINGS = [
    # (color_mode, image_size, interpolation, crop, pad, data_format)
    ("rgb", (16, 16), "bilinear", False, False, None),
    ("rgb", (9, 40), "nearest", False, False, "channels_first"),
    ("grayscale", (24, 10), "bicubic", False, False, None),
    ("rgba", (12, 12), "lanczos3", True, False, None),
    ("rgb", (10, 30), "lanczos5", False, True, None),
    ("grayscale", (8, 8), "bilinear", False, True, "channels_first"),
    ("rgb", 11, "bicubic", True, False, "channels_last"),
]


@pytest.mark.parametrize("color_mode, image_size, interpolation, crop, pad, data_format",
                         PIXEL_SETTINGS)  # fmt: skip
def test_pixels_are_keras_s(tree, color_mode, image_size, interpolation, crop, pad,
                            data_format):  # fmt: skip
    dataset = image_dataset_from_directory(
        tree, label_mode=None, color_mode=color_mode, image_size=image_size, shuffle=False,
        interpolation=interpolation, crop_to_aspect_ratio=crop, pad_to_aspect_ratio=pad,
        data_format=data_format, batch_size=3, verbose=False,
    )  # fmt: skip
    batches = list(dataset)
    # Without labels the whole tree is read, the hidden folder too: 8 images.
    assert [len(batch) for batch in batches] == [3, 3, 2]
    images = np.concatenate(batches)
    size = (image_size, image_size) if isinstance(image_size, int) else image_size
    for path, image in zip(dataset.file_paths, images):
        expected = _keras_pixels(
            path, size, color_mode, interpolation, data_format or "channels_last", crop, pad
        )
        assert image.dtype == np.float32
        assert image.shape == expected.shape
        np.testing.assert_allclose(image, expected, rtol=1e-5, atol=1e-3, err_msg=path)


# TensorFlow's interpolations that keras.ops.image.resize lacks, as weight matrices
# (output pixel i = sum_j w[i][j] * input pixel j) worked out from their definitions.
_G = math.exp(-2)  # the Gaussian (sigma 0.5) one pixel away
TF_ONLY = [
    ("area", 4, 2, [[0.5, 0.5, 0, 0], [0, 0, 0.5, 0.5]]),
    ("area", 3, 2, [[2 / 3, 1 / 3, 0], [0, 1 / 3, 2 / 3]]),
    ("area", 2, 4, [[1, 0], [1, 0], [0, 1], [0, 1]]),
    ("gaussian", 3, 3, [[1 / (1 + _G), _G / (1 + _G), 0], [_G / (1 + 2 * _G), 1 / (1 + 2 * _G),
                        _G / (1 + 2 * _G)], [0, _G / (1 + _G), 1 / (1 + _G)]]),
    ("mitchellcubic", 3, 3, [[16 / 17, 1 / 17, 0], [1 / 18, 8 / 9, 1 / 18],
                             [0, 1 / 17, 16 / 17]]),
    ("mitchellcubic", 2, 1, [[0.5, 0.5]]),
]  # fmt: skip


@pytest.mark.parametrize("interpolation, in_size, out_size, weights", TF_ONLY)
def test_tensorflow_only_interpolations(interpolation, in_size, out_size, weights):
    # Resizing the unit images e_j of one column gives the weight matrix's columns.
    for j in range(in_size):
        unit = np.zeros((in_size, 1, 1), np.float32)
        unit[j] = 1
        column = resize_image(unit, (out_size, 1), interpolation)[:, 0, 0]
        np.testing.assert_allclose(column, np.asarray(weights)[:, j], atol=1e-6)


@pytest.mark.parametrize("interpolation", ["area", "gaussian", "mitchellcubic"])
def test_tensorflow_only_interpolations_through_the_dataset(tree, interpolation):
    # Keras lower-cases the name, so "AREA" is "area".
    dataset = image_dataset_from_directory(
        tree, image_size=(5, 7), interpolation=interpolation.upper(), verbose=False,
        shuffle=False, batch_size=None,
    )  # fmt: skip
    for path, (image, _) in zip(dataset.file_paths, dataset):
        with Image.open(path) as file:
            pixels = np.asarray(file.convert("RGB"), np.float32)
        np.testing.assert_array_equal(image, resize_image(pixels, (5, 7), interpolation))


LABEL_MODES = [
    # (label_mode, class_names, expected label shape per image, dtype)
    ("int", None, (), "int32"),
    ("categorical", None, (3,), "float32"),
    ("binary", ["dog", "cat"], (1,), "float32"),
]


@pytest.mark.parametrize("label_mode, class_names, shape, dtype", LABEL_MODES)
def test_label_modes(tree, label_mode, class_names, shape, dtype):
    dataset = image_dataset_from_directory(
        tree, label_mode=label_mode, class_names=class_names, image_size=(3, 3),
        shuffle=False, batch_size=4, verbose=False,
    )  # fmt: skip
    names = class_names or CLASS_NAMES
    # A file's class is the top folder it is in.
    folder_labels = [
        names.index(os.path.relpath(path, tree).split(os.sep)[0]) for path in dataset.file_paths
    ]
    labels = np.concatenate([batch_labels for _, batch_labels in dataset])
    assert labels.dtype == dtype and labels.shape == (len(folder_labels), *shape)
    decode = {
        "int": lambda encoded: encoded,
        "categorical": lambda encoded: encoded.argmax(axis=-1),
        "binary": lambda encoded: encoded[:, 0],
    }[label_mode]
    decoded = decode(labels)
    assert decoded.tolist() == folder_labels
    if label_mode == "categorical":
        assert labels.sum(axis=-1).tolist() == [1.0] * len(folder_labels)


def test_given_labels_and_unbatched_images(tree):
    labels = [7, 3, 7, 3, 3, 7, 3, 3]  # one per file of the whole tree, hidden folder too
    dataset = image_dataset_from_directory(
        tree, labels=labels, image_size=(2, 3), batch_size=None, shuffle=False, verbose=False
    )
    assert dataset.class_names == ["3", "7"]
    elements = list(dataset)
    assert [image.shape for image, _ in elements] == [(2, 3, 3)] * 8
    assert [int(label) for _, label in elements] == labels


@pytest.mark.parametrize("shuffle", [True, False])
def test_subset_both(tree, capsys, shuffle):
    training, validation = image_dataset_from_directory(
        tree, validation_split=0.3, subset="both", seed=SEED, shuffle=shuffle,
        image_size=(4, 4), batch_size=2,
    )  # fmt: skip
    output = capsys.readouterr().out
    assert output == (
        "Found 7 files belonging to 3 classes.\n"
        "Using 5 files for training.\nUsing 2 files for validation.\n"
    )
    paths = keras_module("dataset_utils").index_directory(
        tree, "inferred", ALLOWLIST_FORMATS, shuffle=shuffle, seed=SEED, verbose=False
    )[0]
    assert training.file_paths == paths[:5] and validation.file_paths == paths[5:]
    assert training.class_names == validation.class_names == CLASS_NAMES
    assert sum(len(images) for images, _ in training) == 5
    # The validation part keeps its files' order, pass after pass.
    first = [images for images, _ in validation]
    second = [images for images, _ in validation]
    assert all(np.array_equal(a, b) for a, b in zip(first, second))


@pytest.mark.parametrize("subset, count", [("training", 5), ("validation", 2)])
def test_one_subset(tree, subset, count):
    dataset = image_dataset_from_directory(
        tree, validation_split=0.3, subset=subset, seed=SEED, image_size=(4, 4), verbose=False
    )
    assert len(dataset.file_paths) == count
    assert sum(len(images) for images, _ in dataset) == count


def test_reshuffles_each_pass_with_the_same_files(tree):
    dataset = image_dataset_from_directory(
        tree, label_mode=None, image_size=(6, 6), batch_size=None, seed=2, verbose=False
    )
    passes = [np.stack(list(dataset)) for _ in range(3)]
    keys = [sorted(map(bytes, images)) for images in passes]
    assert keys[0] == keys[1] == keys[2]
    assert any(not np.array_equal(passes[0], other) for other in passes[1:])


BROKEN_PNGS = {
    "garbage": b"\x89PNG\r\n\x1a\n" + b"garbage" * 20,
    # Well-formed chunks, but a row filter PNG does not define: the fast path declines
    # it and Pillow's error names the file.
    "bad filter": png_bytes(random_pixels(3, 3, 3), data=bytes([9] + [0] * 9) * 3),
    "truncated": png_bytes(random_pixels(8, 8, 3))[:60],
}


@pytest.mark.parametrize("batch_size", [None, 2])
@pytest.mark.parametrize("content", sorted(BROKEN_PNGS))
def test_corrupt_image_names_the_file(corrupt_tree, content, batch_size):
    (corrupt_tree / "a" / "broken.png").write_bytes(BROKEN_PNGS[content])
    dataset = image_dataset_from_directory(
        corrupt_tree, image_size=(4, 4), batch_size=batch_size, shuffle=False, verbose=False
    )
    assert [os.path.basename(path) for path in dataset.file_paths] == [
        "broken.png", "good.png", "good.png",
    ]  # fmt: skip
    with pytest.raises(OSError, match=r"'[^']*broken\.png'"):
        list(dataset)


@pytest.mark.parametrize("batch_size", [None, 2])
def test_ignore_errors_drops_only_the_broken_file(corrupt_tree, batch_size):
    dataset = image_dataset_from_directory(
        corrupt_tree, image_size=(4, 4), batch_size=batch_size, shuffle=False, verbose=False
    )
    with pytest.warns(UserWarning, match=r"broken\.png"):
        elements = list(dataset.ignore_errors(log_warning=True))
    labels = [int(label) for _, labels in elements for label in np.atleast_1d(labels)]
    assert labels == [0, 1]  # a/good.png and b/good.png; a/broken.png dropped


@pytest.mark.parametrize("color_mode", ["rgb", "rgba", "grayscale"])
def test_batches_hold_what_single_images_and_pillow_give(tree, monkeypatch, color_mode):
    # Batches are read and resized whole (one resample call per image size), and common
    # PNGs skip Pillow: neither may change a pixel against one-by-one Pillow decoding.
    settings = dict(label_mode=None, color_mode=color_mode, image_size=(9, 14), shuffle=False,
                    interpolation="bicubic", verbose=False)  # fmt: skip
    batched = np.concatenate(list(image_dataset_from_directory(tree, batch_size=3, **settings)))
    # Every file declined by the fast path: Pillow decodes them all.
    monkeypatch.setattr(
        image_dataset_utils, "decode_pngs", lambda files, color_mode: ([], list(range(len(files))))
    )
    single = np.stack(list(image_dataset_from_directory(tree, batch_size=None, **settings)))
    assert batched.dtype == single.dtype == np.float32
    np.testing.assert_array_equal(batched, single)


def test_leaving_early_leaves_no_worker_thread(tree):
    dataset = image_dataset_from_directory(tree, image_size=(5, 5), batch_size=2, verbose=False)
    iterator = iter(dataset)
    next(iterator)
    iterator.close()
    assert not [t.name for t in threading.enumerate() if t.name.startswith("nerve-data")]


ARGUMENT_ERRORS = [
    ({"image_size": None}, "image_size must be"),
    ({"image_size": (4, 4, 3)}, "image_size must be"),
    ({"image_size": (0, 4)}, "image_size must be"),
    ({"color_mode": "cmyk"}, "color_mode must be"),
    ({"interpolation": "hamming"}, "interpolation must be one of"),
    ({"crop_to_aspect_ratio": True, "pad_to_aspect_ratio": True}, "cannot both be True"),
    ({"data_format": "channels_middle"}, "data_format must be"),
    ({"labels": "folders"}, 'labels must be "inferred"'),
    ({"labels": [0, 1], "class_names": ["cat"]}, "class_names can only be given"),
    ({"label_mode": "sparse"}, "label_mode must be one of"),
    ({"label_mode": "binary"}, "needs exactly 2 classes"),
    ({"validation_split": 0.2}, "validation_split and subset go together"),
    ({"validation_split": 0.2, "subset": "training"}, "needs a seed"),
    ({"class_names": ["cat", "bird"]}, "not sub-folders"),
]


@pytest.mark.parametrize("arguments, message", ARGUMENT_ERRORS)
def test_argument_errors(tree, arguments, message):
    with pytest.raises(ValueError, match=message):
        image_dataset_from_directory(tree, verbose=False, **arguments)


def test_no_images_found(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.txt").write_text("text")
    with pytest.raises(ValueError, match=r"found no image files in directory .*\.png"):
        image_dataset_from_directory(tmp_path, verbose=False)
