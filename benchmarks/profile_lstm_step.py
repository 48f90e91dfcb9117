"""What one LSTM time step costs under ``nerve.function``, and where the time goes.

The case is the issue's benchmark layer: LSTM(64) on float32 sequences of 100 steps,
batch 64, 128 features. Prints one JSON line per measurement:

* ``whole``: the compiled forward pass and the compiled training step (forward,
  backward, weight gradients), best of ``--repeat`` runs, and the same with PyTorch's
  ``nn.LSTM`` on one thread (nerve's loops are single-threaded) for scale;
* ``outside_loop``: the nodes outside the scan (the hoisted input projection, the
  kernel gradient) from ``Function.profile``;
* ``scans_us_per_step``: each scan node's time per step as the step runs it (its
  steps in one C call, ``native/scan_loop.py``), and with that turned off (the
  Python loop calling the compiled body at every step);
* ``forward_step`` / ``backward_step``: the scan body and the reverse-scan body,
  compiled as the executor compiles them, node by node (best of many runs), and the
  cost of one call of the body from Python.

Run: ``python benchmarks/profile_lstm_step.py [--repeat 20]``. Timings on a shared
machine move a lot: compare best-of figures from runs close in time.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time

import numpy as np

import nerve
from nerve import layers, ops
from nerve.backend import get_backend
from nerve.backend.numpy_backend.native import scan_loop
from nerve.graph.executor import CompiledGraph
from nerve.graph.passes import optimize

BATCH, STEPS, FEATURES, UNITS = 64, 100, 128, 64


def best_ms(fn, repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times) * 1e3


def body_profile(program, repeat: int) -> dict:
    """Per-node best times (µs) of a scan body compiled like the executor compiles it,
    and the best time of one call of the whole body."""
    backend = get_backend()
    compiled = CompiledGraph(optimize(program.graph, backend), backend)
    rng = np.random.default_rng(1)
    arrays = [rng.standard_normal(a.shape).astype(a.dtype) for a in program.in_avals]
    rows = compiled.profile(arrays, repeat)
    nodes = {f"{r['index']}:{r['op']}": round(r["ms"] * 1e3, 1) for r in rows}
    call = best_ms(lambda: program(*arrays), repeat * 20) * 1e3
    return {"nodes_us": nodes, "sum_of_nodes_us": round(sum(nodes.values()), 1),
            "body_call_us": round(call, 1)}  # fmt: skip


@contextlib.contextmanager
def _scan_loop(loop: str):
    """Scans run their steps in one C call (``"c"``, where the body allows) or from
    Python (``"python"``)."""
    real = scan_loop.run
    if loop == "python":
        scan_loop.run = lambda *args: None
    try:
        yield
    finally:
        scan_loop.run = real


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=20)
    repeat = parser.parse_args().repeat

    rng = np.random.default_rng(0)
    x = ops.convert_to_tensor(rng.standard_normal((BATCH, STEPS, FEATURES)).astype("float32"))
    lstm = layers.LSTM(UNITS)
    lstm(x)
    forward = nerve.function(lambda a: lstm(a))

    def train(a):
        with nerve.GradientTape() as tape:
            loss = ops.sum(lstm(a) ** 2)
        return loss, tape.gradient(loss, lstm.trainable_weights)

    training = nerve.function(train)
    whole = {
        "nerve_forward_ms": best_ms(lambda: forward(x), repeat),
        "nerve_train_ms": best_ms(lambda: training(x), repeat),
    }
    try:
        import torch

        torch.set_num_threads(1)
        reference = torch.nn.LSTM(FEATURES, UNITS, batch_first=True)
        tx = torch.from_numpy(np.array(x.numpy()))

        def torch_forward():
            with torch.no_grad():
                reference(tx)

        def torch_train():
            out, _ = reference(tx)
            (out[:, -1] ** 2).sum().backward()

        whole["torch_1_thread_forward_ms"] = best_ms(torch_forward, repeat)
        whole["torch_1_thread_train_ms"] = best_ms(torch_train, repeat)
    except ImportError:
        pass
    whole = {k: round(v, 2) for k, v in whole.items()}
    whole["nerve_forward_us_per_step"] = round(whole["nerve_forward_ms"] * 1e3 / STEPS, 1)
    whole["nerve_train_us_per_step"] = round(whole["nerve_train_ms"] * 1e3 / STEPS, 1)
    print(json.dumps({"case": "whole", "shape": [BATCH, STEPS, FEATURES], "units": UNITS, **whole}))

    outside = {
        f"{r['index']}:{r['op']}": round(r["ms"], 3)
        for r in training.profile(x, repeat=repeat)
        if r["ms"] > 0.05
    }
    print(json.dumps({"case": "outside_loop_train_ms", **outside}))

    scans = {}
    for loop in ("c", "python"):
        with _scan_loop(loop):
            for r in training.profile(x, repeat=repeat):
                if r["op"] == "scan":
                    us = round(r["ms"] * 1e3 / STEPS, 1)
                    scans.setdefault(f"{r['index']}:scan", {})[loop] = us
    print(json.dumps({"case": "scans_us_per_step", **scans}))

    scans = [n for n in training.graph_for(x).nodes if n.prim.name == "scan"]
    for node in scans:
        name = "backward_step" if node.params["reverse"] else "forward_step"
        print(json.dumps({"case": name, **body_profile(node.params["body_program"], repeat)}))


if __name__ == "__main__":
    main()
