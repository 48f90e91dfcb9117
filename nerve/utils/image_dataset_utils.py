"""``image_dataset_from_directory``: a folder tree of images as a ``nerve.data.Dataset``
of ``float32`` image batches and labels (Keras 3.15.1's
``keras.utils.image_dataset_from_directory``).

The files are indexed as in Keras (``nerve.utils.directory_index``), decoded with
Pillow through ``load_img`` (``.bmp``, ``.gif``, ``.jpeg``, ``.jpg``, ``.png``, in any
case; an animated GIF gives its first frame), converted to ``color_mode`` and resized
to ``image_size`` on parallel threads, in order. A batched dataset reads a whole
batch per task: 8-bit gray, RGB and RGBA PNGs are decoded by ``png_reader`` (zlib and
a C kernel, with the same pixels as Pillow), and each image size in the batch is
resized by one call of the CPU backend's ``resample`` kernel, so most of the work
runs outside the GIL and the two threads share the cores. Resizing is Keras's: the
half-pixel sampling rule of ``keras.ops.image.resize`` without antialiasing (the weight
tables of ``nerve.ops.image.resize``), so a downscaled image samples the source as
Keras's does; ``crop_to_aspect_ratio`` first takes the largest centred crop with the
target's aspect ratio, ``pad_to_aspect_ratio`` first pads the short side with zeros.
``"area"``, ``"gaussian"`` and ``"mitchellcubic"``, which Keras takes from
``tf.image.resize``, follow TensorFlow's definitions.

Where nerve differs from Keras, and why:

- there is no ``format=`` argument: Keras uses it to choose between a ``tf.data`` and a
  Grain pipeline; nerve always returns a ``nerve.data.Dataset``;
- ``pad_to_aspect_ratio`` pads and then resizes, as ``keras.ops.image.resize`` (and
  Keras's Grain pipeline) does; Keras's ``tf.data`` pipeline resizes first and pads
  after (``tf.image.resize_with_pad``), so pixels next to the padding differ slightly;
- a gray image read with ``color_mode="rgb"`` and an RGB image read as
  ``"grayscale"`` are converted by Pillow (as ``load_img`` does), not by TensorFlow's
  decoders; 16-bit gray images keep their values with ``"grayscale"``;
- every argument is checked before any file is read (Keras checks ``data_format`` after
  indexing and both aspect-ratio options only when the first image loads);
- a corrupt or unreadable image raises, when the dataset reaches it, ``load_img``'s
  error naming the file.

>>> import os, tempfile
>>> import numpy as np
>>> from nerve.utils import save_img
>>> root = tempfile.mkdtemp()
>>> for name in ("cats/a.png", "cats/b.jpg", "dogs/c.PNG"):
...     os.makedirs(os.path.join(root, os.path.dirname(name)), exist_ok=True)
...     save_img(os.path.join(root, name), np.random.rand(9, 7, 3))
>>> dataset = image_dataset_from_directory(root, image_size=(4, 5), batch_size=2,
...                                        shuffle=False)
Found 3 files belonging to 2 classes.
>>> dataset.class_names
['cats', 'dogs']
>>> [(images.shape, images.dtype.name, labels.tolist()) for images, labels in dataset]
[((2, 4, 5, 3), 'float32', [0, 0]), ((1, 4, 5, 3), 'float32', [1])]
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

# Images are decoded and resized on the host, before any backend sees them.
import numpy as np

from nerve.backend import get_backend
from nerve.ops import image as image_ops
from nerve.utils.directory_index import check_label_arguments, datasets_from_directory
from nerve.utils.image_utils import (
    _crop_to_aspect_ratio,
    _pad_to_aspect_ratio,
    _pillow,
    _size_pair,
    _standardize_data_format,
    load_img,
)
from nerve.utils.png_reader import decode_pngs

__all__ = ["ALLOWLIST_FORMATS", "INTERPOLATIONS", "image_dataset_from_directory", "resize_image"]

ALLOWLIST_FORMATS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
# Keras's names, those of tf.image.resize's methods.
INTERPOLATIONS = (
    "bilinear",
    "nearest",
    "bicubic",
    "area",
    "lanczos3",
    "lanczos5",
    "gaussian",
    "mitchellcubic",
)
_COLOR_MODES = ("rgb", "rgba", "grayscale")


def image_dataset_from_directory(
    directory: str | os.PathLike[str],
    labels: Any = "inferred",
    label_mode: str | None = "int",
    class_names: list[str] | None = None,
    color_mode: str = "rgb",
    batch_size: int | None = 32,
    image_size: Any = (256, 256),
    shuffle: bool = True,
    seed: int | None = None,
    validation_split: float | None = None,
    subset: str | None = None,
    interpolation: str = "bilinear",
    follow_links: bool = False,
    crop_to_aspect_ratio: bool = False,
    pad_to_aspect_ratio: bool = False,
    data_format: str | None = None,
    verbose: bool = True,
) -> Any:
    """A dataset of the images under ``directory`` (see the module docstring).

    Args:
        directory: the root folder; with ``labels="inferred"`` one sub-folder per class.
        labels: ``"inferred"`` (class ``i`` is the ``i``-th sub-folder), ``None`` (images
            only) or a list/tuple of integer labels, one per image file in the sorted
            order of their paths.
        label_mode: ``"int"`` (``int32`` labels), ``"categorical"`` (``float32`` one-hot
            rows), ``"binary"`` (``float32`` of shape ``(batch, 1)``, exactly two
            classes) or ``None`` (images only).
        class_names: with ``labels="inferred"``, the sub-folders to read, in label order.
        color_mode: ``"rgb"`` (3 channels), ``"rgba"`` (4) or ``"grayscale"`` (1).
        batch_size: images per batch; ``None`` yields single images.
        image_size: ``(height, width)`` every image is resized to (an int for a square).
            It is required: images of different sizes cannot share a batch.
        shuffle: shuffle the files (with ``seed``) and, each pass, through a buffer of
            eight batches; otherwise the files are read in sorted order.
        seed: the shuffling seed; ``None`` draws one from nerve's global seed generator.
        validation_split: the fraction of the files kept for validation (the last ones
            after shuffling).
        subset: ``"training"``, ``"validation"`` or ``"both"`` (a list of two datasets);
            only with ``validation_split``.
        interpolation: ``"bilinear"``, ``"nearest"``, ``"bicubic"``, ``"area"``,
            ``"lanczos3"``, ``"lanczos5"``, ``"gaussian"`` or ``"mitchellcubic"``.
        follow_links: descend into symbolic links to folders.
        crop_to_aspect_ratio: resize the largest centred crop with the aspect ratio of
            ``image_size`` (no distortion).
        pad_to_aspect_ratio: pad with zeros to the aspect ratio of ``image_size`` before
            resizing (no distortion).
        data_format: ``"channels_last"`` (the default, for ``None``) or
            ``"channels_first"``.
        verbose: print how many files and classes were found.

    Returns:
        A ``nerve.data.Dataset`` yielding ``(images, labels)``, or ``images`` alone when
        ``label_mode`` or ``labels`` is ``None``; images are ``float32`` of shape
        ``(batch, height, width, channels)`` with values as decoded (0 to 255 for 8-bit
        files). It has ``class_names`` and ``file_paths`` attributes. ``subset="both"``
        returns ``[training, validation]``.

    Raises:
        ImportError: Pillow is not installed.
        ValueError: an invalid argument, or no image files found.
    """
    function = "image_dataset_from_directory"
    labels, label_mode = check_label_arguments(
        labels, label_mode, class_names, "image files", function
    )
    if color_mode not in _COLOR_MODES:
        raise ValueError(
            f"{function}: color_mode must be 'rgb', 'rgba' or 'grayscale'; received "
            f"color_mode={color_mode!r}."
        )
    size = _size_pair(
        (image_size, image_size) if _is_int(image_size) else image_size, function, "image_size"
    )
    interpolation = _check_interpolation(interpolation, function)
    if crop_to_aspect_ratio and pad_to_aspect_ratio:
        raise ValueError(
            f"{function}: crop_to_aspect_ratio and pad_to_aspect_ratio cannot both be True."
        )
    data_format = _standardize_data_format(data_format, function)
    _pillow(function)  # a missing Pillow fails here, not when the first image loads
    load_batch = functools.partial(
        _load_batch,
        color_mode=color_mode,
        image_size=size,
        interpolation=interpolation,
        crop_to_aspect_ratio=crop_to_aspect_ratio,
        pad_to_aspect_ratio=pad_to_aspect_ratio,
        data_format=data_format,
    )
    return datasets_from_directory(
        directory,
        labels=labels,
        label_mode=label_mode,
        class_names=class_names,
        formats=ALLOWLIST_FORMATS,
        load=functools.partial(_load_one, load_batch),
        load_batch=load_batch,
        batch_size=batch_size,
        shuffle=shuffle,
        seed=seed,
        validation_split=validation_split,
        subset=subset,
        follow_links=follow_links,
        verbose=verbose,
        function=function,
        files="image files",
        keep_file_paths=True,
    )


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _check_interpolation(interpolation: Any, function: str) -> str:
    name = interpolation.lower() if isinstance(interpolation, str) else interpolation
    if name not in INTERPOLATIONS:
        raise ValueError(
            f"{function}: interpolation must be one of {INTERPOLATIONS}; received "
            f"interpolation={interpolation!r}."
        )
    return str(name)


def _load_one(load_batch: Callable[[list[str]], np.ndarray], path: str) -> np.ndarray:
    """One image, read as a batch of one (a single code path for both kinds of dataset)."""
    return load_batch([path])[0]


def _load_batch(
    paths: list[str],
    color_mode: str,
    image_size: tuple[int, int],
    interpolation: str,
    crop_to_aspect_ratio: bool,
    pad_to_aspect_ratio: bool,
    data_format: str,
) -> np.ndarray:
    """The files at ``paths`` as one ``float32`` batch of resized images.

    Common PNGs are decoded together by ``png_reader`` (files of one size in one
    kernel call), other files one by one with Pillow; then each distinct image size
    is resized in one call. Per image, what runs in Python is reading the file and
    its chunks; the rest is C that lets go of the GIL (zlib, the kernels)."""
    files = [_read_bytes(path) for path in paths]
    groups, declined = decode_pngs(files, color_mode)
    for index in declined:
        groups.append(([index], _decode_with_pillow(paths[index], color_mode)[np.newaxis]))
    batch = _resize_groups(
        groups, len(paths), image_size, interpolation, crop_to_aspect_ratio, pad_to_aspect_ratio
    )
    if data_format == "channels_first":
        return np.ascontiguousarray(batch.transpose(0, 3, 1, 2))
    return batch


def _decode_with_pillow(path: str, color_mode: str) -> np.ndarray:
    """The pixels of one file as ``(height, width, channels)`` in the image's own
    integer dtype (8 bits, or 16/32 for deep gray images); errors name the file."""
    pixels = np.asarray(load_img(path, color_mode=color_mode))
    return pixels[..., np.newaxis] if pixels.ndim == 2 else pixels


def _read_bytes(path: str) -> bytes | None:
    """The file's bytes, by as few system calls as can be (one read for a file under
    64 KiB; a short read means the end of a regular file); ``None`` when it cannot be
    read (``load_img`` then raises the error, naming the file)."""
    try:
        descriptor = os.open(path, _OPEN_FLAGS)
    except OSError:
        return None
    try:
        chunks = [os.read(descriptor, _READ_SIZE)]
        while len(chunks[-1]) == _READ_SIZE:
            chunks.append(os.read(descriptor, _READ_SIZE))
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(descriptor)


_READ_SIZE = 1 << 16
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_BINARY", 0)  # binary: Windows would translate


# -- resizing -------------------------------------------------------------------------------


def resize_image(
    image: np.ndarray,
    size: tuple[int, int],
    interpolation: str = "bilinear",
    crop_to_aspect_ratio: bool = False,
    pad_to_aspect_ratio: bool = False,
) -> np.ndarray:
    """A ``(height, width, channels)`` image resized to ``size`` as the dataset does it,
    in ``float32``.

    >>> ramp = np.arange(4, dtype="float32").reshape(1, 4, 1)
    >>> resize_image(ramp, (1, 2))[..., 0].tolist()
    [[0.5, 2.5]]
    >>> resize_image(ramp, (1, 2), "area")[..., 0].tolist()
    [[0.5, 2.5]]
    >>> resize_image(np.ones((1, 3, 1)), (3, 3), pad_to_aspect_ratio=True)[..., 0]
    array([[0., 0., 0.],
           [1., 1., 1.],
           [0., 0., 0.]], dtype=float32)
    """
    pixels = np.asarray(image)[np.newaxis]
    return _resize_groups([([0], pixels)], 1, size, interpolation, crop_to_aspect_ratio,
                          pad_to_aspect_ratio)[0]  # fmt: skip


def _resize_groups(
    groups: list[tuple[list[int], np.ndarray]],
    count: int,
    size: tuple[int, int],
    interpolation: str,
    crop_to_aspect_ratio: bool,
    pad_to_aspect_ratio: bool,
) -> np.ndarray:
    """A ``float32`` batch of ``count`` images resized to ``size``, from ``groups`` of
    ``(indices, images)``: ``images`` is ``(len(indices), height, width, channels)``,
    the images at those positions of the batch. Images of one size (after the crop or
    pad) are resampled together, axis 1 (height) then axis 2 (width), by the CPU
    backend's ``resample`` kernel (a C loop where nerve has a compiler) which sums
    taps in order: every pixel is what resizing the image alone gives."""
    height, width = size
    adjust = (
        _crop_to_aspect_ratio if crop_to_aspect_ratio
        else _pad_to_aspect_ratio if pad_to_aspect_ratio
        else None
    )  # fmt: skip
    by_shape: dict[tuple[int, ...], tuple[list[int], list[np.ndarray]]] = {}
    for indices, images in groups:
        if adjust is not None:  # per image: a crop is a view, a pad a small copy
            adjusted = [adjust(image, height, width) for image in images]
            images = np.stack(adjusted)
        members, parts = by_shape.setdefault(images.shape[1:], ([], []))
        members.extend(indices)
        parts.append(images)
    if len(by_shape) == 1:
        members, parts = next(iter(by_shape.values()))
        if members == list(range(count)):  # one size, in order: no scatter needed
            return _resize_same_size(_joined(parts), size, interpolation)
    channels = groups[0][1].shape[3]
    out = np.empty((count, height, width, channels), dtype=np.float32)
    for members, parts in by_shape.values():
        out[members] = _resize_same_size(_joined(parts), size, interpolation)
    return out


def _joined(parts: list[np.ndarray]) -> np.ndarray:
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def _resize_same_size(batch: np.ndarray, size: tuple[int, int], interpolation: str) -> np.ndarray:
    resample = get_backend("cpu").kernel("resample")
    batch = np.ascontiguousarray(batch, dtype=np.float32)
    for axis, new_size in ((1, size[0]), (2, size[1])):
        indices, weights = _axis_taps(batch.shape[axis], new_size, interpolation)
        batch = resample(batch, indices, weights, axis)
    return batch


@functools.lru_cache(maxsize=256)
def _axis_taps(in_size: int, out_size: int, interpolation: str) -> tuple[np.ndarray, np.ndarray]:
    """``(indices, weights)`` of shape ``(out_size, taps)`` resampling one axis; cached
    (a folder's images mostly share their sizes) and read-only."""
    indices, weights = _compute_axis_taps(in_size, out_size, interpolation)
    # int32 and float32, contiguous: the layout the resample kernel runs in C.
    indices = np.ascontiguousarray(indices, dtype=np.int32)
    weights = np.ascontiguousarray(weights, dtype=np.float32)
    indices.flags.writeable = weights.flags.writeable = False
    return indices, weights


def _compute_axis_taps(
    in_size: int, out_size: int, interpolation: str
) -> tuple[np.ndarray, np.ndarray]:
    if interpolation in image_ops.INTERPOLATIONS:
        # The tables keras.ops.image.resize uses, kept in one place: nerve.ops.image.
        return image_ops.resize_taps(in_size, out_size, interpolation)
    if interpolation == "area":
        dense = _area_weights(in_size, out_size)
    else:
        dense = _kernel_weights(in_size, out_size, _TF_KERNELS[interpolation])
    # The nonzero weights of each row first; rows with fewer taps get zero weights.
    taps = max(1, int((dense != 0).sum(axis=1).max()))
    indices = np.argsort(dense == 0, axis=1, kind="stable")[:, :taps]
    return indices, np.take_along_axis(dense, indices, axis=1)


def _area_weights(in_size: int, out_size: int) -> np.ndarray:
    """tf.image.resize's ``"area"``: output pixel ``i`` averages the input over
    ``[i, i + 1) * in_size / out_size``, each input pixel weighted by its overlap."""
    scale = in_size / out_size
    starts = np.arange(out_size)[:, None] * scale
    cells = np.arange(in_size)[None, :]
    overlap = np.minimum(cells + 1, starts + scale) - np.maximum(cells, starts)
    return np.maximum(overlap, 0.0) / scale


def _gaussian(x: np.ndarray) -> np.ndarray:
    # TensorFlow's: radius 1.5 and sigma 0.5 (a support of three pixels).
    return np.where(x < 1.5, np.exp(-(x**2) / (2 * 0.5**2)), 0.0)


def _mitchell_cubic(x: np.ndarray) -> np.ndarray:
    # Mitchell and Netravali's cubic with B = C = 1/3, as TensorFlow defines it.
    near = ((7 / 6 * x - 2) * x) * x + 8 / 9
    far = ((-7 / 18 * x + 2) * x - 10 / 3) * x + 16 / 9
    return np.where(x < 1, near, np.where(x < 2, far, 0.0))


_TF_KERNELS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "gaussian": _gaussian,
    "mitchellcubic": _mitchell_cubic,
}


def _kernel_weights(
    in_size: int, out_size: int, kernel: Callable[[np.ndarray], np.ndarray]
) -> np.ndarray:
    """Dense ``(out_size, in_size)`` weights of ``kernel`` under the half-pixel rule,
    each row normalised to sum to one (TensorFlow's scale_and_translate without
    antialiasing; these kernels are not zero at whole distances, so they smooth even
    when the size does not change)."""
    centers = (np.arange(out_size) + 0.5) * (in_size / out_size) - 0.5
    dense = kernel(np.abs(centers[:, None] - np.arange(in_size)[None, :]))
    total = dense.sum(axis=1, keepdims=True)
    return dense / np.where(total == 0, 1.0, total)
