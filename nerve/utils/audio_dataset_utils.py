"""``audio_dataset_from_directory``: a folder tree of WAV files as a
``nerve.data.Dataset`` of ``float32`` audio and labels (Keras 3.15.1's
``keras.utils.audio_dataset_from_directory``).

The files are indexed as in Keras (``nerve.utils.directory_index``; ``.wav`` in any
case) and decoded on parallel threads, in order, with Python's ``wave`` module: integer
PCM of 8, 16, 24 or 32 bits, any number of channels. Samples become ``float32`` in
``[-1, 1]`` as ``tf.audio.decode_wav`` scales them (a signed ``b``-bit sample divided by
``2 ** (b - 1)``; 8-bit WAV samples are unsigned, centred on 128). A clip is an array of
shape ``(samples, channels)``; ``output_sequence_length`` cuts or zero-pads it at the
end, and without it a batch is zero-padded to its longest clip, as Keras does.

Where nerve differs from Keras, and why:

- ``sampling_rate`` is the rate every file must have: nerve does not resample (Keras
  resamples with the tensorflow-io package, and without it refuses the argument), so a
  file at another rate raises an error naming it and both rates;
- ``ragged=True`` raises ``NotImplementedError``: nerve has no ragged arrays
  (``batch_size=None`` yields the clips one by one, each at its own length);
- TensorFlow reads only 16-bit WAV files; nerve also reads 8-, 24- and 32-bit ones.
  Floating-point and WAVE_FORMAT_EXTENSIBLE files are not read by Python's ``wave``
  before Python 3.12, and give a clear error naming the file;
- a corrupt or truncated WAV raises, when the dataset reaches it, a ``ValueError``
  naming the file.

>>> import os, tempfile, wave
>>> import numpy as np
>>> root = tempfile.mkdtemp()
>>> for name, frames in (("no/a.wav", 3), ("yes/b.wav", 5)):
...     os.makedirs(os.path.join(root, os.path.dirname(name)), exist_ok=True)
...     with wave.open(os.path.join(root, name), "wb") as file:
...         file.setnchannels(1)
...         file.setsampwidth(2)
...         file.setframerate(8000)
...         file.writeframes(np.full(frames, 16384, "<i2").tobytes())
>>> dataset = audio_dataset_from_directory(root, shuffle=False)
Found 2 files belonging to 2 classes.
>>> audio, labels = next(iter(dataset))
>>> audio.shape, audio.dtype.name, audio[:, :, 0].tolist(), labels.tolist()
((2, 5, 1), 'float32', [[0.5, 0.5, 0.5, 0.0, 0.0], [0.5, 0.5, 0.5, 0.5, 0.5]], [0, 1])
"""

from __future__ import annotations

import functools
import os
import struct
import wave
from typing import Any

# Audio is decoded on the host, before any backend sees it.
import numpy as np

from nerve.utils.directory_index import check_label_arguments, datasets_from_directory

__all__ = ["ALLOWED_FORMATS", "audio_dataset_from_directory"]

ALLOWED_FORMATS = (".wav",)


def audio_dataset_from_directory(
    directory: str | os.PathLike[str],
    labels: Any = "inferred",
    label_mode: str | None = "int",
    class_names: list[str] | None = None,
    batch_size: int | None = 32,
    sampling_rate: int | None = None,
    output_sequence_length: int | None = None,
    ragged: bool = False,
    shuffle: bool = True,
    seed: int | None = None,
    validation_split: float | None = None,
    subset: str | None = None,
    follow_links: bool = False,
    verbose: bool = True,
) -> Any:
    """A dataset of the WAV files under ``directory`` (see the module docstring).

    Args:
        directory: the root folder; with ``labels="inferred"`` one sub-folder per class.
        labels: ``"inferred"`` (class ``i`` is the ``i``-th sub-folder), ``None`` (audio
            only) or a list/tuple of integer labels, one per WAV file in the sorted order
            of their paths.
        label_mode: ``"int"`` (``int32`` labels), ``"categorical"`` (``float32`` one-hot
            rows), ``"binary"`` (``float32`` of shape ``(batch, 1)``, exactly two
            classes) or ``None`` (audio only).
        class_names: with ``labels="inferred"``, the sub-folders to read, in label order.
        batch_size: clips per batch; ``None`` yields single clips.
        sampling_rate: the sampling rate (Hz) every file must have; ``None`` accepts any.
        output_sequence_length: cut or zero-pad every clip to this many samples;
            ``None`` pads each batch to its longest clip.
        ragged: not supported (nerve has no ragged arrays); must be ``False``.
        shuffle: shuffle the files (with ``seed``) and, each pass, through a buffer of
            eight batches; otherwise the files are read in sorted order.
        seed: the shuffling seed; ``None`` draws one from nerve's global seed generator.
        validation_split: the fraction of the files kept for validation (the last ones
            after shuffling).
        subset: ``"training"``, ``"validation"`` or ``"both"`` (a tuple of two
            datasets); only with ``validation_split``.
        follow_links: descend into symbolic links to folders.
        verbose: print how many files and classes were found.

    Returns:
        A ``nerve.data.Dataset`` yielding ``(audio, labels)``, or ``audio`` alone when
        ``label_mode`` or ``labels`` is ``None``; audio is ``float32`` of shape
        ``(batch, samples, channels)``. It has a ``class_names`` attribute.
        ``subset="both"`` returns ``(training, validation)``.
    """
    function = "audio_dataset_from_directory"
    labels, label_mode = check_label_arguments(
        labels, label_mode, class_names, "audio files", function
    )
    _check_audio_arguments(sampling_rate, output_sequence_length, ragged, function)
    datasets = datasets_from_directory(
        directory,
        labels=labels,
        label_mode=label_mode,
        class_names=class_names,
        formats=ALLOWED_FORMATS,
        load=functools.partial(
            _read_wav, sampling_rate=sampling_rate, output_sequence_length=output_sequence_length
        ),
        batch_size=batch_size,
        shuffle=shuffle,
        seed=seed,
        validation_split=validation_split,
        subset=subset,
        follow_links=follow_links,
        verbose=verbose,
        function=function,
        files="audio files",
        padded=output_sequence_length is None,
    )
    # Keras returns the two datasets of subset="both" as a tuple here (a list elsewhere).
    return tuple(datasets) if isinstance(datasets, list) else datasets


def _check_audio_arguments(
    sampling_rate: Any, output_sequence_length: Any, ragged: bool, function: str
) -> None:
    if ragged and output_sequence_length is not None:
        raise ValueError(
            f"{function}: ragged=True and output_sequence_length cannot be used together "
            "(one keeps each clip's length, the other makes them all one length)."
        )
    if ragged:
        raise NotImplementedError(
            f"{function}: ragged=True is not supported: nerve has no ragged arrays. Use "
            "ragged=False (each batch is zero-padded to its longest clip), "
            "output_sequence_length=N, or batch_size=None for clips of their own length."
        )
    if sampling_rate is not None:
        if isinstance(sampling_rate, bool) or not isinstance(sampling_rate, int):
            raise ValueError(
                f"{function}: sampling_rate must be an int (Hz) or None; received "
                f"sampling_rate={sampling_rate!r}."
            )
        if sampling_rate <= 0:
            raise ValueError(
                f"{function}: sampling_rate must be positive; received "
                f"sampling_rate={sampling_rate!r}."
            )
    if output_sequence_length is not None and (
        isinstance(output_sequence_length, bool)
        or not isinstance(output_sequence_length, int)
        or output_sequence_length <= 0
    ):
        raise ValueError(
            f"{function}: output_sequence_length must be None or a positive int; received "
            f"output_sequence_length={output_sequence_length!r}."
        )


def _read_wav(
    path: str, sampling_rate: int | None, output_sequence_length: int | None
) -> np.ndarray:
    """One WAV file as ``float32`` samples of shape ``(samples, channels)``."""
    try:
        with wave.open(path, "rb") as file:
            channels, width, rate, frames = (
                file.getnchannels(),
                file.getsampwidth(),
                file.getframerate(),
                file.getnframes(),
            )
            data = file.readframes(frames)
    except (wave.Error, EOFError, struct.error) as error:
        raise ValueError(
            f"audio_dataset_from_directory: cannot read {path!r} as a WAV file ({error}). "
            "nerve reads integer PCM WAV files (8, 16, 24 or 32 bits); the file may be "
            "corrupt or in another encoding."
        ) from error
    if width not in (1, 2, 3, 4):
        raise ValueError(
            f"audio_dataset_from_directory: {path!r} has {8 * width}-bit samples; nerve "
            "reads integer PCM WAV files of 8, 16, 24 or 32 bits."
        )
    if len(data) != frames * channels * width:
        raise ValueError(
            f"audio_dataset_from_directory: {path!r} is truncated: its header announces "
            f"{frames} frames of {channels * width} bytes, but the file holds "
            f"{len(data)} bytes of samples."
        )
    if sampling_rate is not None and rate != sampling_rate:
        raise ValueError(
            f"audio_dataset_from_directory: {path!r} is sampled at {rate} Hz, but "
            f"sampling_rate={sampling_rate}. nerve does not resample audio: convert the "
            "file beforehand, or pass sampling_rate=None to accept any rate."
        )
    samples = _pcm_to_float(data, width).reshape(frames, channels)
    if output_sequence_length is None:
        return samples
    # tf.audio.decode_wav's desired_samples: cut, or zero-pad at the end.
    clip = np.zeros((output_sequence_length, channels), np.float32)
    kept = min(frames, output_sequence_length)
    clip[:kept] = samples[:kept]
    return clip


def _pcm_to_float(data: bytes, width: int) -> np.ndarray:
    """Little-endian PCM samples of ``width`` bytes as ``float32`` in ``[-1, 1]`` (the
    largest 32-bit sample rounds up to 1.0 in ``float32``)."""
    if width == 1:  # 8-bit WAV samples are unsigned, silence at 128
        return (np.frombuffer(data, np.uint8).astype(np.float32) - 128) / 128
    if width == 3:  # no NumPy type: build 32-bit ints from three bytes, keeping the sign
        triples = np.frombuffer(data, np.uint8).reshape(-1, 3).astype(np.int32)
        unsigned = triples[:, 0] | (triples[:, 1] << 8) | (triples[:, 2] << 16)
        signed = (unsigned ^ 0x800000) - 0x800000
        return signed.astype(np.float32) / np.float32(2**23)
    integers = np.frombuffer(data, f"<i{width}")
    return integers.astype(np.float32) / np.float32(2 ** (8 * width - 1))
