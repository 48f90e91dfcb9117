"""``model(x)`` runs compiled after its warm-up, only where that cannot change a result."""

from __future__ import annotations

import numpy as np
import pytest

import nerve
from nerve import layers
from nerve.models.compiled_call import MAX_SIGNATURES, WARMUP


def _sequential() -> nerve.Model:
    return nerve.Sequential(
        [
            nerve.Input((6,)),
            layers.Dense(8, activation="relu"),
            layers.Dense(3, activation="softmax"),
        ]
    )


def _functional() -> nerve.Model:
    a, b = nerve.Input((6,), name="a"), nerve.Input((2,), name="b")
    h = layers.Concatenate()([layers.Dense(5, activation="tanh")(a), b])
    return nerve.Model([a, b], layers.Dense(2)(h))


def _inputs(model: nerve.Model, batch: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    if len(model.inputs) == 1:
        return rng.normal(size=(batch, 6)).astype("float32")
    return [
        rng.normal(size=(batch, 6)).astype("float32"),
        rng.normal(size=(batch, 2)).astype("float32"),
    ]


def _call_until_compiled(model: nerve.Model, x) -> list:
    return [model(x).numpy() for _ in range(WARMUP + 2)]


@pytest.mark.parametrize("make", [_sequential, _functional], ids=["sequential", "functional"])
def test_repeated_calls_compile_and_agree_with_eager(make) -> None:
    model = make()
    x = _inputs(model, 4)
    outputs = _call_until_compiled(model, x)
    assert model._compiled_forward.compiled
    for out in outputs[WARMUP:]:
        np.testing.assert_allclose(out, outputs[0], rtol=1e-6, atol=1e-7)
    assert isinstance(model(x), nerve.Tensor)


def test_other_batch_sizes_reuse_the_trace_and_new_weights_are_read() -> None:
    model = _sequential()
    _call_until_compiled(model, _inputs(model, 4))
    forward = model._compiled_forward.function
    traces = forward.trace_count
    for batch in (1, 7, 32):
        x = _inputs(model, batch, seed=batch)
        np.testing.assert_allclose(model(x).numpy(), model(x, training=None).numpy(), rtol=1e-6)
    assert forward.trace_count == traces
    model.set_weights([np.full_like(w, 0.5) for w in model.get_weights()])
    x = _inputs(model, 2)
    eager = nerve.layers.Layer.__call__(model, x, training=False).numpy()
    np.testing.assert_allclose(model(x).numpy(), eager, rtol=1e-6)


def test_sequential_add_and_pop_forget_the_compiled_forward() -> None:
    model = _sequential()
    x = _inputs(model, 3)
    _call_until_compiled(model, x)
    model.add(layers.Dense(1))
    assert model(x).shape == (3, 1)
    model.pop()
    assert model(x).shape == (3, 3)


def _masked():
    return nerve.Sequential(
        [nerve.Input((4,), dtype="int32"), layers.Embedding(5, 3, mask_zero=True)]
    )


def _regularized():
    return nerve.Sequential([nerve.Input((6,)), layers.Dense(3, activity_regularizer="l2")])


class _Custom(layers.Layer):
    def call(self, x):
        return x * 2.0


def _with_custom_layer():
    return nerve.Sequential([nerve.Input((6,)), _Custom()])


class _Subclassed(nerve.Model):
    def __init__(self):
        super().__init__()
        self.dense = layers.Dense(2)

    def call(self, x):
        return self.dense(x)


def _eager_model():
    model = _sequential()
    model.compile(run_eagerly=True)
    return model


@pytest.mark.parametrize(
    "make",
    [_masked, _regularized, _with_custom_layer, _Subclassed, _eager_model],
    ids=["output-mask", "activity-loss", "custom-layer", "subclassed", "run-eagerly"],
)
def test_models_whose_calls_could_differ_stay_eager(make) -> None:
    model = make()
    x = np.array([[1, 2, 0, 0]], "int32") if make is _masked else _inputs(_sequential(), 2)
    results = [model(x) for _ in range(WARMUP + 2)]
    forward = model.__dict__.get("_compiled_forward")
    assert forward is None or not forward.compiled
    if make is _masked:
        assert all(r._keras_mask is not None for r in results)
    if make is _regularized:
        assert len(model.losses) == 1


@pytest.mark.parametrize("context", ["tape", "training", "mask"])
def test_calls_that_need_the_eager_path_take_it(context) -> None:
    model = _sequential()
    x = _inputs(model, 2)
    _call_until_compiled(model, x)
    if context == "tape":
        xt = nerve.ops.convert_to_tensor(x)
        with nerve.GradientTape() as tape:
            tape.watch(xt)
            loss = nerve.ops.sum(model(xt) ** 2)
        grad = tape.gradient(loss, xt)
        assert grad is not None and float(nerve.ops.max(nerve.ops.abs(grad))) > 0
    elif context == "training":
        assert not model._compiled_forward.applies((x,), {"training": True})
    else:
        xt = nerve.ops.convert_to_tensor(x)
        xt._keras_mask = nerve.ops.ones((2,), dtype="bool")
        assert not model._compiled_forward.applies((xt,), {})
    assert model._compiled_forward.compiled


def test_a_bad_input_after_compiling_raises_the_eager_error_and_keeps_the_path() -> None:
    model = _sequential()
    _call_until_compiled(model, _inputs(model, 2))
    with pytest.raises(Exception) as compiled_error:
        model(np.ones((2, 5), "float32"))
    with pytest.raises(type(compiled_error.value)):
        nerve.layers.Layer.__call__(model, np.ones((2, 5), "float32"))
    assert model._compiled_forward.compiled


def test_inputs_whose_feature_shape_keeps_changing_stop_compiling() -> None:
    model = nerve.Sequential([nerve.Input((None, 3)), layers.GlobalAveragePooling1D()])
    for length in range(1, WARMUP + MAX_SIGNATURES + 3):
        x = np.ones((2, length, 3), "float32")
        np.testing.assert_allclose(model(x).numpy(), np.ones((2, 3)))
    assert not model._compiled_forward.compiled
