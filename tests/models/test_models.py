"""Sequential, Functional and subclassed models: outputs, weights, configs, errors."""

import json

import numpy as np
import pytest

import nerve
from nerve import layers, ops
from nerve.core.errors import ShapeError
from nerve.models.functional import Functional


def _data(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


class MLP(nerve.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.hidden = layers.Dense(8, activation="relu")
        self.out = layers.Dense(3)

    def call(self, inputs):
        return self.out(self.hidden(inputs))


def _three_mlps():
    sequential = nerve.Sequential(
        [nerve.Input(shape=(5,)), layers.Dense(8, "relu"), layers.Dense(3)]
    )
    inputs = nerve.Input(shape=(5,))
    functional = nerve.Model(inputs, layers.Dense(3)(layers.Dense(8, "relu")(inputs)))
    subclassed = MLP()
    subclassed(ops.zeros((1, 5)))
    return sequential, functional, subclassed


def test_three_styles_agree_for_the_same_weights():
    sequential, functional, subclassed = _three_mlps()
    assert type(functional).__name__ == "Functional"
    weights = sequential.get_weights()
    functional.set_weights(weights)
    subclassed.set_weights(weights)
    x = _data(4, 5)
    expected = np.maximum(x @ weights[0] + weights[1], 0) @ weights[2] + weights[3]
    for model in (sequential, functional, subclassed):
        np.testing.assert_allclose(model(x).numpy(), expected, rtol=1e-5, atol=1e-6)
        assert model.count_params() == 5 * 8 + 8 + 8 * 3 + 3


def test_eager_and_compiled_agree():
    for model in _three_mlps():
        x = ops.convert_to_tensor(_data(6, 5, seed=1))
        np.testing.assert_allclose(nerve.function(model)(x).numpy(), model(x).numpy(), rtol=1e-6)


def test_gradients_reach_every_trainable_weight():
    inputs = nerve.Input(shape=(4,))
    shared = layers.Dense(4, activation="tanh")
    inner = nerve.Sequential([nerve.Input(shape=(4,)), layers.Dense(3)])
    outputs = layers.Dense(2)(inner(shared(shared(inputs))))
    model = nerve.Model(inputs, outputs)
    with nerve.GradientTape() as tape:
        loss = ops.sum(model(_data(3, 4)) ** 2)
    grads = tape.gradient(loss, model.trainable_weights)
    assert len(grads) == len(model.trainable_weights) == 6
    for weight, grad in zip(model.trainable_weights, grads):
        assert grad is not None and grad.shape == weight.shape, weight.path
        assert np.any(grad.numpy() != 0), weight.path


def test_shared_layer_shares_weights():
    a, b = nerve.Input(shape=(3,)), nerve.Input(shape=(3,))
    shared = layers.Dense(2, name="shared_dense")
    model = nerve.Model([a, b], [shared(a), shared(b)])
    assert [w.path for w in model.weights] == ["shared_dense/kernel", "shared_dense/bias"]
    x = _data(2, 3)
    out_a, out_b = model([x, x])
    np.testing.assert_array_equal(out_a.numpy(), out_b.numpy())
    shared.kernel.assign(ops.ones((3, 2)))
    out_a, out_b = model([x, 2 * x])
    np.testing.assert_allclose(out_b.numpy(), 2 * out_a.numpy(), rtol=1e-6)


def test_multiple_inputs_and_outputs_as_lists_and_dicts():
    image = nerve.Input(shape=(4, 4), name="image")
    meta = nerve.Input(shape=(2,), name="meta")
    features = layers.Flatten()(image)
    hidden = layers.Dense(6)(features)
    merged = layers.Lambda(lambda xs: ops.concatenate(xs, axis=-1))([hidden, meta])
    assert merged.shape == (None, 8)
    model = nerve.Model(
        {"image": image, "meta": meta},
        {"score": layers.Dense(1)(merged), "classes": layers.Dense(5)(merged)},
    )
    out = model({"image": _data(3, 4, 4), "meta": _data(3, 2)})
    assert set(out) == {"score", "classes"}
    assert out["score"].shape == (3, 1) and out["classes"].shape == (3, 5)

    listed = nerve.Model([image, meta], [model.output["score"], hidden])
    score, hid = listed([_data(2, 4, 4), _data(2, 2)])
    assert score.shape == (2, 1) and hid.shape == (2, 6)


def test_nested_model_weights_appear_once():
    inner = nerve.Sequential([nerve.Input(shape=(3,)), layers.Dense(3)], name="block")
    inputs = nerve.Input(shape=(3,))
    outputs = layers.Dense(1)(inner(inner(inputs)))  # the nested model is shared too
    model = nerve.Model(inputs, outputs)
    assert [layer.name for layer in model.layers][1] == "block"
    assert len(model.weights) == 4
    assert model.count_params() == (3 * 3 + 3) + (3 + 1)
    kernel, bias = inner.get_weights()
    x = _data(2, 3)
    once = x @ kernel + bias
    expected = (once @ kernel + bias) @ model.weights[2].numpy() + model.weights[3].numpy()
    np.testing.assert_allclose(model(x).numpy(), expected, rtol=1e-5, atol=1e-6)


def _roundtrip(model):
    config = json.loads(json.dumps(model.get_config()))
    rebuilt = type(model).from_config(config)
    rebuilt.set_weights(model.get_weights())
    return config, rebuilt


def test_functional_config_roundtrip():
    a, b = nerve.Input(shape=(4,), name="a"), nerve.Input(shape=(2,), name="b")
    shared = layers.Dense(4, activation="relu", name="shared")
    inner = nerve.Model(c := nerve.Input(shape=(4,)), layers.Dense(2)(c), name="inner")
    x = shared(shared(a))
    model = nerve.Model({"a": a, "b": b}, [inner(x), layers.Dense(2)(b)], name="net")
    config, rebuilt = _roundtrip(model)
    assert config["input_layers"] == {"a": ["a", 0, 0], "b": ["b", 0, 0]}
    shared_config = next(item for item in config["layers"] if item["name"] == "shared")
    histories = [
        node["args"][0]["config"]["keras_history"] for node in shared_config["inbound_nodes"]
    ]
    assert histories == [["a", 0, 0], ["shared", 0, 0]]
    assert shared_config["class_name"] == "Dense" and "units" in shared_config["config"]
    assert config["output_layers"][0] == ["inner", 0, 0]
    assert type(rebuilt).__name__ == "Functional" and rebuilt.name == "net"
    data = {"a": _data(3, 4), "b": _data(3, 2)}
    for got, want in zip(rebuilt(data), model(data)):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)
    assert nerve.Model.from_config(config).count_params() == model.count_params()


def test_sequential_config_roundtrip():
    model = nerve.Sequential(
        [nerve.Input(shape=(8, 8)), layers.Rescaling(1 / 16), layers.Flatten(),
         layers.Dense(16, activation="relu"), layers.Dropout(0.2),
         layers.Dense(10, activation="softmax")]
    )  # fmt: skip
    config, rebuilt = _roundtrip(model)
    assert config["layers"][0]["class_name"] == "InputLayer"
    assert config["layers"][0]["config"]["batch_shape"] == [None, 8, 8]
    assert config["build_input_shape"] == [None, 8, 8]
    x = np.random.default_rng(0).integers(0, 16, (5, 8, 8)).astype("uint8")
    np.testing.assert_allclose(rebuilt(x).numpy(), model(x).numpy(), rtol=1e-6)


def test_unknown_class_in_config_names_the_fix():
    config = nerve.Sequential([layers.Dense(2, input_shape=(3,))]).get_config()
    config["layers"][1]["class_name"] = "MyDense"
    with pytest.raises(ValueError, match=r"MyDense.*custom_objects"):
        nerve.Sequential.from_config(config)


def test_shape_mismatch_names_layer_argument_and_shapes():
    dense = layers.Dense(4, name="expects_64")
    dense(nerve.Input(shape=(64,)))
    with pytest.raises(ShapeError) as info:
        dense(nerve.Input(shape=(32,)))
    message = str(info.value)
    assert "'expects_64' (Dense)" in message
    assert "`inputs`" in message
    assert "expected a tensor of shape (64,)" in message
    assert "received one of shape (32,)" in message
    assert "batch axis" in message


def test_sequential_shape_error_at_construction():
    with pytest.raises(ShapeError, match=r"'second' \(Dense\).*expected .*\(6,\).*\(3,\)"):
        shared = layers.Dense(2, name="second")
        shared(nerve.Input(shape=(6,)))
        nerve.Sequential([nerve.Input(shape=(4,)), layers.Dense(3), shared])


def test_data_of_the_wrong_shape_is_rejected_with_the_input_name():
    model = nerve.Model(x := nerve.Input(shape=(3,), name="pixels"), layers.Dense(1)(x))
    with pytest.raises(ShapeError, match=r"'pixels' expects data of shape \(None, 3\).*\(2, 4\)"):
        model(ops.ones((2, 4)))


def test_disconnected_graph():
    a, b = nerve.Input(shape=(2,)), nerve.Input(shape=(2,))
    out = layers.Lambda(lambda xs: xs[0] + xs[1])([a, b])
    with pytest.raises(ValueError, match="disconnected"):
        nerve.Model(a, out)


def test_get_layer():
    model = nerve.Sequential(
        [nerve.Input(shape=(2,)), layers.Dense(3, name="first"), layers.Dense(1)]
    )
    assert model.get_layer("first") is model.layers[0]
    assert model.get_layer(index=-1) is model.layers[1]
    with pytest.raises(ValueError, match=r"no layer named 'missing'.*first"):
        model.get_layer("missing")
    with pytest.raises(ValueError, match="out of range"):
        model.get_layer(index=5)


def test_sequential_add_pop_and_deferred_build():
    model = nerve.Sequential(name="stack")
    model.add(layers.Dense(4))
    model.add(layers.Dense(2))
    assert not model.built
    assert model(_data(3, 7)).shape == (3, 2)
    assert model.built and model.count_params() == 7 * 4 + 4 + 4 * 2 + 2
    assert model(_data(5, 7)).shape == (5, 2)  # the batch size stays free
    popped = model.pop()
    assert popped.units == 2 and len(model.layers) == 1
    assert model(_data(2, 7)).shape == (2, 4)
    assert len(model.weights) == 2


def test_sequential_first_layer_input_shape():
    model = nerve.Sequential([layers.Dense(4, input_shape=(3,)), layers.Dense(1)])
    assert model.built and model.output_shape == (None, 1)
    assert model.count_params() == 3 * 4 + 4 + 4 + 1


def test_training_flag_reaches_inner_layers():
    inputs = nerve.Input(shape=(200,))
    model = nerve.Model(inputs, layers.Dropout(0.5, seed=0)(inputs))
    x = np.ones((2, 200), "float32")
    np.testing.assert_array_equal(model(x).numpy(), x)
    assert np.any(model(x, training=True).numpy() == 0)


def test_inputs_are_cast_to_the_input_dtype():
    model = nerve.Sequential([nerve.Input(shape=(2,)), layers.Dense(1)])
    assert model(np.ones((1, 2), "uint8")).dtype == "float32"


def test_deep_graph_needs_no_recursion():
    x = inputs = nerve.Input(shape=(2,))
    for _ in range(1500):
        x = layers.Identity()(x)
    model = nerve.Model(inputs, x)
    assert len(model.layers) == 1501
    np.testing.assert_array_equal(model(np.ones((1, 2), "float32")).numpy(), np.ones((1, 2)))


def test_subclassed_model_contract():
    model = MLP(name="mlp")
    assert model.name == "mlp" and model.layers == [model.hidden, model.out]
    assert model(_data(2, 5)).shape == (2, 3)
    with pytest.raises(NotImplementedError, match="must define call"):
        nerve.Model()(ops.ones((1, 2)))
    with pytest.raises(TypeError, match="Functional model"):
        nerve.Model(nerve.Input(shape=(2,)))


def test_custom_layers_resolve_through_custom_objects_and_the_registry():
    from nerve import saving

    class Doubler(layers.Layer):
        def call(self, inputs):
            return inputs * 2.0

    model = nerve.Sequential([nerve.Input(shape=(2,)), Doubler(), layers.Dense(1)])
    config = json.loads(json.dumps(model.get_config()))
    assert config["layers"][1]["registered_name"] == "Doubler"
    rebuilt = nerve.Sequential.from_config(config, custom_objects={"Doubler": Doubler})
    assert isinstance(rebuilt.layers[0], Doubler)
    with saving.custom_object_scope({"Doubler": Doubler}):
        assert isinstance(nerve.Sequential.from_config(config).layers[0], Doubler)


def test_adding_a_layer_that_does_not_fit_leaves_the_model_unchanged():
    model = nerve.Sequential([nerve.Input(shape=(3,)), layers.Dense(4)])
    misfit = layers.Dense(2, name="misfit")
    misfit(nerve.Input(shape=(9,)))
    with pytest.raises(ShapeError, match=r"'misfit'.*\(9,\).*\(4,\)"):
        model.add(misfit)
    assert len(model.layers) == 1 and model(_data(2, 3)).shape == (2, 4)


def test_keyword_form_input_batch_size_and_sequential_training():
    inputs = nerve.Input(shape=(3,), batch_size=4, name="fixed")
    model = nerve.Model(inputs=inputs, outputs=layers.Dense(2)(inputs))
    assert model.inputs[0].shape == (4, 3) and model.outputs[0].shape == (4, 2)
    assert model.layers[0].get_config()["batch_shape"] == [4, 3]
    with pytest.raises(ShapeError, match="fixed"):
        model(_data(5, 3))
    stack = nerve.Sequential([nerve.Input(shape=(100,)), layers.Dropout(0.5, seed=1)])
    x = np.ones((1, 100), "float32")
    assert np.all(stack(x).numpy() == 1) and np.any(stack(x, training=True).numpy() == 0)


def test_operators_between_symbolic_tensors_record_op_nodes(tmp_path):
    inputs = nerve.Input(shape=(4,))
    hidden = layers.Dense(4, name="hidden")(inputs)
    gate = layers.Dense(4, activation="sigmoid", name="gate")(inputs)
    outputs = (inputs + hidden) * gate - hidden + 1.0
    model = nerve.Model(inputs, outputs)
    # As in Keras: op nodes (keras.src.ops.numpy.Add, ...), which are not layers.
    assert [type(layer).__name__ for layer in model.layers] == ["InputLayer", "Dense", "Dense"]
    kinds = {c["class_name"] for c in model.get_config()["layers"]}
    assert {"Add", "Multiply", "Subtract"} <= kinds
    x = np.random.default_rng(0).normal(size=(3, 4)).astype("float32")
    h, g = model.get_layer("hidden")(x).numpy(), model.get_layer("gate")(x).numpy()
    np.testing.assert_allclose(model(x).numpy(), (x + h) * g - h + 1.0, rtol=1e-6)
    model.save(tmp_path / "m.keras")
    restored = nerve.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(restored(x).numpy(), model(x).numpy(), rtol=1e-6)


class _ThreeArgumentModel(nerve.Model):
    """A subclass whose own constructor takes positional sizes (Keras's VAE example)."""

    def __init__(self, original_dim, intermediate_dim, latent_dim, **kwargs):
        super().__init__(**kwargs)
        self.encoder = layers.Dense(intermediate_dim, activation="relu")
        self.latent = layers.Dense(latent_dim)
        self.decoder = layers.Dense(original_dim)

    def call(self, inputs):
        return self.decoder(self.latent(self.encoder(inputs)))


class _TwoArgumentModel(_ThreeArgumentModel):
    def __init__(self, original_dim, latent_dim):
        super().__init__(original_dim, 6, latent_dim)


class _TrainStepOnFunctional(nerve.Model):
    """A subclass built from inputs and outputs by Model's own constructor."""


class _FunctionalThroughSuper(nerve.Model):
    """A subclass that passes inputs and outputs on to Model's constructor."""

    def __init__(self, units, **kwargs):
        inputs = nerve.Input(shape=(3,))
        super().__init__(inputs, layers.Dense(units)(inputs), **kwargs)


def test_subclass_with_positional_arguments_stays_subclassed():
    # Keras turns a call into a Functional model only for Model itself or when Model's
    # own constructor receives inputs and outputs, never from a subclass's arguments.
    for model in [_ThreeArgumentModel(8, 4, 2), _TwoArgumentModel(8, 2)]:
        assert not isinstance(model, Functional)
        assert model(_data(2, 8)).shape == (2, 8) and len(model.layers) == 3
    inputs = nerve.Input(shape=(3,))
    outputs = layers.Dense(2)(inputs)
    for cls, model in [
        (_TrainStepOnFunctional, _TrainStepOnFunctional(inputs, outputs, name="a")),
        (_TrainStepOnFunctional, _TrainStepOnFunctional(inputs=inputs, outputs=outputs)),
        (_FunctionalThroughSuper, _FunctionalThroughSuper(2, name="b")),
    ]:
        assert isinstance(model, cls) and isinstance(model, Functional)
        assert type(model).__name__ == cls.__name__ and len(model.layers) == 2
        assert model(_data(4, 3)).shape == (4, 2)


def test_layer_input_and_output_extract_features_as_in_keras():
    inputs = nerve.Input(shape=(4,))
    hidden = layers.Dense(3, activation="tanh", name="features")(inputs)
    model = nerve.Model(inputs, layers.Dense(1, name="head")(hidden))
    features = model.get_layer("features")
    assert features.input is inputs and features.output is hidden
    extractor = nerve.Model(inputs=model.inputs, outputs=features.output)
    x = np.random.default_rng(1).normal(size=(5, 4)).astype("float32")
    np.testing.assert_allclose(extractor(x).numpy(), features(x).numpy(), rtol=1e-6)
    assert extractor.get_layer("features") is features  # the same weights, shared
    with pytest.raises(AttributeError, match="never been called on symbolic tensors"):
        _ = layers.Dense(2, name="unused").output
