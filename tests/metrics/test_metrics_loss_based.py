"""Loss-based metrics match keras.metrics on the same batches (weighted, streamed over
two updates), round-trip through their config, and resolve by Keras's names."""

import numpy as np
import pytest

from nerve import metrics

RNG = np.random.default_rng(7)
PROBS = RNG.dirichlet(np.ones(3), size=6).astype("float32")
ONE_HOT = np.eye(3, dtype="float32")[RNG.integers(0, 3, size=6)]
SPARSE = ONE_HOT.argmax(-1).astype("int32")
BINARY = RNG.integers(0, 2, size=(6, 1)).astype("float32")
SCORES = RNG.uniform(0.05, 0.95, size=(6, 1)).astype("float32")
POSITIVE = RNG.uniform(0.5, 2.0, size=(6, 3)).astype("float32")
WEIGHTS = RNG.uniform(0.1, 1.0, size=6).astype("float32")

CASES = [
    ("MeanAbsolutePercentageError", {}, POSITIVE, PROBS + 0.5),
    ("MeanSquaredLogarithmicError", {}, POSITIVE, PROBS),
    ("LogCoshError", {}, POSITIVE, PROBS),
    ("CosineSimilarity", {}, POSITIVE, PROBS),
    ("Hinge", {}, BINARY, SCORES),
    ("SquaredHinge", {}, BINARY, SCORES),
    ("CategoricalHinge", {}, ONE_HOT, PROBS),
    ("KLDivergence", {}, ONE_HOT, PROBS),
    ("Poisson", {}, POSITIVE, PROBS + 0.1),
    ("BinaryCrossentropy", {"label_smoothing": 0.1}, BINARY, SCORES),
    ("BinaryCrossentropy", {"from_logits": True}, BINARY, SCORES * 4 - 2),
    ("CategoricalCrossentropy", {"label_smoothing": 0.2}, ONE_HOT, PROBS),
    ("SparseCategoricalCrossentropy", {}, SPARSE, PROBS),
    ("SparseCategoricalCrossentropy", {"from_logits": True}, SPARSE, PROBS * 3),
]


@pytest.mark.parametrize("name, kwargs, y_true, y_pred", CASES, ids=lambda v: str(v)[:30])
def test_matches_keras(name, kwargs, y_true, y_pred):
    keras = pytest.importorskip("keras")
    ours, theirs = getattr(metrics, name)(**kwargs), getattr(keras.metrics, name)(**kwargs)
    for part in (slice(0, 4), slice(4, 6)):
        ours.update_state(y_true[part], y_pred[part], sample_weight=WEIGHTS[part])
        theirs.update_state(y_true[part], y_pred[part], sample_weight=WEIGHTS[part])
    np.testing.assert_allclose(ours.result().numpy(), np.asarray(theirs.result()), rtol=1e-5)
    assert ours.name == theirs.name
    twin = type(ours).from_config(ours.get_config())
    assert twin.get_config() == ours.get_config()


@pytest.mark.parametrize(
    "alias, cls",
    [
        ("mape", "MeanAbsolutePercentageError"),
        ("msle", "MeanSquaredLogarithmicError"),
        ("kld", "KLDivergence"),
    ],
)
def test_keras_aliases_resolve(alias, cls):
    assert metrics.get(cls).__class__.__name__ == cls
    assert callable(metrics.get(alias))
