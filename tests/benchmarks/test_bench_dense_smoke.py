"""bench_dense's ``--profile`` runs end to end and its numbers add up."""

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_dense.py"


@pytest.fixture
def bench_dense(monkeypatch):
    monkeypatch.syspath_prepend(str(SCRIPT.parent))  # the script imports its `common`
    return importlib.import_module("bench_dense")


@pytest.mark.parametrize("batch", [1, 32])
def test_step_flops_count_eight_products(bench_dense, batch):
    # Forward and weight gradient of every layer, input gradient past the first:
    # 2 x (2 x 784x512 + 3 x (512x256 + 256x10)) = 2,407,424 per sample, not the
    # 2,407,424 + 2 x 784x512 of three products in every layer.
    assert bench_dense.step_flops(batch) == batch * 2_407_424


@pytest.mark.parametrize("batch", [1, 32])
def test_roofline_times_the_steps_own_products(bench_dense, batch):
    # The products the roofline times are the step's: their FLOPs add up to
    # step_flops, and the weight gradients take a transposed view, as the graph does.
    import numpy as np

    pairs = bench_dense.step_products(np, batch)
    flops = sum(2 * a.shape[0] * a.shape[1] * b.shape[1] for a, b in pairs)
    assert flops == bench_dense.step_flops(batch)
    assert all(a.shape[1] == b.shape[0] and a.dtype == np.float32 for a, b in pairs)
    views = [a for a, _ in pairs if a.base is not None] + [
        b for _, b in pairs if b.base is not None
    ]
    assert len(views) == 5  # x.T in every weight gradient, w.T in two input gradients


@pytest.mark.slow
def test_profile_reports_where_the_step_goes():
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--profile", "--threads", "1", "--seconds", "0.1",
         "--batches", "32", "--optimizers", "sgd"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    records = {r["case"]: r for r in map(json.loads, proc.stdout.splitlines())}
    record = records["profile_mlp_sgd_b32"]
    assert "error" not in record, record
    kernels = record["kernels_cpu_ms"]
    assert {"products", "fused_loops", "reductions"} <= set(kernels)
    assert all(ms > 0 for ms in kernels.values())
    assert record["cpu_ms_per_step"]["graph_run"] > 0  # (no timed bound: the VM is noisy)
    assert record["nodes"] > 0 and record["products_gflops"] > 0
    assert record["step_at_blas_peak_ms"] > 0


@pytest.mark.slow
def test_comparison_reports_every_contender_and_the_roofline():
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--threads", "1", "--batches", "32",
         "--optimizers", "sgd"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    records = {r["case"]: r for r in map(json.loads, proc.stdout.splitlines())}
    record = records["mlp_sgd_b32"]
    for contender in ("nerve_step", "nerve_fit", "torch", "jax"):
        result = record[contender]
        assert result == "not installed (jax)" or result["samples_per_s"] > 0, result
    assert record["matmul_roofline_samples_per_s"] > 0
    assert record["nerve_step_of_roofline"] > 0
    if "jax_of_roofline" in record:
        assert record["goal_of_roofline"] == pytest.approx(1.2 * record["jax_of_roofline"], 0.01)
