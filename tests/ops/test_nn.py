"""Neural-network ops: one row per op (and per convolution geometry); the harness
checks forward against NumPy, gradients against finite differences and PyTorch.

References here are written independently of nerve's patch primitives: NumPy
loops over output positions, and PyTorch's own convolution and pooling kernels
(with TensorFlow's asymmetric "same" padding applied by ``F.pad``).
"""

import itertools
import math
import time
import warnings

import numpy as np
import pytest

import nerve
from nerve import ops
from nerve.core.errors import ShapeError, TracingError
from nerve.primitives import attention as attention_primitives
from nerve.primitives import nn as nnp
from nerve.testing.op_harness import Input, OpCase, T, op_tests

# -- references -----------------------------------------------------------------------


def same_pads(sizes, window, strides, dilation):
    """TensorFlow's "same" padding: ceil(size / stride) outputs, odd extra at the end."""
    pads = []
    for n, k, s, d in zip(sizes, window, strides, dilation):
        span = (k - 1) * d + 1
        total = max((math.ceil(n / s) - 1) * s + span - n, 0)
        pads.append((total // 2, total - total // 2))
    return pads


def _tuple(v, rank):
    return (v,) * rank if isinstance(v, int) else tuple(v)


def _pads(padding, sizes, window, strides, dilation):
    if padding == "valid":
        return [(0, 0)] * len(sizes)
    return same_pads(sizes, window, strides, dilation)


def _windows(xpad, out, window, strides, dilation):
    """Yield (output index, window of xpad) pairs, channels-last."""
    for o in itertools.product(*(range(m) for m in out)):
        index = tuple(
            slice(i * s, i * s + (k - 1) * d + 1, d)
            for i, k, s, d in zip(o, window, strides, dilation)
        )
        yield o, xpad[(slice(None), *index)]


def _out_sizes(padded, window, strides, dilation):
    return [(n - (k - 1) * d - 1) // s + 1 for n, k, s, d in zip(padded, window, strides, dilation)]


def np_conv(x, k, strides=1, padding="valid", dilation=1, channels_first=False):
    rank = x.ndim - 2
    if channels_first:
        x = np.moveaxis(x, 1, -1)
    strides, dilation = _tuple(strides, rank), _tuple(dilation, rank)
    window = k.shape[:rank]
    pads = _pads(padding, x.shape[1:-1], window, strides, dilation)
    xpad = np.pad(x, [(0, 0), *pads, (0, 0)])
    out = _out_sizes(xpad.shape[1:-1], window, strides, dilation)
    cg, filters = k.shape[-2:]
    groups = x.shape[-1] // cg
    kg = k.reshape(-1, cg, groups, filters // groups)
    y = np.zeros((x.shape[0], *out, filters))
    for o, patch in _windows(xpad, out, window, strides, dilation):
        patch = patch.reshape(x.shape[0], math.prod(window), groups, cg)
        y[(slice(None), *o)] = np.einsum("nwgc,wcgo->ngo", patch, kg).reshape(x.shape[0], filters)
    return np.moveaxis(y, -1, 1) if channels_first else y


def torch_conv(x, k, strides=1, padding="valid", dilation=1, channels_first=False):
    F = T.nn.functional
    rank = x.dim() - 2
    if not channels_first:
        x = x.movedim(-1, 1)
    strides, dilation = _tuple(strides, rank), _tuple(dilation, rank)
    window = tuple(k.shape[:rank])
    pads = _pads(padding, tuple(x.shape[2:]), window, strides, dilation)
    x = F.pad(x, [p for pair in reversed(pads) for p in pair])
    weight = k.permute(rank + 1, rank, *range(rank))
    groups = x.shape[1] // k.shape[-2]
    conv = getattr(F, f"conv{rank}d")
    y = conv(x, weight, stride=strides, dilation=dilation, groups=groups)
    return y if channels_first else y.movedim(1, -1)


def np_depthwise(x, k, strides=1, padding="valid", dilation=1):
    return np_conv(x, k.reshape(*k.shape[:-2], 1, -1), strides, padding, dilation)


def torch_depthwise(x, k, strides=1, padding="valid", dilation=1):
    return torch_conv(x, k.reshape(*k.shape[:-2], 1, -1), strides, padding, dilation)


def transpose_geometry(sizes, window, strides, padding, output_padding, dilation):
    """Output sizes (Keras's rule) and the (before, after) crop of each axis."""
    out, pads = [], []
    for i, (n, k, s, d) in enumerate(zip(sizes, window, strides, dilation)):
        span = (k - 1) * d + 1
        extra = None if output_padding is None else _tuple(output_padding, len(sizes))[i]
        if padding == "valid":
            size = (n - 1) * s + span + (max(span, s) - span if extra is None else extra)
            total = 0
        else:
            size = n * s if extra is None else (n - 1) * s + span % 2 + extra
            total = max((n - 1) * s + span - size, 0)
        out.append(size)
        pads.append((total // 2, total - total // 2))
    return out, pads


def np_conv_transpose(x, k, strides=1, padding="valid", output_padding=None, dilation=1):
    rank = x.ndim - 2
    strides, dilation = _tuple(strides, rank), _tuple(dilation, rank)
    window = k.shape[:rank]
    out, pads = transpose_geometry(
        x.shape[1:-1], window, strides, padding, output_padding, dilation
    )
    full = np.zeros((x.shape[0], *(o + lo + hi for o, (lo, hi) in zip(out, pads)), k.shape[-2]))
    for i in itertools.product(*(range(n) for n in x.shape[1:-1])):
        for w in itertools.product(*(range(m) for m in window)):
            at = tuple(a * s + b * d for a, b, s, d in zip(i, w, strides, dilation))
            full[(slice(None), *at)] += x[(slice(None), *i)] @ k[w].T
    crop = tuple(slice(lo, lo + o) for o, (lo, _) in zip(out, pads))
    return full[(slice(None), *crop)]


def torch_conv_transpose(x, k, strides=1, padding="valid", output_padding=None, dilation=1):
    F = T.nn.functional
    rank = x.dim() - 2
    strides, dilation = _tuple(strides, rank), _tuple(dilation, rank)
    window = tuple(k.shape[:rank])
    out, pads = transpose_geometry(
        tuple(x.shape[1:-1]), window, strides, padding, output_padding, dilation
    )
    # torch crops the same amount from both ends: crop `lo`, then trim the end ourselves.
    lows = [lo for lo, _ in pads]
    full = [
        (n - 1) * s + (kk - 1) * d + 1
        for n, kk, s, d in zip(x.shape[1:-1], window, strides, dilation)
    ]
    extra = [o + lo + hi - f for o, (lo, hi), f in zip(out, pads, full)]
    weight = k.permute(rank + 1, rank, *range(rank))
    conv = getattr(F, f"conv_transpose{rank}d")
    y = conv(
        x.movedim(-1, 1),
        weight,
        stride=strides,
        padding=lows,
        output_padding=extra,
        dilation=dilation,
    )
    for axis, size in enumerate(out):
        y = y.narrow(axis + 2, 0, size)
    return y.movedim(1, -1)


def np_pool(x, pool, strides=None, padding="valid", kind="max", channels_first=False):
    rank = x.ndim - 2
    if channels_first:
        x = np.moveaxis(x, 1, -1)
    window = _tuple(pool, rank)
    strides = window if strides is None else _tuple(strides, rank)
    pads = _pads(padding, x.shape[1:-1], window, strides, (1,) * rank)
    fill = -np.inf if kind == "max" else np.nan
    xpad = np.pad(x, [(0, 0), *pads, (0, 0)], constant_values=fill)
    out = _out_sizes(xpad.shape[1:-1], window, strides, (1,) * rank)
    y = np.zeros((x.shape[0], *out, x.shape[-1]))
    axes = tuple(range(1, rank + 1))
    for o, patch in _windows(xpad, out, window, strides, (1,) * rank):
        y[(slice(None), *o)] = (
            np.max(patch, axis=axes) if kind == "max" else np.nanmean(patch, axis=axes)
        )
    return np.moveaxis(y, -1, 1) if channels_first else y


def torch_pool(x, pool, strides=None, padding="valid", kind="max", channels_first=False):
    F = T.nn.functional
    rank = x.dim() - 2
    if not channels_first:
        x = x.movedim(-1, 1)
    window = _tuple(pool, rank)
    strides = window if strides is None else _tuple(strides, rank)
    pads = _pads(padding, tuple(x.shape[2:]), window, strides, (1,) * rank)
    flat = [p for pair in reversed(pads) for p in pair]
    if kind == "max":
        y = getattr(F, f"max_pool{rank}d")(F.pad(x, flat, value=-math.inf), window, strides)
    else:
        pool_fn = getattr(F, f"avg_pool{rank}d")
        total = pool_fn(F.pad(x, flat), window, strides)
        count = pool_fn(F.pad(T.ones_like(x), flat), window, strides)
        y = total / count
    return y if channels_first else y.movedim(1, -1)


def np_softmax(x, axis=-1):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def np_log_softmax(x, axis=-1):
    shifted = x - np.max(x, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


EPS = 1e-7


def np_cce(t, o, from_logits=False, axis=-1):
    if from_logits:
        return -np.sum(t * np_log_softmax(o, axis), axis=axis)
    o = o / np.sum(o, axis=axis, keepdims=True)
    return -np.sum(t * np.log(np.clip(o, EPS, 1 - EPS)), axis=axis)


def torch_cce(t, o, from_logits=False, axis=-1):
    if from_logits:
        return -(t * T.log_softmax(o, dim=axis)).sum(dim=axis)
    o = o / o.sum(dim=axis, keepdim=True)
    return -(t * T.log(T.clamp(o, EPS, 1 - EPS))).sum(dim=axis)


def np_one_hot(labels, classes, axis=-1):
    return np.moveaxis(np.eye(classes)[labels], -1, axis)


def torch_sparse(t, o, from_logits=False):
    if from_logits:
        return T.nn.functional.cross_entropy(o.movedim(-1, 1), t.long(), reduction="none")
    probs = T.clamp(o / o.sum(dim=-1, keepdim=True), EPS, 1 - EPS)
    return -T.log(probs).gather(-1, t.long().unsqueeze(-1)).squeeze(-1)


def np_bce(t, o, from_logits=False):
    if from_logits:
        return np.maximum(o, 0) - o * t + np.log1p(np.exp(-np.abs(o)))
    o = np.clip(o, EPS, 1 - EPS)
    return -(t * np.log(o) + (1 - t) * np.log(1 - o))


def np_erf(x):
    return np.vectorize(math.erf, otypes=[np.float64])(x) if np.size(x) else np.zeros_like(x)


def np_gelu(x, approximate=True):
    if approximate:
        return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))
    return 0.5 * x * (1 + np_erf(x / np.sqrt(2)))


def np_elu(x, alpha=1.0):
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


SELU = (1.6732632423543772848170429916717, 1.0507009873554804934193349852946)


def np_batch_norm_train(x, gamma, beta, eps=1e-3):
    mean, var = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def _quietly(op, *args, **kwargs):
    """``op(*args, **kwargs)`` with its UserWarnings silenced (a deprecated argument's
    warning is tested on its own)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return op(*args, **kwargs)


def np_layer_norm(x, gamma=None, beta=None, axis=-1, eps=1e-3):
    mean, var = x.mean(axis=axis, keepdims=True), x.var(axis=axis, keepdims=True)
    out = (x - mean) / np.sqrt(var + eps)
    return out * (1 if gamma is None else gamma) + (0 if beta is None else beta)


# -- the table ----------------------------------------------------------------------------

UNARY = [(Input((3, 4)),), (Input((0, 3)),), (Input((1,)),), (Input(()),), (Input((2, 1, 3)),)]


def activation(name, fn, numpy, torch, low=-2.0, high=2.0, grad2=False, **kw):
    variants = [tuple(Input(s.shape, "float", low, high) for s in v) for v in UNARY]
    return OpCase(name, fn, variants, numpy=numpy, torch=torch, grad2=grad2, **kw)


def conv_case(name, x_shape, k_shape, grad2=False, **kw):
    channels_first = kw.get("data_format") == "channels_first"
    strides, padding = kw.get("strides", 1), kw.get("padding", "valid")
    dilation = kw.get("dilation_rate", 1)
    return OpCase(
        name,
        lambda x, k: ops.conv(x, k, **kw),
        [(Input(x_shape), Input(k_shape))],
        numpy=lambda x, k: np_conv(x, k, strides, padding, dilation, channels_first),
        torch=lambda x, k: torch_conv(x, k, strides, padding, dilation, channels_first),
        grad2=grad2,
        rtol=1e-4,
        atol=1e-5,
    )


def pool_case(name, kind, x_shape, pool, grad2=False, **kw):
    channels_first = kw.get("data_format") == "channels_first"
    strides, padding = kw.get("strides"), kw.get("padding", "valid")
    fn = ops.max_pool if kind == "max" else ops.average_pool
    return OpCase(
        name,
        lambda x: fn(x, pool, **kw),
        [(Input(x_shape),)],
        numpy=lambda x: np_pool(x, pool, strides, padding, kind, channels_first),
        torch=lambda x: torch_pool(x, pool, strides, padding, kind, channels_first),
        grad2=grad2,
    )


def np_window_scatter(g, argmax, spatial, window, strides, padding):
    """Adds ``g[n, o, c]`` at the position ``argmax[n, o, c]`` (row-major) of window
    ``o``, one element at a time; positions in the padding are dropped."""
    padded = [s + lo + hi for s, (lo, hi) in zip(spatial, padding)]
    out = np.zeros((g.shape[0], *padded, g.shape[-1]), dtype=g.dtype)
    for index in np.ndindex(*g.shape):
        n, o, c = index[0], index[1:-1], index[-1]
        offset = np.unravel_index(argmax[index], window)
        at = tuple(i * s + k for i, s, k in zip(o, strides, offset))
        out[(n, *at, c)] += g[index]
    crop = tuple(slice(lo, lo + s) for s, (lo, _) in zip(spatial, padding))
    return out[(slice(None), *crop, slice(None))]


SCATTER_GEOMETRY = ((5, 6), (3, 2), (1, 2), ((1, 1), (0, 1)))  # overlapping, padded


def transpose_case(name, x_shape, k_shape, **kw):
    args = (
        kw.get("strides", 1),
        kw.get("padding", "valid"),
        kw.get("output_padding"),
        kw.get("dilation_rate", 1),
    )
    return OpCase(
        name,
        lambda x, k: ops.conv_transpose(x, k, **kw),
        [(Input(x_shape), Input(k_shape))],
        numpy=lambda x, k: np_conv_transpose(x, k, *args),
        torch=lambda x, k: torch_conv_transpose(x, k, *args),
        rtol=1e-4,
        atol=1e-5,
    )


# product_patches_transpose: (batch * 4 * 5, 3) @ (3, 2 * 2 * 32) added back as 2x2
# patches over a padded 3x4 image (32 channels: the C loop runs in float32).
PRODUCT_GEOMETRY = dict(
    spatial_shape=(3, 4), window=(2, 2), strides=(1, 1), dilation=(1, 1),
    padding=((1, 1), (1, 1)),
)  # fmt: skip


def np_product_patches_transpose(a, b):
    batch, channels = a.shape[0] // 20, b.shape[1] // 4
    patches = (a @ b).reshape(batch, 4, 5, 2, 2, channels)
    image = np.zeros((batch, 5, 6, channels), dtype=patches.dtype)
    for i, j in itertools.product(range(2), range(2)):
        image[:, i : i + 4, j : j + 5] += patches[:, :, :, i, j]
    return image[:, 1:4, 1:5]


def torch_product_patches_transpose(a, b):
    batch, channels = a.shape[0] // 20, b.shape[1] // 4
    patches = (a @ b).reshape(batch, 20, 2, 2, channels).permute(0, 4, 2, 3, 1)
    image = T.nn.functional.fold(
        patches.reshape(batch, channels * 4, 20), (3, 4), (2, 2), padding=(1, 1)
    )
    return image.permute(0, 2, 3, 1)


# patches_product and transposed_patches_product: rows of 3x3 windows of a (2, 4, 5, 16)
# image with "same" padding, times a (144, 24) kernel, and their transpose times a
# (40, 24) cotangent (at these sizes the NumPy kernel runs the direct products; its
# Winograd products are checked in tests/backend/test_native_winograd.py).
PATCHES_GEOMETRY = dict(window=(3, 3), strides=(1, 1), dilation=(1, 1), padding=((1, 1),) * 2)


def np_patch_rows(x):
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    batch, height, width, channels = x.shape
    windows = [padded[:, i : i + height, j : j + width] for i in range(3) for j in range(3)]
    return np.stack(windows, axis=3).reshape(batch * height * width, 9 * channels)


def torch_patch_rows(x):
    batch, height, width, channels = x.shape
    columns = T.nn.functional.unfold(x.permute(0, 3, 1, 2), 3, padding=1)  # (N, C * 9, L)
    rows = columns.reshape(batch, channels, 9, height * width).permute(0, 3, 2, 1)
    return rows.reshape(batch * height * width, 9 * channels)


def tf(name):
    return lambda *a, **kw: getattr(T.nn.functional, name)(*a, **kw)


def _layer_norm_statistics(x, epsilon):
    """layer_norm_rows's (c, v, inv) on NumPy arrays or tensors."""
    c = x - x.mean(-1, keepdims=True)
    v = (c * c).mean(-1, keepdims=True) + epsilon
    return c, v, 1 / v**0.5


def _attention_steps(q, k, v, scale):
    """attention_rows's steps (primitives/attention.py) on NumPy arrays or tensors."""
    if isinstance(q, np.ndarray):
        s = np.einsum("bthd,bshd->bhts", q, k) * scale
        e = np.exp(s - s.max(-1, keepdims=True))
        p = e / e.sum(-1, keepdims=True)
        return np.einsum("bhts,bshe->bthe", p, v), p
    p = T.softmax(T.einsum("bthd,bshd->bhts", q, k) * scale, -1)
    return T.einsum("bhts,bshe->bthe", p, v), p


def _attention_grad_steps(g, q, k, v, p, scale):
    """attention_rows_grad's steps on NumPy arrays or tensors."""
    einsum = np.einsum if isinstance(g, np.ndarray) else T.einsum
    dp = einsum("bthe,bshe->bhts", g, v)
    ds = p * (dp - (dp * p).sum(-1)[..., None]) * scale
    dq, dk = einsum("bhts,bshd->bthd", ds, k), einsum("bhts,bthd->bshd", ds, q)
    return dq, dk, einsum("bthe,bhts->bshe", g, p)


def _layer_norm_grad_steps(a, c, inv, v, count):
    """layer_norm_grad_rows's steps (primitives/nn.py) on NumPy arrays or tensors."""
    t = a * inv
    d = (a * c).sum(-1, keepdims=True) * ((-0.5 * inv) / v) / count
    e = d * c + d * c
    return (t + e) + ((-t).sum(-1, keepdims=True) + (-e).sum(-1, keepdims=True)) / count


CASES = [
    # convolution: 1-, 2-, 3-D; strides, dilation, "same" (odd and even padding), groups
    conv_case("conv1d_valid", (2, 7, 3), (3, 3, 4), grad2=True),
    conv_case("conv1d_same_strided", (2, 8, 3), (4, 3, 2), strides=3, padding="same"),
    conv_case("conv1d_dilated", (1, 9, 2), (3, 2, 2), dilation_rate=2, padding="same"),
    conv_case("conv2d_valid", (2, 5, 6, 3), (3, 2, 3, 4), grad2=True),
    conv_case("conv2d_same", (2, 5, 6, 3), (3, 3, 3, 4), padding="same", strides=(2, 1)),
    conv_case("conv2d_same_even_kernel", (1, 5, 5, 2), (2, 4, 2, 3), padding="SAME"),
    conv_case("conv2d_dilated", (1, 7, 7, 2), (3, 3, 2, 2), dilation_rate=(2, 3)),
    conv_case("conv2d_groups", (2, 5, 5, 4), (3, 3, 2, 6), padding="same", grad2=True),
    conv_case(
        "conv2d_channels_first",
        (2, 3, 5, 6),
        (3, 3, 3, 2),
        data_format="channels_first",
        padding="same",
        strides=2,
    ),
    conv_case("conv2d_batch1_1x1", (1, 1, 1, 3), (1, 1, 3, 2)),
    conv_case("conv2d_empty_batch", (0, 4, 4, 2), (3, 3, 2, 2)),
    conv_case("conv3d_same", (1, 4, 5, 3, 2), (2, 3, 2, 2, 3), padding="same", strides=(1, 2, 1)),
    conv_case("conv3d_groups_cf", (1, 4, 3, 3, 3), (2, 2, 2, 2, 4), data_format="channels_first"),
    OpCase(
        "depthwise_conv2d",
        lambda x, k: ops.depthwise_conv(x, k, strides=2, padding="same"),
        [(Input((2, 5, 5, 3)), Input((3, 3, 3, 2)))],
        numpy=lambda x, k: np_depthwise(x, k, 2, "same"),
        torch=lambda x, k: torch_depthwise(x, k, 2, "same"),
        rtol=1e-4,
        atol=1e-5,
    ),
    OpCase(
        "depthwise_conv1d_dilated",
        lambda x, k: ops.depthwise_conv(x, k, dilation_rate=2),
        [(Input((2, 8, 2)), Input((3, 2, 1)))],
        numpy=lambda x, k: np_depthwise(x, k, 1, "valid", 2),
        torch=lambda x, k: torch_depthwise(x, k, 1, "valid", 2),
        rtol=1e-4,
        atol=1e-5,
    ),
    OpCase(
        "separable_conv2d",
        lambda x, d, p: ops.separable_conv(x, d, p, padding="same"),
        [(Input((2, 4, 4, 2)), Input((3, 3, 2, 2)), Input((1, 1, 4, 3)))],
        numpy=lambda x, d, p: np_conv(np_depthwise(x, d, 1, "same"), p),
        torch=lambda x, d, p: torch_conv(torch_depthwise(x, d, 1, "same"), p),
        rtol=1e-4,
        atol=1e-5,
    ),
    transpose_case("conv_transpose1d_valid", (2, 4, 3), (3, 2, 3), strides=2),
    transpose_case("conv_transpose1d_same", (2, 4, 3), (4, 2, 3), strides=3, padding="same"),
    transpose_case("conv_transpose2d_same", (2, 3, 4, 3), (3, 3, 2, 3), strides=2, padding="same"),
    transpose_case(
        "conv_transpose2d_output_padding",
        (1, 3, 3, 2),
        (3, 3, 2, 2),
        strides=2,
        padding="same",
        output_padding=1,
    ),
    transpose_case("conv_transpose2d_dilated", (1, 3, 3, 2), (2, 2, 3, 2), dilation_rate=2),
    # 32 output channels at stride 1: compiled in float32, the C loop of
    # product_patches_transpose (nerve.graph.passes.patches) runs.
    transpose_case("conv_transpose2d_wide", (2, 4, 5, 3), (3, 2, 32, 3), padding="same"),
    OpCase(
        "product_patches_transpose",
        lambda a, b: nnp.product_patches_transpose_p.bind(a, b, **PRODUCT_GEOMETRY),
        [(Input((40, 3)), Input((3, 128)))],
        numpy=np_product_patches_transpose,
        torch=torch_product_patches_transpose,
        rtol=1e-4,
        atol=1e-5,
        # A primitive no op binds (graphs get it from lowering): no model node for it.
        symbolic=False,
    ),
    OpCase(
        "patches_product",
        lambda x, b: nnp.patches_product_p.bind(x, b, **PATCHES_GEOMETRY),
        [(Input((2, 4, 5, 16)), Input((144, 24)))],
        numpy=lambda x, b: np_patch_rows(x) @ b,
        torch=lambda x, b: torch_patch_rows(x) @ b,
        rtol=1e-4,
        atol=1e-5,
        # A primitive no op binds (graphs get it from lowering): no model node for it.
        symbolic=False,
    ),
    OpCase(
        "transposed_patches_product",
        lambda x, g: nnp.transposed_patches_product_p.bind(x, g, **PATCHES_GEOMETRY),
        [(Input((2, 4, 5, 16)), Input((40, 24)))],
        numpy=lambda x, g: np_patch_rows(x).T @ g,
        torch=lambda x, g: torch_patch_rows(x).T @ g,
        rtol=1e-4,
        atol=1e-5,
        symbolic=False,
    ),
    transpose_case("conv_transpose3d", (1, 2, 3, 2, 2), (2, 2, 2, 2, 2), strides=(2, 1, 2)),
    OpCase(
        "conv_transpose_channels_first",
        lambda x, k: ops.conv_transpose(x, k, 2, "same", data_format="channels_first"),
        [(Input((2, 3, 4, 3)), Input((3, 3, 2, 3)))],
        numpy=lambda x, k: np.moveaxis(
            np_conv_transpose(np.moveaxis(x, 1, -1), k, 2, "same"), -1, 1
        ),
        torch=lambda x, k: torch_conv_transpose(x.movedim(1, -1), k, 2, "same").movedim(-1, 1),
        rtol=1e-4,
        atol=1e-5,
    ),
    # pooling
    pool_case("max_pool1d", "max", (2, 7, 3), 2),
    pool_case(
        "max_pool2d_same", "max", (2, 5, 6, 3), (3, 2), strides=(2, 2), padding="same", grad2=True
    ),
    pool_case("max_pool2d_overlap", "max", (1, 6, 6, 2), 3, strides=1),
    pool_case("max_pool2d_channels_first", "max", (2, 3, 4, 4), 2, data_format="channels_first"),
    pool_case("max_pool2d_odd_sizes_cropped", "max", (2, 7, 5, 3), 2),
    pool_case("max_pool3d", "max", (1, 4, 4, 4, 2), 2, padding="same", strides=(1, 2, 3)),
    pool_case("average_pool1d_same", "avg", (2, 7, 3), 3, strides=2, padding="same"),
    pool_case("average_pool2d", "avg", (2, 6, 6, 2), 2, grad2=True),
    pool_case("average_pool2d_same", "avg", (1, 5, 5, 2), 3, strides=2, padding="same"),
    pool_case(
        "average_pool2d_channels_first",
        "avg",
        (1, 2, 5, 4),
        2,
        padding="same",
        data_format="channels_first",
    ),
    pool_case("average_pool3d", "avg", (1, 4, 4, 3, 2), (2, 2, 3)),
    # max pooling's gradient primitive on its own, with random window positions
    OpCase(
        "window_scatter",
        lambda g, argmax: nnp.window_scatter_p.bind(
            g,
            argmax,
            spatial_shape=SCATTER_GEOMETRY[0],
            window=SCATTER_GEOMETRY[1],
            strides=SCATTER_GEOMETRY[2],
            padding=SCATTER_GEOMETRY[3],
        ),
        [(Input((2, 5, 3, 2)), Input((2, 5, 3, 2), "index", high=6, dtype="int32"))],
        numpy=lambda g, argmax: np_window_scatter(g, argmax, *SCATTER_GEOMETRY),
        grad2=True,
        symbolic=False,  # a primitive bound directly: symbolic tensors go through nerve.ops
    ),
    # a product with its bias and ReLU (lowering makes it: passes/epilogues.py); 5000
    # rows of 9 columns take the C loop, 7 rows BLAS and the NumPy steps
    OpCase(
        "product_bias_relu",
        nnp.product_bias_relu_p.bind,
        [
            (Input((5000, 9)), Input((9, 4)), Input((4,))),
            (Input((7, 3)), Input((3, 5)), Input((5,))),
        ],
        numpy=lambda a, b, bias: np.maximum(a @ b + bias, 0),
        torch=lambda a, b, bias: T.relu(a @ b + bias),
        rtol=1e-5,
        atol=1e-5,
        symbolic=False,  # a primitive bound directly: symbolic tensors go through nerve.ops
    ),
    # sibling products with their biases as one (lowering makes it: passes/siblings.py);
    # 1024 x 1024 results take the blocked C loop, 7 rows BLAS; not differentiated
    OpCase(
        "product_bias",
        nnp.product_bias_p.bind,
        [
            (Input((1024, 9)), Input((9, 1024)), Input((1024,))),
            (Input((7, 3)), Input((3, 5)), Input((5,))),
        ],
        numpy=lambda a, b, bias: a @ b + bias,
        torch=lambda a, b, bias: a @ b + bias,
        rtol=1e-5,
        atol=1e-5,
        grad=False,
        symbolic=False,  # a primitive bound directly: symbolic tensors go through nerve.ops
    ),
    # a product times a ReLU's mask (lowering makes it: passes/epilogues.py); 1024 x 1024
    # results take the blocked C loop, 7 rows BLAS and the NumPy steps; not differentiated
    OpCase(
        "masked_product",
        nnp.masked_product_p.bind,
        [
            (Input((1024, 9)), Input((9, 1024)), Input((1024, 1024))),
            (Input((7, 3)), Input((3, 5)), Input((7, 5))),
        ],
        numpy=lambda a, b, y: (a @ b) * (y > 0),
        torch=lambda a, b, y: (a @ b) * (y > 0),
        rtol=1e-5,
        atol=1e-5,
        grad=False,
        symbolic=False,  # a primitive bound directly: symbolic tensors go through nerve.ops
    ),
    # window_scatter times a ReLU's mask (lowering makes it: passes/pool_masks.py)
    OpCase(
        "masked_window_scatter",
        lambda g, argmax, y: nnp.masked_window_scatter_p.bind(
            g,
            argmax,
            y,
            spatial_shape=SCATTER_GEOMETRY[0],
            window=SCATTER_GEOMETRY[1],
            strides=SCATTER_GEOMETRY[2],
            padding=SCATTER_GEOMETRY[3],
        ),
        [
            (
                Input((2, 5, 3, 2)),
                Input((2, 5, 3, 2), "index", high=6, dtype="int32"),
                Input((2, 5, 6, 2), differentiable=False),
            )
        ],
        numpy=lambda g, argmax, y: np_window_scatter(g, argmax, *SCATTER_GEOMETRY) * (y > 0),
        grad2=True,
        symbolic=False,  # a primitive bound directly: symbolic tensors go through nerve.ops
    ),
    # softmax family
    OpCase(
        "softmax",
        ops.softmax,
        # An axis of size 1 warns (as in Keras): see the test below.
        [(Input((3, 5)),), (Input((2, 1, 4)),), (Input((0, 3)),), (Input((5,)),)],
        numpy=np_softmax,
        torch=lambda x: T.softmax(x, dim=-1),
        grad2=True,
    ),
    OpCase(
        "softmax_axis0",
        lambda x: ops.softmax(x, axis=0),
        [(Input((4, 3)),)],
        numpy=lambda x: np_softmax(x, 0),
        torch=lambda x: T.softmax(x, dim=0),
    ),
    OpCase(
        "softmax_two_axes",
        lambda x: ops.softmax(x, axis=(-2, -1)),
        [(Input((2, 3, 4)),)],
        numpy=lambda x: np_softmax(x, (1, 2)),
        torch=lambda x: T.softmax(x.reshape(2, 12), dim=-1).reshape(2, 3, 4),
    ),
    OpCase(
        "log_softmax",
        lambda x: ops.log_softmax(x, axis=-2),
        [(Input((3, 5)),), (Input((2, 4, 1)),), (Input((1, 3)),)],
        numpy=lambda x: np_log_softmax(x, -2),
        torch=lambda x: T.log_softmax(x, dim=-2),
        grad2=True,
    ),
    # softmax_rows: the lowering pass's one-node softmax (graph.passes.softmax); 130
    # columns take the C loop's pairwise sum past one block of 128.
    *(
        OpCase(
            f"{name}_rows{'_bias' if bias else ''}",
            lambda *xs, log=log: nnp.softmax_rows_p.bind(*xs, log=log),
            [(Input((3, 5)), *((Input((5,)),) if bias else ())), (Input((2, 2, 130)),)][
                : 1 if bias else 2
            ],
            numpy=lambda x, *b, reference=reference: reference(x + b[0] if b else x),
            torch=lambda x, *b, log=log: (T.log_softmax if log else T.softmax)(
                x + b[0] if b else x, dim=-1
            ),
            grad2=True,
            # A primitive no op binds (graphs get it from lowering): no model node for it.
            symbolic=False,
        )
        for name, log, reference in (
            ("softmax", False, np_softmax),
            ("log_softmax", True, np_log_softmax),
        )
        for bias in (False, True)
    ),
    # The same with attention's constant scale before it (joined by the same pass).
    OpCase(
        "softmax_rows_scaled",
        lambda x: nnp.softmax_rows_p.bind(x, log=False, scale=0.375),
        [(Input((3, 5)),), (Input((2, 2, 130)),)],
        numpy=lambda x: np_softmax(x * 0.375),
        torch=lambda x: T.softmax(x * 0.375, dim=-1),
        grad2=True,
        symbolic=False,  # as softmax_rows
    ),
    # softmax_rows_grad: the lowering pass's one-node softmax gradient, y * (g - sum(g *
    # y)) times a scale; not differentiated (lowering runs after autodiff).
    *(
        OpCase(
            f"softmax_rows_grad{'_scaled' if scale else ''}",
            lambda g, y, scale=scale: nnp.softmax_rows_grad_p.bind(g, y, scale=scale),
            [(Input((3, 5)), Input((3, 5))), (Input((2, 2, 130)), Input((2, 2, 130)))],
            numpy=lambda g, y, scale=scale: (
                (y * (g - (g * y).sum(-1, keepdims=True))) * (1.0 if scale is None else scale)
            ),
            torch=lambda g, y, scale=scale: (
                (y * (g - (g * y).sum(-1, keepdim=True))) * (1.0 if scale is None else scale)
            ),
            grad=False,
            symbolic=False,  # as softmax_rows
        )
        for scale in (None, 0.375)
    ),
    # attention_rows / attention_rows_grad: the lowering pass's attention nodes
    # (graph.passes.attention): q (B, T, H, D), k (B, S, H, D), v (B, S, H, E); not
    # differentiated. The C loops run float32; float64 takes the NumPy steps.
    OpCase(
        "attention_rows",
        lambda q, k, v: attention_primitives.attention_rows_p.bind(q, k, v, scale=0.375),
        [(Input((2, 5, 3, 4)), Input((2, 7, 3, 4)), Input((2, 7, 3, 6)))],
        numpy=lambda q, k, v: _attention_steps(q, k, v, 0.375),
        torch=lambda q, k, v: _attention_steps(q, k, v, 0.375),
        grad=False,
        symbolic=False,  # as softmax_rows
    ),
    OpCase(
        "attention_rows_grad",
        lambda g, q, k, v, p: attention_primitives.attention_rows_grad_p.bind(
            g, q, k, v, p, scale=0.375
        ),
        [
            (
                Input((2, 5, 3, 6)),
                Input((2, 5, 3, 4)),
                Input((2, 7, 3, 4)),
                Input((2, 7, 3, 6)),
                Input((2, 3, 5, 7), "positive"),
            )
        ],
        numpy=lambda g, q, k, v, p: _attention_grad_steps(g, q, k, v, p, 0.375),
        torch=lambda g, q, k, v, p: _attention_grad_steps(g, q, k, v, p, 0.375),
        grad=False,
        symbolic=False,  # as softmax_rows
    ),
    # layer_norm_rows: the lowering pass's one-node layer-norm statistics (c, v, inv).
    OpCase(
        "layer_norm_rows",
        lambda x: nnp.layer_norm_rows_p.bind(x, count=4.0, epsilon=1e-3),
        [(Input((3, 4)),), (Input((2, 3, 4)),)],
        numpy=lambda x: _layer_norm_statistics(x, 1e-3),
        torch=lambda x: _layer_norm_statistics(x, 1e-3),
        grad=False,
        symbolic=False,  # as softmax_rows
    ),
    # layer_norm_grad_rows: the lowering pass's one-node layer-norm input gradient
    # (graph.passes.layer_norm), the steps autodiff gives; not differentiated.
    OpCase(
        "layer_norm_grad_rows",
        lambda a, c, inv, v: nnp.layer_norm_grad_rows_p.bind(a, c, inv, v, count=4.0),
        [
            (Input((3, 4)), Input((3, 4)), Input((3, 1), "positive"), Input((3, 1), "positive")),
            (
                Input((2, 3, 130)),
                Input((2, 3, 130)),
                Input((2, 3, 1), "positive"),
                Input((2, 3, 1), "positive"),
            ),
        ],
        numpy=lambda a, c, inv, v: _layer_norm_grad_steps(a, c, inv, v, 4.0),
        torch=lambda a, c, inv, v: _layer_norm_grad_steps(a, c, inv, v, 4.0),
        atol=2e-5,  # (terms of ~20 cancel to ~0.01 in float32)
        grad=False,
        symbolic=False,  # as softmax_rows
    ),
    # losses
    OpCase(
        "categorical_crossentropy_logits",
        lambda t, o: ops.categorical_crossentropy(t, o, from_logits=True),
        [
            (Input((4, 5), "positive"), Input((4, 5), low=-5, high=5)),
            (Input((0, 3)), Input((0, 3))),
        ],
        numpy=lambda t, o: np_cce(t, o, True),
        torch=lambda t, o: torch_cce(t, o, True),
        grad2=True,
    ),
    OpCase(
        "categorical_crossentropy_probs_axis0",
        lambda t, o: ops.categorical_crossentropy(t, o, axis=0),
        [(Input((5, 3), "positive"), Input((5, 3), "positive"))],
        numpy=lambda t, o: np_cce(t, o, False, 0),
        torch=lambda t, o: torch_cce(t, o, False, 0),
    ),
    OpCase(
        "sparse_categorical_crossentropy_logits",
        lambda t, o: ops.sparse_categorical_crossentropy(t, o, from_logits=True),
        [
            (Input((6,), "index", high=4), Input((6, 4), low=-5, high=5)),
            (Input((2, 3), "index", high=5), Input((2, 3, 5))),
        ],
        numpy=lambda t, o: np_cce(np_one_hot(t, o.shape[-1]), o, True),
        torch=lambda t, o: torch_sparse(t, o, True),
        grad2=True,
    ),
    OpCase(
        "sparse_categorical_crossentropy_probs",
        ops.sparse_categorical_crossentropy,
        [(Input((6,), "index", high=3), Input((6, 3), "positive"))],
        numpy=lambda t, o: np_cce(np_one_hot(t, 3), o),
        torch=torch_sparse,
    ),
    OpCase(
        "sparse_categorical_crossentropy_axis0",
        lambda t, o: ops.sparse_categorical_crossentropy(t, o, from_logits=True, axis=0),
        [(Input((4,), "index", high=3), Input((3, 4)))],
        numpy=lambda t, o: np_cce(np_one_hot(t, 3, 0), o, True, 0),
        torch=lambda t, o: torch_sparse(t, o.T, True),
    ),
    # the cross-entropy ops.sparse_categorical_crossentropy binds for logits over the
    # last axis, and its gradient (whose own gradient the harness checks too)
    OpCase(
        "sparse_softmax_cross_entropy",
        nnp.sparse_softmax_cross_entropy_p.bind,
        [
            (Input((6, 4), low=-5, high=5), Input((6,), "index", high=4)),
            (Input((2, 3, 5)), Input((2, 3), "index", high=5, dtype="int64")),
            (Input((0, 3)), Input((0,), "index", high=3)),
        ],
        numpy=lambda x, t: np_cce(np_one_hot(t, x.shape[-1]), x, True),
        torch=lambda x, t: torch_sparse(t, x, True),
        grad2=True,
        symbolic=False,  # a primitive bound directly: symbolic tensors go through nerve.ops
    ),
    OpCase(
        "sparse_softmax_cross_entropy_grad",
        nnp.sparse_softmax_cross_entropy_grad_p.bind,
        [
            (Input((6, 4), low=-5, high=5), Input((6,), "index", high=4), Input((6,))),
            (Input((2, 3, 130)), Input((2, 3), "index", high=130), Input((2, 3))),
        ],
        numpy=lambda x, t, g: (np_softmax(x) - np_one_hot(t, x.shape[-1])) * g[..., None],
        torch=lambda x, t, g: (
            (T.softmax(x, -1) - T.nn.functional.one_hot(t.long(), x.shape[-1]).to(x.dtype))
            * g[..., None]
        ),
        symbolic=False,  # as sparse_softmax_cross_entropy
    ),
    # the cross-entropy ops.categorical_crossentropy binds for logits over the last axis
    # (soft targets differentiated too), and its gradient for the logits
    OpCase(
        "softmax_cross_entropy",
        nnp.softmax_cross_entropy_p.bind,
        [
            (Input((4, 5), low=-5, high=5), Input((4, 5), "positive")),
            (Input((2, 3, 130)), Input((2, 3, 130), "positive")),
            (Input((0, 3)), Input((0, 3))),
        ],
        numpy=lambda x, t: np_cce(t, x, True),
        torch=lambda x, t: torch_cce(t, x, True),
        grad2=True,
        symbolic=False,  # a primitive bound directly: symbolic tensors go through nerve.ops
    ),
    OpCase(
        "softmax_cross_entropy_grad",
        nnp.softmax_cross_entropy_grad_p.bind,
        [(Input((4, 5), low=-5, high=5), Input((4, 5), "positive"), Input((4,)))],
        numpy=lambda x, t, g: (np_softmax(x) * t.sum(-1, keepdims=True) - t) * g[..., None],
        torch=lambda x, t, g: (T.softmax(x, -1) * t.sum(-1, keepdim=True) - t) * g[..., None],
        symbolic=False,  # as softmax_cross_entropy
    ),
    OpCase(
        "binary_crossentropy_logits",
        lambda t, o: ops.binary_crossentropy(t, o, from_logits=True),
        [
            (Input((3, 4), low=0, high=1), Input((3, 4), low=-5, high=5)),
            (Input((0,), low=0, high=1), Input((0,))),
        ],
        numpy=lambda t, o: np_bce(t, o, True),
        torch=lambda t, o: T.nn.functional.binary_cross_entropy_with_logits(o, t, reduction="none"),
        grad2=True,
    ),
    OpCase(
        "binary_crossentropy_probs",
        ops.binary_crossentropy,
        [(Input((3, 4), low=0, high=1), Input((3, 4), low=0.05, high=0.95))],
        numpy=np_bce,
        torch=lambda t, o: -(t * T.log(o) + (1 - t) * T.log(1 - o)),
    ),
    # normalization
    OpCase(
        "moments",
        lambda x: ops.moments(x, axes=(0, -1)),
        [(Input((3, 2, 4)),), (Input((1, 2, 1)),)],
        numpy=lambda x: (x.mean(axis=(0, 2)), x.var(axis=(0, 2))),
        torch=lambda x: (x.mean(dim=(0, 2)), x.var(dim=(0, 2), unbiased=False)),
        grad2=True,
    ),
    OpCase(
        "moments_keepdims",
        lambda x: ops.moments(x, axes=1, keepdims=True),
        [(Input((3, 5)),)],
        numpy=lambda x: (x.mean(axis=1, keepdims=True), x.var(axis=1, keepdims=True)),
        torch=lambda x: (x.mean(dim=1, keepdim=True), x.var(dim=1, keepdim=True, unbiased=False)),
    ),
    OpCase(
        "batch_normalization",
        lambda x, m, v, b, s: ops.batch_normalization(x, m, v, axis=1, offset=b, scale=s),
        [(Input((3, 4, 2)), Input((4,)), Input((4,), "positive"), Input((4,)), Input((4,)))],
        numpy=lambda x, m, v, b, s: (
            (x - m[:, None]) / np.sqrt(v[:, None] + 1e-3) * s[:, None] + b[:, None]
        ),
        torch=lambda x, m, v, b, s: (
            (x - m[:, None]) * T.rsqrt(v[:, None] + 1e-3) * s[:, None] + b[:, None]
        ),
    ),
    OpCase(
        "batch_normalization_inference_vs_torch",
        lambda x, m, v: ops.batch_normalization(x, m, v, axis=1),
        [
            (
                Input((3, 4, 2)),
                Input((4,), differentiable=False),
                Input((4,), "positive", differentiable=False),
            )
        ],
        numpy=lambda x, m, v: (x - m[:, None]) / np.sqrt(v[:, None] + 1e-3),
        torch=lambda x, m, v: T.nn.functional.batch_norm(x, m, v, eps=1e-3),
    ),
    OpCase(
        "batch_normalization_training",
        lambda x, g, b: ops.batch_normalization(
            x, *ops.moments(x, axes=(0, 1, 2)), axis=-1, offset=b, scale=g
        ),
        [(Input((2, 3, 3, 4)), Input((4,)), Input((4,)))],
        numpy=np_batch_norm_train,
        torch=lambda x, g, b: T.nn.functional.batch_norm(
            x.movedim(-1, 1), None, None, g, b, training=True, eps=1e-3
        ).movedim(1, -1),
        grad2=True,
    ),
    OpCase(
        "layer_normalization",
        lambda x, g, b: ops.layer_normalization(x, g, b, epsilon=1e-3),
        [(Input((3, 5)), Input((5,)), Input((5,))), (Input((2, 1, 4)), Input((4,)), Input((4,)))],
        numpy=np_layer_norm,
        torch=lambda x, g, b: T.nn.functional.layer_norm(x, x.shape[-1:], g, b, eps=1e-3),
        grad2=True,
    ),
    OpCase(
        "layer_normalization_two_axes",
        lambda x: ops.layer_normalization(x, axis=(1, 2), epsilon=1e-3),
        [(Input((2, 3, 4)),)],
        numpy=lambda x: np_layer_norm(x, axis=(1, 2)),
        torch=lambda x: T.nn.functional.layer_norm(x, x.shape[1:], eps=1e-3),
    ),
    OpCase(
        # Keras's default epsilon is nerve.config.epsilon() (1e-7).
        "layer_normalization_default_epsilon",
        lambda x, g: ops.layer_normalization(x, g),
        [(Input((3, 5)), Input((5,)))],
        numpy=lambda x, g: np_layer_norm(x, g, eps=1e-7),
        torch=lambda x, g: T.nn.functional.layer_norm(x, x.shape[-1:], g, eps=1e-7),
    ),
    OpCase(
        # Keras's deprecated rms_scaling: no centring, the variance (not the mean square)
        # in the root, beta ignored.
        "layer_normalization_rms_scaling",
        lambda x, g, b: _quietly(ops.layer_normalization, x, g, b, epsilon=1e-3, rms_scaling=True),
        [
            (Input((3, 5)), Input((5,)), Input((5,), differentiable=False)),
            (Input((2, 3, 4)), Input((4,)), Input((4,), differentiable=False)),
        ],
        numpy=lambda x, g, b: x / np.sqrt(x.var(axis=-1, keepdims=True) + 1e-3) * g,
        torch=lambda x, g, b: x * T.rsqrt(x.var(dim=-1, keepdim=True, unbiased=False) + 1e-3) * g,
        grad2=True,
        symbolic=False,  # the deprecated argument warns each time the model runs
    ),
    # activations
    activation("relu", ops.relu, lambda x: np.maximum(x, 0), tf("relu")),
    activation("relu6", ops.relu6, lambda x: np.clip(x, 0, 6), tf("relu6"), low=-3, high=9),
    activation("softsign", ops.softsign, lambda x: x / (1 + np.abs(x)), tf("softsign"), grad2=True),
    activation("silu", ops.silu, lambda x: x / (1 + np.exp(-x)), tf("silu"), grad2=True),
    activation("swish", ops.swish, lambda x: x / (1 + np.exp(-x)), tf("silu")),
    activation(
        "log_sigmoid",
        ops.log_sigmoid,
        lambda x: -np.log1p(np.exp(-x)),
        tf("logsigmoid"),
        grad2=True,
    ),
    activation(
        "leaky_relu",
        ops.leaky_relu,
        lambda x: np.where(x > 0, x, 0.2 * x),
        lambda x: T.nn.functional.leaky_relu(x, 0.2),
    ),
    activation(
        "leaky_relu_slope",
        lambda x: ops.leaky_relu(x, negative_slope=0.01),
        lambda x: np.where(x > 0, x, 0.01 * x),
        lambda x: T.nn.functional.leaky_relu(x, 0.01),
    ),
    activation(
        "hard_sigmoid",
        ops.hard_sigmoid,
        lambda x: np.clip(x / 6 + 0.5, 0, 1),
        lambda x: T.nn.functional.relu6(x + 3) / 6,
        low=-5,
        high=5,
    ),
    activation(
        "hard_silu",
        ops.hard_silu,
        lambda x: x * np.clip(x / 6 + 0.5, 0, 1),
        tf("hardswish"),
        low=-5,
        high=5,
    ),
    activation("hard_tanh", ops.hard_tanh, lambda x: np.clip(x, -1, 1), tf("hardtanh")),
    activation("elu", ops.elu, np_elu, tf("elu"), grad2=True),
    activation(
        "elu_alpha",
        lambda x: ops.elu(x, alpha=0.5),
        lambda x: np_elu(x, 0.5),
        lambda x: T.nn.functional.elu(x, 0.5),
    ),
    activation("selu", ops.selu, lambda x: SELU[1] * np_elu(x, SELU[0]), tf("selu")),
    activation(
        "celu",
        lambda x: ops.celu(x, alpha=0.5),  # torch rounds alpha to float32; 0.5 is exact
        lambda x: np.maximum(x, 0) + 0.5 * np.expm1(np.minimum(x, 0) / 0.5),
        lambda x: T.nn.functional.celu(x, 0.5),
        grad2=True,
    ),
    activation(
        "gelu_tanh",
        ops.gelu,
        np_gelu,
        lambda x: T.nn.functional.gelu(x, approximate="tanh"),
        grad2=True,
    ),
    activation(
        "gelu_exact",
        lambda x: ops.gelu(x, approximate=False),
        lambda x: np_gelu(x, False),
        lambda x: T.nn.functional.gelu(x),
        grad2=True,
    ),
    activation("tanh_shrink", ops.tanh_shrink, lambda x: x - np.tanh(x), tf("tanhshrink")),
    activation(
        "soft_shrink",
        ops.soft_shrink,
        lambda x: np.where(x > 0.5, x - 0.5, np.where(x < -0.5, x + 0.5, 0)),
        tf("softshrink"),
    ),
    OpCase(
        "glu",
        ops.glu,
        [(Input((3, 4)),), (Input((2, 0, 6)),)],
        numpy=lambda x: x[..., : x.shape[-1] // 2] / (1 + np.exp(-x[..., x.shape[-1] // 2 :])),
        torch=lambda x: T.nn.functional.glu(x, dim=-1),
        grad2=True,
    ),
    OpCase(
        "glu_axis0",
        lambda x: ops.glu(x, axis=0),
        [(Input((4, 3)),)],
        numpy=lambda x: x[:2] / (1 + np.exp(-x[2:])),
        torch=lambda x: T.nn.functional.glu(x, dim=0),
    ),
]


def np_normalize(x, axis=-1, order=2, eps=1e-7):
    norm = (
        np.linalg.norm(x, ord=order, axis=axis, keepdims=True)
        if np.ndim(axis) == 0
        else (np.sum(np.abs(x) ** order, axis=axis, keepdims=True) ** (1 / order))
    )
    return x / np.maximum(norm, eps)


def np_rms_norm(x, scale=None, axis=-1, eps=1e-7):
    out = x / np.sqrt(np.mean(x * x, axis=axis, keepdims=True) + eps)
    return out if scale is None else out * scale


def np_multi_hot(labels, classes):
    axis = 1 if labels.ndim > 1 else 0
    return np.max(labels[..., None] == np.arange(classes), axis=axis).astype(np.float32)


CASES += [
    *(
        OpCase(
            f"normalize_{tag}",
            lambda x, a=axis, o=order: ops.normalize(x, axis=a, order=o),
            [(Input((3, 4)),), (Input((2, 1, 3)),), (Input((0, 3)),)],
            numpy=lambda x, a=axis, o=order: np_normalize(x, a, o),
            torch=(lambda x, a=axis, o=order: T.nn.functional.normalize(x, o, a, 1e-7))
            if np.ndim(axis) == 0
            else None,
            grad2=tag == "l2",
        )
        for tag, axis, order in [
            ("l2", -1, 2),
            ("l1_axis0", 0, 1),
            ("l3", -1, 3),
            ("l2_tuple", (0, -1), 2),
        ]
    ),
    OpCase(
        "normalize_zero_vector",
        # A large epsilon: within it normalize is linear, and the finite-difference step
        # stays inside that region.
        lambda x: ops.normalize(x, epsilon=1e-2),
        [(Input((2, 3), low=0.0, high=0.0),)],
        numpy=lambda x: np_normalize(x, eps=1e-2),
        torch=lambda x: T.nn.functional.normalize(x, 2, -1, 1e-2),
    ),
    OpCase(
        "rms_normalization",
        ops.rms_normalization,
        [(Input((3, 4)),), (Input((2, 1, 3)),), (Input((1,)),)],
        numpy=np_rms_norm,
        torch=lambda x: T.nn.functional.rms_norm(x, x.shape[-1:], eps=1e-7),
        grad2=True,
    ),
    OpCase(
        "rms_normalization_scale",
        lambda x, s: ops.rms_normalization(x, s, epsilon=1e-3),
        [(Input((3, 4)), Input((4,))), (Input((2, 5)), Input((5,)))],
        numpy=lambda x, s: np_rms_norm(x, s, eps=1e-3),
        torch=lambda x, s: T.nn.functional.rms_norm(x, x.shape[-1:], s, eps=1e-3),
    ),
    OpCase(
        "rms_normalization_axes",
        lambda x: ops.rms_normalization(x, 2.0, axis=(0, 2)),
        [(Input((2, 3, 4)),)],
        numpy=lambda x: np_rms_norm(x, 2.0, axis=(0, 2)),
        torch=lambda x: 2.0 * x * T.rsqrt((x * x).mean((0, 2), keepdim=True) + 1e-7),
    ),
    OpCase(
        "multi_hot",
        lambda x: ops.multi_hot(x, 5),
        [
            (Input((3,), "index", high=5),),
            (Input((4, 3), "index", high=5),),
            (Input((1,), "index", high=5),),
        ],
        numpy=lambda x: np_multi_hot(x, 5),
        torch=lambda x: (
            T.nn.functional.one_hot(x.long(), 5).amax(dim=1 if x.ndim > 1 else 0).float()
        ),
        grad=False,
        dtypes=("float32",),
    ),
    OpCase(
        "multi_hot_axis0_int",
        lambda x: ops.multi_hot(x, 4, axis=0, dtype="int32"),
        [(Input((2, 3), "index", high=4),)],
        numpy=lambda x: np.moveaxis(np_multi_hot(x, 4), -1, 0).astype(np.int32),
        grad=False,
        dtypes=("float32",),
    ),
]

# Keras's piecewise and sparse activations.
CASES += [
    activation(
        "hard_shrink",
        ops.hard_shrink,
        lambda x: np.where(np.abs(x) > 0.5, x, 0.0),
        tf("hardshrink"),
    ),
    activation(
        "threshold",
        lambda x: ops.threshold(x, 0.3, -2.0),
        lambda x: np.where(x > 0.3, x, -2.0),
        lambda x: T.nn.functional.threshold(x, 0.3, -2.0),
    ),
    activation(
        "sparse_plus",
        ops.sparse_plus,
        lambda x: np.where(x <= -1, 0.0, np.where(x < 1, (x + 1) ** 2 / 4, x)),
        None,
    ),
    activation(
        "sparse_sigmoid",
        ops.sparse_sigmoid,
        lambda x: np.clip((x + 1) / 2, 0.0, 1.0),
        None,
    ),
    activation(
        "squareplus",
        lambda x: ops.squareplus(x, b=2),
        lambda x: (x + np.sqrt(x * x + 2)) / 2,
        None,
        grad2=True,
    ),
    *[
        OpCase(
            f"sparsemax_axis{axis}",
            lambda x, a=axis: ops.sparsemax(x, axis=a),
            [(Input((3, 5)),), (Input((2, 4, 3)),)],
            numpy=lambda x, a=axis: np_sparsemax(x, a),
        )
        for axis in (-1, 0)
    ],
]

# Adaptive pooling, CTC, unfold and fold.
CTC_TARGET = np.array([[1, 2, 2], [3, 1, 0], [2, 0, 0]])
CTC_TARGET_LENGTH = np.array([3, 2, 0])
CTC_OUTPUT_LENGTH = np.array([7, 5, 4])


def keras_op(name, **kwargs):
    """A reference from keras.ops (NumPy backend), for functions NumPy lacks."""

    def ref(*args):
        keras = pytest.importorskip("keras")
        result = getattr(keras.ops, name)(*args, **kwargs)
        return tuple(np.asarray(r) for r in result) if isinstance(result, tuple) else result

    return ref


def ctc_lengths(x):
    """Sequence lengths for a (batch, time, classes) input: the full length, then
    shorter ones (down to 1)."""
    batch, steps, _ = x.shape
    return np.maximum(steps - 2 * np.arange(batch), 1).astype("int32")


def keras_beam_search(x, **kwargs):
    """Keras's NumPy beam search, which takes log(0) for its empty beam slots."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return keras_op("ctc_decode", strategy="beam_search", **kwargs)(x, ctc_lengths(x))


def t_ctc_loss(output):
    log_probs = T.log_softmax(output, -1).permute(1, 0, 2)
    return T.nn.functional.ctc_loss(
        log_probs,
        T.tensor(CTC_TARGET),
        T.tensor(CTC_OUTPUT_LENGTH),
        T.tensor(CTC_TARGET_LENGTH),
        reduction="none",
        zero_infinity=False,
    )


def t_adaptive(name, rank, channels_first=False):
    fn = getattr(T.nn.functional, f"adaptive_{name}_pool{rank}d")

    def ref(x, *size):
        y = x if channels_first else x.movedim(-1, 1)
        out = fn(y, *size)
        return out if channels_first else out.movedim(1, -1)

    return ref


CASES += [
    *[
        OpCase(
            f"adaptive_{kind}_pool{rank}d_{tag}",
            lambda x, op=op, s=size, f=fmt: op(x, s, data_format=f),
            [(Input(shape),)],
            numpy=None,
            torch=lambda x, k=kind, r=rank, s=size, f=fmt: t_adaptive(k, r, f == "channels_first")(
                x, s
            ),
        )
        for kind, op in (("avg", ops.adaptive_average_pool), ("max", ops.adaptive_max_pool))
        for rank, tag, shape, size, fmt in (
            (1, "uneven", (2, 7, 3), 3, "channels_last"),
            (2, "mixed", (2, 5, 6, 2), (3, 4), "channels_last"),
            (2, "first", (1, 2, 5, 5), 2, "channels_first"),
            (3, "cube", (1, 4, 3, 5, 1), (2, 3, 2), "channels_last"),
        )
    ],
    OpCase(
        "ctc_loss",
        lambda output: ops.ctc_loss(CTC_TARGET, output, CTC_TARGET_LENGTH, CTC_OUTPUT_LENGTH),
        [(Input((3, 7, 4)),)],
        numpy=lambda output: keras_op("ctc_loss")(
            CTC_TARGET, output, CTC_TARGET_LENGTH, CTC_OUTPUT_LENGTH
        ),
        torch=t_ctc_loss,
        rtol=1e-5,
    ),
    OpCase(
        "ctc_decode_greedy",
        lambda x: ops.ctc_decode(x, CTC_OUTPUT_LENGTH),
        [(Input((3, 7, 4)),)],
        numpy=lambda x: keras_op("ctc_decode")(x, CTC_OUTPUT_LENGTH),
        grad=False,
        dtypes=("float32",),  # Keras's reference scores in float32
    ),
    OpCase(
        "ctc_decode_unmerged_blank2",
        lambda x: ops.ctc_decode(x, CTC_OUTPUT_LENGTH, merge_repeated=False, mask_index=2),
        [(Input((3, 7, 4)),)],
        numpy=lambda x: keras_op("ctc_decode", merge_repeated=False, mask_index=2)(
            x, CTC_OUTPUT_LENGTH
        ),
        grad=False,
        dtypes=("float32",),  # Keras's reference scores in float32
    ),
    # Beam search vs Keras's NumPy backend: uniform inputs have no exact ties (on ties
    # Keras's unstable NumPy sort picks platform-dependently).
    *[
        OpCase(
            f"ctc_decode_beam_{tag}",
            lambda x, kw=kw: ops.ctc_decode(x, ctc_lengths(x), strategy="beam_search", **kw),
            [(Input(shape),) for shape in shapes],
            numpy=lambda x, kw=kw: keras_beam_search(x, **kw),
            grad=False,
            dtypes=("float32",),  # Keras's reference scores in float32
            compiled=False,  # a host-side search on concrete values
            symbolic=False,  # likewise: it needs the values, so it makes no model node
        )
        for tag, shapes, kw in (
            ("default", [(3, 7, 4), (1, 1, 3)], {}),
            ("narrow_top3", [(2, 9, 5), (4, 6, 3)], {"beam_width": 3, "top_paths": 3}),
            ("wide_top4", [(2, 12, 6)], {"beam_width": 25, "top_paths": 4, "mask_index": 2}),
            (
                "blank_last_unmerged",
                [(3, 8, 4)],
                {"beam_width": 5, "top_paths": 2, "mask_index": None, "merge_repeated": False},
            ),
            ("greedy_width", [(2, 10, 5)], {"beam_width": 1}),
            ("fewer_paths_than_asked", [(2, 3, 2)], {"beam_width": 2, "top_paths": 4}),
        )
    ],
    *[
        OpCase(
            f"unfold_{tag}",
            lambda x, kw=kw: ops.unfold(x, **kw),
            [(Input((2, 3, 7, 6)),)],
            numpy=lambda x, kw=kw: keras_op("unfold", **kw)(x),
            torch=lambda x, kw=kw: T.nn.functional.unfold(x, **kw),
        )
        for tag, kw in (
            ("plain", {"kernel_size": 2}),
            (
                "geometry",
                {"kernel_size": (3, 2), "dilation": (1, 2), "padding": 1, "stride": (2, 1)},
            ),
        )
    ],
    *[
        OpCase(
            f"fold_{tag}",
            lambda x, kw=kw: ops.fold(x, (7, 6), **kw),
            [(Input(shape),)],
            torch=lambda x, kw=kw: T.nn.functional.fold(x, (7, 6), **kw),
        )
        for tag, shape, kw in (
            ("plain", (2, 12, 30), {"kernel_size": 2}),
            (
                "geometry",
                (1, 12, 24),
                {"kernel_size": (3, 2), "dilation": (1, 2), "padding": 1, "stride": (2, 1)},
            ),
        )
    ],
]

globals().update(op_tests(CASES))


@pytest.mark.parametrize(
    "call,error,match",
    [
        (lambda: ops.ctc_loss([1], np.ones((1, 3, 2)), [1], [3]), ShapeError, "target"),
        (lambda: ops.ctc_decode(np.ones((1, 3, 2)), [3], strategy="best"), ValueError,
         "Invalid strategy 'best'"),
        (lambda: ops.ctc_decode(np.ones((1, 3, 2)), [3], strategy="beam_search", beam_width=0),
         ValueError, "beam_width must be a positive integer"),
        (lambda: ops.ctc_decode(np.ones((1, 3, 2)), [3], strategy="beam_search", top_paths=0),
         ValueError, "top_paths must be a positive integer"),
        (lambda: ops.ctc_decode(np.ones((1, 3, 2)), [3, 3], strategy="beam_search"),
         ShapeError, "sequence_lengths must be"),
        (lambda: ops.ctc_decode(np.ones((1, 3, 2)), [3], mask_index=2), ValueError,
         "mask_index must be a class"),
        (lambda: nerve.function(lambda x: ops.ctc_decode(x, [3], strategy="beam_search"))(
            np.ones((1, 3, 2), "float32")), TracingError, "cannot be traced"),
        (lambda: ops.unfold(np.ones((2, 3, 4)), 2), ShapeError, "4-D"),
        (lambda: ops.unfold(np.ones((1, 1, 4, 4)), 0), ValueError, "kernel_size"),
        (lambda: ops.fold(np.ones((1, 5, 9)), (4, 4), 2), ShapeError, "fold: x must be a 3D"),
        (lambda: ops.fold(np.ones((1, 2, 3, 4)), (4, 4), 2), ShapeError, "3D tensor"),
        (lambda: ops.adaptive_max_pool(np.ones((1, 4, 4, 1)), (2, 2, 2)), ValueError, "size"),
    ],
)  # fmt: skip
def test_nn_additions_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


def np_sparsemax(x, axis):
    """Sparsemax by bisection on the threshold (independent of the sort-based kernel)."""
    x = np.moveaxis(x, axis, -1)
    low, high = x.min(-1, keepdims=True) - 1, x.max(-1, keepdims=True)
    for _ in range(200):
        tau = (low + high) / 2
        too_big = np.maximum(x - tau, 0).sum(-1, keepdims=True) < 1
        high, low = np.where(too_big, tau, high), np.where(too_big, low, tau)
    return np.moveaxis(np.maximum(x - (low + high) / 2, 0), -1, axis)


# -- focused tests --------------------------------------------------------------------------


def test_losses_from_huge_logits_are_finite_and_exact():
    logits = np.array([[1e3, 0.0, -1e3], [-1e3, 1e3, 0.0]])
    target = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    for dtype in ("float32", "float64"):
        o = ops.convert_to_tensor(logits.astype(dtype))
        loss = ops.categorical_crossentropy(target.astype(dtype), o, from_logits=True)
        np.testing.assert_allclose(loss.numpy(), [1e3, 2e3], rtol=1e-6)
        sparse = ops.sparse_categorical_crossentropy([1, 0], o, from_logits=True)
        np.testing.assert_allclose(sparse.numpy(), [1e3, 2e3], rtol=1e-6)
        bce = ops.binary_crossentropy(np.ones(3, dtype), o[0], from_logits=True)
        np.testing.assert_allclose(bce.numpy(), [0.0, math.log(2), 1e3], rtol=1e-6)
        grad = nerve.grad(lambda z: ops.sum(ops.categorical_crossentropy(target, z, True)))(o)
        np.testing.assert_allclose(grad.numpy(), np_softmax(logits) - target, atol=1e-6)
        assert np.isfinite(ops.log_softmax(o).numpy()).all()


def test_probability_losses_clip_with_epsilon():
    # float64: in float32, 1 - 1e-7 rounds to 1 - 1.19e-7.
    loss = ops.binary_crossentropy(np.array([1.0, 0.0]), np.array([0.0, 1.0]))
    np.testing.assert_allclose(loss.numpy(), [-math.log(1e-7)] * 2, rtol=1e-3)
    cce = ops.categorical_crossentropy(np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]]))
    np.testing.assert_allclose(cce.numpy(), [-math.log(1e-7)], rtol=1e-3)


def test_relu_gradient_is_zero_at_zero():
    grad = nerve.grad(lambda x: ops.sum(ops.relu(x)))(ops.convert_to_tensor([-1.0, 0.0, 2.0]))
    np.testing.assert_array_equal(grad.numpy(), [0.0, 0.0, 1.0])


def test_elu_gradient_stays_finite_for_large_inputs():
    x = ops.convert_to_tensor([1e3, -1e3], dtype="float32")
    grad = nerve.grad(lambda x: ops.sum(ops.elu(x)))(x)
    np.testing.assert_allclose(grad.numpy(), [1.0, 0.0])


def test_conv_keeps_float32_and_int_inputs_become_float():
    y = ops.conv(np.ones((1, 4, 4, 2), "int32"), np.ones((3, 3, 2, 1), "float32"))
    assert y.dtype == "float32"
    np.testing.assert_array_equal(y.numpy(), np.full((1, 2, 2, 1), 18.0))


def test_conv_transpose_is_the_input_gradient_of_conv():
    rng = np.random.default_rng(0)
    x = ops.convert_to_tensor(rng.standard_normal((2, 7, 6, 3)))
    kernel = ops.convert_to_tensor(rng.standard_normal((3, 3, 3, 4)))
    y = ops.conv(x, kernel, strides=2, padding="same")
    ct = ops.convert_to_tensor(rng.standard_normal(y.shape))
    with nerve.GradientTape() as tape:
        tape.watch(x)
        total = ops.sum(ops.conv(x, kernel, strides=2, padding="same") * ct)
    grad = tape.gradient(total, x)
    # Keras's output size for "same" is 8x8 here, so crop to the conv input's 7x6.
    back = ops.conv_transpose(ct, kernel, strides=2, padding="same", output_padding=(0, 1))
    np.testing.assert_allclose(back.numpy(), grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.fixture(params=["native", "numpy"])
def window_kernels(request, monkeypatch):
    """Each test twice: with the C window kernels (where a compiler works) and without."""
    from nerve.backend.numpy_backend.native import windows

    if request.param == "numpy":
        monkeypatch.setenv("NERVE_NATIVE", "0")
    windows._functions.cache_clear()
    yield request.param
    monkeypatch.undo()
    windows._functions.cache_clear()


def _max_pool_and_gradient(pool, x, g, **kw):
    x = ops.convert_to_tensor(x)
    with nerve.GradientTape() as tape:
        tape.watch(x)
        y = pool(x)
        total = ops.sum(y * g)
    return y.numpy(), tape.gradient(total, x).numpy()


@pytest.mark.parametrize(
    "kw",
    [{"pool_size": 2}, {"pool_size": (3, 2), "strides": 1, "padding": "same"},
     {"pool_size": 3, "strides": 2, "padding": "same"}],
)  # fmt: skip
def test_max_pool_gradient_goes_to_the_first_tie_as_in_pytorch(window_kernels, kw):
    rng = np.random.default_rng(3)
    x = np.round(rng.standard_normal((2, 7, 5, 3)))  # a few distinct values: many ties
    strides, padding = kw.get("strides"), kw.get("padding", "valid")
    y, grad = _max_pool_and_gradient(lambda t: ops.max_pool(t, **kw), x, 1.0)
    xt = T.tensor(x, requires_grad=True)
    yt = torch_pool(xt, kw["pool_size"], strides, padding)
    yt.sum().backward()
    np.testing.assert_array_equal(y, yt.detach().numpy())
    np.testing.assert_array_equal(grad, xt.grad.numpy())


def test_max_pool_matches_the_reduction_over_patches(window_kernels):
    """The composite max pooling used to be (a max over -inf padded patches) agrees with
    the primitive, forward and backward, where no window has a tie."""
    from nerve.primitives import reduction

    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 7, 6, 3))
    window, strides, pads = (3, 2), (2, 1), ((1, 1), (0, 1))
    g = rng.standard_normal((2, 4, 6, 3))

    def composite(t):
        patches = nnp.extract_patches(t, window, strides, (1, 1), pads, pad_value=-np.inf)
        return reduction.reduce_max_p.bind(patches, axes=(3, 4), keepdims=False)

    expected = _max_pool_and_gradient(composite, x, g)
    got = _max_pool_and_gradient(lambda t: nnp.max_pool(t, window, strides, pads)[0], x, g)
    np.testing.assert_array_equal(got[0], expected[0])
    # Overlapping windows: an element's shares may be added in another order.
    np.testing.assert_allclose(got[1], expected[1], rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize(
    "shape,window,strides,dilation,padding",
    [
        ((2, 7, 3), (3,), (2,), (1,), ((1, 2),)),
        ((1, 6, 5, 2), (2, 3), (1, 2), (2, 1), ((0, 1), (2, 0))),
        ((1, 3, 4, 3, 1), (2, 2, 2), (2, 1, 3), (1, 2, 1), ((1, 0), (0, 0), (1, 1))),
    ],
)
def test_patch_primitives_are_each_others_adjoint(shape, window, strides, dilation, padding):
    """<extract(x), p> == <x, patches_transpose(p)>, and the kernel's view is read-only."""
    from nerve.primitives import nn as nnp

    rng = np.random.default_rng(1)
    x = ops.convert_to_tensor(rng.standard_normal(shape))
    patches = nnp.extract_patches(x, window, strides, dilation, padding)
    assert not patches.numpy().flags.writeable
    p = ops.convert_to_tensor(rng.standard_normal(patches.shape))
    back = nnp.patches_transpose(p, shape[1:-1], window, strides, dilation, padding)
    assert back.shape == shape
    lhs = float(np.sum(patches.numpy() * p.numpy()))
    np.testing.assert_allclose(lhs, float(np.sum(x.numpy() * back.numpy())), rtol=1e-12)


def test_patch_shape_rules_reject_bad_geometry():
    from nerve.primitives import nn as nnp
    from nerve.primitives.registry import Aval

    rule = nnp.extract_patches_p.shape_rule
    with pytest.raises(ShapeError, match=r"extract_patches: a 2-D window .*\(4, 5\)"):
        rule(
            Aval((4, 5), "float32"),
            window=(2, 2),
            strides=(1, 1),
            dilation=(1, 1),
            padding=((0, 0), (0, 0)),
            pad_value=0.0,
        )
    rule = nnp.patches_transpose_p.shape_rule
    with pytest.raises(ShapeError, match=r"patches_transpose: patches of shape \(1, 3, 2, 1\)"):
        rule(
            Aval((1, 3, 2, 1), "float32"),
            spatial_shape=(5,),
            window=(2,),
            strides=(1,),
            dilation=(1,),
            padding=((0, 0),),
        )


def test_conv_forward_backward_is_fast():
    rng = np.random.default_rng(0)
    x = ops.convert_to_tensor(rng.standard_normal((32, 28, 28, 16)).astype("float32"))
    kernel = nerve.Variable(rng.standard_normal((3, 3, 16, 32)).astype("float32"))

    def step():
        with nerve.GradientTape() as tape:
            tape.watch(x)
            loss = ops.sum(ops.conv(x, kernel, padding="same"))
        return tape.gradient(loss, [x, kernel])

    step()
    start = time.perf_counter()
    step()
    assert time.perf_counter() - start < 1.0  # typically ~30 ms; seconds means a slow path


# -- errors ----------------------------------------------------------------------------------


def test_conv_channel_mismatch_names_op_shapes_and_format():
    with pytest.raises(ShapeError, match=r"conv: .*\(1, 5, 5, 3\).*channels_last.*\(3, 3, 2, 4\)"):
        ops.conv(ops.ones((1, 5, 5, 3)), ops.ones((3, 3, 2, 4)))
    with pytest.raises(ShapeError, match=r"channels_first.*\(3, 3, 4, 4\)"):
        ops.conv(ops.ones((1, 3, 5, 5)), ops.ones((3, 3, 4, 4)), data_format="channels_first")
    with pytest.raises(ShapeError, match=r"depthwise_conv: .*\(1, 5, 5, 3\).*\(3, 3, 2, 1\)"):
        ops.depthwise_conv(ops.ones((1, 5, 5, 3)), ops.ones((3, 3, 2, 1)))
    with pytest.raises(ShapeError, match=r"conv_transpose: .*\(1, 5, 5, 3\).*\(3, 3, 4, 2\)"):
        ops.conv_transpose(ops.ones((1, 5, 5, 3)), ops.ones((3, 3, 4, 2)))


def test_conv_and_pool_argument_errors():
    with pytest.raises(ValueError, match=r"conv: padding must be 'valid' or 'same', got 'full'"):
        ops.conv(ops.ones((1, 5, 5, 3)), ops.ones((3, 3, 3, 4)), padding="full")
    with pytest.raises(ValueError, match=r"max_pool: padding must be"):
        ops.max_pool(ops.ones((1, 5, 5, 3)), 2, padding="causal")
    with pytest.raises(
        ValueError,
        match=r"max_pool: pool_size \(2, 2, 2\) has 3 entries .*"
        r"\(1, 5, 5, 3\).* 2 spatial axes",
    ):
        ops.max_pool(ops.ones((1, 5, 5, 3)), (2, 2, 2))
    with pytest.raises(ValueError, match=r"conv: strides must be"):
        ops.conv(ops.ones((1, 5, 5, 3)), ops.ones((3, 3, 3, 4)), strides=(1, 2, 3))
    with pytest.raises(ValueError, match=r"data_format must be"):
        ops.average_pool(ops.ones((1, 5, 5, 3)), 2, data_format="NHWC")
    with pytest.raises(ShapeError, match=r"conv: inputs must have rank 3, 4 or 5.*\(5, 5\)"):
        ops.conv(ops.ones((5, 5)), ops.ones((3, 3)))
    with pytest.raises(ShapeError, match=r"average_pool: window \(4, 4\).*larger than.*\(3, 3\)"):
        ops.average_pool(ops.ones((1, 3, 3, 1)), 4)


def test_other_shape_errors():
    with pytest.raises(ShapeError, match=r"glu: axis 1 .*\(2, 3\).*even"):
        ops.glu(ops.ones((2, 3)))
    with pytest.raises(ShapeError, match=r"sparse_categorical_crossentropy: target of shape \(3,"):
        ops.sparse_categorical_crossentropy([0, 1, 2], ops.ones((2, 3)))
    with pytest.raises(ShapeError, match=r"categorical_crossentropy: .*\(2, 3\).*\(2, 4\)"):
        ops.categorical_crossentropy(ops.ones((2, 3)), ops.ones((2, 4)))
    with pytest.raises(ShapeError, match=r"batch_normalization: mean of shape \(3,\)"):
        ops.batch_normalization(ops.ones((2, 4)), ops.ones(3), ops.ones(4), axis=-1)


def test_layer_normalization_rms_scaling_warns_as_deprecated():
    with pytest.warns(UserWarning, match=r"You passed `rms_scaling=True`, which is deprecated"):
        ops.layer_normalization(ops.ones((2, 3)), rms_scaling=True)


@pytest.mark.parametrize("axis", [1, -1])
def test_softmax_over_an_axis_of_size_one_warns_as_keras(axis):
    with pytest.warns(
        UserWarning, match=rf"softmax over axis {axis} of a tensor of shape \(1, 1\)"
    ):
        np.testing.assert_array_equal(ops.softmax(ops.ones((1, 1)), axis).numpy(), [[1.0]])


def test_softmax_over_several_axes_and_attention_over_one_key_do_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ops.softmax(ops.ones((2, 1, 3)), axis=(1, 2))
        q = ops.ones((1, 2, 1, 4))
        ops.dot_product_attention(q, ops.ones((1, 1, 1, 4)), ops.ones((1, 1, 1, 4)))


def test_multi_hot_of_no_labels_is_zeros():
    out = ops.multi_hot(ops.zeros((0,), dtype="int32"), 3)
    np.testing.assert_array_equal(out.numpy(), [0.0, 0.0, 0.0])


@pytest.mark.parametrize("order", ["a", -1, 0, 2.5, np.inf, True])
def test_normalize_order_is_an_int_of_at_least_one_as_in_keras(order):
    with pytest.raises(ValueError, match=r"normalize: Argument `order` must be an int >= 1, got"):
        ops.normalize(ops.ones((2,)), order=order)


def test_multi_hot_needs_classes():
    with pytest.raises(ValueError, match=r"multi_hot: num_classes is required"):
        ops.multi_hot(ops.convert_to_tensor([1]))


def brute_force_labellings(log_probs, length, blank):
    """Every labelling's log-probability under (time, classes) ``log_probs`` over the
    first ``length`` steps (at least one), by enumerating every path, collapsing
    repeats, dropping blanks and summing the probabilities of equal labellings."""
    classes = log_probs.shape[1]
    by_labelling = {}
    for path in itertools.product(range(classes), repeat=max(length, 1)):
        labelling = tuple(
            c for i, c in enumerate(path) if c != blank and (i == 0 or c != path[i - 1])
        )
        score = sum(log_probs[t, c] for t, c in enumerate(path))
        by_labelling.setdefault(labelling, []).append(score)
    return {k: np.logaddexp.reduce(v) for k, v in by_labelling.items()}


@pytest.mark.parametrize(
    "shape,blank,seed",
    [((2, 5, 3), 0, 0), ((3, 4, 4), 1, 1), ((1, 6, 3), 2, 2), ((2, 3, 5), 4, 3)],
)
def test_ctc_beam_search_finds_the_best_labellings(shape, blank, seed):
    """With a beam wider than the number of prefixes, beam search is exact: its top
    labellings and their log-probabilities are those of an exhaustive enumeration."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=shape) * 2
    lengths = np.maximum(shape[1] - np.arange(shape[0]), 1)
    top = 5
    decoded, scores = ops.ctc_decode(
        logits, lengths, strategy="beam_search", beam_width=1000, top_paths=top, mask_index=blank
    )
    decoded, scores = decoded.numpy(), scores.numpy()
    log_probs = logits - np.logaddexp.reduce(logits, axis=-1, keepdims=True)
    for b in range(shape[0]):
        truth = brute_force_labellings(log_probs[b], lengths[b], blank)
        best = sorted(truth.items(), key=lambda item: -item[1])[:top]
        found = [tuple(int(c) for c in row if c >= 0) for row in decoded[:, b]]
        assert found == [labelling for labelling, _ in best]
        np.testing.assert_allclose(scores[b], [score for _, score in best], rtol=1e-10)
        # A narrow beam finds a labelling no better than the best one.
        _, narrow = ops.ctc_decode(
            logits[b : b + 1], lengths[b : b + 1], strategy="beam_search", beam_width=2,
            mask_index=blank,
        )  # fmt: skip
        assert float(narrow.numpy()[0, 0]) <= best[0][1] + 1e-12
