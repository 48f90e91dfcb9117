"""Scenarios the data-parallel tests run under ``mpirun -n 2`` (and, for the reference,
in the test process itself): ``python scenarios.py NAME OUT_DIR``.

Every process writes what the test checks into ``OUT_DIR`` (``rank<r>-...`` files); the
model and data are built here once, so the reference run is the same code.
"""

import json
import os
import sys
import time

import numpy as np

ROWS = 53  # not a multiple of the batch: the last global batch (5 rows) splits 3 / 2
BATCH = 16
EPOCHS = 2
#: Small gradient buckets: the model's 146 weights travel as 2 buckets (the second
#: layer's, started while the first layer's gradients are computed, then the first's).
BUCKET_MB = 1e-4


def data(rows=ROWS, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 6)).astype("float32")
    y = (x[:, 0] + x[:, 1] * x[:, 2] > 0).astype("int64")
    return x, y


def model(optimizer="adam"):
    import nerve
    from nerve import layers

    nerve.utils.set_random_seed(0)
    m = nerve.Sequential(
        [
            nerve.Input((6,)),
            layers.Dense(16, activation="relu"),
            layers.Dense(2, activation="softmax"),
        ]
    )
    opt = nerve.optimizers.Adam(0.01) if optimizer == "adam" else nerve.optimizers.SGD(0.1, 0.9)
    m.compile(optimizer=opt, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return m


def batches_dataset(batch_rows, ids_file=None, fail_at=None, hang_at=None, kill_at=None):
    """A PyDataset of the data in batches of ``batch_rows``; it logs the batch indices
    it serves, and can fail, hang or die on its ``*_at``-th load (counting from 1)."""
    from nerve.utils import PyDataset

    x, y = data()

    class Batches(PyDataset):
        loads = 0

        def __len__(self):
            return -(-len(x) // batch_rows)

        def __getitem__(self, index):
            self.loads += 1
            if ids_file is not None:
                with open(ids_file, "a") as f:
                    f.write(f"{index}\n")
            if self.loads == fail_at:
                raise ValueError(f"batch {index} is corrupt")
            if self.loads == hang_at:
                time.sleep(60)
            if self.loads == kill_at:
                os.kill(os.getpid(), 9)
            rows = slice(index * batch_rows, (index + 1) * batch_rows)
            return x[rows], y[rows]

    return Batches()


def _save(out, rank, name, value):
    path = os.path.join(out, f"rank{rank}-{name}")
    if isinstance(value, (dict, list)):
        with open(path + ".json", "w") as f:
            json.dump(value, f)
    else:
        np.save(path + ".npy", value)


def run_contract(comm, out):
    rank, size = comm.rank, comm.size
    checks = {}
    checks["sum"] = comm.allreduce(np.array([rank + 1.0, 2.0])).tolist()
    given, into = np.array([1.0, 2.0]), np.zeros(2)
    checks["sum_out"] = [comm.allreduce(given, out=into).tolist(), given.tolist(), into.tolist()]
    checks["max"] = comm.allreduce(np.array([rank, -rank], "int64"), op="max").tolist()
    checks["broadcast"] = comm.broadcast(np.array([rank * 10.0, 1.0]), root=size - 1).tolist()
    parts = comm.allgather(np.full((rank + 1, 2), rank, dtype="int32"))
    checks["allgather"] = [p.tolist() for p in parts]
    # Two sums in flight at once, waited for in the other order.
    first = comm.allreduce_start(np.array([rank + 1.0]))
    second = comm.allreduce_start(np.array([10 * rank, 1], "int64"), op="max")
    checks["in_flight"] = [
        comm.allreduce_wait(second).tolist(),
        comm.allreduce_wait(first).tolist(),
    ]
    comm.barrier()
    _save(out, rank, "contract", checks)


def run_train(comm, out, optimizer="adam"):
    """fit (arrays, validation, callbacks with per-rank file names), evaluate, predict,
    and fit from a sharded PyDataset."""
    import nerve

    rank = comm.rank
    parallel = nerve.distribution.DataParallel(communicator=comm, bucket_size_mb=BUCKET_MB)
    nerve.distribution.set_distribution(parallel)
    x, y = data()
    m = model(optimizer)
    callbacks = [
        nerve.callbacks.CSVLogger(os.path.join(out, f"log-rank{rank}.csv")),
        nerve.callbacks.ModelCheckpoint(os.path.join(out, f"ckpt-rank{rank}.weights.h5"),
                                        save_weights_only=True),
    ]  # fmt: skip
    history = m.fit(x, y, batch_size=BATCH, epochs=EPOCHS, verbose=2, shuffle=True,
                    validation_data=(x[:20], y[:20]), callbacks=callbacks)  # fmt: skip
    _save(out, rank, "history", history.history)
    for k, w in enumerate(m.get_weights()):
        _save(out, rank, f"weight{k}", w)
    _save(out, rank, "evaluate", m.evaluate(x, y, batch_size=10, verbose=0, return_dict=True))
    _save(out, rank, "predict", m.predict(x, batch_size=10, verbose=0))
    _save(out, rank, "schedule", step_schedule(m))

    # The shards of one epoch, as fit cuts them (every row once, over both ranks).
    from nerve.training import data_adapters, distributed

    adapter = data_adapters.get_data_adapter(x, y, batch_size=BATCH, shuffle=True)
    adapter.seed = 5
    run = distributed.DataParallelRun(m, nerve.distribution.distribution())
    rows = [r for (xb, _), _ in run.shard(adapter).epoch_batches(0) for r in xb[:, 0].tolist()]
    _save(out, rank, "rows", np.asarray(rows, "float32"))

    # A PyDataset: each rank loads only its own batches (rank 1 has none in the last
    # step: it sums zeros outside the compiled step, in the same buckets).
    m2 = model(optimizer)
    ids = os.path.join(out, f"rank{rank}-pydataset-ids.txt")
    m2.fit(batches_dataset(8, ids_file=ids), epochs=1, verbose=0)
    for k, w in enumerate(m2.get_weights()):
        _save(out, rank, f"pyweight{k}", w)

    # Without overlap: the gradients are summed after the step.
    plain = nerve.distribution.DataParallel(communicator=comm, overlap=False)
    nerve.distribution.set_distribution(plain)
    m3 = model(optimizer)
    m3.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, shuffle=True)
    for k, w in enumerate(m3.get_weights()):
        _save(out, rank, f"plainweight{k}", w)


def step_schedule(m):
    """The node kinds of the compiled data-parallel step, in the order they run:
    ``start``, ``wait``, ``matmul`` or ``-``."""
    step = m._data_parallel_functions.gradients.functions[0]
    graph = next(iter(step._cache.values())).compiled.graph
    kinds = {"allreduce_start": "start", "allreduce_wait": "wait", "matmul": "matmul"}
    return [kinds.get(node.prim.name, "-") for node in graph.nodes]


def fault_in_flight(comm, kind, at):
    """Make rank ``comm``'s ``at``-th gradient bucket start fail, hang or die: after
    the step's first buckets are in flight, in the middle of the backward pass."""
    start = comm.allreduce_start
    calls = []

    def faulty_start(array, op="sum"):
        calls.append(1)
        if len(calls) == at:
            if kind == "fail":
                raise ValueError("bucket lost in flight")
            if kind == "hang":
                time.sleep(60)
            if kind == "kill":
                os.kill(os.getpid(), 9)
        return start(array, op)

    comm.allreduce_start = faulty_start


def run_fault(comm, out, kind):
    """Rank 1 fails (raises) or hangs on its third batch, or dies on its fourth (the
    first of epoch 1, after rank 0 backed up at the end of epoch 0: it backs up every 2
    steps, and each rank has 4 or 3 of the 7 batches). ``*_inflight``: rank 1 fails,
    hangs or dies in its second step, starting its second gradient bucket while the
    first is in flight."""
    import nerve

    rank = comm.rank
    parallel = nerve.distribution.DataParallel(communicator=comm, bucket_size_mb=BUCKET_MB)
    nerve.distribution.set_distribution(parallel)
    m = model()
    at = {kind + "_at": 4 if kind == "kill" else 3} if rank == 1 and kind != "none" else {}
    if kind.endswith("_inflight"):
        at = {}
        if rank == 1:  # 2 buckets a step: the 4th start is step 2's second bucket
            fault_in_flight(comm, kind.split("_")[0], at=4)
    backup = nerve.callbacks.BackupAndRestore(os.path.join(out, "backup"), save_freq=2)
    start = time.monotonic()
    try:
        history = m.fit(batches_dataset(8, **at), epochs=2, verbose=0, callbacks=[backup])
    except Exception as error:
        _save(out, rank, "error", {"type": type(error).__name__, "message": str(error),
                                   "seconds": time.monotonic() - start})  # fmt: skip
        raise
    _save(out, rank, "resumed", {"epoch": backup._resume_epoch, "step": backup._resume_step})
    _save(out, rank, "history", history.history)
    for k, w in enumerate(m.get_weights()):
        _save(out, rank, f"weight{k}", w)


def main():
    name, out = sys.argv[1], sys.argv[2]
    import nerve

    comm = nerve.distribution.initialize()
    if name == "contract":
        run_contract(comm, out)
    elif name == "train":
        run_train(comm, out)
    elif name in ("fail", "hang", "kill", "none") or name.endswith("_inflight"):
        run_fault(comm, out, name)
    else:
        raise SystemExit(f"unknown scenario {name!r}")


if __name__ == "__main__":
    main()
