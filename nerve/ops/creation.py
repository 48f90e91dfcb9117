"""Tensor creation (Keras names): zeros, ones, full, empty, their ``*_like`` forms,
arange, linspace, eye, identity, tri.

New tensors are created on the current default device (``nerve.device(...)``).
Python ints give int32 and Python floats floatx, as in Keras.

>>> from nerve import ops
>>> ops.zeros((2, 3)).shape
(2, 3)
>>> ops.arange(4).numpy()
array([0, 1, 2, 3], dtype=int32)
>>> ops.arange(0.0, 1.0, 0.25).numpy()
array([0.  , 0.25, 0.5 , 0.75], dtype=float32)
"""

from __future__ import annotations

from typing import Any

from nerve.core import config, dtypes
from nerve.core.errors import normalize_axis, with_location
from nerve.core.symbolic import as_dim, is_symbolic, python_type
from nerve.ops._convert import cast, tensor
from nerve.primitives import creation as cp
from nerve.tensor import Tensor

__all__ = [
    "arange", "empty", "eye", "full", "full_like", "identity", "linspace", "logspace", "ones",
    "ones_like",
    "tri", "zeros", "zeros_like",
]  # fmt: skip

_PYTHON_SCALARS = (bool, int, float)


def _shape(shape: Any, op: str) -> tuple:
    if isinstance(shape, int):
        shape = (shape,)
    try:
        if isinstance(shape, str):
            raise TypeError
        shape = tuple(as_dim(d) for d in shape)
    except (TypeError, ValueError):
        raise TypeError(
            with_location(f"{op}: shape must be a tuple of ints, got {shape!r}.")
        ) from None
    if any(d < 0 for d in shape):
        raise ValueError(with_location(f"{op}: shape {shape} has a negative dimension."))
    return shape


def _python_scalar(value: Any, op: str) -> Any:
    """A Python number for a scalar argument (0-d tensors and NumPy scalars included)."""
    if isinstance(value, _PYTHON_SCALARS) or is_symbolic(value):
        return value
    t = tensor(value)
    if t.ndim:
        raise ValueError(
            with_location(f"{op}: expected a scalar, got a tensor of shape {t.shape}.")
        )
    return t.item()


def full(shape: Any, fill_value: Any, dtype: str | None = None) -> Tensor:
    """A tensor of ``shape`` filled with ``fill_value``, of ``dtype`` (floatx when
    ``None``, whatever the fill value, as in Keras).

    ``fill_value`` may be a tensor broadcastable to ``shape``; the result is then
    differentiable with respect to it.

    >>> from nerve import ops
    >>> ops.full((2,), 7).numpy()
    array([7., 7.], dtype=float32)
    >>> ops.full((2,), 7, dtype="int32").numpy()
    array([7, 7], dtype=int32)
    >>> ops.full((2, 2), [1.0, 2.0]).numpy()
    array([[1., 2.],
           [1., 2.]], dtype=float32)
    """
    shape = _shape(shape, "full")
    if dtype is None:
        dtype = config.floatx()
    if not isinstance(fill_value, _PYTHON_SCALARS):
        from nerve.ops.shape import broadcast_to

        return broadcast_to(cast(tensor(fill_value), dtype), shape)
    return _fill(shape, fill_value, dtype)


def _fill(shape: tuple, value: Any, dtype: Any) -> Tensor:
    return cp.full_p.bind(shape=shape, value=value, dtype=dtypes.standardize_dtype(dtype))


def zeros(shape: Any, dtype: str | None = None) -> Tensor:
    """A tensor of zeros (floatx unless ``dtype`` is given).

    >>> from nerve import ops
    >>> ops.zeros(3, dtype="int8").numpy()
    array([0, 0, 0], dtype=int8)
    """
    return _fill(_shape(shape, "zeros"), 0, dtype)


def ones(shape: Any, dtype: str | None = None) -> Tensor:
    """A tensor of ones (floatx unless ``dtype`` is given)."""
    return _fill(_shape(shape, "ones"), 1, dtype)


def empty(shape: Any, dtype: str | None = None) -> Tensor:
    """A tensor of ``shape`` whose values are unspecified (nerve gives zeros)."""
    return _fill(_shape(shape, "empty"), 0, dtype)


def full_like(x: Any, fill_value: Any, dtype: str | None = None) -> Tensor:
    """A tensor like ``x`` (shape, and dtype unless given) filled with ``fill_value``."""
    x = tensor(x)
    return full(x.shape, fill_value, dtype or x.dtype)


def zeros_like(x: Any, dtype: str | None = None) -> Tensor:
    """Zeros with the shape (and dtype, unless given) of ``x``."""
    return full_like(x, 0, dtype)


def ones_like(x: Any, dtype: str | None = None) -> Tensor:
    """Ones with the shape (and dtype, unless given) of ``x``."""
    return full_like(x, 1, dtype)


def arange(start: Any, stop: Any = None, step: Any = 1, dtype: str | None = None) -> Tensor:
    """Evenly spaced values in ``[start, stop)``; ints give int32, floats floatx.

    >>> from nerve import ops
    >>> ops.arange(5, 0, -2).numpy()
    array([5, 3, 1], dtype=int32)
    """
    if stop is None:
        start, stop = 0, start
    start, stop = _python_scalar(start, "arange"), _python_scalar(stop, "arange")
    step = 1 if step is None else _python_scalar(step, "arange")
    if step == 0:
        raise ValueError(with_location("arange: step must not be zero."))
    if dtype is None:
        dtype = dtypes.result_type(*(python_type(v) for v in (start, stop, step)))
    return cp.arange_p.bind(
        start=start, stop=stop, step=step, dtype=dtypes.standardize_dtype(dtype)
    )


def linspace(
    start: Any,
    stop: Any,
    num: int = 50,
    endpoint: bool = True,
    retstep: bool = False,
    dtype: str | None = None,
    axis: int = 0,
) -> Tensor | tuple[Tensor, Any]:
    """``num`` evenly spaced values from ``start`` to ``stop`` (``stop`` excluded when
    ``endpoint=False``); with ``retstep=True`` also the spacing. Tensor ``start``/``stop``
    give one sequence per element, stacked along ``axis``.

    >>> from nerve import ops
    >>> ops.linspace(0, 1, 5).numpy()
    array([0.  , 0.25, 0.5 , 0.75, 1.  ], dtype=float32)
    >>> ops.linspace([0.0, 10.0], [1.0, 20.0], 3, axis=-1).numpy()
    array([[ 0. ,  0.5,  1. ],
           [10. , 15. , 20. ]], dtype=float32)
    """
    num = int(num)
    if num < 0:
        raise ValueError(with_location(f"linspace: num must be >= 0, got {num}."))
    if dtype is None:
        # As Keras: the endpoints' promoted type, at least float (floatx for Python numbers).
        kinds = [
            type(v) if isinstance(v, _PYTHON_SCALARS) else tensor(v).dtype for v in (start, stop)
        ]
        dtype = dtypes.result_type(*kinds, float)
    dtype = dtypes.standardize_dtype(dtype)
    divisions = (num - 1 if endpoint else num) or 1
    if isinstance(start, _PYTHON_SCALARS) and isinstance(stop, _PYTHON_SCALARS):
        samples = cp.linspace_p.bind(
            start=float(start), stop=float(stop), num=num, endpoint=bool(endpoint), dtype=dtype
        )
        step = (stop - start) / divisions
    else:
        samples, step = _linspace_tensors(start, stop, num, divisions, dtype, axis)
    return (samples, step) if retstep else samples


def logspace(
    start: Any,
    stop: Any,
    num: int = 50,
    endpoint: bool = True,
    base: Any = 10,
    dtype: str | None = None,
    axis: int = 0,
) -> Tensor:
    """``num`` values from ``base ** start`` to ``base ** stop``, evenly spaced in the
    exponent (``stop`` excluded when ``endpoint=False``). Tensor ``start``/``stop`` give
    one sequence per element, along ``axis``, differentiable in both.

    >>> from nerve import ops
    >>> ops.logspace(0, 3, 4).numpy()
    array([   1.,   10.,  100., 1000.], dtype=float32)
    >>> ops.logspace(0, 4, 3, base=2, dtype="int32").numpy()
    array([ 1,  4, 16], dtype=int32)
    """
    from nerve.ops.elementwise import power

    exponents = linspace(start, stop, num, endpoint=endpoint, axis=axis)
    assert isinstance(exponents, Tensor)  # no step without retstep=True
    if dtype is None:
        return power(cast(base, exponents.dtype), exponents)
    dtype = dtypes.standardize_dtype(dtype)
    work = dtype if dtypes.is_float(dtype) else "float64"
    out = power(cast(base, work), cast(exponents, work))
    return cast(out if dtypes.is_float(dtype) else _round_int(out), dtype)


def _round_int(x: Tensor) -> Tensor:
    """Round to the nearest integer: powers computed in floating point may land a hair
    below an exact integer, which truncation would drop by one."""
    from nerve.ops.elementwise import round

    return round(x)


def _linspace_tensors(start, stop, num, divisions, dtype, axis):
    """Linspace of tensor endpoints as a composite: start + (stop - start) * [0, 1, ...] / n,
    so it is differentiable in ``start`` and ``stop``."""
    from nerve.ops.elementwise import add, divide, floor, multiply, subtract
    from nerve.ops.shape import broadcast_to, expand_dims, reshape

    work = dtype if dtypes.is_float(dtype) else "float64"
    start, stop = cast(start, work), cast(stop, work)
    start, stop = (
        broadcast_to(start, _broadcast(start.shape, stop.shape)),
        broadcast_to(stop, _broadcast(start.shape, stop.shape)),
    )
    axis = normalize_axis(axis, start.ndim + 1, "linspace")
    step = divide(subtract(stop, start), float(divisions))
    line_shape = [1] * (start.ndim + 1)
    line_shape[axis] = num
    line = reshape(arange(num, dtype=work), tuple(line_shape))
    out = add(expand_dims(start, axis), multiply(expand_dims(step, axis), line))
    if not dtypes.is_float(dtype):
        out = floor(out)
    return cast(out, dtype), step


def _broadcast(a: tuple, b: tuple) -> tuple:
    from nerve.primitives.rules import broadcast_shapes

    return broadcast_shapes("linspace", a, b)


def _matrix_size(N: Any, M: Any, op: str) -> tuple[int, int]:
    rows, columns = int(N), int(N if M is None else M)
    if rows < 0 or columns < 0:
        raise ValueError(with_location(f"{op}: N and M must be >= 0, got {rows} and {columns}."))
    return rows, columns


def _require_integer(value: Any, name: str, op: str) -> None:
    # Keras refuses float sizes (3.0, or a float tensor) instead of truncating them.
    dtype = getattr(value, "dtype", None)
    if isinstance(value, float) or (dtype is not None and not _is_integer_dtype(dtype)):
        raise TypeError(
            with_location(
                f"{op}: {name} must be an integer, got {value!r} of type {type(value).__name__}."
            )
        )


def _is_integer_dtype(dtype: Any) -> bool:
    try:
        return dtypes.is_int(dtypes.standardize_dtype(dtype))
    except TypeError:
        return False


def eye(N: int, M: int | None = None, k: int = 0, dtype: str | None = None) -> Tensor:
    """A 2-D tensor with ones on the ``k``-th diagonal.

    >>> from nerve import ops
    >>> ops.eye(2, 3, k=1).numpy()
    array([[0., 1., 0.],
           [0., 0., 1.]], dtype=float32)
    """
    for name, value in (("N", N), ("M", M)):
        _require_integer(value, name, "eye")
    rows, columns = _matrix_size(N, M, "eye")
    return cp.eye_p.bind(
        rows=rows, columns=columns, k=int(k), dtype=dtypes.standardize_dtype(dtype)
    )


def identity(n: int, dtype: str | None = None) -> Tensor:
    """The ``n`` x ``n`` identity matrix."""
    return eye(n, dtype=dtype)


def tri(N: int, M: int | None = None, k: int = 0, dtype: str | None = None) -> Tensor:
    """Ones at and below the ``k``-th diagonal, zeros elsewhere: ``T[i, j] = j <= i + k``.

    >>> from nerve import ops
    >>> ops.tri(3, dtype="int32").numpy()
    array([[1, 0, 0],
           [1, 1, 0],
           [1, 1, 1]], dtype=int32)
    """
    rows, columns = _matrix_size(N, M, "tri")
    return cp.tri_p.bind(
        rows=rows, columns=columns, k=int(k), dtype=dtypes.standardize_dtype(dtype)
    )
