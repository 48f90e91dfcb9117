"""fit/evaluate/predict fed by a nerve.data.Dataset: the same training as from arrays,
epoch-determined shuffling, Keras's steps_per_epoch semantics, and no worker thread
left behind by an interrupted fit."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

import nerve
from nerve import callbacks, layers
from nerve.data import Dataset

RNG = np.random.default_rng(0)
X = RNG.normal(size=(50, 4)).astype("float32")
Y = (X @ np.array([1.0, -2.0, 0.5, 3.0], "float32"))[:, None]


def model():
    nerve.utils.set_random_seed(1)
    net = nerve.Sequential([nerve.Input((4,)), layers.Dense(8, activation="tanh"), layers.Dense(1)])
    net.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    return net


def weights(net):
    return [w.numpy().copy() for w in net.weights]


def test_fit_from_a_dataset_equals_fit_from_arrays():
    from_arrays = model()
    history_a = from_arrays.fit(X, Y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    from_dataset = model()
    pipeline = Dataset.from_tensor_slices((X, Y)).batch(16).prefetch(2)
    history_d = from_dataset.fit(pipeline, epochs=3, verbose=0, validation_data=pipeline)
    for a, d in zip(weights(from_arrays), weights(from_dataset)):
        np.testing.assert_allclose(a, d, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(history_a.history["loss"], history_d.history["loss"], rtol=1e-6)
    assert len(history_d.history["val_loss"]) == 3
    np.testing.assert_allclose(
        from_dataset.evaluate(pipeline, verbose=0),
        from_arrays.evaluate(X, Y, batch_size=16, verbose=0),
        rtol=1e-6,
    )
    # predict drops the padding rows of the short last batch.
    predicted = from_dataset.predict(Dataset.from_tensor_slices(X).batch(16), verbose=0)
    np.testing.assert_allclose(predicted, from_dataset.predict(X, verbose=0), rtol=1e-6)
    assert predicted.shape == (50, 1)


def test_shuffled_dataset_reshuffles_per_epoch_and_reproducibly():
    def orders():
        seen = []

        def label(x, y):
            seen.append(float(y[0]))
            return x, y

        net = model()
        pipeline = Dataset.from_tensor_slices((X, Y)).shuffle(50, seed=4).map(label).batch(50)
        net.fit(pipeline, epochs=3, verbose=0)
        return seen

    first = orders()
    epochs = [first[i * 50 : (i + 1) * 50] for i in range(3)]
    assert epochs[0] != epochs[1] and sorted(epochs[0]) == sorted(epochs[1])
    assert orders() == first


def test_steps_per_epoch_shares_one_iterator_across_epochs():
    seen = []
    pipeline = (
        Dataset.range(6)
        .map(lambda i: (X[i : i + 1], Y[i : i + 1]))
        .map(lambda x, y: (seen.append(round(float(y[0, 0]) * 1000)) or x, y))
    )
    net = model()
    net.fit(pipeline, epochs=3, steps_per_epoch=4, verbose=0)
    expected = [round(float(Y[i, 0]) * 1000) for i in [0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5]]
    assert seen == expected  # 12 steps: two full passes, continuing across epochs

    unknown = Dataset.from_generator(
        lambda: ((X[i : i + 5], Y[i : i + 5]) for i in range(0, 15, 5))
    )
    with pytest.warns(UserWarning, match="ran out of data"):
        history = model().fit(unknown, epochs=4, steps_per_epoch=2, verbose=0)
    assert len(history.history["loss"]) == 2  # 3 batches: epoch 2 gets one, epoch 3 none


def data_threads():
    return [t for t in threading.enumerate() if t.name.startswith("nerve-data")]


class Interrupt(callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        if batch == 2:
            raise KeyboardInterrupt


@pytest.mark.parametrize("steps", [None, 3])
def test_interrupted_fit_leaves_no_worker(steps):
    pipeline = (
        Dataset.from_tensor_slices((X, Y))
        .repeat()
        .map(lambda x, y: (x, y), num_parallel_calls=2)
        .batch(5)
        .prefetch(4)
    )
    with pytest.raises(KeyboardInterrupt):
        model().fit(
            pipeline, epochs=2, steps_per_epoch=steps or 5, verbose=0, callbacks=[Interrupt()]
        )
    deadline = time.monotonic() + 5
    while data_threads() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert data_threads() == []


def test_dataset_with_y_or_validation_split_is_refused():
    pipeline = Dataset.from_tensor_slices((X, Y)).batch(10)
    net = model()
    with pytest.raises(ValueError, match="do not pass y"):
        net.fit(pipeline, Y, verbose=0)
    with pytest.raises(ValueError, match="validation_split is only supported"):
        net.fit(pipeline, validation_split=0.2, verbose=0)
