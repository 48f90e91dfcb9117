"""Reading one CIFAR batch file (shared by ``cifar10`` and ``cifar100``).

A batch is a Python pickle of a dict with bytes keys: ``b"data"``, a uint8 array of
shape ``(N, 3072)`` (each row the red, green and blue 32x32 planes), and the labels, a
list of N integers under ``b"labels"`` (CIFAR-10) or ``b"fine_labels"`` and
``b"coarse_labels"`` (CIFAR-100). It is read with ``RestrictedUnpickler``, so a file
that names anything but NumPy's array rebuilders is refused before it can run code.
"""

from __future__ import annotations

import numpy as np

from nerve.datasets._safe_pickle import safe_load

_SIDE = 32
_CHANNELS = 3


def load_batch(file_path: str, label_key: str, loader: str) -> tuple[np.ndarray, np.ndarray]:
    """``(images, labels)`` from the batch at ``file_path``: uint8 images of shape
    ``(N, 3, 32, 32)`` (channels first, as stored) and int64 labels of shape ``(N,)``.

    ``label_key`` is the labels' key without the ``b``; ``loader`` (for example
    ``"cifar10.load_data"``) starts every error message.
    """
    try:
        with open(file_path, "rb") as stream:
            batch = safe_load(stream, source=file_path)
    except FileNotFoundError as error:
        raise ValueError(
            f"{loader}: the extracted archive lacks {file_path}; delete the cached "
            "archive and its extraction folder so that they are downloaded again."
        ) from error
    if not isinstance(batch, dict):
        raise ValueError(
            f"{loader}: {file_path} holds a {type(batch).__name__}, expected a dict of "
            "CIFAR arrays."
        )
    key = label_key.encode("ascii")
    missing = [name.decode() for name in (b"data", key) if name not in batch]
    if missing:
        found = sorted(k.decode("latin-1") if isinstance(k, bytes) else repr(k) for k in batch)
        raise ValueError(f"{loader}: {file_path} lacks the keys {missing} (it has {found}).")
    data = batch[b"data"]
    if (
        not isinstance(data, np.ndarray)
        or data.dtype != np.uint8
        or data.ndim != 2
        or data.shape[1] != _CHANNELS * _SIDE * _SIDE
    ):
        described = (
            f"a {data.dtype} array of shape {data.shape}"
            if isinstance(data, np.ndarray)
            else f"a {type(data).__name__}"
        )
        raise ValueError(
            f"{loader}: {file_path} holds {described} under 'data'; expected a uint8 "
            f"array of shape (N, {_CHANNELS * _SIDE * _SIDE})."
        )
    labels = np.asarray(batch[key])
    if labels.dtype.kind not in "iu":
        raise ValueError(
            f"{loader}: {file_path} holds labels of dtype {labels.dtype} under "
            f"{label_key!r}; expected a list of integers."
        )
    labels = labels.astype(np.int64)
    if labels.shape != (len(data),):
        raise ValueError(
            f"{loader}: {file_path} holds {len(data)} images but labels of shape "
            f"{labels.shape} under {label_key!r}; expected ({len(data)},)."
        )
    return data.reshape(len(data), _CHANNELS, _SIDE, _SIDE), labels
