"""Your own layers and activation in a model that saves and loads like a built-in one.

The task: estimate the area of a triangle from its three side lengths (the exact
answer is Heron's formula, which the network is not told). Three custom pieces do
the work, each registered with ``nerve.saving.register_keras_serializable`` so
that ``load_model`` finds them by name, without ``custom_objects``:

* ``Standardize`` holds per-feature mean and spread as *non-trainable* weights,
  filled by its ``adapt(data)`` method before training. They are weights, not
  constructor arguments, so they travel in the ``.keras`` file with the others.
* ``GatedDense`` creates its weights lazily in ``build(input_shape)`` with
  ``add_weight`` and multiplies a linear projection by a learned sigmoid gate;
  ``get_config`` returns its constructor arguments, so ``from_config`` rebuilds it.
* ``soft_clip`` is a plain function used as an activation: smooth, and bounded to
  (-4, 4).

After training, the model is saved, loaded back, and must give bit-identical
predictions with its optimizer state (and step count) intact.

Run it with ``python examples/custom_layers.py``.
"""

import numpy as np

import nerve
from nerve import layers, ops


@nerve.saving.register_keras_serializable(package="workshop", name="soft_clip")
def soft_clip(x):
    return 4.0 * ops.tanh(x / 4.0)


@nerve.saving.register_keras_serializable(package="workshop")
class Standardize(layers.Layer):
    """Subtracts a per-feature mean and divides by a per-feature spread learned by
    ``adapt`` (non-trainable weights, so they are saved with the model)."""

    def build(self, input_shape):
        features = (input_shape[-1],)
        self.mean = self.add_weight(shape=features, initializer="zeros", trainable=False)
        self.spread = self.add_weight(shape=features, initializer="ones", trainable=False)

    def adapt(self, data):
        data = np.asarray(data, dtype="float32")
        if not self.built:
            self.build(data.shape)
        self.mean.assign(data.mean(axis=0))
        self.spread.assign(data.std(axis=0) + 1e-6)

    def call(self, inputs):
        return (inputs - self.mean) / self.spread


@nerve.saving.register_keras_serializable(package="workshop")
class GatedDense(layers.Layer):
    """``(x @ W + b) * sigmoid(x @ V + c)``; the gate starts mostly shut when
    ``gate_bias`` is negative."""

    def __init__(self, units, gate_bias=-1.0, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.gate_bias = gate_bias

    def build(self, input_shape):
        shape = (input_shape[-1], self.units)
        self.kernel = self.add_weight(shape=shape, initializer="glorot_uniform", name="kernel")
        self.bias = self.add_weight(shape=(self.units,), initializer="zeros", name="bias")
        self.gate_kernel = self.add_weight(
            shape=shape, initializer="glorot_uniform", name="gate_kernel"
        )
        self.gate_offset = self.add_weight(
            shape=(self.units,),
            initializer=nerve.initializers.Constant(self.gate_bias),
            name="gate_offset",
        )

    def call(self, inputs):
        value = ops.matmul(inputs, self.kernel) + self.bias
        gate = ops.sigmoid(ops.matmul(inputs, self.gate_kernel) + self.gate_offset)
        return value * gate

    def get_config(self):
        return {**super().get_config(), "units": self.units, "gate_bias": self.gate_bias}


def make_triangles(count, seed=0):
    """Side lengths of valid triangles and their areas (Heron's formula)."""
    rng = np.random.default_rng(seed)
    a, b = rng.uniform(1.0, 5.0, (2, count))
    c = rng.uniform(np.abs(a - b) + 0.05, a + b - 0.05)  # the triangle inequality
    s = (a + b + c) / 2
    area = np.sqrt(s * (s - a) * (s - b) * (s - c))
    return np.stack([a, b, c], axis=1).astype("float32"), area[:, None].astype("float32")


def build_model(sides):
    standardize = Standardize(name="standardize")
    standardize.adapt(sides)
    inputs = nerve.Input(shape=(3,), name="sides")
    x = standardize(inputs)
    x = GatedDense(32, name="gated_1")(x)
    x = layers.Activation(soft_clip)(x)
    x = GatedDense(16, gate_bias=0.0, name="gated_2")(x)
    x = layers.Activation(soft_clip)(x)
    outputs = layers.Dense(1, name="area")(x)
    return nerve.Model(inputs, outputs, name="triangle_area")


def main(epochs=30, verbose=0):
    nerve.utils.set_random_seed(11)
    sides, area = make_triangles(2048, seed=1)
    test_sides, test_area = make_triangles(512, seed=2)

    # One layer through its config and back: same class, same arguments.
    gated = GatedDense(8, gate_bias=-2.0)
    rebuilt = GatedDense.from_config(gated.get_config())

    model = build_model(sides)
    if verbose:
        model.summary()
    model.compile(optimizer=nerve.optimizers.Adam(3e-3), loss="mse", metrics=["mae"])
    history = model.fit(sides, area, epochs=epochs, batch_size=64, verbose=verbose)

    model.save("triangle_area.keras")
    reloaded = nerve.saving.load_model("triangle_area.keras")  # no custom_objects
    predictions = model.predict(test_sides, verbose=verbose)
    reloaded_predictions = reloaded.predict(test_sides, verbose=verbose)

    return {
        "config_roundtrip": rebuilt.get_config() == gated.get_config(),
        "registered_name": nerve.saving.get_registered_name(GatedDense),
        "first_loss": history.history["loss"][0],
        "last_loss": history.history["loss"][-1],
        "test_mae": float(np.mean(np.abs(predictions - test_area))),
        "mean_area": float(test_area.mean()),
        "reloaded_layer_types": [type(layer).__name__ for layer in reloaded.layers],
        "reloaded_mean": np.asarray(reloaded.get_layer("standardize").mean).tolist(),
        "adapted_mean": sides.mean(axis=0).tolist(),
        "max_prediction_diff": float(np.max(np.abs(predictions - reloaded_predictions))),
        "reloaded_compiled": bool(reloaded.compiled),
        "optimizer_iterations": (
            int(model.optimizer.iterations),
            int(reloaded.optimizer.iterations),
        ),
    }


if __name__ == "__main__":
    print(main(verbose=1))
