"""The NumPy backend: CPU arrays.

Kernels are written once per family against an array module ``xp`` (NumPy
here; CuPy shares the API), in the sibling modules. ``NumpyBackend`` collects
them and adds the core contract methods.
"""

from __future__ import annotations

import functools
import importlib
import math
from typing import Any

import numpy as np

from nerve.backend.base import Backend
from nerve.backend.numpy_backend import (
    codecs,
    control_flow,
    creation,
    elementwise,
    fft,
    indexing,
    linalg,
    nn,
    random,
    reduction,
    shape,
)
from nerve.core import config
from nerve.core.errors import DTypeError

__all__ = [
    "FAMILIES",
    "NumpyBackend",
]

FAMILIES = (
    creation,
    elementwise,
    reduction,
    shape,
    indexing,
    linalg,
    nn,
    random,
    control_flow,
    fft,
    codecs,
)


#: ``native.allocator.HUGE_FROM``, here so that converting small data imports nothing.
_HUGE_FROM = 1 << 20


def _copy_large(value: np.ndarray, native: Any) -> np.ndarray:
    """A copy of ``value`` made under nerve's memory handler: on aligned huge pages
    where the kernel grants them, and reusing the block of a freed tensor of the same
    size (a loop converting batches of one size takes no page faults)."""
    scope = _allocator().scope(huge=True)
    if scope is None:
        return np.array(value, dtype=native, copy=True)
    with scope:
        return np.array(value, dtype=native, copy=True)


def _bfloat16():
    try:
        import ml_dtypes
    except ImportError:
        raise DTypeError(
            "bfloat16 on the CPU needs the small 'ml_dtypes' package: "
            "pip install 'nerve[bf16]' (or pip install ml_dtypes)."
        ) from None
    return np.dtype(ml_dtypes.bfloat16)


_NATIVE = {
    name: np.dtype(name)
    for name in (
        "bool",
        "uint8",
        "uint16",
        "uint32",
        "uint64",
        "int8",
        "int16",
        "int32",
        "int64",
        "float16",
        "float32",
        "float64",
        "complex64",
        "complex128",
    )
}


try:
    _ufunc_config: Any = importlib.import_module("numpy._core._ufunc_config")
except ImportError:  # NumPy 1.x keeps its error state elsewhere
    _ufunc_config = None
#: NumPy 2's error state: the context variable np.errstate sets, and its builder.
_ERROR_STATE: Any = getattr(_ufunc_config, "_extobj_contextvar", None)
_MAKE_ERROR_STATE: Any = getattr(_ufunc_config, "_make_extobj", None)


class _Quiet:
    """``np.errstate(all="ignore")`` for one compiled run, at half its cost.

    ``np.errstate`` builds NumPy's error-state object anew on each entry (~3 us with
    its exit, a batch-1 MLP forward pass takes ~100 us); this builds the quiet state
    once per error state it starts from (the same object ``errstate`` would build:
    ``_make_extobj`` keeps that state's buffer size and error callback) and sets it in
    NumPy's context variable. NumPy 2 keeps both in ``numpy._core._ufunc_config``;
    where they are missing, ``quiet`` returns ``np.errstate``.
    """

    __slots__ = ("_token",)

    available = _ERROR_STATE is not None and _MAKE_ERROR_STATE is not None
    #: Current error state -> its quiet form (both kept: keys are compared by identity).
    _cache: dict = {}

    def __enter__(self) -> None:
        current = _ERROR_STATE.get()
        quiet = self._cache.get(current)
        if quiet is None:
            if len(self._cache) > 16:  # a program that keeps changing np.seterr
                self._cache.clear()
            quiet = self._cache[current] = _MAKE_ERROR_STATE(all="ignore")
        self._token = _ERROR_STATE.set(quiet)

    def __exit__(self, *exc_info: Any) -> None:
        _ERROR_STATE.reset(self._token)


@functools.cache
def _allocator() -> Any:
    """``native.allocator``, imported on first use: ``run_scope`` asks for it at every
    compiled run, and an import statement costs ~0.4 us per call (a batch-1 MLP's
    forward pass takes ~50 us)."""
    from nerve.backend.numpy_backend.native import allocator

    return allocator


@functools.cache
def _threads() -> Any:
    """``native.threads``, imported on first use (as ``_allocator``)."""
    from nerve.backend.numpy_backend.native import threads

    return threads


class _Nested:
    """Two context managers entered in order and left in reverse (``ExitStack`` costs
    microseconds more per compiled run)."""

    __slots__ = ("_inner", "_outer")

    def __init__(self, outer: Any, inner: Any) -> None:
        self._outer = outer
        self._inner = inner

    def __enter__(self) -> None:
        self._outer.__enter__()
        try:
            self._inner.__enter__()
        except BaseException:
            self._outer.__exit__(None, None, None)
            raise

    def __exit__(self, *exc_info: Any) -> None:
        try:
            self._inner.__exit__(*exc_info)
        finally:
            self._outer.__exit__(*exc_info)


class NumpyBackend(Backend):
    """CPU backend on NumPy."""

    name = "numpy"
    array_types = (np.ndarray, *{t for t in np.sctypeDict.values() if issubclass(t, np.generic)})

    def __init__(self) -> None:
        kernels: dict = {}
        for family in FAMILIES:
            kernels.update(family.kernels(np))
        super().__init__(elementwise.quiet(np, kernels))
        self._graph_kernels = kernels
        # NumPy's ufuncs take out= (an input may be the output: they work elementwise).
        self._out_kernels = frozenset(k for k, fn in kernels.items() if isinstance(fn, np.ufunc))

    def graph_kernel(self, name: str) -> Any:
        self.kernel(name)  # the same error as eager mode for a missing kernel
        return self._graph_kernels[name]

    def supports_out(self, name: str) -> bool:
        return name in self._out_kernels

    def result_buffer_writable(self, ndim: int) -> bool:
        return ndim > 0  # ufuncs return immutable NumPy scalars for 0-d results

    def can_fuse(self, kernel: str, input_dtypes, dtype: str, params: dict) -> bool:
        from nerve.backend.numpy_backend.native import codegen

        return codegen.has_loop_form(kernel, tuple(input_dtypes), dtype, params)

    def runs_natively(
        self, kernel: str, dtype: str, shapes: tuple = (), params: dict | None = None
    ) -> bool:
        if kernel in ("layer_norm_rows", "layer_norm_grad_rows"):
            from nerve.backend.numpy_backend.native import layer_norm

            return layer_norm.available(dtype)
        if kernel in ("attention_rows", "attention_rows_grad"):
            from nerve.backend.numpy_backend.native import attention

            return attention.available(dtype)
        if kernel in ("softmax_rows", "softmax_rows_grad"):
            from nerve.backend.numpy_backend.native import softmax

            return softmax.available(dtype)
        if kernel in ("patches_product", "transposed_patches_product"):
            from nerve.backend.numpy_backend.native import threads, winograd

            # With several BLAS threads and no hold on the cores, the direct products
            # thread better than the Winograd products and their single-threaded
            # transforms (two threads, MNIST convnet: 17 ms for the forward product and
            # kernel gradient sharing one patch copy, against 24), so the products stay
            # there. A run holds the cores (``threads.hold``) when its graph has an
            # array of ``threads.HOLD_FROM`` bytes, as this product's patch matrix is;
            # then the Winograd chunks are shared out among them. The input
            # gradient's kernel still chooses. shapes: the image's and the kernel's
            # (taps * C, F).
            x_shape, b_shape = shapes
            patches = math.prod(x_shape[:-1]) * b_shape[0]  # about: rows are positions
            held = threads.blas_threads() == 1 or patches * 4 >= threads.HOLD_FROM
            return held and winograd.takes(x_shape, dtype, b_shape, **(params or {}))
        if kernel in ("masked_product", "product_bias"):
            from nerve.backend.numpy_backend.native import products

            a_shape, b_shape = shapes
            return products.takes_blocked(a_shape, b_shape, dtype)
        if kernel == "product_bias_relu":
            from nerve.backend.numpy_backend.native import products, row_product

            # shapes: the two operands'. Where the product is a long, thin one, its C
            # loop adds the bias and applies ReLU as it writes each result.
            # Or a float32 product large enough that its results leave the cache: the
            # blocked loop adds the bias and applies ReLU to each block after sgemm.
            # Or one row split across two cores (a dense layer at batch 1): the split
            # loop writes them with each result.
            a_shape, b_shape = shapes
            thin = products.takes_thin(a_shape, b_shape, dtype)
            thin = thin and products.product_functions() is not None
            return (
                thin
                or products.takes_blocked(a_shape, b_shape, dtype)
                or row_product.takes_bias_relu(a_shape, b_shape, dtype)
            )
        return False

    def native_dtype(self, name: str) -> Any:
        native = _NATIVE.get(name)
        if native is None:
            if name == "bfloat16":
                native = _NATIVE["bfloat16"] = _bfloat16()
            else:
                raise DTypeError(f"Unsupported dtype {name!r}.")
        return native

    def asarray(self, value: Any, dtype: str | None = None, copy: bool = False) -> Any:
        native = None if dtype is None else self.native_dtype(dtype)
        if copy:
            if isinstance(value, np.ndarray) and value.nbytes >= _HUGE_FROM:
                # Large tensors on aligned huge pages (``native/allocator.py``): where
                # 4 KiB pages land decides how much of a 1 MB array a 2 MB L2 keeps
                # (np.dot over the same 1 MB: 16-30 us on plain pages, 12-17 on huge).
                return _copy_large(value, native)
            return np.array(value, dtype=native, copy=True)
        return np.asarray(value, dtype=native)

    def to_numpy(self, array: Any) -> Any:
        # A read-only view: no copy, and the caller cannot change an immutable tensor.
        view = np.asarray(array).view()
        view.flags.writeable = False
        return view

    def dtype_name(self, array: Any) -> str:
        return array.dtype.name

    def device_of(self, array: Any) -> str:
        return "cpu"

    def quiet(self) -> Any:
        return _Quiet() if _Quiet.available else np.errstate(all="ignore")

    def run_scope(self, buffer_bytes: int, product_work: int = 0) -> Any:
        """``quiet()``; for graphs with arrays of ``allocator.MIN_BYTES`` or more, also
        NumPy's memory handler that keeps large freed buffers for the next run (a
        training step frees and allocates the same ones each step; glibc gives them
        back to the kernel, and each step then pays a page fault per 4 KiB); from
        arrays of ``threads.HOLD_FROM`` bytes or a product of ``threads.HOLD_WORK_FROM``
        multiply-adds, nerve's threads hold the cores (``threads.hold``); with
        ``config.flush_denormals()``, denormals flushed to zero (``native.fpmode``)."""
        allocator = _allocator()
        outer = self.quiet()
        if config.flush_denormals():
            from nerve.backend.numpy_backend.native import fpmode

            outer = _Nested(outer, fpmode.flushing())
        scope: Any = allocator.scope() if buffer_bytes >= allocator.MIN_BYTES else None
        threads = _threads()
        if buffer_bytes >= threads.HOLD_FROM or product_work >= threads.HOLD_WORK_FROM:
            scope = threads.hold() if scope is None else _Nested(scope, threads.hold())
        return outer if scope is None else _Nested(outer, scope)

    def compile_elementwise(self, programs):
        """Fused loops as compiled C (see ``native``); ``None`` where that can't run."""
        from nerve.backend.numpy_backend import native

        return native.compile_elementwise(programs)

    def shares_memory(self, a: Any, b: Any) -> bool:
        return bool(np.shares_memory(a, b))

    def is_array(self, value: Any) -> bool:
        return isinstance(value, (np.ndarray, np.generic))
