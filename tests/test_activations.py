"""Activations: values and gradients against PyTorch; name resolution."""

import numpy as np
import pytest

from nerve import activations, ops
from nerve.testing.op_harness import Input, OpCase, T, op_tests

VARIANTS = [(Input((3, 5)),), (Input((0, 2)),), (Input((1,)),)]


def row(name, fn, torch, variants=VARIANTS, **kw):
    return OpCase(f"activation_{name}", fn, variants, torch=torch, **kw)


CASES = [
    row("relu", activations.relu, lambda x: T.relu(x)),
    row("relu_leak_cap", lambda x: activations.relu(x, negative_slope=0.1, max_value=1.5),
        lambda x: T.clamp(T.where(x > 0, x, 0.1 * x), max=1.5)),
    row("relu6", activations.relu6, lambda x: T.nn.functional.relu6(x)),
    row("leaky_relu", activations.leaky_relu, lambda x: T.nn.functional.leaky_relu(x, 0.2)),
    row("elu", activations.elu, lambda x: T.nn.functional.elu(x)),
    row("selu", activations.selu, lambda x: T.nn.functional.selu(x)),
    row("gelu", activations.gelu, lambda x: T.nn.functional.gelu(x)),
    row("silu", activations.silu, lambda x: T.nn.functional.silu(x)),
    row("mish", activations.mish, lambda x: T.nn.functional.mish(x)),
    # A softmax over one element warns, as in Keras (tests/ops/test_nn.py).
    row("softmax", activations.softmax, lambda x: T.softmax(x, -1), VARIANTS[:2]),
    row("log_softmax", activations.log_softmax, lambda x: T.log_softmax(x, -1)),
    row("sigmoid", activations.sigmoid, lambda x: T.sigmoid(x)),
    # torch's float64 hardsigmoid backward multiplies by a float32 1/6 (3e-8 relative error);
    # finite differences check our gradient instead.
    row("hard_sigmoid", activations.hard_sigmoid, lambda x: T.nn.functional.hardsigmoid(x),
        torch_grad=False),
    row("hard_silu", activations.hard_silu, lambda x: T.nn.functional.hardswish(x)),
    row("tanh", activations.tanh, lambda x: T.tanh(x)),
    row("softplus", activations.softplus, lambda x: T.nn.functional.softplus(x)),
    row("softsign", activations.softsign, lambda x: T.nn.functional.softsign(x)),
    row("exponential", activations.exponential, lambda x: T.exp(x)),
    row("linear", activations.linear, lambda x: x * 1.0),
]  # fmt: skip

globals().update(op_tests(CASES))


def test_get_resolves_names_functions_and_none():
    assert activations.get("relu") is activations.relu
    assert activations.get(None) is activations.linear
    assert activations.get(ops.tanh) is ops.tanh
    with pytest.raises(ValueError, match="Unknown activation 'relux'"):
        activations.get("relux")


def test_serialize_round_trips_and_canonicalizes_aliases():
    for name in ("relu", "gelu", "softmax", "linear"):
        assert activations.serialize(activations.get(name)) == name
    assert activations.serialize(activations.swish) == "silu"
    np.testing.assert_allclose(
        activations.get("swish")(ops.ones((2,))).numpy(), activations.silu(ops.ones((2,))).numpy()
    )


@pytest.mark.parametrize(
    "config", ["relu", "silu", {"class_name": "function", "config": "tanh"}], ids=str
)
def test_deserialize_inverts_serialize_and_reads_keras_dicts(config):
    fn = activations.deserialize(config)
    name = config["config"] if isinstance(config, dict) else config
    assert fn is activations.get(name)
    assert activations.deserialize(activations.serialize(fn)) is fn


def test_deserialize_custom_objects_and_bad_input():
    def mine(x):
        return x

    assert activations.deserialize("mine", custom_objects={"mine": mine}) is mine
    with pytest.raises(ValueError, match="activation name"):
        activations.deserialize(3)


# Keras's activations that are thin wrappers of ops functions (their values and
# gradients are checked in tests/ops/): the values against Keras's own (NumPy backend).
KERAS_WRAPPED = {
    "celu": (), "glu": (), "hard_tanh": (), "hard_shrink": (0.3,), "soft_shrink": (0.3,),
    "tanh_shrink": (), "threshold": (0.2, -1.0), "log_sigmoid": (), "sparse_plus": (),
    "sparse_sigmoid": (), "squareplus": (2.0,),
}  # fmt: skip
# Not sparsemax: Keras 3.15's backends sum the running sums over the support where the
# threshold needs the sum of the support (right only where one entry survives); its
# row in tests/ops/test_nn.py checks it against a bisection for the threshold.


@pytest.mark.parametrize("name", sorted(KERAS_WRAPPED))
def test_wrapped_activations_match_keras(name):
    keras = pytest.importorskip("keras")
    x = np.random.default_rng(0).uniform(-2, 2, (3, 4)).astype("float32")
    args = KERAS_WRAPPED[name]
    expected = np.asarray(getattr(keras.activations, name)(x, *args))
    np.testing.assert_allclose(
        activations.get(name)(x, *args).numpy(), expected, rtol=1e-5, atol=1e-6
    )


def test_every_keras_activation_name_resolves():
    pytest.importorskip("keras")
    from keras.src.activations import ALL_OBJECTS_DICT

    missing = sorted(name for name in ALL_OBJECTS_DICT if name not in activations.__all__)
    assert not missing, f"nerve.activations lacks Keras's {missing}"
