"""Signal ops: nerve's ``ops.stft`` vs ``torch.stft``, each contender in its own process.

Case ``stft``: one second of 16 kHz audio (16,000 float32 samples), 25 ms Hann
windows (400 samples) every 10 ms (160 samples), a 512-point FFT, centred with
reflected padding: 101 frames of 257 frequencies, the usual speech front end. nerve
runs ``ops.stft`` eagerly and compiled (``nerve.function``); PyTorch runs
``torch.stft(..., return_complex=True)`` with the same window (``torch.hann_window``,
periodic, which is SciPy's ``get_window("hann")`` that Keras uses).

Each worker times ``--number`` calls per sample, best of ``--repeat`` samples; the
driver alternates the contenders' processes for ``--rounds`` rounds and keeps each
one's best. Ratios are PyTorch's time over nerve's (above 1.0: nerve is faster),
at ``--threads`` threads (default: all cores) and, with ``--also-one-thread``, at 1.

Usage: ``python benchmarks/bench_signal_ops.py [--rounds N] [--threads N]
[--also-one-thread] [--smoke]``
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from common import (
    best_time,
    blas_info,
    emit,
    reexec_without_openblas_overrides,
    run_worker_process,
    worker_env,
)

RATE = 16_000
SETTINGS = {"sequence_length": 400, "sequence_stride": 160, "fft_length": 512}


def _signal(seconds: float):
    import numpy as np

    return np.random.default_rng(0).standard_normal(int(RATE * seconds)).astype("float32")


def run_nerve(seconds: float, repeat: int, number: int) -> dict:
    import nerve
    from nerve import ops

    x = ops.convert_to_tensor(_signal(seconds))

    def eager():
        return ops.stft(x, **SETTINGS)

    compiled = nerve.function(lambda signal: ops.stft(signal, **SETTINGS))
    compiled(x)  # trace and compile outside the timing
    shape = tuple(eager()[0].shape)
    return {
        "eager_us": round(best_time(eager, repeat, number) * 1e6, 1),
        "compiled_us": round(best_time(lambda: compiled(x), repeat, number) * 1e6, 1),
        "shape": shape,
    }


def run_torch(seconds: float, repeat: int, number: int, threads: int) -> dict:
    import torch

    torch.set_num_threads(threads)
    x = torch.from_numpy(_signal(seconds))
    n, hop, width = SETTINGS["fft_length"], SETTINGS["sequence_stride"], SETTINGS["sequence_length"]
    window = torch.hann_window(width)

    def step():
        return torch.stft(x, n, hop_length=hop, win_length=width, window=window,
                          center=True, pad_mode="reflect", return_complex=True)  # fmt: skip

    return {
        "eager_us": round(best_time(step, repeat, number) * 1e6, 1),
        "shape": tuple(step().T.shape),
    }


def compare(args, threads: int) -> dict:
    best: dict = {}
    for _ in range(args.rounds):
        for contender in ("nerve", "torch"):
            cmd = [sys.executable, os.path.abspath(__file__), "--worker", contender,
                   "--seconds", str(args.seconds), "--repeat", str(args.repeat),
                   "--number", str(args.number), "--threads", str(threads)]  # fmt: skip
            result = run_worker_process(cmd, worker_env(threads))
            previous = best.get(contender, {})
            if "error" in result or result["eager_us"] < previous.get("eager_us", float("inf")):
                best[contender] = {**previous, **result}
            elif "compiled_us" in result:
                previous["compiled_us"] = min(previous["compiled_us"], result["compiled_us"])
    record = {"case": "stft", "threads": threads, "seconds": args.seconds, **SETTINGS, **best}
    if all("eager_us" in best.get(c, {}) for c in ("nerve", "torch")):
        torch_us = best["torch"]["eager_us"]
        record["torch_over_nerve_eager"] = round(torch_us / best["nerve"]["eager_us"], 3)
        record["torch_over_nerve_compiled"] = round(torch_us / best["nerve"]["compiled_us"], 3)
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--number", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--also-one-thread", action="store_true")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one round")
    parser.add_argument("--worker", choices=("nerve", "torch"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    reexec_without_openblas_overrides()
    if args.smoke:
        args.rounds, args.repeat, args.number, args.seconds = 1, 1, 2, 0.1
    if args.worker:
        if args.worker == "nerve":
            result = run_nerve(args.seconds, args.repeat, args.number)
        else:
            result = run_torch(args.seconds, args.repeat, args.number, args.threads)
        print("RESULT " + json.dumps(result), flush=True)
        return
    emit({"case": "environment", "threads": args.threads, "cpus": os.cpu_count(),
          "loadavg": [round(v, 2) for v in os.getloadavg()], **blas_info()})  # fmt: skip
    emit(compare(args, args.threads))
    if args.also_one_thread and args.threads != 1:
        emit(compare(args, 1))


if __name__ == "__main__":
    main()
