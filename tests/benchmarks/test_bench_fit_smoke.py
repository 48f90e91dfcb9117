"""``benchmarks/bench_fit.py --smoke`` still runs end to end (tiny sizes, a few seconds)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_fit.py"


def test_bench_fit_smoke_runs_and_reports_every_contender():
    pytest.importorskip("torch")
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--smoke"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    records = {r["case"]: r for r in map(json.loads, proc.stdout.splitlines())}
    assert {"environment", "digits_mlp", "mnist_mlp"} <= set(records)
    for case in ("digits_mlp", "mnist_mlp"):
        record = records[case]
        for contender in ("nerve", "torch"):
            result = record[contender]
            assert "error" not in result, result
            assert result["samples_per_s"] > 0
            assert result["peak_rss_mb"] > 0
        assert record["nerve"]["compile_s"] >= 0
        assert record["nerve_over_torch"] > 0
        keras = record["keras"]
        assert keras == "not installed" or keras["samples_per_s"] > 0
