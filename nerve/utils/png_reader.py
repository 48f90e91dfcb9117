"""A fast path for the commonest image files of a dataset: 8-bit, non-interlaced PNGs
in gray, RGB or RGBA, decoded without Pillow's per-file Python work.

``decode_pngs`` reads each file's chunks (PNG specification, sections 5 and 11),
checks the CRC of every chunk but the image data's (as Pillow does; zlib's own
checksum guards the data), inflates the data with ``zlib`` and undoes the scanline
filters with the CPU backend's ``png_unfilter`` kernel, one call for all the files of
one size; both let go of the GIL, so the loader's threads decode side by side. A file
it does not handle is declined (another bit depth or color type, interlacing, a
palette, a ``tRNS`` transparency chunk, an unknown critical chunk, a bad CRC,
truncated or surplus data): the caller then decodes it with Pillow, which gives the
same pixels where both apply (the tests compare them) and the errors ``load_img``
raises, naming the file, where the file is broken. Color conversions are Pillow's
where they are exact copies (gray to RGB repeats the gray value; RGB to RGBA adds an
opaque alpha; RGBA to RGB drops alpha); those that compute (to grayscale from color)
are left to Pillow.

>>> import io
>>> import numpy as np
>>> from PIL import Image
>>> buffer = io.BytesIO()
>>> Image.fromarray(np.arange(12, dtype=np.uint8).reshape(2, 2, 3)).save(buffer, "png")
>>> decode_png(buffer.getvalue(), "rgba")[..., 2:].tolist()
[[[2, 255], [5, 255]], [[8, 255], [11, 255]]]
>>> decode_png(buffer.getvalue(), "grayscale") is None
True
"""

from __future__ import annotations

import functools
import struct
import zlib
from collections.abc import Callable, Sequence

# Decoded pixels are host arrays, before any backend sees them.
import numpy as np

from nerve.backend import get_backend

__all__ = ["decode_png", "decode_pngs"]

SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: PNG color types read here and their channels: gray, RGB, RGBA.
_CHANNELS = {0: 1, 2: 3, 6: 4}
_WANTED_CHANNELS = {"grayscale": 1, "rgb": 3, "rgba": 4}
#: Larger images go to Pillow, whose decompression-bomb check then applies.
_MAX_PIXELS = 1 << 25
_CHUNK_HEAD = struct.Struct(">I4s")
_HEADER = struct.Struct(">IIBBBBB")


def decode_png(data: bytes, color_mode: str) -> np.ndarray | None:
    """The ``(height, width, channels)`` ``uint8`` pixels of a PNG file's bytes in
    ``color_mode`` (``"grayscale"``, ``"rgb"`` or ``"rgba"``), or ``None`` when the
    fast path does not apply (see the module docstring)."""
    groups, _ = decode_pngs([data], color_mode)
    return groups[0][1][0] if groups else None


def decode_pngs(
    files: Sequence[bytes | None], color_mode: str
) -> tuple[list[tuple[list[int], np.ndarray]], list[int]]:
    """Many files at once: ``(groups, declined)``. Each group is ``(indices, pixels)``:
    the files at ``indices`` (in order) share one size and their pixels are one
    ``(len(indices), height, width, channels)`` ``uint8`` array; ``declined`` lists the
    indices the fast path does not handle (and those that are ``None``). Files of
    one size are unfiltered by one kernel call and converted by one NumPy operation,
    so the per-file work in Python is reading the chunks and inflating."""
    wanted = _WANTED_CHANNELS[color_mode]
    declined: list[int] = []
    by_geometry: dict[tuple[int, int, int], tuple[list[int], list[bytes]]] = {}
    for index, data in enumerate(files):
        raw = None if data is None else _inflated(data, wanted)
        if raw is None:
            declined.append(index)
            continue
        geometry, rows = raw
        indices, parts = by_geometry.setdefault(geometry, ([], []))
        indices.append(index)
        parts.append(rows)
    groups = []
    for geometry, (indices, parts) in by_geometry.items():
        pixels = _unfiltered(geometry, parts)
        if pixels is None:  # a bad filter type somewhere: find it file by file
            for index, part in zip(indices, parts):
                one = _unfiltered(geometry, [part])
                if one is None:
                    declined.append(index)
                else:
                    groups.append(([index], _converted(one, wanted)))
            continue
        groups.append((indices, _converted(pixels, wanted)))
    return groups, sorted(declined)


def _inflated(data: bytes, wanted: int) -> tuple[tuple[int, int, int], bytes] | None:
    """``((height, width, channels), filtered rows)`` of one file, or ``None``."""
    parsed = _parse(data)
    if parsed is None:
        return None
    width, height, channels, compressed = parsed
    if wanted == 1 and channels != 1:
        return None  # Pillow's weighted conversion to gray
    expected = height * (width * channels + 1)
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(compressed, expected + 1)
    except zlib.error:
        return None
    if len(raw) != expected or not inflater.eof or inflater.unconsumed_tail:
        return None
    return (height, width, channels), raw


def _unfiltered(geometry: tuple[int, int, int], parts: list[bytes]) -> np.ndarray | None:
    height, width, channels = geometry
    data = parts[0] if len(parts) == 1 else b"".join(parts)
    try:
        rows = _unfilter()(data, height, width * channels, channels, len(parts))
    except ValueError:
        return None
    return rows.reshape(len(parts), height, width, channels)


def _converted(pixels: np.ndarray, wanted: int) -> np.ndarray:
    """``(images, height, width, channels)`` pixels with ``wanted`` channels, as
    Pillow converts them (never to gray: the caller declines that)."""
    channels = pixels.shape[3]
    if channels == wanted:
        return pixels
    if channels == 4:  # RGBA read as RGB: alpha dropped
        return pixels[..., :3]
    if channels == 1:
        pixels = np.repeat(pixels, 3, axis=3)
    if wanted == 4:
        opaque = np.full((*pixels.shape[:3], 1), 255, dtype=np.uint8)
        pixels = np.concatenate([pixels, opaque], axis=3)
    return pixels


@functools.cache
def _unfilter() -> Callable[..., np.ndarray]:
    return get_backend("cpu").kernel("png_unfilter")


def _parse(data: bytes) -> tuple[int, int, int, bytes] | None:
    """``(width, height, channels, zlib stream)`` of a PNG the fast path reads."""
    if not data.startswith(SIGNATURE):
        return None
    view = memoryview(data)
    position, size = len(SIGNATURE), len(data)
    header: tuple[int, ...] | None = None
    parts: list[memoryview] = []
    while True:
        if position + 12 > size:
            return None  # truncated: no IEND
        length, kind = _CHUNK_HEAD.unpack_from(data, position)
        body_end = position + 8 + length
        if body_end + 4 > size:
            return None
        body = view[position + 8 : body_end]
        # Pillow checks every chunk's CRC but the image data's (zlib's own checksum
        # guards that): the same here, so both read the same files.
        if kind != b"IDAT":
            crc = int.from_bytes(view[body_end : body_end + 4], "big")
            if zlib.crc32(view[position + 4 : body_end]) != crc:
                return None
        position = body_end + 4
        if header is None:
            if kind != b"IHDR" or length != _HEADER.size:
                return None
            header = _HEADER.unpack(body)
        elif kind == b"IDAT":
            parts.append(body)
        elif kind == b"IEND":
            break
        elif kind in (b"IHDR", b"PLTE", b"tRNS") or not kind[0] & 0x20:
            return None  # a second header, a palette, transparency, or unknown critical
    width, height, depth, color_type, compression, filtering, interlace = header
    if (
        depth != 8
        or color_type not in _CHANNELS
        or (compression, filtering, interlace) != (0, 0, 0)
        or not 0 < width * height <= _MAX_PIXELS
        or not parts
    ):
        return None
    return width, height, _CHANNELS[color_type], b"".join(parts)
