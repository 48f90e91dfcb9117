"""Linear algebra (Keras names): products (matmul, dot, tensordot, einsum, vdot,
inner, outer, trace), decompositions (cholesky, lu_factor, qr, svd, eigh), solvers
(solve, solve_triangular, lstsq) and what composes them (det, slogdet, logdet, inv,
cholesky_inverse, pinv, matrix_rank, norm). Matrix functions act on the last two
axes and batch over the leading ones; integer inputs become floatx.

>>> from nerve import ops
>>> ops.matmul(ops.ones((2, 3)), ops.ones((3,))).numpy()
array([3., 3.], dtype=float32)
>>> ops.einsum("ij,j->i", ops.ones((2, 3)), ops.ones((3,))).numpy()
array([3., 3.], dtype=float32)
"""

from __future__ import annotations

import math
from typing import Any

from nerve.autodiff import GradientTape, custom_gradient
from nerve.core import dtypes, tree
from nerve.core.errors import AxisError, ShapeError, normalize_axis, with_location
from nerve.ops._convert import cast, promote, tensor, to_float
from nerve.ops.indexing import diagonal
from nerve.primitives import creation as cp
from nerve.primitives import elementwise as ew
from nerve.primitives import linalg as lp
from nerve.primitives import reduction as rp
from nerve.primitives import shape as sp
from nerve.primitives.rules import broadcast_shapes
from nerve.tensor import Tensor

__all__ = [
    "cholesky",
    "cholesky_inverse",
    "det",
    "dot",
    "eig",
    "eigh",
    "einsum",
    "inner",
    "inv",
    "jvp",
    "logdet",
    "lstsq",
    "lu_factor",
    "matmul",
    "matrix_rank",
    "norm",
    "outer",
    "pinv",
    "qr",
    "slogdet",
    "solve",
    "solve_triangular",
    "svd",
    "tensordot",
    "trace",
    "vdot",
]

# Machine epsilon of each float dtype: NumPy's default tolerances scale with it.
_EPSILON = {"float16": 2.0**-10, "bfloat16": 2.0**-7, "float32": 2.0**-23, "float64": 2.0**-52}

# Products of bools and small integers accumulate in int32, as Keras does.
_ACCUMULATE = {"bool": "int32", "uint8": "int32", "int8": "int32", "int16": "int32"}
# trace adds up as sum does: small unsigned types in uint32, small signed ones in int32.
_TRACE_ACCUMULATE = {**_ACCUMULATE, "uint8": "uint32", "uint16": "uint32"}


def _operands(x1: Any, x2: Any) -> tuple[Tensor, Tensor]:
    a, b = promote(x1, x2)
    if a.dtype == "bool":
        a, b = cast(a, "int32"), cast(b, "int32")
    return a, b


def matmul(x1: Any, x2: Any) -> Tensor:
    """Matrix product with NumPy's rules: batched, broadcasting batch axes, 1-D
    operands promoted to matrices and the added axis removed again.

    >>> from nerve import ops
    >>> ops.matmul(ops.ones((5, 2, 3)), ops.ones((3, 4))).shape
    (5, 2, 4)
    """
    int8_pair = tensor(x1).dtype == "int8" and tensor(x2).dtype == "int8"
    a, b = _operands(x1, x2)
    if int8_pair:  # Keras (after JAX): int8 @ int8 accumulates in and returns int32
        a, b = cast(a, "int32"), cast(b, "int32")
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError(
            with_location(
                f"matmul: operands must be at least 1-D, got shapes {a.shape} and {b.shape}."
            )
        )
    inner_a = a.shape[-1]
    inner_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if inner_a != inner_b:
        raise ShapeError(
            with_location(
                f"matmul: the last axis of x1 (shape {a.shape}) must match the "
                f"{'only' if b.ndim == 1 else 'second-to-last'} axis of x2 (shape {b.shape}): "
                f"{inner_a} != {inner_b}."
            )
        )
    a_vec, b_vec = a.ndim == 1, b.ndim == 1
    if a_vec:
        a = sp.reshape(a, (1, a.shape[0]))
    if b_vec:
        b = sp.reshape(b, (b.shape[0], 1))
    out = lp.matmul_p.bind(a, b)
    if a_vec or b_vec:
        shape = out.shape
        if a_vec:
            shape = (*shape[:-2], shape[-1])
        if b_vec:
            shape = shape[:-1]
        out = sp.reshape(out, shape)
    return out


def _contract(a: Tensor, b: Tensor, a_axes: tuple, b_axes: tuple, op: str) -> Tensor:
    """Sum over ``a_axes`` of ``a`` paired with ``b_axes`` of ``b``: one matmul of the
    two operands flattened to (free, contracted) and (contracted, free)."""
    a_axes = tuple(normalize_axis(i, a.ndim, op) for i in a_axes)
    b_axes = tuple(normalize_axis(i, b.ndim, op) for i in b_axes)
    a_sizes = tuple(a.shape[i] for i in a_axes)
    b_sizes = tuple(b.shape[i] for i in b_axes)
    if len(set(a_axes)) != len(a_axes) or len(set(b_axes)) != len(b_axes) or a_sizes != b_sizes:
        raise ShapeError(
            with_location(
                f"{op}: cannot contract axes {a_axes} of x1 (shape {a.shape}) with axes "
                f"{b_axes} of x2 (shape {b.shape}): the axes must be distinct and their sizes "
                f"({a_sizes} vs {b_sizes}) must match."
            )
        )
    a_free = tuple(i for i in range(a.ndim) if i not in a_axes)
    b_free = tuple(i for i in range(b.ndim) if i not in b_axes)
    k = math.prod(a_sizes)
    m = math.prod(a.shape[i] for i in a_free)
    n = math.prod(b.shape[i] for i in b_free)
    a2 = sp.reshape(sp.transpose(a, a_free + a_axes), (m, k))
    b2 = sp.reshape(sp.transpose(b, b_axes + b_free), (k, n))
    out = lp.matmul_p.bind(a2, b2)
    return sp.reshape(out, tuple(a.shape[i] for i in a_free) + tuple(b.shape[i] for i in b_free))


def tensordot(x1: Any, x2: Any, axes: Any = 2) -> Tensor:
    """Sum of products over paired axes. ``axes`` is an int ``n`` (the last ``n`` axes
    of ``x1`` with the first ``n`` of ``x2``) or a pair of axis lists.

    >>> from nerve import ops
    >>> ops.tensordot(ops.ones((2, 3, 4)), ops.ones((4, 3, 5)), axes=([1, 2], [1, 0])).shape
    (2, 5)
    """
    a, b = _operands(x1, x2)
    if isinstance(axes, int):
        if not 0 <= axes <= min(a.ndim, b.ndim):
            raise ShapeError(
                with_location(
                    f"tensordot: axes={axes} is out of range for shapes {a.shape} and {b.shape}."
                )
            )
        a_axes, b_axes = tuple(range(a.ndim - axes, a.ndim)), tuple(range(axes))
    else:
        a_axes, b_axes = axes
        a_axes = (a_axes,) if isinstance(a_axes, int) else tuple(a_axes)
        b_axes = (b_axes,) if isinstance(b_axes, int) else tuple(b_axes)
        if len(a_axes) != len(b_axes):
            raise ShapeError(
                with_location(f"tensordot: axes {a_axes} and {b_axes} must pair up one to one.")
            )
    return _contract(a, b, a_axes, b_axes, "tensordot")


def dot(x1: Any, x2: Any) -> Tensor:
    """NumPy's dot: a product with scalars, the inner product of vectors, otherwise
    a sum over the last axis of ``x1`` and the second-to-last of ``x2`` (the only
    one when ``x2`` is 1-D)."""
    a, b = _operands(x1, x2)
    if a.ndim == 0 or b.ndim == 0:
        return ew.mul(a, b)
    return _contract(a, b, (-1,), (-1 if b.ndim == 1 else -2,), "dot")


def vdot(x1: Any, x2: Any) -> Tensor:
    """Inner product of the two tensors flattened (real tensors: no conjugation)."""
    a, b = _operands(x1, x2)
    if a.size != b.size:
        raise ShapeError(
            with_location(
                f"vdot: operands must have as many entries, got shapes {a.shape} and {b.shape}."
            )
        )
    return _contract(sp.reshape(a, (a.size,)), sp.reshape(b, (b.size,)), (0,), (0,), "vdot")


def inner(x1: Any, x2: Any) -> Tensor:
    """Sum over the last axes of both operands (a product when one is a scalar)."""
    a, b = _operands(x1, x2)
    if a.ndim == 0 or b.ndim == 0:
        return ew.mul(a, b)
    return _contract(a, b, (-1,), (-1,), "inner")


def outer(x1: Any, x2: Any) -> Tensor:
    """All products ``x1[i] * x2[j]`` of the flattened operands, shape ``(M, N)``."""
    a, b = _operands(x1, x2)
    return ew.mul(sp.reshape(a, (a.size, 1)), sp.reshape(b, (1, b.size)))


def trace(x: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Tensor:
    """Sum of the diagonal ``offset`` of the planes spanned by ``axis1`` and ``axis2``.

    >>> from nerve import ops
    >>> float(ops.trace(ops.convert_to_tensor([[1.0, 2.0], [3.0, 4.0]])))
    5.0
    """
    x = tensor(x)
    x = cast(x, _TRACE_ACCUMULATE.get(x.dtype, x.dtype))
    if x.ndim < 2:
        raise ShapeError(with_location(f"trace: needs at least 2 axes, got shape {x.shape}."))
    ax1, ax2 = normalize_axis(axis1, x.ndim, "trace"), normalize_axis(axis2, x.ndim, "trace")
    if ax1 == ax2:
        raise ShapeError(with_location(f"trace: axis1 and axis2 are both axis {ax1}."))
    # Select the diagonal with a mask (a where, so inf off the diagonal gives no nan).
    mask = cp.eye_p.bind(rows=x.shape[ax1], columns=x.shape[ax2], k=int(offset), dtype="bool")
    if ax1 > ax2:
        mask = sp.transpose(mask, (1, 0))
    mask = sp.reshape(mask, tuple(d if i in (ax1, ax2) else 1 for i, d in enumerate(x.shape)))
    picked = ew.where(mask, x, ew.scalar(0, x))
    return rp.reduce_sum_p.bind(picked, axes=tuple(sorted((ax1, ax2))), keepdims=False)


# -- einsum ---------------------------------------------------------------------------


def _expand_subscripts(subscripts: str, operands: list[Tensor]) -> str:
    """Explicit letters-only subscripts: ellipses replaced by letters (aligned from
    the right, as broadcasting does) and the implicit output spelled out."""
    spec = subscripts.replace(" ", "")
    inputs, arrow, output = spec.partition("->")
    terms = inputs.split(",")
    if len(terms) != len(operands):
        raise ShapeError(
            with_location(
                f"einsum: subscripts {subscripts!r} name {len(terms)} operand(s), "
                f"got {len(operands)} (shapes {[o.shape for o in operands]})."
            )
        )
    bad = set(spec) - set(lp.EINSUM_LABELS) - set(",->.")
    if bad:
        raise ShapeError(
            with_location(
                f"einsum: subscripts {subscripts!r} may hold only letters, ',', '->' and "
                f"'...'; found {sorted(bad)}."
            )
        )
    unused = [c for c in lp.EINSUM_LABELS if c not in spec]
    ellipsis_rank = 0
    for term, x in zip(terms, operands):
        if "..." in term:
            ellipsis_rank = max(ellipsis_rank, x.ndim - (len(term) - 3))
    broadcast = "".join(unused[:ellipsis_rank])
    expanded = []
    for term, x in zip(terms, operands):
        if "..." in term:
            rank = x.ndim - (len(term) - 3)
            if rank < 0:
                raise ShapeError(
                    with_location(
                        f"einsum: subscripts {term!r} name more axes than the operand of "
                        f"shape {x.shape} has."
                    )
                )
            term = term.replace("...", broadcast[ellipsis_rank - rank :])
        expanded.append(term)
    if arrow:
        output = output.replace("...", broadcast)
    else:
        # NumPy's implicit output: broadcast axes, then labels used once, in order.
        counts = "".join(expanded)
        output = broadcast + "".join(
            sorted(c for c in set(counts) if counts.count(c) == 1 and c not in broadcast)
        )
    return ",".join(expanded) + "->" + output


def einsum(subscripts: str, *operands: Any) -> Tensor:
    """Einstein summation, as ``numpy.einsum``: ellipses, implicit outputs, repeated
    labels (diagonals) and size-1 broadcasting are supported.

    >>> from nerve import ops
    >>> x = ops.convert_to_tensor([[1.0, 2.0], [3.0, 4.0]])
    >>> ops.einsum("ii", x).numpy()
    array(5., dtype=float32)
    >>> ops.einsum("bij,bjk->bik", ops.ones((2, 3, 4)), ops.ones((2, 4, 5))).shape
    (2, 3, 5)
    """
    # Keras's rule (JAX's): the promoted type, except that int8 operands alone give
    # int32; bools multiply as int32 here, since NumPy's einsum has no bool loops.
    int8_only = bool(operands) and all(tensor(x).dtype == "int8" for x in operands)
    xs = promote(*operands) if operands else []
    if xs and (int8_only or xs[0].dtype == "bool"):
        result = "int32" if int8_only else "bool"
        wide = [cast(x, "int32") for x in xs]
        out = lp.einsum_p.bind(*wide, subscripts=_expand_subscripts(subscripts, xs))
        return cast(out, result)
    return lp.einsum_p.bind(*xs, subscripts=_expand_subscripts(subscripts, xs))


# -- decompositions, solvers and what composes them -----------------------------------


def _matrices(op: str, x: Any, square: bool = False) -> Tensor:
    """``x`` as a float tensor of matrices (rank >= 2; square if asked)."""
    x = to_float(x)
    if x.ndim < 2:
        raise ShapeError(
            with_location(
                f"{op}: expected input to have rank >= 2 (a matrix or a batch of them), "
                f"received input with shape {x.shape}."
            )
        )
    if square and x.shape[-1] != x.shape[-2]:
        raise ShapeError(
            with_location(
                f"{op}: expected a square matrix (..., M, M), received non-square input "
                f"with shape {x.shape}."
            )
        )
    return x


def _mT(x: Tensor) -> Tensor:
    return lp._swap_last(x)


def _identity_like(x: Tensor) -> Tensor:
    n = x.shape[-1]
    return sp.broadcast_to(cp.eye_p.bind(rows=n, columns=n, k=0, dtype=x.dtype), x.shape)


def cholesky(x: Any, upper: bool = False) -> Tensor:
    """The Cholesky factor of symmetric positive-definite matrices: lower ``l`` with
    ``x = l l^T`` (reading ``x``'s lower triangle), or upper ``u = l^T`` if ``upper``.
    A matrix that is not positive definite raises ``LinAlgError`` (a ``ValueError``).

    >>> from nerve import ops
    >>> ops.cholesky([[4.0, 2.0], [2.0, 5.0]]).numpy()
    array([[2., 0.],
           [1., 2.]], dtype=float32)
    """
    factor = lp.cholesky_p.bind(_matrices("cholesky", x, square=True))
    return _mT(factor) if upper else factor


def cholesky_inverse(x: Any, upper: bool = False) -> Tensor:
    """The inverse of ``a`` given its Cholesky factor ``x`` (lower: ``a = x x^T``;
    ``upper``: ``a = x^T x``).

    >>> from nerve import ops
    >>> ops.cholesky_inverse([[2.0, 0.0], [1.0, 2.0]]).numpy()
    array([[ 0.3125, -0.125 ],
           [-0.125 ,  0.25  ]], dtype=float32)
    """
    x = _matrices("cholesky_inverse", x, square=True)
    inverse_factor = lp.triangular_solve_p.bind(x, _identity_like(x), lower=not upper)
    if upper:
        return lp.matmul_p.bind(inverse_factor, _mT(inverse_factor))
    return lp.matmul_p.bind(_mT(inverse_factor), inverse_factor)


def lu_factor(x: Any) -> tuple[Tensor, Tensor]:
    """LU decomposition with partial pivoting, as ``scipy.linalg.lu_factor``: the
    packed factors (unit-diagonal ``l`` below the diagonal, ``u`` on and above it) and
    the int32 pivots (row ``i`` was swapped with row ``pivots[i]``). Rectangular
    matrices are accepted, gradients included (JAX's rule).

    >>> from nerve import ops
    >>> lu, pivots = ops.lu_factor([[1.0, 2.0], [3.0, 4.0]])
    >>> pivots.numpy()
    array([1, 1], dtype=int32)
    """
    packed, pivots, _ = lp.lu_p.bind(_matrices("lu_factor", x))
    return packed, pivots


def _lu_diagonal_and_sign(op: str, x: Any) -> tuple[Tensor, Tensor]:
    """The diagonal of ``u`` in ``x = p l u`` and the sign of ``det(p)``."""
    x = _matrices(op, x, square=True)
    packed, pivots, _ = lp.lu_p.bind(x)
    n = x.shape[-1]
    unmoved = cp.arange_p.bind(start=0, stop=n, step=1, dtype="int32")
    swaps = rp.reduce_sum_p.bind(
        cast(ew.not_equal_p.bind(pivots, unmoved), "int32"), axes=(pivots.ndim - 1,), keepdims=False
    )
    odd = ew.equal_p.bind(ew.mod_p.bind(swaps, ew.scalar(2, swaps)), ew.scalar(1, swaps))
    parity = ew.where(odd, ew.scalar(-1, x), ew.scalar(1, x))
    return diagonal(packed, axis1=-2, axis2=-1), parity


def det(x: Any) -> Tensor:
    """The determinant of square matrices (from their LU decomposition). Its gradient,
    the transposed adjugate, is finite for singular matrices too.

    >>> from nerve import ops
    >>> round(float(ops.det([[1.0, 2.0], [3.0, 4.0]])), 5)
    -2.0
    """
    x = _matrices("det", x, square=True)

    @custom_gradient
    def determinant(x: Tensor) -> tuple[Tensor, Any]:
        def gradient(upstream: Any) -> Tensor:
            g = tensor(upstream)
            return ew.mul(sp.reshape(g, (*g.shape, 1, 1)), _adjugate_transposed(x))

        return _lu_det(x), gradient

    return determinant(x)


def _lu_det(x: Tensor) -> Tensor:
    pivots_u, parity = _lu_diagonal_and_sign("det", x)
    product = rp.reduce_prod_p.bind(pivots_u, axes=(pivots_u.ndim - 1,), keepdims=False)
    return ew.mul(product, parity)


def _adjugate_transposed(x: Tensor) -> Tensor:
    """adj(x)^T, the derivative of det(x), through the SVD x = u s v^T:
    adj(x)^T = det(u) det(v) u diag(prod_{j != i} s_j) v^T. Unlike det(x) x^-T, it
    needs no inverse, so a singular matrix has one too (JAX's det is as careful)."""
    u, s, vh = lp.svd_p.bind(x, full_matrices=False, compute_uv=True)
    n = s.shape[-1]
    diagonal_mask = cp.eye_p.bind(rows=n, columns=n, k=0, dtype="bool")
    rows = sp.broadcast_to(sp.reshape(s, (*s.shape[:-1], 1, n)), (*s.shape, n))
    others = ew.where(diagonal_mask, ew.scalar(1, s), rows)  # row i: s with s_i set to 1
    cofactors = rp.reduce_prod_p.bind(others, axes=(others.ndim - 1,), keepdims=False)
    sign = ew.mul(_lu_det(u), _lu_det(vh))  # +-1: u and v are orthogonal
    scaled = ew.mul(u, sp.reshape(cofactors, (*cofactors.shape[:-1], 1, n)))
    return ew.mul(sp.reshape(sign, (*sign.shape, 1, 1)), lp.matmul_p.bind(scaled, vh))


def slogdet(x: Any) -> tuple[Tensor, Tensor]:
    """The sign (1, -1, or 0 for a singular matrix) and the natural log of the
    absolute value of the determinant of square matrices, without overflow.

    >>> from nerve import ops
    >>> sign, logabsdet = ops.slogdet([[1.0, 2.0], [3.0, 4.0]])
    >>> float(sign), round(float(logabsdet), 5)
    (-1.0, 0.69315)
    """
    pivots_u, parity = _lu_diagonal_and_sign("slogdet", x)
    last = (pivots_u.ndim - 1,)
    signs = rp.reduce_prod_p.bind(ew.sign_p.bind(pivots_u), axes=last, keepdims=False)
    logs = ew.log_p.bind(ew.abs_p.bind(pivots_u))
    return ew.mul(signs, parity), rp.reduce_sum_p.bind(logs, axes=last, keepdims=False)


def logdet(x: Any) -> Tensor:
    """The natural log of the determinant of Hermitian positive-definite matrices
    (as Keras's: the log of its absolute value, for any square matrix).

    >>> from nerve import ops
    >>> round(float(ops.logdet([[2.0, 0.0], [0.0, 3.0]])), 5)
    1.79176
    """
    return slogdet(x)[1]


def _system(op: str, a: Any, b: Any) -> tuple[Tensor, Tensor, bool]:
    """``a`` and ``b`` of ``a x = b`` as same-dtype operands of a solver primitive: ``b``
    as matrices (a batch of vectors, ``b.ndim == a.ndim - 1``, gets a last axis of 1,
    reported by the flag) and both broadcast to one batch shape."""
    a, b = promote(to_float(a), to_float(b))
    a = _matrices(op, a, square=True)
    if b.ndim < 1:
        raise ShapeError(with_location(f"{op}: expected b to have rank >= 1, received a scalar b."))
    vector = b.ndim == a.ndim - 1
    if vector:
        b = sp.reshape(b, (*b.shape, 1))
    if b.ndim < 2 or b.shape[-2] != a.shape[-1]:
        raise ShapeError(
            with_location(
                f"{op}: incompatible shapes between a and b: expected b of shape (..., M) "
                f"or (..., M, K) for a of shape (..., M, M), received a.shape={a.shape}, "
                f"b.shape={tuple(b.shape[:-1]) if vector else b.shape}."
            )
        )
    batch = broadcast_shapes(op, a.shape[:-2], b.shape[:-2])
    a = sp.broadcast_to(a, (*batch, *a.shape[-2:]))
    b = sp.broadcast_to(b, (*batch, *b.shape[-2:]))
    return a, b, vector


def _unvector(x: Tensor, vector: bool) -> Tensor:
    return sp.reshape(x, x.shape[:-1]) if vector else x


def solve(a: Any, b: Any) -> Tensor:
    """Solve ``a x = b`` for square ``a`` of shape (..., M, M) and ``b`` of shape
    (..., M) (vectors) or (..., M, K); batch axes broadcast. A singular ``a`` raises
    ``LinAlgError`` (a ``ValueError``).

    >>> from nerve import ops
    >>> ops.solve([[2.0, 0.0], [0.0, 4.0]], [2.0, 2.0]).numpy()
    array([1. , 0.5], dtype=float32)
    """
    a, b, vector = _system("solve", a, b)
    return _unvector(lp.solve_p.bind(a, b), vector)


def solve_triangular(a: Any, b: Any, lower: bool = False) -> Tensor:
    """Solve ``a x = b`` reading only the upper (or, with ``lower``, the lower)
    triangle of ``a``; shapes as in ``solve``.

    >>> from nerve import ops
    >>> ops.solve_triangular([[1.0, 2.0], [0.0, 5.0]], [2.0, 10.0]).numpy()
    array([-2.,  2.], dtype=float32)
    """
    a, b, vector = _system("solve_triangular", a, b)
    return _unvector(lp.triangular_solve_p.bind(a, b, lower=bool(lower)), vector)


def inv(x: Any) -> Tensor:
    """The inverse of square matrices (a solve against the identity).

    >>> from nerve import ops
    >>> ops.inv([[2.0, 0.0], [0.0, 4.0]]).numpy()
    array([[0.5 , 0.  ],
           [0.  , 0.25]], dtype=float32)
    """
    x = _matrices("inv", x, square=True)
    return lp.solve_p.bind(x, _identity_like(x))


def qr(x: Any, mode: str = "reduced") -> tuple[Tensor, Tensor]:
    """QR decomposition ``x = q r`` of (..., M, N) matrices, ``q`` with orthonormal
    columns and ``r`` upper triangular: ``mode="reduced"`` gives (..., M, K) and
    (..., K, N) with K = min(M, N); ``"complete"`` gives (..., M, M) and (..., M, N).

    >>> from nerve import ops
    >>> q, r = ops.qr(ops.ones((3, 2)))
    >>> q.shape, r.shape
    ((3, 2), (2, 2))
    """
    if mode not in ("reduced", "complete"):
        raise ValueError(
            with_location(
                f"qr: `mode` argument value not supported. Expected one of "
                f"{{'reduced', 'complete'}}. Received: mode={mode!r}"
            )
        )
    q, r = lp.qr_p.bind(_matrices("qr", x), mode=mode)
    return q, r


def svd(x: Any, full_matrices: bool = True, compute_uv: bool = True) -> Any:
    """Singular value decomposition ``x = u diag(s) vh`` of (..., M, N) matrices, ``s``
    descending: ``(u, s, vh)``, or ``s`` alone if not ``compute_uv``. With
    ``full_matrices`` ``u`` is (..., M, M) and ``vh`` (..., N, N), otherwise (..., M, K)
    and (..., K, N) with K = min(M, N). Gradients ignore the columns of ``u`` and rows
    of ``vh`` past K (an arbitrary basis), as PyTorch's do.

    >>> from nerve import ops
    >>> ops.svd([[3.0, 0.0], [0.0, 4.0]], compute_uv=False).numpy()
    array([4., 3.], dtype=float32)
    """
    out = lp.svd_p.bind(
        _matrices("svd", x), full_matrices=bool(full_matrices), compute_uv=bool(compute_uv)
    )
    return tuple(out) if compute_uv else out[0]


def _singular_values(x: Tensor) -> Tensor:
    return lp.svd_p.bind(x, full_matrices=False, compute_uv=False)[0]


def eig(x: Any) -> tuple[Tensor, Tensor]:
    """Eigenvalues and eigenvectors (columns of unit norm) of square matrices, always
    complex: complex128 for float64 or complex128 input, complex64 otherwise (JAX's
    rule). Differentiable, through the eigenvectors only for losses that do not depend
    on their phase (which is arbitrary).

    >>> from nerve import ops
    >>> w, v = ops.eig([[0.0, -1.0], [1.0, 0.0]])
    >>> w.dtype, w.numpy().round(6).tolist()
    ('complex64', [1j, -1j])
    """
    w, v = lp.eig_p.bind(_matrices("eig", x, square=True))
    return w, v


def eigh(x: Any) -> tuple[Tensor, Tensor]:
    """Eigenvalues (ascending) and eigenvectors (columns) of symmetric matrices, reading
    their lower triangle.

    >>> from nerve import ops
    >>> w, v = ops.eigh([[2.0, 0.0], [0.0, 1.0]])
    >>> w.numpy()
    array([1., 2.], dtype=float32)
    """
    w, v = lp.eigh_p.bind(_matrices("eigh", x, square=True))
    return w, v


def _reciprocal_above(s: Tensor, cutoff: Tensor) -> Tensor:
    """1 / s where s > cutoff, else 0 (with no infinity on either path, so gradients
    stay finite)."""
    large = ew.greater_p.bind(s, cutoff)
    one, zero = ew.scalar(1, s), ew.scalar(0, s)
    return ew.where(large, ew.div(one, ew.where(large, s, one)), zero)


def _pinv(x: Tensor, rcond: Tensor) -> Tensor:
    """The pseudo-inverse of matrices ``x`` through their reduced SVD, singular values
    at or below ``rcond`` times the largest set to zero.

    Its gradient is the pseudo-inverse's own (Golub and Pereyra's, as JAX's), not the
    SVD's: that one divides by differences of singular values, so it is infinite for
    matrices with repeated ones (an identity, an orthogonal matrix) where the
    pseudo-inverse is perfectly smooth."""

    @custom_gradient
    def pseudo_inverse(x: Tensor) -> tuple[Tensor, Any]:
        u, s, vh = lp.svd_p.bind(x, full_matrices=False, compute_uv=True)
        largest = rp.reduce_max_p.bind(s, axes=(s.ndim - 1,), keepdims=True)
        scale = _reciprocal_above(s, ew.mul(rcond, largest))
        p = lp.matmul_p.bind(_mT(vh), ew.mul(_mT(u), sp.reshape(scale, (*scale.shape, 1))))
        return p, lambda pbar: _pinv_vjp(x, p, tensor(pbar))

    return pseudo_inverse(x)


def _pinv_vjp(a: Tensor, p: Tensor, pbar: Tensor) -> Tensor:
    """abar = -p^T pbar p^T + (1 - a p) pbar^T p p^T + p^T p pbar^T (1 - p a): the
    derivative of the pseudo-inverse where the rank does not change."""
    mm = lp.matmul_p.bind
    pt, pbar_t = _mT(p), _mT(pbar)
    outside_columns = ew.sub(_identity_like(mm(a, p)), mm(a, p))  # 1 - a p, (m, m)
    outside_rows = ew.sub(_identity_like(mm(p, a)), mm(p, a))  # 1 - p a, (n, n)
    return ew.add(
        ew.neg(mm(mm(pt, pbar), pt)),
        ew.add(
            mm(outside_columns, mm(pbar_t, mm(p, pt))),
            mm(mm(mm(pt, p), pbar_t), outside_rows),
        ),
    )


def pinv(x: Any, rcond: Any = None) -> Tensor:
    """The Moore-Penrose pseudo-inverse of (..., M, N) matrices, shape (..., N, M), from
        their SVD; singular values at or below ``rcond`` (default 1e-15, NumPy's) times the
        largest count as zero. Its gradient is defined wherever the rank is locally constant
    (repeated singular values are fine).

        >>> from nerve import ops
        >>> ops.pinv([[2.0, 0.0], [0.0, 0.0]]).numpy()
        array([[0.5, 0. ],
               [0. , 0. ]], dtype=float32)
    """
    x = _matrices("pinv", x)
    rcond = cast(1e-15 if rcond is None else rcond, x.dtype)
    if rcond.ndim:  # one cutoff per matrix
        rcond = sp.reshape(rcond, (*rcond.shape, 1))
    return _pinv(x, rcond)


def lstsq(a: Any, b: Any, rcond: Any = None) -> Tensor:
    """The least-squares solution ``x`` of ``a x = b`` for ``a`` of shape (M, N) and ``b``
    of shape (M,) or (M, K) (the minimum-norm one when ``a`` is rank deficient), from
    the SVD of ``a``: singular values at or below ``rcond`` times the largest count as
    zero (default: machine epsilon times max(M, N), as NumPy's).

    >>> from nerve import ops
    >>> ops.lstsq([[1.0, 0.0], [0.0, 2.0], [0.0, 0.0]], [1.0, 2.0, 5.0]).numpy()
    array([1., 1.], dtype=float32)
    """
    a, b = promote(to_float(a), to_float(b))
    if a.ndim != 2:
        raise ShapeError(
            with_location(f"lstsq: expected a to have rank 2, received a.shape={a.shape}.")
        )
    if b.ndim not in (1, 2):
        raise ShapeError(
            with_location(f"lstsq: expected b to have rank 1 or 2, received b.shape={b.shape}.")
        )
    if b.shape[0] != a.shape[0]:
        raise ShapeError(
            with_location(
                f"lstsq: expected b.shape[0] to be equal to a.shape[0], received "
                f"a.shape={a.shape}, b.shape={b.shape}."
            )
        )
    if rcond is None:
        rcond = _EPSILON[a.dtype] * max(a.shape)
    inverse = _pinv(a, cast(rcond, a.dtype))
    return matmul(inverse, b)


def matrix_rank(x: Any, tol: Any = None) -> Tensor:
    """The number of singular values above ``tol`` of (..., M, N) matrices, int32
    (default ``tol``: the largest singular value times max(M, N) times the machine
    epsilon, as NumPy's).

    >>> from nerve import ops
    >>> int(ops.matrix_rank([[1.0, 2.0], [2.0, 4.0]]))
    1
    """
    x = _matrices("matrix_rank", x)
    s = _singular_values(x)
    last = (s.ndim - 1,)
    if tol is None:
        largest = rp.reduce_max_p.bind(s, axes=last, keepdims=True)
        eps = _EPSILON[x.dtype] * max(x.shape[-2:])
        threshold = ew.mul(largest, ew.scalar(eps, largest))
    else:
        threshold = cast(tol, x.dtype)
        if threshold.ndim:
            threshold = sp.reshape(threshold, (*threshold.shape, 1))
    above = cast(ew.greater_p.bind(s, threshold), "int32")
    return rp.reduce_sum_p.bind(above, axes=last, keepdims=False)


# -- norm ------------------------------------------------------------------------------

_MATRIX_ORDS = (None, "fro", "nuc", math.inf, -math.inf, 1, -1, 2, -2)
_FULL_L2_DTYPES = ("float32", "float64")


def norm(x: Any, ord: Any = None, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Vector or matrix norms, as ``numpy.linalg.norm``. ``axis`` an int: vector norms
    along it; a pair: matrix norms of the planes it spans; ``None``: the vector norm
    of a 1-D ``x``, the matrix norm of a 2-D one, or (with ``ord=None``) the 2-norm of
    all entries. Vector ``ord``: ``None``/2, ``inf``, ``-inf``, 0 (nonzero count), any
    other p (``sum(|x|^p)^(1/p)``). Matrix ``ord``: ``None``/``"fro"``, ``"nuc"``
    (sum of singular values), ``inf``/``-inf`` (max/min row sum of ``|x|``), 1/-1
    (max/min column sum), 2/-2 (largest/smallest singular value).

    >>> from nerve import ops
    >>> x = ops.reshape(ops.arange(9, dtype="float32") - 4, (3, 3))
    >>> round(float(ops.norm(x)), 4)
    7.746
    >>> ops.norm(x, ord=1, axis=0).numpy()
    array([7., 6., 7.], dtype=float32)
    """
    x = to_float(x)
    if ord is None and axis is None and x.dtype in _FULL_L2_DTYPES:
        # The common call, the 2-norm of every entry, first: eager per-call cost counts.
        return rp.reduce_l2_p.bind(x, axes=tuple(range(x.ndim)), keepdims=keepdims)
    if dtypes.is_complex(x.dtype) and not _from_singular_values(x, ord, axis):
        x = ew.abs_p.bind(x)  # these norms are norms of the magnitudes
    if isinstance(ord, str) and ord not in ("fro", "nuc"):
        raise ValueError(
            with_location(
                f"norm: invalid `ord` argument: expected one of {{'fro', 'nuc'}} when a "
                f"string, received ord={ord!r}."
            )
        )
    if x.dtype in ("float16", "bfloat16"):  # accumulate in float32, as Keras's backends do
        return cast(norm(cast(x, "float32"), ord, axis, keepdims), x.dtype)
    if axis is None:
        if ord is None:  # the 2-norm of every entry, whatever the rank
            return rp.reduce_l2_p.bind(x, axes=tuple(range(x.ndim)), keepdims=keepdims)
        if x.ndim not in (1, 2):
            raise ShapeError(
                with_location(
                    f"norm: with axis=None and ord={ord!r}, x must be 1-D or 2-D, received "
                    f"shape {x.shape}; pass the axis (or axes) to take the norm over."
                )
            )
        axes = tuple(range(x.ndim))
    else:
        axes = (axis,) if isinstance(axis, int) else tuple(axis)
        axes = tuple(normalize_axis(a, x.ndim, "norm") for a in axes)
    if len(axes) == 1:
        if isinstance(ord, str):
            raise ValueError(
                with_location(f"norm: invalid `ord` argument for a vector norm: ord={ord!r}.")
            )
        return _vector_norm(x, ord, axes, keepdims)
    if len(axes) == 2:
        if axes[0] == axes[1]:
            raise AxisError(
                with_location(f"norm: the two axes of a matrix norm are both {axes[0]}.")
            )
        if ord not in _MATRIX_ORDS:
            raise ValueError(
                with_location(
                    f"norm: invalid `ord` argument for a matrix norm: ord={ord!r}; expected "
                    f"one of None, 'fro', 'nuc', inf, -inf, 1, -1, 2, -2."
                )
            )
        return _matrix_norm(x, ord, axes, keepdims)
    raise ShapeError(
        with_location(
            f"norm: axis must be an int or a pair of ints (vector or matrix norms), "
            f"received axis={axis!r}."
        )
    )


def _from_singular_values(x: Tensor, ord: Any, axis: Any) -> bool:
    """Whether ``norm`` takes this norm from the SVD (a matrix norm of order 2, -2 or
    "nuc")."""
    pair = x.ndim == 2 if axis is None else not isinstance(axis, int) and len(axis) == 2
    return pair and isinstance(ord, (int, str)) and ord in ("nuc", 2, -2)


def _vector_norm(x: Tensor, ord: Any, axes: tuple, keepdims: bool) -> Tensor:
    def total(y: Tensor) -> Tensor:
        return rp.reduce_sum_p.bind(y, axes=axes, keepdims=keepdims)

    if ord is None or ord == 2:
        return rp.reduce_l2_p.bind(x, axes=tuple(sorted(axes)), keepdims=keepdims)
    magnitude = ew.abs_p.bind(x)
    if ord == math.inf:
        return rp.reduce_max_p.bind(magnitude, axes=axes, keepdims=keepdims)
    if ord == -math.inf:
        return rp.reduce_min_p.bind(magnitude, axes=axes, keepdims=keepdims)
    if ord == 0:
        return total(cast(ew.not_equal_p.bind(x, ew.scalar(0, x)), x.dtype))
    if ord == 1:
        return total(magnitude)
    p = float(ord)
    powered = total(ew.power_p.bind(magnitude, ew.scalar(p, x)))
    return ew.power_p.bind(powered, ew.scalar(1.0 / p, x))


def _matrix_norm(x: Tensor, ord: Any, axes: tuple, keepdims: bool) -> Tensor:
    rows, columns = axes
    if ord is None or ord == "fro":
        return _vector_norm(x, None, axes, keepdims)
    if ord in ("nuc", 2, -2):
        rest = tuple(a for a in range(x.ndim) if a not in axes)
        s = _singular_values(sp.transpose(x, (*rest, rows, columns)))
        last = (s.ndim - 1,)
        reduce = {"nuc": rp.reduce_sum_p, 2: rp.reduce_max_p, -2: rp.reduce_min_p}[ord]
        result = reduce.bind(s, axes=last, keepdims=False)
        if keepdims:
            result = sp.reshape(result, rp.reduced_shape(x.shape, axes, True))
        return result
    # 1 / -1: extreme column sums (summed over rows); inf / -inf: extreme row sums.
    summed, extreme = (rows, columns) if ord in (1, -1) else (columns, rows)
    sums = rp.reduce_sum_p.bind(ew.abs_p.bind(x), axes=(summed,), keepdims=True)
    reduce = rp.reduce_max_p if ord in (1, math.inf) else rp.reduce_min_p
    result = reduce.bind(sums, axes=(extreme,), keepdims=True)
    return result if keepdims else sp.reshape(result, rp.reduced_shape(x.shape, axes, False))


# -- forward-mode products ---------------------------------------------------------------


def jvp(fun: Any, primals: Any, tangents: Any, has_aux: bool = False) -> tuple:
    """``fun``'s outputs at ``primals`` and their derivative along ``tangents`` (the
    Jacobian-vector product), as ``jax.jvp``: returns ``(outputs, tangent_outputs)``, or
    ``(outputs, tangent_outputs, aux)`` when ``fun`` returns ``(outputs, aux)`` and
    ``has_aux``. ``primals`` is a tuple or list of ``fun``'s arguments (tensors or nested
    structures of them) and ``tangents`` matches it.

    Computed with reverse mode twice (the vector-Jacobian product ``u -> J^T u`` is
    linear in ``u``; its own vector-Jacobian product along the tangents is ``J t``),
    so it costs about three evaluations of ``fun``.

    >>> from nerve import ops
    >>> out, tangent = ops.jvp(ops.sin, (0.1,), (0.2,))
    >>> round(float(out), 4), round(float(tangent), 4)
    (0.0998, 0.199)
    """
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise TypeError(
            with_location(
                f"jvp: primals and tangents must be tuples or lists of fun's arguments, "
                f"received {type(primals).__name__} and {type(tangents).__name__}."
            )
        )
    primal_leaves, rebuild = tree.flatten(tuple(primals))
    tangent_leaves, _ = tree.flatten(tuple(tangents))
    primal_leaves = [to_float(p) for p in primal_leaves]
    tangent_leaves = [tensor(t) for t in tangent_leaves]
    if len(primal_leaves) != len(tangent_leaves) or any(
        p.shape != t.shape for p, t in zip(primal_leaves, tangent_leaves)
    ):
        raise ShapeError(
            with_location(
                "jvp: tangents must have the structure and shapes of primals, received "
                f"shapes {[p.shape for p in primal_leaves]} and "
                f"{[t.shape for t in tangent_leaves]}."
            )
        )
    with GradientTape() as outer:
        with GradientTape() as inner:
            for p in primal_leaves:
                inner.watch(p)
            result = fun(*rebuild(primal_leaves))
            outputs, aux = result if has_aux else (result, None)
            output_leaves, rebuild_outputs = tree.flatten(outputs)
            output_leaves = [tensor(o) for o in output_leaves]
            # The cotangents u: zeros (the value does not matter, J^T u is linear in u).
            cotangents = [ew.zeros_like(o) for o in output_leaves]
            for u in cotangents:
                outer.watch(u)
            pairing = [_inner_product(o, u) for o, u in zip(output_leaves, cotangents)]
        transposed = inner.gradient(pairing, primal_leaves, unconnected_gradients="zero")
        along = [_inner_product(g, cast(t, g.dtype)) for g, t in zip(transposed, tangent_leaves)]
    tangent_outputs = outer.gradient(along, cotangents, unconnected_gradients="zero")
    result = (rebuild_outputs(output_leaves), rebuild_outputs(list(tangent_outputs)))
    return (*result, aux) if has_aux else result


def _inner_product(x: Tensor, y: Tensor) -> Tensor:
    return rp.reduce_sum_p.bind(ew.mul(x, y), axes=tuple(range(x.ndim)), keepdims=False)
