"""Signal processing: Fourier transforms, short-time transforms, framing and windows
(Keras's ``keras.ops`` names, arguments and errors).

As in Keras, the transforms take and return complex values as ``(real, imag)`` pairs
of real tensors; inside they run on complex tensors, so gradients flow through them:

>>> from nerve import ops
>>> re, im = ops.fft((ops.convert_to_tensor([1.0, 2.0]), ops.convert_to_tensor([0.0, 1.0])))
>>> re.numpy(), im.numpy()
(array([ 3., -1.], dtype=float32), array([ 1., -1.], dtype=float32))
>>> ops.irfft(ops.rfft(ops.arange(5.0)), 5).numpy().round(4)  # float32 round trip
array([0., 1., 2., 3., 4.], dtype=float32)
"""

from __future__ import annotations

import functools
import math
from typing import Any

from nerve.backend import backend_of
from nerve.core import config, dtypes
from nerve.core.errors import DTypeError, with_location
from nerve.ops._convert import cast, tensor, to_float
from nerve.primitives import elementwise as ew
from nerve.primitives import fft as fp
from nerve.primitives import indexing as ip
from nerve.primitives import nn as nnp
from nerve.primitives import shape as sp
from nerve.tensor import Tensor, _new_tensor

__all__ = [
    "bartlett",
    "blackman",
    "extract_sequences",
    "fft",
    "fft2",
    "hamming",
    "hanning",
    "i0",
    "ifft2",
    "irfft",
    "istft",
    "kaiser",
    "rfft",
    "stft",
]


# -- (real, imag) pairs <-> complex tensors -----------------------------------------------


def _complex_input(op: str, x: Any, min_rank: int) -> tuple[Tensor, str]:
    """The complex tensor of a ``(real, imag)`` pair, and the real dtype to answer in."""
    if not isinstance(x, (tuple, list)) or len(x) != 2:
        raise ValueError(
            with_location(
                f"{op}: Input `x` should be a tuple of two tensors - real and imaginary. "
                f"Received: x={x!r}"
            )
        )
    re, im = tensor(x[0]), tensor(x[1])
    if re.shape != im.shape:
        raise ValueError(
            with_location(
                f"{op}: Input `x` should be a tuple of two tensors - real and imaginary. "
                "Both the real and imaginary parts should have the same shape. Received: "
                f"x[0].shape = {tuple(re.shape)}, x[1].shape = {tuple(im.shape)}"
            )
        )
    if not (dtypes.is_float(re.dtype) and dtypes.is_float(im.dtype)):
        raise ValueError(
            with_location(
                f"{op}: At least one tensor in input `x` is not of type float. Received "
                f"dtypes {re.dtype} and {im.dtype}."
            )
        )
    _require_rank(op, re, min_rank)
    dtype = dtypes.result_type(re.dtype, im.dtype)
    work = dtype if dtype in ("float32", "float64") else "float32"
    return ew.complex_p.bind(cast(re, work), cast(im, work)), dtype


def _require_rank(op: str, x: Tensor, rank: int) -> None:
    if x.ndim < rank:
        raise ValueError(
            with_location(
                f"{op}: Input should have rank >= {rank}. Received: input.shape = {tuple(x.shape)}"
            )
        )


def _parts(z: Tensor, dtype: str) -> tuple[Tensor, Tensor]:
    re, im = ew.real_p.bind(z), ew.imag_p.bind(z)
    if re.dtype == dtype:
        return re, im
    return cast(re, dtype), cast(im, dtype)


def _resize_last(x: Tensor, size: int) -> Tensor:
    """``x`` cropped or zero-padded at the end of its last axis to ``size``."""
    n = x.shape[-1]
    if n > size:
        return x[..., :size]
    if n < size:
        from nerve.ops.shape import pad

        return pad(x, [(0, 0)] * (x.ndim - 1) + [(0, size - n)])
    return x


def _positive_int(op: str, name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(
            with_location(f"{op}: `{name}` must be a positive integer. Received: {name}={value!r}")
        )
    return value


# -- Fourier transforms ----------------------------------------------------------------------


def fft(x: Any) -> tuple[Tensor, Tensor]:
    """The discrete Fourier transform along the last axis of ``x = (real, imag)``; returns
    the ``(real, imag)`` parts of the result.

    >>> from nerve import ops
    >>> re, im = ops.fft((ops.convert_to_tensor([1.0, 2.0]), ops.convert_to_tensor([0.0, 1.0])))
    >>> re.numpy()
    array([ 3., -1.], dtype=float32)
    """
    z, dtype = _complex_input("fft", x, 1)
    return _parts(fp.fft_p.bind(z, axes=(z.ndim - 1,), inverse=False), dtype)


def fft2(x: Any) -> tuple[Tensor, Tensor]:
    """The 2-D discrete Fourier transform over the last two axes of ``x = (real, imag)``.

    >>> from nerve import ops
    >>> re, im = ops.fft2((ops.ones((2, 2)), ops.zeros((2, 2))))
    >>> re.numpy()
    array([[4., 0.],
           [0., 0.]], dtype=float32)
    """
    z, dtype = _complex_input("fft2", x, 2)
    return _parts(fp.fft_p.bind(z, axes=(z.ndim - 2, z.ndim - 1), inverse=False), dtype)


def ifft2(x: Any) -> tuple[Tensor, Tensor]:
    """The inverse 2-D discrete Fourier transform over the last two axes of
    ``x = (real, imag)`` (scaled by 1 / (m n), as NumPy's).

    >>> from nerve import ops
    >>> re, im = ops.ifft2((ops.ones((2, 2)), ops.zeros((2, 2))))
    >>> re.numpy()
    array([[1., 0.],
           [0., 0.]], dtype=float32)
    """
    z, dtype = _complex_input("ifft2", x, 2)
    return _parts(fp.fft_p.bind(z, axes=(z.ndim - 2, z.ndim - 1), inverse=True), dtype)


def rfft(x: Any, fft_length: int | None = None) -> tuple[Tensor, Tensor]:
    """The Fourier transform of a real signal along its last axis: the
    ``fft_length // 2 + 1`` non-negative frequencies, as ``(real, imag)``. The signal is
    cropped or zero-padded to ``fft_length`` (default: its length) first.

    >>> from nerve import ops
    >>> re, im = ops.rfft(ops.convert_to_tensor([0.0, 1.0, 2.0, 3.0, 4.0]))
    >>> re.numpy()
    array([10. , -2.5, -2.5], dtype=float32)
    """
    x = to_float(x)
    if dtypes.is_complex(x.dtype):
        raise DTypeError(with_location(f"rfft: needs a real tensor, got {x.dtype}."))
    _require_rank("rfft", x, 1)
    dtype = x.dtype
    n = x.shape[-1] if fft_length is None else _positive_int("rfft", "fft_length", fft_length)
    signal = _resize_last(x, n)
    if dtype not in ("float32", "float64"):
        signal = cast(signal, "float32")
    re, im = fp.rfft_parts_p.bind(signal)
    return (re, im) if re.dtype == dtype else (cast(re, dtype), cast(im, dtype))


def irfft(x: Any, fft_length: int | None = None) -> Tensor:
    """The inverse of ``rfft``: ``fft_length`` real samples (default ``2 * (m - 1)`` for
    ``m`` frequencies) from the non-negative frequencies ``x = (real, imag)``, which are
    cropped or zero-padded to ``fft_length // 2 + 1`` first. Give ``fft_length`` for an
    odd length: it cannot be inferred.

    >>> from nerve import ops
    >>> ops.irfft((ops.convert_to_tensor([4.0, 0.0, 0.0]), ops.zeros((3,)))).numpy()
    array([1., 1., 1., 1.], dtype=float32)
    """
    z, dtype = _complex_input("irfft", x, 1)
    if fft_length is None:
        n = 2 * (z.shape[-1] - 1)
        if n <= 0:
            raise ValueError(
                with_location(
                    f"irfft: cannot infer fft_length from {z.shape[-1]} frequencies; "
                    "pass fft_length."
                )
            )
    else:
        n = _positive_int("irfft", "fft_length", fft_length)
    return cast(fp.irfft_p.bind(_resize_last(z, n // 2 + 1), n=n), dtype)


# -- framing and short-time transforms -----------------------------------------------------


def extract_sequences(x: Any, sequence_length: int, sequence_stride: int) -> Tensor:
    """Frames of the last axis of ``x``: ``1 + (n - sequence_length) // sequence_stride``
    windows of ``sequence_length`` samples, ``sequence_stride`` apart; the last axis
    becomes ``(num_sequences, sequence_length)``.

    >>> from nerve import ops
    >>> ops.extract_sequences(ops.convert_to_tensor([1, 2, 3, 4, 5, 6]), 3, 2).numpy()
    array([[1, 2, 3],
           [3, 4, 5]], dtype=int32)
    """
    x = tensor(x)
    _require_rank("extract_sequences", x, 1)
    length = _positive_int("extract_sequences", "sequence_length", sequence_length)
    stride = _positive_int("extract_sequences", "sequence_stride", sequence_stride)
    return _frames(x, length, stride)


def _last_slice(x: Tensor, start: int | None, stop: int | None, step: int | None = None):
    """``x[..., start:stop:step]``, bound as one primitive (the op layer's indexing
    parses a general key: ~10x the cost of the view itself)."""
    return ip.getitem(x, ip.along(x.ndim - 1, ("slice", start, stop, step)))


def _frames(x: Tensor, length: int, stride: int) -> Tensor:
    """Frames of ``length`` samples every ``stride`` along the last axis, by slices: with
    ``r = ceil(length / stride)``, the signal from ``j * stride`` on, cut into rows of
    ``stride`` samples, holds piece ``j`` of every frame (row ``i``: samples
    ``i * stride + j * stride ...``); the ``r`` pieces side by side are the frames. That
    is ``r`` slices and one concatenation however many frames, all views until the
    concatenation, and the gradient is as few scatters. Primitives are bound directly:
    an STFT is a dozen of them, and the op layer's conversions would cost more than
    the copies."""
    n = x.shape[-1]
    count = max(0, 1 + (n - length) // stride)
    batch = tuple(x.shape[:-1])
    if stride > length or count == 0:
        # Rows of `stride` samples, cropped to `length` (zero-padded at the end so the
        # last row exists; the padding never reaches a frame).
        rows = sp.reshape(_resize_last(x, count * stride), (*batch, count, stride))
        return _last_slice(rows, None, length)
    r = -(-length // stride)
    tail = length - (r - 1) * stride  # samples of the last piece, in (0, stride]

    def rows_from(start: int) -> Tensor:
        return sp.reshape(_last_slice(x, start, start + count * stride), (*batch, count, stride))

    pieces = [rows_from(j * stride) for j in range(r - 1)]
    # The last piece ends each row that starts at length - stride (inside the signal).
    last = rows_from(length - stride)
    pieces.append(last if tail == stride else _last_slice(last, stride - tail, None))
    return sp.concatenate(pieces, axis=len(batch) + 1)


def _overlap_add(frames: Tensor, stride: int) -> Tensor:
    """The sum of ``frames`` (..., count, length) placed ``stride`` apart, with
    (count - 1) * stride + length samples."""
    count, length = frames.shape[-2:]
    size = (count - 1) * stride + length if count else 0
    return nnp.overlap_add_p.bind(frames, stride=stride, size=size)


def _reflect_pad(x: Tensor, width: int) -> Tensor:
    """``x`` mirrored at both ends of its last axis, edges excluded (NumPy's "reflect"),
    by two reversed slices where the signal is long enough."""
    from nerve.ops.shape import pad

    n = x.shape[-1]
    if width == 0:
        return x
    if width >= n:
        return pad(x, [(0, 0)] * (x.ndim - 1) + [(width, width)], mode="reflect")
    left = _last_slice(x, width, 0, -1)
    stop = n - 2 - width  # -1 would wrap to the end: run to the start instead
    right = _last_slice(x, n - 2, stop if stop >= 0 else None, -1)
    return sp.concatenate([left, x, right], axis=x.ndim - 1)


@functools.lru_cache(maxsize=64)
def _named_window(backend: Any, name: str, length: int, left: int, right: int, dtype: str):
    """SciPy's ``get_window(name, length)`` (the periodic form, ``a - (1 - a)
    cos(2 pi k / length)``; ``"ones"``: no window) with ``left`` and ``right`` zeros, as an array of
    ``backend``: made once per backend and settings, since an STFT is usually taken
    many times with one window."""
    a = {"hann": 0.5, "hamming": 0.54, "ones": 1.0}[name]
    step = 2 * math.pi / length
    samples = [a - (1 - a) * math.cos(k * step) for k in range(length)]
    return backend.asarray([0.0] * left + samples + [0.0] * right, dtype)


def _stft_window(
    op: str, window: Any, sequence_length: int, fft_length: int, like: Tensor
) -> Tensor | None:
    """The window as a tensor of ``fft_length`` samples (centred, zero-padded) of
    ``like``'s dtype and device, or ``None`` for no window."""
    from nerve.ops.shape import pad

    dtype = dtypes.real_dtype(like.dtype)
    if window is None:
        return None
    left = (fft_length - sequence_length) // 2
    right = fft_length - sequence_length - left
    if isinstance(window, str):
        if window not in ("hann", "hamming"):
            raise ValueError(
                with_location(
                    f'{op}: If a string is passed to `window`, it must be one of `"hann"`, '
                    f'`"hamming"`. Received: window={window}'
                )
            )
        backend = backend_of(like._value)
        return _new_tensor(_named_window(backend, window, sequence_length, left, right, dtype))
    win = cast(tensor(window), dtype)
    if win.ndim != 1 or win.shape[-1] != sequence_length:
        raise ValueError(
            with_location(
                f"{op}: The shape of `window` must be equal to [sequence_length]. "
                f"Received: window shape={tuple(win.shape)}"
            )
        )
    return pad(win, [(left, right)])


def stft(
    x: Any,
    sequence_length: int,
    sequence_stride: int,
    fft_length: int,
    window: Any = "hann",
    center: bool = True,
) -> tuple[Tensor, Tensor]:
    """The short-time Fourier transform along the last axis: frames of
    ``sequence_length`` samples every ``sequence_stride``, windowed (``"hann"``,
    ``"hamming"``, a tensor of ``sequence_length`` samples, or ``None``), zero-padded to
    ``fft_length`` on both sides, transformed by ``rfft``. With ``center`` the signal is
    first padded by ``fft_length // 2`` mirrored samples at each end, so frame ``t`` is
    centred at ``t * sequence_stride``. Returns ``(real, imag)`` of shape
    ``(..., num_sequences, fft_length // 2 + 1)``.

    >>> from nerve import ops
    >>> re, im = ops.stft(ops.convert_to_tensor([0.0, 1.0, 2.0, 3.0, 4.0]), 3, 2, 3)
    >>> re.numpy()
    array([[ 0.75 , -0.375],
           [ 3.75 , -1.875],
           [ 5.25 , -2.625]], dtype=float32)
    """
    _positive_int("stft", "sequence_stride", sequence_stride)
    x = tensor(x)
    if x.dtype not in ("float32", "float64"):
        raise TypeError(
            with_location(
                "stft: Invalid input type. Expected `float32` or `float64`. Received: "
                f"input type={x.dtype}"
            )
        )
    _require_rank("stft", x, 1)
    if fft_length < sequence_length:
        raise ValueError(
            with_location(
                "stft: `fft_length` must equal or larger than `sequence_length`. Received: "
                f"sequence_length={sequence_length}, fft_length={fft_length}"
            )
        )
    win = _stft_window("stft", window, sequence_length, fft_length, x)
    if win is None:
        win = _new_tensor(_named_window(backend_of(x._value), "ones", fft_length, 0, 0, x.dtype))
    pad = fft_length // 2 if center else 0
    if pad >= x.shape[-1]:  # mirrored more than once: NumPy's rule, composed
        x, pad = _reflect_pad(x, pad), 0
    # Padding, framing, windowing and the transform in one primitive: a backend need
    # not write the windowed frames.
    re, im = fp.stft_parts_p.bind(x, win, stride=sequence_stride, pad=pad)
    return re, im


def istft(
    x: Any,
    sequence_length: int,
    sequence_stride: int,
    fft_length: int,
    length: int | None = None,
    window: Any = "hann",
    center: bool = True,
) -> Tensor:
    """The inverse of ``stft``: each frame's ``irfft``, windowed, overlap-added and
    divided by the overlap-added squared window (where that is above 1e-10), then the
    ``center`` padding removed and the result cut to ``length`` when given. Pass the
    arguments ``stft`` was given.

    >>> from nerve import ops
    >>> signal = ops.convert_to_tensor([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0])
    >>> ops.round(ops.istft(ops.stft(signal, 4, 1, 4), 4, 1, 4)).numpy()
    array([0., 1., 2., 3., 4., 5., 6., 7.], dtype=float32)
    """
    from nerve.ops.creation import ones
    from nerve.ops.elementwise import divide, greater, where

    _positive_int("istft", "sequence_stride", sequence_stride)
    z, dtype = _complex_input("istft", x, 2)
    real_dtype = dtypes.real_dtype(z.dtype)
    count = z.shape[-2]
    frames = fp.irfft_p.bind(_resize_last(z, fft_length // 2 + 1), n=fft_length)
    win = _stft_window("istft", window, sequence_length, fft_length, z)
    if win is None:
        # Keras's reference scales a window of ones by fft_length / sequence_stride.
        win_sq = ones((fft_length,), dtype=real_dtype)
        frames = frames * (fft_length / sequence_stride)
    else:
        frames = frames * win
        win_sq = win * win
    signal = _overlap_add(frames, sequence_stride)
    norm = _overlap_add(ew.mul(win_sq, ones((count, fft_length), dtype=real_dtype)),
                        sequence_stride)  # fmt: skip
    signal = divide(signal, where(greater(norm, 1e-10), norm, 1.0))
    start = fft_length // 2 if center else 0
    if length is not None:
        end: int | None = start + length
    elif center:
        end = -(fft_length // 2)
    else:
        end = None
    return cast(signal[..., start:end], dtype)


# -- windows and Bessel's I0 -------------------------------------------------------------------


def _window_length(op: str, x: Any) -> int:
    if isinstance(x, Tensor):
        if x.ndim != 0:
            raise ValueError(with_location(f"{op}: the window length must be a scalar."))
        x = x.item()
    try:
        return int(x)
    except (TypeError, ValueError):
        raise TypeError(
            with_location(f"{op}: the window length must be an integer, got {x!r}.")
        ) from None


def _symmetric_positions(op: str, x: Any) -> tuple[Tensor, int]:
    """Positions ``(1 - M, 3 - M, ..., M - 1) / (M - 1)`` in float64 (NumPy's windows
    over them), and M."""
    from nerve.ops.creation import arange

    m = _window_length(op, x)
    if m <= 1:
        return arange(max(m, 0), dtype="float64"), m
    return arange(1 - m, m, 2, dtype="float64") / (m - 1), m


def _cosine_window(op: str, x: Any, coefficients: tuple) -> Tensor:
    """sum_k a_k cos(k pi t) over the symmetric positions t (1 at the centre)."""
    from nerve.ops.creation import ones
    from nerve.ops.elementwise import cos

    t, m = _symmetric_positions(op, x)
    if m <= 1:
        return ones((max(m, 0),), dtype=config.floatx())
    total = None
    for k, a in enumerate(coefficients):
        term = a * cos(t * (k * math.pi)) if k else ones((m,), dtype="float64") * a
        total = term if total is None else total + term
    return cast(total, config.floatx())


def bartlett(x: Any) -> Tensor:
    """The Bartlett (triangular) window of ``x`` samples, as NumPy's, in floatx.

    >>> from nerve import ops
    >>> ops.bartlett(5).numpy()
    array([0. , 0.5, 1. , 0.5, 0. ], dtype=float32)
    """
    from nerve.ops.creation import ones

    t, m = _symmetric_positions("bartlett", x)
    if m <= 1:
        return ones((max(m, 0),), dtype=config.floatx())
    from nerve.ops.elementwise import abs as absolute

    return cast(1 - absolute(t), config.floatx())


def blackman(x: Any) -> Tensor:
    """The Blackman window of ``x`` samples, as NumPy's, in floatx.

    >>> from nerve import ops
    >>> ops.round(ops.blackman(3) * 100).numpy()
    array([ -0., 100.,  -0.], dtype=float32)
    """
    return _cosine_window("blackman", x, (0.42, 0.5, 0.08))


def hamming(x: Any) -> Tensor:
    """The Hamming window of ``x`` samples, ``0.54 - 0.46 cos(2 pi n / (M - 1))``, in floatx.

    >>> from nerve import ops
    >>> ops.hamming(5).numpy()
    array([0.08, 0.54, 1.  , 0.54, 0.08], dtype=float32)
    """
    return _cosine_window("hamming", x, (0.54, 0.46))


def hanning(x: Any) -> Tensor:
    """The Hann window of ``x`` samples, ``0.5 - 0.5 cos(2 pi n / (M - 1))``, in floatx.

    >>> from nerve import ops
    >>> ops.hanning(5).numpy()
    array([0. , 0.5, 1. , 0.5, 0. ], dtype=float32)
    """
    return _cosine_window("hanning", x, (0.5, 0.5))


def kaiser(x: Any, beta: Any) -> Tensor:
    """The Kaiser window of ``x`` samples with shape parameter ``beta``,
    ``I0(beta sqrt(1 - t^2)) / I0(beta)`` over the symmetric positions t, in floatx.

    >>> from nerve import ops
    >>> ops.kaiser(3, 0.0).numpy()
    array([1., 1., 1.], dtype=float32)
    """
    from nerve.ops.creation import ones
    from nerve.ops.elementwise import sqrt

    t, m = _symmetric_positions("kaiser", x)
    if m <= 1:
        return ones((max(m, 0),), dtype=config.floatx())
    from nerve.ops.creation import full

    b = float(beta.item() if isinstance(beta, Tensor) else beta)
    # 1 - t^2 can round to a hair below 0 at the ends.
    inside = sqrt(_clip_at_zero(1 - t * t))
    peak = ew.i0_p.bind(full((), b, dtype="float64"))
    return cast(ew.i0_p.bind(inside * b) / peak, config.floatx())


def _clip_at_zero(x: Tensor) -> Tensor:
    from nerve.ops.elementwise import maximum

    return maximum(x, 0.0)


def i0(x: Any) -> Tensor:
    """The modified Bessel function of the first kind of order 0, elementwise. Integers
    and bools give floatx (int64 gives float64), as in Keras.

    >>> from nerve import ops
    >>> ops.i0(ops.convert_to_tensor([0.0, 1.0])).numpy()
    array([1.       , 1.2660658], dtype=float32)
    """
    x = tensor(x)
    if x.dtype == "int64":
        x = cast(x, "float64")
    elif not dtypes.is_float(x.dtype):
        if dtypes.is_complex(x.dtype):
            raise DTypeError(with_location(f"i0: needs a real tensor, got {x.dtype}."))
        x = cast(x, config.floatx())
    return ew.i0_p.bind(x)
