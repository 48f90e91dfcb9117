"""Write the training step yourself: a regression that shrugs off corrupted labels.

A sensor's calibration curve is learned from 1,200 readings, 8 % of which were
logged with garbage targets. Two models write their own ``train_step`` and still
use ``fit``, callbacks and progress bars unchanged:

* ``ClippedRegressor`` keeps the loss and metrics given to ``compile`` (reached
  through ``self.compute_loss`` and ``self.metrics``) but rescales its gradients
  to a maximum global norm before ``self.optimizer.apply``, and reports the norm
  it saw as a metric of its own. It honours ``sample_weight`` (used here to give
  the readings known to be corrupt a weight of zero) and has its own
  ``test_step``.
* ``HuberRegressor`` is compiled with an optimizer alone: it computes a Huber loss
  itself, keeps its own ``Mean`` and ``MeanAbsoluteError`` trackers, and lists
  them in a ``metrics`` property so that ``fit`` and ``evaluate`` reset them.

Run it with ``python examples/robust_train_step.py``.
"""

import numpy as np

import nerve
from nerve import layers, ops


def calibration_net() -> list[nerve.Layer]:
    return [layers.Dense(32, activation="tanh"), layers.Dense(1)]


def unpack(data):
    """``(x, y)`` or ``(x, y, sample_weight)``, as ``fit`` hands them over."""
    if len(data) == 3:
        return data
    x, y = data
    return x, y, None


class ClippedRegressor(nerve.Model):
    def __init__(self, max_norm=1.0, **kwargs):
        super().__init__(**kwargs)
        self.max_norm = max_norm
        self.net = calibration_net()
        self.grad_norm = nerve.metrics.Mean(name="grad_norm")

    def call(self, inputs):
        for layer in self.net:
            inputs = layer(inputs)
        return inputs

    def update_metrics(self, loss, y, y_pred, sample_weight):
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
            elif metric is not self.grad_norm:
                metric.update_state(y, y_pred, sample_weight=sample_weight)

    def train_step(self, data):
        x, y, sample_weight = unpack(data)
        with nerve.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(y=y, y_pred=y_pred, sample_weight=sample_weight)
        weights = self.trainable_variables
        gradients = tape.gradient(loss, weights)
        norm = ops.sqrt(sum(ops.sum(ops.square(g)) for g in gradients))
        scale = ops.minimum(1.0, self.max_norm / (norm + 1e-12))
        self.optimizer.apply([g * scale for g in gradients], weights)
        self.grad_norm.update_state(norm)
        self.update_metrics(loss, y, y_pred, sample_weight)
        return {m.name: m.result() for m in self.metrics}

    def test_step(self, data):
        x, y, sample_weight = unpack(data)
        y_pred = self(x, training=False)
        loss = self.compute_loss(y=y, y_pred=y_pred, sample_weight=sample_weight)
        self.update_metrics(loss, y, y_pred, sample_weight)
        return {m.name: m.result() for m in self.metrics if m is not self.grad_norm}


class HuberRegressor(nerve.Model):
    def __init__(self, delta=0.5, **kwargs):
        super().__init__(**kwargs)
        self.net = calibration_net()
        self.huber = nerve.losses.Huber(delta=delta)
        self.loss_tracker = nerve.metrics.Mean(name="loss")
        self.mae = nerve.metrics.MeanAbsoluteError(name="mae")

    def call(self, inputs):
        for layer in self.net:
            inputs = layer(inputs)
        return inputs

    def train_step(self, data):
        x, y, _ = unpack(data)
        with nerve.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.huber(y, y_pred)
        weights = self.trainable_variables
        self.optimizer.apply(tape.gradient(loss, weights), weights)
        self.loss_tracker.update_state(loss)
        self.mae.update_state(y, y_pred)
        return {"loss": self.loss_tracker.result(), "mae": self.mae.result()}

    def test_step(self, data):
        x, y, _ = unpack(data)
        y_pred = self(x, training=False)
        self.loss_tracker.update_state(self.huber(y, y_pred))
        self.mae.update_state(y, y_pred)
        return {"loss": self.loss_tracker.result(), "mae": self.mae.result()}

    @property
    def metrics(self):
        return [self.loss_tracker, self.mae]


def make_readings(count=1200, corrupt_fraction=0.08, seed=0):
    """Raw sensor values in [0, 1], the true quantity (a smooth curve), and the
    logged targets, some of them garbage; also which ones are corrupt."""
    rng = np.random.default_rng(seed)
    raw = rng.random((count, 1)).astype("float32")
    truth = (np.sin(3.0 * raw) + 0.5 * raw**2).astype("float32")
    logged = truth + 0.02 * rng.standard_normal(truth.shape).astype("float32")
    corrupt = rng.random(count) < corrupt_fraction
    logged[corrupt] = rng.uniform(-5.0, 5.0, (int(corrupt.sum()), 1))
    return raw, truth, logged, corrupt


def main(epochs=30, batch_size=40, verbose=0):
    nerve.utils.set_random_seed(3)
    raw, truth, logged, corrupt = make_readings()

    clipped = ClippedRegressor(max_norm=1.0)
    clipped.compile(optimizer=nerve.optimizers.Adam(1e-2), loss="mse", metrics=["mae"])
    weights = (~corrupt).astype("float32")  # the known-bad readings count for nothing
    clipped_history = clipped.fit(
        raw, logged, sample_weight=weights, batch_size=batch_size, epochs=epochs, verbose=verbose
    )
    clipped_scores = clipped.evaluate(raw, truth, verbose=verbose, return_dict=True)

    huber = HuberRegressor(delta=0.5)
    huber.compile(optimizer=nerve.optimizers.Adam(1e-2))
    huber_history = huber.fit(raw, logged, batch_size=batch_size, epochs=epochs, verbose=verbose)
    huber_scores = huber.evaluate(raw, truth, verbose=verbose, return_dict=True)

    return {
        "clipped_loss": clipped_history.history["loss"],
        "clipped_grad_norm": clipped_history.history["grad_norm"],
        "clipped_scores": clipped_scores,
        "huber_loss": huber_history.history["loss"],
        "huber_scores": huber_scores,
        "optimizer_iterations": int(clipped.optimizer.iterations),
    }


if __name__ == "__main__":
    print(main(verbose=1))
