"""Neural-network kernels: sliding-window patches and their adjoint; max pooling
with each window's argmax, and its adjoint; separable resampling (``resample``;
``resample2`` for two adjacent axes at once) and its adjoint; framing of signals
(``frames``) and its adjoint (``overlap_add``).

``extract_patches`` returns a read-only strided view over the padded input (no
copy), except for images with at most ``COPY_CHANNELS`` channels, whose patches a C
loop writes out (the convolution's reshape would copy them, slowly).
``patches_transpose``, ``max_pool`` and ``window_scatter`` run C loops
(``native/windows.py``: one pass over each image) for float32 and float64 when
native kernels are on; otherwise, and for other dtypes, array code:
``patches_transpose`` adds windows back with one strided slice-add per window
offset (e.g. 9 for a 3x3 window), vectorised over everything else, and adds them in
the C loop's order, so both give the same bits.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

from nerve.backend.numpy_backend import linalg

__all__ = [
    "COPY_CHANNELS",
    "kernels",
    "window_counts",
]


#: ``extract_patches`` of images with at most this many channels writes the patches out
#: with a C loop (``native/windows.py``) instead of returning a view: a convolution
#: reshapes its patches to a matrix, and NumPy's copy of a view whose innermost axes
#: are the window and one channel moves an element at a time (2.4 ms for the MNIST
#: convnet's (128, 26, 26, 3, 3, 1) float32 patches; the C loop takes ~0.5 ms; for one
#: image, 15 against 35 us).
COPY_CHANNELS = 4


def window_counts(spatial, window, strides, dilation, padding) -> tuple:
    """How many windows fit along each spatial axis of that size once padded by the
    ``(before, after)`` pairs in ``padding`` (0 where not even one does)."""
    return tuple(
        max((s + lo + hi - (k - 1) * d - 1) // st + 1, 0)
        for s, k, st, d, (lo, hi) in zip(spatial, window, strides, dilation, padding)
    )


def kernels(xp) -> dict:
    product = linalg.products(xp)  # xp.matmul, split across held cores (see there)

    def _as_strided(x, shape, strides):
        if xp.__name__ == "numpy":
            if x.flags.c_contiguous and x.size:
                # The ndarray constructor over x's buffer: the same view as as_strided
                # without its Python detour (2 us instead of 8-16 us, per convolution).
                view = xp.ndarray(shape, x.dtype, buffer=x, strides=strides)
            else:
                view = xp.lib.stride_tricks.as_strided(x, shape, strides)
            # Overlapping windows alias each other: writing through the view would corrupt it.
            view.flags.writeable = False
            return view
        return xp.lib.stride_tricks.as_strided(x, shape, strides)

    def extract_patches(x, window, strides, dilation, padding, pad_value):
        if x.shape[-1] <= COPY_CHANNELS:
            native = _native_windows(x)
            if native is not None:
                x = xp.ascontiguousarray(x)
                return native.extract_patches(x, window, strides, dilation, padding, pad_value)
        if any(lo or hi for lo, hi in padding):
            x = xp.pad(x, ((0, 0), *padding, (0, 0)), constant_values=pad_value)
        spatial = x.shape[1:-1]
        out = window_counts(spatial, window, strides, dilation, ((0, 0),) * len(window))
        step = x.strides[1:-1]
        return _as_strided(
            x,
            (x.shape[0], *out, *window, x.shape[-1]),
            (
                x.strides[0],
                *(b * st for b, st in zip(step, strides)),
                *(b * d for b, d in zip(step, dilation)),
                x.strides[-1],
            ),
        )

    def _window_key(offsets, out, strides, dilation):
        """The slice of a padded image that window offset ``offsets`` covers across
        every output position."""
        target = tuple(
            slice(o * d, o * d + (m - 1) * st + 1, st) if m else slice(0, 0)
            for o, d, m, st in zip(offsets, dilation, out, strides)
        )
        # Keys built as tuples first: mypy reads x[(a, *b)] as Python 3.11's x[a, *b].
        return (slice(None), *target, slice(None))

    def _add_windows(parts, batch, channels, dtype, spatial_shape, window, strides,
                     dilation, padding, out):  # fmt: skip
        """Sum of ``parts(k, offsets)`` (one array per window offset, shaped like the
        output positions) put back where each offset's windows lie, padding cropped.
        Offsets in row-major order: the C loops add in this order too."""
        padded = tuple(s + lo + hi for s, (lo, hi) in zip(spatial_shape, padding))
        result = xp.zeros((batch, *padded, channels), dtype=dtype)
        offsets = itertools.product(*(range(k) for k in window))
        for k, offset in enumerate(offsets):
            result[_window_key(offset, out, strides, dilation)] += parts(k, offset)
        every = slice(None)
        crop = (every, *(slice(lo, lo + s) for s, (lo, _) in zip(spatial_shape, padding)), every)
        return xp.ascontiguousarray(result[crop])

    # The dtypes the C window kernels take, native byte order (a set lookup: NumPy
    # computes ``dtype.name`` in Python, ~6 us, and batch-1 pooling takes ~20 us).
    window_dtypes = frozenset((xp.dtype("float32"), xp.dtype("float64")))

    def _native_windows(*arrays):
        """The C window kernels, when they run here and take these arrays' dtype."""
        if xp.__name__ != "numpy" or arrays[0].dtype not in window_dtypes:
            return None
        from nerve.backend.numpy_backend.native.windows import window_functions

        return window_functions()

    def _geometry_error(op: str, what: str, got, expected) -> ValueError:
        # Never shown as is: eager mode then asks the shape rule to explain.
        return ValueError(
            f"{op}: {what} of shape {tuple(got)} does not match the window geometry "
            f"(output positions {tuple(expected)})."
        )

    def patches_transpose(p, spatial_shape, window, strides, dilation, padding):
        rank = len(window)
        out = p.shape[1 : 1 + rank]
        native = _native_windows(p)
        if native is not None:
            expected = window_counts(spatial_shape, window, strides, dilation, padding)
            if p.ndim != 2 * rank + 2 or p.shape[1 : 1 + 2 * rank] != (*expected, *window):
                raise _geometry_error("patches_transpose", "patches", p.shape, expected)
            p = xp.ascontiguousarray(p)
            return native.patches_transpose(p, spatial_shape, window, strides, dilation, padding)
        every = (slice(None),) * (1 + rank)
        return _add_windows(
            lambda k, offset: p[every + tuple(offset)],
            p.shape[0], p.shape[-1], p.dtype, spatial_shape, window, strides, dilation,
            padding, out,
        )  # fmt: skip

    def product_patches_transpose(a, b, spatial_shape, window, strides, dilation, padding):
        out = window_counts(spatial_shape, window, strides, dilation, padding)
        if xp.__name__ == "numpy":
            from nerve.backend.numpy_backend.native import convolution, winograd

            done = winograd.product_patches_transpose(
                a, b, spatial_shape, window, strides, dilation, padding
            )
            if done is None:
                done = convolution.product_patches_transpose(
                    a, b, spatial_shape, window, strides, dilation, padding, out
                )
            if done is not None:
                return done
        taps = math.prod(window)
        batch = a.shape[0] // math.prod(out) if math.prod(out) else 0
        p = product(a, b).reshape(batch, *out, *window, b.shape[1] // taps)
        return patches_transpose(p, spatial_shape, window, strides, dilation, padding)

    def patches_product(x, b, window, strides, dilation, padding):
        if xp.__name__ == "numpy":
            from nerve.backend.numpy_backend.native import winograd

            done = winograd.patches_product(x, b, window, strides, dilation, padding)
            if done is not None:
                return done
        p = extract_patches(x, window, strides, dilation, padding, 0.0)
        return product(p.reshape(-1, b.shape[0]), b)

    def transposed_patches_product(x, g, window, strides, dilation, padding):
        if xp.__name__ == "numpy":
            from nerve.backend.numpy_backend.native import winograd

            done = winograd.transposed_patches_product(x, g, window, strides, dilation, padding)
            if done is not None:
                return done
        p = extract_patches(x, window, strides, dilation, padding, 0.0)
        return product(p.reshape(g.shape[0], -1).T, g)

    matmul: list = []  # the matmul node's own kernel, made on the first fallback

    # Resolved once: an import statement in a kernel costs ~0.5 us per call, a real
    # part of a batch-1 dense layer's (~10-25 us).
    native_products: Any = None
    row_product: Any = None
    if xp.__name__ == "numpy":
        from nerve.backend.numpy_backend.native import products as native_products
        from nerve.backend.numpy_backend.native import row_product

    def bias_relu(z, bias):
        """The fused loop's add and ReLU after a product, in C over the product's fresh
        result where it can be (~1 us against ~4 us for NumPy's three calls)."""
        if row_product is not None and row_product.add_bias_relu(z, bias):
            return z
        z = z + bias
        return xp.where((z > 0) | (z != z), z, xp.zeros((), dtype=z.dtype))

    def product_bias_relu(a, b, bias):
        if row_product is not None and a.shape[0] == 1 and a.dtype in row_product.LOOP_DTYPES:
            # One row (a dense layer at batch 1): split across two cores, the epilogue
            # written with each result (``native/row_product.py``); where the split
            # declines (under load, one BLAS thread), BLAS's product as the matmul
            # kernel would then run it.
            done = row_product.product_bias_relu(a, b, bias)
            return done if done is not None else bias_relu(product(a, b), bias)
        if native_products is not None:
            done = native_products.product_bias_relu(a, b, bias)
            if done is not None:
                return done
        # The steps lowering replaced: the product, then the fused loop's add and ReLU.
        if not matmul:
            matmul.append(linalg.kernels(xp)["matmul"])
        return bias_relu(matmul[0](a, b), bias)

    def product_bias(a, b, bias):
        if xp.__name__ == "numpy":
            from nerve.backend.numpy_backend.native import products as native_products

            done = native_products.blocked_product(a, b, bias)
            if done is not None:
                return done
        # The steps lowering replaced: the products, then the fused loops' adds.
        if not matmul:
            matmul.append(linalg.kernels(xp)["matmul"])
        return matmul[0](a, b) + bias

    def masked_product(a, b, y):
        if xp.__name__ == "numpy":
            from nerve.backend.numpy_backend.native import products as native_products

            done = native_products.masked_product(a, b, y)
            if done is not None:
                return done
        # The steps lowering replaced: the product, then the fused loop's mask.
        if not matmul:
            matmul.append(linalg.kernels(xp)["matmul"])
        return matmul[0](a, b) * (y > 0).astype(y.dtype)

    softmax_loop: list = []  # the C loop (or None), looked up on the first call

    def softmax_rows(x, *bias, log, scale=None):
        if not softmax_loop:
            softmax_loop.append(_native_softmax("softmax_rows_function"))
        loop = softmax_loop[0]
        if loop is not None:
            done = loop(x, bias[0] if bias else None, log, scale)
            if done is not None:
                return done
        # The steps the lowering pass replaced, in their order.
        if scale is not None:
            x = x * xp.asarray(scale, dtype=x.dtype)
        if bias:
            x = x + bias[0]
        shifted = x - xp.max(x, axis=-1, keepdims=True)
        e = xp.exp(shifted)
        total = xp.sum(e, axis=-1, keepdims=True)
        return shifted - xp.log(total) if log else e / total

    gradient_loop: list = []  # as softmax_loop, for softmax_rows_grad

    def softmax_rows_grad(g, y, *, scale):
        if not gradient_loop:
            gradient_loop.append(_native_softmax("softmax_rows_grad_function"))
        loop = gradient_loop[0]
        if loop is not None:
            done = loop(g, y, scale)
            if done is not None:
                return done
        # The steps the lowering pass replaced, in their order.
        total = xp.sum(g * y, axis=-1, keepdims=True)
        dx = y * (g - total)
        return dx if scale is None else dx * xp.asarray(scale, dtype=dx.dtype)

    xent_loops: list = []  # the C loss and gradient loops (or None), as softmax_loop

    def _xent_loop(which: int):
        if not xent_loops:
            names = ("sparse_xent", "sparse_xent_grad", "xent", "xent_grad")
            xent_loops.extend(_native_softmax(f"{name}_function") for name in names)
        return xent_loops[which]

    def _shifted_exp(logits):
        # log_softmax's steps: the shift by the row's maximum, its exponential, the sum.
        shifted = logits - xp.max(logits, axis=-1, keepdims=True)
        e = xp.exp(shifted)
        return shifted, e, xp.sum(e, axis=-1, keepdims=True)

    def _valid(labels, classes):
        return (labels >= 0) & (labels < classes)

    def sparse_softmax_cross_entropy(logits, labels):
        loop = _xent_loop(0)
        done = None if loop is None else loop(logits, labels)
        if done is not None:
            return done
        shifted, _, total = _shifted_exp(logits)
        valid = _valid(labels, logits.shape[-1])
        column = xp.where(valid, labels, 0)[..., None]
        picked = xp.take_along_axis(shifted, column, axis=-1)[..., 0]
        loss = -(picked - xp.log(total[..., 0]))
        return xp.where(valid, loss, xp.asarray(xp.nan, dtype=logits.dtype))

    def sparse_softmax_cross_entropy_grad(logits, labels, g):
        loop = _xent_loop(1)
        done = None if loop is None else loop(logits, labels, g)
        if done is not None:
            return done
        _, e, total = _shifted_exp(logits)
        column = g[..., None]
        classes = logits.shape[-1]
        one_hot = labels[..., None] == xp.arange(classes)
        dx = e * (column / total) - one_hot * column
        valid = _valid(labels, classes)[..., None]
        return xp.where(valid, dx, xp.asarray(xp.nan, dtype=logits.dtype))

    def softmax_cross_entropy(logits, targets):
        loop = _xent_loop(2)
        done = None if loop is None else loop(logits, targets)
        if done is not None:
            return done
        shifted, _, total = _shifted_exp(logits)
        return -xp.sum(targets * (shifted - xp.log(total)), axis=-1)

    def softmax_cross_entropy_grad(logits, targets, g):
        loop = _xent_loop(3)
        done = None if loop is None else loop(logits, targets, g)
        if done is not None:
            return done
        _, e, total = _shifted_exp(logits)
        terms = targets * -g[..., None]
        share = (0 - xp.sum(terms, axis=-1, keepdims=True)) / total
        return terms + e * share

    einsum: list = []  # linalg's einsum kernel, made on the first fallback

    def _einsum(subscripts, a, b):
        if not einsum:
            einsum.append(linalg.kernels(xp)["einsum"])
        return einsum[0](a, b, subscripts=subscripts)

    def _native_attention(name: str):
        if xp.__name__ != "numpy":
            return None
        from nerve.backend.numpy_backend.native import attention as native_attention

        return getattr(native_attention, name)

    def attention_rows(q, k, v, *, scale):
        native = _native_attention("attention")
        done = None if native is None else native(q, k, v, scale)
        if done is not None:
            return done
        # The steps the lowering pass replaced, with the kernels they ran on.
        p = softmax_rows(_einsum("bthd,bshd->bhts", q, k), log=False, scale=scale)
        return _einsum("bhts,bshe->bthe", p, v), p

    def attention_rows_grad(g, q, k, v, p, *, scale):
        native = _native_attention("attention_grad")
        done = None if native is None else native(g, q, k, v, p, scale)
        if done is not None:
            return done
        ds = softmax_rows_grad(_einsum("bthe,bshe->bhts", g, v), p, scale=scale)
        dq = _einsum("bhts,bshd->bthd", ds, k)
        dk = _einsum("bhts,bthd->bshd", ds, q)
        return dq, dk, _einsum("bthe,bhts->bshe", g, p)

    layer_norm_loop: list = []  # as softmax_loop, for layer_norm_grad_rows

    def layer_norm_grad_rows(a, c, inv, v, *, count):
        if not layer_norm_loop:
            layer_norm_loop.append(_native_layer_norm("layer_norm_grad_rows_function"))
        loop = layer_norm_loop[0]
        if loop is not None:
            done = loop(a, c, inv, v, count)
            if done is not None:
                return done
        # The steps the lowering pass replaced, in their order.
        n, half = xp.asarray(count, dtype=a.dtype), xp.asarray(-0.5, dtype=a.dtype)
        t = a * inv
        d = xp.add.reduce(a * c, axis=-1, keepdims=True) * ((half * inv) / v) / n
        e = d * c
        e = e + e
        total = xp.add.reduce(-t, axis=-1, keepdims=True) + xp.add.reduce(-e, -1, keepdims=True)
        return (t + e) + total / n

    statistics_loop: list = []  # as softmax_loop, for layer_norm_rows

    def layer_norm_rows(x, *, count, epsilon):
        if not statistics_loop:
            statistics_loop.append(_native_layer_norm("layer_norm_rows_function"))
        loop = statistics_loop[0]
        if loop is not None:
            done = loop(x, count, epsilon)
            if done is not None:
                return done
        # The steps the lowering pass replaced, in their order.
        n = xp.asarray(count, dtype=x.dtype)
        c = x - xp.add.reduce(x, axis=-1, keepdims=True) / n
        v = xp.add.reduce(c * c, axis=-1, keepdims=True) / n + xp.asarray(epsilon, x.dtype)
        return c, v, xp.reciprocal(xp.sqrt(v))

    def _native_layer_norm(name: str):
        if xp.__name__ != "numpy":
            return None
        from nerve.backend.numpy_backend.native import layer_norm

        return getattr(layer_norm, name)()

    def _native_softmax(name: str):
        if xp.__name__ != "numpy":
            return None
        from nerve.backend.numpy_backend.native import softmax as native_softmax

        return getattr(native_softmax, name)()

    def max_pool(x, window, strides, padding):
        native = _native_windows(x)
        if native is not None:
            return native.max_pool(xp.ascontiguousarray(x), window, strides, padding)
        rank = len(window)
        dilation = (1,) * rank
        fill = float("-inf")
        patches = extract_patches(x, window, strides, dilation, padding, fill)
        batch, out, channels = patches.shape[0], patches.shape[1 : 1 + rank], x.shape[-1]
        flat = patches.reshape((batch, *out, math.prod(window), channels))
        # argmax picks the first of equal values, and the first NaN: the C loop's choice.
        where = xp.argmax(flat, axis=-2).astype(xp.int32)
        values = xp.take_along_axis(flat, where[..., None, :], axis=-2)[..., 0, :]
        if any(lo or hi for lo, hi in padding):
            # A window whose real entries are all -inf may have picked its padding:
            # point it at its first real position instead (padding never wins).
            lost = values == fill
            if lost.any():
                real = xp.ones((1, *x.shape[1:-1], 1), dtype=xp.int8)
                mask = extract_patches(real, window, strides, dilation, padding, 0)
                windows = mask.reshape((1, *out, math.prod(window), 1))
                first = xp.argmax(windows, axis=-2).astype(xp.int32)
                where = xp.where(lost, first, where)
        return values, where

    def window_scatter(g, argmax, spatial_shape, window, strides, padding):
        return scatter_windows(g, argmax, spatial_shape, window, strides, padding, None)

    def masked_window_scatter(g, argmax, y, spatial_shape, window, strides, padding):
        return scatter_windows(g, argmax, spatial_shape, window, strides, padding, y)

    def scatter_windows(g, argmax, spatial_shape, window, strides, padding, mask):
        """``window_scatter``, times ``cast(mask > 0)`` when a mask is given: by the C
        kernel, which masks each image as it writes it, where the mask is the image's
        shape and dtype; else the scatter, then the multiply."""
        rank = len(window)
        out = g.shape[1 : 1 + rank]
        native = _native_windows(g)
        if native is not None:
            expected = window_counts(spatial_shape, window, strides, (1,) * rank, padding)
            if argmax.shape != g.shape or g.ndim != rank + 2 or out != expected:
                raise _geometry_error("window_scatter", "cotangent", g.shape, expected)
            image = (g.shape[0], *spatial_shape, g.shape[-1])
            fits = mask is not None and mask.dtype == g.dtype and mask.shape == image
            scattered = native.window_scatter(
                xp.ascontiguousarray(g), xp.ascontiguousarray(argmax, dtype=xp.int32),
                spatial_shape, window, strides, padding,
                mask=xp.ascontiguousarray(mask) if fits else None,
            )  # fmt: skip
            if mask is None or fits:
                return scattered
        else:
            zero = xp.zeros((), dtype=g.dtype)
            scattered = _add_windows(
                lambda k, offset: xp.where(argmax == k, g, zero),
                g.shape[0], g.shape[-1], g.dtype, spatial_shape, window, strides,
                (1,) * rank, padding, out,
            )  # fmt: skip
            if mask is None:
                return scattered
        return scattered * (mask > 0).astype(scattered.dtype)

    native_frames: Any = None
    if xp.__name__ == "numpy":
        from nerve.backend.numpy_backend.native import spectral as native_frames

    def _reflect(x, pad):
        """``x`` padded by ``pad`` mirrored samples at both ends of its last axis
        (NumPy's "reflect"; ``pad`` is below the axis's length)."""
        n = x.shape[-1]
        left = x[..., pad:0:-1]
        right = x[..., n - 2 : n - 2 - pad : -1] if n - 2 - pad >= 0 else x[..., n - 2 :: -1]
        return xp.concatenate([left, x, right], axis=-1)

    def frames(x, window, stride, pad):
        length = window.shape[0]
        n = x.shape[-1] + 2 * pad
        count = max(0, 1 + (n - length) // stride) if n >= length else 0
        native = native_frames.frames_function() if native_frames is not None else None
        if (
            native is not None
            and count
            and x.dtype == window.dtype
            and x.flags.c_contiguous
            and window.flags.c_contiguous
        ):
            out = native(x, window, count, stride, pad)
            if out is not None:
                return out
        if pad:
            x = _reflect(x, pad)
        # The frames as a read-only strided view of the signal, windowed by one multiply
        # that writes them out (the only copy).
        view = _as_strided(
            x, (*x.shape[:-1], count, length), (*x.strides[:-1], stride * x.strides[-1],
                                                x.strides[-1])
        )  # fmt: skip
        return xp.multiply(view, window)

    def overlap_add(frames, stride, size):
        *batch, count, length = frames.shape
        if count == 0 or length == 0:
            return xp.zeros((*batch, size), dtype=frames.dtype)
        # Frame t's piece j (samples j * stride ... of it) lands at (t + j) * stride: one
        # vectorized add per piece, ceil(length / stride) of them, whatever the count.
        pieces = -(-length // stride)
        span = max(size, (count + pieces - 1) * stride)  # room for whole pieces
        out = xp.zeros((*batch, span), dtype=frames.dtype)
        for j in range(pieces):
            width = min(stride, length - j * stride)
            start = j * stride
            rows = out[..., start : start + count * stride].reshape(*batch, count, stride)
            rows[..., :width] += frames[..., start : start + width]
        return out if span == size else xp.ascontiguousarray(out[..., :size])

    def relu(x):
        return xp.maximum(x, 0)

    def _native_resample():
        if xp.__name__ != "numpy":
            return None
        from nerve.backend.numpy_backend.native.resample import resample_functions

        return resample_functions()

    def _native_ready(*arrays) -> bool:
        first = arrays[0]
        return first.dtype in window_dtypes and all(a.flags.c_contiguous for a in arrays)

    def _taps_view(table, axis: int, ndim: int):
        """Column ``t`` of a (positions, taps) table, shaped to broadcast along ``axis``."""
        return lambda t: table[:, t].reshape((-1,) + (1,) * (ndim - axis - 1))

    def _check_indices(kind: str, indices, size: int, axis: int) -> None:
        # Refused rather than wrapped (take's -1) or read past the array (the C loops).
        if indices.size and (int(indices.min()) < 0 or int(indices.max()) >= size):
            raise IndexError(
                f"{kind}: indices must lie in [0, {size}) along axis {axis}, got "
                f"[{int(indices.min())}, {int(indices.max())}]."
            )

    def resample(x, indices, weights, axis):
        _check_indices("resample", indices, x.shape[axis], axis)
        native = _native_resample()
        if native is not None and _native_ready(x, indices, weights):
            return native.resample(x, indices, weights, axis)
        column = _taps_view(weights, axis, x.ndim)
        out = xp.take(x, indices[:, 0], axis=axis) * column(0)
        for t in range(1, indices.shape[1]):
            out += xp.take(x, indices[:, t], axis=axis) * column(t)
        return out

    def resample2(x, indices0, weights0, indices1, weights1, axis):
        _check_indices("resample2", indices0, x.shape[axis], axis)
        _check_indices("resample2", indices1, x.shape[axis + 1], axis + 1)
        native = _native_resample()
        if native is not None and _native_ready(x, indices0, weights0, indices1, weights1):
            return native.resample2(x, indices0, weights0, indices1, weights1, axis)
        return resample(resample(x, indices0, weights0, axis), indices1, weights1, axis + 1)

    def resample_transpose(g, indices, weights, axis, size):
        _check_indices("resample_transpose", indices, size, axis)
        native = _native_resample()
        if native is not None and _native_ready(g, indices, weights):
            return native.resample_transpose(g, indices, weights, axis, size)
        shape = list(g.shape)
        shape[axis] = size
        out = xp.zeros(shape, dtype=g.dtype)
        moved = xp.moveaxis(out, axis, 0)  # a view: adds land in out
        column = _taps_view(weights, axis, g.ndim)
        for t in range(indices.shape[1]):
            xp.add.at(moved, indices[:, t], xp.moveaxis(g * column(t), axis, 0))
        return out

    return {
        "attention_rows": attention_rows,
        "attention_rows_grad": attention_rows_grad,
        "extract_patches": extract_patches,
        "frames": frames,
        "overlap_add": overlap_add,
        "masked_product": masked_product,
        "max_pool": max_pool,
        "patches_transpose": patches_transpose,
        "patches_product": patches_product,
        "product_bias": product_bias,
        "product_bias_relu": product_bias_relu,
        "product_patches_transpose": product_patches_transpose,
        "relu": relu,
        "layer_norm_grad_rows": layer_norm_grad_rows,
        "layer_norm_rows": layer_norm_rows,
        "softmax_rows": softmax_rows,
        "softmax_rows_grad": softmax_rows_grad,
        "softmax_cross_entropy": softmax_cross_entropy,
        "softmax_cross_entropy_grad": softmax_cross_entropy_grad,
        "sparse_softmax_cross_entropy": sparse_softmax_cross_entropy,
        "sparse_softmax_cross_entropy_grad": sparse_softmax_cross_entropy_grad,
        "resample": resample,
        "resample2": resample2,
        "resample_transpose": resample_transpose,
        "transposed_patches_product": transposed_patches_product,
        "window_scatter": window_scatter,
        "masked_window_scatter": masked_window_scatter,
    }
