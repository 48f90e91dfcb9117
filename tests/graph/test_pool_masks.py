"""``mask_window_scatters``: the ReLU gradient of what max pooling scattered back runs
as one ``masked_window_scatter`` node, with the same bits as the two steps (the
compiled graph without the pass), on the C kernel and the NumPy one, tiling and
overlapping windows; a scatter read elsewhere stays as it is."""

import numpy as np
import pytest

import nerve
from nerve import ops
from nerve.backend.numpy_backend.native import windows as native_windows
from nerve.core.errors import ShapeError
from nerve.graph import executor
from nerve.graph.passes import LOWERING, mask_window_scatters
from nerve.primitives import nn as nnp

# (input shape, pool size, strides, padding): windows that tile the image, overlapping
# windows with "same" padding, a 1-D signal.
POOLS = [
    ((2, 8, 8, 16), (2, 2), (2, 2), "valid"),
    ((2, 7, 9, 8), (3, 3), (2, 2), "same"),
    ((3, 10, 5), (2,), (2,), "valid"),
]


def _step(pool, strides, padding):
    def step(x, k):
        def loss(x, k):
            conv = ops.conv(x, k, padding="same")
            pooled = ops.max_pool(ops.relu(conv), pool, strides, padding)
            return ops.sum(ops.sin(pooled))

        return nerve.grad(loss, argnums=(0, 1))(x, k)

    return step


def _inputs(x_shape, dtype):
    rng = np.random.default_rng(sum(x_shape))
    x = rng.standard_normal(x_shape).astype(dtype)
    kernel = (3,) * (len(x_shape) - 2) + (x_shape[-1], x_shape[-1])
    return x, (0.3 * rng.standard_normal(kernel)).astype(dtype)


def _without_the_pass(monkeypatch):
    monkeypatch.setattr(
        executor, "LOWERING", tuple(p for p in LOWERING if p is not mask_window_scatters)
    )


@pytest.mark.parametrize("native", [True, False])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("x_shape, pool, strides, padding", POOLS)
def test_the_masked_scatter_gives_the_two_steps_bits(
    request, monkeypatch, x_shape, pool, strides, padding, dtype, native
):
    if not native:  # the NumPy kernels (native ones off for this test)
        monkeypatch.setenv("NERVE_NATIVE", "0")
        native_windows._functions.cache_clear()
        request.addfinalizer(native_windows._functions.cache_clear)
    elif native_windows.window_functions() is None:
        pytest.skip("no C compiler: only the NumPy kernels run here")
    assert (native_windows.window_functions() is not None) == native
    x, k = _inputs(x_shape, dtype)
    step = _step(pool, strides, padding)
    fused = nerve.function(step)
    assert fused.graph_for(x, k).primitive_counts().get("masked_window_scatter") == 1
    got = [np.asarray(g) for g in fused(x, k)]
    with pytest.MonkeyPatch.context() as patch:
        _without_the_pass(patch)
        plain = nerve.function(step)
        assert "masked_window_scatter" not in plain.graph_for(x, k).primitive_counts()
        want = [np.asarray(g) for g in plain(x, k)]
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
    # And both are the gradient (eager mode, to rounding).
    for g, w in zip(got, step(x, k)):
        np.testing.assert_allclose(g, np.asarray(w), rtol=1e-4, atol=1e-5)


def test_a_scatter_read_elsewhere_stays():
    def f(g, argmax, y):
        scattered = nnp.window_scatter_p.bind(
            g, argmax, spatial_shape=(4, 4), window=(2, 2), strides=(2, 2),
            padding=((0, 0), (0, 0)),
        )  # fmt: skip
        mask = ops.cast(ops.greater(y, 0.0), "float32")
        return scattered * mask, ops.sum(scattered)

    rng = np.random.default_rng(0)
    g = rng.standard_normal((1, 2, 2, 3)).astype("float32")
    argmax = rng.integers(0, 4, (1, 2, 2, 3)).astype("int32")
    y = rng.standard_normal((1, 4, 4, 3)).astype("float32")
    counts = nerve.function(f).graph_for(g, argmax, y).primitive_counts()
    assert "masked_window_scatter" not in counts and counts.get("window_scatter") == 1


def test_a_mask_of_another_shape_is_refused():
    g = ops.zeros((1, 2, 2, 3))
    argmax = ops.zeros((1, 2, 2, 3), dtype="int32")
    with pytest.raises(ShapeError, match=r"masked_window_scatter: the mask"):
        nnp.masked_window_scatter_p.bind(
            g, argmax, ops.zeros((1, 4, 4, 2)), spatial_shape=(4, 4), window=(2, 2),
            strides=(2, 2), padding=((0, 0), (0, 0)),
        )  # fmt: skip
