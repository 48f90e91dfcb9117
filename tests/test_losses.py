"""Losses: per-sample values and gradients against PyTorch (or closed-form formulas),
every reduction, sample weights, eager vs ``nerve.function``, configs and errors."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import nerve
from nerve import losses, ops
from nerve.core.errors import DataError, ShapeError

RNG = np.random.default_rng(0)


def _probs(shape, axis=-1):
    x = RNG.uniform(0.1, 1.0, shape)
    return x / x.sum(axis=axis, keepdims=True)


def _onehot(shape, axis=-1):
    labels = RNG.integers(
        0, shape[axis], [d for i, d in enumerate(shape) if i != axis % len(shape)]
    )
    return np.moveaxis(np.eye(shape[axis])[labels], -1, axis)


def _unit(shape):
    return RNG.uniform(0.05, 0.95, shape)


def _normal(shape):
    return RNG.normal(size=shape)


def _signs(shape):
    return RNG.choice([-1.0, 1.0], size=shape)


def _bits(shape):
    return RNG.integers(0, 2, shape).astype(np.float64)


def _t(x):
    return torch.tensor(x, dtype=torch.float64)


def _focal_torch(t, p, gamma=2.0, alpha=None, logits=False, ls=0.0):
    # Closed form: (1 - p_t)**gamma * bce, optionally class-balanced by alpha.
    t = t * (1 - ls) + 0.5 * ls
    p = torch.sigmoid(p) if logits else p
    bce = -(t * torch.log(p) + (1 - t) * torch.log(1 - p))
    p_t = t * p + (1 - t) * (1 - p)
    out = (1 - p_t) ** gamma * bce
    if alpha is not None:
        out = (t * alpha + (1 - t) * (1 - alpha)) * out
    return out.mean(-1)


def _cat_focal_torch(t, p, alpha=0.25, gamma=2.0, logits=False, ls=0.0):
    t = t * (1 - ls) + ls / t.shape[-1]
    p = torch.softmax(p, -1) if logits else p / p.sum(-1, keepdim=True)
    return (alpha * (1 - p) ** gamma * -t * torch.log(p)).sum(-1)


def _hinge_torch(t, p, square=False):
    h = torch.clamp(1 - t * p, min=0)
    return (h**2 if square else h).mean(-1)


def _cat_hinge_torch(t, p):
    pos = (t * p).sum(-1)
    neg = ((1 - t) * p).max(-1).values
    return torch.clamp(neg - pos + 1, min=0)


def _labels(shape):
    # Integer class labels for predictions of ``shape`` (classes on the last axis).
    return RNG.integers(0, shape[-1], shape[:-1])


def _pair_labels(shape):
    # Two classes among the rows, so most rows have a same-label partner.
    return RNG.integers(0, 2, shape[:-1])


def _embeddings(shape):
    x = RNG.normal(size=shape)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _sequences(shape):
    # CTC labels for logits of shape (batch, time, classes): 1..classes-1, 0-padded.
    labels = RNG.integers(1, shape[-1], (shape[0], 3))
    labels[0, 2] = 0
    return labels


def _sequence_logits(shape):
    # Logits for the eager/compiled and config tables, which pass 2-D shapes.
    return RNG.normal(size=(shape[0], 5, shape[1])) if len(shape) == 2 else _normal(shape)


def _dice_torch(t, p, axis=None):
    dims = tuple(range(t.ndim)) if axis is None else axis
    return 1 - 2 * (t * p).sum(dims) / (t.sum(dims) + p.sum(dims) + 1e-7)


def _tversky_torch(t, p, alpha, beta, axis):
    tp = (t * p).sum(axis)
    return 1 - tp / (tp + alpha * (t * (1 - p)).sum(axis) + beta * ((1 - t) * p).sum(axis) + 1e-7)


def _circle_torch(t, p, gamma=80.0, margin=0.4):
    # The Circle loss paper's pair weighting, written out.
    labels = t.long()
    d = (1 - p @ p.T).clamp(min=0)
    positive = (labels[:, None] == labels[None, :]) & ~torch.eye(len(labels), dtype=torch.bool)
    negative = labels[:, None] != labels[None, :]
    pos = -gamma * (margin + d).clamp(min=0) * (margin - d)
    neg = gamma * (1 + margin - d).clamp(min=0) * (1 - margin - d)
    inf = torch.tensor(float("-inf"), dtype=p.dtype)
    lse = torch.logsumexp(torch.where(positive, pos, inf), 1)
    return F.softplus(lse + torch.logsumexp(torch.where(negative, neg, inf), 1))


def _ctc_torch(t, p):
    targets = t.long()
    steps = torch.full((p.shape[0],), p.shape[1], dtype=torch.long)
    log_probs = torch.log_softmax(p, -1).transpose(0, 1)
    lengths = (targets != 0).sum(-1)
    return F.ctc_loss(log_probs, targets, steps, lengths, blank=0, reduction="none")


# (id, nerve loss function, kwargs, torch per-sample oracle, y_true maker, y_pred maker, shape)
CASES = [
    (
        "mse",
        losses.mean_squared_error,
        {},
        lambda t, p: F.mse_loss(p, t, reduction="none").mean(-1),
        _normal,
        _normal,
        (4, 3),
    ),
    (
        "mse_3d",
        losses.mean_squared_error,
        {},
        lambda t, p: F.mse_loss(p, t, reduction="none").mean(-1),
        _normal,
        _normal,
        (2, 3, 5),
    ),
    (
        "mae",
        losses.mean_absolute_error,
        {},
        lambda t, p: F.l1_loss(p, t, reduction="none").mean(-1),
        _normal,
        _normal,
        (4, 3),
    ),
    (
        "mape",
        losses.mean_absolute_percentage_error,
        {},
        lambda t, p: 100 * ((t - p).abs() / t.abs()).mean(-1),
        _normal,
        _normal,
        (4, 3),
    ),
    (
        "msle",
        losses.mean_squared_logarithmic_error,
        {},
        lambda t, p: ((torch.log1p(p) - torch.log1p(t)) ** 2).mean(-1),
        _unit,
        _unit,
        (4, 3),
    ),
    (
        "huber",
        losses.huber,
        {},
        lambda t, p: F.huber_loss(p, t, reduction="none").mean(-1),
        _normal,
        _normal,
        (5, 4),
    ),
    (
        "huber_delta",
        losses.huber,
        {"delta": 0.3},
        lambda t, p: F.huber_loss(p, t, reduction="none", delta=0.3).mean(-1),
        _normal,
        _normal,
        (5, 4),
    ),
    (
        "log_cosh",
        losses.log_cosh,
        {},
        lambda t, p: torch.log(torch.cosh(p - t)).mean(-1),
        _normal,
        _normal,
        (4, 3),
    ),
    (
        "kld",
        losses.kl_divergence,
        {},
        lambda t, p: F.kl_div(torch.log(p), t, reduction="none").sum(-1),
        _probs,
        _probs,
        (4, 3),
    ),
    (
        "poisson",
        losses.poisson,
        {},
        lambda t, p: F.poisson_nll_loss(p, t, log_input=False, eps=1e-7, reduction="none").mean(-1),
        _unit,
        _unit,
        (4, 3),
    ),
    ("hinge", losses.hinge, {}, _hinge_torch, _signs, _normal, (4, 3)),
    (
        "squared_hinge",
        losses.squared_hinge,
        {},
        lambda t, p: _hinge_torch(t, p, square=True),
        _signs,
        _normal,
        (4, 3),
    ),
    ("categorical_hinge", losses.categorical_hinge, {}, _cat_hinge_torch, _onehot, _normal, (4, 3)),
    (
        "cosine",
        losses.cosine_similarity,
        {},
        lambda t, p: -F.cosine_similarity(t, p, dim=-1),
        _normal,
        _normal,
        (4, 3),
    ),
    (
        "cosine_axis0",
        losses.cosine_similarity,
        {"axis": 0},
        lambda t, p: -F.cosine_similarity(t, p, dim=0),
        _normal,
        _normal,
        (4, 3),
    ),
    (
        "bce",
        losses.binary_crossentropy,
        {},
        lambda t, p: F.binary_cross_entropy(p, t, reduction="none").mean(-1),
        _bits,
        _unit,
        (4, 3),
    ),
    (
        "bce_soft_smooth",
        losses.binary_crossentropy,
        {"label_smoothing": 0.2},
        lambda t, p: F.binary_cross_entropy(p, t * 0.8 + 0.1, reduction="none").mean(-1),
        _unit,
        _unit,
        (4, 3),
    ),
    (
        "bce_logits",
        losses.binary_crossentropy,
        {"from_logits": True},
        lambda t, p: F.binary_cross_entropy_with_logits(p, t, reduction="none").mean(-1),
        _bits,
        lambda s: 5 * _normal(s),
        (4, 3),
    ),
    (
        "bce_axis0",
        losses.binary_crossentropy,
        {"axis": 0},
        lambda t, p: F.binary_cross_entropy(p, t, reduction="none").mean(0),
        _bits,
        _unit,
        (4, 3),
    ),
    ("focal", losses.binary_focal_crossentropy, {}, _focal_torch, _bits, _unit, (4, 3)),
    (
        "focal_balanced_logits",
        losses.binary_focal_crossentropy,
        {
            "apply_class_balancing": True,
            "alpha": 0.3,
            "gamma": 1.5,
            "from_logits": True,
            "label_smoothing": 0.1,
        },
        lambda t, p: _focal_torch(t, p, 1.5, 0.3, True, 0.1),
        _bits,
        _normal,
        (4, 3),
    ),
    (
        "cce",
        losses.categorical_crossentropy,
        {},
        lambda t, p: F.cross_entropy(torch.log(p), t, reduction="none"),
        _onehot,
        _probs,
        (4, 5),
    ),
    (
        "cce_smooth",
        losses.categorical_crossentropy,
        {"label_smoothing": 0.1},
        lambda t, p: F.cross_entropy(torch.log(p), t, reduction="none", label_smoothing=0.1),
        _onehot,
        _probs,
        (4, 5),
    ),
    (
        "cce_logits_smooth",
        losses.categorical_crossentropy,
        {"from_logits": True, "label_smoothing": 0.2},
        lambda t, p: F.cross_entropy(p, t, reduction="none", label_smoothing=0.2),
        _probs,
        _normal,
        (4, 5),
    ),
    (
        "cce_axis1",
        losses.categorical_crossentropy,
        {"from_logits": True, "axis": 1},
        lambda t, p: F.cross_entropy(p, t, reduction="none"),
        lambda s: _probs(s, 1),
        _normal,
        (2, 4, 3),
    ),
    (
        "cat_focal",
        losses.categorical_focal_crossentropy,
        {},
        _cat_focal_torch,
        _onehot,
        _probs,
        (4, 5),
    ),
    (
        "cat_focal_logits",
        losses.categorical_focal_crossentropy,
        {"from_logits": True, "alpha": 0.5, "gamma": 1.0, "label_smoothing": 0.1},
        lambda t, p: _cat_focal_torch(t, p, 0.5, 1.0, True, 0.1),
        _onehot,
        _normal,
        (4, 5),
    ),
    ("dice", losses.dice, {}, _dice_torch, _bits, _unit, (3, 4)),
    (
        "dice_axis",
        losses.dice,
        {"axis": (1, 2)},
        lambda t, p: _dice_torch(t, p, (1, 2)),
        _bits,
        _unit,
        (2, 3, 4),
    ),
    (
        "tversky",
        losses.tversky,
        {"alpha": 0.3, "beta": 0.7, "axis": 1},
        lambda t, p: _tversky_torch(t, p, 0.3, 0.7, 1),
        _unit,
        _unit,
        (4, 5),
    ),
    (
        "generalized_ce",
        losses.categorical_generalized_cross_entropy,
        {"q": 0.7},
        lambda t, p: (1 - p.gather(-1, t.long()[..., None])[..., 0] ** 0.7) / 0.7,
        _labels,
        _probs,
        (6, 4),
    ),
    ("circle", losses.circle, {}, _circle_torch, _pair_labels, _embeddings, (6, 3)),
    (
        "circle_params",
        losses.circle,
        {"gamma": 4.0, "margin": 0.25},
        lambda t, p: _circle_torch(t, p, 4.0, 0.25),
        _pair_labels,
        _embeddings,
        (6, 3),
    ),
    ("ctc", losses.ctc, {}, _ctc_torch, _sequences, _normal, (3, 7, 4)),
]


def _nerve_values_and_grad(fn, kwargs, y_true, y_pred, weights):
    def scalar(p):
        return ops.sum(fn(y_true, p, **kwargs) * weights)

    per_sample = fn(y_true, y_pred, **kwargs).numpy()
    _, grad = nerve.value_and_grad(scalar)(ops.convert_to_tensor(y_pred))
    return per_sample, grad.numpy()


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_loss_function_matches_torch(case):
    _, fn, kwargs, oracle, make_true, make_pred, shape = case
    y_true, y_pred = make_true(shape), make_pred(shape)
    per_sample, grad = _nerve_values_and_grad(fn, kwargs, y_true, y_pred, 1.0)
    tp = _t(y_pred).requires_grad_()
    expected = oracle(_t(y_true), tp)
    expected.sum().backward()
    assert per_sample.dtype == np.float64
    np.testing.assert_allclose(per_sample, expected.detach().numpy(), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(grad, tp.grad.numpy(), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("from_logits", [False, True])
@pytest.mark.parametrize("ignore_class", [None, -1, 2])
def test_sparse_categorical_crossentropy_matches_torch(from_logits, ignore_class):
    labels = np.array([0, 2, 1, 3, 2, 0])
    if ignore_class == -1:
        labels[[1, 4]] = -1
    y_pred = _normal((6, 4)) if from_logits else _probs((6, 4))
    logits = _t(y_pred) if from_logits else torch.log(_t(y_pred))
    ignore = -100 if ignore_class is None else ignore_class
    expected = F.cross_entropy(logits, torch.tensor(labels), reduction="none", ignore_index=ignore)
    got = losses.sparse_categorical_crossentropy(
        labels, y_pred, from_logits=from_logits, ignore_class=ignore_class
    )
    np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-6, atol=1e-12)
    # The class form averages over the entries that are not ignored, as torch's "mean".
    loss = losses.SparseCategoricalCrossentropy(
        from_logits=from_logits, ignore_class=ignore_class, dtype="float64"
    )
    mean = F.cross_entropy(logits, torch.tensor(labels), ignore_index=ignore)
    np.testing.assert_allclose(float(loss(labels[:, None], y_pred)), float(mean), rtol=1e-6)
    # Gradients with respect to the logits/probabilities, ignored rows included (0, not nan).
    tp = _t(y_pred).requires_grad_()
    torch_logits = tp if from_logits else torch.log(tp)
    F.cross_entropy(torch_logits, torch.tensor(labels), ignore_index=ignore).backward()
    grad = nerve.grad(lambda p: loss(labels, p))(ops.convert_to_tensor(y_pred))
    np.testing.assert_allclose(grad.numpy(), tp.grad.numpy(), rtol=1e-6, atol=1e-12)


def test_hinge_converts_binary_labels():
    y_true, y_pred = _bits((4, 3)), _normal((4, 3))
    expected = np.maximum(1 - (2 * y_true - 1) * y_pred, 0).mean(-1)
    np.testing.assert_allclose(losses.hinge(y_true, y_pred).numpy(), expected, rtol=1e-12)
    np.testing.assert_allclose(
        losses.squared_hinge(y_true, y_pred).numpy(),
        (np.maximum(1 - (2 * y_true - 1) * y_pred, 0) ** 2).mean(-1),
        rtol=1e-12,
    )


def test_clipping_keeps_losses_finite():
    y_true = np.array([[1.0, 0.0], [0.0, 1.0]])
    y_pred = np.array([[0.0, 1.0], [1.0, 0.0]])  # confidently wrong
    for fn in (losses.binary_crossentropy, losses.categorical_crossentropy, losses.kl_divergence):
        value = fn(y_true, y_pred).numpy()
        grad = nerve.grad(lambda p, fn=fn: ops.sum(fn(y_true, p)))(ops.convert_to_tensor(y_pred))
        assert np.isfinite(value).all() and np.isfinite(grad.numpy()).all(), fn.__name__
    # A large logit error: log_cosh must not overflow (cosh(1000) does).
    assert np.isfinite(losses.log_cosh([[0.0]], [[1000.0]]).numpy()).all()
    np.testing.assert_allclose(losses.log_cosh([[0.0]], [[1000.0]]).numpy(), [1000 - np.log(2)])


def test_keras_rank_matching():
    # (batch,) against (batch, 1) is matched, in either order.
    a, b = _normal((5,)), _normal((5, 1))
    expected = (a - b[:, 0]) ** 2
    np.testing.assert_allclose(losses.mean_squared_error(a, b).numpy(), expected, rtol=1e-12)
    np.testing.assert_allclose(losses.mean_squared_error(b, a).numpy(), expected, rtol=1e-12)


# -- reductions and sample weights -----------------------------------------------------------

Y_TRUE, Y_PRED = _normal((6, 3)), _normal((6, 3))
PER_SAMPLE = ((Y_TRUE - Y_PRED) ** 2).mean(-1)


@pytest.mark.parametrize(
    "sample_weight,weights",
    [
        (None, np.ones(6)),
        (2.5, np.full(6, 2.5)),
        (np.arange(6.0), np.arange(6.0)),
        (np.arange(6.0)[:, None], np.arange(6.0)),
    ],
    ids=["none", "scalar", "per_sample", "per_sample_column"],
)
@pytest.mark.parametrize(
    "reduction", ["sum_over_batch_size", "mean", "sum", "mean_with_sample_weight", None, "none"]
)
def test_reductions_and_sample_weights(reduction, sample_weight, weights):
    loss = losses.MeanSquaredError(reduction=reduction, dtype="float64")
    got = loss(Y_TRUE, Y_PRED, sample_weight=sample_weight).numpy()
    weighted = PER_SAMPLE * weights
    expected = {
        "sum_over_batch_size": weighted.sum() / 6,
        "mean": weighted.sum() / 6,
        "sum": weighted.sum(),
        # Without weights Keras falls back to the batch size.
        "mean_with_sample_weight": weighted.sum() / (6 if sample_weight is None else weights.sum()),
        None: weighted,
        "none": weighted,
    }[reduction]  # fmt: skip
    if reduction in (None, "none"):
        # Keras's rank matching turns (6,) losses with (6, 1) weights into (6, 1).
        assert got.shape == ((6, 1) if np.ndim(sample_weight) == 2 else (6,))
        got = got.reshape(-1)
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_mean_with_zero_sample_weights_is_zero_with_finite_gradient():
    loss = losses.MeanSquaredError(reduction="mean_with_sample_weight", dtype="float64")
    value, grad = nerve.value_and_grad(lambda p: loss(Y_TRUE, p, sample_weight=np.zeros(6)))(
        ops.convert_to_tensor(Y_PRED)
    )
    assert float(value) == 0.0 and np.all(grad.numpy() == 0.0)


def test_sample_weight_per_timestep_and_per_sample():
    y_true, y_pred = _normal((3, 4, 2)), _normal((3, 4, 2))
    per_step = ((y_true - y_pred) ** 2).mean(-1)  # (3, 4)
    loss = losses.MeanSquaredError(reduction="sum", dtype="float64")
    step_weights = RNG.uniform(size=(3, 4))
    np.testing.assert_allclose(
        float(loss(y_true, y_pred, sample_weight=step_weights)), (per_step * step_weights).sum()
    )
    # One weight per sample scales that sample's timesteps (documented deviation: Keras
    # would broadcast a (3,) weight against the last axis).
    sample_weights = np.array([1.0, 0.0, 2.0])
    np.testing.assert_allclose(
        float(loss(y_true, y_pred, sample_weight=sample_weights)),
        (per_step * sample_weights[:, None]).sum(),
    )


def test_bad_sample_weight_shape_is_a_clear_error():
    with pytest.raises(ShapeError, match=r"mean_squared_error: sample_weight of shape \(4,\)"):
        losses.MeanSquaredError()(Y_TRUE, Y_PRED, sample_weight=np.ones(4))


def test_empty_batch_reduces_to_zero():
    empty = np.zeros((0, 3))
    assert losses.MeanSquaredError(reduction=None)(empty, empty).shape == (0,)
    for reduction in ("sum", "sum_over_batch_size", "mean_with_sample_weight"):
        out = losses.MeanSquaredError(reduction=reduction)(empty, empty, np.zeros(0))
        assert out.shape == () and float(out) == 0.0


def test_dtype_handling():
    # Like Keras, a loss computes in floatx unless told otherwise...
    assert losses.MeanSquaredError()(Y_TRUE, Y_PRED).dtype == "float32"
    assert losses.MeanSquaredError(dtype="float64")(Y_TRUE, Y_PRED).dtype == "float64"
    # ... and integer inputs are converted.
    assert losses.MeanAbsoluteError()([[1, 2]], [[3, 5]]).numpy() == pytest.approx(2.5)
    assert losses.mean_absolute_error([[1, 2]], [[3, 5]]).dtype == "float32"
    # Sparse labels stay integer; the result is in the loss dtype.
    out = losses.SparseCategoricalCrossentropy(dtype="float64")([1], [[0.5, 0.5]])
    assert out.dtype == "float64" and float(out) == pytest.approx(np.log(2))


# -- classes: eager vs nerve.function, configs ----------------------------------------------

CLASS_CASES = [
    (losses.MeanSquaredError(), _normal, _normal),
    (losses.MeanAbsoluteError(reduction="sum"), _normal, _normal),
    (losses.MeanAbsolutePercentageError(), _normal, _normal),
    (losses.MeanSquaredLogarithmicError(), _unit, _unit),
    (losses.Huber(delta=0.5), _normal, _normal),
    (losses.LogCosh(), _normal, _normal),
    (losses.KLDivergence(), _probs, _probs),
    (losses.Poisson(), _unit, _unit),
    (losses.Hinge(), _bits, _normal),
    (losses.SquaredHinge(), _signs, _normal),
    (losses.CategoricalHinge(), _onehot, _normal),
    (losses.CosineSimilarity(axis=-1), _normal, _normal),
    (losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.1), _bits, _normal),
    (losses.BinaryFocalCrossentropy(apply_class_balancing=True), _bits, _unit),
    (losses.CategoricalCrossentropy(label_smoothing=0.1), _onehot, _probs),
    (losses.CategoricalFocalCrossentropy(from_logits=True), _onehot, _normal),
    (losses.LossFunctionWrapper(losses.huber, delta=2.0, reduction="sum"), _normal, _normal),
    (losses.Dice(axis=1), _bits, _unit),
    (losses.Tversky(alpha=0.3, beta=0.7, axis=-1, reduction="sum"), _unit, _unit),
    (losses.CategoricalGeneralizedCrossEntropy(q=0.3), _labels, _probs),
    (losses.Circle(gamma=8.0, margin=0.3), _pair_labels, _embeddings),
    (losses.CTC(), _sequences, _sequence_logits),
]
CLASS_IDS = [type(c[0]).__name__ for c in CLASS_CASES]


@pytest.mark.parametrize("case", CLASS_CASES, ids=CLASS_IDS)
def test_eager_and_compiled_agree(case):
    loss, make_true, make_pred = case
    y_true, y_pred = make_true((4, 3)).astype("float32"), make_pred((4, 3)).astype("float32")
    weights = RNG.uniform(size=4).astype("float32")

    def step(t, p, w):
        return nerve.value_and_grad(lambda q: loss(t, q, sample_weight=w))(p)

    eager_value, eager_grad = step(y_true, ops.convert_to_tensor(y_pred), weights)
    compiled = nerve.function(step)
    value, grad = compiled(y_true, ops.convert_to_tensor(y_pred), weights)
    np.testing.assert_allclose(value.numpy(), eager_value.numpy(), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(grad.numpy(), eager_grad.numpy(), rtol=1e-5, atol=1e-7)
    assert eager_value.shape == ()


def test_sparse_eager_and_compiled_agree():
    loss = losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0)
    labels = np.array([[0], [1], [2], [1]])
    logits = _normal((4, 3)).astype("float32")
    eager = loss(labels, logits)
    np.testing.assert_allclose(
        nerve.function(lambda t, p: loss(t, p))(labels, logits).numpy(), eager.numpy(), rtol=1e-6
    )


@pytest.mark.parametrize("case", CLASS_CASES, ids=CLASS_IDS)
def test_config_round_trip(case):
    loss, make_true, make_pred = case
    again = type(loss).from_config(loss.get_config())
    assert again.get_config() == loss.get_config()
    via_serialize = losses.deserialize(losses.serialize(loss))
    assert type(via_serialize) is type(loss) and via_serialize.get_config() == loss.get_config()
    y_true, y_pred = make_true((3, 4)), make_pred((3, 4))
    np.testing.assert_array_equal(again(y_true, y_pred).numpy(), loss(y_true, y_pred).numpy())


# -- Keras 3 itself as the reference --------------------------------------------------------

_K_MASKS = _bits((4, 3, 2)).astype("float32")
_K_SOFT = _unit((4, 3, 2)).astype("float32")
_K_LABELS = np.array([0, 1, 0, 2, 1, 1])
_K_EMBEDDINGS = _embeddings((6, 3)).astype("float32")
_K_SEQUENCES = _sequences((4, 6, 5))
_K_LOGITS = _normal((4, 6, 5)).astype("float32")
_K_WEIGHTS = RNG.uniform(0.1, 1.0, 6).astype("float32")
# (class name, function name, constructor kwargs (also the function's), y_true, y_pred, whether
# sample weights fit the per-sample losses).
KERAS_CASES = [
    ("Dice", "dice", {}, _K_MASKS, _K_SOFT, False),
    ("Dice", "dice", {"axis": (1, 2)}, _K_MASKS, _K_SOFT, True),
    ("Tversky", "tversky", {}, _K_MASKS, _K_SOFT, False),
    ("Tversky", "tversky", {"alpha": 0.2, "beta": 0.8, "axis": (1, 2)}, _K_MASKS, _K_SOFT, True),
    ("Circle", "circle", {}, _K_LABELS, _K_EMBEDDINGS, True),
    ("Circle", "circle", {"gamma": 2.0, "margin": 0.1}, _K_LABELS, _K_EMBEDDINGS, True),
    ("Circle", "circle", {"remove_diagonal": False}, _K_LABELS, _K_EMBEDDINGS, True),
    (
        "CategoricalGeneralizedCrossEntropy",
        "categorical_generalized_cross_entropy",
        {"q": 0.5},
        _K_LABELS,
        _probs((6, 3)).astype("float32"),
        True,
    ),
    ("CTC", "ctc", {}, _K_SEQUENCES, _K_LOGITS, True),
]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Keras's own NumPy 2 chatter
@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", None])
@pytest.mark.parametrize(
    "cls,fn,kwargs,y_true,y_pred,weighted",
    KERAS_CASES,
    ids=[f"{c[0]}-{i}" for i, c in enumerate(KERAS_CASES)],
)
def test_matches_keras(cls, fn, kwargs, y_true, y_pred, weighted, reduction):
    """Class and function forms give Keras 3's values on the same inputs (weighted where
    weights fit), with Keras's names and configs."""
    keras = pytest.importorskip("keras")
    ours = getattr(losses, cls)(reduction=reduction, **kwargs)
    theirs = getattr(keras.losses, cls)(reduction=reduction, **kwargs)
    weights = _K_WEIGHTS[: len(y_pred)] if weighted else None
    np.testing.assert_allclose(
        ours(y_true, y_pred, sample_weight=weights).numpy(),
        keras.ops.convert_to_numpy(theirs(y_true, y_pred, sample_weight=weights)),
        rtol=2e-5,
        atol=1e-6,
    )
    fn_kwargs = {"q": kwargs["q"]} if "q" in kwargs else kwargs
    np.testing.assert_allclose(
        getattr(losses, fn)(y_true, y_pred, **fn_kwargs).numpy(),
        keras.ops.convert_to_numpy(getattr(keras.losses, fn)(y_true, y_pred, **fn_kwargs)),
        rtol=2e-5,
        atol=1e-6,
    )
    # nerve's configs also keep ``dtype``, which Keras 3's drop.
    assert {k: v for k, v in ours.get_config().items() if k != "dtype"} == theirs.get_config()
    assert losses.get(fn) is getattr(losses, fn)
    assert type(losses.get(cls)) is getattr(losses, cls)


def test_keras_configs_and_attributes():
    loss = losses.BinaryCrossentropy(from_logits=True, name="bce", reduction="sum")
    assert loss.get_config() == {
        "name": "bce",
        "reduction": "sum",
        "dtype": None,
        "from_logits": True,
        "label_smoothing": 0.0,
        "axis": -1,
    }
    assert loss.from_logits is True and loss.name == "bce"
    assert losses.Huber().name == "huber_loss" and losses.Huber(0.3).delta == 0.3
    assert losses.CategoricalCrossentropy().name == "categorical_crossentropy"
    assert losses.SparseCategoricalCrossentropy(ignore_class=3).get_config()["ignore_class"] == 3


def test_get_and_aliases():
    assert losses.get("mse") is losses.mean_squared_error is losses.mse
    assert losses.get("MAE") is losses.mean_absolute_error
    assert losses.get("kld") is losses.kl_divergence is losses.kullback_leibler_divergence
    assert losses.get("categorical_crossentropy") is losses.categorical_crossentropy
    assert isinstance(losses.get("BinaryCrossentropy"), losses.BinaryCrossentropy)
    assert losses.get(None) is None
    custom = losses.Huber(delta=3.0)
    assert losses.get(custom) is custom
    assert losses.get(losses.serialize(custom)).delta == 3.0
    assert losses.serialize(losses.mae) == "mean_absolute_error"
    with pytest.raises(ValueError, match="Unknown loss 'nope'"):
        losses.get("nope")


def test_custom_loss_subclass():
    class Cubed(losses.Loss):
        def call(self, y_true, y_pred):
            return ops.mean(ops.abs(y_true - y_pred) ** 3, axis=-1)

    loss = Cubed(reduction="sum")
    assert loss.name == "cubed"
    assert float(loss([[0.0], [0.0]], [[1.0], [2.0]])) == 9.0
    assert Cubed.from_config(loss.get_config()).reduction == "sum"


# -- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fn",
    [losses.mean_squared_error, losses.binary_crossentropy, losses.categorical_crossentropy,
     losses.huber, losses.cosine_similarity, losses.kl_divergence],
    ids=lambda f: f.__name__,
)  # fmt: skip
def test_shape_mismatch_names_the_loss_and_both_shapes(fn):
    pattern = rf"{fn.__name__}: .*y_true of shape \(4, 3\) and y_pred of shape \(4, 2\)"
    with pytest.raises(ShapeError, match=pattern):
        fn(np.zeros((4, 3)), np.zeros((4, 2)))


def test_shape_mismatch_in_class_form():
    with pytest.raises(ShapeError, match=r"mean_squared_error: .*\(8, 1\).*\(8, 5\)"):
        losses.MeanSquaredError()(np.zeros((8, 1)), np.zeros((8, 5)))


def test_sparse_shape_errors():
    with pytest.raises(ShapeError, match=r"sparse_categorical_crossentropy: .*\(4,\).*\(3,\)"):
        losses.sparse_categorical_crossentropy(np.zeros((3,), int), np.zeros((4, 5)))
    with pytest.raises(ShapeError, match=r"sparse_categorical_crossentropy: .*\(3, 5\)"):
        losses.SparseCategoricalCrossentropy()(np.zeros((3, 5), int), np.zeros((3, 5)))


def test_bad_arguments():
    with pytest.raises(ValueError, match="reduction='average'"):
        losses.MeanSquaredError(reduction="average")
    with pytest.raises(TypeError, match="unexpected keyword argument 'gamma'"):
        losses.Huber(gamma=2.0)
    with pytest.raises(ValueError, match="axis must be an int"):
        losses.categorical_crossentropy([[1.0]], [[1.0]], axis=True)


@pytest.mark.parametrize(
    "make,error,match",
    [
        (lambda: losses.CategoricalGeneralizedCrossEntropy(q=1.0), ValueError,
         r"q must be a .*\(0, 1\)"),
        (lambda: losses.dice([[1.0]], [[1.0]], axis=1.5), ValueError, "dice: axis must be None"),
        (lambda: losses.ctc([[1, 2]], np.zeros((1, 4))), ShapeError, r"ctc: .*\(batch, time"),
        (lambda: losses.circle([0, 1, 1], np.eye(2)), ShapeError, r"circle: y_true .*\(2,\)"),
        (lambda: losses.circle([0, 1], np.eye(2, 3), ref_embeddings=np.eye(2)), ShapeError,
         r"circle: ref_embeddings must have shape \(refs, 3\)"),
        (lambda: losses.categorical_generalized_cross_entropy([0, 3], np.eye(2), q=0.5),
         DataError, "categorical_generalized_cross_entropy: y_true holds 1 label"),
        (lambda: losses.Tversky()(np.zeros((2, 3)), np.zeros((2, 4))), ShapeError,
         r"tversky: .*\(2, 3\).*\(2, 4\)"),
    ],
)  # fmt: skip
def test_new_loss_errors(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_circle_rows_without_positives_have_finite_gradients():
    labels, embeddings = np.array([0, 0, 1, 2]), _embeddings((4, 3))
    for loss in (losses.Circle(), lambda t, p: ops.sum(losses.circle(t, p))):
        value, grad = nerve.value_and_grad(lambda p, loss=loss: loss(labels, p))(
            ops.convert_to_tensor(embeddings)
        )
        assert np.isfinite(float(value)) and np.isfinite(grad.numpy()).all()
        assert np.abs(grad.numpy()).sum() > 0


def test_gradient_reaches_a_variable_prediction():
    y_pred = nerve.Variable(ops.convert_to_tensor([[0.5, 1.0]]))
    with nerve.GradientTape() as tape:
        loss = losses.MeanSquaredError()([[0.0, 0.0]], y_pred)
    np.testing.assert_allclose(tape.gradient(loss, y_pred).numpy(), [[0.5, 1.0]])


def test_none_round_trips():
    assert losses.serialize(None) is None and losses.get(losses.serialize(None)) is None
