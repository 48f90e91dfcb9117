"""Reduction and scan kernels. ``axes`` is a tuple; results keep the input dtype
(except ``any``/``all``, which give bool, and ``argmax``/``argmin``, int32).

The sums, products and extrema call their ufunc's ``reduce`` directly: ``np.sum`` and
``np.max`` are Python wrappers that look for array-like methods first, about 4 us a
call, which is most of the time of a reduction over a row of ten (a batch-1 softmax
spends two of its six kernels there). Same results: the wrappers end in the same call.
Float sums over the last axis of larger arrays run as a C loop in NumPy's pairwise
order (``native/row_sums.py``; the same bits, ~3x faster on rows of 128), and sums over
the leading axes of fewer than ``LEADING_SUM_MIN_ROWS`` rows (a dense layer's bias
gradient) as a C loop adding the rows in NumPy's order (``native/column_sums.py``; the
same bits, 1.5-4x faster).

A maximum or minimum over a few short axes that are not the last one (a pooling window,
``(n, h, 2, w, 2, c)`` over axes 2 and 4) is taken as elementwise ``maximum``/``minimum``
of the window's slices (``_fold_window``): NumPy's reduction walks such axes one
element at a time, 2-6x slower (a 2x2 max pooling of 26x26x32 floats: 57 us vs 28 us).
Extrema do not depend on the order they are taken in, so the values are the same.
"""

from __future__ import annotations

import math
from typing import Any

from nerve.backend.numpy_backend import linalg

__all__ = [
    "kernels",
]


#: Folding a window's slices pays from this many input elements (below it NumPy's
#: reduction is as fast: the fold's few calls cost a microsecond or two each) ...
FOLD_MIN_ELEMENTS = 8192
#: ... up to this many elements per window (each costs one pass over the result).
FOLD_MAX_WINDOW = 8


def _foldable(x, axes) -> bool:
    """Whether ``_fold_window`` is the faster way to reduce ``x`` over ``axes``."""
    if not axes or x.size < FOLD_MIN_ELEMENTS or x.ndim - 1 in axes:
        return False
    sizes = [x.shape[a] for a in axes]
    return min(sizes) >= 2 and math.prod(sizes) <= FOLD_MAX_WINDOW


def _fold_window(ufunc, x, axes, keepdims):
    """``ufunc.reduce`` over ``axes`` as ``ufunc`` of the slices along each axis (last
    axis first, so the earlier axes keep their positions). The first call allocates the
    result, so it is a fresh C-contiguous array as the reduction's would be."""
    result = x
    for axis in sorted(axes, reverse=True):
        parts = [(*(slice(None),) * axis, k) for k in range(result.shape[axis])]
        acc = ufunc(result[parts[0]], result[parts[1]])
        for part in parts[2:]:
            ufunc(acc, result[part], out=acc)
        result = acc
    if keepdims:
        result = result.reshape([1 if a in axes else n for a, n in enumerate(x.shape)])
    return result


#: Elements from which a float reduction that keeps the first axis is shared out by
#: slices of it among the cores a compiled run holds (``native.threads.held``).
SPLIT_REDUCE = 1 << 18

#: Elements from which a float sum over the last axis runs as the C loop
#: (``native/row_sums.py``: NumPy's order, the same bits). Below, a call of either
#: costs about the same (~1-2 us) and NumPy's needs no compiled library.
ROW_SUMS_FROM = 1024

#: A float sum over the leading axes of a C-contiguous array with at least this many
#: rows (a bias gradient: ``(batch, h, w, channels)`` over the first three) runs as a
#: product with a vector of ones, which BLAS streams: NumPy's reduction took 2.4x as
#: long (3.9 vs 1.7 ms over (128, 26, 26, 32) float32). Both add the rows one after
#: another, in float32 for float32, so the results agree to rounding.
LEADING_SUM_MIN_ROWS = 4096


def _leading_rows(x, axes) -> int:
    """The number of rows when ``x`` (C-contiguous, float32 or float64) is summed over
    its leading axes as a matrix of rows, else 0."""
    count = len(axes)
    if not 0 < count < x.ndim or x.dtype.char not in "fd" or axes != tuple(range(count)):
        return 0
    return math.prod(x.shape[:count]) if x.flags.c_contiguous else 0


def kernels(xp) -> dict:
    dot_all = linalg.flat_dot(xp)
    # The ufuncs' own reductions (see the module docstring); an array module without
    # them (CuPy before 13) uses its functions.
    threads: Any = None
    row_sums: Any = None  # the C sums over the last axis (``native/row_sums.py``)
    column_sums: Any = None  # ... and over the leading ones (``native/column_sums.py``)
    if xp.__name__ == "numpy":
        from nerve.backend.numpy_backend.native import threads
        from nerve.backend.numpy_backend.native.column_sums import (
            column_sums_function as column_sums,
        )
        from nerve.backend.numpy_backend.native.row_sums import row_sums_function as row_sums

    def _reduction(ufunc, function):
        reduce = getattr(ufunc, "reduce", None) or function
        if threads is None:
            return reduce

        def split(x, axis, keepdims, **kwargs):
            """``reduce``, by slices of the first axis on the cores a compiled run
            holds (``native.threads.held``) when that axis is kept and ``x`` is a
            large float array: each slice's elements are reduced in the same order,
            so the results are the same bits."""
            cores = threads.held() if x.size >= SPLIT_REDUCE and x.dtype.kind == "f" else 1
            if (
                cores < 2
                or not isinstance(axis, tuple)
                or not all(0 < a < x.ndim for a in axis)
                or x.shape[0] < 2
            ):
                return reduce(x, axis=axis, keepdims=keepdims, **kwargs)
            kept = [1 if a in axis else n for a, n in enumerate(x.shape)]
            if not keepdims:
                kept = [n for a, n in enumerate(x.shape) if a not in axis]
            out = xp.empty(kept, dtype=kwargs.get("dtype") or x.dtype)

            def part(lo: int, hi: int) -> None:
                reduce(x[lo:hi], axis=axis, keepdims=keepdims, out=out[lo:hi], **kwargs)

            threads.run_ranges(x.shape[0], cores, part)
            return out

        return split

    add, multiply = _reduction(xp.add, xp.sum), _reduction(xp.multiply, xp.prod)
    maximum, minimum = _reduction(xp.maximum, xp.max), _reduction(xp.minimum, xp.min)

    ones: dict = {}  # (rows, dtype) -> a read-only vector of ones
    product = linalg.products(xp)

    def reduce_sum(x, axes, keepdims):
        if row_sums is not None and axes == (x.ndim - 1,) and x.size >= ROW_SUMS_FROM:
            done = row_sums()(x, keepdims) if row_sums() is not None else None
            if done is not None:
                return done
        rows = _leading_rows(x, axes)
        if 0 < rows < LEADING_SUM_MIN_ROWS and column_sums is not None:
            done = column_sums()
            done = done(x.reshape(rows, -1), False) if done is not None else None
            if done is not None:
                kept = (1,) * len(axes) if keepdims else ()
                return done.reshape(kept + x.shape[len(axes) :])
        elif rows >= LEADING_SUM_MIN_ROWS:
            key = (rows, x.dtype.char)
            vector = ones.get(key)
            if vector is None:
                if len(ones) > 8:
                    ones.clear()
                vector = ones[key] = xp.ones(rows, dtype=x.dtype)
            # As a (1, rows) matrix: inside a compiled run holding several cores the
            # product is split over its rows (``linalg.products``).
            total = product(vector.reshape(1, rows), x.reshape(rows, -1))
            kept = (1,) * len(axes) if keepdims else ()
            return total.reshape(kept + x.shape[len(axes) :])
        return add(x, axis=axes, keepdims=keepdims, dtype=x.dtype)

    def reduce_prod(x, axes, keepdims):
        return multiply(x, axis=axes, keepdims=keepdims, dtype=x.dtype)

    def reduce_l2(x, axes, keepdims):
        dtype = x.dtype
        if dtype.itemsize < 4:  # float16, bfloat16: accumulate in float32
            return reduce_l2(x.astype(xp.float32), axes, keepdims).astype(dtype)
        if len(axes) == x.ndim:
            # Every axis: one dot product of the flat array (no squared temporary;
            # ``linalg.flat_dot``). The root of a float32 scalar is a float32 scalar.
            total = xp.asarray(xp.sqrt(dot_all(x, x)))
            return total.reshape((1,) * x.ndim) if keepdims else total
        return xp.sqrt(xp.sum(xp.square(x), axis=axes, keepdims=keepdims))

    def reduce_max(x, axes, keepdims):
        if _foldable(x, axes):
            return _fold_window(xp.maximum, x, axes, keepdims)
        return maximum(x, axis=axes, keepdims=keepdims)

    def reduce_min(x, axes, keepdims):
        if _foldable(x, axes):
            return _fold_window(xp.minimum, x, axes, keepdims)
        return minimum(x, axis=axes, keepdims=keepdims)

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
