import numpy as np
import pytest

from nerve.utils.crc32c import crc32c, masked_crc32c


@pytest.mark.parametrize(
    ("data", "expected"),
    [  # RFC 3720 (iSCSI) appendix B.4 check values, and the standard "123456789" check
        (bytes(32), 0x8A9136AA),
        (b"\xff" * 32, 0x62A8AB43),
        (bytes(range(32)), 0x46DD794E),
        (bytes(range(31, -1, -1)), 0x113FDB5C),
        (b"123456789", 0xE3069283),
        (b"", 0),
    ],
)
def test_check_values(data, expected):
    assert crc32c(data) == expected


def test_incremental_equals_whole():
    data = np.random.default_rng(0).integers(0, 256, 1000, dtype=np.uint8).tobytes()
    assert crc32c(data[400:], crc32c(data[:400])) == crc32c(data)


def test_masked_matches_tensorboard_reader():
    stub = pytest.importorskip(
        "tensorboard.compat.tensorflow_stub.pywrap_tensorflow",
        reason="tensorboard is not installed",
    )
    rng = np.random.default_rng(1)
    for size in (0, 1, 8, 77, 500):
        data = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
        assert masked_crc32c(data) == stub.masked_crc32c(data)
