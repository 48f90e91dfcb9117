"""Reshaping layers: ``Permute``, ``RepeatVector``, and, over 1-3 spatial axes,
``Cropping*``, ``UpSampling*`` and ``ZeroPadding*`` (``Flatten`` and ``Reshape``
are core layers).

Each spatial family is one base class (``Cropping``, ``UpSampling``,
``ZeroPadding``); the ``1D``/``2D``/``3D`` classes give its number of axes and
Keras's defaults.

>>> from nerve import layers, ops
>>> x = ops.ones((2, 4, 4, 3))
>>> layers.ZeroPadding2D(1)(x).shape, layers.Cropping2D(1)(x).shape
((2, 6, 6, 3), (2, 2, 2, 3))
>>> layers.UpSampling2D(2, interpolation="bilinear")(x).shape
(2, 8, 8, 3)
"""

from __future__ import annotations

import operator
from typing import Any

from nerve import ops
from nerve.core.errors import ShapeError, check_int, with_location
from nerve.layers._spatial import SpatialLayer, data_format_of, int_pairs, int_tuple
from nerve.layers.base import Layer
from nerve.ops.image import INTERPOLATIONS
from nerve.tensor import Tensor

__all__ = [
    "Cropping",
    "Cropping1D",
    "Cropping2D",
    "Cropping3D",
    "Permute",
    "RepeatVector",
    "UpSampling",
    "UpSampling1D",
    "UpSampling2D",
    "UpSampling3D",
    "ZeroPadding",
    "ZeroPadding1D",
    "ZeroPadding2D",
    "ZeroPadding3D",
]


# -- Permute, RepeatVector ------------------------------------------------------------------


class Permute(Layer):
    """Reorders the axes after the batch axis: ``dims`` is a permutation of ``1..n``
    (``(2, 1)`` swaps the two axes of ``(batch, a, b)`` inputs). Output axis ``i``
    (counting the batch axis as 0) is input axis ``dims[i - 1]``.

    Args:
        dims: a tuple holding each of ``1, ..., n`` once, where ``n`` is the number of
            axes after the batch axis; the batch axis always stays first.

    >>> from nerve import layers, ops
    >>> layers.Permute((2, 1))(ops.ones((4, 3, 5))).shape
    (4, 5, 3)
    """

    def __init__(self, dims: Any, **kwargs: Any):
        super().__init__(**kwargs)
        try:
            self.dims = tuple(operator.index(d) for d in dims)
        except TypeError:
            self.dims = ()
        if sorted(self.dims) != list(range(1, len(self.dims) + 1)):
            raise ValueError(
                "Permute: dims must be a permutation of 1, ..., n (the axes after the batch "
                f"axis, which stays first), got dims={dims!r}."
            )

    def _check_rank(self, input_shape: tuple) -> None:
        if len(input_shape) != len(self.dims) + 1:
            raise ShapeError(
                with_location(
                    f"Permute {self.name!r} with dims={self.dims} expects inputs of rank "
                    f"{len(self.dims) + 1} (the batch axis and {len(self.dims)} more), but "
                    f"received inputs of shape {tuple(input_shape)}."
                )
            )

    def call(self, inputs: Tensor) -> Tensor:
        self._check_rank(tuple(inputs.shape))
        return ops.transpose(inputs, (0, *self.dims))

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        self._check_rank(input_shape)
        return (input_shape[0], *(input_shape[d] for d in self.dims))

    def get_config(self) -> dict:
        return {**super().get_config(), "dims": self.dims}


class RepeatVector(Layer):
    """Repeats each ``(batch, features)`` row ``n`` times: ``(batch, n, features)``.

    Args:
        n: how many times to repeat (a positive int).

    >>> from nerve import layers, ops
    >>> layers.RepeatVector(3)(ops.ones((2, 5))).shape
    (2, 3, 5)
    """

    def __init__(self, n: int, **kwargs: Any):
        super().__init__(**kwargs)
        self.n = check_int(n, "n", "RepeatVector")

    def _check_rank(self, input_shape: tuple) -> None:
        if len(input_shape) != 2:
            raise ShapeError(
                with_location(
                    f"RepeatVector {self.name!r} expects inputs of rank 2, (batch, features), "
                    f"but received inputs of shape {tuple(input_shape)}."
                )
            )

    def call(self, inputs: Tensor) -> Tensor:
        self._check_rank(tuple(inputs.shape))
        return ops.repeat(ops.expand_dims(inputs, 1), self.n, axis=1)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        self._check_rank(input_shape)
        return (input_shape[0], self.n, input_shape[1])

    def get_config(self) -> dict:
        return {**super().get_config(), "n": self.n}


# -- cropping -------------------------------------------------------------------------------


class Cropping(SpatialLayer):
    """Removes ``cropping`` positions from the start and end of each spatial axis:
    an int (everywhere), one int per axis (both ends), or one ``(start, end)`` pair
    per axis.

    >>> from nerve import layers
    >>> layers.Cropping2D(((1, 0), (2, 2))).compute_output_shape((None, 5, 6, 3))
    (None, 4, 2, 3)
    """

    def __init__(self, cropping: Any, data_format: str | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        layer = type(self).__name__
        self.cropping = int_pairs(cropping, self.rank, "cropping", layer)
        self.data_format = data_format_of(data_format, layer)

    def _check(self, input_shape: tuple) -> None:
        self.check_rank(input_shape)
        spatial = self.spatial_shape(input_shape)
        if any(isinstance(n, int) and a + b >= n for n, (a, b) in zip(spatial, self.cropping)):
            raise ShapeError(
                with_location(
                    f"{type(self).__name__} {self.name!r}: cropping {self.cropping} leaves "
                    f"nothing of the spatial shape {spatial} of inputs of shape "
                    f"{tuple(input_shape)} (data_format={self.data_format!r}); the two crops "
                    "of each axis must add up to less than its size."
                )
            )

    def call(self, inputs: Tensor) -> Tensor:
        self._check(tuple(inputs.shape))
        index = [slice(None)] * inputs.ndim
        for axis, (start, end) in zip(self.spatial_axes(), self.cropping):
            index[axis] = slice(start, inputs.shape[axis] - end)
        return inputs[tuple(index)]

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        self._check(input_shape)
        sizes = [
            n - a - b if isinstance(n, int) else None
            for n, (a, b) in zip(self.spatial_shape(input_shape), self.cropping)
        ]
        return self.with_spatial(input_shape, sizes)

    def get_config(self) -> dict:
        return {**super().get_config(), "cropping": self.cropping, "data_format": self.data_format}


class Cropping1D(Cropping):
    """Crops the steps of ``(batch, steps, features)`` inputs: outputs are
    ``(batch, steps - start - end, features)``.

    Args:
        cropping: the steps to remove, an int (that many from each end) or a
            ``(start, end)`` pair; ``(1, 1)`` by default.

    >>> from nerve import layers, ops
    >>> layers.Cropping1D((1, 2))(ops.ones((2, 6, 3))).shape
    (2, 3, 3)
    """

    rank = 1

    def __init__(self, cropping: Any = (1, 1), **kwargs: Any):
        super().__init__(cropping, data_format=None, **kwargs)

    def get_config(self) -> dict:
        config = super().get_config()
        del config["data_format"]  # Cropping1D has none: steps are axis 1
        return {**config, "cropping": self.cropping[0]}


class Cropping2D(Cropping):
    """Crops the height and width of images: inputs ``(batch, height, width,
    channels)`` give ``(batch, height - top - bottom, width - left - right,
    channels)``.

    Args:
        cropping: the rows and columns to remove: an int (the same at all four
            edges), two ints ``(rows, cols)`` (each removed at both ends of its axis),
            or two pairs ``((top, bottom), (left, right))``; no cropping by default.
        data_format: ``"channels_last"`` or ``"channels_first"``; ``None`` uses
            ``nerve.config.image_data_format()`` (``"channels_last"`` unless set).

    >>> from nerve import layers, ops
    >>> layers.Cropping2D(((1, 1), (0, 2)))(ops.ones((2, 5, 5, 3))).shape
    (2, 3, 3, 3)
    """

    rank = 2

    def __init__(
        self, cropping: Any = ((0, 0), (0, 0)), data_format: str | None = None, **kwargs: Any
    ):
        super().__init__(cropping, data_format, **kwargs)


class Cropping3D(Cropping):
    """Crops the three spatial axes of volumes: each spatial size shrinks by its
    ``start + end``; the batch and channel axes are unchanged.

    Args:
        cropping: the positions to remove: an int (the same at both ends of every
            axis), three ints (each removed at both ends of its axis), or three
            ``(start, end)`` pairs; one at each end of each axis by default.
        data_format: ``"channels_last"`` or ``"channels_first"``; ``None`` uses
            ``nerve.config.image_data_format()`` (``"channels_last"`` unless set).

    >>> from nerve import layers, ops
    >>> layers.Cropping3D(1)(ops.ones((1, 4, 4, 4, 2))).shape
    (1, 2, 2, 2, 2)
    """

    rank = 3

    def __init__(
        self,
        cropping: Any = ((1, 1), (1, 1), (1, 1)),
        data_format: str | None = None,
        **kwargs: Any,
    ):
        super().__init__(cropping, data_format, **kwargs)


# -- upsampling -----------------------------------------------------------------------------


class UpSampling(SpatialLayer):
    """Enlarges each spatial axis ``size`` times: by repeating every position
    (``interpolation="nearest"``), or, for ``UpSampling2D``, by resampling with
    ``ops.image.resize`` (``"bilinear"``, ``"bicubic"``, ``"lanczos3"``, ``"lanczos5"``).

    >>> from nerve import layers, ops
    >>> x = ops.reshape(ops.arange(2.0), (1, 2, 1))
    >>> layers.UpSampling1D(2)(x).numpy().ravel()
    array([0., 0., 1., 1.], dtype=float32)
    """

    def __init__(
        self,
        size: Any,
        data_format: str | None = None,
        interpolation: str = "nearest",
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        layer = type(self).__name__
        self.size = int_tuple(size, self.rank, "size", layer)
        self.data_format = data_format_of(data_format, layer)
        if interpolation not in INTERPOLATIONS:
            raise ValueError(
                f"{layer}: interpolation must be one of {INTERPOLATIONS}, "
                f"got interpolation={interpolation!r}."
            )
        self.interpolation = interpolation

    def call(self, inputs: Tensor) -> Tensor:
        self.check_rank(tuple(inputs.shape))
        if self.interpolation != "nearest":
            spatial = self.spatial_shape(tuple(inputs.shape))
            new_size = tuple(n * s for n, s in zip(spatial, self.size))
            return ops.image.resize(
                inputs, new_size, interpolation=self.interpolation, data_format=self.data_format
            )
        for axis, times in zip(self.spatial_axes(), self.size):
            if times != 1:
                inputs = ops.repeat(inputs, times, axis=axis)
        return inputs

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        self.check_rank(input_shape)
        sizes = [
            n * s if isinstance(n, int) else None
            for n, s in zip(self.spatial_shape(input_shape), self.size)
        ]
        return self.with_spatial(input_shape, sizes)

    def get_config(self) -> dict:
        return {**super().get_config(), "size": self.size, "data_format": self.data_format}


class UpSampling1D(UpSampling):
    """Repeats each step of ``(batch, steps, features)`` inputs ``size`` times:
    outputs are ``(batch, steps * size, features)``.

    Args:
        size: how many times each step is repeated (a positive int; 2 by default).

    >>> from nerve import layers, ops
    >>> layers.UpSampling1D(3)(ops.ones((2, 4, 5))).shape
    (2, 12, 5)
    """

    rank = 1

    def __init__(self, size: int = 2, **kwargs: Any):
        super().__init__(size, data_format=None, interpolation="nearest", **kwargs)

    def get_config(self) -> dict:
        config = super().get_config()
        del config["data_format"]  # UpSampling1D has none: steps are axis 1
        return {**config, "size": self.size[0]}


class UpSampling2D(UpSampling):
    """Enlarges images ``size = (rows, cols)`` times, by repetition (``"nearest"``) or
    by interpolation (``"bilinear"``, ``"bicubic"``, ``"lanczos3"``, ``"lanczos5"``;
    Keras's half-pixel resampling). Inputs ``(batch, height, width, channels)`` give
    ``(batch, height * rows, width * cols, channels)``.

    Args:
        size: the factors ``(rows, cols)``, or an int for both; ``(2, 2)`` by default.
        data_format: ``"channels_last"`` or ``"channels_first"``; ``None`` uses
            ``nerve.config.image_data_format()`` (``"channels_last"`` unless set).
        interpolation: ``"nearest"`` (the default: repeat each pixel),
            ``"bilinear"``, ``"bicubic"``, ``"lanczos3"`` or ``"lanczos5"``.

    >>> from nerve import layers, ops
    >>> x = ops.reshape(ops.convert_to_tensor([0.0, 4.0]), (1, 1, 2, 1))
    >>> layers.UpSampling2D((1, 2), interpolation="bilinear")(x).numpy().ravel()
    array([0., 1., 3., 4.], dtype=float32)
    """

    rank = 2

    def __init__(
        self,
        size: Any = (2, 2),
        data_format: str | None = None,
        interpolation: str = "nearest",
        **kwargs: Any,
    ):
        super().__init__(size, data_format, interpolation, **kwargs)

    def get_config(self) -> dict:
        return {**super().get_config(), "interpolation": self.interpolation}


class UpSampling3D(UpSampling):
    """Repeats each position of volumes ``size = (d1, d2, d3)`` times: each spatial
    size is multiplied by its factor; the batch and channel axes are unchanged.

    Args:
        size: the factors for the three spatial axes, or an int for all three;
            ``(2, 2, 2)`` by default.
        data_format: ``"channels_last"`` or ``"channels_first"``; ``None`` uses
            ``nerve.config.image_data_format()`` (``"channels_last"`` unless set).

    >>> from nerve import layers, ops
    >>> layers.UpSampling3D((1, 2, 3))(ops.ones((1, 2, 2, 2, 4))).shape
    (1, 2, 4, 6, 4)
    """

    rank = 3

    def __init__(self, size: Any = (2, 2, 2), data_format: str | None = None, **kwargs: Any):
        super().__init__(size, data_format, interpolation="nearest", **kwargs)


# -- zero padding ---------------------------------------------------------------------------


class ZeroPadding(SpatialLayer):
    """Adds ``padding`` zeros at the start and end of each spatial axis: an int
    (everywhere), one int per axis (both ends), or one ``(start, end)`` pair per axis.

    >>> from nerve import layers
    >>> layers.ZeroPadding2D(((1, 0), (2, 2))).compute_output_shape((None, 5, 6, 3))
    (None, 6, 10, 3)
    """

    def __init__(self, padding: Any, data_format: str | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        layer = type(self).__name__
        self.padding = int_pairs(padding, self.rank, "padding", layer)
        self.data_format = data_format_of(data_format, layer)

    def call(self, inputs: Tensor) -> Tensor:
        self.check_rank(tuple(inputs.shape))
        pad_width = [(0, 0)] * inputs.ndim
        for axis, pair in zip(self.spatial_axes(), self.padding):
            pad_width[axis] = pair
        return ops.pad(inputs, pad_width)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        self.check_rank(input_shape)
        sizes = [
            n + a + b if isinstance(n, int) else None
            for n, (a, b) in zip(self.spatial_shape(input_shape), self.padding)
        ]
        return self.with_spatial(input_shape, sizes)

    def get_config(self) -> dict:
        return {**super().get_config(), "padding": self.padding, "data_format": self.data_format}


class ZeroPadding1D(ZeroPadding):
    """Adds zero steps at the start and end of sequences: inputs ``(batch, steps,
    features)`` give ``(batch, start + steps + end, features)``.

    Args:
        padding: the zeros to add, an int (that many at each end) or a
            ``(start, end)`` pair; 1 by default.
        data_format: ``"channels_last"`` (steps on axis 1) or ``"channels_first"``
            (steps on axis 2); ``None`` uses ``nerve.config.image_data_format()``.

    >>> from nerve import layers, ops
    >>> layers.ZeroPadding1D((1, 2))(ops.ones((2, 4, 3))).shape
    (2, 7, 3)
    """

    rank = 1

    def __init__(self, padding: Any = 1, data_format: str | None = None, **kwargs: Any):
        super().__init__(padding, data_format, **kwargs)

    def get_config(self) -> dict:
        return {**super().get_config(), "padding": self.padding[0]}


class ZeroPadding2D(ZeroPadding):
    """Adds rows and columns of zeros around images: inputs ``(batch, height, width,
    channels)`` give ``(batch, top + height + bottom, left + width + right,
    channels)``.

    Args:
        padding: an int (the same at all four edges), two ints ``(rows, cols)``
            (each added at both ends of its axis), or two pairs
            ``((top, bottom), (left, right))``; ``(1, 1)`` by default.
        data_format: ``"channels_last"`` or ``"channels_first"``; ``None`` uses
            ``nerve.config.image_data_format()`` (``"channels_last"`` unless set).

    >>> from nerve import layers, ops
    >>> layers.ZeroPadding2D((1, 2))(ops.ones((2, 4, 4, 3))).shape
    (2, 6, 8, 3)
    """

    rank = 2

    def __init__(self, padding: Any = (1, 1), data_format: str | None = None, **kwargs: Any):
        super().__init__(padding, data_format, **kwargs)


class ZeroPadding3D(ZeroPadding):
    """Adds zeros at both ends of the three spatial axes of volumes: each spatial size
    grows by its ``start + end``; the batch and channel axes are unchanged.

    Args:
        padding: an int (the same at both ends of every axis), three ints (each added
            at both ends of its axis), or three ``(start, end)`` pairs; one at each end
            of each axis by default.
        data_format: ``"channels_last"`` or ``"channels_first"``; ``None`` uses
            ``nerve.config.image_data_format()`` (``"channels_last"`` unless set).

    >>> from nerve import layers, ops
    >>> layers.ZeroPadding3D(1, data_format="channels_first")(ops.ones((1, 2, 3, 3, 3))).shape
    (1, 2, 5, 5, 5)
    """

    rank = 3

    def __init__(
        self,
        padding: Any = ((1, 1), (1, 1), (1, 1)),
        data_format: str | None = None,
        **kwargs: Any,
    ):
        super().__init__(padding, data_format, **kwargs)
