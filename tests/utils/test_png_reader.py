"""The fast PNG path decodes what Pillow decodes, pixel for pixel, and declines (returns
``None``, so the loader falls back to Pillow) every file it does not fully handle;
many files at once come back grouped by size, the declined ones listed."""

import io
import zlib

import numpy as np
import pytest

pytest.importorskip("PIL")
from PIL import Image

from nerve.utils import load_img
from nerve.utils.png_reader import decode_png, decode_pngs
from tests.utils._png_files import chunk, png_bytes, random_pixels

COLOR_MODES = ("grayscale", "rgb", "rgba")


def _pillow(data: bytes, color_mode: str) -> np.ndarray:
    pixels = np.asarray(load_img(io.BytesIO(data), color_mode=color_mode))
    return pixels[..., np.newaxis] if pixels.ndim == 2 else pixels


@pytest.mark.parametrize("color_mode", COLOR_MODES)
@pytest.mark.parametrize(
    "channels, filters, shape",
    [(1, (0, 1, 2, 3, 4), (9, 7)), (3, (4, 3, 2, 1, 0), (11, 13)), (4, (1, 4, 3), (6, 5)),
     (3, (4,), (1, 1)), (3, (3,), (5, 1)), (4, (2, 0), (1, 9))],
)  # fmt: skip
def test_every_filter_type_decodes_as_pillow_does(channels, filters, shape, color_mode):
    data = png_bytes(random_pixels(*shape, channels, seed=channels), filters, idat_parts=3)
    decoded = decode_png(data, color_mode)
    if color_mode == "grayscale" and channels != 1:
        assert decoded is None  # Pillow's weighted conversion to gray is left to Pillow
        return
    assert decoded is not None
    expected = _pillow(data, color_mode)
    assert decoded.dtype == expected.dtype == np.uint8
    np.testing.assert_array_equal(decoded, expected)


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA"])
def test_files_pillow_writes_decode_as_pillow_reads_them(mode):
    pixels = random_pixels(23, 31, 4, seed=5)
    image = Image.fromarray(pixels).convert(mode)
    for options in ({}, {"optimize": True}, {"compress_level": 0}):
        buffer = io.BytesIO()
        image.save(buffer, format="png", **options)
        for color_mode in COLOR_MODES:
            decoded = decode_png(buffer.getvalue(), color_mode)
            if decoded is not None:
                np.testing.assert_array_equal(decoded, _pillow(buffer.getvalue(), color_mode))
            else:
                assert color_mode == "grayscale" and mode != "L"


PIXELS = random_pixels(4, 6, 3, seed=2)
GOOD = png_bytes(PIXELS)
_RAW = bytes(zlib.decompress(GOOD[GOOD.index(b"IDAT") + 4 :]))
DECLINED = {
    "not a png": b"GIF89a" + GOOD[6:],
    "empty": b"",
    "16-bit": png_bytes(PIXELS, header={"depth": 16}),
    "palette": png_bytes(PIXELS, header={"color": 3}),
    "gray with alpha": png_bytes(random_pixels(4, 6, 2)),
    "interlaced": png_bytes(PIXELS, header={"interlace": 1}),
    "transparency": png_bytes(PIXELS, extra_chunks=[chunk(b"tRNS", b"\0\1\0\2\0\3")]),
    "palette chunk": png_bytes(PIXELS, extra_chunks=[chunk(b"PLTE", b"\0" * 3)]),
    "unknown critical chunk": png_bytes(PIXELS, extra_chunks=[chunk(b"ABCD", b"x")]),
    "bad crc": png_bytes(PIXELS, extra_chunks=[chunk(b"tEXt", b"k\0v", crc=7)]),
    "bad filter type": png_bytes(PIXELS, data=bytes([5]) + _RAW[1:]),
    "short data": png_bytes(PIXELS, data=_RAW[:-1]),
    "long data": png_bytes(PIXELS, data=_RAW + b"\0"),
    "no IEND": GOOD[:-12],
    "truncated": GOOD[: len(GOOD) // 2],
    "zero width": png_bytes(PIXELS, header={"width": 0}),
    "two headers": png_bytes(PIXELS, extra_chunks=[GOOD[8:33]]),
}


def test_the_good_file_is_read():
    np.testing.assert_array_equal(decode_png(GOOD, "rgb"), PIXELS)
    # Ancillary chunks the fast path does not need are skipped.
    text = png_bytes(PIXELS, extra_chunks=[chunk(b"tEXt", b"k\0v"), chunk(b"gAMA", b"\0\0\1\0")])
    np.testing.assert_array_equal(decode_png(text, "rgb"), PIXELS)


def test_the_image_data_crc_is_left_to_zlib_as_pillow_does():
    data = bytearray(GOOD)
    start = data.index(b"IDAT") + 4
    data[start + int.from_bytes(data[start - 8 : start - 4], "big")] ^= 0xFF
    np.testing.assert_array_equal(decode_png(bytes(data), "rgb"), _pillow(bytes(data), "rgb"))


def test_many_files_are_grouped_by_size_and_declined_ones_listed():
    small, large = random_pixels(3, 4, 3, seed=1), random_pixels(5, 2, 4, seed=2)
    files = [png_bytes(small), DECLINED["palette"], png_bytes(large), None, png_bytes(small)]
    groups, declined = decode_pngs(files, "rgb")
    assert declined == [1, 3]
    assert [indices for indices, _ in groups] == [[0, 4], [2]]
    np.testing.assert_array_equal(groups[0][1], np.stack([small, small]))
    np.testing.assert_array_equal(groups[1][1], large[np.newaxis, ..., :3])


def test_a_bad_file_in_a_group_is_declined_alone():
    pixels = random_pixels(4, 6, 3, seed=2)
    groups, declined = decode_pngs([GOOD, DECLINED["bad filter type"], png_bytes(pixels)], "rgb")
    assert declined == [1]
    found = {index: images[k] for indices, images in groups for k, index in enumerate(indices)}
    np.testing.assert_array_equal(found[0], PIXELS)
    np.testing.assert_array_equal(found[2], pixels)


@pytest.mark.parametrize("name", sorted(DECLINED))
def test_what_the_fast_path_does_not_handle_is_declined(name):
    assert decode_png(DECLINED[name], "rgb") is None
