"""A tiny Protocol Buffers wire-format encoder: enough to write TensorBoard's ``Event``
messages without depending on ``protobuf`` at run time.

Each function returns the encoded bytes of one field (its key, then its value); a
message is the concatenation of its fields, and a nested message is a
``message_field`` of those bytes. Field numbers come from the caller, which names
the ``.proto`` it follows.

>>> string_field(1, "ab").hex()
'0a026162'
>>> varint_field(2, 300).hex()
'10ac02'
>>> varint_field(2, -1).hex()  # int64 -1: ten bytes of two's complement
'10ffffffffffffffffff01'
"""

from __future__ import annotations

import struct

__all__ = [
    "bytes_field",
    "double_field",
    "encode_varint",
    "float_field",
    "message_field",
    "packed_double_field",
    "string_field",
    "varint_field",
]

# Wire types (the low three bits of a field's key).
_VARINT = 0
_FIXED64 = 1
_LENGTH_DELIMITED = 2
_FIXED32 = 5


def encode_varint(value: int) -> bytes:
    """``value`` as a base-128 varint; negative values as 64-bit two's complement."""
    if value < 0:
        value += 1 << 64
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _key(field_number: int, wire_type: int) -> bytes:
    if field_number < 1:
        raise ValueError(f"protobuf field numbers start at 1, got {field_number}.")
    return encode_varint(field_number << 3 | wire_type)


def varint_field(field_number: int, value: int) -> bytes:
    """An ``int32``/``int64``/``uint*``/``bool``/enum field."""
    return _key(field_number, _VARINT) + encode_varint(int(value))


def double_field(field_number: int, value: float) -> bytes:
    """A ``double`` field (8 bytes, little-endian)."""
    return _key(field_number, _FIXED64) + struct.pack("<d", value)


def float_field(field_number: int, value: float) -> bytes:
    """A ``float`` field (4 bytes, little-endian)."""
    return _key(field_number, _FIXED32) + struct.pack("<f", value)


def bytes_field(field_number: int, value: bytes) -> bytes:
    """A ``bytes`` field: length, then the bytes."""
    return _key(field_number, _LENGTH_DELIMITED) + encode_varint(len(value)) + bytes(value)


def string_field(field_number: int, value: str) -> bytes:
    """A ``string`` field (UTF-8)."""
    return bytes_field(field_number, value.encode("utf-8"))


def message_field(field_number: int, encoded: bytes) -> bytes:
    """An embedded message, given its encoded fields."""
    return bytes_field(field_number, encoded)


def packed_double_field(field_number: int, values: list[float]) -> bytes:
    """A packed ``repeated double`` field."""
    return bytes_field(field_number, struct.pack(f"<{len(values)}d", *values))
