"""Tests for nerve.datasets.digits (the packaged UCI 8x8 digits data set)."""

from collections import Counter
from importlib import resources

import numpy as np
import pytest

from nerve.datasets import digits

N_TOTAL = 1797
N_CLASSES = 10


def _rows(x: np.ndarray, y: np.ndarray) -> Counter:
    """Multiset of samples, each as image bytes + label byte (all 1,797 rows are unique)."""
    return Counter(img.tobytes() + bytes([int(lab)]) for img, lab in zip(x, y))


@pytest.fixture(scope="module")
def split():
    return digits.load_data()


def test_shapes_and_dtypes(split):
    (x_train, y_train), (x_test, y_test) = split
    assert x_train.shape == (1438, 8, 8) and y_train.shape == (1438,)
    assert x_test.shape == (359, 8, 8) and y_test.shape == (359,)
    for a in (x_train, y_train, x_test, y_test):
        assert a.dtype == np.uint8


def test_value_ranges(split):
    (x_train, y_train), (x_test, y_test) = split
    for x in (x_train, x_test):
        assert x.min() == 0 and x.max() == 16
    for y in (y_train, y_test):
        assert set(np.unique(y).tolist()) == set(range(N_CLASSES))


@pytest.mark.parametrize("test_split", [0.2, 0.05, 0.5, 0.9])
def test_stratified(test_split):
    (_, y_train), (_, y_test) = digits.load_data(test_split=test_split)
    full = np.bincount(np.concatenate([y_train, y_test]), minlength=N_CLASSES) / N_TOTAL
    # Per-class rounding moves the overall size by at most half a sample per class.
    assert abs(y_test.size - test_split * N_TOTAL) <= N_CLASSES / 2
    for y in (y_train, y_test):
        counts = np.bincount(y, minlength=N_CLASSES)
        assert (counts > 0).all()
        np.testing.assert_allclose(counts / y.size, full, atol=0.02)


def test_extreme_split_keeps_every_class_in_both_parts():
    for test_split in (1e-6, 1 - 1e-6):
        (_, y_train), (_, y_test) = digits.load_data(test_split=test_split)
        assert (np.bincount(y_train, minlength=N_CLASSES) > 0).all()
        assert (np.bincount(y_test, minlength=N_CLASSES) > 0).all()


def test_deterministic(split):
    again = digits.load_data()
    same_explicit = digits.load_data(test_split=0.2, seed=1337)
    for other in (again, same_explicit):
        for (xa, ya), (xb, yb) in zip(split, other):
            np.testing.assert_array_equal(xa, xb)
            np.testing.assert_array_equal(ya, yb)


def test_different_seed_gives_different_split(split):
    (_, _), (x_test, _) = split
    (_, _), (x_test_other, _) = digits.load_data(seed=7)
    assert x_test_other.shape == x_test.shape
    # Compare which images landed in the test set, not just their order.
    assert {img.tobytes() for img in x_test} != {img.tobytes() for img in x_test_other}


def test_parts_are_disjoint_and_cover_the_full_set(split):
    (x_train, y_train), (x_test, y_test) = split
    train, test = _rows(x_train, y_train), _rows(x_test, y_test)
    assert not set(train) & set(test)
    assert train + test == _rows(*digits._read_verified())
    assert sum((train + test).values()) == N_TOTAL
    full_counts = np.bincount(digits._read_verified()[1], minlength=N_CLASSES)
    both = np.bincount(y_train, minlength=N_CLASSES) + np.bincount(y_test, minlength=N_CLASSES)
    np.testing.assert_array_equal(both, full_counts)


def test_results_are_independent_copies():
    (x_train, _), _ = digits.load_data()
    x_train[...] = 0
    (x_again, _), _ = digits.load_data()
    assert x_again.max() == 16


@pytest.mark.parametrize("bad", [0, 0.0, 1, 1.0, -0.1, 1.5, float("nan"), float("inf")])
def test_bad_test_split_raises_value_error(bad):
    with pytest.raises(ValueError, match="test_split"):
        digits.load_data(test_split=bad)


@pytest.mark.parametrize("bad", ["0.2", None, True])
def test_non_numeric_test_split_raises_type_error(bad):
    with pytest.raises(TypeError, match="test_split"):
        digits.load_data(test_split=bad)


def test_bad_seed_raises():
    with pytest.raises(ValueError, match="seed"):
        digits.load_data(seed=-1)
    with pytest.raises(TypeError, match="seed"):
        digits.load_data(seed=1.5)


def test_numpy_scalars_are_accepted(split):
    (x_train, _), _ = digits.load_data(test_split=np.float64(0.2), seed=np.int64(1337))
    np.testing.assert_array_equal(x_train, split[0][0])


def test_checksum_mismatch_raises(monkeypatch):
    monkeypatch.setattr(digits, "_SHA256", "0" * 64)
    with pytest.raises(RuntimeError, match="SHA-256 mismatch"):
        digits.load_data()


def test_license_file_records_the_checksum():
    text = resources.files("nerve.datasets").joinpath("data", "DIGITS_LICENSE.txt").read_text()
    assert digits._SHA256 in text
    assert "CC BY 4.0" in text and "10.24432/C50P49" in text


def test_resampled_images_interpolate_the_originals():
    (x8, y8), (t8, _) = digits.load_data()
    (x28, y28), (t28, _) = digits.load_data(image_size=28)
    assert x28.shape == (x8.shape[0], 28, 28) and x28.dtype == np.float32
    np.testing.assert_array_equal(y28, y8)  # the same split, the same order
    assert x28.min() >= 0 and x28.max() <= 16
    # Doubling the size keeps each image's mean (bilinear weights sum to one per row).
    (x16, _), _ = digits.load_data(image_size=16)
    np.testing.assert_allclose(x16.mean(axis=(1, 2)), x8.mean(axis=(1, 2)), rtol=0.05, atol=0.2)
    # A pixel centre that falls on an input pixel centre takes its value exactly.
    (x15, _), _ = digits.load_data(image_size=15)
    np.testing.assert_allclose(x15[:, 0, 0], x8[:, 0, 0])
    assert t28.shape == (t8.shape[0], 28, 28)


@pytest.mark.parametrize("size,error", [(0, ValueError), (2.5, TypeError), (True, TypeError)])
def test_bad_image_size_is_named(size, error):
    with pytest.raises(error, match="image_size"):
        digits.load_data(image_size=size)
