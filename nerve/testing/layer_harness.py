"""``run_layer_test``: one declarative check of Keras's layer contract.

For a layer class, its constructor arguments and an input shape, it checks that:
the layer builds on first call with the declared number of weights; the output
has the expected shape; ``compute_output_shape`` agrees with what ``call``
returns; ``get_config``/``from_config`` rebuilds a layer that computes the same
outputs from the same weights; the layer gives the same results eagerly and
compiled by ``nerve.function``; and gradients flow to every trainable weight.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import nerve
from nerve import ops
from nerve.layers.base import Layer

__all__ = ["run_layer_test"]


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
