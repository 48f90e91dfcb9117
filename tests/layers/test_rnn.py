"""Recurrent layers against PyTorch and Keras with the same weights (the layer table),
plus final states against PyTorch and Keras's configs.

Weight mapping to PyTorch (done here, in the test): Keras's ``kernel`` is
``weight_ih_l0`` transposed and ``recurrent_kernel`` is ``weight_hh_l0`` transposed.
LSTM gate blocks are i, f, c, o in both; GRU blocks are z, r, h in Keras and r, z, n in
PyTorch, whose formula is Keras's ``reset_after=True`` (bias row 0 -> ``bias_ih``, row 1
-> ``bias_hh``). ``reset_after=False`` has no PyTorch module: its reference is the
formula written out in PyTorch.
"""

import numpy as np
import pytest

from nerve import layers, ops
from nerve.testing.layer_harness import LayerCase, LazyKerasLayers, layer_tests

keras_layers = LazyKerasLayers()

UNITS = 4
SHAPE = (2, 5, 3)  # batch, timesteps, features


# -- PyTorch references -------------------------------------------------------------------
def _gru_order(block, units):
    """Keras's z, r, h column blocks in PyTorch's r, z, n order."""
    import torch

    return torch.cat(
        [block[..., units : 2 * units], block[..., :units], block[..., 2 * units :]], -1
    )


def torch_recurrence(kind, x, kernel, recurrent, bias=None, go_backwards=False, sequences=False):
    """``(output, final_states)`` of ``torch.nn.RNN``/``LSTM``/``GRU`` (or, for
    ``"gru_reset_before"``, the formula) with Keras-layout weights."""
    import torch

    units = recurrent.shape[0]
    if go_backwards:
        x = torch.flip(x, [1])
    if kind == "gru_reset_before":
        return _gru_reset_before(x, kernel, recurrent, bias, sequences)
    zeros = torch.zeros(kernel.shape[1], dtype=x.dtype)
    if kind == "gru":
        weights = (_gru_order(kernel, units), _gru_order(recurrent, units))
        biases = (
            (zeros, zeros)
            if bias is None
            else (_gru_order(bias[0], units), _gru_order(bias[1], units))
        )
        module = torch.nn.GRU(kernel.shape[0], units, batch_first=True)
    else:
        weights = (kernel, recurrent)
        biases = (zeros if bias is None else bias, zeros)
        module = (torch.nn.LSTM if kind == "lstm" else torch.nn.RNN)(
            kernel.shape[0], units, batch_first=True
        )
    params = {
        "weight_ih_l0": weights[0].T,
        "weight_hh_l0": weights[1].T,
        "bias_ih_l0": biases[0],
        "bias_hh_l0": biases[1],
    }
    out, state = torch.func.functional_call(module.to(x.dtype), params, (x,))
    states = [s[0] for s in state] if kind == "lstm" else [state[0]]
    return (out if sequences else out[:, -1]), states


def _gru_reset_before(x, kernel, recurrent, bias, sequences):
    import torch

    units = recurrent.shape[0]
    h = torch.zeros(x.shape[0], units, dtype=x.dtype)
    outputs = []
    for t in range(x.shape[1]):
        projected = x[:, t] @ kernel + (0 if bias is None else bias)
        x_z, x_r, x_h = projected.split(units, -1)
        r_z, r_r = (h @ recurrent[:, : 2 * units]).split(units, -1)
        z, r = torch.sigmoid(x_z + r_z), torch.sigmoid(x_r + r_r)
        h = z * h + (1 - z) * torch.tanh(x_h + (r * h) @ recurrent[:, 2 * units :])
        outputs.append(h)
    return (torch.stack(outputs, 1) if sequences else h), [h]


def single(kind, go_backwards=False, sequences=False, bias=True):
    """A LayerCase ``torch`` function for a one-cell layer."""

    def reference(xs, ws):
        b = ws[2] if bias else None
        return torch_recurrence(kind, xs[0], ws[0], ws[1], b, go_backwards, sequences)[0]

    return reference


def bidirectional(kind, merge, sequences=True):
    def reference(xs, ws):
        import torch

        forward = single(kind, sequences=sequences)(xs, ws[:3])
        backward = single(kind, go_backwards=True, sequences=sequences)(xs, ws[3:])
        if sequences:
            backward = torch.flip(backward, [1])
        merged = {
            "concat": lambda: torch.cat([forward, backward], -1),
            "sum": lambda: forward + backward,
            "mul": lambda: forward * backward,
            "ave": lambda: (forward + backward) / 2,
        }
        return merged[merge]()

    return reference


def stacked(xs, ws):
    first = single("lstm", sequences=True)(xs, ws[:3])
    return single("gru", sequences=True)([first], ws[3:])


# -- the table -------------------------------------------------------------------------------
def row(name, make, torch, keras, **options):
    return LayerCase(
        name, make, options.pop("input_shape", SHAPE), torch=torch, keras=keras, **options
    )


def rnn_row(name, kind, layer_name, go_backwards=False, sequences=False, **arguments):
    """A row for SimpleRNN / LSTM / GRU with the same arguments in nerve and Keras."""
    arguments = {"return_sequences": sequences, "go_backwards": go_backwards, **arguments}
    reference_kind = "gru_reset_before" if arguments.get("reset_after") is False else kind
    return row(
        name,
        lambda **kw: getattr(layers, layer_name)(UNITS, **arguments, **kw),
        single(reference_kind, go_backwards, sequences, arguments.get("use_bias", True)),
        lambda **kw: getattr(keras_layers, layer_name)(UNITS, **arguments, **kw),
    )


def bidirectional_row(merge, kind="lstm", layer_name="LSTM"):
    return row(
        f"bidirectional_{kind}_{merge}",
        lambda **kw: layers.Bidirectional(
            getattr(layers, layer_name)(UNITS, return_sequences=True, **kw), merge_mode=merge, **kw
        ),
        bidirectional(kind, merge),
        lambda **kw: keras_layers.Bidirectional(
            getattr(keras_layers, layer_name)(UNITS, return_sequences=True, **kw),
            merge_mode=merge,
            **kw,
        ),
    )


CASES = [
    rnn_row("simple_rnn_sequences", "rnn", "SimpleRNN", sequences=True),
    rnn_row("simple_rnn_backwards", "rnn", "SimpleRNN", go_backwards=True),
    rnn_row("lstm_last", "lstm", "LSTM"),
    rnn_row("lstm_sequences", "lstm", "LSTM", sequences=True),
    rnn_row("lstm_backwards_sequences", "lstm", "LSTM", go_backwards=True, sequences=True),
    rnn_row("lstm_no_bias_unrolled", "lstm", "LSTM", sequences=True, use_bias=False, unroll=True),
    rnn_row("lstm_no_forget_bias", "lstm", "LSTM", unit_forget_bias=False),
    rnn_row("gru_sequences", "gru", "GRU", sequences=True),
    rnn_row("gru_backwards", "gru", "GRU", go_backwards=True),
    rnn_row("gru_reset_before_sequences", "gru", "GRU", sequences=True, reset_after=False),
    rnn_row("gru_reset_before_backwards", "gru", "GRU", go_backwards=True, reset_after=False),
    *(bidirectional_row(merge) for merge in ("concat", "sum", "mul", "ave")),
    bidirectional_row("concat", "gru", "GRU"),
    row(
        "rnn_stacked_cells",
        lambda **kw: layers.RNN(
            [layers.LSTMCell(UNITS, **kw), layers.GRUCell(UNITS, **kw)], return_sequences=True, **kw
        ),
        stacked,
        lambda **kw: keras_layers.RNN(
            [keras_layers.LSTMCell(UNITS, **kw), keras_layers.GRUCell(UNITS, **kw)],
            return_sequences=True,
            **kw,
        ),
    ),
    row(
        "time_distributed_dense",
        lambda **kw: layers.TimeDistributed(layers.Dense(UNITS, **kw), **kw),
        lambda xs, ws: xs[0] @ ws[0] + ws[1],
        lambda **kw: keras_layers.TimeDistributed(keras_layers.Dense(UNITS, **kw), **kw),
    ),
]

globals().update(layer_tests(CASES))


def _comparable(value):
    """A config value without what differs by design: nested objects' ``module`` and
    ``registered_name`` (nerve's initializer configs carry neither) and tuples vs lists."""
    if isinstance(value, dict):
        return {
            k: _comparable(v) for k, v in value.items() if k not in ("module", "registered_name")
        }
    if isinstance(value, (list, tuple)):
        return [_comparable(v) for v in value]
    return value


@pytest.mark.parametrize(
    "case",
    [pytest.param(c, id=c.name) for c in CASES if c.name.startswith(("simple_rnn", "lstm", "gru"))],
)
def test_config_matches_keras(case):
    """The flat config of SimpleRNN/LSTM/GRU has Keras's keys and values."""
    pytest.importorskip("keras")
    ours, theirs = case.make().get_config(), case.keras().get_config()
    if case.name.startswith("simple_rnn"):
        # Keras's SimpleRNN drops its cell's seed from the config (LSTM and GRU keep it);
        # nerve keeps it, so a dropout seed survives saving.
        assert ours.pop("seed") is None
    assert sorted(ours) == sorted(theirs), f"{case.name}: config keys differ"
    for key in set(ours) - {"name", "dtype"}:
        assert _comparable(ours[key]) == _comparable(theirs[key]), f"{case.name}: {key}"


# -- final states against PyTorch --------------------------------------------------------------
STATE_CASES = [
    ("lstm", lambda: layers.LSTM(UNITS, return_state=True), False),
    ("lstm", lambda: layers.LSTM(UNITS, return_state=True, go_backwards=True), True),
    ("gru", lambda: layers.GRU(UNITS, return_state=True), False),
    ("gru_reset_before", lambda: layers.GRU(UNITS, return_state=True, reset_after=False), False),
    ("rnn", lambda: layers.SimpleRNN(UNITS, return_state=True, go_backwards=True), True),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    "kind,make,go_backwards", STATE_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(STATE_CASES)]
)
def test_final_states_match_torch(kind, make, go_backwards, dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    x = rng.uniform(-2, 2, SHAPE).astype(dtype)
    layer = make()
    layer(ops.convert_to_tensor(x))
    for weight in layer.weights:
        weight.assign(rng.standard_normal(weight.shape).astype("float32") * 0.5)
    output, *states = layer(ops.convert_to_tensor(x))
    ws = [torch.from_numpy(w.numpy().astype(dtype)) for w in layer.weights]
    expected_output, expected_states = torch_recurrence(
        kind, torch.from_numpy(x), ws[0], ws[1], ws[2], go_backwards
    )
    tolerance = {"float32": 2e-5, "float64": 1e-6}[dtype]  # float32 weights either way
    np.testing.assert_allclose(output.numpy(), expected_output.detach().numpy(), atol=tolerance)
    assert len(states) == len(expected_states)
    for ours, theirs in zip(states, expected_states):
        np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), atol=tolerance)
