"""Attention layers: Attention and AdditiveAttention as ``LayerCase`` rows (PyTorch and
Keras with the same weights); MultiHeadAttention against ``torch.nn.functional.
multi_head_attention_forward`` (Keras's kernels mapped to PyTorch's in/out projections)
and, with GroupedQueryAttention and EinsumDense, against Keras's own layers; gradients,
round trips, errors, and weights files written by Keras."""

import dataclasses
import zlib

import numpy as np
import pytest

import nerve
from nerve import layers, ops
from nerve.core.errors import ShapeError
from nerve.testing.layer_harness import LayerCase, LazyKerasLayers, layer_tests
from nerve.testing.op_harness import T
from tests.layers._keras_config import config_test

keras_layers = LazyKerasLayers()

# Keras's NumPy backend converts its own Variables with np.array(copy=False) when it saves
# weights, which NumPy 2 warns about; the warning is Keras's, not nerve's.
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)


def _rng(*key):
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


# -- Attention and AdditiveAttention: the LayerCase table ------------------------------------

Q, V = (2, 3, 4), (2, 5, 4)
QUERY_MASK = np.array([[True, True, False], [True, True, True]])
VALUE_MASK = np.array([[True, False, True, True, False], [True, True, True, False, True]])
MASKS = {"mask": [QUERY_MASK, VALUE_MASK]}


def torch_attention_layer(additive=False, concat=False, causal=False, masked=False):
    """Luong / Bahdanau attention written from the definition on PyTorch tensors; the
    weights come in the layer's order (scale, then concat_score_weight)."""

    def run(xs, ws):
        query, value = xs[0], xs[1]
        key = xs[2] if len(xs) > 2 else value
        pairs = query[..., :, None, :] + key[..., None, :, :]
        if additive:
            scores = (T.tanh(pairs) * (ws[0] if ws else 1.0)).sum(-1)
        elif concat:
            scale = ws[0] if len(ws) > 1 else 1.0
            scores = ws[-1] * T.tanh(scale * pairs).sum(-1)
        else:
            scores = query @ key.transpose(-1, -2) * (ws[0] if ws else 1.0)
        keep = T.ones(scores.shape[-2:], dtype=T.bool)
        if masked:
            keep = keep & T.from_numpy(VALUE_MASK)[:, None, :]
        if causal:
            keep = keep & T.ones(scores.shape[-2:], dtype=T.bool).tril()
        scores = T.where(keep, scores, scores - 1e9)
        out = T.softmax(scores, -1) @ value
        if masked:
            out = out * T.from_numpy(QUERY_MASK)[..., None]
        return out

    return run


def attention_row(name, make, keras, shapes=(Q, V), call=None, **torch_options):
    return LayerCase(
        name,
        make,
        list(shapes),
        torch=torch_attention_layer(**torch_options),
        keras=keras,
        call_kwargs=call or {},
    )


LAYER_CASES = [
    attention_row("attention_dot", layers.Attention, keras_layers.Attention),
    attention_row(
        "attention_scaled_with_key",
        lambda **kw: layers.Attention(use_scale=True, **kw),
        lambda **kw: keras_layers.Attention(use_scale=True, **kw),
        shapes=(Q, (2, 5, 6), V),
    ),
    attention_row(
        "attention_concat",
        lambda **kw: layers.Attention(use_scale=True, score_mode="concat", **kw),
        lambda **kw: keras_layers.Attention(use_scale=True, score_mode="concat", **kw),
        concat=True,
    ),
    attention_row(
        "attention_masked_causal",
        lambda **kw: layers.Attention(use_scale=True, **kw),
        lambda **kw: keras_layers.Attention(use_scale=True, **kw),
        call={**MASKS, "use_causal_mask": True},
        masked=True,
        causal=True,
    ),
    attention_row(
        "additive_attention",
        layers.AdditiveAttention,
        keras_layers.AdditiveAttention,
        additive=True,
    ),
    attention_row(
        "additive_attention_unscaled_masked",
        lambda **kw: layers.AdditiveAttention(use_scale=False, **kw),
        lambda **kw: keras_layers.AdditiveAttention(use_scale=False, **kw),
        call=MASKS,
        additive=True,
        masked=True,
    ),
]

globals().update(layer_tests(LAYER_CASES))
test_attention_config_matches_keras = config_test(LAYER_CASES)


# -- MultiHeadAttention and GroupedQueryAttention ---------------------------------------------


@dataclasses.dataclass
class Projected:
    """One projected-attention configuration: the layer's arguments (nerve's and Keras's
    class take the same), the input shapes (query, value[, key]) and call arguments."""

    name: str
    kind: str  # "MultiHeadAttention" or "GroupedQueryAttention"
    arguments: dict
    shapes: tuple
    call: dict = dataclasses.field(default_factory=dict)

    def make(self, dtype="float32"):
        return getattr(layers, self.kind)(**self.arguments, dtype=dtype)

    def keras(self):
        name = {"GroupedQueryAttention": "GroupQueryAttention"}.get(self.kind, self.kind)
        return getattr(keras_layers, name)(**self.arguments)

    def inputs(self, dtype="float32"):
        rng = _rng(self.name, "inputs")
        return [rng.uniform(-2, 2, s).astype(dtype) for s in self.shapes]

    def built(self, dtype="float32"):
        """The nerve layer with random weights (biases too)."""
        layer = self.make(dtype)
        layer(*self.inputs(dtype))
        rng = _rng(self.name, "weights")
        layer.set_weights([rng.normal(0, 0.5, w.shape).astype(dtype) for w in layer.weights])
        return layer


def _attention_mask():
    mask = _rng("attention mask").random((2, 4, 6)) < 0.6
    mask[:, :, 0] = True  # every query sees a key (PyTorch gives NaN otherwise)
    return mask


def _gqa(query_heads, key_value_heads):
    return {"head_dim": 3, "num_query_heads": query_heads, "num_key_value_heads": key_value_heads}


MHA = "MultiHeadAttention"
GQA = "GroupedQueryAttention"
SEQ = ((2, 4, 8), (2, 6, 8))
SELF = ((2, 5, 8), (2, 5, 8))
TWO_BY_FOUR = {"num_heads": 2, "key_dim": 4}
MASK = {"attention_mask": _attention_mask()}
SCORES = {"return_attention_scores": True}
PROJECTED = [
    Projected("mha", MHA, TWO_BY_FOUR, SEQ),
    Projected("mha_scores", MHA, TWO_BY_FOUR, SEQ, SCORES),
    Projected("mha_mask", MHA, TWO_BY_FOUR, SEQ, MASK),
    Projected("mha_causal", MHA, TWO_BY_FOUR, SELF, {"use_causal_mask": True}),
    Projected(
        "mha_causal_mask_scores", MHA, TWO_BY_FOUR, SEQ,
        {"use_causal_mask": True, **MASK, **SCORES},
    ),
    Projected("mha_key", MHA, TWO_BY_FOUR, (*SEQ, (2, 6, 8))),
    Projected(
        "mha_shapes", MHA, {"num_heads": 3, "key_dim": 2, "value_dim": 5, "output_shape": 7,
                            "use_bias": False},
        ((2, 4, 6), (2, 3, 5), (2, 3, 4)),
    ),
    Projected("mha_axes_1_2", MHA, {"num_heads": 2, "key_dim": 3, "attention_axes": (1, 2)},
              ((2, 3, 2, 5), (2, 2, 4, 5))),
    Projected("mha_axes_2", MHA, {"num_heads": 2, "key_dim": 3, "attention_axes": 2},
              ((2, 3, 2, 5), (2, 3, 4, 5)), SCORES),
    Projected("mha_gate_window", MHA, {"num_heads": 2, "key_dim": 4, "use_gate": True,
                                       "sliding_window": 2}, SEQ),
    Projected("gqa", GQA, _gqa(4, 2), SEQ),
    Projected("gqa_causal", GQA, _gqa(4, 1), SELF, {"use_causal_mask": True}),
    Projected("gqa_mask_scores", GQA, _gqa(2, 2), SEQ, {**MASK, **SCORES}),
]  # fmt: skip


def _as_list(out):
    return list(out) if isinstance(out, tuple) else [out]


@pytest.mark.parametrize("case", PROJECTED, ids=lambda c: c.name)
def test_projected_attention_same_as_keras(case):
    keras = pytest.importorskip("keras")
    ours = case.built()
    theirs = case.keras()
    inputs = case.inputs()
    theirs(*inputs)
    assert [tuple(w.shape) for w in theirs.weights] == [w.shape for w in ours.weights]
    assert [w.path.split("/")[-2] for w in ours.weights] == [
        w.path.split("/")[-2] for w in theirs.weights
    ], "sublayer names differ"
    theirs.set_weights(ours.get_weights())
    expected = _as_list(theirs(*inputs, **case.call))
    got = _as_list(ours(*inputs, **case.call))
    assert len(got) == len(expected)
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a.numpy(), keras.ops.convert_to_numpy(b), 2e-5, 2e-6)


@pytest.mark.parametrize("case", PROJECTED, ids=lambda c: c.name)
def test_projected_attention_round_trips(case, tmp_path):
    layer = case.built()
    inputs = case.inputs()
    expected = _as_list(layer(*inputs, **case.call))
    clone = type(layer).from_config(layer.get_config())
    clone(*inputs)
    clone.set_weights(layer.get_weights())
    compiled = nerve.function(lambda *xs: layer(*xs, **case.call))
    for again in (clone(*inputs, **case.call), compiled(*inputs)):
        for a, b in zip(_as_list(again), expected, strict=True):
            np.testing.assert_allclose(a.numpy(), b.numpy(), 1e-6, 1e-6)
    shapes = [s for s in case.shapes]
    assert layer.compute_output_shape(*shapes) == expected[0].shape
    if not case.call:
        tensors = [nerve.Input(shape=s[1:]) for s in case.shapes]
        model = nerve.Model(tensors, layer(*tensors))
        assert model.outputs[0].shape == (None, *expected[0].shape[1:])
        model.save(tmp_path / "m.keras")
        restored = nerve.saving.load_model(tmp_path / "m.keras")
        np.testing.assert_allclose(
            restored.predict(inputs, verbose=0), expected[0].numpy(), 1e-5, 1e-6
        )


@pytest.mark.parametrize("kind", [MHA, GQA])
def test_projected_attention_config_matches_keras(kind):
    pytest.importorskip("keras")
    case = next(c for c in PROJECTED if c.kind == kind)
    ours, theirs = case.make().get_config(), case.keras().get_config()
    assert sorted(ours) == sorted(theirs)
    for key in set(ours) - {"name", "dtype", "kernel_initializer", "bias_initializer"}:
        assert ours[key] == theirs[key] or list(ours[key] or []) == list(theirs[key] or []), key


# -- MultiHeadAttention against PyTorch ------------------------------------------------------


def torch_mha(layer, xs, ws, call):
    """``multi_head_attention_forward`` with Keras's kernels mapped: (dim, heads, key_dim)
    kernels flattened to (heads * key_dim, dim) rows of ``in_proj_weight``, and the
    (heads, key_dim, dim) output kernel to ``out_proj``'s (dim, heads * key_dim)."""
    F = T.nn.functional
    query, value = xs[0], xs[1]
    key = xs[2] if len(xs) > 2 else value
    qk, qb, kk, kb, vk, vb, ok, ob = ws
    dim = query.shape[-1]
    in_weight = T.cat([w.reshape(dim, -1).T for w in (qk, kk, vk)])
    in_bias = T.cat([b.reshape(-1) for b in (qb, kb, vb)])
    keep = T.ones(query.shape[1], value.shape[1], dtype=T.bool)
    if call.get("attention_mask") is not None:
        keep = keep & T.from_numpy(call["attention_mask"])
    if call.get("use_causal_mask"):
        keep = keep & keep.new_ones(keep.shape[-2:]).tril()
    blocked = (~keep).expand(query.shape[0], -1, -1).repeat_interleave(layer.num_heads, 0)
    out, scores = F.multi_head_attention_forward(
        query.transpose(0, 1), key.transpose(0, 1), value.transpose(0, 1), dim,
        layer.num_heads, in_weight, in_bias, None, None, False, 0.0,
        ok.reshape(-1, dim).T, ob, training=False, attn_mask=blocked,
        need_weights=True, average_attn_weights=False,
    )  # fmt: skip
    out = out.transpose(0, 1)
    return [out, scores] if call.get("return_attention_scores") else [out]


TORCH_CASES = [c for c in PROJECTED if c.name in ("mha", "mha_key", "mha_causal_mask_scores")]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", TORCH_CASES, ids=lambda c: c.name)
def test_multi_head_attention_against_torch(case, dtype):
    pytest.importorskip("torch")
    layer = case.built(dtype)
    inputs = case.inputs(dtype)
    torch_inputs = [T.from_numpy(x).requires_grad_(True) for x in inputs]
    torch_weights = [T.from_numpy(np.array(w.numpy())).requires_grad_(True) for w in layer.weights]
    expected = torch_mha(layer, torch_inputs, torch_weights, case.call)
    tensors = [ops.convert_to_tensor(x) for x in inputs]
    with nerve.GradientTape() as tape:
        tape.watch(tensors)
        got = _as_list(layer(*tensors, **case.call))
        cotangents = [
            _rng(case.name, i).standard_normal(g.shape).astype(dtype) for i, g in enumerate(got)
        ]
        total = sum(ops.sum(g * c) for g, c in zip(got, cotangents))
    grads = tape.gradient(total, [*tensors, *layer.trainable_weights])
    torch_total = sum((e * T.from_numpy(c)).sum() for e, c in zip(expected, cotangents))
    torch_grads = T.autograd.grad(torch_total, [*torch_inputs, *torch_weights])
    rtol, atol = (1e-10, 1e-12) if dtype == "float64" else (2e-4, 2e-5)
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol, atol)
    names = [f"input {i}" for i in range(len(inputs))] + [w.path for w in layer.weights]
    for name, a, b in zip(names, grads, torch_grads, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol, atol, err_msg=name)


# -- gradients by finite differences (grouped heads, other attention axes, masks) --------------


FD_CASES = [c for c in PROJECTED if c.name in ("gqa_mask_scores", "gqa_causal", "mha_axes_1_2",
                                               "mha_gate_window", "mha_shapes")]  # fmt: skip


@pytest.mark.parametrize("case", FD_CASES, ids=lambda c: c.name)
def test_projected_attention_gradients_by_finite_differences(case):
    layer = case.built("float64")
    inputs = [ops.convert_to_tensor(x) for x in case.inputs("float64")]
    rng = _rng(case.name, "directions")
    cotangents = [rng.standard_normal(o.shape) for o in _as_list(layer(*inputs, **case.call))]
    variables = [*inputs, *layer.trainable_weights]
    directions = [rng.standard_normal(v.shape) for v in variables]

    def objective():
        return sum(
            float(ops.sum(o * c)) for o, c in zip(_as_list(layer(*inputs, **case.call)), cotangents)
        )

    with nerve.GradientTape() as tape:
        tape.watch(inputs)
        outs = _as_list(layer(*inputs, **case.call))
        total = sum(ops.sum(o * c) for o, c in zip(outs, cotangents))
    grads = tape.gradient(total, variables)
    analytic = sum(float(np.sum(g.numpy() * d)) for g, d in zip(grads, directions))
    originals = [v.numpy().copy() for v in variables]

    def moved(step):
        for i, (v, x, d) in enumerate(zip(variables, originals, directions)):
            if i < len(inputs):
                inputs[i] = ops.convert_to_tensor(x + step * d)
            else:
                v.assign(x + step * d)
        return objective()

    h = 1e-6
    numeric = (moved(h) - moved(-h)) / (2 * h)
    moved(0.0)
    assert abs(analytic - numeric) <= 1e-6 * (1 + abs(numeric)), (analytic, numeric)


# -- behaviour: dropout, masks, EinsumDense ---------------------------------------------------


def test_dropout_only_while_training():
    layer = layers.MultiHeadAttention(2, 4, dropout=0.5, seed=1)
    x = np.ones((2, 4, 8), "float32") * np.arange(4.0, dtype="float32")[:, None]
    reference = layers.MultiHeadAttention(2, 4)
    reference(x, x)
    layer(x, x)
    layer.set_weights(reference.get_weights())
    np.testing.assert_allclose(layer(x, x).numpy(), reference(x, x).numpy(), 1e-6)
    assert not np.allclose(layer(x, x, training=True).numpy(), reference(x, x).numpy())


def test_padding_masks_equal_attention_over_the_unpadded_sequences():
    """value_mask on a padded batch gives each query what the unpadded value gives."""
    case = PROJECTED[0]
    layer = case.built()
    query, value = case.inputs()
    value_mask = np.array([[True] * 4 + [False] * 2, [True] * 6])
    padded = layer(query, value, value_mask=value_mask).numpy()
    alone = layer(query[:1], value[:1, :4]).numpy()
    np.testing.assert_allclose(padded[:1], alone, 1e-5, 1e-6)


def test_query_and_key_masks_match_keras():
    keras = pytest.importorskip("keras")
    case = PROJECTED[5]  # with a key
    ours, theirs = case.built(), case.keras()
    inputs = case.inputs()
    theirs(*inputs)
    theirs.set_weights(ours.get_weights())
    masks = {
        "query_mask": np.array([[True, True, False, True], [True] * 4]),
        "value_mask": np.array([[True] * 5 + [False], [True] * 6]),
        "key_mask": np.array([[False] + [True] * 5, [True] * 6]),
    }
    expected = theirs(
        *inputs, **{k: v for k, v in masks.items() if k != "query_mask"}, query_mask=None
    )
    got = ours(*inputs, value_mask=masks["value_mask"], key_mask=masks["key_mask"])
    np.testing.assert_allclose(got.numpy(), keras.ops.convert_to_numpy(expected), 2e-5, 2e-6)
    attention_mask = masks["query_mask"][:, :, None] & masks["value_mask"][:, None, :]
    both = ours(*inputs, query_mask=masks["query_mask"], value_mask=masks["value_mask"])
    explicit = ours(*inputs, attention_mask=attention_mask)
    np.testing.assert_allclose(both.numpy(), explicit.numpy(), 1e-6)


def test_output_mask_is_the_querys():
    mha = layers.MultiHeadAttention(2, 4)
    mask = ops.convert_to_tensor([[True, False, True]])
    assert mha.compute_mask(ops.ones((1, 3, 8)), mask) is mask
    attention = layers.Attention()
    assert attention.compute_mask(None, [mask, None]).numpy().tolist() == [[True, False, True]]
    assert attention.compute_mask(None, None) is None


EINSUM_CASES = [
    ("ab,bc->ac", 4, "c", (3, 5)),
    ("abc,cde->abde", (None, 2, 4), "de", (3, 5, 6)),
    ("...b,bc->...c", 4, "c", (3, 2, 5, 6)),
    ("abc...,cd->abd...", (5, 4), "bd", (3, 5, 6, 2)),
    ("abcd,cde->abe", (None, 7), None, (2, 4, 3, 5)),
]


@pytest.mark.parametrize("equation, output_shape, bias_axes, input_shape", EINSUM_CASES)
def test_einsum_dense_same_as_keras(equation, output_shape, bias_axes, input_shape):
    keras = pytest.importorskip("keras")
    kwargs = {"equation": equation, "output_shape": output_shape, "bias_axes": bias_axes}
    ours, theirs = layers.EinsumDense(**kwargs), keras_layers.EinsumDense(**kwargs)
    x = _rng(equation).standard_normal(input_shape).astype("float32")
    ours(x)
    theirs(x)
    assert [w.shape for w in ours.weights] == [tuple(w.shape) for w in theirs.weights]
    ours.set_weights(
        [_rng(equation, w.name).standard_normal(w.shape).astype("float32") for w in ours.weights]
    )
    theirs.set_weights(ours.get_weights())
    np.testing.assert_allclose(ours(x).numpy(), keras.ops.convert_to_numpy(theirs(x)), 1e-5, 1e-5)
    assert ours.compute_output_shape(input_shape) == ours(x).shape
    assert sorted(ours.get_config()) == sorted(theirs.get_config())
    clone = layers.EinsumDense.from_config(ours.get_config())
    clone(x)
    clone.set_weights(ours.get_weights())
    np.testing.assert_allclose(clone(x).numpy(), ours(x).numpy())


def test_einsum_dense_fans_follow_the_equation():
    """Glorot over (8, 2, 4) kernel: fan-in 8, fan-out 8 (not a convolution's fans)."""
    layer = layers.EinsumDense("abc,cde->abde", (None, 2, 4), kernel_initializer="glorot_uniform")
    layer(ops.ones((1, 1, 8)))
    assert np.abs(layer.kernel.numpy()).max() <= np.sqrt(6 / 16) + 1e-6
    assert np.abs(layer.kernel.numpy()).max() > np.sqrt(6 / 40)  # conv fans would bound it here


# -- errors ------------------------------------------------------------------------------------


def _call(layer, *shapes, **kwargs):
    return lambda: layer(*[np.ones(s, "float32") for s in shapes], **kwargs)


def _built_mha():
    layer = layers.MultiHeadAttention(2, 4, name="mha_errors")
    layer(np.ones((2, 4, 8), "float32"), np.ones((2, 6, 8), "float32"))
    return layer


ERRORS = [
    (lambda: _call(layers.MultiHeadAttention(2, 4, name="m"), (2, 8), (2, 8)), ShapeError,
     r"MultiHeadAttention 'm' expects query, value and key of one rank, at least 3.*\(2, 8\)"),
    (lambda: _call(layers.MultiHeadAttention(2, 4, name="m"), (2, 4, 8), (2, 5, 8), (2, 6, 8)),
     ShapeError, r"'m': value and key must agree .*\(2, 5, 8\).*\(2, 6, 8\)"),
    (lambda: _call(_built_mha(), (2, 4, 6), (2, 6, 8)), ShapeError,
     r"MultiHeadAttention 'mha_errors' was built for other inputs: got query of shape "
     r"\(2, 4, 6\) \(expected rank 3 and 8 features\)"),
    (lambda: _call(_built_mha(), (2, 4, 8), (2, 6, 3)), ShapeError, r"value of shape \(2, 6, 3\)"),
    (lambda: _call(layers.MultiHeadAttention(2, 4, name="m"), (2, 4, 8)), TypeError,
     r"'m' needs a query and a value"),
    (lambda: _call(layers.GroupedQueryAttention(2, 4, 2, name="g"), (2, 3, 4, 8), (2, 3, 4, 8)),
     ValueError, r"GroupedQueryAttention 'g' expects 3-D inputs"),
    (lambda: _call(layers.Attention(name="a"), (2, 3, 4)), ValueError,
     r"Attention 'a' must be called on a list \[query, value\]"),
    (lambda: lambda: layers.Attention(name="a")([np.ones((2, 3, 4)), np.ones((2, 5, 3))]),
     ShapeError, r"Attention 'a' scores a query against keys of the same feature size.*"
     r"query \(2, 3, 4\), value \(2, 5, 3\)"),
    (lambda: lambda: layers.AdditiveAttention(name="a")([np.ones((3, 4)), np.ones((5, 4))]),
     ShapeError, r"AdditiveAttention 'a' expects .* at least 3"),
    (lambda: lambda: layers.GroupedQueryAttention(2, 4, 3), ValueError,
     r"num_query_heads \(4\) must be a multiple of num_key_value_heads \(3\)"),
    (lambda: lambda: layers.MultiHeadAttention(0, 4), ValueError, r"num_heads must be a positive"),
    (lambda: lambda: layers.Attention(score_mode="add"), ValueError, r"score_mode must be"),
    (lambda: lambda: layers.MultiHeadAttention(2, 4, dropout=0.1, flash_attention=True),
     ValueError, r"flash_attention=True cannot drop"),
    (lambda: lambda: layers.EinsumDense("ab,bc", 3), ValueError, r"not of a supported form"),
    (lambda: _call(layers.EinsumDense("abc,cd->abd", 3, name="e"), (2, 3)), ShapeError,
     r"EinsumDense 'e'.*names 3 input axes, but the input has shape \(2, 3\)"),
]  # fmt: skip


@pytest.mark.parametrize("make, error, match", ERRORS)
def test_errors_name_the_layer_and_the_shapes(make, error, match):
    with pytest.raises(error, match=match):
        make()()


# -- weights files written by Keras ------------------------------------------------------------


def _transformer_block(lib, inputs_fn):
    inputs = inputs_fn(shape=(5, 8))
    x = lib.layers.MultiHeadAttention(2, 4)(inputs, inputs)
    x = lib.layers.Dense(8)(x)
    name = "GroupQueryAttention" if lib is not nerve else "GroupedQueryAttention"
    x = getattr(lib.layers, name)(head_dim=3, num_query_heads=4, num_key_value_heads=2)(x, inputs)
    return lib.Model(inputs, x)


def test_nerve_reads_keras_attention_weights_and_keras_reads_nerve(tmp_path):
    keras = pytest.importorskip("keras")
    theirs = _transformer_block(keras, keras.Input)
    rng = _rng("weights file")
    theirs.set_weights(
        [rng.normal(0, 0.4, tuple(w.shape)).astype("float32") for w in theirs.weights]
    )
    x = rng.standard_normal((3, 5, 8)).astype("float32")
    expected = keras.ops.convert_to_numpy(theirs.predict(x, verbose=0))
    theirs.save_weights(tmp_path / "k.weights.h5")
    ours = _transformer_block(nerve, nerve.Input)
    nerve.saving.load_weights(ours, tmp_path / "k.weights.h5")
    np.testing.assert_allclose(ours.predict(x, verbose=0), expected, 1e-4, 1e-5)
    nerve.saving.save_weights(ours, tmp_path / "n.weights.h5")
    again = _transformer_block(keras, keras.Input)
    again.load_weights(tmp_path / "n.weights.h5")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(again.predict(x, verbose=0)), expected, 1e-6
    )


@pytest.mark.parametrize("kind", ["MultiHeadAttention", "GroupQueryAttention"])
def test_implicit_masks_from_embedding_match_keras(kind, recwarn):
    """Embedding(mask_zero=True) masks reach the layer through the inputs alone; the
    output carries the query's mask, and nothing warns that a mask was dropped."""
    keras = pytest.importorskip("keras")
    ids = np.array([[1, 2, 3, 0, 0], [4, 5, 6, 7, 0]])
    arguments = {"num_heads": 2, "key_dim": 4} if kind == "MultiHeadAttention" else _gqa(2, 1)
    nerve_kind = {"GroupQueryAttention": "GroupedQueryAttention"}.get(kind, kind)
    built = []
    for lib, name in ((keras, kind), (nerve, nerve_kind)):
        embedding, attention = (
            lib.layers.Embedding(10, 8, mask_zero=True),
            getattr(lib.layers, name)(**arguments),
        )
        attention(embedding(ids), embedding(ids))
        built.append((embedding, attention))
    for ours, theirs in zip(built[1], built[0]):
        ours.set_weights([keras.ops.convert_to_numpy(w) for w in theirs.weights])
    outputs = []
    for embedding, attention in built:
        x = embedding(ids)
        outputs.append(attention(x, x))
    np.testing.assert_allclose(
        outputs[1].numpy(), keras.ops.convert_to_numpy(outputs[0]), 2e-5, 2e-6
    )
    np.testing.assert_array_equal(outputs[1]._keras_mask.numpy(), ids != 0)
    ours = [w for w in recwarn if "mask" in str(w.message) and "keras" not in w.filename]
    assert not ours  # (Keras's own GroupQueryAttention warns that its projections drop masks)
