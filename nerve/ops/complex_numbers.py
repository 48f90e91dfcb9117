"""Complex tensors: parts, conjugates, angles and conversions (Keras's names).

A complex tensor (complex64 or complex128) is made from a real one by
``view_as_complex`` or ``polar``, or converted from NumPy data; arithmetic and
the elementwise maps work on it as on real tensors. Gradients flow through
complex intermediates with JAX's convention (see ``nerve.primitives.elementwise``),
so a real loss of real inputs differentiates as usual:

>>> import numpy as np
>>> from nerve import ops
>>> z = ops.view_as_complex(ops.convert_to_tensor([[3.0, 4.0], [1.0, -1.0]]))
>>> z.dtype
'complex64'
>>> ops.abs(z).numpy()
array([5.       , 1.4142135], dtype=float32)
>>> ops.view_as_real(ops.conj(z)).numpy()
array([[ 3., -4.],
       [ 1.,  1.]], dtype=float32)
"""

from __future__ import annotations

from typing import Any

from nerve.core import config, dtypes
from nerve.core.errors import with_location
from nerve.ops._convert import cast, promote, tensor
from nerve.primitives import elementwise as ew
from nerve.tensor import Tensor

__all__ = [
    "angle",
    "conj",
    "conjugate",
    "imag",
    "isreal",
    "polar",
    "real",
    "view_as_complex",
    "view_as_real",
]


def _zeros_like(x: Tensor) -> Tensor:
    from nerve.ops.creation import zeros_like

    return zeros_like(x)


def _complex_of(re: Any, im: Any) -> Tensor:
    """``re + i im`` from real parts (promoted together; half precision widens to
    complex64, since there is no complex32)."""
    re, im = promote(re, im, extra=(float,))
    if re.dtype not in ("float32", "float64"):
        re, im = cast(re, "float32"), cast(im, "float32")
    return ew.complex_p.bind(re, im)


def real(x: Any) -> Tensor:
    """The real part of ``x`` (``x`` itself when it is real).

    >>> from nerve import ops
    >>> ops.real(ops.view_as_complex(ops.convert_to_tensor([1.0, 2.0]))).numpy()
    array(1., dtype=float32)
    """
    x = tensor(x)
    return ew.real_p.bind(x) if dtypes.is_complex(x.dtype) else x


def imag(x: Any) -> Tensor:
    """The imaginary part of ``x`` (zeros of ``x``'s dtype when it is real).

    >>> from nerve import ops
    >>> ops.imag(ops.view_as_complex(ops.convert_to_tensor([1.0, 2.0]))).numpy()
    array(2., dtype=float32)
    """
    x = tensor(x)
    return ew.imag_p.bind(x) if dtypes.is_complex(x.dtype) else _zeros_like(x)


def conjugate(x: Any) -> Tensor:
    """The complex conjugate of ``x``, elementwise (``x`` itself when it is real).

    >>> from nerve import ops
    >>> z = ops.view_as_complex(ops.convert_to_tensor([1.0, 2.0]))
    >>> ops.imag(ops.conjugate(z)).numpy()
    array(-2., dtype=float32)
    """
    x = tensor(x)
    return ew.conj_p.bind(x) if dtypes.is_complex(x.dtype) else x


conj = conjugate


def angle(x: Any) -> Tensor:
    """The angle of each element of ``x`` in radians, in (-pi, pi]: ``arctan2(imag, real)``.
    Real inputs give 0 or pi; integers and bools give floatx, as in Keras.

    >>> from nerve import ops
    >>> ops.angle(ops.convert_to_tensor([1.0, -2.0])).numpy()
    array([0.       , 3.1415927], dtype=float32)
    """
    from nerve.ops.elementwise import arctan2

    x = tensor(x)
    if dtypes.is_complex(x.dtype):
        return arctan2(ew.imag_p.bind(x), ew.real_p.bind(x))
    if not dtypes.is_float(x.dtype):
        x = cast(x, config.floatx())
    return arctan2(_zeros_like(x), x)


def isreal(x: Any) -> Tensor:
    """Whether each element of ``x`` has a zero imaginary part (all true for a real ``x``).

    >>> from nerve import ops
    >>> z = ops.view_as_complex(ops.convert_to_tensor([[1.0, 0.0], [1.0, 2.0]]))
    >>> ops.isreal(z).numpy()
    array([ True, False])
    """
    from nerve.ops.creation import full_like

    x = tensor(x)
    if dtypes.is_complex(x.dtype):
        part = ew.imag_p.bind(x)
        return ew.equal_p.bind(part, ew.scalar(0, part))
    return full_like(x, True, dtype="bool")


def view_as_complex(x: Any) -> Tensor:
    """A complex64 tensor from a real one whose last axis (of size 2) holds the real and
    imaginary parts; the result has ``x.shape[:-1]``. (Keras gives complex64 for any
    real input, float64 included.)

    >>> from nerve import ops
    >>> ops.view_as_complex(ops.convert_to_tensor([[1.0, 2.0], [3.0, 4.0]])).numpy()
    array([1.+2.j, 3.+4.j], dtype=complex64)
    """
    x = tensor(x)
    if x.ndim < 1 or x.shape[-1] != 2:
        raise ValueError(
            with_location(
                "view_as_complex: Last dimension of input must be size 2 (real and "
                f"imaginary). Received shape: {tuple(x.shape)}"
            )
        )
    if dtypes.is_complex(x.dtype):
        raise TypeError(with_location(f"view_as_complex: needs a real tensor, got {x.dtype}."))
    parts = cast(x, "float32")
    return ew.complex_p.bind(parts[..., 0], parts[..., 1])


def view_as_real(x: Any) -> Tensor:
    """A real tensor of shape ``x.shape + (2,)`` holding the real and imaginary parts of
    ``x`` along its new last axis.

    >>> from nerve import ops
    >>> z = ops.view_as_complex(ops.convert_to_tensor([[1.0, 2.0], [3.0, 4.0]]))
    >>> ops.view_as_real(z).numpy()
    array([[1., 2.],
           [3., 4.]], dtype=float32)
    """
    from nerve.ops.shape import stack

    x = tensor(x)
    return stack([real(x), imag(x)], axis=-1)


def polar(abs_: Any, angle: Any) -> Tensor:
    """The complex tensor ``abs_ * (cos(angle) + i sin(angle))`` (as ``torch.polar``).

    >>> import math
    >>> from nerve import ops
    >>> z = ops.polar(ops.convert_to_tensor([2.0]), ops.convert_to_tensor([math.pi / 2]))
    >>> ops.view_as_real(z).numpy().round(4) + 0.0  # (+ 0.0 turns a -0.0 into 0.0)
    array([[0., 2.]], dtype=float32)
    """
    from nerve.ops.elementwise import cos, multiply, sin

    magnitude, phase = promote(abs_, angle, extra=(float,))
    return _complex_of(multiply(magnitude, cos(phase)), multiply(magnitude, sin(phase)))
