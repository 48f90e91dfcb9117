"""Random kernels: counter-based sampling from an explicit seed, on the backend's device.

Every kernel takes the primitive's seed input (an int64 array holding
``(key, counter)``) and asks ``generator(seed)`` for a generator with NumPy's
``Generator`` API that draws *on the array module's own device*: for NumPy, NumPy's
Philox keyed by the seed (the host is the CPU backend's device); a GPU backend
passes a factory for a device generator (CuPy's ``cupy.random.Generator`` has the
same API), so a draw never copies numbers between host and device. Everything after
the draw (scaling, rounding, resampling, the inverse CDF of ``categorical``) is
written with ``xp`` operations, so it too runs where the arrays live.

A seed gives the same numbers on every call and every machine for one backend; two
backends' generators give different numbers for the same seed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from nerve.backend.numpy_backend.elementwise import native_dtype

__all__ = ["kernels", "philox_generator", "philox_key"]

_MASK64 = (1 << 64) - 1


def philox_key(seed: Any) -> int:
    """The 128-bit Philox key of ``seed`` (two ints).

    >>> hex(philox_key(np.array([1, 2])))
    '0x10000000000000002'
    """
    first, second = (int(v) for v in np.asarray(seed).reshape(-1)[:2])
    return ((first & _MASK64) << 64) | (second & _MASK64)


def philox_generator(seed: Any) -> np.random.Generator:
    """NumPy's Philox generator for ``seed`` (two ints): a 128-bit key made of them."""
    return np.random.Generator(np.random.Philox(key=philox_key(seed)))


def kernels(xp: Any, generator: Callable[[Any], Any] = philox_generator) -> dict:
    """The random kernels on array module ``xp``, drawing with ``generator(seed)``."""

    def work_dtype(dtype: str) -> Any:
        """Draw float64 for float64, float32 otherwise (float16/bfloat16 rounded after)."""
        return xp.float64 if dtype == "float64" else xp.float32

    def cast(array: Any, dtype: str) -> Any:
        return array.astype(native_dtype(xp, dtype), copy=False)

    # NumPy's Philox stream drawn by a C loop (the same numbers, several times
    # faster, shared out among held cores): ``native.philox``.
    native_uniform: Any = None
    if xp is np and generator is philox_generator:
        from nerve.backend.numpy_backend.native import philox

        native_uniform = philox.uniform_function

    def draw_uniform(seed, shape, work):
        uniform = native_uniform() if native_uniform is not None else None
        if uniform is not None:
            return uniform(philox_key(seed), tuple(shape), work)
        return generator(seed).random(shape, dtype=work)

    def random_normal(seed, shape, dtype, mean, stddev):
        work = work_dtype(dtype)
        z = generator(seed).standard_normal(shape, dtype=work)
        return cast(z * work(stddev) + work(mean), dtype)

    def random_uniform(seed, shape, dtype, minval, maxval):
        work = work_dtype(dtype)
        u = draw_uniform(seed, shape, work)
        if minval == 0 and maxval == 1 and u.dtype == native_dtype(xp, dtype):
            # [0, 1) as drawn (dropout's masks): scaling by 1 and adding 0 change no
            # value, and nothing can round up to 1; the four passes below took longer
            # than the draw itself (1.5 ms + 2 ms for 128x1600 float32).
            return u
        u = u * work(maxval - minval) + work(minval)
        out = u.astype(native_dtype(xp, dtype))
        # Rounding (to float16, say) can reach maxval; keep the interval half-open.
        top = xp.asarray(maxval, dtype=out.dtype)
        below = xp.nextafter(top, xp.asarray(minval, dtype=out.dtype))
        return xp.where(out >= top, below, out)

    def random_truncated_normal(seed, shape, dtype, mean, stddev):
        rng = generator(seed)
        z = rng.standard_normal(shape)
        outside = xp.abs(z) > 2.0
        while outside.any():  # each pass keeps ~95% of what it re-draws
            z[outside] = rng.standard_normal(int(outside.sum()))
            outside = xp.abs(z) > 2.0
        return cast(z * stddev + mean, dtype)

    def random_randint(seed, shape, dtype, minval, maxval):
        return cast(generator(seed).integers(minval, maxval, shape, dtype=xp.int64), dtype)

    def random_gamma(seed, alpha, shape, dtype):
        return cast(generator(seed).gamma(alpha.astype(xp.float64), size=shape), dtype)

    def random_beta(seed, alpha, beta, shape, dtype):
        a, b = alpha.astype(xp.float64), beta.astype(xp.float64)
        return cast(generator(seed).beta(a, b, size=shape), dtype)

    def random_binomial(seed, counts, probabilities, shape, dtype):
        n = xp.rint(counts).astype(xp.int64)
        p = probabilities.astype(xp.float64)
        return cast(generator(seed).binomial(n, p, size=shape), dtype)

    def random_categorical(seed, logits, num_samples, dtype):
        z = logits.astype(xp.float64)
        batch, classes = z.shape
        if batch == 0 or num_samples == 0:
            return xp.zeros((batch, num_samples), dtype=native_dtype(xp, dtype))
        probs = xp.exp(z - z.max(axis=1, keepdims=True))
        cdf = xp.cumsum(probs, axis=1)
        cdf /= cdf[:, -1:]
        # Inverse-CDF sampling for all rows in one searchsorted: shifting row r by r
        # makes the concatenated CDFs one increasing sequence.
        rows = xp.arange(batch, dtype=xp.float64)[:, None]
        u = generator(seed).random((batch, num_samples))
        flat = xp.searchsorted((cdf + rows).ravel(), (u + rows).ravel(), side="right")
        index = flat.reshape(batch, num_samples) - xp.arange(batch)[:, None] * classes
        return cast(xp.minimum(index, classes - 1), dtype)

    def _permutation(n: int, seed):
        return generator(seed).permutation(n)

    def random_shuffle(seed, x, axis):
        return xp.take(x, _permutation(x.shape[axis], seed), axis=axis)

    def random_unshuffle(seed, x, axis):
        return xp.take(x, xp.argsort(_permutation(x.shape[axis], seed)), axis=axis)

    return {
        "random_normal": random_normal,
        "random_uniform": random_uniform,
        "random_truncated_normal": random_truncated_normal,
        "random_randint": random_randint,
        "random_gamma": random_gamma,
        "random_beta": random_beta,
        "random_binomial": random_binomial,
        "random_categorical": random_categorical,
        "random_shuffle": random_shuffle,
        "random_unshuffle": random_unshuffle,
    }
