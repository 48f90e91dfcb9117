"""Initializers: statistics match Keras's definitions; seeds behave as documented."""

import math

import numpy as np
import pytest

from nerve import initializers as init
from nerve import random as nrandom


@pytest.mark.parametrize(
    "shape,fans",
    [((), (1, 1)), ((5,), (5, 5)), ((3, 7), (3, 7)), ((3, 3, 4, 8), (36, 72))],
)
def test_compute_fans(shape, fans):
    assert init.compute_fans(shape) == fans


@pytest.mark.parametrize(
    "name,variance",
    [
        ("glorot_uniform", lambda i, o: 2 / (i + o)),
        ("glorot_normal", lambda i, o: 2 / (i + o)),
        ("he_uniform", lambda i, o: 2 / i),
        ("he_normal", lambda i, o: 2 / i),
        ("lecun_uniform", lambda i, o: 1 / i),
        ("lecun_normal", lambda i, o: 1 / i),
    ],
)
def test_variance_scaling_presets_have_the_documented_variance(name, variance):
    fan_in, fan_out = 400, 300
    w = init.get(name)((fan_in, fan_out)).numpy().astype(np.float64)
    assert abs(w.mean()) < 0.01 * math.sqrt(variance(fan_in, fan_out)) * 10
    assert w.var() == pytest.approx(variance(fan_in, fan_out), rel=0.05)


def test_uniform_limits_and_truncation():
    w = init.GlorotUniform(seed=0)((50, 50)).numpy()
    limit = math.sqrt(6 / 100)
    assert w.min() >= -limit and w.max() < limit
    t = init.TruncatedNormal(stddev=0.1, seed=0)((100, 100)).numpy()
    assert np.abs(t).max() <= 0.2 + 1e-6


def test_int_seed_repeats_and_unseeded_differs_per_call():
    a, b = init.HeNormal(seed=3)((4, 4)), init.HeNormal(seed=3)((4, 4))
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    unseeded = init.RandomNormal()
    assert not np.array_equal(unseeded((4,)).numpy(), unseeded((4,)).numpy())
    gen = nrandom.SeedGenerator(9)
    seeded = init.RandomUniform(seed=gen)
    assert not np.array_equal(seeded((4,)).numpy(), seeded((4,)).numpy())


@pytest.mark.parametrize("shape", [(6, 4), (4, 6), (2, 3, 5)])
def test_orthogonal(shape):
    w = init.Orthogonal(gain=2.0, seed=1)(shape).numpy().reshape(-1, shape[-1])
    small = min(w.shape)
    gram = w.T @ w if w.shape[0] >= w.shape[1] else w @ w.T
    np.testing.assert_allclose(gram, 4.0 * np.eye(small), atol=1e-5)


def test_constant_identity_zeros_ones():
    np.testing.assert_array_equal(init.Constant(2.5)((2,)).numpy(), [2.5, 2.5])
    np.testing.assert_array_equal(init.Identity(3.0)((2, 3)).numpy(), 3.0 * np.eye(2, 3))
    assert init.get("zeros")((2,), dtype="float64").dtype == "float64"
    np.testing.assert_array_equal(init.get("ones")((3,)).numpy(), [1, 1, 1])


def test_get_and_serialize_round_trip():
    original = init.VarianceScaling(scale=2.0, mode="fan_out", distribution="uniform", seed=4)
    config = init.serialize(original)
    # Keras 3.15's keys, input_axes/output_axes included.
    assert config == {
        "module": "keras.initializers",
        "class_name": "VarianceScaling",
        "config": {"scale": 2.0, "mode": "fan_out", "distribution": "uniform", "seed": 4,
                   "input_axes": None, "output_axes": None},
        "registered_name": None,
    }  # fmt: skip
    again = init.get(config)
    np.testing.assert_array_equal(again((3, 3)).numpy(), original((3, 3)).numpy())
    assert isinstance(init.get("HeNormal"), init.HeNormal)
    expected = {
        "module": "keras.initializers",
        "class_name": "HeNormal",
        "config": {"seed": 1, "input_axes": None, "output_axes": None},  # Keras 3.15's keys
        "registered_name": None,
    }
    assert init.serialize(init.HeNormal(seed=1)) == expected


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="Unknown initializer 'nope'"):
        init.get("nope")
    with pytest.raises(ValueError, match="mode must be fan_in, fan_out or fan_avg"):
        init.VarianceScaling(mode="fan")
    with pytest.raises(ValueError, match="floating-point"):
        init.RandomNormal(seed=0)((2,), dtype="int32")


def test_fans_over_chosen_axes_and_keras_written_configs_load():
    scaled = init.VarianceScaling(
        1.0, "fan_in", "uniform", seed=0, input_axes=[0], output_axes=[1, 2]
    )
    limit = np.sqrt(3.0 / 4)  # fan_in is the size of axis 0 only
    values = scaled((4, 5, 6)).numpy()
    assert np.abs(values).max() <= limit and np.abs(values).max() > 0.8 * limit
    # The configs Keras 3.15 writes into .keras files (GlorotUniform with its axes keys).
    written = {"class_name": "GlorotUniform",
               "config": {"seed": None, "input_axes": None, "output_axes": None}}  # fmt: skip
    glorot = init.get(written)
    assert isinstance(glorot, init.GlorotUniform)
    assert glorot.get_config() == written["config"]


@pytest.mark.parametrize(
    "alias, cls",
    [
        ("glorot_uniform", "GlorotUniform"),
        ("he_normal", "HeNormal"),
        ("zeros", "Zeros"),
        ("variance_scaling", "VarianceScaling"),
        ("IdentityInitializer", "Identity"),
        ("OrthogonalInitializer", "Orthogonal"),
    ],
)
def test_keras_alias_names_are_the_classes(alias, cls):
    assert getattr(init, alias) is getattr(init, cls)


@pytest.mark.parametrize(
    "made", [init.HeNormal(seed=3), init.Constant(2.5), init.Orthogonal(gain=2.0)]
)
def test_deserialize_inverts_serialize(made):
    twin = init.deserialize(init.serialize(made))
    assert type(twin) is type(made) and twin.get_config() == made.get_config()


def test_deserialize_uses_custom_objects_and_rejects_non_dicts():
    class Mine(init.Constant):
        pass

    config = {"class_name": "Mine", "config": {"value": 1.0}}
    assert type(init.deserialize(config, custom_objects={"Mine": Mine})) is Mine
    with pytest.raises(ValueError, match="serialized initializer dict"):
        init.deserialize("he_normal")
