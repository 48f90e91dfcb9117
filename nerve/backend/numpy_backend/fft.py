"""Discrete Fourier transform kernels (the array module's ``fft`` package).

Results keep the input's precision: NumPy's pocketfft computes complex64 in single
precision, and an array module that widens gets its result narrowed back.
"""

from __future__ import annotations

__all__ = [
    "kernels",
]


def kernels(xp) -> dict:
    def fft(x, axes, inverse):
        transform = xp.fft.ifftn if inverse else xp.fft.fftn
        return transform(x, axes=axes).astype(x.dtype, copy=False)

    def rfft(x):
        out = xp.fft.rfft(x, axis=-1)
        return out.astype(xp.complex128 if x.dtype == xp.float64 else xp.complex64, copy=False)

    def irfft(x, n):
        out = xp.fft.irfft(x, n=n, axis=-1)
        return out.astype(x.real.dtype, copy=False)

    return {"fft": fft, "rfft": rfft, "irfft": irfft}
