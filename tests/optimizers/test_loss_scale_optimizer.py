"""LossScaleOptimizer: overflowing steps are skipped and halve the scale, finite runs
grow it, and a mixed_float16 model whose scaled gradients overflow float16 still trains."""

import numpy as np
import pytest

import nerve
from nerve import layers, mixed_precision, optimizers


def test_overflow_skips_the_step_and_halves_the_scale():
    w = nerve.Variable([1.0, 2.0])
    opt = optimizers.LossScaleOptimizer(optimizers.Adam(0.1), initial_scale=8.0)
    opt.apply([[np.inf, 1.0]], [w])
    np.testing.assert_array_equal(w.numpy(), [1.0, 2.0])
    assert float(opt.dynamic_scale.numpy()) == 4.0
    assert int(opt.iterations.numpy()) == 0
    opt.apply([[4.0, 4.0]], [w])
    assert int(opt.iterations.numpy()) == 1
    assert np.all(w.numpy() < [1.0, 2.0])


@pytest.mark.parametrize(
    "inner",
    [{"use_ema": True}, {"use_ema": True, "ema_overwrite_frequency": 1}, {"momentum": 0.9}],
    ids=["ema", "ema-overwrite", "momentum"],
)
def test_a_skipped_step_leaves_the_inner_optimizers_state(inner):
    # The variables, the momentum slots and the moving averages (and their overwrite of
    # the variables): a non-finite step writes none of them.
    w = nerve.Variable([1.0, 2.0])
    opt = optimizers.LossScaleOptimizer(optimizers.SGD(0.1, **inner), initial_scale=8.0)
    for _ in range(2):  # finite steps: the state is built and the averages lag behind w
        opt.apply([[8.0, 8.0]], [w])
    state = [v.numpy().copy() for v in opt.inner_optimizer.variables]
    before = w.numpy().copy()
    opt.apply([[np.inf, 8.0]], [w])
    np.testing.assert_array_equal(w.numpy(), before)
    for before, variable in zip(state, opt.inner_optimizer.variables):
        np.testing.assert_array_equal(variable.numpy(), before, err_msg=variable.name)


@pytest.mark.parametrize(
    "growth_steps, steps, expected_scale", [(2, 2, 4.0), (2, 3, 4.0), (3, 2, 2.0)]
)
def test_scale_doubles_after_growth_steps_finite_steps(growth_steps, steps, expected_scale):
    w = nerve.Variable([1.0])
    opt = optimizers.LossScaleOptimizer(
        optimizers.SGD(0.1), initial_scale=2.0, dynamic_growth_steps=growth_steps
    )
    for _ in range(steps):
        opt.apply([[1.0]], [w])
    assert float(opt.dynamic_scale.numpy()) == expected_scale


def test_scaled_gradients_are_unscaled_before_the_update():
    w, reference = nerve.Variable([1.0]), nerve.Variable([1.0])
    opt = optimizers.LossScaleOptimizer(optimizers.SGD(0.5), initial_scale=64.0)
    opt.apply([[64.0 * 3.0]], [w])
    optimizers.SGD(0.5).apply([[3.0]], [reference])
    np.testing.assert_allclose(w.numpy(), reference.numpy())


def test_mixed_float16_compile_wraps_and_survives_float16_overflow():
    # Its own seed: the initial weights must not depend on which tests ran before.
    nerve.utils.set_random_seed(0)
    mixed_precision.set_global_policy("mixed_float16")
    try:
        model = nerve.Sequential(
            [layers.Input((4,)), layers.Dense(8, activation="relu"), layers.Dense(1)]
        )
        model.compile(optimizer=optimizers.SGD(0.01), loss="mse")
    finally:
        mixed_precision.set_global_policy(None)
    assert isinstance(model.optimizer, optimizers.LossScaleOptimizer)
    x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
    y = (x.sum(1, keepdims=True) * 10).astype("float32")
    # The first scaled losses (~500 * 2**15) overflow float16 gradients.
    history = model.fit(x, y, epochs=5, batch_size=16, verbose=0)
    assert float(model.optimizer.dynamic_scale.numpy()) < 2.0**15
    assert all(np.isfinite(w).all() for w in model.get_weights())
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"initial_scale": 0.0}, "initial_scale"),
        ({"dynamic_growth_steps": 0}, "dynamic_growth_steps"),
    ],
)
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        optimizers.LossScaleOptimizer(optimizers.SGD(), **kwargs)


def test_config_round_trips():
    opt = optimizers.LossScaleOptimizer(optimizers.Adam(0.003), initial_scale=128.0)
    twin = optimizers.LossScaleOptimizer.from_config(opt.get_config())
    assert twin.get_config() == opt.get_config()
