"""``ops.dot_product_attention``: one row per configuration (multi-head, grouped and
multi-query heads, masks, bias, causal, the blockwise flash path); the harness checks
forward against NumPy, gradients against finite differences and PyTorch's
``scaled_dot_product_attention``, and eager against compiled. Then Keras's own op,
the two paths against each other, and the errors."""

import dataclasses

import numpy as np
import pytest

import nerve
from nerve import ops
from nerve.core.errors import ShapeError
from nerve.ops.nn import attention as attention_module
from nerve.testing.op_harness import Input, OpCase, T, op_tests

# What a masked logit becomes, as in Keras: finite, so a fully masked row averages.
MASKED = -0.7 * 3.38953e38
# Blocks of FLASH_BLOCK_SIZE keys: a 2.5-block key axis checks full and partial blocks.
LONG = attention_module.FLASH_BLOCK_SIZE * 2 + 4


def np_attention(q, k, v, bias=None, mask=None, scale=None, is_causal=False):
    """Written from the definition: repeat key/value heads, then softmax per head."""
    groups = q.shape[2] // k.shape[2]
    k, v = np.repeat(k, groups, axis=2), np.repeat(v, groups, axis=2)
    scale = 1 / np.sqrt(q.shape[-1]) if scale is None else scale
    logits = np.einsum("btnh,bsnh->bnts", q, k) * scale
    if bias is not None:
        logits = logits + bias
    keep = np.ones(logits.shape, bool)
    if mask is not None:
        keep = keep & mask
    if is_causal:
        keep = keep & np.tril(np.ones(logits.shape[-2:], bool))
    logits = np.where(keep, logits, MASKED)
    weights = np.exp(logits - logits.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    return np.einsum("bnts,bsnh->btnh", weights, v)


def torch_attention(q, k, v, bias=None, mask=None, scale=None, is_causal=False):
    """PyTorch's kernel in its (B, N, T, H) layout, the mask (and causal mask) given as
    a bias. A query whose every key is masked averages the values, as in Keras; PyTorch
    would mix them by logits that differ only below rounding, so those rows are set."""
    groups = q.shape[2] // k.shape[2]
    q, k, v = (
        x.transpose(1, 2)
        for x in (q, k.repeat_interleave(groups, 2), v.repeat_interleave(groups, 2))
    )
    keep = T.ones(q.shape[-2], k.shape[-2], dtype=T.bool)
    if mask is not None:
        keep = keep & mask
    if is_causal:
        keep = keep & keep.new_ones(keep.shape[-2:]).tril()
    additive = T.where(keep, 0.0, MASKED).to(q.dtype)
    if bias is not None:
        additive = additive + bias
    additive = additive.expand(q.shape[0], q.shape[1], -1, -1)
    out = T.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=additive, scale=scale)
    fully_masked = ~keep.any(-1, keepdim=True)
    out = T.where(fully_masked, v.mean(-2, keepdim=True), out)
    return out.transpose(1, 2)


@dataclasses.dataclass(frozen=True)
class Row:
    """Query/key/value of ``shapes``, extra tensor arguments ``inputs`` ((keyword,
    Input) pairs) and fixed ``keywords``."""

    name: str
    shapes: tuple
    keywords: dict = dataclasses.field(default_factory=dict)
    inputs: tuple = ()
    flash: bool = False

    def call(self, attention, *arrays, **more):
        extra = dict(zip([n for n, _ in self.inputs], arrays[3:]))
        return attention(*arrays[:3], **extra, **self.keywords, **more)

    def case(self):
        return OpCase(
            self.name,
            lambda *xs: self.call(ops.dot_product_attention, *xs, flash_attention=self.flash),
            [(*(Input(s) for s in self.shapes), *(i for _, i in self.inputs))],
            numpy=lambda *xs: self.call(np_attention, *xs),
            torch=lambda *xs: self.call(torch_attention, *xs),
        )


MHA = ((2, 5, 4, 3), (2, 7, 4, 3), (2, 7, 4, 6))
GQA = ((2, 5, 4, 3), (2, 7, 2, 3), (2, 7, 2, 6))
MQA = ((1, 4, 3, 2), (1, 6, 1, 2), (1, 6, 1, 2))
SELF = ((2, 6, 2, 3), (2, 6, 2, 3), (2, 6, 2, 3))
FLASH = ((1, 3, 4, 2), (1, LONG, 2, 2), (1, LONG, 2, 3))
MASK = ("mask", Input((2, 1, 5, 7), "bool"))
BIAS = ("bias", Input((4, 5, 7)))

ROWS = [
    Row("attention", MHA),
    Row("attention_grouped", GQA),
    Row("attention_multi_query", MQA),
    Row("attention_mask_bias", GQA, inputs=(MASK, BIAS)),
    Row("attention_key_mask", MHA, inputs=(("mask", Input((2, 1, 1, 7), "bool")),)),
    Row("attention_causal_scale", SELF, {"is_causal": True, "scale": 0.7}),
    Row("attention_causal_mask", MHA, {"is_causal": True}, inputs=(MASK,)),
    Row("attention_flash", FLASH, flash=True),
    Row(
        "attention_flash_causal_mask_bias",
        FLASH,
        {"is_causal": True},
        (("mask", Input((1, 4, 3, LONG), "bool")), ("bias", Input((1, 1, LONG)))),
        flash=True,
    ),
]
CASES = [r.case() for r in ROWS]

globals().update(op_tests(CASES))


# -- the flash path equals the plain path; Keras's own op -------------------------------------


@pytest.mark.parametrize("row", [r for r in ROWS if not r.flash], ids=lambda r: r.name)
def test_flash_path_equals_plain_path(row, monkeypatch):
    monkeypatch.setattr(attention_module, "FLASH_BLOCK_SIZE", 3)  # several blocks of few keys
    rng = np.random.default_rng(0)
    arrays = [i.generate(rng, "float64") for i in row.case().variants[0]]
    plain = row.call(ops.dot_product_attention, *arrays)
    flash = row.call(ops.dot_product_attention, *arrays, flash_attention=True)
    np.testing.assert_allclose(flash.numpy(), plain.numpy(), rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("is_causal", [False, True])
def test_same_as_keras(is_causal):
    keras = pytest.importorskip("keras")
    rng = np.random.default_rng(1)
    q, k, v = (rng.standard_normal(s).astype("float32") for s in SELF)
    mask = rng.random((2, 2, 6, 6)) < 0.6
    bias = rng.standard_normal((1, 2, 6, 6)).astype("float32")
    ours = ops.dot_product_attention(q, k, v, bias, mask, is_causal=is_causal)
    theirs = keras.ops.dot_product_attention(q, k, v, bias, mask, is_causal=is_causal)
    np.testing.assert_allclose(ours.numpy(), keras.ops.convert_to_numpy(theirs), 1e-5, 1e-6)


def test_fully_masked_query_averages_values_in_both_paths():
    v = np.arange(12.0).reshape(1, 3, 1, 4)
    mask = np.zeros((1, 1, 2, 3), bool)
    for flash in (False, True):
        out = ops.dot_product_attention(
            np.ones((1, 2, 1, 4)), v, v, mask=mask, flash_attention=flash
        )
        np.testing.assert_allclose(out.numpy()[0, :, 0], [v[0, :, 0].mean(0)] * 2)


def test_half_precision_keeps_the_dtype():
    q = ops.ones((1, 2, 2, 4), dtype="float16")
    assert ops.dot_product_attention(q, q, q).dtype == "float16"
    assert ops.dot_product_attention(q, q, q, flash_attention=True).dtype == "float16"


def test_traces_with_a_symbolic_batch():
    fn = nerve.function(lambda q: ops.dot_product_attention(q, q, q, is_causal=True))
    for batch in (2, 3):
        q = np.random.default_rng(batch).standard_normal((batch, 4, 2, 3)).astype("float32")
        expected = np_attention(q, q, q, is_causal=True)
        np.testing.assert_allclose(fn(q).numpy(), expected, rtol=1e-5, atol=1e-6)


# -- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "shapes, keywords, match",
    [
        (((2, 5, 3), (2, 7, 3), (2, 7, 3)), {}, r"needs 4-D inputs .*query \(2, 5, 3\)"),
        (((2, 5, 4, 3), (2, 7, 3, 3), (2, 7, 3, 3)), {}, r"heads .* not a multiple of key's"),
        (((2, 5, 4, 3), (2, 7, 4, 2), (2, 7, 4, 3)), {}, r"query and key differ in depth"),
        (((2, 5, 4, 3), (2, 7, 4, 3), (2, 6, 4, 3)), {}, r"key and value differ in steps"),
        (((2, 5, 4, 3), (1, 7, 4, 3), (1, 7, 4, 3)), {}, r"batch sizes \(axis 0\) differ"),
        (MHA, {"mask": np.ones((2, 3, 5, 7), bool)}, r"mask of shape \(2, 3, 5, 7\) does not "),
        (MHA, {"bias": np.ones((5, 6))}, r"bias of shape \(5, 6\) .*\(2, 4, 5, 7\)"),
    ],
)
def test_shape_errors_name_the_op_and_shapes(shapes, keywords, match):
    arrays = [np.ones(s, "float32") for s in shapes]
    with pytest.raises(ShapeError, match=match) as info:
        ops.dot_product_attention(*arrays, **keywords)
    assert "dot_product_attention" in str(info.value)


def test_soft_cap_is_refused_as_in_keras():
    q = np.ones((1, 2, 1, 2), "float32")
    with pytest.raises(ValueError, match=r"attn_logits_soft_cap is not supported"):
        ops.dot_product_attention(q, q, q, attn_logits_soft_cap=30.0)
