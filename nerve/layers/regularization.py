"""Regularization layers: SpatialDropout1D/2D/3D, GaussianDropout, GaussianNoise,
AlphaDropout, ActivityRegularization.

The random layers perturb their inputs only while training and are the identity at
inference. Their numbers come from a ``nerve.random.SeedGenerator`` made from the
``seed`` argument: the same seed gives the same draws, and each call — also each step
of a compiled function, which reads and advances the generator's state variable —
draws fresh ones.

>>> import nerve
>>> from nerve import layers, ops
>>> noise = layers.GaussianNoise(0.1, seed=0)
>>> x = ops.ones((2, 3))
>>> bool((noise(x).numpy() == 1.0).all()), bool((noise(x, training=True).numpy() != 1.0).all())
(True, True)
"""

from __future__ import annotations

import math
from typing import Any

from nerve import ops, regularizers
from nerve import random as nrandom
from nerve.core import config
from nerve.core.errors import ShapeError, with_location
from nerve.layers.base import Layer
from nerve.tensor import Tensor

__all__ = [
    "ActivityRegularization",
    "AlphaDropout",
    "GaussianDropout",
    "GaussianNoise",
    "SpatialDropout1D",
    "SpatialDropout2D",
    "SpatialDropout3D",
]


def _rate(layer: str, rate: Any, below_one: bool = False) -> float:
    """A dropout rate: in [0, 1], or in [0, 1) where a rate of 1 has no meaning."""
    value = float(rate)
    if not (0.0 <= value < 1.0 if below_one else 0.0 <= value <= 1.0):
        interval = "[0, 1)" if below_one else "[0, 1]"
        raise ValueError(f"{layer}: rate must be a number in {interval}, got {rate!r}.")
    return value


class _RandomLayer(Layer):
    """A layer that perturbs its inputs while training: ``seed`` and its generator,
    the output shape (the input's) and no FLOPs worth counting."""

    def __init__(self, seed: int | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = nrandom.SeedGenerator(seed)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def compute_flops(self, input_shape: Any, output_shape: Any) -> int | None:
        """0: noise is elementwise work (see ``Layer.compute_flops``)."""
        return 0


# -- spatial dropout -------------------------------------------------------------------------


class _SpatialDropout(_RandomLayer):
    """Dropout of whole channels: one draw per example and channel, shared by every
    spatial position, so feature maps whose neighbouring entries are correlated are
    still regularized (Tompson et al., 2015)."""

    rank: int  # spatial axes: 1, 2 or 3

    def __init__(
        self,
        rate: float,
        data_format: str | None = None,
        seed: int | None = None,
        name: str | None = None,
        dtype: Any = None,
        **kwargs: Any,
    ):
        super().__init__(seed=seed, name=name, dtype=dtype, **kwargs)
        self.rate = _rate(type(self).__name__, rate)
        data_format = config.image_data_format() if data_format is None else data_format
        if data_format not in ("channels_last", "channels_first"):
            raise ValueError(
                f"{type(self).__name__}: data_format must be 'channels_last' or "
                f"'channels_first', got {data_format!r}."
            )
        self.data_format = data_format

    def _check_rank(self, inputs: Tensor) -> None:
        if inputs.ndim != self.rank + 2:
            spatial = ", ".join(["spatial"] * self.rank)
            layout = (
                f"(batch, channels, {spatial})"
                if self.data_format == "channels_first"
                else f"(batch, {spatial}, channels)"
            )
            raise ShapeError(
                with_location(
                    f"{type(self).__name__} {self.name!r} expects inputs of rank "
                    f"{self.rank + 2}, {layout} for data_format={self.data_format!r}, but "
                    f"received inputs of shape {tuple(inputs.shape)}."
                )
            )

    def call(self, inputs: Tensor, training: bool | None = None) -> Tensor:
        self._check_rank(inputs)
        if not training or self.rate == 0.0:
            return inputs
        if self.rate == 1.0:  # every channel dropped
            return ops.zeros_like(inputs)
        spatial = (1,) * self.rank
        # None: the inputs' size (the batch may be a symbolic size in a compiled step).
        if self.data_format == "channels_first":
            noise_shape = (None, None, *spatial)
        else:
            noise_shape = (None, *spatial, None)
        return nrandom.dropout(inputs, self.rate, noise_shape, seed=self.seed_generator)

    def get_config(self) -> dict:
        # Keras's keys exactly: its spatial dropouts take no trainable argument.
        return {
            "rate": self.rate,
            "seed": self.seed,
            "name": self.name,
            "dtype": self.dtype_policy.name,
            "data_format": self.data_format,
        }


class SpatialDropout1D(_SpatialDropout):
    """Drops whole channels of sequences ``(batch, steps, channels)`` while training:
    each example's channel is zeroed with probability ``rate`` at every step at once,
    and the kept ones are scaled by ``1 / (1 - rate)``. The output has the input's
    shape; at inference it is the input.

    Args:
        rate: the probability of dropping a channel, in ``[0, 1]``.
        seed: an int to make the random draws reproducible; ``None`` draws a fresh
            seed.
        name, dtype: the layer's name and dtype policy (see ``Layer``).

    Call arguments:
        inputs: the sequences, channels last.
        training: whether to drop (true) or pass the inputs through (false, the
            default outside ``fit``).

    >>> import nerve
    >>> from nerve import layers, ops
    >>> y = layers.SpatialDropout1D(0.5, seed=1)(ops.ones((1, 3, 4)), training=True).numpy()
    >>> bool((y == y[:, :1, :]).all())  # every step alike
    True
    """

    rank = 1

    def __init__(
        self,
        rate: float,
        seed: int | None = None,
        name: str | None = None,
        dtype: Any = None,
        **kwargs: Any,
    ):
        super().__init__(rate, seed=seed, name=name, dtype=dtype, **kwargs)

    def get_config(self) -> dict:
        config = super().get_config()
        del config["data_format"]  # always channels last, as in Keras
        return config


class SpatialDropout2D(_SpatialDropout):
    """Drops whole feature maps of images while training: each example's channel is
    zeroed with probability ``rate`` at every pixel at once, and the kept ones are
    scaled by ``1 / (1 - rate)``. ``data_format`` places the channels last (the
    default) or first. The output has the input's shape; at inference it is the input.

    Args:
        rate: the probability of dropping a feature map, in ``[0, 1]``.
        data_format: ``"channels_last"`` (``(batch, height, width, channels)``) or
            ``"channels_first"``; ``None`` uses ``nerve.config.image_data_format()``.
        seed: an int to make the random draws reproducible; ``None`` draws a fresh
            seed.
        name, dtype: the layer's name and dtype policy (see ``Layer``).

    Call arguments:
        inputs: the images.
        training: whether to drop (true) or pass the inputs through (false, the
            default outside ``fit``).

    >>> import nerve
    >>> from nerve import layers, ops
    >>> drop = layers.SpatialDropout2D(0.5, data_format="channels_first", seed=0)
    >>> y = drop(ops.ones((2, 8, 3, 3)), training=True).numpy()
    >>> bool((y == y[:, :, :1, :1]).all()), sorted(set(y.ravel().tolist()))
    (True, [0.0, 2.0])
    """

    rank = 2


class SpatialDropout3D(_SpatialDropout):
    """Drops whole feature volumes ``(batch, depth, height, width, channels)`` (or
    channels first) while training, as ``SpatialDropout2D`` does for images: each
    example's channel is zeroed with probability ``rate`` at every position at once,
    and the kept ones are scaled by ``1 / (1 - rate)``. The output has the input's
    shape; at inference it is the input.

    Args:
        rate: the probability of dropping a feature volume, in ``[0, 1]``.
        data_format: ``"channels_last"`` or ``"channels_first"``; ``None`` uses
            ``nerve.config.image_data_format()``.
        seed: an int to make the random draws reproducible; ``None`` draws a fresh
            seed.
        name, dtype: the layer's name and dtype policy (see ``Layer``).

    Call arguments:
        inputs: the volumes.
        training: whether to drop (true) or pass the inputs through (false, the
            default outside ``fit``).

    >>> import nerve
    >>> from nerve import layers, ops
    >>> layers.SpatialDropout3D(0.5)(ops.ones((1, 2, 2, 2, 3))).shape
    (1, 2, 2, 2, 3)
    """

    rank = 3


# -- noise -------------------------------------------------------------------------------------


class GaussianDropout(_RandomLayer):
    """Multiplies the inputs by noise drawn from a normal distribution of mean 1 and
    standard deviation ``sqrt(rate / (1 - rate))`` while training (Srivastava et al.,
    2014): dropout's mean and variance without zeros. The output has the input's
    shape; at inference it is the input.

    Args:
        rate: the dropout rate the noise imitates, in ``[0, 1)``.
        seed: an int to make the random draws reproducible; ``None`` draws a fresh
            seed.

    Call arguments:
        inputs: the tensor to perturb.
        training: whether to perturb (true) or pass the inputs through (false, the
            default outside ``fit``).

    >>> import nerve
    >>> from nerve import layers, ops
    >>> y = layers.GaussianDropout(0.2, seed=0)(ops.ones((10000,)), training=True).numpy()
    >>> round(float(y.mean()), 1), round(float(y.std()), 1)
    (1.0, 0.5)
    """

    _passes_masks = True

    def __init__(self, rate: float, seed: int | None = None, **kwargs: Any):
        super().__init__(seed=seed, **kwargs)
        self.rate = _rate("GaussianDropout", rate, below_one=True)

    def call(self, inputs: Tensor, training: bool | None = None) -> Tensor:
        if not training or self.rate == 0.0:
            return inputs
        stddev = math.sqrt(self.rate / (1.0 - self.rate))
        noise = nrandom.normal(
            inputs.shape, 1.0, stddev, dtype=inputs.dtype, seed=self.seed_generator
        )
        return inputs * noise

    def get_config(self) -> dict:
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


class GaussianNoise(_RandomLayer):
    """Adds noise from a normal distribution of mean 0 and standard deviation
    ``stddev`` while training (a regularizer, e.g. against overfitting on small data).
    The output has the input's shape; at inference it is the input.

    Args:
        stddev: the standard deviation of the noise; as in Keras, in ``[0, 1]``.
        seed: an int to make the random draws reproducible; ``None`` draws a fresh
            seed.

    Call arguments:
        inputs: the tensor to perturb.
        training: whether to perturb (true) or pass the inputs through (false, the
            default outside ``fit``).

    >>> import nerve
    >>> from nerve import layers, ops
    >>> y = layers.GaussianNoise(0.5, seed=0)(ops.zeros((10000,)), training=True).numpy()
    >>> abs(float(y.mean())) < 0.05, round(float(y.std()), 1)
    (True, 0.5)
    """

    _passes_masks = True

    def __init__(self, stddev: float, seed: int | None = None, **kwargs: Any):
        super().__init__(seed=seed, **kwargs)
        if not 0.0 <= float(stddev) <= 1.0:
            raise ValueError(f"GaussianNoise: stddev must be a number in [0, 1], got {stddev!r}.")
        self.stddev = float(stddev)

    def call(self, inputs: Tensor, training: bool | None = None) -> Tensor:
        if not training or self.stddev == 0.0:
            return inputs
        noise = nrandom.normal(
            inputs.shape, 0.0, self.stddev, dtype=inputs.dtype, seed=self.seed_generator
        )
        return inputs + noise

    def get_config(self) -> dict:
        return {**super().get_config(), "stddev": self.stddev, "seed": self.seed}


# The constants of SELU (Klambauer et al., 2017), whose inputs AlphaDropout keeps
# at zero mean and unit variance.
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


class AlphaDropout(_RandomLayer):
    """Dropout for self-normalizing networks (SELU activations; Klambauer et al., 2017):
    while training, each entry is replaced with probability ``rate`` by SELU's negative
    saturation value ``-scale * alpha``, then all are transformed by ``a * x + b``, with
    ``a`` and ``b`` chosen so that inputs of zero mean and unit variance keep them.
    The output has the input's shape; at inference it is the input.

    Args:
        rate: the probability of replacing an entry, in ``[0, 1)``.
        noise_shape: ``None`` (an independent draw per entry) or a shape with the
            inputs' rank whose entries are ``None`` (the inputs' size), 1 (one draw
            shared along that axis) or the inputs' size, as in ``Dropout``.
        seed: an int to make the random draws reproducible; ``None`` draws a fresh
            seed.

    Call arguments:
        inputs: the tensor to perturb.
        training: whether to perturb (true) or pass the inputs through (false, the
            default outside ``fit``).

    >>> import nerve
    >>> from nerve import layers, ops
    >>> x = nerve.random.normal((20000,), seed=1)
    >>> y = layers.AlphaDropout(0.3, seed=0)(x, training=True).numpy()
    >>> abs(float(y.mean())) < 0.05, round(float(y.std()), 1)
    (True, 1.0)
    """

    _passes_masks = True

    def __init__(
        self, rate: float, noise_shape: Any = None, seed: int | None = None, **kwargs: Any
    ):
        super().__init__(seed=seed, **kwargs)
        self.rate = _rate("AlphaDropout", rate, below_one=True)
        self.noise_shape = None if noise_shape is None else tuple(noise_shape)

    def _noise_shape(self, shape: tuple) -> tuple:
        """``noise_shape`` with ``None`` entries filled in from the inputs' shape."""
        if self.noise_shape is None:
            return shape
        if len(self.noise_shape) != len(shape) or any(
            n is not None and n != 1 and n != d for n, d in zip(self.noise_shape, shape)
        ):
            raise ShapeError(
                with_location(
                    f"AlphaDropout {self.name!r}: noise_shape {self.noise_shape} does not "
                    f"broadcast to inputs of shape {shape}; each entry must be None, 1 or the "
                    "inputs' size on that axis."
                )
            )
        return tuple(d if n is None else n for n, d in zip(self.noise_shape, shape))

    def call(self, inputs: Tensor, training: bool | None = None) -> Tensor:
        if not training or self.rate == 0.0:
            return inputs
        rate = self.rate
        saturation = -_SELU_ALPHA * _SELU_SCALE
        noise = nrandom.uniform(
            self._noise_shape(tuple(inputs.shape)), dtype=inputs.dtype, seed=self.seed_generator
        )
        keep = ops.cast(noise >= rate, inputs.dtype)
        dropped = inputs * keep + saturation * (1.0 - keep)
        # Mean and variance preserved for N(0, 1) inputs: a and b solve
        # E[a x + b] = 0 and Var[a x + b] = 1 for x kept with probability 1 - rate.
        a = ((1.0 - rate) * (1.0 + rate * saturation**2)) ** -0.5
        b = -a * saturation * rate
        return dropped * a + b

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "rate": self.rate,
            "seed": self.seed,
            "noise_shape": self.noise_shape,
        }


# -- activity regularization -------------------------------------------------------------


class ActivityRegularization(Layer):
    """Returns its inputs unchanged and adds an activity penalty to the layer's losses:
    ``l1 * sum(abs(x)) + l2 * sum(square(x))``, divided by the batch size (as every
    ``activity_regularizer`` in Keras is), so ``fit`` minimizes it with the model's loss.

    Args:
        l1: the weight of the absolute-value penalty; 0 by default.
        l2: the weight of the squared penalty; 0 by default.

    >>> import nerve
    >>> from nerve import layers, ops
    >>> reg = layers.ActivityRegularization(l1=0.5)
    >>> reg(ops.full((4, 3), -2.0)).shape, [float(loss) for loss in reg.losses]
    ((4, 3), [3.0])
    """

    _passes_masks = True

    def __init__(self, l1: float = 0.0, l2: float = 0.0, **kwargs: Any):
        kwargs.pop("activity_regularizer", None)  # made from l1 and l2
        super().__init__(activity_regularizer=regularizers.L1L2(l1=l1, l2=l2), **kwargs)
        self.l1 = float(l1)
        self.l2 = float(l2)

    def call(self, inputs: Tensor) -> Tensor:
        return inputs

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def get_config(self) -> dict:
        config = super().get_config()
        del config["activity_regularizer"]  # l1 and l2 say it, as in Keras's config
        return {**config, "l1": self.l1, "l2": self.l2}
