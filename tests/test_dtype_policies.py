"""nerve.dtype_policies / nerve.mixed_precision / nerve.config's dtype policy: the global
policy reaches new layers, serialization round-trips, bad input is named."""

import pytest

import nerve
from nerve import dtype_policies, layers, mixed_precision


@pytest.fixture
def restore_policy():
    yield
    mixed_precision.set_global_policy(None)


@pytest.mark.parametrize(
    "setter",
    [
        mixed_precision.set_global_policy,
        mixed_precision.set_dtype_policy,
        nerve.config.set_dtype_policy,
    ],
)
def test_global_policy_reaches_new_layers(setter, restore_policy):
    setter("mixed_float16")
    assert mixed_precision.global_policy().name == "mixed_float16"
    dense = layers.Dense(2)
    assert (dense.compute_dtype, dense.dtype_policy.variable_dtype) == ("float16", "float32")
    assert layers.Dense(2, dtype="float32").compute_dtype == "float32"
    setter(None)
    assert layers.Dense(2).compute_dtype == "float32"


@pytest.mark.parametrize("name", ["float32", "float16", "mixed_float16", "mixed_bfloat16"])
def test_serialize_round_trips_and_matches_keras(name):
    policy = dtype_policies.get(name)
    assert dtype_policies.deserialize(dtype_policies.serialize(policy)) == policy
    keras = pytest.importorskip("keras")
    theirs = keras.dtype_policies.serialize(keras.dtype_policies.get(name))
    assert dtype_policies.serialize(policy)["config"] == theirs["config"]
    assert dtype_policies.serialize(policy)["class_name"] == theirs["class_name"]


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: mixed_precision.set_global_policy(3), "DTypePolicy or a policy name"),
        (lambda: dtype_policies.get(3.5), "Could not interpret a dtype policy"),
        (lambda: dtype_policies.deserialize({"class_name": "Dense"}), "serialized DTypePolicy"),
        (lambda: dtype_policies.serialize("float32"), "expects a DTypePolicy"),
    ],
)
def test_bad_input_is_named(call, match):
    with pytest.raises(ValueError, match=match):
        call()
