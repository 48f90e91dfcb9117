"""Optimizers: 10-step trajectories against torch.optim (eager and nerve.function),
Keras-specific formulas against NumPy, trajectories and state against Keras 3 itself
(for optimizers torch lacks), clipping, EMA, gradient accumulation, weight decay,
configs and error messages."""

import re

import numpy as np
import pytest
import torch

import nerve
from nerve import ops, optimizers
from nerve.core import config

STEPS = 10
RNG = np.random.default_rng(0)
X = RNG.normal(size=(8, 3))
Y = RNG.normal(size=(8, 2))
W0 = RNG.normal(size=(2, 3))
B0 = RNG.normal(size=(2,))


def make_opt(factory):
    # float64 learning-rate variables, so float64 trajectories compare to ~1e-12.
    with config.floatx_scope("float64"):
        return factory()


def nerve_trajectory(factory, compiled=False, steps=STEPS):
    """Minimise 0.5 * mean ||X W^T + b - Y||^2; the parameters after each step."""
    w = nerve.Variable(W0, dtype="float64", name="kernel")
    b = nerve.Variable(B0, dtype="float64", name="bias")
    opt = make_opt(factory)
    opt.build([w, b])

    def step():
        with nerve.GradientTape() as tape:
            residual = ops.matmul(ops.convert_to_tensor(X), ops.transpose(w)) + b - Y
            loss = 0.5 * ops.mean(ops.sum(ops.square(residual), axis=1))
        opt.apply(tape.gradient(loss, [w, b]), [w, b])

    if compiled:
        step = nerve.function(step)
    out = []
    for _ in range(steps):
        step()
        out.append(np.concatenate([w.numpy().ravel(), b.numpy()]))
    return np.array(out)


def torch_trajectory(factory, steps=STEPS, scheduler=None):
    w = torch.tensor(W0, requires_grad=True)
    b = torch.tensor(B0, requires_grad=True)
    default = torch.get_default_dtype()
    # torch keeps scalar state (NAdam's mu_product, step counts) in the default dtype.
    torch.set_default_dtype(torch.float64)
    try:
        opt = factory([w, b])
        schedule = scheduler(opt) if scheduler else None
        out = []
        for _ in range(steps):
            opt.zero_grad()
            residual = torch.tensor(X) @ w.T + b - torch.tensor(Y)
            loss = 0.5 * (residual**2).sum(dim=1).mean()
            loss.backward()
            opt.step()
            if schedule is not None:
                schedule.step()
            out.append(np.concatenate([w.detach().numpy().ravel(), b.detach().numpy()]))
    finally:
        torch.set_default_dtype(default)
    return np.array(out)


O, T = optimizers, torch.optim
# (id, nerve optimizer, torch optimizer with identical hyperparameters). Where Keras
# and torch put epsilon in different places, epsilon is 0 here and the Keras formula
# is checked separately against NumPy below.
TORCH_CASES = [
    ("sgd", lambda: O.SGD(0.1), lambda p: T.SGD(p, lr=0.1)),
    ("sgd_momentum", lambda: O.SGD(0.1, momentum=0.9), lambda p: T.SGD(p, lr=0.1, momentum=0.9)),
    (
        "sgd_nesterov",
        lambda: O.SGD(0.05, momentum=0.8, nesterov=True),
        lambda p: T.SGD(p, lr=0.05, momentum=0.8, nesterov=True),
    ),
    # Without momentum, decoupled decay equals torch's L2 decay.
    (
        "sgd_weight_decay",
        lambda: O.SGD(0.1, weight_decay=0.3),
        lambda p: T.SGD(p, lr=0.1, weight_decay=0.3),
    ),
    ("adam", lambda: O.Adam(0.1, epsilon=0.0), lambda p: T.Adam(p, lr=0.1, eps=0.0)),
    (
        "adam_betas",
        lambda: O.Adam(0.05, beta_1=0.5, beta_2=0.9, epsilon=0.0),
        lambda p: T.Adam(p, lr=0.05, betas=(0.5, 0.9), eps=0.0),
    ),
    (
        "adam_amsgrad",
        lambda: O.Adam(0.1, epsilon=0.0, amsgrad=True),
        lambda p: T.Adam(p, lr=0.1, eps=0.0, amsgrad=True),
    ),
    (
        "adamw",
        lambda: O.AdamW(0.1, weight_decay=0.2, epsilon=0.0),
        lambda p: T.AdamW(p, lr=0.1, weight_decay=0.2, eps=0.0),
    ),
    (
        "adamw_amsgrad",
        lambda: O.AdamW(0.1, weight_decay=0.2, epsilon=0.0, amsgrad=True),
        lambda p: T.AdamW(p, lr=0.1, weight_decay=0.2, eps=0.0, amsgrad=True),
    ),
    (
        "rmsprop",
        lambda: O.RMSprop(0.01, rho=0.8, epsilon=0.0),
        lambda p: T.RMSprop(p, lr=0.01, alpha=0.8, eps=0.0),
    ),
    (
        "rmsprop_momentum",
        lambda: O.RMSprop(0.01, momentum=0.9, epsilon=0.0),
        lambda p: T.RMSprop(p, lr=0.01, alpha=0.9, momentum=0.9, eps=0.0),
    ),
    (
        "rmsprop_centered",
        lambda: O.RMSprop(0.01, centered=True, momentum=0.5, epsilon=0.0),
        lambda p: T.RMSprop(p, lr=0.01, alpha=0.9, centered=True, momentum=0.5, eps=0.0),
    ),
    (
        "adagrad",
        lambda: O.Adagrad(0.5, initial_accumulator_value=0.2, epsilon=0.0),
        lambda p: T.Adagrad(p, lr=0.5, initial_accumulator_value=0.2, eps=0.0),
    ),
    # Adadelta puts epsilon in the same places in both.
    (
        "adadelta",
        lambda: O.Adadelta(1.0, rho=0.9, epsilon=1e-3),
        lambda p: T.Adadelta(p, lr=1.0, rho=0.9, eps=1e-3),
    ),
    (
        "adamax",
        lambda: O.Adamax(0.1, beta_1=0.8, epsilon=0.0),
        lambda p: T.Adamax(p, lr=0.1, betas=(0.8, 0.999), eps=0.0),
    ),
    # Keras's Nadam momentum schedule is torch's with momentum_decay=1.
    (
        "nadam",
        lambda: O.Nadam(0.1, epsilon=0.0),
        lambda p: T.NAdam(p, lr=0.1, eps=0.0, momentum_decay=1.0),
    ),
    (
        "nadam_betas",
        lambda: O.Nadam(0.05, beta_1=0.7, beta_2=0.95, epsilon=0.0),
        lambda p: T.NAdam(p, lr=0.05, betas=(0.7, 0.95), eps=0.0, momentum_decay=1.0),
    ),
]


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
@pytest.mark.parametrize("name,ours,theirs", TORCH_CASES, ids=[c[0] for c in TORCH_CASES])
def test_trajectory_matches_torch(name, ours, theirs, compiled):
    expected = torch_trajectory(theirs)
    got = nerve_trajectory(ours, compiled=compiled)
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)
    assert not np.allclose(got[-1], np.concatenate([W0.ravel(), B0]))  # it moved


@pytest.mark.parametrize("name,ours,_", TORCH_CASES, ids=[c[0] for c in TORCH_CASES])
def test_eager_and_compiled_trajectories_identical(name, ours, _):
    np.testing.assert_allclose(
        nerve_trajectory(ours, compiled=True), nerve_trajectory(ours), rtol=1e-13, atol=1e-15
    )


# -- Keras formulas where torch differs, against NumPy --------------------------------------
def _grad(params):
    w, b = params[:6].reshape(2, 3), params[6:]
    residual = X @ w.T + b - Y
    return np.concatenate([(residual.T @ X / len(X)).ravel(), residual.mean(axis=0)])


def numpy_trajectory(update, state, steps=STEPS):
    params = np.concatenate([W0.ravel(), B0])
    out = []
    for t in range(1, steps + 1):
        params = update(params, _grad(params), state, t)
        out.append(params.copy())
    return np.array(out)


def keras_adam(lr, b1, b2, eps):
    def update(p, g, s, t):
        s["m"] = s.get("m", 0) + (g - s.get("m", 0)) * (1 - b1)
        s["v"] = s.get("v", 0) + (g * g - s.get("v", 0)) * (1 - b2)
        alpha = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
        return p - s["m"] * alpha / (np.sqrt(s["v"]) + eps)

    return update


def keras_rmsprop(lr, rho, eps):
    def update(p, g, s, t):
        s["v"] = rho * s.get("v", 0) + (1 - rho) * g * g
        return p - lr * g / np.sqrt(s["v"] + eps)

    return update


def keras_adagrad(lr, init, eps):
    def update(p, g, s, t):
        s["a"] = s.get("a", init) + g * g
        return p - lr * g / np.sqrt(s["a"] + eps)

    return update


def keras_adamax(lr, b1, b2, eps):
    def update(p, g, s, t):
        s["m"] = s.get("m", 0) + (g - s.get("m", 0)) * (1 - b1)
        s["u"] = np.maximum(b2 * s.get("u", 0), np.abs(g))
        return p - lr * s["m"] / ((1 - b1**t) * (s["u"] + eps))

    return update


def lion(lr, b1, b2):
    # The Lion paper's update (torch has no Lion).
    def update(p, g, s, t):
        m = s.get("m", 0)
        p = p - lr * np.sign(b1 * m + (1 - b1) * g)
        s["m"] = b2 * m + (1 - b2) * g
        return p

    return update


NUMPY_CASES = [
    ("adam_eps", lambda: O.Adam(0.1, epsilon=0.05), keras_adam(0.1, 0.9, 0.999, 0.05)),
    ("rmsprop_eps", lambda: O.RMSprop(0.01, epsilon=0.05), keras_rmsprop(0.01, 0.9, 0.05)),
    ("adagrad_eps", lambda: O.Adagrad(0.5, epsilon=0.05), keras_adagrad(0.5, 0.1, 0.05)),
    ("adamax_eps", lambda: O.Adamax(0.1, epsilon=0.05), keras_adamax(0.1, 0.9, 0.999, 0.05)),
    ("lion", lambda: O.Lion(0.01), lion(0.01, 0.9, 0.99)),
    ("lion_betas", lambda: O.Lion(0.02, beta_1=0.5, beta_2=0.9), lion(0.02, 0.5, 0.9)),
]


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
@pytest.mark.parametrize("name,ours,update", NUMPY_CASES, ids=[c[0] for c in NUMPY_CASES])
def test_keras_formula_against_numpy(name, ours, update, compiled):
    expected = numpy_trajectory(update, {})
    np.testing.assert_allclose(
        nerve_trajectory(ours, compiled=compiled), expected, rtol=1e-9, atol=1e-12
    )


# -- Keras 3 itself as the reference (optimizers torch does not have) ------------------------
# Variables by path: a 3-D kernel (Adafactor factors its last two axes), an embedding table
# and an output kernel (Muon sends them to its AdamW step), a vector and a tall matrix.
KERAS_SHAPES = {
    "dense/kernel": (4, 3),
    "dense/bias": (3,),
    "conv/kernel": (2, 3, 4),
    "embedding/embeddings": (5, 2),
    "out/kernel": (3, 5),
}
KERAS_RNG = np.random.default_rng(3)
KERAS_START = {k: KERAS_RNG.normal(size=s).astype("float32") for k, s in KERAS_SHAPES.items()}
KERAS_GRADS = [
    {k: KERAS_RNG.normal(size=s).astype("float32") for k, s in KERAS_SHAPES.items()}
    for _ in range(6)
]
# (id, class name in both libraries, constructor arguments for both).
KERAS_CASES = [
    ("adafactor", "Adafactor", {"learning_rate": 0.1}),
    ("adafactor_clip", "Adafactor", {"learning_rate": 0.5, "clip_threshold": 0.5}),
    ("ftrl", "Ftrl", {"learning_rate": 0.1}),
    (
        "ftrl_regularized",
        "Ftrl",
        {
            "learning_rate": 0.2,
            "learning_rate_power": -0.3,
            "l1_regularization_strength": 0.01,
            "l2_regularization_strength": 0.1,
            "l2_shrinkage_regularization_strength": 0.05,
            "beta": 0.3,
        },
    ),
    ("lamb", "Lamb", {"learning_rate": 0.01}),
    ("lamb_decay", "Lamb", {"learning_rate": 0.01, "beta_1": 0.8, "weight_decay": 0.1}),
    ("muon", "Muon", {"learning_rate": 0.01}),
    (
        "muon_plain",
        "Muon",
        {"learning_rate": 0.02, "nesterov": False, "rms_rate": None, "exclude_layers": ["out"]},
    ),
    ("muon_no_decay", "Muon", {"weight_decay": None, "adam_weight_decay": None, "ns_steps": 3}),
    ("schedule_free", "ScheduleFreeAdamW", {"learning_rate": 0.01}),
    (
        "schedule_free_warmup",
        "ScheduleFreeAdamW",
        {"learning_rate": 0.01, "warmup_steps": 3, "weight_decay": 0.1},
    ),
]


def _scoped_variables(make, name_scope):
    variables = []
    for path, value in KERAS_START.items():
        scope, name = path.split("/")
        with name_scope(scope):
            variables.append(make(value.copy(), name=name))
    return variables


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Keras's own NumPy 2 chatter
@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
@pytest.mark.parametrize("name,cls,kwargs", KERAS_CASES, ids=[c[0] for c in KERAS_CASES])
def test_trajectory_and_state_match_keras(name, cls, kwargs, compiled):
    """Same start, same gradients: the variables after every step and the optimizer's
    state (in the order Keras saves it) agree with Keras 3 to float32 rounding."""
    keras = pytest.importorskip("keras")
    from nerve.saving.saving_lib import _keras_optimizer_order

    ours = _scoped_variables(nerve.Variable, nerve.name_scope)
    theirs = _scoped_variables(keras.Variable, keras.name_scope)
    assert [v.path for v in ours] == [v.path for v in theirs] == list(KERAS_SHAPES)
    opt, keras_opt = getattr(O, cls)(**kwargs), getattr(keras.optimizers, cls)(**kwargs)
    history = _apply_all(opt, ours, [list(g.values()) for g in KERAS_GRADS], compiled)
    for values, grads in zip(history, KERAS_GRADS):
        keras_opt.apply(list(grads.values()), theirs)
        for got, want in zip(values, theirs):
            np.testing.assert_allclose(got, keras.ops.convert_to_numpy(want), rtol=1e-5, atol=2e-6)
    state = _keras_optimizer_order(opt)
    assert [tuple(v.shape) for v in state] == [tuple(v.shape) for v in keras_opt.variables]
    for got, want in zip(state, keras_opt.variables):
        want = keras.ops.convert_to_numpy(want)
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=2e-6)
    assert not np.allclose(history[-1][0], KERAS_START["dense/kernel"])  # it moved


@pytest.mark.parametrize(
    "ours,theirs",
    [
        (lambda: O.Adam(0.1, epsilon=0.05), lambda p: T.Adam(p, lr=0.1, eps=0.05)),
        (
            lambda: O.RMSprop(0.01, epsilon=0.05),
            lambda p: T.RMSprop(p, lr=0.01, alpha=0.9, eps=0.05),
        ),
        (lambda: O.Adamax(0.1, epsilon=0.05), lambda p: T.Adamax(p, lr=0.1, eps=0.05)),
        (
            lambda: O.Nadam(0.1, epsilon=0.0),
            lambda p: T.NAdam(p, lr=0.1, eps=0.0),  # torch's default momentum_decay
        ),
    ],
    ids=["adam", "rmsprop", "adamax", "nadam_momentum_decay"],
)
def test_documented_differences_from_torch(ours, theirs):
    """Keras's epsilon placement (and Nadam schedule) really differ from torch's: the
    comparisons above only agree because they neutralise them."""
    assert not np.allclose(nerve_trajectory(ours), torch_trajectory(theirs), rtol=1e-6)


def test_sgd_momentum_weight_decay_is_decoupled():
    # Keras: w -= lr * wd * w, then the momentum step on the loss gradient alone.
    lr, wd, mom = 0.1, 0.3, 0.9

    def update(p, g, s, t):
        p = p - lr * wd * p
        s["v"] = mom * s.get("v", 0) - lr * g
        return p + s["v"]

    # The gradient is taken before the decay, so apply decay to the pre-step params.
    params = np.concatenate([W0.ravel(), B0])
    state, expected = {}, []
    for t in range(1, STEPS + 1):
        params = update(params, _grad(params), state, t)
        expected.append(params.copy())
    got = nerve_trajectory(lambda: O.SGD(lr, momentum=mom, weight_decay=wd))
    np.testing.assert_allclose(got, np.array(expected), rtol=1e-9)
    torch_l2 = torch_trajectory(lambda p: T.SGD(p, lr=lr, momentum=mom, weight_decay=wd))
    assert not np.allclose(got, torch_l2, rtol=1e-6)


# -- helpers for explicit-gradient tests ---------------------------------------------------
def _apply_all(opt, variables, grad_steps, compiled=False):
    """Apply each list of gradients in turn; the variables' values after each call."""

    def step(grads):
        opt.apply(grads, variables)

    if compiled:
        step = nerve.function(step)
    history = []
    for grads in grad_steps:
        step([ops.convert_to_tensor(g) for g in grads])
        history.append([v.numpy().copy() for v in variables])
    return history


def _vars(*values):
    return [
        nerve.Variable(np.array(v, dtype="float64"), name=f"v{i}") for i, v in enumerate(values)
    ]


# -- clipping ------------------------------------------------------------------------------
@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_clipnorm_clips_each_gradient(compiled):
    vs = _vars([0.0, 0.0], [0.0])
    opt = make_opt(lambda: O.SGD(1.0, clipnorm=1.0))
    opt.build(vs)
    _apply_all(opt, vs, [[np.array([3.0, 4.0]), np.array([0.5])]], compiled)
    np.testing.assert_allclose(vs[0].numpy(), [-0.6, -0.8])
    np.testing.assert_allclose(vs[1].numpy(), [-0.5])  # under the norm: unchanged


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_global_clipnorm_matches_torch(compiled):
    grads = [np.array([3.0, 4.0]), np.array([12.0])]
    tg = [torch.tensor(g) for g in grads]
    params = [torch.zeros(2, dtype=torch.float64), torch.zeros(1, dtype=torch.float64)]
    for p, g in zip(params, tg):
        p.grad = g.clone()
    torch.nn.utils.clip_grad_norm_(params, 2.0)
    vs = _vars([0.0, 0.0], [0.0])
    opt = make_opt(lambda: O.SGD(1.0, global_clipnorm=2.0))
    opt.build(vs)
    _apply_all(opt, vs, [grads], compiled)
    for v, p in zip(vs, params):
        np.testing.assert_allclose(v.numpy(), -p.grad.numpy(), rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(np.concatenate([v.numpy() for v in vs])), 2.0)


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_clipvalue(compiled):
    vs = _vars([0.0, 0.0, 0.0])
    opt = make_opt(lambda: O.SGD(1.0, clipvalue=0.5))
    opt.build(vs)
    _apply_all(opt, vs, [[np.array([3.0, -4.0, 0.25])]], compiled)
    np.testing.assert_allclose(vs[0].numpy(), [-0.5, 0.5, -0.25])


def test_clipnorm_of_zero_gradient_is_zero():
    vs = _vars([1.0, 2.0])
    opt = O.SGD(1.0, clipnorm=1.0)
    _apply_all(opt, vs, [[np.zeros(2)]])
    np.testing.assert_array_equal(vs[0].numpy(), [1.0, 2.0])


def test_clipping_with_adam_matches_torch_clip_then_step():
    """Clipping happens before the optimizer sees the gradient (as in torch usage)."""
    grads = [np.array([3.0, 4.0])]
    vs = _vars([1.0, 1.0])
    opt = make_opt(lambda: O.Adam(0.1, epsilon=0.0, clipnorm=1.0))
    _apply_all(opt, vs, [grads, grads])
    p = torch.ones(2, dtype=torch.float64, requires_grad=True)
    topt = T.Adam([p], lr=0.1, eps=0.0)
    for _ in range(2):
        p.grad = torch.tensor(grads[0])
        torch.nn.utils.clip_grad_norm_([p], 1.0)
        topt.step()
    np.testing.assert_allclose(vs[0].numpy(), p.detach().numpy(), rtol=1e-12)


# -- EMA -------------------------------------------------------------------------------------
@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_ema_average_and_finalize(compiled):
    grads = [[np.array([1.0, -2.0])], [np.array([0.5, 0.5])], [np.array([-1.0, 3.0])]]
    vs = _vars([1.0, 1.0])
    opt = make_opt(lambda: O.SGD(0.1, use_ema=True, ema_momentum=0.9))
    opt.build(vs)
    history = _apply_all(opt, vs, grads, compiled)
    # First step copies the variable; then average = 0.9 * average + 0.1 * value.
    average = history[0][0]
    for values in history[1:]:
        average = 0.9 * average + 0.1 * values[0]
    np.testing.assert_allclose(vs[0].numpy(), history[-1][0])  # not overwritten yet
    opt.finalize_variable_values(vs)
    np.testing.assert_allclose(vs[0].numpy(), average, rtol=1e-12)


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_ema_overwrite_frequency(compiled):
    grads = [[np.array([1.0])]] * 4
    vs = _vars([0.0])
    opt = make_opt(lambda: O.SGD(1.0, use_ema=True, ema_momentum=0.5, ema_overwrite_frequency=2))
    opt.build(vs)
    history = [h[0][0] for h in _apply_all(opt, vs, grads, compiled)]
    # Step 1: w=-1, avg=-1. Step 2: w=-2, avg=-1.5, overwritten -> w=-1.5.
    # Step 3: w=-2.5, avg=-2. Step 4: w=-3.5, avg=-2.75 -> overwritten.
    np.testing.assert_allclose(history, [-1.0, -1.5, -2.5, -2.75])


# -- gradient accumulation -------------------------------------------------------------------
ACCUMULATION_CASES = [
    ("sgd_momentum", lambda **kw: O.SGD(0.1, momentum=0.9, **kw)),
    ("adam", lambda **kw: O.Adam(0.1, **kw)),
    ("nadam", lambda **kw: O.Nadam(0.1, **kw)),
    ("adamw_clipnorm", lambda **kw: O.AdamW(0.1, weight_decay=0.1, clipnorm=1.0, **kw)),
    ("rmsprop_centered", lambda **kw: O.RMSprop(0.01, centered=True, momentum=0.5, **kw)),
    ("adagrad", lambda **kw: O.Adagrad(0.1, **kw)),
    ("adafactor", lambda **kw: O.Adafactor(0.1, **kw)),
    ("ftrl", lambda **kw: O.Ftrl(0.1, l1_regularization_strength=0.01, **kw)),
    ("lamb", lambda **kw: O.Lamb(0.1, **kw)),
    ("muon", lambda **kw: O.Muon(0.1, **kw)),
    ("schedule_free", lambda **kw: O.ScheduleFreeAdamW(0.1, warmup_steps=2, **kw)),
]


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
@pytest.mark.parametrize("name,factory", ACCUMULATION_CASES, ids=[c[0] for c in ACCUMULATION_CASES])
def test_gradient_accumulation_equals_averaged_gradient(name, factory, compiled):
    steps = 3
    rng = np.random.default_rng(1)
    micro = [[rng.normal(size=(2, 2)), rng.normal(size=(3,))] for _ in range(2 * steps)]
    averaged = [
        [np.mean([m[i] for m in micro[k : k + steps]], axis=0) for i in range(2)]
        for k in range(0, len(micro), steps)
    ]
    start = [np.ones((2, 2)), np.arange(3.0)]

    acc_vars = _vars(*start)
    acc_opt = make_opt(lambda: factory(gradient_accumulation_steps=steps))
    acc_opt.build(acc_vars)
    acc_history = _apply_all(acc_opt, acc_vars, micro, compiled)

    ref_vars = _vars(*start)
    ref_history = _apply_all(make_opt(factory), ref_vars, averaged)

    for k, values in enumerate(acc_history):
        if (k + 1) % steps:  # between updates nothing moves
            expected = start if k < steps else ref_history[k // steps - 1]
        else:
            expected = ref_history[k // steps]
        for got, want in zip(values, expected):
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    assert int(acc_opt.iterations) == 2
    assert int(acc_opt._iterations) == 2 * steps
    for accumulator in acc_opt._accumulated_gradients:
        np.testing.assert_array_equal(accumulator.numpy(), 0.0)


# -- weight decay, None gradients, loss scaling, schedules ----------------------------------
def test_exclude_from_weight_decay():
    kernel = nerve.Variable(np.array([1.0, 2.0]), name="dense/kernel")
    bias = nerve.Variable(np.array([1.0, 2.0]), name="dense/bias")
    opt = make_opt(lambda: O.SGD(0.1, weight_decay=0.5))
    opt.exclude_from_weight_decay(var_names=["bias"])
    opt.apply([ops.zeros((2,), "float64")] * 2, [kernel, bias])
    np.testing.assert_allclose(kernel.numpy(), [0.95, 1.9])
    np.testing.assert_allclose(bias.numpy(), [1.0, 2.0])


def test_none_gradients_are_skipped():
    w, b = _vars([1.0], [2.0])
    opt = O.SGD(1.0, momentum=0.5)
    opt.apply([ops.ones((1,), "float64"), None], [w, b])
    np.testing.assert_allclose(w.numpy(), [0.0])
    np.testing.assert_allclose(b.numpy(), [2.0])
    assert int(opt.iterations) == 1
    opt.apply([None, None], [w, b])
    assert int(opt.iterations) == 2


def test_apply_gradients_and_loss_scale_factor():
    (w,) = _vars([1.0])
    opt = O.SGD(1.0, loss_scale_factor=4.0)
    assert float(opt.scale_loss(ops.convert_to_tensor(2.0))) == 8.0
    iterations = opt.apply_gradients([(ops.convert_to_tensor([4.0], "float64"), w)])
    np.testing.assert_allclose(w.numpy(), [0.0])
    assert int(iterations) == 1


def test_apply_without_variables_uses_built_ones():
    (w,) = _vars([1.0])
    opt = O.SGD(0.5)
    opt.build([w])
    opt.apply([ops.ones((1,), "float64")])
    np.testing.assert_allclose(w.numpy(), [0.5])


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_schedule_learning_rate_matches_torch_scheduler(compiled):
    schedule = O.schedules.ExponentialDecay(0.1, decay_steps=1, decay_rate=0.8)

    expected = torch_trajectory(
        lambda p: T.Adam(p, lr=0.1, eps=0.0),
        scheduler=lambda opt: torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.8),
    )
    # (Adam: the learning rate scales the whole step in both. SGD momentum would differ
    # under a changing rate: Keras scales each gradient into the velocity, torch the
    # velocity.)
    got = nerve_trajectory(lambda: O.Adam(schedule, epsilon=0.0), compiled=compiled)
    # The schedule computes in float32.
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_learning_rate_property_and_setter():
    opt = O.Adam(0.01)
    assert isinstance(opt.learning_rate, nerve.Variable)
    opt.learning_rate = 0.5
    assert float(opt.learning_rate) == 0.5
    scheduled = O.SGD(O.schedules.InverseTimeDecay(1.0, 1, 1.0))
    assert float(scheduled.learning_rate) == 1.0
    scheduled._iterations.assign(3)
    assert float(scheduled.learning_rate) == 0.25
    with pytest.raises(TypeError, match="schedule or callable"):
        scheduled.learning_rate = 0.1
    assert float(O.SGD(lambda: 0.25).learning_rate) == 0.25


def test_variables_are_nontrainable_and_created_once():
    w, b = _vars([1.0, 2.0], [3.0])
    opt = O.Adam(amsgrad=True)
    opt.build([w, b])
    names = [v.name for v in opt.variables]
    assert names[:2] == ["adam_iteration", "adam_learning_rate"]
    assert "v0_momentum" in names and "v1_velocity_hat" in names
    assert len(names) == 2 + 3 * 2
    assert not any(v.trainable for v in opt.variables)
    assert opt.variables[0].dtype == "int64"
    opt.build([w, b])
    opt.apply([ops.ones((2,), "float64"), ops.ones((1,), "float64")], [w, b])
    assert len(opt.variables) == 8
    assert {v.dtype for v in opt.variables[2:]} == {"float64"}


# -- config round trips ----------------------------------------------------------------------
ALL = [
    O.SGD, O.Adam, O.AdamW, O.RMSprop, O.Adagrad, O.Adadelta, O.Adamax, O.Nadam, O.Lion,
    O.Adafactor, O.Ftrl, O.Lamb, O.Muon, O.ScheduleFreeAdamW,
]  # fmt: skip
ALIASES = [
    "sgd", "adam", "adamw", "rmsprop", "adagrad", "adadelta", "adamax", "nadam", "lion",
    "adafactor", "ftrl", "lamb", "muon", "schedulefreeadamw",
]  # fmt: skip


@pytest.mark.parametrize("cls", ALL, ids=[c.__name__ for c in ALL])
def test_config_round_trip(cls):
    opt = cls(learning_rate=0.25, clipnorm=2.0, use_ema=True, gradient_accumulation_steps=4)
    config_ = opt.get_config()
    assert config_["learning_rate"] == 0.25 and config_["clipnorm"] == 2.0
    clone = cls.from_config(config_)
    assert type(clone) is cls and clone.get_config() == config_
    restored = O.deserialize(O.serialize(opt))
    assert type(restored) is cls and restored.get_config() == config_


def test_config_round_trip_specific_arguments():
    opt = O.RMSprop(0.5, rho=0.7, momentum=0.3, epsilon=1e-3, centered=True, name="r")
    config_ = opt.get_config()
    assert {k: config_[k] for k in ("rho", "momentum", "epsilon", "centered", "name")} == {
        "rho": 0.7,
        "momentum": 0.3,
        "epsilon": 1e-3,
        "centered": True,
        "name": "r",
    }
    assert O.RMSprop.from_config(config_).get_config() == config_


def test_config_round_trip_with_schedule():
    schedule = O.schedules.CosineDecay(0.1, 100, alpha=0.1, warmup_target=0.2, warmup_steps=5)
    opt = O.Adam(schedule, beta_1=0.8)
    config_ = opt.get_config()
    assert config_["learning_rate"]["class_name"] == "CosineDecay"
    clone = O.Adam.from_config(config_)
    assert isinstance(clone._learning_rate, O.schedules.CosineDecay)
    assert clone.get_config() == config_ and clone.beta_1 == 0.8


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Keras's own NumPy 2 chatter
@pytest.mark.parametrize("cls", ALL, ids=[c.__name__ for c in ALL])
def test_default_config_and_name_match_keras(cls):
    keras = pytest.importorskip("keras")
    theirs = getattr(keras.optimizers, cls.__name__)().get_config()
    # Keras numbers a repeated default name within a process ("adafactor_1"); nerve does not.
    theirs["name"] = re.sub(r"_\d+$", "", theirs["name"])
    assert cls().get_config() == theirs  # names such as "sgd", "adam_w", "rm_sprop"


@pytest.mark.parametrize("alias,cls", list(zip(ALIASES, ALL)), ids=ALIASES)
def test_get_by_keras_alias(alias, cls):
    assert type(O.get(alias)) is cls
    assert type(O.get(cls.__name__)) is cls
    assert type(O.get({"class_name": alias.upper(), "config": {"learning_rate": 0.5}})) is cls


def test_get_defaults_follow_keras():
    assert O.get("sgd").get_config()["learning_rate"] == pytest.approx(0.01)
    assert O.get("adam").epsilon == 1e-7
    assert O.get("adamw").weight_decay == 0.004
    assert O.get("adagrad").initial_accumulator_value == 0.1
    assert O.get("adadelta").rho == 0.95
    assert O.get("lion").beta_2 == 0.99
    assert O.get(None) is None
    opt = O.SGD()
    assert O.get(opt) is opt


# -- errors ------------------------------------------------------------------------------------
def test_unknown_optimizer_name():
    with pytest.raises(ValueError, match=r"Unknown optimizer 'adamx'.*adam, adamax"):
        O.get("adamx")
    with pytest.raises(ValueError, match="Could not interpret optimizer identifier: 3"):
        O.get(3)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"clipnorm": 1.0, "clipvalue": 1.0},
        {"clipnorm": 1.0, "global_clipnorm": 1.0},
        {"clipvalue": 1.0, "global_clipnorm": 1.0},
    ],
)
def test_conflicting_clip_options(kwargs):
    with pytest.raises(
        ValueError, match="only one of `clipnorm`, `clipvalue` and `global_clipnorm`"
    ):
        O.Adam(**kwargs)


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda: O.SGD(clipnorm=-1.0), "`clipnorm` must be > 0"),
        (lambda: O.SGD(gradient_accumulation_steps=1), "gradient_accumulation_steps` must be"),
        (lambda: O.SGD(use_ema=True, ema_momentum=1.5), "ema_momentum` must be in the range"),
        (lambda: O.SGD(use_ema=True, ema_overwrite_frequency=0), "ema_overwrite_frequency"),
        (lambda: O.SGD(learning_rate="fast"), "`learning_rate` should be a float"),
        (lambda: O.SGD(momentum=1.5), r"SGD: `momentum` must be a float in \[0, 1\]"),
        (lambda: O.AdamW(weight_decay=None), "AdamW: argument `weight_decay` must be a float"),
        (lambda: O.Lion(beta_1=0.0), r"Lion: argument `beta_1` must be in the interval \(0, 1\]"),
        (lambda: O.Adagrad(initial_accumulator_value=-1.0), "initial_accumulator_value"),
        (lambda: O.Adam(betas=(0.9, 0.9)), r"Adam: argument\(s\) not recognized: \['betas'\]"),
        (lambda: O.Ftrl(learning_rate_power=0.5), "Ftrl: `learning_rate_power` must be a number"),
        (lambda: O.Ftrl(initial_accumulator_value=-0.1), "Ftrl: `initial_accumulator_value`"),
        (lambda: O.Ftrl(l1_regularization_strength=-1.0), "Ftrl: `l1_regularization_strength`"),
        (lambda: O.Muon(ns_steps=2.5), "Muon: `ns_steps` must be an integer >= 0"),
        (lambda: O.ScheduleFreeAdamW(beta_1=0.0), r"`beta_1` must be in the interval \(0, 1\]"),
        (lambda: O.ScheduleFreeAdamW(warmup_steps=-1), "`warmup_steps` must be an integer"),
    ],
)
def test_invalid_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_apply_errors():
    w, b = _vars([1.0], [2.0])
    opt = O.SGD()
    with pytest.raises(ValueError, match="must already be built"):
        opt.apply([ops.ones((1,))])
    opt.build([w])
    with pytest.raises(ValueError, match="unknown variable 'v1'"):
        opt.apply([ops.ones((1,))], [b])
    with pytest.raises(ValueError, match="got 2 gradients for 1 variables"):
        opt.apply([ops.ones((1,)), ops.ones((1,))])


def test_building_inside_a_trace_creates_concrete_state():
    (w,) = _vars([1.0])
    (eager_w,) = _vars([1.0])
    opt, eager_opt = O.Adam(), O.Adam()

    @nerve.function
    def step(g):
        opt.apply([g], [w])

    for _ in range(3):
        step(ops.ones((1,), "float64"))
        eager_opt.apply([ops.ones((1,), "float64")], [eager_w])
    np.testing.assert_allclose(w.numpy(), eager_w.numpy(), rtol=1e-12)
    assert int(opt.iterations) == 3 and step.trace_count == 1


def test_constraints_are_applied_after_each_update():
    from nerve import constraints

    w = nerve.Variable([3.0, -2.0], dtype="float64", constraint=constraints.NonNeg())
    O.SGD(learning_rate=0.1).apply([ops.ones((2,), "float64")], [w])
    np.testing.assert_allclose(w.numpy(), [2.9, 0.0])
