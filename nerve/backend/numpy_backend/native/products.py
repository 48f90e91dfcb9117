"""Matrix products of shapes OpenBLAS runs poorly, in C: a long, thin left operand
(``(M, K) @ (K, N)`` with ``K <= MAX_INNER``) and a small result of a long reduction
(``P.T @ G``, ``(K, M).T @ (K, N)`` with ``M * N <= MAX_RESULT``).

Why: the first layer of a convnet over images with few channels multiplies its
patches ``(batch * positions, window * channels)`` by its kernel, e.g. the MNIST
convnet's ``(86528, 9) @ (9, 32)``, and its kernel gradient is ``(86528, 9).T @
(86528, 32)``. Both move megabytes for little arithmetic; OpenBLAS packs its panels
for them as for a square product and ran them at ~11 GFLOP/s on one core (4.7 and
4.1 ms at batch 128 on the benchmark VM), where the loops here stream each operand
once.

* ``thin``: each result row is a sum of ``K`` scaled rows of the right operand,
  ``k`` in order, kept in registers 32 columns at a time.
* ``gram``: the result ``(M, N)`` is accumulated over blocks of ``BLOCK`` rows of
  ``P`` and ``G``, each block's sum added to the total (two-level summation: the
  error grows with ``BLOCK + K / BLOCK`` terms rather than ``K``).

Both compute in the operands' dtype (float32 or float64) with IEEE semantics; sums
are in another order than BLAS's, so results agree to rounding, not bitwise. Inside a
compiled run holding several cores (``threads.hold``) large calls run in parts.

* ``blocked``: a float32 product of other shapes with its bias and ReLU
  (``product_bias_relu``), ``sgemm`` from C (``cblas``) on blocks of ``BLOCKED_ROWS``
  rows, each block's epilogue applied while it is in the core's cache: a Transformer's
  feed-forward layer, (4096, 128) @ (128, 512), wrote 8 MB and a fused loop read and
  wrote them again. The same products as NumPy's matmul and the fused loop's add and
  ReLU: the same bits.
``None`` when native kernels are off (see ``toolchain``): NumPy's matmul then runs.
"""

from __future__ import annotations

import ctypes
import functools
from types import SimpleNamespace

import numpy as np

from nerve.backend.numpy_backend.native import binding, cblas, split_loops, threads, toolchain

__all__ = [
    "BLOCK",
    "DTYPES",
    "MAX_INNER",
    "MAX_RESULT",
    "MIN_ROWS",
    "blocked_bias_relu",
    "blocked_product",
    "masked_product",
    "product",
    "product_bias_relu",
    "product_functions",
    "takes_blocked",
    "takes_thin",
]

#: ``thin`` takes left operands with at most this many columns ...
MAX_INNER = 16
#: ... ``gram`` results with at most this many elements ...
MAX_RESULT = 1024
#: ... and both at least this many rows (smaller products gain nothing worth a call).
MIN_ROWS = 4096
#: Rows per block of ``gram``'s two-level sum.
BLOCK = 128
#: Rows from which a call is shared out among the cores a compiled run holds (by rows
#: for ``thin``, by runs of blocks for ``gram``, whose partial sums are then added).
SPLIT_ROWS = 16384
#: Rows per ``sgemm`` call of ``blocked``: its block of results (2 MB at 1024 columns)
#: stays in a core's L2 for the epilogue, and the right operand is packed again per
#: call, so blocks stay long. Products with results of ``BLOCKED_FROM`` elements (4 MB)
#: or more take it: smaller results stay in the caches for the fused loop after the
#: product anyway (an MLP's layers).
BLOCKED_ROWS = 512
BLOCKED_FROM = 1 << 20

_TEMPLATE = r"""
/* An epilogue: each result plus bias[n] (when bias is not NULL), then ReLU (when relu),
   as the fused elementwise loop computes them ((v > 0 || v != v) ? v : 0). */
#define EPILOGUE_{T}(v, n) do {                                                       \
        if (bias != NULL) (v) = (v) + bias[n];                                       \
        if (relu) (v) = ((v) > 0 || (v) != (v)) ? (v) : ({C})0;                      \
    } while (0)

/* out (M, N) = a (M, K) @ b (K, N), all C-contiguous, with the epilogue above. */
void thin_epilogue_{T}(const {C} *restrict a, const {C} *restrict b, {C} *restrict out,
                       int64_t M, int64_t K, int64_t N, const {C} *restrict bias,
                       int64_t relu) {
    for (int64_t m = 0; m < M; m++) {
        const {C} *restrict row = a + m * K;
        {C} *restrict o = out + m * N;
        int64_t n0 = 0;
        for (; n0 + 32 <= N; n0 += 32) {
            {C} acc[32];
            for (int j = 0; j < 32; j++) acc[j] = row[0] * b[n0 + j];
            for (int64_t k = 1; k < K; k++) {
                const {C} s = row[k];
                const {C} *restrict br = b + k * N + n0;
                for (int j = 0; j < 32; j++) acc[j] = FMA{T}(s, br[j], acc[j]);
            }
            if (bias != NULL || relu)
                for (int j = 0; j < 32; j++) EPILOGUE_{T}(acc[j], n0 + j);
            for (int j = 0; j < 32; j++) o[n0 + j] = acc[j];
        }
        for (int64_t n = n0; n < N; n++) {
            {C} acc = row[0] * b[n];
            for (int64_t k = 1; k < K; k++) acc = FMA{T}(row[k], b[k * N + n], acc);
            EPILOGUE_{T}(acc, n);
            o[n] = acc;
        }
    }
}

void thin_{T}(const {C} *restrict a, const {C} *restrict b, {C} *restrict out,
              int64_t M, int64_t K, int64_t N) {
    thin_epilogue_{T}(a, b, out, M, K, N, NULL, 0);
}

/* out (M, N) = p (K, M).T @ g (K, N), p and g C-contiguous. Each block of BLOCK rows
   of g stays in L1 while every row of the result takes its sum over the block, 32
   columns at a time in registers. */
void gram_{T}(const {C} *restrict p, const {C} *restrict g, {C} *restrict out,
              int64_t K, int64_t M, int64_t N) {
    for (int64_t i = 0; i < M * N; i++) out[i] = 0;
    for (int64_t k0 = 0; k0 < K; k0 += BLOCK) {
        const int64_t k1 = k0 + BLOCK < K ? k0 + BLOCK : K;
        for (int64_t i = 0; i < M; i++) {
            {C} *restrict o = out + i * N;
            int64_t n0 = 0;
            for (; n0 + 32 <= N; n0 += 32) {
                {C} acc[32] = {0};
                for (int64_t k = k0; k < k1; k++) {
                    const {C} s = p[k * M + i];
                    const {C} *restrict gr = g + k * N + n0;
                    for (int j = 0; j < 32; j++) acc[j] = FMA{T}(s, gr[j], acc[j]);
                }
                for (int j = 0; j < 32; j++) o[n0 + j] = o[n0 + j] + acc[j];
            }
            for (int64_t n = n0; n < N; n++) {
                {C} acc = 0;
                for (int64_t k = k0; k < k1; k++) acc = FMA{T}(p[k * M + i], g[k * N + n], acc);
                o[n] = o[n] + acc;
            }
        }
    }
}
"""

#: A product's epilogue (bias and ReLU, or a ReLU's mask) written block by block after
#: ``sgemm`` (float32 only).
_BLOCKED = r"""
typedef void (*nv_sgemm)(int, int, int, int64_t, int64_t, int64_t, float, const float *,
                         int64_t, const float *, int64_t, float, float *, int64_t);

/* Rows [lo, hi) of out (M, N) = a (M, K) @ b (K, N), a and out C-contiguous, b too or
   (trans_b) the transpose of a C-contiguous (N, K), in blocks of `block` rows: each
   block's product by sgemm (the call NumPy's matmul makes for these operands), then
   its epilogue while the block is still in the core's cache: plus bias[n] and ReLU as
   EPILOGUE_float32 when bias is not NULL or relu, times (float)(mask > 0) (a ReLU's
   gradient, mask (M, N) its output) when mask is not NULL. */
void blocked_epilogue_float32(const float *restrict a, const float *restrict b,
                              float *restrict out, int64_t K, int64_t N, int64_t lo,
                              int64_t hi, int64_t block, const float *restrict bias,
                              int64_t relu, const float *restrict mask, int64_t trans_b,
                              const void *gemm_address) {
    const nv_sgemm gemm = (nv_sgemm)gemm_address;
    for (int64_t r = lo; r < hi; r += block) {
        const int64_t rows = hi - r < block ? hi - r : block;
        gemm(101, 111, trans_b ? 112 : 111, rows, N, K, 1.0f, a + r * K, K, b,
             trans_b ? K : N, 0.0f, out + r * N, N);
        for (int64_t m = r; m < r + rows; m++) {
            float *restrict o = out + m * N;
            if (mask != NULL) {
                const float *restrict y = mask + m * N;
                for (int64_t n = 0; n < N; n++) o[n] = o[n] * (float)(y[n] > 0);
                continue;
            }
            for (int64_t n = 0; n < N; n++) {
                float v = o[n];
                EPILOGUE_float32(v, n);
                o[n] = v;
            }
        }
    }
}
/* blocked_epilogue_float32 over rows ints[2] .. ints[3] - 1 as one block, in the form
   split_loops.run_parts calls: ints = (K, N, lo, hi, relu, trans_b), pointers = (a, b,
   out, bias, mask, sgemm). */
void blocked_epilogue_part(const int64_t *ints, void *const *pointers) {
    blocked_epilogue_float32(pointers[0], pointers[1], pointers[2], ints[0], ints[1], ints[2],
                             ints[3], ints[3] - ints[2], pointers[3], ints[4], pointers[4],
                             ints[5], pointers[5]);
}
"""

_TYPES = {"float32": "float", "float64": "double"}
#: The dtypes the C loops take.
DTYPES = frozenset(_TYPES)
#: The same as NumPy dtypes (native byte order only: a set lookup, where ``dtype.name``
#: is computed in Python).
_LOOP_DTYPES = frozenset(map(np.dtype, _TYPES))
SOURCE = (
    "#include <stdint.h>\n#include <stddef.h>\n#include <math.h>\n"
    "#define FMAfloat32 fmaf\n#define FMAfloat64 fma\n"
    f"#define BLOCK {BLOCK}\n"
    + "".join(_TEMPLATE.replace("{T}", name).replace("{C}", c) for name, c in _TYPES.items())
    + _BLOCKED
)


@functools.cache
def _library() -> ctypes.CDLL | None:
    return toolchain.load(SOURCE)


def product_functions() -> SimpleNamespace | None:
    """``thin(a, b, bias=None, relu=False)`` and ``gram(p, g)`` (``p.T @ g``) running
    the C loops, or ``None`` without them. They take 2-D C-contiguous float32 or float64
    arrays of one dtype in the shapes the module docstring names (the caller checks);
    results are new arrays. ``thin`` adds ``bias`` (contiguous, one value per column)
    to each result and applies ReLU as it writes it, when asked (see
    ``product_bias_relu``).

    >>> functions = product_functions()
    >>> a, b = np.ones((5, 3), np.float32), np.ones((3, 2), np.float32)
    >>> functions is None or functions.thin(a, b).tolist() == (a @ b).tolist()
    True
    """
    return _functions()


@functools.cache
def _functions() -> SimpleNamespace | None:
    library = _library()
    if library is None:
        return None
    arguments = [ctypes.c_void_p] * 3 + [ctypes.c_int64] * 3
    epilogue = [*arguments, ctypes.c_void_p, ctypes.c_int64]
    thin_loops = binding.typed_functions(library, "thin_epilogue", _TYPES, epilogue)
    gram_loops = binding.typed_functions(library, "gram", _TYPES, arguments)
    address = binding.address

    def thin(a, b, bias=None, relu=False):
        (rows, inner), columns = a.shape, b.shape[1]
        out = np.empty((rows, columns), dtype=a.dtype)
        loop, size = thin_loops[a.dtype], a.itemsize
        shift = None if bias is None else address(bias)
        bounds = _parts(rows)
        if bounds is None:
            loop(address(a), address(b), address(out), rows, inner, columns, shift, relu)
            return out
        # By rows: each part reads its rows of a and writes its rows of out.
        a0, b0, out0 = address(a), address(b), address(out)

        def part(lo: int, hi: int):
            start_a, start_out = a0 + lo * inner * size, out0 + lo * columns * size
            return lambda: loop(start_a, b0, start_out, hi - lo, inner, columns, shift, relu)

        threads.run_split([part(lo, hi) for lo, hi in zip(bounds, bounds[1:])], threads.held())
        return out

    def gram(p, g):
        (rows, left), right = p.shape, g.shape[1]
        loop, size = gram_loops[p.dtype], p.itemsize
        bounds = _parts(rows)
        if bounds is None:
            out = np.empty((left, right), dtype=p.dtype)
            loop(address(p), address(g), address(out), rows, left, right)
            return out
        # By runs of rows of p and g, each summed into its own partial result; the
        # partials are added in order (a third level of the sum).
        partial = np.empty((len(bounds) - 1, left, right), dtype=p.dtype)
        p0, g0 = address(p), address(g)

        def part(j: int, lo: int, hi: int):
            start_p, start_g = p0 + lo * left * size, g0 + lo * right * size
            return lambda: loop(start_p, start_g, address(partial[j]), hi - lo, left, right)

        parts = [part(j, lo, hi) for j, (lo, hi) in enumerate(zip(bounds, bounds[1:]))]
        threads.run_split(parts, threads.held())
        return np.add.reduce(partial, axis=0)

    return SimpleNamespace(thin=thin, gram=gram)


def _parts(rows: int) -> list[int] | None:
    """Where to cut ``rows`` rows (whole ``BLOCK``s) into parts for the cores a
    compiled run holds (``threads.held``), or ``None`` to run in one call."""
    cores = threads.held()
    blocks = rows // BLOCK
    if cores < 2 or rows < SPLIT_ROWS or blocks < 2:
        return None
    count = min(blocks, cores * threads.PARTS_PER_THREAD)
    return [blocks * k // count * BLOCK for k in range(count)] + [rows]


def takes_thin(a_shape: tuple, b_shape: tuple, dtype) -> bool:
    """Whether ``thin`` runs a product of these shapes and dtype (2-D, C-contiguous
    operands assumed).

    >>> takes_thin((5000, 3), (3, 4), "float32"), takes_thin((50, 3), (3, 4), "float32")
    (True, False)
    """
    if len(a_shape) != 2 or len(b_shape) != 2 or np.dtype(dtype) not in _LOOP_DTYPES:
        return False
    (rows, inner), columns = a_shape, b_shape[1]
    return rows >= MIN_ROWS and 0 < inner <= MAX_INNER and b_shape[0] == inner and columns > 0


@functools.cache
def _blocked():
    """The C function of ``blocked_product``, or ``None`` (no loops or no ``sgemm``)."""
    library = _library()
    if library is None or cblas.sgemm_address() is None:
        return None
    function = library.blocked_epilogue_float32
    function.argtypes = [ctypes.c_void_p] * 3 + [ctypes.c_int64] * 5
    function.argtypes += [ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p, ctypes.c_int64]
    function.argtypes += [ctypes.c_void_p]
    function.restype = None
    function.part = binding.entry_address(library, "blocked_epilogue_part")
    return function


def takes_blocked(a_shape: tuple, b_shape: tuple, dtype) -> bool:
    """Whether ``blocked_product`` runs a product of these shapes and dtype (2-D
    operands): float32, a result of ``BLOCKED_FROM`` elements or more, with ``sgemm``
    reachable from C.

    >>> takes_blocked((4096, 128), (128, 512), "float32") == (_blocked() is not None)
    True
    >>> takes_blocked((4096, 128), (128, 512), "float64")
    False
    """
    if len(a_shape) != 2 or len(b_shape) != 2 or np.dtype(dtype) != np.float32:
        return False
    (rows, inner), columns = a_shape, b_shape[1]
    if b_shape[0] != inner or rows * columns < BLOCKED_FROM:
        return False
    return _blocked() is not None


def blocked_product(a, b, bias=None, relu: bool = False, mask=None) -> np.ndarray | None:
    """``a @ b`` for 2-D float32 ``a`` and ``b`` by ``sgemm`` on blocks of rows, each
    block's epilogue applied while it is in the cache: ``relu(. + bias)`` (the bias one
    value per column, or ``None``; ``relu`` the fused loop's ReLU), or ``. * cast(mask
    > 0)`` (``mask`` of the result's shape: a ReLU's output, for its gradient). The bits
    of the product and the fused loop after it; shared out by blocks among held cores.
    ``None`` where ``takes_blocked`` says no or the operands do not fit.

    >>> a, b = np.ones((4096, 128), np.float32), np.ones((128, 256), np.float32)
    >>> out = blocked_product(a, b, np.array([-200.0] + [1.0] * 255, np.float32), True)
    >>> out is None or out[0, :2].tolist() == [0.0, 129.0]
    True
    """
    if not takes_blocked(a.shape, b.shape, a.dtype) or a.dtype != b.dtype:
        return None
    (rows, inner), columns = a.shape, b.shape[1]
    if bias is not None and (bias.dtype != a.dtype or bias.shape != (columns,)):
        return None
    if mask is not None and (mask.dtype != a.dtype or mask.shape != (rows, columns)):
        return None
    function = _blocked()
    a, bias, mask = (None if x is None else np.ascontiguousarray(x) for x in (a, bias, mask))
    # b as NumPy's matmul passes it to sgemm: as it is, else transposed (a view of a
    # weight's transpose, in a gradient), else copied.
    trans_b = not b.flags.c_contiguous and b.T.flags.c_contiguous
    b = b if trans_b else np.ascontiguousarray(b)
    out = np.empty((rows, columns), np.float32)
    arrays = [binding.address(x) for x in (a, b, out)]
    shift = None if bias is None else binding.address(bias)
    masking = None if mask is None else binding.address(mask)
    gemm = cblas.sgemm_address()

    def run(lo: int, hi: int) -> None:
        function(*arrays, inner, columns, lo, hi, hi - lo, shift, relu, masking, trans_b, gemm)

    # Blocks of about BLOCKED_ROWS rows, none with fewer than 2^21 multiply-adds:
    # OpenBLAS runs smaller products through its small-matrix kernels, which sum in
    # another order than the whole product's.
    block = max(BLOCKED_ROWS, -(-(1 << 21) // (inner * columns)))
    count = max(1, rows // block)
    bounds = [rows * k // count for k in range(count + 1)]
    cores = threads.held()
    if cores == 2 and count > 1:
        # From C, shared with one C worker thread (``split_loops``): the same blocks.
        ints = (inner, columns, 0, 0, relu, trans_b)
        pointers = (*arrays, shift, masking, gemm)
        if split_loops.run_parts(function.part, ints, pointers, bounds):
            return out
    runs = [functools.partial(run, lo, hi) for lo, hi in zip(bounds, bounds[1:])]
    threads.run_split(runs, cores)
    return out


def blocked_bias_relu(a, b, bias) -> np.ndarray | None:
    """``relu(a @ b + bias)`` by ``blocked_product``; ``None`` where it does not run."""
    return None if bias is None else blocked_product(a, b, bias, relu=True)


def masked_product(a, b, y) -> np.ndarray | None:
    """``(a @ b) * cast(y > 0)`` by ``blocked_product`` (a ReLU's gradient through the
    product before it); ``None`` where it does not run.

    >>> a, b = np.ones((4096, 2), np.float32), np.ones((2, 256), np.float32)
    >>> y = np.zeros((4096, 256), np.float32); y[0, 1] = 3.0
    >>> out = masked_product(a, b, y)
    >>> out is None or out[0, :3].tolist() == [0.0, 2.0, 0.0]
    True
    """
    return blocked_product(a, b, mask=y)


def product_bias_relu(a, b, bias):
    """``relu(a @ b + bias)`` by the C loop of ``thin``, the bias added and ReLU applied
    as each result is written (the values the product and a fused loop after it give),
    else by ``blocked_bias_relu``; ``None`` where neither takes the operands or without
    the loops.

    >>> a, b = np.ones((5000, 3), np.float32), np.ones((3, 2), np.float32)
    >>> out = product_bias_relu(a, b, np.array([-4.0, 1.0], np.float32))
    >>> out is None or out[0].tolist() == [0.0, 4.0]
    True
    """
    if not takes_thin(a.shape, b.shape, a.dtype):
        return blocked_bias_relu(a, b, bias)
    if not a.dtype == b.dtype == bias.dtype:
        return None
    if not (a.flags.c_contiguous and b.flags.c_contiguous and bias.flags.c_contiguous):
        return None
    if bias.shape != (b.shape[1],):
        return None
    functions = product_functions()
    return None if functions is None else functions.thin(a, b, bias, True)


def product(a, b):
    """``a @ b`` by a C loop when both are 2-D C-contiguous float32 or float64 arrays
    of one dtype in a shape it is for (``a`` may also be the transpose of one, for
    ``gram``); ``None`` otherwise, or without the loops (the caller runs NumPy's).

    >>> a, b = np.ones((5000, 3), np.float32), np.ones((3, 4), np.float32)
    >>> out = product(a, b)
    >>> out is None or (out.shape == (5000, 4) and float(out[0, 0]) == 3.0)
    True
    """
    if a.ndim != 2 or b.ndim != 2 or a.dtype != b.dtype or a.dtype not in _LOOP_DTYPES:
        return None
    (rows, inner), columns = a.shape, b.shape[1]
    if not b.flags.c_contiguous or b.shape[0] != inner or not columns:
        return None
    if takes_thin(a.shape, b.shape, a.dtype) and a.flags.c_contiguous:
        functions = product_functions()
        return None if functions is None else functions.thin(a, b)
    if inner >= MIN_ROWS and rows * columns <= MAX_RESULT and rows and a.T.flags.c_contiguous:
        functions = product_functions()
        return None if functions is None else functions.gram(a.T, b)
    return None
