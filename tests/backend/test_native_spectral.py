"""The C loops for short-time transforms (windowed framing with reflection padding,
and the parts of complex arrays) agree with the NumPy kernels they replace, forward
and backward, in every dtype they take."""

import threading
import time

import numpy as np
import pytest

import nerve
from nerve import ops
from nerve.backend.numpy_backend.native import spectral, threads


@pytest.fixture
def numpy_kernels(monkeypatch):
    """Native kernels off for the duration of a test."""
    monkeypatch.setenv("NERVE_NATIVE", "0")
    spectral._functions.cache_clear()
    yield
    monkeypatch.undo()
    spectral._functions.cache_clear()


def _stft_and_gradient(x, center):
    x = ops.convert_to_tensor(x)
    with nerve.GradientTape() as tape:
        tape.watch(x)
        re, im = ops.stft(x, sequence_length=24, sequence_stride=10, fft_length=32, center=center)
        loss = ops.sum(re * ops.cos(im))
    return re.numpy(), im.numpy(), tape.gradient(loss, x).numpy()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape, center", [((3, 5000), True), ((200,), False), ((2, 40), True)])
def test_c_and_numpy_stft_agree(request, dtype, shape, center):
    if spectral.frames_function() is None:
        pytest.skip("no C compiler: only the NumPy kernels run here")
    x = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    native = _stft_and_gradient(x, center)
    request.getfixturevalue("numpy_kernels")
    assert spectral.frames_function() is None
    numpy = _stft_and_gradient(x, center)
    tolerance = 1e-5 if dtype == "float32" else 1e-12
    for a, b in zip(native, numpy):
        np.testing.assert_allclose(a, b, rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize("dtype", ["complex64", "complex128"])
def test_c_parts_of_complex_arrays_are_numpys(dtype):
    part = spectral.part_function()
    if part is None:
        pytest.skip("no C compiler: only the NumPy kernels run here")
    rng = np.random.default_rng(1)
    z = (rng.standard_normal((70, 90)) + 1j * rng.standard_normal((70, 90))).astype(dtype)
    np.testing.assert_array_equal(part(z, False), z.real)
    np.testing.assert_array_equal(part(z, True), z.imag)
    # Through the real/imag kernels (large and contiguous: the C loop), and strided.
    tensor = ops.convert_to_tensor(z)
    np.testing.assert_array_equal(ops.real(tensor).numpy(), z.real)
    np.testing.assert_array_equal(ops.imag(tensor[:, ::2]).numpy(), z[:, ::2].imag)
    assert part(z.real.copy(), False) is None  # no loop for a real dtype


def _rfft_or_skip():
    rfft = spectral.rfft_function()
    if rfft is None:
        pytest.skip("no C compiler targeting AVX-512: pocketfft runs every rfft here")
    return rfft


@pytest.mark.parametrize("shape", [(16, 128), (17, 256), (101, 512), (2, 20, 256)])
def test_c_rfft_matches_a_float64_transform(shape):
    rfft = _rfft_or_skip()
    x = np.random.default_rng(2).standard_normal(shape).astype("float32")
    re, im = rfft(x)
    expected = np.fft.rfft(x.astype("float64"), axis=-1)
    assert re.dtype == im.dtype == np.float32 and re.shape == im.shape == expected.shape
    assert re.flags.c_contiguous and im.flags.c_contiguous
    # Single-precision rounding over log2(n) stages, as pocketfft's float32 transform.
    scale = np.abs(expected).max()
    np.testing.assert_allclose(re, expected.real, rtol=0, atol=1e-6 * scale)
    np.testing.assert_allclose(im, expected.imag, rtol=0, atol=1e-6 * scale)


@pytest.mark.parametrize("n", sorted(spectral.RFFT_LENGTHS))
@pytest.mark.parametrize("rows", [16, 17, 31, 32, 33, 40, 47])
def test_c_rfft_of_every_length_and_partial_block(n, rows):
    """Every compiled length, whole blocks of 16 rows and a last one of 1 to 15 rows
    (its lanes past the last row repeat it and are never stored)."""
    rfft = _rfft_or_skip()
    x = np.random.default_rng(rows * n).standard_normal((rows, n)).astype("float32")
    re, im = rfft(x)
    expected = np.fft.rfft(x.astype("float64"), axis=-1)
    scale = np.abs(expected).max()
    np.testing.assert_allclose(re, expected.real, rtol=0, atol=1e-6 * scale)
    np.testing.assert_allclose(im, expected.imag, rtol=0, atol=1e-6 * scale)


@pytest.mark.parametrize("n", [2, 3, 8, 64, 100, 128, 256, 384, 512, 1024, 4096])
@pytest.mark.parametrize("rows", [1, 7, 16, 21, 39])
def test_rfft_of_any_length_matches_numpy(n, rows):
    """``ops.rfft`` on every route (the C loop, pocketfft for other lengths and few
    rows) against NumPy's transform in float64."""
    x = np.random.default_rng(n + rows).standard_normal((rows, n)).astype("float32")
    re, im = ops.rfft(ops.convert_to_tensor(x))
    expected = np.fft.rfft(x.astype("float64"), axis=-1)
    scale = np.abs(expected).max()
    np.testing.assert_allclose(re.numpy(), expected.real, rtol=0, atol=2e-6 * scale)
    np.testing.assert_allclose(im.numpy(), expected.imag, rtol=0, atol=2e-6 * scale)


def test_c_rfft_declines_what_it_has_no_loop_for():
    rfft = _rfft_or_skip()
    rng = np.random.default_rng(3)
    assert rfft(rng.standard_normal((32, 64)).astype("float32")) is None  # too short
    assert rfft(rng.standard_normal((32, 1024)).astype("float32")) is None  # too long
    assert rfft(rng.standard_normal((32, 384)).astype("float32")) is None  # not 2**k
    assert rfft(rng.standard_normal((8, 256)).astype("float32")) is None  # few rows
    assert rfft(rng.standard_normal((32, 256))) is None  # float64
    assert rfft(rng.standard_normal((256, 64)).astype("float32").T) is None  # strided


def test_c_and_pocketfft_spectrograms_agree(request):
    """A speech front end's STFT (101 frames of 512 points: the C rfft) and its
    gradient against the same with native kernels off (pocketfft)."""
    _rfft_or_skip()
    x = np.random.default_rng(4).standard_normal(16000).astype("float32")

    def spectrogram_and_gradient():
        signal = ops.convert_to_tensor(x)
        with nerve.GradientTape() as tape:
            tape.watch(signal)
            re, im = ops.stft(signal, 400, 160, 512)
            loss = ops.sum(re * ops.cos(im))
        return re.numpy(), im.numpy(), tape.gradient(loss, signal).numpy()

    native = spectrogram_and_gradient()
    request.getfixturevalue("numpy_kernels")
    assert spectral.rfft_function() is None
    reference = spectrogram_and_gradient()
    for a, b in zip(native, reference):
        np.testing.assert_allclose(a, b, rtol=0, atol=2e-6 * np.abs(b).max())


@pytest.mark.parametrize("n", sorted(spectral.RFFT_LENGTHS))
@pytest.mark.parametrize("shape, stride, pad", [((16000,), 160, 256), ((2, 3000), 97, 0)])
def test_c_stft_is_the_transform_of_the_frames(n, shape, stride, pad):
    """The short-time loop (frames read from the padded signal, never written) gives
    the bits of the C framing followed by the C rfft, and NumPy's float64 values."""
    stft = spectral.stft_function()
    if stft is None:
        pytest.skip("no C compiler targeting AVX-512: frames then pocketfft run here")
    rng = np.random.default_rng(n + stride)
    x = rng.standard_normal(shape).astype("float32")
    window = rng.uniform(0.5, 1.0, n).astype("float32")
    pad = min(pad, n // 2)
    re, im = stft(x, window, stride, pad)
    count = 1 + (shape[-1] + 2 * pad - n) // stride
    frames = spectral.frames_function()(x, window, count, stride, pad)
    assert re.shape == im.shape == (*shape[:-1], count, n // 2 + 1)
    np.testing.assert_array_equal(re, spectral.rfft_function()(frames)[0])
    np.testing.assert_array_equal(im, spectral.rfft_function()(frames)[1])
    expected = np.fft.rfft(frames.astype("float64"), axis=-1)
    scale = np.abs(expected).max()
    np.testing.assert_allclose(re, expected.real, rtol=0, atol=1e-6 * scale)
    np.testing.assert_allclose(im, expected.imag, rtol=0, atol=1e-6 * scale)


def test_c_stft_declines_what_it_has_no_loop_for():
    stft = spectral.stft_function()
    if stft is None:
        pytest.skip("no C compiler targeting AVX-512")
    x = np.random.default_rng(5).standard_normal(4000).astype("float32")
    window = np.ones(256, np.float32)
    assert stft(x, window, 100, 128) is not None
    assert stft(x.astype("float64"), window.astype("float64"), 100, 128) is None
    assert stft(x, np.ones(384, np.float32), 100, 128) is None  # not 2**k
    assert stft(x, window, 1000, 128) is None  # 4 frames: too few for a block
    assert stft(x[:200], window, 1, 200) is None  # a reflection as long as the signal
    assert stft(x[::2], window, 100, 128) is None  # strided


def test_ops_stft_runs_the_c_loop(monkeypatch):
    """``ops.stft`` of float32 speech frames reaches the short-time loop (a change that
    routed around it would pass every comparison above and lose the speed)."""
    stft = spectral.stft_function()
    if stft is None:
        pytest.skip("no C compiler targeting AVX-512")
    calls = []

    def counting(*args):
        calls.append(args[2:])
        return stft(*args)

    monkeypatch.setattr(spectral, "stft_function", lambda: counting)
    x = np.random.default_rng(6).standard_normal(16000).astype("float32")
    re, _ = ops.stft(ops.convert_to_tensor(x), 400, 160, 512)
    assert calls == [(160, 256)] and re.shape == (101, 257)


@pytest.fixture
def shared(monkeypatch):
    """Transforms shared with the worker thread, as where OpenBLAS has two threads,
    never backing off (under load from other processes it would run them alone)."""
    if spectral.stft_function() is None:
        pytest.skip("no C compiler targeting AVX-512")
    monkeypatch.setattr(threads, "cores", lambda: 2)
    spectral.allow_back_off(False)
    yield
    spectral.allow_back_off(True)


def _spectra(signal, window, rows):
    """Both entries: a short-time transform of ``signal`` and the transform of ``rows``."""
    return spectral.stft_function()(signal, window, 97, 128) + spectral.rfft_function()(rows)


def test_shared_transforms_give_the_bits_of_one_thread(shared, monkeypatch):
    """Whichever thread transforms a block, each block is the same code on the same
    numbers: the two threads give the one thread's bits, and the worker takes part."""
    rng = np.random.default_rng(7)
    signal = rng.standard_normal((3, 4000)).astype("float32")
    window = rng.uniform(0.5, 1.0, 256).astype("float32")
    rows = rng.standard_normal((3, 40, 512)).astype("float32")
    before, end = spectral.worker_chunks(), time.monotonic() + 10
    together = _spectra(signal, window, rows)
    while spectral.worker_chunks() == before and time.monotonic() < end:
        for a, b in zip(_spectra(signal, window, rows), together):
            np.testing.assert_array_equal(a, b)
    assert spectral.worker_chunks() > before, "the worker thread never took a block"
    monkeypatch.setattr(threads, "cores", lambda: 1)
    alone = spectral.worker_chunks()
    for a, b in zip(_spectra(signal, window, rows), together):
        np.testing.assert_array_equal(a, b)
    assert spectral.worker_chunks() == alone  # one core: the caller runs every block
    frames = spectral.frames_function()(signal, window, 42, 97, 128)
    for a, b in zip(together[:2], spectral.rfft_function()(frames)):
        np.testing.assert_array_equal(a, b)
    expected = np.fft.rfft(rows.astype("float64"), axis=-1)
    scale = np.abs(expected).max()
    np.testing.assert_allclose(together[2], expected.real, rtol=0, atol=1e-6 * scale)
    np.testing.assert_allclose(together[3], expected.imag, rtol=0, atol=1e-6 * scale)


def test_concurrent_shared_transforms_are_each_right(shared):
    # One job slot: a caller finding it taken runs its transform alone.
    rng = np.random.default_rng(8)
    signals = [rng.standard_normal(5000 + 700 * i).astype("float32") for i in range(4)]
    window = np.hanning(256).astype("float32")
    expected = [spectral.stft_function()(x, window, 100, 128) for x in signals]
    failures = []

    def call(i):
        for _ in range(100):
            got = spectral.stft_function()(signals[i], window, 100, 128)
            if not all(map(np.array_equal, got, expected[i])):
                failures.append(i)

    callers = [threading.Thread(target=call, args=(i,)) for i in range(4)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join()
    assert not failures


@pytest.mark.parametrize("n", sorted(spectral.RFFT_LENGTHS))
def test_c_rfft_writes_only_its_rows_at_any_alignment(n):
    """The rows are stored by aligned masked halves whose lanes outside the rows are
    masked off: results placed at every offset in a cache line, between guard values
    that must stay untouched."""
    _rfft_or_skip()
    function = spectral._functions()[("rfft", np.dtype("float32"))]
    tables, rev = spectral._rfft_tables(n)
    rows, m = 21, n // 2
    x = np.random.default_rng(n).standard_normal((rows, n)).astype("float32")
    expected = spectral.rfft_function()(x)
    size = rows * (m + 1)
    for offset in range(16):
        parts = []
        for _ in range(2):
            memory = np.full(size + 64, -7.0, dtype=np.float32)
            start = (-memory.ctypes.data // 4) % 16 + 16 + offset  # offset floats into a line
            parts.append((memory, start, memory[start : start + size].reshape(rows, m + 1)))
        assert not function(x, x, parts[0][2], parts[1][2], tables, rev, 1, rows * n, rows, n,
                            n, 0, 0, 0)  # fmt: skip
        for (memory, start, part), want in zip(parts, expected):
            np.testing.assert_array_equal(part, want)
            assert np.all(memory[:start] == -7.0) and np.all(memory[start + size :] == -7.0)
