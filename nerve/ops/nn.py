"""Neural-network ops (Keras's ``keras.ops`` nn functions).

Everything here is a composite of primitives, so gradients of any order come
for free. Convolution and pooling run over two linear primitives,
``extract_patches`` (sliding windows as a strided view) and its adjoint
``patches_transpose``: a convolution is a matmul of patches with the kernel, a
transposed convolution is the input-gradient of a convolution, and pooling is
a reduction over the window axes.

Spatial ops take ``data_format="channels_last"`` (``(batch, *spatial,
channels)``, the default) or ``"channels_first"``; ``padding`` is ``"valid"`` or
``"same"`` (TensorFlow's rule: the odd extra padding goes at the end).

>>> from nerve import ops
>>> ops.relu(ops.convert_to_tensor([-1.0, 2.0])).numpy()
array([0., 2.], dtype=float32)
>>> x = ops.ones((1, 5, 5, 2))
>>> ops.conv(x, ops.ones((3, 3, 2, 4)), padding="same").shape
(1, 5, 5, 4)
>>> ops.max_pool(x, 2).shape
(1, 2, 2, 2)
"""

from __future__ import annotations

import math
from typing import Any

from nerve.core import config
from nerve.core.errors import ShapeError, normalize_axes, normalize_axis, with_location
from nerve.ops._convert import cast, promote, tensor, to_float
from nerve.ops.core import stop_gradient
from nerve.ops.creation import arange, ones
from nerve.ops.elementwise import (
    abs,
    add,
    divide,
    equal,
    erf,
    exp,
    expm1,
    greater,
    less,
    log,
    log1p,
    maximum,
    minimum,
    multiply,
    negative,
    rsqrt,
    sigmoid,
    softplus,
    subtract,
    tanh,
    where,
)
from nerve.ops.elementwise import clip as _clip
from nerve.primitives import linalg as lp
from nerve.primitives import nn as nnp
from nerve.primitives import reduction as rp
from nerve.primitives.shape import reshape, transpose
from nerve.tensor import Tensor

__all__ = [
    "average_pool", "batch_normalization", "binary_crossentropy", "categorical_crossentropy",
    "celu", "conv", "conv_transpose", "depthwise_conv", "elu", "gelu", "glu", "hard_sigmoid",
    "hard_silu", "hard_swish", "hard_tanh", "layer_normalization", "leaky_relu", "log_sigmoid",
    "log_softmax", "max_pool", "moments", "multi_hot", "normalize", "relu", "relu6",
    "rms_normalization", "selu", "separable_conv", "silu", "soft_shrink", "softmax", "softsign",
    "sparse_categorical_crossentropy", "swish", "tanh_shrink",
]  # fmt: skip


# -- activations -------------------------------------------------------------------------


def relu(x: Any) -> Tensor:
    """Rectified linear unit ``max(x, 0)``; the gradient at 0 is 0 (as in PyTorch)."""
    return nnp.relu_p.bind(to_float(x))


def relu6(x: Any) -> Tensor:
    """``min(max(x, 0), 6)``; the gradient is 0 at both corners (as in PyTorch).

    >>> from nerve import ops
    >>> ops.relu6(ops.convert_to_tensor([-1.0, 3.0, 8.0])).numpy()
    array([0., 3., 6.], dtype=float32)
    """
    x = to_float(x)
    return where(greater(x, 0.0), where(less(x, 6.0), x, 6.0), 0.0)


def softsign(x: Any) -> Tensor:
    """``x / (1 + |x|)``."""
    x = to_float(x)
    return divide(x, add(abs(x), 1.0))


def silu(x: Any) -> Tensor:
    """Sigmoid linear unit ``x * sigmoid(x)`` (also called swish)."""
    x = to_float(x)
    return multiply(x, sigmoid(x))


swish = silu


def log_sigmoid(x: Any) -> Tensor:
    """``log(sigmoid(x)) = -softplus(-x)``, without overflow or underflow."""
    return negative(softplus(negative(to_float(x))))


def leaky_relu(x: Any, negative_slope: float = 0.2) -> Tensor:
    """``x`` where positive, ``negative_slope * x`` elsewhere."""
    x = to_float(x)
    return where(greater(x, 0.0), x, multiply(x, negative_slope))


def hard_sigmoid(x: Any) -> Tensor:
    """Piecewise-linear sigmoid ``relu6(x + 3) / 6``."""
    return divide(relu6(add(to_float(x), 3.0)), 6.0)


def hard_silu(x: Any) -> Tensor:
    """``x * hard_sigmoid(x)`` (also called hard swish)."""
    x = to_float(x)
    return multiply(x, hard_sigmoid(x))


hard_swish = hard_silu


def hard_tanh(x: Any) -> Tensor:
    """``x`` clipped to ``[-1, 1]``; the gradient is 0 outside (and at the corners)."""
    x = to_float(x)
    return where(greater(x, -1.0), where(less(x, 1.0), x, 1.0), -1.0)


def elu(x: Any, alpha: float = 1.0) -> Tensor:
    """Exponential linear unit: ``x`` where positive, ``alpha * (exp(x) - 1)`` elsewhere."""
    x = to_float(x)
    # expm1 of min(x, 0), so large positive x can't overflow into a NaN gradient.
    return where(greater(x, 0.0), x, multiply(expm1(minimum(x, 0.0)), alpha))


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def selu(x: Any) -> Tensor:
    """Scaled exponential linear unit ``scale * elu(x, alpha)`` with the self-normalising
    constants of Klambauer et al. (2017)."""
    return multiply(elu(x, _SELU_ALPHA), _SELU_SCALE)


def celu(x: Any, alpha: float = 1.0) -> Tensor:
    """Continuously differentiable ELU: ``max(x, 0) + alpha * expm1(min(x, 0) / alpha)``."""
    x = to_float(x)
    return add(
        where(greater(x, 0.0), x, 0.0), multiply(expm1(divide(minimum(x, 0.0), alpha)), alpha)
    )


def gelu(x: Any, approximate: bool = True) -> Tensor:
    """Gaussian error linear unit ``x * Phi(x)``: the tanh approximation by default, the
    exact form (with erf) when ``approximate=False``.

    >>> from nerve import ops
    >>> x = ops.convert_to_tensor([1.0])
    >>> ops.gelu(x).numpy().round(4), ops.gelu(x, approximate=False).numpy().round(4)
    (array([0.8412], dtype=float32), array([0.8413], dtype=float32))
    """
    x = to_float(x)
    if approximate:
        inner = multiply(add(x, multiply(x * x * x, 0.044715)), math.sqrt(2 / math.pi))
        return multiply(multiply(x, 0.5), add(tanh(inner), 1.0))
    return multiply(multiply(x, 0.5), add(erf(multiply(x, 1 / math.sqrt(2))), 1.0))


def glu(x: Any, axis: int = -1) -> Tensor:
    """Gated linear unit: split ``x`` in two halves ``a, b`` along ``axis``; ``a * sigmoid(b)``."""
    x = to_float(x)
    axis = normalize_axis(axis, x.ndim, "glu")
    size = x.shape[axis]
    if size % 2:
        raise ShapeError(
            with_location(
                f"glu: axis {axis} of the input (shape {tuple(x.shape)}) must have an even "
                f"size to split in two halves; got {size}."
            )
        )
    # View the axis as (2, size // 2) and pick each half by a one-hot sum (no slicing op needed).
    shape = tuple(x.shape)
    split = (*shape[:axis], 2, size // 2, *shape[axis + 1 :])
    halves = reshape(x, split)
    mask_shape = (2,) + (1,) * (len(shape) - axis)
    first = cast(equal(arange(2), 0), x.dtype)
    first = reshape(first, mask_shape)
    a = rp.reduce_sum_p.bind(multiply(halves, first), axes=(axis,), keepdims=False)
    b = rp.reduce_sum_p.bind(multiply(halves, subtract(1.0, first)), axes=(axis,), keepdims=False)
    return multiply(a, sigmoid(b))


def tanh_shrink(x: Any) -> Tensor:
    """``x - tanh(x)``."""
    x = to_float(x)
    return subtract(x, tanh(x))


def soft_shrink(x: Any, threshold: float = 0.5) -> Tensor:
    """Shrink towards 0 by ``threshold``; values within ``threshold`` of 0 become 0."""
    x = to_float(x)
    return where(
        greater(x, threshold),
        subtract(x, threshold),
        where(less(x, -threshold), add(x, threshold), 0.0),
    )


# -- softmax -------------------------------------------------------------------------------


def _softmax_axes(x: Tensor, axis: Any, op: str) -> tuple:
    return tuple(sorted(normalize_axes(axis, x.ndim, op)))


def _shifted(x: Tensor, axes: tuple) -> Tensor:
    """``x - max(x)`` over ``axes``; the max is a constant to autodiff (softmax and
    log-softmax don't depend on it), which keeps their gradients simple and exact."""
    if x.size == 0:
        return x
    peak = rp.reduce_max_p.bind(x, axes=axes, keepdims=True)
    return subtract(x, stop_gradient(peak))


def softmax(x: Any, axis: Any = -1) -> Tensor:
    """``exp(x) / sum(exp(x))`` over ``axis``, computed stably.

    >>> from nerve import ops
    >>> ops.softmax(ops.convert_to_tensor([0.0, 1000.0])).numpy()
    array([0., 1.], dtype=float32)
    """
    x = to_float(x)
    axes = _softmax_axes(x, axis, "softmax")
    e = exp(_shifted(x, axes))
    return divide(e, rp.reduce_sum_p.bind(e, axes=axes, keepdims=True))


def log_softmax(x: Any, axis: Any = -1) -> Tensor:
    """``x - logsumexp(x)`` over ``axis``, computed stably (no log of an underflowed 0)."""
    x = to_float(x)
    axes = _softmax_axes(x, axis, "log_softmax")
    shifted = _shifted(x, axes)
    total = rp.reduce_sum_p.bind(exp(shifted), axes=axes, keepdims=True)
    return subtract(shifted, log(total))


# -- losses ----------------------------------------------------------------------------------


def _check_same_shape(op: str, target: Tensor, output: Tensor) -> None:
    if tuple(target.shape) != tuple(output.shape):
        raise ShapeError(
            with_location(
                f"{op}: target and output must have the same shape; got target "
                f"{tuple(target.shape)} and output {tuple(output.shape)}."
            )
        )


def categorical_crossentropy(
    target: Any, output: Any, from_logits: bool = False, axis: int = -1
) -> Tensor:
    """Cross-entropy between one-hot (or soft) ``target`` and ``output`` over ``axis``.

    ``output`` holds probabilities (renormalised to sum to 1, then clipped to
    ``[epsilon, 1 - epsilon]`` as Keras does), or logits with ``from_logits=True``,
    where the loss is computed from a stable log-softmax.

    >>> from nerve import ops
    >>> t = ops.convert_to_tensor([[0.0, 1.0]])
    >>> ops.categorical_crossentropy(t, ops.convert_to_tensor([[1e3, 0.0]]), from_logits=True)
    Tensor([1000.], dtype=float32)
    """
    target, output = promote(target, output, extra=(float,))
    _check_same_shape("categorical_crossentropy", target, output)
    axis = normalize_axis(axis, output.ndim, "categorical_crossentropy")
    if from_logits:
        log_prob = log_softmax(output, axis=axis)
    else:
        output = divide(output, rp.reduce_sum_p.bind(output, axes=(axis,), keepdims=True))
        eps = config.epsilon()
        log_prob = log(_clip(output, eps, 1.0 - eps))
    return negative(rp.reduce_sum_p.bind(multiply(target, log_prob), axes=(axis,), keepdims=False))


def sparse_categorical_crossentropy(
    target: Any, output: Any, from_logits: bool = False, axis: int = -1
) -> Tensor:
    """Cross-entropy with integer class labels ``target`` (``output`` without ``axis``).

    >>> from nerve import ops
    >>> out = ops.convert_to_tensor([[0.2, 0.8]])
    >>> ops.sparse_categorical_crossentropy(ops.convert_to_tensor([1]), out).numpy().round(4)
    array([0.2231], dtype=float32)
    """
    target = tensor(target)
    output = to_float(output)
    axis = normalize_axis(axis, output.ndim, "sparse_categorical_crossentropy")
    expected = tuple(d for i, d in enumerate(output.shape) if i != axis)
    if tuple(target.shape) != expected:
        raise ShapeError(
            with_location(
                f"sparse_categorical_crossentropy: target of shape {tuple(target.shape)} "
                f"must have the shape of output {tuple(output.shape)} without axis {axis}, "
                f"i.e. {expected}."
            )
        )
    classes = output.shape[axis]
    # A one-hot mask by comparison with arange keeps this free of gather ops.
    target = reshape(target, (*expected[:axis], 1, *expected[axis:]))
    index_shape = (classes,) + (1,) * (output.ndim - axis - 1)
    one_hot = cast(
        equal(target, reshape(arange(classes, dtype=target.dtype), index_shape)), output.dtype
    )
    return categorical_crossentropy(one_hot, output, from_logits=from_logits, axis=axis)


def binary_crossentropy(target: Any, output: Any, from_logits: bool = False) -> Tensor:
    """Elementwise binary cross-entropy of ``target`` against probabilities ``output``
    (clipped to ``[epsilon, 1 - epsilon]``), or against logits with ``from_logits=True``
    (computed as ``max(x, 0) - x * t + log1p(exp(-|x|))``, stable for any ``x``)."""
    target, output = promote(target, output, extra=(float,))
    _check_same_shape("binary_crossentropy", target, output)
    if from_logits:
        return add(
            subtract(maximum(output, 0.0), multiply(output, target)),
            log1p(exp(negative(abs(output)))),
        )
    eps = config.epsilon()
    output = _clip(output, eps, 1.0 - eps)
    return negative(
        add(
            multiply(target, log(output)),
            multiply(subtract(1.0, target), log(subtract(1.0, output))),
        )
    )


# -- normalization ----------------------------------------------------------------------------


def moments(x: Any, axes: Any, keepdims: bool = False, synchronized: bool = False) -> tuple:
    """Mean and (biased) variance of ``x`` over ``axes``.

    ``synchronized`` (cross-device statistics) is accepted for Keras compatibility;
    on one device it changes nothing.

    >>> from nerve import ops
    >>> mean, var = ops.moments(ops.convert_to_tensor([1.0, 2.0, 3.0, 4.0]), axes=0)
    >>> float(mean), float(var)
    (2.5, 1.25)
    """
    x = to_float(x)
    axes = tuple(sorted(normalize_axes(axes, x.ndim, "moments")))
    count = math.prod(x.shape[a] for a in axes)
    mean = divide(rp.reduce_sum_p.bind(x, axes=axes, keepdims=True), float(count))
    centred = subtract(x, mean)
    variance = divide(
        rp.reduce_sum_p.bind(multiply(centred, centred), axes=axes, keepdims=keepdims),
        float(count),
    )
    if not keepdims:
        mean = reshape(mean, tuple(d for i, d in enumerate(x.shape) if i not in axes))
    return mean, variance


def batch_normalization(
    x: Any,
    mean: Any,
    variance: Any,
    axis: int,
    offset: Any = None,
    scale: Any = None,
    epsilon: float = 1e-3,
) -> Tensor:
    """``(x - mean) / sqrt(variance + epsilon) * scale + offset``, where ``mean``,
    ``variance``, ``offset`` and ``scale`` are vectors along ``axis`` of ``x``.

    Training-mode batch norm is ``moments`` followed by this op.

    >>> from nerve import ops
    >>> x = ops.convert_to_tensor([[1.0, 2.0], [3.0, 6.0]])
    >>> ops.batch_normalization(x, [2.0, 4.0], [1.0, 4.0], axis=1, epsilon=0.0).numpy()
    array([[-1., -1.],
           [ 1.,  1.]], dtype=float32)
    """
    x = to_float(x)
    axis = normalize_axis(axis, x.ndim, "batch_normalization")
    shape = tuple(x.shape[axis] if i == axis else 1 for i in range(x.ndim))

    def along_axis(name: str, v: Any) -> Tensor:
        v = cast(to_float(v), x.dtype)
        if v.ndim > 1 or (v.ndim == 1 and v.shape[0] != x.shape[axis]):
            raise ShapeError(
                with_location(
                    f"batch_normalization: {name} of shape {tuple(v.shape)} must be a vector "
                    f"of length {x.shape[axis]} (axis {axis} of x, shape {tuple(x.shape)})."
                )
            )
        return v if v.ndim == 0 else reshape(v, shape)

    inverse = rsqrt(add(along_axis("variance", variance), epsilon))
    if scale is not None:
        inverse = multiply(inverse, along_axis("scale", scale))
    out = multiply(subtract(x, along_axis("mean", mean)), inverse)
    return out if offset is None else add(out, along_axis("offset", offset))


def layer_normalization(
    x: Any, gamma: Any = None, beta: Any = None, axis: Any = -1, epsilon: float = 1e-3
) -> Tensor:
    """Normalise ``x`` over ``axis`` (an int or a tuple) to zero mean and unit variance,
    then scale by ``gamma`` and shift by ``beta`` (broadcast against the normalised axes).

    Not in ``keras.ops`` (Keras has it as the ``LayerNormalization`` layer); nerve
    provides it as an op for layers and users alike.

    >>> from nerve import ops
    >>> ops.layer_normalization(ops.convert_to_tensor([[1.0, 3.0]]), epsilon=0.0).numpy()
    array([[-1.,  1.]], dtype=float32)
    """
    x = to_float(x)
    axes = tuple(sorted(normalize_axes(axis, x.ndim, "layer_normalization")))
    mean, variance = moments(x, axes, keepdims=True)
    out = multiply(subtract(x, mean), rsqrt(add(variance, epsilon)))
    shape = tuple(x.shape[i] if i in axes else 1 for i in range(x.ndim))
    if gamma is not None:
        out = multiply(out, _param_like(gamma, out, shape))
    if beta is not None:
        out = add(out, _param_like(beta, out, shape))
    return out


def rms_normalization(
    x: Any, scale: Any = None, axis: Any = -1, epsilon: float | None = None
) -> Tensor:
    """Root-mean-square normalisation over ``axis``:
    ``x * rsqrt(mean(square(x), axis) + epsilon) * scale`` (``epsilon`` defaults to
    ``nerve.config.epsilon()``; ``scale`` broadcasts against the normalised axes).

    >>> from nerve import ops
    >>> ops.rms_normalization(ops.convert_to_tensor([[3.0, 4.0]]), epsilon=0.0).numpy()
    array([[0.84852815, 1.1313709 ]], dtype=float32)
    """
    x = to_float(x)
    epsilon = config.epsilon() if epsilon is None else epsilon
    axes = tuple(sorted(normalize_axes(axis, x.ndim, "rms_normalization")))
    mean_square = divide(
        rp.reduce_sum_p.bind(multiply(x, x), axes=axes, keepdims=True),
        float(math.prod(x.shape[a] for a in axes)),
    )
    out = multiply(x, rsqrt(add(mean_square, epsilon)))
    if scale is None:
        return out
    shape = tuple(x.shape[i] if i in axes else 1 for i in range(x.ndim))
    return multiply(out, _param_like(scale, out, shape))


def normalize(x: Any, axis: Any = -1, order: Any = 2, epsilon: float | None = None) -> Tensor:
    """``x`` divided by its ``order``-norm over ``axis`` (an int, ``inf`` or ``-inf``
    order), the norm floored at ``epsilon`` (``nerve.config.epsilon()`` by default) so
    that zero vectors stay finite.

    >>> from nerve import ops
    >>> ops.normalize(ops.convert_to_tensor([[3.0, 4.0]])).numpy()
    array([[0.6, 0.8]], dtype=float32)
    """
    x = to_float(x)
    epsilon = config.epsilon() if epsilon is None else epsilon
    axes = tuple(sorted(normalize_axes(axis, x.ndim, "normalize")))
    if order == 2:
        # Flooring the squared norm at epsilon**2 (rather than the norm at epsilon) keeps
        # rsqrt and its gradient finite for zero vectors.
        squares = rp.reduce_sum_p.bind(multiply(x, x), axes=axes, keepdims=True)
        return multiply(x, rsqrt(maximum(squares, epsilon * epsilon)))
    magnitude = abs(x)
    if order == math.inf:
        norm = maximum(rp.reduce_max_p.bind(magnitude, axes=axes, keepdims=True), epsilon)
    elif order == -math.inf:
        norm = maximum(rp.reduce_min_p.bind(magnitude, axes=axes, keepdims=True), epsilon)
    elif isinstance(order, (int, float)) and order > 0:
        from nerve.ops.elementwise import power

        order = float(order)
        total = rp.reduce_sum_p.bind(power(magnitude, order), axes=axes, keepdims=True)
        # Floored before the root, for the same reason as above.
        norm = power(maximum(total, epsilon**order), 1.0 / order)
    else:
        raise ValueError(
            with_location(f"normalize: order must be a positive number or +-inf, got {order!r}.")
        )
    return divide(x, norm)


def multi_hot(
    inputs: Any,
    num_classes: int | None = None,
    axis: int = -1,
    dtype: str | None = None,
    sparse: bool = False,
) -> Tensor:
    """Multi-hot encode integer labels: 1 for each class present. A 1-D ``inputs`` is one
    set of labels; for higher ranks each row along axis 1 is one set (as in Keras). The
    class axis is placed at ``axis`` of the result (Keras instead reduces axis 1 of the
    one-hot tensor, which agrees for the default ``axis=-1``). Not differentiable.

    >>> from nerve import ops
    >>> ops.multi_hot(ops.convert_to_tensor([0, 4]), num_classes=5).numpy()
    array([1., 0., 0., 0., 1.], dtype=float32)
    >>> ops.multi_hot([[1, 1], [0, 2]], 3).numpy()
    array([[0., 1., 0.],
           [1., 0., 1.]], dtype=float32)
    """
    from nerve.ops.indexing import one_hot
    from nerve.ops.shape import moveaxis

    if sparse:
        raise NotImplementedError("multi_hot: sparse tensors are not supported.")
    if num_classes is None:
        raise ValueError(with_location("multi_hot: num_classes is required."))
    inputs = tensor(inputs)
    labels_axis = 1 if inputs.ndim > 1 else 0
    encoded = one_hot(inputs, num_classes, axis=-1, dtype="bool")
    hot = rp.reduce_any_p.bind(encoded, axes=(labels_axis,), keepdims=False)
    hot = moveaxis(hot, -1, normalize_axis(axis, hot.ndim, "multi_hot"))
    return cast(hot, dtype or config.floatx())


def _param_like(v: Any, x: Tensor, shape: tuple) -> Tensor:
    """A per-feature parameter reshaped to broadcast along the normalised axes."""
    v = cast(to_float(v), x.dtype)
    if v.ndim <= 1 and v.size == math.prod(shape):
        return reshape(v, shape)
    return v


# -- convolution -------------------------------------------------------------------------


_PADDINGS = ("valid", "same")


def _data_format(data_format: str | None, op: str) -> str:
    data_format = "channels_last" if data_format is None else data_format
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(
            with_location(
                f"{op}: data_format must be 'channels_last' or 'channels_first', "
                f"got {data_format!r}."
            )
        )
    return data_format


def _padding_name(padding: Any, op: str) -> str:
    name = padding.lower() if isinstance(padding, str) else padding
    if name not in _PADDINGS:
        raise ValueError(
            with_location(f"{op}: padding must be 'valid' or 'same', got {padding!r}.")
        )
    return name


def _tuple(value: Any, rank: int, what: str, op: str) -> tuple:
    """An int or a sequence of ``rank`` positive ints, as a tuple."""
    values = (value,) * rank if isinstance(value, int) else tuple(value)
    if len(values) != rank or not all(isinstance(v, int) and v >= 1 for v in values):
        raise ValueError(
            with_location(
                f"{op}: {what} must be a positive int or {rank} positive ints for "
                f"{rank} spatial axes, got {value!r}."
            )
        )
    return values


def _spatial_input(op: str, x: Any, data_format: str | None) -> tuple[Tensor, str, int]:
    """The input as a channels-last float tensor, its data format and its spatial rank."""
    x = to_float(x)
    data_format = _data_format(data_format, op)
    rank = x.ndim - 2
    if rank not in (1, 2, 3):
        raise ShapeError(
            with_location(
                f"{op}: inputs must have rank 3, 4 or 5 (batch, spatial axes, channels) for a "
                f"1-, 2- or 3-D op; got shape {tuple(x.shape)}."
            )
        )
    if data_format == "channels_first":
        x = transpose(x, (0, *range(2, rank + 2), 1))
    return x, data_format, rank


def _output_layout(y: Tensor, data_format: str) -> Tensor:
    if data_format == "channels_first":
        return transpose(y, (0, y.ndim - 1, *range(1, y.ndim - 1)))
    return y


def _same_padding(size: int, window: int, stride: int, dilation: int) -> tuple:
    """TensorFlow's "same": ceil(size / stride) outputs, the odd extra pad at the end."""
    span = (window - 1) * dilation + 1
    out = -(-size // stride)
    total = max((out - 1) * stride + span - size, 0)
    return (total // 2, total - total // 2)


def _padding_pairs(padding: str, spatial: tuple, window, strides, dilation) -> tuple:
    if padding == "valid":
        return ((0, 0),) * len(spatial)
    return tuple(_same_padding(*a) for a in zip(spatial, window, strides, dilation))


def _check_fits(op: str, x: Tensor, window, dilation, pads, data_format: str) -> None:
    for size, k, d, (lo, hi) in zip(x.shape[1:-1], window, dilation, pads):
        if size + lo + hi < (k - 1) * d + 1:
            raise ShapeError(
                with_location(
                    f"{op}: window {tuple(window)} (dilation {tuple(dilation)}) is larger than "
                    f"the spatial shape {tuple(x.shape[1:-1])} of the input "
                    f"(data_format={data_format!r}); use smaller windows or padding='same'."
                )
            )


def _conv_channels_last(
    x: Tensor, kernel: Tensor, strides, padding: str, dilation, op: str, data_format: str
) -> Tensor:
    """Grouped N-D convolution of a channels-last ``x`` with a Keras-layout kernel."""
    rank = x.ndim - 2
    window = tuple(kernel.shape[:rank])
    channels = x.shape[-1]
    group_channels, filters = kernel.shape[-2:] if kernel.ndim == x.ndim else (0, 0)
    groups = channels // group_channels if group_channels else 0
    if groups == 0 or channels % group_channels or filters % groups:
        raise ShapeError(
            with_location(
                f"{op}: inputs of shape {tuple(x.shape)} (channels-last view; "
                f"data_format={data_format!r}) have {channels} channels, which the kernel of "
                f"shape {tuple(kernel.shape)} cannot take. The kernel must have rank "
                f"{x.ndim}, layout (*window, in_channels / groups, out_channels), with "
                f"in_channels / groups dividing {channels} and groups dividing out_channels."
            )
        )
    pads = _padding_pairs(padding, tuple(x.shape[1:-1]), window, strides, dilation)
    _check_fits(op, x, window, dilation, pads, data_format)
    patches = nnp.extract_patches(x, window, strides, dilation, pads)
    batch, out = x.shape[0], tuple(patches.shape[1 : 1 + rank])
    rows, taps = batch * math.prod(out), math.prod(window)
    if groups == 1:
        y = lp.matmul_p.bind(
            reshape(patches, (rows, taps * channels)), reshape(kernel, (taps * channels, filters))
        )
    else:
        # One batched matmul over groups: (G, rows, taps*Cg) @ (G, taps*Cg, filters/G).
        per_group = filters // groups
        p = transpose(reshape(patches, (rows, taps, groups, group_channels)), (2, 0, 1, 3))
        p = reshape(p, (groups, rows, taps * group_channels))
        k = transpose(reshape(kernel, (taps, group_channels, groups, per_group)), (2, 0, 1, 3))
        k = reshape(k, (groups, taps * group_channels, per_group))
        y = transpose(lp.matmul_p.bind(p, k), (1, 0, 2))
    return reshape(y, (batch, *out, filters))


def conv(
    inputs: Any,
    kernel: Any,
    strides: Any = 1,
    padding: str = "valid",
    data_format: str | None = None,
    dilation_rate: Any = 1,
) -> Tensor:
    """1-, 2- or 3-D convolution (cross-correlation, as in every framework).

    ``kernel`` has shape ``(*window, in_channels / groups, out_channels)``; a
    grouped convolution is inferred when the input has a multiple of the
    kernel's input channels, as in Keras.

    >>> from nerve import ops
    >>> x = ops.reshape(ops.arange(5.0), (1, 5, 1))
    >>> ops.conv(x, ops.ones((2, 1, 1))).numpy().ravel()
    array([1., 3., 5., 7.], dtype=float32)
    """
    x, data_format, rank = _spatial_input("conv", inputs, data_format)
    x, kernel = promote(x, to_float(kernel))
    strides = _tuple(strides, rank, "strides", "conv")
    dilation = _tuple(dilation_rate, rank, "dilation_rate", "conv")
    padding = _padding_name(padding, "conv")
    y = _conv_channels_last(x, kernel, strides, padding, dilation, "conv", data_format)
    return _output_layout(y, data_format)


def depthwise_conv(
    inputs: Any,
    kernel: Any,
    strides: Any = 1,
    padding: str = "valid",
    data_format: str | None = None,
    dilation_rate: Any = 1,
) -> Tensor:
    """Depthwise convolution: each input channel convolved with its own
    ``channel_multiplier`` filters; ``kernel`` is ``(*window, in_channels, multiplier)``
    and output channel ``c * multiplier + m`` comes from input channel ``c``."""
    x, data_format, rank = _spatial_input("depthwise_conv", inputs, data_format)
    x, kernel = promote(x, to_float(kernel))
    if kernel.ndim != x.ndim or kernel.shape[-2] != x.shape[-1]:
        raise ShapeError(
            with_location(
                f"depthwise_conv: inputs of shape {tuple(x.shape)} (channels-last view; "
                f"data_format={data_format!r}) need a kernel of shape (*window, "
                f"{x.shape[-1]}, multiplier) of rank {x.ndim}; got {tuple(kernel.shape)}."
            )
        )
    strides = _tuple(strides, rank, "strides", "depthwise_conv")
    dilation = _tuple(dilation_rate, rank, "dilation_rate", "depthwise_conv")
    padding = _padding_name(padding, "depthwise_conv")
    # A grouped convolution with one group per input channel.
    window = tuple(kernel.shape[:rank])
    grouped = reshape(kernel, (*window, 1, kernel.shape[-2] * kernel.shape[-1]))
    y = _conv_channels_last(x, grouped, strides, padding, dilation, "depthwise_conv", data_format)
    return _output_layout(y, data_format)


def separable_conv(
    inputs: Any,
    depthwise_kernel: Any,
    pointwise_kernel: Any,
    strides: Any = 1,
    padding: str = "valid",
    data_format: str | None = None,
    dilation_rate: Any = 1,
) -> Tensor:
    """A depthwise convolution followed by a 1x1 (pointwise) convolution."""
    depthwise = depthwise_conv(
        inputs, depthwise_kernel, strides, padding, data_format, dilation_rate
    )
    return conv(depthwise, pointwise_kernel, 1, "valid", data_format, 1)


def _transpose_output_size(size: int, window: int, stride: int, padding: str, extra, dilation):
    """Keras's output length of a transposed convolution."""
    span = (window - 1) * dilation + 1
    if padding == "valid":
        extra = max(span, stride) - span if extra is None else extra
        return (size - 1) * stride + span + extra
    return size * stride if extra is None else (size - 1) * stride + span % 2 + extra


def conv_transpose(
    inputs: Any,
    kernel: Any,
    strides: Any = 1,
    padding: str = "valid",
    output_padding: Any = None,
    data_format: str | None = None,
    dilation_rate: Any = 1,
) -> Tensor:
    """Transposed convolution (the gradient of ``conv`` with respect to its input).

    ``kernel`` has shape ``(*window, out_channels, in_channels)`` as in Keras;
    output sizes follow Keras (``output_padding`` adds to the end of each axis).

    >>> from nerve import ops
    >>> ops.conv_transpose(ops.ones((1, 4, 4, 3)), ops.ones((3, 3, 8, 3)), 2, "same").shape
    (1, 8, 8, 8)
    """
    op = "conv_transpose"
    x, data_format, rank = _spatial_input(op, inputs, data_format)
    x, kernel = promote(x, to_float(kernel))
    if kernel.ndim != x.ndim or kernel.shape[-1] != x.shape[-1]:
        raise ShapeError(
            with_location(
                f"{op}: inputs of shape {tuple(x.shape)} (channels-last view; "
                f"data_format={data_format!r}) need a kernel of rank {x.ndim} and layout "
                f"(*window, out_channels, {x.shape[-1]}); got kernel shape "
                f"{tuple(kernel.shape)}."
            )
        )
    strides = _tuple(strides, rank, "strides", op)
    dilation = _tuple(dilation_rate, rank, "dilation_rate", op)
    padding = _padding_name(padding, op)
    extra = (None,) * rank if output_padding is None else _tuple_nonneg(output_padding, rank, op)
    window, filters = tuple(kernel.shape[:rank]), kernel.shape[-2]
    sizes = tuple(x.shape[1:-1])
    out = tuple(
        map(_transpose_output_size, sizes, window, strides, (padding,) * rank, extra, dilation)
    )
    pads = []
    for n, size, k, s, d in zip(sizes, out, window, strides, dilation):
        span = (k - 1) * d + 1
        total = max((n - 1) * s + span - size, 0) if padding == "same" else 0
        if size + total < (n - 1) * s + span:
            raise ShapeError(
                with_location(f"{op}: output_padding {output_padding!r} is too small.")
            )
        pads.append((total // 2, total - total // 2))
    batch, taps = x.shape[0], math.prod(window)
    # Each input pixel spreads kernel-weighted copies over a window; overlaps add up.
    spread = lp.matmul_p.bind(
        reshape(x, (batch * math.prod(sizes), x.shape[-1])),
        transpose(reshape(kernel, (taps * filters, x.shape[-1])), (1, 0)),
    )
    patches = reshape(spread, (batch, *sizes, *window, filters))
    y = nnp.patches_transpose(patches, out, window, strides, dilation, tuple(pads))
    return _output_layout(y, data_format)


def _tuple_nonneg(value: Any, rank: int, op: str) -> tuple:
    values = (value,) * rank if isinstance(value, int) else tuple(value)
    if len(values) != rank or not all(isinstance(v, int) and v >= 0 for v in values):
        raise ValueError(
            with_location(
                f"{op}: output_padding must be a non-negative int or {rank} of them, got {value!r}."
            )
        )
    return values


# -- pooling --------------------------------------------------------------------------------


def _pool_patches(op: str, inputs, pool_size, strides, padding, data_format, pad_value):
    x, data_format, rank = _spatial_input(op, inputs, data_format)
    if not isinstance(pool_size, int) and len(tuple(pool_size)) != rank:
        raise ValueError(
            with_location(
                f"{op}: pool_size {tuple(pool_size)} has {len(tuple(pool_size))} entries but "
                f"inputs of shape {tuple(x.shape)} (data_format={data_format!r}) have "
                f"{rank} spatial axes."
            )
        )
    window = _tuple(pool_size, rank, "pool_size", op)
    strides = window if strides is None else _tuple(strides, rank, "strides", op)
    padding = _padding_name(padding, op)
    dilation = (1,) * rank
    pads = _padding_pairs(padding, tuple(x.shape[1:-1]), window, strides, dilation)
    _check_fits(op, x, window, dilation, pads, data_format)
    geometry = (window, strides, dilation, pads)
    patches = nnp.extract_patches(x, *geometry, pad_value=pad_value)
    window_axes = tuple(range(rank + 1, 2 * rank + 1))
    return x, patches, window_axes, geometry, data_format


def max_pool(
    inputs: Any,
    pool_size: Any,
    strides: Any = None,
    padding: str = "valid",
    data_format: str | None = None,
) -> Tensor:
    """Maximum over sliding windows (``strides`` defaults to ``pool_size``); "same"
    padding never wins the max."""
    _, patches, axes, _, data_format = _pool_patches(
        "max_pool", inputs, pool_size, strides, padding, data_format, float("-inf")
    )
    return _output_layout(rp.reduce_max_p.bind(patches, axes=axes, keepdims=False), data_format)


def average_pool(
    inputs: Any,
    pool_size: Any,
    strides: Any = None,
    padding: str = "valid",
    data_format: str | None = None,
) -> Tensor:
    """Mean over sliding windows; with "same" padding the padded positions are left
    out of each average (as in TensorFlow and Keras).

    >>> from nerve import ops
    >>> x = ops.reshape(ops.arange(3.0), (1, 3, 1))
    >>> ops.average_pool(x, 2, padding="same").numpy().ravel()
    array([0.5, 2. ], dtype=float32)
    """
    x, patches, axes, geometry, data_format = _pool_patches(
        "average_pool", inputs, pool_size, strides, padding, data_format, 0.0
    )
    total = rp.reduce_sum_p.bind(patches, axes=axes, keepdims=False)
    if any(lo or hi for lo, hi in geometry[3]):
        # How many real (unpadded) positions each window covers.
        mask = ones((1, *x.shape[1:-1], 1), dtype=x.dtype)
        count = rp.reduce_sum_p.bind(
            nnp.extract_patches(mask, *geometry), axes=axes, keepdims=False
        )
    else:
        count = float(math.prod(geometry[0]))
    return _output_layout(divide(total, count), data_format)
