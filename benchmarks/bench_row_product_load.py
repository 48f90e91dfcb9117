"""The split row product at batch 1 (``native/row_product.py``) with the other core
quiet or busy: what a dense layer's ``(1, K) @ (K, N)`` costs when another process
competes for the core the C worker thread runs on.

For each load and each of the MLP's two split products (784x512, 512x256, float32,
bias and ReLU fused), times many calls one by one (``perf_counter_ns``, wall clock:
a wait on a descheduled worker is the cost being measured) in two modes:

* ``split``: back-off disabled, every call split (the runtime's own latency);
* ``library``: as the library runs (back-off allowed; a declined call runs NumPy's
  matmul and the epilogue, as ``nn``'s dense kernel does).

Loads: ``quiet`` (nothing started here; other users of the host may still run),
``busy`` (a Python busy loop pinned to CPU 1), ``bursty`` (pinned to CPU 1, busy
~200 us then asleep ~200 us, over and over: what preempts a worker mid-chunk).
With ``--pin``, the calling thread runs on the first CPU and every other thread (the
C worker among them) on the last, with the load: the worker is then the one the load
preempts, the case stealing is for.

Prints one JSON line per (load, shape, mode): best, median, p90 and p99 in
microseconds, and how many chunks the worker computed and the caller stole.

Usage: ``python benchmarks/bench_row_product_load.py [--calls 4000]
[--loads quiet,busy,bursty] [--pin]``
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time

import numpy as np
from common import emit, reexec_without_openblas_overrides

from nerve.backend.numpy_backend.native import row_product

_LOADS = {
    "busy": "while True: pass",
    "bursty": (
        "import time\n"
        "while True:\n"
        "    end = time.perf_counter() + 2e-4\n"
        "    while time.perf_counter() < end: pass\n"
        "    time.sleep(2e-4)\n"
    ),
}


def _start_load(load: str) -> subprocess.Popen | None:
    if load == "quiet":
        return None
    cpu = str(max(os.sched_getaffinity(0)))
    command = ["taskset", "-c", cpu, sys.executable, "-c", _LOADS[load]]
    process = subprocess.Popen(command)
    time.sleep(0.3)  # let it start spinning
    return process


def _stolen() -> int:
    stolen = getattr(row_product, "stolen_chunks", None)  # absent before stealing
    return 0 if stolen is None else stolen()[0]


def _pin_threads(pin: bool) -> None:
    """With ``pin``: this (the calling) thread on the first CPU, every other thread of
    the process (the C workers, idle BLAS threads) on the last, where the load runs;
    else all on every CPU."""
    cpus = sorted(os.sched_getaffinity(0)) if not pin else None
    every = set(cpus) if cpus else set(range(os.cpu_count() or 1))
    main = threading.get_native_id()
    for task in os.listdir("/proc/self/task"):
        tid = int(task)
        if not pin:
            os.sched_setaffinity(tid, every)
        else:
            os.sched_setaffinity(tid, {min(every)} if tid == main else {max(every)})


def _time(call, calls: int, pin: bool) -> tuple[np.ndarray, int, int]:
    for _ in range(200):  # warm: the worker awake, the matrix in the caches
        call()
    _pin_threads(pin)
    worker, stolen = row_product.worker_chunks(), _stolen()
    times = np.empty(calls)
    clock = time.perf_counter_ns
    for i in range(calls):
        start = clock()
        call()
        times[i] = clock() - start
    return times / 1e3, row_product.worker_chunks() - worker, _stolen() - stolen


def _library_call(a, b, bias):
    def call():
        out = row_product.product_bias_relu(a, b, bias)
        if out is None:
            out = a @ b
            row_product.add_bias_relu(out, bias)
        return out

    return call


def main() -> None:
    reexec_without_openblas_overrides()
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=4000)
    parser.add_argument("--loads", default="quiet,busy,bursty")
    parser.add_argument(
        "--pin",
        action="store_true",
        help="the caller on the first CPU, the worker threads on the last (with the load)",
    )
    args = parser.parse_args()
    run = row_product.product_function()
    if run is None:
        raise SystemExit("no working C compiler: nothing to measure")
    rng = np.random.default_rng(0)
    shapes = [(784, 512), (512, 256)]
    operands = {
        shape: (
            rng.standard_normal((1, shape[0])).astype(np.float32),
            rng.standard_normal(shape).astype(np.float32),
            rng.standard_normal(shape[1]).astype(np.float32),
        )
        for shape in shapes
    }
    for load in args.loads.split(","):
        process = _start_load(load)
        try:
            for shape, (a, b, bias) in operands.items():
                for mode in ("split", "library"):
                    row_product.allow_back_off(mode == "library")
                    if mode == "split":
                        call = lambda a=a, b=b, bias=bias: run(a, b, True, bias)  # noqa: E731
                    else:
                        call = _library_call(a, b, bias)
                    times, worker, stolen = _time(call, args.calls, args.pin)
                    emit(
                        {
                            "load": load,
                            "pinned": args.pin,
                            "shape": f"{shape[0]}x{shape[1]}",
                            "mode": mode,
                            "best_us": round(float(times.min()), 2),
                            "median_us": round(float(np.median(times)), 2),
                            "p90_us": round(float(np.percentile(times, 90)), 2),
                            "p99_us": round(float(np.percentile(times, 99)), 2),
                            "worker_chunks": worker,
                            "stolen_chunks": stolen,
                        }
                    )
        finally:
            row_product.allow_back_off(True)
            if process is not None:
                process.kill()
                process.wait()


if __name__ == "__main__":
    main()
