"""``resample2`` is ``resample`` along two adjacent axes: its values and its
gradients (input and both weight tables) equal those of the two one-axis binds."""

import numpy as np
import pytest

import nerve
from nerve import ops
from nerve.ops.image.resampling import resize_taps
from nerve.primitives.nn import resample2_p, resample_p


def _tables(in_size, out_size, interpolation, dtype):
    indices, weights = resize_taps(in_size, out_size, interpolation)
    return ops.convert_to_tensor(indices), ops.convert_to_tensor(weights, dtype=dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape, axis", [((5, 4, 2), 0), ((3, 5, 4, 2), 1), ((2, 5, 4), 1)])
def test_resample2_equals_two_resamples_with_gradients(dtype, shape, axis):
    x = ops.convert_to_tensor(np.random.default_rng(0).standard_normal(shape), dtype=dtype)
    first = _tables(shape[axis], 7, "bicubic", dtype)
    second = _tables(shape[axis + 1], 3, "bilinear", dtype)

    def both(fused):
        with nerve.GradientTape() as tape:
            watched = [x, first[1], second[1]]
            for t in watched:
                tape.watch(t)
            if fused:
                y = resample2_p.bind(x, *first, *second, axis=axis)
            else:
                y = resample_p.bind(resample_p.bind(x, *first, axis=axis), *second, axis=axis + 1)
            loss = ops.sum(ops.sin(y))
        return [y.numpy()] + [g.numpy() for g in tape.gradient(loss, watched)]

    tolerance = 1e-5 if dtype == "float32" else 1e-12
    for fused, composed in zip(both(True), both(False)):
        np.testing.assert_allclose(fused, composed, rtol=tolerance, atol=tolerance)
