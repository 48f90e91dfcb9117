"""Random kernels: counter-based (Philox) sampling from an explicit seed.

The numbers are drawn on the host with NumPy's Philox generator, keyed by the
primitive's seed input (an int64 array holding ``(key, counter)``), and then
moved to ``xp``. So a seed
gives the same numbers on every call, on every machine and on every backend
that reuses these kernels (CuPy's own generators would give other numbers).
"""

from __future__ import annotations

import numpy as np

from nerve.backend.numpy_backend.elementwise import native_dtype

_MASK64 = (1 << 64) - 1


def generator(seed) -> np.random.Generator:
    """The Philox generator for ``seed`` (two ints): a 128-bit key made of them."""
    first, second = (int(v) for v in _host(seed).reshape(-1)[:2])
    key = ((first & _MASK64) << 64) | (second & _MASK64)
    return np.random.Generator(np.random.Philox(key=key))


def _host(array) -> np.ndarray:
    """A NumPy copy of a backend array (CuPy arrays have ``get``)."""
    return array.get() if hasattr(array, "get") else np.asarray(array)


def _work_dtype(dtype: str):
    """Draw float64 for float64 and float32 otherwise (float16/bfloat16 are rounded after)."""
    return np.float64 if dtype == "float64" else np.float32


def kernels(xp) -> dict:
    def to_device(host: np.ndarray, dtype: str):
        return xp.asarray(host.astype(native_dtype(np, dtype), copy=False))

    def random_normal(seed, shape, dtype, mean, stddev):
        work = _work_dtype(dtype)
        z = generator(seed).standard_normal(shape, dtype=work)
        return to_device(z * work(stddev) + work(mean), dtype)

    def random_uniform(seed, shape, dtype, minval, maxval):
        work = _work_dtype(dtype)
        u = generator(seed).random(shape, dtype=work) * work(maxval - minval) + work(minval)
        out = u.astype(native_dtype(np, dtype))
        # Rounding (to float16, say) can reach maxval; keep the interval half-open.
        top = np.asarray(maxval, dtype=out.dtype)
        below = np.nextafter(top, np.asarray(minval, dtype=out.dtype))
        return xp.asarray(np.where(out >= top, below, out))

    def random_truncated_normal(seed, shape, dtype, mean, stddev):
        rng = generator(seed)
        z = rng.standard_normal(shape)
        outside = np.abs(z) > 2.0
        while outside.any():  # each pass keeps ~95% of what it re-draws
            z[outside] = rng.standard_normal(int(outside.sum()))
            outside = np.abs(z) > 2.0
        return to_device(z * stddev + mean, dtype)

    def random_randint(seed, shape, dtype, minval, maxval):
        return to_device(generator(seed).integers(minval, maxval, shape, dtype=np.int64), dtype)

    def random_gamma(seed, alpha, shape, dtype):
        return to_device(generator(seed).gamma(_host(alpha).astype(np.float64), size=shape), dtype)

    def random_beta(seed, alpha, beta, shape, dtype):
        a, b = _host(alpha).astype(np.float64), _host(beta).astype(np.float64)
        return to_device(generator(seed).beta(a, b, size=shape), dtype)

    def random_binomial(seed, counts, probabilities, shape, dtype):
        n = np.rint(_host(counts)).astype(np.int64)
        p = _host(probabilities).astype(np.float64)
        return to_device(generator(seed).binomial(n, p, size=shape), dtype)

    def random_categorical(seed, logits, num_samples, dtype):
        z = _host(logits).astype(np.float64)
        batch, classes = z.shape
        if batch == 0 or num_samples == 0:
            return to_device(np.zeros((batch, num_samples), np.int64), dtype)
        probs = np.exp(z - z.max(axis=1, keepdims=True))
        cdf = np.cumsum(probs, axis=1)
        cdf /= cdf[:, -1:]
        # Inverse-CDF sampling for all rows in one searchsorted: shifting row r by r
        # makes the concatenated CDFs one increasing sequence.
        rows = np.arange(batch, dtype=np.float64)[:, None]
        u = generator(seed).random((batch, num_samples))
        flat = np.searchsorted((cdf + rows).ravel(), (u + rows).ravel(), side="right")
        index = flat.reshape(batch, num_samples) - np.arange(batch)[:, None] * classes
        return to_device(np.minimum(index, classes - 1), dtype)

    def _permutation(n: int, seed: tuple):
        return xp.asarray(generator(seed).permutation(n))

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
