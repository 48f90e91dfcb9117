"""The main job, first form: a multilayer perceptron written with the raw engine.

It trains on the UCI 8x8 handwritten digits shipped inside the package, using
only the engine: ``Variable`` parameters, ``GradientTape`` for gradients, and a
hand-written SGD-with-momentum step. Every random choice (initial weights, the
order of batches) flows from one seed.

Run it with ``nerve demo --engine`` (``nerve demo`` runs the Keras-style model).
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass

import nerve
from nerve import ops
from nerve.datasets import digits

__all__ = ["DemoResult", "run_demo"]


@dataclass
class DemoResult:
    test_accuracy: float
    final_loss: float
    seconds: float
    epochs: int


def _dense_parameters(sizes: tuple, seed: nerve.random.SeedGenerator) -> list:
    """Glorot-uniform weights and zero biases, as Keras's Dense layer starts."""
    params = []
    for fan_in, fan_out in itertools.pairwise(sizes):
        limit = (6.0 / (fan_in + fan_out)) ** 0.5
        kernel = nerve.random.uniform((fan_in, fan_out), -limit, limit, seed=seed)
        params.append(nerve.Variable(kernel, name=f"kernel_{fan_in}x{fan_out}"))
        params.append(nerve.Variable(ops.zeros((fan_out,)), name=f"bias_{fan_out}"))
    return params


def _forward(params: list, x):
    h = x
    for i in range(0, len(params) - 2, 2):
        h = ops.relu(h @ params[i] + params[i + 1])
    return h @ params[-2] + params[-1]


def run_demo(
    epochs: int = 30,
    batch_size: int = 32,
    learning_rate: float = 0.05,
    momentum: float = 0.9,
    hidden: int = 128,
    seed: int = 1337,
    log=print,
) -> DemoResult:
    """Train the MLP on the digits and return its test accuracy.

    >>> result = run_demo(epochs=1, log=lambda *a: None)
    >>> 0.0 <= result.test_accuracy <= 1.0
    True
    """
    start = time.perf_counter()
    (images_train, labels_train), (images_test, labels_test) = digits.load_data()
    # Pixels are 0..16: scale to [0, 1] and flatten the 8x8 images.
    x_train = ops.reshape(ops.convert_to_tensor(images_train, "float32") / 16.0, (-1, 64))
    x_test = ops.reshape(ops.convert_to_tensor(images_test, "float32") / 16.0, (-1, 64))
    y_train = ops.convert_to_tensor(labels_train, "int32")
    y_test = ops.convert_to_tensor(labels_test, "int32")

    seed_generator = nerve.random.SeedGenerator(seed)
    params = _dense_parameters((64, hidden, 10), seed_generator)
    velocities = [ops.zeros_like(p) for p in params]
    count = x_train.shape[0]
    log(
        f"nerve demo: MLP 64-{hidden}-10 on {count} digits "
        f"({x_test.shape[0]} held out), {epochs} epochs, batch {batch_size}"
    )

    last_loss = float("nan")  # stays NaN when epochs=0 takes no step
    for epoch in range(epochs):
        order = nerve.random.shuffle(ops.arange(count), seed=seed_generator)
        total, batches = 0.0, 0
        for first in range(0, count, batch_size):
            index = order[first : first + batch_size]
            x, y = x_train[index], y_train[index]
            with nerve.GradientTape() as tape:
                logits = _forward(params, x)
                loss = ops.mean(ops.sparse_categorical_crossentropy(y, logits, from_logits=True))
            grads = tape.gradient(loss, params)
            for i, (p, g) in enumerate(zip(params, grads)):
                velocities[i] = velocities[i] * momentum - g * learning_rate
                p.assign_add(velocities[i])
            last_loss = float(loss)
            total += last_loss
            batches += 1
        if epoch == epochs - 1 or epoch % 5 == 0:
            log(f"epoch {epoch + 1:3d}/{epochs}  loss {total / batches:.4f}")

    predictions = ops.argmax(_forward(params, x_test), axis=-1)
    accuracy = float(ops.mean(ops.cast(ops.equal(predictions, y_test), "float32")))
    seconds = time.perf_counter() - start
    log(f"test accuracy: {accuracy:.4f}  ({seconds:.1f} s)")
    return DemoResult(accuracy, last_loss, seconds, epochs)
