"""Customizing what happens in ``fit()`` and ``evaluate()``, ported from Keras 3.

Port of keras.io's guide "Customizing what happens in ``fit()`` with TensorFlow"
(whose ``tf.GradientTape`` maps directly onto ``nerve.GradientTape``):

* ``CustomModel`` overrides ``train_step(self, data)``: forward pass under a
  ``GradientTape``, ``self.compute_loss``, ``tape.gradient``, ``self.optimizer.apply``,
  then updates every metric in ``self.metrics`` (the loss tracker with the loss, the
  compiled metrics with ``y``/``y_pred``) and returns ``{m.name: m.result()}``. It
  supports ``sample_weight`` as the guide's "Supporting sample_weight & class_weight"
  section does, and overrides ``test_step`` as in "Providing your own evaluation step".
* ``LowLevelModel`` is the guide's "Going lower-level" variant: compiled with only an
  optimizer, it computes the loss with its own ``loss_fn``, keeps its own ``Mean`` and
  ``MeanAbsoluteError`` trackers and lists them in a ``metrics`` property so that
  ``fit()`` resets them at each epoch.

Changes from the Keras code, besides ``keras`` -> ``nerve`` and ``tf.GradientTape`` ->
``nerve.GradientTape``: the guide builds the model functionally with
``CustomModel(inputs, outputs)``; nerve does not yet accept ``(inputs, outputs)`` for a
subclass of ``nerve.Model`` (it raises ``TypeError``), so the models here define their
``Dense`` layer in ``__init__`` and use it in ``call``. The random regression targets
are replaced by a noisy linear function of the inputs, so that learning is visible.

Run it with ``python examples/custom_train_step.py``.
"""

import numpy as np

import nerve
from nerve import layers


class CustomModel(nerve.Model):
    def __init__(self, units=1, **kwargs):
        super().__init__(**kwargs)
        self.dense = layers.Dense(units)

    def call(self, inputs):
        return self.dense(inputs)

    def train_step(self, data):
        # Unpack the data. Its structure depends on your model and on what you pass to
        # `fit()`.
        if len(data) == 3:
            x, y, sample_weight = data
        else:
            sample_weight = None
            x, y = data

        with nerve.GradientTape() as tape:
            y_pred = self(x, training=True)  # Forward pass
            # Compute the loss value (the loss function is configured in `compile()`).
            loss = self.compute_loss(y=y, y_pred=y_pred, sample_weight=sample_weight)

        # Compute gradients
        trainable_vars = self.trainable_variables
        gradients = tape.gradient(loss, trainable_vars)

        # Update weights
        self.optimizer.apply(gradients, trainable_vars)

        # Update metrics (includes the metric that tracks the loss)
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
            else:
                metric.update_state(y, y_pred, sample_weight=sample_weight)

        # Return a dict mapping metric names to current value.
        # Note that it will include the loss (tracked in self.metrics).
        return {m.name: m.result() for m in self.metrics}

    def test_step(self, data):
        # Unpack the data
        x, y = data
        # Compute predictions
        y_pred = self(x, training=False)
        # Updates the metrics tracking the loss
        loss = self.compute_loss(y=y, y_pred=y_pred)
        # Update the metrics.
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
            else:
                metric.update_state(y, y_pred)
        # Return a dict mapping metric names to current value.
        # Note that it will include the loss (tracked in self.metrics).
        return {m.name: m.result() for m in self.metrics}


class LowLevelModel(nerve.Model):
    def __init__(self, units=1, **kwargs):
        super().__init__(**kwargs)
        self.dense = layers.Dense(units)
        self.loss_tracker = nerve.metrics.Mean(name="loss")
        self.mae_metric = nerve.metrics.MeanAbsoluteError(name="mae")
        self.loss_fn = nerve.losses.MeanSquaredError()

    def call(self, inputs):
        return self.dense(inputs)

    def train_step(self, data):
        x, y = data

        with nerve.GradientTape() as tape:
            y_pred = self(x, training=True)  # Forward pass
            # Compute our own loss
            loss = self.loss_fn(y, y_pred)

        # Compute gradients
        trainable_vars = self.trainable_variables
        gradients = tape.gradient(loss, trainable_vars)

        # Update weights
        self.optimizer.apply(gradients, trainable_vars)

        # Compute our own metrics
        self.loss_tracker.update_state(loss)
        self.mae_metric.update_state(y, y_pred)
        return {
            "loss": self.loss_tracker.result(),
            "mae": self.mae_metric.result(),
        }

    @property
    def metrics(self):
        # We list our `Metric` objects here so that `reset_states()` can be called
        # automatically at the start of each epoch or at the start of `evaluate()`.
        return [self.loss_tracker, self.mae_metric]


def make_data(num_samples=1000, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((num_samples, 32)).astype("float32")
    w = rng.normal(size=(32, 1)).astype("float32") / 4
    y = (x - 0.5) @ w + 0.05 * rng.normal(size=(num_samples, 1)).astype("float32")
    return x, y


def main(epochs=20, verbose=0):
    nerve.utils.set_random_seed(0)
    x, y = make_data()

    # Construct and compile an instance of CustomModel
    model = CustomModel()
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    # Just use `fit` as usual (with sample weights, as in the guide)
    sw = np.random.default_rng(1).random((len(y), 1)).astype("float32")
    history = model.fit(x, y, sample_weight=sw, epochs=epochs, verbose=verbose)
    # Evaluate with our custom test_step
    custom_scores = model.evaluate(x, y, verbose=verbose, return_dict=True)

    # Construct an instance of LowLevelModel; we don't pass a loss or metrics here.
    low_level = LowLevelModel()
    low_level.compile(optimizer="adam")
    low_level_history = low_level.fit(x, y, epochs=epochs, verbose=verbose)

    return {
        "custom_loss": history.history["loss"],
        "custom_mae": history.history["mae"],
        "custom_evaluate": custom_scores,
        "low_level_loss": low_level_history.history["loss"],
        "low_level_mae": low_level_history.history["mae"],
        "optimizer_iterations": int(model.optimizer.iterations),
    }


if __name__ == "__main__":
    print(main(verbose=1))
