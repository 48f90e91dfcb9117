"""keras.models' saving names: load_model/save_model hand over to nerve.saving;
to_json/model_from_json round-trip the architecture."""

import json

import numpy as np
import pytest

import nerve
from nerve import layers, models


def _functional():
    x = layers.Input((3,))
    return nerve.Model(x, layers.Dense(2, name="out")(layers.Dense(4, name="hidden")(x)))


def _sequential():
    return models.Sequential(
        [layers.Input((3,)), layers.Dense(4, name="hidden"), layers.Dense(2, name="out")]
    )


@pytest.mark.parametrize("make", [_sequential, _functional], ids=["sequential", "functional"])
def test_save_model_then_load_model_gives_same_outputs(make, tmp_path):
    model = make()
    path = tmp_path / "m.keras"
    models.save_model(model, path)
    loaded = models.load_model(path)
    x = np.ones((2, 3), "float32")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parametrize("make", [_sequential, _functional], ids=["sequential", "functional"])
def test_to_json_then_model_from_json_rebuilds_architecture(make):
    model = make()
    text = model.to_json()
    assert json.loads(text)["class_name"] == type(model).__name__
    twin = models.model_from_json(text)
    assert [(type(layer), layer.name) for layer in twin.layers] == [
        (type(layer), layer.name) for layer in model.layers
    ]
    assert twin.get_layer("hidden").units == 4


@pytest.mark.parametrize(
    "text, error, match",
    [
        (42, TypeError, "JSON string"),
        ("{not json", ValueError, "not valid JSON"),
        ("[1, 2]", ValueError, "class_name"),
    ],
)
def test_model_from_json_rejects_bad_input(text, error, match):
    with pytest.raises(error, match=match):
        models.model_from_json(text)
