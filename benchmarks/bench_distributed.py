"""Data-parallel training benchmarks: scaling over MPI ranks, allreduce bandwidth, and a
simulated-cluster estimate. One JSON line per case.

Cases (each run under ``mpirun``, one process per rank, one BLAS thread per rank so
that ranks do not fight over this machine's cores):

* ``scaling``: ``model.fit`` of the 784-512-256-10 ReLU MLP (softmax output, Adam,
  sparse categorical cross-entropy) on 10,240 random MNIST-shaped samples, with a
  per-rank batch of ``--batch`` (128) rows, so the global batch grows with the ranks
  (weak scaling, as data parallelism is used): plain ``fit`` in one process, then
  ``DataParallel`` on 1 and on 2 ranks. Reports global samples/s (best epoch after a
  warm-up epoch), the efficiency ``samples/s(n) / (n * samples/s(1 rank))``, and per
  step the seconds spent in the gradient allreduce and in the rest;
* ``overlap``: the same ``fit`` on 2 ranks with the gradient sum inside the compiled
  step (``DataParallel(overlap=True)``: each bucket started as soon as the backward
  pass has produced it) and after it (``overlap=False``), alternating runs
  (``--overlap-repeat`` of each), with ``--bucket-mb`` (0.5) buckets, so that the
  second and third layers' gradients (0.54 MB) travel while the first layer's weight
  gradient is computed; per step: the seconds spent waiting for gradient buckets
  (overlap on: the waits; off: the whole sum), how many buckets MPI had finished
  before they were waited for (MPICH moves data only inside MPI calls unless
  ``MPIR_CVAR_ASYNC_PROGRESS=1`` gives it a thread), and the ratio of samples/s on/off;
* ``allreduce``: 10 M float32 (40 MB) summed over 2 ranks: raw mpi4py
  (``Allreduce(IN_PLACE)``), nerve's ``MPICommunicator.allreduce`` (non-blocking,
  polled for timeouts), and ``DataParallel.sum`` (packed into 25 MB buckets, scaled on
  the way in and out) with fresh result buffers and with the buffers kept from the
  last call (``reuse=True``, the trainer's path). Best of ``--repeat``, interleaved;
  bandwidth = bytes / seconds; goal: nerve >= 0.9x raw;
* ``cluster_estimate``: the measured one-rank step (compute) and the gradient bytes
  extrapolated to 8 and 64 ranks with ring-allreduce cost
  ``2 (n - 1) / n * bytes / bandwidth + 2 (n - 1) * latency``. Assumptions (printed
  with the numbers): every rank computes as fast as one rank here; the per-rank batch
  stays 128; no overlap of communication with the backward pass is credited (an
  upper bound on the cost: nerve overlaps only what is left to compute after a
  bucket's last gradient); links of 10 Gb/s Ethernet (1.25 GB/s, 50 us latency) and 100 Gb/s
  InfiniBand (12.5 GB/s, 5 us), and this machine's measured shared-memory bandwidth.

Usage: ``python benchmarks/bench_distributed.py [--quick] [--batch 128] [--repeat 5]``.
Needs mpi4py and an ``mpirun`` (``pip install mpi4py mpich``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import emit, reexec_without_openblas_overrides

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZES = (784, 512, 256, 10)
SAMPLES = 10_240
ELEMENTS = 10_000_000
LINKS = {
    "ethernet_10g": (1.25e9, 50e-6),
    "infiniband_100g": (12.5e9, 5e-6),
}


# -- workers (run under mpirun) ---------------------------------------------------------------


def _model(nerve):
    from nerve import layers

    nerve.utils.set_random_seed(0)
    model = nerve.Sequential(
        [nerve.Input((SIZES[0],))]
        + [layers.Dense(n, activation="relu") for n in SIZES[1:-1]]
        + [layers.Dense(SIZES[-1], activation="softmax")]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def worker_scaling(args) -> None:
    import numpy as np

    import nerve

    comm = nerve.distribution.initialize()
    mode = args.mode
    rng = np.random.default_rng(0)
    x = rng.random((SAMPLES, SIZES[0]), dtype=np.float32)
    y = rng.integers(0, SIZES[-1], SAMPLES)
    timing = {"gradients": 0.0, "other_sums": 0.0, "sums": 0, "waits": 0, "done_at_wait": 0}

    class TimedDataParallel(nerve.distribution.DataParallel):
        """Times the sums: ``gradients`` is the time a step is blocked on the gradient
        sum (after the step; or, overlapped, in the buckets' waits)."""

        def sum(self, arrays, scale_in=1.0, scale_out=1.0, reuse=False):
            start = time.perf_counter()
            result = super().sum(arrays, scale_in, scale_out, reuse)
            timing["other_sums"] += time.perf_counter() - start
            timing["sums"] += 1
            return result

        def sum_gradients(self, arrays, scale_in):
            start = time.perf_counter()
            result = super().sum_gradients(arrays, scale_in)
            timing["gradients"] += time.perf_counter() - start
            return result

    def timed_wait(channel):
        wait = channel.wait

        def timed(bucket, token=None):
            # Whether MPI finished the bucket before anyone waited for it (overlap
            # that really happened, not only in the schedule); Test pushes it on once.
            request = getattr(channel._pending[bucket][0], "request", None)
            timing["waits"] += 1
            timing["done_at_wait"] += bool(request is not None and request.Test())
            start = time.perf_counter()
            result = wait(bucket, token)
            timing["gradients"] += time.perf_counter() - start
            return result

        return timed

    if mode == "data_parallel":
        parallel = TimedDataParallel(
            communicator=comm, bucket_size_mb=args.bucket_mb, overlap=args.overlap == "on"
        )
        parallel._channel.wait = timed_wait(parallel._channel)
        nerve.distribution.set_distribution(parallel)
    model = _model(nerve)
    epochs: list[float] = []
    marks: dict = {}

    class Clock(nerve.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            marks["start"] = time.perf_counter()
            marks["timing"] = dict(timing)

        def on_epoch_end(self, epoch, logs=None):
            epochs.append(time.perf_counter() - marks["start"])
            marks.setdefault("per_epoch", []).append(
                {k: timing[k] - marks["timing"][k] for k in ("gradients", "other_sums")}
            )

    global_batch = args.batch * comm.size
    start = time.perf_counter()
    model.fit(
        x,
        y,
        batch_size=global_batch,
        epochs=1 + args.epochs,
        verbose=0,
        callbacks=[Clock()],
        shuffle=True,
    )
    total = time.perf_counter() - start
    if comm.rank != 0:
        return
    steps = -(-SAMPLES // global_batch)
    best = min(range(1, len(epochs)), key=lambda k: epochs[k])
    spent = marks["per_epoch"][best]
    result = {
        "mode": mode,
        "overlap": args.overlap if mode == "data_parallel" else None,
        "bucket_mb": args.bucket_mb if mode == "data_parallel" else None,
        "ranks": comm.size,
        "global_batch": global_batch,
        "samples_per_s": round(SAMPLES / epochs[best]),
        "first_epoch_s": round(epochs[0], 3),
        "fit_s": round(total, 3),
        "step_ms": round(1e3 * epochs[best] / steps, 3),
        "allreduce_ms_per_step": round(1e3 * spent["gradients"] / steps, 3),
        "small_sums_ms_per_step": round(1e3 * spent["other_sums"] / steps, 3),
        # Only the overlapped path goes through the channel's waits.
        "buckets_done_when_waited": (
            f"{timing['done_at_wait']} of {timing['waits']}" if timing["waits"] else None
        ),
        "gradient_bytes": int(sum(w.nbytes for w in model.get_weights())),
    }
    print("RESULT " + json.dumps(result), flush=True)


def worker_allreduce(args) -> None:
    import numpy as np
    from mpi4py import MPI

    import nerve

    comm = nerve.distribution.initialize()
    raw_comm = MPI.COMM_WORLD
    parallel = nerve.distribution.DataParallel(communicator=comm)
    data = np.ones(ELEMENTS, dtype=np.float32)

    def raw():
        raw_comm.Allreduce(MPI.IN_PLACE, data)

    def communicator():
        comm.allreduce(data)

    def fresh_buffers():
        parallel.sum([data])

    def trainer_path():
        parallel.sum([data], reuse=True)

    contenders = {
        "raw_mpi4py": raw,
        "nerve_communicator": communicator,
        "nerve_data_parallel_sum_fresh_buffers": fresh_buffers,
        "nerve_data_parallel_sum": trainer_path,
    }
    best = dict.fromkeys(contenders, float("inf"))
    for _ in range(args.repeat):
        for name, fn in contenders.items():
            raw_comm.Barrier()
            start = time.perf_counter()
            fn()
            elapsed = time.perf_counter() - start
            # The slowest rank's time is the collective's.
            elapsed = raw_comm.allreduce(elapsed, op=MPI.MAX)
            best[name] = min(best[name], elapsed)
    # A small message: the latency term of the ring model.
    small = np.ones(1, dtype=np.float32)
    latency = float("inf")
    for _ in range(200):
        raw_comm.Barrier()
        start = time.perf_counter()
        comm.allreduce(small)
        latency = min(latency, time.perf_counter() - start)
    if comm.rank == 0:
        nbytes = data.nbytes
        result = {
            name: {"ms": round(1e3 * t, 2), "GB_per_s": round(nbytes / t / 1e9, 3)}
            for name, t in best.items()
        }
        result["bytes"] = nbytes
        result["small_allreduce_us"] = round(1e6 * latency, 1)
        print("RESULT " + json.dumps(result), flush=True)


# -- the driver ---------------------------------------------------------------------------------


def _launch(ranks: int, *worker_args: str) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([ROOT, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    command = [
        _mpirun(),
        "-n",
        str(ranks),
        sys.executable,
        os.path.abspath(__file__),
        "--worker",
        *worker_args,
    ]
    proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=1800)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
    return {"error": f"exit {proc.returncode}: " + " | ".join(tail)}


def ring_allreduce_seconds(ranks: int, nbytes: int, bandwidth: float, latency: float) -> float:
    """Ring allreduce: 2 (n-1) steps, each moving bytes / n and paying one latency."""
    if ranks == 1:
        return 0.0
    return 2 * (ranks - 1) / ranks * nbytes / bandwidth + 2 * (ranks - 1) * latency


def cluster_estimate(one_rank: dict, allreduce: dict, batch: int) -> dict:
    compute = one_rank["step_ms"] / 1e3
    nbytes = one_rank["gradient_bytes"]
    links = dict(LINKS)
    measured = allreduce.get("raw_mpi4py", {}).get("GB_per_s")
    if measured:
        # Two ranks: the ring moves 2 (n-1)/n = 1 x the bytes, so algorithm bandwidth
        # equals link bandwidth in the model.
        latency = allreduce.get("small_allreduce_us", 10.0) / 2e6
        links["this_machine_shared_memory"] = (measured * 1e9, latency)
    estimates = {}
    for name, (bandwidth, latency) in links.items():
        for ranks in (2, 8, 64):
            comm = ring_allreduce_seconds(ranks, nbytes, bandwidth, latency)
            step = compute + comm
            estimates[f"{name}/{ranks}"] = {
                "step_ms": round(1e3 * step, 3),
                "allreduce_ms": round(1e3 * comm, 3),
                "samples_per_s": round(ranks * batch / step),
                "efficiency": round(compute / step, 3),
            }
    return {
        "case": "cluster_estimate",
        "assumptions": {
            "compute_ms_per_step": round(1e3 * compute, 3),
            "per_rank_batch": batch,
            "gradient_bytes": nbytes,
            "overlap": "none (allreduce after the backward pass)",
            "links": {
                k: {"GB_per_s": v[0] / 1e9, "latency_us": v[1] * 1e6} for k, v in links.items()
            },
            "model": "2 (n-1)/n * bytes / bandwidth + 2 (n-1) * latency",
        },
        "estimates": estimates,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", choices=["scaling", "allreduce"])
    parser.add_argument("--mode", default="data_parallel", choices=["plain", "data_parallel"])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--overlap", default="on", choices=["on", "off"])
    parser.add_argument("--bucket-mb", type=float, default=25.0)
    parser.add_argument("--overlap-repeat", type=int, default=2)
    parser.add_argument("--overlap-bucket-mb", type=float, default=0.5)
    parser.add_argument(
        "--only", choices=["scaling", "overlap", "allreduce"], help="run one case (and its needs)"
    )
    parser.add_argument("--quick", action="store_true", help="1 timed epoch, 2 repeats")
    args = parser.parse_args()
    if args.quick:
        args.epochs, args.repeat = 1, 2
    if args.worker == "scaling":
        return worker_scaling(args)
    if args.worker == "allreduce":
        return worker_allreduce(args)

    reexec_without_openblas_overrides()
    common = ["--batch", str(args.batch), "--epochs", str(args.epochs)]
    emit(
        {
            "case": "environment",
            "cpus": os.cpu_count(),
            "load": os.getloadavg(),
            "mpi": _mpi_version(),
        }
    )
    one: dict = {}
    if args.only in (None, "scaling"):
        plain = _launch(1, "scaling", "--mode", "plain", *common)
        one = _launch(1, "scaling", *common)
        two = _launch(2, "scaling", *common)
        record = {
            "case": "scaling",
            "plain_fit_1_process": plain,
            "data_parallel_1_rank": one,
            "data_parallel_2_ranks": two,
        }
        if "samples_per_s" in one and "samples_per_s" in two:
            efficiency = two["samples_per_s"] / (2 * one["samples_per_s"])
            record["efficiency_2_ranks"] = round(efficiency, 3)
            record["speedup_2_ranks"] = round(two["samples_per_s"] / one["samples_per_s"], 3)
        emit(record)
    if args.only in (None, "overlap"):
        emit(overlap_case(common, args))
    if args.only == "overlap":
        return
    allreduce = _launch(2, "allreduce", "--repeat", str(args.repeat))
    record = {"case": "allreduce_10M_float32", **allreduce}
    if "raw_mpi4py" in allreduce:
        raw = allreduce["raw_mpi4py"]["ms"]
        names = (
            "nerve_communicator",
            "nerve_data_parallel_sum_fresh_buffers",
            "nerve_data_parallel_sum",
        )
        for name in names:
            record[f"{name}_over_raw"] = round(raw / allreduce[name]["ms"], 3)
    emit(record)
    if "step_ms" in one:
        emit(cluster_estimate(one, allreduce, args.batch))


def overlap_case(common: list, args: Any) -> dict:
    """2 ranks, overlap on and off, alternating: each run's samples/s and blocked
    milliseconds per step, and the ratio of the medians (on / off)."""
    runs: dict[str, list] = {"on": [], "off": []}
    bucket = ["--bucket-mb", str(args.overlap_bucket_mb)]
    for _ in range(args.overlap_repeat):
        for state in ("on", "off"):
            result = _launch(2, "scaling", "--overlap", state, *bucket, *common)
            runs[state].append(result)
    record: dict = {"case": "overlap_2_ranks", "bucket_mb": args.overlap_bucket_mb}
    for state, results in runs.items():
        good = [r for r in results if "samples_per_s" in r]
        record[f"overlap_{state}"] = {
            "samples_per_s": [r["samples_per_s"] for r in good],
            "step_ms": [r["step_ms"] for r in good],
            "blocked_on_gradients_ms_per_step": [r["allreduce_ms_per_step"] for r in good],
            "buckets_done_when_waited": [r["buckets_done_when_waited"] for r in good],
            "errors": [r["error"] for r in results if "error" in r],
        }
    on = record["overlap_on"]["samples_per_s"]
    off = record["overlap_off"]["samples_per_s"]
    if on and off:
        record["samples_per_s_on_over_off"] = round(
            statistics.median(on) / statistics.median(off), 3
        )
        record["spread_on_over_off"] = [round(min(on) / max(off), 3), round(max(on) / min(off), 3)]
    return record


def _mpirun() -> str:
    """The ``mpirun`` beside this interpreter (pip's mpich), else the one on PATH."""
    beside = os.path.join(os.path.dirname(sys.executable), "mpirun")
    return beside if os.path.exists(beside) else "mpirun"


def _mpi_version() -> str:
    try:
        out = subprocess.run([_mpirun(), "--version"], capture_output=True, text=True)
    except FileNotFoundError:
        return "no mpirun"
    return " ".join(out.stdout.split()[:6])


if __name__ == "__main__":
    main()
