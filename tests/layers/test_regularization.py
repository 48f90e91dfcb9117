"""Regularization layers: the identity at inference (checked against PyTorch and Keras
like every layer), and in training the statistics of their noise, whole channels
dropped together, seeds, and fresh draws in every step of a compiled function."""

import math

import numpy as np
import pytest

import nerve
from nerve import layers, ops
from nerve.core.errors import ShapeError
from nerve.testing.layer_harness import LayerCase, LazyKerasLayers, layer_tests

keras_layers = LazyKerasLayers()


def identity(xs, ws):
    return xs[0]


CASES = [
    LayerCase(
        "spatial_dropout_1d",
        lambda **kw: layers.SpatialDropout1D(0.5, seed=1, **kw),
        (2, 3, 4),
        torch=identity,
        keras=lambda **kw: keras_layers.SpatialDropout1D(0.5, seed=1, **kw),
    ),
    LayerCase(
        "spatial_dropout_2d",
        lambda **kw: layers.SpatialDropout2D(0.3, **kw),
        (2, 3, 4, 2),
        torch=identity,
        keras=lambda **kw: keras_layers.SpatialDropout2D(0.3, **kw),
    ),
    LayerCase(
        "spatial_dropout_2d_channels_first",
        lambda **kw: layers.SpatialDropout2D(0.3, data_format="channels_first", **kw),
        (2, 2, 3, 4),
        torch=identity,
        keras=lambda **kw: keras_layers.SpatialDropout2D(0.3, data_format="channels_first", **kw),
    ),
    LayerCase(
        "spatial_dropout_3d",
        lambda **kw: layers.SpatialDropout3D(0.2, **kw),
        (2, 2, 3, 2, 2),
        torch=identity,
        keras=lambda **kw: keras_layers.SpatialDropout3D(0.2, **kw),
    ),
    LayerCase(
        "gaussian_dropout",
        lambda **kw: layers.GaussianDropout(0.4, seed=2, **kw),
        (3, 4),
        torch=identity,
        keras=lambda **kw: keras_layers.GaussianDropout(0.4, seed=2, **kw),
    ),
    LayerCase(
        "gaussian_noise",
        lambda **kw: layers.GaussianNoise(0.7, **kw),
        (3, 4),
        torch=identity,
        keras=lambda **kw: keras_layers.GaussianNoise(0.7, **kw),
    ),
    LayerCase(
        "alpha_dropout",
        lambda **kw: layers.AlphaDropout(0.1, noise_shape=(None, 1), **kw),
        (3, 4),
        torch=identity,
        keras=lambda **kw: keras_layers.AlphaDropout(0.1, noise_shape=(None, 1), **kw),
    ),
    LayerCase(
        "activity_regularization",
        lambda **kw: layers.ActivityRegularization(l1=0.1, l2=0.2, **kw),
        (3, 4),
        torch=identity,
        keras=lambda **kw: keras_layers.ActivityRegularization(l1=0.1, l2=0.2, **kw),
    ),
]

globals().update(layer_tests(CASES))

RANDOM_LAYERS = [
    lambda seed: layers.SpatialDropout1D(0.5, seed=seed),
    lambda seed: layers.SpatialDropout2D(0.5, seed=seed),
    lambda seed: layers.SpatialDropout3D(0.5, data_format="channels_first", seed=seed),
    lambda seed: layers.GaussianDropout(0.5, seed=seed),
    lambda seed: layers.GaussianNoise(0.5, seed=seed),
    lambda seed: layers.AlphaDropout(0.5, seed=seed),
]
RANDOM_IDS = ["spatial1d", "spatial2d", "spatial3d", "gaussian_dropout", "noise", "alpha"]
INPUT_SHAPES = {1: (4, 5, 6), 2: (4, 5, 5, 6), 3: (4, 3, 3, 3, 6)}


def _input_for(layer):
    shape = INPUT_SHAPES.get(getattr(layer, "rank", 1))
    rng = np.random.default_rng(0)
    return ops.convert_to_tensor(rng.uniform(0.5, 1.5, shape).astype("float32"))


# -- identity at inference, seeds, fresh draws ---------------------------------------------


@pytest.mark.parametrize("make", RANDOM_LAYERS, ids=RANDOM_IDS)
def test_identity_at_inference(make):
    layer = make(0)
    x = _input_for(layer)
    for kwargs in ({}, {"training": False}, {"training": None}):
        np.testing.assert_array_equal(layer(x, **kwargs).numpy(), x.numpy())
    assert not np.array_equal(layer(x, training=True).numpy(), x.numpy())


@pytest.mark.parametrize("make", RANDOM_LAYERS, ids=RANDOM_IDS)
def test_same_seed_same_draws_other_seed_other_draws(make):
    x = _input_for(make(0))
    first, again, other = make(7), make(7), make(8)
    a = [first(x, training=True).numpy() for _ in range(2)]
    b = [again(x, training=True).numpy() for _ in range(2)]
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], a[1])  # each call draws anew
    assert not np.array_equal(other(x, training=True).numpy(), a[0])


@pytest.mark.parametrize("make", RANDOM_LAYERS, ids=RANDOM_IDS)
def test_compiled_steps_draw_fresh_numbers_the_same_as_eager(make):
    x = _input_for(make(0))
    eager, compiled = make(11), make(11)
    step = nerve.function(lambda inputs: compiled(inputs, training=True))
    draws = [step(x).numpy() for _ in range(3)]
    assert step.trace_count == 1
    assert not np.array_equal(draws[0], draws[1]) and not np.array_equal(draws[1], draws[2])
    for drawn in draws:  # the generator's state advances in the graph as it does eagerly
        np.testing.assert_allclose(drawn, eager(x, training=True).numpy(), rtol=1e-6)


# -- the statistics of the noise ---------------------------------------------------------


def _binomial_bound(n, p):
    """Five standard deviations of a fraction of n Bernoulli(p) draws."""
    return 5 * math.sqrt(p * (1 - p) / n)


@pytest.mark.parametrize(
    "layer,shape,channel_axis",
    [
        (layers.SpatialDropout1D(0.3, seed=1), (200, 7, 10), -1),
        (layers.SpatialDropout2D(0.3, seed=2), (100, 4, 5, 10), -1),
        (layers.SpatialDropout2D(0.3, data_format="channels_first", seed=3), (100, 10, 4, 5), 1),
        (layers.SpatialDropout3D(0.3, seed=4), (50, 2, 3, 4, 20), -1),
        (layers.SpatialDropout3D(0.3, data_format="channels_first", seed=5), (50, 20, 2, 3, 4), 1),
    ],
)
def test_spatial_dropout_drops_whole_channels_at_the_rate(layer, shape, channel_axis):
    y = layer(ops.ones(shape), training=True).numpy()
    assert set(np.unique(y)) <= {0.0, np.float32(1 / 0.7)}
    # Every spatial position of an example's channel is the same: dropped or kept together.
    spatial = tuple(i for i in range(1, len(shape)) if i != channel_axis % len(shape))
    first = y[tuple(slice(0, 1) if i in spatial else slice(None) for i in range(len(shape)))]
    np.testing.assert_array_equal(y, np.broadcast_to(first, y.shape))
    dropped = float((first == 0).mean())
    channels = first.size  # examples x channels
    assert abs(dropped - 0.3) < _binomial_bound(channels, 0.3), dropped
    # Kept channels are scaled by 1 / (1 - rate): the mean is preserved.
    assert abs(float(y.mean()) - 1.0) < 5 * math.sqrt(0.3 / 0.7 / channels)


def test_spatial_dropout_rate_one_drops_everything():
    y = layers.SpatialDropout2D(1.0)(ops.ones((2, 3, 3, 4)), training=True)
    np.testing.assert_array_equal(y.numpy(), 0.0)


def test_gaussian_dropout_noise_has_mean_one_and_the_dropout_variance():
    n, rate = 200_000, 0.3
    x = ops.full((n,), 2.0)
    y = layers.GaussianDropout(rate, seed=0)(x, training=True).numpy() / 2.0
    stddev = math.sqrt(rate / (1 - rate))
    assert abs(y.mean() - 1.0) < 5 * stddev / math.sqrt(n)
    assert abs(y.std() - stddev) < 0.01 * stddev
    # The gradient is the noise itself.
    layer = layers.GaussianDropout(rate, seed=5)
    with nerve.GradientTape() as tape:
        tape.watch(x)
        out = layer(x, training=True)
        total = ops.sum(out)
    (grad,) = tape.gradient(total, [x])
    np.testing.assert_allclose(grad.numpy(), out.numpy() / 2.0, rtol=1e-6)


def test_gaussian_noise_adds_zero_mean_noise_of_stddev():
    n = 200_000
    x = np.random.default_rng(0).uniform(-3, 3, n).astype("float32")
    y = layers.GaussianNoise(0.4, seed=0)(ops.convert_to_tensor(x), training=True).numpy()
    noise = y - x
    assert abs(noise.mean()) < 5 * 0.4 / math.sqrt(n)
    assert abs(noise.std() - 0.4) < 0.004
    assert abs(np.corrcoef(noise, x)[0, 1]) < 0.02  # additive, independent of x


def test_alpha_dropout_keeps_zero_mean_and_unit_variance_and_drops_at_the_rate():
    n, rate = 200_000, 0.2
    x = np.random.default_rng(0).standard_normal(n).astype("float32")
    y = layers.AlphaDropout(rate, seed=0)(ops.convert_to_tensor(x), training=True).numpy()
    assert abs(y.mean()) < 0.01 and abs(y.var() - 1.0) < 0.015
    # Dropped entries all take the same value, a * (-scale * alpha) + b.
    saturation = -1.6732632423543772 * 1.0507009873554805
    a = ((1 - rate) * (1 + rate * saturation**2)) ** -0.5
    b = -a * saturation * rate
    dropped = np.isclose(y, a * saturation + b, rtol=0, atol=1e-6)
    assert abs(dropped.mean() - rate) < _binomial_bound(n, rate)
    np.testing.assert_allclose(y[~dropped], a * x[~dropped] + b, rtol=1e-5, atol=1e-6)


def test_alpha_dropout_noise_shape_shares_draws():
    y = layers.AlphaDropout(0.5, noise_shape=(None, 1), seed=0)(ops.ones((64, 5)), training=True)
    y = y.numpy()
    np.testing.assert_array_equal(y, np.broadcast_to(y[:, :1], y.shape))
    assert len(np.unique(y)) == 2


def test_random_layers_train_inside_fit():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 4)).astype("float32")
    y = (x @ np.array([1.0, -2.0, 0.5, 3.0], "float32"))[:, None]
    model = nerve.Sequential(
        [
            nerve.Input(shape=(4,)),
            layers.GaussianNoise(0.05, seed=0),
            layers.Dense(16, activation="relu"),
            layers.GaussianDropout(0.1, seed=1),
            layers.Dense(1),
        ]
    )
    model.compile(optimizer=nerve.optimizers.Adam(0.01), loss="mse")
    losses = model.fit(x, y, batch_size=32, epochs=10, verbose=0).history["loss"]
    assert losses[-1] < 0.2 * losses[0], losses
    # predict is deterministic: the noise layers are the identity there.
    np.testing.assert_array_equal(model.predict(x, verbose=0), model.predict(x, verbose=0))


# -- ActivityRegularization -------------------------------------------------------------------


def test_activity_regularization_adds_its_penalty_per_example():
    x = np.random.default_rng(1).normal(size=(4, 3)).astype("float32")
    reg = layers.ActivityRegularization(l1=0.1, l2=0.2)
    out = reg(ops.convert_to_tensor(x))
    np.testing.assert_array_equal(out.numpy(), x)
    (penalty,) = reg.losses
    expected = (0.1 * np.abs(x).sum() + 0.2 * (x**2).sum()) / 4
    assert float(penalty) == pytest.approx(expected, rel=1e-6)


def test_activity_regularization_penalty_joins_the_model_loss():
    x = np.ones((8, 2), "float32")
    model = nerve.Sequential(
        [
            nerve.Input(shape=(2,)),
            layers.Dense(3, kernel_initializer="ones", bias_initializer="zeros"),
            layers.ActivityRegularization(l2=0.5),
        ]
    )
    model.compile(optimizer="sgd", loss="mse")
    loss = model.evaluate(x, np.zeros((8, 3), "float32"), verbose=0)
    # Outputs are all 2: mse 4, penalty 0.5 * (3 * 4) per example.
    assert loss == pytest.approx(4.0 + 6.0, rel=1e-6)


# -- configs and errors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name,kwargs",
    [
        ("SpatialDropout1D", {"rate": 0.5, "seed": 3}),
        ("SpatialDropout2D", {"rate": 0.5, "data_format": "channels_first"}),
        ("SpatialDropout3D", {"rate": 0.5}),
        ("GaussianDropout", {"rate": 0.5, "seed": 1}),
        ("GaussianNoise", {"stddev": 0.5}),
        ("AlphaDropout", {"rate": 0.5, "noise_shape": (None, 1)}),
        ("ActivityRegularization", {"l1": 0.5}),
    ],
)
def test_config_is_keras_and_keras_configs_load(name, kwargs):
    pytest.importorskip("keras")
    ours = getattr(layers, name)(**kwargs)
    theirs = getattr(keras_layers, name)(**kwargs)
    assert sorted(ours.get_config()) == sorted(theirs.get_config())
    loaded = getattr(layers, name).from_config(theirs.get_config())
    for key, value in kwargs.items():
        assert loaded.get_config()[key] == value
    again = getattr(keras_layers, name).from_config(ours.get_config())
    assert again.get_config() == {**theirs.get_config(), "name": ours.name}


def test_errors_name_the_layer_and_what_was_expected():
    with pytest.raises(ShapeError, match=r"SpatialDropout2D 'sd' expects inputs of rank 4, "
                       r"\(batch, spatial, spatial, channels\).* shape \(2, 3, 4\)"):  # fmt: skip
        layers.SpatialDropout2D(0.5, name="sd")(ops.ones((2, 3, 4)))
    with pytest.raises(ShapeError, match=r"SpatialDropout1D 's1' expects inputs of rank 3"):
        layers.SpatialDropout1D(0.5, name="s1")(ops.ones((2, 3)))  # checked at inference too
    with pytest.raises(ValueError, match=r"data_format must be 'channels_last' or"):
        layers.SpatialDropout3D(0.5, data_format="NDHWC")
    for cls in (layers.SpatialDropout1D, layers.GaussianDropout, layers.AlphaDropout):
        with pytest.raises(ValueError, match=rf"{cls.__name__}: rate must be a number in"):
            cls(1.5)
    with pytest.raises(ValueError, match=r"GaussianDropout: rate must be a number in \[0, 1\)"):
        layers.GaussianDropout(1.0)
    with pytest.raises(ValueError, match=r"GaussianNoise: stddev must be a number in \[0, 1\]"):
        layers.GaussianNoise(-0.1)
    with pytest.raises(ShapeError, match=r"AlphaDropout 'ad': noise_shape \(None, 2\) does not "
                       r"broadcast to inputs of shape \(4, 3\)"):  # fmt: skip
        layers.AlphaDropout(0.5, noise_shape=(None, 2), name="ad")(ops.ones((4, 3)), training=True)


@pytest.mark.parametrize("make", RANDOM_LAYERS, ids=RANDOM_IDS)
def test_output_shapes_and_functional_use(make):
    layer = make(0)
    shape = (None, *INPUT_SHAPES[getattr(layer, "rank", 1)][1:])
    assert layer.compute_output_shape(shape) == shape
    assert layer(nerve.Input(shape=shape[1:])).shape == shape
