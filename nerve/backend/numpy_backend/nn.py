"""Neural-network kernels: sliding-window patches and their adjoint; separable
resampling (``resample``; ``resample2`` for two adjacent axes at once) and its adjoint.

``extract_patches`` returns a read-only strided view over the padded input (no
copy); ``patches_transpose`` adds windows back with one strided slice-add per
window offset (e.g. 9 for a 3x3 window), which is vectorised over everything else.
"""

from __future__ import annotations

import itertools
from typing import Any

__all__ = [
    "kernels",
]


def kernels(xp) -> dict:
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
        if any(lo or hi for lo, hi in padding):
            x = xp.pad(x, ((0, 0), *padding, (0, 0)), constant_values=pad_value)
        spatial = x.shape[1:-1]
        out = tuple(
            max((s - (k - 1) * d - 1) // st + 1, 0)
            for s, k, st, d in zip(spatial, window, strides, dilation)
        )
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

    def patches_transpose(p, spatial_shape, window, strides, dilation, padding):
        rank = len(window)
        out = p.shape[1 : 1 + rank]
        padded = tuple(s + lo + hi for s, (lo, hi) in zip(spatial_shape, padding))
        result = xp.zeros((p.shape[0], *padded, p.shape[-1]), dtype=p.dtype)
        every = slice(None)
        for offsets in itertools.product(*(range(k) for k in window)):
            target = tuple(
                slice(o * d, o * d + (m - 1) * st + 1, st) if m else slice(0, 0)
                for o, d, m, st in zip(offsets, dilation, out, strides)
            )
            # Keys built as tuples first: mypy reads x[(a, *b)] as Python 3.11's x[a, *b].
            key = (every, *target, every)
            result[key] += p[(every,) * (1 + rank) + offsets]
        crop = (every, *(slice(lo, lo + s) for s, (lo, _) in zip(spatial_shape, padding)), every)
        return xp.ascontiguousarray(result[crop])

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
        return first.dtype.name in ("float32", "float64") and all(
            a.flags.c_contiguous for a in arrays
        )

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
        "extract_patches": extract_patches,
        "frames": frames,
        "overlap_add": overlap_add,
        "patches_transpose": patches_transpose,
        "relu": relu,
        "resample": resample,
        "resample2": resample2,
        "resample_transpose": resample_transpose,
    }
