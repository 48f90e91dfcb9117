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
    if "fma_peak_gflops" in record:  # (a compiler with AVX2 or AVX-512 here)
        assert 0 < record["products_of_fma_peak"] < 2, record
    if "jax_of_roofline" in record:
        assert record["goal_of_roofline"] == pytest.approx(1.2 * record["jax_of_roofline"], 0.01)


def test_fma_peak_counts_the_loops_flops(bench_dense, monkeypatch):
    # peak_gflops is threads x iterations x (2 x 24 x lanes) FLOPs over the wall time:
    # with a loop that takes a known time, the figure is that count over it.
    import fma_peak

    library = fma_peak._library()
    if library is None:
        pytest.skip("no compiler, or neither AVX2+FMA nor AVX-512 here")
    assert fma_peak.peak_gflops(threads=2, seconds=0.02) > 0

    class Fake:
        def fma_lanes(self):
            return 8

        def fma_loop(self, iterations):
            clock[0] += iterations * 1e-6  # one microsecond an iteration

    clock = [0.0]
    monkeypatch.setattr(fma_peak, "_library", lambda: Fake())
    monkeypatch.setattr(fma_peak.time, "perf_counter", lambda: clock[0])
    # 2 x 24 x 8 = 384 FLOPs an iteration; two threads' runs both advance the fake
    # clock (2 x n us for 2 x n x 384 FLOPs): 384 FLOPs a microsecond, 0.384 GFLOP/s.
    assert fma_peak.peak_gflops(threads=2, seconds=0.01) == pytest.approx(0.384)
