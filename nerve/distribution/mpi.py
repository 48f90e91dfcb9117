"""``MPICommunicator``: the communicator contract over MPI (mpi4py; ``nerve[mpi]``).

Launch a script with ``mpirun -n N python train.py``; each process then sees its rank
in ``MPI.COMM_WORLD``. Importing this module does not import mpi4py: creating a
communicator does.

**Timeouts and failures.** Every collective is started non-blocking (``Iallreduce``,
``Ibcast``, ...) and waited for by polling, so a wait can end in two ways besides
success. A failing rank calls ``notify_failure``: it sends a note to every other rank
on a separate communicator (a duplicate of the world, so notes never mix with data),
and the others, polling, raise ``ReplicaFailedError`` naming it and its error. A wait
longer than ``timeout`` seconds raises ``CollectiveTimeoutError`` naming the ranks that
never reached that collective: a rank that has waited a while (a quarter of the timeout,
at most a second) tells the others so, and the ranks not heard from are the ones named.
A rank killed outright (SIGKILL, out of memory) is usually noticed by the launcher
first: MPICH's ``mpirun`` ends the whole job within a second and names the process.

**Overlap.** ``allreduce_start`` / ``allreduce_wait`` expose the non-blocking pair:
collectives are numbered when they start (the same numbers on every rank, as every
rank starts them in the same order), so a wait reports the right collective however
many others are in flight. MPI moves the data of a started collective only while some
MPI call runs on the rank (no progress thread by default), so each start and wait
also tests the requests still in flight, pushing them on.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import time
from typing import Any

import numpy as np

from nerve.distribution.communicator import Communicator
from nerve.training.distributed import CollectiveTimeoutError, ReplicaFailedError

__all__ = ["DEFAULT_TIMEOUT", "MPICommunicator", "mpi_available"]

#: Seconds a collective may wait (``NERVE_COLLECTIVE_TIMEOUT`` overrides it): long
#: enough for a first step that compiles while another rank already waits.
DEFAULT_TIMEOUT = 600.0

_TAG = 7  # the one tag of notes on the control communicator
_SPIN = 2e-4  # seconds of busy polling before a wait starts to sleep
_ABORT_GRACE = 1.0  # seconds a failed rank gives the launcher to forward its output


def mpi_available() -> bool:
    """Whether mpi4py can be imported (the ``nerve[mpi]`` extra)."""
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return False
    return True


def _timeout_from_environment() -> float:
    text = os.environ.get("NERVE_COLLECTIVE_TIMEOUT")
    if not text:
        return DEFAULT_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        raise ValueError(
            f"NERVE_COLLECTIVE_TIMEOUT must be a number of seconds; got {text!r}."
        ) from None
    if value <= 0:
        raise ValueError(f"NERVE_COLLECTIVE_TIMEOUT must be > 0; got {text!r}.")
    return value


class MPICommunicator(Communicator):
    """The communicator contract over an MPI communicator (``MPI.COMM_WORLD`` by default).

    Args:
        comm: an mpi4py communicator; default the world.
        timeout: seconds any collective may wait (default ``NERVE_COLLECTIVE_TIMEOUT``
            or ``DEFAULT_TIMEOUT``).
    """

    def __init__(self, comm: Any = None, timeout: float | None = None):
        try:
            from mpi4py import MPI
        except ImportError as error:
            raise ImportError(
                "MPICommunicator needs mpi4py: pip install 'nerve[mpi]' (or mpi4py and an "
                "MPI library, e.g. pip install mpi4py mpich), then launch the script with "
                "mpirun -n N python script.py."
            ) from error
        self._mpi = MPI
        self._comm = MPI.COMM_WORLD if comm is None else comm
        # Notes (failures, "I am waiting") travel apart from the collectives' data.
        self._control = self._comm.Dup()
        self._rank = int(self._comm.Get_rank())
        self._size = int(self._comm.Get_size())
        self.timeout = float(timeout) if timeout is not None else _timeout_from_environment()
        if self.timeout <= 0:
            raise ValueError(f"MPICommunicator: timeout must be > 0 seconds; got {timeout}.")
        self._broken = False  # a collective was abandoned (see _abort_at_exit)
        self._notified = False  # ... by this rank, which told the others it failed
        atexit.register(self._abort_at_exit)
        self._sequence = 0  # collectives started, the same count on every rank
        self._in_flight: dict[int, Any] = {}  # sequence -> request, started, not waited
        self._waiting: dict[int, set[int]] = {}  # collective -> ranks known to wait in it
        self._sends: list = []  # notes not yet delivered
        self._acks = 0

    # -- the contract ---------------------------------------------------------------------
    @property
    def rank(self) -> int:
        return self._rank

    @property
    def size(self) -> int:
        return self._size

    @property
    def name(self) -> str:
        library = self._mpi.Get_library_version().splitlines()[0].strip()
        return f"MPI ({library}), rank {self._rank} of {self._size}"

    def allreduce(self, array: Any, op: str = "sum", out: Any = None) -> Any:
        self._check_op(op)
        mpi_op = self._mpi.SUM if op == "sum" else self._mpi.MAX
        if out is None:
            buffer = _writable(array)
            request = self._comm.Iallreduce(self._mpi.IN_PLACE, buffer, op=mpi_op)
        else:  # out of place: the input is only read, so no copy of it is needed
            source = np.ascontiguousarray(array)
            if out.shape != source.shape or out.dtype != source.dtype:
                raise ValueError(
                    f"allreduce: out must have the input's shape {source.shape} and dtype "
                    f"{source.dtype}; got {out.shape} {out.dtype}."
                )
            buffer = _writable(out)
            request = self._comm.Iallreduce(source, buffer, op=mpi_op)
        self._wait(request, f"allreduce of {buffer.nbytes} bytes", self._started(request))
        return buffer

    def allreduce_start(self, array: Any, op: str = "sum") -> Any:
        self._check_op(op)
        array = np.asarray(array)
        if not (array.flags.c_contiguous and array.flags.writeable):
            raise ValueError(
                "allreduce_start: the array must be C-contiguous and writable (the sum is "
                "written over it while the caller goes on); pass a copy."
            )
        mpi_op = self._mpi.SUM if op == "sum" else self._mpi.MAX
        request = self._comm.Iallreduce(self._mpi.IN_PLACE, array, op=mpi_op)
        return _Pending(request, array, self._started(request))

    def allreduce_wait(self, handle: Any) -> Any:
        if handle.sequence not in self._in_flight:
            raise ValueError(f"allreduce_wait: collective #{handle.sequence} was waited already.")
        what = f"allreduce of {handle.array.nbytes} bytes (started non-blocking)"
        self._wait(handle.request, what, handle.sequence)
        return handle.array

    def broadcast(self, array: Any, root: int = 0) -> Any:
        self._check_root(root)
        buffer = _writable(array)
        request = self._comm.Ibcast(buffer, root=root)
        what = f"broadcast of {buffer.nbytes} bytes from rank {root}"
        self._wait(request, what, self._started(request))
        return buffer

    def allgather(self, array: Any) -> list[Any]:
        array = np.ascontiguousarray(array)
        rows = np.array([array.shape[0] if array.ndim else 1], dtype="int64")
        counts = np.empty((self._size,), dtype="int64")
        request = self._comm.Iallgather(rows, counts)
        self._wait(request, "allgather of the sizes", self._started(request))
        inner = tuple(array.shape[1:]) if array.ndim else ()
        per_row = int(np.prod(inner, dtype="int64"))
        result = np.empty((int(counts.sum()) * per_row,), dtype=array.dtype)
        sizes = [int(c) * per_row for c in counts]
        offsets = [sum(sizes[:k]) for k in range(self._size)]
        request = self._comm.Iallgatherv(array.reshape(-1), [result, sizes, offsets, None])
        self._wait(request, f"allgather of {array.nbytes} bytes", self._started(request))
        parts = []
        for count, offset, size in zip(counts, offsets, sizes):
            part = result[offset : offset + size]
            parts.append(part.reshape((int(count), *inner)) if array.ndim else part[0])
        return parts

    def barrier(self) -> None:
        request = self._comm.Ibarrier()
        self._wait(request, "barrier", self._started(request))

    def notify_failure(self, message: str) -> None:
        """Send ``message`` to every other rank, then wait (at most 2 s, or the timeout
        if shorter) for them to acknowledge, so they can report it before the launcher
        ends the job."""
        if self._in_flight:  # abandoned collectives: MPI_Finalize would wait for them
            self._broken = self._notified = True
        note = ("failed", self._rank, str(message))
        self._sends.extend(
            self._control.isend(note, dest=rank, tag=_TAG)
            for rank in range(self._size)
            if rank != self._rank
        )
        deadline = time.monotonic() + min(2.0, self.timeout)
        while self._acks < self._size - 1 and time.monotonic() < deadline:
            # Another rank failed too: this one's own error goes on.
            with contextlib.suppress(ReplicaFailedError):
                self._read_notes()
            time.sleep(1e-3)

    # -- waiting ----------------------------------------------------------------------------
    def _started(self, request: Any) -> int:
        """Number a collective just started (the same number on every rank), and push
        the ones still in flight on (MPI progresses them only inside MPI calls)."""
        for pending in self._in_flight.values():
            pending.Test()
        self._sequence += 1
        self._in_flight[self._sequence] = request
        return self._sequence

    def _wait(self, request: Any, what: str, sequence: int) -> None:
        start = time.monotonic()
        announce_after = min(1.0, self.timeout / 4)
        announced = False
        pause = 0.0
        while not request.Test():
            elapsed = time.monotonic() - start
            if elapsed > _SPIN:
                self._read_notes()
                pause = min(max(pause * 2, 5e-5), 2e-3)
                time.sleep(pause)
            if not announced and elapsed > announce_after:
                announced = True
                self._announce(sequence)
            if elapsed > self.timeout:
                self._broken = True
                self._read_notes()
                raise CollectiveTimeoutError(self._timeout_message(sequence, what, elapsed))
        del self._in_flight[sequence]

    def _announce(self, sequence: int) -> None:
        note = ("waiting", self._rank, sequence)
        self._sends = [s for s in self._sends if not s.Test()]
        self._sends.extend(
            self._control.isend(note, dest=rank, tag=_TAG)
            for rank in range(self._size)
            if rank != self._rank
        )

    def _read_notes(self) -> None:
        while self._control.iprobe(source=self._mpi.ANY_SOURCE, tag=_TAG):
            kind, rank, detail = self._control.recv(source=self._mpi.ANY_SOURCE, tag=_TAG)
            if kind == "waiting":
                self._waiting.setdefault(int(detail), set()).add(int(rank))
            elif kind == "ack":
                self._acks += 1
            elif kind == "failed":
                self._broken = True
                self._sends.append(self._control.isend(("ack", self._rank, 0), dest=rank, tag=_TAG))
                raise ReplicaFailedError(
                    f"rank {rank} of {self._size} failed: {detail}. Rank {self._rank} stops "
                    "too (data-parallel replicas run in lockstep)."
                )

    def _abort_at_exit(self) -> None:
        """After an abandoned collective, MPI_Finalize would wait for it forever: end the
        whole job instead (the error has been printed by then)."""
        if self._broken:
            sys.stderr.flush()
            sys.stdout.flush()
            if self._notified:
                # The others are reporting this rank's failure: let them print first
                # (the first rank to abort ends the job; a loaded machine needs a few
                # seconds, and a rank that has printed and exited ends the job anyway).
                time.sleep(min(10.0, self.timeout))
            else:
                # The launcher forwards this rank's output on its own schedule; aborting
                # at once lost the tail of the traceback (the error's message) under load.
                time.sleep(_ABORT_GRACE)
            self._comm.Abort(1)

    def _timeout_message(self, sequence: int, what: str, elapsed: float) -> str:
        arrived = self._waiting.get(sequence, set()) | {self._rank}
        missing = [r for r in range(self._size) if r not in arrived]
        if missing:
            who = f"rank{'s' if len(missing) > 1 else ''} {', '.join(map(str, missing))}"
            cause = f"{who} never reached it (dead, hung, or much slower)"
        else:
            cause = "every rank reached it, yet it did not complete"
        return (
            f"rank {self._rank} of {self._size}: collective #{sequence} ({what}) timed out "
            f"after {elapsed:.1f} s: {cause}. Raise the limit with "
            "nerve.distribution.initialize(timeout=...) or NERVE_COLLECTIVE_TIMEOUT if a "
            "rank legitimately needs longer."
        )


class _Pending:
    """A started non-blocking allreduce: its request, the array it writes, its number."""

    __slots__ = ("array", "request", "sequence")

    def __init__(self, request: Any, array: Any, sequence: int):
        self.request = request
        self.array = array
        self.sequence = sequence


def _writable(array: Any) -> Any:
    """A C-contiguous, writable array MPI can reduce into (``array`` itself when it is)."""
    array = np.asarray(array)
    if array.flags.c_contiguous and array.flags.writeable:
        return array
    return np.array(array, order="C")
