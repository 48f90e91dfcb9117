"""Linear algebra: one table of rows; the harness does the checking.

Matrix functions need well-conditioned inputs and unique results. A row's function
builds them from the generated inputs with the same steps in nerve, NumPy and
PyTorch (``_Lib`` holds each library's few differing names): ``spd`` (symmetric
positive definite), ``dominant`` (a dominant diagonal, far from singular); and
``unique_*`` fix the signs that QR, SVD and eigendecompositions leave free, so that
NumPy's, PyTorch's and nerve's factors, and finite differences, all agree.
"""

import math

import numpy as np
import pytest
import scipy.linalg

import nerve
from nerve import ops
from nerve.core.errors import AxisError, LinAlgError, ShapeError
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
            ((2, 3, 2, 4), (4, 5)),  # one matrix shared by a batch (a dense layer)
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
    # Two-operand products run as one matmul on NumPy: batch axes kept from both
    # operands, factors swapped, results transposed, one operand's own axis summed.
    einsum_case("attention_scores", "btnh,bsnh->bnts", (2, 3, 2, 4), (2, 5, 2, 4), grad2=True),
    einsum_case("attention_values", "bnts,bsnh->btnh", (2, 2, 3, 5), (2, 5, 2, 4)),
    einsum_case("product_transposed", "ij,jk->ki", (3, 4), (4, 5)),
    einsum_case("grouped_heads", "bkgts,bskh->btkh", (2, 2, 3, 4, 5), (2, 5, 2, 3)),
    einsum_case("kernel_gradient", "abde,abc->cde", (2, 3, 4, 5), (2, 3, 6)),
    einsum_case("ellipsis", "...ij,...jk->...ik", (2, 3, 4), (4, 5)),
    einsum_case("ellipsis_broadcast", "...ij,...jk->...ik", (2, 1, 3, 4), (5, 4, 2)),
    einsum_case("ellipsis_implicit", "...i,...i", (2, 3), (3,)),
    einsum_case("size1_broadcast", "ij,ij->ij", (1, 3), (4, 3), grad2=True),
    # All axes summed out of one product: the backends' one dot product (with a
    # diagonal, einsum's general path).
    einsum_case("full_contraction", "ijk,ijk->", (2, 3, 4), (2, 3, 4), grad2=True),
    einsum_case("full_contraction_diagonal", "ii,ii->", (3, 3), (3, 3)),
    # A size-1 label broadcast against a larger one: each cotangent keeps its operand's
    # shape (summed over the broadcast label, or spread along it).
    einsum_case("broadcast_label", "ij,ij->", (1, 3), (4, 3)),
    einsum_case("broadcast_label_kept", "ij,kj->ik", (1, 3), (4, 3)),
    einsum_case("broadcast_label_out", "ij,ij->i", (4, 3), (1, 3)),
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


class _Lib:
    """The names that differ between NumPy, PyTorch and nerve, chosen by array type."""

    def __init__(self, x):
        self.kind = "numpy" if isinstance(x, np.ndarray) else (
            "torch" if type(x).__module__.startswith("torch") else "nerve")  # fmt: skip

    def mT(self, x):
        return {"numpy": lambda: np.swapaxes(x, -1, -2), "torch": lambda: x.mT,
                "nerve": lambda: ops.swapaxes(x, -1, -2)}[self.kind]()  # fmt: skip

    def eye(self, x):
        n = x.shape[-1]
        return {"numpy": lambda: np.eye(n), "torch": lambda: T.eye(n, dtype=x.dtype),
                "nerve": lambda: ops.eye(n, dtype=x.dtype)}[self.kind]()  # fmt: skip

    def sign(self, x):
        return {"numpy": np.sign, "torch": T.sign, "nerve": ops.sign}[self.kind](x)

    def diagonal(self, x):
        if self.kind == "torch":
            return T.diagonal(x, dim1=-2, dim2=-1)
        return (np.diagonal if self.kind == "numpy" else ops.diagonal)(x, axis1=-2, axis2=-1)

    def tril(self, x):
        return {"numpy": np.tril, "torch": T.tril, "nerve": ops.tril}[self.kind](x)


def spd(a):
    lib = _Lib(a)
    return a @ lib.mT(a) + a.shape[-1] * lib.eye(a)


def dominant(a):
    return a + 2 * a.shape[-1] * _Lib(a).eye(a)


def _column_signs(lib, v):
    """One sign per column of ``v``: that of its sum (nonzero for random inputs)."""
    return lib.sign(v.sum(-2) if lib.kind != "nerve" else ops.sum(v, axis=-2))


def unique_qr(q, r):
    """q and r with r's diagonal positive."""
    signs = _Lib(q).sign(_Lib(q).diagonal(r))
    return q * signs[..., None, :], r * signs[..., :, None]


def unique_svd(u, s, vh, k=None):
    """u's first k columns, each column summing to a positive number, and s, vh to match."""
    k = s.shape[-1] if k is None else k
    u, vh = u[..., :, :k], vh[..., :k, :]
    signs = _column_signs(_Lib(u), u)
    return u * signs[..., None, :], s, vh * signs[..., :, None]


def unique_eigh(w, v):
    return w, v * _column_signs(_Lib(v), v)[..., None, :]


def eig_parts(lib_eig, a):
    """eig's results as real tensors the harness compares: the eigenvalues' real and
    imaginary parts, and the eigenvectors' magnitudes (their phase is arbitrary)."""
    w, v = lib_eig(a)
    return w.real, w.imag, abs(v)


def _nerve_eig_parts(a):
    w, v = ops.eig(a)
    return ops.real(w), ops.imag(w), ops.abs(v)


def _np_solve(a, b):
    if b.ndim == a.ndim - 1:
        return np.linalg.solve(a, b[..., None])[..., 0]
    return np.linalg.solve(a, b)


def _np_solve_triangular(a, b, lower):
    vector = b.ndim == a.ndim - 1
    b = b[..., None] if vector else b
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    a = np.broadcast_to(a, batch + a.shape[-2:])
    b = np.broadcast_to(b, batch + b.shape[-2:])
    out = scipy.linalg.solve_triangular(a, b, lower=lower)
    return out[..., 0] if vector else out


def _t_solve_triangular(a, b, lower):
    vector = b.ndim == a.ndim - 1
    out = T.linalg.solve_triangular(a, b.unsqueeze(-1) if vector else b, upper=not lower)
    return out.squeeze(-1) if vector else out


def _np_lu_factor(a):
    lu, pivots = np.vectorize(scipy.linalg.lu_factor, signature="(m,n)->(m,n),(k)")(a)
    return lu, pivots.astype("int32")


def _t_lstsq(a, b):
    vector = b.ndim == 1
    out = T.linalg.lstsq(a, b.unsqueeze(-1) if vector else b, driver="gelsd").solution
    return out.squeeze(-1) if vector else out


def _square(*shapes):
    return _shapes(*[(s,) for s in shapes])


_SQUARE = _square((3, 3), (2, 4, 4), (1, 1))


def norm_case(name, shapes, ord=None, axis=None, keepdims=False):
    def t_norm(x):
        if axis is None and ord is None:
            return T.linalg.vector_norm(x, dim=None, keepdim=keepdims)
        return T.linalg.norm(x, ord=ord, dim=axis, keepdim=keepdims)

    return OpCase(
        f"norm_{name}",
        lambda x: ops.norm(x, ord=ord, axis=axis, keepdims=keepdims),
        _shapes(*[(s,) for s in shapes]),
        numpy=lambda x: np.linalg.norm(x, ord=ord, axis=axis, keepdims=keepdims),
        torch=t_norm,
        grad=ord != 0,
    )


LINALG_CASES = [
    OpCase(
        "cholesky",
        lambda a: ops.cholesky(spd(a)),
        _SQUARE,
        numpy=lambda a: np.linalg.cholesky(spd(a)),
        torch=lambda a: T.linalg.cholesky(spd(a)),
        grad2=True,
    ),
    OpCase(
        "cholesky_upper",
        lambda a: ops.cholesky(spd(a), upper=True),
        _square((3, 3)),
        numpy=lambda a: np.linalg.cholesky(spd(a), upper=True),
        torch=lambda a: T.linalg.cholesky(spd(a), upper=True),
    ),
    OpCase(
        "cholesky_inverse",
        lambda a: ops.cholesky_inverse(dominant(ops.tril(a))),
        _square((3, 3), (2, 4, 4)),
        numpy=lambda a: np.linalg.inv(dominant(np.tril(a)) @ _Lib(a).mT(dominant(np.tril(a)))),
        torch=lambda a: T.cholesky_inverse(dominant(T.tril(a))),
    ),
    OpCase(
        "cholesky_inverse_upper",
        lambda a: ops.cholesky_inverse(dominant(ops.triu(a)), upper=True),
        _square((3, 3)),
        numpy=lambda a: np.linalg.inv(dominant(np.triu(a)).T @ dominant(np.triu(a))),
        torch=lambda a: T.cholesky_inverse(dominant(T.triu(a)), upper=True),
    ),
    OpCase(
        "det", ops.det, _SQUARE, numpy=np.linalg.det, torch=lambda a: T.linalg.det(a), grad2=True
    ),
    OpCase(
        "slogdet",
        ops.slogdet,
        _SQUARE,
        numpy=lambda a: tuple(np.linalg.slogdet(a)),
        torch=lambda a: tuple(T.linalg.slogdet(a)),
    ),
    OpCase(
        "logdet",
        lambda a: ops.logdet(spd(a)),
        _square((3, 3), (2, 4, 4)),
        numpy=lambda a: np.linalg.slogdet(spd(a))[1],
        torch=lambda a: T.logdet(spd(a)),
    ),
    OpCase(
        "inv", ops.inv, _SQUARE, numpy=np.linalg.inv, torch=lambda a: T.linalg.inv(a), grad2=True
    ),
    OpCase(
        "lu_factor",
        ops.lu_factor,
        _SQUARE,
        numpy=_np_lu_factor,
        torch=lambda a: (T.linalg.lu_factor(a)[0], T.linalg.lu_factor(a)[1] - 1),
    ),
    OpCase(
        "lu_factor_rectangular",
        ops.lu_factor,
        _square((4, 3), (2, 3, 5)),
        numpy=_np_lu_factor,
        torch=lambda a: (T.linalg.lu_factor(a)[0], T.linalg.lu_factor(a)[1] - 1),
    ),
    OpCase(
        "solve",
        lambda a, b: ops.solve(dominant(a), b),
        _shapes(
            ((3, 3), (3,)),  # a vector
            ((3, 3), (3, 2)),
            ((2, 3, 3), (2, 3)),  # a batch of vectors
            ((2, 3, 3), (2, 3, 4)),
            ((3, 3), (2, 3, 1)),  # batch axes broadcast
        ),
        numpy=lambda a, b: _np_solve(dominant(a), b),
        torch=lambda a, b: T.linalg.solve(dominant(a), b),
        grad2=True,
    ),
    *[
        OpCase(
            f"solve_triangular_{'lower' if lower else 'upper'}",
            lambda a, b, lower=lower: ops.solve_triangular(dominant(a), b, lower=lower),
            _shapes(((3, 3), (3,)), ((3, 3), (3, 2)), ((2, 3, 3), (2, 3)), ((3, 3), (2, 3, 2))),
            numpy=lambda a, b, lower=lower: _np_solve_triangular(dominant(a), b, lower),
            torch=lambda a, b, lower=lower: _t_solve_triangular(dominant(a), b, lower),
            grad2=lower,
        )
        for lower in (True, False)
    ],
    OpCase(
        "qr",
        lambda a: unique_qr(*ops.qr(a)),
        _square((4, 3), (3, 3), (3, 5), (2, 4, 2)),
        numpy=lambda a: unique_qr(*np.linalg.qr(a)),
        torch=lambda a: unique_qr(*T.linalg.qr(a)),
    ),
    OpCase(
        "qr_complete",
        lambda a: unique_qr(*ops.qr(a, mode="complete")),
        _square((3, 3), (2, 3, 5)),
        numpy=lambda a: unique_qr(*np.linalg.qr(a, mode="complete")),
        torch=lambda a: unique_qr(*T.linalg.qr(a, mode="complete")),
    ),
    OpCase(
        # q's last columns are any basis of the complement: compared with NumPy only.
        "qr_complete_tall",
        lambda a: ops.qr(a, mode="complete"),
        _square((4, 2)),
        numpy=lambda a: np.linalg.qr(a, mode="complete"),
        grad=False,
    ),
    OpCase(
        "svd",
        lambda a: unique_svd(*ops.svd(a, full_matrices=False)),
        _square((4, 3), (3, 3), (3, 5), (2, 4, 2)),
        numpy=lambda a: unique_svd(*np.linalg.svd(a, full_matrices=False)),
        torch=lambda a: unique_svd(*T.linalg.svd(a, full_matrices=False)),
        grad2=True,
    ),
    OpCase(
        # The columns past min(M, N) are any basis: the row keeps the first K of them.
        "svd_full_matrices",
        lambda a: unique_svd(*ops.svd(a)),
        _square((4, 3), (3, 5), (2, 3, 3)),
        numpy=lambda a: unique_svd(*np.linalg.svd(a)),
        torch=lambda a: unique_svd(*T.linalg.svd(a)),
    ),
    OpCase(
        # Larger than the small rows: SciPy's gesdd or NumPy's gufunc in the operand's
        # precision (every path: tests/backend/test_numpy_lapack.py).
        "svd_large",
        lambda a: unique_svd(*ops.svd(a, full_matrices=False)),
        _square((64, 72)),
        numpy=lambda a: unique_svd(*np.linalg.svd(a, full_matrices=False)),
        torch=lambda a: unique_svd(*T.linalg.svd(a, full_matrices=False)),
        dtypes=("float64",),  # float32 vectors of close singular values differ by 1e-4
    ),
    OpCase(
        "svd_values_large",
        lambda a: ops.svd(a, compute_uv=False),
        _square((2, 64, 64)),
        numpy=lambda a: np.linalg.svd(a, compute_uv=False),
        torch=lambda a: T.linalg.svdvals(a),
    ),
    OpCase(
        "svd_values",
        lambda a: ops.svd(a, compute_uv=False),
        _square((4, 3), (2, 3, 5)),
        numpy=lambda a: np.linalg.svd(a, compute_uv=False),
        torch=lambda a: T.linalg.svdvals(a),
        grad2=True,
    ),
    OpCase(
        "eigh",
        lambda a: unique_eigh(*ops.eigh(spd(a))),
        _square((3, 3), (2, 4, 4)),
        numpy=lambda a: unique_eigh(*np.linalg.eigh(spd(a))),
        torch=lambda a: unique_eigh(*T.linalg.eigh(spd(a))),
    ),
    OpCase(
        # Random real matrices: real eigenvalues and complex-conjugate pairs, in
        # LAPACK's order (NumPy and PyTorch both call geev).
        "eig",
        _nerve_eig_parts,
        _square((3, 3), (2, 4, 4)),
        numpy=lambda a: eig_parts(np.linalg.eig, a),
        torch=lambda a: eig_parts(T.linalg.eig, a),
    ),
    OpCase(
        "pinv",
        ops.pinv,
        _square((4, 3), (3, 5), (2, 3, 3)),
        numpy=np.linalg.pinv,
        torch=lambda a: T.linalg.pinv(a),
    ),
    OpCase(
        "pinv_rcond",  # the two smallest singular values fall under the cutoff
        lambda a, b: ops.pinv(a @ b, rcond=1e-6),
        _shapes(((4, 2), (2, 4))),
        numpy=lambda a, b: np.linalg.pinv(a @ b, rcond=1e-6),
        grad=False,
    ),
    OpCase(
        "lstsq",
        ops.lstsq,
        _shapes(((5, 3), (5,)), ((5, 3), (5, 2)), ((3, 5), (3,)), ((3, 3), (3, 2))),
        numpy=lambda a, b: np.linalg.lstsq(a, b)[0],
        torch=_t_lstsq,
    ),
    OpCase(
        "lstsq_rcond",  # a rank-2 matrix: the minimum-norm solution
        lambda a, b, c: ops.lstsq(a @ b, c, rcond=1e-6),
        _shapes(((5, 2), (2, 4), (5, 2))),
        numpy=lambda a, b, c: np.linalg.lstsq(a @ b, c, rcond=1e-6)[0],
        grad=False,
    ),
    OpCase(
        "matrix_rank",
        lambda a, b: ops.matrix_rank(a @ b),
        _shapes(((5, 2), (2, 4)), ((3, 3), (3, 3)), ((2, 4, 1), (2, 1, 3))),
        numpy=lambda a, b: np.linalg.matrix_rank(a @ b).astype("int32"),
        torch=lambda a, b: T.linalg.matrix_rank(a @ b).to(T.int32),
        grad=False,
    ),
    OpCase(
        # Forward-mode products, made of two reverse passes: the harness differentiates
        # them once more (third order in all).
        "jvp",
        lambda x, t: ops.jvp(lambda a: ops.sin(a) * ops.matmul(a, a), (x,), (t,)),
        _shapes(((3, 3), (3, 3)), ((1, 1), (1, 1))),
        numpy=lambda x, t: (
            np.sin(x) * (x @ x),
            np.cos(x) * (x @ x) * t + np.sin(x) * (t @ x + x @ t),
        ),
        torch=lambda x, t: (
            T.sin(x) * (x @ x),
            T.cos(x) * (x @ x) * t + T.sin(x) * (t @ x + x @ t),
        ),
        symbolic=False,  # takes a Python function, which a model config cannot hold
    ),
    norm_case("default", [(3,), (2, 3, 4)]),
    norm_case("default_keepdims", [(2, 3, 4)], keepdims=True),
    norm_case("default_scalar", [(), (0, 3)]),
    *[
        norm_case(f"vector_{o}", [(5,), (3, 4)], ord=v, axis=-1)
        for o, v in [
            ("2", 2),
            ("inf", math.inf),
            ("neg_inf", -math.inf),
            ("0", 0),
            ("1", 1),
            ("neg_1", -1),
            ("neg_2", -2),
            ("3", 3),
            ("half", 0.5),
        ]
    ],
    norm_case("vector_axis0_keepdims", [(3, 4)], ord=1, axis=0, keepdims=True),
    *[
        norm_case(f"matrix_{o}", [(3, 4), (4, 3)], ord=v)
        for o, v in [
            ("fro", "fro"),
            ("nuc", "nuc"),
            ("inf", math.inf),
            ("neg_inf", -math.inf),
            ("1", 1),
            ("neg_1", -1),
            ("2", 2),
            ("neg_2", -2),
        ]
    ],
    norm_case("matrix_axes", [(2, 3, 4)], ord="nuc", axis=(2, 0)),
    norm_case("matrix_axes_keepdims", [(2, 3, 4)], ord=1, axis=(-1, 0), keepdims=True),
    norm_case("matrix_axes_2", [(2, 3, 4)], ord=2, axis=(1, 2), keepdims=True),
]

CASES += LINALG_CASES
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


@pytest.mark.parametrize(
    "dtype,expected",
    [("uint8", "uint32"), ("uint16", "uint32"), ("int8", "int32"), ("int16", "int32")],
)
def test_trace_of_small_integers_adds_up_as_sum(dtype, expected):
    x = ops.convert_to_tensor(np.full((3, 3), 100), dtype=dtype)
    assert ops.trace(x).dtype == ops.sum(ops.diagonal(x)).dtype == expected
    assert int(ops.trace(x)) == 300  # no wrap-around in the small type


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


# -- decompositions: dtypes, errors, Keras --------------------------------------------


def test_integer_matrices_become_floatx():
    i = np.array([[2, 1], [1, 3]], dtype="int32")
    for result in (ops.det(i), ops.inv(i), ops.cholesky(i), ops.norm(i), ops.svd(i)[1]):
        assert result.dtype == "float32"
    assert ops.matrix_rank(i).dtype == "int32"
    assert ops.lu_factor(i)[1].dtype == "int32"


def test_half_precision_runs_in_float32():
    x = spd(np.random.default_rng(0).uniform(-1, 1, (3, 3))).astype("float16")
    result = ops.cholesky(x)
    assert result.dtype == "float16"
    np.testing.assert_allclose(result.numpy(), np.linalg.cholesky(x.astype("float32")), rtol=2e-3)
    # A float16 norm accumulates in float32: its squares (4 x 90000) pass float16's 65504.
    big = np.full((2, 2), 300.0, dtype="float16")
    assert ops.norm(big).dtype == "float16" and float(ops.norm(big)) == 600.0
    assert float(ops.norm(big, axis=(0, 1))) == 600.0


@pytest.mark.parametrize(
    "ord, axis",
    [(None, None), ("fro", None), (1, None), (np.inf, None), (None, 1), (2, 1), (1, 0), (3, 1),
     (0, 1), (-np.inf, (1, 0))],
)  # fmt: skip
def test_norms_of_complex_tensors_are_norms_of_the_magnitudes(ord, axis):
    rng = np.random.default_rng(3)
    z = (rng.standard_normal((3, 4)) + 1j * rng.standard_normal((3, 4))).astype("complex64")
    z[0, 1] = 0
    result = ops.norm(z, ord=ord, axis=axis)
    assert result.dtype == "float32"
    np.testing.assert_allclose(result.numpy(), np.linalg.norm(z, ord=ord, axis=axis), rtol=1e-5)


@pytest.mark.parametrize(
    "dtype, expected",
    [("int32", "complex64"), ("float16", "complex64"), ("float32", "complex64"),
     ("float64", "complex128"), ("complex64", "complex64"), ("complex128", "complex128")],
)  # fmt: skip
def test_eig_is_always_complex(dtype, expected):
    """JAX's rule: complex results even when every eigenvalue is real (NumPy and
    Keras's NumPy backend return real arrays then); complex input decomposes too."""
    rng = np.random.default_rng(1)
    x = rng.integers(-3, 4, (2, 3, 3)).astype(dtype)
    if dtype.startswith("complex"):
        x = (x + 1j * rng.integers(-3, 4, (2, 3, 3))).astype(dtype)
    w, v = ops.eig(x)
    assert w.dtype == v.dtype == expected
    np.testing.assert_allclose(w.numpy(), np.linalg.eig(x.astype(expected))[0], rtol=1e-2)
    np.testing.assert_allclose(ops.eig(np.eye(2, dtype=dtype))[0].numpy(), [1, 1])


def test_singular_matrix_results():
    singular = np.array([[1.0, 2.0], [2.0, 4.0]])
    sign, logabsdet = ops.slogdet(singular)
    assert float(sign) == 0.0 and float(logabsdet) == -np.inf
    assert float(ops.det(singular)) == 0.0
    assert int(ops.matrix_rank(singular)) == 1
    assert int(ops.matrix_rank(np.array([[1.0, 2.0], [2.0, 4.000001]]), tol=1e-2)) == 1
    np.testing.assert_allclose(ops.pinv(singular).numpy(), np.linalg.pinv(singular))


@pytest.mark.parametrize(
    "call, error, match",
    [
        (
            lambda: ops.cholesky(np.ones((3,))),
            ShapeError,
            r"cholesky: expected input to have rank >= 2.*\(3,\)",
        ),
        (lambda: ops.det(np.ones((2, 3))), ShapeError, r"det: expected a square matrix .*\(2, 3\)"),
        (lambda: ops.inv(np.ones((4, 3, 2))), ShapeError, r"inv: expected a square matrix"),
        (lambda: ops.eigh(np.ones((2, 3))), ShapeError, r"eigh: expected a square matrix"),
        (lambda: ops.eig(np.ones((2, 3))), ShapeError, r"eig: expected a square matrix"),
        (lambda: ops.cholesky(-np.eye(2)), LinAlgError, r"cholesky: .* not positive definite"),
        (lambda: ops.solve(np.zeros((2, 2)), np.ones(2)), LinAlgError, r"solve: .*[Ss]ingular"),
        (lambda: ops.solve(np.eye(2), 1.0), ShapeError, r"solve: expected b to have rank >= 1"),
        (
            lambda: ops.solve(np.eye(2), np.ones((3, 2))),
            ShapeError,
            r"solve: incompatible shapes.*a.shape=\(2, 2\), b.shape=\(3, 2\)",
        ),
        (
            lambda: ops.solve_triangular(np.eye(2), np.ones(3)),
            ShapeError,
            r"solve_triangular: incompatible",
        ),
        (
            lambda: ops.qr(np.ones((3, 3)), mode="r"),
            ValueError,
            r"qr: `mode` argument value not supported.*'r'",
        ),
        (lambda: ops.qr(np.ones(3)), ShapeError, r"qr: expected input to have rank >= 2"),
        (lambda: ops.svd(np.ones(3)), ShapeError, r"svd: expected input to have rank >= 2"),
        (
            lambda: ops.lstsq(np.ones((2, 2, 2)), np.ones(2)),
            ShapeError,
            r"lstsq: expected a to have rank 2",
        ),
        (
            lambda: ops.lstsq(np.ones((2, 2)), np.ones((2, 2, 2))),
            ShapeError,
            r"lstsq: expected b to have rank 1 or 2",
        ),
        (
            lambda: ops.lstsq(np.ones((3, 2)), np.ones(2)),
            ShapeError,
            r"lstsq: expected b.shape\[0\]",
        ),
        (
            lambda: ops.matrix_rank(np.ones(3)),
            ShapeError,
            r"matrix_rank: expected input to have rank >= 2",
        ),
        (
            lambda: ops.norm(np.ones(3), ord="fro"),
            ValueError,
            r"norm: invalid `ord` argument for a vector norm",
        ),
        (
            lambda: ops.norm(np.ones((2, 3)), ord=3),
            ValueError,
            r"norm: invalid `ord` argument for a matrix norm",
        ),
        (
            lambda: ops.norm(np.ones((2, 3)), ord="max"),
            ValueError,
            r"norm: invalid `ord` argument: expected one of",
        ),
        (lambda: ops.norm(np.ones(3), axis=1), AxisError, r"norm: axis 1 is out of range"),
        (lambda: ops.norm(np.ones(3), axis=(0, 1)), AxisError, r"norm: axis 1 is out of range"),
        (
            lambda: ops.norm(np.ones((2, 3)), axis=(1, 1)),
            AxisError,
            r"norm: the two axes .* both 1",
        ),
        (
            lambda: ops.norm(np.ones((2, 3, 4)), ord=1),
            ShapeError,
            r"norm: with axis=None and ord=1, x must be 1-D or 2-D",
        ),
        (
            lambda: ops.norm(np.ones((2, 3, 4)), axis=(0, 1, 2)),
            ShapeError,
            r"norm: axis must be an int or a pair",
        ),
    ],
)
def test_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_qr_complete_of_a_tall_matrix_has_no_gradient():
    x = ops.convert_to_tensor(np.random.default_rng(0).random((3, 2)))
    with nerve.GradientTape() as tape:
        tape.watch(x)
        y = ops.sum(ops.qr(x, mode="complete")[1])
    with pytest.raises(ShapeError, match=r"qr: mode='complete' has no gradient .*\(3, 2\)"):
        tape.gradient(y, x)


def _keras_ops():
    """Keras's ops on its NumPy backend, imported in a subprocess-free way when allowed."""
    import os

    if os.environ.get("KERAS_BACKEND", "numpy") != "numpy":
        pytest.skip("Keras runs on another backend here")
    os.environ["KERAS_BACKEND"] = "numpy"
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "numpy":
        pytest.skip("Keras was imported with another backend")
    return keras.ops


_RNG = np.random.default_rng(7)
_A = _RNG.standard_normal((2, 4, 4)).astype("float32")
_SPD = spd(_A.astype("float64")).astype("float32")
_B = _RNG.standard_normal((2, 4, 3)).astype("float32")
_TALL = _RNG.standard_normal((5, 3)).astype("float32")


@pytest.mark.parametrize(
    "name, args, kwargs",
    [
        ("cholesky", (_SPD,), {}),
        ("cholesky", (_SPD,), {"upper": True}),
        ("cholesky_inverse", (np.linalg.cholesky(_SPD[0]),), {}),  # Keras's batches fail
        ("det", (_A,), {}),
        ("inv", (_A,), {}),
        ("lu_factor", (_A,), {}),
        ("lu_factor", (_TALL,), {}),
        ("solve", (_A, _B), {}),
        ("solve", (_A[0], _B[0, :, 0]), {}),  # a batch of vectors fails in Keras's
        ("solve_triangular", (_A, _B), {"lower": True}),
        ("solve_triangular", (_A, _B[..., 0]), {}),
        ("qr", (_TALL,), {}),
        ("qr", (_TALL,), {"mode": "complete"}),
        ("svd", (_TALL,), {"full_matrices": False}),
        ("svd", (_A,), {"compute_uv": False}),
        ("eigh", (_SPD,), {}),
        ("eig", (_A,), {}),
        ("eig", (_SPD,), {}),  # real eigenvalues: Keras's are real, nerve's complex
        ("lstsq", (_TALL, _TALL[:, 0]), {}),
        ("lstsq", (_TALL, _TALL[:, :2]), {"rcond": 1e-3}),
        ("matrix_rank", (_A,), {}),
        ("pinv", (_TALL,), {}),
        ("norm", (_A,), {}),
        ("norm", (_A,), {"ord": "nuc", "axis": (1, 2), "keepdims": True}),
        ("norm", (_TALL,), {"ord": -np.inf}),
        ("norm", (_TALL,), {"ord": 3, "axis": 0}),
        ("slogdet", (_A[0],), {}),
        ("logdet", (_SPD[0],), {}),
        ("det", (np.array([[2, 1], [1, 3]], dtype="int32"),), {}),
    ],
)
def test_matches_keras(name, args, kwargs):
    """Same values, shapes and dtypes as Keras 3 on its NumPy backend (the functions
    with sign freedom are run on inputs where NumPy's LAPACK is the only source)."""
    keras_ops = _keras_ops()
    theirs = getattr(keras_ops, name)(*args, **kwargs)
    ours = getattr(ops, name)(*args, **kwargs)
    theirs = theirs if isinstance(theirs, tuple) else (theirs,)
    ours = ours if isinstance(ours, tuple) else (ours,)
    assert len(ours) == len(theirs)
    for k, (o, t) in enumerate(zip(ours, theirs)):
        t = np.asarray(keras_ops.convert_to_numpy(t))
        assert o.shape == t.shape, (name, o.shape, t.shape)
        o = o.numpy()
        if name in ("eig", "eigh") and k == 1:
            o = _phase_aligned(o, t)
        np.testing.assert_allclose(o, t, rtol=1e-4, atol=1e-5, err_msg=name)


def _phase_aligned(vectors, reference):
    """``vectors`` with each column turned by the unit factor that best matches the
    column of ``reference``: eigenvectors are defined up to that factor, and float32
    LAPACK (nerve computes float32 in float32) may choose another sign than the float64
    LAPACK Keras's NumPy backend runs."""
    overlap = np.sum(np.conj(vectors) * reference, axis=-2, keepdims=True)
    return vectors * np.where(overlap == 0, 1, overlap / np.maximum(np.abs(overlap), 1e-30))


def _gradient(fn, x):
    x = ops.convert_to_tensor(np.asarray(x, dtype="float64"))
    with nerve.GradientTape() as tape:
        tape.watch(x)
        y = ops.sum(fn(x))
    return tape.gradient(y, x).numpy()


def test_gradients_at_repeated_values_stay_finite():
    """Repeated eigen- or singular values leave the vectors free, but functions of the
    values alone, and the pseudo-inverse, still have gradients (JAX's convention)."""
    eye = np.eye(3)
    np.testing.assert_allclose(_gradient(lambda x: ops.eigh(x)[0], eye), eye)
    np.testing.assert_allclose(_gradient(lambda x: ops.real(ops.eig(x)[0]), eye), eye)
    np.testing.assert_allclose(_gradient(lambda x: ops.svd(x)[1], eye), eye)
    np.testing.assert_allclose(_gradient(lambda x: ops.pinv(x * 2.0), eye), -np.ones((3, 3)) / 2)


def test_det_gradient_of_a_singular_matrix_is_the_adjugate():
    singular = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [1.0, 0.0, 1.0]])
    cofactors = np.array([[4.0, 4.0, -4.0], [-2.0, -2.0, 2.0], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(_gradient(ops.det, singular), cofactors, atol=1e-12)


def test_jvp_structures_aux_and_errors():
    primals = (2.0, {"c": 3.0})
    out, tangent, aux = ops.jvp(
        lambda a, b: ({"s": a * b["c"]}, a + 1.0), primals, (1.0, {"c": 0.5}), has_aux=True
    )
    assert float(out["s"]) == 6.0 and float(tangent["s"]) == 4.0 and float(aux) == 3.0
    with pytest.raises(ShapeError, match=r"jvp: tangents must have the structure and shapes"):
        ops.jvp(ops.sin, (np.ones(3),), (np.ones(2),))
    with pytest.raises(TypeError, match=r"jvp: primals and tangents must be tuples or lists"):
        ops.jvp(ops.sin, np.ones(3), np.ones(3))
