"""Graph benchmarks: ``nerve.function`` vs nerve eager vs PyTorch vs NumPy, in one run.

Prints one JSON line per case, with ratios. Cases:

* ``mlp_step``: one training step of a 784-512-256-10 ReLU MLP at batch 128
  (forward, softmax cross-entropy, backward, SGD with momentum 0.9): nerve eager,
  ``nerve.function``, PyTorch eager, ``torch.compile`` (when it runs here; the
  JSON says why when it does not) and hand-written NumPy with preallocated buffers;
* ``elementwise_chain``: a 100-node chain of add/multiply/tanh/sigmoid/exp on
  64x64 float32 tensors: nerve eager vs ``nerve.function`` vs PyTorch eager;
* memory: the peak of new allocations within one MLP step (tracemalloc, which
  NumPy reports its buffers to) and the peak resident set of this process after
  each case.

Goals (from the graph-compiler issue): ``nerve.function`` >= 1.5x nerve eager and
>= 1.5x PyTorch eager samples/s on the MLP step; the 100-node chain >= 3x faster
compiled than eager.

This machine may set OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE, which make a current
NumPy pick a slower matmul kernel than a user's machine would; by default the
script re-runs itself without them (``--keep-openblas-env`` to keep them) and
prints the BLAS kernel threadpoolctl reports.

Usage: ``python benchmarks/bench_graph.py [--quick] [--only mlp|chain] [--no-torch-compile]``
"""

from __future__ import annotations

import argparse
import time

from common import (
    emit,
    environment_record,
    init_mlp,
    interleaved_times,
    peak_rss_mb,
    reexec_without_openblas_overrides,
)

SIZES = (784, 512, 256, 10)
BATCH = 128
LR = 0.01
MOMENTUM = 0.9
CHAIN_NODES = 100
CHAIN_SHAPE = (64, 64)


def step_peak_mb(step) -> float:
    """Peak memory newly allocated during one call (NumPy reports its buffers to
    tracemalloc): what the memory plan reduces."""
    import tracemalloc

    tracemalloc.start()
    try:
        step()
        return round(tracemalloc.get_traced_memory()[1] / 2**20, 2)
    finally:
        tracemalloc.stop()


# -- (a) MLP training step with SGD momentum ---------------------------------------------


def _init_weights():
    return init_mlp(SIZES, BATCH)


def _nerve_step_fn():
    """The Python step (Keras SGD momentum: v = m v - lr g; p += v) and its arguments."""
    import nerve
    from nerve import ops

    weights, x, y = _init_weights()
    params = [nerve.Variable(w) for w in weights]
    velocities = [nerve.Variable(ops.zeros(w.shape)) for w in weights]
    x = ops.convert_to_tensor(x)
    labels = ops.convert_to_tensor(y.astype("int32"))

    def step(x, labels):
        with nerve.GradientTape() as tape:
            h = x
            for i in range(0, len(params) - 2, 2):
                h = ops.relu(h @ params[i] + params[i + 1])
            logits = h @ params[-2] + params[-1]
            loss = ops.mean(ops.sparse_categorical_crossentropy(labels, logits, from_logits=True))
        grads = tape.gradient(loss, params)
        for p, v, g in zip(params, velocities, grads):
            v.assign(MOMENTUM * v - LR * g)
            p.assign_add(v)
        return loss

    return step, (x, labels)


def nerve_eager_step():
    step, args = _nerve_step_fn()
    return lambda: step(*args)


def nerve_function_step(variant: str = "default"):
    import nerve

    step, args = _nerve_step_fn()
    compiled = nerve.function(step)
    _recompile(compiled, args, variant)
    return lambda: compiled(*args)


def _recompile(function, args, variant: str) -> None:
    """Recompile ``function`` for ``args`` as an A/B ``variant`` of the default: ``unfused``
    (no fusion: NumPy kernels one by one, with the memory plan) or ``unplanned`` (neither
    fusion nor memory plan)."""
    from nerve.graph.executor import CompiledGraph

    concrete = function.get_concrete_function(*args)
    backend = concrete.compiled.backend
    if variant == "unfused":
        concrete.compiled = CompiledGraph(concrete.graph, backend, lower=False)
    elif variant == "unplanned":
        concrete.compiled = CompiledGraph(concrete.graph, backend, plan=False, lower=False)


def _torch_model():
    import torch

    weights, x, y = _init_weights()
    params = [torch.tensor(w, requires_grad=True) for w in weights]
    optimizer = torch.optim.SGD(params, lr=LR, momentum=MOMENTUM)

    def loss_fn(x, y):
        h = x
        for i in range(0, len(params) - 2, 2):
            h = torch.relu(h @ params[i] + params[i + 1])
        logits = h @ params[-2] + params[-1]
        return torch.nn.functional.cross_entropy(logits, y)

    return loss_fn, optimizer, torch.from_numpy(x), torch.from_numpy(y)


def torch_eager_step():
    loss_fn, optimizer, x, y = _torch_model()

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(x, y)
        loss.backward()
        optimizer.step()
        return loss

    return step


def torch_compile_step():
    """``torch.compile`` on the forward/backward and on the optimizer step."""
    import torch

    loss_fn, optimizer, x, y = _torch_model()
    compiled_loss = torch.compile(loss_fn)

    @torch.compile(fullgraph=False)
    def update():
        optimizer.step()

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = compiled_loss(x, y)
        loss.backward()
        update()
        return loss

    return step


def numpy_step():
    """Hand-written NumPy with every buffer preallocated: the floor for NumPy frameworks."""
    import numpy as np

    weights, x, y = _init_weights()
    velocities = [np.zeros_like(w) for w in weights]
    onehot = np.eye(SIZES[-1], dtype=np.float32)[y]
    layers = len(weights) // 2
    acts = [x] + [np.empty((BATCH, n), np.float32) for n in SIZES[1:]]
    deltas = [np.empty((BATCH, n), np.float32) for n in SIZES]
    grads = [np.empty_like(w) for w in weights]
    mask = [np.empty((BATCH, n), bool) for n in SIZES]
    row = np.empty((BATCH, 1), np.float32)

    def step():
        for i in range(layers):
            z = acts[i + 1]
            np.matmul(acts[i], weights[2 * i], out=z)
            z += weights[2 * i + 1]
            if i < layers - 1:
                np.maximum(z, 0, out=z)
        probs = deltas[-1]
        np.max(acts[-1], axis=1, keepdims=True, out=row)
        np.subtract(acts[-1], row, out=probs)
        np.exp(probs, out=probs)
        np.sum(probs, axis=1, keepdims=True, out=row)
        probs /= row
        probs -= onehot
        probs *= 1.0 / BATCH
        for i in reversed(range(layers)):
            grad = deltas[i + 1]
            np.matmul(acts[i].T, grad, out=grads[2 * i])
            np.sum(grad, axis=0, out=grads[2 * i + 1])
            if i:
                np.matmul(grad, weights[2 * i].T, out=deltas[i])
                np.greater(acts[i], 0, out=mask[i])
                deltas[i] *= mask[i]
        for w, v, g in zip(weights, velocities, grads):
            v *= MOMENTUM
            g *= LR
            v -= g
            w += v

    return step


def bench_mlp(quick: bool, try_torch_compile: bool) -> None:
    repeat, number = (3, 5) if quick else (5, 20)
    makers = {
        "nerve_eager": nerve_eager_step,
        "nerve_function": nerve_function_step,
        "nerve_function_unplanned": lambda: nerve_function_step("unplanned"),
        "nerve_function_unfused": lambda: nerve_function_step("unfused"),
        "torch_eager": torch_eager_step,
        "torch_compile": torch_compile_step,
        "numpy_by_hand": numpy_step,
    }
    steps, notes = {}, {}
    for name, make in makers.items():
        if name == "torch_compile" and not try_torch_compile:
            notes[name] = "skipped (--no-torch-compile)"
            continue
        try:
            start = time.perf_counter()
            step = make()
            step()  # warm up (traces / compiles)
            step()
            if name in ("nerve_function", "torch_compile"):
                notes[name + "_first_calls_s"] = round(time.perf_counter() - start, 2)
            steps[name] = step
        except Exception as error:  # report why a contender could not run, keep going
            notes[name] = f"failed: {type(error).__name__}: {str(error).splitlines()[0][:200]}"
    times = interleaved_times(steps, repeat, number)
    step_peaks = {
        name: step_peak_mb(steps[name])
        for name in (
            "nerve_eager",
            "nerve_function",
            "nerve_function_unfused",
            "nerve_function_unplanned",
            "numpy_by_hand",
        )
        if name in steps
    }
    ms = {k: round(v * 1e3, 3) for k, v in times.items()}
    samples = {k: round(BATCH / v, 1) for k, v in times.items()}
    ratios = {}
    if "nerve_function" in times:
        fn = times["nerve_function"]
        for other in (
            "nerve_eager",
            "nerve_function_unplanned",
            "nerve_function_unfused",
            "torch_eager",
            "torch_compile",
            "numpy_by_hand",
        ):
            if other in times:
                ratios[f"function_over_{other}_throughput"] = round(times[other] / fn, 3)
    emit(
        {
            "case": "mlp_784_512_256_10_sgd_momentum_b128",
            "ms_per_step": ms,
            "samples_per_s": samples,
            **ratios,
            "step_peak_alloc_mb": step_peaks,
            "notes": notes,
            "goal": "function_over_nerve_eager >= 1.5 and function_over_torch_eager >= 1.5",
            "peak_rss_mb": peak_rss_mb(),
        }
    )


# -- (b) a 100-node elementwise graph ------------------------------------------------------


def _chain(add, multiply, tanh, sigmoid, exp):
    """``CHAIN_NODES`` elementwise ops on three inputs; values stay bounded."""

    def chain(a, b, c):
        h = a
        for i in range(CHAIN_NODES):
            kind = i % 5
            if kind == 0:
                h = add(h, b)
            elif kind == 1:
                h = multiply(h, c)
            elif kind == 2:
                h = tanh(h)
            elif kind == 3:
                h = sigmoid(h)
            else:
                h = exp(h)
        return h

    return chain


def bench_chain(quick: bool) -> None:
    import numpy as np
    import torch

    import nerve
    from nerve import ops

    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(CHAIN_SHAPE).astype(np.float32) for _ in range(3)]
    nerve_chain = _chain(ops.add, ops.multiply, ops.tanh, ops.sigmoid, ops.exp)
    torch_chain = _chain(torch.add, torch.mul, torch.tanh, torch.sigmoid, torch.exp)
    tensors = [ops.convert_to_tensor(a) for a in arrays]
    torch_tensors = [torch.from_numpy(a) for a in arrays]
    numpy_chain = _chain(
        np.add, np.multiply, np.tanh, lambda x: 0.5 + 0.5 * np.tanh(0.5 * x), np.exp
    )
    compiled = nerve.function(nerve_chain)
    unplanned = nerve.function(nerve_chain)
    _recompile(unplanned, tensors, "unplanned")
    unfused = nerve.function(nerve_chain)
    _recompile(unfused, tensors, "unfused")
    nodes = len(compiled.graph_for(*tensors))
    expected = nerve_chain(*tensors).numpy()
    np.testing.assert_allclose(compiled(*tensors).numpy(), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(unfused(*tensors).numpy(), unplanned(*tensors).numpy())
    # The fused loop's transcendentals (vmath.h) are within a few ULP of NumPy's.
    np.testing.assert_allclose(compiled(*tensors).numpy(), unfused(*tensors).numpy(), rtol=1e-5)

    repeat, number = (3, 50) if quick else (7, 200)
    times = interleaved_times(
        {
            "nerve_eager": lambda: nerve_chain(*tensors),
            "nerve_function": lambda: compiled(*tensors),
            "nerve_function_unplanned": lambda: unplanned(*tensors),
            "nerve_function_unfused": lambda: unfused(*tensors),
            "torch_eager": lambda: torch_chain(*torch_tensors),
            # The same ufunc calls with no framework around them: a floor for NumPy kernels.
            "numpy_ufuncs": lambda: numpy_chain(*arrays),
        },
        repeat,
        number,
    )
    emit(
        {
            "case": f"elementwise_chain_{CHAIN_NODES}_nodes_64x64_f32",
            "graph_nodes": nodes,
            "us_per_call": {k: round(v * 1e6, 2) for k, v in times.items()},
            "function_over_nerve_eager": round(times["nerve_eager"] / times["nerve_function"], 2),
            "function_over_torch_eager": round(times["torch_eager"] / times["nerve_function"], 2),
            "function_over_unplanned": round(
                times["nerve_function_unplanned"] / times["nerve_function"], 2
            ),
            "function_over_unfused": round(
                times["nerve_function_unfused"] / times["nerve_function"], 2
            ),
            "nerve_eager_over_numpy_ufuncs": round(times["nerve_eager"] / times["numpy_ufuncs"], 2),
            "goal": "function_over_nerve_eager >= 3",
            "peak_rss_mb": peak_rss_mb(),
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--keep-openblas-env", action="store_true")
    parser.add_argument("--no-torch-compile", action="store_true", help="skip torch.compile")
    parser.add_argument("--only", choices=("mlp", "chain"))
    parser.add_argument(
        "--threads", type=int, help="BLAS and torch threads (1 is steadier on a busy machine)"
    )
    args = parser.parse_args()
    if not args.keep_openblas_env:
        reexec_without_openblas_overrides()
    import torch

    if args.threads:
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.threads)
        torch.set_num_threads(args.threads)

    emit(environment_record())
    if args.only in (None, "chain"):
        bench_chain(args.quick)
    if args.only in (None, "mlp"):
        bench_mlp(args.quick, not args.no_torch_compile)
    emit({"case": "peak_rss_mb_this_process", "value": peak_rss_mb()})


if __name__ == "__main__":
    main()
