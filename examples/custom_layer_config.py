"""A custom layer with ``build``/``call``/``get_config``, saved and loaded, ported from Keras 3.

Port of two keras.io guides:

* "Making new layers and models via subclassing": the ``Linear`` layer, whose weights
  are created lazily in ``build(input_shape)`` with ``add_weight`` and whose
  constructor arguments are returned by ``get_config`` so that it can be re-created
  with ``from_config``;
* "Save, serialize, and export models": custom objects registered with
  ``@register_keras_serializable`` (here the ``Linear`` layer and the guide's
  ``CustomLayer(factor)``) are used in a Functional model that is saved to a
  ``.keras`` file and loaded back with ``load_model``, giving identical predictions.

Changes from the Keras code: ``import keras`` -> ``import nerve`` (``keras.saving`` ->
``nerve.saving``, ``keras.ops`` -> ``nerve.ops``) and small synthetic data. As in the
guide, a registered custom activation function (``custom_fn``) is saved and restored too.

Run it with ``python examples/custom_layer_config.py``.
"""

import numpy as np

import nerve
from nerve import layers, ops


@nerve.saving.register_keras_serializable(package="MyLayers")
class Linear(layers.Layer):
    def __init__(self, units=32, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight(
            shape=(input_shape[-1], self.units),
            initializer="random_normal",
            trainable=True,
        )
        self.b = self.add_weight(shape=(self.units,), initializer="zeros", trainable=True)

    def call(self, inputs):
        return ops.matmul(inputs, self.w) + self.b

    def get_config(self):
        config = super().get_config()
        config.update({"units": self.units})
        return config


@nerve.saving.register_keras_serializable(package="MyLayers")
class CustomLayer(layers.Layer):
    # The guide's minimal form: no **kwargs, and get_config lists only `factor`.
    def __init__(self, factor):
        super().__init__()
        self.factor = factor

    def call(self, x):
        return x * self.factor

    def get_config(self):
        return {"factor": self.factor}


@nerve.saving.register_keras_serializable(package="my_package", name="custom_fn")
def custom_fn(x):
    return x**2


def build_model():
    inputs = nerve.Input(shape=(4,))
    x = CustomLayer(0.5)(inputs)
    x = Linear(16)(x)
    x = layers.Activation(custom_fn)(x)
    outputs = layers.Dense(1)(x)
    return nerve.Model(inputs, outputs)


def main(epochs=40, verbose=0):
    nerve.utils.set_random_seed(7)
    rng = np.random.default_rng(7)
    x = rng.random((256, 4)).astype("float32")
    y = (x**2).sum(axis=1, keepdims=True).astype("float32")

    # A layer round-trips through its config (the subclassing guide).
    linear = Linear(8)
    rebuilt = Linear.from_config(linear.get_config())

    model = build_model()
    model.compile(optimizer="rmsprop", loss="mean_squared_error")
    history = model.fit(x, y, epochs=epochs, batch_size=32, verbose=verbose)

    # Save the model (config, weights, optimizer state) and load it back: the custom
    # objects are found through the registry, no custom_objects needed.
    model.save("custom_model.keras")
    reconstructed = nerve.saving.load_model("custom_model.keras")

    # Let's check:
    predictions = model.predict(x, verbose=verbose)
    reconstructed_predictions = reconstructed.predict(x, verbose=verbose)
    np.testing.assert_allclose(predictions, reconstructed_predictions)

    return {
        "layer_config_roundtrip": rebuilt.get_config() == linear.get_config(),
        "registered_name": nerve.saving.get_registered_name(Linear),
        "first_loss": history.history["loss"][0],
        "last_loss": history.history["loss"][-1],
        "reloaded_layer_types": [type(layer).__name__ for layer in reconstructed.layers],
        "reloaded_factor": reconstructed.layers[1].factor,
        "max_prediction_diff": float(np.max(np.abs(predictions - reconstructed_predictions))),
        "reloaded_compiled": bool(reconstructed.compiled),
        "optimizer_iterations": (
            int(model.optimizer.iterations),
            int(reconstructed.optimizer.iterations),
        ),
    }


if __name__ == "__main__":
    print(main(verbose=1))
