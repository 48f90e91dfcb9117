"""Creation kernels: tensors made from shapes and values, not from inputs."""

from __future__ import annotations

from nerve.backend.numpy_backend.elementwise import native_dtype


def kernels(xp) -> dict:
    def full(shape, value, dtype):
        return xp.full(shape, value, dtype=native_dtype(xp, dtype))

    def arange(start, stop, step, dtype):
        return xp.arange(start, stop, step, dtype=native_dtype(xp, dtype))

    def linspace(start, stop, num, endpoint, dtype):
        return xp.linspace(start, stop, num, endpoint=endpoint).astype(native_dtype(xp, dtype))

    def eye(rows, columns, k, dtype):
        return xp.eye(rows, columns, k, dtype=native_dtype(xp, dtype))

    return {"full": full, "arange": arange, "linspace": linspace, "eye": eye}
