"""Neural-network kernels: sliding-window patches and their adjoint.

``extract_patches`` returns a read-only strided view over the padded input (no
copy); ``patches_transpose`` adds windows back with one strided slice-add per
window offset (e.g. 9 for a 3x3 window), which is vectorised over everything else.
"""

from __future__ import annotations

import itertools

__all__ = [
    "kernels",
]


def kernels(xp) -> dict:
    def _as_strided(x, shape, strides):
        view = xp.lib.stride_tricks.as_strided
        if xp.__name__ == "numpy":
            # Overlapping windows alias each other: writing through the view would corrupt it.
            return view(x, shape, strides, writeable=False)
        return view(x, shape, strides)

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

    def relu(x):
        return xp.maximum(x, 0)

    return {
        "extract_patches": extract_patches,
        "patches_transpose": patches_transpose,
        "relu": relu,
    }
