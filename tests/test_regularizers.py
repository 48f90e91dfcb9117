"""Regularizers: penalties and gradients against PyTorch, eager vs compiled, configs."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import nerve
from nerve import ops, regularizers
from nerve.core.errors import ShapeError

W = np.random.default_rng(0).normal(size=(5, 3))


def _orthogonal_numpy(w, factor, mode):
    v = w if mode == "rows" else w.T
    v = v / np.sqrt(np.maximum((v**2).sum(1, keepdims=True), 1e-7))
    gram = v @ v.T
    n = gram.shape[0]
    return factor * 0.5 * np.abs(gram - np.diag(np.diag(gram))).sum() / (n * (n - 1) / 2)


def _orthogonal_torch(w, factor, mode):
    v = F.normalize(w if mode == "rows" else w.T, dim=1)
    gram = v @ v.T
    n = gram.shape[0]
    return factor * 0.5 * (gram * (1 - torch.eye(n, dtype=w.dtype))).abs().sum() / (n * (n - 1) / 2)


CASES = [
    (regularizers.L1(0.3), lambda w: 0.3 * w.abs().sum()),
    (regularizers.L2(0.2), lambda w: 0.2 * (w**2).sum()),
    (regularizers.L1L2(l1=0.1, l2=0.4), lambda w: 0.1 * w.abs().sum() + 0.4 * (w**2).sum()),
    (regularizers.L1L2(l2=0.4), lambda w: 0.4 * (w**2).sum()),
    (regularizers.OrthogonalRegularizer(0.5), lambda w: _orthogonal_torch(w, 0.5, "rows")),
    (
        regularizers.OrthogonalRegularizer(0.5, mode="columns"),
        lambda w: _orthogonal_torch(w, 0.5, "columns"),
    ),
]
IDS = [repr(c[0]) for c in CASES]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_penalty_and_gradient_match_torch(case):
    regularizer, oracle = case
    value, grad = nerve.value_and_grad(regularizer)(ops.convert_to_tensor(W))
    tw = torch.tensor(W).requires_grad_()
    expected = oracle(tw)
    expected.backward()
    assert value.shape == () and value.dtype == "float64"
    np.testing.assert_allclose(float(value), expected.item(), rtol=1e-6)
    np.testing.assert_allclose(grad.numpy(), tw.grad.numpy(), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("mode", ["rows", "columns"])
def test_orthogonal_closed_form(mode):
    got = regularizers.OrthogonalRegularizer(0.1, mode)(W)
    np.testing.assert_allclose(float(got), _orthogonal_numpy(W, 0.1, mode), rtol=1e-7)
    assert float(regularizers.OrthogonalRegularizer(1.0)(np.eye(4))) == 0.0


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_eager_and_compiled_agree(case):
    regularizer, _ = case
    w = nerve.Variable(ops.convert_to_tensor(W.astype("float32")))

    def penalty_and_grad():
        with nerve.GradientTape() as tape:
            penalty = regularizer(w)
        return penalty, tape.gradient(penalty, w)

    eager = penalty_and_grad()
    compiled = nerve.function(penalty_and_grad)()
    for a, b in zip(eager, compiled):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_config_round_trip(case):
    regularizer, _ = case
    again = regularizers.get(regularizers.serialize(regularizer))
    assert type(again) is type(regularizer) and again.get_config() == regularizer.get_config()
    assert float(again(W)) == float(regularizer(W))


def test_keras_configs_and_defaults():
    assert regularizers.L1().get_config() == {"l1": 0.01}
    assert regularizers.L2().get_config() == {"l2": 0.01}
    assert regularizers.L1L2().get_config() == {"l1": 0.0, "l2": 0.0}
    assert regularizers.OrthogonalRegularizer().get_config() == {"factor": 0.01, "mode": "rows"}


def test_get_aliases():
    assert isinstance(regularizers.get("l1"), regularizers.L1)
    assert isinstance(regularizers.get("l2"), regularizers.L2)
    assert isinstance(regularizers.get("l1_l2"), regularizers.L1L2)
    assert isinstance(regularizers.get("L1L2"), regularizers.L1L2)
    assert isinstance(
        regularizers.get("orthogonal_regularizer"), regularizers.OrthogonalRegularizer
    )
    assert regularizers.l1_l2 is regularizers.L1L2
    assert regularizers.get(None) is None
    fn = lambda w: ops.sum(w)  # noqa: E731
    assert regularizers.get(fn) is fn
    with pytest.raises(ValueError, match="Unknown regularizer 'l3'"):
        regularizers.get("l3")


def test_invalid_arguments():
    with pytest.raises(ValueError, match=r"expected a non-negative float\. Received: l1=-1"):
        regularizers.L1(-1)
    with pytest.raises(ValueError, match="l2=nan"):
        regularizers.L2(float("nan"))
    with pytest.raises(ValueError, match="mode='diagonal'"):
        regularizers.OrthogonalRegularizer(mode="diagonal")
    with pytest.raises(ShapeError, match=r"OrthogonalRegularizer: .*rank 2.*\(2, 3, 4\)"):
        regularizers.OrthogonalRegularizer()(np.zeros((2, 3, 4)))


def test_none_round_trips():
    assert (
        regularizers.serialize(None) is None
        and regularizers.get(regularizers.serialize(None)) is None
    )


def test_a_plain_function_cannot_be_serialized():
    """A function regularizer works in a layer, but a config can't hold it: say so."""
    layer = nerve.layers.Dense(2, activity_regularizer=lambda x: ops.sum(x * 0.0))
    with pytest.raises(ValueError, match=r"Cannot serialize the regularizer .*Subclass"):
        layer.get_config()
