"""Normalization layers against PyTorch (the oracle) and Keras 3 (the reference), plus
batch norm's moving statistics, its frozen mode, and its updates inside ``fit``."""

import numpy as np
import pytest

import nerve
from nerve import layers, ops
from nerve.core.errors import AxisError, ShapeError
from nerve.testing.layer_harness import (
    LayerCase,
    LazyKerasLayers,
    check_against_keras,
    check_against_torch,
    check_round_trips,
    layer_tests,
)
from nerve.testing.op_harness import T

keras_layers = LazyKerasLayers()
F = T.nn.functional if T is not None else None


def channels_last(fn):
    """A PyTorch function of channels-first tensors applied to channels-last ones."""
    return lambda x, *args, **kwargs: fn(x.movedim(-1, 1), *args, **kwargs).movedim(1, -1)


def torch_norm_over(x, dims, eps):
    """(x - mean) / sqrt(var + eps) over ``dims``, by hand (for axes F.layer_norm can't take)."""
    mean = x.mean(dim=dims, keepdim=True)
    var = x.var(dim=dims, keepdim=True, unbiased=False)
    return (x - mean) * T.rsqrt(var + eps)


CASES = [
    # -- BatchNormalization: training (batch statistics) and inference (moving ones) --
    LayerCase(
        "batch_norm_training",
        lambda **kw: layers.BatchNormalization(momentum=0.9, **kw),
        (6, 3, 4),
        torch=lambda xs, ws: channels_last(F.batch_norm)(
            xs[0], None, None, ws[0], ws[1], training=True, eps=1e-3
        ),
        keras=lambda **kw: keras_layers.BatchNormalization(momentum=0.9, **kw),
        call_kwargs={"training": True},
    ),
    LayerCase(
        "batch_norm_inference",
        lambda **kw: layers.BatchNormalization(**kw),
        (5, 4),
        torch=lambda xs, ws: F.batch_norm(xs[0], ws[2], ws[3], ws[0], ws[1], eps=1e-3),
        keras=lambda **kw: keras_layers.BatchNormalization(**kw),
    ),
    LayerCase(
        "batch_norm_channels_first_training",
        lambda **kw: layers.BatchNormalization(axis=1, epsilon=1e-2, **kw),
        (3, 4, 2, 3),
        torch=lambda xs, ws: F.batch_norm(xs[0], None, None, ws[0], ws[1], training=True, eps=1e-2),
        keras=lambda **kw: keras_layers.BatchNormalization(axis=1, epsilon=1e-2, **kw),
        call_kwargs={"training": True},
    ),
    LayerCase(
        "batch_norm_channels_first_inference",
        lambda **kw: layers.BatchNormalization(axis=1, **kw),
        (2, 3, 4),
        torch=lambda xs, ws: F.batch_norm(xs[0], ws[2], ws[3], ws[0], ws[1], eps=1e-3),
        keras=lambda **kw: keras_layers.BatchNormalization(axis=1, **kw),
    ),
    LayerCase(
        "batch_norm_no_center_no_scale_inference",
        lambda **kw: layers.BatchNormalization(center=False, scale=False, **kw),
        (4, 3),
        torch=lambda xs, ws: F.batch_norm(xs[0], ws[0], ws[1], eps=1e-3),
        keras=lambda **kw: keras_layers.BatchNormalization(center=False, scale=False, **kw),
    ),
    LayerCase(
        "batch_norm_no_center_training",
        lambda **kw: layers.BatchNormalization(center=False, **kw),
        (5, 3),
        torch=lambda xs, ws: F.batch_norm(xs[0], None, None, ws[0], training=True, eps=1e-3),
        keras=lambda **kw: keras_layers.BatchNormalization(center=False, **kw),
        call_kwargs={"training": True},
    ),
    # -- LayerNormalization --
    LayerCase(
        "layer_norm",
        lambda **kw: layers.LayerNormalization(**kw),
        (3, 4, 5),
        torch=lambda xs, ws: F.layer_norm(xs[0], (5,), ws[0], ws[1], eps=1e-3),
        keras=lambda **kw: keras_layers.LayerNormalization(**kw),
    ),
    LayerCase(
        "layer_norm_two_axes",
        lambda **kw: layers.LayerNormalization(axis=[1, 2], epsilon=1e-5, **kw),
        (2, 3, 4),
        torch=lambda xs, ws: F.layer_norm(xs[0], (3, 4), ws[0], ws[1], eps=1e-5),
        keras=lambda **kw: keras_layers.LayerNormalization(axis=[1, 2], epsilon=1e-5, **kw),
    ),
    LayerCase(
        "layer_norm_middle_axis",
        lambda **kw: layers.LayerNormalization(axis=1, **kw),
        (2, 4, 3),
        torch=lambda xs, ws: torch_norm_over(xs[0], (1,), 1e-3) * ws[0][:, None] + ws[1][:, None],
        keras=lambda **kw: keras_layers.LayerNormalization(axis=1, **kw),
    ),
    LayerCase(
        "layer_norm_no_center_no_scale",
        lambda **kw: layers.LayerNormalization(center=False, scale=False, **kw),
        (3, 6),
        torch=lambda xs, ws: F.layer_norm(xs[0], (6,), eps=1e-3),
        keras=lambda **kw: keras_layers.LayerNormalization(center=False, scale=False, **kw),
    ),
    # -- GroupNormalization --
    LayerCase(
        "group_norm",
        lambda **kw: layers.GroupNormalization(groups=2, **kw),
        (3, 5, 6),
        torch=lambda xs, ws: channels_last(F.group_norm)(xs[0], 2, ws[0], ws[1], eps=1e-3),
        keras=lambda **kw: keras_layers.GroupNormalization(groups=2, **kw),
    ),
    LayerCase(
        "group_norm_channels_first",
        lambda **kw: layers.GroupNormalization(groups=3, axis=1, **kw),
        (2, 6, 3, 2),
        torch=lambda xs, ws: F.group_norm(xs[0], 3, ws[0], ws[1], eps=1e-3),
        keras=lambda **kw: keras_layers.GroupNormalization(groups=3, axis=1, **kw),
    ),
    LayerCase(
        "group_norm_instance",
        lambda **kw: layers.GroupNormalization(groups=-1, epsilon=1e-4, **kw),
        (2, 5, 4),
        torch=lambda xs, ws: channels_last(F.group_norm)(xs[0], 4, ws[0], ws[1], eps=1e-4),
        keras=lambda **kw: keras_layers.GroupNormalization(groups=-1, epsilon=1e-4, **kw),
    ),
    LayerCase(
        "group_norm_one_group_no_center",
        lambda **kw: layers.GroupNormalization(groups=1, center=False, **kw),
        (3, 4),
        torch=lambda xs, ws: F.group_norm(xs[0], 1, ws[0], eps=1e-3),
        keras=lambda **kw: keras_layers.GroupNormalization(groups=1, center=False, **kw),
    ),
    # -- UnitNormalization --
    LayerCase(
        "unit_norm",
        lambda **kw: layers.UnitNormalization(**kw),
        (3, 4),
        torch=lambda xs, ws: F.normalize(xs[0], dim=-1, eps=1e-12),
        keras=lambda **kw: keras_layers.UnitNormalization(**kw),
    ),
    LayerCase(
        "unit_norm_two_axes",
        lambda **kw: layers.UnitNormalization(axis=[1, 2], **kw),
        (2, 3, 4),
        torch=lambda xs, ws: xs[0] / (xs[0] ** 2).sum(dim=(1, 2), keepdim=True).sqrt(),
        keras=lambda **kw: keras_layers.UnitNormalization(axis=[1, 2], **kw),
    ),
    # -- RMSNormalization --
    LayerCase(
        "rms_norm",
        lambda **kw: layers.RMSNormalization(**kw),
        (3, 4, 5),
        torch=lambda xs, ws: F.rms_norm(xs[0], (5,), ws[0], eps=1e-6),
        keras=lambda **kw: keras_layers.RMSNormalization(**kw),
    ),
    LayerCase(
        "rms_norm_two_axes",
        lambda **kw: layers.RMSNormalization(axis=[1, 2], epsilon=1e-3, **kw),
        (2, 3, 4),
        torch=lambda xs, ws: F.rms_norm(xs[0], (3, 4), ws[0], eps=1e-3),
        keras=lambda **kw: keras_layers.RMSNormalization(axis=[1, 2], epsilon=1e-3, **kw),
    ),
    LayerCase(
        "rms_norm_middle_axis",
        lambda **kw: layers.RMSNormalization(axis=1, **kw),
        (2, 4, 3),
        torch=lambda xs, ws: (
            xs[0] * T.rsqrt((xs[0] ** 2).mean(dim=1, keepdim=True) + 1e-6) * ws[0][:, None]
        ),
        # No Keras row: Keras 3.15.1's RMSNormalization fails here (it multiplies by its
        # (4,) scale without laying it out along axis 1).
    ),
]

globals().update(layer_tests(CASES))


# Keras's deprecated rms_scaling warns when made (both libraries), so its row runs in a
# test of its own that expects the warning.
RMS_SCALING = LayerCase(
    "layer_norm_rms_scaling",
    lambda **kw: layers.LayerNormalization(rms_scaling=True, **kw),
    (3, 5),
    torch=lambda xs, ws: (
        xs[0] * T.rsqrt(xs[0].var(dim=-1, keepdim=True, unbiased=False) + 1e-3) * ws[0]
    ),
    keras=lambda **kw: keras_layers.LayerNormalization(rms_scaling=True, **kw),
)


@pytest.mark.filterwarnings("ignore:.*rms_scaling.*deprecated:UserWarning")
def test_layer_norm_rms_scaling_against_torch_and_keras(tmp_path):
    pytest.importorskip("torch")
    for dtype in RMS_SCALING.dtypes:
        check_against_torch(RMS_SCALING, dtype)
    check_round_trips(RMS_SCALING, tmp_path)
    pytest.importorskip("keras")
    check_against_keras(RMS_SCALING)


def test_layer_norm_rms_scaling_warns_and_has_gamma_only():
    with pytest.warns(UserWarning, match=r"rms_scaling=True is deprecated"):
        norm = layers.LayerNormalization(rms_scaling=True, name="old")
    norm(ops.ones((2, 3)))
    assert [w.name for w in norm.weights] == ["gamma"]


def test_the_normalization_table_can_fail():
    wrong = LayerCase(
        "batch_norm_wrong",  # inference-mode oracle for a layer run in training mode
        lambda **kw: layers.BatchNormalization(**kw),
        (5, 3),
        torch=lambda xs, ws: F.batch_norm(xs[0], ws[2], ws[3], ws[0], ws[1], eps=1e-3),
        call_kwargs={"training": True},
    )
    pytest.importorskip("torch")
    with pytest.raises(AssertionError, match="batch_norm_wrong forward"):
        check_against_torch(wrong, "float64")


# -- BatchNormalization's moving statistics ---------------------------------------------------


def test_batch_norm_moving_statistics_match_torch_and_a_hand_computation():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    batches = [rng.normal(2.0, 3.0, (8, 5, 4)) for _ in range(4)]
    momentum = 0.8
    bn = layers.BatchNormalization(momentum=momentum, dtype="float64")
    # PyTorch's momentum is Keras's 1 - momentum; its running_var averages the unbiased
    # variance where Keras averages the biased one, so only the means agree directly.
    reference = torch.nn.BatchNorm1d(4, momentum=1 - momentum, eps=1e-3).double()
    mean, var = np.zeros(4), np.ones(4)
    for x in batches:
        out = bn(ops.convert_to_tensor(x), training=True)
        expected = reference(torch.from_numpy(x).movedim(-1, 1)).movedim(1, -1)
        np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=1e-10)
        mean = mean * momentum + x.mean(axis=(0, 1)) * (1 - momentum)
        var = var * momentum + x.var(axis=(0, 1)) * (1 - momentum)
    np.testing.assert_allclose(bn.moving_mean.numpy(), reference.running_mean.numpy(), 1e-12)
    np.testing.assert_allclose(bn.moving_mean.numpy(), mean, rtol=1e-12)
    np.testing.assert_allclose(bn.moving_variance.numpy(), var, rtol=1e-12)
    # Inference uses exactly those statistics.
    x = batches[0]
    expected = (x - mean) / np.sqrt(var + 1e-3) * bn.gamma.numpy() + bn.beta.numpy()
    np.testing.assert_allclose(bn(ops.convert_to_tensor(x)).numpy(), expected, rtol=1e-12)


def test_batch_norm_inference_and_no_training_flag_leave_moving_statistics_alone():
    bn = layers.BatchNormalization()
    x = ops.convert_to_tensor(np.random.default_rng(1).normal(3.0, 2.0, (6, 3)))
    for kwargs in ({}, {"training": False}):
        out = bn(x, **kwargs)
        np.testing.assert_array_equal(bn.moving_mean.numpy(), np.zeros(3))
        np.testing.assert_array_equal(bn.moving_variance.numpy(), np.ones(3))
        np.testing.assert_allclose(out.numpy(), x.numpy() / np.sqrt(1 + 1e-3), rtol=1e-6)


def test_frozen_batch_norm_uses_moving_statistics_even_when_training():
    rng = np.random.default_rng(2)
    x = ops.convert_to_tensor(rng.normal(1.0, 2.0, (8, 3)).astype("float32"))
    bn = layers.BatchNormalization(momentum=0.5)
    bn(x, training=True)
    moving = [w.numpy().copy() for w in bn.weights]
    bn.trainable = False
    frozen = bn(x, training=True)
    np.testing.assert_array_equal(frozen.numpy(), bn(x, training=False).numpy())
    for before, weight in zip(moving, bn.weights):
        np.testing.assert_array_equal(weight.numpy(), before)
    # ... and not the batch's: these differ.
    bn.trainable = True
    assert not np.allclose(bn(x, training=True).numpy(), frozen.numpy())


def test_batch_norm_frozen_through_its_model_in_fit_keeps_statistics():
    model = nerve.Sequential(
        [nerve.Input(shape=(3,)), layers.Dense(4), layers.BatchNormalization(name="bn")]
    )
    model.compile(optimizer="sgd", loss="mse")
    model.trainable = False
    x = np.random.default_rng(3).normal(size=(16, 3)).astype("float32")
    with pytest.warns(UserWarning, match="no trainable weights"):
        model.fit(x, np.zeros((16, 4), "float32"), epochs=1, batch_size=8, verbose=0)
    bn = model.get_layer("bn")
    np.testing.assert_array_equal(bn.moving_mean.numpy(), np.zeros(4))
    np.testing.assert_array_equal(bn.moving_variance.numpy(), np.ones(4))


def test_batch_norm_mask_restricts_the_statistics_to_kept_positions():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(4, 3, 5))
    mask = np.array([[1, 1, 0], [1, 0, 0], [1, 1, 1], [0, 0, 1]], bool)
    bn = layers.BatchNormalization(momentum=0.0, dtype="float64")
    out = bn(ops.convert_to_tensor(x), training=True, mask=mask)
    kept = x[mask]
    np.testing.assert_allclose(bn.moving_mean.numpy(), kept.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(bn.moving_variance.numpy(), kept.var(axis=0), rtol=1e-12)
    expected = (x - kept.mean(axis=0)) / np.sqrt(kept.var(axis=0) + 1e-3)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-10)
    with pytest.raises(ShapeError, match=r"mask of shape \(4,\) does not fit inputs"):
        bn(ops.convert_to_tensor(x), training=True, mask=np.ones(4, bool))


def test_batch_norm_mask_matches_keras():
    pytest.importorskip("keras")
    import keras

    rng = np.random.default_rng(5)
    x = rng.normal(size=(4, 3, 5)).astype("float32")
    mask = rng.uniform(size=(4, 3)) > 0.4
    ours = layers.BatchNormalization(momentum=0.7)
    theirs = keras_layers.BatchNormalization(momentum=0.7)
    out = ours(ops.convert_to_tensor(x), training=True, mask=mask)
    expected = keras.ops.convert_to_numpy(theirs(x, training=True, mask=mask))
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-5, atol=1e-6)
    for mine, keras_weight in zip(ours.weights, theirs.weights):
        expected = keras.ops.convert_to_numpy(keras_weight.value)
        np.testing.assert_allclose(mine.numpy(), expected, rtol=1e-5, atol=1e-7)


def test_batch_norm_updates_inside_a_compiled_function_each_call():
    rng = np.random.default_rng(6)
    batches = [ops.convert_to_tensor(rng.normal(size=(5, 3)).astype("float32")) for _ in range(3)]
    eager = layers.BatchNormalization(momentum=0.6)
    compiled = layers.BatchNormalization(momentum=0.6)
    step = nerve.function(lambda x: compiled(x, training=True))
    for x in batches:
        np.testing.assert_allclose(step(x).numpy(), eager(x, training=True).numpy(), rtol=1e-5)
    assert step.trace_count == 1
    for ours, theirs in zip(compiled.weights, eager.weights):
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6)
    assert not np.allclose(compiled.moving_mean.numpy(), 0.0)


def _digits(count):
    (x_train, y_train), _ = nerve.datasets.digits.load_data()
    return x_train[:count].reshape(-1, 64).astype("float32") / 16, y_train[:count]


def test_fit_updates_moving_statistics_in_its_compiled_step():
    # The Dense before the batch norm is frozen, so the statistics the compiled steps
    # average are known: with shuffle=False, the batches in order, the last one short.
    x, y = _digits(200)
    model = nerve.Sequential(
        [
            nerve.Input(shape=(64,)),
            layers.Dense(8, trainable=False),
            layers.BatchNormalization(momentum=0.7, name="bn"),
            layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=64, epochs=2, shuffle=False, verbose=0)
    hidden = model.layers[0](ops.convert_to_tensor(x)).numpy()
    mean, var = np.zeros(8), np.ones(8)
    for _ in range(2):
        for start in range(0, 200, 64):  # 64, 64, 64, then 8
            batch = hidden[start : start + 64]
            mean = 0.7 * mean + 0.3 * batch.mean(axis=0)
            var = 0.7 * var + 0.3 * batch.var(axis=0)
    bn = model.get_layer("bn")
    np.testing.assert_allclose(bn.moving_mean.numpy(), mean, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(bn.moving_variance.numpy(), var, rtol=1e-4, atol=1e-6)


def test_fit_with_batch_norm_trains_and_predicts_with_moving_statistics():
    x, y = _digits(500)
    nerve.utils.set_random_seed(0)
    model = nerve.Sequential(
        [
            nerve.Input(shape=(64,)),
            layers.Dense(32, use_bias=False),
            layers.BatchNormalization(name="bn"),
            layers.Activation("relu"),
            layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=nerve.optimizers.Adam(0.01),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(x, y, batch_size=64, epochs=5, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.3 * losses[0], losses
    assert history.history["accuracy"][-1] > 0.9
    # predict runs in inference mode: the moving statistics, not the batch's.
    bn, dense = model.get_layer("bn"), model.layers[3]
    hidden = model.layers[0](ops.convert_to_tensor(x[:8])).numpy()
    normalized = (hidden - bn.moving_mean.numpy()) / np.sqrt(bn.moving_variance.numpy() + 1e-3)
    activations = np.maximum(normalized * bn.gamma.numpy() + bn.beta.numpy(), 0)
    logits = activations @ dense.kernel.numpy() + dense.bias.numpy()
    expected = np.exp(logits - logits.max(-1, keepdims=True))
    expected /= expected.sum(-1, keepdims=True)
    np.testing.assert_allclose(model.predict(x[:8], verbose=0), expected, rtol=1e-4, atol=1e-5)


def test_batch_norm_in_mixed_precision_computes_in_float32_and_keeps_float32_weights():
    bn = layers.BatchNormalization(dtype="mixed_float16")
    x = np.random.default_rng(7).normal(100.0, 50.0, (64, 3)).astype("float16")
    out = bn(ops.convert_to_tensor(x), training=True)
    assert out.dtype == "float16"
    assert {w.dtype for w in bn.weights} == {"float32"}
    x32 = x.astype("float32")
    expected = (x32 - x32.mean(0)) / np.sqrt(x32.var(0) + 1e-3)
    np.testing.assert_allclose(out.numpy().astype("float32"), expected, atol=5e-3)


# -- configs, weights, shapes and errors ------------------------------------------------------


KERAS_CONFIGS = [
    ("BatchNormalization", {}, (2, 3)),
    ("LayerNormalization", {}, (2, 3)),
    ("GroupNormalization", {"groups": 3}, (2, 3)),
    ("UnitNormalization", {}, (2, 3)),
    ("RMSNormalization", {}, (2, 3)),
]


@pytest.mark.parametrize("name,kwargs,shape", KERAS_CONFIGS)
def test_config_keys_and_weights_are_keras(name, kwargs, shape):
    pytest.importorskip("keras")
    ours = getattr(layers, name)(**kwargs)
    theirs = getattr(keras_layers, name)(**kwargs)
    ours.build(shape)
    theirs.build(shape)
    assert sorted(ours.get_config()) == sorted(theirs.get_config())
    assert [(w.name, w.shape, w.trainable) for w in ours.weights] == [
        (w.name, tuple(w.shape), w.trainable) for w in theirs.weights
    ]


def test_config_values_round_trip():
    bn = layers.BatchNormalization(axis=1, momentum=0.5, epsilon=0.1, gamma_regularizer="l2")
    config = bn.get_config()
    assert config["axis"] == 1 and config["momentum"] == 0.5 and config["epsilon"] == 0.1
    assert config["gamma_regularizer"]["class_name"] == "L2"
    clone = layers.BatchNormalization.from_config(config)
    assert clone.get_config() == config
    assert layers.LayerNormalization(axis=(1, 2)).get_config()["axis"] == [1, 2]
    assert layers.LayerNormalization(axis=1).get_config()["axis"] == 1
    group = layers.GroupNormalization(groups=-1)
    group.build((2, 6))
    assert group.get_config()["groups"] == 6  # resolved, as Keras's config says


def test_gamma_regularizer_adds_a_loss_and_moving_statistics_are_not_trainable():
    bn = layers.BatchNormalization(gamma_regularizer=nerve.regularizers.L2(0.5))
    bn(ops.ones((2, 3)))
    (penalty,) = bn.losses
    assert float(penalty) == pytest.approx(0.5 * 3)
    assert [w.name for w in bn.trainable_weights] == ["gamma", "beta"]
    assert [w.name for w in bn.non_trainable_weights] == ["moving_mean", "moving_variance"]


@pytest.mark.parametrize(
    "layer,shape",
    [
        (layers.BatchNormalization(axis=1), (None, 3, 4)),
        (layers.LayerNormalization(axis=[1, 2]), (None, 3, 4)),
        (layers.GroupNormalization(groups=2), (None, 5, 4)),
        (layers.UnitNormalization(), (None, 4)),
        (layers.RMSNormalization(), (None, 2, 4)),
    ],
)
def test_compute_output_shape_and_functional_use(layer, shape):
    assert layer.compute_output_shape(shape) == shape
    inputs = nerve.Input(shape=shape[1:])
    assert layer(inputs).shape == shape


def test_errors_name_the_layer_and_the_shapes():
    bn = layers.BatchNormalization(name="bn")
    bn(ops.ones((2, 3)))
    built_for = (
        r"BatchNormalization 'bn' was built for inputs of rank 2 with axis 1 of size 3, but "
        r"received inputs of shape \(2, 5\)"
    )
    with pytest.raises(ShapeError, match=built_for):
        bn(ops.ones((2, 5)))
    out_of_range = r"LayerNormalization 'ln' normalizes over axis 3.* shape \(2, 3\) \(rank 2\)"
    with pytest.raises(AxisError, match=out_of_range):
        layers.LayerNormalization(axis=3, name="ln")(ops.ones((2, 3)))
    with pytest.raises(ShapeError, match=r"'gn': 4 channels .*\(2, 4\).* into 3 groups"):
        layers.GroupNormalization(groups=3, name="gn")(ops.ones((2, 4)))
    with pytest.raises(ShapeError, match=r"'gn8': 4 channels .* into 8 groups"):
        layers.GroupNormalization(groups=8, name="gn8")(ops.ones((2, 4)))
    with pytest.raises(ValueError, match=r"groups must be a positive number of groups or -1"):
        layers.GroupNormalization(groups=0)
    with pytest.raises(AxisError, match=r"'gn0': axis 0 is the batch axis"):
        layers.GroupNormalization(groups=1, axis=0, name="gn0")(ops.ones((2, 4)))
    with pytest.raises(TypeError, match=r"BatchNormalization: axis must be an int"):
        layers.BatchNormalization(axis=[1, 2])
    with pytest.raises(NotImplementedError, match=r"renorm=True"):
        layers.BatchNormalization(renorm=True)
    with pytest.raises(ShapeError, match=r"RMSNormalization 'rms' needs the size of axis 1"):
        layers.RMSNormalization(name="rms").build((2, None))
    rms = layers.RMSNormalization(name="rms2")
    rms(ops.ones((2, 3)))
    with pytest.raises(ShapeError, match=r"'rms2' was built for .* shape \(2, 3, 3\)"):
        rms(ops.ones((2, 3, 3)))


def test_half_precision_layer_norm_is_computed_in_float32():
    # Values whose squares overflow float16 (> 65504) still normalize.
    x = np.array([[300.0, 310.0, 290.0, 305.0]], "float16")
    out = layers.LayerNormalization(dtype="float16")(ops.convert_to_tensor(x))
    assert out.dtype == "float16"
    x32 = x.astype("float32")
    expected = (x32 - x32.mean()) / np.sqrt(x32.var() + 1e-3)
    np.testing.assert_allclose(out.numpy().astype("float32"), expected, atol=1e-2)
    unit = layers.UnitNormalization(dtype="float16")(ops.convert_to_tensor(x))
    np.testing.assert_allclose(unit.numpy().astype("float32"), x32 / np.linalg.norm(x32), atol=1e-3)


# -- weights files exchanged with Keras ------------------------------------------------------


def _mixed_net(module, input_layer):
    """The same model in Keras or nerve: the normalization layers with the activation
    and noise layers between them (the noise layers hold no weights, only seeds)."""
    L = module.layers
    return module.Sequential(
        [input_layer(shape=(6, 4)),
         L.Dense(6),
         L.BatchNormalization(),
         L.PReLU(shared_axes=[1]),
         L.SpatialDropout1D(0.3, seed=1),
         L.LayerNormalization(),
         L.GroupNormalization(groups=3),
         L.GaussianNoise(0.1, seed=2),
         L.RMSNormalization(),
         L.AlphaDropout(0.1, seed=3),
         L.UnitNormalization(),
         L.ReLU(max_value=1.0),
         L.Dense(3),
         L.Softmax()]
    )  # fmt: skip


# Keras 3.15.1 saving its seed generators' state under NumPy 2 warns (its variable's
# __array__ takes no copy argument); that is Keras's, not ours.
@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")
def test_weights_files_pass_between_keras_and_nerve_both_ways(tmp_path):
    keras = pytest.importorskip("keras")
    rng = np.random.default_rng(8)
    x = rng.standard_normal((3, 6, 4)).astype("float32")
    theirs = _mixed_net(keras, keras.Input)
    # Positive values everywhere, so that the moving variances are valid.
    values = [rng.uniform(0.5, 1.5, tuple(w.shape)).astype("float32") for w in theirs.weights]
    theirs.set_weights(values)
    expected = keras.ops.convert_to_numpy(theirs.predict(x, verbose=0))
    theirs.save_weights(tmp_path / "k.weights.h5")
    theirs.save(tmp_path / "k.keras")
    for path in ("k.weights.h5", "k.keras"):
        ours = _mixed_net(nerve, nerve.Input)
        nerve.saving.load_weights(ours, tmp_path / path)
        for a, b in zip(values, ours.get_weights(), strict=True):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(ours.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)
    ours = _mixed_net(nerve, nerve.Input)
    ours.set_weights(values)
    nerve.saving.save_weights(ours, tmp_path / "n.weights.h5")
    nerve.saving.save_model(ours, tmp_path / "n.keras")
    for path in ("n.weights.h5", "n.keras"):
        theirs = _mixed_net(keras, keras.Input)
        theirs.load_weights(tmp_path / path)
        predicted = keras.ops.convert_to_numpy(theirs.predict(x, verbose=0))
        np.testing.assert_allclose(predicted, expected, rtol=1e-5, atol=1e-6)
    restored = nerve.saving.load_model(tmp_path / "n.keras")
    np.testing.assert_allclose(restored.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)
