"""BackupAndRestore: round trips, exact resumption, atomicity, cleanup, errors."""

import json
import os

import numpy as np
import pytest

import nerve
from nerve.callbacks import BackupAndRestore
from nerve.utils import set_random_seed
from tests.callbacks.fake_model import FakeModel, files_in, fit, state_of


def _assert_same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("save_freq", ["epoch", 1, 2, 4])
@pytest.mark.parametrize("crash_at", [(0, 3), (1, 1), (1, 3), (2, 2)])
def test_interrupted_run_resumes_exactly(tmp_path, save_freq, crash_at):
    backup_dir = str(tmp_path / "backup")
    set_random_seed(1)
    reference_model = FakeModel()
    history, reference_losses = fit(reference_model, [], epochs=3, steps=4)
    reference = state_of(reference_model)

    set_random_seed(1)
    model = FakeModel()
    with pytest.raises(KeyboardInterrupt):
        fit(model, [BackupAndRestore(backup_dir, save_freq=save_freq)], 3, 4, crash_at=crash_at)
    # With per-epoch backups, a crash in the first epoch leaves nothing to resume from.
    assert ("checkpoint.json" in files_in(backup_dir)) == (save_freq != "epoch" or crash_at[0] > 0)

    # A new process: different random state, fresh model and optimizer.
    set_random_seed(99)
    resumed = FakeModel(build_optimizer=False)
    callback = BackupAndRestore(backup_dir, save_freq=save_freq)
    resumed_history, losses = fit(resumed, [callback], epochs=3, steps=4)
    if callback._resume_epoch is None:  # nothing was backed up: a fresh run
        assert len(losses) == 12
        return
    _assert_same(state_of(resumed), reference)
    # The steps rerun after the resume saw the same losses (running means included).
    assert losses == reference_losses[-len(losses) :]
    assert resumed_history.history["loss"] == history.history["loss"][-len(resumed_history.epoch) :]
    if save_freq == "epoch":
        expected = (crash_at[0], 0) if crash_at[0] > 0 else (None, None)
    else:
        # Backed up after step `saved` (counting from 1) of the run, as (epoch, steps
        # done in it): after an epoch's last step, before its end (validation).
        saved = (crash_at[0] * 4 + crash_at[1] + 1) // save_freq * save_freq
        expected = ((saved - 1) // 4, (saved - 1) % 4 + 1)
    assert (callback._resume_epoch, callback._resume_step) == expected
    assert getattr(resumed, "_initial_epoch", None) == callback._resume_epoch
    assert not os.path.exists(backup_dir)  # delete_checkpoint=True


def test_round_trip_restores_variables_seeds_and_position(tmp_path):
    model = FakeModel()
    fit(model, [], epochs=1, steps=2)
    backup = BackupAndRestore(str(tmp_path), save_freq=1, delete_checkpoint=False)
    backup.set_model(model)
    backup.on_train_begin()
    backup.on_epoch_begin(2)
    backup.on_train_batch_end(0)  # backs up: epoch 2, one step done
    saved, permutation = state_of(model), model.permutation.copy()

    fit(model, [], epochs=1, steps=3)  # move everything on
    model.permutation = permutation[::-1].copy()
    assert not np.array_equal(state_of(model)[0], saved[0])

    backup.on_train_begin()
    restored = state_of(model)
    _assert_same(restored[:-2], saved[:-2])  # metric variables come back in on_epoch_begin
    np.testing.assert_array_equal(model.permutation, permutation)
    assert (backup._resume_epoch, backup._resume_step) == (2, 1)
    model.loss_tracker.reset_state()
    backup.on_epoch_begin(2)
    _assert_same(state_of(model), saved)

    with open(tmp_path / "checkpoint.json") as f:
        metadata = json.load(f)
    assert metadata["epoch"] == 2 and metadata["step"] == 1
    assert [e["name"].split("/")[1] for e in metadata["model"]] == ["kernel", "bias"]
    assert len(metadata["seed"]) == 2  # the global generator and the Dropout's
    # Plain arrays, readable without pickle.
    with np.load(tmp_path / metadata["arrays"], allow_pickle=False) as arrays:
        assert arrays["data/0"].dtype.kind == "i"


def test_no_backup_means_a_fresh_start(tmp_path):
    callback = BackupAndRestore(str(tmp_path / "b"))
    history, losses = fit(FakeModel(), [callback], epochs=2, steps=2)
    assert callback._resume_epoch is None and callback._resume_step is None
    assert len(losses) == 4 and history.epoch == [0, 1]
    assert not os.path.exists(tmp_path / "b")


def test_delete_checkpoint_false_keeps_only_the_latest_backup(tmp_path):
    fit(FakeModel(), [BackupAndRestore(str(tmp_path), save_freq=1, delete_checkpoint=False)], 2, 3)
    names = files_in(tmp_path)
    assert len(names) == 2 and "checkpoint.json" in names  # one arrays file, no temporaries
    with open(tmp_path / "checkpoint.json") as f:
        metadata = json.load(f)
    assert (metadata["epoch"], metadata["step"]) == (1, 3)


def test_deleting_leaves_other_files_alone(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    fit(FakeModel(), [BackupAndRestore(str(tmp_path))], 1, 2)
    assert files_in(tmp_path) == ["notes.txt"]


def test_a_crash_while_saving_keeps_the_previous_backup(tmp_path, monkeypatch):
    model = FakeModel()
    backup = BackupAndRestore(str(tmp_path), delete_checkpoint=False)
    backup.set_model(model)
    backup.on_train_begin()
    backup.on_epoch_end(0)
    before = files_in(tmp_path)
    weights = model.get_weights()

    def broken_savez(file, **arrays):
        file.write(b"PK partial")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken_savez)
    fit(model, [], 1, 2)
    with pytest.raises(OSError, match="disk full"):
        backup.on_epoch_end(1)
    monkeypatch.undo()
    assert files_in(tmp_path) == before  # no partial or temporary file
    backup.on_train_begin()
    assert backup._resume_epoch == 1
    _assert_same(model.get_weights(), weights)


def test_mismatched_model_is_refused_before_anything_is_assigned(tmp_path):
    model = FakeModel()
    backup = BackupAndRestore(str(tmp_path))
    backup.set_model(model)
    backup.on_train_begin()
    backup.on_epoch_end(0)
    other = FakeModel(momentum=0.0)  # no momentum slots
    weights = other.get_weights()
    backup.set_model(other)
    with pytest.raises(ValueError, match=r"optimizer variables.*delete"):
        backup.on_train_begin()
    _assert_same(other.get_weights(), weights)


def test_unbuilt_model_is_refused(tmp_path):
    model = FakeModel()
    model.built = False
    backup = BackupAndRestore(str(tmp_path))
    backup.set_model(model)
    with pytest.raises(ValueError, match="must be built"):
        backup.on_train_begin()


@pytest.mark.parametrize("save_freq", ["batch", 0, -2, 1.5, True])
def test_invalid_save_freq(tmp_path, save_freq):
    with pytest.raises(ValueError, match="save_freq"):
        BackupAndRestore(str(tmp_path), save_freq=save_freq)
    with pytest.raises(ValueError, match="backup_dir"):
        BackupAndRestore("")


def test_restores_into_the_current_global_generator(tmp_path):
    set_random_seed(3)
    model = FakeModel()
    nerve.random.normal((2,))
    backup = BackupAndRestore(str(tmp_path))
    backup.set_model(model)
    backup.on_epoch_end(0)
    expected = nerve.random.normal((2,)).numpy()
    set_random_seed(4)  # replaces the global generator object
    backup.on_train_begin()
    np.testing.assert_array_equal(nerve.random.normal((2,)).numpy(), expected)


def test_metrics_created_late_are_left_alone(tmp_path):
    model = FakeModel()
    backup = BackupAndRestore(str(tmp_path), save_freq=1)
    backup.set_model(model)
    backup.on_train_begin()
    model.train_step(0)
    backup.on_train_batch_end(0)
    model.metrics = []  # as if the metrics were built by the first step
    backup.on_train_begin()
    model.loss_tracker.reset_state()
    backup.on_epoch_begin(0)
    assert float(model.loss_tracker.result().numpy()) == 0.0
    assert backup._resume_step == 1


def _damage_json(folder):
    (folder / "checkpoint.json").write_text('{"format": "nerve.BackupAndRestore/1", "epo')


def _damage_arrays(folder):
    arrays = next(p for p in folder.iterdir() if p.name.startswith("arrays-"))
    arrays.write_bytes(arrays.read_bytes()[:40])


def _remove_arrays(folder):
    next(p for p in folder.iterdir() if p.name.startswith("arrays-")).unlink()


def _drop_keys(folder):
    metadata = json.loads((folder / "checkpoint.json").read_text())
    del metadata["model"]
    (folder / "checkpoint.json").write_text(json.dumps(metadata))


def _escape_folder(folder):
    metadata = json.loads((folder / "checkpoint.json").read_text())
    metadata["arrays"] = "../../etc/passwd"
    (folder / "checkpoint.json").write_text(json.dumps(metadata))


def _wrong_shapes(folder):
    metadata = json.loads((folder / "checkpoint.json").read_text())
    metadata["model"][0]["shape"] = [99, 99]
    (folder / "checkpoint.json").write_text(json.dumps(metadata))


@pytest.mark.parametrize(
    ("damage", "detail"),
    [
        (_damage_json, "checkpoint.json cannot be read"),
        (_damage_arrays, "cannot be read"),
        (_remove_arrays, "cannot be read"),
        (_drop_keys, "no valid 'model'"),
        (_escape_folder, "outside the backup"),
        (_wrong_shapes, "lacks model variable 0"),
    ],
)
def test_a_damaged_backup_is_a_clear_error(tmp_path, damage, detail):
    model = FakeModel()
    backup = BackupAndRestore(str(tmp_path), delete_checkpoint=False)
    backup.set_model(model)
    backup.on_train_begin()
    backup.on_epoch_end(0)
    damage(tmp_path)
    weights = model.get_weights()
    with pytest.raises(ValueError, match=rf"backup in .* is damaged: .*{detail}.*delete it"):
        backup.on_train_begin()
    _assert_same(model.get_weights(), weights)
