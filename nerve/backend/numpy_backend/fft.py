"""Discrete Fourier transform kernels.

On NumPy they run SciPy's ``scipy.fft`` when SciPy is installed (its pocketfft
transforms float32 in single precision, about twice as fast as ``numpy.fft`` on a
spectrogram's frames; the real transform calls pocketfft's entry point directly
where that checks out), else the array module's own ``fft`` package; the module is
resolved on first call, since importing SciPy costs more than all of nerve's import.
``rfft_parts`` of many float32 rows of a power-of-two length runs nerve's C loop
where the compiler targets AVX-512 (``native.spectral.rfft_function``: 16 rows per
vector, 2.2-2.8x pocketfft's speed with its parts copied out on a spectrogram's
frames), which writes the two real arrays directly; elsewhere the parts are copied
out of pocketfft's result.
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


def _direct_rfft(module: Any) -> Any:
    """pocketfft's real-input transform behind ``scipy.fft.rfft``, called directly, or
    ``None``. ``scipy.fft.rfft`` dispatches through SciPy's backend machinery and checks
    its arguments on every call (~15 us, a tenth of a spectrogram's transform); the
    entry point is SciPy's private one, so it is used only when it is there and gives
    exactly what the public function gives on a probe."""
    import numpy as np

    try:
        from scipy.fft._pocketfft import pypocketfft  # type: ignore[import-untyped]

        def direct(x: Any) -> Any:
            return pypocketfft.r2c(x, (x.ndim - 1,), True, 0, None, 1)

        for dtype in ("float32", "float64"):
            probe = np.linspace(-1.0, 2.0, 12, dtype=dtype).reshape(2, 6)
            expected, got = module.rfft(probe, axis=-1), direct(probe)
            if got.dtype != expected.dtype or not np.array_equal(got, expected):
                return None
    except Exception:  # another SciPy: its public function runs
        return None
    return direct


def kernels(xp) -> dict:
    resolved: list = []
    framing: list = []  # the frames kernel, made on first use
    native_spectral: Any = None
    if xp.__name__ == "numpy":
        from nerve.backend.numpy_backend.native import spectral as native_spectral

    def module() -> Any:
        if not resolved:
            resolved.append(_fft_module(xp))
            direct = _direct_rfft(resolved[0]) if resolved[0] is not xp.fft else None
            resolved.append(direct)
        return resolved[0]

    def fft(x, axes, inverse):
        transform = module().ifftn if inverse else module().fftn
        return transform(x, axes=axes).astype(x.dtype, copy=False)

    def rfft(x):
        transforms = module()
        direct = resolved[1]
        if direct is not None and x.dtype.char in "fd" and x.flags.c_contiguous:
            return direct(x)  # the input's precision: complex64 or complex128
        out = transforms.rfft(x, axis=-1)
        return out.astype(xp.complex128 if x.dtype == xp.float64 else xp.complex64, copy=False)

    def rfft_parts(x):
        native = native_spectral.rfft_function() if native_spectral is not None else None
        parts = native(x) if native is not None else None
        if parts is not None:
            return parts
        z = rfft(x)
        return z.real.copy(), z.imag.copy()

    def stft_parts(x, window, stride, pad):
        native = native_spectral.stft_function() if native_spectral is not None else None
        parts = native(x, window, stride, pad) if native is not None else None
        if parts is not None:
            return parts
        if not framing:
            from nerve.backend.numpy_backend import nn

            framing.append(nn.kernels(xp)["frames"])
        return rfft_parts(framing[0](x, window, stride, pad))

    def irfft(x, n):
        out = module().irfft(x, n=n, axis=-1)
        return out.astype(x.real.dtype, copy=False)

    return {"fft": fft, "rfft_parts": rfft_parts, "stft_parts": stft_parts, "irfft": irfft}
