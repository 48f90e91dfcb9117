"""Peak memory of saving and loading a 50 M-parameter model: nerve vs Keras 3.

Cases (one JSON line each): ``save`` and ``load`` per framework, each measured in a
process of its own. The model is an MLP 4096-4096-4096-4096 (``--width``, three Dense
layers, about 50.3 M float32 parameters, about 201 MB of weights), not compiled, so
the file holds the weights only. Reported: the weights' bytes, the peak resident
memory the operation added (``peak_growth_mb``: the process's high-water mark,
``VmHWM``, after the operation minus its resident size just before) and that as a
factor of the weights' bytes, and the seconds it took.

* ``save``: the model is built, the high-water mark is reset (``/proc/self/clear_refs``)
  so the build's own peak does not count, then ``model.save("m.keras")``. The ideal is
  close to 0 x: a save need not copy the weights.
* ``load``: a small model is loaded first (imports and caches), then
  ``load_model("m.keras")``. The model itself is 1.0 x; issue 13's bound is 1.5 x.

Keras runs with ``KERAS_BACKEND=numpy`` in its own process, on a file it saved itself;
it is reported as not installed where it is missing. Linux only (``/proc``).

Usage: ``python benchmarks/bench_saving.py [--width 4096] [--only nerve|keras]``
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

from common import emit, run_worker_process

FRAMEWORKS = ("nerve", "keras")


def _resident() -> int:
    import resource

    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def _high_water() -> int:
    # VmHWM, not ru_maxrss: ru_maxrss carries the parent's size across fork and exec.
    with open("/proc/self/status") as f:
        line = next(line for line in f if line.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024


def _reset_high_water() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _model(framework: str, width: int):
    if framework == "nerve":
        import nerve

        api = nerve
    else:
        import keras

        api = keras
    return api.models.Sequential(
        [
            api.layers.Input((width,)),
            api.layers.Dense(width),
            api.layers.Dense(width),
            api.layers.Dense(width),
        ]
    )


def _load_model(framework: str, path: str):
    if framework == "nerve":
        from nerve import saving
    else:
        from keras import saving
    return saving.load_model(path)


def _weights_bytes(model) -> int:
    import numpy as np

    return int(sum(np.asarray(w).nbytes for w in model.get_weights()))


def worker(framework: str, case: str, width: int, folder: str) -> None:
    path = os.path.join(folder, f"{framework}-{width}.keras")
    record: dict = {"case": case, "framework": framework}
    if case == "save":
        model = _model(framework, width)
        weights = _weights_bytes(model)
        record["high_water_reset"] = _reset_high_water()
        before = _resident()
        start = time.perf_counter()
        model.save(path)
    else:
        warm = os.path.join(folder, f"{framework}-warm.keras")
        if not os.path.exists(warm):
            _model(framework, 8).save(warm)
        _load_model(framework, warm)
        before = _resident()
        start = time.perf_counter()
        model = _load_model(framework, path)
        weights = _weights_bytes(model)
    seconds = time.perf_counter() - start
    growth = _high_water() - before
    record.update(
        weights_mb=round(weights / 2**20, 1),
        peak_growth_mb=round(growth / 2**20, 1),
        factor=round(growth / weights, 2),
        seconds=round(seconds, 2),
    )
    print("RESULT " + json.dumps(record), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=4096)
    parser.add_argument("--only", choices=FRAMEWORKS)
    parser.add_argument("--worker", nargs=2, metavar=("FRAMEWORK", "CASE"))
    parser.add_argument("--folder")
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker, args.width, args.folder)
        return
    here = os.path.dirname(os.path.abspath(__file__))
    env = dict(os.environ, KERAS_BACKEND="numpy")
    env["PYTHONPATH"] = os.pathsep.join([os.path.dirname(here), env.get("PYTHONPATH", "")])
    params = (args.width * args.width + args.width) * 3
    emit({"case": "model", "parameters": params, "layers": f"3 x Dense({args.width})"})
    results: dict = {}
    with tempfile.TemporaryDirectory() as folder:
        for framework in [args.only] if args.only else FRAMEWORKS:
            if framework == "keras":
                import importlib.util

                if importlib.util.find_spec("keras") is None:
                    emit({"case": "save", "framework": "keras", "error": "not installed"})
                    continue
            for case in ("save", "load"):  # load reads the file save wrote
                command = [sys.executable, os.path.abspath(__file__), "--worker", framework]
                command += [case, "--width", str(args.width), "--folder", folder]
                record = run_worker_process(command, env)
                record.setdefault("case", case)
                record.setdefault("framework", framework)
                results[(framework, case)] = record
                emit(record)
    for case in ("save", "load"):
        mine, theirs = results.get(("nerve", case), {}), results.get(("keras", case), {})
        if "factor" in mine and "factor" in theirs:
            emit(
                {
                    "case": f"{case}_summary",
                    "nerve_factor": mine["factor"],
                    "keras_factor": theirs["factor"],
                    "nerve_peak_growth_mb": mine["peak_growth_mb"],
                    "keras_peak_growth_mb": theirs["peak_growth_mb"],
                }
            )


if __name__ == "__main__":
    main()
