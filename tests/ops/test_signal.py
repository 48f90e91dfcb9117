"""Fourier transforms, short-time transforms, framing, windows and I0: one table of rows
(NumPy/SciPy forward, finite differences, PyTorch's torch.fft / torch.stft / torch.istft),
then Keras's own results and errors."""

import math

import numpy as np
import pytest

import nerve
from nerve import ops
from nerve.core.errors import DTypeError
from nerve.testing.op_harness import Input, OpCase, T, op_tests

# -- references -------------------------------------------------------------------------------


def _pair(z):
    return np.real(z), np.imag(z)


def _torch_pair(z):
    return tuple(T.view_as_real(z).unbind(-1))


def _frames_reference(x, length, stride):
    count = max(0, 1 + (x.shape[-1] - length) // stride)
    return np.stack([x[..., i * stride : i * stride + length] for i in range(count)], axis=-2)


def _window_reference(window, sequence_length, fft_length):
    """The analysis window padded to fft_length; SciPy's periodic windows by name."""
    import scipy.signal

    if window is None:
        return np.ones(fft_length)
    if isinstance(window, str):
        window = scipy.signal.get_window(window, sequence_length)
    left = (fft_length - sequence_length) // 2
    return np.pad(np.asarray(window, float), (left, fft_length - sequence_length - left))


def _stft_reference(x, sequence_length, stride, fft_length, window, center):
    """A plain loop over frames: reflect-pad, window, rfft (no scaling)."""
    if center:
        half = fft_length // 2
        x = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(half, half)], mode="reflect")
    win = _window_reference(window, sequence_length, fft_length)
    return _pair(np.fft.rfft(_frames_reference(x, fft_length, stride) * win, axis=-1))


def _istft_reference(re, im, sequence_length, stride, fft_length, window, center, length=None):
    """Overlap-add of windowed inverse transforms, divided by the overlap-added squared
    window where that exceeds 1e-10 (a window of ones scaled by fft_length / stride)."""
    frames = np.fft.irfft(re + 1j * im, n=fft_length, axis=-1)
    win = _window_reference(window, sequence_length, fft_length)
    if window is None:
        frames = frames * (fft_length / stride)
    else:
        frames = frames * win
    count = frames.shape[-2]
    size = (count - 1) * stride + fft_length
    out = np.zeros((*frames.shape[:-2], size))
    norm = np.zeros(size)
    for i in range(count):
        out[..., i * stride : i * stride + fft_length] += frames[..., i, :]
        norm[i * stride : i * stride + fft_length] += win**2
    out = out / np.where(norm > 1e-10, norm, 1.0)
    start = fft_length // 2 if center else 0
    end = start + length if length is not None else (-(fft_length // 2) if center else None)
    return out[..., start:end]


def _torch_window(window, sequence_length):
    if window is None:
        return T.ones(sequence_length, dtype=T.float64)
    if isinstance(window, str):
        make = T.hann_window if window == "hann" else T.hamming_window
        return make(sequence_length, periodic=True, dtype=T.float64)
    return T.from_numpy(np.asarray(window, float))


def _torch_stft(x, sequence_length, stride, fft_length, window, center):
    z = T.stft(
        x, fft_length, hop_length=stride, win_length=sequence_length,
        window=_torch_window(window, sequence_length), center=center, pad_mode="reflect",
        normalized=False, onesided=True, return_complex=True,
    )  # fmt: skip
    return _torch_pair(z.transpose(-1, -2))  # torch puts frequencies before frames


def _torch_istft(re, im, sequence_length, stride, fft_length, window, center, length=None):
    z = T.complex(re, im).transpose(-1, -2)
    return T.istft(
        z, fft_length, hop_length=stride, win_length=sequence_length,
        window=_torch_window(window, sequence_length), center=center, length=length,
        onesided=True,
    )  # fmt: skip


def _z(re, im):
    """re + i im as a complex tensor of the parts' precision."""
    dtype = "complex128" if re.dtype == "float64" else "complex64"
    return ops.cast(re, dtype) + ops.cast(im, dtype) * 1j


def _pairs(*shapes):
    return [(Input(s), Input(s)) for s in shapes]


# -- the table --------------------------------------------------------------------------------

FFT_CASES = [
    OpCase(
        "fft",
        lambda re, im: ops.fft((re, im)),
        _pairs((8,), (2, 3, 5), (1,)),
        numpy=lambda re, im: _pair(np.fft.fft(re + 1j * im)),
        torch=lambda re, im: _torch_pair(T.fft.fft(T.complex(re, im))),
        grad2=True,
    ),
    OpCase(
        "fft2",
        lambda re, im: ops.fft2((re, im)),
        _pairs((4, 6), (2, 3, 5)),
        numpy=lambda re, im: _pair(np.fft.fft2(re + 1j * im)),
        torch=lambda re, im: _torch_pair(T.fft.fft2(T.complex(re, im))),
    ),
    OpCase(
        "ifft2",
        lambda re, im: ops.ifft2((re, im)),
        _pairs((4, 6), (2, 3, 5)),
        numpy=lambda re, im: _pair(np.fft.ifft2(re + 1j * im)),
        torch=lambda re, im: _torch_pair(T.fft.ifft2(T.complex(re, im))),
    ),
    *[
        OpCase(
            f"rfft_{label}",
            lambda x, n=n: ops.rfft(x, n),
            [(Input((8,)),), (Input((2, 3, 7)),)],
            numpy=lambda x, n=n: _pair(np.fft.rfft(x, n)),
            torch=lambda x, n=n: _torch_pair(T.fft.rfft(x, n)),
        )
        for label, n in (("default", None), ("cropped", 5), ("padded", 12))
    ],
    *[
        OpCase(
            f"irfft_{label}",
            lambda re, im, n=n: ops.irfft((re, im), n),
            _pairs((5,), (2, 3, 5)),
            numpy=lambda re, im, n=n: np.fft.irfft(re + 1j * im, n),
            torch=lambda re, im, n=n: T.fft.irfft(T.complex(re, im), n),
            grad2=n is None,
        )
        # default: n = 8; odd: no Nyquist term; cropped and padded spectra
        for label, n in (("default", None), ("odd", 9), ("cropped", 6), ("padded", 13), ("one", 1))
    ],
    OpCase(
        # The brief's example of a real loss through complex intermediates.
        "fft_power",
        lambda x: ops.sum(ops.abs(_z(*ops.fft((x, ops.zeros_like(x))))) ** 2, axis=-1),
        [(Input((8,)),), (Input((3, 5)),)],
        numpy=lambda x: np.sum(np.abs(np.fft.fft(x)) ** 2, axis=-1),
        torch=lambda x: (T.fft.fft(x).abs() ** 2).sum(-1),
        grad2=True,
    ),
]

# (sequence_length, sequence_stride, fft_length, window, center)
STFT_SETTINGS = {
    "hann": (16, 4, 16, "hann", True),
    "hamming_padded": (8, 3, 12, "hamming", True),  # stride not dividing the frame
    "uncentered": (8, 4, 8, "hann", False),
    "no_window": (8, 5, 8, None, True),
    "given_window": (6, 2, 9, np.linspace(0.2, 1.0, 6), True),
    # Centring pads 32 mirrored samples: all but one of the (2, 33) input's on each side.
    "reflect_whole": (64, 16, 64, "hann", True),
}

STFT_CASES = [
    OpCase(
        f"stft_{label}",
        lambda x, s=settings: ops.stft(x, *s),
        [(Input((40,)),), (Input((2, 33)),)],
        numpy=lambda x, s=settings: _stft_reference(x, *s),
        torch=lambda x, s=settings: _torch_stft(x, *s),
    )
    for label, settings in STFT_SETTINGS.items()
]


def _istft_case(label, settings, frames, length=None, torch=True):
    bins = settings[2] // 2 + 1
    return OpCase(
        f"istft_{label}",
        lambda re, im: ops.istft((re, im), *settings[:3], length, *settings[3:]),
        _pairs((frames, bins), (2, frames, bins)),
        numpy=lambda re, im: _istft_reference(re, im, *settings, length=length),
        torch=(lambda re, im: _torch_istft(re, im, *settings, length=length)) if torch else None,
    )


ISTFT_CASES = [
    _istft_case("hann", STFT_SETTINGS["hann"], 9),
    _istft_case("hamming_padded", STFT_SETTINGS["hamming_padded"], 10),
    _istft_case("length", STFT_SETTINGS["hann"], 9, length=30),
    # torch.istft refuses windows whose overlap-added square vanishes at an end
    # (uncentered Hann) and scales no window differently from Keras.
    _istft_case("uncentered", STFT_SETTINGS["uncentered"], 6, torch=False),
    _istft_case("no_window", STFT_SETTINGS["no_window"], 6, torch=False),
]

FRAME_CASES = [
    OpCase(
        f"extract_sequences_{length}_{stride}",
        lambda x, n=length, s=stride: ops.extract_sequences(x, n, s),
        [(Input((10,)),), (Input((3, 12)),)],
        numpy=lambda x, n=length, s=stride: _frames_reference(x, n, s),
        torch=lambda x, n=length, s=stride: x.unfold(-1, n, s),
    )
    for length, stride in ((3, 2), (4, 4), (5, 3), (2, 1))
]

WINDOW_CASES = [
    OpCase(
        f"{name}_{m}",
        lambda name=name, m=m: getattr(ops, name)(m),
        [()],
        numpy=lambda name=name, m=m: getattr(np, name)(m),
        grad=False,
        dtypes=("float32",),
    )
    for name in ("bartlett", "blackman", "hamming", "hanning")
    for m in (0, 1, 2, 7, 32)
] + [
    OpCase(
        f"kaiser_{m}",
        lambda m=m: ops.kaiser(m, 8.6),
        [()],
        numpy=lambda m=m: np.kaiser(m, 8.6),
        grad=False,
        dtypes=("float32",),
    )
    for m in (1, 6, 33)
]


def _i1(x):
    import scipy.special

    return scipy.special.i1(x)


I0_CASES = [
    OpCase(
        "i0",
        ops.i0,
        [(Input((3, 4), low=-4.0, high=4.0),)],
        numpy=np.i0,
        torch=lambda x: T.special.i0(x),
        grad2=True,
    ),
    OpCase(
        # I0's derivative, I1, as a forward pass (its own rule gives the second order).
        "i0_slope",
        lambda x: nerve.grad(lambda y: ops.sum(ops.i0(y)))(x),
        [(Input((3, 4), low=-4.0, high=4.0),), (Input((3,), low=0.0, high=0.0),)],
        numpy=_i1,
        torch=lambda x: T.special.i1(x),
        symbolic=False,  # a gradient taken with nerve.grad, not one op
    ),
]

CASES = FFT_CASES + STFT_CASES + ISTFT_CASES + FRAME_CASES + WINDOW_CASES + I0_CASES

globals().update(op_tests(CASES))


# -- Keras's results ------------------------------------------------------------------------------


def _keras():
    return pytest.importorskip("keras")


KERAS_CALLS = {
    "fft": lambda m, re, im: m.fft((re, im)),
    "fft2": lambda m, re, im: m.fft2((re, im)),
    "ifft2": lambda m, re, im: m.ifft2((re, im)),
    "rfft": lambda m, re, im: m.rfft(re, 6),
    "irfft": lambda m, re, im: m.irfft((re, im), 7),
    "stft": lambda m, re, im: m.stft(re.reshape(-1), 8, 3, 12, "hann", True),
    "stft_hamming": lambda m, re, im: m.stft(re, 4, 2, 4, "hamming", False),
    "istft": lambda m, re, im: m.istft((re, im), 8, 2, 8, window="hann", center=True),
    "istft_no_window": lambda m, re, im: m.istft((re, im), 8, 2, 8, length=9, window=None),
    "extract_sequences": lambda m, re, im: m.extract_sequences(re, 3, 2),
    "i0": lambda m, re, im: m.i0(re * 3),
    "kaiser": lambda m, re, im: m.kaiser(9, 5.0),
}


@pytest.mark.filterwarnings("ignore:NOLA condition failed")  # SciPy, inside Keras's istft
@pytest.mark.parametrize("name", sorted(KERAS_CALLS))
def test_matches_keras(name):
    keras = _keras()
    rng = np.random.default_rng(7)
    re, im = rng.standard_normal((2, 4, 5)), rng.standard_normal((2, 4, 5))
    ours = KERAS_CALLS[name](ops, re, im)
    theirs = KERAS_CALLS[name](keras.ops, re, im)
    ours, theirs = (ours, theirs) if isinstance(ours, tuple) else ((ours,), (theirs,))
    for a, b in zip(ours, theirs):
        b = keras.ops.convert_to_numpy(b)
        assert a.shape == b.shape
        np.testing.assert_allclose(a.numpy(), b, rtol=1e-5, atol=1e-5)


# -- errors (Keras's types and words) ------------------------------------------------------------

ERRORS = [
    (lambda: ops.fft(ops.ones((3,))), ValueError, "tuple of two tensors"),
    (lambda: ops.fft((ops.ones((3,)), ops.ones((4,)))), ValueError, "same shape"),
    (lambda: ops.fft((ops.ones((3,), "int32"), ops.ones((3,)))), ValueError, "not of type float"),
    (lambda: ops.fft((ops.ones(()), ops.ones(()))), ValueError, "rank >= 1"),
    (lambda: ops.fft2((ops.ones((3,)), ops.ones((3,)))), ValueError, "rank >= 2"),
    (lambda: ops.rfft(ops.ones(())), ValueError, "rank >= 1"),
    (lambda: ops.rfft(ops.ones((4,)), 0), ValueError, "fft_length"),
    (lambda: ops.irfft((ops.ones((1,)), ops.ones((1,)))), ValueError, "fft_length"),
    (lambda: ops.stft(ops.ones((16,)), 4, 0, 4), ValueError, "sequence_stride"),
    (lambda: ops.stft(ops.ones((16,), "int32"), 4, 2, 4), TypeError, "float32` or `float64"),
    (lambda: ops.stft(ops.ones((16,)), 8, 2, 4), ValueError, "fft_length` must equal or larger"),
    (lambda: ops.stft(ops.ones((16,)), 4, 2, 4, "kaiser"), ValueError, '"hann"'),
    (lambda: ops.stft(ops.ones((16,)), 4, 2, 4, np.ones(3)), ValueError, r"\[sequence_length\]"),
    (lambda: ops.istft((ops.ones((4,)), ops.ones((4,))), 4, 2, 4), ValueError, "rank >= 2"),
    (lambda: ops.istft(ops.ones((4, 3)), 4, 2, 4), ValueError, "tuple of two tensors"),
    (lambda: ops.extract_sequences(ops.ones(()), 2, 1), ValueError, "rank >= 1"),
    (lambda: ops.extract_sequences(ops.ones((5,)), 2, 0), ValueError, "sequence_stride"),
    (lambda: ops.i0(ops.cast(ops.ones((2,)), "complex64")), DTypeError, "real tensor"),
    (lambda: ops.hanning(ops.ones((2,))), ValueError, "scalar"),
]


@pytest.mark.parametrize("index", range(len(ERRORS)))
def test_errors(index):
    call, kind, words = ERRORS[index]
    with pytest.raises(kind, match=words):
        call()


# -- properties --------------------------------------------------------------------------------


@pytest.mark.parametrize("settings", list(STFT_SETTINGS.values())[:3], ids=list(STFT_SETTINGS)[:3])
def test_istft_inverts_stft(settings):
    sequence_length, stride, fft_length, window, center = settings
    x = np.random.default_rng(3).standard_normal((2, 64))
    re, im = ops.stft(x, *settings)
    back = ops.istft((re, im), sequence_length, stride, fft_length, 64, window, center)
    inner = slice(fft_length, -fft_length)  # the ends lack full overlap when uncentered
    np.testing.assert_allclose(back.numpy()[..., inner], x[..., inner], atol=1e-9)


def test_dtypes_follow_the_input():
    x32 = ops.ones((16,), "float32")
    assert [t.dtype for t in ops.rfft(x32)] == ["float32", "float32"]
    assert [t.dtype for t in ops.stft(ops.cast(x32, "float64"), 4, 2, 4)] == ["float64"] * 2
    assert ops.irfft(ops.rfft(ops.cast(x32, "float16"))).dtype == "float16"
    assert ops.rfft(ops.ones((4,), "int32"))[0].dtype == "float32"  # ints become floatx
    assert ops.i0(ops.ones((2,), "int64")).dtype == "float64"  # as Keras
    assert ops.i0(ops.ones((2,), "int8")).dtype == "float32"
    assert ops.hanning(ops.convert_to_tensor(4)).dtype == "float32"


def test_stft_of_a_tone_peaks_at_its_frequency():
    rate, tone = 64, 8  # Hz: bin 8 of a 64-point transform
    t = np.arange(4 * rate) / rate
    re, im = ops.stft(np.sin(2 * math.pi * tone * t), 64, 16, 64)
    magnitude = np.hypot(re.numpy(), im.numpy())
    assert (magnitude[2:-2].argmax(axis=-1) == tone).all()
