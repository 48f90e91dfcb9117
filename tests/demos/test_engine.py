"""The main job: `nerve demo` trains the raw-engine MLP on the embedded digits."""

import subprocess
import sys
import time

import pytest

from nerve.cli import main
from nerve.demos.engine import run_demo


@pytest.mark.slow
def test_demo_reaches_95_percent_within_a_minute():
    start = time.perf_counter()
    result = run_demo(log=lambda *args: None)
    elapsed = time.perf_counter() - start
    assert result.test_accuracy >= 0.95, result
    assert elapsed < 60, f"demo took {elapsed:.1f} s"


def test_demo_is_deterministic_for_a_seed():
    first = run_demo(epochs=2, seed=7, log=lambda *args: None)
    second = run_demo(epochs=2, seed=7, log=lambda *args: None)
    other = run_demo(epochs=2, seed=8, log=lambda *args: None)
    assert first.final_loss == second.final_loss
    assert first.test_accuracy == second.test_accuracy
    assert other.final_loss != first.final_loss


def test_cli_engine_demo_prints_accuracy(capsys):
    assert main(["demo", "--engine", "--epochs", "1"]) == 0
    out = capsys.readouterr().out
    assert "test accuracy:" in out


def test_python_dash_m_nerve_runs():
    done = subprocess.run(
        [sys.executable, "-m", "nerve", "--version"], capture_output=True, text=True, check=True
    )
    assert done.stdout.startswith("nerve ")
