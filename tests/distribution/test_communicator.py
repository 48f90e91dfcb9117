"""The communicator contract, checked the same way against the single-process
implementation and against MPI under ``mpirun -n 2``."""

import json

import numpy as np
import pytest

from nerve.distribution import Communicator, LocalCommunicator, communicator, mpi
from tests.distribution import launch, scenarios


def expected(size: int) -> dict:
    """What ``scenarios.run_contract`` must find on every rank of ``size``."""
    return {
        "sum": [float(sum(range(1, size + 1))), 2.0 * size],
        # into out: the input left alone
        "sum_out": [[1.0 * size, 2.0 * size], [1.0, 2.0], [1.0 * size, 2.0 * size]],
        "max": [size - 1, 0],
        "broadcast": [10.0 * (size - 1), 1.0],
        "allgather": [[[r, r]] * (r + 1) for r in range(size)],
        # two non-blocking sums in flight, waited for in the other order
        "in_flight": [[10 * (size - 1), 1], [float(sum(range(1, size + 1)))]],
    }


def _local(tmp_path):
    scenarios.run_contract(LocalCommunicator(), str(tmp_path))
    return 1


def _mpi(tmp_path):
    done, _ = launch.mpirun("contract", tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    return 2


@pytest.mark.parametrize(
    "run", [_local, pytest.param(_mpi, marks=launch.needs_mpi)], ids=["local", "mpi"]
)
def test_every_rank_sees_the_contracts_results(run, tmp_path):
    size = run(tmp_path)
    for rank in range(size):
        with open(tmp_path / f"rank{rank}-contract.json") as f:
            assert json.load(f) == expected(size), f"rank {rank}"


def test_the_contract_is_abstract():
    with pytest.raises(TypeError, match="abstract"):
        Communicator()


@pytest.mark.parametrize(
    "call,message",
    [
        (lambda c: c.allreduce(np.zeros(2), op="mean"), "op must be one of"),
        (lambda c: c.broadcast(np.zeros(2), root=1), r"root must be a rank in \[0, 1\)"),
    ],
)
def test_bad_arguments_are_named(call, message):
    with pytest.raises(ValueError, match=message):
        call(LocalCommunicator())


@pytest.mark.parametrize(
    "text,result", [(None, mpi.DEFAULT_TIMEOUT), ("2.5", 2.5), ("x", "a number"), ("0", "> 0")]
)
def test_the_timeout_comes_from_the_environment(monkeypatch, text, result):
    if text is None:
        monkeypatch.delenv("NERVE_COLLECTIVE_TIMEOUT", raising=False)
    else:
        monkeypatch.setenv("NERVE_COLLECTIVE_TIMEOUT", text)
    if isinstance(result, str):
        with pytest.raises(ValueError, match=result):
            mpi._timeout_from_environment()
    else:
        assert mpi._timeout_from_environment() == result


def test_the_local_communicator_names_itself():
    assert communicator.LocalCommunicator().name == "LocalCommunicator, rank 0 of 1"
