"""bench_ops still runs end to end: one round of short samples of the rows moved in
from the signal and image benchmarks (stft, image.resize) and of a matrix function,
every contender timed."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_ops.py"
CASES = {
    "stft_1s_16khz": ("nerve", "nerve_function"),
    "resize_bilinear_32x224x224x3_to_112": ("nerve",),
    "solve_512x512": ("nerve",),  # the LINALG rows
}


@pytest.mark.slow
@pytest.mark.parametrize(
    "clock, cases",
    [("wall", CASES), ("cpu", {"stft_1s_16khz": CASES["stft_1s_16khz"]})],
)
def test_bench_ops_smoke_reports_ratios(clock, cases):
    pytest.importorskip("torch")
    only = [arg for case in cases for arg in ("--only", case)]
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--smoke", *only, *["--cpu-time"] * (clock == "cpu")],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    records = {r["case"]: r for r in map(json.loads, proc.stdout.splitlines())}
    for case, contenders in cases.items():
        record = records[case]
        assert record["threads"] == 1 and record["clock"] == clock, record
        for contender in contenders:
            assert record[f"torch_over_{contender}"] > 0, record
