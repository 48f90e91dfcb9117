"""clone_model: same architecture and outputs once weights are copied, nothing shared."""

import numpy as np
import pytest

import nerve
from nerve import layers, models


def _sequential():
    return models.Sequential(
        [layers.Input((4,)), layers.Dense(5, activation="relu"), layers.Dense(2)]
    )


def _functional():
    x = layers.Input((4,))
    h = layers.Dense(5, activation="tanh")(x)
    return nerve.Model(x, layers.Dense(2)(layers.Concatenate()([h, x])))


@pytest.mark.parametrize("make", [_sequential, _functional], ids=["sequential", "functional"])
def test_clone_has_same_architecture_and_fresh_weights(make):
    model = make()
    twin = models.clone_model(model)
    assert type(twin) is type(model)
    assert [type(layer) for layer in twin.layers] == [type(layer) for layer in model.layers]
    twin_ids = {id(w) for w in twin.weights}
    assert twin_ids.isdisjoint(id(w) for w in model.weights)
    twin.set_weights(model.get_weights())
    x = np.random.default_rng(0).normal(size=(3, 4)).astype("float32")
    np.testing.assert_allclose(twin.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)


def test_clone_function_replaces_sequential_layers():
    model = _sequential()
    twin = models.clone_model(
        model,
        clone_function=lambda layer: (
            layers.Dense(7) if layer.name == model.layers[-1].name else layer
        ),
    )
    assert twin.output_shape == (None, 7)
    assert twin.layers[0] is model.layers[0]


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"input_tensors": [layers.Input((4,))]}, NotImplementedError),
        ({"recursive": True}, NotImplementedError),
        ({"bogus": 1}, TypeError),
    ],
)
def test_unsupported_arguments_are_named(kwargs, error):
    with pytest.raises(error, match=next(iter(kwargs))):
        models.clone_model(_sequential(), **kwargs)


def test_clone_function_on_functional_is_refused_clearly():
    with pytest.raises(NotImplementedError, match="Sequential models only"):
        models.clone_model(_functional(), clone_function=lambda layer: layer)


def test_non_model_is_refused():
    with pytest.raises(ValueError, match="expects a nerve Model"):
        models.clone_model(layers.Dense(2))
