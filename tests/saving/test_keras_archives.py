"""Whole ``.keras`` archives crossing between nerve and real Keras 3, both ways.

Each row of ``_MODELS`` builds the same model with either library (their APIs agree);
a model saved by one library is loaded by the other, saved again and loaded back, and
every copy must predict what the original predicts. Keras runs in this process on its
NumPy backend (``tests/conftest.py`` sets ``KERAS_BACKEND`` before anything imports it).
"""

from __future__ import annotations

import io
import json
import sys
import zipfile
from collections.abc import Callable
from typing import Any

import h5py
import numpy as np
import pytest

import nerve
from nerve import saving

pytestmark = pytest.mark.filterwarnings("ignore")  # Keras's own deprecation chatter

_TOLERANCE = {"rtol": 1e-6, "atol": 1e-6}


@pytest.fixture(scope="module")
def keras() -> Any:
    return pytest.importorskip("keras")


def _dense_stack(lib: Any) -> Any:
    layers = lib.layers
    model = lib.Sequential(
        [lib.Input((10,)), layers.Dense(16, activation="relu", kernel_regularizer="l2"),
         layers.BatchNormalization(), layers.Dropout(0.3), layers.Dense(8, activation="tanh"),
         layers.LayerNormalization(), layers.Dense(3, activation="softmax")]
    )  # fmt: skip
    top2 = lib.metrics.SparseTopKCategoricalAccuracy(k=2)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["acc", top2])
    return model


def _convnet(lib: Any) -> Any:
    layers = lib.layers
    inputs = lib.Input((12, 12, 3))
    x = layers.Conv2D(6, 3, padding="same", activation="relu")(inputs)
    x = layers.BatchNormalization()(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.DepthwiseConv2D(3, padding="same")(x)
    x = layers.SeparableConv2D(5, 3)(x)
    x = layers.AveragePooling2D(2)(x)
    x = layers.Conv2DTranspose(4, 2, strides=2)(x)
    x = layers.GroupNormalization(groups=2)(x)
    x = layers.ZeroPadding2D(1)(x)
    x = layers.Cropping2D(1)(x)
    x = layers.UpSampling2D(2)(x)
    x = layers.SpatialDropout2D(0.2)(x)
    x = layers.GlobalMaxPooling2D()(x)
    outputs = layers.Dense(3)(x)
    model = lib.Model(inputs, outputs)
    # Objects and functions, which configs name in Keras's own forms.
    model.compile(
        optimizer=lib.optimizers.RMSprop(learning_rate=0.01),
        loss=lib.losses.mean_squared_error,
        metrics=[lib.metrics.mean_absolute_error, lib.metrics.RootMeanSquaredError()],
    )
    return model


def _sequence_model(lib: Any) -> Any:
    layers = lib.layers
    tokens = lib.Input((7,), dtype="int32")
    x = layers.Embedding(20, 8)(tokens)
    x = layers.LSTM(8, return_sequences=True)(x)
    y = layers.GRU(8, return_sequences=True)(x)
    x = layers.Add()([x, y])
    x = layers.MultiHeadAttention(num_heads=2, key_dim=4)(x, x)
    x = layers.LayerNormalization()(x)
    x = layers.Conv1D(6, 3, padding="same")(x)
    x = layers.MaxPooling1D(2)(x)
    x = layers.Bidirectional(layers.SimpleRNN(4))(x)
    outputs = layers.Dense(2, activation="sigmoid")(x)
    return lib.Model(tokens, outputs)


def _merging_and_reshaping(lib: Any) -> Any:
    layers = lib.layers
    inputs = lib.Input((4, 6))
    a = layers.Dense(6)(inputs)
    b = layers.Activation("relu")(inputs)
    x = layers.Concatenate()([layers.Multiply()([a, b]), layers.Subtract()([a, b])])
    x = layers.Maximum()([layers.Average()([a, b]), layers.Minimum()([a, b])])
    x = layers.Permute((2, 1))(x)
    x = layers.Reshape((3, 8))(x)
    x = layers.Attention()([x, x])
    x = layers.Flatten()(x)
    x = layers.RepeatVector(2)(x)
    x = layers.GlobalAveragePooling1D()(x)
    x = layers.UnitNormalization()(x)
    outputs = layers.Dense(4)(x)
    return lib.Model(inputs, outputs)


def _volumes_and_1d(lib: Any) -> Any:
    layers = lib.layers
    inputs = lib.Input((6, 6, 6, 2))
    x = layers.Conv3D(3, 3, padding="same")(inputs)
    x = layers.ZeroPadding3D(1)(x)
    x = layers.Cropping3D(1)(x)
    x = layers.MaxPooling3D(2)(x)
    x = layers.UpSampling3D(2)(x)
    x = layers.Conv3DTranspose(2, 2, strides=2)(x)
    x = layers.AveragePooling3D(4)(x)
    x = layers.SpatialDropout3D(0.1)(x)
    x = layers.GlobalAveragePooling3D()(x)
    x = layers.Reshape((5, 1))(layers.Dense(5)(x))
    x = layers.Conv1DTranspose(4, 3, strides=2, padding="same")(x)
    x = layers.DepthwiseConv1D(3, padding="same")(x)
    x = layers.SeparableConv1D(4, 3)(x)
    x = layers.ZeroPadding1D(2)(x)
    x = layers.Cropping1D(1)(x)
    x = layers.UpSampling1D(2)(x)
    x = layers.AveragePooling1D(2)(x)
    x = layers.SpatialDropout1D(0.1)(x)
    x = layers.GlobalMaxPooling1D()(x)
    return lib.Model(inputs, layers.Dense(2)(x))


def _activations_and_wrappers(lib: Any) -> Any:
    layers = lib.layers
    inputs = lib.Input((5, 4))
    # (Masking is in _masked_sequences: Keras writes its mask as NotEqual/Any op nodes.)
    x = layers.TimeDistributed(layers.Dense(6))(inputs)
    x = layers.EinsumDense("abc,cd->abd", output_shape=(5, 6), bias_axes="d")(x)
    x = layers.ReLU(max_value=3.0)(x)
    x = layers.LeakyReLU(negative_slope=0.2)(layers.Rescaling(2.0, offset=-0.5)(x))
    x = layers.ELU()(x)
    x = layers.PReLU()(x)
    x = layers.Softmax()(x)
    x = layers.RMSNormalization()(x)
    x = layers.GaussianNoise(0.1)(x)
    x = layers.GaussianDropout(0.1)(x)
    x = layers.AlphaDropout(0.1)(x)
    x = layers.ActivityRegularization(l1=0.01)(layers.Identity()(x))
    x = layers.AdditiveAttention()([x, x])
    x = layers.GroupQueryAttention(head_dim=3, num_query_heads=2, num_key_value_heads=1)(x, x)
    cells = [layers.LSTMCell(4), layers.GRUCell(3), layers.SimpleRNNCell(3)]
    x = layers.RNN(layers.StackedRNNCells(cells))(x)
    return lib.Model(inputs, layers.Dense(2)(x))


def _recurrent_convolution(lib: Any) -> Any:
    layers = lib.layers
    inputs = lib.Input((3, 6, 2))
    x = layers.ConvLSTM1D(3, 3, padding="same", return_sequences=True)(inputs)
    x = layers.TimeDistributed(layers.GlobalAveragePooling1D())(x)
    a = layers.LSTM(4, return_sequences=True, go_backwards=True)(x)
    b = layers.SimpleRNN(4, return_sequences=True)(x)
    x = layers.Concatenate(axis=1)([a, layers.Multiply()([a, b])])
    x = layers.Flatten()(x)
    return lib.Model(inputs, layers.Dense(2)(x))


def _recurrent_convolution_2d(lib: Any) -> Any:
    layers = lib.layers
    inputs = lib.Input((2, 5, 5, 2))
    x = layers.ConvLSTM2D(3, 3, padding="same", return_sequences=True)(inputs)
    x = layers.TimeDistributed(layers.GlobalAveragePooling2D())(x)
    return lib.Model(inputs, layers.Dense(2)(layers.Flatten()(x)))


def _recurrent_convolution_3d(lib: Any) -> Any:
    layers = lib.layers
    inputs = lib.Input((2, 4, 4, 4, 1))
    x = layers.ConvLSTM3D(2, 3, padding="same")(inputs)
    return lib.Model(inputs, layers.Dense(2)(layers.GlobalMaxPooling3D()(x)))


def _subclassed(lib: Any) -> Any:
    # Registered under the same name in each library, as a user's class would be.
    @lib.saving.register_keras_serializable(package="interop")
    class Tower(lib.Model):
        def __init__(self, units: int = 5, **kwargs: Any):
            super().__init__(**kwargs)
            self.units = units
            self.hidden = lib.layers.Dense(units, activation="relu")
            self.head = lib.layers.Dense(2)
            # Keras 3.15 saves no metric state (tracked or compiled): the layouts compare.
            self.tracker = lib.metrics.Mean(name="tracker")

        def call(self, inputs: Any) -> Any:
            return self.head(self.hidden(inputs))

        def get_config(self) -> dict:
            return {**super().get_config(), "units": self.units}

    model = Tower(units=5)
    model(np.zeros((1, 6), "float32"))
    model.tracker.update_state([1.0, 5.0])
    return model


def _ops_on_symbolic_tensors(lib: Any) -> Any:
    # ops, operators and slicing on symbolic tensors: op nodes, which both save in
    # Keras's form (keras.src.ops.numpy.GetItem, Concatenate, Mean, Multiply, ...).
    ops, layers = lib.ops, lib.layers
    inputs = lib.Input((4, 6))
    x = layers.Dense(6)(inputs)
    head = x[:, :, :4]
    tail = ops.concatenate([x[:, 1:, 2:], x[..., None, -1, 2:]], axis=1)
    x = ops.concatenate([head * 2.0, 1.5 - tail[:, :, :4]], axis=-1)
    x = x - ops.mean(x, axis=-1, keepdims=True)
    x = ops.where(x > 0.1, ops.exp(-(x**2)), x / 3.0) @ ops.ones((8, 3))
    x = ops.expand_dims(ops.sum(x, axis=1), 1)
    x = ops.reshape(ops.image.resize(x[:, :, :, None], (2, 2)), (-1, 4))
    x = ops.nn.relu(x) + ops.abs(ops.max(x, axis=[1], keepdims=True))
    return lib.Model(inputs, layers.Dense(2)(x))


def _masked_sequences(lib: Any) -> Any:
    layers = lib.layers
    inputs = lib.Input((5, 3))
    x = layers.Masking(mask_value=0.0)(inputs)
    x = layers.LSTM(4, return_sequences=True)(x)
    x = layers.GRU(3)(x)
    return lib.Model(inputs, layers.Dense(2)(x))


# name -> (builder taking nerve or keras, input shape, integer input upper bound or None)
_MODELS: dict[str, tuple[Callable[[Any], Any], tuple[int, ...], int | None]] = {
    "sequential_dense_stack": (_dense_stack, (3, 10), None),
    "functional_convnet": (_convnet, (2, 12, 12, 3), None),
    "functional_sequence": (_sequence_model, (2, 7), 20),
    "functional_merging_reshaping": (_merging_and_reshaping, (2, 4, 6), None),
    "functional_volumes_and_1d": (_volumes_and_1d, (2, 6, 6, 6, 2), None),
    "functional_activations_wrappers": (_activations_and_wrappers, (2, 5, 4), None),
    "functional_recurrent_convolution": (_recurrent_convolution, (2, 3, 6, 2), None),
    "functional_recurrent_convolution_2d": (_recurrent_convolution_2d, (2, 2, 5, 5, 2), None),
    "functional_recurrent_convolution_3d": (_recurrent_convolution_3d, (2, 2, 4, 4, 4, 1), None),
    "subclassed": (_subclassed, (3, 6), None),
    "functional_ops_on_symbolic_tensors": (_ops_on_symbolic_tensors, (2, 4, 6), None),
    "functional_masked_sequences": (_masked_sequences, (3, 5, 3), None),
}


def _inputs(shape: tuple[int, ...], vocabulary: int | None) -> np.ndarray:
    rng = np.random.default_rng(3)
    if vocabulary is not None:
        return rng.integers(0, vocabulary, shape).astype("int32")
    return rng.standard_normal(shape).astype("float32")


def _randomize(model: Any) -> None:
    """Weights far from their initial values, so a weight lost on the way shows."""
    rng = np.random.default_rng(0)
    values = []
    for weight in model.get_weights():
        shape = np.shape(weight)
        values.append(rng.uniform(0.5, 1.5, shape) if shape and min(shape) > 0 else weight)
    for i, weight in enumerate(model.weights):
        if "variance" not in weight.name:
            values[i] = rng.standard_normal(np.shape(values[i])) * 0.4
    model.set_weights([np.asarray(v, "float32") for v in values])


def _predict(model: Any, x: np.ndarray) -> np.ndarray:
    return np.asarray(model.predict(x, verbose=0))


def _weights_layout(path: Any) -> list[tuple[str, tuple[int, ...]]]:
    """Every HDF5 group and dataset in an archive's weights file, with its shape."""
    with zipfile.ZipFile(path) as archive:
        data = archive.read("model.weights.h5")
    found: list[tuple[str, tuple[int, ...]]] = []
    with h5py.File(io.BytesIO(data), "r") as file:
        file.visititems(lambda name, item: found.append((name, getattr(item, "shape", ()))))
    return sorted(found)


def _same_compiled_state(a: Any, b: Any) -> None:
    optimizers = [type(getattr(model, "optimizer", None)).__name__ for model in (a, b)]
    assert optimizers[0] == optimizers[1]
    losses = [getattr(getattr(model, "loss", None), "__name__", None) for model in (a, b)]
    assert losses[0] == losses[1]


#: Layer classes no model above holds, and why.
_NOT_IN_A_MODEL = {
    "Layer": "the base class",
    "InputLayer": "in every model, made by Input",
    "DTypePolicy": "not a layer (a policy object nerve.layers exports as Keras does)",
    "Lambda": "Python code: neither library loads it from a file in safe mode",
}


def test_the_models_hold_every_layer_nerve_has():
    import inspect
    import re

    import nerve

    source = inspect.getsource(sys.modules[__name__])
    used = set(re.findall(r"layers\.(\w+)\(", source))
    classes: dict = {}
    for name in nerve.layers.__all__:
        value = getattr(nerve.layers, name)
        if inspect.isclass(value):
            classes.setdefault(value, []).append(name)
    missing = [
        names[0]
        for names in classes.values()
        if not used.intersection(names) and names[0] not in _NOT_IN_A_MODEL
    ]
    assert not missing, f"no round-trip model holds {missing}"


@pytest.mark.parametrize("name", sorted(_MODELS))
def test_nerve_archive_through_keras_and_back(keras, tmp_path, name):
    build, shape, vocabulary = _MODELS[name]
    x = _inputs(shape, vocabulary)
    ours = build(nerve)
    twin = build(keras)  # (also registers a subclassed row's class with Keras)
    twin.save(tmp_path / "twin.keras")
    _randomize(ours)
    expected = _predict(ours, x)
    saving.save_model(ours, tmp_path / "nerve.keras")

    theirs = keras.saving.load_model(tmp_path / "nerve.keras")
    np.testing.assert_allclose(_predict(theirs, x), expected, **_TOLERANCE)
    theirs.save(tmp_path / "keras.keras")
    again = saving.load_model(tmp_path / "keras.keras")
    assert type(again).__name__ == type(ours).__name__
    np.testing.assert_allclose(_predict(again, x), expected, **_TOLERANCE)
    _same_compiled_state(ours, theirs)
    _same_compiled_state(ours, again)
    # The file holds what Keras's file of the same model holds, where Keras holds it.
    assert _weights_layout(tmp_path / "nerve.keras") == _weights_layout(tmp_path / "twin.keras")


@pytest.mark.parametrize("name", sorted(_MODELS))
def test_keras_archive_through_nerve_and_back(keras, tmp_path, name):
    build, shape, vocabulary = _MODELS[name]
    x = _inputs(shape, vocabulary)
    theirs = build(keras)
    twin = build(nerve)  # (also registers a subclassed row's class with nerve)
    saving.save_model(twin, tmp_path / "twin.keras")
    _randomize(theirs)
    expected = _predict(theirs, x)
    theirs.save(tmp_path / "keras.keras")

    ours = saving.load_model(tmp_path / "keras.keras")
    np.testing.assert_allclose(_predict(ours, x), expected, **_TOLERANCE)
    saving.save_model(ours, tmp_path / "nerve.keras")
    again = keras.saving.load_model(tmp_path / "nerve.keras")
    assert type(again).__name__ == type(theirs).__name__
    np.testing.assert_allclose(_predict(again, x), expected, **_TOLERANCE)
    _same_compiled_state(theirs, ours)
    _same_compiled_state(theirs, again)
    assert _weights_layout(tmp_path / "twin.keras") == _weights_layout(tmp_path / "keras.keras")


def test_configs_use_keras_module_names(tmp_path):
    """The names Keras 3 writes, so that Keras finds its own classes."""
    saving.save_model(_convnet(nerve), tmp_path / "m.keras")
    config = json.loads(zipfile.ZipFile(tmp_path / "m.keras").read("config.json"))
    assert (config["module"], config["registered_name"]) == (
        "keras.src.models.functional",
        "Functional",
    )
    conv = next(c for c in config["config"]["layers"] if c["class_name"] == "Conv2D")
    assert conv["module"] == "keras.layers"
    assert conv["config"]["kernel_initializer"]["module"] == "keras.initializers"
    assert "nerve" not in json.dumps(config)


# Real importable modules and functions: a file naming them must find nothing, because
# module names are looked up in a fixed table (and "builtins" only among nerve's own
# functions), never imported.
@pytest.mark.parametrize(
    ("module", "class_name", "inner", "missing"),
    [
        ("json", "JSONDecoder", {}, "class 'JSONDecoder'"),
        ("keras.src.models.functional", "Popen", {}, "class 'Popen'"),
        ("builtins", "function", "eval", "function 'eval'"),
        ("os", "function", "system", "function 'system'"),
    ],
)
def test_names_outside_the_allowlist_are_never_imported(module, class_name, inner, missing):
    config = {"module": module, "class_name": class_name, "config": inner, "registered_name": None}
    with pytest.raises(saving.SerializationError, match=f"Could not locate {missing}"):
        saving.deserialize_keras_object(config)
