"""Layer tests: ``run_layer_test`` (Keras's layer contract, one call) and the declarative
``LayerCase`` table with ``layer_tests`` (every layer against PyTorch and Keras).

For a layer class, its constructor arguments and an input shape, it checks that:
the layer builds on first call with the declared number of weights; the output
has the expected shape; ``compute_output_shape`` agrees with what ``call``
returns; ``get_config``/``from_config`` rebuilds a layer that computes the same
outputs from the same weights; the layer gives the same results eagerly and
compiled by ``nerve.function``; and gradients flow to every trainable weight.
"""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import nerve
from nerve import ops
from nerve.layers.base import Layer

__all__ = [
    "LayerCase",
    "LazyKerasLayers",
    "check_against_keras",
    "check_against_torch",
    "check_round_trips",
    "layer_tests",
    "random_weights",
    "run_layer_test",
]


def run_layer_test(
    layer_cls: type[Layer],
    init_kwargs: dict,
    input_shape: tuple,
    expected_output_shape: tuple | None = None,
    expected_num_trainable_weights: int | None = None,
    expected_num_non_trainable_weights: int | None = None,
    input_dtype: str = "float32",
    call_kwargs: dict | None = None,
    check_config: bool = True,
    check_gradients: bool = True,
    seed: int = 0,
) -> Any:
    """Run the layer-contract checks; returns the layer's output for further asserts."""
    call_kwargs = dict(call_kwargs or {})
    rng = np.random.default_rng(seed)
    if input_dtype.startswith("int"):
        data = rng.integers(0, 5, input_shape).astype(input_dtype)
    else:
        data = rng.standard_normal(input_shape).astype(input_dtype)
    x = ops.convert_to_tensor(data)

    layer = layer_cls(**init_kwargs)
    assert not layer.built
    output = layer(x, **call_kwargs)
    assert layer.built, f"{layer_cls.__name__} is not marked built after its first call"
    if expected_output_shape is not None:
        assert output.shape == tuple(expected_output_shape), (
            f"{layer_cls.__name__}: output shape {output.shape}, expected {expected_output_shape}"
        )
    if expected_num_trainable_weights is not None:
        assert len(layer.trainable_weights) == expected_num_trainable_weights
    if expected_num_non_trainable_weights is not None:
        assert len(layer.non_trainable_weights) == expected_num_non_trainable_weights

    declared = layer.compute_output_shape(tuple(input_shape))
    assert tuple(declared) == output.shape, (
        f"{layer_cls.__name__}: compute_output_shape says {declared}, call gave {output.shape}"
    )
    unknown_batch = layer.compute_output_shape((None, *input_shape[1:]))
    assert tuple(unknown_batch)[1:] == output.shape[1:]

    if check_config:
        config = layer.get_config()
        clone = layer_cls.from_config(config)
        clone(x, **call_kwargs)
        clone.set_weights(layer.get_weights())
        np.testing.assert_allclose(
            clone(x, **call_kwargs).numpy(), layer(x, **call_kwargs).numpy(), rtol=1e-6,
            err_msg=f"{layer_cls.__name__}: from_config(get_config()) computes differently",
        )  # fmt: skip

    compiled = nerve.function(lambda inputs: layer(inputs, **call_kwargs))
    np.testing.assert_allclose(
        compiled(x).numpy(), layer(x, **call_kwargs).numpy(), rtol=1e-5, atol=1e-6,
        err_msg=f"{layer_cls.__name__}: eager and compiled outputs differ",
    )  # fmt: skip

    if check_gradients and layer.trainable_weights:
        with nerve.GradientTape() as tape:
            loss = ops.sum(ops.square(layer(x, **call_kwargs)))
        grads = tape.gradient(loss, layer.trainable_weights)
        for weight, grad in zip(layer.trainable_weights, grads):
            assert grad is not None, f"{layer_cls.__name__}: no gradient for {weight.path}"
            assert grad.shape == weight.shape
    return output


# -- the declarative layer table ---------------------------------------------------------


@dataclasses.dataclass
class LayerCase:
    """One layer configuration under test; ``layer_tests`` turns a table of them into
    pytest tests.

    ``make(dtype=...)`` builds a fresh nerve layer. ``input_shape`` includes the batch
    axis (a list of shapes for a multi-input layer). ``torch(inputs, weights)`` is the
    independent oracle: it takes PyTorch tensors — the inputs, then the layer's
    ``weights`` in nerve's layout and order (it transposes what it must) — and
    returns PyTorch's output. ``keras(dtype=...)`` builds the same layer in Keras 3 (its
    weights are set to the nerve layer's, in ``weights`` order). ``call_kwargs`` are
    passed to every call (``training=True`` for a batch norm in training mode).

    Example row::

        LayerCase("dense", lambda **kw: layers.Dense(3, **kw), (2, 4),
                  torch=lambda xs, ws: xs[0] @ ws[0] + ws[1],
                  keras=lambda **kw: keras.layers.Dense(3, **kw))
    """

    name: str
    make: Callable[..., Layer]
    input_shape: tuple | list
    torch: Callable[..., Any] | None = None
    keras: Callable[..., Any] | None = None
    call_kwargs: dict = dataclasses.field(default_factory=dict)
    dtypes: tuple = ("float32", "float64")
    grad: bool = True  # compare input and weight gradients with PyTorch
    save: bool = True  # round-trip a model holding the layer through a .keras file
    input_low: float = -2.0
    input_high: float = 2.0
    weights: Callable[[Layer, np.random.Generator], None] | None = None  # custom values

    @property
    def shapes(self) -> list[tuple]:
        shapes = self.input_shape
        return list(shapes) if isinstance(shapes, list) else [tuple(shapes)]

    def tolerance(self, dtype: str) -> tuple[float, float]:
        return {"float64": (1e-10, 1e-12), "float32": (2e-4, 2e-5)}.get(dtype, (2e-2, 2e-3))


class LazyKerasLayers:
    """``keras.layers`` imported on first use (with the NumPy backend unless one is
    chosen), so layer tables load without Keras installed."""

    def __getattr__(self, name: str) -> Any:
        import os

        os.environ.setdefault("KERAS_BACKEND", "numpy")
        import keras

        return getattr(keras.layers, name)


def random_weights(layer: Layer, rng: np.random.Generator) -> None:
    """Every weight set to random values (variances positive), so that no zero bias or
    unit scale hides a wrong formula."""
    for weight in layer.weights:
        shape = tuple(weight.shape)
        if "variance" in weight.name:
            value = rng.uniform(0.5, 1.5, shape)
        else:
            value = rng.standard_normal(shape) * 0.5
        weight.assign(value.astype(weight.dtype))


def _inputs(case: LayerCase, dtype: str, seed: Any) -> list[np.ndarray]:
    rng = np.random.default_rng(zlib.crc32(repr((case.name, seed)).encode()))
    return [rng.uniform(case.input_low, case.input_high, s).astype(dtype) for s in case.shapes]


def _built(case: LayerCase, dtype: str, inputs: list[np.ndarray]) -> tuple[Layer, Any]:
    """A built layer with random weights, and its output on ``inputs``."""
    layer = case.make(dtype=dtype)
    tensors = [ops.convert_to_tensor(a) for a in inputs]
    layer(_arguments(tensors), **case.call_kwargs)
    rng = np.random.default_rng(zlib.crc32(repr((case.name, "weights")).encode()))
    (case.weights or random_weights)(layer, rng)
    return layer, layer(_arguments(tensors), **case.call_kwargs)


def _arguments(tensors: list) -> Any:
    return tensors[0] if len(tensors) == 1 else tensors


def _close(actual: Any, expected: Any, tolerance: tuple[float, float], what: str) -> None:
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    rtol, atol = tolerance
    np.testing.assert_allclose(
        actual.astype(np.float64), expected.astype(np.float64), rtol, atol, err_msg=what
    )


def check_against_torch(case: LayerCase, dtype: str) -> None:
    """Forward, input gradients and weight gradients against PyTorch, same weights."""
    import torch

    assert case.torch is not None, f"{case.name} has no PyTorch reference"
    inputs = _inputs(case, dtype, "torch")
    layer, output = _built(case, dtype, inputs)
    torch_inputs = [torch.from_numpy(a.copy()).requires_grad_(True) for a in inputs]
    torch_weights = [
        torch.from_numpy(np.array(w.numpy())).requires_grad_(w.trainable) for w in layer.weights
    ]
    expected = case.torch(torch_inputs, torch_weights)
    tolerance = case.tolerance(dtype)
    _close(output.numpy(), expected.detach().numpy(), tolerance, f"{case.name} forward ({dtype})")
    if not case.grad:
        return
    rng = np.random.default_rng(zlib.crc32(repr((case.name, "cotangent")).encode()))
    cotangent = rng.standard_normal(tuple(output.shape)).astype(dtype)
    tensors = [ops.convert_to_tensor(a) for a in inputs]
    trainable = layer.trainable_weights
    with nerve.GradientTape() as tape:
        tape.watch(tensors)
        total = ops.sum(layer(_arguments(tensors), **case.call_kwargs) * cotangent)
    grads = tape.gradient(total, [*tensors, *trainable], unconnected_gradients="zero")
    wanted = [*torch_inputs, *(t for t, w in zip(torch_weights, layer.weights) if w.trainable)]
    torch_total = (case.torch(torch_inputs, torch_weights) * torch.from_numpy(cotangent)).sum()
    torch_grads = torch.autograd.grad(torch_total, wanted, allow_unused=True)
    names = [f"input {i}" for i in range(len(tensors))] + [w.name for w in trainable]
    for name, ours, theirs in zip(names, grads, torch_grads):
        reference = np.zeros(ours.shape) if theirs is None else theirs.numpy()
        _close(ours.numpy(), reference, tolerance, f"{case.name} gradient of {name} ({dtype})")


def check_against_keras(case: LayerCase) -> None:
    """The same layer in Keras 3 with the same weights computes the same (float32)."""
    import keras

    assert case.keras is not None, f"{case.name} has no Keras reference"
    inputs = _inputs(case, "float32", "keras")
    layer, output = _built(case, "float32", inputs)
    theirs = case.keras(dtype="float32")
    shapes = case.shapes
    theirs.build(shapes[0] if len(shapes) == 1 else shapes)
    theirs.set_weights([np.array(w.numpy()) for w in layer.weights])
    expected = theirs(inputs[0] if len(inputs) == 1 else inputs, **case.call_kwargs)
    _close(
        output.numpy(),
        keras.ops.convert_to_numpy(expected),
        case.tolerance("float32"),
        f"{case.name} vs Keras",
    )


def check_round_trips(case: LayerCase, tmp_path: Any) -> None:
    """``get_config``/``from_config``, eager vs compiled, and a ``.keras`` file holding
    a model made of the layer all compute what the layer computes."""
    from nerve.saving import load_model

    inputs = _inputs(case, "float32", "round trip")
    layer, output = _built(case, "float32", inputs)
    tensors = [ops.convert_to_tensor(a) for a in inputs]
    tolerance = case.tolerance("float32")
    clone = type(layer).from_config(layer.get_config())
    clone(_arguments(tensors), **case.call_kwargs)
    clone.set_weights(layer.get_weights())
    again = clone(_arguments(tensors), **case.call_kwargs)
    _close(again.numpy(), output.numpy(), tolerance, f"{case.name}: from_config(get_config())")
    compiled = nerve.function(lambda xs: layer(_arguments(xs), **case.call_kwargs))(tensors)
    _close(compiled.numpy(), output.numpy(), tolerance, f"{case.name}: compiled vs eager")
    declared = layer.compute_output_shape(shapes[0] if len(shapes := case.shapes) == 1 else shapes)
    assert tuple(declared) == tuple(output.shape), (
        f"{case.name}: compute_output_shape says {tuple(declared)}, call gave {output.shape}"
    )
    if not case.save or case.call_kwargs:
        return
    model_inputs = [nerve.Input(shape=s[1:]) for s in case.shapes]
    model = nerve.Model(model_inputs, layer(_arguments(model_inputs)))
    path = f"{tmp_path}/{case.name}.keras"
    model.save(path)
    restored = load_model(path)
    _close(
        restored.predict(_arguments(inputs), verbose=0),
        output.numpy(),
        tolerance,
        f"{case.name}: a .keras round trip",
    )


def layer_tests(cases: Sequence[LayerCase]) -> dict[str, Callable]:
    """Pytest tests for a table of ``LayerCase`` rows; put them in a test module with
    ``globals().update(layer_tests(CASES))``. The Keras comparison skips cleanly where
    ``keras`` is not installed."""
    import pytest

    names = [c.name for c in cases]
    repeated = {n for n in names if names.count(n) > 1}
    if repeated:
        raise ValueError(f"duplicate LayerCase names: {sorted(repeated)}")

    def params(select: Callable[[LayerCase], bool], with_dtype: bool = False) -> list:
        return [
            pytest.param(case, *((dtype,) if with_dtype else ()),
                         id=f"{case.name}-{dtype}" if with_dtype else case.name)
            for case in cases if select(case)
            for dtype in (case.dtypes if with_dtype else (None,))
        ]  # fmt: skip

    @pytest.mark.parametrize("case,dtype", params(lambda c: c.torch is not None, True))
    def test_against_torch(case, dtype):
        pytest.importorskip("torch")
        check_against_torch(case, dtype)

    @pytest.mark.parametrize("case", params(lambda c: c.keras is not None))
    def test_against_keras(case):
        pytest.importorskip("keras")
        check_against_keras(case)

    @pytest.mark.parametrize("case", params(lambda c: True))
    def test_round_trips(case, tmp_path):
        check_round_trips(case, tmp_path)

    return {
        "test_against_torch": test_against_torch,
        "test_against_keras": test_against_keras,
        "test_round_trips": test_round_trips,
    }
