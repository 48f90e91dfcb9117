"""Inference latency: nerve vs PyTorch eager, each in its own process, alternating.

Prints one JSON line per case and batch size, with ratios. For each model of
``bench_fit.py`` (``--only digits|mnist|convnet``) and each batch size (1 and 256 by
default), the time of one forward pass of a trained-shape model with random weights:

* ``nerve_predict``: ``model.predict(x, verbose=0)`` (the Keras API users call);
* ``nerve_predict_on_batch``: ``model.predict_on_batch(x)``;
* ``nerve_model_call``: ``model(x)`` on a NumPy array, after its warm-up calls (it then
  runs the compiled forward pass, ``nerve.models.compiled_call``);
* ``nerve_call``: the model's compiled forward, ``nerve.function(model)`` called on a
  tensor (what a serving loop would keep);
* ``torch``: the same layers under ``torch.inference_mode()``, channels-first for the
  convnet.

Each contender runs in its own subprocess (thread pools of two libraries in one
process slow each other), ``--rounds`` times in turn, keeping its best; timings are
the best mean of ``--number`` calls. ``--threads N`` sets BLAS/OpenMP threads and
``torch.set_num_threads`` (default: the machine's CPUs). Goal (issue 10): batch-1
latency <= PyTorch's.

Usage: ``python benchmarks/bench_predict.py [--only convnet] [--batches 1 256]
[--threads N] [--rounds N] [--number N]``
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from bench_fit import _keras_like_model, case_spec
from common import (
    best_time,
    emit,
    machine_record,
    reexec_without_openblas_overrides,
    run_worker_process,
    worker_env,
)

CASES = ("digits", "mnist", "convnet")


def _input(case: str, spec: dict, batch: int):
    import numpy as np

    rng = np.random.default_rng(0)
    if case == "digits":
        return rng.uniform(0, 16, (batch, 8, 8)).astype(np.float32)
    if case == "convnet":
        return rng.random((batch, *spec["image_shape"]), dtype=np.float32)
    return rng.random((batch, spec["sizes"][0]), dtype=np.float32)


def run_nerve(case: str, batch: int, number: int) -> dict:
    import nerve

    spec = case_spec(case, smoke=False, quick=False)
    nerve.utils.set_random_seed(0)
    model = _keras_like_model(nerve, case, spec)
    x = _input(case, spec, batch)
    forward = nerve.function(lambda t: model(t, training=False))
    tensor = nerve.ops.convert_to_tensor(x)
    model.predict(x, verbose=0)  # trace and compile every path first
    forward(tensor)
    for _ in range(5):
        model(x)
    return {
        "nerve_predict_ms": best_time(lambda: model.predict(x, verbose=0), 5, number) * 1e3,
        "nerve_predict_on_batch_ms": best_time(lambda: model.predict_on_batch(x), 5, number) * 1e3,
        "nerve_model_call_ms": best_time(lambda: model(x), 5, number) * 1e3,
        "nerve_call_ms": best_time(lambda: forward(tensor), 5, number) * 1e3,
    }


def run_torch(case: str, batch: int, number: int, threads: int) -> dict:
    import numpy as np
    import torch
    from torch import nn

    torch.set_num_threads(threads)
    spec = case_spec(case, smoke=False, quick=False)
    x = _input(case, spec, batch)
    if case == "convnet":
        x = np.ascontiguousarray(np.moveaxis(x, -1, 1))
        model = nn.Sequential(
            nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(),
            nn.MaxPool2d(2), nn.Flatten(), nn.Dropout(0.5), nn.Linear(1600, 10), nn.Softmax(-1),
        )  # fmt: skip
    elif case == "digits":
        model = nn.Sequential(
            nn.Flatten(), nn.Linear(64, 64), nn.ReLU(), nn.Dropout(0.2), nn.Linear(64, 10),
            nn.Softmax(-1),
        )  # fmt: skip
    else:
        sizes, mods = spec["sizes"], []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            mods += [nn.Linear(fan_in, fan_out), nn.ReLU()]
        model = nn.Sequential(*mods[:-1], nn.Softmax(-1))
    model.eval()
    tensor = torch.from_numpy(x)

    def call():
        with torch.inference_mode():
            model(tensor)

    call()
    return {"torch_ms": best_time(call, 5, number) * 1e3, "torch_threads": torch.get_num_threads()}


def run_worker(contender: str, case: str, batch: int, args) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", contender, "--case", case]
    cmd += ["--batch", str(batch), "--number", str(args.number), "--threads", str(args.threads)]
    return run_worker_process(cmd, worker_env(args.threads))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=CASES)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 256])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--number", type=int, default=50, help="calls per timing sample")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--worker", choices=("nerve", "torch"), help=argparse.SUPPRESS)
    parser.add_argument("--case", choices=CASES, help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    reexec_without_openblas_overrides()
    if args.worker:
        if args.worker == "nerve":
            result = run_nerve(args.case, args.batch, args.number)
        else:
            result = run_torch(args.case, args.batch, args.number, args.threads)
        print("RESULT " + json.dumps(result), flush=True)
        return
    emit(machine_record(args.threads))
    for case in CASES:
        if args.only not in (None, case):
            continue
        for batch in args.batches:
            best: dict = {}
            for _ in range(args.rounds):
                for contender in ("nerve", "torch"):
                    for key, value in run_worker(contender, case, batch, args).items():
                        if isinstance(value, float):
                            best[key] = min(best.get(key, value), value)
                        else:
                            best[key] = value
            record = {"case": f"{case}_predict", "batch": batch, "threads": args.threads}
            record.update({k: round(v, 4) if isinstance(v, float) else v for k, v in best.items()})
            if "torch_ms" in best:
                # Ratios above 1: nerve's call is faster than PyTorch's eager forward.
                for path in ("call", "model_call", "predict_on_batch", "predict"):
                    if f"nerve_{path}_ms" in best:
                        ratio = best["torch_ms"] / best[f"nerve_{path}_ms"]
                        record[f"torch_over_nerve_{path}"] = round(ratio, 3)
            emit(record)


if __name__ == "__main__":
    main()
