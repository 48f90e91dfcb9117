"""Merging layers: values against NumPy, symbolic shapes, config round trips, errors."""

import numpy as np
import pytest

import nerve
from nerve import layers, ops

RNG = np.random.default_rng(0)
A, B = RNG.standard_normal((2, 3)).astype("float32"), RNG.standard_normal((2, 3)).astype("float32")


@pytest.mark.parametrize(
    "cls,expected",
    [
        (layers.Add, A + B),
        (layers.Subtract, A - B),
        (layers.Multiply, A * B),
        (layers.Average, (A + B) / 2),
        (layers.Maximum, np.maximum(A, B)),
        (layers.Minimum, np.minimum(A, B)),
    ],
)
def test_elementwise_merges(cls, expected):
    np.testing.assert_allclose(cls()([A, B]).numpy(), expected, rtol=1e-6)
    clone = cls.from_config(cls().get_config())
    np.testing.assert_allclose(clone([A, B]).numpy(), expected, rtol=1e-6)


def test_concatenate_values_symbolic_shape_and_functional_form():
    np.testing.assert_array_equal(
        layers.Concatenate(axis=0)([A, B]).numpy(), np.concatenate([A, B], axis=0)
    )
    x, y = nerve.Input(shape=(3,)), nerve.Input(shape=(5,))
    merged = layers.concatenate([x, y])
    assert merged.shape == (None, 8)
    model = nerve.Model([x, y], layers.Dense(1)(merged))
    assert model([ops.ones((4, 3)), ops.ones((4, 5))]).shape == (4, 1)


def test_gradients_flow_through_merges():
    a, b = nerve.Variable(A), nerve.Variable(B)
    with nerve.GradientTape() as tape:
        loss = ops.sum(layers.Multiply()([a, b]))
    grad_a, grad_b = tape.gradient(loss, [a, b])
    np.testing.assert_allclose(grad_a.numpy(), B)
    np.testing.assert_allclose(grad_b.numpy(), A)


def test_merge_errors_name_the_layer():
    with pytest.raises(ValueError, match="must be called on a list of at least 2 inputs"):
        layers.Add(name="sum")(ops.ones((2,)))
    with pytest.raises(ValueError, match=r"Concatenate layer 'cat': inputs of shapes"):
        layers.Concatenate(name="cat").compute_output_shape([(None, 3), (None, 4, 1)])
