"""Embedding, Masking and Keras's implicit masks: lookups and their scatter-add
gradient against PyTorch, the same layers in Keras with identical weights, masks
flowing through Sequential/Functional models into pooling, losses and metrics (padded
batches equal unpadded per-sequence runs), and errors naming the layer."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import nerve
from nerve import layers, ops

RNG = np.random.default_rng(0)
IDS = np.array([[3, 4, 0, 0], [5, 5, 1, 0], [2, 0, 0, 0]])


def keras():
    return pytest.importorskip("keras")


def test_embedding_lookup_and_scatter_add_gradient_match_torch():
    torch = pytest.importorskip("torch")
    table = RNG.normal(size=(7, 3))
    layer = layers.Embedding(7, 3, weights=[table], dtype="float64")
    upstream = RNG.normal(size=(*IDS.shape, 3))
    with nerve.GradientTape() as tape:
        out = layer(IDS)
        loss = ops.sum(out * upstream)
    (grad,) = tape.gradient(loss, [layer.embeddings])
    reference = torch.nn.Embedding(7, 3, dtype=torch.float64)
    reference.weight.data = torch.from_numpy(table.copy())
    expected = reference(torch.from_numpy(IDS))
    (expected * torch.from_numpy(upstream)).sum().backward()
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy())
    # Repeated ids (5, 5) and padding (0) accumulate: a scatter-add, not a one-hot product.
    np.testing.assert_allclose(grad.numpy(), reference.weight.grad.numpy())


@pytest.mark.parametrize("mask_zero", [False, True])
def test_embedding_matches_keras(mask_zero):
    keras_layer = keras().layers.Embedding(7, 3, mask_zero=mask_zero)
    keras_layer.build()
    table = RNG.normal(size=(7, 3)).astype("float32")
    keras_layer.set_weights([table])
    ours = layers.Embedding(7, 3, mask_zero=mask_zero, weights=[table])
    np.testing.assert_allclose(ours(IDS).numpy(), np.asarray(keras_layer(IDS)))
    keras_mask = keras_layer.compute_mask(IDS)
    our_mask = ours.compute_mask(ops.convert_to_tensor(IDS))
    assert (keras_mask is None) == (our_mask is None)
    if mask_zero:
        np.testing.assert_array_equal(our_mask.numpy(), np.asarray(keras_mask))
        np.testing.assert_array_equal(ours(IDS)._keras_mask.numpy(), IDS != 0)
    assert ours.get_config()["mask_zero"] == keras_layer.get_config()["mask_zero"]


def test_masking_matches_keras():
    x = RNG.normal(size=(2, 4, 3)).astype("float32")
    x[0, 1] = 0.0
    x[1, 3] = 0.0
    x[1, 0, 0] = 0.0  # one zero feature is not a padded step
    keras_out = keras().layers.Masking(mask_value=0.0)(x)
    ours = layers.Masking(mask_value=0.0)(x)
    np.testing.assert_allclose(ours.numpy(), np.asarray(keras_out))
    np.testing.assert_array_equal(ours._keras_mask.numpy(), [[1, 0, 1, 1], [1, 1, 1, 0]])


def pooled_model(steps):
    inputs = nerve.Input((steps,), dtype="int32")
    x = layers.Embedding(10, 6, mask_zero=True, name="embed")(inputs)
    x = layers.Dense(5, activation="tanh", name="hidden")(x)
    x = layers.Dropout(0.1)(x)
    x = layers.GlobalAveragePooling1D()(x)
    return nerve.Model(inputs, layers.Dense(2, name="out")(x))


def test_padded_batch_equals_per_sequence_runs():
    nerve.utils.set_random_seed(3)
    model = pooled_model(4)
    padded = model(IDS).numpy()
    for row, ids in enumerate(IDS):
        length = int((ids != 0).sum())
        alone = pooled_model(length)
        alone.set_weights(model.get_weights())
        np.testing.assert_allclose(padded[row], alone(ids[None, :length]).numpy()[0], atol=1e-6)
    # The compiled path (predict) carries the masks too.
    np.testing.assert_allclose(model.predict(IDS, verbose=0), padded, atol=1e-6)


def sequence_model():
    nerve.utils.set_random_seed(5)
    model = nerve.Sequential(
        [nerve.Input((4,), dtype="int32"), layers.Embedding(10, 6, mask_zero=True), layers.Dense(3)]
    )
    model.compile(
        optimizer="sgd",
        loss=nerve.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["sparse_categorical_accuracy"],
    )
    return model


def test_losses_and_metrics_leave_masked_steps_out():
    model = sequence_model()
    targets = RNG.integers(0, 3, IDS.shape)
    logits = model(IDS).numpy()
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    per_step = -np.take_along_axis(log_probs, targets[..., None], -1)[..., 0]
    keep = IDS != 0
    loss, accuracy = model.evaluate(IDS, targets, verbose=0)
    assert loss == pytest.approx(per_step[keep].mean(), rel=1e-5)
    assert accuracy == pytest.approx((logits.argmax(-1) == targets)[keep].mean(), rel=1e-6)
    # Changing only the targets of padded steps changes nothing.
    changed = np.where(keep, targets, (targets + 1) % 3)
    assert model.evaluate(IDS, changed, verbose=0) == pytest.approx([loss, accuracy])


class KeywordMask(layers.Layer):
    """Receives a keyword input's mask as ``<name>_mask`` (as attention layers do)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, query, value=None, value_mask=None, mask=None):
        self.seen = (mask, value_mask)
        return query


def test_masks_are_handed_to_call_arguments_and_explicit_ones_win():
    embed = layers.Embedding(10, 2, mask_zero=True)
    query, value = embed(IDS), embed(IDS[:, ::-1])
    layer = KeywordMask()
    layer(query, value=value)
    np.testing.assert_array_equal(layer.seen[0].numpy(), IDS != 0)
    np.testing.assert_array_equal(layer.seen[1].numpy(), IDS[:, ::-1] != 0)
    layer(query, value)  # positional arguments get their masks too
    np.testing.assert_array_equal(layer.seen[1].numpy(), IDS[:, ::-1] != 0)
    explicit = ops.ones(IDS.shape, dtype="bool")
    layer(query, value=value, mask=explicit)
    assert layer.seen[0] is explicit


def test_a_layer_without_masking_support_warns_and_stops_the_mask():
    embedded = layers.Embedding(10, 2, mask_zero=True)(IDS)
    with pytest.warns(UserWarning, match=r"Layer 'no_masks' \(Flatten\) does not support masking"):
        out = layers.Flatten(name="no_masks")(embedded)
    assert getattr(out, "_keras_mask", None) is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        layers.Flatten()(layers.Embedding(10, 2)(IDS))  # no mask, no warning


@pytest.mark.parametrize(
    "ids, error, message",
    [
        (
            np.array([[1.5, 2.0]]),
            TypeError,
            r"Embedding 'vocab' expects integer ids; received dtype float",
        ),
        (
            np.array([[1, 10]]),
            ValueError,
            r"input_dim=10, so ids must be in \[0, 10\); received ids from 1 to 10",
        ),
        (np.array([[-1, 2]]), ValueError, r"received ids from -1 to 2"),
    ],
)
def test_bad_ids_name_the_layer(ids, error, message):
    with pytest.raises(error, match=message):
        layers.Embedding(10, 4, name="vocab")(ids)


@pytest.mark.parametrize(
    "make",
    [
        lambda: layers.Embedding(0, 3),
        lambda: layers.Embedding(5, 2.5),
    ],
)
def test_bad_sizes(make):
    with pytest.raises(ValueError, match="must be a positive integer"):
        make()


@pytest.mark.parametrize(
    "layer",
    [
        layers.Embedding(12, 4, mask_zero=True, embeddings_initializer="normal"),
        layers.Masking(-1.0),
    ],
    ids=["embedding", "masking"],
)
def test_config_round_trip(layer):
    clone = type(layer).from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    x = IDS if isinstance(layer, layers.Embedding) else RNG.normal(size=(2, 3, 4))
    assert clone(x).shape == layer(x).shape


class NeedsMask(layers.Layer):
    """A mask-consuming layer that cannot run without its mask (a masked softmax over
    steps)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        if mask is None:
            raise ValueError("NeedsMask got no mask")
        weights = ops.expand_dims(ops.cast(mask, inputs.dtype), -1)
        exps = ops.exp(inputs) * weights
        return exps / ops.sum(exps, axis=1, keepdims=True)


def test_symbolic_tensors_carry_masks_while_a_functional_model_is_built():
    inputs = nerve.Input(shape=(None,), dtype="int32")
    x = layers.Embedding(10, 1, mask_zero=True)(inputs)
    assert x._mask_shape == (None, None)
    x = layers.Dense(1)(x)  # passes the mask on
    assert x._mask_shape == (None, None)
    outputs = NeedsMask()(x)  # traced with a mask, as it will run
    model = nerve.Model(inputs, outputs)
    out = model(IDS).numpy()
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(out[..., 0] == 0, IDS == 0)
    assert layers.GlobalAveragePooling1D()(x)._mask_shape is None  # consumed


def test_float_ids_from_a_default_input_are_cast_as_keras_does():
    # Keras's guides feed Embedding from Input(shape=(None,)), which is float32.
    ids = nerve.Input(shape=(None,))
    model = nerve.Model(ids, layers.Embedding(10, 3, name="vocab")(ids))
    table = model.get_layer("vocab").embeddings.numpy()
    data = np.array([[1, 4, 9]])
    np.testing.assert_array_equal(model.predict(data, verbose=0), table[data])
    np.testing.assert_array_equal(model(data.astype("float32")).numpy(), table[data])
