"""Weight initializers by Keras name (``keras.initializers``).

An initializer is called as ``initializer(shape, dtype=None)`` and returns a
tensor. Random ones take ``seed``: an ``int`` gives the same values on every call
(as in Keras), a ``SeedGenerator`` new values each call, and ``None`` a private
generator seeded from nerve's global one, so runs are reproducible under
``nerve.utils.set_random_seed``.

>>> from nerve import initializers
>>> w = initializers.get("glorot_uniform")
>>> w((3, 4)).shape
(3, 4)
>>> bool((initializers.GlorotUniform(seed=1)((2, 2)).numpy()
...       == initializers.GlorotUniform(seed=1)((2, 2)).numpy()).all())
True
"""

from __future__ import annotations

import contextlib
import contextvars
import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from nerve import ops
from nerve import random as nrandom
from nerve.core import config, dtypes
from nerve.tensor import Tensor, Variable


def compute_fans(
    shape: tuple, input_axes: Sequence[int] | None = None, output_axes: Sequence[int] | None = None
) -> tuple[float, float]:
    """Keras's fan-in and fan-out: kernels ``(*receptive_field, in, out)``, or the
    products of the sizes along ``input_axes`` and ``output_axes`` when both are given
    (weights of other layouts, e.g. an einsum's).

    >>> compute_fans((3, 3, 8, 16))
    (72.0, 144.0)
    >>> compute_fans((4, 5, 6), input_axes=(0,), output_axes=(1, 2))
    (4.0, 30.0)
    """
    shape = tuple(shape)
    if input_axes is not None and output_axes is not None:
        return float(math.prod(shape[a] for a in input_axes)), float(
            math.prod(shape[a] for a in output_axes)
        )
    if len(shape) == 0:
        return 1.0, 1.0
    if len(shape) == 1:
        return float(shape[0]), float(shape[0])
    receptive = math.prod(shape[:-2])
    return float(shape[-2] * receptive), float(shape[-1] * receptive)


def _float_dtype(dtype: Any) -> str:
    dtype = dtypes.standardize_dtype(dtype or config.floatx())
    if not dtypes.is_float(dtype):
        raise ValueError(f"Initializers make floating-point tensors; got dtype {dtype!r}.")
    return dtype


class Initializer:
    """Base class: ``__call__(shape, dtype=None)``, ``get_config``, ``from_config``."""

    def __call__(self, shape: Any, dtype: str | None = None) -> Tensor:
        raise NotImplementedError

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config: dict) -> Initializer:
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class Zeros(Initializer):
    """All zeros."""

    def __call__(self, shape, dtype=None):
        return ops.zeros(shape, dtype=dtypes.standardize_dtype(dtype))


class Ones(Initializer):
    """All ones."""

    def __call__(self, shape, dtype=None):
        return ops.ones(shape, dtype=dtypes.standardize_dtype(dtype))


class Constant(Initializer):
    """Every entry ``value``."""

    def __init__(self, value: float = 0.0):
        self.value = value

    def __call__(self, shape, dtype=None):
        return ops.full(shape, self.value, dtype=dtypes.standardize_dtype(dtype))

    def get_config(self):
        return {"value": self.value}


class RandomInitializer(Initializer):
    """Holds the seed policy shared by random initializers (see the module docstring)."""

    def __init__(self, seed: Any = None):
        if not (seed is None or isinstance(seed, (int, nrandom.SeedGenerator))) or isinstance(
            seed, bool
        ):
            raise ValueError(
                f"{type(self).__name__}: seed must be None, an int or a SeedGenerator, "
                f"got {seed!r}."
            )
        self.seed = seed
        self._generator = nrandom.SeedGenerator() if seed is None else None

    def _seed(self):
        return self._generator if self.seed is None else self.seed

    def get_config(self):
        return {"seed": self.seed if isinstance(self.seed, int) else None}


class RandomNormal(RandomInitializer):
    """Normal with ``mean`` and ``stddev``."""

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: Any = None):
        super().__init__(seed)
        self.mean, self.stddev = mean, stddev

    def __call__(self, shape, dtype=None):
        return nrandom.normal(shape, self.mean, self.stddev, _float_dtype(dtype), self._seed())

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, **super().get_config()}


class RandomUniform(RandomInitializer):
    """Uniform on ``[minval, maxval)``."""

    def __init__(self, minval: float = -0.05, maxval: float = 0.05, seed: Any = None):
        super().__init__(seed)
        self.minval, self.maxval = minval, maxval

    def __call__(self, shape, dtype=None):
        return nrandom.uniform(shape, self.minval, self.maxval, _float_dtype(dtype), self._seed())

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, **super().get_config()}


class TruncatedNormal(RandomInitializer):
    """Normal with values beyond two standard deviations re-drawn."""

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: Any = None):
        super().__init__(seed)
        self.mean, self.stddev = mean, stddev

    def __call__(self, shape, dtype=None):
        return nrandom.truncated_normal(
            shape, self.mean, self.stddev, _float_dtype(dtype), self._seed()
        )

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, **super().get_config()}


class VarianceScaling(RandomInitializer):
    """Variance ``scale / n`` with ``n`` the fan-in, fan-out or their average."""

    # Standard deviation of a unit normal truncated to [-2, 2].
    _TRUNCATED_STDDEV = 0.87962566103423978

    def __init__(
        self,
        scale: float = 1.0,
        mode: str = "fan_in",
        distribution: str = "truncated_normal",
        seed: Any = None,
        input_axes: Sequence[int] | None = None,
        output_axes: Sequence[int] | None = None,
    ):
        super().__init__(seed)
        self.input_axes = None if input_axes is None else tuple(input_axes)
        self.output_axes = None if output_axes is None else tuple(output_axes)
        if scale <= 0:
            raise ValueError(f"VarianceScaling: scale must be positive, got {scale}.")
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise ValueError(
                f"VarianceScaling: mode must be fan_in, fan_out or fan_avg, got {mode!r}."
            )
        if distribution not in ("truncated_normal", "untruncated_normal", "uniform"):
            raise ValueError(
                "VarianceScaling: distribution must be truncated_normal, untruncated_normal "
                f"or uniform, got {distribution!r}."
            )
        self.scale, self.mode, self.distribution = scale, mode, distribution

    def __call__(self, shape, dtype=None):
        dtype = _float_dtype(dtype)
        fan_in, fan_out = compute_fans(tuple(shape), self.input_axes, self.output_axes)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        variance = self.scale / max(1.0, n)
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * variance)
            return nrandom.uniform(shape, -limit, limit, dtype, self._seed())
        if self.distribution == "truncated_normal":
            stddev = math.sqrt(variance) / self._TRUNCATED_STDDEV
            return nrandom.truncated_normal(shape, 0.0, stddev, dtype, self._seed())
        return nrandom.normal(shape, 0.0, math.sqrt(variance), dtype, self._seed())

    def get_config(self):
        return {
            "scale": self.scale,
            "mode": self.mode,
            "distribution": self.distribution,
            **super().get_config(),
            **self._axes_config(),
        }

    def _axes_config(self) -> dict:
        """Keras 3.15's ``input_axes``/``output_axes`` keys (``None`` by default)."""
        return {
            "input_axes": None if self.input_axes is None else list(self.input_axes),
            "output_axes": None if self.output_axes is None else list(self.output_axes),
        }


def _variance_scaling_preset(name: str, scale: float, mode: str, distribution: str):
    class Preset(VarianceScaling):
        def __init__(
            self,
            seed: Any = None,
            input_axes: Sequence[int] | None = None,
            output_axes: Sequence[int] | None = None,
        ):
            super().__init__(scale, mode, distribution, seed, input_axes, output_axes)

        def get_config(self):
            return {**RandomInitializer.get_config(self), **self._axes_config()}

    Preset.__name__ = Preset.__qualname__ = name
    Preset.__doc__ = (
        f"VarianceScaling(scale={scale}, mode={mode!r}, distribution={distribution!r})."
    )
    return Preset


GlorotUniform = _variance_scaling_preset("GlorotUniform", 1.0, "fan_avg", "uniform")
GlorotNormal = _variance_scaling_preset("GlorotNormal", 1.0, "fan_avg", "truncated_normal")
HeUniform = _variance_scaling_preset("HeUniform", 2.0, "fan_in", "uniform")
HeNormal = _variance_scaling_preset("HeNormal", 2.0, "fan_in", "truncated_normal")
LecunUniform = _variance_scaling_preset("LecunUniform", 1.0, "fan_in", "uniform")
LecunNormal = _variance_scaling_preset("LecunNormal", 1.0, "fan_in", "truncated_normal")


class Orthogonal(RandomInitializer):
    """A (semi-)orthogonal matrix times ``gain``, reshaped to ``shape`` (rank >= 2): the
    last axis is the columns, all others flattened into rows."""

    def __init__(self, gain: float = 1.0, seed: Any = None):
        super().__init__(seed)
        self.gain = gain

    def __call__(self, shape, dtype=None):
        shape = tuple(shape)
        if len(shape) < 2:
            raise ValueError(f"Orthogonal needs a shape of rank >= 2, got {shape}.")
        dtype = _float_dtype(dtype)
        rows, cols = math.prod(shape[:-1]), shape[-1]
        tall = (max(rows, cols), min(rows, cols))
        q = _orthonormal_columns(nrandom.normal(tall, dtype="float64", seed=self._seed()))
        if rows < cols:
            q = ops.transpose(q)
        return ops.cast(ops.reshape(q * self.gain, shape), dtype)

    def get_config(self):
        return {"gain": self.gain, **super().get_config()}


def _orthonormal_columns(a: Tensor) -> Tensor:
    """Orthonormalize the columns of a tall matrix (modified Gram-Schmidt, done twice for
    accuracy), fixing signs so the result is the Q of a QR with a positive diagonal."""
    columns = [a[:, j] for j in range(a.shape[1])]
    basis: list[Tensor] = []
    for v in columns:
        for _ in range(2):
            for q in basis:
                v = v - ops.sum(q * v) * q
        basis.append(v / ops.sqrt(ops.sum(v * v)))
    return ops.stack(basis, axis=1)


class Identity(Initializer):
    """``gain`` times the identity matrix (2-D shapes)."""

    def __init__(self, gain: float = 1.0):
        self.gain = gain

    def __call__(self, shape, dtype=None):
        shape = tuple(shape)
        if len(shape) != 2:
            raise ValueError(f"Identity needs a 2-D shape, got {shape}.")
        return ops.eye(shape[0], shape[1], dtype=_float_dtype(dtype)) * self.gain

    def get_config(self):
        return {"gain": self.gain}


_CLASSES = {
    cls.__name__: cls
    for cls in (
        Zeros, Ones, Constant, RandomNormal, RandomUniform, TruncatedNormal, VarianceScaling,
        GlorotUniform, GlorotNormal, HeUniform, HeNormal, LecunUniform, LecunNormal,
        Orthogonal, Identity,
    )
}  # fmt: skip
_ALIASES = {
    "zeros": "Zeros", "ones": "Ones", "constant": "Constant", "random_normal": "RandomNormal",
    "random_uniform": "RandomUniform", "truncated_normal": "TruncatedNormal",
    "variance_scaling": "VarianceScaling", "glorot_uniform": "GlorotUniform",
    "glorot_normal": "GlorotNormal", "he_uniform": "HeUniform", "he_normal": "HeNormal",
    "lecun_uniform": "LecunUniform", "lecun_normal": "LecunNormal", "orthogonal": "Orthogonal",
    "identity": "Identity",
    # Keras's short aliases.
    "uniform": "RandomUniform", "normal": "RandomNormal", "one": "Ones", "zero": "Zeros",
}  # fmt: skip


def get(identifier: Any) -> Initializer:
    """An initializer from a name (``"he_normal"``, ``"HeNormal"``), a config dict
    (``{"class_name": ..., "config": ...}``), an instance, or a callable."""
    if isinstance(identifier, Initializer) or (
        callable(identifier) and not isinstance(identifier, type)
    ):
        return identifier
    if isinstance(identifier, str):
        name = _ALIASES.get(identifier, identifier)
        if name in _CLASSES:
            return _CLASSES[name]()
    if isinstance(identifier, dict) and identifier.get("class_name") in {**_CLASSES, **_ALIASES}:
        class_name: str = identifier["class_name"]
        name = _ALIASES.get(class_name, class_name)
        return _CLASSES[name].from_config(identifier.get("config", {}))
    raise ValueError(
        f"Unknown initializer {identifier!r}. Expected an Initializer, a callable, a config "
        f"dict, or one of: {', '.join(sorted(_ALIASES))}."
    )


def serialize(initializer: Initializer) -> dict:
    """Keras's ``{"module", "class_name", ...}`` for a built-in initializer (``get`` inverts it)."""
    return {
        "module": "keras.initializers",
        "class_name": type(initializer).__name__,
        "config": initializer.get_config(),
        "registered_name": None,
    }


def deserialize(config: dict, custom_objects: dict | None = None) -> Initializer:
    """The initializer a ``serialize`` dict describes (Keras's
    ``keras.initializers.deserialize``); ``custom_objects`` maps class names to classes.

    >>> type(deserialize({"class_name": "HeNormal", "config": {"seed": 1}})).__name__
    'HeNormal'
    """
    if not isinstance(config, dict):
        raise ValueError(f"deserialize expects a serialized initializer dict; got {config!r}.")
    custom = (custom_objects or {}).get(config.get("class_name", ""))
    if custom is not None:
        return custom.from_config(config.get("config", {}))
    return get(config)


# Keras's snake_case names for the classes (``keras.initializers.glorot_uniform`` is
# ``GlorotUniform``), plus its longer class names.
zeros, ones, constant = Zeros, Ones, Constant
random_normal, random_uniform, truncated_normal = RandomNormal, RandomUniform, TruncatedNormal
variance_scaling, orthogonal, identity = VarianceScaling, Orthogonal, Identity
glorot_uniform, glorot_normal = GlorotUniform, GlorotNormal
he_uniform, he_normal = HeUniform, HeNormal
lecun_uniform, lecun_normal = LecunUniform, LecunNormal
IdentityInitializer, OrthogonalInitializer = Identity, Orthogonal


# -- deferred initial values ------------------------------------------------------------
# While a model is rebuilt from a file whose weights will overwrite every variable,
# computing initial values only costs memory (a 10**9-parameter layer declared in a
# 14 KB config would allocate gigabytes before the file's weights are even checked).
# Inside `deferred_initial_values()`, `new_variable` gives each variable a placeholder
# that holds no memory (a zero broadcast to the shape) and records how to compute the
# real value; `materialize` then computes it for the variables nothing overwrote.
_deferred: contextvars.ContextVar[list | None] = contextvars.ContextVar(
    "nerve_deferred_initial_values", default=None
)


@contextlib.contextmanager
def deferred_initial_values() -> Iterator[list]:
    """Within, ``new_variable`` defers initial values; yields the list of deferred
    ``(variable, placeholder array, compute)`` entries for ``materialize``."""
    pending: list = []
    token = _deferred.set(pending)
    try:
        yield pending
    finally:
        _deferred.reset(token)


def new_variable(
    initializer: Callable[[], Any], shape: tuple, dtype: str, **variable_args: Any
) -> Variable:
    """``Variable(initializer(), dtype=dtype, **variable_args)``, or, inside
    ``deferred_initial_values()``, a variable holding a memory-free placeholder of that
    shape and dtype whose ``initializer`` runs only if ``materialize`` finds it unset.

    >>> v = new_variable(lambda: ops.ones((2,)), (2,), "float32", name="v")
    >>> with deferred_initial_values() as pending:
    ...     w = new_variable(lambda: ops.ones((2,)), (2,), "float32", name="w")
    >>> materialize(pending)
    >>> w.numpy().tolist()
    [1.0, 1.0]
    """
    pending = _deferred.get()
    if pending is None:
        return Variable(initializer(), dtype=dtype, **variable_args)
    placeholder = ops.broadcast_to(ops.zeros((), dtype), tuple(shape))
    variable = Variable(placeholder, dtype=dtype, **variable_args)
    pending.append((variable, variable._value, initializer))
    return variable


def materialize(pending: list) -> None:
    """Give every deferred variable that still holds its placeholder its real initial
    value, in creation order. (Random initializers draw only for these, so the global
    seed generator ends in another state than after an eager build.)"""
    for variable, placeholder, initializer in pending:
        if variable._value is placeholder:
            variable.assign(initializer())
    pending.clear()


__all__ = [
    *_CLASSES,
    "IdentityInitializer",
    "Initializer",
    "OrthogonalInitializer",
    "compute_fans",
    "constant",
    "deserialize",
    "get",
    "glorot_normal",
    "glorot_uniform",
    "he_normal",
    "he_uniform",
    "identity",
    "lecun_normal",
    "lecun_uniform",
    "ones",
    "orthogonal",
    "random_normal",
    "random_uniform",
    "serialize",
    "truncated_normal",
    "variance_scaling",
    "zeros",
]
