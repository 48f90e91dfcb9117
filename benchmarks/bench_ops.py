"""Heavy ``nerve.ops`` functions side by side with PyTorch, one JSON line per case.

The table ``CASES`` has one row per op and contender: a function that takes a NumPy
random generator (so every contender starts from the same numbers) and returns the
call to time. Each contender runs in a process of its own (no shared thread pools or
caches), the contenders alternate round by round (so load from other processes on a
shared machine hits all alike), and every case runs twice: at the machine's default
thread count and with one thread. ``torch_over_nerve`` is PyTorch's time divided by
nerve's (eager): 1.0 or more means nerve is as fast (the goal);
``torch_over_nerve_function`` the same for the op compiled by ``nerve.function``
(no per-op dispatch), where a row has that contender.

Adding an op is adding a row: ``"case": {"nerve": setup, "torch": setup, ...}``.

The rows: ``norm``, ``svd``, ``cholesky``, ``eigh``, ``eig``, ``qr`` and ``solve`` of
512x512 float32 matrices (``LINALG``); ``stft`` of one second of
16 kHz audio (16,000 float32 samples), 25 ms Hann windows (400 samples) every 10 ms
(160), a 512-point FFT, centred with reflected padding (101 frames of 257
frequencies, the usual speech front end; PyTorch's ``torch.hann_window`` is the
periodic window SciPy's ``get_window("hann")`` gives Keras); and a bilinear
``image.resize`` of a channels-last 32x224x224x3 float32 batch to 112 and 256 pixels
(PyTorch gets the same memory as an NCHW tensor in its channels-last memory format,
its fast path for this layout, so neither side pays for a transpose).

Usage: ``python benchmarks/bench_ops.py [--only CASE] [--rounds N] [--threads N ...]
[--also-one-thread] [--quick] [--smoke] [--cpu-time]`` (``--cpu-time``: each call timed on
the process's CPU clock, the fairer figure at one thread on a machine busier than
its cores).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable

from common import (
    best_time,
    emit,
    machine_record,
    reexec_without_openblas_overrides,
    run_worker_process,
    worker_env,
)


def _matrix(rng, n: int = 512):
    return rng.standard_normal((n, n)).astype("float32")


# -- the rows: case -> contender -> setup(rng) -> the call to time -----------------------


def nerve_norm(rng) -> Callable:
    from nerve import ops

    x = ops.convert_to_tensor(_matrix(rng))
    return lambda: ops.norm(x)


def nerve_function_norm(rng) -> Callable:
    import nerve
    from nerve import ops

    x = ops.convert_to_tensor(_matrix(rng))
    compiled = nerve.function(ops.norm)
    return lambda: compiled(x)


def torch_norm(rng) -> Callable:
    import torch

    x = torch.from_numpy(_matrix(rng))
    return lambda: torch.linalg.norm(x)


def nerve_svd(rng) -> Callable:
    from nerve import ops

    x = ops.convert_to_tensor(_matrix(rng))
    return lambda: ops.svd(x)


def torch_svd(rng) -> Callable:
    import torch

    x = torch.from_numpy(_matrix(rng))
    return lambda: torch.linalg.svd(x)


def _spd(rng, n: int = 512):
    import numpy as np  # in the worker, after its thread settings

    a = rng.standard_normal((n, n))
    return (a @ a.T + n * np.eye(n)).astype("float32")


#: Matrix functions with the same name in ``nerve.ops`` and ``torch.linalg``: their
#: 512x512 float32 operands (a symmetric positive definite one where the function
#: needs it).
LINALG = {
    "cholesky": lambda rng: (_spd(rng),),
    "eigh": lambda rng: (_spd(rng),),
    "eig": lambda rng: (_matrix(rng),),
    "qr": lambda rng: (_matrix(rng),),
    "solve": lambda rng: (_spd(rng), _matrix(rng)),
}


def nerve_linalg(name: str) -> Callable:
    def setup(rng) -> Callable:
        from nerve import ops

        operands = [ops.convert_to_tensor(x) for x in LINALG[name](rng)]
        return lambda: getattr(ops, name)(*operands)

    return setup


def torch_linalg(name: str) -> Callable:
    def setup(rng) -> Callable:
        import torch

        operands = [torch.from_numpy(x) for x in LINALG[name](rng)]
        return lambda: getattr(torch.linalg, name)(*operands)

    return setup


RATE = 16_000
STFT = {"sequence_length": 400, "sequence_stride": 160, "fft_length": 512}


def _signal(rng):
    return rng.standard_normal(RATE).astype("float32")


def nerve_stft(rng) -> Callable:
    from nerve import ops

    x = ops.convert_to_tensor(_signal(rng))
    return lambda: ops.stft(x, **STFT)


def nerve_function_stft(rng) -> Callable:
    import nerve
    from nerve import ops

    x = ops.convert_to_tensor(_signal(rng))
    compiled = nerve.function(lambda signal: ops.stft(signal, **STFT))
    return lambda: compiled(x)


def torch_stft(rng) -> Callable:
    import torch

    x = torch.from_numpy(_signal(rng))
    n, hop, width = STFT["fft_length"], STFT["sequence_stride"], STFT["sequence_length"]
    window = torch.hann_window(width)
    return lambda: torch.stft(x, n, hop_length=hop, win_length=width, window=window,
                              center=True, pad_mode="reflect", return_complex=True)  # fmt: skip


IMAGES = (32, 224, 224, 3)


def _images(rng):
    return rng.random(IMAGES, dtype="float32")


def nerve_resize(size: tuple) -> Callable:
    def setup(rng) -> Callable:
        from nerve import ops

        x = ops.convert_to_tensor(_images(rng))
        return lambda: ops.image.resize(x, size, interpolation="bilinear")

    return setup


def torch_resize(size: tuple) -> Callable:
    def setup(rng) -> Callable:
        import torch

        x = torch.from_numpy(_images(rng)).permute(0, 3, 1, 2)  # NCHW view, NHWC memory
        interpolate = torch.nn.functional.interpolate
        return lambda: interpolate(x, size=size, mode="bilinear", align_corners=False)

    return setup


CASES: dict[str, dict[str, Callable]] = {
    "norm_512x512": {
        "nerve": nerve_norm,
        "nerve_function": nerve_function_norm,
        "torch": torch_norm,
    },
    "svd_512x512": {"nerve": nerve_svd, "torch": torch_svd},
    **{
        f"{name}_512x512": {"nerve": nerve_linalg(name), "torch": torch_linalg(name)}
        for name in LINALG
    },
    "stft_1s_16khz": {
        "nerve": nerve_stft,
        "nerve_function": nerve_function_stft,
        "torch": torch_stft,
    },
    "resize_bilinear_32x224x224x3_to_112": {
        "nerve": nerve_resize((112, 112)),
        "torch": torch_resize((112, 112)),
    },
    "resize_bilinear_32x224x224x3_to_256": {
        "nerve": nerve_resize((256, 256)),
        "torch": torch_resize((256, 256)),
    },
}

CONTENDERS = ("nerve", "nerve_function", "torch")


# -- one contender in its own process -----------------------------------------------------


def _best_cpu_time(fn, repeat: int, number: int) -> float:
    """``best_time`` on the process's CPU clock: on a shared machine busier than its
    cores, time spent waiting for a core is left out (with one thread the fairer
    figure; with more it sums their CPU time, so compare wall time there)."""
    return best_time(fn, repeat, number, clock=time.process_time)


def worker(case: str, contender: str, threads: int, quick: bool, cpu_time: bool = False) -> dict:
    import numpy as np

    if contender == "torch":
        import torch

        torch.set_num_threads(threads)
    call = CASES[case][contender](np.random.default_rng(0))
    call()  # warm-up: imports, first-call caches
    # About 0.2 s per sample (0.05 s with --quick), at least one call.
    timer = _best_cpu_time if cpu_time else best_time
    once = timer(call, 1, 1)
    number = max(1, int((0.05 if quick else 0.2) / max(once, 1e-7)))
    seconds = timer(call, 3 if quick else 5, number)
    return {"s_per_call": seconds, "calls_per_sample": number}


def run_worker(case: str, contender: str, threads: int, quick: bool, cpu_time: bool) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", contender, "--case", case]
    cmd += ["--threads", str(threads)] + ["--quick"] * quick + ["--cpu-time"] * cpu_time
    return run_worker_process(cmd, worker_env(threads))


# -- the driver -----------------------------------------------------------------------------


def bench_case(case: str, threads: int, rounds: int, quick: bool, cpu_time: bool) -> dict:
    contenders = list(CASES[case])
    best: dict = {}
    for _ in range(rounds):
        for contender in contenders:
            result = run_worker(case, contender, threads, quick, cpu_time)
            previous = best.get(contender, {})
            if "error" in result or result["s_per_call"] < previous.get("s_per_call", 1e9):
                best[contender] = result
    record: dict = {"case": case, "threads": threads, "clock": "cpu" if cpu_time else "wall"}
    for contender in contenders:
        result = best[contender]
        record[f"{contender}_ms"] = (
            round(result["s_per_call"] * 1e3, 4) if "s_per_call" in result else result
        )
    for contender in contenders:
        timed = all("s_per_call" in best[c] for c in (contender, "torch"))
        if contender != "torch" and timed:
            ratio = best["torch"]["s_per_call"] / best[contender]["s_per_call"]
            record[f"torch_over_{contender}"] = round(ratio, 3)
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(CASES), action="append")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--threads", type=int, nargs="+", default=sorted({os.cpu_count() or 1, 1}, reverse=True)
    )
    parser.add_argument(
        "--also-one-thread", action="store_true", help="add 1 to --threads if it is missing"
    )
    parser.add_argument("--quick", action="store_true", help="shorter samples")
    parser.add_argument(
        "--smoke", action="store_true", help="one round of short samples at one thread"
    )
    parser.add_argument(
        "--cpu-time", action="store_true", help="time on the process's CPU clock (see worker)"
    )
    parser.add_argument("--keep-openblas-env", action="store_true")
    parser.add_argument("--worker", choices=CONTENDERS, help=argparse.SUPPRESS)
    parser.add_argument("--case", choices=sorted(CASES), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not args.keep_openblas_env:
        reexec_without_openblas_overrides()
    if args.worker:
        result = worker(args.case, args.worker, args.threads[0], args.quick, args.cpu_time)
        print("RESULT " + json.dumps(result), flush=True)
        return
    if args.smoke:
        args.rounds, args.quick, args.threads = 1, True, [1]
    if args.also_one_thread and 1 not in args.threads:
        args.threads.append(1)
    emit(machine_record())
    for threads in args.threads:
        for case in CASES:
            if args.only and case not in args.only:
                continue
            emit(bench_case(case, threads, args.rounds, args.quick, args.cpu_time))


if __name__ == "__main__":
    main()
