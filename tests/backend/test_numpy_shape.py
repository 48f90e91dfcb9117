"""The NumPy backend's reshape: inside a compiled run holding several cores, a
reshape that must copy (im2col's patches) copies in parts on those cores; one that
can be a view stays a view."""

import numpy as np
import pytest

from nerve.backend.numpy_backend import shape as numpy_shape
from nerve.backend.numpy_backend.native import threads

RESHAPE = numpy_shape.kernels(np)["reshape"]


@pytest.fixture
def split_calls(monkeypatch):
    monkeypatch.setattr(numpy_shape, "SPLIT_COPY", 0)
    calls: list[int] = []
    run_split = threads.run_split
    monkeypatch.setattr(threads, "run_split", lambda p, w: (calls.append(w), run_split(p, w)))
    return calls


def _patches():
    image = np.arange(7 * 9 * 8 * 3, dtype="float32").reshape(7, 9, 8, 3)
    view = np.lib.stride_tricks.sliding_window_view(image, (3, 3), axis=(1, 2))
    return view, (7 * 7 * 6, 3 * 3 * 3)


@pytest.mark.parametrize("parts", [2, 3])
def test_a_reshape_that_copies_is_shared_out_among_held_cores(parts, split_calls, monkeypatch):
    view, shape = _patches()
    monkeypatch.setattr(threads, "_held", [parts])
    out = RESHAPE(view, shape)
    assert split_calls == [parts]
    assert out.flags.c_contiguous and not np.shares_memory(out, view)
    np.testing.assert_array_equal(out, np.reshape(view, shape))


def test_a_reshape_that_can_be_a_view_stays_one(split_calls, monkeypatch):
    monkeypatch.setattr(threads, "_held", [2])
    x = np.ones((6, 40), "float32").T  # not contiguous; a size-1 axis keeps it a view
    out = RESHAPE(x, (40, 1, 6))
    if np.lib.NumpyVersion(np.__version__) >= "2.1.0":
        assert np.shares_memory(out, x)
    assert split_calls == []


def test_outside_a_held_run_one_thread_copies(split_calls):
    view, shape = _patches()
    np.testing.assert_array_equal(RESHAPE(view, shape), np.reshape(view, shape))
    assert split_calls == []
