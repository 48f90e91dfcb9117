"""The ``png_unfilter`` kernel undoes every PNG filter type, for one image or several
of one size at once, in C and in the NumPy fallback (native kernels off), and refuses
data it cannot undo with a clear error."""

import numpy as np
import pytest

from nerve.backend import get_backend
from nerve.backend.numpy_backend.native import png as native_png
from tests.utils._png_files import filtered_rows, random_pixels


@pytest.fixture(params=["native", "numpy"])
def unfilter(request, monkeypatch):
    """The kernel, from a fresh backend so the native choice is made anew."""
    if request.param == "numpy":
        monkeypatch.setenv("NERVE_NATIVE", "0")
    elif native_png.unfilter_function() is None:
        pytest.skip("no C compiler: only the NumPy kernel runs here")
    native_png._library.cache_clear()
    from nerve.backend.numpy_backend import NumpyBackend

    kernel = NumpyBackend().kernel("png_unfilter")
    yield kernel
    monkeypatch.undo()
    native_png._library.cache_clear()


@pytest.mark.parametrize(
    "shape, filters",
    [((7, 5, 3), (0, 1, 2, 3, 4)), ((6, 9, 1), (4, 4, 3, 1)), ((3, 4, 4), (2, 3)),
     ((1, 1, 3), (4,)), ((8, 2, 1), (3, 4))],
)  # fmt: skip
def test_every_filter_type_is_undone(unfilter, shape, filters):
    pixels = random_pixels(*shape, seed=sum(shape))
    data = filtered_rows(pixels, filters)
    rows = unfilter(data, shape[0], shape[1] * shape[2], shape[2])
    assert rows.dtype == np.uint8 and rows.shape == (1, shape[0], shape[1] * shape[2])
    np.testing.assert_array_equal(rows.reshape(shape), pixels)


def test_images_of_one_geometry_are_undone_in_one_call(unfilter):
    # Each image's first row has no row above it, even though the data runs on.
    images = [random_pixels(5, 4, 3, seed=seed) for seed in range(3)]
    data = b"".join(filtered_rows(pixels, (2, 4, 3)) for pixels in images)
    rows = unfilter(data, 5, 12, 3, images=3)
    np.testing.assert_array_equal(rows.reshape(3, 5, 4, 3), np.stack(images))


def test_an_unknown_filter_type_names_the_image_and_row(unfilter):
    one = filtered_rows(random_pixels(3, 2, 1), (1,))
    data = bytearray(one * 2)
    data[len(one) + 2 * 3] = 7
    with pytest.raises(ValueError, match="row 2 of image 1 has filter type 7; PNG defines"):
        unfilter(bytes(data), 3, 2, 1, images=2)


def test_a_wrong_length_is_refused(unfilter):
    with pytest.raises(ValueError, match="expected 1 image\\(s\\) of 2 rows of 1 \\+ 6 bytes"):
        unfilter(bytes(13), 2, 6, 3)


def test_the_cpu_backend_has_the_kernel():
    assert get_backend("cpu").has_kernel("png_unfilter")
