"""PyDataset workers (Keras 3's ``workers`` / ``use_multiprocessing`` /
``max_queue_size``): batches loaded ahead on threads or processes, in order, with
errors reaching the caller and the workers gone afterwards."""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest

from nerve.training.data_adapters import PyDataset, PyDatasetAdapter


class Batches(PyDataset):
    """Batch ``i`` is ``(x, y)`` filled with ``i``; it records who loaded it."""

    def __init__(self, count=12, fail_at=None, **kwargs):
        super().__init__(**kwargs)
        self.count = count
        self.fail_at = fail_at
        self.epoch_ends = 0

    def __len__(self):
        return self.count

    def __getitem__(self, index):
        if index == self.fail_at:
            raise RuntimeError(f"cannot load batch {index}")
        time.sleep(0.002 * (index % 3))  # uneven, so order must come from the loader
        x = np.full((4, 2), float(index + 100 * self.epoch_ends), "float32")
        loader = np.array([os.getpid(), threading.get_ident() % 2**31], "int64")
        return x, np.tile(loader, (4, 1))

    def on_epoch_end(self):
        self.epoch_ends += 1


def load(dataset, epoch=0):
    adapter = PyDatasetAdapter(dataset)
    out = [(data[0][0, 0], tuple(data[1][0])) for data, _ in adapter.epoch_batches(epoch)]
    return [float(v) for v, _ in out], {who for _, who in out}


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"workers": 3}, {"workers": 2, "use_multiprocessing": True, "max_queue_size": 3}],
    ids=["serial", "threads", "processes"],
)
def test_batches_come_in_order(kwargs):
    dataset = Batches(**kwargs)
    values, loaders = load(dataset)
    assert values == [float(i) for i in range(12)]
    pids = {pid for pid, _ in loaders}
    if kwargs.get("use_multiprocessing"):
        assert os.getpid() not in pids
    else:
        assert pids == {os.getpid()}
    if kwargs.get("workers", 1) > 1 and not kwargs.get("use_multiprocessing"):
        assert threading.get_ident() % 2**31 not in {tid for _, tid in loaders}
    # The next epoch's workers see what on_epoch_end changed.
    values, _ = load(dataset, 1)
    assert values == [float(100 + i) for i in range(12)]


@pytest.mark.parametrize("use_multiprocessing", [False, True], ids=["threads", "processes"])
def test_worker_errors_reach_the_caller(use_multiprocessing):
    dataset = Batches(fail_at=5, workers=2, use_multiprocessing=use_multiprocessing)
    with pytest.raises(RuntimeError, match="cannot load batch 5"):
        load(dataset)
    assert not [t for t in threading.enumerate() if t.name.startswith("nerve-data")]
