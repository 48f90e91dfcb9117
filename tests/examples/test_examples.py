"""The scripts in ``examples/`` run and learn what they say they learn.

Each script is imported by path and its ``main()`` run in a temporary working
directory (the scripts write their files there); each also runs as ``__main__``
with warnings as errors. The last tests check Keras forms the examples do not
happen to use.
"""

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nerve
from nerve import layers, ops

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SCRIPTS = [
    "digits_mlp",
    "device_triage",
    "robust_train_step",
    "custom_layers",
    "digits_convnet",
    "csv_table",
]


def load_example(name):
    """Import ``examples/<name>.py`` once, under a fixed module name (so that the
    custom objects it registers are registered once)."""
    module_name = f"nerve_examples_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_digits_mlp(workdir):
    results = load_example("digits_mlp").main()
    assert 1 <= results["epochs_run"] <= 40
    assert results["last_loss"] < results["first_loss"] / 3
    assert results["test_accuracy"] > 0.93
    # The .keras file reloads to the best weights EarlyStopping put back.
    assert (workdir / "digit_reader.keras").is_file()
    assert results["max_prediction_diff"] == 0.0
    assert results["reloaded_test_accuracy"] == results["test_accuracy"]
    confused = results["most_confused"]
    assert confused["digit"] != confused["read_as"] and confused["times"] >= 1


@pytest.mark.slow
def test_digits_convnet(workdir):
    results = load_example("digits_convnet").main()
    assert results["epochs_run"] == 12
    assert results["last_loss"] < results["first_loss"] / 10
    assert (workdir / "best_digit_convnet.weights.h5").is_file()
    assert results["test_accuracy"] >= 0.96, results


def test_csv_table(workdir):
    results = load_example("csv_table").main(epochs=6)
    assert (workdir / "loans.csv").is_file()
    # 5 standardized numbers, a missing-income flag, 4 one-hot purposes.
    assert results["num_features"] == 10
    assert results["last_loss"] < 0.6 * results["first_loss"]
    assert results["test_accuracy"] > 0.8  # balanced labels: chance is 0.5


def test_image_folder(workdir):
    pytest.importorskip("PIL")
    results = load_example("image_folder").main(epochs=3)
    assert results["files"] == 1797
    assert results["class_names"] == [str(d) for d in range(10)]
    assert results["last_loss"] < 0.3 * results["first_loss"]
    assert results["val_accuracy"] > 0.85
    assert "broken.png" in results["corrupt_error"]


@pytest.mark.slow
def test_text_bilstm(workdir):
    # Short sequences keep the test quick; the script itself pads to 200.
    results = load_example("text_bilstm").main(epochs=5, maxlen=60, train_size=1200)
    assert results["last_loss"] < 0.7 * results["first_loss"]
    assert results["test_accuracy"] > 0.75  # balanced labels: chance is 0.5


def test_text_transformer(workdir):
    results = load_example("text_transformer").main(epochs=3, train_size=1500)
    assert results["last_loss"] < 0.5 * results["first_loss"]
    assert results["test_accuracy"] > 0.9


def test_timeseries_gru(workdir):
    results = load_example("timeseries_gru").main(epochs=8, days=1500)
    assert results["last_loss"] < 0.3 * results["first_loss"]
    # The GRU beats the naive forecast "tomorrow equals today".
    assert results["gru_mae_degrees"] < results["naive_mae_degrees"]


def test_device_triage(workdir):
    results = load_example("device_triage").main()
    assert results["history_keys"] == [
        "alert_binary_accuracy",
        "alert_loss",
        "component_loss",
        "component_sparse_categorical_accuracy",
        "loss",
    ]
    assert results["last_loss"] < 0.3 * results["first_loss"]
    scores = results["test_scores"]
    # loss_weights={"alert": 1.0, "component": 0.3}
    expected = scores["alert_loss"] + 0.3 * scores["component_loss"]
    assert scores["loss"] == pytest.approx(expected, rel=1e-4)
    # Better than always answering "no alert" (which scores 1 - alert_rate).
    assert scores["alert_binary_accuracy"] > max(0.85, 1 - results["alert_rate"] + 0.05)
    assert scores["component_sparse_categorical_accuracy"] > 0.8  # chance: 0.25
    assert results["prediction_shapes"] == {"alert": (400, 1), "component": (400, 4)}


def test_robust_train_step(workdir):
    module = load_example("robust_train_step")
    results = module.main(epochs=20)
    assert len(results["clipped_loss"]) == len(results["huber_loss"]) == 20
    for key in ("clipped_loss", "huber_loss"):
        assert results[key][-1] < 0.8 * results[key][0], (key, results[key])
    # Its own metric, reported by fit; its test_step leaves it out of evaluate, and
    # evaluate reports what test_step returned (as Keras does).
    assert len(results["clipped_grad_norm"]) == 20
    assert set(results["clipped_scores"]) == {"loss", "mae"}
    assert set(results["huber_scores"]) == {"loss", "mae"}
    # Both learned the clean curve despite the corrupted targets.
    assert results["clipped_scores"]["mae"] < 0.1
    assert results["huber_scores"]["mae"] < 0.1
    # 1200 samples, batch size 40: 30 optimizer steps per epoch.
    assert results["optimizer_iterations"] == 20 * 30


def test_overridden_train_step_is_the_one_fit_runs(workdir):
    """A train_step that only counts its calls trains nothing, and its logs are what
    the history records."""
    module = load_example("robust_train_step")

    class Counting(module.ClippedRegressor):
        def train_step(self, data):
            self.calls.update_state(1.0)
            return {"calls": self.calls.result()}

    model = Counting()
    model.calls = nerve.metrics.Sum(name="calls")
    model.compile(optimizer="sgd", loss="mse")
    raw, _, logged, _ = module.make_readings(count=64)
    history = model.fit(raw, logged, batch_size=16, epochs=2, verbose=0)
    assert history.history["calls"] == [4.0, 4.0]
    assert int(model.optimizer.iterations) == 0


def test_custom_layers(workdir):
    results = load_example("custom_layers").main()
    assert results["config_roundtrip"] is True
    assert results["registered_name"] == "workshop>GatedDense"
    assert results["last_loss"] < 0.05 * results["first_loss"]
    assert results["test_mae"] < 0.1 * results["mean_area"]
    assert (workdir / "triangle_area.keras").is_file()
    assert results["reloaded_layer_types"] == [
        "InputLayer",
        "Standardize",
        "GatedDense",
        "Activation",
        "GatedDense",
        "Activation",
        "Dense",
    ]
    # adapt()'s statistics are weights: they come back from the file.
    np.testing.assert_allclose(results["reloaded_mean"], results["adapted_mean"], rtol=1e-6)
    assert results["max_prediction_diff"] == 0.0
    assert results["reloaded_compiled"] is True
    saved_iterations, reloaded_iterations = results["optimizer_iterations"]
    assert saved_iterations == reloaded_iterations == 30 * 32  # epochs x batches


@pytest.mark.parametrize("name", SCRIPTS)
def test_script_runs_as_main(name, tmp_path):
    """``python examples/<name>.py`` (verbose: summary and progress bars) prints the
    results dict."""
    completed = subprocess.run(
        [sys.executable, "-W", "error", str(EXAMPLES / f"{name}.py")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,  # a guard against hangs, not a speed test
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.rstrip().splitlines()[-1].startswith("{")


# -- Keras forms the examples do not need but Keras users write --------------------


def test_keras_form_subclass_built_functionally():
    class CustomModel(nerve.Model):
        pass

    inputs = nerve.Input(shape=(32,))
    outputs = layers.Dense(1)(inputs)
    model = CustomModel(inputs, outputs)
    assert isinstance(model, CustomModel)
    assert model(ops.ones((2, 32))).shape == (2, 1)


def test_keras_form_concatenate_layer():
    a, b = nerve.Input(shape=(3,)), nerve.Input(shape=(4,))
    assert layers.concatenate([a, b]).shape == (None, 7)


def test_keras_form_registered_activation_roundtrip(workdir):
    # The example registers soft_clip as "workshop>soft_clip".
    soft_clip = load_example("custom_layers").soft_clip

    inputs = nerve.Input(shape=(4,))
    outputs = layers.Dense(1, activation=soft_clip)(inputs)
    model = nerve.Model(inputs, outputs)
    model.save("soft_clip.keras")
    reconstructed = nerve.saving.load_model("soft_clip.keras")
    x = np.random.default_rng(0).random((8, 4)).astype("float32")
    np.testing.assert_allclose(model.predict(x, verbose=0), reconstructed.predict(x, verbose=0))
