"""Engine benchmarks: nerve eager vs NumPy vs PyTorch, side by side in one run.

Prints one JSON line per case, with ratios. Cases:

* ``dispatch``: per-op overhead of small ops (10,000 adds of 8x8 float32 tensors);
* ``mlp_step``: one training step of a 784-512-256-10 ReLU MLP at batch 128
  (forward, softmax cross-entropy, backward, SGD update);
* ``import``: wall time and peak RSS of ``import nerve`` vs ``import torch``.

This machine may set OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE, which make a current
NumPy pick a slower matmul kernel than a user's machine would; by default the
script re-runs itself without them (``--keep-openblas-env`` to keep them) and
prints the BLAS kernel threadpoolctl reports.

Usage: ``python benchmarks/bench_engine.py [--quick]``
"""

from __future__ import annotations

import argparse
import operator
import resource
import subprocess
import sys

from common import (
    best_time,
    emit,
    environment_record,
    init_mlp,
    interleaved_times,
    reexec_without_openblas_overrides,
)

# -- (a) dispatch overhead -----------------------------------------------------------------


def bench_dispatch(quick: bool) -> None:
    import numpy as np
    import torch

    import nerve

    n = 10_000
    a = np.random.default_rng(0).standard_normal((8, 8)).astype(np.float32)
    b = a.copy()
    ta, tb = nerve.ops.convert_to_tensor(a), nerve.ops.convert_to_tensor(b)
    xa, xb = torch.from_numpy(a), torch.from_numpy(b)

    def loop(add, x, y):
        def run():
            for _ in range(n):
                add(x, y)

        return run

    # operator.add is each library's `x + y` with no Python frame of ours around it.
    repeat = 3 if quick else 7
    t_numpy = best_time(loop(operator.add, a, b), repeat, 1) / n
    t_nerve = best_time(loop(operator.add, ta, tb), repeat, 1) / n
    t_torch = best_time(loop(operator.add, xa, xb), repeat, 1) / n
    emit(
        {
            "case": "dispatch_add_8x8",
            "us_per_op": {
                "numpy": round(t_numpy * 1e6, 3),
                "nerve_eager": round(t_nerve * 1e6, 3),
                "torch_eager": round(t_torch * 1e6, 3),
            },
            "nerve_over_numpy": round(t_nerve / t_numpy, 2),
            "nerve_over_torch": round(t_nerve / t_torch, 2),
            "goal": "nerve_over_numpy <= 3",
        }
    )


# -- (b) MLP training step ----------------------------------------------------------------

SIZES = (784, 512, 256, 10)
BATCH = 128
LR = 0.01


def _init_weights():
    return init_mlp(SIZES, BATCH)


def nerve_mlp_step():
    import nerve
    from nerve import ops

    weights, x, y = _init_weights()
    params = [nerve.Variable(w) for w in weights]
    x = ops.convert_to_tensor(x)
    labels = ops.convert_to_tensor(y.astype("int32"))

    def step():
        with nerve.GradientTape() as tape:
            h = x
            for i in range(0, len(params) - 2, 2):
                h = ops.relu(h @ params[i] + params[i + 1])
            logits = h @ params[-2] + params[-1]
            loss = ops.mean(ops.sparse_categorical_crossentropy(labels, logits, from_logits=True))
        grads = tape.gradient(loss, params)
        for p, g in zip(params, grads):
            p.assign_sub(g * LR)
        return loss

    return step


def torch_mlp_step():
    import torch

    weights, x, y = _init_weights()
    params = [torch.tensor(w, requires_grad=True) for w in weights]
    x = torch.from_numpy(x)
    y = torch.from_numpy(y)

    def step():
        h = x
        for i in range(0, len(params) - 2, 2):
            h = torch.relu(h @ params[i] + params[i + 1])
        logits = h @ params[-2] + params[-1]
        loss = torch.nn.functional.cross_entropy(logits, y)
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            for p, g in zip(params, grads):
                p.sub_(g * LR)
        return loss

    return step


def numpy_mlp_step():
    """A hand-written NumPy step: the floor any Python framework on NumPy works against."""
    import numpy as np

    weights, x, y = _init_weights()
    onehot = np.eye(SIZES[-1], dtype=np.float32)[y]

    def step():
        acts = [x]
        h = x
        layers = len(weights) // 2
        for i in range(layers):
            z = h @ weights[2 * i] + weights[2 * i + 1]
            h = np.maximum(z, 0) if i < layers - 1 else z
            acts.append(h)
        logits = acts[-1]
        shifted = logits - logits.max(axis=1, keepdims=True)
        probs = np.exp(shifted)
        probs /= probs.sum(axis=1, keepdims=True)
        grad = (probs - onehot) / BATCH
        for i in reversed(range(layers)):
            w = weights[2 * i]
            gw = acts[i].T @ grad
            gb = grad.sum(axis=0)
            if i:
                grad = (grad @ w.T) * (acts[i] > 0)
            weights[2 * i] -= LR * gw
            weights[2 * i + 1] -= LR * gb

    return step


def bench_mlp(quick: bool) -> None:
    repeat, number = (3, 5) if quick else (9, 20)
    steps = {
        "nerve_eager": nerve_mlp_step(),
        "torch_eager": torch_mlp_step(),
        "numpy_by_hand": numpy_mlp_step(),
    }
    for step in steps.values():
        step()  # warm up
    times = interleaved_times(steps, repeat, number)
    samples = {k: round(BATCH / v, 1) for k, v in times.items()}
    emit(
        {
            "case": "mlp_784_512_256_10_step_b128",
            "ms_per_step": {k: round(v * 1e3, 3) for k, v in times.items()},
            "samples_per_s": samples,
            "nerve_over_torch_throughput": round(times["torch_eager"] / times["nerve_eager"], 3),
            "numpy_by_hand_over_torch_throughput": round(
                times["torch_eager"] / times["numpy_by_hand"], 3
            ),
            "goal": "nerve_over_torch_throughput >= 0.8",
        }
    )


# -- (c) import time and memory -----------------------------------------------------------

# VmHWM (peak resident set) is reset by exec, unlike getrusage's ru_maxrss, which a
# child inherits from the parent it was forked from.
_IMPORT_PROBE = (
    "import time; t = time.perf_counter(); {statement}; "
    "dt = time.perf_counter() - t; "
    "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]; "
    "print(dt, hwm)"
)


def _measure_import(statement: str, repeat: int) -> tuple[float, float]:
    best, rss = float("inf"), 0.0
    for _ in range(repeat):
        out = subprocess.run(
            [sys.executable, "-c", _IMPORT_PROBE.format(statement=statement)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        best = min(best, float(out[0]))
        rss = float(out[1]) / 1024  # ru_maxrss is in KiB on Linux
    return best, rss


def bench_import(quick: bool) -> None:
    repeat = 3 if quick else 5
    # nerve loads its NumPy backend on first use, so time that first op too.
    statements = {
        "nerve": "import nerve",
        "nerve_first_op": "import nerve; nerve.ops.ones((1,)) + 1",
        "numpy": "import numpy",
        "torch": "import torch",
        "torch_first_op": "import torch; torch.ones(1) + 1",
    }
    seconds, rss = {}, {}
    for name, statement in statements.items():
        seconds[name], rss[name] = _measure_import(statement, repeat)
    emit(
        {
            "case": "import",
            "seconds": {k: round(v, 3) for k, v in seconds.items()},
            "peak_rss_mb": {k: round(v, 1) for k, v in rss.items()},
            "nerve_over_torch_time": round(
                seconds["nerve_first_op"] / seconds["torch_first_op"], 3
            ),
            "goal": "import nerve (+ first op) < 0.3 s",
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--keep-openblas-env", action="store_true")
    parser.add_argument("--only", choices=("dispatch", "mlp", "import"))
    args = parser.parse_args()
    if not args.keep_openblas_env:
        reexec_without_openblas_overrides()

    emit(environment_record())
    cases = {"dispatch": bench_dispatch, "mlp": bench_mlp, "import": bench_import}
    for name, fn in cases.items():
        if args.only in (None, name):
            fn(args.quick)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    emit({"case": "peak_rss_mb_this_process", "value": round(peak_mb, 1)})


if __name__ == "__main__":
    main()
