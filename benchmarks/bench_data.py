"""Input pipelines: nerve.data vs PyTorch's DataLoader, each in its own process.

Cases (one JSON line each, with ratios):

* ``images``: a folder of small PNG files (``--images``, default 10,000 of 40x40 RGB
  in 10 class folders) decoded, resized to 32x32, rescaled and batched by 64 for one
  epoch. nerve: ``image_dataset_from_directory`` + ``map`` + ``prefetch``; PyTorch: a
  ``Dataset`` that opens each file with Pillow, in a ``DataLoader`` with
  ``num_workers=2``. Reported as images/s.
* ``csv``: a CSV table (``--rows``, default 1,000,000 rows of 8 float features, a
  string category and an int label) read, shuffled and batched by 1024 for one epoch.
  nerve: ``make_csv_dataset``; PyTorch: an ``IterableDataset`` streaming rows with
  the ``csv`` module, sharded over ``num_workers=2``. Reported as rows/s.
* ``fit``: the MLP of ``bench_fit.py`` (784-512-256-10, batch 128) trained from
  pre-loaded arrays and from a ``Dataset`` (``from_tensor_slices`` + ``shuffle`` +
  ``batch`` + ``prefetch``), alternating in one nerve process: the cost of feeding
  ``fit`` from a pipeline (goal: at most 5 %).

Goal (issue 12): images/s and rows/s at least 1.5x PyTorch's DataLoader. The
contenders alternate, each round in fresh processes; ``nerve_over_torch`` compares
the best rates, ``round_ratios`` each round's pair (their spread shows the noise of
a shared machine). tf.data is
reported as not installed (it is not a dependency of this repository).
Data files are generated once into ``--data-dir`` (default: a folder under the
system's temporary directory) and reused.

Usage: ``python benchmarks/bench_data.py [--only images|csv|fit] [--rounds N]
[--threads N] [--images N] [--rows N]``
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

from common import (
    emit,
    machine_record,
    peak_rss_mb,
    reexec_without_openblas_overrides,
    run_worker_process,
    worker_env,
)

CASES = ("images", "csv", "fit")
IMAGE_SIZE = (32, 32)
IMAGE_BATCH = 64
CSV_BATCH = 1024
FEATURES = [f"f{i}" for i in range(8)]


# -- data files ------------------------------------------------------------------------


def make_images(folder: str, count: int) -> str:
    """``count`` 40x40 RGB PNGs in 10 class folders (kept between runs)."""
    import numpy as np
    from PIL import Image

    root = os.path.join(folder, f"images_{count}")
    marker = os.path.join(root, ".complete")
    if os.path.exists(marker):
        return root
    rng = np.random.default_rng(0)
    for index in range(count):
        label = index % 10
        os.makedirs(os.path.join(root, f"class_{label}"), exist_ok=True)
        pixels = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(os.path.join(root, f"class_{label}", f"{index:06d}.png"))
    open(marker, "w").close()
    return root


def make_csv(folder: str, rows: int) -> str:
    import numpy as np

    path = os.path.join(folder, f"table_{rows}.csv")
    if os.path.exists(path):
        return path
    rng = np.random.default_rng(0)
    values = rng.normal(size=(rows, len(FEATURES))).round(4)
    colors = np.array(["red", "green", "blue"])[rng.integers(0, 3, rows)]
    labels = rng.integers(0, 2, rows)
    tmp = path + ".tmp"
    with open(tmp, "w") as stream:
        stream.write(",".join([*FEATURES, "color", "label"]) + "\n")
        for start in range(0, rows, 100_000):
            block = slice(start, start + 100_000)
            numbers = [",".join(f"{v:.4f}" for v in row) for row in values[block]]
            lines = [f"{n},{c},{y}" for n, c, y in zip(numbers, colors[block], labels[block])]
            stream.write("\n".join(lines) + "\n")
    os.replace(tmp, path)
    return path


# -- workers -----------------------------------------------------------------------------


def nerve_images(root: str) -> dict:
    import nerve
    from nerve.data import AUTOTUNE

    dataset = nerve.utils.image_dataset_from_directory(
        root, image_size=IMAGE_SIZE, batch_size=IMAGE_BATCH, seed=0, verbose=False
    )
    dataset = dataset.map(lambda x, y: (x / 255.0, y)).prefetch(AUTOTUNE)
    return _epoch_rate(dataset, lambda batch: len(batch[1]))


def torch_images(root: str, threads: int) -> dict:
    import numpy as np
    import torch
    from PIL import Image

    torch.set_num_threads(threads)
    classes = sorted(os.listdir(root))
    files = [
        (os.path.join(root, c, f), i)
        for i, c in enumerate(c for c in classes if not c.startswith("."))
        for f in sorted(os.listdir(os.path.join(root, c)))
    ]

    class Folder(torch.utils.data.Dataset):
        def __len__(self):
            return len(files)

        def __getitem__(self, index):
            path, label = files[index]
            with Image.open(path) as image:
                image = image.convert("RGB").resize(IMAGE_SIZE, Image.BILINEAR)
                array = np.asarray(image, dtype=np.float32) / 255.0
            return torch.from_numpy(array), label

    loader = torch.utils.data.DataLoader(
        Folder(), batch_size=IMAGE_BATCH, shuffle=True, num_workers=2
    )
    return _epoch_rate(loader, lambda batch: len(batch[1]))


def nerve_csv(path: str) -> dict:
    from nerve.data import make_csv_dataset

    dataset = make_csv_dataset(
        path, batch_size=CSV_BATCH, label_name="label", num_epochs=1, shuffle_seed=0
    )
    return _epoch_rate(dataset, lambda batch: len(batch[1]))


def torch_csv(path: str, threads: int) -> dict:
    import csv

    import torch

    torch.set_num_threads(threads)

    class Rows(torch.utils.data.IterableDataset):
        def __iter__(self):
            info = torch.utils.data.get_worker_info()
            shard, shards = (0, 1) if info is None else (info.id, info.num_workers)
            with open(path, newline="") as stream:
                reader = csv.reader(stream)
                next(reader)
                for index, row in enumerate(reader):
                    if index % shards == shard:
                        features = torch.tensor([float(v) for v in row[:8]])
                        yield features, row[8], int(row[9])

    loader = torch.utils.data.DataLoader(Rows(), batch_size=CSV_BATCH, num_workers=2)
    return _epoch_rate(loader, lambda batch: len(batch[2]))


def _epoch_rate(batches, count) -> dict:
    start = time.perf_counter()
    total = 0
    for batch in batches:
        total += count(batch)
    seconds = time.perf_counter() - start
    return {"items": total, "seconds": round(seconds, 3), "per_s": total / seconds,
            "peak_rss_mb": peak_rss_mb()}  # fmt: skip


def nerve_fit(rounds: int) -> dict:
    import numpy as np

    import nerve
    from nerve import layers
    from nerve.data import Dataset

    rng = np.random.default_rng(0)
    x = rng.standard_normal((16_384, 784)).astype("float32")
    y = rng.integers(0, 10, 16_384)

    def model():
        nerve.utils.set_random_seed(0)
        hidden = [layers.Dense(512, activation="relu"), layers.Dense(256, activation="relu")]
        net = nerve.Sequential([nerve.Input((784,)), *hidden, layers.Dense(10)])
        net.compile(optimizer="sgd", loss=nerve.losses.SparseCategoricalCrossentropy(True))
        return net

    pipeline = Dataset.from_tensor_slices((x, y)).shuffle(16_384, seed=0).batch(128).prefetch(2)
    contenders = {
        "arrays": (model(), lambda net: net.fit(x, y, batch_size=128, epochs=1, verbose=0)),
        "dataset": (model(), lambda net: net.fit(pipeline, epochs=1, verbose=0)),
    }
    for net, run in contenders.values():
        run(net)  # compile
    best = dict.fromkeys(contenders, float("inf"))
    for _ in range(rounds):
        for name, (net, run) in contenders.items():
            start = time.perf_counter()
            run(net)
            best[name] = min(best[name], time.perf_counter() - start)
    return {f"{name}_samples_per_s": 16_384 / t for name, t in best.items()}


def run_worker(contender: str, case: str, path: str, args) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", contender, "--case", case]
    cmd += ["--path", path, "--threads", str(args.threads), "--rounds", str(args.rounds)]
    return run_worker_process(cmd, worker_env(args.threads))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=CASES)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--data-dir", default=os.path.join(tempfile.gettempdir(), "nerve-bench"))
    parser.add_argument("--worker", choices=("nerve", "torch"), help=argparse.SUPPRESS)
    parser.add_argument("--case", choices=CASES, help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    args = parser.parse_args()
    reexec_without_openblas_overrides()
    if args.worker:
        workers = {
            ("nerve", "images"): lambda: nerve_images(args.path),
            ("torch", "images"): lambda: torch_images(args.path, args.threads),
            ("nerve", "csv"): lambda: nerve_csv(args.path),
            ("torch", "csv"): lambda: torch_csv(args.path, args.threads),
            ("nerve", "fit"): lambda: nerve_fit(args.rounds),
        }
        print("RESULT " + json.dumps(workers[args.worker, args.case]()), flush=True)
        return
    emit(machine_record(args.threads))
    os.makedirs(args.data_dir, exist_ok=True)
    for case in CASES:
        if args.only not in (None, case):
            continue
        if case == "fit":
            result = run_worker("nerve", "fit", "", args)
            record = {"case": "fit_from_dataset", "threads": args.threads, **result}
            if "arrays_samples_per_s" in result:
                record["dataset_cost"] = round(
                    1 - result["dataset_samples_per_s"] / result["arrays_samples_per_s"], 4
                )
            emit(record)
            continue
        path = (
            make_images(args.data_dir, args.images)
            if case == "images"
            else make_csv(args.data_dir, args.rows)
        )
        best: dict = {}
        ratios = []  # nerve over torch in each round: the two ran back to back
        for _ in range(args.rounds):
            rates = {}
            for contender in ("nerve", "torch"):
                result = run_worker(contender, case, path, args)
                rates[contender] = result.get("per_s")
                if "error" in result or result["per_s"] > best.get(contender, {}).get("per_s", 0):
                    best[contender] = result
            if rates["nerve"] and rates["torch"]:
                ratios.append(rates["nerve"] / rates["torch"])
        record = {"case": case, "threads": args.threads, "tf_data": "not installed", **best}
        if all("per_s" in best.get(c, {}) for c in ("nerve", "torch")):
            record["nerve_over_torch"] = round(best["nerve"]["per_s"] / best["torch"]["per_s"], 3)
        if ratios:
            record["round_ratios"] = [round(r, 3) for r in ratios]
            record["round_ratio_median"] = round(sorted(ratios)[len(ratios) // 2], 3)
        emit(record)


if __name__ == "__main__":
    main()
