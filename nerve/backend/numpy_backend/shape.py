"""Shape and data-movement kernels."""

from __future__ import annotations

from typing import Any

from nerve.backend.numpy_backend.elementwise import native_dtype

__all__ = [
    "kernels",
]


#: Elements from which a copy that a reshape needs is shared out among the cores a
#: compiled run holds (``native.threads.held``).
SPLIT_COPY = 1 << 18


def kernels(xp) -> dict:
    threads: Any = None
    if xp.__name__ == "numpy":
        from nerve.backend.numpy_backend.native import threads

    def reshape(x, shape):
        if threads is not None and x.size >= SPLIT_COPY and not x.flags.c_contiguous:
            cores = threads.held()
            if cores > 1 and x.shape[0] > 1:
                try:
                    return xp.reshape(x, shape, copy=False)
                except TypeError:  # NumPy < 2.1 has no ``copy``: one thread copies
                    pass
                except ValueError:  # the new shape needs a copy (im2col's patches)
                    return split_copy(x, cores).reshape(shape)
        return xp.reshape(x, shape)

    def split_copy(x, cores):
        """A C-contiguous copy of ``x`` made by ``cores`` threads, by its first axis
        (an image's patches for a convolution: 2.6 ms on one core for 128 images of
        13x13x288, 2026-12-06)."""
        out = xp.empty(x.shape, dtype=x.dtype)
        threads.run_ranges(x.shape[0], cores, lambda lo, hi: xp.copyto(out[lo:hi], x[lo:hi]))
        return out

    def transpose(x, axes):
        return xp.transpose(x, axes)

    def broadcast_to(x, shape):
        return xp.broadcast_to(x, shape)

    def concatenate(*xs, axis):
        return xp.concatenate(xs, axis=axis)

    # The index keys of each (axis, bounds) a split has used, made once: building them
    # took half of a split's time (an LSTM splits its gates once per time step).
    split_keys: dict[tuple, tuple] = {}

    def split(x, axis, bounds):
        # Views of x, as NumPy's split returns (the primitive is not declared fresh),
        # sliced directly: np.split's Python bookkeeping cost ~3x more.
        cache_key = (axis, tuple(bounds))
        keys = split_keys.get(cache_key)
        if keys is None:
            lead = (slice(None),) * axis
            # Keys built first: mypy reads x[(a, *b)] as Python 3.11's x[a, *b].
            keys = tuple((*lead, slice(lo, hi)) for lo, hi in zip(bounds[:-1], bounds[1:]))
            if len(split_keys) < 1024:  # bounds are static params: few distinct ones
                split_keys[cache_key] = keys
        return [x[key] for key in keys]

    def pad(x, pad_width, value):
        return xp.pad(x, pad_width, mode="constant", constant_values=value)

    def bitcast(x, dtype):
        # Another item size needs contiguous last-axis bytes (ascontiguousarray would
        # turn a 0-d array into a 1-d one, so those are viewed as they are).
        x = x if x.ndim == 0 else xp.ascontiguousarray(x)
        return x.view(native_dtype(xp, dtype))

    return {
        "bitcast": bitcast,
        "reshape": reshape,
        "transpose": transpose,
        "broadcast_to": broadcast_to,
        "concatenate": concatenate,
        "split": split,
        "pad": pad,
    }
