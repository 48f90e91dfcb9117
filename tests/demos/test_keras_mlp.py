"""The main job, Keras form: `nerve demo` trains, evaluates, saves, reloads and plots."""

import os
import subprocess
import sys

import pytest

from nerve.cli import main
from nerve.demos.keras_mlp import run_keras_demo


@pytest.mark.slow
def test_keras_demo_reaches_96_percent_and_saves_model_and_plot(tmp_path):
    result = run_keras_demo(output_dir=str(tmp_path), verbose=0, log=lambda *a: None)
    assert result.test_accuracy >= 0.96, result
    assert os.path.getsize(result.model_path) > 0
    if result.plot_path is not None:  # matplotlib is an optional extra
        with open(result.plot_path, "rb") as png:
            assert png.read(8) == b"\x89PNG\r\n\x1a\n"


def test_keras_demo_is_deterministic(tmp_path):
    first = run_keras_demo(epochs=3, output_dir=str(tmp_path / "a"), verbose=0, plot=False,
                           log=lambda *a: None)  # fmt: skip
    second = run_keras_demo(epochs=3, output_dir=str(tmp_path / "b"), verbose=0, plot=False,
                            log=lambda *a: None)  # fmt: skip
    assert first.history == second.history


def test_plot_step_explains_how_to_enable_it_without_matplotlib(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    lines = []
    result = run_keras_demo(epochs=1, output_dir=str(tmp_path), verbose=0, log=lines.append)
    assert result.plot_path is None
    assert any("pip install 'nerve[demo]'" in str(line) for line in lines)


def test_save_step_explains_how_to_enable_it_without_h5py(tmp_path, monkeypatch):
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "h5py" else real_find_spec(name, *a),
    )
    lines = []
    result = run_keras_demo(epochs=1, output_dir=str(tmp_path), verbose=0, plot=False,
                            log=lines.append)  # fmt: skip
    assert result.model_path is None and list(tmp_path.iterdir()) == []
    assert any("h5py" in line and "pip install 'nerve[demo]'" in line for line in lines)


def test_demo_writes_into_its_own_folder_by_default(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run_keras_demo(epochs=1, verbose=0, plot=False, log=lambda *a: None)
    assert [p.name for p in tmp_path.iterdir()] == ["nerve-demo"]
    assert os.path.dirname(result.model_path) == "nerve-demo"


def test_engine_demo_refuses_an_output_dir_it_would_not_use(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--engine", "--output-dir", "somewhere"])
    assert exit_info.value.code == 2
    assert "--output-dir" in capsys.readouterr().err


def test_cli_demo_shows_progress_summary_and_accuracy(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "nerve", "demo", "--epochs", "2", "--verbose", "2",
         "--output-dir", str(tmp_path), "--no-plot"],
        capture_output=True, text=True, check=True, cwd=tmp_path,
    )  # fmt: skip
    out = done.stdout
    assert "Total params" in out and "Epoch 2/2" in out and "test accuracy:" in out
    assert os.path.exists(tmp_path / "digits.keras")


def test_cli_main_returns_zero(tmp_path):
    assert main(["demo", "--epochs", "1", "--output-dir", str(tmp_path), "--no-plot",
                 "--verbose", "0"]) == 0  # fmt: skip


@pytest.mark.slow
def test_convnet_demo_reaches_97_percent_and_saves(tmp_path):
    result = run_keras_demo(
        epochs=15, output_dir=str(tmp_path), verbose=0, plot=False, log=lambda *a: None,
        model="convnet",
    )  # fmt: skip
    assert result.test_accuracy >= 0.97, result
    assert os.path.basename(result.model_path) == "digits_convnet.keras"
    assert os.path.getsize(result.model_path) > 0


def test_cli_convnet_flag_trains_the_convnet(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "nerve", "demo", "--convnet", "--epochs", "1", "--verbose", "0",
         "--output-dir", str(tmp_path), "--no-plot"],
        capture_output=True, text=True, check=True, cwd=tmp_path,
    )  # fmt: skip
    assert "conv2d" in done.stdout and "test accuracy:" in done.stdout
    assert os.path.exists(tmp_path / "digits_convnet.keras")


def test_unknown_demo_model_is_named(tmp_path):
    with pytest.raises(ValueError, match="Unknown demo model 'vgg'"):
        run_keras_demo(epochs=1, output_dir=str(tmp_path), model="vgg")
