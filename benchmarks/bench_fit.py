"""``fit`` benchmarks: nerve ``Model.fit`` vs a hand-written PyTorch loop vs Keras 3.

Prints one JSON line per case, with ratios. Cases:

* ``digits_mlp``: the issue's digits model on ``nerve.datasets.digits`` (1,438
  training images): ``Sequential([Input((8, 8)), Rescaling(1/16), Flatten(),
  Dense(64, relu), Dropout(0.2), Dense(10, softmax)])``, adam,
  sparse_categorical_crossentropy, metrics=["accuracy"], batch 64;
* ``mnist_mlp``: a 784-512-256-10 ReLU MLP (softmax output) on random MNIST-shaped
  data (10,240 samples of 784 floats in [0, 1), 10 classes), adam,
  sparse_categorical_crossentropy, metrics=["accuracy"], batch 128;
* ``convnet``: a small MNIST-style convnet (Conv2D 32 3x3 relu, MaxPooling2D 2,
  Conv2D 64 3x3 relu, MaxPooling2D 2, Flatten, Dropout 0.5, Dense 10 softmax) on
  random MNIST-shaped data (2,560 images of 28x28x1 floats in [0, 1)), adam,
  batch 128 (``--batch-size`` to change it). The PyTorch loop holds its images
  channels-first (NCHW), its native layout.

Contenders, each in its own subprocess (so that the peak resident set, VmHWM from
``/proc/self/status``, is attributable to it):

* ``nerve``: ``model.fit(x, y, batch_size, epochs=1 + N, verbose=0)`` on NumPy arrays,
  with a callback timing each epoch;
* ``torch``: the equivalent hand-written loop: same layers (Dropout included, the
  softmax folded into ``cross_entropy`` on logits, as a PyTorch user writes it),
  Glorot-uniform weights and zero biases as Keras's Dense, ``torch.optim.Adam`` with
  Keras's defaults (lr 1e-3, betas 0.9/0.999, eps 1e-7), a fresh permutation each
  epoch, batches taken by index slicing of preloaded tensors (no DataLoader), the
  last short batch kept, running loss and accuracy accumulated as ``fit`` does, and
  ``torch.set_num_threads(--threads)`` (default: the machine's CPUs);
* ``keras``: the same script as nerve's, run by Keras 3 when it is installed
  (``"not installed"`` otherwise).

Steady state: the first epoch (nerve's tracing and compiling, PyTorch's and BLAS's
warm-up) is excluded and reported on its own (``first_epoch_s``; for nerve also
``model.compile_time["train"]``); ``samples_per_s`` comes from the best of the
remaining epochs (median in ``median_samples_per_s``). Contenders run round-robin,
``--rounds`` times, keeping each one's best, so that load from other processes on a
shared machine hits them alike; the load average is printed with the environment.

``--profile`` also profiles nerve's steady state of each case in this process and
prints one JSON line per case: per step, the fit loop around the compiled step, the
``nerve.function`` dispatch, the generated graph code, and its nodes' kernel times by
group (matmul, elementwise, 0-d elementwise, reductions, random); then the top
functions of a cProfile of the epochs (the full table goes to stderr).

``--threads N`` sets every contender's BLAS/OpenMP threads and
``torch.set_num_threads`` (default: the machine's CPUs). On a small shared machine
``--threads 1`` gives the steadier figures.

This machine may set OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE, which make a current
NumPy pick a slower matmul kernel than a user's machine would; by default the
script re-runs itself without them (``--keep-openblas-env`` to keep them) and
prints the BLAS kernel threadpoolctl reports.

Goals (from the issues): nerve ``fit`` >= 1.3x the PyTorch loop's samples/s on the
MLPs, >= 1.5x on the convnet (the image-layers issue).

Usage: ``python benchmarks/bench_fit.py [--quick] [--smoke] [--only digits|mnist|convnet]
[--rounds N] [--threads N] [--profile]``
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import statistics
import sys
import time

from common import (
    OPENBLAS_VARS,
    THREAD_VARS,
    blas_info,
    emit,
    reexec_without_openblas_overrides,
    run_worker_process,
    worker_env,
)

CONTENDERS = ("nerve", "torch", "keras")
GOALS = {"convnet": 1.5}  # by case name prefix; 1.3 otherwise

# Keras's Adam defaults, used by every contender.
LR, BETA_1, BETA_2, EPSILON = 1e-3, 0.9, 0.999, 1e-7


def _proc_status_mb(field: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


# -- cases ------------------------------------------------------------------------------


def case_spec(case: str, smoke: bool, quick: bool, batch_size: int | None = None) -> dict:
    """Sizes and epoch counts of a case (``epochs`` excludes the warm-up epoch);
    ``batch_size`` replaces the case's own."""
    spec = _case_spec(case, smoke, quick)
    if batch_size:
        spec["batch_size"] = batch_size
        spec["case"] += f"_b{batch_size}"
    return spec


def _case_spec(case: str, smoke: bool, quick: bool) -> dict:
    if case == "digits":
        return {
            "case": "digits_mlp",
            "batch_size": 64,
            "epochs": 2 if smoke else (10 if quick else 30),
        }
    if case == "mnist":
        return {
            "case": "mnist_mlp",
            "samples": 512 if smoke else 10_240,
            "sizes": (784, 32, 16, 10) if smoke else (784, 512, 256, 10),
            "batch_size": 128,
            "epochs": 2 if smoke else (3 if quick else 6),
        }
    if case == "convnet":
        return {
            "case": "mnist_convnet",
            "samples": 256 if smoke else 2_560,
            "image_shape": (28, 28, 1),
            "batch_size": 128,
            "epochs": 1 if smoke else (2 if quick else 4),
        }
    raise ValueError(case)


def load_case_data(case: str, spec: dict):
    """``(x, y)`` NumPy arrays, the same for every contender."""
    import numpy as np

    if case == "digits":
        from nerve.datasets import digits

        (x, y), _ = digits.load_data()  # uint8 images (N, 8, 8), uint8 labels
        return x, y
    rng = np.random.default_rng(0)
    if case == "convnet":
        x = rng.random((spec["samples"], *spec["image_shape"]), dtype=np.float32)
        return x, rng.integers(0, 10, spec["samples"]).astype(np.uint8)
    x = rng.random((spec["samples"], spec["sizes"][0]), dtype=np.float32)
    y = rng.integers(0, spec["sizes"][-1], spec["samples"]).astype(np.uint8)
    return x, y


# -- contenders (run in worker subprocesses) --------------------------------------------


def _keras_like_model(lib, case: str, spec: dict):
    """The model of ``case`` built with ``lib`` (``nerve`` or ``keras``: same API)."""
    layers = lib.layers
    if case == "digits":
        return lib.Sequential(
            [
                lib.Input(shape=(8, 8)),
                layers.Rescaling(1 / 16),
                layers.Flatten(),
                layers.Dense(64, activation="relu"),
                layers.Dropout(0.2),
                layers.Dense(10, activation="softmax"),
            ]
        )
    if case == "convnet":
        return lib.Sequential(
            [
                lib.Input(shape=spec["image_shape"]),
                layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
                layers.MaxPooling2D(pool_size=(2, 2)),
                layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
                layers.MaxPooling2D(pool_size=(2, 2)),
                layers.Flatten(),
                layers.Dropout(0.5),
                layers.Dense(10, activation="softmax"),
            ]
        )
    sizes = spec["sizes"]
    return lib.Sequential(
        [lib.Input(shape=(sizes[0],))]
        + [layers.Dense(n, activation="relu") for n in sizes[1:-1]]
        + [layers.Dense(sizes[-1], activation="softmax")]
    )


def run_keras_like(lib_name: str, case: str, spec: dict) -> dict:
    t0 = time.perf_counter()
    lib = importlib.import_module(lib_name)
    import_s = time.perf_counter() - t0
    x, y = load_case_data(case, spec)
    rss_before = _proc_status_mb("VmRSS")
    lib.utils.set_random_seed(0)
    model = _keras_like_model(lib, case, spec)
    model.compile(
        optimizer=lib.optimizers.Adam(
            learning_rate=LR, beta_1=BETA_1, beta_2=BETA_2, epsilon=EPSILON
        ),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    epoch_times: list[float] = []
    marks: dict = {}

    def begin(epoch, logs=None):
        marks["t"] = time.perf_counter()

    def end(epoch, logs=None):
        epoch_times.append(time.perf_counter() - marks["t"])

    timer = lib.callbacks.LambdaCallback(on_epoch_begin=begin, on_epoch_end=end)
    t0 = time.perf_counter()
    history = model.fit(
        x,
        y,
        batch_size=spec["batch_size"],
        epochs=1 + spec["epochs"],
        verbose=0,
        callbacks=[timer],
    )
    fit_s = time.perf_counter() - t0
    out = {
        "import_s": import_s,
        "epoch_s": epoch_times,
        "fit_s": fit_s,
        "final_loss": float(history.history["loss"][-1]),
        "final_accuracy": float(history.history["accuracy"][-1]),
        "rss_before_model_mb": rss_before,
    }
    compile_time = getattr(model, "compile_time", None)
    if isinstance(compile_time, dict):
        out["compile_s"] = compile_time.get("train")
    if lib_name == "keras":
        out["backend"] = lib.backend.backend()
    return out


def run_torch(case: str, spec: dict, threads: int) -> dict:
    t0 = time.perf_counter()
    import numpy as np
    import torch
    from torch import nn

    import_s = time.perf_counter() - t0
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    x_np, y_np = load_case_data(case, spec)
    # Preloaded tensors; the Rescaling(1/16) of digits stays in the model, as in nerve's.
    if case == "convnet":  # channels-first, PyTorch's own layout
        x_np = np.ascontiguousarray(np.moveaxis(x_np, -1, 1))
    x = torch.from_numpy(np.ascontiguousarray(x_np, dtype=np.float32))  # no copy if f32
    y = torch.from_numpy(y_np.astype("int64"))
    rss_before = _proc_status_mb("VmRSS")

    if case == "digits":

        class Rescale(nn.Module):
            def forward(self, t):
                return t * (1 / 16)

        model = nn.Sequential(
            Rescale(),
            nn.Flatten(),
            nn.Linear(64, 64),
            nn.ReLU(),
            nn.Dropout(0.2),
            nn.Linear(64, 10),
        )
    elif case == "convnet":
        model = nn.Sequential(
            nn.Conv2d(1, 32, 3),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Dropout(0.5),
            nn.Linear(1600, 10),
        )
    else:
        sizes = spec["sizes"]
        mods: list = []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            mods += [nn.Linear(fan_in, fan_out), nn.ReLU()]
        model = nn.Sequential(*mods[:-1])  # logits; softmax is in cross_entropy
    for m in model.modules():  # Keras's Dense/Conv defaults: glorot_uniform, zeros
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
    opt = torch.optim.Adam(model.parameters(), lr=LR, betas=(BETA_1, BETA_2), eps=EPSILON)
    loss_fn = nn.functional.cross_entropy
    n, batch = x.shape[0], spec["batch_size"]

    epoch_times, loss, acc = [], 0.0, 0.0
    t_fit = time.perf_counter()
    for _ in range(1 + spec["epochs"]):
        start = time.perf_counter()
        model.train()
        perm = torch.randperm(n)
        loss_sum = torch.zeros(())
        correct = torch.zeros((), dtype=torch.int64)
        for i in range(0, n, batch):
            idx = perm[i : i + batch]
            xb, yb = x[idx], y[idx]
            logits = model(xb)
            batch_loss = loss_fn(logits, yb)
            opt.zero_grad(set_to_none=True)
            batch_loss.backward()
            opt.step()
            with torch.no_grad():
                loss_sum += batch_loss.detach() * len(idx)
                correct += (logits.argmax(dim=1) == yb).sum()
        loss, acc = float(loss_sum) / n, float(correct) / n
        epoch_times.append(time.perf_counter() - start)
    fit_s = time.perf_counter() - t_fit
    return {
        "import_s": import_s,
        "epoch_s": epoch_times,
        "fit_s": fit_s,
        "final_loss": loss,
        "final_accuracy": acc,
        "rss_before_model_mb": rss_before,
        "torch_threads": torch.get_num_threads(),
    }


def worker(contender: str, case: str, args) -> None:
    spec = case_spec(case, args.smoke, args.quick, args.batch_size)
    threads = args.threads
    if contender == "torch":
        result = run_torch(case, spec, threads)
    else:
        result = run_keras_like(contender, case, spec)
    result["peak_rss_mb"] = _proc_status_mb("VmHWM")
    blas = blas_info()["blas"]
    if isinstance(blas, list):
        result["blas_threads"] = [d["num_threads"] for d in blas]
    print("RESULT " + json.dumps(result), flush=True)


def run_worker(contender: str, case: str, args) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", contender, "--case", case]
    cmd += ["--smoke"] * args.smoke + ["--quick"] * args.quick + ["--keep-openblas-env"]
    cmd += ["--threads", str(args.threads)]
    if args.batch_size:
        cmd += ["--batch-size", str(args.batch_size)]
    env = worker_env(args.threads)
    if contender == "keras":
        env.setdefault("KERAS_BACKEND", args.keras_backend)
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return run_worker_process(cmd, env)


# -- the driver -------------------------------------------------------------------------


def _summarize(runs: list[dict], samples: int) -> dict:
    """Best steady-state epoch over rounds; the first epoch of each run is excluded."""
    ok = [r for r in runs if "error" not in r]
    if not ok:
        return {"error": runs[-1]["error"]}
    steady = [t for r in ok for t in r["epoch_s"][1:]]
    best_run = min(ok, key=lambda r: min(r["epoch_s"][1:]))
    out = {
        "samples_per_s": round(samples / min(steady), 1),
        "median_samples_per_s": round(samples / statistics.median(steady), 1),
        "best_epoch_ms": round(min(steady) * 1e3, 2),
        "median_epoch_ms": round(statistics.median(steady) * 1e3, 2),
        "first_epoch_s": round(min(r["epoch_s"][0] for r in ok), 3),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in ok),
        "rss_before_model_mb": max(r["rss_before_model_mb"] for r in ok),
        "final_accuracy": round(best_run["final_accuracy"], 3),
    }
    if best_run.get("compile_s") is not None:
        out["compile_s"] = round(min(r["compile_s"] for r in ok), 3)
    for key in ("blas_threads", "torch_threads"):
        if key in best_run:
            out[key] = best_run[key]
    if "backend" in best_run:
        out["backend"] = best_run["backend"]
    return out


def bench_case(case: str, args) -> None:
    spec = case_spec(case, args.smoke, args.quick, args.batch_size)
    x, _ = load_case_data(case, spec)
    samples = len(x)
    contenders = ["nerve", "torch"]
    keras_status = None
    if importlib.util.find_spec("keras") is None:
        keras_status = "not installed"
    elif args.no_keras:
        keras_status = "skipped (--no-keras)"
    else:
        contenders.append("keras")
    runs: dict[str, list] = {c: [] for c in contenders}
    for _ in range(args.rounds):
        for contender in contenders:
            runs[contender].append(run_worker(contender, case, args))
    results = {c: _summarize(runs[c], samples) for c in contenders}
    if keras_status:
        results["keras"] = keras_status
    record = {
        "case": spec["case"],
        "samples_per_epoch": samples,
        "batch_size": spec["batch_size"],
        "steady_epochs_per_run": spec["epochs"],
        "rounds": args.rounds,
        "threads": args.threads,
        **results,
    }
    if spec.get("sizes"):
        record["sizes"] = list(spec["sizes"])

    def ratio(a: str, b: str):
        ra, rb = results.get(a), results.get(b)
        if (
            isinstance(ra, dict)
            and isinstance(rb, dict)
            and "samples_per_s" in ra
            and "samples_per_s" in rb
        ):
            return round(ra["samples_per_s"] / rb["samples_per_s"], 3)
        return None

    record["nerve_over_torch"] = ratio("nerve", "torch")
    record["nerve_over_torch_median"] = (
        round(
            results["nerve"]["median_samples_per_s"] / results["torch"]["median_samples_per_s"], 3
        )
        if record["nerve_over_torch"] is not None
        else None
    )
    if "keras" in contenders:
        record["nerve_over_keras"] = ratio("nerve", "keras")
    goal = next((g for name, g in GOALS.items() if case.startswith(name)), 1.3)
    record["goal"] = f"nerve_over_torch >= {goal}"
    record["goal_met"] = (
        record["nerve_over_torch"] >= goal if record["nerve_over_torch"] is not None else None
    )
    emit(record)


def _best_ms(fn, number: int, repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - start) / number)
    return best * 1e3


_OP_GROUPS = {
    "matmul": (
        "matmul",
        "patches_product",
        "product_patches_transpose",
        "transposed_patches_product",
    ),
    "random": ("random_uniform", "random_normal", "random_truncated_normal"),
    "reduce": ("reduce_sum", "reduce_max", "reduce_min", "reduce_mean", "argmax", "argmin"),
    "state": ("read_variable", "assign_variable"),
    "fused_loops": ("fused_elementwise",),
    "windows": ("extract_patches", "patches_transpose", "max_pool", "window_scatter"),
}


def _graph_breakdown(model, data, mask, steps: int) -> dict:
    """Where one compiled train step goes: the ``nerve.function`` call, the generated
    graph code alone, and the sum of its nodes' kernels (timed one by one)."""
    import numpy as np

    from nerve.core import tree

    function = model.train_function
    # About half a second per timing round: a convnet step takes 100 ms, an MLP's 1 ms.
    start = time.perf_counter()
    function(data, mask)
    number = max(3, min(2000 // steps, int(0.5 / max(time.perf_counter() - start, 1e-6))))
    call_ms = _best_ms(lambda: function(data, mask), number)
    # The trainer wraps its nerve.function(s) to make the batch axis symbolic: one per
    # argument structure; fit's is the one traced for these arguments.
    if hasattr(function, "functions"):
        function.trace(data, mask)
        function = next(f for f in function.functions if f.trace_count)
    concrete = function.get_concrete_function(data, mask)
    leaves, _ = tree.flatten(((data, mask), {}))
    arrays = [np.asarray(leaf) for leaf in leaves if hasattr(leaf, "shape")]
    run_ms = _best_ms(lambda: concrete.compiled.run(arrays), number)
    rows = function.profile(data, mask, repeat=10)
    by_group: dict = {}
    for row in rows:
        group = next((g for g, ops in _OP_GROUPS.items() if row["op"] in ops), None)
        if group is None:
            group = "elementwise_scalar" if row["shapes"].endswith("[]") else "elementwise"
        by_group[group] = by_group.get(group, 0.0) + row["ms"]
    counts: dict = {}
    for row in rows:
        counts[row["op"]] = counts.get(row["op"], 0) + 1
    return {
        "train_function_call_ms": round(call_ms, 4),
        "graph_run_ms": round(run_ms, 4),
        "nodes": len(rows),
        "sum_of_node_kernels_ms": round(sum(r["ms"] for r in rows), 4),
        "node_ms_by_group": {k: round(v, 4) for k, v in sorted(by_group.items())},
        "top_nodes": [
            f"{r['op']} {r['shapes']} {r['ms']:.4f}"
            for r in sorted(rows, key=lambda r: -r["ms"])[:6]
        ],
    }


def profile_case(case: str, args) -> None:
    """Where nerve's steady-state epoch goes: per step, the fit loop around the compiled
    step, the ``nerve.function`` dispatch, the generated graph code and its kernels;
    plus a cProfile of the epochs (top functions in JSON, the table on stderr).

    cProfile does not see NumPy ufunc calls (matmul included) as functions: their time
    shows up in the caller (the generated graph code, or a kernel wrapper), so the
    kernel/overhead split comes from the node timings, not from cProfile."""
    import cProfile
    import pstats

    import nerve

    spec = case_spec(case, args.smoke, args.quick, args.batch_size)
    x, y = load_case_data(case, spec)
    batch = spec["batch_size"]
    steps = -(-len(x) // batch)
    nerve.utils.set_random_seed(0)
    model = _keras_like_model(nerve, case, spec)
    model.compile(
        optimizer=nerve.optimizers.Adam(
            learning_rate=LR, beta_1=BETA_1, beta_2=BETA_2, epsilon=EPSILON
        ),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.fit(x, y, batch_size=batch, epochs=1, verbose=0)  # compile
    epochs = spec["epochs"]
    epoch_ms = min(
        _best_ms(lambda: model.fit(x, y, batch_size=batch, epochs=1, verbose=0), epochs, 1)
        for _ in range(2)
    )
    step_ms = epoch_ms / steps
    record = {
        "case": f"profile_nerve_{spec['case']}",
        "threads": args.threads,
        "steps_per_epoch": steps,
        "epoch_ms": round(epoch_ms, 3),
        "step_ms": round(step_ms, 4),
    }
    try:
        data, mask = next(iter(model.data_adapter.epoch_batches(0)))
        graph = _graph_breakdown(model, data, mask, steps)
        graph["fit_loop_overhead_ms_per_step"] = round(step_ms - graph["train_function_call_ms"], 4)
        graph["function_dispatch_ms"] = round(
            graph["train_function_call_ms"] - graph["graph_run_ms"], 4
        )
        record.update(graph)
    except Exception as error:  # internals moved: keep the rest of the profile
        record["graph_breakdown"] = f"unavailable: {type(error).__name__}: {error}"

    profiler = cProfile.Profile()
    profiler.enable()
    model.fit(x, y, batch_size=batch, epochs=epochs, verbose=0)
    profiler.disable()
    stats = pstats.Stats(profiler)
    top = sorted(stats.stats.items(), key=lambda kv: -kv[1][2])[:10]
    record["cprofile_epoch_ms"] = round(stats.total_tt / epochs * 1e3, 3)
    record["cprofile_top_tottime_ms_per_epoch"] = {
        f"{os.path.basename(fn)}:{line}({name})": round(tt / epochs * 1e3, 3)
        for (fn, line, name), (_cc, _nc, tt, _ct, _callers) in top
    }
    emit(record)
    print(f"--- cProfile of nerve fit, {spec['case']}, {epochs} epochs ---", file=sys.stderr)
    stats.stream = sys.stderr
    stats.sort_stats("tottime").print_stats(args.profile_top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer epochs and rounds")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (a test that it runs)")
    parser.add_argument("--only", choices=("digits", "mnist", "convnet"))
    parser.add_argument("--rounds", type=int, default=None, help="runs of each contender")
    parser.add_argument("--profile", action="store_true", help="cProfile nerve's epochs too")
    parser.add_argument("--profile-top", type=int, default=25)
    parser.add_argument("--keras-backend", default="torch", help="KERAS_BACKEND if unset")
    parser.add_argument(
        "--threads",
        type=int,
        default=os.cpu_count() or 1,
        help="BLAS/OpenMP threads of every contender and torch.set_num_threads "
        "(default: the machine's CPUs)",
    )
    parser.add_argument("--batch-size", type=int, default=None, help="instead of the case's")
    parser.add_argument("--no-keras", action="store_true", help="leave Keras out")
    parser.add_argument("--keep-openblas-env", action="store_true")
    parser.add_argument("--worker", choices=CONTENDERS, help=argparse.SUPPRESS)
    parser.add_argument("--case", choices=("digits", "mnist", "convnet"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not args.keep_openblas_env:
        reexec_without_openblas_overrides()
    if args.worker:
        worker(args.worker, args.case, args)
        return
    if args.threads != os.cpu_count():  # this process too (--profile, the BLAS line)
        for var in THREAD_VARS:
            os.environ[var] = str(args.threads)
    if args.rounds is None:
        args.rounds = 1 if (args.smoke or args.quick) else 3

    import numpy

    try:  # the version only: importing torch here would cost a second per run
        torch_version = importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        torch_version = "not installed"
    emit(
        {
            "case": "environment",
            "python": sys.version.split()[0],
            "numpy": numpy.__version__,
            "torch": torch_version,
            "threads": args.threads,
            "cpus": os.cpu_count(),
            "loadavg": [round(v, 2) for v in os.getloadavg()],
            "openblas_env": {v: os.environ.get(v) for v in OPENBLAS_VARS},
            **blas_info(),
        }
    )
    for case in ("digits", "mnist", "convnet"):
        if args.only in (None, case):
            bench_case(case, args)
            if args.profile:
                from threadpoolctl import threadpool_limits

                with threadpool_limits(limits=args.threads):
                    profile_case(case, args)
    emit({"case": "loadavg_at_end", "value": [round(v, 2) for v in os.getloadavg()]})


if __name__ == "__main__":
    main()
