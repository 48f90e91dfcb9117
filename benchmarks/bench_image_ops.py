"""``nerve.ops.image`` side by side with PyTorch, one JSON line per case.

``CASES`` has one row per case and contender: a setup function that takes a NumPy
random generator (every contender starts from the same numbers) and returns the call
to time. Each contender runs in a process of its own, the contenders alternate round
by round (load from other processes on a shared machine hits both alike), and every
case runs at the machine's default thread count and with one thread.
``torch_over_nerve`` is PyTorch's time over nerve's: 1.0 or more means nerve is at
least as fast.

The images are one channels-last batch, 32x224x224x3 float32; PyTorch gets the same
memory as an NCHW tensor in its channels-last memory format (its fast path for this
layout), so neither side pays for a transpose.

Usage: ``python benchmarks/bench_image_ops.py [--only CASE] [--rounds N] [--threads N ...]``
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable

from common import (
    best_time,
    blas_info,
    emit,
    reexec_without_openblas_overrides,
    run_worker_process,
    worker_env,
)

BATCH = (32, 224, 224, 3)


def _images(rng):
    return rng.random(BATCH, dtype="float32")


def _nerve_resize(size: tuple) -> Callable:
    def setup(rng) -> Callable:
        from nerve import ops

        x = ops.convert_to_tensor(_images(rng))
        return lambda: ops.image.resize(x, size, interpolation="bilinear")

    return setup


def _torch_resize(size: tuple) -> Callable:
    def setup(rng) -> Callable:
        import torch

        x = torch.from_numpy(_images(rng)).permute(0, 3, 1, 2)  # NCHW view, NHWC memory
        interpolate = torch.nn.functional.interpolate
        return lambda: interpolate(x, size=size, mode="bilinear", align_corners=False)

    return setup


CASES: dict[str, dict[str, Callable]] = {
    "resize_bilinear_32x224x224x3_to_112": {
        "nerve": _nerve_resize((112, 112)),
        "torch": _torch_resize((112, 112)),
    },
    "resize_bilinear_32x224x224x3_to_256": {
        "nerve": _nerve_resize((256, 256)),
        "torch": _torch_resize((256, 256)),
    },
}

CONTENDERS = ("nerve", "torch")


def worker(case: str, contender: str, threads: int, quick: bool) -> dict:
    import numpy as np

    if contender == "torch":
        import torch

        torch.set_num_threads(threads)
    call = CASES[case][contender](np.random.default_rng(0))
    call()  # warm-up: imports, compiled kernels, first-call caches
    once = best_time(call, 1, 1)
    number = max(1, int((0.05 if quick else 0.2) / max(once, 1e-7)))
    seconds = best_time(call, 3 if quick else 5, number)
    return {"s_per_call": seconds, "calls_per_sample": number}


def run_worker(case: str, contender: str, threads: int, quick: bool) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", contender, "--case", case]
    cmd += ["--threads", str(threads)] + ["--quick"] * quick
    return run_worker_process(cmd, worker_env(threads))


def bench_case(case: str, threads: int, rounds: int, quick: bool) -> dict:
    best: dict = {}
    for _ in range(rounds):
        for contender in CONTENDERS:
            result = run_worker(case, contender, threads, quick)
            previous = best.get(contender, {})
            if "error" in result or result["s_per_call"] < previous.get("s_per_call", 1e9):
                best[contender] = result
    record: dict = {"case": case, "threads": threads}
    for contender in CONTENDERS:
        result = best[contender]
        record[f"{contender}_ms"] = (
            round(result["s_per_call"] * 1e3, 3) if "s_per_call" in result else result
        )
    if all("s_per_call" in best[c] for c in CONTENDERS):
        record["torch_over_nerve"] = round(
            best["torch"]["s_per_call"] / best["nerve"]["s_per_call"], 3
        )
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(CASES), action="append")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--threads", type=int, nargs="+", default=sorted({os.cpu_count() or 1, 1}, reverse=True)
    )
    parser.add_argument("--quick", action="store_true", help="shorter samples")
    parser.add_argument("--keep-openblas-env", action="store_true")
    parser.add_argument("--worker", choices=CONTENDERS, help=argparse.SUPPRESS)
    parser.add_argument("--case", choices=sorted(CASES), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not args.keep_openblas_env:
        reexec_without_openblas_overrides()
    if args.worker:
        result = worker(args.case, args.worker, args.threads[0], args.quick)
        print("RESULT " + json.dumps(result), flush=True)
        return
    emit({"case": "environment", "cpus": os.cpu_count(),
          "loadavg": [round(v, 2) for v in os.getloadavg()], **blas_info()})  # fmt: skip
    for threads in args.threads:
        for case in CASES:
            if not args.only or case in args.only:
                emit(bench_case(case, threads, args.rounds, args.quick))


if __name__ == "__main__":
    main()
