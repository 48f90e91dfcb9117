"""ModelCheckpoint: filenames, best-only, save_freq, suffix rules, no partial files."""

import os

import pytest

from nerve.callbacks import ModelCheckpoint
from tests.callbacks.fake_model import FakeModel, files_in


def run(checkpoint, model, epoch_logs, steps=0):
    checkpoint.set_model(model)
    checkpoint.on_train_begin()
    for epoch, logs in enumerate(epoch_logs):
        checkpoint.on_epoch_begin(epoch)
        for step in range(steps):
            checkpoint.on_train_batch_end(step, {"loss": 1.0 / (step + 1)})
        checkpoint.on_epoch_end(epoch, logs)
    checkpoint.on_train_end()


def test_filename_formatting_every_epoch(tmp_path):
    model = FakeModel()
    path = str(tmp_path / "sub" / "model-{epoch:02d}-{val_loss:.2f}.keras")
    run(ModelCheckpoint(path), model, [{"val_loss": 0.912}, {"val_loss": 1.5}])
    assert files_in(tmp_path / "sub") == ["model-01-0.91.keras", "model-02-1.50.keras"]
    assert model.saved and all(".nerve-tmp-" in os.path.basename(p) for p in model.saved)


def test_save_best_only_min_and_max(tmp_path, capsys):
    model = FakeModel()
    path = str(tmp_path / "best-{epoch}.keras")
    losses = [{"val_loss": v} for v in (1.0, 0.8, 0.9, 0.7)]
    run(ModelCheckpoint(path, save_best_only=True, verbose=1), model, losses)
    assert files_in(tmp_path) == ["best-1.keras", "best-2.keras", "best-4.keras"]
    out = capsys.readouterr().out
    assert "Epoch 1: val_loss improved from inf to 1.00000, saving model to" in out
    assert "Epoch 3: val_loss did not improve from 0.80000" in out

    folder = tmp_path / "acc"
    accuracies = [{"val_accuracy": v} for v in (0.5, 0.4, 0.6)]
    checkpoint = ModelCheckpoint(
        str(folder / "{epoch}.keras"), monitor="val_accuracy", save_best_only=True
    )
    run(checkpoint, model, accuracies)  # auto: accuracy goes up
    assert files_in(folder) == ["1.keras", "3.keras"] and checkpoint.best == 0.6
    folder = tmp_path / "min"
    checkpoint = ModelCheckpoint(
        str(folder / "{epoch}.keras"), monitor="val_accuracy", save_best_only=True, mode="min"
    )
    run(checkpoint, model, accuracies)
    assert files_in(folder) == ["1.keras", "2.keras"]


def test_initial_value_threshold(tmp_path):
    checkpoint = ModelCheckpoint(
        str(tmp_path / "{epoch}.keras"), save_best_only=True, initial_value_threshold=0.85
    )
    run(checkpoint, FakeModel(), [{"val_loss": v} for v in (1.0, 0.9, 0.8)])
    assert files_in(tmp_path) == ["3.keras"]


def test_save_best_only_missing_metric_warns(tmp_path):
    checkpoint = ModelCheckpoint(str(tmp_path / "m.keras"), save_best_only=True)
    with pytest.warns(UserWarning, match="Can save best model only with val_loss available"):
        run(checkpoint, FakeModel(), [{"loss": 1.0}])
    assert files_in(tmp_path) == []


def test_save_weights_only_and_int_save_freq(tmp_path):
    model = FakeModel()
    path = str(tmp_path / "w-{epoch}-{batch}.weights.h5")
    run(ModelCheckpoint(path, save_weights_only=True, save_freq=2), model, [{}, {}], steps=3)
    # Every 2 steps, counted across epochs: after steps 2 and (epoch 2) 1 and 3.
    assert files_in(tmp_path) == ["w-1-2.weights.h5", "w-2-1.weights.h5", "w-2-3.weights.h5"]
    with open(tmp_path / "w-1-2.weights.h5", "rb") as f:
        assert f.read() == b"weights"


@pytest.mark.parametrize(
    ("filepath", "weights_only", "match"),
    [
        ("m.h5", False, "must end in `.keras`"),
        ("m.keras", True, "must end in `.weights.h5`"),
        ("m.weights", True, "must end in `.weights.h5`"),
    ],
)
def test_suffix_rules(filepath, weights_only, match):
    with pytest.raises(ValueError, match=match):
        ModelCheckpoint(filepath, save_weights_only=weights_only)


@pytest.mark.parametrize("save_freq", ["batch", 0, 2.5])
def test_invalid_save_freq(save_freq):
    with pytest.raises(ValueError, match="save_freq"):
        ModelCheckpoint("m.keras", save_freq=save_freq)


def test_unknown_placeholder(tmp_path):
    checkpoint = ModelCheckpoint(str(tmp_path / "{val_acc:.2f}.keras"))
    checkpoint.set_model(FakeModel())
    with pytest.raises(KeyError, match=r"Failed to format this callback filepath.*val_acc"):
        checkpoint.on_epoch_end(0, {"val_loss": 1.0})


def test_directory_filepath_is_refused(tmp_path):
    (tmp_path / "d.keras").mkdir()
    checkpoint = ModelCheckpoint(str(tmp_path / "d.keras"))
    checkpoint.set_model(FakeModel())
    with pytest.raises(OSError, match="non-directory filepath"):
        checkpoint.on_epoch_end(0, {})


def test_crash_while_saving_leaves_no_partial_file(tmp_path):
    class CrashingModel(FakeModel):
        crash = False

        def save(self, filepath, overwrite=True):
            with open(filepath, "wb") as f:
                f.write(b"half a mod")
                if self.crash:
                    raise MemoryError("killed mid-save")
                f.write(b"el")

    model = CrashingModel()
    checkpoint = ModelCheckpoint(str(tmp_path / "model.keras"))
    checkpoint.set_model(model)
    checkpoint.on_epoch_end(0, {})
    model.crash = True
    with pytest.raises(MemoryError):
        checkpoint.on_epoch_end(1, {})
    assert files_in(tmp_path) == ["model.keras"]  # no temporary left behind
    with open(tmp_path / "model.keras", "rb") as f:
        assert f.read() == b"half a model"  # the earlier checkpoint, whole

    model = CrashingModel()
    model.crash = True
    checkpoint = ModelCheckpoint(str(tmp_path / "new" / "model.keras"))
    checkpoint.set_model(model)
    with pytest.raises(MemoryError):
        checkpoint.on_epoch_end(0, {})
    assert files_in(tmp_path / "new") == []
