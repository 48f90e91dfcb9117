"""Helpers shared by the benchmark scripts: the OpenBLAS re-exec, JSON output, timing.

This machine may set OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE, which make a current NumPy
pick a slower matmul kernel than a user's machine would; a benchmark re-runs itself
without them (its own command only) and reports the kernel threadpoolctl sees.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time

OPENBLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def reexec_without_openblas_overrides() -> None:
    if any(v in os.environ for v in OPENBLAS_VARS):
        env = {k: v for k, v in os.environ.items() if k not in OPENBLAS_VARS}
        os.execve(sys.executable, [sys.executable, *sys.argv], env)


#: Environment variables BLAS and OpenMP thread pools read when they load.
THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def worker_env(threads: int) -> dict:
    """This process's environment, with every thread pool set to ``threads`` unless
    that is the machine's CPU count (the libraries' own default)."""
    env = dict(os.environ)
    if threads != os.cpu_count():
        for var in THREAD_VARS:
            env[var] = str(threads)
    return env


def _pinning(env: dict):
    """A ``preexec_fn`` that keeps the worker on as many CPUs as its thread pools were
    capped at (``worker_env``), or ``None`` when they were not. Thread variables alone
    do not bind every library: XLA's CPU client, given one-thread flags, still ran a
    matmul loop at 1.96 CPU-seconds per second (2026-12-05), so a "one-thread" JAX
    figure was a two-core one; an affinity mask binds them all alike."""
    threads = env.get("OMP_NUM_THREADS", "")
    if not threads.isdigit() or not hasattr(os, "sched_setaffinity"):
        return None
    cpus = sorted(os.sched_getaffinity(0))
    if int(threads) >= len(cpus):
        return None
    chosen = set(cpus[: max(1, int(threads))])
    return lambda: os.sched_setaffinity(0, chosen)


def run_worker_process(cmd: list, env: dict) -> dict:
    """Run a benchmark worker (one contender in a process of its own) and return the
    JSON it prints on a ``RESULT `` line, or ``{"error": ...}`` with its last lines.
    A worker whose thread pools were capped (``worker_env``) also runs on that many
    CPUs only (``_pinning``)."""
    import subprocess

    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, preexec_fn=_pinning(env))
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
    return {"error": f"exit {proc.returncode}: " + " | ".join(tail)}


def emit(record: dict) -> None:
    """One JSON line per case."""
    print(json.dumps(record), flush=True)


def best_time(fn, repeat: int, number: int, clock=time.perf_counter) -> float:
    """Best-of-``repeat`` seconds per call, each sample averaging ``number`` calls, on
    ``clock`` (wall time by default; ``time.process_time`` for CPU time)."""
    best = float("inf")
    for _ in range(repeat):
        start = clock()
        for _ in range(number):
            fn()
        best = min(best, (clock() - start) / number)
    return best


def interleaved_times(steps: dict, repeat: int, number: int) -> dict:
    """Best seconds per call of each step, timed round-robin so that load from other
    processes on a shared machine hits every contender alike."""
    best = dict.fromkeys(steps, float("inf"))
    for _ in range(repeat):
        for name, fn in steps.items():
            best[name] = min(best[name], best_time(fn, 1, number))
    return best


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def blas_info() -> dict:
    """The BLAS libraries NumPy (and torch) loaded, with kernel and thread count."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return {"blas": "threadpoolctl not installed"}
    info = [
        {k: d.get(k) for k in ("internal_api", "version", "architecture", "num_threads")}
        for d in threadpool_info()
        if d.get("user_api") == "blas"
    ]
    return {"blas": info}


def init_mlp(sizes: tuple, batch: int, seed: int = 42) -> tuple[list, object, object]:
    """Glorot-uniform weights, zero biases, a random input batch and integer labels
    (NumPy arrays), so every contender starts from the same numbers."""
    import numpy as np

    rng = np.random.default_rng(seed)
    weights = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        limit = np.sqrt(6 / (fan_in + fan_out))
        weights.append(rng.uniform(-limit, limit, (fan_in, fan_out)).astype(np.float32))
        weights.append(np.zeros(fan_out, np.float32))
    x = rng.standard_normal((batch, sizes[0])).astype(np.float32)
    y = rng.integers(0, sizes[-1], batch).astype(np.int64)
    return weights, x, y


def machine_record(threads: int | None = None, **extra) -> dict:
    """The ``environment`` JSON line every benchmark prints first: threads, CPUs, load,
    the OpenBLAS overrides in effect and the BLAS kernel (without importing torch)."""
    import numpy  # noqa: F401  (loads OpenBLAS, so that threadpoolctl can report it)

    record: dict = {"case": "environment"}
    if threads is not None:
        record["threads"] = threads
    record.update(
        cpus=os.cpu_count(),
        loadavg=[round(v, 2) for v in os.getloadavg()],
        openblas_env={v: os.environ.get(v) for v in OPENBLAS_VARS},
        **extra,
    )
    return {**record, **blas_info()}


def environment_record() -> dict:
    """The ``environment`` JSON line: versions, threads, and the BLAS kernel in use."""
    import numpy
    import torch

    return {
        "case": "environment",
        "python": sys.version.split()[0],
        "numpy": numpy.__version__,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "openblas_env": {v: os.environ.get(v) for v in OPENBLAS_VARS},
        "native_loops": native_loops(),
        **blas_info(),
    }


def native_loops() -> str:
    """Which C compiler (and flags) builds nerve's fused loops here, or why none does."""
    from nerve.backend.numpy_backend.native import toolchain

    if not toolchain.enabled():
        return "off (NERVE_NATIVE=0)"
    tool = toolchain.compiler()
    if tool is None:
        return "no C compiler: NumPy kernels"
    return f"{tool[2]} {' '.join(tool[1])}"
