"""Property tests: shape rules and values agree with NumPy on random shapes."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from nerve import ops
from nerve.core.errors import AxisError, ShapeError

PROPERTY = settings(max_examples=60, deadline=None)

small_shapes = hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=4)


def _numpy_broadcast(a, b):
    try:
        return np.broadcast_shapes(a, b)
    except ValueError:
        return None


@st.composite
def shape_pairs(draw):
    """Pairs that often broadcast (from a shared base) and sometimes do not."""
    if draw(st.booleans()):
        pair = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=4, max_side=4))
        return pair.input_shapes
    return draw(small_shapes), draw(small_shapes)


@PROPERTY
@given(shape_pairs())
def test_broadcast_shape_rule_matches_numpy(pair):
    a, b = pair
    expected = _numpy_broadcast(a, b)
    x, y = ops.zeros(a), ops.ones(b)
    if expected is None:
        with pytest.raises(ShapeError, match=r"add: shapes .* cannot be broadcast"):
            ops.add(x, y)
    else:
        assert ops.add(x, y).shape == expected


@st.composite
def array_and_axes(draw):
    shape = draw(small_shapes)
    ndim = len(shape)
    if draw(st.booleans()) or ndim == 0:
        axis = None
    else:
        axes = draw(st.lists(st.integers(-ndim, ndim - 1), min_size=1, max_size=ndim))
        unique = []
        for a in axes:
            if a % ndim not in [u % ndim for u in unique]:
                unique.append(a)
        axis = unique[0] if len(unique) == 1 and draw(st.booleans()) else tuple(unique)
    return shape, axis, draw(st.booleans())


@PROPERTY
@given(array_and_axes())
def test_reduction_shapes_match_numpy(args):
    shape, axis, keepdims = args
    data = np.random.default_rng(0).standard_normal(shape)
    x = ops.convert_to_tensor(data)
    expected_sum = np.sum(data, axis=axis, keepdims=keepdims)
    got_sum = ops.sum(x, axis=axis, keepdims=keepdims)
    assert got_sum.shape == expected_sum.shape
    np.testing.assert_allclose(got_sum.numpy(), expected_sum, atol=1e-12)
    assert ops.mean(x, axis=axis, keepdims=keepdims).shape == expected_sum.shape
    if data.size and all(shape[a] for a in _axes(axis, len(shape))):
        got_max = ops.max(x, axis=axis, keepdims=keepdims)
        np.testing.assert_array_equal(got_max.numpy(), np.max(data, axis=axis, keepdims=keepdims))


def _axes(axis, ndim):
    if axis is None:
        return range(ndim)
    return [axis] if isinstance(axis, int) else axis


@PROPERTY
@given(small_shapes, st.data())
def test_reduction_out_of_range_axis_raises(shape, data):
    ndim = len(shape)
    axis = data.draw(st.one_of(st.integers(ndim, ndim + 3), st.integers(-ndim - 3, -ndim - 1)))
    with pytest.raises(AxisError, match=rf"sum: axis {axis} is out of range"):
        ops.sum(ops.zeros(shape), axis=axis)


@PROPERTY
@given(hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=4), st.data())
def test_reshape_with_minus_one_round_trips(shape, data):
    values = np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape)
    x = ops.convert_to_tensor(values)
    # Split the elements into a random factorisation, one entry replaced by -1.
    size = values.size
    target = []
    remaining = size
    while remaining > 1 and len(target) < 3:
        divisors = [d for d in range(2, remaining + 1) if remaining % d == 0]
        d = data.draw(st.sampled_from(divisors))
        target.append(d)
        remaining //= d
    target.append(remaining)
    hole = data.draw(st.integers(0, len(target) - 1))
    with_hole = tuple(-1 if i == hole else d for i, d in enumerate(target))
    y = ops.reshape(x, with_hole)
    assert y.shape == tuple(target)
    np.testing.assert_array_equal(y.numpy(), values.reshape(with_hole))
    back = ops.reshape(y, shape)
    np.testing.assert_array_equal(back.numpy(), values)


@PROPERTY
@given(small_shapes, st.data())
def test_transpose_matches_numpy(shape, data):
    values = np.random.default_rng(1).standard_normal(shape)
    perm = tuple(data.draw(st.permutations(range(len(shape)))))
    if data.draw(st.booleans()) and perm:
        perm = tuple(p - len(shape) for p in perm)  # negative axes
    got = ops.transpose(ops.convert_to_tensor(values), perm)
    np.testing.assert_array_equal(got.numpy(), np.transpose(values, perm))


BINARY = [
    (ops.add, np.add),
    (ops.subtract, np.subtract),
    (ops.multiply, np.multiply),
    (ops.divide, np.divide),
    (ops.maximum, np.maximum),
    (ops.minimum, np.minimum),
    (ops.power, np.power),
]


@PROPERTY
@given(
    hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=4, max_side=4),
    st.sampled_from(BINARY),
    st.sampled_from(["float32", "float64"]),
)
def test_elementwise_binary_values_match_numpy(shapes, ops_pair, dtype):
    ours, reference = ops_pair
    rng = np.random.default_rng(2)
    a = rng.uniform(0.5, 2.0, shapes.input_shapes[0]).astype(dtype)
    b = rng.uniform(-2.0, 2.0, shapes.input_shapes[1]).astype(dtype)
    got = ours(ops.convert_to_tensor(a), ops.convert_to_tensor(b))
    expected = reference(a, b)
    assert got.shape == shapes.result_shape and got.dtype == dtype
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-6 if dtype == "float32" else 1e-14)


@PROPERTY
@given(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3))
def test_broadcast_gradient_has_input_shapes(shapes):
    import nerve

    a_shape, b_shape = shapes.input_shapes
    a, b = ops.ones(a_shape, dtype="float64"), ops.ones(b_shape, dtype="float64")
    with nerve.GradientTape() as tape:
        tape.watch([a, b])
        y = a * b * 2.0
    ga, gb = tape.gradient(y, [a, b])
    out_size = int(np.prod(shapes.result_shape))
    assert ga.shape == a_shape and gb.shape == b_shape
    # Each input element is used out_size / own_size times, each with derivative 2.
    if out_size:
        np.testing.assert_allclose(ga.numpy(), 2.0 * out_size / max(1, int(np.prod(a_shape))))
        np.testing.assert_allclose(gb.numpy(), 2.0 * out_size / max(1, int(np.prod(b_shape))))
