"""The trainer's data-parallel hook: the registry, and how each kind of input is cut
into per-replica shards (``DataAdapter.shard``)."""

import numpy as np
import pytest

import nerve
from nerve.training import data_adapters, distributed
from nerve.utils import PyDataset


class _Batches(PyDataset):
    def __len__(self):
        return 5

    def __getitem__(self, index):
        return np.full((2, 1), float(index)), np.zeros(2)


def _first_column(adapter):
    return [data[0][:, 0].tolist() for data, _ in adapter.epoch_batches(0)]


def test_array_shards_split_every_global_batch_into_contiguous_parts():
    x = np.arange(11.0).reshape(11, 1)
    parts = [
        _first_column(data_adapters.get_data_adapter(x, x, batch_size=4).shard(rank, 3))
        for rank in range(3)
    ]
    assert parts == [
        [[0.0, 1.0], [4.0, 5.0], [8.0]],
        [[2.0], [6.0], [9.0]],
        [[3.0], [7.0], [10.0]],
    ]


@pytest.mark.parametrize(
    "make",
    [lambda: _Batches(), lambda: nerve.data.Dataset.range(5).map(
        lambda i: (np.full((2, 1), float(i)), np.zeros(2)))],
    ids=["pydataset", "dataset"],
)  # fmt: skip
def test_stream_shards_take_every_nth_batch(make):
    shards = [data_adapters.get_data_adapter(make()).shard(rank, 2) for rank in range(2)]
    assert [[b[0] for b in _first_column(s)] for s in shards] == [[0.0, 2.0, 4.0], [1.0, 3.0]]
    assert [s.num_batches for s in shards] == [3, 2]


def test_a_pydataset_shard_with_steps_counts_global_steps():
    shard = data_adapters.get_data_adapter(_Batches(), steps=2).shard(1, 2)
    assert shard.num_batches == 2 and [b[0] for b in _first_column(shard)] == [1.0, 3.0]


def test_a_generator_is_taken_as_this_replicas_own_data():
    adapter = data_adapters.get_data_adapter(iter([(np.zeros((2, 1)), np.zeros(2))]))
    assert adapter.shard(1, 2) is adapter


def test_auto_shard_off_leaves_streams_whole():
    context = distributed.ReplicaContext()
    context.auto_shard_dataset = False
    run = distributed.DataParallelRun(None, context)
    adapter = data_adapters.get_data_adapter(_Batches())
    assert run.shard(adapter) is adapter


def test_the_innermost_scope_wins_over_the_process_wide_context():
    outer, inner = distributed.ReplicaContext(), distributed.ReplicaContext()
    distributed.set_replica_context(outer)
    try:
        with distributed.replica_scope(inner):
            assert distributed.replica_context() is inner
        assert distributed.replica_context() is outer
    finally:
        distributed.set_replica_context(None)
    assert distributed.replica_context() is None


@pytest.mark.parametrize("rows,size", [(0, 2), (1, 3), (7, 2), (8, 4)])
def test_split_rows_and_shard_count_cover_everything_once(rows, size):
    parts = [distributed.split_rows(np.arange(rows), r, size) for r in range(size)]
    assert np.concatenate(parts).tolist() == list(range(rows))
    assert sum(distributed.shard_count(rows, r, size) for r in range(size)) == rows
