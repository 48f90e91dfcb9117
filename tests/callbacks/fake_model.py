"""A small stand-in for ``nerve.Model``: what the Keras callback protocol touches."""

from __future__ import annotations

import os

import numpy as np

import nerve
from nerve import layers, ops


class FakeModel:
    """A Dense + Dropout model with a real SGD optimizer, a loss metric and a data
    position (the epoch's shuffling permutation), as the trainer will expose."""

    def __init__(self, momentum: float = 0.9, num_samples: int = 12, build_optimizer=True):
        self.stop_training = False
        self.dense = layers.Dense(3)
        self.dropout = layers.Dropout(0.5, seed=7)
        self.layers = [self.dense, self.dropout]
        self.dense(ops.ones((1, 4)))  # build (creates the weights)
        self.optimizer = nerve.optimizers.SGD(learning_rate=0.1, momentum=momentum)
        if build_optimizer:
            self.optimizer.build(self.trainable_variables)
        self.loss_tracker = nerve.metrics.Mean(name="loss")
        self.metrics = [self.loss_tracker]
        rng = np.random.default_rng(0)
        self.x = rng.normal(size=(num_samples, 4)).astype("float32")
        self.permutation = np.arange(num_samples)
        self.saved: list[str] = []

    # -- the Keras model surface callbacks use ----------------------------------------
    @property
    def weights(self):
        return self.dense.weights

    @property
    def trainable_variables(self):
        return self.dense.trainable_weights

    def get_weights(self):
        return [w.numpy().copy() for w in self.weights]

    def set_weights(self, values):
        for w, v in zip(self.weights, values):
            w.assign(v)

    def save(self, filepath, overwrite=True):
        assert filepath.endswith(".keras"), filepath
        with open(filepath, "wb") as f:
            f.write(b"model")
        self.saved.append(filepath)

    def save_weights(self, filepath, overwrite=True):
        assert filepath.endswith(".weights.h5"), filepath
        with open(filepath, "wb") as f:
            f.write(b"weights")
        self.saved.append(filepath)

    # -- the trainer's data-position hooks -------------------------------------------
    def _data_position(self):
        return {"permutation": self.permutation, "note": "shuffle"}

    def _restore_data_position(self, state):
        assert state["note"] == "shuffle"
        self.permutation = np.asarray(state["permutation"])

    # -- a training step that uses every random source ---------------------------------
    def shuffle(self):
        """Draw the epoch's permutation from the global seed generator."""
        keys = nerve.random.uniform((len(self.x),)).numpy()
        self.permutation = np.argsort(keys)

    def train_step(self, step: int, batch_size: int = 3) -> float:
        index = self.permutation[step * batch_size : (step + 1) * batch_size]
        x = ops.convert_to_tensor(self.x[index])
        with nerve.GradientTape() as tape:
            noise = nerve.random.normal((len(index), 3))  # the global generator
            y = self.dropout(self.dense(x), training=True) + 0.01 * noise
            loss = ops.mean(y**2)
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply(grads, self.trainable_variables)
        self.loss_tracker.update_state(loss)
        return float(self.loss_tracker.result().numpy())


def fit(model, callbacks, epochs: int, steps: int, crash_at=None, verbose=0):
    """The training loop as the trainer runs it, following BackupAndRestore's protocol.
    ``crash_at=(epoch, step)`` raises after that step (a killed process)."""
    from nerve.callbacks import CallbackList

    callbacks = CallbackList(
        callbacks, add_history=True, model=model, epochs=epochs, steps=steps, verbose=verbose
    )
    callbacks.on_train_begin()
    start_epoch, start_step = 0, 0
    for callback in callbacks.callbacks:
        if getattr(callback, "_resume_epoch", None) is not None:
            start_epoch, start_step = callback._resume_epoch, callback._resume_step
    losses = []
    for epoch in range(start_epoch, epochs):
        model.loss_tracker.reset_state()
        first = start_step if epoch == start_epoch else 0
        if first == 0:
            model.shuffle()
        callbacks.on_epoch_begin(epoch)
        logs = {}
        for step in range(first, steps):
            callbacks.on_train_batch_begin(step)
            logs = {"loss": model.train_step(step)}
            losses.append((epoch, step, logs["loss"]))
            callbacks.on_train_batch_end(step, logs)
            if crash_at == (epoch, step):
                raise KeyboardInterrupt("simulated crash")
            if model.stop_training:
                break
        logs = {"loss": float(model.loss_tracker.result().numpy())}
        callbacks.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    callbacks.on_train_end()
    return callbacks.history, losses


def state_of(model) -> list:
    """Every value a resumed run must reproduce."""
    values = [v.numpy().copy() for v in model.weights]
    values += [v.numpy().copy() for v in model.optimizer.variables]
    values += [model.dropout.seed_generator.state.numpy().copy()]
    values += [nerve.random.global_seed_generator().state.numpy().copy()]
    values += [v.numpy().copy() for v in model.loss_tracker.variables]
    return values


def files_in(folder) -> list[str]:
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []
