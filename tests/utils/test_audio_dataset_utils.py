"""audio_dataset_from_directory on WAV files written here with the ``wave`` module
(8-, 16-, 24- and 32-bit PCM, one to three channels): Keras's signature, samples scaled
as tf.audio.decode_wav scales them (the reference: the integers written, divided in
plain Python), batches padded to the longest clip, output_sequence_length, the
sampling-rate check, and errors naming the file."""

from __future__ import annotations

import struct
import wave

import numpy as np
import pytest

from nerve.utils.audio_dataset_utils import audio_dataset_from_directory
from tests.utils._keras import assert_same_signature, keras_utils

RATE = 8000


def _samples(width, frames, channels):
    """Integers spanning a sample width's whole range, extremes included."""
    bits = 8 * width
    low, high = (0, 2**bits - 1) if width == 1 else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    values = np.linspace(low, high, frames * channels).round().astype(np.int64)
    return values.reshape(frames, channels)


def _expected(width, samples):
    """tf.audio.decode_wav's scaling, written out: signed b-bit samples over 2**(b-1);
    8-bit WAV samples are unsigned around 128."""
    if width == 1:
        return [[(value - 128) / 128 for value in frame] for frame in samples.tolist()]
    scale = 2 ** (8 * width - 1)
    return [[value / scale for value in frame] for frame in samples.tolist()]


def _write_wav(path, samples, width, rate=RATE):
    path.parent.mkdir(parents=True, exist_ok=True)
    data = b"".join(
        value.to_bytes(width, "little", signed=width > 1) for value in samples.ravel().tolist()
    )
    with wave.open(str(path), "wb") as file:
        file.setnchannels(samples.shape[1])
        file.setsampwidth(width)
        file.setframerate(rate)
        file.writeframes(data)


# relative path -> (sample width in bytes, frames, channels)
CLIPS = {
    "noise/n8.wav": (1, 5, 1),
    "noise/deep/n32.wav": (4, 4, 2),
    "speech/s16.WAV": (2, 7, 2),
    "speech/s24.wav": (3, 3, 1),
    "speech/.hidden/s16.wav": (2, 2, 1),
}


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("audio")
    for name, (width, frames, channels) in CLIPS.items():
        _write_wav(root / name, _samples(width, frames, channels), width)
    (root / "speech" / "notes.mp3").write_bytes(b"not read")
    return root


def test_signature_is_keras_s():
    assert_same_signature(audio_dataset_from_directory, keras_utils().audio_dataset_from_directory)


WAV_FORMATS = [(1, 1), (1, 2), (2, 1), (2, 2), (3, 1), (3, 2), (4, 1), (4, 3)]


@pytest.mark.parametrize("width, channels", WAV_FORMATS)
def test_samples_are_scaled_as_tensorflow_does(tmp_path, width, channels):
    samples = _samples(width, 9, channels)
    _write_wav(tmp_path / "class" / "clip.wav", samples, width)
    [(clip, label)] = list(audio_dataset_from_directory(tmp_path, batch_size=None, verbose=False))
    assert clip.dtype == np.float32 and clip.shape == (9, channels) and int(label) == 0
    np.testing.assert_allclose(clip, _expected(width, samples), rtol=1e-7, atol=0)
    assert clip.min() >= -1 and clip.max() <= 1


def test_batches_are_padded_to_the_longest_clip(tree):
    dataset = audio_dataset_from_directory(tree, shuffle=False, batch_size=2, verbose=False)
    # Keras's order: folders sorted by path ("speech" before "speech/.hidden").
    names = ["noise/n8.wav", "noise/deep/n32.wav", "speech/s16.WAV", "speech/s24.wav",
             "speech/.hidden/s16.wav"]  # fmt: skip
    batches = list(dataset)
    assert [audio.shape for audio, _ in batches] == [(2, 5, 2), (2, 7, 2), (1, 2, 1)]
    assert [labels.tolist() for _, labels in batches] == [[0, 0], [1, 1], [1]]
    clips = [clip for audio, _ in batches for clip in audio]
    for name, clip in zip(names, clips):
        width, frames, channels = CLIPS[name]
        expected = np.zeros_like(clip)
        expected[:frames, :channels] = _expected(width, _samples(width, frames, channels))
        np.testing.assert_allclose(clip, expected, rtol=1e-7, err_msg=name)


@pytest.mark.parametrize("length", [1, 3, 8])
def test_output_sequence_length_cuts_or_pads(tree, length):
    dataset = audio_dataset_from_directory(
        tree, label_mode=None, output_sequence_length=length, shuffle=False, batch_size=None,
        verbose=False,
    )  # fmt: skip
    clips = list(dataset)
    assert len(clips) == 5  # without labels the hidden folder is read too
    for clip in clips:
        assert clip.shape[0] == length
    # n8.wav (5 frames) is read first: its samples, then zeros.
    first = _expected(1, _samples(1, 5, 1))[:length] + [[0.0]] * max(0, length - 5)
    np.testing.assert_allclose(clips[0], first)


def test_sampling_rate_must_match(tmp_path):
    _write_wav(tmp_path / "a" / "fast.wav", _samples(2, 4, 1), 2, rate=16000)
    matching = audio_dataset_from_directory(tmp_path, sampling_rate=16000, verbose=False)
    assert next(iter(matching))[0].shape == (1, 4, 1)
    other = audio_dataset_from_directory(tmp_path, sampling_rate=RATE, verbose=False)
    with pytest.raises(ValueError, match=r"'[^']*fast\.wav' is sampled at 16000 Hz.*=8000"):
        list(other)


def test_subset_both_returns_a_tuple(tree):
    datasets = audio_dataset_from_directory(
        tree, validation_split=0.5, subset="both", seed=4, verbose=False
    )
    assert isinstance(datasets, tuple) and len(datasets) == 2
    assert [sum(len(labels) for _, labels in part) for part in datasets] == [3, 2]
    assert datasets[0].class_names == datasets[1].class_names == ["noise", "speech"]


def _float_wav():
    """A 32-bit IEEE-float WAV (format tag 3), which the wave module does not read."""
    data = struct.pack("<2f", 0.5, -0.5)
    fmt = struct.pack("<HHIIHH", 3, 1, RATE, RATE * 4, 4, 32)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _truncated_wav(tmp_path):
    _write_wav(tmp_path / "whole.wav", _samples(2, 50, 1), 2)
    return (tmp_path / "whole.wav").read_bytes()[:-30]


BROKEN_FILES = [
    ("garbage", lambda tmp_path: b"\x00not a wav at all" * 4, "cannot read .* as a WAV file"),
    ("empty", lambda tmp_path: b"", "cannot read .* as a WAV file"),
    ("float", lambda tmp_path: _float_wav(), "cannot read .* as a WAV file"),
    ("truncated", _truncated_wav, "is truncated: its header announces 50 frames"),
]


@pytest.mark.parametrize("name, make, message", BROKEN_FILES)
def test_broken_wav_names_the_file(tmp_path, name, make, message):
    data = make(tmp_path)
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / f"{name}.wav").write_bytes(data)
    dataset = audio_dataset_from_directory(tmp_path / "a", labels=None, verbose=False)
    with pytest.raises(ValueError, match=message) as error:
        list(dataset)
    assert f"{name}.wav'" in str(error.value)


ARGUMENT_ERRORS = [
    ({"ragged": True, "output_sequence_length": 4}, ValueError, "cannot be used together"),
    ({"ragged": True}, NotImplementedError, "no ragged arrays"),
    ({"sampling_rate": "16000"}, ValueError, "sampling_rate must be an int"),
    ({"sampling_rate": 0}, ValueError, "sampling_rate must be positive"),
    ({"output_sequence_length": 0}, ValueError, "output_sequence_length must be"),
    ({"labels": "inferred", "label_mode": "hot"}, ValueError, "label_mode must be one of"),
]


@pytest.mark.parametrize("arguments, error, message", ARGUMENT_ERRORS)
def test_argument_errors(tree, arguments, error, message):
    with pytest.raises(error, match=message):
        audio_dataset_from_directory(tree, verbose=False, **arguments)
