"""Discrete Fourier transforms: one registration block each.

``fft`` maps complex to complex over ``axes``; ``rfft_parts`` maps a real signal's
last axis of length n to its n // 2 + 1 non-negative frequencies, as two real arrays,
the real and imaginary parts (what Keras's ``rfft`` and ``stft`` return: a backend
writes them straight from its transform, where a complex result had its parts
copied out, ~10 us of a spectrogram's 80); ``irfft`` maps complex frequencies back
to n real samples. The ``nerve.ops`` layer crops or zero-pads to the FFT
length first, so the rules here see exactly the sizes they transform.

Cotangents of complex values follow JAX (see ``elementwise``): a transform's rule is
its transpose. The DFT matrix is symmetric, so the transpose of ``fft`` is ``fft``
itself (and of the inverse transform, the inverse transform).
"""

from __future__ import annotations

from nerve.core import dtypes
from nerve.core.errors import DTypeError, ShapeError, with_location
from nerve.primitives import elementwise as ew
from nerve.primitives import nn
from nerve.primitives.registry import Aval, Primitive
from nerve.primitives.shape import concatenate, pad_p, split

__all__ = [
    "fft_p",
    "irfft_p",
    "rfft_parts_p",
    "stft_parts_p",
]


def _require(op: str, x: Aval, kind: str) -> None:
    ok = dtypes.is_complex(x.dtype) if kind == "complex" else x.dtype in ("float32", "float64")
    if not ok:
        expected = "complex64 or complex128" if kind == "complex" else "float32 or float64"
        raise DTypeError(with_location(f"{op}: needs a {expected} tensor, got {x.dtype}."))


def _fft_rule(x: Aval, *, axes: tuple, inverse: bool) -> Aval:
    _require("fft", x, "complex")
    if any(not 0 <= a < len(x.shape) for a in axes):
        raise ShapeError(with_location(f"fft: axes {axes} out of range for shape {x.shape}."))
    return Aval(tuple(x.shape), x.dtype)


fft_p: Primitive = Primitive(
    "fft",
    shape_rule=_fft_rule,
    vjp=lambda g, inputs, out, needs, axes, inverse: (fft_p.bind(g, axes=axes, inverse=inverse),),
    fresh=True,
)


def _rfft_parts_rule(x: Aval) -> tuple[Aval, Aval]:
    _require("rfft", x, "real")
    if not x.shape:
        raise ShapeError(with_location("rfft: needs a tensor of rank >= 1, got a scalar."))
    shape = (*x.shape[:-1], x.shape[-1] // 2 + 1)
    return Aval(shape, x.dtype), Aval(shape, x.dtype)


def _rfft_parts_vjp(g, inputs, out, needs):
    return (_rfft_parts_transpose(g, inputs[0].shape[-1]),)


def _rfft_parts_transpose(g, n: int):
    """The cotangent of n-sample rows from that of their ``rfft_parts`` ``g``."""
    # y = R x with R the first n // 2 + 1 rows of the (symmetric) DFT matrix F, and
    # (re, im) = (Re y, Im y): y's cotangent is g_re - i g_im (real_p's and imag_p's
    # rules), and R^T c = F [c; 0]; a real input takes the real part of its cotangent.
    g_real, g_imag = g
    cotangent = ew.complex_p.bind(g_real, ew.neg(g_imag))
    axis = len(cotangent.shape) - 1
    m = cotangent.shape[axis]
    width = ((0, 0),) * axis + ((0, n - m),)
    full = pad_p.bind(cotangent, pad_width=width, value=0) if n > m else cotangent
    return ew.real_p.bind(fft_p.bind(full, axes=(axis,), inverse=False))


rfft_parts_p: Primitive = Primitive(
    "rfft_parts",
    shape_rule=_rfft_parts_rule,
    vjp=_rfft_parts_vjp,
    multiple_results=True,
    fresh=True,
)


def _stft_parts_rule(x: Aval, window: Aval, *, stride: int, pad: int) -> tuple[Aval, Aval]:
    return _rfft_parts_rule(nn._frames_rule(x, window, stride=stride, pad=pad))


def _stft_parts_vjp(g, inputs, out, needs, stride, pad):
    g_frames = _rfft_parts_transpose(g, inputs[1].shape[0])
    return nn._frames_vjp(g_frames, inputs, None, needs, stride=stride, pad=pad)


#: ``rfft_parts`` of ``frames(x, window, stride, pad)`` (see ``nn.frames_p``) in one
#: primitive: a backend may transform each windowed frame as it reads it, without
#: writing the frames (on the Xeon, ~9 us of writing and reading back a second of
#: speech's 101 frames of 512, and one dispatch); its rules are the two primitives'
#: composed.
stft_parts_p: Primitive = Primitive(
    "stft_parts",
    shape_rule=_stft_parts_rule,
    vjp=_stft_parts_vjp,
    multiple_results=True,
    fresh=True,
)


def _irfft_rule(x: Aval, *, n: int) -> Aval:
    _require("irfft", x, "complex")
    if not x.shape or x.shape[-1] != n // 2 + 1:
        raise ShapeError(
            with_location(
                f"irfft: a length-{n} transform takes {n // 2 + 1} frequencies on the last "
                f"axis, got shape {x.shape}."
            )
        )
    return Aval((*x.shape[:-1], n), dtypes.real_dtype(x.dtype))


def _irfft_vjp(g, inputs, out, needs, n):
    # x_j = (1/n) [Re y_0 + 2 sum_{0<k<n/2} Re(y_k w^jk) + Re(y_{n/2}) (-1)^j], w = e^{2 pi i/n}
    # (the last term for even n only; imaginary parts of y_0 and y_{n/2} are ignored).
    # Its cotangent: conj(rfft(g)) / n, doubled for the terms counted twice.
    g_real, g_imag = rfft_parts_p.bind(g)
    spectrum = ew.complex_p.bind(g_real, ew.neg(g_imag))
    m = n // 2 + 1
    if m == 1:
        return (ew.mul(spectrum, ew.scalar(1 / n, spectrum)),)
    doubled = ew.mul(spectrum, ew.scalar(2 / n, spectrum))
    axis = len(g.shape) - 1
    single_last = n % 2 == 0
    inner_end = m - 1 if single_last else m
    bounds = (0, 1, inner_end, m) if single_last and inner_end > 1 else (0, 1, m)
    pieces = split(doubled, axis, bounds)
    half = ew.scalar(0.5, spectrum)
    pieces[0] = ew.mul(pieces[0], half)
    if single_last:
        pieces[-1] = ew.mul(pieces[-1], half)
    return (concatenate(pieces, axis),)


irfft_p: Primitive = Primitive("irfft", shape_rule=_irfft_rule, vjp=_irfft_vjp, fresh=True)
