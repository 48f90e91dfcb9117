"""The communicator contract: how the processes of one job exchange host arrays.

A ``Communicator`` is the one place that knows how bytes move between processes.
``nerve.distribution`` builds data parallelism on these five operations, so an MPI
implementation (``MPICommunicator``, over mpi4py), the single-process one below, and
later a GPU collective library (NCCL) are interchangeable:

* ``rank`` / ``size``: this process's index and the number of processes;
* ``allreduce(array, op, out)``: the elementwise ``"sum"`` (or ``"max"``) over
  processes, returned on every process: written into ``out`` when given (``array`` is
  then left alone), else possibly over ``array`` itself;
* ``allreduce_start(array, op) -> handle`` and ``allreduce_wait(handle) -> array``:
  the same sum, non-blocking: the start returns at once and the sum is written over
  ``array`` (which must stay untouched until the wait returns it). Every process must
  start its collectives in the same order; waits may come in any order. The base
  class does the whole sum in the start (correct, nothing overlaps); MPI overlaps;
* ``broadcast(array, root)``: ``root``'s array on every process (each passes an array
  of the same shape and dtype; the buffer may be overwritten);
* ``allgather(array)``: every process's array, in rank order; their first dimensions
  may differ, the rest of the shape and the dtype may not;
* ``barrier()``: returns once every process has called it;
* ``notify_failure(message)``: tell the other processes that this one is failing, so
  that their next (or current) collective raises ``ReplicaFailedError`` naming it
  rather than waiting; bounded in time, best effort.

Collectives that wait longer than the communicator's ``timeout`` raise
``CollectiveTimeoutError`` naming the ranks that never arrived.
"""

from __future__ import annotations

import abc
from typing import Any

# Communicators move host arrays (the data adapters' and the optimizer's NumPy arrays).
import numpy as np

__all__ = ["Communicator", "LocalCommunicator"]

_OPS = ("sum", "max")


class Communicator(abc.ABC):
    """The contract every communicator implements (see the module docstring)."""

    @property
    @abc.abstractmethod
    def rank(self) -> int:
        """This process's index, ``0 <= rank < size``."""

    @property
    @abc.abstractmethod
    def size(self) -> int:
        """The number of processes."""

    @abc.abstractmethod
    def allreduce(self, array: Any, op: str = "sum", out: Any = None) -> Any:
        """The elementwise reduction of ``array`` over all processes (into ``out``, an
        array of the same shape and dtype, when given)."""

    def allreduce_start(self, array: Any, op: str = "sum") -> Any:
        """Start the reduction of ``array`` (a C-contiguous, writable host array) in
        place; returns a handle for ``allreduce_wait``. This default finishes it here."""
        return _Done(self.allreduce(array, op))

    def allreduce_wait(self, handle: Any) -> Any:
        """Wait for the reduction ``handle`` names and return its result (the array
        given to ``allreduce_start``, now summed)."""
        return handle.result

    @abc.abstractmethod
    def broadcast(self, array: Any, root: int = 0) -> Any:
        """``root``'s ``array``, on every process."""

    @abc.abstractmethod
    def allgather(self, array: Any) -> list[Any]:
        """Every process's ``array``, in rank order."""

    @abc.abstractmethod
    def barrier(self) -> None:
        """Wait until every process has called ``barrier``."""

    def notify_failure(self, message: str) -> None:  # noqa: B027 (optional: a no-op alone)
        """Tell the other processes that this one failed with ``message``."""

    @property
    def name(self) -> str:
        """A short description for messages, e.g. ``"MPI (MPICH 5.0.2), rank 0 of 2"``."""
        return f"{type(self).__name__}, rank {self.rank} of {self.size}"

    def _check_op(self, op: str) -> None:
        if op not in _OPS:
            raise ValueError(
                f"{type(self).__name__}.allreduce: op must be one of {_OPS}; got {op!r}."
            )

    def _check_root(self, root: int) -> None:
        if not 0 <= int(root) < self.size:
            raise ValueError(
                f"{type(self).__name__}.broadcast: root must be a rank in [0, {self.size}); "
                f"got {root}."
            )


class _Done:
    """The handle of a reduction that finished when it started."""

    __slots__ = ("result",)

    def __init__(self, result: Any):
        self.result = result


class LocalCommunicator(Communicator):
    """One process: every collective returns its own input.

    >>> import numpy as np
    >>> comm = LocalCommunicator()
    >>> comm.rank, comm.size, comm.allreduce(np.array([1.0, 2.0])).tolist()
    (0, 1, [1.0, 2.0])
    >>> [a.tolist() for a in comm.allgather(np.array([3]))]
    [[3]]
    >>> handle = comm.allreduce_start(np.array([4.0]))
    >>> comm.allreduce_wait(handle).tolist()
    [4.0]
    """

    @property
    def rank(self) -> int:
        return 0

    @property
    def size(self) -> int:
        return 1

    def allreduce(self, array: Any, op: str = "sum", out: Any = None) -> Any:
        self._check_op(op)
        if out is None:
            return np.asarray(array)
        np.copyto(out, array)
        return out

    def broadcast(self, array: Any, root: int = 0) -> Any:
        self._check_root(root)
        return np.asarray(array)

    def allgather(self, array: Any) -> list[Any]:
        return [np.asarray(array)]

    def barrier(self) -> None:
        return None
