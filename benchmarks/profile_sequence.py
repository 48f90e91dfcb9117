"""Where one training step of a ``bench_sequence.py`` model spends its time.

Builds the case's model exactly as ``bench_sequence.py`` does, trains a few batches
with ``fit`` (which compiles the step), then profiles that compiled step node by node
(``Function.profile``, best of ``--repeat``) and prints the largest rows and the
step's total. ``--cpu-clock`` times each node on this thread's CPU clock instead of
the wall clock, which a loaded machine disturbs far less (run with ``--threads 1``:
the clock sees only this thread). One JSON line per row, largest first.

Usage: ``python benchmarks/profile_sequence.py lstm|gru|transformer [--repeat 5]
[--top 20] [--threads 1] [--cpu-clock]``
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from bench_sequence import CASES, SPECS, data, nerve_model
from common import THREAD_VARS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("case", choices=CASES)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--top", type=int, default=20)
    parser.add_argument("--threads", type=int)
    parser.add_argument("--cpu-clock", action="store_true")
    args = parser.parse_args()
    if args.threads and any(os.environ.get(v) != str(args.threads) for v in THREAD_VARS):
        # Thread pools read these when they load: set them, then start again.
        env = {**os.environ, **{v: str(args.threads) for v in THREAD_VARS}}
        os.execve(sys.executable, [sys.executable, *sys.argv], env)

    import nerve
    from nerve.graph import executor

    if args.cpu_clock:
        executor.time = type("CpuClock", (), {"perf_counter": staticmethod(time.thread_time)})
    nerve.utils.set_random_seed(0)
    model = nerve_model(args.case)
    train = model.make_train_function()
    seen: list = []
    run = type(train).__call__

    def remember(self, batch, mask):  # the arguments fit passes the compiled step
        seen[:] = [batch, mask]
        return run(self, batch, mask)

    type(train).__call__ = remember
    x, y = data(args.case, 2)
    model.fit(x, y, batch_size=SPECS[args.case]["batch"], epochs=1, verbose=0, shuffle=False)
    type(train).__call__ = run
    rows = train.functions[0].profile(*seen, repeat=args.repeat)
    clock = "cpu" if args.cpu_clock else "wall"
    total = sum(r["ms"] for r in rows)
    print(json.dumps({"case": args.case, "clock": clock, "step_ms": round(total, 2),
                      "loadavg": [round(v, 2) for v in os.getloadavg()]}))  # fmt: skip
    for row in sorted(rows, key=lambda r: -r["ms"])[: args.top]:
        keep = ("index", "op", "shapes", "steps")
        print(json.dumps({**{k: row[k] for k in keep}, "ms": round(row["ms"], 3)}))


if __name__ == "__main__":
    main()
