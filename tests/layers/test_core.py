"""Core layers against the layer contract and PyTorch."""

import numpy as np
import pytest

import nerve
from nerve import layers, ops
from nerve.testing.layer_harness import (
    LayerCase,
    LazyKerasLayers,
    check_against_keras,
    check_against_torch,
    layer_tests,
    run_layer_test,
)
from nerve.testing.op_harness import T


@pytest.mark.parametrize(
    "cls,kwargs,input_shape,output_shape,trainable",
    [
        (layers.Dense, {"units": 4}, (2, 3), (2, 4), 2),
        (layers.Dense, {"units": 4, "use_bias": False, "activation": "tanh"}, (2, 5, 3),
         (2, 5, 4), 1),
        (layers.Activation, {"activation": "relu"}, (2, 3), (2, 3), 0),
        (layers.Dropout, {"rate": 0.5, "seed": 1}, (2, 3), (2, 3), 0),
        (layers.Flatten, {}, (2, 3, 4), (2, 12), 0),
        (layers.Reshape, {"target_shape": (2, -1)}, (3, 4, 2), (3, 2, 4), 0),
        (layers.Rescaling, {"scale": 0.5, "offset": 1.0}, (2, 3), (2, 3), 0),
        (layers.Identity, {}, (2, 3), (2, 3), 0),
    ],
)  # fmt: skip
def test_layer_contract(cls, kwargs, input_shape, output_shape, trainable):
    run_layer_test(
        cls,
        kwargs,
        input_shape,
        expected_output_shape=output_shape,
        expected_num_trainable_weights=trainable,
        expected_num_non_trainable_weights=0,
    )


def test_dense_matches_torch_linear_forward_and_backward():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 3))
    dense = layers.Dense(4, activation="relu", dtype="float64")
    out = dense(ops.convert_to_tensor(x))
    linear = torch.nn.Linear(3, 4).double()
    with torch.no_grad():
        linear.weight.copy_(torch.from_numpy(dense.kernel.numpy().T.copy()))
        linear.bias.copy_(torch.from_numpy(dense.bias.numpy().copy()))
    tx = torch.from_numpy(x)
    expected = torch.relu(linear(tx))
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=1e-12)
    with nerve.GradientTape() as tape:
        loss = ops.sum(dense(ops.convert_to_tensor(x)) ** 2)
    g_kernel, g_bias = tape.gradient(loss, [dense.kernel, dense.bias])
    (expected**2).sum().backward()
    np.testing.assert_allclose(g_kernel.numpy(), linear.weight.grad.numpy().T, rtol=1e-12)
    np.testing.assert_allclose(g_bias.numpy(), linear.bias.grad.numpy(), rtol=1e-12)


def test_dense_wrong_input_size_names_layer_and_shapes():
    dense = layers.Dense(2, name="head")
    dense(ops.ones((1, 3)))
    with pytest.raises(ValueError, match=r"Dense 'head' expects inputs whose last axis has size 3"):
        dense(ops.ones((1, 5)))


def test_dropout_only_while_training_and_seeded():
    drop = layers.Dropout(0.5, seed=3)
    x = ops.ones((100,))
    np.testing.assert_array_equal(drop(x).numpy(), x.numpy())
    y = drop(x, training=True).numpy()
    assert set(np.unique(y)) <= {0.0, 2.0} and 20 < (y == 0).sum() < 80
    again = layers.Dropout(0.5, seed=3)(x, training=True).numpy()
    np.testing.assert_array_equal(y, again)


def test_training_flag_flows_to_inner_layers():
    class Block(layers.Layer):
        def __init__(self):
            super().__init__()
            self.drop = layers.Dropout(0.99, seed=0)

        def call(self, inputs, training=None):
            return self.drop(inputs)

    block = Block()
    x = ops.ones((50,))
    assert float(ops.sum(block(x))) == 50.0
    assert float(ops.sum(block(x, training=True))) < 50.0


def test_nested_tracking_freezing_and_losses():
    from nerve import regularizers

    class Tower(layers.Layer):
        def __init__(self):
            super().__init__()
            self.stack = [layers.Dense(3), layers.Dense(2, kernel_regularizer=regularizers.L2(0.1))]

        def call(self, inputs):
            for layer in self.stack:
                inputs = layer(inputs)
            return inputs

    tower = Tower()
    tower(ops.ones((1, 4)))
    assert len(tower.weights) == 4 and len(tower.trainable_weights) == 4
    (penalty,) = tower.losses
    kernel = tower.stack[1].kernel.numpy()
    assert float(penalty) == pytest.approx(0.1 * float((kernel**2).sum()), rel=1e-6)
    tower.stack[0].trainable = False
    assert len(tower.trainable_weights) == 2 and len(tower.non_trainable_weights) == 2
    tower.trainable = False
    assert tower.trainable_weights == [] and not tower.stack[1].trainable


def test_set_weights_checks_shapes():
    dense = layers.Dense(2, name="proj")
    dense(ops.ones((1, 3)))
    with pytest.raises(ValueError, match=r"'proj/kernel' has shape \(3, 2\)"):
        dense.set_weights([np.zeros((2, 2)), np.zeros(2)])


def test_mixed_precision_policy_computes_in_half_and_stores_float32():
    dense = layers.Dense(2, dtype="mixed_float16")
    out = dense(ops.ones((1, 3)))
    assert out.dtype == "float16" and dense.kernel.dtype == "float32"


def test_unknown_constructor_argument_is_named():
    with pytest.raises(TypeError, match=r"unexpected keyword arguments: \['unit'\]"):
        layers.Dense(2, unit=3)


def test_lambda_and_compute_output_shape_by_tracing():
    double = layers.Lambda(lambda x: ops.concatenate([x, x], axis=-1))
    assert double.compute_output_shape((None, 3)) == (None, 6)
    assert double(ops.ones((2, 3))).shape == (2, 6)


def test_calling_build_directly_marks_the_layer_built():
    dense = layers.Dense(3)
    dense.build((None, 4))
    assert dense.built
    dense(ops.ones((2, 4)))
    assert len(dense.weights) == 2


# -- the declarative table: PyTorch and Keras with the same weights ---------------------------

keras_layers = LazyKerasLayers()

CASES = [
    LayerCase(
        "dense",
        lambda **kw: layers.Dense(4, **kw),
        (3, 5),
        torch=lambda xs, ws: xs[0] @ ws[0] + ws[1],
        keras=lambda **kw: keras_layers.Dense(4, **kw),
    ),
    LayerCase(
        "dense_3d_tanh_no_bias",
        lambda **kw: layers.Dense(2, activation="tanh", use_bias=False, **kw),
        (2, 3, 4),
        torch=lambda xs, ws: T.tanh(xs[0] @ ws[0]),
        keras=lambda **kw: keras_layers.Dense(2, activation="tanh", use_bias=False, **kw),
    ),
    LayerCase(
        "flatten",
        lambda **kw: layers.Flatten(**kw),
        (2, 3, 4),
        torch=lambda xs, ws: xs[0].reshape(2, -1),
        keras=lambda **kw: keras_layers.Flatten(**kw),
    ),
    LayerCase(
        "rescaling",
        lambda **kw: layers.Rescaling(0.5, offset=1.0, **kw),
        (2, 3),
        torch=lambda xs, ws: xs[0] * 0.5 + 1.0,
        keras=lambda **kw: keras_layers.Rescaling(0.5, offset=1.0, **kw),
    ),
]

globals().update(layer_tests(CASES))


def test_the_layer_table_fails_on_a_wrong_oracle():
    wrong = LayerCase(
        "dense_wrong",
        lambda **kw: layers.Dense(2, **kw),
        (2, 3),
        torch=lambda xs, ws: xs[0] @ ws[0] - ws[1],
        keras=lambda **kw: keras_layers.Dense(2, use_bias=False, **kw),
    )
    with pytest.raises(AssertionError, match="dense_wrong forward"):
        check_against_torch(wrong, "float64")
    pytest.importorskip("keras")
    with pytest.raises(ValueError):  # Keras's layer has one weight, nerve's two
        check_against_keras(wrong)
