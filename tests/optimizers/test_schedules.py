"""Learning-rate schedules against closed forms and torch.optim.lr_scheduler, eagerly
and inside nerve.function; configs and errors."""

import math

import numpy as np
import pytest
import torch

import nerve
from nerve import ops
from nerve.optimizers import schedules as S

STEPS = np.arange(0, 41)


def closed_cosine(step, lr, decay_steps, alpha):
    step = min(step, decay_steps)
    return lr * ((1 - alpha) * 0.5 * (1 + math.cos(math.pi * step / decay_steps)) + alpha)


def closed_cosine_warmup(step, lr, decay_steps, alpha, target, warmup):
    step = min(step, decay_steps + warmup)
    if step < warmup:
        return lr + (target - lr) * step / warmup
    return closed_cosine(step - warmup, target, decay_steps, alpha)


def closed_restarts(step, lr, first, t_mul, m_mul, alpha):
    # Walk the periods explicitly (the schedule uses the geometric-series inverse).
    start, length, peak = 0.0, float(first), 1.0
    while step >= start + length:
        start, length, peak = start + length, length * t_mul, peak * m_mul
    fraction = (step - start) / length
    return lr * ((1 - alpha) * peak * 0.5 * (1 + math.cos(math.pi * fraction)) + alpha)


def closed_piecewise(step, boundaries, values):
    for boundary, value in zip(boundaries, values):
        if step <= boundary:
            return value
    return values[-1]


def closed_polynomial(step, lr, decay_steps, end, power, cycle):
    if cycle:
        decay_steps = decay_steps * (1 if step == 0 else math.ceil(step / decay_steps))
    else:
        step = min(step, decay_steps)
    return (lr - end) * (1 - step / decay_steps) ** power + end


CASES = [
    (
        "exponential",
        S.ExponentialDecay(0.1, 7, 0.6),
        lambda t: 0.1 * 0.6 ** (t / 7),
    ),
    (
        "exponential_staircase",
        S.ExponentialDecay(0.1, 7, 0.6, staircase=True),
        lambda t: 0.1 * 0.6 ** (t // 7),
    ),
    (
        "piecewise",
        S.PiecewiseConstantDecay([5, 12, 30], [1.0, 0.5, 0.25, 0.01]),
        lambda t: closed_piecewise(t, [5, 12, 30], [1.0, 0.5, 0.25, 0.01]),
    ),
    (
        "polynomial",
        S.PolynomialDecay(0.5, 25, end_learning_rate=0.01, power=2.0),
        lambda t: closed_polynomial(t, 0.5, 25, 0.01, 2.0, False),
    ),
    (
        "polynomial_cycle",
        S.PolynomialDecay(0.5, 12, end_learning_rate=0.01, power=0.5, cycle=True),
        lambda t: closed_polynomial(t, 0.5, 12, 0.01, 0.5, True),
    ),
    (
        "inverse_time",
        S.InverseTimeDecay(0.3, 4, 0.5),
        lambda t: 0.3 / (1 + 0.5 * t / 4),
    ),
    (
        "inverse_time_staircase",
        S.InverseTimeDecay(0.3, 4, 0.5, staircase=True),
        lambda t: 0.3 / (1 + 0.5 * (t // 4)),
    ),
    ("cosine", S.CosineDecay(0.2, 30, alpha=0.1), lambda t: closed_cosine(t, 0.2, 30, 0.1)),
    (
        "cosine_warmup",
        S.CosineDecay(0.0, 20, alpha=0.05, warmup_target=0.4, warmup_steps=8),
        lambda t: closed_cosine_warmup(t, 0.0, 20, 0.05, 0.4, 8),
    ),
    (
        "cosine_warmup_zero_steps",
        S.CosineDecay(0.1, 20, warmup_target=0.4, warmup_steps=0),
        lambda t: closed_cosine_warmup(t, 0.1, 20, 0.0, 0.4, 0),
    ),
    (
        "cosine_restarts",
        S.CosineDecayRestarts(0.3, 5, t_mul=2.0, m_mul=0.5, alpha=0.1),
        lambda t: closed_restarts(t, 0.3, 5, 2.0, 0.5, 0.1),
    ),
    (
        "cosine_restarts_t_mul_1",
        S.CosineDecayRestarts(0.3, 6, t_mul=1.0, m_mul=0.9),
        lambda t: closed_restarts(t, 0.3, 6, 1.0, 0.9, 0.0),
    ),
    (
        "cosine_restarts_t_mul_1_5",
        S.CosineDecayRestarts(0.3, 4, t_mul=1.5),
        lambda t: closed_restarts(t, 0.3, 4, 1.5, 1.0, 0.0),
    ),
]


@pytest.mark.parametrize("name,schedule,closed", CASES, ids=[c[0] for c in CASES])
def test_against_closed_form(name, schedule, closed):
    expected = np.array([closed(int(t)) for t in STEPS])
    eager = np.array([float(schedule(int(t))) for t in STEPS])
    np.testing.assert_allclose(eager, expected, rtol=2e-6, atol=1e-7)
    # An int64 tensor step (the optimizer's iteration counter), eagerly and traced.
    counter = nerve.Variable(0, dtype="int64", trainable=False)
    traced = nerve.function(lambda: schedule(counter))
    values, tensor_values = [], []
    for t in STEPS:
        counter.assign(int(t))
        values.append(float(traced()))
        tensor_values.append(float(schedule(counter)))
    np.testing.assert_allclose(values, eager, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(tensor_values, eager, rtol=1e-6, atol=1e-8)
    assert traced.trace_count == 1
    assert schedule(counter).dtype == "float32"


def torch_lrs(make_scheduler, base_lr):
    param = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([param], lr=base_lr)
    scheduler = make_scheduler(opt)
    lrs = []
    for _ in STEPS:
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        scheduler.step()
    return np.array(lrs)


LR = torch.optim.lr_scheduler
TORCH_CASES = [
    ("exponential", S.ExponentialDecay(0.1, 1, 0.9), 0.1, lambda o: LR.ExponentialLR(o, 0.9)),
    (
        "polynomial",
        S.PolynomialDecay(0.1, 20, end_learning_rate=0.0, power=2.0),
        0.1,
        lambda o: LR.PolynomialLR(o, total_iters=20, power=2.0),
    ),
    (
        "cosine",
        S.CosineDecay(0.1, 40, alpha=0.1),
        0.1,
        lambda o: LR.CosineAnnealingLR(o, T_max=40, eta_min=0.01),
    ),
    (
        "cosine_restarts",
        S.CosineDecayRestarts(0.1, 5, t_mul=2.0, alpha=0.2),
        0.1,
        lambda o: LR.CosineAnnealingWarmRestarts(o, T_0=5, T_mult=2, eta_min=0.02),
    ),
]


@pytest.mark.parametrize("name,schedule,base,make", TORCH_CASES, ids=[c[0] for c in TORCH_CASES])
def test_against_torch_lr_scheduler(name, schedule, base, make):
    expected = torch_lrs(make, base)
    got = np.array([float(schedule(int(t))) for t in STEPS])
    np.testing.assert_allclose(got, expected, rtol=2e-6, atol=1e-8)


def test_schedules_follow_floatx():
    from nerve.core import config

    with config.floatx_scope("float64"):
        value = S.ExponentialDecay(0.1, 3, 0.7)(ops.convert_to_tensor(5, "int64"))
    assert value.dtype == "float64"
    assert float(value) == pytest.approx(0.1 * 0.7 ** (5 / 3), rel=1e-14)


@pytest.mark.parametrize("name,schedule,_", CASES, ids=[c[0] for c in CASES])
def test_config_round_trip(name, schedule, _):
    config = S.serialize(schedule)
    clone = S.deserialize(config)
    assert type(clone) is type(schedule)
    assert clone.get_config() == schedule.get_config()
    assert [float(clone(t)) for t in (0, 3, 17)] == [float(schedule(t)) for t in (0, 3, 17)]


def test_keras_style_config_is_accepted():
    config = {
        "module": "keras.optimizers.schedules",
        "class_name": "InverseTimeDecay",
        "config": {"initial_learning_rate": 1.0, "decay_steps": 1, "decay_rate": 1.0},
        "registered_name": None,
    }
    assert float(S.deserialize(config)(1)) == 0.5


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda: S.ExponentialDecay(0.1, 0, 0.5), "ExponentialDecay: argument `decay_steps`"),
        (lambda: S.PolynomialDecay(0.1, -2), "PolynomialDecay: argument `decay_steps` must be > 0"),
        (lambda: S.CosineDecay(0.1, 10, warmup_steps=-1), "`warmup_steps` must be >= 0"),
        (
            lambda: S.PiecewiseConstantDecay([1, 2], [1.0, 2.0]),
            r"boundaries should be 1 less.*length 2, and values=\[1.0, 2.0\] of length 2",
        ),
        (lambda: S.deserialize({"class_name": "Nope"}), "Unknown learning rate schedule 'Nope'"),
    ],
)
def test_errors(make, match):
    with pytest.raises(ValueError, match=match):
        make()
