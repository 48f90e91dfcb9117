"""Reduction and scan kernels. ``axes`` is a tuple; results keep the input dtype
(except ``any``/``all``, which give bool, and ``argmax``/``argmin``, int32)."""

from __future__ import annotations

__all__ = [
    "kernels",
]


def kernels(xp) -> dict:
    def reduce_sum(x, axes, keepdims):
        return xp.sum(x, axis=axes, keepdims=keepdims, dtype=x.dtype)

    def reduce_prod(x, axes, keepdims):
        return xp.prod(x, axis=axes, keepdims=keepdims, dtype=x.dtype)

    def reduce_l2(x, axes, keepdims):
        dtype = x.dtype
        if dtype.itemsize < 4:  # float16, bfloat16: accumulate in float32
            return reduce_l2(x.astype(xp.float32), axes, keepdims).astype(dtype)
        if len(axes) == x.ndim:
            # Every axis: one dot product of the flat array (BLAS on NumPy; no squared
            # temporary). The root of a float32 scalar is a float32 scalar.
            flat = x.reshape(-1)
            total = xp.asarray(xp.sqrt(xp.dot(flat, flat)))
            return total.reshape((1,) * x.ndim) if keepdims else total
        return xp.sqrt(xp.sum(xp.square(x), axis=axes, keepdims=keepdims))

    def reduce_max(x, axes, keepdims):
        return xp.max(x, axis=axes, keepdims=keepdims)

    def reduce_min(x, axes, keepdims):
        return xp.min(x, axis=axes, keepdims=keepdims)

    def reduce_any(x, axes, keepdims):
        return xp.any(x, axis=axes, keepdims=keepdims)

    def reduce_all(x, axes, keepdims):
        return xp.all(x, axis=axes, keepdims=keepdims)

    def argmax(x, axis, keepdims):
        return xp.argmax(x, axis=axis, keepdims=keepdims).astype(xp.int32)

    def argmin(x, axis, keepdims):
        return xp.argmin(x, axis=axis, keepdims=keepdims).astype(xp.int32)

    def _scan(fn, identity):
        def kernel(x, axis, reverse, exclusive):
            if reverse:
                x = xp.flip(x, axis)
            out = fn(x, axis=axis, dtype=x.dtype)
            if exclusive and x.shape[axis]:
                # Shift by one along the axis, the identity coming in first.
                first = xp.full_like(xp.take(out, [0], axis=axis), identity)
                rest = xp.take(out, xp.arange(x.shape[axis] - 1), axis=axis)
                out = xp.concatenate([first, rest], axis=axis)
            if reverse:
                out = xp.flip(out, axis)
            return out if out.flags.c_contiguous else xp.array(out, order="C")

        return kernel

    return {
        "reduce_sum": reduce_sum,
        "reduce_prod": reduce_prod,
        "reduce_l2": reduce_l2,
        "reduce_max": reduce_max,
        "reduce_min": reduce_min,
        "reduce_any": reduce_any,
        "reduce_all": reduce_all,
        "argmax": argmax,
        "argmin": argmin,
        "cumsum": _scan(xp.cumsum, 0),
        "cumprod": _scan(xp.cumprod, 1),
    }
