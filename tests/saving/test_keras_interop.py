"""Weights files exchanged with real Keras 3 (skipped unless ``keras`` is importable;
the test extra installs it)."""

import os
import subprocess
import sys

import numpy as np
import pytest

import nerve
from nerve import layers, saving
from nerve.saving.saving_lib import _keras_optimizer_order

keras = pytest.importorskip("keras")

pytestmark = pytest.mark.filterwarnings("ignore")  # Keras's own deprecation chatter


def _nerve_model():
    model = nerve.Sequential(
        [nerve.Input(shape=(8, 8)), layers.Rescaling(1 / 16), layers.Flatten(),
         layers.Dense(6, activation="relu"), layers.Dropout(0.2),
         layers.Dense(3, activation="softmax")]
    )  # fmt: skip
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


def _keras_model():
    model = keras.Sequential(
        [keras.Input(shape=(8, 8)), keras.layers.Rescaling(1 / 16), keras.layers.Flatten(),
         keras.layers.Dense(6, activation="relu"), keras.layers.Dropout(0.2),
         keras.layers.Dense(3, activation="softmax")]
    )  # fmt: skip
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


def _data():
    rng = np.random.default_rng(0)
    return rng.uniform(0, 16, size=(16, 8, 8)).astype("float32"), rng.integers(0, 3, 16)


def test_keras_reads_weights_written_by_nerve(tmp_path):
    x, y = _data()
    model = _nerve_model()
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    saving.save_weights(model, tmp_path / "n.weights.h5")
    saving.save_model(model, tmp_path / "n.keras")

    for path in ("n.weights.h5", "n.keras"):
        theirs = _keras_model()
        theirs.optimizer.build(theirs.trainable_variables)
        theirs.load_weights(tmp_path / path)
        for a, b in zip(model.get_weights(), theirs.get_weights()):
            np.testing.assert_array_equal(a, keras.ops.convert_to_numpy(b))
        # Keras interleaves Adam's slots per variable (kernel momentum, kernel velocity, ...).
        ours = _keras_optimizer_order(model.optimizer)
        assert [tuple(v.shape) for v in ours][2:6] == [(64, 6), (64, 6), (6,), (6,)]
        for a, b in zip(ours, theirs.optimizer.variables, strict=True):
            np.testing.assert_array_equal(a.numpy(), keras.ops.convert_to_numpy(b))
        np.testing.assert_allclose(
            model.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-5, atol=1e-6
        )


# Keras's NumPy backend (the one the test suite imports) cannot train, so the files
# come from Keras trained on its PyTorch backend, in a process of its own.
_KERAS_WRITER = """
import sys
import numpy as np
import keras
out = sys.argv[1]
rng = np.random.default_rng(0)
x = rng.uniform(0, 16, size=(16, 8, 8)).astype("float32")
y = rng.integers(0, 3, 16)
model = keras.Sequential(
    [keras.Input(shape=(8, 8)), keras.layers.Rescaling(1 / 16), keras.layers.Flatten(),
     keras.layers.Dense(6, activation="relu"), keras.layers.Dropout(0.2),
     keras.layers.Dense(3, activation="softmax")]
)
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
model.fit(x, y, epochs=2, batch_size=8, verbose=0)
model.save_weights(out + "/k.weights.h5")
model.save(out + "/k.keras")
arrays = {f"w{i}": keras.ops.convert_to_numpy(w) for i, w in enumerate(model.get_weights())}
arrays.update(
    {f"o{i}": keras.ops.convert_to_numpy(v) for i, v in enumerate(model.optimizer.variables)}
)
arrays["predictions"] = model.predict(x, verbose=0)
np.savez(out + "/expected.npz", **arrays)
"""


def _files_written_by_keras(tmp_path) -> dict:
    env = {**os.environ, "KERAS_BACKEND": "torch"}
    done = subprocess.run(
        [sys.executable, "-c", _KERAS_WRITER, str(tmp_path)],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    with np.load(tmp_path / "expected.npz") as arrays:
        return {k: arrays[k] for k in arrays.files}


def test_nerve_reads_files_written_by_keras(tmp_path):
    x, _ = _data()
    written = _files_written_by_keras(tmp_path)
    expected = [written[f"w{i}"] for i in range(sum(k.startswith("w") for k in written))]
    keras_optimizer = [written[f"o{i}"] for i in range(sum(k.startswith("o") for k in written))]

    model = _nerve_model()
    model.optimizer.build(model.trainable_weights)
    saving.load_weights(model, tmp_path / "k.weights.h5")
    for a, b in zip(expected, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert int(model.optimizer.iterations.numpy()) == 4

    # The archive's weights; and the optimizer state, matched by path and order.
    model = _nerve_model()
    model.optimizer.build(model.trainable_weights)
    saving.load_weights(model, tmp_path / "k.keras")
    for a, b in zip(expected, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(keras_optimizer, _keras_optimizer_order(model.optimizer), strict=True):
        np.testing.assert_array_equal(a, b.numpy())
    np.testing.assert_allclose(
        model.predict(x, verbose=0), written["predictions"], rtol=1e-5, atol=1e-6
    )


# -- a convnet holding every image layer: weights files both ways ---------------------------


def _image_layers_model(lib):
    """The same convnet in nerve or Keras (same API): one of each image layer family."""
    layers = lib.layers
    inputs = lib.Input(shape=(12, 12, 3))
    x = layers.ZeroPadding2D(1)(inputs)
    x = layers.Conv2D(8, 3, strides=1, padding="same", activation="relu")(x)
    x = layers.BatchNormalization()(x)
    x = layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same")(x)
    x = layers.SeparableConv2D(8, 3, padding="same")(x)
    x = layers.LayerNormalization()(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2DTranspose(6, 3, strides=2, padding="same")(x)
    x = layers.GroupNormalization(groups=2)(x)
    x = layers.PReLU()(x)
    x = layers.Cropping2D(1)(x)
    x = layers.UpSampling2D(2)(x)
    x = layers.AveragePooling2D(2)(x)
    x = layers.SpatialDropout2D(0.1)(x)
    x = layers.Conv2D(4, 1)(x)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(3, activation="softmax")(x)
    return lib.Model(inputs, outputs)


def _set_random_weights(model, seed):
    rng = np.random.default_rng(seed)
    values = []
    for w in model.weights:
        shape = tuple(w.shape)
        if "variance" in w.name:
            values.append(rng.uniform(0.5, 1.5, shape).astype("float32"))
        else:
            values.append((rng.standard_normal(shape) * 0.3).astype("float32"))
    model.set_weights(values)


def test_image_layers_weights_files_cross_both_ways(tmp_path):
    x = np.random.default_rng(1).uniform(0, 1, (2, 12, 12, 3)).astype("float32")
    theirs = _image_layers_model(keras)
    _set_random_weights(theirs, 0)
    theirs.save_weights(tmp_path / "k.weights.h5")
    ours = _image_layers_model(nerve)
    saving.load_weights(ours, tmp_path / "k.weights.h5")
    expected = keras.ops.convert_to_numpy(theirs(x))
    np.testing.assert_allclose(ours.predict(x, verbose=0), expected, rtol=1e-4, atol=1e-5)

    _set_random_weights(ours, 1)
    saving.save_weights(ours, tmp_path / "n.weights.h5")
    theirs.load_weights(tmp_path / "n.weights.h5")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(theirs(x)), ours.predict(x, verbose=0), rtol=1e-4, atol=1e-5
    )


def test_nerve_loads_a_whole_keras_archive(tmp_path):
    """A .keras file written by Keras 3.15 (its initializer configs carry input_axes and
    output_axes) loads as a nerve model that predicts the same."""
    theirs = keras.Sequential(
        [keras.Input((12, 12, 1)), keras.layers.Conv2D(4, 3, activation="relu"),
         keras.layers.MaxPooling2D(2), keras.layers.BatchNormalization(),
         keras.layers.Flatten(), keras.layers.Dense(3, activation="softmax")]
    )  # fmt: skip
    theirs.save(tmp_path / "k.keras")
    x = np.random.default_rng(0).random((2, 12, 12, 1)).astype("float32")
    ours = saving.load_model(tmp_path / "k.keras")
    np.testing.assert_allclose(
        ours.predict(x, verbose=0), keras.ops.convert_to_numpy(theirs(x)), rtol=1e-5, atol=1e-6
    )
