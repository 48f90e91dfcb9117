"""Random tensors driven by explicit seeds (Keras 3's ``keras.random``).

Every function takes ``seed``:

* an ``int``: the same numbers on every call (a stateless draw);
* a ``SeedGenerator``: a new seed from it on every call, so repeated calls differ
  and two generators built with the same seed give the same sequences;
* ``None``: the next seed of the one global ``SeedGenerator``, which starts from
  a fixed seed (so programs are reproducible) and is reset by
  ``nerve.utils.set_random_seed``. It is the only hidden random state in nerve.

>>> import nerve
>>> a = nerve.random.normal((2, 3), seed=7)
>>> b = nerve.random.normal((2, 3), seed=7)
>>> a.shape, a.dtype, bool((a.numpy() == b.numpy()).all())
((2, 3), 'float32', True)
>>> gen = nerve.random.SeedGenerator(42)
>>> x, y = nerve.random.uniform((4,), seed=gen), nerve.random.uniform((4,), seed=gen)
>>> bool((x.numpy() == y.numpy()).all())
False
"""

from __future__ import annotations

import itertools
from typing import Any

from nerve.core import config, dtypes
from nerve.core.errors import DTypeError, ShapeError, normalize_axis, with_location
from nerve.graph.trace import init_scope
from nerve.ops import elementwise as _ew
from nerve.ops._convert import cast, tensor, to_float
from nerve.ops.creation import _shape, arange
from nerve.primitives import random as rp
from nerve.tensor import Tensor, Variable, convert_to_tensor

__all__ = [
    "SeedGenerator",
    "bernoulli",
    "beta",
    "binomial",
    "categorical",
    "dropout",
    "gamma",
    "global_seed_generator",
    "host_seed",
    "normal",
    "permutation",
    "randint",
    "shuffle",
    "truncated_normal",
    "uniform",
]

#: Seed of the global generator until ``nerve.utils.set_random_seed`` changes it.
DEFAULT_SEED = 1337

_MAX_SEED = 2**63 - 1
_generator_ids = itertools.count()


class SeedGenerator:
    """A source of seeds whose state lives in a non-trainable ``nerve.Variable``.

    The state is ``[seed, counter]`` (int64); ``next()`` returns it and then advances
    the counter, so each draw gets a fresh, reproducible seed.

    >>> import nerve
    >>> gen = nerve.random.SeedGenerator(seed=3)
    >>> gen.next().numpy(), gen.next().numpy()
    (array([3, 0]), array([3, 1]))
    >>> gen.state.trainable, gen.state.dtype
    (False, 'int64')

    ``seed=None`` takes a seed from the global generator.
    """

    def __init__(self, seed: int | None = None, name: str | None = None, **kwargs: Any):
        if kwargs:
            raise TypeError(f"SeedGenerator got unexpected arguments {sorted(kwargs)}.")
        if seed is None:
            # Deterministic given the global seed: no clock, no OS entropy. Drawn eagerly
            # even while a function is traced (a layer made inside a traced call), as
            # state is created in TensorFlow's init_scope.
            with init_scope():
                seed = int(randint((), 0, 2**31 - 1, dtype="int64", seed=global_seed_generator()))
        if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed <= _MAX_SEED:
            raise ValueError(
                with_location(f"SeedGenerator: seed must be an int in [0, 2**63), got {seed!r}.")
            )
        self._initial_seed = seed
        self.name = name if name is not None else f"seed_generator_{next(_generator_ids)}"
        with init_scope():
            self.state = Variable(
                [seed, 0], dtype="int64", trainable=False, name=f"{self.name}_state"
            )

    def next(self, ordered: bool = True) -> Tensor:
        """The current seed, as an int64 tensor of shape ``(2,)``; advances the state.
        (``ordered`` is accepted for Keras compatibility; draws are always ordered.)"""
        current = self.state.value
        self.state.assign_add([0, 1])
        return current

    def get_config(self) -> dict:
        """The constructor arguments (the initial seed, not the current state)."""
        return {"seed": self._initial_seed, "name": self.name}

    @classmethod
    def from_config(cls, config: dict) -> SeedGenerator:
        """A new generator from ``get_config()``'s result; it restarts the sequence."""
        return cls(**config)

    def __repr__(self) -> str:
        return f"<SeedGenerator {self.name!r} seed={self._initial_seed}>"


_global_generator: SeedGenerator | None = None


def global_seed_generator() -> SeedGenerator:
    """The generator that ``seed=None`` draws from (created on first use)."""
    global _global_generator
    if _global_generator is None:
        _global_generator = SeedGenerator(DEFAULT_SEED, name="global_seed_generator")
    return _global_generator


def _reset_global_seed(seed: int) -> None:
    """Restart the global generator from ``seed`` (``nerve.utils.set_random_seed``)."""
    global _global_generator
    _global_generator = SeedGenerator(seed, name="global_seed_generator")


def host_seed(seed: int | None = None) -> int:
    """An int seed for randomness that runs on the host (data shuffling in input
    pipelines): ``seed`` itself, or, for ``None``, one drawn from the global
    ``SeedGenerator`` (so ``nerve.utils.set_random_seed`` reproduces it).

    >>> host_seed(7)
    7
    >>> 0 <= host_seed() < 2**31
    True
    """
    if seed is not None:
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise TypeError(f"seed must be None or an int, got {type(seed).__name__} {seed!r}.")
        return seed
    with init_scope():
        draw = randint((), 0, 2**31 - 1, dtype="int64", seed=global_seed_generator())
    return int(draw)


def _draw_seed(seed: Any, op: str) -> Tensor:
    """The seed input of a random primitive (int64, shape ``(2,)``) for a user's ``seed``.
    A generator's seed is a read of its state, so traced programs draw anew each run."""
    if seed is None:
        seed = global_seed_generator()
    if isinstance(seed, SeedGenerator):
        return seed.next()
    if isinstance(seed, int) and not isinstance(seed, bool):
        return convert_to_tensor([seed, 0], "int64")
    if isinstance(seed, Tensor) and dtypes.is_int(seed.dtype) and seed.shape == (2,):
        return cast(seed, "int64")
    raise TypeError(
        with_location(
            f"{op}: seed must be None, an int, a SeedGenerator or an int tensor of shape "
            f"(2,), got {type(seed).__name__} {seed!r}."
        )
    )


def _float_dtype(dtype: Any, op: str) -> str:
    dtype = dtypes.standardize_dtype(dtype or config.floatx())
    if not dtypes.is_float(dtype):
        raise DTypeError(
            with_location(f"{op}: dtype must be a floating-point type, got {dtype!r}.")
        )
    return dtype


def _int_dtype(dtype: Any, op: str) -> str:
    dtype = dtypes.standardize_dtype(dtype)
    if not dtypes.is_int(dtype):
        raise DTypeError(with_location(f"{op}: dtype must be an integer type, got {dtype!r}."))
    return dtype


# -- continuous distributions ---------------------------------------------------------


def normal(
    shape: Any, mean: float = 0.0, stddev: float = 1.0, dtype: str | None = None, seed: Any = None
) -> Tensor:
    """Samples from a normal distribution with ``mean`` and ``stddev``.

    >>> import nerve
    >>> nerve.random.normal((2, 3), seed=1).shape
    (2, 3)
    >>> nerve.random.normal((2,), dtype="float64", seed=1).dtype
    'float64'
    """
    return rp.random_normal_p.bind(
        _draw_seed(seed, "normal"),
        shape=_shape(shape, "normal"),
        dtype=_float_dtype(dtype, "normal"),
        mean=float(mean),
        stddev=float(stddev),
    )


def uniform(
    shape: Any, minval: float = 0.0, maxval: float = 1.0, dtype: str | None = None, seed: Any = None
) -> Tensor:
    """Samples from the uniform distribution on ``[minval, maxval)``.

    >>> import nerve
    >>> x = nerve.random.uniform((1000,), minval=-1.0, maxval=1.0, seed=0)
    >>> bool(nerve.ops.min(x) >= -1.0), bool(nerve.ops.max(x) < 1.0)
    (True, True)
    """
    minval, maxval = float(minval), float(maxval)
    if not minval < maxval:
        raise ValueError(
            with_location(f"uniform: minval must be < maxval, got {minval} and {maxval}.")
        )
    return rp.random_uniform_p.bind(
        _draw_seed(seed, "uniform"),
        shape=_shape(shape, "uniform"),
        dtype=_float_dtype(dtype, "uniform"),
        minval=minval,
        maxval=maxval,
    )


def truncated_normal(
    shape: Any, mean: float = 0.0, stddev: float = 1.0, dtype: str | None = None, seed: Any = None
) -> Tensor:
    """Normal samples, with values more than two ``stddev`` from ``mean`` re-drawn.

    >>> import nerve
    >>> x = nerve.random.truncated_normal((1000,), stddev=0.5, seed=0)
    >>> bool(nerve.ops.max(nerve.ops.abs(x)) <= 1.0)
    True
    """
    return rp.random_truncated_normal_p.bind(
        _draw_seed(seed, "truncated_normal"),
        shape=_shape(shape, "truncated_normal"),
        dtype=_float_dtype(dtype, "truncated_normal"),
        mean=float(mean),
        stddev=float(stddev),
    )


def _parameter(value: Any, dtype: str) -> Tensor:
    return cast(value, dtype)


def gamma(shape: Any, alpha: Any, dtype: str | None = None, seed: Any = None) -> Tensor:
    """Samples from the Gamma distribution with shape parameter ``alpha`` (scale 1).

    ``alpha`` may be a tensor broadcastable to ``shape``.

    >>> import nerve
    >>> nerve.random.gamma((3,), alpha=2.0, seed=0).shape
    (3,)
    """
    dtype = _float_dtype(dtype, "gamma")
    return rp.random_gamma_p.bind(
        _draw_seed(seed, "gamma"),
        _parameter(alpha, dtype),
        shape=_shape(shape, "gamma"),
        dtype=dtype,
    )


def beta(shape: Any, alpha: Any, beta: Any, dtype: str | None = None, seed: Any = None) -> Tensor:
    """Samples from the Beta distribution with parameters ``alpha`` and ``beta``.

    >>> import nerve
    >>> nerve.random.beta((2, 2), alpha=2.0, beta=3.0, seed=0).shape
    (2, 2)
    """
    dtype = _float_dtype(dtype, "beta")
    return rp.random_beta_p.bind(
        _draw_seed(seed, "beta"),
        _parameter(alpha, dtype),
        _parameter(beta, dtype),
        shape=_shape(shape, "beta"),
        dtype=dtype,
    )


# -- discrete distributions ---------------------------------------------------------------


def binomial(
    shape: Any, counts: Any, probabilities: Any, dtype: str | None = None, seed: Any = None
) -> Tensor:
    """Numbers of successes in ``counts`` trials of success probability ``probabilities``
    (a float tensor, as in Keras).

    >>> import nerve
    >>> nerve.random.binomial((3,), counts=10, probabilities=0.0, seed=0).numpy()
    array([0., 0., 0.], dtype=float32)
    """
    dtype = _float_dtype(dtype, "binomial")
    return rp.random_binomial_p.bind(
        _draw_seed(seed, "binomial"),
        _parameter(counts, dtype),
        _parameter(probabilities, dtype),
        shape=_shape(shape, "binomial"),
        dtype=dtype,
    )


def bernoulli(shape: Any, p: float = 0.5, dtype: str = "bool", seed: Any = None) -> Tensor:
    """``True`` (or 1) with probability ``p``; a nerve helper (Keras has ``binomial``).

    >>> import nerve
    >>> nerve.random.bernoulli((4,), p=1.0, seed=0).numpy()
    array([ True,  True,  True,  True])
    """
    if not 0.0 <= float(p) <= 1.0:
        raise ValueError(with_location(f"bernoulli: p must be in [0, 1], got {p}."))
    # uniform draws lie in [0, 1), so p=1 always succeeds and p=0 never does.
    draws = uniform(shape, dtype="float64", seed=seed)
    return cast(_ew.less(draws, float(p)), dtypes.standardize_dtype(dtype))


def randint(shape: Any, minval: int, maxval: int, dtype: str = "int32", seed: Any = None) -> Tensor:
    """Integers drawn uniformly from ``[minval, maxval)``.

    >>> import nerve
    >>> x = nerve.random.randint((100,), 0, 3, seed=0)
    >>> x.dtype, sorted(set(x.tolist()))
    ('int32', [0, 1, 2])
    """
    dtype = _int_dtype(dtype, "randint")
    minval, maxval = int(minval), int(maxval)
    if not minval < maxval:
        raise ValueError(
            with_location(f"randint: minval must be < maxval, got {minval} and {maxval}.")
        )
    return rp.random_randint_p.bind(
        _draw_seed(seed, "randint"),
        shape=_shape(shape, "randint"),
        dtype=dtype,
        minval=minval,
        maxval=maxval,
    )


def categorical(logits: Any, num_samples: int, dtype: str = "int32", seed: Any = None) -> Tensor:
    """Class indices drawn from ``softmax(logits)``, independently per row.

    ``logits`` has shape ``(batch_size, num_classes)``; the result has shape
    ``(batch_size, num_samples)``.

    >>> import nerve
    >>> logits = [[0.0, -1e9], [-1e9, 0.0]]
    >>> nerve.random.categorical(logits, 3, seed=0).numpy()
    array([[0, 0, 0],
           [1, 1, 1]], dtype=int32)
    """
    logits = to_float(logits)
    if logits.ndim != 2:
        raise ShapeError(
            with_location(
                f"categorical: logits must be 2-D (batch_size, num_classes), got shape "
                f"{logits.shape}."
            )
        )
    if int(num_samples) < 0:
        raise ValueError(
            with_location(f"categorical: num_samples must be >= 0, got {num_samples}.")
        )
    return rp.random_categorical_p.bind(
        _draw_seed(seed, "categorical"),
        logits,
        num_samples=int(num_samples),
        dtype=_int_dtype(dtype, "categorical"),
    )


# -- permutations and dropout ------------------------------------------------------------


def shuffle(x: Any, axis: int = 0, seed: Any = None) -> Tensor:
    """``x`` with its slices along ``axis`` in a random order (gradients flow through).

    >>> import nerve
    >>> sorted(nerve.random.shuffle(nerve.ops.arange(5), seed=0).tolist())
    [0, 1, 2, 3, 4]
    """
    x = tensor(x)
    axis = normalize_axis(axis, x.ndim, "shuffle")
    return rp.random_shuffle_p.bind(_draw_seed(seed, "shuffle"), x, axis=axis)


def permutation(x: Any, seed: Any = None) -> Tensor:
    """A random permutation of ``range(x)`` for an int ``x``, else ``x`` shuffled along
    axis 0 (a nerve helper, like ``numpy.random.Generator.permutation``).

    >>> import nerve
    >>> p = nerve.random.permutation(6, seed=0)
    >>> p.dtype, sorted(p.tolist())
    ('int32', [0, 1, 2, 3, 4, 5])
    """
    if isinstance(x, int) and not isinstance(x, bool):
        x = arange(x)
    return shuffle(x, axis=0, seed=seed)


def _noise_shape(noise_shape: Any, shape: tuple) -> tuple:
    """Keras's rule: ``None`` entries take the input's size; the rest must broadcast."""
    if noise_shape is None:
        return shape
    noise_shape = tuple(noise_shape)
    if len(noise_shape) != len(shape) or any(
        n is not None and int(n) not in (1, d) for n, d in zip(noise_shape, shape)
    ):
        raise ShapeError(
            with_location(
                f"dropout: noise_shape {noise_shape} does not broadcast to the inputs' shape "
                f"{shape}; each entry must be None, 1 or the inputs' size on that axis."
            )
        )
    return tuple(d if n is None else int(n) for n, d in zip(noise_shape, shape))


def dropout(inputs: Any, rate: float, noise_shape: Any = None, seed: Any = None) -> Tensor:
    """Zero each value with probability ``rate`` and scale the rest by ``1 / (1 - rate)``.

    Differentiable in ``inputs``: the gradient is the same ``mask / (1 - rate)``.

    >>> import nerve
    >>> y = nerve.random.dropout(nerve.ops.ones((2, 4)), rate=0.5, seed=0)
    >>> sorted(set(y.numpy().ravel().tolist()))
    [0.0, 2.0]
    """
    inputs = to_float(inputs)
    rate = float(rate)
    if not 0.0 <= rate < 1.0:
        raise ValueError(with_location(f"dropout: rate must be in [0, 1), got {rate}."))
    keep = 1.0 - rate
    noise = uniform(_noise_shape(noise_shape, inputs.shape), dtype="float32", seed=seed)
    # The scale is a constant for autodiff, so d(out)/d(inputs) = mask / keep.
    scale = _ew.divide(cast(_ew.greater_equal(noise, rate), inputs.dtype), keep)
    return _ew.multiply(inputs, scale)
