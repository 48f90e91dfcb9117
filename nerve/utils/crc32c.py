"""CRC-32C (Castagnoli), the checksum TFRecord files (TensorBoard event files) use.

Table-driven, one byte at a time, on the reflected polynomial ``0x82F63B78``. The
``masked`` form is the one TFRecord stores: rotated right by 15 bits plus a constant,
so that a checksum of data that itself holds checksums stays well mixed.

>>> hex(crc32c(b"123456789"))
'0xe3069283'
>>> hex(masked_crc32c(b""))
'0xa282ead8'
"""

from __future__ import annotations

__all__ = ["crc32c", "masked_crc32c"]

_POLYNOMIAL = 0x82F63B78
_MASK_DELTA = 0xA282EAD8


def _make_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ _POLYNOMIAL if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_TABLE = _make_table()


def crc32c(data: bytes, crc: int = 0) -> int:
    """The CRC-32C of ``data``, continuing from ``crc`` (the value for earlier data).

    >>> crc32c(b"6789", crc32c(b"12345")) == crc32c(b"123456789")
    True
    """
    crc ^= 0xFFFFFFFF
    table = _TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    """The CRC-32C of ``data`` masked as TFRecord framing stores it.

    >>> masked_crc32c(b"abc") != crc32c(b"abc")
    True
    """
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF
