"""Normalization layers: BatchNormalization, LayerNormalization, GroupNormalization,
UnitNormalization, RMSNormalization.

Each normalizes its inputs to zero mean and unit variance (or unit norm, or unit
root mean square) over some axes, then applies a learned per-feature scale
(``gamma``) and shift (``beta``) where it has them. Half-precision inputs are
normalized in float32 and the result cast back, as Keras does, so that the sums of
squares neither overflow nor lose their small terms.

>>> import nerve
>>> from nerve import layers, ops
>>> norm = layers.LayerNormalization(name="norm")
>>> y = norm(ops.convert_to_tensor([[1.0, 2.0, 3.0]]))
>>> [w.path for w in norm.weights], y.numpy().round(3)
(['norm/gamma', 'norm/beta'], array([[-1.224,  0.   ,  1.224]], dtype=float32))
"""

from __future__ import annotations

import warnings
from typing import Any

from nerve import constraints, initializers, ops, regularizers
from nerve.core.errors import (
    AxisError,
    ShapeError,
    check_number,
    normalize_axes,
    with_location,
)
from nerve.layers.base import Layer
from nerve.ops.nn.normalization import _layer_normalization
from nerve.tensor import Tensor, Variable

__all__ = [
    "BatchNormalization",
    "GroupNormalization",
    "LayerNormalization",
    "RMSNormalization",
    "UnitNormalization",
]


# -- helpers shared by the layers ---------------------------------------------------------


def _who(layer: Layer) -> str:
    return f"{type(layer).__name__} {layer.name!r}"


def _axis_config(axis: Any) -> Any:
    """An axis as Keras's configs hold it: an int stays an int, a sequence is a list."""
    entries = axis if isinstance(axis, (list, tuple)) else [axis]
    for entry in entries:
        if isinstance(entry, bool) or not hasattr(entry, "__index__"):
            raise ValueError(
                f"axis must be an integer or a list of integers; received axis={axis!r}."
            )
    if isinstance(axis, (list, tuple)):
        return [int(a) for a in axis]
    return int(axis)


def _layer_axes(layer: Layer, axis: Any, shape: tuple) -> tuple[int, ...]:
    """``axis`` (an int or a sequence) as sorted non-negative axes of ``shape``; the
    error names the layer and the shape when an axis is out of range."""
    try:
        return tuple(sorted(normalize_axes(axis, len(shape), _who(layer))))
    except AxisError as error:
        rank = len(shape)
        raise AxisError(
            with_location(
                f"{_who(layer)} normalizes over axis {axis!r}, which does not exist in inputs "
                f"of shape {tuple(shape)} (rank {rank}); axes must be in {-rank}..{rank - 1}."
            )
        ) from error


def _known_sizes(layer: Layer, shape: tuple, axes: tuple[int, ...]) -> tuple[int, ...]:
    """The sizes of ``shape`` on ``axes``, which the layer's weights take; they must be known."""
    sizes = tuple(shape[a] for a in axes)
    if any(s is None for s in sizes):
        raise ShapeError(
            with_location(
                f"{_who(layer)} needs the size of axis {axes if len(axes) > 1 else axes[0]} "
                f"of its inputs to make its weights, but received inputs of shape "
                f"{tuple(shape)} (None is unknown)."
            )
        )
    return tuple(int(s) for s in sizes)


def _check_inputs(
    layer: Layer, inputs: Tensor, ndim: int, axes: tuple[int, ...], sizes: tuple[int, ...]
) -> None:
    """Inputs of a built layer have the rank and the sizes on ``axes`` it was built for."""
    shape = tuple(inputs.shape)
    if len(shape) != ndim or any(shape[a] != s for a, s in zip(axes, sizes)):
        expected = ", ".join(f"axis {a} of size {s}" for a, s in zip(axes, sizes))
        raise ShapeError(
            with_location(
                f"{_who(layer)} was built for inputs of rank {ndim} with {expected}, but "
                f"received inputs of shape {shape}."
            )
        )


def _broadcast_shape(ndim: int, axes: tuple[int, ...], sizes: tuple[int, ...]) -> tuple:
    """The shape of a per-feature weight laid out to broadcast against the inputs."""
    by_axis = dict(zip(axes, sizes))
    return tuple(by_axis.get(i, 1) for i in range(ndim))


def _upcast(x: Tensor) -> Tensor:
    """Half-precision inputs are normalized in float32 (Keras does the same)."""
    return ops.cast(x, "float32") if x.dtype in ("float16", "bfloat16") else x


class _AffineNormalization(Layer):
    """What LayerNormalization and GroupNormalization share: ``center`` / ``scale`` and
    the initializers, regularizers and constraints of ``beta`` and ``gamma``."""

    def __init__(
        self,
        epsilon: float,
        center: bool,
        scale: bool,
        beta_initializer: Any,
        gamma_initializer: Any,
        beta_regularizer: Any,
        gamma_regularizer: Any,
        beta_constraint: Any,
        gamma_constraint: Any,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.epsilon = check_number(epsilon, "epsilon", type(self).__name__, minimum=0)
        self.center = bool(center)
        self.scale = bool(scale)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.beta_constraint = constraints.get(beta_constraint)
        self.gamma_constraint = constraints.get(gamma_constraint)
        self.gamma: Variable | None = None
        self.beta: Variable | None = None

    def _add_gamma(self, shape: tuple) -> Variable:
        return self.add_weight(
            shape=shape,
            initializer=self.gamma_initializer,
            regularizer=self.gamma_regularizer,
            constraint=self.gamma_constraint,
            name="gamma",
        )

    def _add_beta(self, shape: tuple) -> Variable:
        return self.add_weight(
            shape=shape,
            initializer=self.beta_initializer,
            regularizer=self.beta_regularizer,
            constraint=self.beta_constraint,
            name="beta",
        )

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape

    def compute_flops(self, input_shape: Any, output_shape: Any) -> int | None:
        """0: normalizing is elementwise work and a few reductions, which the FLOP
        counts leave out (see ``Layer.compute_flops``)."""
        return 0

    def _affine_config(self) -> dict:
        return {
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "beta_initializer": initializers.serialize(self.beta_initializer),
            "gamma_initializer": initializers.serialize(self.gamma_initializer),
            "beta_regularizer": regularizers.serialize(self.beta_regularizer),
            "gamma_regularizer": regularizers.serialize(self.gamma_regularizer),
            "beta_constraint": constraints.serialize(self.beta_constraint),
            "gamma_constraint": constraints.serialize(self.gamma_constraint),
        }


# -- the layers -----------------------------------------------------------------------------


class BatchNormalization(Layer):
    """Normalizes each feature (the entries along ``axis``) with statistics over every
    other axis: the batch's mean and variance while training, moving averages of them
    at inference; then ``gamma * normalized + beta``.

    In training (``training=True`` on a layer whose ``trainable`` is True) each call
    updates ``moving = moving * momentum + batch * (1 - momentum)`` for the mean and
    the (biased) variance. A layer with ``trainable=False`` runs in inference mode even
    when called with ``training=True``, as in Keras 3: fine-tuning a model with frozen
    batch norms keeps their statistics. Weights, in order: ``gamma`` (if ``scale``),
    ``beta`` (if ``center``), ``moving_mean``, ``moving_variance``.

    ``mask`` (same shape as the inputs, or without ``axis``) restricts the training
    statistics to the positions where it is true; the whole input is normalized.
    ``synchronized`` (statistics across devices) is accepted and changes nothing on one
    device; batch renormalization (``renorm=True``) is not implemented. The output
    has the input's shape.

    Args:
        axis: the feature axis (an int; the last axis by default, ``1`` for
            channels-first images).
        momentum: the weight of the old value in each moving-average update, in
            ``[0, 1]``; 0.99 by default.
        epsilon: added to the variance before its square root, so constant inputs do
            not divide by zero; 1e-3 by default.
        center: whether a learned offset ``beta`` is added (true by default).
        scale: whether a learned factor ``gamma`` multiplies the result (true by
            default); it may be left out when the next layer is linear.
        beta_initializer, gamma_initializer: how ``beta`` and ``gamma`` start; zeros
            and ones by default, so the layer starts as a plain normalization.
        beta_regularizer, gamma_regularizer: optional penalties on ``beta`` and
            ``gamma``, added to the layer's ``losses``.
        beta_constraint, gamma_constraint: optional functions applied to ``beta`` and
            ``gamma`` after each optimizer step.
        moving_mean_initializer, moving_variance_initializer: how the moving mean and
            variance start; zeros and ones by default.
        renorm: batch renormalization; only ``False`` is accepted (``True`` raises
            ``NotImplementedError``).
        renorm_clipping, renorm_momentum: settings of batch renormalization; kept in
            the config for Keras compatibility and otherwise unused.
        synchronized: whether statistics are gathered across devices in distributed
            training; accepted, and no different from ``False`` on one device.

    Call arguments:
        inputs: the tensor to normalize.
        training: whether to normalize with the batch's statistics and update the
            moving averages (true), or with the moving averages (false, the default
            outside ``fit``).
        mask: optional boolean tensor; the training statistics use only the positions
            where it is true.

    >>> import nerve
    >>> from nerve import layers, ops
    >>> bn = layers.BatchNormalization(momentum=0.5)
    >>> x = ops.convert_to_tensor([[0.0, 1.0], [2.0, 5.0]])
    >>> bn(x, training=True).numpy().round(3)
    array([[-1., -1.],
           [ 1.,  1.]], dtype=float32)
    >>> bn.moving_mean.numpy(), bn.moving_variance.numpy()
    (array([0.5, 1.5], dtype=float32), array([1. , 2.5], dtype=float32))
    """

    _passes_masks = True

    def __init__(
        self,
        axis: int = -1,
        momentum: float = 0.99,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        beta_initializer: Any = "zeros",
        gamma_initializer: Any = "ones",
        moving_mean_initializer: Any = "zeros",
        moving_variance_initializer: Any = "ones",
        beta_regularizer: Any = None,
        gamma_regularizer: Any = None,
        beta_constraint: Any = None,
        gamma_constraint: Any = None,
        renorm: bool = False,
        renorm_clipping: Any = None,
        renorm_momentum: float = 0.99,
        synchronized: bool = False,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise TypeError(
                f"BatchNormalization: axis must be an int (the feature axis), got {axis!r}."
            )
        if renorm:
            raise NotImplementedError(
                "BatchNormalization: batch renormalization (renorm=True) is not implemented "
                "in nerve; use renorm=False."
            )
        self.axis = axis
        self.momentum = check_number(
            momentum, "momentum", "BatchNormalization", minimum=0, maximum=1
        )
        self.epsilon = check_number(epsilon, "epsilon", type(self).__name__, minimum=0)
        self.center = bool(center)
        self.scale = bool(scale)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.beta_constraint = constraints.get(beta_constraint)
        self.gamma_constraint = constraints.get(gamma_constraint)
        self.renorm = False
        self.renorm_clipping = renorm_clipping
        self.renorm_momentum = float(renorm_momentum)
        self.synchronized = bool(synchronized)
        self.gamma: Variable | None = None
        self.beta: Variable | None = None

    def build(self, input_shape: tuple) -> None:
        (self._axis,) = _layer_axes(self, self.axis, input_shape)
        self._ndim = len(input_shape)
        (channels,) = _known_sizes(self, input_shape, (self._axis,))
        shape = (channels,)
        if self.scale:
            self.gamma = self.add_weight(
                shape=shape,
                initializer=self.gamma_initializer,
                regularizer=self.gamma_regularizer,
                constraint=self.gamma_constraint,
                name="gamma",
            )
        if self.center:
            self.beta = self.add_weight(
                shape=shape,
                initializer=self.beta_initializer,
                regularizer=self.beta_regularizer,
                constraint=self.beta_constraint,
                name="beta",
            )
        self.moving_mean = self.add_weight(
            shape=shape,
            initializer=self.moving_mean_initializer,
            trainable=False,
            name="moving_mean",
        )
        self.moving_variance = self.add_weight(
            shape=shape,
            initializer=self.moving_variance_initializer,
            trainable=False,
            name="moving_variance",
        )

    def call(self, inputs: Tensor, training: bool | None = None, mask: Any = None) -> Tensor:
        _check_inputs(self, inputs, self._ndim, (self._axis,), (self.moving_mean.shape[0],))
        x = _upcast(inputs)
        if training and self.trainable:
            mean, variance = self._moments(x, mask)
            self._update_moving_statistics(mean, variance)
        else:
            mean, variance = self.moving_mean, self.moving_variance
        out = ops.batch_normalization(
            x,
            mean,
            variance,
            axis=self._axis,
            offset=self.beta,
            scale=self.gamma,
            epsilon=self.epsilon,
        )
        return ops.cast(out, inputs.dtype)

    def _moments(self, x: Tensor, mask: Any) -> tuple[Tensor, Tensor]:
        """The batch's mean and biased variance per feature, over unmasked positions."""
        axes = tuple(i for i in range(x.ndim) if i != self._axis)
        if mask is None:
            return ops.moments(x, axes)
        weights = ops.cast(ops.convert_to_tensor(mask), x.dtype)
        if weights.ndim == x.ndim - 1:
            weights = ops.expand_dims(weights, self._axis)
        if weights.ndim != x.ndim:
            raise ShapeError(
                with_location(
                    f"{_who(self)}: mask of shape {tuple(weights.shape)} does not fit inputs of "
                    f"shape {tuple(x.shape)}; it must have the inputs' shape, or that shape "
                    f"without axis {self._axis}."
                )
            )
        weights = ops.broadcast_to(weights, x.shape)
        count = ops.sum(weights, axis=axes, keepdims=True)
        mean = ops.sum(x * weights, axis=axes, keepdims=True) / count
        variance = ops.sum(ops.square(x - mean) * weights, axis=axes, keepdims=True) / count
        channels = (x.shape[self._axis],)
        return ops.reshape(mean, channels), ops.reshape(variance, channels)

    def _update_moving_statistics(self, mean: Tensor, variance: Tensor) -> None:
        momentum = self.momentum
        for moving, batch in ((self.moving_mean, mean), (self.moving_variance, variance)):
            batch = ops.cast(ops.stop_gradient(batch), moving.dtype)
            moving.assign(moving * momentum + batch * (1.0 - momentum))

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape

    def compute_flops(self, input_shape: Any, output_shape: Any) -> int | None:
        """0: normalizing is elementwise work (see ``Layer.compute_flops``)."""
        return 0

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "axis": self.axis,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "beta_initializer": initializers.serialize(self.beta_initializer),
            "gamma_initializer": initializers.serialize(self.gamma_initializer),
            "moving_mean_initializer": initializers.serialize(self.moving_mean_initializer),
            "moving_variance_initializer": initializers.serialize(self.moving_variance_initializer),
            "beta_regularizer": regularizers.serialize(self.beta_regularizer),
            "gamma_regularizer": regularizers.serialize(self.gamma_regularizer),
            "beta_constraint": constraints.serialize(self.beta_constraint),
            "gamma_constraint": constraints.serialize(self.gamma_constraint),
            "synchronized": self.synchronized,
            "renorm": self.renorm,
            "renorm_clipping": self.renorm_clipping,
            "renorm_momentum": self.renorm_momentum,
        }


class LayerNormalization(_AffineNormalization):
    """Normalizes each example over ``axis`` (an int or a list of axes; the last axis by
    default) to zero mean and unit variance, then ``gamma * normalized + beta``, with
    ``gamma`` and ``beta`` shaped like the normalized axes.

    ``rms_scaling=True`` is Keras's deprecated variant (it warns): the inputs are not
    centred but divided by the root of their variance plus ``epsilon``, and scaled by
    ``gamma`` alone (no ``beta`` is made). ``RMSNormalization`` divides by the root
    mean square. The output has the input's shape.

    Args:
        axis: the axis or list of axes each example is normalized over; the last axis
            by default.
        epsilon: added to the variance before its square root, so constant inputs do
            not divide by zero; 1e-3 by default.
        center: whether a learned offset ``beta`` is added (true by default).
        scale: whether a learned factor ``gamma`` multiplies the result (true by
            default); it may be left out when the next layer is linear.
        beta_initializer, gamma_initializer: how ``beta`` and ``gamma`` start; zeros
            and ones by default, so the layer starts as a plain normalization.
        beta_regularizer, gamma_regularizer: optional penalties on ``beta`` and
            ``gamma``, added to the layer's ``losses``.
        beta_constraint, gamma_constraint: optional functions applied to ``beta`` and
            ``gamma`` after each optimizer step.
        rms_scaling: Keras's deprecated root-mean-square variant described above;
            false by default.

    >>> import nerve
    >>> from nerve import layers, ops
    >>> norm = layers.LayerNormalization(axis=[1, 2], epsilon=0.0)
    >>> y = norm(ops.convert_to_tensor([[[1.0, 3.0], [1.0, 3.0]]]))
    >>> y.numpy(), norm.gamma.shape
    (array([[[-1.,  1.],
            [-1.,  1.]]], dtype=float32), (2, 2))
    """

    _passes_masks = True

    def __init__(
        self,
        axis: Any = -1,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        beta_initializer: Any = "zeros",
        gamma_initializer: Any = "ones",
        beta_regularizer: Any = None,
        gamma_regularizer: Any = None,
        beta_constraint: Any = None,
        gamma_constraint: Any = None,
        rms_scaling: bool = False,
        **kwargs: Any,
    ):
        super().__init__(
            epsilon,
            center,
            scale,
            beta_initializer,
            gamma_initializer,
            beta_regularizer,
            gamma_regularizer,
            beta_constraint,
            gamma_constraint,
            **kwargs,
        )
        self.axis = _axis_config(axis)
        self.rms_scaling = bool(rms_scaling)
        if self.rms_scaling:
            warnings.warn(
                f"{_who(self)}: rms_scaling=True is deprecated (as in Keras): it divides by "
                "the root of the variance, not of the mean square. Use RMSNormalization for "
                "root-mean-square normalization.",
                UserWarning,
                stacklevel=2,
            )

    def build(self, input_shape: tuple) -> None:
        self._axes = _layer_axes(self, self.axis, input_shape)
        self._ndim = len(input_shape)
        self._sizes = _known_sizes(self, input_shape, self._axes)
        # Keras's rms_scaling ignores center and scale: it has gamma and no beta.
        if self.scale or self.rms_scaling:
            self.gamma = self._add_gamma(self._sizes)
        if self.center and not self.rms_scaling:
            self.beta = self._add_beta(self._sizes)

    def call(self, inputs: Tensor) -> Tensor:
        _check_inputs(self, inputs, self._ndim, self._axes, self._sizes)
        shape = _broadcast_shape(self._ndim, self._axes, self._sizes)
        gamma = None if self.gamma is None else ops.reshape(self.gamma, shape)
        beta = None if self.beta is None else ops.reshape(self.beta, shape)
        out = _layer_normalization(
            _upcast(inputs), gamma, beta, self._axes, self.epsilon, self.rms_scaling
        )
        return ops.cast(out, inputs.dtype)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "axis": self.axis,
            **self._affine_config(),
            "rms_scaling": self.rms_scaling,
        }


class GroupNormalization(_AffineNormalization):
    """Splits the channels (the entries along ``axis``) into ``groups`` groups of equal
    size and normalizes each example's groups separately, over the group's channels and
    every other non-batch axis; then ``gamma * normalized + beta`` per channel.

    ``groups=-1`` makes one group per channel (instance normalization); one group is
    layer normalization over all non-batch axes (Wu & He, 2018). The output has the
    input's shape.

    Args:
        groups: the number of groups, which must divide the number of channels; 32 by
            default, ``-1`` for one group per channel.
        axis: the channel axis (an int; the last axis by default, ``1`` for
            channels-first images).
        epsilon: added to the variance before its square root, so constant inputs do
            not divide by zero; 1e-3 by default.
        center: whether a learned offset ``beta`` is added (true by default).
        scale: whether a learned factor ``gamma`` multiplies the result (true by
            default); it may be left out when the next layer is linear.
        beta_initializer, gamma_initializer: how ``beta`` and ``gamma`` start; zeros
            and ones by default, so the layer starts as a plain normalization.
        beta_regularizer, gamma_regularizer: optional penalties on ``beta`` and
            ``gamma``, added to the layer's ``losses``.
        beta_constraint, gamma_constraint: optional functions applied to ``beta`` and
            ``gamma`` after each optimizer step.

    >>> import nerve
    >>> from nerve import layers, ops
    >>> norm = layers.GroupNormalization(groups=2, epsilon=0.0)
    >>> norm(ops.convert_to_tensor([[0.0, 2.0, 5.0, 7.0]])).numpy()
    array([[-1.,  1., -1.,  1.]], dtype=float32)
    """

    _passes_masks = True

    def __init__(
        self,
        groups: int = 32,
        axis: int = -1,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        beta_initializer: Any = "zeros",
        gamma_initializer: Any = "ones",
        beta_regularizer: Any = None,
        gamma_regularizer: Any = None,
        beta_constraint: Any = None,
        gamma_constraint: Any = None,
        **kwargs: Any,
    ):
        super().__init__(
            epsilon,
            center,
            scale,
            beta_initializer,
            gamma_initializer,
            beta_regularizer,
            gamma_regularizer,
            beta_constraint,
            gamma_constraint,
            **kwargs,
        )
        groups = int(groups)
        if groups == 0 or groups < -1:
            raise ValueError(
                f"GroupNormalization: groups must be a positive number of groups or -1 (one "
                f"group per channel), got {groups}."
            )
        self.groups = groups
        self.axis = int(axis)

    def build(self, input_shape: tuple) -> None:
        (self._axis,) = _layer_axes(self, self.axis, input_shape)
        if self._axis == 0:
            raise AxisError(
                f"{_who(self)}: axis {self.axis} is the batch axis of inputs of shape "
                f"{tuple(input_shape)}; it must be the channel axis."
            )
        self._ndim = len(input_shape)
        (channels,) = _known_sizes(self, input_shape, (self._axis,))
        if self.groups == -1:
            self.groups = channels
        if self.groups > channels or channels % self.groups:
            raise ShapeError(
                f"{_who(self)}: {channels} channels (axis {self._axis} of inputs of shape "
                f"{tuple(input_shape)}) cannot be split into {self.groups} groups of equal "
                "size; groups must divide the number of channels."
            )
        if self.scale:
            self.gamma = self._add_gamma((channels,))
        if self.center:
            self.beta = self._add_beta((channels,))
        self._channels = channels

    def call(self, inputs: Tensor) -> Tensor:
        axis, groups = self._axis, self.groups
        _check_inputs(self, inputs, self._ndim, (axis,), (self._channels,))
        x = _upcast(inputs)
        shape = tuple(x.shape)
        # (..., channels, ...) -> (..., groups, channels per group, ...)
        grouped = ops.reshape(x, (*shape[:axis], groups, shape[axis] // groups, *shape[axis + 1 :]))
        axes = tuple(i for i in range(1, grouped.ndim) if i != axis)
        mean, variance = ops.moments(grouped, axes, keepdims=True)
        normalized = (grouped - mean) * ops.rsqrt(variance + self.epsilon)
        out = ops.reshape(normalized, shape)
        per_channel = _broadcast_shape(self._ndim, (axis,), (self._channels,))
        if self.gamma is not None:
            out = out * ops.reshape(ops.cast(self.gamma, out.dtype), per_channel)
        if self.beta is not None:
            out = out + ops.reshape(ops.cast(self.beta, out.dtype), per_channel)
        return ops.cast(out, inputs.dtype)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "groups": self.groups,
            "axis": self.axis,
            **self._affine_config(),
        }


class UnitNormalization(Layer):
    """Scales each example to unit L2 norm over ``axis`` (an int or a list of axes):
    ``x / max(norm(x), 1e-12)``, so all-zero vectors stay zero. The output has the
    input's shape; the layer has no weights.

    Args:
        axis: the axis or list of axes whose entries form each vector; the last axis
            by default.

    >>> import nerve
    >>> from nerve import layers, ops
    >>> layers.UnitNormalization()(ops.convert_to_tensor([[3.0, 4.0], [0.0, 0.0]])).numpy()
    array([[0.6, 0.8],
           [0. , 0. ]], dtype=float32)
    """

    _passes_masks = True

    def __init__(self, axis: Any = -1, **kwargs: Any):
        super().__init__(**kwargs)
        self.axis = _axis_config(axis)

    def call(self, inputs: Tensor) -> Tensor:
        axes = _layer_axes(self, self.axis, tuple(inputs.shape))
        out = ops.normalize(_upcast(inputs), axis=axes, order=2, epsilon=1e-12)
        return ops.cast(out, inputs.dtype)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis}


class RMSNormalization(Layer):
    """Divides each example by its root mean square over ``axis`` (an int or a list of
    axes) and multiplies by a learned ``scale`` shaped like those axes:
    ``x * rsqrt(mean(square(x)) + epsilon) * scale`` (Zhang & Sennrich, 2019). The
    output has the input's shape; ``scale`` starts at ones.

    Args:
        axis: the axis or list of axes the root mean square is taken over; the last
            axis by default.
        epsilon: added to the mean square before its square root; 1e-6 by default.

    >>> import nerve
    >>> from nerve import layers, ops
    >>> norm = layers.RMSNormalization(epsilon=0.0)
    >>> norm(ops.convert_to_tensor([[1.0, -1.0, 1.0, -1.0]])).numpy()
    array([[ 1., -1.,  1., -1.]], dtype=float32)
    >>> [w.name for w in norm.weights]
    ['scale']
    """

    def __init__(self, axis: Any = -1, epsilon: float = 1e-6, **kwargs: Any):
        super().__init__(**kwargs)
        self.axis = _axis_config(axis)
        self.epsilon = check_number(epsilon, "epsilon", type(self).__name__, minimum=0)

    def build(self, input_shape: tuple) -> None:
        self._axes = _layer_axes(self, self.axis, input_shape)
        self._ndim = len(input_shape)
        self._sizes = _known_sizes(self, input_shape, self._axes)
        self.scale = self.add_weight(shape=self._sizes, initializer="ones", name="scale")

    def call(self, inputs: Tensor) -> Tensor:
        _check_inputs(self, inputs, self._ndim, self._axes, self._sizes)
        scale = ops.reshape(self.scale, _broadcast_shape(self._ndim, self._axes, self._sizes))
        out = ops.rms_normalization(_upcast(inputs), scale, axis=self._axes, epsilon=self.epsilon)
        return ops.cast(out, inputs.dtype)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape

    def compute_flops(self, input_shape: Any, output_shape: Any) -> int | None:
        """0: normalizing is elementwise work (see ``Layer.compute_flops``)."""
        return 0

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon}
