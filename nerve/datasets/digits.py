"""UCI 8x8 handwritten digits: 1,797 grey-scale images of the digits 0-9.

The data ("Optical Recognition of Handwritten Digits", E. Alpaydin and C. Kaynak,
UCI Machine Learning Repository, https://doi.org/10.24432/C50P49, CC BY 4.0) ships
inside the package as ``data/digits.npz``, so loading needs no network access. See
``data/DIGITS_LICENSE.txt`` for attribution and provenance.

Each image is 8x8 pixels with integer values 0..16 (the number of "on" pixels in a
4x4 block of the original 32x32 bitmap). The data set is small enough to train on in
seconds, which makes it a good smoke test for models and examples.
"""

from __future__ import annotations

import hashlib
import io
import numbers
from importlib import resources

import numpy as np

__all__ = ["load_data"]

# SHA-256 of data/digits.npz. Checked on every load so that a corrupted or swapped
# file fails loudly instead of silently training on the wrong data.
_SHA256 = "b2dab7b501728c22e9119ad76740b2e17c77a231e42d1e592380d90886f1a05e"
_FILENAME = "digits.npz"


def _read_verified() -> tuple[np.ndarray, np.ndarray]:
    """Return ``(images, labels)`` from the packaged file after checking its hash."""
    # importlib.resources finds package data wherever the package lives (site-packages,
    # editable install, zip). __package__ rather than a literal name keeps this working
    # however the module was imported (e.g. by pytest's doctest collection). One part
    # per step: Python 3.10's Traversable.joinpath takes a single name.
    resource = resources.files(__package__) / "data" / _FILENAME
    raw = resource.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != _SHA256:
        raise RuntimeError(
            f"SHA-256 mismatch for {resource}: expected {_SHA256}, got {digest}. "
            "The packaged digits data is corrupted or was replaced; reinstall nerve."
        )
    # Parse the very bytes that were hashed, so nothing can change between check and use.
    with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
        return npz["images"], npz["labels"]


def load_data(
    test_split: float = 0.2, seed: int = 1337, image_size: int = 8
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Load the digits data set split into train and test parts.

    Follows the convention of Keras's ``mnist.load_data``: images are returned
    unscaled (divide by 16 to get values in [0, 1]).

    The split is stratified: each class is shuffled and split on its own, so both
    parts keep the class proportions of the full set and every class appears in
    both. It depends only on ``test_split`` and ``seed``, so the default split is
    the same on every call and every machine.

    Args:
        test_split: fraction of each class to put in the test set, in (0, 1).
            Per-class counts are rounded, and clamped so that each class keeps at
            least one sample in each part.
        seed: seed for ``numpy.random.default_rng``; a non-negative integer.
        image_size: side of the returned images. 8 (the default) gives the data as
            stored; another size resamples every image by bilinear interpolation
            (pixel centres aligned, as an image resize does), e.g. 28 for
            MNIST-shaped inputs.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: ``x`` is a uint8 array of shape
        ``(N, 8, 8)`` with values 0..16 (float32 of shape ``(N, image_size,
        image_size)`` with values in [0, 16] when resampled), ``y`` a uint8 array of
        shape ``(N,)`` with labels 0..9. Both parts are shuffled. The arrays are
        fresh copies.

    Raises:
        TypeError: if ``test_split`` is not a real number or ``seed`` not an integer.
        ValueError: if ``test_split`` is not in (0, 1) or ``seed`` is negative.
        RuntimeError: if the packaged data file fails its SHA-256 check.

    Example:
        >>> from nerve.datasets import digits
        >>> (x_train, y_train), (x_test, y_test) = digits.load_data()
        >>> x_train.shape, y_train.shape, x_test.shape, y_test.shape
        ((1438, 8, 8), (1438,), (359, 8, 8), (359,))
        >>> x_train.dtype, y_train.dtype, int(x_train.max()), sorted(set(y_test.tolist()))
        (dtype('uint8'), dtype('uint8'), 16, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
        >>> (x28, _), _ = digits.load_data(image_size=28)
        >>> x28.shape, x28.dtype
        ((1438, 28, 28), dtype('float32'))
    """
    # bool is an Integral (and so a Real) in Python; reject it as an obvious mistake.
    if isinstance(test_split, bool) or not isinstance(test_split, numbers.Real):
        raise TypeError(f"test_split must be a float in (0, 1), got {test_split!r}")
    if not 0.0 < test_split < 1.0:  # also rejects NaN
        raise ValueError(f"test_split must be in (0, 1) exclusive, got {test_split!r}")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be an int, got {seed!r}")
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed!r}")
    if isinstance(image_size, bool) or not isinstance(image_size, numbers.Integral):
        raise TypeError(f"image_size must be an int, got {image_size!r}")
    if image_size < 1:
        raise ValueError(f"image_size must be at least 1, got {image_size!r}")

    images, labels = _read_verified()
    rng = np.random.default_rng(int(seed))

    train_parts, test_parts = [], []
    for label in np.unique(labels):  # sorted, so the rng is consumed in a fixed order
        idx = rng.permutation(np.flatnonzero(labels == label))
        n_test = min(max(round(test_split * idx.size), 1), idx.size - 1)
        test_parts.append(idx[:n_test])
        train_parts.append(idx[n_test:])

    # Shuffle across classes too; otherwise each part would be sorted by label.
    train_idx = rng.permutation(np.concatenate(train_parts))
    test_idx = rng.permutation(np.concatenate(test_parts))
    if image_size != images.shape[1]:
        images = _resample(images, int(image_size))
    # Fancy indexing copies, so callers may modify the results freely.
    return (images[train_idx], labels[train_idx]), (images[test_idx], labels[test_idx])


def _resample(images: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resampling of square images to ``size`` x ``size``: each output pixel
    centre is mapped back into the input and interpolated between its two nearest
    pixels along each axis (clamped at the borders). Separable, so it is two small
    matrix products per image."""
    weights = _linear_weights(images.shape[1], size)
    resized = np.einsum("oi,nij,pj->nop", weights, images.astype(np.float64), weights)
    return resized.astype(np.float32)


def _linear_weights(source: int, size: int) -> np.ndarray:
    """``(size, source)`` interpolation matrix of one axis."""
    centres = (np.arange(size) + 0.5) * (source / size) - 0.5
    centres = np.clip(centres, 0, source - 1)
    low = np.floor(centres).astype(int)
    high = np.minimum(low + 1, source - 1)
    fraction = centres - low
    weights = np.zeros((size, source))
    weights[np.arange(size), low] += 1 - fraction
    weights[np.arange(size), high] += fraction
    return weights
