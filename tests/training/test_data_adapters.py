"""Data adapters: batching, padding, deterministic shuffling, resumption, weights."""

import numpy as np
import pytest

import nerve
from nerve import ops
from nerve.training import data_adapters
from nerve.training.data_adapters import (
    ArrayDataAdapter,
    PyDataset,
    get_data_adapter,
    train_validation_split,
)
from nerve.utils import set_random_seed


def _rows(adapter, epoch):
    """The first column of x for each real row of each batch of an epoch."""
    out = []
    for data, mask in adapter.epoch_batches(epoch):
        x = data[0]
        real = len(x) if mask is None else int(mask.sum())
        out.append(x[:real, 0].tolist())
    return out


def test_batches_and_padding():
    x = np.arange(14.0).reshape(7, 2)
    adapter = ArrayDataAdapter(x, np.arange(7), batch_size=3, pad=True)
    batches = list(adapter.epoch_batches(0))
    assert adapter.num_batches == 3
    assert [b[0][0].shape for b in batches] == [(3, 2)] * 3
    data, mask = batches[-1]
    assert mask.tolist() == [1.0, 0.0, 0.0]
    assert data[1].tolist() == [6, 6, 6]  # padded by repeating real rows
    assert data[0].dtype == np.float32  # float64 arrays become floatx, as in Keras


def test_small_dataset_is_not_padded_beyond_its_size():
    adapter = ArrayDataAdapter(np.zeros((5, 1)), batch_size=32, pad=True)
    assert adapter.batch_size == 5 and adapter.num_batches == 1


def test_tensors_and_nested_inputs():
    x = {"a": ops.ones((4, 2)), "b": [np.zeros((4, 1)), np.ones((4, 3))]}
    adapter = get_data_adapter(x, np.arange(4), batch_size=2)
    (xb, yb), mask = next(iter(adapter.epoch_batches(0)))
    assert xb["a"].shape == (2, 2) and xb["b"][1].shape == (2, 3) and mask is None
    with pytest.raises(ValueError, match="same number of samples"):
        get_data_adapter(np.zeros((4, 1)), np.zeros((3,)))


def test_shuffle_is_deterministic_per_seed_and_epoch():
    x = np.arange(20.0).reshape(20, 1)
    a = ArrayDataAdapter(x, batch_size=6, shuffle=True, seed=11)
    b = ArrayDataAdapter(x, batch_size=6, shuffle=True, seed=11)
    c = ArrayDataAdapter(x, batch_size=6, shuffle=True, seed=12)
    assert _rows(a, 0) == _rows(b, 0)
    assert _rows(a, 0) != _rows(a, 1)
    assert _rows(a, 0) != _rows(c, 0)
    assert sorted(row for batch in _rows(a, 3) for row in batch) == list(range(20))
    set_random_seed(4)
    d = ArrayDataAdapter(x, shuffle=True)
    set_random_seed(4)
    assert ArrayDataAdapter(x, shuffle=True).seed == d.seed


def test_batch_shuffle_keeps_rows_inside_batches():
    x = np.arange(10.0).reshape(10, 1)
    rows = _rows(ArrayDataAdapter(x, batch_size=4, shuffle="batch", seed=0), 0)
    assert sorted(map(tuple, rows)) == [(0.0, 1.0, 2.0, 3.0), (4.0, 5.0, 6.0, 7.0), (8.0, 9.0)]


def test_state_and_restore_resume_at_the_same_position():
    x = np.arange(20.0).reshape(20, 1)
    full = ArrayDataAdapter(x, batch_size=4, shuffle=True, seed=5)
    expected = _rows(full, 2)
    interrupted = ArrayDataAdapter(x, batch_size=4, shuffle=True, seed=5)
    seen = []
    for data, _ in interrupted.epoch_batches(2):
        seen.append(data[0][:, 0].tolist())
        if len(seen) == 2:
            break
    state = interrupted.state()
    assert state == {"epoch": 2, "step": 2, "seed": 5}
    resumed = ArrayDataAdapter(x, batch_size=4, shuffle=True)  # a fresh run, other seed
    resumed.restore(state)
    assert seen + _rows(resumed, 2) == expected
    assert _rows(resumed, 3) == _rows(full, 3)  # later epochs start from step 0 again


def test_validation_split_takes_the_last_fraction():
    x, y = np.arange(10.0).reshape(10, 1), np.arange(10)
    (xt, yt, sw), (xv, yv, swv) = train_validation_split((x, y, None), 0.25)
    assert yt.tolist() == list(range(8)) and yv.tolist() == [8, 9]
    assert sw is None and swv is None
    with pytest.raises(ValueError, match="validation_split"):
        train_validation_split((x,), 1.5)


def test_class_weight_to_sample_weight():
    sparse = data_adapters.class_weight_to_sample_weight(np.array([[0], [2], [1]]), {2: 5.0})
    assert sparse.tolist() == [1.0, 5.0, 1.0]
    one_hot = np.eye(3)[[1, 0, 1]]
    dense = data_adapters.class_weight_to_sample_weight(one_hot, {0: 0.5, 1: 2.0})
    assert dense.tolist() == [2.0, 0.5, 2.0]
    adapter = ArrayDataAdapter(
        np.zeros((3, 1)), np.array([0, 1, 1]), sample_weight=np.array([1.0, 2.0, 3.0]),
        class_weight={1: 10.0}, batch_size=3,
    )  # fmt: skip
    (_, _, weights), _ = next(iter(adapter.epoch_batches(0)))
    assert weights.tolist() == [1.0, 20.0, 30.0]


def test_generator_adapter_pads_to_the_first_batch_and_stops():
    def gen():
        yield np.zeros((4, 2)), np.zeros((4,))
        yield np.ones((3, 2)), np.ones((3,))

    adapter = get_data_adapter(gen(), pad=True)
    batches = list(adapter.epoch_batches(0))
    assert [m.tolist() for _, m in batches] == [[1.0] * 4, [1.0, 1.0, 1.0, 0.0]]
    assert list(adapter.epoch_batches(1)) == []
    assert adapter.exhausted
    with pytest.raises(ValueError, match="do not pass y"):
        get_data_adapter(gen(), y=np.zeros(3))


def test_pydataset_is_exposed_in_utils_and_calls_on_epoch_end():
    assert nerve.utils.PyDataset is PyDataset

    class Data(PyDataset):
        ended = 0

        def __len__(self):
            return 2

        def __getitem__(self, index):
            return np.full((3, 1), index), np.zeros((3,)), np.ones((3,))

        def on_epoch_end(self):
            self.ended += 1

    data = Data()
    adapter = get_data_adapter(data)
    batches = list(adapter.epoch_batches(0))
    assert len(batches) == 2 and len(batches[0][0]) == 3 and data.ended == 1
    assert data.num_batches == 2


def test_adapters_that_keep_their_order_draw_no_seed():
    """predict and evaluate neither pay for a seed draw nor move the global seed
    generator (which would change every later unseeded random number)."""
    import nerve

    model = nerve.Sequential([nerve.Input((3,)), nerve.layers.Dense(2)])
    model.compile(loss="mse")
    x, y = np.ones((4, 3), "float32"), np.zeros((4, 2), "float32")
    nerve.utils.set_random_seed(5)
    expected = nerve.random.normal((3,)).numpy()
    nerve.utils.set_random_seed(5)
    model.predict(x, verbose=0)
    model.evaluate(x, y, verbose=0)
    np.testing.assert_array_equal(nerve.random.normal((3,)).numpy(), expected)
    assert ArrayDataAdapter(x, shuffle=False).seed == 0
    nerve.utils.set_random_seed(5)
    assert ArrayDataAdapter(x, shuffle=True).seed != 0  # drawn: shuffling needs one
