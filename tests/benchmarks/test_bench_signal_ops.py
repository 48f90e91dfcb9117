"""bench_signal_ops still runs end to end on a tenth of a second of audio."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_signal_ops.py"


@pytest.mark.slow
def test_bench_signal_ops_smoke_reports_ratios():
    pytest.importorskip("torch")
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--smoke"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    (record,) = [r for r in records if r["case"] == "stft"]
    assert record["nerve"]["shape"] == record["torch"]["shape"] == [11, 257], record
    assert record["torch_over_nerve_eager"] > 0 and record["torch_over_nerve_compiled"] > 0
