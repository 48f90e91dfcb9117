"""The benchmark scripts still run end to end on tiny sizes (bench_fit, bench_predict)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_fit.py"


@pytest.mark.slow
def test_bench_fit_smoke_runs_and_reports_every_contender():
    pytest.importorskip("torch")
    proc = subprocess.run(
        # Keras (when installed) runs in the full benchmark; here it would only add time.
        [sys.executable, str(SCRIPT), "--smoke", "--no-keras"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    records = {r["case"]: r for r in map(json.loads, proc.stdout.splitlines())}
    cases = ("digits_mlp", "mnist_mlp", "mnist_convnet")
    assert {"environment", *cases} <= set(records)
    for case in cases:
        record = records[case]
        for contender in ("nerve", "torch"):
            result = record[contender]
            assert "error" not in result, result
            assert result["samples_per_s"] > 0
            assert result["peak_rss_mb"] > 0
        assert record["nerve"]["compile_s"] >= 0
        assert record["nerve_over_torch"] > 0
        assert record["keras"] in ("not installed", "skipped (--no-keras)")


def test_bench_predict_runs_and_reports_ratios():
    pytest.importorskip("torch")
    script = SCRIPT.parent / "bench_predict.py"
    proc = subprocess.run(
        [sys.executable, str(script), "--only", "digits", "--batches", "1", "--rounds", "1",
         "--number", "2"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    (record,) = [r for r in records if r["case"] == "digits_predict"]
    assert record["batch"] == 1 and "error" not in record, record
    assert record["nerve_call_ms"] > 0 and record["torch_ms"] > 0
    assert record["torch_over_nerve_call"] > 0
