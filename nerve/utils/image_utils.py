"""Image files to arrays and back, through Pillow (``keras.utils.load_img``,
``img_to_array``, ``array_to_img``, ``save_img``).

Pillow is optional: it is imported when one of these functions runs, and a missing
Pillow is an ``ImportError`` that says how to install it (``pip install pillow`` or
``pip install "nerve[image]"``). nerve has no ``image_data_format`` setting, so
``data_format=None`` means ``"channels_last"`` (Keras's default); ``dtype=None`` means
``nerve.core.config.floatx()``, as in Keras.

Where nerve differs from Keras 3.15.1, and why:

- ``load_img`` decodes the whole file before returning, so a corrupt or truncated file
  fails there with an ``OSError`` naming the file (Keras's lazily decoded image fails
  later, in ``img_to_array``, naming a ``BytesIO`` object); an unknown format is
  Pillow's ``UnidentifiedImageError`` (an ``OSError``) with the file's name. Its
  arguments are checked before the file is read, and any binary file object is
  accepted, not only ``io.BytesIO``.
- ``keep_aspect_ratio`` never crops to an empty box (a crop is at least one pixel).
- ``array_to_img`` rejects NaN and infinite values, scales integer arrays in floating
  point (Keras fails dividing in place), and clips values to the range of the integer
  type it casts to (Keras's cast wraps, so ``256`` became ``0`` and ``-1`` became 255).
- ``save_img`` matches ``file_format`` case-insensitively (``"JPEG"`` as ``"jpeg"``),
  so RGBA to JPEG converts to RGB with a warning however the format is spelled.

>>> import os, tempfile
>>> import numpy as np
>>> from nerve.utils import array_to_img, img_to_array, load_img, save_img
>>> pixels = np.arange(2 * 3 * 3, dtype="float32").reshape(2, 3, 3) * 10
>>> path = os.path.join(tempfile.mkdtemp(), "tiny.png")
>>> save_img(path, pixels, scale=False)
>>> image = load_img(path)
>>> image.mode, image.size
('RGB', (3, 2))
>>> bool((img_to_array(image) == pixels).all())
True
"""

from __future__ import annotations

import io
import operator
import os
import pathlib
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

from nerve.core.config import floatx
from nerve.core.errors import with_location

if TYPE_CHECKING:
    from types import ModuleType

    from PIL.Image import Image

__all__ = ["array_to_img", "img_to_array", "load_img", "save_img"]

_COLOR_MODES = ("grayscale", "rgb", "rgba")
_DATA_FORMATS = ("channels_first", "channels_last")
# Keras's names for Pillow's resampling filters, in Keras's order.
_INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "hamming", "box", "lanczos")
# Pillow modes load_img keeps for color_mode="grayscale" (8-, 16- and 32-bit gray).
_GRAY_MODES = ("L", "I;16", "I")
_CHANNEL_MODES = {1: "grayscale (1 channel)", 3: "RGB (3 channels)", 4: "RGBA (4 channels)"}


def _pillow(function: str) -> ModuleType:
    """``PIL.Image``, or an ``ImportError`` telling how to install Pillow."""
    try:
        from PIL import Image
    except ImportError as error:
        raise ImportError(
            f"{function} needs Pillow, which is not installed: `pip install pillow` "
            '(or `pip install "nerve[image]"`).'
        ) from error
    return Image


def _resampling_filter(pil: ModuleType, interpolation: str) -> int:
    # Pillow >= 9.1 names its filters in Image.Resampling; older ones on Image itself.
    filters = getattr(pil, "Resampling", pil)
    return int(getattr(filters, interpolation.upper()))


def _check_interpolation(interpolation: str, function: str) -> None:
    if interpolation not in _INTERPOLATIONS:
        raise ValueError(
            with_location(
                f"{function}: interpolation must be one of {_INTERPOLATIONS}, "
                f"got {interpolation!r}."
            )
        )


def _standardize_data_format(data_format: str | None, function: str) -> str:
    if data_format is None:
        return "channels_last"
    standard = str(data_format).lower()
    if standard not in _DATA_FORMATS:
        raise ValueError(
            with_location(
                f"{function}: data_format must be one of {_DATA_FORMATS} (or None for "
                f'"channels_last"), got {data_format!r}.'
            )
        )
    return standard


def _size_pair(size: Any, function: str, name: str) -> tuple[int, int]:
    """``(height, width)`` of two positive ints, or a ``ValueError`` naming ``name``."""
    sides = tuple(size) if isinstance(size, (tuple, list)) else ()
    valid = len(sides) == 2 and all(
        hasattr(side, "__index__") and not isinstance(side, bool) and operator.index(side) > 0
        for side in sides
    )
    if not valid:
        raise ValueError(
            with_location(
                f"{function}: {name} must be (height, width), two positive ints, got {size!r}."
            )
        )
    return operator.index(sides[0]), operator.index(sides[1])


def load_img(
    path: Any,
    color_mode: str = "rgb",
    target_size: tuple[int, int] | None = None,
    interpolation: str = "nearest",
    keep_aspect_ratio: bool = False,
) -> Image:
    """Read an image file into a Pillow image (``keras.utils.load_img``).

    Args:
        path: a file path (``str``, ``bytes``, ``os.PathLike``) or a binary file object
            such as ``io.BytesIO``.
        color_mode: ``"grayscale"`` (8-bit ``"L"``; 16- and 32-bit gray images keep
            their mode), ``"rgb"`` or ``"rgba"``.
        target_size: ``None`` (keep the file's size) or ``(height, width)``.
        interpolation: the resampling filter when resizing: ``"nearest"``,
            ``"bilinear"``, ``"bicubic"``, ``"hamming"``, ``"box"`` or ``"lanczos"``.
        keep_aspect_ratio: resize the largest centred crop that has the target's aspect
            ratio, instead of stretching the whole image.

    Returns:
        A ``PIL.Image.Image``, decoded.

    Raises:
        ImportError: Pillow is not installed.
        FileNotFoundError: there is no file at ``path``.
        PIL.UnidentifiedImageError: the file is not in a format Pillow knows.
        OSError: the file is an image, but corrupt or truncated.
        ValueError: a bad ``color_mode``, ``target_size`` or ``interpolation``.
        TypeError: ``path`` is neither a path nor a file object.

    >>> import io
    >>> import numpy as np
    >>> from nerve.utils import array_to_img, load_img
    >>> buffer = io.BytesIO()
    >>> array_to_img(np.zeros((4, 8, 3)), scale=False).save(buffer, format="png")
    >>> image = load_img(buffer, color_mode="grayscale", target_size=(2, 2),
    ...                  keep_aspect_ratio=True)
    >>> image.mode, image.size
    ('L', (2, 2))
    """
    pil = _pillow("load_img")
    if color_mode not in _COLOR_MODES:
        raise ValueError(
            with_location(
                f"load_img: color_mode must be one of {_COLOR_MODES}, got {color_mode!r}."
            )
        )
    _check_interpolation(interpolation, "load_img")
    if target_size is not None:
        target_size = _size_pair(target_size, "load_img", "target_size")

    image = _open_image(pil, path)
    if color_mode == "grayscale":
        if image.mode not in _GRAY_MODES:
            image = image.convert("L")
    elif image.mode != color_mode.upper():
        image = image.convert(color_mode.upper())

    if target_size is None:
        return image
    width_height = (target_size[1], target_size[0])
    if image.size == width_height:
        return image
    resample = _resampling_filter(pil, interpolation)
    box = _aspect_crop_box(image.size, width_height) if keep_aspect_ratio else None
    return image.resize(width_height, resample, box=box)


def _open_image(pil: ModuleType, path: Any) -> Image:
    """Open and decode ``path``; errors name the file."""
    if isinstance(path, (str, bytes, os.PathLike)):
        name = os.fsdecode(path)
        # Read the bytes first (as Keras does) so no file handle stays open behind the
        # returned image.
        with open(path, "rb") as file:
            source: Any = io.BytesIO(file.read())
    elif hasattr(path, "read"):
        name = str(getattr(path, "name", None) or f"the {type(path).__name__} object")
        source = path
    else:
        raise TypeError(
            with_location(
                "load_img: path must be a file path (str, bytes, os.PathLike) or a binary "
                f"file object such as io.BytesIO, got {type(path).__name__}."
            )
        )
    try:
        image = pil.open(source)
        image.load()
    except pil.UnidentifiedImageError as error:
        raise pil.UnidentifiedImageError(
            f"load_img: cannot read {name!r} as an image: Pillow does not recognise its "
            "format (the file may be corrupt, empty, or not an image)."
        ) from error
    # Pillow reports broken data as any of these, depending on the format and on whether
    # the header (read by open) or the pixels (read by load) are broken.
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise OSError(
            f"load_img: cannot decode the image in {name!r}: {error}. "
            "The file may be truncated or corrupt."
        ) from error
    return image


def _aspect_crop_box(size: tuple[int, int], target: tuple[int, int]) -> tuple[int, int, int, int]:
    """The largest centred ``(left, upper, right, lower)`` box of an image of ``size``
    ``(width, height)`` with the aspect ratio of ``target`` ``(width, height)``.
    Keras's integer arithmetic, but never an empty box."""
    width, height = size
    target_width, target_height = target
    crop_height = max(1, min(height, (width * target_height) // target_width))
    crop_width = max(1, min(width, (height * target_width) // target_height))
    left = (width - crop_width) // 2
    upper = (height - crop_height) // 2
    return (left, upper, left + crop_width, upper + crop_height)


def img_to_array(img: Any, data_format: str | None = None, dtype: Any = None) -> np.ndarray:
    """A Pillow image (or anything NumPy converts) as a rank-3 array
    (``keras.utils.img_to_array``).

    Args:
        img: a ``PIL.Image.Image`` or an array-like of rank 2 (gray) or 3.
        data_format: ``"channels_last"`` (``(height, width, channels)``, the default)
            or ``"channels_first"``.
        dtype: the array's dtype; ``None`` means ``floatx()`` (``"float32"``).

    Returns:
        A NumPy array of rank 3; a gray image gets a channel axis of size 1.

    >>> import numpy as np
    >>> from nerve.utils import array_to_img, img_to_array
    >>> image = array_to_img(np.full((2, 5, 1), 7.0), scale=False)
    >>> image.mode
    'L'
    >>> array = img_to_array(image, data_format="channels_first", dtype="uint8")
    >>> array.shape, array.dtype, int(array.max())
    ((1, 2, 5), dtype('uint8'), 7)
    """
    data_format = _standardize_data_format(data_format, "img_to_array")
    array = np.asarray(img, dtype=floatx() if dtype is None else dtype)
    if array.ndim == 2:
        array = array[np.newaxis] if data_format == "channels_first" else array[..., np.newaxis]
    elif array.ndim == 3:
        if data_format == "channels_first":
            array = array.transpose(2, 0, 1)
    else:
        raise ValueError(
            with_location(
                f"img_to_array: expected an image of rank 2 (gray) or 3, got shape {array.shape}."
            )
        )
    return array


def array_to_img(
    x: Any, data_format: str | None = None, scale: bool = True, dtype: Any = None
) -> Image:
    """A rank-3 array as a Pillow image (``keras.utils.array_to_img``).

    Args:
        x: array-like of shape ``(height, width, channels)`` (or ``(channels, height,
            width)`` with ``data_format="channels_first"``) with 1, 3 or 4 channels.
        data_format: ``"channels_last"`` (the default) or ``"channels_first"``.
        scale: map the array's range ``[min, max]`` linearly onto ``[0, 255]`` (a
            constant array becomes 0). Without it, values are used as they are.
        dtype: the dtype ``x`` is converted to first; ``None`` means ``floatx()``.

    Returns:
        A ``PIL.Image.Image``: mode ``"RGBA"``, ``"RGB"``, or for one channel ``"L"``
        (8-bit), or ``"I"`` (32-bit) when a value is above 255.

    Raises:
        ImportError: Pillow is not installed.
        ValueError: ``x`` is not of rank 3, has another number of channels, or holds
            NaN or infinite values.

    >>> import numpy as np
    >>> from nerve.utils import array_to_img
    >>> image = array_to_img(np.array([[[0.0], [0.5], [1.0]]]))
    >>> image.mode, np.asarray(image).tolist()
    ('L', [[0, 127, 255]])
    >>> array_to_img(np.full((2, 2, 1), 1000.0), scale=False).mode
    'I'
    """
    pil = _pillow("array_to_img")
    data_format = _standardize_data_format(data_format, "array_to_img")
    array = np.asarray(x, dtype=floatx() if dtype is None else dtype)
    if array.ndim != 3:
        raise ValueError(
            with_location(
                f"array_to_img: expected one image, an array of rank 3, got shape {array.shape}."
            )
        )
    if data_format == "channels_first":
        array = array.transpose(1, 2, 0)
    channels = array.shape[2]
    if channels not in _CHANNEL_MODES:
        raise ValueError(
            with_location(
                f"array_to_img: an image needs 1, 3 or 4 channels, got {channels} "
                f"(shape {array.shape} after putting channels last, data_format={data_format!r})."
            )
        )
    if array.dtype.kind in "fc" and not np.isfinite(array).all():
        raise ValueError(with_location("array_to_img: x holds NaN or infinite values."))
    if scale:
        array = _scale_to_255(array)
    if channels == 1 and array.size and array.max() > 255:
        # Out of 8-bit range: a 32-bit gray image (Pillow's mode "I"), as in Keras.
        return pil.fromarray(_cast_clipped(array[:, :, 0], np.int32))
    pixels = _cast_clipped(array, np.uint8)
    return pil.fromarray(pixels[:, :, 0] if channels == 1 else pixels)


def _scale_to_255(array: np.ndarray) -> np.ndarray:
    # Floating arrays are scaled in their own precision, as Keras does, so pixels match
    # Keras's exactly; integer arrays are scaled in float64.
    scaled = array if array.dtype.kind == "f" else array.astype(np.float64)
    if not scaled.size:
        return scaled
    scaled = scaled - scaled.min()
    top = scaled.max()
    if top != 0:
        scaled = scaled / top
    return scaled * 255


def _cast_clipped(array: np.ndarray, dtype: type[np.integer]) -> np.ndarray:
    """Truncate toward zero (NumPy's cast, as Keras) after clipping to ``dtype``'s range."""
    info = np.iinfo(dtype)
    if array.dtype.kind in "iu" and np.can_cast(array.dtype, dtype):
        return array.astype(dtype)
    return np.clip(array, info.min, info.max).astype(dtype)


def save_img(
    path: Any,
    x: Any,
    data_format: str | None = None,
    file_format: str | None = None,
    scale: bool = True,
    **kwargs: Any,
) -> None:
    """Write an array to an image file (``keras.utils.save_img``).

    Args:
        path: a file path, or a binary file object (then pass ``file_format``).
        x: the image array, as ``array_to_img`` takes it.
        data_format: ``"channels_last"`` (the default) or ``"channels_first"``.
        file_format: Pillow's format name (``"png"``, ``"jpeg"``, ...); ``None`` means
            the path's extension. ``"jpg"`` means ``"jpeg"``.
        scale: map ``x``'s range onto ``[0, 255]`` (see ``array_to_img``).
        **kwargs: passed to ``PIL.Image.Image.save`` (``quality=95``, ...).

    An RGBA image written as JPEG (which has no alpha channel) is converted to RGB,
    with a warning.

    >>> import io
    >>> import numpy as np
    >>> from nerve.utils import load_img, save_img
    >>> buffer = io.BytesIO()
    >>> save_img(buffer, np.random.rand(4, 4, 3), file_format="bmp")
    >>> load_img(buffer).format
    'BMP'
    """
    _pillow("save_img")
    data_format = _standardize_data_format(data_format, "save_img")
    if file_format is None and isinstance(path, (str, bytes, os.PathLike)):
        file_format = pathlib.Path(os.fsdecode(path)).suffix[1:] or None
    if file_format is not None:
        file_format = file_format.lower()
        if file_format == "jpg":  # Pillow knows the format only as "jpeg"
            file_format = "jpeg"
    image = array_to_img(x, data_format=data_format, scale=scale)
    if image.mode == "RGBA" and file_format == "jpeg":
        warnings.warn(
            "save_img: JPEG has no alpha channel; the RGBA image is saved as RGB.",
            stacklevel=2,
        )
        image = image.convert("RGB")
    image.save(path, format=file_format, **kwargs)


def _resize_image(
    array: Any,
    size: tuple[int, int],
    interpolation: str = "bilinear",
    crop_to_aspect_ratio: bool = False,
    pad_to_aspect_ratio: bool = False,
) -> np.ndarray:
    """Resize a ``(height, width, channels)`` image array to ``size`` ``(height,
    width)`` with Pillow, as a float32 array.

    The aspect-ratio options follow ``keras.ops.image.resize`` (which
    ``image_dataset_from_directory`` uses): ``crop_to_aspect_ratio`` first takes the
    largest centred crop with the target's aspect ratio; ``pad_to_aspect_ratio`` first
    pads the short side with zeros, equally on both sides. Each channel is resampled
    as a 32-bit float image (Pillow's mode ``"F"``), so values are not rounded and any
    number of channels works. ``interpolation`` is one of load_img's names.

    >>> import numpy as np
    >>> from nerve.utils.image_utils import _resize_image
    >>> tall = np.ones((6, 2, 1))
    >>> _resize_image(tall, (3, 3), "nearest", pad_to_aspect_ratio=True)[..., 0]
    array([[0., 1., 0.],
           [0., 1., 0.],
           [0., 1., 0.]], dtype=float32)
    """
    if crop_to_aspect_ratio and pad_to_aspect_ratio:
        raise ValueError(
            with_location(
                "resize: only one of crop_to_aspect_ratio and pad_to_aspect_ratio can be True."
            )
        )
    _check_interpolation(interpolation, "resize")
    target_height, target_width = _size_pair(size, "resize", "size")
    image = np.asarray(array, dtype=np.float32)
    if image.ndim != 3:
        raise ValueError(
            with_location(
                f"resize: expected an image of shape (height, width, channels), got {image.shape}."
            )
        )
    if crop_to_aspect_ratio:
        image = _crop_to_aspect_ratio(image, target_height, target_width)
    elif pad_to_aspect_ratio:
        image = _pad_to_aspect_ratio(image, target_height, target_width)
    pil = _pillow("resize")
    resample = _resampling_filter(pil, interpolation)
    channels = [
        np.asarray(
            pil.fromarray(np.ascontiguousarray(image[:, :, c])).resize(
                (target_width, target_height), resample
            )
        )
        for c in range(image.shape[2])
    ]
    return np.stack(channels, axis=-1).astype(np.float32, copy=False)


def _crop_to_aspect_ratio(image: np.ndarray, target_height: int, target_width: int) -> np.ndarray:
    # keras.ops.image.resize's arithmetic (float division, truncated; at least 1 pixel).
    height, width = image.shape[:2]
    crop_height = max(min(height, int(width * target_height / target_width)), 1)
    crop_width = max(min(width, int(height * target_width / target_height)), 1)
    top = (height - crop_height) // 2
    left = (width - crop_width) // 2
    return image[top : top + crop_height, left : left + crop_width]


def _pad_to_aspect_ratio(image: np.ndarray, target_height: int, target_width: int) -> np.ndarray:
    # keras.ops.image.resize's arithmetic: the same margin on both sides of one axis.
    height, width = image.shape[:2]
    margin_height = (max(height, int(width * target_height / target_width)) - height) // 2
    margin_width = (max(width, int(height * target_width / target_height)) - width) // 2
    if margin_height > 0:
        return np.pad(image, ((margin_height, margin_height), (0, 0), (0, 0)))
    if margin_width > 0:
        return np.pad(image, ((0, 0), (margin_width, margin_width), (0, 0)))
    return image
