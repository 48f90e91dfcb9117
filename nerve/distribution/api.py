"""Keras 3's ``keras.distribution`` functions: ``initialize``, ``list_devices``,
``set_distribution``, ``distribution``.

A script becomes data-parallel with two lines and a launcher::

    nerve.distribution.initialize()
    nerve.distribution.set_distribution(nerve.distribution.DataParallel())
    # ... build, compile and fit as usual; then: mpirun -n 4 python train.py
"""

from __future__ import annotations

import os
from typing import Any

from nerve.distribution.communicator import Communicator, LocalCommunicator
from nerve.training import distributed

__all__ = ["distribution", "initialize", "list_devices", "set_distribution"]

_communicator: Communicator | None = None

# Variables MPI launchers set in every process they start (MPICH/Hydra, Open MPI, Slurm).
_LAUNCHER_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS")


def _launched_by_mpi() -> bool:
    return any(name in os.environ for name in _LAUNCHER_VARIABLES)


def _expected(name: str, given: int | None) -> int | None:
    if given is not None:
        return int(given)
    text = os.environ.get(name)
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{name} must be an integer; got {text!r}.") from None


def initialize(
    job_addresses: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    timeout: float | None = None,
) -> Communicator:
    """Join the job's processes; returns the communicator (also kept for
    ``DataParallel()``). Call it once, at the start of the script, on every process.

    Under an MPI launcher (``mpirun -n N``; needs ``nerve[mpi]``) the processes are MPI's
    world; otherwise this is a single process. ``num_processes`` and ``process_id``
    (default: ``NERVE_NUM_PROCESSES`` / ``NERVE_PROCESS_ID``) are checked against what the
    launcher says. ``job_addresses`` (Keras's argument for JAX's coordinator) is not
    needed: MPI's launcher connects the processes. ``timeout``: seconds any collective may
    wait before raising (default ``NERVE_COLLECTIVE_TIMEOUT``, else 600).

    >>> comm = initialize()
    >>> comm.rank, comm.size
    (0, 1)
    """
    global _communicator
    expected_size = _expected("NERVE_NUM_PROCESSES", num_processes)
    expected_rank = _expected("NERVE_PROCESS_ID", process_id)
    if job_addresses is not None:
        raise ValueError(
            "initialize: job_addresses is not used by nerve (the MPI launcher connects the "
            "processes); launch with mpirun -n N and leave it None."
        )
    if _communicator is None or timeout is not None:
        wants_mpi = _launched_by_mpi() or (expected_size or 1) > 1
        if wants_mpi:
            from nerve.distribution.mpi import MPICommunicator, mpi_available

            if not mpi_available():
                raise RuntimeError(
                    "initialize: this process was launched for a multi-process job "
                    f"(NERVE_NUM_PROCESSES={expected_size}, or an MPI launcher's variables), "
                    "but mpi4py is not installed: pip install 'nerve[mpi]' (mpi4py and an "
                    "MPI library such as the mpich package), then mpirun -n N python ..."
                )
            _communicator = MPICommunicator(timeout=timeout)
        else:
            _communicator = LocalCommunicator()
    if expected_size is not None and expected_size != _communicator.size:
        raise ValueError(
            f"initialize: expected {expected_size} processes (num_processes or "
            f"NERVE_NUM_PROCESSES), but the job has {_communicator.size}."
        )
    if expected_rank is not None and expected_rank != _communicator.rank:
        raise ValueError(
            f"initialize: expected process_id {expected_rank} (or NERVE_PROCESS_ID), but "
            f"this process is rank {_communicator.rank}."
        )
    return _communicator


def list_devices(device_type: str | None = None) -> list[str]:
    """The job's devices, one per process: ``["cpu:0", "cpu:1", ...]`` (Keras lists the
    global devices in a multi-process job too).

    >>> list_devices()
    ['cpu:0']
    """
    kind = (device_type or "cpu").lower()
    if kind not in ("cpu", "gpu"):
        raise ValueError(
            f"list_devices: device_type must be 'cpu', 'gpu' or None; got {device_type!r}."
        )
    size = initialize().size
    return [f"{kind}:{rank}" for rank in range(size)]


def set_distribution(value: Any) -> None:
    """Make ``value`` (a ``DataParallel``, or ``None`` for none) the distribution every
    ``fit``/``evaluate``/``predict`` uses.

    >>> set_distribution(None); distribution() is None
    True
    """
    distributed.set_replica_context(value)


def distribution() -> Any:
    """The current distribution (a ``scope()``'s inside its block), or ``None``."""
    return distributed.replica_context()
