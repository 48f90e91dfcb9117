"""Small models for the training-loop tests (built on Trainer + Layer only, so they don't
depend on nerve.Model)."""

import numpy as np

from nerve import layers, ops
from nerve.training.trainer import Trainer


class TinyModel(Trainer, layers.Layer):
    """Dense -> Dense regression/classification model."""

    def __init__(self, units=1, hidden=8, activation=None, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        self.hidden = layers.Dense(hidden, activation="tanh")
        self.dropout = layers.Dropout(dropout, seed=3) if dropout else None
        self.out = layers.Dense(units, activation=activation)

    def call(self, x, training=None):
        h = self.hidden(x)
        if self.dropout is not None:
            h = self.dropout(h, training=training)
        return self.out(h)


class DigitsMLP(Trainer, layers.Layer):
    def __init__(self):
        super().__init__()
        self.scale = layers.Rescaling(1 / 16)
        self.flatten = layers.Flatten()
        self.hidden = layers.Dense(64, activation="relu")
        self.dropout = layers.Dropout(0.2)
        self.out = layers.Dense(10, activation="softmax")

    def call(self, x, training=None):
        h = self.hidden(self.flatten(self.scale(x)))
        return self.out(self.dropout(h, training=training))


class TwoInputModel(Trainer, layers.Layer):
    """Inputs {"a": (n, 3), "b": (n, 2)} concatenated into one Dense."""

    def __init__(self):
        super().__init__()
        self.out = layers.Dense(1)

    def call(self, inputs):
        return self.out(ops.concatenate([inputs["a"], inputs["b"]], axis=-1))


class TwoOutputModel(Trainer, layers.Layer):
    """A regression head and a 3-class softmax head on a shared Dense."""

    output_names = ["reg", "cls"]

    def __init__(self):
        super().__init__()
        self.shared = layers.Dense(8, activation="tanh")
        self.reg = layers.Dense(1)
        self.cls = layers.Dense(3, activation="softmax")

    def call(self, x):
        h = self.shared(x)
        return [self.reg(h), self.cls(h)]


def regression_data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype("float32")
    y = (x @ np.array([[1.0], [-2.0], [0.5]], dtype="float32") + 0.3).astype("float32")
    return x, y


def weights_of(model):
    return [v.numpy().copy() for v in model.weights]
