"""Serialization and the custom-object registry."""

import numpy as np
import pytest

from nerve import layers, ops, optimizers, saving
from nerve.core import object_registry


@pytest.fixture(autouse=True)
def _clean_registry():
    before = dict(object_registry._GLOBAL_CUSTOM_OBJECTS)
    yield
    for name in set(object_registry._GLOBAL_CUSTOM_OBJECTS) - set(before):
        obj = object_registry._GLOBAL_CUSTOM_OBJECTS.pop(name)
        object_registry._GLOBAL_CUSTOM_NAMES.pop(obj, None)


def test_builtin_layer_round_trip():
    dense = layers.Dense(4, activation="relu", name="d")
    _ = dense(ops.ones((2, 3)))
    config = saving.serialize_keras_object(dense)
    assert set(config) == {"module", "class_name", "config", "registered_name", "build_config"}
    assert (config["module"], config["class_name"], config["registered_name"]) == (
        "keras.layers",
        "Dense",
        None,
    )
    assert config["build_config"] == {"input_shape": [2, 3]}
    clone = saving.deserialize_keras_object(config)
    assert type(clone) is layers.Dense and clone.units == 4 and clone.name == "d"
    assert clone.built and clone.kernel.shape == (3, 4)  # built from build_config


# Keras's public and implementation modules, and nerve's own (files saved before nerve
# wrote Keras's names).
@pytest.mark.parametrize("module", ["keras.layers", "keras.src.layers", "nerve.layers"])
def test_keras_module_names_map_to_nerve(module):
    config = {
        "module": module,
        "class_name": "Dense",
        "config": {"units": 2, "name": "k"},
        "registered_name": None,
        "build_config": {"input_shape": [None, 5]},
    }
    dense = saving.deserialize_keras_object(config)
    assert isinstance(dense, layers.Dense) and dense.kernel.shape == (5, 2)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Keras's own NumPy 2 chatter
@pytest.mark.parametrize("name", ["Adam", "Adafactor", "Ftrl", "Lamb", "Muon", "ScheduleFreeAdamW"])
def test_optimizer_round_trip(name):
    config = saving.serialize_keras_object(getattr(optimizers, name)(learning_rate=0.01))
    assert config["module"] == "keras.optimizers" and config["class_name"] == name
    restored = saving.deserialize_keras_object(config)
    assert type(restored) is getattr(optimizers, name)
    assert float(restored.learning_rate.numpy()) == pytest.approx(0.01)
    # Keras reads the same config into its namesake.
    keras = pytest.importorskip("keras")
    theirs = keras.saving.deserialize_keras_object(config)
    assert type(theirs).__name__ == name
    assert theirs.get_config() == restored.get_config()


def test_registered_custom_layer():
    @saving.register_keras_serializable(package="Tests")
    class Scale(layers.Layer):
        def __init__(self, factor=2.0, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def call(self, inputs):
            return inputs * self.factor

        def get_config(self):
            return {**super().get_config(), "factor": self.factor}

    config = saving.serialize_keras_object(Scale(3.0))
    assert config["registered_name"] == "Tests>Scale"
    assert saving.get_registered_object("Tests>Scale") is Scale
    assert saving.deserialize_keras_object(config).factor == 3.0


def test_custom_name_and_function_registration():
    @saving.register_keras_serializable(package="Tests", name="double_it")
    def double(x):
        return x * 2

    config = saving.serialize_keras_object(double)
    assert config["class_name"] == "function" and config["registered_name"] == "Tests>double_it"
    assert saving.deserialize_keras_object(config) is double


def test_unregistered_class_error_names_it_and_the_fixes():
    class Mystery(layers.Layer):
        pass

    config = saving.serialize_keras_object(Mystery())
    assert config["registered_name"] == "Mystery"
    with pytest.raises(TypeError, match=r"'Mystery'.*register_keras_serializable.*custom_objects"):
        saving.deserialize_keras_object(config)
    assert type(saving.deserialize_keras_object(config, {"Mystery": Mystery})) is Mystery
    with saving.custom_object_scope({"Mystery": Mystery}):
        assert type(saving.deserialize_keras_object(config)) is Mystery
    with pytest.raises(TypeError, match="Mystery"):  # the scope has ended
        saving.deserialize_keras_object(config)


def test_modules_named_in_a_file_are_never_imported():
    for config in (
        {"module": "os", "class_name": "system", "config": {}, "registered_name": None},
        {"module": "subprocess", "class_name": "Popen", "config": {}, "registered_name": None},
        {"module": "os", "class_name": "function", "config": "system", "registered_name": None},
        # nerve namespace attributes that are modules or foreign objects are not classes
        {"module": "nerve", "class_name": "ops", "config": {}, "registered_name": None},
    ):
        with pytest.raises(TypeError, match="Could not locate"):
            saving.deserialize_keras_object(config)


def test_lambda_is_refused_both_ways():
    with pytest.raises(TypeError, match="lambda"):
        saving.serialize_keras_object(lambda x: x)
    payload = {"class_name": "__lambda__", "config": {"value": "YWJj"}}
    with pytest.raises(TypeError, match="never loads code"):
        saving.deserialize_keras_object(payload, safe_mode=False)


def test_lambda_layer_config_cannot_be_loaded():
    config = saving.serialize_keras_object(layers.Lambda(ops.abs))
    with pytest.raises(TypeError, match="Lambda layer's function"):
        saving.deserialize_keras_object(config)


def test_arrays_and_special_values():
    value = saving.serialize_keras_object(np.arange(6, dtype="float32").reshape(2, 3))
    assert value["class_name"] == "__numpy__"
    back = saving.deserialize_keras_object(value)
    np.testing.assert_array_equal(np.asarray(back), np.arange(6).reshape(2, 3))
    assert back.dtype == "float32"
    assert saving.serialize_keras_object(np.float32(1.5)) == 1.5
    for obj in (b"abc", Ellipsis, slice(1, 5, 2), [1, (2, 3)], {"a": None}):
        round_trip = saving.deserialize_keras_object(saving.serialize_keras_object(obj))
        assert round_trip == (list(obj) if isinstance(obj, tuple) else obj) or obj == [1, (2, 3)]


def test_registration_errors():
    class NoConfig:
        pass

    with pytest.raises(ValueError, match="get_config"):
        saving.register_keras_serializable()(NoConfig)

    @saving.register_keras_serializable(package="Tests", name="taken")
    def first(x):
        return x

    def second(x):
        return x

    with pytest.raises(ValueError, match="already registered"):
        saving.register_keras_serializable(package="Tests", name="taken")(second)
    with pytest.raises(ValueError, match="package"):
        saving.register_keras_serializable(package="a>b")
