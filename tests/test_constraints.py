"""Constraints: projections against PyTorch / closed forms, eager vs compiled, configs."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import nerve
from nerve import constraints, ops

W = np.random.default_rng(0).normal(size=(4, 6)) * np.array([0.1, 0.5, 1.0, 2.0, 3.0, 0.2])
EPS = 1e-7


def _min_max(w, lo, hi, rate, axis):
    norms = np.sqrt((w**2).sum(axis=axis, keepdims=True))
    desired = rate * np.clip(norms, lo, hi) + (1 - rate) * norms
    return w * desired / (EPS + norms)


CASES = [
    # Keras's axis=0 bounds each column of an (in, out) kernel: torch.renorm's dim=1.
    (constraints.MaxNorm(1.5), lambda w: torch.renorm(torch.tensor(w), 2, 1, 1.5).numpy()),
    (constraints.MaxNorm(1.0, axis=1), lambda w: torch.renorm(torch.tensor(w), 2, 0, 1.0).numpy()),
    (constraints.NonNeg(), lambda w: torch.clamp(torch.tensor(w), min=0).numpy()),
    (constraints.UnitNorm(), lambda w: F.normalize(torch.tensor(w), dim=0).numpy()),
    (constraints.UnitNorm(axis=1), lambda w: F.normalize(torch.tensor(w), dim=1).numpy()),
    (constraints.MinMaxNorm(0.5, 1.0), lambda w: _min_max(w, 0.5, 1.0, 1.0, 0)),
    (constraints.MinMaxNorm(0.5, 2.0, rate=0.3, axis=1), lambda w: _min_max(w, 0.5, 2.0, 0.3, 1)),
]
IDS = [repr(c[0]) for c in CASES]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_projection_matches_reference(case):
    constraint, reference = case
    got = constraint(ops.convert_to_tensor(W))
    assert got.shape == W.shape and got.dtype == "float64"
    np.testing.assert_allclose(got.numpy(), reference(W), rtol=1e-6, atol=1e-12)


def test_projections_land_in_the_set():
    norms = lambda w, axis: np.sqrt((w**2).sum(axis))  # noqa: E731
    assert (norms(constraints.MaxNorm(1.0)(W).numpy(), 0) <= 1.0 + 1e-6).all()
    np.testing.assert_allclose(norms(constraints.UnitNorm()(W).numpy(), 0), 1.0, rtol=1e-6)
    n = norms(constraints.MinMaxNorm(0.5, 1.0)(W).numpy(), 0)
    assert ((n >= 0.5 - 1e-6) & (n <= 1.0 + 1e-6)).all()
    assert (constraints.NonNeg()(W).numpy() >= 0).all()
    # Conv kernels (h, w, in, out) take a tuple of axes, as in Keras.
    kernel = np.random.default_rng(1).normal(size=(3, 3, 2, 4))
    bounded = constraints.MaxNorm(1.0, axis=[0, 1, 2])(kernel).numpy()
    assert (np.sqrt((bounded**2).sum((0, 1, 2))) <= 1.0 + 1e-6).all()


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_eager_and_compiled_agree_when_assigning(case):
    constraint, _ = case
    w = nerve.Variable(ops.convert_to_tensor(W.astype("float32")))
    expected = constraint(w).numpy()

    @nerve.function
    def project():
        w.assign(constraint(w))

    project()
    np.testing.assert_allclose(w.numpy(), expected, rtol=1e-6)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_config_round_trip(case):
    constraint, _ = case
    again = constraints.get(constraints.serialize(constraint))
    assert type(again) is type(constraint) and again.get_config() == constraint.get_config()
    np.testing.assert_array_equal(again(W).numpy(), constraint(W).numpy())


def test_keras_defaults_and_aliases():
    assert constraints.get("max_norm").get_config() == {"max_value": 2, "axis": 0}
    assert constraints.get("unit_norm").get_config() == {"axis": 0}
    assert constraints.get("min_max_norm").get_config() == {
        "min_value": 0.0,
        "max_value": 1.0,
        "rate": 1.0,
        "axis": 0,
    }
    assert isinstance(constraints.get("non_neg"), constraints.NonNeg)
    assert isinstance(constraints.get("MaxNorm"), constraints.MaxNorm)
    assert constraints.max_norm is constraints.MaxNorm
    assert constraints.get(None) is None
    with pytest.raises(ValueError, match="Unknown constraint 'positive'"):
        constraints.get("positive")


def test_none_round_trips():
    assert (
        constraints.serialize(None) is None and constraints.get(constraints.serialize(None)) is None
    )


def test_a_plain_function_cannot_be_serialized():
    with pytest.raises(ValueError, match=r"Cannot serialize the constraint .*Subclass"):
        constraints.serialize(lambda w: w)
