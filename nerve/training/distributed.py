"""The trainer's side of data parallelism: the ``ReplicaContext`` hook and the protocol
``fit`` / ``evaluate`` / ``predict`` follow when one is active.

The trainer knows nothing of MPI. It asks the active ``ReplicaContext`` (set by
``nerve.distribution.set_distribution`` or a distribution's ``scope()``; ``None`` means
one process, and then nothing here runs) for four things: its ``rank`` and
``num_replicas``, elementwise ``sum`` of host arrays over the replicas, ``broadcast``
from rank 0, and ``gather`` of one array from every replica; and, optionally, to put
the gradient sum into the compiled step (``sum_gradients_in_step``), so that it
overlaps the backward pass. ``nerve.distribution``
implements the hook over a communicator (MPI, or a single process).

What a data-parallel ``fit`` does with it (``DataParallelRun``):

* **start** — after ``on_train_begin`` (where ``BackupAndRestore`` restores its backup
  on rank 0), every model, optimizer and metric variable and the data position (epoch,
  step, shuffle seed) are broadcast from rank 0: all replicas start, or resume, from
  the same state;
* **shards** — arrays: each global batch of ``batch_size`` rows is cut into
  ``num_replicas`` contiguous parts, one per rank (``numpy.array_split``); a
  ``PyDataset`` or ``Dataset`` of batches: rank ``r`` reads batches ``r``,
  ``r + n``, ... only, so one global step is ``n`` of its batches; generators are
  taken to be per-rank already;
* **one step** — (1) a two-number sum: rows on this rank, and rank 0's
  ``stop_training``; the epoch ends when no rank has rows left (so ranks may run out at
  different steps); (2) the compiled step runs on the local rows with
  ``Optimizer.apply`` collecting the gradients instead of applying them
  (``Optimizer.collect_gradients``); (3) the gradients are summed, each rank's weighted
  by its share of the global rows — the mean over the global batch, so the update
  equals a single process training on the whole global batch; a rank without rows adds
  zeros. A hook that can (``sum_gradients_in_step``) puts this sum into the compiled
  step itself, as start/wait pairs of collective nodes the executor runs while the
  rest of the backward pass computes; otherwise it runs after the step
  (``sum_gradients``); (4) the metric states are summed (see logs); (5) the optimizer
  applies the mean as a second compiled function;
* **logs** — what each replica added to its metric states (sums and counts) is summed
  and put back into every replica's metric variables, so all hold the global state:
  batch and epoch logs equal the single-process metrics, and rank 0's backups hold
  them. Callbacks (progress bar, checkpoints, CSV logs, backups, early stopping) run on
  rank 0 only, which broadcasts ``stop_training`` every step, the learning rate and
  the metric states every epoch, and its weights at the end
  (``restore_best_weights``);
* **faults** — an exception on any rank is reported to the others before it propagates
  (``ReplicaContext.report_failure``): they raise ``ReplicaFailedError`` naming the rank
  and the error instead of waiting forever in the next collective.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import math
from collections.abc import Iterator, Sequence
from typing import Any

# Host side: gradients and metric states cross process boundaries as NumPy arrays.
import numpy as np

from nerve.core import tree
from nerve.graph.function import function as compile_function

__all__ = [
    "CollectiveTimeoutError",
    "DataParallelRun",
    "ReplicaContext",
    "ReplicaError",
    "ReplicaFailedError",
    "num_rows",
    "replica_context",
    "replica_scope",
    "set_replica_context",
    "shard_count",
    "split_rows",
]


class ReplicaError(RuntimeError):
    """Another replica of a data-parallel run failed or stopped answering."""


class ReplicaFailedError(ReplicaError):
    """Another replica raised; the message names its rank and its error."""


class CollectiveTimeoutError(ReplicaError):
    """A collective did not complete in time; the message names the ranks that did not
    reach it."""


class ReplicaContext:
    """The hook a data-parallel run gives the trainer: this process's place among the
    replicas and the collectives the training loop needs. This base class is the
    single-process case (one replica; sums and gathers of one).

    >>> import numpy as np
    >>> context = ReplicaContext()
    >>> context.rank, context.num_replicas
    (0, 1)
    >>> context.sum([np.array([1.0, 2.0])], scale_in=3.0, scale_out=0.5)[0].tolist()
    [1.5, 3.0]
    """

    rank: int = 0
    num_replicas: int = 1
    #: Whether ``PyDataset`` and ``Dataset`` inputs are split into per-rank shards.
    auto_shard_dataset: bool = True

    @property
    def is_chief(self) -> bool:
        """Rank 0: the replica that runs callbacks and writes files."""
        return self.rank == 0

    def sum(
        self,
        arrays: Sequence[Any],
        scale_in: float = 1.0,
        scale_out: float = 1.0,
        reuse: bool = False,
    ) -> list[Any]:
        """``scale_out * sum over replicas of (scale_in * array)``, elementwise, for each
        array (``scale_in`` is this replica's own factor). The inputs are not changed.
        With ``reuse`` the results may live in buffers the next ``reuse`` call
        overwrites (the trainer uses them at once: each step's gradients)."""
        factor = float(scale_in) * float(scale_out)
        return [np.asarray(a) * np.asarray(factor, dtype=np.asarray(a).dtype) for a in arrays]

    def sum_gradients(self, arrays: Sequence[Any], scale_in: float) -> list[Any]:
        """The gradient sum after a step (``sum`` of the arrays, each scaled by
        ``scale_in``, into reused buffers): for a step whose gradients were not summed
        inside it, or a replica without rows (which passes zeros)."""
        return self.sum(arrays, scale_in=scale_in, reuse=True)

    def sum_gradients_in_step(self, grads: list) -> list | None:
        """Called while the compiled step is traced, with its gradients (traced
        tensors): the same gradients summed over the replicas inside the step, each
        replica's scaled by the factor ``set_gradient_scale`` gave it for that step; or
        ``None`` (this base class), and the trainer calls ``sum_gradients`` after the
        step. Whatever a hook does here, every replica must issue the same collectives
        in the same order as ``sum_gradients`` does for a replica without rows."""
        return None

    def set_gradient_scale(self, scale: float) -> None:
        """This replica's factor for the next in-step gradient sum (its share of the
        global batch's rows)."""

    def broadcast(self, arrays: Sequence[Any]) -> list[Any]:
        """Rank 0's arrays, on every replica (each passes arrays of the same shapes and
        dtypes)."""
        return [np.array(a) for a in arrays]

    def gather(self, array: Any) -> list[Any]:
        """One array from every replica, in rank order (first dimensions may differ)."""
        return [np.asarray(array)]

    def report_failure(self, error: BaseException) -> None:
        """Tell the other replicas that this one failed with ``error`` (best effort,
        bounded in time), before the error propagates here."""


_global: ReplicaContext | None = None
_scoped: contextvars.ContextVar[ReplicaContext | None] = contextvars.ContextVar(
    "nerve_replica_context", default=None
)


def set_replica_context(context: ReplicaContext | None) -> None:
    """Make ``context`` the process-wide data-parallel hook (``None``: one process)."""
    global _global
    if context is not None and not isinstance(context, ReplicaContext):
        raise TypeError(
            f"Expected a ReplicaContext (e.g. nerve.distribution.DataParallel) or None; "
            f"received {type(context).__name__}."
        )
    _global = context


def replica_context() -> ReplicaContext | None:
    """The active hook: the innermost ``replica_scope``, else the process-wide one.

    >>> replica_context() is None
    True
    """
    scoped = _scoped.get()
    return scoped if scoped is not None else _global


@contextlib.contextmanager
def replica_scope(context: ReplicaContext) -> Iterator[ReplicaContext]:
    """Make ``context`` the active hook inside a ``with`` block."""
    token = _scoped.set(context)
    try:
        yield context
    finally:
        _scoped.reset(token)


# -- the protocol -------------------------------------------------------------------------


def num_rows(data: Any) -> int:
    """The rows of a batch (its first leaf's first dimension; 0 for ``None``).

    >>> num_rows((np.zeros((3, 2)), np.zeros(3)))
    3
    """
    for leaf in tree.flatten(data)[0]:
        if leaf is not None and getattr(leaf, "ndim", 0) > 0:
            return int(leaf.shape[0])
    return 0


def _host(value: Any) -> Any:
    return np.asarray(value.numpy() if hasattr(value, "numpy") else value)


class DataParallelRun:
    """One data-parallel ``fit``/``evaluate``/``predict`` call of ``model`` under
    ``context`` (see the module docstring). The trainer creates it and calls it at the
    points named by its methods."""

    def __init__(self, model: Any, context: ReplicaContext):
        self.model = model
        self.context = context
        self._metrics_agreed = False
        self._metric_length = 0
        self._shared_metrics: Any = None  # the metric state all replicas hold
        self._logs: dict | None = None
        self._variables: list | None = None  # what Optimizer.apply was given (collected)
        self._logs_function: Any = None
        self._logs_order: list = []

    # -- start, end ---------------------------------------------------------------------
    def shard(self, adapter: Any) -> Any:
        """This replica's part of the data (``DataAdapter.shard``); streams of batches
        only when ``auto_shard_dataset`` is on."""
        if getattr(adapter, "is_stream", False) and not self.context.auto_shard_dataset:
            return adapter
        return adapter.shard(self.context.rank, self.context.num_replicas)

    def check_built(self, method: str) -> None:
        model = self.model
        if not getattr(model, "built", True) or not model.variables:
            raise ValueError(
                f"Data-parallel {method}() needs a built model, so that every replica can "
                f"start from rank 0's weights. Model {getattr(model, 'name', model)!r} is "
                "unbuilt: give it an Input, call model.build(input_shape), or call it on a "
                "batch of data first."
            )

    def _state_variables(self) -> list:
        model = self.model
        found, seen = [], set()
        optimizer_variables = [] if model.optimizer is None else model.optimizer.variables
        for variable in [*model.variables, *optimizer_variables]:
            if id(variable) not in seen:
                seen.add(id(variable))
                found.append(variable)
        return found

    def broadcast_variables(self, variables: Sequence[Any] | None = None) -> None:
        """Give every replica rank 0's values of ``variables`` (default: the model's and
        the optimizer's)."""
        variables = self._state_variables() if variables is None else list(variables)
        values = self.context.broadcast([_host(v) for v in variables])
        for variable, value in zip(variables, values):
            variable.assign(value)

    def start(self, resume: tuple[int | None, int], seed: int, initial_epoch: int) -> tuple:
        """After ``on_train_begin``: rank 0's weights and position on every replica.
        Returns ``(resume_epoch or None, resume_step, seed, initial_epoch)``."""
        self.broadcast_variables()
        epoch, step = resume
        position = np.array(
            [-1 if epoch is None else epoch, step, seed, initial_epoch], dtype="int64"
        )
        epoch, step, seed, initial_epoch = (int(v) for v in self.context.broadcast([position])[0])
        return (None if epoch < 0 else epoch), step, seed, initial_epoch

    def broadcast_flag(self, value: bool) -> bool:
        """Rank 0's ``value`` (e.g. ``stop_training`` set by a callback)."""
        mine = 1.0 if (value and self.context.is_chief) else 0.0
        return bool(self.context.sum([np.array([mine])])[0][0] > 0)

    # -- metrics --------------------------------------------------------------------------
    def _metric_variables(self) -> list:
        return list(self.model.metrics_variables)

    def mark_metrics(self) -> None:
        """Record the metric state every replica shares (after a reset, or rank 0's
        restored backup): what each replica adds from here on is summed."""
        variables = self._metric_variables()
        self._shared_metrics = _flat(variables) if variables else None
        self._logs = None

    def sum_metrics(self) -> Any:
        """Sum what every replica added to its metric states since they were last shared
        (float64: counts stay exact) and give every replica the result, in its metric
        variables: so all hold the global state (and so does rank 0's backup). A replica
        whose metrics are not built yet (it had no rows) adds zeros."""
        variables = self._metric_variables()
        if not self._metrics_agreed:
            length = sum(math.prod(tuple(v.shape)) for v in variables)
            agreed = self.context.sum([np.array([length, length > 0, length**2], "float64")])[0]
            total, built, squares = (float(v) for v in agreed)
            if built == 0:
                self._metric_length = 0
                return []
            size = total / built
            if size != int(size) or squares != built * size * size:
                raise ValueError(
                    "The replicas disagree on the model's metrics (their states have "
                    "different sizes); every replica must compile the same model."
                )
            self._metric_length = int(size)
            self._metrics_agreed = built == self.context.num_replicas
        flat = _flat(variables) if variables else np.zeros((self._metric_length,), "float64")
        if flat.size != self._metric_length:
            raise ValueError(
                f"This replica's metric state has {flat.size} numbers, the others' "
                f"{self._metric_length}; every replica must compile the same model."
            )
        shared = self._shared_metrics
        if shared is None or shared.size != flat.size:
            shared = np.zeros_like(flat)  # metrics built by this step: they started at 0
        total = shared + self.context.sum([flat - shared])[0]
        self._shared_metrics = total
        self._logs = self._assign_metrics(variables, total) if variables else None
        return total

    def global_logs(self) -> dict:
        """The model's metrics result from the state the last ``sum_metrics`` shared."""
        if self._logs is None:
            return self.model.get_metrics_result()
        return self._logs

    def _assign_metrics(self, variables: list, state: Any) -> dict:
        """Put ``state`` into the metric variables and return the metrics result, as one
        compiled function: eagerly, the assignments and the few scalar ops of a result
        cost more than the small allreduce."""
        values, offset = [], 0
        for variable in variables:
            shape = tuple(variable.shape)
            size = math.prod(shape)
            values.append(state[offset : offset + size].reshape(shape).astype(variable.dtype))
            offset += size
        if self._logs_function is None:
            self._logs_function = compile_function(self._assign_and_result)
        logs = self._logs_function(values)
        # A compiled function returns a dict with sorted keys: keep the model's order.
        return {key: logs[key] for key in self._logs_order}

    def _assign_and_result(self, values: list) -> dict:
        for variable, value in zip(self._metric_variables(), values):
            variable.assign(value)
        logs = self.model.get_metrics_result()
        self._logs_order = list(logs)  # recorded while tracing
        return logs

    def begin_epoch(self) -> None:
        """After ``on_epoch_begin`` (rank 0's callbacks may have changed the learning rate,
        or restored a mid-epoch backup's metric states): rank 0's values everywhere."""
        optimizer = self.model.optimizer
        rate = getattr(optimizer, "_learning_rate", None)
        shared = [rate] if rate is not None and hasattr(rate, "assign") else []
        self.broadcast_variables(shared + self._metric_variables())
        self.mark_metrics()

    # -- one training step -----------------------------------------------------------------
    def begin_step(self, data: Any, stop: bool) -> tuple[int, bool]:
        """This rank's rows and rank 0's stop flag, summed: ``(global rows, stop)``."""
        rows = 0 if data is None else num_rows(data)
        mine = np.array([rows, 1.0 if (stop and self.context.is_chief) else 0.0], "float64")
        total, stop_flag = self.context.sum([mine])[0]
        return int(total), bool(stop_flag > 0)

    def gradient_variables(self, collected: Any) -> list:
        """The variables this rank's gradients belong to (a rank that has not run a step
        yet uses the model's trainable variables, the built-in ``train_step``'s choice)."""
        if collected is not None:
            self._variables = list(collected)
        if self._variables is None:
            self._variables = list(self.model.trainable_variables)
        return self._variables

    def begin_gradients(self, rows: int, global_rows: int) -> None:
        """Before the step runs: this rank's share of the rows, for a gradient sum made
        inside the step."""
        self.context.set_gradient_scale(rows / global_rows)

    def mean_gradients(
        self, grads: list | None, rows: int, global_rows: int, summed: bool = False
    ) -> list:
        """The gradients of the global batch's mean loss: each rank's (the gradient of its
        rows' mean) weighted by its share of the rows, summed. ``summed``: the step
        already summed ``grads`` (``sum_gradients_in_step``), so they are returned."""
        if summed and grads is not None:
            return list(grads)
        variables = self._variables or []
        if grads is None:  # no rows here: add zeros
            arrays = [np.zeros(tuple(v.shape), dtype=_dtype_of(v)) for v in variables]
        else:
            arrays = [_host(g) for g in grads]
        # The global count is known from begin_step, so each rank scales by its share
        # while packing (one pass), and the sum needs no scaling afterwards.
        return self.context.sum_gradients(arrays, rows / global_rows)

    # -- predict ----------------------------------------------------------------------------
    def gather_predictions(self, batches: list, counts: list[int]) -> Any:
        """Every rank's predictions in global order: step by step, rank by rank (the
        order the shards were cut in). ``counts`` holds this rank's rows per step."""
        all_counts = self.context.gather(np.asarray(counts, dtype="int64"))
        leaves = None
        if batches:
            per_batch = [[np.asarray(leaf) for leaf in tree.flatten(b)[0]] for b in batches]
            leaves = [np.concatenate(parts, axis=0) for parts in zip(*per_batch)]
        template = self._output_template(leaves)
        if leaves is None:  # no rows here: take part in the gathers with empty arrays
            leaves = [np.zeros((0, *shape), dtype) for shape, dtype in template]
        gathered = [self.context.gather(leaf) for leaf in leaves]
        pieces: list[list] = [[] for _ in leaves]
        offsets = [0] * self.context.num_replicas
        for step in range(max(len(c) for c in all_counts)):
            for rank, rank_counts in enumerate(all_counts):
                count = int(rank_counts[step]) if step < len(rank_counts) else 0
                start, offsets[rank] = offsets[rank], offsets[rank] + count
                for k, parts in enumerate(gathered):
                    pieces[k].append(parts[rank][start : start + count])
        result = [np.concatenate(p, axis=0) for p in pieces]
        if batches:
            return tree.flatten(batches[0])[1](result)
        return result[0] if len(result) == 1 else result

    def _output_template(self, leaves: list | None) -> list:
        """``(shape without the batch axis, dtype)`` of each output, as the first rank
        with outputs has them (a rank without rows needs them to join the gathers)."""
        described = ""
        if leaves is not None:
            described = json.dumps([[list(leaf.shape[1:]), leaf.dtype.str] for leaf in leaves])
        texts = self.context.gather(np.frombuffer(described.encode(), dtype="uint8"))
        found = [bytes(t).decode() for t in texts if len(t)]
        if not found:
            raise ValueError("predict: the input data is empty.")
        return [(tuple(shape), np.dtype(dtype)) for shape, dtype in json.loads(found[0])]


def _flat(variables: list) -> Any:
    return np.concatenate([_host(v).astype("float64").ravel() for v in variables])


def _dtype_of(variable: Any) -> Any:
    return np.dtype(str(variable.dtype))


def split_rows(indices: Any, rank: int, num_replicas: int) -> Any:
    """This rank's contiguous part of one global batch's row indices.

    >>> split_rows(np.arange(5), 1, 2).tolist()
    [3, 4]
    """
    return np.array_split(np.asarray(indices), num_replicas)[rank]


def shard_count(num_batches: int | None, rank: int, num_replicas: int) -> int | None:
    """How many of ``num_batches`` stream batches rank ``rank`` reads (every
    ``num_replicas``-th, from ``rank``).

    >>> [shard_count(5, r, 2) for r in range(2)]
    [3, 2]
    """
    if num_batches is None:
        return None
    return max(0, math.ceil((num_batches - rank) / num_replicas))
