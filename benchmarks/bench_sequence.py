"""Sequence models: nerve ``fit`` vs a PyTorch training loop, each in its own process.

Cases (one JSON line each, training samples/s and the ratio nerve / PyTorch):

* ``lstm``: Embedding(20000, 128) -> LSTM(64) -> Dense(1, sigmoid), sequences of 100
  ids, batch 64, binary cross-entropy, Adam. PyTorch: ``nn.Embedding`` ->
  ``nn.LSTM(batch_first=True)`` -> ``nn.Linear`` on the last step.
* ``gru``: the same with GRU (``nn.GRU``; Keras's default ``reset_after=True`` is
  PyTorch's formulation).
* ``transformer``: token + position embedding (vocabulary 20000, d_model 128), two
  encoder blocks (MultiHeadAttention with 4 heads, a 512-unit feed-forward, residuals
  and post-layer-norm, as ``nn.TransformerEncoderLayer`` with ``batch_first=True``,
  ``dropout=0``), global average pooling, Dense(1); sequences of 128, batch 32.

Each contender trains ``--steps`` steps after a warm-up (compile for nerve), best of
``--rounds`` rounds, alternating processes. ``--threads N`` sets BLAS/OpenMP threads
and ``torch.set_num_threads``. Goals (issue 11): at least 1.5x PyTorch eager on the
LSTM and GRU, at least 1.0x on the Transformer.

Usage: ``python benchmarks/bench_sequence.py [--only lstm|gru|transformer]
[--rounds N] [--steps N] [--threads N]``
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from common import (
    emit,
    machine_record,
    peak_rss_mb,
    reexec_without_openblas_overrides,
    run_worker_process,
    worker_env,
)

CASES = ("lstm", "gru", "transformer")
VOCAB = 20_000
SPECS = {
    "lstm": {"steps": 100, "batch": 64},
    "gru": {"steps": 100, "batch": 64},
    "transformer": {"steps": 128, "batch": 32, "d_model": 128, "heads": 4, "ff": 512},
}


def data(case: str, count: int):
    import numpy as np

    spec = SPECS[case]
    rng = np.random.default_rng(0)
    x = rng.integers(1, VOCAB, (count * spec["batch"], spec["steps"])).astype("int32")
    y = rng.integers(0, 2, (count * spec["batch"], 1)).astype("float32")
    return x, y


def nerve_model(case: str):
    import nerve
    from nerve import layers

    spec = SPECS[case]
    inputs = nerve.Input((spec["steps"],), dtype="int32")
    if case in ("lstm", "gru"):
        x = layers.Embedding(VOCAB, 128)(inputs)
        x = (layers.LSTM if case == "lstm" else layers.GRU)(64)(x)
    else:
        d = spec["d_model"]

        class TokenAndPosition(layers.Layer):
            """Token plus learned position embeddings (the position table trains too)."""

            def __init__(self):
                super().__init__()
                self.tokens = layers.Embedding(VOCAB, d)
                self.positions = layers.Embedding(spec["steps"], d)

            def call(self, ids):
                return self.tokens(ids) + self.positions(nerve.ops.arange(ids.shape[-1]))

        x = TokenAndPosition()(inputs)
        for _ in range(2):
            attended = layers.MultiHeadAttention(spec["heads"], d // spec["heads"])(x, x)
            x = layers.LayerNormalization(epsilon=1e-5)(x + attended)
            hidden = layers.Dense(spec["ff"], activation="relu")(x)
            x = layers.LayerNormalization(epsilon=1e-5)(x + layers.Dense(d)(hidden))
        x = layers.GlobalAveragePooling1D()(x)
    outputs = layers.Dense(1, activation="sigmoid")(x)
    model = nerve.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="binary_crossentropy")
    return model


def run_nerve(case: str, steps: int) -> dict:
    import nerve

    nerve.utils.set_random_seed(0)
    model = nerve_model(case)
    batch = SPECS[case]["batch"]
    x, y = data(case, steps)
    start = time.perf_counter()
    model.fit(x[:batch], y[:batch], batch_size=batch, epochs=1, verbose=0)  # compile
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    model.fit(x, y, batch_size=batch, epochs=1, shuffle=False, verbose=0)
    seconds = time.perf_counter() - start
    return {"samples_per_s": len(x) / seconds, "compile_s": round(compile_s, 2),
            "peak_rss_mb": peak_rss_mb()}  # fmt: skip


def torch_model(case: str):
    import torch
    from torch import nn

    spec = SPECS[case]

    class Recurrent(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(VOCAB, 128)
            self.rnn = (nn.LSTM if case == "lstm" else nn.GRU)(128, 64, batch_first=True)
            self.out = nn.Linear(64, 1)

        def forward(self, ids):
            sequence, _ = self.rnn(self.embed(ids))
            return torch.sigmoid(self.out(sequence[:, -1]))

    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            d = spec["d_model"]
            self.tokens = nn.Embedding(VOCAB, d)
            self.positions = nn.Embedding(spec["steps"], d)
            layer = nn.TransformerEncoderLayer(
                d, spec["heads"], spec["ff"], dropout=0.0, batch_first=True
            )
            self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
            self.out = nn.Linear(d, 1)

        def forward(self, ids):
            x = self.tokens(ids) + self.positions(torch.arange(ids.shape[1]))
            return torch.sigmoid(self.out(self.encoder(x).mean(1)))

    return Recurrent() if case in ("lstm", "gru") else Encoder()


def run_torch(case: str, steps: int, threads: int) -> dict:
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = torch_model(case)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.BCELoss()
    batch = SPECS[case]["batch"]
    x, y = data(case, steps)
    x, y = torch.from_numpy(x.astype("int64")), torch.from_numpy(y)

    def step(i):
        optimizer.zero_grad()
        loss = loss_fn(model(x[i * batch : (i + 1) * batch]), y[i * batch : (i + 1) * batch])
        loss.backward()
        optimizer.step()

    step(0)
    start = time.perf_counter()
    for i in range(steps):
        step(i)
    seconds = time.perf_counter() - start
    return {"samples_per_s": steps * batch / seconds, "peak_rss_mb": peak_rss_mb(),
            "torch_threads": torch.get_num_threads()}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=CASES)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--worker", choices=("nerve", "torch"), help=argparse.SUPPRESS)
    parser.add_argument("--case", choices=CASES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    reexec_without_openblas_overrides()
    if args.worker:
        if args.worker == "nerve":
            result = run_nerve(args.case, args.steps)
        else:
            result = run_torch(args.case, args.steps, args.threads)
        print("RESULT " + json.dumps(result), flush=True)
        return
    emit(machine_record(args.threads))
    for case in CASES:
        if args.only not in (None, case):
            continue
        best: dict = {}
        for _ in range(args.rounds):
            for contender in ("nerve", "torch"):
                cmd = [sys.executable, os.path.abspath(__file__), "--worker", contender]
                cmd += ["--case", case, "--steps", str(args.steps), "--threads", str(args.threads)]
                result = run_worker_process(cmd, worker_env(args.threads))
                previous = best.get(contender, {})
                if "error" in result or result["samples_per_s"] > previous.get("samples_per_s", 0):
                    best[contender] = result
        record = {"case": case, "threads": args.threads, **SPECS[case], **best}
        if all("samples_per_s" in best.get(c, {}) for c in ("nerve", "torch")):
            ratio = best["nerve"]["samples_per_s"] / best["torch"]["samples_per_s"]
            record["nerve_over_torch"] = round(ratio, 3)
        emit(record)


if __name__ == "__main__":
    main()
