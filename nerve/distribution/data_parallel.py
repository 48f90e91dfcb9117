"""``DataParallel`` (Keras 3's name) and ``MultiWorkerMirroredStrategy`` (tf.distribute's).

Both put the trainer's data-parallel hook (``nerve.training.distributed.ReplicaContext``)
on top of a communicator: every process holds the whole model, reads its own part of
the data, and the gradients are averaged over the processes before each update; see
``nerve.training.distributed`` for what ``fit``/``evaluate``/``predict`` do.

Gradients travel in **buckets**: consecutive arrays of one dtype are packed into one flat
buffer of about ``bucket_size_mb`` (one allreduce per bucket instead of one per weight,
which pays the per-message latency once for the many small biases), each scaled by this
rank's factor on the way in (one pass) and by the global factor in place after the
allreduce; the results are views into the buffer. (Packing even a lone large array
costs less than an out-of-place allreduce: MPICH's was 30% slower than a copy plus an
in-place one on 40 MB.) Floating dtypes MPI has no type for (float16, bfloat16) are
summed in float32.

**Overlap** (``overlap=True``, the default): the gradient sum goes into the compiled
training step. ``sum_gradients_in_step`` cuts the gradients into buckets in *reverse*
order (the backward pass produces the last layer's gradients first) and binds, per
bucket, an ``allreduce_start`` node (pack the bucket, scaled by this rank's share of
the rows, into its buffer and start a non-blocking allreduce) and an
``allreduce_wait`` node (wait, and hand out views of the summed buffer). The graph's
scheduling pass moves each start to just after the last gradient of its bucket is
computed and each wait to the end, so a bucket travels while the earlier layers'
gradients are still being computed. ``_GradientChannel`` is what those nodes call; a
rank without rows, or a step run eagerly, calls it directly, in the same order.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from nerve.distribution.communicator import Communicator
from nerve.primitives.collective import allreduce_start_p, allreduce_wait_p
from nerve.primitives.registry import Aval
from nerve.training.distributed import ReplicaContext, replica_scope

__all__ = ["DataParallel", "MultiWorkerMirroredStrategy"]

_NATIVE = ("float32", "float64", "int32", "int64")

#: The overlapped path's first bucket: 1 MiB, PyTorch DDP's choice.
FIRST_BUCKET_BYTES = 2**20


class DataParallel(ReplicaContext):
    """Data parallelism: one replica of the model per process, gradients averaged.

    Args:
        device_mesh: Keras's argument; nerve runs one device per process, so only
            ``None`` or a mesh of one axis whose size is the number of processes.
        devices: Keras's argument; ``None`` or the list ``list_devices()`` returns.
        auto_shard_dataset: split ``PyDataset`` / ``Dataset`` inputs between the
            processes by batch (each reads only its own); turn off when each process
            already passes its own shard. Arrays are always split.
        communicator: the transport; default the one ``initialize()`` made (MPI when
            launched under ``mpirun``, else a single process).
        bucket_size_mb: target size of one gradient allreduce.
        overlap: sum the gradients inside the compiled step, each bucket started as
            soon as the backward pass has produced it (see the module docstring);
            ``False``: sum them all after the step.

    >>> import nerve
    >>> distribution = nerve.distribution.DataParallel()
    >>> distribution.num_replicas, distribution.rank
    (1, 0)
    """

    def __init__(
        self,
        device_mesh: Any = None,
        devices: Sequence[str] | None = None,
        auto_shard_dataset: bool = True,
        communicator: Communicator | None = None,
        bucket_size_mb: float = 25.0,
        overlap: bool = True,
    ):
        if communicator is None:
            from nerve.distribution.api import initialize

            communicator = initialize()
        if not isinstance(communicator, Communicator):
            raise TypeError(
                "DataParallel: communicator must be a nerve.distribution.Communicator; got "
                f"{type(communicator).__name__}."
            )
        self.communicator = communicator
        self.rank = communicator.rank
        self.num_replicas = communicator.size
        self.auto_shard_dataset = bool(auto_shard_dataset)
        if bucket_size_mb <= 0:
            raise ValueError(f"DataParallel: bucket_size_mb must be > 0; got {bucket_size_mb}.")
        self.bucket_bytes = int(bucket_size_mb * 2**20)
        self.overlap = bool(overlap)
        self._channel = _GradientChannel(communicator, self.bucket_bytes)
        _check_layout(device_mesh, devices, self.num_replicas)

    def __repr__(self) -> str:
        return f"DataParallel({self.communicator.name})"

    # -- the hook ---------------------------------------------------------------------------
    def sum(
        self,
        arrays: Sequence[Any],
        scale_in: float = 1.0,
        scale_out: float = 1.0,
        reuse: bool = False,
    ) -> list[Any]:
        arrays = [np.asarray(a) for a in arrays]
        results: list[Any] = [None] * len(arrays)
        for number, bucket in enumerate(_buckets(arrays, self.bucket_bytes)):
            dtype = _wire_dtype(arrays[bucket[0]].dtype)
            sizes = [arrays[k].size for k in bucket]
            total = sum(sizes)
            flat = self._buffer(number, total, dtype) if reuse else np.empty((total,), dtype)
            offset = 0
            for k, size in zip(bucket, sizes):
                target = flat[offset : offset + size]
                if scale_in == 1.0:
                    np.copyto(target, arrays[k].reshape(-1), casting="unsafe")
                else:
                    np.multiply(arrays[k].reshape(-1), scale_in, out=target, casting="unsafe")
                offset += size
            flat = self.communicator.allreduce(flat)
            if scale_out != 1.0:
                np.multiply(flat, scale_out, out=flat, casting="unsafe")
            offset = 0
            for k, size in zip(bucket, sizes):
                view = flat[offset : offset + size].reshape(arrays[k].shape)
                results[k] = view if view.dtype == arrays[k].dtype else view.astype(arrays[k].dtype)
                offset += size
        return results

    def _buffer(self, number: int, size: int, dtype: Any) -> Any:
        return _kept_buffer(self.__dict__.setdefault("_buffers", {}), number, size, dtype)

    def sum_gradients(self, arrays: Sequence[Any], scale_in: float) -> list[Any]:
        if not self.overlap:
            return super().sum_gradients(arrays, scale_in)
        return self._channel.sum_now([np.asarray(a) for a in arrays], scale_in)

    def sum_gradients_in_step(self, grads: list) -> list | None:
        if not self.overlap:
            return None
        channel = self._channel
        buckets = channel.layout([(math.prod(g.shape), g.dtype) for g in grads])
        tokens = [
            allreduce_start_p.bind(*(grads[k] for k in bucket), channel=channel, bucket=n)
            for n, bucket in enumerate(buckets)
        ]
        summed: list[Any] = list(grads)
        for n, (bucket, token) in enumerate(zip(buckets, tokens)):
            avals = tuple(Aval(tuple(grads[k].shape), grads[k].dtype) for k in bucket)
            outputs = allreduce_wait_p.bind(token, channel=channel, bucket=n, avals=avals)
            for k, output in zip(bucket, outputs):
                summed[k] = output
        return summed

    def set_gradient_scale(self, scale: float) -> None:
        self._channel.scale_in = float(scale)

    def broadcast(self, arrays: Sequence[Any]) -> list[Any]:
        return [self.communicator.broadcast(np.array(a), root=0) for a in arrays]

    def gather(self, array: Any) -> list[Any]:
        return self.communicator.allgather(np.asarray(array))

    def report_failure(self, error: BaseException) -> None:
        self.communicator.notify_failure(f"{type(error).__name__}: {error}")

    # -- Keras's Distribution API -------------------------------------------------------------
    @contextlib.contextmanager
    def scope(self) -> Iterator[DataParallel]:
        """Make this the distribution inside a ``with`` block (a model compiled inside
        keeps it for ``fit`` called later)."""
        with replica_scope(self):
            yield self

    def distribute_dataset(self, dataset: Any) -> Any:
        """This process's shard of a ``nerve.data.Dataset`` of batches (every
        ``num_replicas``-th batch), as ``fit`` takes it when ``auto_shard_dataset``."""
        if self.num_replicas == 1:
            return dataset
        return dataset.shard(self.num_replicas, self.rank)


class MultiWorkerMirroredStrategy:
    """tf.distribute's name for synchronous data parallelism across processes; a thin
    front for ``DataParallel``. Build and compile the model inside ``strategy.scope()``;
    ``fit`` then trains it data-parallel wherever it is called.

    Args:
        cluster_resolver: TensorFlow's argument; the MPI launcher resolves the cluster,
            so it must be ``None``.
        communication_options: TensorFlow's argument; accepted and unused.
        communicator: as ``DataParallel``'s.

    >>> import nerve
    >>> strategy = nerve.distribution.MultiWorkerMirroredStrategy()
    >>> with strategy.scope():
    ...     pass
    >>> strategy.num_replicas_in_sync
    1
    """

    def __init__(
        self,
        cluster_resolver: Any = None,
        communication_options: Any = None,
        communicator: Communicator | None = None,
    ):
        if cluster_resolver is not None:
            raise ValueError(
                "MultiWorkerMirroredStrategy: cluster_resolver is not supported; launch the "
                "processes with mpirun -n N (or set NERVE_* variables) instead."
            )
        self.distribution = DataParallel(communicator=communicator)

    @property
    def num_replicas_in_sync(self) -> int:
        """The number of processes training together."""
        return self.distribution.num_replicas

    @contextlib.contextmanager
    def scope(self) -> Iterator[MultiWorkerMirroredStrategy]:
        """Models compiled inside train data-parallel."""
        with self.distribution.scope():
            yield self


class _GradientChannel:
    """Sums buckets of gradients over a communicator without blocking: what the
    ``allreduce_start`` / ``allreduce_wait`` nodes of a compiled step call
    (``nerve.primitives.collective.CollectiveChannel``).

    ``start`` packs a bucket's arrays, each times ``scale_in``, into the bucket's flat
    buffer (kept from step to step) and starts its allreduce; ``wait`` returns views of
    the summed buffer in the arrays' shapes (cast back where the wire dtype differs),
    valid until that bucket's next start.
    """

    def __init__(self, communicator: Communicator, bucket_bytes: int):
        self.communicator = communicator
        self.bucket_bytes = bucket_bytes
        self.scale_in = 1.0
        self._buffers: dict[int, Any] = {}
        self._pending: dict[int, tuple] = {}  # bucket -> (handle, shapes, dtypes)

    def __repr__(self) -> str:
        # Shown in a graph's text form, which must not depend on object addresses.
        return "gradient_channel"

    def layout(self, specs: Sequence[tuple[int, Any]]) -> list[list[int]]:
        """Buckets of indices into ``specs`` (``(size, dtype)`` per gradient), in the
        order the backward pass produces gradients: the last one first."""
        last = len(specs) - 1
        reversed_specs = [_Spec(*specs[last - k]) for k in range(len(specs))]
        # The first bucket is small (as in PyTorch's DDP) so that its allreduce starts
        # while the backward pass still has most of its work ahead; with one large
        # bucket, a small model's sum would start only after the last gradient.
        first = FIRST_BUCKET_BYTES if self.bucket_bytes > FIRST_BUCKET_BYTES else None
        buckets = _buckets(reversed_specs, self.bucket_bytes, first_bytes=first)
        return [[last - k for k in bucket] for bucket in buckets]

    def start(self, bucket: int, *arrays: Any) -> Any:
        arrays = tuple(np.asarray(a) for a in arrays)
        dtype = _wire_dtype(arrays[0].dtype)
        sizes = [a.size for a in arrays]
        flat = _kept_buffer(self._buffers, bucket, sum(sizes), dtype)
        offset = 0
        for array, size in zip(arrays, sizes):
            target = flat[offset : offset + size]
            if self.scale_in == 1.0:
                np.copyto(target, array.reshape(-1), casting="unsafe")
            else:
                np.multiply(array.reshape(-1), self.scale_in, out=target, casting="unsafe")
            offset += size
        handle = self.communicator.allreduce_start(flat)
        self._pending[bucket] = (handle, [a.shape for a in arrays], [a.dtype for a in arrays])
        return np.array(bucket, dtype="int64")

    def wait(self, bucket: int, token: Any = None) -> tuple:
        handle, shapes, dtypes = self._pending.pop(bucket)
        flat = self.communicator.allreduce_wait(handle)
        results, offset = [], 0
        for shape, dtype in zip(shapes, dtypes):
            size = math.prod(shape)
            view = flat[offset : offset + size].reshape(shape)
            results.append(view if view.dtype == dtype else view.astype(dtype))
            offset += size
        return tuple(results)

    def sum_now(self, arrays: list, scale_in: float) -> list:
        """The sum the compiled step would make, made here (the same collectives in the
        same order): for a rank without rows, or a step run eagerly."""
        self.scale_in = float(scale_in)
        buckets = self.layout([(a.size, a.dtype) for a in arrays])
        for n, bucket in enumerate(buckets):
            self.start(n, *(arrays[k] for k in bucket))
        summed: list[Any] = list(arrays)
        for n, bucket in enumerate(buckets):
            for k, result in zip(bucket, self.wait(n)):
                summed[k] = result
        return summed


class _Spec:
    """What bucketing reads of an array: its size and dtype."""

    __slots__ = ("dtype", "size")

    def __init__(self, size: int, dtype: Any):
        self.size = int(size)
        self.dtype = dtype if isinstance(dtype, str) else np.dtype(dtype).name


def _kept_buffer(buffers: dict, number: int, size: int, dtype: Any) -> Any:
    """Bucket ``number``'s flat buffer, kept from the last call when it fits: a fresh
    one per step costs the page faults of touching new memory (7 ms for 40 MB here)."""
    buffer = buffers.get(number)
    if buffer is None or buffer.size != size or buffer.dtype != dtype:
        buffer = buffers[number] = np.empty((size,), dtype)
    return buffer


def _wire_dtype(dtype: Any) -> Any:
    """The dtype a bucket is summed in: the array's own where MPI has it, else float32
    (half-precision floats, 16-bit integers) or int64. ``dtype``: a NumPy dtype or a
    dtype name (a traced gradient's, e.g. ``"bfloat16"``)."""
    name = dtype if isinstance(dtype, str) else np.dtype(dtype).name
    if name in _NATIVE:
        return np.dtype(name)
    return np.dtype("float32") if "float" in name or name.endswith("int16") else np.dtype("int64")


def _buckets(arrays: list, bucket_bytes: int, first_bytes: int | None = None) -> list[list[int]]:
    """Indices of ``arrays`` grouped in order: a bucket holds one wire dtype and closes
    once it reaches ``bucket_bytes`` (an array larger than that is a bucket alone). With
    ``first_bytes``, the first bucket closes before an array would take it past that.

    >>> specs = [np.zeros(n, "float32") for n in (10, 100_000, 400_000)]
    >>> _buckets(specs, 2**20), _buckets(specs, 2**20, first_bytes=2**19)
    ([[0, 1, 2]], [[0, 1], [2]])
    """
    buckets: list[list[int]] = []
    current: list[int] = []
    size = 0
    dtype = None
    for k, array in enumerate(arrays):
        wire = _wire_dtype(array.dtype)
        nbytes = array.size * wire.itemsize
        first_full = first_bytes is not None and not buckets and size + nbytes > first_bytes
        if current and (wire != dtype or size >= bucket_bytes or first_full):
            buckets.append(current)
            current, size = [], 0
        current.append(k)
        dtype = wire
        size += nbytes
    if current:
        buckets.append(current)
    return buckets


def _check_layout(device_mesh: Any, devices: Sequence[str] | None, size: int) -> None:
    if devices is not None and len(list(devices)) != size:
        raise ValueError(
            f"DataParallel: nerve runs one device per process; got {len(list(devices))} "
            f"devices for {size} process(es). Pass devices=None or "
            "nerve.distribution.list_devices()."
        )
    if device_mesh is not None:
        shape = tuple(getattr(device_mesh, "shape", ()) or ())
        if len(shape) != 1 or shape[0] != size:
            raise ValueError(
                f"DataParallel: device_mesh must have one axis of size {size} (one device "
                f"per process); got shape {shape}."
            )
