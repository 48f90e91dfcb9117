"""Recurrent layers' semantics beyond one forward pass: masks (padded batches equal
per-sequence runs; the same as Keras), stateful layers across batches (as Keras, with
reset_states and the batch-size error), initial states, per-sequence dropout masks,
user-written cells, the compiled form (one scan node, a reverse scan for the
gradient), serialization, and the errors for bad inputs."""

import numpy as np
import pytest

import nerve
from nerve import layers, ops, saving
from nerve.core.errors import ShapeError
from nerve.tensor import Tensor
from nerve.testing.layer_harness import LazyKerasLayers, random_weights

keras_layers = LazyKerasLayers()
UNITS = 3
LENGTHS = [5, 2, 4]  # three sequences of these lengths, padded to 5
FEATURES = 2


def _data(seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, (len(LENGTHS), max(LENGTHS), FEATURES)).astype("float32")


def _mask(padding):
    steps = np.arange(max(LENGTHS))
    if padding == "right":
        return np.stack([steps < n for n in LENGTHS])
    return np.stack([steps >= max(LENGTHS) - n for n in LENGTHS])


def _built(make, x, seed=1):
    layer = make()
    layer(ops.convert_to_tensor(x))
    random_weights(layer, np.random.default_rng(seed))
    return layer


def _flat(outputs):
    items = outputs if isinstance(outputs, (tuple, list)) else (outputs,)
    return [np.asarray(o.numpy()) for o in nerve.core.tree.flatten(list(items))[0]]


# -- masks --------------------------------------------------------------------------------------
MASKED = {
    "lstm": lambda **kw: layers.LSTM(UNITS, **kw),
    "gru": lambda **kw: layers.GRU(UNITS, **kw),
    "gru_reset_before": lambda **kw: layers.GRU(UNITS, reset_after=False, **kw),
    "simple_rnn": lambda **kw: layers.SimpleRNN(UNITS, **kw),
    "stacked": lambda **kw: layers.RNN([layers.LSTMCell(UNITS), layers.GRUCell(2)], **kw),
}
KERAS_MASKED = {
    "lstm": lambda **kw: keras_layers.LSTM(UNITS, **kw),
    "gru": lambda **kw: keras_layers.GRU(UNITS, **kw),
    "gru_reset_before": lambda **kw: keras_layers.GRU(UNITS, reset_after=False, **kw),
    "simple_rnn": lambda **kw: keras_layers.SimpleRNN(UNITS, **kw),
    "stacked": lambda **kw: keras_layers.RNN(
        [keras_layers.LSTMCell(UNITS), keras_layers.GRUCell(2)], **kw
    ),
}
OPTIONS = [
    {"return_state": True},
    {"return_sequences": True},
    {"go_backwards": True, "return_state": True},
]


@pytest.mark.parametrize("padding", ["right", "left"])
@pytest.mark.parametrize("options", OPTIONS, ids=["last", "sequences", "backwards"])
@pytest.mark.parametrize("kind", sorted(MASKED))
def test_padded_batch_equals_each_sequence_alone(kind, options, padding):
    """A masked step changes nothing, so each padded row gives what its unpadded
    sequence gives alone (final output and states; the sequence output at kept steps)."""
    x, mask = _data(), _mask(padding)
    layer = _built(lambda: MASKED[kind](**options), x)
    batch = _flat(layer(ops.convert_to_tensor(x), mask=ops.convert_to_tensor(mask)))
    for row, kept in enumerate(mask):
        alone = _flat(layer(ops.convert_to_tensor(x[row : row + 1, kept])))
        for ours, theirs in zip(batch, alone):
            if options.get("return_sequences") and ours.ndim == 3:
                ours = ours[row : row + 1, kept]
            else:
                ours = ours[row : row + 1]
            np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("options", OPTIONS, ids=["last", "sequences", "backwards"])
@pytest.mark.parametrize("kind", sorted(MASKED))
def test_masked_outputs_match_keras(kind, options):
    """Masked steps (left padding, so some first steps are masked) give Keras's outputs,
    sequence outputs at masked steps included."""
    keras = pytest.importorskip("keras")
    x, mask = _data(), _mask("left")
    layer = _built(lambda: MASKED[kind](**options), x)
    theirs = KERAS_MASKED[kind](**options)
    theirs.build(x.shape)
    theirs.set_weights(layer.get_weights())
    expected = theirs(x, mask=mask)
    expected = [keras.ops.convert_to_numpy(e) for e in nerve.core.tree.flatten(expected)[0]]
    ours = _flat(layer(ops.convert_to_tensor(x), mask=ops.convert_to_tensor(mask)))
    assert len(ours) == len(expected)
    for a, b in zip(ours, expected):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("merge_mode", ["concat", None])
def test_bidirectional_masked_matches_keras(merge_mode):
    keras = pytest.importorskip("keras")
    x, mask = _data(), _mask("right")
    ours = _built(
        lambda: layers.Bidirectional(layers.GRU(UNITS, return_sequences=True), merge_mode), x
    )
    theirs = keras_layers.Bidirectional(
        keras_layers.GRU(UNITS, return_sequences=True), merge_mode=merge_mode
    )
    theirs.build(x.shape)
    theirs.set_weights(ours.get_weights())
    expected = nerve.core.tree.flatten(theirs(x, mask=mask))[0]
    got = _flat(ours(ops.convert_to_tensor(x), mask=ops.convert_to_tensor(mask)))
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a, keras.ops.convert_to_numpy(b), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "make,expected",
    [
        (lambda: layers.LSTM(UNITS, return_sequences=True), "mask"),
        (lambda: layers.LSTM(UNITS), None),
        (lambda: layers.GRU(UNITS, return_sequences=True, return_state=True), ["mask", None]),
    ],
    ids=["sequences", "last", "sequences_and_state"],
)
def test_compute_mask(make, expected):
    mask = ops.convert_to_tensor(_mask("right"))
    got = make().compute_mask(None, mask)
    as_names = (lambda m: None if m is None else "mask") if expected is not None else None
    if isinstance(expected, list):
        assert [as_names(m) for m in got] == expected
    elif expected == "mask":
        assert got is mask
    else:
        assert got is None


def test_implicit_mask_reaches_the_layer():
    if "_keras_mask" not in Tensor.__slots__:
        pytest.skip("tensors carry no implicit masks yet")
    x, mask = _data(), _mask("right")
    layer = _built(lambda: layers.LSTM(UNITS, return_sequences=True), x)
    tensor = ops.convert_to_tensor(x)
    tensor._keras_mask = ops.convert_to_tensor(mask)
    implicit = layer(tensor)
    explicit = layer(ops.convert_to_tensor(x), mask=ops.convert_to_tensor(mask))
    np.testing.assert_allclose(implicit.numpy(), explicit.numpy())
    np.testing.assert_array_equal(implicit._keras_mask.numpy(), mask)


# -- stateful layers -------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_stateful_across_batches_matches_keras(kind):
    keras = pytest.importorskip("keras")
    batches = [_data(seed) for seed in range(3)]
    ours = _built(lambda: getattr(layers, kind)(UNITS, stateful=True), batches[0])
    ours.reset_states()
    theirs = getattr(keras_layers, kind)(UNITS, stateful=True)
    theirs.build(batches[0].shape)
    theirs.set_weights(ours.get_weights())
    outputs = [ours(ops.convert_to_tensor(b)).numpy() for b in batches]
    expected = [keras.ops.convert_to_numpy(theirs(b)) for b in batches]
    np.testing.assert_allclose(outputs, expected, rtol=1e-5, atol=1e-6)
    assert not np.allclose(outputs[0], outputs[1])  # the state carried over

    # A stateful run equals one run over the concatenated sequence.
    whole = layers.LSTM(UNITS) if kind == "LSTM" else layers.GRU(UNITS)
    whole(ops.convert_to_tensor(batches[0]))
    whole.set_weights(ours.get_weights())
    joined = np.concatenate(batches, axis=1)
    np.testing.assert_allclose(
        whole(ops.convert_to_tensor(joined)).numpy(), outputs[-1], rtol=1e-5, atol=1e-6
    )

    ours.reset_states()
    theirs.reset_states()
    np.testing.assert_allclose(ours(ops.convert_to_tensor(batches[0])).numpy(), outputs[0])
    assert all(np.all(v.numpy() != 0) for v in ours.states)


def test_stateful_compiled_carries_state_between_calls():
    x = _data()
    layer = _built(lambda: layers.GRU(UNITS, stateful=True), x)
    layer.reset_states()
    eager = [layer(ops.convert_to_tensor(x)).numpy() for _ in range(2)]
    layer.reset_states()
    step = nerve.function(lambda a: layer(a))
    compiled = [step(ops.convert_to_tensor(x)).numpy() for _ in range(2)]
    np.testing.assert_allclose(compiled, eager, rtol=1e-5, atol=1e-6)


def test_stateful_batch_size_change_is_an_error():
    layer = layers.LSTM(UNITS, stateful=True, name="remember")
    layer(ops.zeros((3, 4, 2)))
    with pytest.raises(ValueError, match=r"'remember'.*Expected batch size: 3.*\(2, 4, 2\)"):
        layer(ops.zeros((2, 4, 2)))


# -- initial states, dropout, user cells ------------------------------------------------------
def test_initial_state_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    x = rng.uniform(-1, 1, (2, 4, 3))
    h0, c0 = rng.standard_normal((2, 2, UNITS))
    layer = _built(lambda: layers.LSTM(UNITS, return_state=True, dtype="float64"), x)
    out, h, c = layer(ops.convert_to_tensor(x), initial_state=[h0, c0])
    kernel, recurrent, bias = (torch.from_numpy(np.array(w.numpy())) for w in layer.weights)
    module = torch.nn.LSTM(3, UNITS, batch_first=True).double()
    params = {
        "weight_ih_l0": kernel.T,
        "weight_hh_l0": recurrent.T,
        "bias_ih_l0": bias,
        "bias_hh_l0": torch.zeros_like(bias),
    }
    initial = (torch.from_numpy(h0)[None], torch.from_numpy(c0)[None])
    expected, (th, tc) = torch.func.functional_call(module, params, (torch.from_numpy(x), initial))
    np.testing.assert_allclose(out.numpy(), expected[:, -1].detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(c.numpy(), tc[0].detach().numpy(), atol=1e-12)


def test_dropout_masks_are_per_sequence_and_seeded():
    """With a linear cell and a zero recurrent kernel, every step's output is
    ``(x_t * mask) @ kernel``: constant inputs give the same output at every step iff
    the same units are dropped at every step."""

    def make(seed):
        return layers.SimpleRNN(
            4, activation=None, dropout=0.5, recurrent_dropout=0.5, seed=seed,
            recurrent_initializer="zeros", return_sequences=True,
        )  # fmt: skip

    x = ops.ones((8, 6, 5))
    first, again, other = make(3), make(3), make(4)
    for layer in (first, again, other):
        layer(x)
        layer.set_weights(first.get_weights() if layer is not first else layer.get_weights())
    out = first(x, training=True).numpy()
    np.testing.assert_allclose(out, np.broadcast_to(out[:, :1], out.shape), rtol=1e-6)
    np.testing.assert_array_equal(again(x, training=True).numpy(), out)
    assert not np.allclose(other(x, training=True).numpy(), out)
    assert not np.allclose(first(x, training=True).numpy(), out)  # a new draw per call
    inference = first(x).numpy()
    np.testing.assert_allclose(inference, x.numpy() @ first.weights[0].numpy().reshape(1, 5, 4))
    step = nerve.function(lambda a: first(a, training=True))
    assert not np.allclose(step(x).numpy(), step(x).numpy())  # fresh masks, one trace


@pytest.mark.parametrize(
    "make",
    [
        lambda: layers.LSTM(UNITS, dropout=0.3, recurrent_dropout=0.3, seed=2),
        lambda: layers.GRU(UNITS, dropout=0.3, recurrent_dropout=0.3, seed=2, reset_after=False),
        lambda: layers.GRU(UNITS, dropout=0.3, seed=2),
        lambda: layers.RNN([layers.LSTMCell(UNITS, recurrent_dropout=0.5, seed=2)] * 1),
    ],
    ids=["lstm_per_gate", "gru_per_gate", "gru_input_only", "stacked"],
)
def test_dropout_in_training_only_with_gradients(make):
    """Per-gate masks (Keras's implementation=1, forced by recurrent_dropout) and one
    input mask both train: seeded, off at inference, gradients reach every weight."""
    x = ops.convert_to_tensor(_data())
    first, again = _built(make, _data()), _built(make, _data())
    inference = first(x).numpy()
    with nerve.GradientTape() as tape:
        out = first(x, training=True)
        loss = ops.sum(out**2)
    grads = tape.gradient(loss, first.trainable_weights)
    assert all(g is not None and np.all(np.isfinite(g.numpy())) for g in grads)
    assert not np.allclose(out.numpy(), inference)
    np.testing.assert_array_equal(again(x, training=True).numpy(), out.numpy())
    np.testing.assert_array_equal(first(x, training=False).numpy(), inference)


@saving.register_keras_serializable(package="RNNTest")
class CumulativeCell(layers.Layer):
    """A user-written cell: output = tanh(inputs @ kernel) + state (output != state
    size, to exercise RNN's separately carried output)."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = [units, 1]
        self.output_size = units

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), name="kernel")

    def call(self, inputs, states, training=None):
        total, count = states
        total = total + ops.tanh(ops.matmul(inputs, self.kernel))
        return total * 2.0, [total, count + 1.0]

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def test_user_written_cell_with_mask_and_round_trip(tmp_path):
    x, mask = _data(), _mask("right")
    layer = layers.RNN(CumulativeCell(UNITS), return_state=True)
    out, total, count = layer(ops.convert_to_tensor(x), mask=ops.convert_to_tensor(mask))
    kernel = layer.weights[0].numpy()
    expected = np.stack(
        [np.tanh(x[i, :n] @ kernel).sum(0) for i, n in enumerate(LENGTHS)]
    )  # fmt: skip
    np.testing.assert_allclose(total.numpy(), expected, rtol=1e-5)
    np.testing.assert_allclose(out.numpy(), 2 * expected, rtol=1e-5)
    np.testing.assert_array_equal(count.numpy()[:, 0], LENGTHS)

    model = nerve.Sequential([nerve.Input((5, FEATURES)), layers.RNN(CumulativeCell(UNITS))])
    path = str(tmp_path / "cell.keras")
    model.save(path)
    restored = saving.load_model(path)
    np.testing.assert_allclose(restored.predict(x, verbose=0), model.predict(x, verbose=0))


# -- compiled form --------------------------------------------------------------------------------
def test_traced_lstm_is_one_scan_and_its_gradient_one_reverse_scan():
    x = ops.convert_to_tensor(_data())
    layer = _built(lambda: layers.LSTM(UNITS, return_sequences=True), _data())

    def loss(a):
        with nerve.GradientTape() as tape:
            value = ops.sum(layer(a) ** 2)
        return value, tape.gradient(value, layer.trainable_weights)

    graph = nerve.function(loss).graph_for(x)
    scans = [node for node in graph.nodes if node.prim.name == "scan"]
    assert [node.params["reverse"] for node in scans] == [False, True]
    matmuls = [node for node in graph.nodes if node.prim.name == "matmul"]
    # Outside the loops: the input projection, the recurrent kernel's gradient summed
    # over all steps as one product (passes.sum_products_after_scans), and the kernel's.
    assert [tuple(node.outputs[0].aval.shape) for node in matmuls] == [
        (15, 12),
        (3, 12),
        (2, 12),
    ]
    forward = nerve.function(lambda a: layer(a))(x)
    np.testing.assert_allclose(forward.numpy(), layer(x).numpy(), rtol=1e-5, atol=1e-6)


def test_config_round_trip_of_wrappers():
    backward = layers.GRU(UNITS, go_backwards=True, reset_after=False, name="back")
    wrappers = [
        layers.Bidirectional(layers.LSTM(UNITS), merge_mode="mul", backward_layer=backward),
        layers.RNN(layers.StackedRNNCells([layers.SimpleRNNCell(2), layers.LSTMCell(3)])),
        layers.TimeDistributed(layers.Dense(3)),
    ]
    x = ops.convert_to_tensor(_data())
    for layer in wrappers:
        expected = layer(x).numpy()
        clone = type(layer).from_config(layer.get_config())
        clone(x)
        clone.set_weights(layer.get_weights())
        np.testing.assert_allclose(clone(x).numpy(), expected, rtol=1e-6)
    assert wrappers[0].backward_layer.name == "back"
    assert wrappers[0].forward_layer.name.startswith("forward_lstm")


# -- errors ----------------------------------------------------------------------------------
def _lstm_built_for_two_features():
    layer = layers.LSTM(UNITS, name="encoder")
    layer(ops.zeros((2, 4, 2)))
    return layer


BAD_INPUTS = [
    ("wrong_rank", lambda: layers.LSTM(UNITS, name="encoder"), lambda lay: lay(ops.zeros((2, 4))),
     r"'encoder' \(LSTM\).*\(batch, timesteps, features\).*shape \(2, 4\) \(rank 2\)"),
    ("features", _lstm_built_for_two_features, lambda lay: lay(ops.zeros((2, 4, 5))),
     r"'encoder' \(LSTM\) was built for .*\(batch, timesteps, 2\).*\(2, 4, 5\)"),
    ("mask_shape", _lstm_built_for_two_features,
     lambda lay: lay(ops.zeros((2, 4, 2)), mask=ops.ones((2, 3), dtype="bool")),
     r"'encoder' \(LSTM\) received a mask of shape \(2, 3\).*\(batch, timesteps\) = \(2, 4\)"),
    ("initial_state", _lstm_built_for_two_features,
     lambda lay: lay(ops.zeros((2, 4, 2)), initial_state=[ops.zeros((2, UNITS))]),
     r"'encoder' \(LSTM\) expected an initial_state of 2 tensor\(s\).*received 1"),
    ("cell_features", lambda: layers.GRUCell(UNITS, name="cell"),
     lambda cell: (cell(ops.zeros((2, 2)), [ops.zeros((2, UNITS))]),
                   cell(ops.zeros((2, 6)), [ops.zeros((2, UNITS))])),
     r"'cell' \(GRUCell\) was built for inputs with 2 features.*received .*\(2, 6\)"),
    ("time_distributed_mask", lambda: layers.TimeDistributed(layers.Dense(2), name="td"),
     lambda lay: lay(ops.zeros((2, 4, 3)), mask=ops.ones((2, 5), dtype="bool")),
     r"'td' \(TimeDistributed\) received a mask of shape \(2, 5\).*\(2, 4\)"),
]  # fmt: skip


@pytest.mark.parametrize(
    "make,call,message", [c[1:] for c in BAD_INPUTS], ids=[c[0] for c in BAD_INPUTS]
)
def test_bad_inputs_name_the_layer_and_the_shapes(make, call, message):
    with pytest.raises(ShapeError, match=message):
        call(make())


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda: layers.LSTM(0), "positive integer; received units=0"),
        (lambda: layers.Bidirectional(layers.LSTM(2), merge_mode="max"), "invalid merge_mode"),
        (lambda: layers.RNN(object()), "`call"),
        (lambda: layers.GRU(2, use_cudnn="yes"), "use_cudnn"),
        (
            lambda: layers.Bidirectional(
                layers.LSTM(2), backward_layer=layers.LSTM(2, go_backwards=True, stateful=True)
            ),
            "same 'stateful'",
        ),
    ],
    ids=["units", "merge_mode", "not_a_cell", "use_cudnn", "backward_mismatch"],
)
def test_bad_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.filterwarnings(  # Keras converts its own Variables with copy=False
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)
def test_keras_files_load_into_nerve(tmp_path):
    """Keras writes a .weights.h5 and a .keras file of recurrent layers (nested cells,
    Bidirectional's two halves, TimeDistributed); nerve reads both and computes the same,
    and Keras reads the weights file nerve writes."""
    keras = pytest.importorskip("keras")
    x = _data()

    def stack(module):
        return [
            module.Input((5, FEATURES)),
            module.layers.Bidirectional(module.layers.LSTM(UNITS, return_sequences=True)),
            module.layers.GRU(2, return_sequences=True, reset_after=False),
            module.layers.TimeDistributed(module.layers.Dense(2)),
            module.layers.SimpleRNN(2),
        ]

    theirs = keras.Sequential(stack(keras))
    rng = np.random.default_rng(5)
    for weight in theirs.weights:
        weight.assign(rng.standard_normal(weight.shape).astype("float32") * 0.5)
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
