"""BackupAndRestore through the real fit: an interrupted run ends bit-identical to an
uninterrupted one (weights, optimizer state, RNG state, position in the data order)."""

import numpy as np
import pytest

import nerve
from nerve import layers


class Crash(nerve.callbacks.Callback):
    def __init__(self, epoch, step):
        super().__init__()
        self.at = (epoch, step)
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if (self.epoch, batch) == self.at:
            raise KeyboardInterrupt("simulated crash")


class StepCounter(nerve.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.steps = 0

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1


def _model():
    nerve.utils.set_random_seed(7)
    model = nerve.Sequential(
        [
            nerve.Input(shape=(4,)),
            layers.Dense(8, activation="relu"),
            layers.Dropout(0.3),
            layers.Dense(3),
        ]
    )
    model.compile(
        optimizer=nerve.optimizers.Adam(1e-2),
        loss=nerve.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def _data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((50, 4)).astype("float32")
    return x, (x[:, 0] > 0).astype("int32") + (x[:, 1] > 0).astype("int32")


@pytest.mark.parametrize("save_freq,crash", [("epoch", (2, 1)), (3, (1, 4))])
def test_interrupted_fit_resumes_bit_identical(tmp_path, save_freq, crash):
    x, y = _data()
    reference = _model()
    reference.fit(x, y, batch_size=8, epochs=4, verbose=0)

    model = _model()
    backup = nerve.callbacks.BackupAndRestore(str(tmp_path / "backup"), save_freq=save_freq)
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, batch_size=8, epochs=4, verbose=0, callbacks=[backup, Crash(*crash)])
    resumed = _model()  # a fresh process would rebuild the model the same way
    counter = StepCounter()
    resumed.fit(x, y, batch_size=8, epochs=4, verbose=0, callbacks=[backup, counter])
    # It really resumed: fewer steps than a whole run (4 epochs of 7 batches) ...
    assert 0 < counter.steps < 28
    # ... and ended exactly where the uninterrupted run did.
    for a, b in zip(reference.get_weights(), resumed.get_weights()):
        np.testing.assert_array_equal(a, b)
