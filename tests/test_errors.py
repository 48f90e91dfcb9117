"""Error messages are API: they name the op, what it received, what it expected, and
the user's own file:line (``nerve.core.errors.with_location``)."""

import re

import numpy as np
import pytest

import nerve
from nerve import ops
from nerve.core.errors import (
    AxisError,
    DTypeError,
    NerveError,
    ShapeError,
    normalize_axes,
    normalize_axis,
    user_location,
    with_location,
)
from nerve.primitives import PRIMITIVES, Aval


def expect_error(error_type, pattern, call):
    """Run ``call`` (a one-line lambda); check the error's type and message, and that the
    message points at the lambda's own line in this file."""
    with pytest.raises(error_type) as info:
        call()
    message = str(info.value)
    assert re.search(pattern, message, re.DOTALL), f"{pattern!r} not in {message!r}"
    line = call.__code__.co_firstlineno
    assert f"test_errors.py:{line})" in message, f"no location test_errors.py:{line} in {message!r}"
    return message


def test_exception_hierarchy_lets_users_catch_builtin_types():
    assert issubclass(ShapeError, ValueError) and issubclass(ShapeError, NerveError)
    assert issubclass(DTypeError, TypeError)
    assert issubclass(AxisError, ValueError) and issubclass(AxisError, IndexError)


def test_with_location_points_outside_the_package():
    assert user_location().endswith(f"test_errors.py:{_line()}")
    assert with_location("boom").startswith("boom\n  (called at ")


def _line():
    import sys

    return sys._getframe(1).f_lineno


# -- shapes -------------------------------------------------------------------------------


def test_broadcast_error():
    x, y = ops.ones((2, 3)), ops.ones((4,))
    expect_error(
        ShapeError,
        r"^add: shapes \(2, 3\) and \(4,\) cannot be broadcast together .*must match or be 1",
        lambda: x + y,
    )


@pytest.mark.parametrize(
    "fn,name",
    [
        (ops.subtract, "subtract"),
        (ops.multiply, "multiply"),
        (ops.maximum, "maximum"),
        (ops.power, "power"),
        (ops.less, "less"),
    ],
)
def test_every_binary_op_names_itself(fn, name):
    x, y = ops.ones((2, 3)), ops.ones((3, 2))
    expect_error(ShapeError, rf"^{name}: shapes \(2, 3\) and \(3, 2\)", lambda: fn(x, y))


def test_matmul_inner_dimension_error():
    a, b = ops.ones((2, 3)), ops.ones((4, 5))
    expect_error(
        ShapeError, r"^matmul: .*\(shape \(2, 3\)\).*\(shape \(4, 5\)\): 3 != 4", lambda: a @ b
    )


def test_matmul_vector_error_names_user_shapes():
    a, b = ops.ones((3,)), ops.ones((4,))
    expect_error(ShapeError, r"matmul: .*\(3,\).*\(4,\)", lambda: ops.matmul(a, b))


def test_matmul_batch_error_names_operand_shapes():
    a, b = ops.ones((2, 2, 3)), ops.ones((3, 3, 2))
    expect_error(ShapeError, r"matmul: .*\(2, 2, 3\).*\(3, 3, 2\)", lambda: ops.matmul(a, b))


def test_reshape_errors():
    x = ops.ones((2, 3))
    expect_error(
        ShapeError,
        r"^reshape: cannot reshape a tensor of shape \(2, 3\) \(6 elements\) into shape \(4, 2\)",
        lambda: ops.reshape(x, (4, 2)),
    )
    expect_error(
        ShapeError,
        r"^reshape: at most one unknown dimension \(-1\)",
        lambda: ops.reshape(x, (-1, -1)),
    )
    expect_error(ShapeError, r"^reshape: .*\(2, 3\).*\(4, -1\)", lambda: ops.reshape(x, (4, -1)))


def test_broadcast_to_error():
    x = ops.ones((2, 3))
    expect_error(
        ShapeError,
        r"^broadcast_to: cannot broadcast shape \(2, 3\) to \(3, 3\)",
        lambda: ops.broadcast_to(x, (3, 3)),
    )


def test_transpose_errors():
    x = ops.ones((2, 3))
    expect_error(
        ShapeError,
        r"^transpose: axes \(0, 0\) are not a permutation of the 2 axes .*\(2, 3\)",
        lambda: ops.transpose(x, (0, 0)),
    )
    expect_error(ShapeError, r"^transpose: axes \(1,\)", lambda: ops.transpose(x, (1,)))


def test_squeeze_error():
    x = ops.ones((2, 3))
    expect_error(
        ShapeError,
        r"^squeeze: axis 0 of a tensor of shape \(2, 3\) has size 2, not 1",
        lambda: ops.squeeze(x, axis=0),
    )


def test_where_error_names_all_three_shapes():
    c = ops.ones((2,), dtype="bool")
    expect_error(
        ShapeError,
        r"^where: shapes \(2,\) and \(3,\) and \(\) cannot be broadcast",
        lambda: ops.where(c, ops.ones((3,)), 0.0),
    )


def test_reduction_of_empty_axis_error():
    x = ops.zeros((0, 3))
    expect_error(
        ShapeError,
        r"^max: cannot reduce over axis 0 of size 0 \(input shape \(0, 3\)\)",
        lambda: ops.max(x, axis=0),
    )


def test_grad_non_scalar_error():
    expect_error(
        ShapeError,
        r"grad needs a function with a scalar output, got shape \(2,\)",
        lambda: nerve.grad(lambda a: a * ops.ones((2,)))(3.0),
    )


def test_variable_assign_error():
    v = nerve.Variable(np.zeros((2, 3)), name="kern")
    expect_error(
        ShapeError,
        r"Variable 'kern': cannot assign a value of shape \(3,\) to a variable of shape \(2, 3\)",
        lambda: v.assign(np.zeros(3)),
    )


# -- axes -------------------------------------------------------------------------------


@pytest.mark.parametrize("op", ["sum", "mean", "max", "min"])
def test_axis_out_of_range(op):
    x = ops.ones((2, 3))
    fn = getattr(ops, op)
    expect_error(
        AxisError,
        rf"^{op}: axis 2 is out of range for a tensor of rank 2 \(valid axes are -2..1\)",
        lambda: fn(x, axis=2),
    )
    expect_error(AxisError, rf"^{op}: axis -3 is out of range", lambda: fn(x, axis=-3))


def test_repeated_axis():
    x = ops.ones((2, 3))
    expect_error(AxisError, r"^sum: repeated axis in \(0, -2\)", lambda: ops.sum(x, axis=(0, -2)))


def test_axis_of_a_scalar():
    x = ops.convert_to_tensor(1.0)
    expect_error(AxisError, r"^sum: axis 0 is out of range for a scalar", lambda: ops.sum(x, 0))


def test_expand_dims_axis_error():
    x = ops.ones((2, 3))
    expect_error(
        AxisError, r"^expand_dims: axis 4 is out of range", lambda: ops.expand_dims(x, axis=4)
    )


def test_expand_dims_repeated_axis():
    x = ops.ones((2,))
    expect_error(AxisError, r"expand_dims: repeated axis", lambda: ops.expand_dims(x, (0, 0)))


def test_normalize_axis_helpers():
    assert normalize_axis(-1, 3, "op") == 2
    assert normalize_axes(None, 2, "op") == (0, 1)
    assert normalize_axes((-1, 0), 2, "op") == (1, 0)
    with pytest.raises(AxisError, match="op: axis must be an int, got True"):
        normalize_axis(True, 2, "op")


def test_non_integer_axis_names_the_op():
    x = ops.ones((2, 3))
    expect_error(AxisError, r"^sum: axis", lambda: ops.sum(x, axis=1.5))


# -- dtypes -------------------------------------------------------------------------------


def test_shape_rule_rejects_mixed_dtypes():
    rule = PRIMITIVES["add"].output_avals
    with pytest.raises(DTypeError, match=r"add: operands must share one dtype, got int32, float32"):
        rule(Aval((2,), "int32"), Aval((2,), "float32"))


def test_random_float_dtype_error():
    expect_error(
        DTypeError,
        r"uniform: dtype must be a floating-point type, got 'int32'",
        lambda: nerve.random.uniform((2,), dtype="int32", seed=1),
    )


def test_float_index_error():
    x = ops.ones((3,))
    idx = ops.convert_to_tensor([0.5])
    expect_error(DTypeError, r"indices must be integers, got .*float32", lambda: ops.take(x, idx))


def test_unsupported_dtype_lists_supported_ones():
    with pytest.raises(TypeError, match=r"Unsupported dtype 'complex256'. nerve supports: bool"):
        ops.ones((2,), dtype="complex256")


def test_cast_to_unsupported_dtype_names_the_op():
    x = ops.ones((2,))
    expect_error(TypeError, r"cast: .*complex256", lambda: ops.cast(x, "complex256"))


def test_truth_value_error_points_at_user():
    x = ops.ones((2,))
    expect_error(
        ValueError, r"truth value of a tensor of shape \(2,\) is ambiguous", lambda: bool(x)
    )


def test_kernel_failure_is_explained_by_the_shape_rule():
    # Binding a primitive directly skips the op's checks: the kernel fails, and the
    # eager interpreter asks the shape rule for a nerve-worded explanation.
    a, b = ops.ones((2, 3)), ops.ones((4,))
    expect_error(
        ShapeError,
        r"^add: shapes \(2, 3\) and \(4,\) cannot be broadcast",
        lambda: PRIMITIVES["add"].bind(a, b),
    )
