import pytest

from nerve.utils import protobuf_wire as wire

event_pb2 = pytest.importorskip(
    "tensorboard.compat.proto.event_pb2", reason="tensorboard (with protobuf) parses the messages"
).Event


@pytest.mark.parametrize("value", [0, 1, 127, 128, 300, 2**31, 2**63 - 1, -1, -(2**63)])
def test_varint_round_trips_through_protobuf(value):
    event = event_pb2.FromString(wire.varint_field(2, value))
    assert event.step == value


@pytest.mark.parametrize(
    ("what", "expected"),  # Event's file_version, graph_def and summary are a oneof
    [
        (wire.string_field(3, "brain.Event:2"), ("file_version", "brain.Event:2")),
        (wire.bytes_field(4, b"\x00\x01"), ("graph_def", b"\x00\x01")),
    ],
)
def test_scalar_fields(what, expected):
    event = event_pb2.FromString(wire.double_field(1, 12.25) + wire.varint_field(2, 7) + what)
    assert (event.wall_time, event.step) == (12.25, 7)
    assert getattr(event, expected[0]) == expected[1]


def test_nested_messages():
    value = wire.string_field(1, "tag/ü") + wire.float_field(2, 0.5)
    event = event_pb2.FromString(wire.message_field(5, wire.message_field(1, value)))
    assert event.summary.value[0].tag == "tag/ü"
    assert event.summary.value[0].simple_value == 0.5


def test_packed_doubles():
    histo_pb2 = pytest.importorskip("tensorboard.compat.proto.summary_pb2").HistogramProto
    histo = histo_pb2.FromString(wire.packed_double_field(6, [1.0, 2.5]))
    assert list(histo.bucket_limit) == [1.0, 2.5]


def test_bad_field_number():
    with pytest.raises(ValueError, match="field numbers"):
        wire.varint_field(0, 1)
