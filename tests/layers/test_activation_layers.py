"""Activation layers against PyTorch (the oracle) and Keras 3 (the reference)."""

import numpy as np
import pytest

import nerve
from nerve import layers, ops
from nerve.core.errors import ShapeError
from nerve.testing.layer_harness import LayerCase, LazyKerasLayers, layer_tests
from nerve.testing.op_harness import T

keras_layers = LazyKerasLayers()
F = T.nn.functional if T is not None else None

# Row 1 keeps two entries, row 2 none (all outputs 0), row 0 all.
MASK = np.array([[True, True, True, True, True], [False, True, False, False, True], [False] * 5])


def torch_masked_softmax(x, mask, dim=-1):
    """Softmax over the kept entries only, 0 elsewhere (and where nothing is kept)."""
    kept = T.exp(x - x.max(dim=dim, keepdim=True).values) * mask
    return kept / kept.sum(dim=dim, keepdim=True).clamp_min(1e-30)


CASES = [
    # -- ReLU --
    LayerCase(
        "relu",
        lambda **kw: layers.ReLU(**kw),
        (3, 4),
        torch=lambda xs, ws: F.relu(xs[0]),
        keras=lambda **kw: keras_layers.ReLU(**kw),
    ),
    LayerCase(
        "relu_max_slope_threshold",
        lambda **kw: layers.ReLU(max_value=1.5, negative_slope=0.1, threshold=0.5, **kw),
        (4, 5),
        torch=lambda xs, ws: T.where(xs[0] > 0.5, xs[0], 0.1 * (xs[0] - 0.5)).clamp(max=1.5),
        keras=lambda **kw: keras_layers.ReLU(
            max_value=1.5, negative_slope=0.1, threshold=0.5, **kw
        ),
    ),
    LayerCase(
        "relu_max_value",
        lambda **kw: layers.ReLU(max_value=1.0, **kw),
        (3, 4),
        torch=lambda xs, ws: F.relu(xs[0]).clamp(max=1.0),
        keras=lambda **kw: keras_layers.ReLU(max_value=1.0, **kw),
    ),
    LayerCase(
        "relu_threshold",
        lambda **kw: layers.ReLU(threshold=0.5, **kw),
        (3, 4),
        torch=lambda xs, ws: F.threshold(xs[0], 0.5, 0.0),
        keras=lambda **kw: keras_layers.ReLU(threshold=0.5, **kw),
    ),
    # -- LeakyReLU --
    LayerCase(
        "leaky_relu",
        lambda **kw: layers.LeakyReLU(**kw),
        (3, 4),
        torch=lambda xs, ws: F.leaky_relu(xs[0], 0.3),
        keras=lambda **kw: keras_layers.LeakyReLU(**kw),
    ),
    LayerCase(
        "leaky_relu_slope",
        lambda **kw: layers.LeakyReLU(negative_slope=0.05, **kw),
        (2, 3, 4),
        torch=lambda xs, ws: F.leaky_relu(xs[0], 0.05),
        keras=lambda **kw: keras_layers.LeakyReLU(negative_slope=0.05, **kw),
    ),
    # -- PReLU --
    LayerCase(
        "prelu",
        lambda **kw: layers.PReLU(**kw),
        (4, 3),
        torch=lambda xs, ws: F.prelu(xs[0], ws[0]),
        keras=lambda **kw: keras_layers.PReLU(**kw),
    ),
    LayerCase(
        "prelu_per_channel_images",
        lambda **kw: layers.PReLU(shared_axes=[1, 2], **kw),
        (2, 3, 4, 5),
        torch=lambda xs, ws: F.prelu(xs[0].movedim(-1, 1), ws[0].reshape(-1)).movedim(1, -1),
        keras=lambda **kw: keras_layers.PReLU(shared_axes=[1, 2], **kw),
    ),
    LayerCase(
        "prelu_unshared",
        lambda **kw: layers.PReLU(**kw),
        (2, 3, 4),
        torch=lambda xs, ws: T.where(xs[0] >= 0, xs[0], ws[0] * xs[0]),
        keras=lambda **kw: keras_layers.PReLU(**kw),
    ),
    LayerCase(
        "prelu_shared_last_axis",
        lambda **kw: layers.PReLU(shared_axes=-1, **kw),
        (2, 3, 4),
        torch=lambda xs, ws: T.where(xs[0] >= 0, xs[0], ws[0] * xs[0]),
    ),
    # -- ELU --
    LayerCase(
        "elu",
        lambda **kw: layers.ELU(**kw),
        (3, 4),
        torch=lambda xs, ws: F.elu(xs[0]),
        keras=lambda **kw: keras_layers.ELU(**kw),
    ),
    LayerCase(
        "elu_alpha",
        lambda **kw: layers.ELU(alpha=0.5, **kw),
        (2, 3, 4),
        torch=lambda xs, ws: F.elu(xs[0], alpha=0.5),
        keras=lambda **kw: keras_layers.ELU(alpha=0.5, **kw),
        input_low=-4.0,
    ),
    # -- Softmax --
    LayerCase(
        "softmax",
        lambda **kw: layers.Softmax(**kw),
        (3, 5),
        torch=lambda xs, ws: F.softmax(xs[0], dim=-1),
        keras=lambda **kw: keras_layers.Softmax(**kw),
        input_low=-5.0,
        input_high=5.0,
    ),
    LayerCase(
        "softmax_axis_1",
        lambda **kw: layers.Softmax(axis=1, **kw),
        (2, 3, 4),
        torch=lambda xs, ws: F.softmax(xs[0], dim=1),
        keras=lambda **kw: keras_layers.Softmax(axis=1, **kw),
    ),
    LayerCase(
        "softmax_two_axes",
        lambda **kw: layers.Softmax(axis=(1, 2), **kw),
        (2, 3, 4),
        torch=lambda xs, ws: T.exp(xs[0] - T.logsumexp(xs[0], dim=(1, 2), keepdim=True)),
        keras=lambda **kw: keras_layers.Softmax(axis=(1, 2), **kw),
    ),
    LayerCase(
        "softmax_mask",
        lambda **kw: layers.Softmax(**kw),
        (3, 5),
        torch=lambda xs, ws: torch_masked_softmax(xs[0], T.from_numpy(MASK)),
        keras=lambda **kw: keras_layers.Softmax(**kw),
        call_kwargs={"mask": MASK},
    ),
]

globals().update(layer_tests(CASES))


def test_masked_softmax_zeroes_masked_entries_and_fully_masked_rows():
    x = ops.convert_to_tensor(np.random.default_rng(0).normal(size=(3, 5)).astype("float32"))
    out = layers.Softmax()(x, mask=MASK).numpy()
    assert (out[~MASK] == 0).all()
    np.testing.assert_allclose(out.sum(axis=-1), [1.0, 1.0, 0.0], rtol=1e-6)
    half = layers.Softmax(dtype="float16")(ops.cast(x, "float16"), mask=MASK).numpy()
    assert np.isfinite(half).all() and (half[~MASK] == 0).all()


def test_softmax_mask_broadcasts_like_an_attention_mask():
    rng = np.random.default_rng(1)
    scores = rng.normal(size=(2, 3, 4)).astype("float32")  # (batch, heads, keys)
    mask = rng.uniform(size=(2, 1, 4)) > 0.3  # the same for every head
    out = layers.Softmax()(ops.convert_to_tensor(scores), mask=mask).numpy()
    full = np.broadcast_to(mask, scores.shape)
    expected = np.where(full, np.exp(scores), 0.0)
    expected = expected / np.maximum(expected.sum(-1, keepdims=True), 1e-30)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-7)
    with pytest.raises(ShapeError, match=r"Softmax 'sm': mask of shape \(2, 4\) does not broadcast"
                       r" to inputs of shape \(2, 3, 4\)"):  # fmt: skip
        layers.Softmax(name="sm")(ops.convert_to_tensor(scores), mask=np.ones((2, 4), bool))


def test_prelu_alpha_learns_and_takes_its_initializer_regularizer_and_constraint():
    prelu = layers.PReLU(
        alpha_initializer=nerve.initializers.Constant(0.25),
        alpha_regularizer=nerve.regularizers.L2(1.0),
        alpha_constraint="non_neg",
        shared_axes=[1, 2],
        name="prelu",
    )
    out = prelu(ops.full((2, 3, 4, 2), -2.0))
    np.testing.assert_allclose(out.numpy(), -0.5)
    assert prelu.alpha.shape == (1, 1, 2) and prelu.alpha.path == "prelu/alpha"
    assert float(prelu.losses[0]) == pytest.approx(2 * 0.25**2)
    assert prelu.alpha.constraint is not None


def test_argument_checks_name_the_layer():
    for kwargs, name in [
        ({"max_value": -1.0}, "max_value"),
        ({"negative_slope": -0.1}, "negative_slope"),
        ({"negative_slope": None}, "negative_slope"),
        ({"threshold": -1.0}, "threshold"),
    ]:
        with pytest.raises(ValueError, match=rf"ReLU: {name} must be a number >= 0"):
            layers.ReLU(**kwargs)
    with pytest.raises(ValueError, match=r"LeakyReLU: negative_slope must be a number >= 0"):
        layers.LeakyReLU(negative_slope=None)
    with pytest.raises(ShapeError, match=r"PReLU 'p': shared axis 3 is not a non-batch axis of "
                       r"inputs of shape \(2, 3, 4\)"):  # fmt: skip
        layers.PReLU(shared_axes=3, name="p")(ops.ones((2, 3, 4)))
    with pytest.raises(ShapeError, match=r"PReLU 'q' needs every non-batch axis"):
        layers.PReLU(name="q").build((None, None, 4))
    prelu = layers.PReLU(name="r")
    prelu(ops.ones((2, 3)))
    with pytest.raises(ShapeError, match=r"PReLU 'r' was built for examples of shape \(3,\).*"
                       r"received inputs of shape \(2, 5\)"):  # fmt: skip
        prelu(ops.ones((2, 5)))


@pytest.mark.parametrize(
    "name,kwargs",
    [
        ("ReLU", {"max_value": 2.0}),
        ("LeakyReLU", {}),
        ("PReLU", {"shared_axes": [1]}),
        ("ELU", {}),
        ("Softmax", {"axis": 1}),
    ],
)
def test_config_keys_and_weights_are_keras(name, kwargs):
    pytest.importorskip("keras")
    ours = getattr(layers, name)(**kwargs)
    theirs = getattr(keras_layers, name)(**kwargs)
    ours.build((2, 3, 4))
    theirs.build((2, 3, 4))
    assert sorted(ours.get_config()) == sorted(theirs.get_config())
    assert [(w.name, w.shape) for w in ours.weights] == [
        (w.name, tuple(w.shape)) for w in theirs.weights
    ]
    clone = type(ours).from_config(ours.get_config())
    assert clone.get_config() == {**ours.get_config(), "name": clone.name}


@pytest.mark.parametrize(
    "layer",
    [layers.ReLU(), layers.LeakyReLU(), layers.PReLU(), layers.ELU(), layers.Softmax()],
)
def test_shapes_are_kept_and_flops_are_zero(layer):
    assert layer.compute_output_shape((None, 3, 4)) == (None, 3, 4)
    assert layer(nerve.Input(shape=(3, 4))).shape == (None, 3, 4)
    assert layer.compute_flops((None, 3, 4), (None, 3, 4)) == 0
