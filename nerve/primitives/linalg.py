"""Linear-algebra primitives: products, and the decompositions and solvers that
need a backend's LAPACK (Cholesky, LU, QR, SVD, symmetric and general
eigendecompositions, general and triangular solves). Everything else in
``nerve.ops.linalg`` (det, inv, pinv, norm, lstsq, ...) composes these.

All of them act on the last two axes, batched over the leading ones, which the
operands must share (the op layer broadcasts them). Their gradients follow JAX's
and PyTorch's rules, written with these same primitives so that they
differentiate again.
"""

from __future__ import annotations

import math

from nerve.core import dtypes
from nerve.core.errors import DTypeError, ShapeError, with_location
from nerve.primitives import elementwise as ew
from nerve.primitives import reduction as rp
from nerve.primitives import rules
from nerve.primitives.creation import arange_p, eye_p, tri_p
from nerve.primitives.registry import Aval, Primitive
from nerve.primitives.shape import broadcast_to, concatenate, pad_p, reshape, split, transpose

__all__ = [
    "EINSUM_LABELS",
    "cholesky_p",
    "eig_p",
    "eigh_p",
    "einsum_p",
    "lu_p",
    "matmul_p",
    "parse_einsum",
    "qr_p",
    "solve_p",
    "svd_p",
    "triangular_solve_p",
]


def _matmul_rule(a: Aval, b: Aval) -> Aval:
    dtype = rules.same_dtype("matmul", a, b)
    if len(a.shape) < 2 or len(b.shape) < 2:
        raise ShapeError(with_location("matmul primitive: operands must have rank >= 2."))
    if a.shape[-1] != b.shape[-2]:
        raise ShapeError(
            with_location(
                f"matmul: the last axis of the first operand (shape {tuple(a.shape)}) must match "
                f"the second-to-last axis of the second (shape {tuple(b.shape)}): "
                f"{a.shape[-1]} != {b.shape[-2]}."
            )
        )
    try:
        batch = rules.broadcast_shapes("matmul", tuple(a.shape[:-2]), tuple(b.shape[:-2]))
    except ShapeError:
        raise ShapeError(
            with_location(
                f"matmul: the batch axes (all but the last two) of operands of shapes "
                f"{tuple(a.shape)} and {tuple(b.shape)} cannot be broadcast together: "
                f"{tuple(a.shape[:-2])} vs {tuple(b.shape[:-2])}."
            )
        ) from None
    return Aval((*batch, a.shape[-2], b.shape[-1]), dtype)


def _swap_last(x):
    n = len(x.shape)
    return transpose(x, (*range(n - 2), n - 1, n - 2))


def _matmul_vjp(g, inputs, out, needs):
    a, b = inputs
    return (
        matmul_p.bind(g, _swap_last(b)) if needs[0] else None,
        _matmul_weight_grad(a, b, g) if needs[1] else None,
    )


def _matmul_weight_grad(a, b, g):
    """The cotangent of ``b`` in ``a @ b``. A 2-D ``b`` shared by a batch of ``a``s (a
    dense layer on sequences) gets one product over all the batch's rows, rather than
    one product per matrix that the engine then sums over the batch: the same
    arithmetic, as one large matrix product and without the batch of partial results."""
    if len(b.shape) == 2 and len(a.shape) > 2:
        rows = math.prod(a.shape[:-1])
        flat_a = reshape(a, (rows, a.shape[-1]))
        return matmul_p.bind(transpose(flat_a, (1, 0)), reshape(g, (rows, g.shape[-1])))
    return matmul_p.bind(_swap_last(a), g)


matmul_p = Primitive("matmul", shape_rule=_matmul_rule, vjp=_matmul_vjp, fresh=True)


# -- einsum ---------------------------------------------------------------------------
# ``subscripts`` is explicit and letters only ("ij,jk->ik"): the op layer expands
# ellipses and implicit outputs. A label may repeat within one operand (a diagonal);
# a label of size 1 broadcasts against the same label elsewhere, as in NumPy.

# The labels NumPy accepts.
EINSUM_LABELS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def parse_einsum(subscripts: str) -> tuple[list[str], str]:
    inputs, output = subscripts.split("->")
    return inputs.split(","), output


def _einsum_rule(*operands: Aval, subscripts: str) -> Aval:
    inputs, output = parse_einsum(subscripts)
    if len(inputs) != len(operands):
        raise ShapeError(
            with_location(
                f"einsum: subscripts {subscripts!r} name {len(inputs)} operand(s), "
                f"got {len(operands)}."
            )
        )
    dtype = rules.same_dtype("einsum", *operands)
    sizes: dict[str, int] = {}
    for labels, operand in zip(inputs, operands):
        shape = tuple(operand.shape)
        if len(labels) != len(shape):
            raise ShapeError(
                with_location(
                    f"einsum: subscripts {labels!r} name {len(labels)} axes, but the operand "
                    f"has shape {shape} (rank {len(shape)})."
                )
            )
        for label, size in zip(labels, shape):
            known = sizes.setdefault(label, size)
            if size == known or size == 1:
                continue
            if known != 1:
                raise ShapeError(
                    with_location(
                        f"einsum: label {label!r} in {subscripts!r} has sizes {known} and "
                        f"{size}; operand shapes are {[tuple(o.shape) for o in operands]}."
                    )
                )
            sizes[label] = size
    missing = [label for label in output if label not in sizes]
    if missing or len(set(output)) != len(output):
        raise ShapeError(
            with_location(
                f"einsum: output subscripts {output!r} must be distinct labels that appear "
                f"in the inputs of {subscripts!r}."
            )
        )
    return Aval(tuple(sizes[label] for label in output), dtype)


def _einsum_operand_ct(g, inputs, k: int, subscripts: str):
    """Cotangent of operand ``k``: an einsum of ``g`` with the other operands.

    Labels of operand k found nowhere else were summed out, so the cotangent is
    constant along them (a broadcast). A label repeated within operand k picks a
    diagonal, so its cotangent is spread onto that diagonal with an identity matrix.
    """
    in_labels, out_labels = parse_einsum(subscripts)
    labels = in_labels[k]
    shape = tuple(inputs[k].shape)
    others = [i for i in range(len(inputs)) if i != k]
    available = set(out_labels).union(*(in_labels[i] for i in others))
    unused = iter(c for c in EINSUM_LABELS if c not in set(subscripts))

    renamed, deltas, delta_sizes = [], [], []
    for pos, label in enumerate(labels):
        if label in labels[:pos]:
            fresh = next(unused)
            deltas.append(label + fresh)
            delta_sizes.append(shape[pos])
            renamed.append(fresh)
        else:
            renamed.append(label)
    # Labels the cotangent einsum can produce: all but those summed out in operand k alone,
    # and those operand k broadcast (size 1 against a larger size elsewhere): summed too,
    # then put back as size-1 axes below.
    broadcast = {c for c, n in zip(labels, shape) if n == 1 and labels.count(c) == 1}
    target = "".join(dict.fromkeys(c for c in labels if c in available and c not in broadcast))
    ct = einsum_p.bind(
        g,
        *(inputs[i] for i in others),
        subscripts=",".join([out_labels, *(in_labels[i] for i in others)]) + "->" + target,
    )
    result = "".join(c for c in renamed if c in set(target).union(*deltas))
    if deltas:
        eyes = [eye_p.bind(rows=n, columns=n, k=0, dtype=g.dtype) for n in delta_sizes]
        ct = einsum_p.bind(ct, *eyes, subscripts=",".join([target, *deltas]) + "->" + result)
    else:
        ct = transpose(ct, tuple(target.index(c) for c in result))
    if len(result) < len(renamed):
        # Summed-out labels: insert their axes and broadcast along them.
        kept = iter(ct.shape)
        expanded = tuple(next(kept) if c in result else 1 for c in renamed)
        ct = reshape(ct, expanded)
        full = tuple(d if c in result else n for c, d, n in zip(renamed, expanded, shape))
        ct = broadcast_to(ct, full)
    if tuple(ct.shape) != shape:
        # Operand k has a label at full size that every other operand broadcast (size
        # 1): the cotangent einsum made it size 1, constant along that label.
        ct = broadcast_to(ct, shape)
    return ct


def _einsum_vjp(g, inputs, out, needs, subscripts):
    return tuple(
        _einsum_operand_ct(g, inputs, k, subscripts) if needs[k] else None
        for k in range(len(inputs))
    )


einsum_p = Primitive("einsum", shape_rule=_einsum_rule, vjp=_einsum_vjp)


# -- decompositions and solvers -------------------------------------------------------
# Helpers for the gradient rules below; each binds primitives, so rules differentiate.


def _mT(x):
    """The matrix transpose of the last two axes."""
    return _swap_last(x)


def _mm(a, b):
    return matmul_p.bind(a, b)


def _band(x, k: int, lower: bool):
    """``x`` with the entries above (``lower``) or below the ``k``-th diagonal zeroed."""
    rows, columns = x.shape[-2:]
    if lower:
        keep = tri_p.bind(rows=rows, columns=columns, k=k, dtype="bool")
    else:
        keep = ew.logical_not_p.bind(tri_p.bind(rows=rows, columns=columns, k=k - 1, dtype="bool"))
    return ew.where(keep, x, ew.scalar(0, x))


def _eye_like(x, n: int):
    return eye_p.bind(rows=n, columns=n, k=0, dtype=x.dtype)


def _symmetrize(x):
    """(x + x^T) / 2: a symmetric input's cotangent, since only one triangle is read
    but the matrix stands for both (JAX's and PyTorch's convention)."""
    return ew.mul(ew.add(x, _mT(x)), ew.scalar(0.5, x))


def _off_diagonal_reciprocal(values):
    """F[..., i, j] = 1 / (values[j] - values[i]), and 0 where the two are equal (the
    diagonal, and exactly repeated values, as JAX's svd rule does): the factor by
    which eigen- and singular vectors move. Zero at a tie keeps the gradient of
    anything that does not depend on the vectors (the values, a pseudo-inverse) finite
    where the vectors themselves are not unique."""
    n = values.shape[-1]
    difference = ew.sub(reshape(values, (*values.shape[:-1], 1, n)),
                        reshape(values, (*values.shape[:-1], n, 1)))  # fmt: skip
    tie = ew.equal_p.bind(difference, ew.scalar(0, values))
    safe = ew.where(tie, ew.scalar(1, values), difference)
    return ew.where(tie, ew.scalar(0, values), ew.div(ew.scalar(1, values), safe))


def _float_matrix_rule(op: str, *avals: Aval, complex_ok: bool = False) -> str:
    dtype = rules.same_dtype(op, *avals)
    floating = dtype in ("float16", "bfloat16", "float32", "float64")
    if not (floating or (complex_ok and dtypes.is_complex(dtype))):
        expected = "floating-point or complex" if complex_ok else "floating-point"
        raise DTypeError(with_location(f"{op}: needs {expected} matrices, got {dtype}."))
    for a in avals:
        if len(a.shape) < 2:
            raise ShapeError(
                with_location(f"{op}: operands must have rank >= 2, got shape {tuple(a.shape)}.")
            )
    return dtype


def _square_rule(op: str, a: Aval, complex_ok: bool = False) -> str:
    dtype = _float_matrix_rule(op, a, complex_ok=complex_ok)
    if a.shape[-1] != a.shape[-2]:
        raise ShapeError(with_location(f"{op}: needs square matrices, got shape {tuple(a.shape)}."))
    return dtype


def _system_rule(op: str, a: Aval, b: Aval, complex_ok: bool = False) -> Aval:
    """``a x = b`` with ``a`` of shape (..., n, n) and ``b`` of shape (..., n, k)."""
    dtype = _square_rule(op, a, complex_ok)
    _float_matrix_rule(op, a, b, complex_ok=complex_ok)
    if tuple(a.shape[:-2]) != tuple(b.shape[:-2]) or a.shape[-1] != b.shape[-2]:
        raise ShapeError(
            with_location(
                f"{op}: needs a of shape (..., n, n) and b of shape (..., n, k) with the same "
                f"batch axes, got {tuple(a.shape)} and {tuple(b.shape)}."
            )
        )
    return Aval(tuple(b.shape), dtype)


# Cholesky: a = l l^T, l lower triangular (the kernel reads a's lower triangle).
# With s = l^-1 da l^-T, dl = l phi(s), phi keeping the lower triangle and halving the
# diagonal; so abar = l^-T phi(l^T lbar) l^-1, symmetrized.


def _cholesky_vjp(g, inputs, out, needs):
    n = out.shape[-1]
    half_diagonal = ew.add(
        tri_p.bind(rows=n, columns=n, k=-1, dtype=out.dtype),
        ew.mul(_eye_like(out, n), ew.scalar(0.5, out)),
    )
    phi = ew.mul(_mm(_mT(out), g), half_diagonal)
    left = triangular_solve_p.bind(_mT(out), phi, lower=False)  # l^-T phi
    abar = _mT(triangular_solve_p.bind(_mT(out), _mT(left), lower=False))  # (l^-T left^T)^T
    return (_symmetrize(abar),)


cholesky_p = Primitive(
    "cholesky",
    shape_rule=lambda a: Aval(tuple(a.shape), _square_rule("cholesky", a)),
    vjp=_cholesky_vjp,
    fresh=True,
)


# Triangular solve: x = a^-1 b, reading only a's lower (or upper) triangle.
# bbar = a^-T xbar; abar = -bbar x^T, restricted to the triangle read.


def _triangular_solve_vjp(g, inputs, out, needs, lower):
    a, _ = inputs
    bbar = triangular_solve_p.bind(_mT(a), g, lower=not lower)
    abar = _band(ew.neg(_mm(bbar, _mT(out))), 0, lower) if needs[0] else None
    return abar, bbar if needs[1] else None


triangular_solve_p = Primitive(
    "triangular_solve",
    shape_rule=lambda a, b, *, lower: _system_rule("solve_triangular", a, b),
    vjp=_triangular_solve_vjp,
    fresh=True,
)


def _solve_vjp(g, inputs, out, needs):
    a, _ = inputs
    bbar = solve_p.bind(_mT(a), g)
    return (ew.neg(_mm(bbar, _mT(out))) if needs[0] else None), (bbar if needs[1] else None)


# Complex systems too (eig's gradient solves with its eigenvectors); the rule is the
# transpose without conjugation, which is JAX's convention for complex cotangents.
solve_p = Primitive(
    "solve",
    shape_rule=lambda a, b: _system_rule("solve", a, b, complex_ok=True),
    vjp=_solve_vjp,
    fresh=True,
)


# LU with partial pivoting: a = p l u. Results: the packed factors (l below the
# diagonal, its unit diagonal implied; u on and above), LAPACK's pivots (row i was
# swapped with row pivots[i], int32) and the permutation they make (a[perm] = l u).
# JAX's rule, for any shape: l padded to a unit lower (m, m) matrix, u to an upper
# (n, n) one (an identity in the corner), f = l^-1 p^T da u^-1 and
# dlu = l tril(f, -1) + triu(f) u; so abar = p l^-T (tril(l^T g, -1) + triu(g u^T)) u^-T.


def _lu_rule(a: Aval) -> tuple[Aval, Aval, Aval]:
    dtype = _float_matrix_rule("lu_factor", a)
    *batch, m, n = a.shape
    return (
        Aval(tuple(a.shape), dtype),
        Aval((*batch, min(m, n)), "int32"),
        Aval((*batch, m), "int32"),
    )


def _pad_last_two(x, rows: int, columns: int):
    """``x`` with zero rows and columns appended up to (..., rows, columns)."""
    extra_rows, extra_columns = rows - x.shape[-2], columns - x.shape[-1]
    if not (extra_rows or extra_columns):
        return x
    widths = ((0, 0),) * (x.ndim - 2) + ((0, extra_rows), (0, extra_columns))
    return pad_p.bind(x, pad_width=widths, value=0)


def _lu_vjp(cts, inputs, out, needs):
    packed, _, permutation = out
    g = cts[0]
    m, n = packed.shape[-2:]
    k = min(m, n)
    axis = packed.ndim - 1
    lower = _pad_last_two(_band(_leading(packed, axis, k), -1, lower=True), m, m)
    lower = ew.add(lower, _eye_like(packed, m))
    upper = _pad_last_two(_band(_leading(packed, axis - 1, k), 0, lower=False), n, n)
    if n > k:  # ones on the rest of u's diagonal, so that it is invertible
        corner = eye_p.bind(rows=n - k, columns=n - k, k=0, dtype=packed.dtype)
        upper = ew.add(upper, pad_p.bind(corner, pad_width=((k, 0), (k, 0)), value=0))
    middle = ew.add(
        _band(_mm(_mT(lower), g), -1, lower=True), _band(_mm(g, _mT(upper)), 0, lower=False)
    )
    left = triangular_solve_p.bind(_mT(lower), middle, lower=False)  # l^-T middle
    x = _mT(triangular_solve_p.bind(upper, _mT(left), lower=False))  # left u^-T
    # p^T as a one-hot matrix: row i holds a 1 in column perm[i].
    columns = arange_p.bind(start=0, stop=m, step=1, dtype="int32")
    one_hot = ew.equal_p.bind(reshape(permutation, (*permutation.shape, 1)), columns)
    return (_mm(_mT(ew.cast(one_hot, x.dtype)), x),)


lu_p = Primitive("lu", shape_rule=_lu_rule, vjp=_lu_vjp, multiple_results=True, fresh=True)


# QR: a = q r. Reduced (or square) with m >= n: m = r rbar^T - qbar^T q,
# abar = (qbar + q copyltu(m)) r^-T, copyltu(m) the symmetric matrix with m's lower
# triangle. For m < n, a = [x | y] with x square: y's part is q rbar_y, and x's is
# the square rule with qbar + y rbar_y^T.


def _qr_rule(a: Aval, *, mode: str) -> tuple[Aval, Aval]:
    dtype = _float_matrix_rule("qr", a)
    *batch, m, n = a.shape
    k = m if mode == "complete" else min(m, n)
    return Aval((*batch, m, k), dtype), Aval((*batch, k, n), dtype)


def _qr_square_vjp(q, r, qbar, rbar):
    """The cotangent of a = q r for q (m, n) and square r (n, n), m >= n."""
    middle = ew.sub(_mm(r, _mT(rbar)), _mm(_mT(qbar), q))
    lower = _band(middle, 0, lower=True)
    copyltu = ew.add(lower, _mT(_band(middle, -1, lower=True)))
    b = ew.add(qbar, _mm(q, copyltu))
    return _mT(triangular_solve_p.bind(r, _mT(b), lower=False))


def _qr_vjp(cts, inputs, out, needs, mode):
    (a,) = inputs
    q, r = out
    qbar, rbar = cts
    m, n = a.shape[-2:]
    if m < n:
        r_x, r_y = split(r, r.ndim - 1, (0, m, n))
        rbar_x, rbar_y = split(rbar, r.ndim - 1, (0, m, n))
        _, y = split(a, a.ndim - 1, (0, m, n))
        xbar = _qr_square_vjp(q, r_x, ew.add(qbar, _mm(y, _mT(rbar_y))), rbar_x)
        return (concatenate([xbar, _mm(q, rbar_y)], a.ndim - 1),)
    if m > n and mode == "complete":
        raise ShapeError(
            with_location(
                f"qr: mode='complete' has no gradient for matrices with more rows than "
                f"columns (shape {tuple(a.shape)}): q's extra columns are not unique. Use "
                "mode='reduced'."
            )
        )
    return (_qr_square_vjp(q, r, qbar, rbar),)


qr_p = Primitive("qr", shape_rule=_qr_rule, vjp=_qr_vjp, multiple_results=True, fresh=True)


# SVD: a = u diag(s) vh, s descending. Real case, k = min(m, n), f the off-diagonal
# reciprocal of s^2 (Townsend's rule, as PyTorch's):
# abar = u [(f o (u^T ubar - ubar^T u)) s + diag(sbar) + s (f o (v^T vbar - vbar^T v))] v^T
#        + (1 - u u^T) ubar s^-1 v^T + u s^-1 vbar^T (1 - v v^T).
# With full_matrices, the columns past k of u and v (any basis of the complement) get
# no gradient, as in PyTorch.


def _svd_rule(a: Aval, *, full_matrices: bool, compute_uv: bool) -> tuple[Aval, ...]:
    dtype = _float_matrix_rule("svd", a)
    *batch, m, n = a.shape
    k = min(m, n)
    s = Aval((*batch, k), dtype)
    if not compute_uv:
        return (s,)
    if full_matrices:
        return Aval((*batch, m, m), dtype), s, Aval((*batch, n, n), dtype)
    return Aval((*batch, m, k), dtype), s, Aval((*batch, k, n), dtype)


def _leading(x, axis: int, k: int):
    """The first ``k`` entries of ``x`` along ``axis`` (``x`` itself if that is all)."""
    size = x.shape[axis]
    return x if size == k else split(x, axis, (0, k, size))[0]


def _svd_vjp(cts, inputs, out, needs, full_matrices, compute_uv):
    (a,) = inputs
    m, n = a.shape[-2:]
    k = min(m, n)
    if not compute_uv:  # one result: the engine passes its cotangent unwrapped
        u, s, vh = svd_p.bind(a, full_matrices=False, compute_uv=True)
        return (_mm(ew.mul(u, _row(cts)), vh),)
    u, s, vh = _leading(out[0], a.ndim - 1, k), out[1], _leading(out[2], a.ndim - 2, k)
    ubar, sbar, vhbar = _leading(cts[0], a.ndim - 1, k), cts[1], _leading(cts[2], a.ndim - 2, k)
    v, vbar = _mT(vh), _mT(vhbar)
    f = _off_diagonal_reciprocal(ew.mul(s, s))
    ut_ubar, vt_vbar = _mm(_mT(u), ubar), _mm(_mT(v), vbar)
    inner = ew.add(
        ew.add(
            ew.mul(ew.mul(f, ew.sub(ut_ubar, _mT(ut_ubar))), _row(s)),
            ew.mul(_column(s), ew.mul(f, ew.sub(vt_vbar, _mT(vt_vbar)))),
        ),
        ew.mul(_eye_like(s, k), _row(sbar)),
    )
    abar = _mm(_mm(u, inner), vh)
    if m > k:  # u does not span the column space: the part of ubar outside it
        outside = ew.sub(ubar, _mm(u, ut_ubar))
        abar = ew.add(abar, _mm(ew.div(outside, _row(s)), vh))
    if n > k:
        outside = ew.sub(vbar, _mm(v, vt_vbar))
        abar = ew.add(abar, _mm(u, ew.div(_mT(outside), _column(s))))
    return (abar,)


def _row(vector):
    """A (..., k) vector as a (..., 1, k) row, to scale the columns of a matrix."""
    return reshape(vector, (*vector.shape[:-1], 1, vector.shape[-1]))


def _column(vector):
    return reshape(vector, (*vector.shape, 1))


svd_p = Primitive("svd", shape_rule=_svd_rule, vjp=_svd_vjp, multiple_results=True, fresh=True)


# Symmetric eigendecomposition: a = v diag(w) v^T, w ascending (the kernel reads a's
# lower triangle). abar = v (diag(wbar) + f o (v^T vbar)) v^T, symmetrized, with f the
# off-diagonal reciprocal of w.


def _eigh_rule(a: Aval) -> tuple[Aval, Aval]:
    dtype = _square_rule("eigh", a)
    return Aval(tuple(a.shape[:-1]), dtype), Aval(tuple(a.shape), dtype)


def _eigh_vjp(cts, inputs, out, needs):
    w, v = out
    wbar, vbar = cts
    n = w.shape[-1]
    inner = ew.add(
        ew.mul(_eye_like(w, n), _row(wbar)),
        ew.mul(_off_diagonal_reciprocal(w), _mm(_mT(v), vbar)),
    )
    return (_symmetrize(_mm(_mm(v, inner), _mT(v))),)


eigh_p = Primitive("eigh", shape_rule=_eigh_rule, vjp=_eigh_vjp, multiple_results=True, fresh=True)


# General eigendecomposition: a v = v diag(w), complex w and v (columns of unit norm)
# whatever a's dtype, as JAX returns them. JAX's tangent rule, with m = v^-1 da v and
# f the off-diagonal reciprocal of w: dw = diag(m), du = v (f o m), and the columns
# kept at unit norm, dv = du - v re(diag(v^H du)). Transposed (no conjugation, JAX's
# convention for complex cotangents): ubar = vbar - conj(v) re(colsum(vbar o v)),
# mbar = diag(wbar) + f o (v^T ubar), abar = v^-T mbar v^T; a real input takes the
# real part. Eigenvectors are unique only up to a phase, so only losses that do not
# depend on it (|v|, v v^-1, ...) have a gradient through them.


def _eig_rule(a: Aval) -> tuple[Aval, Aval]:
    dtype = dtypes.complex_dtype(_square_rule("eig", a, complex_ok=True))
    return Aval(tuple(a.shape[:-1]), dtype), Aval(tuple(a.shape), dtype)


def _eig_vjp(cts, inputs, out, needs):
    (a,) = inputs
    w, v = out
    wbar, vbar = cts
    n = w.shape[-1]
    column_sums = rp.reduce_sum_p.bind(ew.mul(vbar, v), axes=(v.ndim - 2,), keepdims=True)
    norm_part = ew.cast(ew.real_p.bind(column_sums), v.dtype)
    ubar = ew.sub(vbar, ew.mul(ew.conj_p.bind(v), norm_part))
    mbar = ew.add(
        ew.mul(_eye_like(w, n), _row(wbar)),
        ew.mul(_off_diagonal_reciprocal(w), _mm(_mT(v), ubar)),
    )
    abar = solve_p.bind(_mT(v), _mm(mbar, _mT(v)))
    if not dtypes.is_complex(a.dtype):
        abar = ew.cast(ew.real_p.bind(abar), a.dtype)
    return (abar,)


eig_p = Primitive("eig", shape_rule=_eig_rule, vjp=_eig_vjp, multiple_results=True, fresh=True)
