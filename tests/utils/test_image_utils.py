"""Image I/O against Keras's own functions: files written here in several formats and
Pillow modes, read in every color mode, resized with every interpolation; arrays to
images and back; save/load round trips; errors naming the file."""

import io
import itertools
import sys

import numpy as np
import pytest

PIL = pytest.importorskip("PIL")
from PIL import Image  # noqa: E402

import nerve.utils  # noqa: E402
from nerve.utils import array_to_img, img_to_array, load_img, save_img  # noqa: E402
from nerve.utils.image_utils import _resize_image  # noqa: E402
from tests.utils._keras import assert_same_signature, keras_utils  # noqa: E402

HEIGHT, WIDTH = 12, 17
_ROWS, _COLUMNS = np.mgrid[0:HEIGHT, 0:WIDTH]
RGB = np.stack([_COLUMNS * 15, _ROWS * 20, (_ROWS * _COLUMNS) % 256], axis=-1).astype(np.uint8)


def _pillow_image(mode):
    """A HEIGHT x WIDTH test picture in a Pillow mode."""
    if mode == "L":
        return Image.fromarray(RGB[..., 0])
    if mode == "RGB":
        return Image.fromarray(RGB)
    if mode == "RGBA":
        return Image.fromarray(np.dstack([RGB, (_ROWS * 21).astype(np.uint8)]))
    if mode == "P":
        return Image.fromarray(RGB).quantize(16)
    if mode == "I;16":  # 16-bit gray, values far above 255
        return Image.fromarray((_COLUMNS * 3000 + _ROWS * 100).astype(np.uint16))
    if mode == "1":
        return Image.fromarray(RGB[..., 0] > 100)
    raise AssertionError(mode)


# file id -> (Pillow format, Pillow mode, extra arguments to Image.save)
FILES = {
    "png-L": ("PNG", "L", {}),
    "png-RGB": ("PNG", "RGB", {}),
    "png-RGBA": ("PNG", "RGBA", {}),
    "png-P": ("PNG", "P", {}),
    "png-P-transparent": ("PNG", "P", {"transparency": 0}),
    "png-I;16": ("PNG", "I;16", {}),
    "png-1": ("PNG", "1", {}),
    "jpeg-L": ("JPEG", "L", {}),
    "jpeg-RGB": ("JPEG", "RGB", {}),
    "bmp-L": ("BMP", "L", {}),
    "bmp-RGB": ("BMP", "RGB", {}),
    "bmp-P": ("BMP", "P", {}),
    "gif-L": ("GIF", "L", {}),
    "gif-P": ("GIF", "P", {}),
    "gif-RGB": ("GIF", "RGB", {}),
}


@pytest.fixture(scope="module")
def image_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("images")
    paths = {}
    for name, (file_format, mode, options) in FILES.items():
        paths[name] = folder / f"{name}.{file_format.lower()}"
        _pillow_image(mode).save(paths[name], format=file_format, **options)
    return paths


def _decoded(path):
    """The pixels of an image file, as Pillow decodes them."""
    with Image.open(path) as image:
        return np.asarray(image)


def _loaded(function, path, **kwargs):
    image = function(path, **kwargs)
    return image.mode, np.asarray(image)


@pytest.mark.parametrize("name", ["load_img", "img_to_array", "array_to_img", "save_img"])
def test_signature_matches_keras(name):
    assert_same_signature(getattr(nerve.utils, name), getattr(keras_utils(), name))


@pytest.mark.parametrize("color_mode", ["grayscale", "rgb", "rgba"])
@pytest.mark.parametrize("file", FILES)
def test_load_img_matches_keras(image_files, file, color_mode):
    path = image_files[file]
    ours_mode, ours = _loaded(load_img, path, color_mode=color_mode)
    theirs_mode, theirs = _loaded(keras_utils().load_img, path, color_mode=color_mode)
    assert ours_mode == theirs_mode
    np.testing.assert_array_equal(ours, theirs, strict=True)


# (height, width): smaller square, wider, taller, larger, and the file's own size.
TARGET_SIZES = [(5, 5), (4, 9), (9, 4), (24, 10), (HEIGHT, WIDTH)]
INTERPOLATIONS = ["nearest", "bilinear", "bicubic", "hamming", "box", "lanczos"]


@pytest.mark.parametrize("keep_aspect_ratio", [False, True])
@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
@pytest.mark.parametrize("target_size", TARGET_SIZES, ids=str)
@pytest.mark.parametrize(
    "file, color_mode", [("png-RGB", "rgb"), ("png-I;16", "grayscale")], ids=["rgb", "16-bit"]
)
def test_load_img_resizes_as_keras(
    image_files, file, color_mode, target_size, interpolation, keep_aspect_ratio
):
    kwargs = dict(
        color_mode=color_mode,
        target_size=target_size,
        interpolation=interpolation,
        keep_aspect_ratio=keep_aspect_ratio,
    )
    ours_mode, ours = _loaded(load_img, image_files[file], **kwargs)
    theirs_mode, theirs = _loaded(keras_utils().load_img, image_files[file], **kwargs)
    assert ours.shape[:2] == target_size
    assert ours_mode == theirs_mode
    np.testing.assert_array_equal(ours, theirs, strict=True)


@pytest.mark.parametrize("kind", ["str", "bytes", "Path", "BytesIO", "open file"])
def test_load_img_takes_paths_and_file_objects(image_files, kind):
    path = image_files["png-RGB"]
    source = {
        "str": lambda: str(path),
        "bytes": lambda: str(path).encode(),
        "Path": lambda: path,
        "BytesIO": lambda: io.BytesIO(path.read_bytes()),
        "open file": lambda: open(path, "rb"),  # noqa: SIM115 - closed below
    }[kind]()
    try:
        np.testing.assert_array_equal(np.asarray(load_img(source)), RGB, strict=True)
    finally:
        if hasattr(source, "close"):
            source.close()


@pytest.mark.parametrize("dtype", [None, "uint8", "float64"])
@pytest.mark.parametrize("data_format", [None, "channels_last", "channels_first"])
@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA", "P", "I;16", "1", "array 2-d", "array 3-d"])
def test_img_to_array_matches_keras(mode, data_format, dtype):
    if mode.startswith("array"):
        image = RGB[..., 0] if mode == "array 2-d" else RGB
    else:
        image = _pillow_image(mode)
    ours = img_to_array(image, data_format=data_format, dtype=dtype)
    theirs = keras_utils().img_to_array(image, data_format=data_format, dtype=dtype)
    np.testing.assert_array_equal(ours, theirs, strict=True)


_RANDOM = np.random.default_rng(0)
# case id -> (array, keyword arguments)
ARRAYS = {
    "rgb in [0, 1]": (_RANDOM.random((5, 7, 3)), {}),
    "rgba": (_RANDOM.random((5, 7, 4)), {}),
    "gray": (_RANDOM.random((5, 7, 1)), {}),
    "range [-3, 3]": (_RANDOM.uniform(-3, 3, (5, 7, 3)), {}),
    "constant": (np.full((5, 7, 3), 0.25), {}),
    "pixel values, no scale": (RGB.astype(np.float32), {"scale": False}),
    "uint8 array": (RGB, {}),
    "gray above 255, no scale": (_COLUMNS[..., None] * 30.0, {"scale": False}),
    "gray above 255, scale": (_COLUMNS[..., None] * 30.0, {}),
    "channels first": (_RANDOM.random((3, 5, 7)), {"data_format": "channels_first"}),
    "gray channels first": (_RANDOM.random((1, 5, 7)), {"data_format": "channels_first"}),
    "float64": (_RANDOM.random((5, 7, 3)), {"dtype": "float64"}),
    "float16": (_RANDOM.random((5, 7, 3)), {"dtype": "float16"}),
    "list": (RGB[:2, :2].tolist(), {"scale": False}),
}


@pytest.mark.parametrize("x, kwargs", ARRAYS.values(), ids=ARRAYS)
def test_array_to_img_matches_keras(x, kwargs):
    ours = array_to_img(x, **kwargs)
    theirs = keras_utils().array_to_img(x, **kwargs)
    assert ours.mode == theirs.mode
    np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs), strict=True)


@pytest.mark.parametrize(
    "x, kwargs, expected",
    [
        # Keras fails dividing an integer array in place.
        (np.array([[[0], [2], [4]]]), {"dtype": "int32"}, [[0, 127, 255]]),
        # Keras's cast wraps 256 to 0 and -1 to 255.
        (np.array([[[256.0, -1.0, 7.9]]]), {"scale": False}, [[[255, 0, 7]]]),
    ],
    ids=["integer dtype, scaled", "out of range clips"],
)
def test_array_to_img_where_keras_breaks(x, kwargs, expected):
    np.testing.assert_array_equal(np.asarray(array_to_img(x, **kwargs)), expected)


# (extension, channels, color_mode, whether the format keeps pixels exactly)
ROUND_TRIPS = [
    ("png", 1, "grayscale", True),
    ("png", 3, "rgb", True),
    ("png", 4, "rgba", True),
    ("bmp", 1, "grayscale", True),
    ("bmp", 3, "rgb", True),
    ("gif", 1, "grayscale", True),
    ("gif", 3, "rgb", False),
    ("jpg", 1, "grayscale", False),
    ("jpeg", 3, "rgb", False),
]


@pytest.mark.parametrize(
    "extension, channels, color_mode, exact",
    ROUND_TRIPS,
    ids=[f"{e}-{c}" for e, c, _, _ in ROUND_TRIPS],
)
def test_save_img_then_load_img(tmp_path, extension, channels, color_mode, exact):
    pixels = np.dstack([RGB, RGB[..., :1]])[..., :channels].astype(np.float32)
    ours_path, theirs_path = tmp_path / f"ours.{extension}", tmp_path / f"theirs.{extension}"
    save_img(ours_path, pixels, scale=False)
    keras_utils().save_img(theirs_path, pixels, scale=False)
    # The same file content as Keras writes, as decoded pixels.
    np.testing.assert_array_equal(_decoded(ours_path), _decoded(theirs_path), strict=True)
    back = img_to_array(load_img(ours_path, color_mode=color_mode))
    assert back.shape == pixels.shape
    if exact:
        np.testing.assert_array_equal(back, pixels, strict=True)
    else:  # lossy: JPEG's compression, GIF's 256-color palette
        assert np.abs(back - pixels).mean() < 8


def test_save_img_channels_first_and_file_objects():
    buffer = io.BytesIO()
    channels_first = RGB.transpose(2, 0, 1)
    save_img(buffer, channels_first, data_format="channels_first", file_format="PNG", scale=False)
    back = img_to_array(load_img(buffer), data_format="channels_first", dtype="uint8")
    np.testing.assert_array_equal(back, channels_first, strict=True)


@pytest.mark.parametrize("file_format", [None, "jpeg", "JPEG", "jpg"])
def test_save_img_writes_rgba_as_rgb_jpeg_with_a_warning(tmp_path, file_format):
    path = tmp_path / "image.jpg"
    rgba = np.dstack([RGB, RGB[..., :1]])
    with pytest.warns(UserWarning, match="JPEG has no alpha channel"):
        save_img(path, rgba, file_format=file_format)
    assert _decoded(path).shape == (HEIGHT, WIDTH, 3)


def test_save_img_passes_keyword_arguments_to_pillow(tmp_path):
    noise = np.random.default_rng(1).random((32, 32, 3))
    save_img(tmp_path / "low.jpg", noise, quality=5)
    save_img(tmp_path / "high.jpg", noise, quality=95)
    assert (tmp_path / "low.jpg").stat().st_size < (tmp_path / "high.jpg").stat().st_size


def _corrupt_files(folder, image_files):
    good = image_files["png-RGB"].read_bytes()
    cases = {
        "garbage.png": b"this is not an image",
        "empty.jpg": b"",
        "truncated.png": good[: len(good) // 2],
        "truncated.jpg": image_files["jpeg-RGB"].read_bytes()[:200],
    }
    for name, content in cases.items():
        (folder / name).write_bytes(content)
    return [folder / name for name in cases]


@pytest.mark.parametrize("index", range(4), ids=["garbage", "empty", "png cut", "jpeg cut"])
def test_load_img_names_a_corrupt_file(tmp_path, image_files, index):
    path = _corrupt_files(tmp_path, image_files)[index]
    with pytest.raises(OSError, match=f"load_img: cannot .*{path.name}") as caught:
        load_img(path)
    assert str(path) in str(caught.value)


def test_load_img_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"missing\.png"):
        load_img(tmp_path / "missing.png")


# (function, arguments, error type, pattern of the message)
BAD_ARGUMENTS = {
    "color mode": (load_img, ("png-RGB",), {"color_mode": "cmyk"}, ValueError,
                   "color_mode must be one of .* got 'cmyk'"),
    "interpolation": (load_img, ("png-RGB",), {"interpolation": "area"}, ValueError,
                      "interpolation must be one of .* got 'area'"),
    "target size": (load_img, ("png-RGB",), {"target_size": (0, 4)}, ValueError,
                    r"target_size must be \(height, width\), two positive ints, got \(0, 4\)"),
    "target size of 3": (load_img, ("png-RGB",), {"target_size": (1, 2, 3)}, ValueError,
                         "target_size must be"),
    "path type": (load_img, (3.5,), {}, TypeError, "path must be a file path .* got float"),
    "rank 2": (array_to_img, (np.zeros((2, 2)),), {}, ValueError,
               r"rank 3, got shape \(2, 2\)"),
    "2 channels": (array_to_img, (np.zeros((2, 2, 2)),), {}, ValueError,
                   "1, 3 or 4 channels, got 2"),
    "nan": (array_to_img, (np.full((2, 2, 3), np.nan),), {}, ValueError, "NaN or infinite"),
    "data format": (array_to_img, (np.zeros((2, 2, 3)),), {"data_format": "nchw"}, ValueError,
                    "data_format must be one of .* got 'nchw'"),
    "rank 4": (img_to_array, (np.zeros((1, 2, 2, 3)),), {}, ValueError,
               r"rank 2 \(gray\) or 3, got shape \(1, 2, 2, 3\)"),
}  # fmt: skip


@pytest.mark.parametrize(
    "function, args, kwargs, error, message", BAD_ARGUMENTS.values(), ids=BAD_ARGUMENTS
)
def test_bad_arguments(image_files, function, args, kwargs, error, message):
    args = tuple(image_files.get(arg, arg) if isinstance(arg, str) else arg for arg in args)
    with pytest.raises(error, match=message):
        function(*args, **kwargs)


@pytest.mark.parametrize(
    "call",
    [
        lambda: load_img("image.png"),
        lambda: array_to_img(np.zeros((2, 2, 3))),
        lambda: save_img("image.png", np.zeros((2, 2, 3))),
        lambda: _resize_image(np.zeros((2, 2, 3)), (1, 1)),
    ],
    ids=["load_img", "array_to_img", "save_img", "_resize_image"],
)
def test_without_pillow_the_error_says_how_to_install_it(monkeypatch, call):
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(ImportError, match=r'pip install pillow.*pip install "nerve\[image\]"'):
        call()


# (image shape, target size, option). Only resizes that keep or enlarge the cropped or
# padded image are compared: when shrinking, Pillow's filters widen (antialiasing) and
# keras.ops.image.resize's, by default, do not.
ASPECT_CASES = [
    ((6, 10, 2), (6, 6), "crop_to_aspect_ratio"),
    ((9, 4, 1), (4, 4), "crop_to_aspect_ratio"),
    ((7, 10, 3), (8, 8), "crop_to_aspect_ratio"),
    ((6, 10, 2), (10, 10), "pad_to_aspect_ratio"),
    ((9, 4, 1), (9, 9), "pad_to_aspect_ratio"),
    ((4, 4, 3), (4, 4), "pad_to_aspect_ratio"),
]


@pytest.mark.parametrize("shape, size, option", ASPECT_CASES, ids=str)
def test_resize_image_crops_and_pads_as_keras_ops_image_resize(shape, size, option):
    image = np.random.default_rng(2).random(shape).astype(np.float32)
    keras = pytest.importorskip("keras")
    theirs = np.asarray(keras.ops.image.resize(image, size, **{option: True}))
    ours = _resize_image(image, size, "bilinear", **{option: True})
    np.testing.assert_allclose(ours, theirs, atol=1e-5, strict=True)


@pytest.mark.parametrize(
    "interpolation, option",
    list(itertools.product(INTERPOLATIONS, [None, "crop_to_aspect_ratio", "pad_to_aspect_ratio"])),
    ids=str,
)
def test_resize_image_sizes(interpolation, option):
    kwargs = {option: True} if option else {}
    out = _resize_image(RGB, (5, 9), interpolation, **kwargs)
    assert out.shape == (5, 9, 3)
    assert out.dtype == np.float32


def test_resize_image_box_filter_averages_blocks():
    image = np.arange(4 * 6 * 2, dtype=np.float32).reshape(4, 6, 2)
    expected = image.reshape(2, 2, 3, 2, 2).mean(axis=(1, 3))
    np.testing.assert_allclose(_resize_image(image, (2, 3), "box"), expected, rtol=1e-6)


def test_resize_image_takes_one_aspect_option():
    with pytest.raises(ValueError, match="only one of crop_to_aspect_ratio"):
        _resize_image(RGB, (2, 2), crop_to_aspect_ratio=True, pad_to_aspect_ratio=True)
