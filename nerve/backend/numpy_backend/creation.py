"""Creation kernels: tensors made from shapes and values, not from inputs."""

from __future__ import annotations

from nerve.backend.numpy_backend.elementwise import native_dtype

__all__ = [
    "kernels",
]


def kernels(xp) -> dict:
    def full(shape, value, dtype):
        return xp.full(shape, value, dtype=native_dtype(xp, dtype))

    def arange(start, stop, step, dtype):
        return xp.arange(start, stop, step, dtype=native_dtype(xp, dtype))

    def linspace(start, stop, num, endpoint, dtype):
        out = xp.linspace(start, stop, num, endpoint=endpoint)
        if xp.dtype(native_dtype(xp, dtype)).kind in "iu":
            out = xp.floor(out)  # NumPy rounds toward -inf for integer dtypes, not toward 0
        return out.astype(native_dtype(xp, dtype))

    def eye(rows, columns, k, dtype):
        return xp.eye(rows, columns, k, dtype=native_dtype(xp, dtype))

    def tri(rows, columns, k, dtype):
        return xp.tri(rows, columns, k, dtype=native_dtype(xp, dtype))

    return {"full": full, "arange": arange, "linspace": linspace, "eye": eye, "tri": tri}
