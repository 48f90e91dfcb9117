"""ConvLSTM1D/2D/3D: against Keras's own layers with the same weights (the layer table:
paddings, strides, dilation, channels_first, go_backwards, return_sequences, no bias,
unroll), final states, gradients by finite differences in float64, masks (a padded
batch equals each sequence alone, eagerly and compiled), stateful and initial states,
dropout, Keras's configs, Keras-written weight and model files, and the errors."""

import numpy as np
import pytest

import nerve
from nerve import layers, ops, saving
from nerve.core import tree
from nerve.core.errors import ShapeError
from nerve.testing.layer_harness import LayerCase, LazyKerasLayers, layer_tests, random_weights

keras_layers = LazyKerasLayers()
FILTERS = 3


def row(name, layer_name, input_shape, *args, **arguments):
    """A table row: the same layer and arguments in nerve and Keras."""
    return LayerCase(
        name,
        lambda **kw: getattr(layers, layer_name)(FILTERS, *args, **arguments, **kw),
        input_shape,
        keras=lambda **kw: getattr(keras_layers, layer_name)(FILTERS, *args, **arguments, **kw),
        input_low=-1.0,
        input_high=1.0,
    )


CASES = [
    row("conv_lstm2d_valid", "ConvLSTM2D", (2, 3, 5, 4, 2), 2),
    row("conv_lstm2d_same_sequences", "ConvLSTM2D", (2, 3, 5, 4, 2), 3, padding="same",
        return_sequences=True),
    row("conv_lstm2d_strides", "ConvLSTM2D", (2, 3, 7, 6, 2), 3, strides=2),
    row("conv_lstm2d_strides_same", "ConvLSTM2D", (2, 3, 7, 6, 2), (3, 2), strides=(2, 1),
        padding="same", return_sequences=True),
    row("conv_lstm2d_channels_first", "ConvLSTM2D", (2, 3, 2, 5, 4), 3,
        data_format="channels_first", return_sequences=True),
    row("conv_lstm2d_channels_first_same_backwards", "ConvLSTM2D", (2, 3, 2, 5, 4), 2,
        data_format="channels_first", padding="same", go_backwards=True),
    row("conv_lstm1d_backwards_sequences", "ConvLSTM1D", (2, 4, 6, 2), 3, go_backwards=True,
        return_sequences=True),
    row("conv_lstm1d_dilated_same", "ConvLSTM1D", (2, 4, 7, 2), 3, dilation_rate=2,
        padding="same"),
    row("conv_lstm1d_no_bias_no_forget_bias", "ConvLSTM1D", (2, 4, 6, 2), 2, use_bias=False,
        unit_forget_bias=False, return_sequences=True),
    row("conv_lstm1d_activations_unrolled", "ConvLSTM1D", (2, 3, 6, 2), 2,
        activation="relu", recurrent_activation="hard_sigmoid", unroll=True),
    row("conv_lstm3d_valid", "ConvLSTM3D", (1, 2, 3, 4, 3, 2), 2),
]  # fmt: skip

globals().update(layer_tests(CASES))


def _comparable(value):
    """A config value without what differs by design (nested objects' ``module`` and
    ``registered_name``; tuples vs lists)."""
    if isinstance(value, dict):
        return {
            k: _comparable(v) for k, v in value.items() if k not in ("module", "registered_name")
        }
    if isinstance(value, (list, tuple)):
        return [_comparable(v) for v in value]
    return value


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_config_matches_keras(case):
    """The flat config has Keras's keys and values (the cell's arguments beside the RNN's)."""
    pytest.importorskip("keras")
    ours, theirs = case.make().get_config(), case.keras().get_config()
    assert sorted(ours) == sorted(theirs), f"{case.name}: config keys differ"
    for key in set(ours) - {"name", "dtype"}:
        assert _comparable(ours[key]) == _comparable(theirs[key]), f"{case.name}: {key}"


def test_config_round_trip_keeps_every_argument():
    layer = layers.ConvLSTM2D(
        4, (3, 2), strides=(1, 2), padding="SAME", data_format="channels_first",
        activation="relu", recurrent_activation="hard_sigmoid", use_bias=False,
        unit_forget_bias=False, kernel_regularizer="l2", dropout=0.25, recurrent_dropout=0.5,
        seed=7, return_sequences=True, return_state=True, go_backwards=True, stateful=True,
        name="clstm",
    )  # fmt: skip
    config = layer.get_config()
    again = layers.ConvLSTM2D.from_config(config)
    assert again.get_config() == config
    assert (again.filters, again.kernel_size, again.strides) == (4, (3, 2), (1, 2))
    assert (again.padding, again.data_format, again.cell.seed) == ("same", "channels_first", 7)
    assert "rank" not in config


# -- final states (return_state) against Keras ----------------------------------------------------
STATE_CASES = {
    "2d_same": ("ConvLSTM2D", (2, 3, 5, 4, 2), {"padding": "same"}),
    "2d_channels_first_strides": (
        "ConvLSTM2D",
        (2, 3, 2, 7, 6),
        {"strides": 2, "data_format": "channels_first", "return_sequences": True},
    ),
    "1d_backwards": ("ConvLSTM1D", (2, 4, 6, 2), {"go_backwards": True}),
}


@pytest.mark.parametrize("name", sorted(STATE_CASES))
def test_states_match_keras(name):
    keras = pytest.importorskip("keras")
    layer_name, shape, options = STATE_CASES[name]
    x = np.random.default_rng(2).uniform(-1, 1, shape).astype("float32")
    ours = getattr(layers, layer_name)(FILTERS, 3, return_state=True, **options)
    ours(ops.convert_to_tensor(x))
    random_weights(ours, np.random.default_rng(3))
    theirs = getattr(keras_layers, layer_name)(FILTERS, 3, return_state=True, **options)
    theirs.build(shape)
    theirs.set_weights(ours.get_weights())
    got = ours(ops.convert_to_tensor(x))
    expected = theirs(x)
    assert len(got) == len(expected) == 3
    assert [tuple(g.shape) for g in got] == list(ours.compute_output_shape(shape))
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a.numpy(), keras.ops.convert_to_numpy(b), 2e-4, 2e-5)


# -- gradients by finite differences (float64) ----------------------------------------------------
FD_CASES = {
    "1d_same_sequences": (
        lambda: layers.ConvLSTM1D(2, 3, padding="same", return_sequences=True, dtype="float64"),
        (2, 3, 4, 2),
        None,
    ),
    "2d_channels_first_strides": (
        lambda: layers.ConvLSTM2D(
            2, 2, strides=2, data_format="channels_first", go_backwards=True, dtype="float64"
        ),
        (2, 3, 2, 4, 5),
        None,
    ),
    "1d_masked_states": (
        lambda: layers.ConvLSTM1D(2, 2, return_state=True, dtype="float64"),
        (3, 4, 5, 2),
        np.array([[1, 1, 1, 1], [1, 1, 0, 0], [0, 1, 1, 1]], bool),
    ),
}


@pytest.mark.parametrize("name", sorted(FD_CASES))
def test_gradients_by_finite_differences(name):
    """The directional derivative of a random projection of the outputs, along a
    random direction in the inputs and every weight, equals a central difference."""
    make, shape, mask = FD_CASES[name]
    rng = np.random.default_rng(11)
    layer = make()
    inputs = [ops.convert_to_tensor(rng.uniform(-1, 1, shape))]
    layer(inputs[0])
    random_weights(layer, rng)

    def outputs():
        return tree.flatten(list(_as_tuple(layer(inputs[0], mask=mask))))[0]

    cotangents = [rng.standard_normal(o.shape) for o in outputs()]
    variables = [inputs[0], *layer.trainable_weights]
    directions = [rng.standard_normal(v.shape) for v in variables]
    with nerve.GradientTape() as tape:
        tape.watch(inputs)
        total = sum(ops.sum(o * c) for o, c in zip(outputs(), cotangents))
    grads = tape.gradient(total, variables)
    assert all(g is not None for g in grads)
    analytic = sum(float(np.sum(g.numpy() * d)) for g, d in zip(grads, directions))
    originals = [np.array(v.numpy()) for v in variables]

    def moved(step):
        inputs[0] = ops.convert_to_tensor(originals[0] + step * directions[0])
        for v, x, d in zip(variables[1:], originals[1:], directions[1:]):
            v.assign(x + step * d)
        return sum(float(ops.sum(o * c)) for o, c in zip(outputs(), cotangents))

    h = 1e-6
    numeric = (moved(h) - moved(-h)) / (2 * h)
    moved(0.0)
    assert abs(analytic - numeric) <= 1e-6 * (1 + abs(numeric)), (analytic, numeric)


def _as_tuple(value):
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


# -- masks ----------------------------------------------------------------------------------------
LENGTHS = [4, 2, 3]
MASK_OPTIONS = [
    {"return_state": True},
    {"return_sequences": True},
    {"go_backwards": True, "return_state": True},
]


def _mask(padding):
    steps = np.arange(max(LENGTHS))
    if padding == "right":
        return np.stack([steps < n for n in LENGTHS])
    return np.stack([steps >= max(LENGTHS) - n for n in LENGTHS])


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
@pytest.mark.parametrize("padding", ["right", "left"])
@pytest.mark.parametrize("options", MASK_OPTIONS, ids=["last", "sequences", "backwards"])
def test_padded_batch_equals_each_sequence_alone(options, padding, compiled):
    """A masked step keeps the states and repeats the output, so each padded row gives
    what its unpadded sequence gives alone. (Keras 3.15.1's ConvLSTM layers raise on
    any mask, on the NumPy and JAX backends alike: its loop broadcasts a (batch, 1)
    mask against (batch, *spatial, filters) outputs; there is nothing to compare with.)"""
    rng = np.random.default_rng(4)
    x = rng.uniform(-1, 1, (len(LENGTHS), max(LENGTHS), 2, 5, 3)).astype("float32")
    mask = _mask(padding)
    layer = layers.ConvLSTM2D(2, 2, padding="same", data_format="channels_first", **options)
    layer(ops.convert_to_tensor(x))
    random_weights(layer, rng)

    def run(sequences, m=None):
        return layer(sequences, mask=m)

    call = nerve.function(run) if compiled else run
    batch = tree.flatten(
        list(_as_tuple(call(ops.convert_to_tensor(x), ops.convert_to_tensor(mask))))
    )[0]
    for index, kept in enumerate(mask):
        alone = tree.flatten(
            list(_as_tuple(run(ops.convert_to_tensor(x[index : index + 1, kept]))))
        )[0]
        for ours, theirs in zip(batch, alone):
            ours = ours.numpy()[index : index + 1]
            if options.get("return_sequences"):
                ours = ours[:, kept]
            np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-5, atol=1e-6)


def test_traced_layer_is_one_scan_after_one_input_convolution():
    """The input convolution of every time step is one product before the loop (time
    folded into the batch: 4 steps x 2 sequences x 4 positions rows); the loop is one scan."""
    x = ops.convert_to_tensor(np.ones((2, 4, 6, 2), "float32"))
    layer = layers.ConvLSTM1D(3, 3, return_sequences=True)
    layer(x)
    graph = nerve.function(lambda a: layer(a)).graph_for(x)
    names = [node.prim.name for node in graph.nodes]
    assert names.count("scan") == 1
    matmuls = [tuple(n.outputs[0].aval.shape) for n in graph.nodes if n.prim.name == "matmul"]
    assert matmuls == [(4 * 2 * 4, 4 * 3)]


# -- state ----------------------------------------------------------------------------------------
def test_stateful_halves_equal_the_whole_sequence():
    x = np.random.default_rng(5).uniform(-1, 1, (2, 6, 5, 2)).astype("float32")
    whole = layers.ConvLSTM1D(3, 3, padding="same", return_state=True)
    whole(ops.convert_to_tensor(x))
    random_weights(whole, np.random.default_rng(6))
    halves = layers.ConvLSTM1D(3, 3, padding="same", stateful=True)
    halves(ops.convert_to_tensor(x[:, :3]))
    halves.set_weights(whole.get_weights())
    halves.reset_states()
    halves(ops.convert_to_tensor(x[:, :3]))
    second = halves(ops.convert_to_tensor(x[:, 3:]))
    output, h, c = whole(ops.convert_to_tensor(x))
    np.testing.assert_allclose(second.numpy(), output.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(halves.states[1].numpy(), c.numpy(), rtol=1e-5, atol=1e-6)


def test_initial_state_continues_a_sequence():
    """The final (h, c) of the first half, passed as initial_state, continue it."""
    x = np.random.default_rng(7).uniform(-1, 1, (2, 4, 2, 6, 5)).astype("float32")
    layer = layers.ConvLSTM2D(2, 3, data_format="channels_first", return_state=True)
    layer(ops.convert_to_tensor(x))
    random_weights(layer, np.random.default_rng(8))
    _, h, c = layer(ops.convert_to_tensor(x[:, :2]))
    continued = layer(ops.convert_to_tensor(x[:, 2:]), initial_state=[h, c])
    for a, b in zip(continued, layer(ops.convert_to_tensor(x))):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)


def test_dropout_only_while_training():
    x = ops.convert_to_tensor(np.random.default_rng(9).uniform(-1, 1, (2, 3, 6, 2)))
    layer = layers.ConvLSTM1D(2, 3, dropout=0.5, recurrent_dropout=0.5, seed=1)
    plain = layers.ConvLSTM1D(2, 3)
    layer(x)
    plain(x)
    plain.set_weights(layer.get_weights())
    np.testing.assert_allclose(layer(x).numpy(), plain(x).numpy(), rtol=1e-6)
    trained = layer(x, training=True)
    assert trained.shape == plain(x).shape
    assert not np.allclose(trained.numpy(), plain(x).numpy())
    with nerve.GradientTape() as tape:
        loss = ops.sum(layer(x, training=True))
    assert all(g is not None for g in tape.gradient(loss, layer.trainable_weights))


# -- files Keras writes ---------------------------------------------------------------------------
@pytest.mark.filterwarnings(  # Keras converts its own Variables with copy=False
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)
def test_keras_files_load_into_nerve(tmp_path):
    """Keras writes a .weights.h5 and a .keras file of ConvLSTM layers; nerve reads both
    and computes the same, and Keras reads the weights file nerve writes."""
    keras = pytest.importorskip("keras")
    x = np.random.default_rng(10).uniform(-1, 1, (2, 3, 6, 5, 2)).astype("float32")

    def stack(module):
        return [
            module.Input((3, 6, 5, 2)),
            module.layers.ConvLSTM2D(3, 3, padding="same", return_sequences=True),
            module.layers.TimeDistributed(module.layers.Reshape((30, 3))),
            module.layers.ConvLSTM1D(2, 3, strides=2, go_backwards=True),
        ]

    theirs = keras.Sequential(stack(keras))
    rng = np.random.default_rng(12)
    for weight in theirs.weights:
        weight.assign(rng.standard_normal(weight.shape).astype("float32") * 0.3)
    expected = theirs.predict(x, verbose=0)
    theirs.save_weights(tmp_path / "theirs.weights.h5")
    theirs.save(tmp_path / "theirs.keras")

    ours = nerve.Sequential(stack(nerve))
    ours.load_weights(str(tmp_path / "theirs.weights.h5"))
    np.testing.assert_allclose(ours.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)
    loaded = saving.load_model(str(tmp_path / "theirs.keras"))
    np.testing.assert_allclose(loaded.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)

    ours.save_weights(str(tmp_path / "ours.weights.h5"))
    again = keras.Sequential(stack(keras))
    again.load_weights(tmp_path / "ours.weights.h5")
    np.testing.assert_allclose(again.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)


# -- errors ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "make,shape,message",
    [
        (lambda: layers.ConvLSTM2D(2, 3), (2, 3, 5, 2), r"ConvLSTM2D.*rank 5.*\(2, 3, 5, 2\)"),
        (lambda: layers.ConvLSTM1D(2, 3), (2, 5, 2), r"ConvLSTM1D.*rank 4.*\(2, 5, 2\)"),
        (
            lambda: layers.ConvLSTM1D(2, 3, data_format="channels_first"),
            (2, 3, 4, 5, 6),
            r"ConvLSTM1D.*rank 4.*channels, \*spatial",
        ),
        (lambda: layers.ConvLSTM2D(2, 5), (2, 3, 4, 6, 1), r"ConvLSTM2D.*does not fit.*\(4, 6\)"),
    ],
)
def test_wrong_inputs_are_clear_errors(make, shape, message):
    with pytest.raises(ShapeError, match=message):
        make()(ops.zeros(shape))


def test_wrong_initial_state_is_a_clear_error():
    layer = layers.ConvLSTM1D(2, 3)
    with pytest.raises(ShapeError, match=r"ConvLSTM1D.*\(2, 4, 2\).*\(2, 4\)"):
        layer(ops.zeros((2, 3, 6, 1)), initial_state=[ops.zeros((2, 4))] * 2)


def test_features_may_not_change_between_calls():
    layer = layers.ConvLSTM1D(2, 3)
    layer(ops.zeros((2, 3, 6, 1)))
    with pytest.raises(ShapeError, match="ConvLSTM1D"):
        layer(ops.zeros((2, 3, 6, 2)))


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda: layers.ConvLSTM2D(2, 3, strides=2, dilation_rate=2), "ConvLSTM.*strides"),
        (lambda: layers.ConvLSTM1D(2, 3, padding="causal"), "ConvLSTM.*padding"),
        (lambda: layers.ConvLSTM2D(0, 3), "ConvLSTM.*filters"),
        (lambda: layers.ConvLSTM3D(2, (3, 3)), "ConvLSTM.*kernel_size"),
        (lambda: layers.ConvLSTM2D(2, 3, data_format="NHWC"), "ConvLSTM.*data_format"),
    ],
)
def test_bad_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make()
