"""``.keras`` archives and ``.weights.h5`` files: layout, round trips, safety, errors."""

import io
import json
import os
import pickle
import zipfile

import h5py
import numpy as np
import pytest

import nerve
from nerve import layers, ops, optimizers, saving
from nerve.core import object_registry
from nerve.saving import saving_lib


@pytest.fixture(autouse=True)
def _clean_registry():
    before = dict(object_registry._GLOBAL_CUSTOM_OBJECTS)
    yield
    for name in set(object_registry._GLOBAL_CUSTOM_OBJECTS) - set(before):
        obj = object_registry._GLOBAL_CUSTOM_OBJECTS.pop(name)
        object_registry._GLOBAL_CUSTOM_NAMES.pop(obj, None)


class Block(layers.Layer):
    """Sublayers in an attribute and in a list; a non-trainable weight made first."""

    def __init__(self, units=3, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.inner = layers.Dense(units)
        self.stack = [layers.Dense(units), layers.Dense(units, use_bias=False)]

    def build(self, input_shape):
        self.counter = self.add_weight(shape=(), initializer="zeros", trainable=False, name="c")
        self.gain = self.add_weight(shape=(self.units,), initializer="ones", name="gain")

    def call(self, inputs):
        x = self.inner(inputs)
        for layer in self.stack:
            x = layer(x)
        return x * self.gain

    def get_config(self):
        return {**super().get_config(), "units": self.units}


class Container(layers.Layer):
    """A hand-written model: a Block, a head, and an optimizer to train them."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.block = Block(4)
        self.head = layers.Dense(2)
        self.optimizer = optimizers.Adam(learning_rate=0.01)

    def call(self, inputs):
        return self.head(self.block(inputs))

    def train_step(self, x):
        with nerve.GradientTape() as tape:
            loss = ops.mean(self(x) ** 2)
        grads = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply(grads, self.trainable_weights)


def _randomize(layer, seed=0):
    rng = np.random.default_rng(seed)
    for w in layer.weights:
        w.assign(rng.normal(size=w.shape).astype(w.dtype))


def _h5_tree(path_or_bytes):
    source = io.BytesIO(path_or_bytes) if isinstance(path_or_bytes, bytes) else path_or_bytes
    found = {}
    with h5py.File(source, "r") as f:
        f.visititems(
            lambda name, obj: (
                found.__setitem__(name, obj.shape) if isinstance(obj, h5py.Dataset) else None
            )
        )
        assert "vars" in f  # Keras's reader opens the root group unconditionally
    return found


def _x():
    return ops.convert_to_tensor(np.linspace(-1, 1, 15, dtype="float32").reshape(5, 3))


# -- layout ------------------------------------------------------------------------------
def test_weights_layout_follows_keras(tmp_path):
    block = Block(name="b")
    _ = block(_x())
    path = tmp_path / "b.weights.h5"
    saving.save_weights(block, path)
    assert _h5_tree(str(path)) == {
        # own variables: trainable first, then non-trainable (creation order within)
        "vars/0": (3,),
        "vars/1": (),
        "inner/vars/0": (3, 3),
        "inner/vars/1": (3,),
        # list items are named by snake-case class name and a counter
        "stack/dense/vars/0": (3, 3),
        "stack/dense/vars/1": (3,),
        "stack/dense_1/vars/0": (3, 3),
    }
    with h5py.File(path, "r") as f:
        np.testing.assert_array_equal(f["inner/vars/0"][()], block.inner.kernel.numpy())
        np.testing.assert_array_equal(f["vars/0"][()], block.gain.numpy())


def test_nested_weights_round_trip(tmp_path):
    block = Block()
    _ = block(_x())
    _randomize(block)
    path = tmp_path / "b.weights.h5"
    saving.save_weights(block, path)
    twin = Block()
    _ = twin(_x())
    saving.load_weights(twin, path)
    for a, b in zip(block.weights, twin.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    np.testing.assert_array_equal(block(_x()).numpy(), twin(_x()).numpy())


def test_shared_layer_is_saved_once_at_its_first_path(tmp_path):
    class Shared(layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.a = layers.Dense(2)
            self.b = self.a

        def call(self, x):
            return self.b(self.a(x))

    layer = Shared()
    _ = layer(ops.ones((1, 2)))
    saving.save_weights(layer, tmp_path / "s.weights.h5")
    assert set(_h5_tree(str(tmp_path / "s.weights.h5"))) == {"a/vars/0", "a/vars/1"}


def test_optimizer_state_round_trip(tmp_path):
    model = Container()
    for _ in range(3):
        model.train_step(_x())
    path = tmp_path / "c.weights.h5"
    saving.save_weights(model, path)
    tree = _h5_tree(str(path))
    n_slots = 2 * len(model.trainable_weights)  # Adam: momentums then velocities
    assert {k for k in tree if k.startswith("optimizer/")} == {
        f"optimizer/vars/{i}" for i in range(2 + n_slots)
    }
    # Keras's order: iteration, learning rate, then each variable's (momentum, velocity).
    first = model.trainable_weights[0]
    assert tree["optimizer/vars/2"] == tree["optimizer/vars/3"] == first.shape
    with h5py.File(path, "r") as f:
        np.testing.assert_array_equal(
            f["optimizer/vars/3"][()], model.optimizer._velocities[0].numpy()
        )
    twin = Container()
    _ = twin(_x())
    assert not twin.optimizer.built
    saving.load_weights(twin, path)  # builds the optimizer to receive its slots
    assert int(twin.optimizer.iterations.numpy()) == 3
    for a, b in zip(model.optimizer.variables, twin.optimizer.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    # Training continues identically from the restored state.
    model.train_step(_x())
    twin.train_step(_x())
    for a, b in zip(model.weights, twin.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6)


def test_unbuildable_optimizer_state_is_skipped_with_a_warning(tmp_path):
    model = Container()
    model.train_step(_x())
    path = tmp_path / "c.weights.h5"
    saving.save_weights(model, path)
    twin = Container()
    _ = twin(_x())
    twin.optimizer = optimizers.SGD(momentum=0.9)
    twin.optimizer.build(twin.trainable_weights[:1])
    with pytest.warns(UserWarning, match="Skipping the state of optimizer"):
        saving.load_weights(twin, path)
    np.testing.assert_array_equal(twin.head.kernel.numpy(), model.head.kernel.numpy())


def test_custom_save_own_variables_hooks(tmp_path):
    class Hooked(layers.Layer):
        def build(self, input_shape):
            self.w = self.add_weight(shape=(2,), initializer="ones")

        def save_own_variables(self, store):
            store["scaled"] = self.w.numpy() * 10

        def load_own_variables(self, store):
            self.w.assign(store["scaled"] / 10)

    layer = Hooked()
    _ = layer(ops.ones((1, 2)))
    layer.w.assign([3.0, 4.0])
    saving.save_weights(layer, tmp_path / "h.weights.h5")
    assert set(_h5_tree(str(tmp_path / "h.weights.h5"))) == {"vars/scaled"}
    twin = Hooked()
    _ = twin(ops.ones((1, 2)))
    saving.load_weights(twin, tmp_path / "h.weights.h5")
    np.testing.assert_allclose(twin.w.numpy(), [3.0, 4.0])


# -- .keras archives -----------------------------------------------------------------------
def test_keras_archive_round_trip_of_a_registered_layer(tmp_path):
    saving.register_keras_serializable(package="Tests")(Block)
    try:
        block = Block(5, name="blk")
        _ = block(_x())
        _randomize(block, seed=1)
        path = tmp_path / "blk.keras"
        saving.save_model(block, path)
        with zipfile.ZipFile(path) as archive:
            assert sorted(archive.namelist()) == [
                "config.json",
                "metadata.json",
                "model.weights.h5",
            ]
            config = json.loads(archive.read("config.json"))
            metadata = json.loads(archive.read("metadata.json"))
        assert config["registered_name"] == "Tests>Block"
        assert config["build_config"] == {"input_shape": [5, 3]}
        assert metadata["saved_by"] == "nerve" and metadata["keras_version"] == nerve.__version__
        assert "@" in metadata["date_saved"]
        restored = saving.load_model(path)
        assert type(restored) is Block and restored.units == 5 and restored.name == "blk"
        np.testing.assert_array_equal(restored(_x()).numpy(), block(_x()).numpy())
    finally:
        object_registry._GLOBAL_CUSTOM_OBJECTS.pop("Tests>Block", None)
        object_registry._GLOBAL_CUSTOM_NAMES.pop(Block, None)


def test_unregistered_custom_layer_load_error_and_custom_objects(tmp_path):
    block = Block()
    _ = block(_x())
    path = tmp_path / "b.keras"
    saving.save_model(block, path)
    with pytest.raises(TypeError, match=r"'Block'.*register_keras_serializable.*custom_objects"):
        saving.load_model(path)
    restored = saving.load_model(path, custom_objects={"Block": Block})
    np.testing.assert_array_equal(restored(_x()).numpy(), block(_x()).numpy())


@pytest.mark.skipif(not hasattr(nerve, "Sequential"), reason="models not available")
def test_compiled_sequential_model_round_trip(tmp_path):
    model = nerve.Sequential(
        [nerve.Input(shape=(8, 8)), layers.Flatten(), layers.Dense(6, activation="relu"),
         layers.Dropout(0.1), layers.Dense(3, activation="softmax")]
    )  # fmt: skip
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 8, 8)).astype("float32"), rng.integers(0, 3, 16)
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    path = tmp_path / "m.keras"
    saving.save_model(model, path)
    with zipfile.ZipFile(path) as archive:
        tree = _h5_tree(archive.read("model.weights.h5"))
    assert {"layers/dense/vars/0", "layers/dense_1/vars/1", "optimizer/vars/0"} <= set(tree)
    restored = saving.load_model(path)
    np.testing.assert_allclose(restored.predict(x, verbose=0), model.predict(x, verbose=0))
    for a, b in zip(model.optimizer.variables, restored.optimizer.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    uncompiled = saving.load_model(path, compile=False)
    assert getattr(uncompiled, "optimizer", None) is None


def test_lambda_layer_in_an_archive_raises_clearly(tmp_path):
    lam = layers.Lambda(ops.abs)
    _ = lam(ops.ones((1, 2)))
    saving.save_model(lam, tmp_path / "l.keras")
    with pytest.raises(TypeError, match="Lambda layer's function cannot be restored"):
        saving.load_model(tmp_path / "l.keras")


# -- errors --------------------------------------------------------------------------------
def test_shape_mismatch_names_the_weight_and_both_shapes_and_assigns_nothing(tmp_path):
    small, big = Block(3), Block(4)
    _ = small(_x())
    _ = big(_x())
    saving.save_weights(small, tmp_path / "s.weights.h5")
    before = [w.numpy().copy() for w in big.weights]
    with pytest.raises(nerve.core.errors.ShapeError) as info:
        saving.load_weights(big, tmp_path / "s.weights.h5")
    message = str(info.value)
    assert "'inner/vars/0'" in message and "(3, 3)" in message and "(3, 4)" in message
    assert "'vars/0'" in message and "(3,)" in message and "(4,)" in message
    assert isinstance(info.value, ValueError)
    for a, b in zip(before, big.weights):
        np.testing.assert_array_equal(a, b.numpy())


def test_count_mismatch_and_skip_mismatch(tmp_path):
    with_bias, without = layers.Dense(2), layers.Dense(2, use_bias=False)
    _ = with_bias(ops.ones((1, 3)))
    _ = without(ops.ones((1, 3)))
    saving.save_weights(with_bias, tmp_path / "d.weights.h5")
    with pytest.raises(ValueError, match=r"has 1 variables .*kernel.*file holds 2"):
        saving.load_weights(without, tmp_path / "d.weights.h5")

    small, big = Block(3), Block(4)
    _ = small(_x())
    _ = big(_x())
    _randomize(small)
    saving.save_weights(small, tmp_path / "s.weights.h5")
    with pytest.warns(UserWarning, match="skip_mismatch"):
        saving.load_weights(big, tmp_path / "s.weights.h5", skip_mismatch=True)
    np.testing.assert_array_equal(big.counter.numpy(), small.counter.numpy())  # fits: loaded


def test_corrupt_and_wrong_files(tmp_path):
    layer = layers.Dense(2)
    _ = layer(ops.ones((1, 3)))
    not_zip = tmp_path / "bad.keras"
    not_zip.write_bytes(b"this is not a zip archive")
    with pytest.raises(saving.WeightsFileError, match="not a zip archive"):
        saving.load_model(not_zip)
    with pytest.raises(saving.WeightsFileError, match="not a zip archive"):
        saving.load_weights(layer, not_zip)

    good = tmp_path / "good.weights.h5"
    saving.save_weights(layer, good)
    truncated = tmp_path / "cut.weights.h5"
    truncated.write_bytes(good.read_bytes()[:300])
    with pytest.raises(saving.WeightsFileError, match="not a readable HDF5"):
        saving.load_weights(layer, truncated)

    no_config = tmp_path / "noconfig.keras"
    with zipfile.ZipFile(no_config, "w") as archive:
        archive.writestr("metadata.json", "{}")
    with pytest.raises(saving.WeightsFileError, match=r"no config\.json"):
        saving.load_model(no_config)
    bad_json = tmp_path / "badjson.keras"
    with zipfile.ZipFile(bad_json, "w") as archive:
        archive.writestr("config.json", "{not json")
    with pytest.raises(saving.WeightsFileError, match="not valid JSON"):
        saving.load_model(bad_json)

    with pytest.raises(ValueError, match=r"expected a name ending in '\.weights\.h5'"):
        saving.save_weights(layer, tmp_path / "w.h5")
    with pytest.raises(ValueError, match=r"legacy whole-model \.h5"):
        saving.save_model(layer, tmp_path / "m.h5")
    with pytest.raises(ValueError, match="Use load_weights"):
        saving.load_model(good)
    with pytest.raises(FileNotFoundError):
        saving.load_weights(layer, tmp_path / "missing.weights.h5")
    with pytest.raises(FileExistsError):
        saving.save_weights(layer, good, overwrite=False)
    with pytest.raises(NotImplementedError, match="zipped=False"):
        saving.save_model(layer, tmp_path / "dir.keras", zipped=False)


def test_string_datasets_are_refused(tmp_path):
    layer = layers.Dense(1)
    _ = layer(ops.ones((1, 1)))
    path = tmp_path / "s.weights.h5"
    with h5py.File(path, "w") as f:
        f.create_group("vars")
        f["vars"].create_dataset("0", data=np.array([[b"x"]]))
        f["vars"].create_dataset("1", data=np.array([b"y"]))
    with pytest.raises(saving.WeightsFileError, match="not a numeric array"):
        saving.load_weights(layer, path)


# -- atomic writes ---------------------------------------------------------------------------
class _Crash(RuntimeError):
    pass


@pytest.mark.parametrize("suffix", [".weights.h5", ".keras"])
def test_a_crash_while_writing_leaves_the_old_file_intact(tmp_path, monkeypatch, suffix):
    layer = layers.Dense(2)
    _ = layer(ops.ones((1, 3)))
    path = tmp_path / f"model{suffix}"
    save = saving.save_weights if suffix == ".weights.h5" else saving.save_model
    save(layer, path)
    original = path.read_bytes()

    class Exploding(layers.Dense):
        def save_own_variables(self, store):
            store["0"] = self.kernel  # a partial write, then the crash
            raise _Crash("disk on fire")

    bad = Exploding(2)
    _ = bad(ops.ones((1, 3)))
    with pytest.raises(_Crash):
        save(bad, path)
    assert path.read_bytes() == original
    assert os.listdir(tmp_path) == [path.name]  # no temporary file left behind

    # A crash at the final rename leaves it intact too.
    def failing_replace(src, dst):
        raise _Crash("power cut")

    monkeypatch.setattr(saving_lib.os, "replace", failing_replace)
    _randomize(layer, seed=3)
    with pytest.raises(_Crash):
        save(layer, path)
    assert path.read_bytes() == original
    assert os.listdir(tmp_path) == [path.name]


def test_overwrite_keeps_file_mode(tmp_path):
    layer = layers.Dense(2)
    _ = layer(ops.ones((1, 3)))
    path = tmp_path / "m.weights.h5"
    saving.save_weights(layer, path)
    os.chmod(path, 0o640)
    saving.save_weights(layer, path)
    assert os.stat(path).st_mode & 0o777 == 0o640


# -- never unpickle ----------------------------------------------------------------------------
UNPICKLED = []


def _payload():
    UNPICKLED.append("code ran")


class _Evil:
    def __reduce__(self):
        return (_payload, ())


def test_pickles_inside_an_archive_are_never_loaded(tmp_path):
    layer = layers.Dense(2)
    _ = layer(ops.ones((1, 3)))
    path = tmp_path / "m.keras"
    saving.save_model(layer, path)
    evil_array = np.array([_Evil()], dtype=object)
    npy = io.BytesIO()
    np.save(npy, evil_array, allow_pickle=True)
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("evil.pkl", pickle.dumps(_Evil()))
        archive.writestr("model.weights.npy", npy.getvalue())
        archive.writestr("assets/evil.pkl", pickle.dumps(_Evil()))
    assert pickle.loads(pickle.dumps(_Evil())) is None and UNPICKLED == ["code ran"]
    UNPICKLED.clear()

    restored = saving.load_model(path)  # extra members are ignored, never opened
    saving.load_weights(restored, path)
    np.testing.assert_array_equal(restored.kernel.numpy(), layer.kernel.numpy())
    assert UNPICKLED == []

    # Keras's alternative npz weights need pickle: refused, not read.
    npz_path = tmp_path / "npz.keras"
    npz = io.BytesIO()
    np.savez(npz, **{"layers/dense": evil_array})
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(npz_path, "w") as archive:
        archive.writestr("config.json", source.read("config.json"))
        archive.writestr("model.weights.npz", npz.getvalue())
    with pytest.raises(saving.WeightsFileError, match="never unpickles"):
        saving.load_model(npz_path)
    assert UNPICKLED == []


@pytest.mark.parametrize("dtype", ["float16", "float64", "int32", "bfloat16"])
def test_weight_dtypes_round_trip(tmp_path, dtype):
    if dtype == "bfloat16":
        dtype = pytest.importorskip("ml_dtypes").bfloat16

    class Holder(layers.Layer):
        def build(self, input_shape):
            self.w = self.add_weight(shape=(2, 2), dtype=dtype, initializer="ones")

    layer, twin = Holder(), Holder()
    _ = layer(ops.ones((1, 2)))
    _ = twin(ops.ones((1, 2)))
    layer.w.assign(np.array([[1, 2], [3, 4]], dtype=dtype))
    saving.save_weights(layer, tmp_path / "d.weights.h5")
    with h5py.File(tmp_path / "d.weights.h5", "r") as f:  # bfloat16 is tagged as Keras does
        assert (f["vars/0"].attrs.get("dtype") == "bfloat16") == (str(layer.w.dtype) == "bfloat16")
    saving.load_weights(twin, tmp_path / "d.weights.h5")
    assert twin.w.dtype == layer.w.dtype
    np.testing.assert_array_equal(twin.w.numpy(), [[1, 2], [3, 4]])
