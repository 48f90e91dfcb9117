"""Linear-algebra kernels.

Strided operands go to BLAS as they are (NumPy passes transposed views with a
transpose flag, without copying); einsum operands are made contiguous, since
NumPy's einsum falls back to slow loops on some strided layouts, and larger einsums
follow a contraction path (found once per subscripts and shapes) that reaches BLAS.
"""

from __future__ import annotations

import functools
import math
import warnings
from typing import Any

from nerve.backend.numpy_backend import bidiagonal_svd
from nerve.backend.numpy_backend import lapack as numpy_lapack
from nerve.core.errors import LinAlgError

__all__ = [
    "PRIME_FROM",
    "kernels",
    "lu_without_scipy",
    "prime_blas",
]


@functools.cache
def _scipy_linalg():
    """SciPy's LAPACK wrappers (triangular solves, LU), when SciPy is installed: NumPy
    has neither. Without it, the kernels fall back to NumPy (slower, same results)."""
    try:
        import scipy.linalg
    except ImportError:  # pragma: no cover - SciPy is in the test extras
        return None
    return scipy.linalg


def lu_without_scipy(xp, a):
    """LU with partial pivoting of a (batch, m, n) stack, written with array operations
    (one step per column, vectorized over the batch): LAPACK's getrf, for when SciPy
    is missing. Returns the packed factors and LAPACK's 0-based pivots."""
    lu = xp.array(a, copy=True)
    batch, m, n = lu.shape
    k = min(m, n)
    rows = xp.arange(batch)
    pivots = xp.zeros((batch, k), dtype=xp.int32)
    for j in range(k):
        p = j + xp.argmax(xp.abs(lu[:, j:, j]), axis=1)
        pivots[:, j] = p
        swapped = lu[rows, p].copy()
        lu[rows, p] = lu[rows, j]
        lu[rows, j] = swapped
        pivot = lu[:, j, j : j + 1]
        safe = xp.where(pivot == 0, 1, pivot)  # a zero column: nothing to eliminate
        lu[:, j + 1 :, j] /= safe
        lu[:, j + 1 :, j + 1 :] -= lu[:, j + 1 :, j : j + 1] * lu[:, j : j + 1, j + 1 :]
    return lu, pivots


def _make_product_plan(subscripts: str, a_shape: tuple, b_shape: tuple) -> tuple | None:
    """The steps of ``einsum(subscripts, a, b)`` as one matmul (see ``_product_plan``
    in ``kernels``): per operand the axes to sum first, the transpose and the
    ``(*batch, rows, columns)`` shape; whether ``b`` is the left factor; the shape of
    the product with its free groups split again, and the transpose to the output's
    order (``None``: it is in order already). ``None`` for what it does not cover."""
    if "." in subscripts or "->" not in subscripts:
        return None
    inputs, out = subscripts.split("->")
    a, _, b = inputs.partition(",")
    if "," in b or len(a) != len(a_shape) or len(b) != len(b_shape):
        return None
    if any(len(set(s)) != len(s) for s in (a, b, out)) or not set(out) <= set(a + b):
        return None
    size: dict = {}
    for letters, shape in ((a, a_shape), (b, b_shape)):
        for letter, n in zip(letters, shape):
            if size.setdefault(letter, n) != n:
                return None  # broadcasting a size-1 axis: einsum's rules, not matmul's
    batch = [c for c in out if c in a and c in b]
    a_free = [c for c in out if c in a and c not in b]
    b_free = [c for c in out if c in b and c not in a]
    contracted = [c for c in a if c in b and c not in out]
    batch_shape = tuple(size[c] for c in batch)

    def group(letters: list) -> int:
        return math.prod(size[c] for c in letters)

    def arrange(letters: str, free: list, left: bool) -> tuple:
        # Axes of this operand alone are summed first; size-1 ones just dropped (a view).
        summed = tuple(k for k, c in enumerate(letters) if c not in out and c not in contracted)
        kept = [c for c in letters if c in out or c in contracted]
        order = batch + (free + contracted if left else contracted + free)
        shape = (group(free), group(contracted)) if left else (group(contracted), group(free))
        return summed, tuple(kept.index(c) for c in order), batch_shape + shape

    natural = batch + a_free + b_free
    # Swapping the factors is free (a transposed product): take the order that needs
    # no transpose of the result, else one that keeps its last axis (a cheaper copy).
    swapped = batch + b_free + a_free
    swap = list(out) != natural and (
        list(out) == swapped or (natural[-1:] != list(out[-1:]) == swapped[-1:])
    )
    first = b_free if swap else a_free
    second = a_free if swap else b_free
    product = batch + first + second
    out_perm = None if list(out) == product else tuple(product.index(c) for c in out)
    return (
        arrange(a, a_free, not swap),
        arrange(b, b_free, swap),
        swap,
        batch_shape + tuple(size[c] for c in first + second),
        out_perm,
    )


def _memo(cache: dict, key, make):
    """``cache[key]``, made by ``make()`` the first time (``None`` results are kept
    too). Bounded: the keys hold shapes, which come from user programs."""
    if key not in cache:
        if len(cache) > 1024:
            cache.clear()
        cache[key] = make()
    return cache[key]


#: Multiply-adds of a product (or stack) from which it is split across cores.
SPLIT_FROM = 1 << 21
#: Rows (or columns, or summed terms) per part of one product split across cores
#: (``split_product``).
PART_LENGTH = 320
#: How many more summed terms than rows and columns make a product "deep": split
#: over its terms (``split_depth``) rather than its rows or columns.
DEEP = 8

#: Multiply-adds from which a matrix product first primes BLAS (``prime_blas``).
PRIME_FROM = 1 << 20


@functools.cache
def prime_blas(xp) -> None:
    """Run one 512x512x512 float32 product, once per process, before the first large
    product (~14 ms).

    Why: on the 2-core AMD EPYC VM this project is measured on (NumPy's OpenBLAS
    0.3.31 with its Haswell kernels, one thread), sgemm ran 2-3x slower until a
    product with panels of at least ~384 rows and columns had run in the process: an
    LSTM's kernel gradient, (128, 6400) @ (6400, 256), took 41 ms instead of 13 ms,
    for the whole life of the process, and the LSTM training step 147 ms of CPU
    instead of 100. Both states make the same kernel calls with the same blocking and
    buffer addresses (checked under gdb); denormals and malloc's behaviour were ruled
    out. Smaller products (256x256x256) did not end the slow state; any of 384^3,
    512^3 or (128, 256) @ (256, 6400) did, and nothing seen here brought it back.
    Where BLAS has no such state, this costs the one product."""
    if xp.__name__ == "numpy":
        square = xp.ones((512, 512), dtype=xp.float32)
        xp.matmul(square, square)


@functools.cache
def products(xp) -> Any:
    """``product(a, b)``: ``xp.matmul`` for the kernels of this backend, with a stack
    times one matrix as one product of all its rows and, inside a compiled run that
    holds several cores (``native.threads.hold``), large products shared out among
    them (``split_product``). Kernels that multiply inside (convolution fallbacks,
    sums as products with ones) call it too, so that they keep both cores there.

    >>> import numpy as np
    >>> products(np)(np.ones((2, 3, 4)), np.ones((4, 5))).shape
    (2, 3, 5)
    """
    native_threads: Any = None
    native_gemm: Any = None
    if xp.__name__ == "numpy":
        from nerve.backend.numpy_backend.native import split_gemm as native_gemm
        from nerve.backend.numpy_backend.native import threads as native_threads

    def product(a, b, out=None):
        # ``out``: an array of the product's shape and dtype to write into, of any
        # strides (BLAS takes matrices whose rows are apart); returned.
        if b.ndim == 2 and a.ndim > 2 and a.flags.c_contiguous:
            # A stack of matrices times one matrix (a dense layer on sequences) is one
            # product of all their rows: NumPy's matmul calls BLAS once per matrix of the
            # stack, and a threaded BLAS wakes its threads at each call (32 calls of
            # 128x128x512: 33-65 ms on two threads under load, 17-28 ms as one call).
            rows = a.reshape(-1, a.shape[-1])
            done = product(rows, b).reshape(*a.shape[:-1], b.shape[-1])
            if out is None:
                return done
            out[...] = done
            return out
        if native_threads is not None:
            done = split_product(a, b, out)
            if done is not None:
                return done
        return xp.matmul(a, b) if out is None else xp.matmul(a, b, out=out)

    plans: dict = {}

    def split_product(a, b, out=None):
        """A large product shared out among the cores a compiled run holds
        (``threads.held``; OpenBLAS then runs each part on one thread): a stack by
        its matrices, one matrix by rows or by columns. ``None`` where it does not
        apply or pay.

        NumPy's matmul calls BLAS once per matrix of a stack, and a threaded BLAS
        splits each small product across its threads and wakes them at every call:
        attention's 128 products of 128x32x128 took 0.97 ms on two threads and 0.99 ms
        on one; as two halves on two threads, 0.55 ms (2026-12-06, 2-core Xeon).

        How to split is worked out once per layout (``plan_split``): the checks and
        cuts cost ~9 us of Python per call, and the C split of one matrix then ~8 us
        more (``split_gemm.prepare``), against products of ~0.1-0.3 ms in an MLP step."""
        # Cheapest test first: outside a held run (a batch-1 call) this is all it costs.
        cores = native_threads.held()
        if cores < 2:
            return None
        key = (
            cores, a.shape, a.strides, a.dtype, b.shape, b.strides, b.dtype,
            None if out is None else (out.shape, out.strides, out.dtype),
            SPLIT_FROM, PART_LENGTH,
        )  # fmt: skip
        run = plans.get(key, plans)  # (``plans`` itself: not planned yet)
        if run is plans:
            run = _memo(plans, key, lambda: plan_split(a, b, out, cores))
        return None if run is None else run(a, b, out)

    def plan_split(a, b, out, cores):
        """``run(a, b, out) -> out`` splitting products of these operands' layout (and
        ``out``'s, or a new array where ``out`` is ``None``), or ``None``."""
        if a.ndim < 2 or b.ndim < 2 or a.dtype != b.dtype or a.dtype.kind not in "fc":
            return None
        (m, k), n = a.shape[-2:], b.shape[-1]
        batch = xp.broadcast_shapes(a.shape[:-2], b.shape[:-2])
        if math.prod(batch) * m * k * n < SPLIT_FROM:
            return None
        if not batch and k >= DEEP * max(m, n) and out is None:
            return lambda a, b, out: split_depth(a, b, cores)
        shape, dtype = (*batch, m, n), a.dtype
        axis = next((i for i, size in enumerate(batch) if size >= cores), None)
        count = None
        if axis is None:
            # Rows of a, else columns of b: the longer side, so that the operand every
            # part packs again is the smaller one. Each part repacks it, so parts stay
            # long: ~PART_LENGTH rows or columns each, at least one per core.
            axis = len(batch) + (0 if m >= n else 1)
            count = min(cores * native_threads.PARTS_PER_THREAD, max(m, n) // PART_LENGTH)
            count = min(max(count, cores), max(m, n))
        length = batch[axis] if axis < len(batch) else max(m, n)
        bounds = native_threads.cuts(length, cores, count)
        # One matrix on two cores: its parts run from C, shared with one C worker thread
        # (``native/split_gemm.py``: no hand-over between Python threads per part).
        from_c = None
        if not batch and cores == 2:
            sample = xp.empty(shape, dtype) if out is None else out
            from_c = native_gemm.prepare(a, b, sample, axis, bounds)

        def run(a, b, out):
            if out is None:
                out = xp.empty(shape, dtype=dtype)
            if from_c is not None and from_c(a, b, out):
                return out
            if batch:
                a = xp.broadcast_to(a, (*batch, m, k))
                b = xp.broadcast_to(b, (*batch, k, n))

            def part(lo: int, hi: int) -> None:
                at = (slice(None),) * axis + (slice(lo, hi),)
                if axis < len(batch):
                    xp.matmul(a[at], b[at], out=out[at])
                elif axis == len(batch):
                    xp.matmul(a[at], b, out=out[at])
                else:
                    xp.matmul(a, b[..., lo:hi], out=out[..., lo:hi])

            native_threads.run_ranges(length, cores, part, count)
            return out

        return run

    def split_depth(a, b, cores):
        """A product summing over many more terms than it has rows or columns (a
        kernel gradient: ``patches.T @ grads``) as the sum of products over runs of
        those terms, one per part. Split by rows instead, every part would pack all
        of the long operand again (the (288, 15488) @ (15488, 64) gradient of a
        convolution: 4.8 ms in two parts by rows, 3.8 ms in OpenBLAS's two threads).
        The sum of the parts rounds differently from one product (as any change of
        summation order), the same way at every call."""
        k = a.shape[1]
        count = max(cores, min(cores * native_threads.PARTS_PER_THREAD, k // PART_LENGTH))
        bounds = native_threads.cuts(k, cores, count)
        partial = xp.empty((count, a.shape[0], b.shape[1]), dtype=a.dtype)

        def part(j: int, lo: int, hi: int):
            return lambda: xp.matmul(a[:, lo:hi], b[lo:hi], out=partial[j])

        if cores != 2 or not native_gemm.gemm_parts(a, b, partial, 2, bounds):
            parts = [part(j, lo, hi) for j, (lo, hi) in enumerate(zip(bounds, bounds[1:]))]
            native_threads.run_split(parts, cores)
        return xp.add.reduce(partial, axis=0)

    product.plans = plans  # type: ignore[attr-defined]  # for tests: clear() to plan again
    return product


def flat_dot(xp) -> Any:
    """``dot_all(a, b)``: ``sum(a * b)`` over every element of two same-shaped float or
    complex arrays, as a 0-d array: the BLAS dot of the flat arrays (no product
    temporary; not conjugating), or on NumPy, for long float vectors, the C loop that
    sums two fixed halves on two cores (``native/dot.py``).

    >>> import numpy as np
    >>> float(flat_dot(np)(np.ones((2, 3)), np.full((2, 3), 2.0)))
    12.0
    """
    native_dot: Any = None
    if xp.__name__ == "numpy":
        from nerve.backend.numpy_backend.native import dot as native_dot

    def dot_all(a, b):
        if native_dot is not None:
            done = native_dot.dot(a, b)
            if done is not None:
                return done
        flat = a.reshape(-1)
        return xp.asarray(xp.dot(flat, flat if b is a else b.reshape(-1)))

    return dot_all


def kernels(xp) -> dict:
    def contiguous(x):
        # Not ascontiguousarray: that turns a 0-d array into a 1-d one.
        return x if x.flags.c_contiguous else xp.array(x, order="C")

    def is_bfloat16(dtype):
        # ml_dtypes' types are kind "V"; checking the kind first spares the builtin
        # types a ``.name`` lookup, which NumPy computes in Python (matmul is hot).
        return dtype.kind == "V" and dtype.name == "bfloat16"

    def widened(x):
        # NumPy has no bfloat16 loops for products (ml_dtypes' matmul answers in float32,
        # its einsum refuses the type): compute in float32 and round once at the end,
        # which is also how accelerators accumulate bfloat16 products.
        return x.astype(xp.float32) if is_bfloat16(x.dtype) else x

    primed = []  # not empty once BLAS is primed (prime_blas)

    def prime_before(a, b) -> None:
        if a.ndim >= 2 and b.ndim >= 2 and a.shape[-2] * a.shape[-1] * b.shape[-1] >= PRIME_FROM:
            prime_blas(xp)
            primed.append(True)

    native_products: Any = None
    row_product: Any = None
    if xp.__name__ == "numpy":
        from nerve.backend.numpy_backend.native import products as native_products
        from nerve.backend.numpy_backend.native import row_product

    product = products(xp)
    dot_all = flat_dot(xp)

    def matmul(a, b):
        if not primed:
            prime_before(a, b)
        if is_bfloat16(a.dtype):
            return product(widened(a), widened(b)).astype(a.dtype)
        # Long products with a thin operand or a small result: C loops stream them
        # (``native/products.py``; OpenBLAS packs them as square ones).
        if native_products is not None and a.ndim == 2 and max(a.shape) >= native_products.MIN_ROWS:
            out = native_products.product(a, b)
            if out is not None:
                return out
        # A row times a large matrix (a dense layer at batch 1): split across two cores
        # (``native/row_product.py``; OpenBLAS runs it on one thread).
        if (
            row_product is not None
            and a.ndim == 2
            and a.shape[0] == 1
            and b.size >= row_product.MIN_SPLIT
        ):
            out = row_product.product(a, b)
            if out is not None:
                return out
        return product(a, b)

    paths: dict = {}

    def _full_contraction(subscripts, operands):
        """Whether ``subscripts`` sums the product of two same-shaped float or complex
        operands over all their axes ("ij,ij->"; no diagonal, no broadcasting)."""
        if len(operands) != 2 or not subscripts.endswith("->"):
            return False
        a, b = operands
        first, _, second = subscripts[:-2].partition(",")
        return (
            first == second
            and len(set(first)) == len(first)
            and a.shape == b.shape
            and a.dtype == b.dtype
            and a.dtype.kind in "fc"
        )

    def einsum(*operands, subscripts):
        if _full_contraction(subscripts, operands):
            # sum(a * b) over every axis: one dot product of the flat arrays (4-6x
            # faster than einsum's loops or its optimized path, which allocates a
            # tensordot).
            return dot_all(*operands)
        dtype = operands[0].dtype
        if len(operands) == 2:
            plan = _product_plan(subscripts, operands)
            if plan is not None:
                return _run_product(plan, *(widened(x) for x in operands)).astype(dtype, copy=False)
        operands = [contiguous(widened(x)) for x in operands]
        out = xp.einsum(subscripts, *operands, optimize=_path(subscripts, operands))
        return xp.asarray(out, dtype=dtype)

    plans: dict = {}

    def _product_plan(subscripts, operands):
        """How to run a two-operand einsum as one (batched) matmul, or ``None``.

        NumPy's einsum reaches BLAS (through tensordot) only when no index is kept
        from both operands; attention's products keep the batch and head axes
        ("btkh,bskh->bkts") and ran in einsum's own loops, ~3x slower than batched
        BLAS. Here each index is a batch index (both operands and the output),
        contracted (both operands only), or free (one operand and the output); an
        index of one operand alone is summed first. The operands are transposed (views)
        to (batch, free, contracted) and (batch, contracted, free), the free and
        contracted groups reshaped to one axis each, and multiplied by ``matmul``, with
        the operands swapped when that gives the output's order without a transpose.
        Floats and complex of one dtype only; diagonals, ellipses, broadcast sizes and
        implicit outputs keep NumPy's einsum. Found once per subscripts and shapes."""
        a, b = operands
        # The dtype test stays out of the memo, whose key holds only shapes.
        if a.dtype != b.dtype or not (a.dtype.kind in "fc" or is_bfloat16(a.dtype)):
            return None
        return _memo(
            plans, (subscripts, a.shape, b.shape),
            lambda: _make_product_plan(subscripts, a.shape, b.shape),
        )  # fmt: skip

    def _drop_axes(x, axes):
        if all(x.shape[k] == 1 for k in axes):
            return x.reshape([n for k, n in enumerate(x.shape) if k not in axes])
        return x.sum(axis=axes)

    def _run_product(plan, a, b):
        (a_sum, a_perm, a_shape), (b_sum, b_perm, b_shape), swap, out_shape, out_perm = plan
        if a_sum:
            a = _drop_axes(a, a_sum)
        if b_sum:
            b = _drop_axes(b, b_sum)
        a = a.transpose(a_perm).reshape(a_shape)
        b = b.transpose(b_perm).reshape(b_shape)
        left, right = (b, a) if swap else (a, b)
        if out_perm is not None and left.ndim > 2 and left.dtype == right.dtype:
            # A stack of products whose result is transposed (attention's "bkgts,bskh->
            # btkgh": a product per batch and head, the heads then moved past the steps)
            # is written in the output's order: each product's matrix then has rows
            # that are apart in it, which BLAS takes, and no transposed copy of the
            # result is made (~0.2 ms per 2 MB one). The same products, the same bits.
            final = xp.empty([out_shape[p] for p in out_perm], dtype=left.dtype)
            inverse = sorted(range(len(out_perm)), key=out_perm.__getitem__)
            shape = (*left.shape[:-2], left.shape[-2], right.shape[-1])
            target = final.transpose(inverse).reshape(shape)
            if xp.may_share_memory(target, final):  # (a reshape that must copy does not)
                if not primed:
                    prime_before(left, right)
                product(left, right, target)
                return final
        out = matmul(left, right).reshape(out_shape)
        return out if out_perm is None else xp.ascontiguousarray(out.transpose(out_perm))

    def _path(subscripts, operands):
        """NumPy's plain einsum loops run contractions without BLAS (an attention
        product of (32, 128, 4, 32) operands: 82 ms against 7 ms through BLAS), while
        its optimizer costs ~40 us per call: small products keep the loops; larger
        ones and three or more operands take an optimized path, found once per
        subscripts and shapes."""
        if len(operands) < 3 and max(x.size for x in operands) < 4096:
            return False
        find = getattr(xp, "einsum_path", None)
        if find is None:  # an array library without the path search: let it choose
            return True
        return _memo(
            paths, (subscripts, *(x.shape for x in operands)),
            lambda: find(subscripts, *operands, optimize="greedy")[0],
        )  # fmt: skip

    # numpy.linalg's functions, with float32 operands computed in float32 on NumPy
    # (numpy.linalg itself runs them in float64, ~2x slower; see numpy_lapack).
    linalg: Any = numpy_lapack if xp.__name__ == "numpy" else xp.linalg

    def lapack(kernel):
        """Run ``kernel`` in float32 for half-precision operands (LAPACK has no float16
        or bfloat16) and cast its results back; turn LAPACK's failures into nerve's."""

        @functools.wraps(kernel)
        def run(*operands, **params):
            dtype = operands[0].dtype
            half = dtype.itemsize == 2
            if half:
                operands = tuple(x.astype(xp.float32) for x in operands)
            try:
                out = kernel(*operands, **params)
            except xp.linalg.LinAlgError as error:
                raise LinAlgError(f"{kernel.__name__}: {error}.") from None
            if not half:
                return out
            if isinstance(out, tuple):
                return tuple(o.astype(dtype) if o.dtype.kind == "f" else o for o in out)
            return out.astype(dtype)

        return run

    @lapack
    def cholesky(a):
        try:
            return linalg.cholesky(a)
        except xp.linalg.LinAlgError:
            raise LinAlgError(
                f"cholesky: the matrix (shape {a.shape}) is not positive definite."
            ) from None

    @lapack
    def triangular_solve(a, b, *, lower):
        scipy_linalg = _scipy_linalg() if xp.__name__ == "numpy" else None
        if scipy_linalg is None:  # a general solve of the triangle read
            return linalg.solve(xp.tril(a) if lower else xp.triu(a), b)
        # SciPy's routine takes one matrix at a time (its own batching loops too).
        flat_a, flat_b = a.reshape(-1, *a.shape[-2:]), b.reshape(-1, *b.shape[-2:])
        out = xp.empty(flat_b.shape, dtype=xp.result_type(a, b))
        for i in range(flat_a.shape[0]):
            out[i] = scipy_linalg.solve_triangular(
                flat_a[i], flat_b[i], lower=lower, check_finite=False
            )
        return out.reshape(b.shape)

    @lapack
    def solve(a, b):
        return linalg.solve(a, b)

    @lapack
    def lu(a):
        *batch, m, n = a.shape
        k = min(m, n)
        flat = a.reshape(-1, m, n)
        scipy_linalg = _scipy_linalg() if xp.__name__ == "numpy" else None
        if scipy_linalg is None or flat.shape[0] == 0:
            packed, pivots = lu_without_scipy(xp, flat)
        else:
            with warnings.catch_warnings():  # a singular matrix factors all the same
                warnings.simplefilter("ignore", scipy_linalg.LinAlgWarning)
                factors = [scipy_linalg.lu_factor(x, check_finite=False) for x in flat]
            packed = xp.stack([f[0] for f in factors])
            pivots = xp.stack([f[1] for f in factors]).astype(xp.int32)
        # The permutation the row swaps make, applied in order: a[perm] = l u.
        permutation = xp.broadcast_to(xp.arange(m, dtype=xp.int32), (flat.shape[0], m)).copy()
        rows = xp.arange(flat.shape[0])
        for i in range(k):
            p = pivots[:, i]
            swapped = permutation[rows, p].copy()
            permutation[rows, p] = permutation[rows, i]
            permutation[rows, i] = swapped
        return (
            packed.reshape(*batch, m, n),
            pivots.reshape(*batch, k),
            permutation.reshape(*batch, m),
        )

    @lapack
    def qr(a, *, mode):
        scipy_linalg = _scipy_linalg() if xp.__name__ == "numpy" else None
        if scipy_linalg is not None and a.dtype == xp.float32 and a.shape[-1] * a.shape[-2] >= 4096:
            # NumPy has no float32 QR loops (numpy.linalg.qr runs float32 in float64:
            # 60 against 26 ms for SciPy's sgeqrf at 512x512 on one core). Small matrices
            # keep NumPy's batched loop (SciPy loops over a batch in Python: 146 against
            # 10 ms for 2000 8x8 matrices).
            scipy_mode = "economic" if mode == "reduced" else "full"
            q, r = scipy_linalg.qr(a, mode=scipy_mode, check_finite=False)
            return q, r
        q, r = xp.linalg.qr(a, mode=mode)
        return q, r

    @lapack
    def svd(a, *, full_matrices, compute_uv):
        if xp.__name__ != "numpy":
            if not compute_uv:
                return (xp.linalg.svd(a, compute_uv=False),)
            u, s, vh = xp.linalg.svd(a, full_matrices=full_matrices)
            return u, s, vh
        # numpy.linalg computes float32 in float64 (2x slower); every path here keeps
        # the operand's precision (see numpy_lapack): large square float32 matrices
        # gesdd's steps with a C bidiagonalization (bidiagonal_svd), else SciPy's
        # gesdd call (2-3% faster than NumPy's gufunc at 512x512 on one core), else
        # the gufunc; small matrices the gufunc's batched loop (less overhead per
        # matrix).
        out = bidiagonal_svd.svd(a, full_matrices=full_matrices, compute_uv=compute_uv)
        if out is not None:
            return out
        scipy_linalg = _scipy_linalg()
        if scipy_linalg is not None and a.shape[-1] * a.shape[-2] >= 4096:
            if not compute_uv:
                return (scipy_linalg.svd(a, compute_uv=False, check_finite=False),)
            u, s, vh = scipy_linalg.svd(
                a, full_matrices=full_matrices, check_finite=False, lapack_driver="gesdd"
            )
            return u, s, vh
        out = numpy_lapack.gufunc_svd(a, full_matrices, compute_uv)
        if out is not None:
            return out
        if not compute_uv:
            return (xp.linalg.svd(a, compute_uv=False),)
        u, s, vh = xp.linalg.svd(a, full_matrices=full_matrices)
        return u, s, vh

    @lapack
    def eigh(a):
        w, v = linalg.eigh(a)
        return w, v

    def eig(a):
        # LAPACK's geev; NumPy returns real arrays when every eigenvalue is real, and
        # nerve's results are always complex (complex64 from float16/bfloat16/float32).
        dtype = xp.complex128 if a.dtype in (xp.float64, xp.complex128) else xp.complex64
        if a.dtype.itemsize == 2:
            a = a.astype(xp.float32)
        try:
            w, v = linalg.eig(a)
        except xp.linalg.LinAlgError as error:
            raise LinAlgError(f"eig: {error}.") from None
        return w.astype(dtype, copy=False), v.astype(dtype, copy=False)

    return {
        "matmul": matmul,
        "einsum": einsum,
        "cholesky": cholesky,
        "triangular_solve": triangular_solve,
        "solve": solve,
        "lu": lu,
        "qr": qr,
        "svd": svd,
        "eigh": eigh,
        "eig": eig,
    }
