"""Dense training, measured fairly: nerve vs PyTorch eager vs JAX ``jit``.

The 784-512-256-10 ReLU MLP (logits, softmax cross-entropy on integer labels) trained
with SGD momentum 0.9 (lr 0.01) and with Adam (lr 1e-3, Keras's epsilon 1e-7), at
batch 32, 128 and 512. Contenders, each in a process of its own (two libraries'
thread pools in one process slow each other), run round-robin for ``--rounds``
rounds so that load from other work hits them alike:

* ``nerve_step``: the compiled step ``fit`` runs (``model.make_train_function()``
  called on one batch), a Keras-style ``Sequential`` of ``Dense`` layers compiled
  with ``nerve.optimizers.SGD``/``Adam`` and ``SparseCategoricalCrossentropy``;
* ``nerve_fit``: ``model.fit`` on 40 batches' worth of the same data, ``verbose=0``,
  timed per epoch by a callback (first epoch excluded);
* ``torch``: ``nn.Sequential`` of ``nn.Linear``/``nn.ReLU``, ``F.cross_entropy``,
  ``torch.optim.SGD(momentum=0.9)``/``torch.optim.Adam(eps=1e-7)``: zero_grad,
  forward, backward, step — what a PyTorch user writes;
* ``jax``: a ``jax.jit`` step (``value_and_grad``, then the same update rules written
  with ``jax.numpy``, as optax's; optax is not needed), parameters donated, results
  waited for with ``block_until_ready``.

Every contender starts from the same Glorot-uniform weights and batch. Each reports
samples/s: the median and range over its rounds (each round: the best of several
timing samples). Ratios are of medians. Goals (issue 16): ``nerve_step`` >= 1.2x JAX
at every batch size and optimizer, and ``nerve_fit`` within 5 % of ``nerve_step``.
The physical limit is printed too (``matmul_roofline``): the step's time if it did
nothing but its products (the forward product of every layer, the weight-gradient
product of every layer and the input-gradient product of every layer but the first:
the input batch needs no gradient), each at the best time NumPy's BLAS takes for that
product alone, at its shapes and operand layouts, in a worker capped and pinned like
the contenders, in every round (its median is the limit). Each contender's median is
given as a fraction of it (``nerve_step_of_roofline``, ``jax_of_roofline``), and so is
the goal (``goal_of_roofline``: 1.2x JAX's median; above 1, a step of nothing but
products at the BLAS's best speed would still miss it). The same worker measures the
cores' arithmetic peak (``fma_peak``: multiply-adds with no memory traffic, on as many
threads) and the record says what fraction of it the products reach
(``products_of_fma_peak``): the BLAS's share of the hardware. Before 2026-12-06 the limit
was measured in the driver process, whose BLAS used every core, and counted a ninth
product; until that evening it timed only each layer's forward product, once per case.

``--profile`` reports instead, per case and in a worker process capped and pinned
like the others, where nerve's step goes in CPU time: the compiled step's kernels
by group (matrix products, fused elementwise loops, reductions, other kernels),
the Python around them (the generated graph code and
the ``nerve.function`` dispatch), ``fit``'s own per-step work (batch gathering,
callbacks, logs), and the products' GFLOP/s against the BLAS's best on this machine
(a 1024-cube product), with the step's products at that rate (``step_at_blas_peak_ms``).
CPU time (``time.process_time``) rather than wall time, so that other processes on
a shared machine count less (with several threads: CPU-seconds of all of them, so
GFLOP/s per CPU); the timers' own cost (a system call each, ~1.3 us) is measured on a
kernel that does nothing and taken off every node.

``--flush-denormals`` runs nerve's contenders with ``nerve.config.set_flush_denormals
(True)``, the arithmetic XLA's CPU runtime always uses (denormals flushed to zero): the
optimizer state of dead ReLU units decays into denormals after ~700 steps on one batch
and then costs nerve's update loops microcode assists at every step (see the README).

``--threads N`` sets every contender's BLAS/OpenMP threads (and
``torch.set_num_threads``; XLA's CPU client through ``--xla_cpu_multi_thread_eigen``
and ``intra_op_parallelism_threads``); default: the machine's CPUs. Run it at the
default and at ``--threads 1``: on a small shared machine one thread is steadier.

Usage: ``python benchmarks/bench_dense.py [--quick] [--threads N] [--rounds N]
[--batches 32 128 512] [--optimizers sgd adam] [--profile] [--flush-denormals]``
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import sys
import time

import fma_peak
from common import (
    best_time,
    emit,
    init_mlp,
    machine_record,
    reexec_without_openblas_overrides,
    run_worker_process,
    worker_env,
)

SIZES = (784, 512, 256, 10)
LR = {"sgd": 0.01, "adam": 1e-3}
MOMENTUM = 0.9
CONTENDERS = ("nerve_step", "nerve_fit", "torch", "jax")
WORKERS = (*CONTENDERS, "roofline", "profile", "profile_peak")
FIT_BATCHES = 40


def _timed(step, seconds: float) -> float:
    """Best seconds per call over a few samples of about ``seconds / 5`` each."""
    step()
    start = time.perf_counter()
    step()
    per_call = max(time.perf_counter() - start, 1e-6)
    return best_time(step, 5, max(3, int(seconds / 5 / per_call)))


# -- contenders ---------------------------------------------------------------------------


def _nerve_model(optimizer: str):
    import nerve

    if os.environ.get("BENCH_FLUSH_DENORMALS") == "1":
        nerve.config.set_flush_denormals(True)

    weights, _, _ = init_mlp(SIZES, 1)
    model = nerve.Sequential(
        [nerve.Input((SIZES[0],))]
        + [nerve.layers.Dense(n, activation="relu") for n in SIZES[1:-1]]
        + [nerve.layers.Dense(SIZES[-1])]
    )
    model.set_weights(weights)
    opt = (
        nerve.optimizers.SGD(LR["sgd"], momentum=MOMENTUM)
        if optimizer == "sgd"
        else nerve.optimizers.Adam(LR["adam"])
    )
    model.compile(opt, nerve.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def run_nerve_step(optimizer: str, batch: int, seconds: float) -> float:
    from nerve.training.trainer import _host_batch

    model = _nerve_model(optimizer)
    _, x, y = init_mlp(SIZES, batch)
    step_function = model.make_train_function()
    data = _host_batch(x, y.astype("int32"))
    return _timed(lambda: step_function(data, None), seconds)


def run_nerve_fit(optimizer: str, batch: int, seconds: float) -> float:
    import nerve

    model = _nerve_model(optimizer)
    _, x, y = init_mlp(SIZES, batch * FIT_BATCHES)
    y = y.astype("int32")
    times: list = []

    class EpochTimer(nerve.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.start)

    model.fit(x, y, batch_size=batch, epochs=2, verbose=0, callbacks=[EpochTimer()])
    epochs = max(2, int(seconds / max(times[-1], 1e-3)))
    times.clear()
    model.fit(x, y, batch_size=batch, epochs=epochs, verbose=0, callbacks=[EpochTimer()])
    return min(times) / FIT_BATCHES


def run_torch(optimizer: str, batch: int, seconds: float, threads: int) -> float:
    import torch
    import torch.nn.functional as F
    from torch import nn

    torch.set_num_threads(threads)
    weights, x, y = init_mlp(SIZES, batch)
    layers = []
    for i, (fan_in, fan_out) in enumerate(zip(SIZES[:-1], SIZES[1:])):
        linear = nn.Linear(fan_in, fan_out)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(weights[2 * i].T.copy()))
            linear.bias.copy_(torch.from_numpy(weights[2 * i + 1]))
        layers += [linear, nn.ReLU()]
    model = nn.Sequential(*layers[:-1])
    opt = (
        torch.optim.SGD(model.parameters(), lr=LR["sgd"], momentum=MOMENTUM)
        if optimizer == "sgd"
        else torch.optim.Adam(model.parameters(), lr=LR["adam"], eps=1e-7)
    )
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(model(xt), yt)
        loss.backward()
        opt.step()

    return _timed(step, seconds)


def run_jax(optimizer: str, batch: int, seconds: float) -> float:
    import jax
    import jax.numpy as jnp

    weights, x, y = init_mlp(SIZES, batch)
    params = [jnp.asarray(w) for w in weights]
    state = [jnp.zeros_like(p) for p in params]
    state2 = [jnp.zeros_like(p) for p in params]
    xs, ys = jnp.asarray(x), jnp.asarray(y.astype("int32"))

    def loss_fn(params, x, y):
        h = x
        for i in range(0, len(params) - 2, 2):
            h = jax.nn.relu(h @ params[i] + params[i + 1])
        logits = h @ params[-2] + params[-1]
        logp = jax.nn.log_softmax(logits)
        return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))

    def sgd(params, velocity, unused, t, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        velocity = [MOMENTUM * v - LR["sgd"] * g for v, g in zip(velocity, grads)]
        return [p + v for p, v in zip(params, velocity)], velocity, unused, t + 1, loss

    def adam(params, m, v, t, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        t = t + 1
        m = [0.9 * a + 0.1 * g for a, g in zip(m, grads)]
        v = [0.999 * b + 0.001 * g * g for b, g in zip(v, grads)]
        lr = LR["adam"] * jnp.sqrt(1 - 0.999**t) / (1 - 0.9**t)
        params = [p - lr * a / (jnp.sqrt(b) + 1e-7) for p, a, b in zip(params, m, v)]
        return params, m, v, t, loss

    step_fn = jax.jit(sgd if optimizer == "sgd" else adam, donate_argnums=(0, 1, 2))
    carry = [params, state, state2, jnp.float32(0)]

    def step():
        p, a, b, t, loss = step_fn(*carry, xs, ys)
        carry[:] = [p, a, b, t]
        loss.block_until_ready()

    return _timed(step, seconds)


# -- where nerve's step goes (--profile) ---------------------------------------------------

#: Kernel groups of the profile, by primitive name (the rest: "other_kernels"). Variable
#: reads and writes are no kernel calls: their time is the graph code's own.
KERNEL_GROUPS = {
    "matmul": "products",
    "fused_elementwise": "fused_loops",
    "reduce_sum": "reductions",
    "reduce_max": "reductions",
}


def _cpu_ms(fn, number: int, repeat: int = 5) -> float:
    """Best-of-``repeat`` CPU milliseconds per call."""
    return best_time(fn, repeat, number, clock=time.process_time) * 1e3


def _cpu_ms_alternating(fns: list, numbers: list, repeat: int = 7) -> list:
    """Best CPU milliseconds per call of each of ``fns``, sampled in turn, so that a
    busy spell of the machine hits them alike (their differences are what counts)."""
    best = [float("inf")] * len(fns)
    for _ in range(repeat):
        for k, (fn, number) in enumerate(zip(fns, numbers)):
            start = time.process_time()
            for _ in range(number):
                fn()
            best[k] = min(best[k], (time.process_time() - start) / number)
    return [b * 1e3 for b in best]


def _timed_kernel(kernel, index, totals: dict):
    """``kernel`` adding its CPU seconds into ``totals[index]`` at each call."""
    clock = time.process_time

    def call(*args, **kwargs):
        start = clock()
        result = kernel(*args, **kwargs)
        totals[index] = totals.get(index, 0.0) + clock() - start
        return result

    return call


def _timer_overhead() -> tuple[float, float]:
    """CPU seconds per call that timing a kernel that does nothing adds: inside the
    interval it measures, and in all (a ``process_time`` call is a system call, ~1.3
    us here, and the wrapper a Python call)."""
    totals: dict = {}

    def noop():
        return None

    timed = _timed_kernel(noop, 0, totals)
    calls = 20000
    start = time.process_time()
    for _ in range(calls):
        timed()
    middle = time.process_time()
    for _ in range(calls):
        noop()
    end = time.process_time()
    return totals[0] / calls, ((middle - start) - (end - middle)) / calls


def _timed_graph_code(compiled, totals: dict):
    """The compiled graph's generated code again, each kernel call wrapped in a CPU
    timer adding into ``totals[node index]``. Reaches into the executor's internals
    (``_generate``): a benchmark's business, not an API."""
    from nerve.graph import executor

    source, namespace = executor._generate(
        compiled.graph, compiled.backend, compiled.plan, compiled.loops
    )
    for key in list(namespace):
        if key[:1] == "k" and key[1:].isdigit():
            namespace[key] = _timed_kernel(namespace[key], int(key[1:]), totals)
    exec(compile(source, "<timed graph>", "exec"), namespace)
    run = namespace["run"]
    variables = compiled._variables
    return lambda arrays: run(arrays, variables)


def run_profile(optimizer: str, batch: int, seconds: float) -> dict:
    """Where one training step of nerve goes, in CPU milliseconds per step."""
    import numpy as np

    from nerve.backend.numpy_backend.linalg import prime_blas
    from nerve.core import tree
    from nerve.training.trainer import _host_batch

    prime_blas(np)
    model = _nerve_model(optimizer)
    _, x, y = init_mlp(SIZES, batch * FIT_BATCHES)
    y = y.astype("int32")
    step_function = model.make_train_function()
    data = _host_batch(x[:batch], y[:batch])
    step_function(data, None)
    start = time.process_time()
    step_function(data, None)
    number = max(3, int(seconds / 10 / max(time.process_time() - start, 1e-5)))

    function = model.train_function
    if hasattr(function, "functions"):  # fit's wrapper: one nerve.function per structure
        function = next(f for f in function.functions if f.trace_count)
    compiled = function.get_concrete_function(data, None).compiled
    leaves, _ = tree.flatten(((data, None), {}))
    arrays = [np.asarray(leaf) for leaf in leaves if hasattr(leaf, "shape")]
    step_ms, run_ms = _cpu_ms_alternating(
        [lambda: step_function(data, None), lambda: compiled.run(arrays)], [number] * 2
    )
    # Best of three timed runs (each with its own totals): a single one let a slow
    # spell of the shared machine put the kernels' sum at 1.5x the whole step.
    timed_ms, totals = float("inf"), {}
    with compiled.backend.quiet():
        for _ in range(3):
            trial: dict = {}
            timed_run = _timed_graph_code(compiled, trial)
            ms = _cpu_ms(lambda run=timed_run: run(arrays), number, repeat=1)
            if ms < timed_ms:
                timed_ms, totals = ms, trial
    overhead, wrapper = _timer_overhead()  # per kernel call (one call per node and run)
    groups: dict = {}
    for index, seconds_total in totals.items():
        op = compiled.graph.nodes[index].prim.name
        group = KERNEL_GROUPS.get(op, "other_kernels")
        ms = max(seconds_total / number - overhead, 0.0) * 1e3
        groups[group] = groups.get(group, 0.0) + ms
    kernels_ms = sum(groups.values())
    timers_ms = wrapper * len(totals) * 1e3

    model.fit(x, y, batch_size=batch, epochs=1, verbose=0)  # the fit loop's first epoch

    def steps():
        for _ in range(FIT_BATCHES):
            step_function(data, None)

    fit_ms, steps_ms = _cpu_ms_alternating(
        [lambda: model.fit(x, y, batch_size=batch, epochs=1, verbose=0), steps], [1, 1]
    )
    fit_step_ms = fit_ms / FIT_BATCHES
    products_ms = groups.get("products", 0.0)
    return {
        "cpu_ms_per_step": {
            "train_function": round(step_ms, 4),
            "graph_run": round(run_ms, 4),
            "fit": round(fit_step_ms, 4),
        },
        "kernels_cpu_ms": {k: round(v, 4) for k, v in sorted(groups.items())},
        "graph_code_python_ms": round(max(timed_ms - kernels_ms - timers_ms, 0.0), 4),
        "function_dispatch_ms": round(step_ms - run_ms, 4),
        # Against 40 steps on one batch, measured in turn with the epochs.
        "fit_outside_step_ms": round(fit_step_ms - steps_ms / FIT_BATCHES, 4),
        "nodes": len(compiled.graph.nodes),
        "products_gflops": round(step_flops(batch) / products_ms / 1e6, 1) if products_ms else None,
    }


def blas_peak_gflops() -> float:
    """The best GFLOP/s of a large square float32 product here (the BLAS's peak)."""
    import numpy as np

    a = np.random.default_rng(0).standard_normal((1024, 1024), dtype=np.float32)
    a @ a  # let a lazy BLAS start its threads (and OpenBLAS reach full speed)
    return 2 * 1024**3 / _cpu_ms(lambda: a @ a, 3) * 1e3 / 1e9


# -- the driver ---------------------------------------------------------------------------


def _worker_env(threads: int) -> dict:
    env = worker_env(threads)
    if threads != os.cpu_count():
        flags = env.get("XLA_FLAGS", "")
        env["XLA_FLAGS"] = (
            f"{flags} --xla_cpu_multi_thread_eigen={'false' if threads == 1 else 'true'} "
            f"intra_op_parallelism_threads={threads}"
        ).strip()
    return env


def run_worker(contender: str, optimizer: str, batch: int, args) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", contender]
    cmd += ["--optimizer", optimizer, "--batch", str(batch), "--seconds", str(args.seconds)]
    cmd += ["--threads", str(args.threads)]
    env = _worker_env(args.threads)
    if args.flush_denormals:
        env["BENCH_FLUSH_DENORMALS"] = "1"
    return run_worker_process(cmd, env)


def _worker(args) -> dict:
    contender, optimizer, batch = args.worker, args.optimizer, args.batch
    try:
        if contender == "profile":
            return run_profile(optimizer, batch, args.seconds)
        if contender == "roofline":
            peak = fma_peak.peak_gflops(args.threads)
            limit = {"samples_per_s": matmul_roofline(batch)}
            return limit if peak is None else {**limit, "fma_peak_gflops": peak}
        if contender == "profile_peak":
            return {"blas_peak_gflops": round(blas_peak_gflops(), 1)}
        if contender == "nerve_step":
            seconds = run_nerve_step(optimizer, batch, args.seconds)
        elif contender == "nerve_fit":
            seconds = run_nerve_fit(optimizer, batch, args.seconds)
        elif contender == "torch":
            seconds = run_torch(optimizer, batch, args.seconds, args.threads)
        else:
            seconds = run_jax(optimizer, batch, args.seconds)
    except ImportError as error:
        return {"error": f"not installed ({error.name})"}
    return {"samples_per_s": batch / seconds}


def matmul_roofline(batch: int) -> float:
    """Samples/s if the step did nothing but its products, each at the best speed
    NumPy's BLAS reaches for that product alone: the same shapes and operand layouts
    as the step's (``step_products``), each timed on its own, best of a few samples.

    Until 2026-12-06 (evening) every product of a layer was assumed to run at the forward
    product's speed; the weight-gradient products (summing over the batch, an operand
    transposed) run at other speeds, and nerve's step came out at 0.98-1.12 of that
    "limit" at batch 512."""
    import numpy as np

    from nerve.backend.numpy_backend.linalg import prime_blas

    prime_blas(np)  # as nerve's first large product does (OpenBLAS's slow start)
    seconds = 0.0
    for a, b in step_products(np, batch):
        out = np.empty((a.shape[0], b.shape[1]), np.float32)
        product = functools.partial(np.matmul, a, b, out=out)
        seconds += min(_timed(product, 0.1) for _ in range(2))
    return batch / seconds


def step_products(np, batch: int) -> list:
    """The step's products as ``(a, b)`` float32 operand pairs of its shapes and layouts:
    per layer the forward product ``x @ w``, the weight gradient ``x.T @ dy`` (a
    transposed view, as the step's graph has it) and, past the first layer (the input
    batch needs no gradient), the input gradient ``dy @ w.T``."""
    rng = np.random.default_rng(0)
    pairs = []
    for layer, (fan_in, fan_out) in enumerate(zip(SIZES[:-1], SIZES[1:])):
        x = rng.standard_normal((batch, fan_in), dtype=np.float32)
        w = rng.standard_normal((fan_in, fan_out), dtype=np.float32)
        dy = rng.standard_normal((batch, fan_out), dtype=np.float32)
        pairs += [(x, w), (x.T, dy)] + ([(dy, w.T)] if layer else [])
    return pairs


def products_per_layer(layer: int) -> int:
    """Forward, weight gradient and (past the first layer) input gradient."""
    return 3 if layer else 2


def step_flops(batch: int) -> int:
    """The matrix products' floating-point operations in one training step."""
    layers = zip(SIZES[:-1], SIZES[1:])
    return sum(2 * batch * i * o * products_per_layer(k) for k, (i, o) in enumerate(layers))


def profile(args) -> None:
    """``--profile``: one record per case (see the module docstring)."""
    peak = run_worker("profile_peak", "sgd", 0, args)
    for optimizer in args.optimizers:
        for batch in args.batches:
            record: dict = {"case": f"profile_mlp_{optimizer}_b{batch}", "threads": args.threads}
            record.update(run_worker("profile", optimizer, batch, args))
            if "blas_peak_gflops" in peak:
                record["blas_peak_gflops"] = peak["blas_peak_gflops"]
                seconds = step_flops(batch) / (peak["blas_peak_gflops"] * 1e9)
                record["step_at_blas_peak_ms"] = round(seconds * 1e3, 4)
            emit(record)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[32, 128, 512])
    parser.add_argument("--optimizers", nargs="+", choices=tuple(LR), default=list(LR))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=1.5, help="timing per sample set")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--quick", action="store_true", help="1 round, short timings")
    parser.add_argument(
        "--flush-denormals",
        action="store_true",
        help="nerve flushes denormals to zero, as XLA does (nerve.config.set_flush_denormals)",
    )
    parser.add_argument(
        "--profile", action="store_true", help="where nerve's step goes, instead of timings"
    )
    parser.add_argument("--worker", choices=WORKERS, help=argparse.SUPPRESS)
    parser.add_argument("--optimizer", choices=tuple(LR), help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    reexec_without_openblas_overrides()
    if args.worker:
        print("RESULT " + json.dumps(_worker(args)), flush=True)
        return
    if args.quick:
        args.rounds, args.seconds = 1, 0.3
    emit(machine_record(args.threads))
    if args.profile:
        profile(args)
        return
    for optimizer in args.optimizers:
        for batch in args.batches:
            samples: dict = {c: [] for c in CONTENDERS}
            errors: dict = {}
            rooflines, peaks = [], []
            for _ in range(args.rounds):
                for contender in CONTENDERS:
                    result = run_worker(contender, optimizer, batch, args)
                    if "samples_per_s" in result:
                        samples[contender].append(result["samples_per_s"])
                    else:
                        errors[contender] = result["error"]
                # In a worker too (this process's BLAS is not capped at --threads), and
                # in every round: the host's speed moves within minutes.
                limit = run_worker("roofline", optimizer, batch, args)
                rooflines.append(limit.get("samples_per_s", 0))
                if "fma_peak_gflops" in limit:
                    peaks.append(limit["fma_peak_gflops"])
            record: dict = {"case": f"mlp_{optimizer}_b{batch}", "threads": args.threads}
            if args.flush_denormals:
                record["nerve_flushes_denormals"] = True
            medians = {}
            for contender, values in samples.items():
                if values:
                    medians[contender] = statistics.median(values)
                    record[contender] = {
                        "samples_per_s": round(medians[contender]),
                        "range": [round(min(values)), round(max(values))],
                    }
                else:
                    record[contender] = errors.get(contender, "no result")
            for a, b in (
                ("nerve_step", "jax"),
                ("nerve_step", "torch"),
                ("nerve_fit", "nerve_step"),
            ):
                if a in medians and b in medians:
                    record[f"{a}_over_{b}"] = round(medians[a] / medians[b], 3)
            # Its median over the rounds, as every contender's figure.
            roofline = statistics.median(rooflines)
            if roofline:
                record["matmul_roofline_samples_per_s"] = round(roofline)
                for contender in ("nerve_step", "jax"):
                    if contender in medians:
                        fraction = medians[contender] / roofline
                        record[f"{contender}_of_roofline"] = round(fraction, 3)
                if "jax" in medians:
                    # What the goal asks for, as a fraction of the roofline: above 1, a
                    # step of nothing but products at the BLAS's best would not reach it.
                    record["goal_of_roofline"] = round(1.2 * medians["jax"] / roofline, 3)
            if peaks and roofline:
                # How fast the products themselves run, against the cores' arithmetic
                # peak (``fma_peak``): the BLAS's share of the hardware.
                peak = statistics.median(peaks)
                products_gflops = roofline / batch * step_flops(batch) / 1e9
                record["fma_peak_gflops"] = round(peak, 1)
                record["products_of_fma_peak"] = round(products_gflops / peak, 3)
            emit(record)


if __name__ == "__main__":
    main()
