"""Write TensorBoard event files: ``SummaryWriter`` (what ``nerve.callbacks.TensorBoard``
uses), with no dependency on TensorFlow or ``protobuf``.

An event file is a sequence of TFRecords, each ``uint64`` length (little-endian), the
masked CRC-32C of those 8 bytes, the payload, and the masked CRC-32C of the payload.
Each payload is a ``tensorboard.Event`` message (``event.proto``), hand-encoded by
``nerve.utils.protobuf_wire``; the first one carries ``file_version = "brain.Event:2"``.
Summaries are written in TensorFlow 2's form, which TensorBoard reads directly:

- a scalar is a ``Summary.Value`` whose ``tensor`` is a float32 scalar, with
  ``metadata.plugin_data.plugin_name = "scalars"``;
- a histogram is a float64 tensor of shape ``[buckets, 3]`` (left edge, right edge,
  count; buckets closed-open but the last closed) with plugin name ``"histograms"``;
- an image is a classic ``Summary.Image`` (PNG bytes), which TensorBoard's image
  plugin reads;
- a graph is ``Event.graph_def``: a serialized ``GraphDef``, one ``NodeDef`` per node.

>>> import os, tempfile
>>> from nerve.utils.summary_writer import SummaryWriter
>>> writer = SummaryWriter(tempfile.mkdtemp())
>>> writer.scalar("loss", 0.5, step=0)
>>> writer.close()
>>> os.path.basename(writer.path).startswith("events.out.tfevents.")
True
"""

from __future__ import annotations

import itertools
import os
import socket
import struct
import time
import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from nerve.utils import protobuf_wire as wire
from nerve.utils.crc32c import masked_crc32c

__all__ = ["SummaryWriter", "encode_graph_def", "encode_png", "histogram_buckets"]

FILE_VERSION = "brain.Event:2"
DEFAULT_BUCKET_COUNT = 30

# Field numbers, from tensorboard/compat/proto/{event,summary,tensor,tensor_shape,
# graph,node_def,versions,attr_value,types}.proto.
_EVENT_WALL_TIME, _EVENT_STEP, _EVENT_FILE_VERSION, _EVENT_GRAPH_DEF, _EVENT_SUMMARY = 1, 2, 3, 4, 5
_SUMMARY_VALUE = 1
_VALUE_TAG, _VALUE_IMAGE, _VALUE_TENSOR, _VALUE_METADATA = 1, 4, 8, 9
_METADATA_PLUGIN_DATA, _METADATA_DATA_CLASS = 1, 4
_PLUGIN_NAME = 1
_DATA_CLASS_SCALAR, _DATA_CLASS_TENSOR = 1, 2
_TENSOR_DTYPE, _TENSOR_SHAPE, _TENSOR_CONTENT, _TENSOR_FLOAT_VAL = 1, 2, 4, 5
_SHAPE_DIM, _DIM_SIZE = 2, 1
_DT_FLOAT, _DT_DOUBLE = 1, 2
_IMAGE_HEIGHT, _IMAGE_WIDTH, _IMAGE_COLORSPACE, _IMAGE_ENCODED = 1, 2, 3, 4
_GRAPH_NODE, _GRAPH_VERSIONS = 1, 4
_NODE_NAME, _NODE_OP, _NODE_INPUT, _NODE_ATTR = 1, 2, 3, 5
_ATTR_ENTRY_KEY, _ATTR_ENTRY_VALUE = 1, 2
_ATTR_VALUE_S, _ATTR_VALUE_SHAPE = 2, 7
_VERSION_PRODUCER = 1

# TensorFlow numbers event files within a process so that two writers opened in the
# same second on one folder get distinct names.
_FILE_COUNTER = itertools.count(1)


def _record(payload: bytes) -> bytes:
    """One TFRecord: length, its masked CRC, the payload, the payload's masked CRC."""
    length = struct.pack("<Q", len(payload))
    return (
        length
        + struct.pack("<I", masked_crc32c(length))
        + payload
        + struct.pack("<I", masked_crc32c(payload))
    )


def _shape(dims: Sequence[int]) -> bytes:
    return b"".join(wire.message_field(_SHAPE_DIM, wire.varint_field(_DIM_SIZE, d)) for d in dims)


def _metadata(plugin_name: str, data_class: int) -> bytes:
    plugin = wire.string_field(_PLUGIN_NAME, plugin_name)
    return wire.message_field(_METADATA_PLUGIN_DATA, plugin) + wire.varint_field(
        _METADATA_DATA_CLASS, data_class
    )


def histogram_buckets(values: Any, bucket_count: int = DEFAULT_BUCKET_COUNT) -> np.ndarray:
    """``values`` counted into ``bucket_count`` equal buckets between their min and max,
    as a ``[bucket_count, 3]`` float64 array of (left edge, right edge, count), the
    layout TensorBoard's histogram plugin reads. Constant data puts every count in the
    last bucket, with all edges at that value; no data gives all zeros.

    >>> histogram_buckets([0.0, 1.0, 1.0, 2.0], bucket_count=2)[:, 2].tolist()
    [1.0, 3.0]
    """
    data = np.asarray(values, dtype=np.float64).ravel()
    if bucket_count < 1:
        raise ValueError(f"histogram_buckets: bucket_count must be >= 1, got {bucket_count}.")
    if data.size == 0:
        return np.zeros((bucket_count, 3))
    low, high = float(data.min()), float(data.max())
    if low == high:
        counts = np.zeros(bucket_count)
        counts[-1] = data.size
        edges = np.full(bucket_count, low)
        return np.stack([edges, edges, counts], axis=1)
    edges = np.linspace(low, high, bucket_count + 1)
    # np.histogram's buckets are closed-open except the last, as TensorBoard's are.
    counts, _ = np.histogram(data, bins=edges)
    return np.stack([edges[:-1], edges[1:], counts.astype(np.float64)], axis=1)


def encode_png(pixels: np.ndarray) -> bytes:
    """A ``uint8`` array of shape ``(height, width)`` or ``(height, width, 1|3|4)`` as PNG
    bytes (8-bit grey, RGB or RGBA; no filtering, zlib-compressed).

    >>> encode_png(np.zeros((2, 3), np.uint8))[:8]
    b'\\x89PNG\\r\\n\\x1a\\n'
    """
    array = np.asarray(pixels)
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in (1, 3, 4) or array.dtype != np.uint8:
        raise ValueError(
            "encode_png expects uint8 pixels of shape (height, width) or (height, width, "
            f"1|3|4), got {array.dtype} of shape {array.shape}."
        )
    height, width, channels = array.shape
    color_type = {1: 0, 3: 2, 4: 6}[channels]
    rows = np.concatenate(
        [np.zeros((height, 1), np.uint8), array.reshape(height, width * channels)], axis=1
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows.tobytes()))
        + chunk(b"IEND", b"")
    )


def encode_graph_def(nodes: Sequence[dict]) -> bytes:
    """A serialized ``GraphDef``: one ``NodeDef`` per ``{"name", "op", "inputs", "attrs"}``
    (``attrs``: string values, or a ``shape`` list where ``None`` is an unknown size).

    >>> len(encode_graph_def([{"name": "x", "op": "InputLayer"}])) > 0
    True
    """
    encoded = []
    for node in nodes:
        fields = [
            wire.string_field(_NODE_NAME, node["name"]),
            wire.string_field(_NODE_OP, node["op"]),
        ]
        fields += [wire.string_field(_NODE_INPUT, name) for name in node.get("inputs", ())]
        for key, value in sorted(node.get("attrs", {}).items()):
            if isinstance(value, str):
                attr = wire.bytes_field(_ATTR_VALUE_S, value.encode("utf-8"))
            else:  # a shape; -1 is TensorFlow's unknown dimension
                dims = [-1 if d is None else int(d) for d in value]
                attr = wire.message_field(_ATTR_VALUE_SHAPE, _shape(dims))
            entry = wire.string_field(_ATTR_ENTRY_KEY, key) + wire.message_field(
                _ATTR_ENTRY_VALUE, attr
            )
            fields.append(wire.message_field(_NODE_ATTR, entry))
        encoded.append(wire.message_field(_GRAPH_NODE, b"".join(fields)))
    versions = wire.message_field(_GRAPH_VERSIONS, wire.varint_field(_VERSION_PRODUCER, 1))
    return b"".join(encoded) + versions


class SummaryWriter:
    """Appends events to a new event file in ``log_dir`` (created if missing).

    The file is named ``events.out.tfevents.<seconds>.<host>.<pid>.<n>.v2`` and opened in
    exclusive-create mode, so a writer never overwrites an existing file. Records are
    buffered; ``flush()`` pushes them to the operating system, ``close()`` ends the file.
    """

    def __init__(self, log_dir: str | os.PathLike) -> None:
        self.log_dir = os.fspath(log_dir)
        os.makedirs(self.log_dir, exist_ok=True)
        name = (
            f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}."
            f"{os.getpid()}.{next(_FILE_COUNTER)}.v2"
        )
        self.path = os.path.join(self.log_dir, name)
        # Kept open for the writer's life; closed by close().
        self._file: Any = open(self.path, "xb")  # noqa: SIM115
        self._write_event(wire.string_field(_EVENT_FILE_VERSION, FILE_VERSION))
        self.flush()

    @property
    def closed(self) -> bool:
        return self._file is None

    def _write_event(self, fields: bytes, step: int | None = None) -> None:
        if self._file is None:
            raise ValueError(f"SummaryWriter for {self.log_dir!r} is closed.")
        event = wire.double_field(_EVENT_WALL_TIME, time.time())
        if step is not None:
            event += wire.varint_field(_EVENT_STEP, int(step))
        self._file.write(_record(event + fields))

    def _write_value(self, tag: str, value_fields: bytes, step: int) -> None:
        value = wire.string_field(_VALUE_TAG, tag) + value_fields
        summary = wire.message_field(_SUMMARY_VALUE, value)
        self._write_event(wire.message_field(_EVENT_SUMMARY, summary), step)

    def scalar(self, tag: str, value: float, step: int) -> None:
        """A scalar (stored as float32, as ``tf.summary.scalar`` does) at ``step``."""
        tensor = (
            wire.varint_field(_TENSOR_DTYPE, _DT_FLOAT)
            + wire.message_field(_TENSOR_SHAPE, b"")
            + wire.float_field(_TENSOR_FLOAT_VAL, float(value))
        )
        fields = wire.message_field(
            _VALUE_METADATA, _metadata("scalars", _DATA_CLASS_SCALAR)
        ) + wire.message_field(_VALUE_TENSOR, tensor)
        self._write_value(tag, fields, step)

    def histogram(
        self, tag: str, values: Any, step: int, buckets: int = DEFAULT_BUCKET_COUNT
    ) -> None:
        """A histogram of ``values`` (see ``histogram_buckets``) at ``step``."""
        table = histogram_buckets(values, buckets)
        tensor = (
            wire.varint_field(_TENSOR_DTYPE, _DT_DOUBLE)
            + wire.message_field(_TENSOR_SHAPE, _shape(table.shape))
            + wire.bytes_field(_TENSOR_CONTENT, table.astype("<f8").tobytes())
        )
        fields = wire.message_field(
            _VALUE_METADATA, _metadata("histograms", _DATA_CLASS_TENSOR)
        ) + wire.message_field(_VALUE_TENSOR, tensor)
        self._write_value(tag, fields, step)

    def image(self, tag: str, pixels: np.ndarray, step: int) -> None:
        """A ``uint8`` image of shape ``(height, width[, channels])`` at ``step``."""
        array = np.asarray(pixels)
        channels = array.shape[2] if array.ndim == 3 else 1
        image = (
            wire.varint_field(_IMAGE_HEIGHT, array.shape[0])
            + wire.varint_field(_IMAGE_WIDTH, array.shape[1])
            + wire.varint_field(_IMAGE_COLORSPACE, channels)
            + wire.bytes_field(_IMAGE_ENCODED, encode_png(array))
        )
        self._write_value(tag, wire.message_field(_VALUE_IMAGE, image), step)

    def graph(self, graph_def: bytes) -> None:
        """A serialized ``GraphDef`` (see ``encode_graph_def``)."""
        self._write_event(wire.bytes_field(_EVENT_GRAPH_DEF, graph_def), step=0)

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
