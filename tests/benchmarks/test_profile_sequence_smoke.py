"""``benchmarks/profile_sequence.py`` still profiles a compiled training step."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "profile_sequence.py"


@pytest.mark.slow
@pytest.mark.parametrize("clock", [[], ["--cpu-clock"]])
def test_profile_sequence_prints_the_step_and_its_largest_nodes(clock):
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "gru", "--repeat", "1", "--top", "1000", *clock],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    header, *rows = map(json.loads, proc.stdout.splitlines())
    assert header["case"] == "gru" and header["step_ms"] > 0
    assert header["clock"] == ("cpu" if clock else "wall")
    times = [r["ms"] for r in rows]
    assert len(rows) > 3 and times == sorted(times, reverse=True) and times[0] > 0
    # The recurrence is one node each way (where it ranks is the machine's business).
    assert [r["op"] for r in rows].count("scan") == 2
