"""Products of tensors: one table of rows; the harness does the checking."""

import numpy as np
import pytest

from nerve import ops
from nerve.core.errors import AxisError, ShapeError
from nerve.testing.op_harness import Input, OpCase, T, op_tests


def _shapes(*pairs):
    return [tuple(Input(s) for s in shapes) for shapes in pairs]


def _t_dot(a, b):
    """numpy.dot in torch."""
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    return T.tensordot(a, b, dims=([a.ndim - 1], [0 if b.ndim == 1 else b.ndim - 2]))


def einsum_case(name, subscripts, *shapes, grad2=False):
    return OpCase(
        f"einsum_{name}",
        lambda *xs: ops.einsum(subscripts, *xs),
        _shapes(shapes),
        numpy=lambda *xs: np.einsum(subscripts, *xs),
        torch=lambda *xs: T.einsum(subscripts, *xs),
        grad2=grad2,
    )


CASES = [
    OpCase(
        "matmul",
        ops.matmul,
        _shapes(
            ((3, 4), (4, 5)),
            ((2, 3, 4), (2, 4, 5)),  # batched
            ((2, 1, 3, 4), (5, 4, 2)),  # broadcasting batch axes
            ((4,), (4, 5)),  # 1-D first operand
            ((3, 4), (4,)),  # 1-D second operand
            ((2, 3, 4), (4,)),
            ((4,), (4,)),
            ((0, 4), (4, 3)),  # empty rows
            ((3, 0), (0, 2)),  # empty inner axis: zeros
            ((1, 1), (1, 1)),
        ),
        numpy=np.matmul,
        torch=lambda a, b: T.matmul(a, b),
        grad2=True,
    ),
    OpCase(
        "dot",
        ops.dot,
        _shapes(
            ((3,), (3,)),
            ((2, 3), (3,)),
            ((2, 3), (3, 4)),
            ((2, 3, 4), (5, 4, 2)),  # N-D: not batched, all pairs
            ((), (3, 2)),  # a scalar multiplies
            ((0, 3), (3, 2)),
        ),
        numpy=np.dot,
        torch=_t_dot,
        grad2=True,
    ),
    OpCase(
        "tensordot_default",
        ops.tensordot,
        _shapes(((2, 3, 4), (3, 4, 5)), ((3, 4), (3, 4)), ((2, 0, 3), (0, 3)), ((2, 2), (2, 2))),
        numpy=np.tensordot,
        torch=lambda a, b: T.tensordot(a, b, dims=2),
        grad2=True,
    ),
    OpCase(
        "tensordot_int",
        lambda a, b: ops.tensordot(a, b, axes=1),
        _shapes(((2, 3), (3, 4, 5))),
        numpy=lambda a, b: np.tensordot(a, b, axes=1),
        torch=lambda a, b: T.tensordot(a, b, dims=1),
    ),
    OpCase(
        "tensordot_outer",
        lambda a, b: ops.tensordot(a, b, axes=0),
        _shapes(((2, 3), (4,))),
        numpy=lambda a, b: np.tensordot(a, b, axes=0),
        torch=lambda a, b: T.tensordot(a, b, dims=0),
    ),
    OpCase(
        "tensordot_pairs",
        lambda a, b: ops.tensordot(a, b, axes=([1, -1], [1, 0])),
        _shapes(((2, 3, 4), (4, 3, 5))),
        numpy=lambda a, b: np.tensordot(a, b, axes=([1, -1], [1, 0])),
        torch=lambda a, b: T.tensordot(a, b, dims=([1, 2], [1, 0])),
        grad2=True,
    ),
    OpCase(
        "tensordot_int_pair",
        lambda a, b: ops.tensordot(a, b, axes=(0, 1)),
        _shapes(((3, 2), (4, 3))),
        numpy=lambda a, b: np.tensordot(a, b, axes=(0, 1)),
        torch=lambda a, b: T.tensordot(a, b, dims=([0], [1])),
    ),
    einsum_case("matmul", "ij,jk->ik", (3, 4), (4, 5), grad2=True),
    einsum_case("batched", "bij,bjk->bik", (2, 3, 4), (2, 4, 5)),
    einsum_case("transpose", "ij->ji", (3, 4)),
    einsum_case("implicit_transpose", "ba", (3, 4)),
    einsum_case("implicit_inner", "i,i", (4,), (4,)),
    einsum_case("sum_all", "ij->", (3, 4)),
    einsum_case("summed_out", "ij,jk->i", (3, 4), (4, 5), grad2=True),  # k only in operand 2
    einsum_case("outer", "i,j->ij", (3,), (4,)),
    einsum_case("diagonal", "ii->i", (3, 3), grad2=True),
    einsum_case("trace", "ii", (4, 4)),
    einsum_case("diag_mixed", "iij,jk->ik", (3, 3, 2), (2, 4), grad2=True),
    einsum_case("triple_repeat", "iii->i", (2, 2, 2)),
    einsum_case("three_operands", "ij,jk,kl->il", (2, 3), (3, 4), (4, 2), grad2=True),
    einsum_case("ellipsis", "...ij,...jk->...ik", (2, 3, 4), (4, 5)),
    einsum_case("ellipsis_broadcast", "...ij,...jk->...ik", (2, 1, 3, 4), (5, 4, 2)),
    einsum_case("ellipsis_implicit", "...i,...i", (2, 3), (3,)),
    einsum_case("size1_broadcast", "ij,ij->ij", (1, 3), (4, 3), grad2=True),
    einsum_case("empty", "ij,jk->ik", (0, 3), (3, 2)),
    einsum_case("empty_inner", "ij,jk->ik", (2, 0), (0, 3)),
    einsum_case("spaces", "ij, jk -> ik", (2, 3), (3, 2)),
    OpCase(
        "vdot",
        ops.vdot,
        _shapes(((2, 3), (3, 2)), ((4,), (4,)), ((0,), (0, 2))),
        numpy=np.vdot,
        torch=lambda a, b: T.dot(a.reshape(-1), b.reshape(-1)),
        grad2=True,
    ),
    OpCase(
        "inner",
        ops.inner,
        _shapes(((3,), (3,)), ((2, 3), (4, 3)), ((2, 1, 3), (3,)), ((), (2, 3))),
        numpy=np.inner,
        torch=lambda a, b: T.inner(a, b),
    ),
    OpCase(
        "outer",
        ops.outer,
        _shapes(((3,), (4,)), ((2, 2), (3,)), ((0,), (2,)), ((), (2,))),
        numpy=np.outer,
        torch=lambda a, b: T.outer(a.reshape(-1), b.reshape(-1)),
        grad2=True,
    ),
    OpCase(
        "trace",
        ops.trace,
        _shapes(((3, 3),), ((3, 5),), ((4, 2, 3),), ((0, 2),)),
        numpy=np.trace,
        torch=lambda x: T.diagonal(x, dim1=0, dim2=1).sum(-1),
        grad2=True,
    ),
    OpCase(
        "trace_offset_axes",
        lambda x: ops.trace(x, offset=1, axis1=-1, axis2=0),
        _shapes(((3, 2, 4),), ((2, 1, 2),)),
        numpy=lambda x: np.trace(x, offset=1, axis1=-1, axis2=0),
        torch=lambda x: T.diagonal(x, offset=1, dim1=-1, dim2=0).sum(-1),
    ),
]

globals().update(op_tests(CASES))


# -- dtypes ------------------------------------------------------------------------------


def test_integer_and_mixed_dtypes():
    i = ops.convert_to_tensor(np.arange(6, dtype="int32").reshape(2, 3))
    assert ops.matmul(i, ops.transpose(i)).dtype == "int32"
    np.testing.assert_array_equal(ops.dot(i, ops.transpose(i)).numpy(), [[5, 14], [14, 50]])
    assert ops.matmul(i, ops.ones((3, 2), "float32")).dtype == "float32"
    b = ops.convert_to_tensor(np.array([[True, False], [True, True]]))
    assert ops.einsum("ij,jk->ik", b, b).dtype == "bool"  # Keras: the promoted type
    assert ops.trace(b).dtype == "int32" and int(ops.trace(b)) == 2


# Keras's (JAX's) result types: the promoted type, int8 products alone in int32,
# bfloat16 products kept in bfloat16 (computed in float32 by the NumPy backend).
@pytest.mark.parametrize(
    "a,b,matmul,einsum",
    [
        ("int8", "int8", "int32", "int32"),
        ("int8", "int16", "int16", "int16"),
        ("uint8", "int8", "int16", "int16"),
        ("int16", "bool", "int16", "int16"),
        ("bfloat16", "bfloat16", "bfloat16", "bfloat16"),
        ("uint8", "bfloat16", "bfloat16", "bfloat16"),
        ("uint16", "int32", "int32", "int32"),
    ],
)
def test_product_result_types(a, b, matmul, einsum):
    x, y = ops.ones((2, 2), dtype=a), ops.full((2, 2), 2, dtype=b)
    assert ops.matmul(x, y).dtype == matmul
    assert ops.einsum("ij,jk->ik", x, y).dtype == einsum
    expected = np.float32(x.numpy()) @ np.float32(y.numpy())
    np.testing.assert_array_equal(np.float32(ops.matmul(x, y).numpy()), expected)


def test_trace_ignores_off_diagonal_infinities():
    x = ops.convert_to_tensor([[1.0, np.inf], [-np.inf, 2.0]])
    assert float(ops.trace(x)) == 3.0


# -- errors -------------------------------------------------------------------------------


def test_matmul_inner_mismatch_names_both_shapes():
    with pytest.raises(ShapeError, match=r"matmul: .*\(2, 3\).*\(4, 5\).*3 != 4"):
        ops.matmul(ops.ones((2, 3)), ops.ones((4, 5)))
    with pytest.raises(ShapeError, match=r"matmul: .*\(2, 3\).*\(4,\).*3 != 4"):
        ops.matmul(ops.ones((2, 3)), ops.ones((4,)))
    with pytest.raises(ShapeError, match=r"matmul: .*broadcast"):
        ops.matmul(ops.ones((2, 3, 4)), ops.ones((5, 4, 2)))
    with pytest.raises(ShapeError, match=r"matmul: operands must be at least 1-D"):
        ops.matmul(ops.ones(()), ops.ones((2,)))


def test_dot_and_tensordot_mismatch():
    with pytest.raises(ShapeError, match=r"dot: .*shape \(2, 3\).*shape \(4,\)"):
        ops.dot(ops.ones((2, 3)), ops.ones((4,)))
    with pytest.raises(ShapeError, match=r"tensordot: .*\(2, 3\).*\(2, 3\)"):
        ops.tensordot(ops.ones((2, 3)), ops.ones((2, 3)), axes=1)
    with pytest.raises(ShapeError, match=r"tensordot: axes=3 is out of range"):
        ops.tensordot(ops.ones((2, 3)), ops.ones((2, 3)), axes=3)
    with pytest.raises(AxisError, match=r"tensordot: axis 5 is out of range .* rank 2"):
        ops.tensordot(ops.ones((2, 3)), ops.ones((2, 3)), axes=([5], [0]))
    with pytest.raises(ShapeError, match=r"vdot: .*\(2, 3\).*\(5,\)"):
        ops.vdot(ops.ones((2, 3)), ops.ones((5,)))


def test_einsum_errors():
    with pytest.raises(
        ShapeError, match=r"einsum: subscripts 'ij,jk->ik' name 2 operand\(s\), got 1"
    ):
        ops.einsum("ij,jk->ik", ops.ones((2, 3)))
    with pytest.raises(ShapeError, match=r"einsum: subscripts 'ijk' name 3 axes.*\(2, 3\)"):
        ops.einsum("ijk->i", ops.ones((2, 3)))
    with pytest.raises(ShapeError, match=r"einsum: label 'j' .* sizes 3 and 4"):
        ops.einsum("ij,jk->ik", ops.ones((2, 3)), ops.ones((4, 5)))
    with pytest.raises(ShapeError, match=r"einsum: output subscripts 'z'"):
        ops.einsum("ij->z", ops.ones((2, 3)))
    with pytest.raises(ShapeError, match=r"einsum: .* only letters"):
        ops.einsum("i1->i", ops.ones((2, 3)))


def test_trace_errors():
    with pytest.raises(ShapeError, match=r"trace: needs at least 2 axes, got shape \(3,\)"):
        ops.trace(ops.ones((3,)))
    with pytest.raises(ShapeError, match=r"trace: axis1 and axis2 are both axis 1"):
        ops.trace(ops.ones((3, 3)), axis1=1, axis2=-1)
