import io
import os
import pathlib
import struct

import numpy as np
import pytest

from nerve.utils.crc32c import masked_crc32c
from nerve.utils.summary_writer import SummaryWriter, encode_png, histogram_buckets


def _records(path):
    """The payloads of a TFRecord file, checking both CRCs of each record."""
    data = pathlib.Path(path).read_bytes()
    offset, payloads = 0, []
    while offset < len(data):
        header = data[offset : offset + 8]
        (length,) = struct.unpack("<Q", header)
        (header_crc,) = struct.unpack("<I", data[offset + 8 : offset + 12])
        payload = data[offset + 12 : offset + 12 + length]
        (payload_crc,) = struct.unpack("<I", data[offset + 12 + length : offset + 16 + length])
        assert header_crc == masked_crc32c(header) and payload_crc == masked_crc32c(payload)
        payloads.append(payload)
        offset += 16 + length
    return payloads


def test_framing_and_file_version(tmp_path):
    writer = SummaryWriter(tmp_path)
    writer.scalar("a", 1.0, step=3)
    writer.close()
    payloads = _records(writer.path)
    assert len(payloads) == 2
    assert b"brain.Event:2" in payloads[0]


def test_writers_never_share_a_file(tmp_path):
    first, second = SummaryWriter(tmp_path), SummaryWriter(tmp_path)
    first.close()
    second.close()
    assert first.path != second.path
    assert len(os.listdir(tmp_path)) == 2


def test_closed_writer_refuses_events(tmp_path):
    writer = SummaryWriter(tmp_path)
    writer.close()
    with pytest.raises(ValueError, match="closed"):
        writer.scalar("a", 1.0, 0)


@pytest.mark.parametrize(
    "values",
    [
        np.arange(100.0),
        np.random.default_rng(0).normal(size=(7, 5)),
        [3.0],
        np.full(4, -2.0),
        np.array([0.0, 1e-300]),
    ],
)
def test_histogram_buckets_count_every_value(values):
    table = histogram_buckets(values, 30)
    data = np.asarray(values, np.float64).ravel()
    assert table.shape == (30, 3)
    assert table[:, 2].sum() == data.size
    assert table[0, 0] == data.min() and table[-1, 1] == data.max()
    if data.min() < data.max():
        np.testing.assert_array_equal(table[:, 2], np.histogram(data, bins=30)[0])
    else:
        assert table[-1, 2] == data.size


def test_histogram_of_nothing():
    assert not histogram_buckets([], 5).any()
    with pytest.raises(ValueError, match="bucket_count"):
        histogram_buckets([1.0], 0)


@pytest.mark.parametrize("shape", [(3, 5), (2, 4, 1), (4, 2, 3), (1, 6, 4)])
def test_png_decodes_to_the_pixels(shape):
    image_module = pytest.importorskip("PIL.Image", reason="Pillow decodes the PNG")
    pixels = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    with image_module.open(io.BytesIO(encode_png(pixels))) as image:
        decoded = np.asarray(image)
    np.testing.assert_array_equal(decoded, pixels.reshape(decoded.shape))


def test_png_rejects_floats():
    with pytest.raises(ValueError, match="uint8"):
        encode_png(np.zeros((2, 2)))
