"""Discrete Fourier transform kernels.

On NumPy they run SciPy's ``scipy.fft`` when SciPy is installed (its pocketfft
transforms float32 in single precision, about twice as fast as ``numpy.fft`` on a
spectrogram's frames), else the array module's own ``fft`` package; the module is
resolved on first call, since importing SciPy costs more than all of nerve's import.
Results keep the input's precision.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "kernels",
]


def _fft_module(xp) -> Any:
    if xp.__name__ == "numpy":
        try:
            return importlib.import_module("scipy.fft")
        except ImportError:
            pass
    return xp.fft


def kernels(xp) -> dict:
    resolved: list = []

    def module() -> Any:
        if not resolved:
            resolved.append(_fft_module(xp))
        return resolved[0]

    def fft(x, axes, inverse):
        transform = module().ifftn if inverse else module().fftn
        return transform(x, axes=axes).astype(x.dtype, copy=False)

    def rfft(x):
        out = module().rfft(x, axis=-1)
        return out.astype(xp.complex128 if x.dtype == xp.float64 else xp.complex64, copy=False)

    def irfft(x, n):
        out = module().irfft(x, n=n, axis=-1)
        return out.astype(x.real.dtype, copy=False)

    return {"fft": fft, "rfft": rfft, "irfft": irfft}
