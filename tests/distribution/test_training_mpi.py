"""Data-parallel training under ``mpirun -n 2``, against single-process training on the
global batch (run here, by the same ``scenarios`` code): weights, metrics, evaluation,
predictions, the shards, rank-0-only files and output, and faults (a rank that raises,
hangs or is killed) with the resumption from the backup."""

import json

import numpy as np
import pytest

from tests.distribution import launch, scenarios

pytestmark = launch.needs_mpi


def _load(folder, rank, name):
    path = folder / f"rank{rank}-{name}"
    if path.with_suffix(".json").exists():
        return json.loads(path.with_suffix(".json").read_text())
    return np.load(path.with_suffix(".npy"))


def _assert_weights(folder, prefix, model):
    for rank in range(2):
        for k, expected in enumerate(model.get_weights()):
            np.testing.assert_allclose(
                _load(folder, rank, f"{prefix}{k}"), expected, rtol=1e-5, atol=1e-6,
                err_msg=f"rank {rank}, weight {k}",
            )  # fmt: skip


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("train")
    done, _ = launch.mpirun("train", folder)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    return folder, done.stdout


@pytest.fixture(scope="module")
def reference():
    x, y = scenarios.data()
    model = scenarios.model()
    history = model.fit(x, y, batch_size=scenarios.BATCH, epochs=scenarios.EPOCHS, verbose=0,
                        shuffle=True, validation_data=(x[:20], y[:20]))  # fmt: skip
    return model, history.history


def test_weights_equal_single_process_training_on_the_global_batch(trained, reference):
    # Summed in the compiled step, two buckets overlapping the backward pass.
    _assert_weights(trained[0], "weight", reference[0])


def test_without_overlap_the_weights_equal_single_process_training_too(trained):
    x, y = scenarios.data()
    model = scenarios.model()
    model.fit(x, y, batch_size=scenarios.BATCH, epochs=1, verbose=0, shuffle=True)
    _assert_weights(trained[0], "plainweight", model)


def test_the_first_bucket_starts_before_the_backward_pass_ends(trained):
    for rank in range(2):
        order = _load(trained[0], rank, "schedule")
        starts = [k for k, kind in enumerate(order) if kind == "start"]
        waits = [k for k, kind in enumerate(order) if kind == "wait"]
        last_matmul = max(k for k, kind in enumerate(order) if kind == "matmul")
        assert len(starts) == len(waits) == 2, order
        # The second layer's bucket travels while the first layer's weight gradient
        # (the last matmul) is computed; the waits come after all compute.
        assert starts[0] < last_matmul < starts[1] < waits[0], order


def test_metrics_equal_the_single_process_metrics(trained, reference):
    folder, _ = trained
    model, history = reference
    x, y = scenarios.data()
    evaluation = model.evaluate(x, y, batch_size=10, verbose=0, return_dict=True)
    for rank in range(2):
        got = _load(folder, rank, "history")
        assert got.keys() == history.keys()
        for key in history:
            np.testing.assert_allclose(got[key], history[key], rtol=1e-5, err_msg=key)
        got = _load(folder, rank, "evaluate")
        for key in evaluation:
            np.testing.assert_allclose(got[key], evaluation[key], rtol=1e-5, err_msg=key)


def test_predictions_come_back_whole_and_in_order(trained, reference):
    x, _ = scenarios.data()
    expected = reference[0].predict(x, batch_size=10, verbose=0)
    for rank in range(2):
        np.testing.assert_allclose(_load(trained[0], rank, "predict"), expected, atol=1e-6)


def test_the_shards_cover_every_sample_exactly_once_per_epoch(trained):
    x, _ = scenarios.data()
    rows = [_load(trained[0], rank, "rows") for rank in range(2)]
    assert len(rows[0]) and len(rows[1])
    assert sorted(np.concatenate(rows).tolist()) == sorted(x[:, 0].tolist())


def test_a_pydataset_is_read_by_batch_shards_and_trains_like_the_global_batch(trained):
    folder, _ = trained
    served = [(folder / f"rank{r}-pydataset-ids.txt").read_text().split() for r in range(2)]
    assert served == [["0", "2", "4", "6"], ["1", "3", "5"]]
    model = scenarios.model()  # one global step = one 8-row batch per rank = 16 rows
    model.fit(scenarios.batches_dataset(16), epochs=1, verbose=0)
    _assert_weights(folder, "pyweight", model)


def test_only_rank_0_writes_files_and_progress(trained):
    folder, stdout = trained
    names = {p.name for p in folder.iterdir()}
    assert {"log-rank0.csv", "ckpt-rank0.weights.h5"} <= names
    assert not {"log-rank1.csv", "ckpt-rank1.weights.h5"} & names
    assert stdout.count("Epoch 1/2") == 1


@pytest.mark.parametrize(
    "kind,error,message",
    [
        ("fail", "ReplicaFailedError", "rank 1 of 2 failed: ValueError: batch 5 is corrupt"),
        ("hang", "CollectiveTimeoutError", "timed out after 4.0 s: rank 1 never reached it"),
        # Rank 1 fails or hangs with its first gradient bucket of the step in flight.
        ("fail_inflight", "ReplicaFailedError", "rank 1 of 2 failed: ValueError: bucket lost"),
        ("hang_inflight", "CollectiveTimeoutError", "timed out after 4.0 s: rank 1 never"),
    ],
)
def test_a_failing_or_hanging_rank_stops_the_others_with_its_name(tmp_path, kind, error, message):
    done, seconds = launch.mpirun(kind, tmp_path, NERVE_COLLECTIVE_TIMEOUT="4")
    assert done.returncode != 0
    report = _load(tmp_path, 0, "error")
    assert report["type"] == error and message in report["message"], report
    assert message in done.stderr
    # Bounded: rank 1 hangs for 60 s, the job ends once rank 0's timeout fires.
    assert seconds < 45, seconds


def test_a_rank_killed_with_a_bucket_in_flight_ends_the_job(tmp_path):
    done, seconds = launch.mpirun("kill_inflight", tmp_path, NERVE_COLLECTIVE_TIMEOUT="4")
    assert done.returncode != 0 and seconds < 45, (done.returncode, seconds)
    assert not list(tmp_path.glob("rank*-weight*"))


@pytest.mark.slow
def test_a_killed_rank_ends_the_job_and_the_restart_resumes_from_the_backup(tmp_path):
    done, seconds = launch.mpirun("kill", tmp_path)
    assert done.returncode != 0 and seconds < 60
    assert (tmp_path / "backup" / "checkpoint.json").exists()
    assert not list(tmp_path.glob("rank*-weight*"))
    done, _ = launch.mpirun("none", tmp_path)
    assert done.returncode == 0, done.stderr[-4000:]
    assert _load(tmp_path, 0, "resumed") == {"epoch": 0, "step": 4}
    model = scenarios.model()  # the uninterrupted run, on global batches of 16 rows
    history = model.fit(scenarios.batches_dataset(16), epochs=2, verbose=0).history
    _assert_weights(tmp_path, "weight", model)
    # The epoch run after the restart logs the single-process metrics. (Epoch 0 resumed
    # after its last step: its metrics are not restored, because compiled metrics are
    # built by the first step, as BackupAndRestore documents for one process too.)
    for rank in range(2):
        got = _load(tmp_path, rank, "history")
        for key in history:
            np.testing.assert_allclose(got[key][-1], history[key][-1], rtol=1e-5, err_msg=key)
