"""nerve.random: seeding semantics, statistics, dtypes, gradients and errors.

Statistical checks use fixed seeds, so they are deterministic; their bounds are
wide enough (about 5 standard errors) that a correct sampler passes for any seed,
and narrow enough that a wrong distribution fails.
"""

import math
import random as python_random

import numpy as np
import pytest

import nerve
from nerve import ops
from nerve import random as nr
from nerve.backend.numpy_backend.random import philox_generator as generator
from nerve.core.errors import DTypeError, ShapeError
from nerve.primitives import PRIMITIVES
from nerve.primitives import random as rp
from nerve.testing.op_harness import Input, OpCase, T, op_tests, run_with_shape_rules
from nerve.utils import set_random_seed

N = 100_000


def arr(x):
    return np.asarray(x.numpy())


# -- seeding semantics -----------------------------------------------------------------

SAMPLERS = {
    "normal": lambda seed: nr.normal((5,), seed=seed),
    "uniform": lambda seed: nr.uniform((5,), seed=seed),
    "truncated_normal": lambda seed: nr.truncated_normal((5,), seed=seed),
    "randint": lambda seed: nr.randint((5,), 0, 1000, seed=seed),
    "gamma": lambda seed: nr.gamma((5,), 2.0, seed=seed),
    "beta": lambda seed: nr.beta((5,), 2.0, 3.0, seed=seed),
    "binomial": lambda seed: nr.binomial((5,), 50, 0.5, seed=seed),
    "categorical": lambda seed: nr.categorical(ops.zeros((2, 100)), 5, seed=seed),
    "shuffle": lambda seed: nr.shuffle(ops.arange(50), seed=seed),
    "permutation": lambda seed: nr.permutation(50, seed=seed),
    "dropout": lambda seed: nr.dropout(ops.ones((20,)), 0.5, seed=seed),
    "bernoulli": lambda seed: nr.bernoulli((20,), 0.5, seed=seed),
}


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_int_seed_is_stateless(name):
    draw = SAMPLERS[name]
    np.testing.assert_array_equal(arr(draw(7)), arr(draw(7)))
    assert not np.array_equal(arr(draw(7)), arr(draw(8)))


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_seed_generator_advances_and_replays(name):
    draw = SAMPLERS[name]
    gen_a, gen_b = nr.SeedGenerator(123), nr.SeedGenerator(123)
    first, second = arr(draw(gen_a)), arr(draw(gen_a))
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(arr(draw(gen_b)), first)
    np.testing.assert_array_equal(arr(draw(gen_b)), second)


def test_seed_generator_state():
    gen = nr.SeedGenerator(seed=9, name="g")
    assert isinstance(gen.state, nerve.Variable)
    assert gen.state.dtype == "int64" and gen.state.shape == (2,)
    assert not gen.state.trainable
    assert arr(gen.next()).tolist() == [9, 0]
    assert arr(gen.next()).tolist() == [9, 1]
    assert arr(gen.state).tolist() == [9, 2]
    again = nr.SeedGenerator.from_config(gen.get_config())
    assert arr(again.next()).tolist() == [9, 0]


def test_seed_tensor_is_accepted():
    seed = ops.convert_to_tensor([4, 2], dtype="int64")
    np.testing.assert_array_equal(arr(nr.normal((3,), seed=seed)), arr(nr.normal((3,), seed=seed)))


def test_unseeded_draws_use_the_global_generator():
    set_random_seed(31)
    a, b = arr(nr.normal((4,))), arr(nr.normal((4,)))
    assert not np.array_equal(a, b)
    set_random_seed(31)
    np.testing.assert_array_equal(arr(nr.normal((4,))), a)
    np.testing.assert_array_equal(arr(nr.normal((4,))), b)
    # A SeedGenerator without a seed is seeded from the global one: reproducible too.
    set_random_seed(31)
    c = arr(nr.uniform((3,), seed=nr.SeedGenerator()))
    set_random_seed(31)
    np.testing.assert_array_equal(arr(nr.uniform((3,), seed=nr.SeedGenerator())), c)


def test_set_random_seed_seeds_python_and_numpy():
    set_random_seed(5)
    values = (python_random.random(), np.random.rand())
    set_random_seed(5)
    assert (python_random.random(), np.random.rand()) == values
    with pytest.raises(ValueError, match="set_random_seed"):
        set_random_seed("5")


def test_golden_values_are_stable_across_machines():
    # Philox draws depend only on the seed: these numbers hold on every machine.
    np.testing.assert_allclose(
        arr(nr.uniform((4,), dtype="float64", seed=2024)),
        [0.9574585979949329, 0.3340355582835274, 0.1481155402531099, 0.3077041053104902],
        rtol=0,
        atol=0,
    )
    assert arr(nr.randint((6,), 0, 100, seed=2024)).tolist() == [66, 95, 52, 33, 41, 14]


def test_random_primitives_are_not_differentiable():
    for name, prim in PRIMITIVES.items():
        if name.startswith("random_") and name not in ("random_shuffle", "random_unshuffle"):
            assert not prim.differentiable, name


# -- statistics --------------------------------------------------------------------------


def test_normal_moments():
    x = arr(nr.normal((N,), mean=2.0, stddev=3.0, seed=1)).astype(np.float64)
    assert abs(x.mean() - 2.0) < 5 * 3.0 / math.sqrt(N)
    assert abs(x.std() - 3.0) < 5 * 3.0 / math.sqrt(2 * N)


def test_uniform_range_and_moments():
    x = arr(nr.uniform((N,), minval=-2.0, maxval=3.0, seed=2)).astype(np.float64)
    assert x.min() >= -2.0 and x.max() < 3.0
    assert abs(x.mean() - 0.5) < 5 * 5 / math.sqrt(12 * N)
    counts, _ = np.histogram(x, bins=10, range=(-2.0, 3.0))
    assert counts.min() > 0.9 * N / 10 and counts.max() < 1.1 * N / 10


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
def test_uniform_excludes_maxval_after_rounding(dtype):
    pytest.importorskip("ml_dtypes")
    x = nr.uniform((N,), dtype=dtype, seed=3)
    assert x.dtype == dtype
    values = arr(x).astype(np.float64)
    assert values.min() >= 0.0 and values.max() < 1.0


def test_truncated_normal_bound_and_moments():
    x = arr(nr.truncated_normal((N,), mean=1.0, stddev=0.5, seed=4)).astype(np.float64)
    assert np.all(np.abs(x - 1.0) <= 2 * 0.5 + 1e-6)
    # The standard normal truncated to [-2, 2] has std 0.8796.
    assert abs(x.mean() - 1.0) < 5 * 0.5 / math.sqrt(N)
    assert abs(x.std() - 0.5 * 0.8796) < 0.01


def test_randint_range_includes_minval_excludes_maxval():
    x = arr(nr.randint((N,), -3, 4, seed=5))
    assert x.dtype == np.int32
    counts = np.bincount(x + 3, minlength=7)
    assert len(counts) == 7 and counts.min() > 0  # -3..3 all appear, 4 never does
    expected = N / 7
    assert np.sum((counts - expected) ** 2 / expected) < 35  # chi-square, 6 dof


def chi_square(samples, probabilities):
    counts = np.bincount(samples, minlength=len(probabilities))
    expected = len(samples) * np.asarray(probabilities)
    return float(np.sum((counts - expected) ** 2 / expected))


def test_categorical_frequencies_match_softmax():
    logits = np.array([[0.0, 1.0, 2.0, -1.0], [3.0, 3.0, 0.0, 0.0]])
    samples = arr(nr.categorical(logits, N, seed=6))
    assert samples.shape == (2, N) and samples.dtype == np.int32
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    # The 1e-6 quantile of chi-square with 3 degrees of freedom is 30.7.
    for row in range(2):
        assert chi_square(samples[row], probs[row]) < 30.7


def test_categorical_frequencies_fail_for_wrong_probabilities():
    # The check above can fail: the same samples against uniform probabilities do.
    samples = arr(nr.categorical([[0.0, 1.0, 2.0, -1.0]], N, seed=6))
    assert chi_square(samples[0], [0.25] * 4) > 30.7


def test_categorical_never_picks_impossible_classes():
    logits = np.array([[-np.inf, 0.0, -np.inf], [0.0, -np.inf, 0.0]])
    samples = arr(nr.categorical(logits, 1000, dtype="int64", seed=7))
    assert samples.dtype == np.int64
    assert set(samples[0].tolist()) == {1}
    assert set(samples[1].tolist()) == {0, 2}


def test_gamma_beta_binomial_means():
    g = arr(nr.gamma((N,), alpha=3.0, dtype="float64", seed=8))
    assert abs(g.mean() - 3.0) < 5 * math.sqrt(3.0 / N)
    b = arr(nr.beta((N,), alpha=2.0, beta=6.0, seed=9)).astype(np.float64)
    assert b.min() >= 0 and b.max() <= 1 and abs(b.mean() - 0.25) < 0.005
    k = arr(nr.binomial((N,), counts=20, probabilities=0.3, seed=10))
    assert k.dtype == np.float32 and np.all(k == np.round(k))
    assert abs(k.mean() - 6.0) < 5 * math.sqrt(20 * 0.3 * 0.7 / N)


def test_distribution_parameters_broadcast():
    alpha = np.array([1.0, 100.0])
    g = arr(nr.gamma((20_000, 2), alpha, seed=11)).mean(axis=0)
    np.testing.assert_allclose(g, alpha, rtol=0.05)
    k = arr(nr.binomial((3, 2), counts=[0.0, 10.0], probabilities=1.0, seed=0))
    np.testing.assert_array_equal(k, [[0, 10]] * 3)
    with pytest.raises(ShapeError, match=r"random_gamma.*\(3,\)"):
        nr.gamma((4, 2), np.ones(3), seed=0)


def test_bernoulli():
    x = arr(nr.bernoulli((N,), p=0.2, seed=12))
    assert x.dtype == np.bool_ and abs(x.mean() - 0.2) < 5 * math.sqrt(0.16 / N)
    assert arr(nr.bernoulli((3,), p=0.0, dtype="int32", seed=0)).tolist() == [0, 0, 0]


# -- shuffle and permutation ----------------------------------------------------------------


def test_shuffle_is_a_permutation_along_axis():
    x = np.arange(24.0).reshape(4, 6)
    for axis in (0, 1, -1):
        y = arr(nr.shuffle(x, axis=axis, seed=13))
        moved = np.moveaxis(y, axis, 0)
        original = np.moveaxis(x, axis, 0)
        # Whole slices move together, and each appears once.
        rows = sorted(map(tuple, moved.reshape(moved.shape[0], -1).tolist()))
        assert rows == sorted(map(tuple, original.reshape(original.shape[0], -1).tolist()))
    assert not np.array_equal(arr(nr.shuffle(x, axis=1, seed=13)), x)


def test_shuffle_keeps_dtype_and_handles_empty():
    assert nr.shuffle(np.arange(5, dtype=np.int8), seed=0).dtype == "int8"
    assert nr.shuffle(np.zeros((0, 3)), seed=0).shape == (0, 3)
    assert sorted(arr(nr.permutation(10, seed=1)).tolist()) == list(range(10))


def _permuted(x, axis, seed):
    perm = generator(seed).permutation(x.shape[axis])
    return perm


SHUFFLE_SEED = 3


def _np_shuffle(axis):
    def reference(x):
        return np.take(x, _permuted(x, axis, (SHUFFLE_SEED, 0)), axis=axis)

    return reference


def _torch_shuffle(axis):
    def reference(x):
        perm = _permuted(x, axis, (SHUFFLE_SEED, 0))
        return T.index_select(x, axis % x.ndim, T.from_numpy(perm))

    return reference


def _np_dropout(rate, seed):
    def reference(x):
        keep = generator((seed, 0)).random(x.shape, dtype=np.float32) >= rate
        return x * keep / (1 - rate)

    return reference


def _torch_dropout(rate, seed):
    def reference(x):
        keep = generator((seed, 0)).random(tuple(x.shape), dtype=np.float32) >= rate
        return x * T.from_numpy(np.asarray(keep / (1 - rate), dtype=np.float64))

    return reference


#: NOT_OPS: ``nerve.random`` draws record no model node on symbolic tensors (as
#: ``keras.random``'s are no ``keras.ops`` operations): in a model, randomness lives in
#: layers (``Dropout``, ``GaussianNoise``) that hold a ``SeedGenerator``'s state.
CASES = [
    OpCase(
        f"shuffle_axis{axis}",
        lambda x, axis=axis: nr.shuffle(x, axis=axis, seed=SHUFFLE_SEED),
        [(Input((5, 3)),), (Input((4, 1)),), (Input((1, 2)),)],
        numpy=_np_shuffle(axis),
        torch=_torch_shuffle(axis),
        grad2=True,
        symbolic=False,  # see NOT_OPS
    )
    for axis in (0, -1)
] + [
    OpCase(
        "dropout",
        lambda x: nr.dropout(x, 0.4, seed=11),
        [(Input((6, 5)),), (Input((0, 3)),), (Input(()),)],
        numpy=_np_dropout(0.4, 11),
        torch=_torch_dropout(0.4, 11),
        grad2=True,
        symbolic=False,  # see NOT_OPS
    ),
]


def sampler(name, fn, numpy=None, variants=((),), **kw):
    """A row for a sampler: forward (and its shape rules) only; NumPy references, where
    given, pin the exact stream a seed produces (Philox keyed by (seed, 0))."""
    return OpCase(
        name, fn, list(variants), numpy=numpy, grad=False, dtypes=("float32",), symbolic=False, **kw
    )


def rng(seed):
    return generator((seed, 0))


CASES += [
    sampler(
        "normal",
        lambda: nr.normal((3, 4), mean=1.0, stddev=2.0, seed=21),
        lambda: rng(21).standard_normal((3, 4), dtype=np.float32) * 2 + 1,
    ),
    sampler(
        "uniform",
        lambda: nr.uniform((5,), minval=-1.0, maxval=3.0, dtype="float64", seed=22),
        lambda: rng(22).random(5) * 4 - 1,
    ),
    sampler("truncated_normal", lambda: nr.truncated_normal((0, 3), seed=23)),
    sampler(
        "randint",
        lambda: nr.randint((2, 3), -5, 5, seed=24),
        lambda: rng(24).integers(-5, 5, (2, 3)).astype(np.int32),
    ),
    sampler(
        "gamma",
        lambda alpha: nr.gamma((2, 3), alpha, dtype="float64", seed=25),
        lambda alpha: rng(25).gamma(alpha, size=(2, 3)),
        variants=[(Input((3,), kind="positive"),), (Input((), kind="positive"),)],
    ),
    sampler(
        "beta",
        lambda a, b: nr.beta((4,), a, b, dtype="float64", seed=26),
        lambda a, b: rng(26).beta(a, b, size=(4,)),
        variants=[(Input((4,), kind="positive"), Input((), kind="positive"))],
    ),
    sampler(
        "binomial",
        lambda: nr.binomial((3,), [5.0, 50.0, 500.0], 0.3, dtype="float64", seed=27),
        lambda: rng(27).binomial([5, 50, 500], 0.3, size=(3,)).astype(np.float64),
    ),
    sampler(
        "categorical",
        lambda logits: nr.categorical(logits, 6, seed=28),
        variants=[(Input((3, 4)),), (Input((0, 2)),), (Input((2, 1)),)],
    ),
    # The inverse permutation, bound directly: public ops reach it only in shuffle's vjp.
    OpCase(
        "unshuffle",
        lambda x: rp.random_unshuffle_p.bind(
            ops.convert_to_tensor([SHUFFLE_SEED, 0], "int64"), x, axis=0
        ),
        [(Input((5, 2)),), (Input((1,)),)],
        numpy=lambda x: np.take(x, np.argsort(_permuted(x, 0, (SHUFFLE_SEED, 0))), axis=0),
        grad2=True,
        symbolic=False,  # see NOT_OPS
    ),
]

globals().update(op_tests(CASES))


# -- dropout -------------------------------------------------------------------------------


def test_dropout_keeps_mean_and_drops_rate():
    rate = 0.3
    y = arr(nr.dropout(ops.ones((N,)), rate, seed=14))
    assert set(np.unique(y).tolist()) <= {0.0, float(np.float32(1 / (1 - rate)))}
    assert abs((y == 0).mean() - rate) < 5 * math.sqrt(rate * (1 - rate) / N)
    assert abs(y.mean() - 1.0) < 0.02


def test_dropout_gradient_is_mask_over_keep():
    rate = 0.25
    x = nerve.Variable(np.random.default_rng(0).standard_normal((50, 8)).astype(np.float32))
    with nerve.GradientTape() as tape:
        y = nr.dropout(x, rate, seed=15)
        loss = ops.sum(y)
    grad = arr(tape.gradient(loss, x))
    mask = arr(nr.dropout(ops.ones((50, 8)), rate, seed=15)) * (1 - rate)
    np.testing.assert_allclose(grad, mask / (1 - rate), rtol=1e-6)
    np.testing.assert_allclose(arr(y), arr(x) * mask / (1 - rate), rtol=1e-6)


def test_dropout_noise_shape_drops_whole_columns():
    y = arr(nr.dropout(ops.ones((64, 10)), 0.5, noise_shape=(1, None), seed=16))
    assert np.all(y == y[:1])  # every row shares one mask
    assert 0 < (y[0] == 0).sum() < 10


def test_dropout_rate_zero_is_identity_and_dtype_is_kept():
    x = np.linspace(-1, 1, 12).reshape(3, 4)
    np.testing.assert_array_equal(arr(nr.dropout(x, 0.0, seed=0)), x)
    assert nr.dropout(ops.ones((4,), dtype="float16"), 0.5, seed=0).dtype == "float16"
    assert nr.dropout(ops.ones((4,), dtype="int32"), 0.5, seed=0).dtype == "float32"


# -- dtypes and shape rules ------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
def test_float_samplers_honour_dtype(dtype):
    pytest.importorskip("ml_dtypes")
    for fn in (nr.normal, nr.uniform, nr.truncated_normal):
        x, seen = run_with_shape_rules(lambda fn=fn: fn((2, 3), dtype=dtype, seed=0))
        assert x.dtype == dtype and x.shape == (2, 3), fn.__name__
        assert seen, fn.__name__
    assert nr.gamma((2,), 1.0, dtype=dtype, seed=0).dtype == dtype


def test_default_dtype_follows_floatx():
    assert nr.normal((2,), seed=0).dtype == "float32"
    with nerve.config.floatx_scope("float64"):
        assert nr.uniform((2,), seed=0).dtype == "float64"
        assert nr.binomial((2,), 3, 0.5, seed=0).dtype == "float64"


@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int32", "int64"])
def test_randint_dtypes(dtype):
    x, _ = run_with_shape_rules(lambda: nr.randint((100,), 0, 7, dtype=dtype, seed=0))
    assert x.dtype == dtype
    values = arr(x)
    assert values.min() >= 0 and values.max() < 7


def test_every_sampler_matches_its_shape_rule():
    for draw in SAMPLERS.values():
        run_with_shape_rules(lambda draw=draw: draw(0))  # asserts rule == kernel per bind
    run_with_shape_rules(lambda: nr.normal((0, 4), seed=0))
    run_with_shape_rules(lambda: nr.categorical(np.zeros((0, 3)), 2, seed=0))
    run_with_shape_rules(lambda: nr.categorical(np.zeros((3, 2)), 0, seed=0))
    assert nr.normal((), seed=0).shape == ()
    assert nr.normal(4, seed=0).shape == (4,)


def test_random_works_under_device_scope():
    with nerve.device("cpu"):
        assert nr.normal((2,), seed=0).device == "cpu"


# -- errors -------------------------------------------------------------------------------------


def test_bad_shapes():
    with pytest.raises(ValueError, match=r"normal: shape \(2, -1\) has a negative dimension"):
        nr.normal((2, -1), seed=0)
    with pytest.raises(TypeError, match="uniform: shape must be a tuple of ints"):
        nr.uniform("abc", seed=0)
    with pytest.raises(ShapeError, match=r"categorical: logits must be 2-D.*\(3,\)"):
        nr.categorical(np.zeros(3), 2, seed=0)
    with pytest.raises(ShapeError, match=r"categorical: logits of shape \(2, 0\) have no classes"):
        nr.categorical(np.zeros((2, 0)), 3, seed=0)
    with pytest.raises(ShapeError, match=r"dropout: noise_shape \(2, 3\).*\(4, 3\)"):
        nr.dropout(ops.ones((4, 3)), 0.5, noise_shape=(2, 3), seed=0)
    with pytest.raises(nerve.core.errors.AxisError, match="shuffle: axis 2 is out of range"):
        nr.shuffle(ops.ones((2, 2)), axis=2, seed=0)


def test_bad_rates_and_ranges():
    with pytest.raises(ValueError, match=r"dropout: rate must be in \[0, 1\), got 1.0"):
        nr.dropout(ops.ones((2,)), 1.0)
    with pytest.raises(ValueError, match=r"dropout: rate must be in \[0, 1\), got -0.1"):
        nr.dropout(ops.ones((2,)), -0.1)
    with pytest.raises(ValueError, match=r"uniform: minval must be < maxval, got 1\.0 and 1\.0"):
        nr.uniform((2,), 1.0, 1.0)
    with pytest.raises(ValueError, match="randint: minval must be < maxval, got 5 and 2"):
        nr.randint((2,), 5, 2)
    with pytest.raises(ValueError, match=r"bernoulli: p must be in \[0, 1\]"):
        nr.bernoulli((2,), 1.5)
    with pytest.raises(ValueError, match="categorical: num_samples must be >= 0"):
        nr.categorical(np.zeros((1, 2)), -1)


def test_bad_dtypes():
    with pytest.raises(
        DTypeError, match="normal: dtype must be a floating-point type, got 'int32'"
    ):
        nr.normal((2,), dtype="int32")
    with pytest.raises(DTypeError, match="randint: dtype must be an integer type, got 'float32'"):
        nr.randint((2,), 0, 3, dtype="float32")
    with pytest.raises(
        DTypeError, match="categorical: dtype must be an integer type, got 'float32'"
    ):
        nr.categorical(np.zeros((1, 2)), 1, dtype="float32", seed=0)


def test_bad_seeds():
    with pytest.raises(TypeError, match="normal: seed must be None, an int, a SeedGenerator"):
        nr.normal((2,), seed=1.5)
    with pytest.raises(ValueError, match=r"SeedGenerator: seed must be an int in \[0, 2\*\*63\)"):
        nr.SeedGenerator(-1)
    with pytest.raises(TypeError, match=r"seed must be an int64 tensor of shape \(2,\)"):
        PRIMITIVES["random_normal"].bind(
            ops.convert_to_tensor([1], "int64"), shape=(2,), dtype="float32", mean=0.0, stddev=1.0
        )
