"""PNG files built byte by byte for tests: each row's filter type chosen, chunks and
CRCs written here (PNG specification, sections 5, 9 and 11), so a decoder meets every
filter type and every malformation on purpose, not only what Pillow's encoder picks."""

import struct
import zlib

import numpy as np

SIGNATURE = b"\x89PNG\r\n\x1a\n"
COLOR_TYPES = {1: 0, 2: 4, 3: 2, 4: 6}  # channels -> PNG color type


def chunk(kind: bytes, body: bytes, crc: int | None = None) -> bytes:
    crc = zlib.crc32(kind + body) if crc is None else crc
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def _predictor(kind, left, above, corner):
    if kind == 0:
        return 0
    if kind == 1:
        return left
    if kind == 2:
        return above
    if kind == 3:
        return (left + above) // 2
    estimate = left + above - corner
    options = [(abs(estimate - left), left), (abs(estimate - above), above),
               (abs(estimate - corner), corner)]  # fmt: skip
    return min(options, key=lambda option: option[0])[1]  # ties: the first listed


def filtered_rows(pixels: np.ndarray, filters) -> bytes:
    """The inflated image data: per row a filter type byte, then the filtered bytes."""
    height, width, channels = pixels.shape
    rows = pixels.reshape(height, width * channels).astype(int)
    out = bytearray()
    for y in range(height):
        kind = filters[y % len(filters)]
        out.append(kind)
        for i in range(width * channels):
            left = rows[y, i - channels] if i >= channels else 0
            above = rows[y - 1, i] if y else 0
            corner = rows[y - 1, i - channels] if y and i >= channels else 0
            out.append((rows[y, i] - _predictor(kind, left, above, corner)) % 256)
    return bytes(out)


def png_bytes(pixels: np.ndarray, filters=(0, 1, 2, 3, 4), *, data: bytes | None = None,
              extra_chunks=(), header: dict | None = None, idat_parts: int = 1,
              tail: bytes = b"") -> bytes:  # fmt: skip
    """A PNG of ``(height, width, channels)`` ``uint8`` pixels; the keywords break it on
    purpose (``data``: inflated data to use instead; ``header``: IHDR fields to change)."""
    height, width, channels = pixels.shape
    fields = {"width": width, "height": height, "depth": 8, "color": COLOR_TYPES[channels],
              "compression": 0, "filter": 0, "interlace": 0, **(header or {})}  # fmt: skip
    ihdr = struct.pack(">IIBBBBB", *fields.values())
    stream = zlib.compress(filtered_rows(pixels, filters) if data is None else data)
    cut = [len(stream) * k // idat_parts for k in range(idat_parts + 1)]
    idats = [chunk(b"IDAT", stream[a:b]) for a, b in zip(cut, cut[1:])]
    return (SIGNATURE + chunk(b"IHDR", ihdr) + b"".join(extra_chunks) + b"".join(idats)
            + chunk(b"IEND", b"") + tail)  # fmt: skip


def random_pixels(height: int, width: int, channels: int, seed: int = 0) -> np.ndarray:
    """Smooth ramps plus noise on the upper rows, so every filter type predicts
    something nonzero; the lower rows draw from four levels, so neighbours are often
    equal and Paeth's ties (left before above before upper-left) are met."""
    rng = np.random.default_rng(seed)
    rows, columns = np.mgrid[0:height, 0:width]
    ramp = (rows * 9 + columns * 5)[..., None] + np.arange(channels) * 60
    pixels = (ramp + rng.integers(0, 40, (height, width, channels))) % 256
    coarse = rng.choice([0, 3, 128, 255], (height, width, channels))
    pixels[height // 2 :] = coarse[height // 2 :]
    return pixels.astype(np.uint8)
