"""Runs ``scenarios.py`` under ``mpirun -n 2`` for the MPI tests; they skip, with the
reason, where mpi4py or an ``mpirun`` is missing (``pip install mpi4py mpich``)."""

import importlib.util
import os
import pathlib
import shutil
import subprocess
import sys
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCENARIOS = pathlib.Path(__file__).with_name("scenarios.py")


def launcher() -> str | None:
    """The ``mpirun`` beside this interpreter (where pip's mpich puts it, also in a
    virtual environment that is not activated), else the one on ``PATH``."""
    beside = pathlib.Path(sys.executable).with_name("mpirun")
    return str(beside) if beside.exists() else shutil.which("mpirun")


def missing() -> str | None:
    """Why the MPI tests cannot run here, or None."""
    if importlib.util.find_spec("mpi4py") is None:
        return "needs mpi4py (pip install mpi4py mpich)"
    if launcher() is None:
        return "needs an mpirun launcher (pip install mpich)"
    return None


needs_mpi = pytest.mark.skipif(missing() is not None, reason=missing() or "")


def mpirun(scenario: str, out, timeout: float = 120, **environment) -> tuple:
    """``(completed process, seconds)`` of ``mpirun -n 2 python scenarios.py ...``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    # One BLAS thread per rank: two ranks share this machine's cores.
    env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", **environment)
    command = [launcher(), "-n", "2", sys.executable, str(SCENARIOS), scenario, str(out)]
    start = time.monotonic()
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    return done, time.monotonic() - start
